//! The change broadcast: what partition actors publish after a batch is durable. Building
//! the row images costs, so an actor builds them only for tables someone is watching — a set
//! kept in a `watch` channel, recomputed when a tail starts, stops, or all its subscribers
//! are full.

use std::sync::Arc;

use parking_lot::Mutex;
use rustc_hash::{FxHashMap, FxHashSet};
use tokio::sync::{broadcast, watch};

use crate::ident::Offset;
use crate::store::schema::ColumnDef;
use crate::store::table::Row;

/// One applied change: the row after it (for a delete, the row it removed).
#[derive(Clone, Debug)]
pub struct ChangeRow {
    pub offset: Offset,
    /// `c`, `u`, `r` or `d`.
    pub op: u8,
    pub row: Row,
}

/// The changes of one applied micro-batch of one partition, in offset order.
#[derive(Debug)]
pub struct ChangeBatch {
    /// `schema.table`.
    pub table: String,
    pub partition: i32,
    /// Wall clock (µs) when the batch became durable: where push latency starts.
    pub applied_us: i64,
    /// The table's columns when the batch was applied (row values are by these indices).
    pub columns: Arc<Vec<ColumnDef>>,
    pub schema_version: u64,
    pub changes: Vec<ChangeRow>,
}

/// Tails of one table: how many, and how many have every subscriber full.
#[derive(Default, Clone, Copy)]
struct Watchers {
    tails: usize,
    full: usize,
}

/// Where applied changes go.
pub struct Changes {
    changes: broadcast::Sender<Arc<ChangeBatch>>,
    watchers: Mutex<FxHashMap<String, Watchers>>,
    /// The tables whose row images someone reads now.
    watched: watch::Sender<Arc<FxHashSet<String>>>,
    /// Bumped after every applied batch: what continuous queries and the live engine wake on.
    applied: watch::Sender<u64>,
}

impl Default for Changes {
    fn default() -> Self {
        Self::new(4096)
    }
}

impl Changes {
    pub fn new(capacity: usize) -> Self {
        Self {
            changes: broadcast::channel(capacity.max(16)).0,
            watchers: Mutex::new(FxHashMap::default()),
            watched: watch::channel(Arc::new(FxHashSet::default())).0,
            applied: watch::channel(0).0,
        }
    }

    /// Whether anyone reads this table's row images now.
    pub fn wants_rows(&self, table: &str) -> bool {
        let watched = self.watched.borrow();
        !watched.is_empty() && watched.contains(table)
    }

    /// The set of watched tables, as it changes.
    pub fn watch_tables(&self) -> watch::Receiver<Arc<FxHashSet<String>>> {
        self.watched.subscribe()
    }

    fn update(&self, table: &str, f: impl FnOnce(&mut Watchers)) {
        let mut all = self.watchers.lock();
        let w = all.entry(table.to_string()).or_default();
        f(w);
        if w.tails == 0 {
            all.remove(table);
        }
        let now: FxHashSet<String> = all
            .iter()
            .filter(|(_, w)| w.tails > w.full)
            .map(|(t, _)| t.clone())
            .collect();
        drop(all);
        self.watched.send_if_modified(|set| {
            if **set == now {
                false
            } else {
                *set = Arc::new(now);
                true
            }
        });
    }

    /// A tail of `table` has every subscriber full (`true`) or has one reading again.
    pub fn set_full(&self, table: &str, full: bool) {
        self.update(table, |w| {
            if full {
                w.full += 1;
            } else {
                w.full = w.full.saturating_sub(1);
            }
        });
    }

    /// Registers a tail of `table`; the guard unregisters it.
    pub fn tail(self: &Arc<Self>, table: &str) -> TailGuard {
        self.update(table, |w| w.tails += 1);
        TailGuard(self.clone(), table.to_string())
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<ChangeBatch>> {
        self.changes.subscribe()
    }

    pub fn publish(&self, batch: ChangeBatch) {
        let _ = self.changes.send(Arc::new(batch));
    }

    /// Signals an applied batch.
    pub fn applied(&self) {
        self.applied.send_modify(|v| *v += 1);
    }

    pub fn watch_applied(&self) -> watch::Receiver<u64> {
        self.applied.subscribe()
    }
}

/// Keeps row images flowing while alive.
pub struct TailGuard(Arc<Changes>, String);

impl Drop for TailGuard {
    fn drop(&mut self) {
        self.0
            .update(&self.1, |w| w.tails = w.tails.saturating_sub(1));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_wanted_while_a_tail_has_a_reader() {
        let c = Arc::new(Changes::default());
        let mut seen = c.watch_tables();
        assert!(!c.wants_rows("a.t"));
        let guard = c.tail("a.t");
        assert!(c.wants_rows("a.t") && !c.wants_rows("a.u"));
        assert!(seen.has_changed().unwrap());
        seen.mark_unchanged();
        c.set_full("a.t", true);
        assert!(!c.wants_rows("a.t"));
        c.set_full("a.t", false);
        assert!(c.wants_rows("a.t"));
        drop(guard);
        assert!(!c.wants_rows("a.t"));
        assert!(seen.has_changed().unwrap());
    }
}
