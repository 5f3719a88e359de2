//! Admission to `/ws`: at most `ws.max_connections` open connections, and at most
//! `ws.max_connections_per_client` from one address, so one client cannot hold every socket
//! and task the server has. A connection holds its [`Admitted`] place until it closes.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use parking_lot::Mutex;

/// The open connections, counted in total and by client address.
#[derive(Default)]
pub struct Gate {
    open: Mutex<(usize, HashMap<IpAddr, usize>)>,
}

/// Why a connection was not admitted.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("the server has {0} WebSocket connections open (ws.max_connections); try again later")]
    Total(usize),
    #[error(
        "{1} has {0} WebSocket connections open (ws.max_connections_per_client); close one first"
    )]
    Client(usize, IpAddr),
}

impl Gate {
    /// A place for a connection from `ip`, if both caps allow one.
    pub fn admit(
        self: &Arc<Self>,
        ip: IpAddr,
        max_total: usize,
        max_per_client: usize,
    ) -> Result<Admitted, Refused> {
        let mut open = self.open.lock();
        if open.0 >= max_total {
            return Err(Refused::Total(open.0));
        }
        let mine = open.1.get(&ip).copied().unwrap_or(0);
        if mine >= max_per_client {
            return Err(Refused::Client(mine, ip));
        }
        open.0 += 1;
        *open.1.entry(ip).or_default() += 1;
        Ok(Admitted {
            gate: self.clone(),
            ip,
        })
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.open.lock().0
    }
}

/// A connection's place; dropping it (the connection closed) frees it.
pub struct Admitted {
    gate: Arc<Gate>,
    ip: IpAddr,
}

impl Drop for Admitted {
    fn drop(&mut self) {
        let mut open = self.gate.open.lock();
        open.0 -= 1;
        if let Some(n) = open.1.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                open.1.remove(&self.ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_caps_hold_and_a_closed_connection_frees_its_place() {
        let gate = Arc::new(Gate::default());
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let a1 = gate.admit(a, 3, 2).unwrap();
        let _a2 = gate.admit(a, 3, 2).unwrap();
        assert_eq!(gate.admit(a, 3, 2).err(), Some(Refused::Client(2, a)));
        let _b1 = gate.admit(b, 3, 2).unwrap();
        assert_eq!(gate.admit(b, 3, 2).err(), Some(Refused::Total(3)));
        drop(a1);
        assert_eq!(gate.open(), 2);
        assert!(gate.admit(b, 3, 2).is_ok());
    }
}
