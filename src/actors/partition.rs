//! The partition actor: owns one (topic, partition); folds its records, in micro-batches, into
//! the table's rows — durable in sled first (rows and applied offset in one atomic batch), then
//! visible in memory.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};

use crate::actors::fault::FaultHook;
use crate::actors::window::{PartitionWindows, Placed, WindowSpec};
use crate::ident::TopicPartition;
use crate::ingest::debezium::{Change, Decoder};
use crate::ingest::record::Record;
use crate::live::feed::{ChangeBatch, ChangeRow};
use crate::store::catalog::Catalog;
use crate::store::table::{LiveTable, PartitionRows, PartitionState, Row};
use crate::store::text::TextIndex;
use crate::store::value::{DType, Value};
use crate::store::{
    PartitionStore, QUARANTINE_RAW_CAP, QuarantineEntry, Store, StoredRow, StoredSchema, WriteBatch,
};
use crate::telemetry::{BatchApplied, Metrics, RecordQuarantined};

/// What every partition actor shares.
pub struct PartitionContext {
    pub store: Arc<Store>,
    /// Where text indices live (`<root>/<topic>/<partition>`).
    pub index_root: std::path::PathBuf,
    pub text: crate::config::TextConfig,
    pub catalog: Arc<Catalog>,
    pub metrics: Arc<Metrics>,
    pub faults: Arc<FaultHook>,
    /// Where Avro writer schemas come from (none: Avro records are quarantined).
    pub registry: Option<Arc<crate::ingest::registry::SchemaRegistry>>,
    /// Values larger than this are quarantined.
    pub max_value_bytes: usize,
    /// Windows: what they are computed over.
    pub live: crate::config::LiveConfig,
    /// Where applied changes are published.
    pub feed: Arc<crate::live::feed::Feed>,
}

/// The behaviour.
pub struct PartitionActor;

pub struct PartitionArgs {
    pub tp: TopicPartition,
    pub ctx: Arc<PartitionContext>,
}

/// What a micro-batch did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ApplyOutcome {
    /// The last applied offset after the batch.
    pub applied: Option<i64>,
    pub upserts: u64,
    pub deletes: u64,
    pub duplicates: u64,
    pub tombstones: u64,
    pub quarantined: u64,
}

pub enum PartitionMsg {
    /// Apply these records (all of this partition, in offset order).
    Apply(Arc<Vec<Record>>, RpcReplyPort<Result<ApplyOutcome, String>>),
    /// Commit the text index if it has changes older than the commit interval.
    Tick,
    /// Commit the text index now (end of a replay, shutdown).
    Flush(RpcReplyPort<()>),
}

pub struct PartitionActorState {
    tp: TopicPartition,
    ctx: Arc<PartitionContext>,
    table: Arc<LiveTable>,
    part: Arc<PartitionState>,
    store: PartitionStore,
    decoder: Decoder,
    /// Source column name → index in the table schema.
    index: HashMap<String, usize>,
    /// What this partition has seen (persisted with its rows); stored rows refer to columns by
    /// position in `seen.columns`.
    seen: StoredSchema,
    /// Source column name → (position in `seen.columns`, type seen).
    seen_pos: HashMap<String, (u16, Option<DType>)>,
    /// Position in `seen.columns` → index in the table schema.
    seen_to_table: Vec<usize>,
    applied: Option<i64>,
    text: Option<TextIndex>,
    last_commit: Instant,
    /// What windows are computed over, for the schema version it was derived from.
    win_spec: Arc<WindowSpec>,
    /// `schema.table`, as the change feed names it.
    table_name: String,
}

impl Actor for PartitionActor {
    type Msg = PartitionMsg;
    type State = PartitionActorState;
    type Arguments = PartitionArgs;

    async fn pre_start(
        &self,
        _myself: ActorRef<Self::Msg>,
        args: PartitionArgs,
    ) -> Result<Self::State, ActorProcessingErr> {
        let PartitionArgs { tp, ctx } = args;
        let table = ctx.catalog.table_for_topic(&tp.topic);
        let part = table.partition(tp.partition);
        let store = ctx.store.partition(&tp)?;
        let loaded = store.load()?;
        let table_name = table.schema.read().name.to_string();
        let mut state = PartitionActorState {
            tp,
            table,
            part,
            store,
            decoder: Decoder::with(ctx.registry.clone(), ctx.max_value_bytes),
            index: HashMap::new(),
            seen: StoredSchema::default(),
            seen_pos: HashMap::new(),
            seen_to_table: Vec::new(),
            applied: loaded.applied,
            text: None,
            last_commit: Instant::now(),
            win_spec: Arc::new(WindowSpec::default()),
            table_name,
            ctx,
        };
        if let Some(schema) = loaded.schema {
            let mut s = state.table.schema.write();
            s.set_primary_key(&schema.key_columns);
            for (pos, (orig, t)) in schema.columns.iter().enumerate() {
                let idx = s.ensure_column(orig);
                if let Some(t) = t {
                    s.widen(idx, *t);
                }
                state.index.insert(orig.clone(), idx);
                state.seen_pos.insert(orig.clone(), (pos as u16, *t));
                state.seen_to_table.push(idx);
            }
            drop(s);
            state.seen = schema;
        }
        let mut rows = rustc_hash::FxHashMap::default();
        rows.reserve(loaded.rows.len());
        for (key, stored) in loaded.rows {
            let values = state.values_of(stored.cells);
            rows.insert(
                key,
                Row {
                    values,
                    op: stored.op,
                    ts_ms: stored.ts_ms,
                    offset: stored.offset,
                },
            );
        }
        let mut mem = state.part.rows.write();
        let version = mem.version + 1;
        let last_change_ms = rows.values().map(|r| r.ts_ms).max();
        *mem = PartitionRows {
            rows,
            applied: loaded.applied,
            version,
            last_change_ms,
        };
        drop(mem);
        if state.ctx.text.enabled {
            state.open_text_index()?;
        }
        tracing::debug!(partition = %state.tp, applied = ?state.applied, "partition actor started");
        Ok(state)
    }

    async fn post_start(
        &self,
        myself: ActorRef<Self::Msg>,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        if state.text.is_some() {
            let every = std::time::Duration::from_millis(state.ctx.text.commit_interval_ms.max(10));
            myself.send_interval(every, || PartitionMsg::Tick);
        }
        Ok(())
    }

    async fn handle(
        &self,
        _myself: ActorRef<Self::Msg>,
        msg: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            PartitionMsg::Apply(records, reply) => {
                let result = state.apply(&records).map_err(|e| e.to_string());
                if result.is_ok() {
                    state
                        .ctx
                        .feed
                        .done(&state.tp.topic, state.tp.partition, records.len() as u64);
                }
                let failed = result.is_err();
                let _ = reply.send(result);
                if failed {
                    return Err("store write failed".into());
                }
            }
            PartitionMsg::Tick => {
                let due = state.last_commit.elapsed().as_millis() as u64
                    >= state.ctx.text.commit_interval_ms;
                if due {
                    state.commit_text()?;
                }
            }
            PartitionMsg::Flush(reply) => {
                let result = state.commit_text();
                let _ = reply.send(());
                result?;
            }
        }
        Ok(())
    }
}

fn sanitize(topic: &str) -> String {
    topic
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

enum MemOp {
    Upsert(Vec<u8>, Row),
    Delete(Vec<u8>),
}

impl PartitionActorState {
    /// Opens the partition's text index; one whose committed offset is not sled's applied
    /// offset (a crash between the two commits, or a new index) is rebuilt from the rows.
    fn open_text_index(&mut self) -> Result<(), ActorProcessingErr> {
        let dir = self
            .ctx
            .index_root
            .join(sanitize(&self.tp.topic))
            .join(self.tp.partition.to_string());
        let mut index = TextIndex::open(&dir, self.ctx.text.writer_heap_mb * 1024 * 1024)?;
        if index.committed_offset() != self.applied {
            tracing::info!(partition = %self.tp, index = ?index.committed_offset(), applied = ?self.applied,
                "text index behind the store: rebuilding it from the current rows");
            index.clear()?;
            let columns = self.text_columns();
            let rows = self.part.rows.read();
            for (key, row) in &rows.rows {
                index.upsert(
                    key,
                    row.offset,
                    row.ts_ms,
                    &Self::texts_of(&columns, &row.values),
                    false,
                );
            }
            drop(rows);
            index.commit(self.applied)?;
        }
        *self.part.text.write() = Some(index.searcher());
        self.text = Some(index);
        Ok(())
    }

    /// Each column's name and whether its values are indexed: `Some(true)` always (listed in
    /// `text.columns`), `Some(false)` never (`text.exclude`), `None` when they look like free
    /// text. Resolved once per batch, not per row.
    fn text_columns(&self) -> Vec<(String, Option<bool>)> {
        let schema = self.table.schema.read();
        let cfg = &self.ctx.text;
        schema
            .columns
            .iter()
            .map(|c| {
                let qualified = format!("{}.{}", schema.name, c.name);
                let rule = if cfg.exclude.contains(&qualified) {
                    Some(false)
                } else if cfg.columns.contains(&qualified) {
                    Some(true)
                } else {
                    None
                };
                (c.name.clone(), rule)
            })
            .collect()
    }

    /// The indexed text values of a row, by column name.
    fn texts_of<'a>(
        columns: &'a [(String, Option<bool>)],
        values: &'a [Value],
    ) -> Vec<(&'a str, &'a str)> {
        values
            .iter()
            .zip(columns)
            .filter_map(|(v, (name, rule))| match v {
                Value::Str(s) if rule.unwrap_or_else(|| crate::store::text::is_free_text(s)) => {
                    Some((name.as_str(), s.as_str()))
                }
                _ => None,
            })
            .collect()
    }

    fn commit_text(&mut self) -> Result<(), crate::store::text::TextError> {
        self.last_commit = Instant::now();
        if let Some(ix) = &mut self.text
            && ix.has_pending()
        {
            ix.commit(self.applied)?;
        }
        Ok(())
    }

    /// Maps stored cells (by position in the partition schema) onto table column indices.
    fn values_of(&self, cells: Vec<(u16, Value)>) -> Vec<Value> {
        let mut values = Vec::with_capacity(cells.len());
        for (pos, v) in cells {
            let Some(&idx) = self.seen_to_table.get(pos as usize) else {
                continue;
            };
            if values.len() <= idx {
                values.resize(idx + 1, Value::Null);
            }
            values[idx] = v;
        }
        values
    }

    /// Records that this partition has seen column `orig` with type `t`, widening the table's
    /// schema when needed. Returns the column's position in the partition schema and whether
    /// the partition schema changed.
    fn observe(&mut self, orig: &str, t: Option<DType>) -> (u16, bool) {
        if let Some((pos, known)) = self.seen_pos.get(orig).copied() {
            let merged = match (known, t) {
                (Some(a), Some(b)) => Some(a.merge(b)),
                (a, b) => a.or(b),
            };
            if merged == known {
                return (pos, false);
            }
            let idx = self.seen_to_table[pos as usize];
            if let Some(m) = merged {
                self.table.schema.write().widen(idx, m);
            }
            self.seen_pos.insert(orig.to_string(), (pos, merged));
            self.seen.columns[pos as usize].1 = merged;
            return (pos, true);
        }
        let idx = match self.index.get(orig) {
            Some(i) => *i,
            None => {
                let i = self.table.schema.write().ensure_column(orig);
                self.index.insert(orig.to_string(), i);
                i
            }
        };
        if let Some(m) = t {
            self.table.schema.write().widen(idx, m);
        }
        let pos = u16::try_from(self.seen.columns.len()).expect("fewer than 65536 columns");
        self.seen.columns.push((orig.to_string(), t));
        self.seen_pos.insert(orig.to_string(), (pos, t));
        self.seen_to_table.push(idx);
        (pos, true)
    }

    /// The window spec for the table's current schema.
    fn window_spec(&mut self) -> Arc<WindowSpec> {
        let schema = self.table.schema.read();
        if self.win_spec.schema_version != schema.version || self.win_spec.pane_ms == 0 {
            self.win_spec = Arc::new(WindowSpec::of(&schema, &self.ctx.live));
        }
        self.win_spec.clone()
    }

    /// Records the batch's clocks and redeliveries in the windows (for stall and redelivery
    /// insights).
    fn note_batch(&self, records: &[Record], out: &ApplyOutcome, dup: Option<(i64, i64)>) {
        let mut w = self.part.windows.lock();
        for r in records {
            w.saw_record(r.ts_ms);
        }
        w.last_batch = Some(Instant::now());
        if let Some(range) = dup {
            w.duplicates += out.duplicates;
            w.duplicate_offsets = range;
        }
    }

    fn apply(&mut self, records: &[Record]) -> Result<ApplyOutcome, crate::store::StoreError> {
        let started = Instant::now();
        let mut out = ApplyOutcome::default();
        let mut batch = WriteBatch::default();
        let mut mem = Vec::with_capacity(records.len());
        let mut schema_changed = false;
        let mut applied = self.applied;
        let mut dup: Option<(i64, i64)> = None;
        let mut newest: Option<i64> = None;
        for rec in records {
            if applied.is_some_and(|a| rec.offset <= a) {
                out.duplicates += 1;
                dup = Some(
                    dup.map_or((rec.offset, rec.offset), |(lo, hi): (i64, i64)| {
                        (lo.min(rec.offset), hi.max(rec.offset))
                    }),
                );
                continue;
            }
            self.ctx.faults.check(&self.tp, rec.offset);
            match self.decoder.decode(rec) {
                Ok(Change::Tombstone) => out.tombstones += 1,
                Ok(Change::Delete { key, key_columns }) => {
                    newest = newest.max(Some(rec.ts_ms));
                    if self.seen.key_columns.is_empty() && !key_columns.is_empty() {
                        self.seen.key_columns = key_columns.clone();
                        self.table.schema.write().set_primary_key(&key_columns);
                        schema_changed = true;
                    }
                    batch.delete(&key);
                    mem.push(MemOp::Delete(key));
                    out.deletes += 1;
                }
                Ok(Change::Upsert {
                    key,
                    key_columns,
                    op,
                    ts_ms,
                    cells,
                }) => {
                    newest = newest.max(Some(ts_ms));
                    if self.seen.key_columns.is_empty() && !key_columns.is_empty() {
                        self.seen.key_columns = key_columns.clone();
                        self.table.schema.write().set_primary_key(&key_columns);
                        schema_changed = true;
                    }
                    let mut stored_cells = Vec::with_capacity(cells.len());
                    for c in cells {
                        let t = c.declared.or_else(|| c.value.dtype(false));
                        let (pos, changed) = self.observe(&c.original, t);
                        schema_changed |= changed;
                        stored_cells.push((pos, c.value));
                    }
                    let stored = StoredRow {
                        op: op.code(),
                        ts_ms,
                        offset: rec.offset,
                        cells: stored_cells,
                    };
                    batch.upsert(&key, &stored);
                    let values = self.values_of(stored.cells);
                    mem.push(MemOp::Upsert(
                        key,
                        Row {
                            values,
                            op: stored.op,
                            ts_ms,
                            offset: rec.offset,
                        },
                    ));
                    out.upserts += 1;
                }
                Err(e) => {
                    let reason = e.to_string();
                    RecordQuarantined {
                        tp: &self.tp,
                        offset: rec.offset,
                        reason: &reason,
                    }
                    .emit();
                    let raw = rec.value.as_deref().unwrap_or_default();
                    batch.quarantine(&QuarantineEntry {
                        topic: Some(self.tp.topic.clone()),
                        partition: Some(self.tp.partition),
                        offset: Some(rec.offset),
                        position: None,
                        reason,
                        raw: raw[..raw.len().min(QUARANTINE_RAW_CAP)].to_vec(),
                        raw_len: raw.len(),
                        at_ms: chrono::Utc::now().timestamp_millis(),
                    });
                    out.quarantined += 1;
                }
            }
            applied = Some(rec.offset);
        }
        if applied == self.applied {
            out.applied = applied;
            self.note_batch(records, &out, dup);
            return Ok(out);
        }
        if schema_changed {
            batch.schema(&self.seen);
        }
        let last = applied.expect("a record was applied");
        batch.applied(last);
        self.store.commit(batch)?;
        self.applied = applied;
        if let Some(mut ix) = self.text.take() {
            let columns = self.text_columns();
            // A key with no document yet (not a live row, not added in this batch) needs no
            // delete: deletes are resolved against every segment at commit, so skipping them
            // for inserts saves most of that work.
            let rows = self.part.rows.read();
            let mut added: rustc_hash::FxHashSet<&[u8]> = Default::default();
            for op in &mem {
                match op {
                    MemOp::Upsert(k, r) => {
                        let known = rows.rows.contains_key(k) || !added.insert(k.as_slice());
                        ix.upsert(
                            k,
                            r.offset,
                            r.ts_ms,
                            &Self::texts_of(&columns, &r.values),
                            known,
                        )
                    }
                    MemOp::Delete(k) => ix.delete(k),
                }
            }
            drop(rows);
            self.text = Some(ix);
        }
        let tail = self.ctx.feed.wants_rows(&self.table_name);
        let mut changes: Vec<ChangeRow> = Vec::new();
        let mut late_here = 0u64;
        {
            let spec = self.window_spec();
            let windowed = self.ctx.live.enabled;
            let mut windows = self.part.windows.lock();
            let mut rows = self.part.rows.write();
            for op in mem {
                match op {
                    MemOp::Upsert(k, r) => {
                        if windowed
                            && let Some(t) =
                                PartitionWindows::event_time(&spec, r.op, &r.values, r.ts_ms)
                            && let Placed::Late(_) = windows.observe(&spec, &r.values, t)
                        {
                            late_here += 1;
                        }
                        if tail {
                            changes.push(ChangeRow {
                                offset: r.offset,
                                op: r.op,
                                row: r.clone(),
                            });
                        }
                        rows.rows.insert(k, r);
                    }
                    MemOp::Delete(k) => {
                        let old = rows.rows.remove(&k);
                        if tail && let Some(mut row) = old {
                            row.op = b'd';
                            changes.push(ChangeRow {
                                offset: row.offset,
                                op: b'd',
                                row,
                            });
                        }
                    }
                }
            }
            rows.applied = applied;
            rows.version += 1;
            rows.last_change_ms = rows.last_change_ms.max(newest);
            if windowed {
                let keep_from = windows
                    .watermark(spec.lateness_ms)
                    .map(|w| w - 2 * spec.pane_ms);
                if let Some(from) = keep_from {
                    windows.prune(from, spec.pane_ms);
                }
            }
        }
        if late_here > 0 {
            self.ctx
                .metrics
                .late_events
                .with_label_values(&[&self.tp.topic])
                .inc_by(late_here);
        }
        self.note_batch(records, &out, dup);
        if tail && !changes.is_empty() {
            let (columns, schema_version, name) = {
                let s = self.table.schema.read();
                (Arc::new(s.columns.clone()), s.version, s.name.to_string())
            };
            self.ctx.feed.publish(ChangeBatch {
                table: name,
                partition: self.tp.partition,
                applied_us: chrono::Utc::now().timestamp_micros(),
                columns,
                schema_version,
                changes,
            });
        }
        self.ctx.feed.applied();
        out.applied = applied;
        BatchApplied {
            tp: &self.tp,
            applied: out.upserts + out.deletes,
            duplicates: out.duplicates,
            tombstones: out.tombstones,
            quarantined: out.quarantined,
            seconds: started.elapsed().as_secs_f64(),
        }
        .emit(&self.ctx.metrics);
        Ok(out)
    }
}
