//! Where alert rules and their events are kept: two sled trees, rules by id and events by
//! (rule id, sequence). The store knows them as serde values; what a rule means is `live/`'s.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::store::{Store, StoreError};

/// Rules and their events, durable.
pub struct RuleStore {
    rules: sled::Tree,
    events: sled::Tree,
}

/// A stored entry that no longer reads as its type (written by another version): skipped, and
/// said.
fn undecodable(tree: &str, key: &[u8], e: serde_json::Error) {
    tracing::warn!(tree, key = %String::from_utf8_lossy(key), error = %e,
        "a stored alert entry does not read; it is left out");
}

fn event_key(rule_id: &str, seq: u64) -> String {
    format!("{rule_id}\0{seq:020}")
}

impl RuleStore {
    pub fn open(store: &Store) -> Result<RuleStore, StoreError> {
        Ok(RuleStore {
            rules: store.tree("alert-rules")?,
            events: store.tree("alert-events")?,
        })
    }

    /// Every stored rule.
    pub fn rules<R: DeserializeOwned>(&self) -> Result<Vec<R>, StoreError> {
        let mut out = Vec::new();
        for kv in self.rules.iter() {
            let (k, v) = kv?;
            match serde_json::from_slice(&v) {
                Ok(r) => out.push(r),
                Err(e) => undecodable("alert-rules", &k, e),
            }
        }
        Ok(out)
    }

    /// Writes a rule (new or changed), flushed.
    pub fn put_rule<R: Serialize>(&self, id: &str, rule: &R) -> Result<(), StoreError> {
        let bytes = serde_json::to_vec(rule).expect("a rule serializes");
        self.rules.insert(id.as_bytes(), bytes)?;
        self.rules.flush()?;
        Ok(())
    }

    /// Removes a rule and all its events, flushed.
    pub fn remove_rule(&self, id: &str) -> Result<(), StoreError> {
        self.rules.remove(id.as_bytes())?;
        let prefix = format!("{id}\0");
        for kv in self.events.scan_prefix(prefix.as_bytes()) {
            let (k, _) = kv?;
            self.events.remove(k)?;
        }
        self.events.flush()?;
        self.rules.flush()?;
        Ok(())
    }

    /// Appends an event of a rule.
    pub fn put_event<E: Serialize>(
        &self,
        rule_id: &str,
        seq: u64,
        event: &E,
    ) -> Result<(), StoreError> {
        let bytes = serde_json::to_vec(event).expect("an event serializes");
        self.events
            .insert(event_key(rule_id, seq).as_bytes(), bytes)?;
        Ok(())
    }

    /// Every stored event, by rule then sequence.
    pub fn all_events<E: DeserializeOwned>(&self) -> Result<Vec<E>, StoreError> {
        self.scan_events("")
    }

    /// A rule's events, oldest first.
    pub fn events_of<E: DeserializeOwned>(&self, rule_id: &str) -> Result<Vec<E>, StoreError> {
        self.scan_events(&format!("{rule_id}\0"))
    }

    fn scan_events<E: DeserializeOwned>(&self, prefix: &str) -> Result<Vec<E>, StoreError> {
        let mut out = Vec::new();
        for kv in self.events.scan_prefix(prefix.as_bytes()) {
            let (k, v) = kv?;
            match serde_json::from_slice(&v) {
                Ok(e) => out.push(e),
                Err(e) => undecodable("alert-events", &k, e),
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize, serde::Deserialize, Debug, PartialEq)]
    struct R {
        id: String,
    }

    #[test]
    fn rules_and_events_are_kept_and_removed_together() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), 100, 16).unwrap();
        let rs = RuleStore::open(&store).unwrap();
        for id in ["r1", "r2"] {
            rs.put_rule(id, &R { id: id.into() }).unwrap();
        }
        rs.put_event("r1", 2, &7u32).unwrap();
        rs.put_event("r1", 10, &8u32).unwrap();
        rs.put_event("r2", 1, &9u32).unwrap();
        assert_eq!(
            rs.events_of::<u32>("r1").unwrap(),
            vec![7, 8],
            "in sequence order"
        );
        rs.remove_rule("r1").unwrap();
        assert_eq!(rs.rules::<R>().unwrap(), vec![R { id: "r2".into() }]);
        assert_eq!(rs.all_events::<u32>().unwrap(), vec![9]);
    }
}
