//! What is kept: sled holds every partition's rows, its applied offset and its quarantine in one
//! tree per partition, so one atomic batch covers rows and offset together.
//!
//! Tree `p\0<topic>\0<partition>`:
//! - `\x00applied` → the last applied offset (i64, big-endian);
//! - `\x01<key>` → the current row for that key (bincode);
//! - `\x02<offset>` → a quarantined record (bincode);
//! - `\x03schema` → the columns and key this partition has seen (bincode);
//! - `\x04<offset><column>` → a change to those columns, the schema history (bincode);
//! - `\x05<offset>` → a table event: a truncate, a schema-change or transaction record
//!   (bincode [`events::TableEvent`]);
//! - `\x06heartbeat` → the last heartbeat (bincode [`events::TableEvent`]);
//! - `\x07control` → the partition's control-topic kind, once recognised (one byte);
//! - `\x08logical` → each column's logical type name (bincode map).
//!
//! Tree `source-quarantine`: input that never became a record (bad lines, truncated files).

pub mod catalog;
pub mod checksum;
pub mod events;
pub mod personal;
pub mod quarantine;
pub mod rules;
pub mod schema;
pub mod table;
pub mod text;
pub mod value;
pub mod window;

pub use quarantine::{QUARANTINE_RAW_CAP, QuarantineEntry, SourceFault};

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::ident::{Offset, TopicPartition};
use crate::store::schema::SchemaChange;
use crate::store::value::{DType, Value};

/// Errors from the durable store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// sled failed (I/O, or corruption found on open).
    #[error("sled: {0}")]
    Sled(#[from] sled::Error),
    /// A stored value could not be decoded.
    #[error("stored data could not be decoded: {0}")]
    Decode(String),
}

impl StoreError {
    /// Whether this error means the files are damaged (and a rebuild by replay is the cure).
    pub fn is_corruption(&self) -> bool {
        matches!(
            self,
            StoreError::Sled(sled::Error::Corruption { .. }) | StoreError::Decode(_)
        )
    }
}

const APPLIED_KEY: &[u8] = b"\x00applied";
const ROW_PREFIX: u8 = 0x01;
const QUARANTINE_PREFIX: u8 = 0x02;
const HISTORY_PREFIX: u8 = 0x04;
const SCHEMA_KEY: &[u8] = b"\x03schema";
const EVENT_PREFIX: u8 = 0x05;
const HEARTBEAT_KEY: &[u8] = b"\x06heartbeat";
const CONTROL_KEY: &[u8] = b"\x07control";
const LOGICAL_KEY: &[u8] = b"\x08logical";

/// A row as stored: its values by position in the partition's [`StoredSchema`] (written in
/// the same batch whenever it gains a column), and its metadata.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct StoredRow {
    pub op: u8,
    pub ts_ms: i64,
    pub offset: Offset,
    pub cells: Vec<(u16, Value)>,
}

/// The schema as one partition has seen it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Default)]
pub struct StoredSchema {
    pub key_columns: Vec<String>,
    pub columns: Vec<(String, Option<DType>)>,
}

fn bincode_config() -> bincode::config::Configuration {
    bincode::config::standard()
}

pub fn encode<T: Serialize>(v: &T) -> Vec<u8> {
    bincode::serde::encode_to_vec(v, bincode_config()).expect("in-memory encoding cannot fail")
}

pub fn decode<T: for<'de> Deserialize<'de>>(b: &[u8]) -> Result<T, StoreError> {
    bincode::serde::decode_from_slice(b, bincode_config())
        .map(|(v, _)| v)
        .map_err(|e| StoreError::Decode(e.to_string()))
}

/// The durable store.
pub struct Store {
    db: sled::Db,
    source_quarantine: sled::Tree,
}

impl Store {
    /// Opens (or creates) the store in `dir`; sled flushes on its own every `flush_every_ms`
    /// and caches up to `cache_mb` of pages.
    pub fn open(dir: &Path, flush_every_ms: u64, cache_mb: u64) -> Result<Self, StoreError> {
        let db = sled::Config::new()
            .path(dir)
            .flush_every_ms(Some(flush_every_ms.max(1)))
            .cache_capacity(cache_mb.max(16) * 1024 * 1024)
            .mode(sled::Mode::HighThroughput)
            .open()?;
        let source_quarantine = db.open_tree("source-quarantine")?;
        Ok(Self {
            db,
            source_quarantine,
        })
    }

    /// The partitions that have state, from the tree names.
    pub fn partitions(&self) -> Vec<TopicPartition> {
        let mut v: Vec<TopicPartition> = self
            .db
            .tree_names()
            .into_iter()
            .filter_map(|n| {
                let s = std::str::from_utf8(&n).ok()?;
                let rest = s.strip_prefix("p\0")?;
                let (topic, p) = rest.rsplit_once('\0')?;
                Some(TopicPartition::new(topic, p.parse().ok()?))
            })
            .collect();
        v.sort();
        v
    }

    pub fn partition(&self, tp: &TopicPartition) -> Result<PartitionStore, StoreError> {
        let tree = self
            .db
            .open_tree(format!("p\0{}\0{}", tp.topic, tp.partition))?;
        Ok(PartitionStore { tree })
    }

    /// Keeps input that never became a record. Keyed by position, so reading the same bad
    /// input again (a replay after a restart) does not keep it twice.
    pub fn quarantine_source(&self, fault: &SourceFault) -> Result<(), StoreError> {
        let entry = QuarantineEntry {
            topic: None,
            partition: None,
            offset: None,
            position: Some(fault.position.clone()),
            reason: fault.reason.clone(),
            raw_len: fault.raw.len(),
            raw: fault.raw[..fault.raw.len().min(QUARANTINE_RAW_CAP)].to_vec(),
            at_ms: chrono::Utc::now().timestamp_millis(),
        };
        let key = fault.position.as_bytes();
        if self.source_quarantine.get(key)?.is_none() {
            self.source_quarantine.insert(key, encode(&entry))?;
        }
        Ok(())
    }

    /// Every quarantined entry: source faults first, then per partition by offset.
    pub fn quarantine(&self) -> Result<Vec<QuarantineEntry>, StoreError> {
        let mut out = Vec::new();
        for kv in self.source_quarantine.iter() {
            let (_, v) = kv?;
            out.push(decode(&v)?);
        }
        for tp in self.partitions() {
            for kv in self.partition(&tp)?.tree.scan_prefix([QUARANTINE_PREFIX]) {
                let (_, v) = kv?;
                out.push(decode(&v)?);
            }
        }
        Ok(out)
    }

    /// A named tree for state that is not a partition's (alert rules and their events).
    pub fn tree(&self, name: &str) -> Result<sled::Tree, StoreError> {
        Ok(self.db.open_tree(format!("x\0{name}"))?)
    }

    /// Writes everything to disk now.
    pub async fn flush(&self) -> Result<usize, StoreError> {
        Ok(self.db.flush_async().await?)
    }

    pub fn flush_blocking(&self) -> Result<usize, StoreError> {
        Ok(self.db.flush()?)
    }
}

/// What a partition has on disk.
pub struct LoadedPartition {
    pub applied: Option<Offset>,
    pub schema: Option<StoredSchema>,
    /// The changes to that schema, oldest first.
    pub history: Vec<SchemaChange>,
    pub rows: Vec<(Vec<u8>, StoredRow)>,
    /// Its table events, oldest first, then the last heartbeat.
    pub events: Vec<events::TableEvent>,
    /// What control topic it is, if it is one.
    pub control: Option<events::ControlKind>,
    /// Each column's logical type name.
    pub logical: std::collections::BTreeMap<String, String>,
}

/// One partition's tree.
#[derive(Clone)]
pub struct PartitionStore {
    tree: sled::Tree,
}

impl PartitionStore {
    pub fn load(&self) -> Result<LoadedPartition, StoreError> {
        let applied = self
            .tree
            .get(APPLIED_KEY)?
            .map(|v| decode_offset(&v))
            .transpose()?;
        let schema = self.tree.get(SCHEMA_KEY)?.map(|v| decode(&v)).transpose()?;
        let mut rows = Vec::new();
        for kv in self.tree.scan_prefix([ROW_PREFIX]) {
            let (k, v) = kv?;
            rows.push((k[1..].to_vec(), decode(&v)?));
        }
        let mut history = Vec::new();
        for kv in self.tree.scan_prefix([HISTORY_PREFIX]) {
            history.push(decode(&kv?.1)?);
        }
        let mut events = Vec::new();
        for kv in self.tree.scan_prefix([EVENT_PREFIX]) {
            events.push(decode(&kv?.1)?);
        }
        if let Some(v) = self.tree.get(HEARTBEAT_KEY)? {
            events.push(decode(&v)?);
        }
        let control = self
            .tree
            .get(CONTROL_KEY)?
            .and_then(|v| v.first().copied())
            .and_then(events::ControlKind::from_code);
        let logical = self
            .tree
            .get(LOGICAL_KEY)?
            .map(|v| decode(&v))
            .transpose()?
            .unwrap_or_default();
        Ok(LoadedPartition {
            applied,
            schema,
            history,
            rows,
            events,
            control,
            logical,
        })
    }

    /// The last applied offset, as written (durable once the store is flushed).
    pub fn applied(&self) -> Result<Option<Offset>, StoreError> {
        self.tree
            .get(APPLIED_KEY)?
            .map(|v| decode_offset(&v))
            .transpose()
    }

    /// Applies a batch atomically.
    pub fn commit(&self, batch: WriteBatch) -> Result<(), StoreError> {
        Ok(self.tree.apply_batch(batch.inner)?)
    }
}

fn decode_offset(v: &[u8]) -> Result<Offset, StoreError> {
    let arr: [u8; 8] = v
        .try_into()
        .map_err(|_| StoreError::Decode("applied offset is not 8 bytes".into()))?;
    Ok(Offset(i64::from_be_bytes(arr)))
}

/// `prefix` then the offset, so keys sort by offset (negative ones first).
fn offset_key(prefix: u8, offset: Offset) -> [u8; 9] {
    let mut k = [0u8; 9];
    k[0] = prefix;
    k[1..].copy_from_slice(&((offset.get() as u64) ^ (1 << 63)).to_be_bytes());
    k
}

/// One micro-batch of writes to a partition: rows, quarantine entries, the schema and the
/// applied offset, made durable together.
#[derive(Default)]
pub struct WriteBatch {
    inner: sled::Batch,
}

impl WriteBatch {
    pub fn upsert(&mut self, key: &[u8], row: &StoredRow) {
        let mut k = Vec::with_capacity(key.len() + 1);
        k.push(ROW_PREFIX);
        k.extend_from_slice(key);
        self.inner.insert(k, encode(row));
    }

    pub fn delete(&mut self, key: &[u8]) {
        let mut k = Vec::with_capacity(key.len() + 1);
        k.push(ROW_PREFIX);
        k.extend_from_slice(key);
        self.inner.remove(k);
    }

    pub fn quarantine(&mut self, entry: &QuarantineEntry) {
        let offset = entry.offset.unwrap_or(Offset(-1));
        self.inner
            .insert(&offset_key(QUARANTINE_PREFIX, offset)[..], encode(entry));
    }

    pub fn schema(&mut self, schema: &StoredSchema) {
        self.inner.insert(SCHEMA_KEY, encode(schema));
    }

    /// One entry of the schema history (one per record and column).
    pub fn schema_change(&mut self, change: &SchemaChange) {
        let mut k = offset_key(HISTORY_PREFIX, change.offset).to_vec();
        k.extend_from_slice(change.column.as_bytes());
        self.inner.insert(k, encode(change));
    }

    /// A table event; a heartbeat replaces the last one.
    pub fn event(&mut self, e: &events::TableEvent) {
        if e.kind == events::EventKind::Heartbeat {
            self.inner.insert(HEARTBEAT_KEY, encode(e));
        } else {
            self.inner
                .insert(&offset_key(EVENT_PREFIX, e.offset)[..], encode(e));
        }
    }

    /// Each column's logical type name, as known now.
    pub fn logical(&mut self, names: &std::collections::BTreeMap<String, String>) {
        self.inner.insert(LOGICAL_KEY, encode(names));
    }

    /// Marks the partition as a control topic of this kind.
    pub fn control(&mut self, kind: events::ControlKind) {
        self.inner.insert(CONTROL_KEY, &[kind.code()][..]);
    }

    pub fn applied(&mut self, offset: Offset) {
        self.inner
            .insert(APPLIED_KEY, &offset.get().to_be_bytes()[..]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_writes_rows_and_offset_together_and_reloads() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), 100, 64).unwrap();
        let tp = TopicPartition::new("db2.t", 1);
        let ps = store.partition(&tp).unwrap();
        let row = StoredRow {
            op: b'c',
            ts_ms: 5,
            offset: Offset(9),
            cells: vec![(0, Value::Int(1))],
        };
        let mut b = WriteBatch::default();
        b.upsert(b"k1", &row);
        b.upsert(b"k2", &row);
        b.delete(b"k2");
        let change = SchemaChange {
            offset: Offset(9),
            ts_ms: 5,
            column: "AMOUNT".into(),
            from: Some(Some(DType::Int64)),
            to: Some(DType::Float64),
            by: crate::store::schema::TypeFrom::Value,
        };
        b.schema_change(&change);
        b.applied(Offset(9));
        ps.commit(b).unwrap();
        let loaded = ps.load().unwrap();
        assert_eq!(loaded.history, vec![change]);
        assert_eq!(loaded.applied, Some(Offset(9)));
        assert_eq!(loaded.rows, vec![(b"k1".to_vec(), row)]);
        assert_eq!(store.partitions(), vec![tp]);
    }

    #[test]
    fn source_faults_are_kept_once_per_position() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), 100, 64).unwrap();
        let f = SourceFault {
            position: "f.jsonl:3".into(),
            reason: "not JSON".into(),
            raw: b"{oops".to_vec(),
        };
        store.quarantine_source(&f).unwrap();
        store.quarantine_source(&f).unwrap();
        assert_eq!(store.quarantine().unwrap().len(), 1);
    }
}
