//! Dashboard sessions: signing in exchanges a token for a random session id (the cookie), which
//! stands for that token until it expires, the token is revoked, or the user signs out. Kept in
//! memory (a restart signs everyone out); only digests are held.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::{random_hex, sha256_hex};

/// The cookie's name.
pub const COOKIE: &str = "streamq_session";

/// Sessions open at once; past it the oldest is dropped.
const MAX_SESSIONS: usize = 10_000;

pub struct Sessions {
    ttl: Duration,
    /// digest of the session id → (digest of the token, expiry).
    map: Mutex<HashMap<String, (String, Instant)>>,
}

impl Sessions {
    pub fn new(ttl: Duration) -> Self {
        Sessions {
            ttl,
            map: Mutex::new(HashMap::new()),
        }
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// A new session for the token with this digest; returns the cookie value.
    pub fn open(&self, token_digest: String) -> String {
        let id = random_hex(32);
        let mut m = self.map.lock();
        let now = Instant::now();
        m.retain(|_, (_, until)| *until > now);
        if m.len() >= MAX_SESSIONS
            && let Some(oldest) = m
                .iter()
                .min_by_key(|(_, (_, until))| *until)
                .map(|(k, _)| k.clone())
        {
            m.remove(&oldest);
        }
        m.insert(sha256_hex(&id), (token_digest, now + self.ttl));
        id
    }

    /// The token digest a live session stands for.
    pub fn token_of(&self, session: &str) -> Option<String> {
        let key = sha256_hex(session);
        let mut m = self.map.lock();
        match m.get(&key) {
            Some((token, until)) if *until > Instant::now() => Some(token.clone()),
            Some(_) => {
                m.remove(&key);
                None
            }
            None => None,
        }
    }

    pub fn close(&self, session: &str) {
        self.map.lock().remove(&sha256_hex(session));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_stands_for_its_token_until_closed_or_expired() {
        let s = Sessions::new(Duration::from_secs(60));
        let id = s.open("digest".into());
        assert_eq!(s.token_of(&id).as_deref(), Some("digest"));
        assert_eq!(s.token_of("other"), None);
        s.close(&id);
        assert_eq!(s.token_of(&id), None);
        let short = Sessions::new(Duration::from_millis(1));
        let id = short.open("d".into());
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(short.token_of(&id), None);
    }
}
