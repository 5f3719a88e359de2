//! The change feed: what partition actors publish after a batch is durable. Building the row
//! images costs, so it happens only while someone tails a table.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};

use parking_lot::Mutex;
use rustc_hash::FxHashMap;

use tokio::sync::{broadcast, watch};

use crate::store::catalog::ColumnDef;
use crate::store::table::Row;

/// One applied change: the row after it (for a delete, the row it removed).
#[derive(Clone, Debug)]
pub struct ChangeRow {
    pub offset: i64,
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

/// Where applied changes go.
pub struct Feed {
    changes: broadcast::Sender<Arc<ChangeBatch>>,
    tails: AtomicUsize,
    tailed: Mutex<FxHashMap<String, usize>>,
    /// Tails whose every subscriber is full: no row images are built for them.
    paused: Mutex<FxHashMap<String, usize>>,
    /// Bumped after every applied batch: what continuous queries and the live engine wake on.
    applied: watch::Sender<u64>,
    /// The largest record timestamp the source has handed over (ms): how far the input has
    /// been read.
    source_ts: AtomicI64,
    /// Records handed over but not yet applied, per (topic, partition).
    pending: Mutex<FxHashMap<(Arc<str>, i32), u64>>,
}

impl Default for Feed {
    fn default() -> Self {
        Self::new(4096)
    }
}

impl Feed {
    pub fn new(capacity: usize) -> Self {
        Self {
            changes: broadcast::channel(capacity.max(16)).0,
            tails: AtomicUsize::new(0),
            tailed: Mutex::new(FxHashMap::default()),
            paused: Mutex::new(FxHashMap::default()),
            applied: watch::channel(0).0,
            source_ts: AtomicI64::new(i64::MIN),
            pending: Mutex::new(FxHashMap::default()),
        }
    }

    /// Whether anyone tails this table's changes (row images are built only then).
    pub fn wants_rows(&self, table: &str) -> bool {
        if self.tails.load(Ordering::Relaxed) == 0 {
            return false;
        }
        let tailed = self.tailed.lock().get(table).copied().unwrap_or(0);
        tailed > self.paused.lock().get(table).copied().unwrap_or(0)
    }

    /// A tail of `table` stops (or resumes) wanting row images: all its subscribers are full.
    pub fn pause(&self, table: &str, on: bool) {
        let mut p = self.paused.lock();
        let n = p.entry(table.to_string()).or_default();
        if on {
            *n += 1;
        } else {
            *n = n.saturating_sub(1);
        }
    }

    /// Registers a tail of `table`; the guard unregisters it.
    pub fn tail(self: &Arc<Self>, table: &str) -> TailGuard {
        *self.tailed.lock().entry(table.to_string()).or_default() += 1;
        self.tails.fetch_add(1, Ordering::SeqCst);
        TailGuard(self.clone(), table.to_string())
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<ChangeBatch>> {
        self.changes.subscribe()
    }

    pub fn publish(&self, batch: ChangeBatch) {
        let _ = self.changes.send(Arc::new(batch));
    }

    /// Notes records handed from the source to the partition actors.
    pub fn routed(&self, records: &[crate::ingest::record::Record]) {
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

    /// How far the source has been read (ms), if anything was.
    pub fn source_ts(&self) -> Option<i64> {
        let v = self.source_ts.load(Ordering::SeqCst);
        (v != i64::MIN).then_some(v)
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
pub struct TailGuard(Arc<Feed>, String);

impl Drop for TailGuard {
    fn drop(&mut self) {
        self.0.tails.fetch_sub(1, Ordering::SeqCst);
        if let Some(n) = self.0.tailed.lock().get_mut(&self.1) {
            *n = n.saturating_sub(1);
        }
    }
}
