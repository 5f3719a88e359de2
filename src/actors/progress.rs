//! How far the source has been read and what is still on its way: the router notes records
//! it hands over, partition actors note records they have applied. Readers (the live engine's
//! stall detector, the rates) see both consistently: a record counted as read is counted as
//! pending until applied. A consumer catching up on a log also says which partitions still
//! hold records it has not read: those stand at their own event time, not at the source's.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use parking_lot::Mutex;
use rustc_hash::{FxHashMap, FxHashSet};

use crate::ident::TopicPartition;

use crate::ingest::record::Record;

/// The router-owned progress of the input.
pub struct Progress {
    /// The largest record timestamp the source has handed over (ms).
    source_ts: AtomicI64,
    /// Records handed over but not yet applied, per (topic, partition).
    pending: Mutex<FxHashMap<(Arc<str>, i32), u64>>,
    /// Partitions known to hold records not yet read (a log being caught up on).
    behind: Mutex<FxHashSet<(Arc<str>, i32)>>,
}

impl Default for Progress {
    fn default() -> Self {
        Self {
            source_ts: AtomicI64::new(i64::MIN),
            pending: Mutex::new(FxHashMap::default()),
            behind: Mutex::new(FxHashSet::default()),
        }
    }
}

impl Progress {
    /// Notes records handed from the source to the partition actors.
    pub fn routed(&self, records: &[Record]) {
        let mut max = i64::MIN;
        let mut counts: FxHashMap<(Arc<str>, i32), u64> = FxHashMap::default();
        for r in records {
            max = max.max(r.ts_ms);
            *counts.entry((r.topic.clone(), r.partition)).or_default() += 1;
        }
        // Pending first: a reader that sees the new source time must also see these records as
        // on their way, or it would think their partitions complete up to that time.
        let mut pending = self.pending.lock();
        for (k, n) in counts {
            *pending.entry(k).or_default() += n;
        }
        drop(pending);
        self.source_ts.fetch_max(max, Ordering::SeqCst);
    }

    /// Notes records of a partition applied (or skipped) by its actor.
    pub fn done(&self, topic: &str, partition: i32, n: u64) {
        let mut pending = self.pending.lock();
        if let Some(v) = pending.get_mut(&(Arc::from(topic), partition)) {
            *v = v.saturating_sub(n);
        }
    }

    /// Records on their way to each partition's actor, now.
    pub fn pending(&self) -> FxHashMap<(Arc<str>, i32), u64> {
        self.pending.lock().clone()
    }

    /// Notes whether `tp` still holds records the source has not read. A partition is behind
    /// from its assignment until the source says it has read up to the log's end.
    pub fn reading(&self, tp: &TopicPartition, behind: bool) {
        let key = (Arc::<str>::from(tp.topic.as_str()), tp.partition);
        let mut set = self.behind.lock();
        if behind {
            set.insert(key);
        } else {
            set.remove(&key);
        }
    }

    /// Partitions still holding records the source has not read, now.
    pub fn behind(&self) -> FxHashSet<(Arc<str>, i32)> {
        self.behind.lock().clone()
    }

    /// How far the source has been read (ms), if anything was.
    pub fn source_ts(&self) -> Option<i64> {
        let v = self.source_ts.load(Ordering::SeqCst);
        (v != i64::MIN).then_some(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(topic: &str, partition: i32, ts_ms: i64) -> Record {
        Record {
            topic: Arc::from(topic),
            partition,
            offset: crate::ident::Offset(0),
            ts_ms,
            key: None,
            value: None,
        }
    }

    #[test]
    fn routed_records_are_pending_until_done() {
        let p = Progress::default();
        assert_eq!(p.source_ts(), None);
        p.routed(&[rec("a.t", 0, 5), rec("a.t", 0, 9), rec("a.t", 1, 7)]);
        assert_eq!(p.source_ts(), Some(9));
        assert_eq!(p.pending()[&(Arc::from("a.t"), 0)], 2);
        p.done("a.t", 0, 2);
        p.done("a.t", 1, 5);
        assert!(p.pending().values().all(|n| *n == 0));
    }

    #[test]
    fn a_partition_is_behind_until_the_source_says_it_read_to_the_end() {
        let p = Progress::default();
        let tp = TopicPartition::new("a.t", 2);
        p.reading(&tp, true);
        assert!(p.behind().contains(&(Arc::from("a.t"), 2)));
        p.reading(&tp, false);
        assert!(p.behind().is_empty());
    }
}
