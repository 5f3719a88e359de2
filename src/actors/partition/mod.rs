//! The partition actor: owns one (topic, partition); folds its records, in micro-batches, into
//! the table's rows — durable in sled first (rows and applied offset in one atomic batch), then
//! visible in memory. The stages of a batch are `apply.rs`.

mod apply;
mod guard;
mod recent;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};

use crate::actors::changes::Changes;
use crate::actors::fault::FaultHook;
use crate::actors::progress::Progress;
use crate::ident::{Offset, TopicPartition};
use crate::ingest::debezium::Decoder;
use crate::ingest::record::Record;
use crate::store::catalog::Catalog;
use crate::store::schema::{SchemaChange, TypeFrom};
use crate::store::table::{LiveTable, PartitionRows, PartitionState, Row};
use crate::store::text::TextIndex;
use crate::store::value::{DType, Value};
use crate::store::window::WindowSpec;
use crate::store::{PartitionStore, Store, StoredSchema};
use crate::telemetry::Metrics;

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
    /// A record further than this past its partition's last applied offset is quarantined.
    pub max_offset_jump: u64,
    /// Records per partition whose content is remembered to check redeliveries against.
    pub recent_window: usize,
    /// Topics whose values are flattened rows without markers (`ingest.flattened_topics`).
    pub flattened_topics: Vec<String>,
    /// Keep transaction metadata records (`ingest.keep_transactions`).
    pub keep_transactions: bool,
    /// Column types fixed by configuration, by `<table>.<column>`.
    pub column_types: std::collections::BTreeMap<String, crate::config::ColumnType>,
    /// Windows: what they are computed over.
    pub live: crate::config::LiveConfig,
    /// Where applied changes are published.
    pub changes: Arc<Changes>,
    /// Where applied records are counted off.
    pub progress: Arc<Progress>,
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
    pub applied: Option<Offset>,
    pub upserts: u64,
    pub deletes: u64,
    pub duplicates: u64,
    pub tombstones: u64,
    pub quarantined: u64,
    /// Offsets passed over between records (compaction, transaction markers).
    pub gaps: u64,
    /// Truncates applied (their rows are counted in `deletes`).
    pub truncates: u64,
    /// Control records (schema changes, transactions, heartbeats) recorded.
    pub control: u64,
}

pub enum PartitionMsg {
    /// Apply these records (all of this partition, in offset order).
    Apply(
        Arc<Vec<Record>>,
        RpcReplyPort<Result<ApplyOutcome, crate::store::StoreError>>,
    ),
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
    applied: Option<Offset>,
    text: Option<TextIndex>,
    last_commit: Instant,
    /// What windows are computed over, for the schema version it was derived from.
    win_spec: Arc<WindowSpec>,
    /// `schema.table`, as the change feed names it.
    table_name: String,
    /// Distinct columns the partition may see; a record that would pass it is quarantined.
    max_columns: usize,
    /// The table's columns whose type configuration fixes, by SQL column name.
    fixed: HashMap<String, DType>,
    /// The last records' content, to tell a redelivery from a second record at an offset.
    recent: recent::Recent,
}

/// The most distinct columns a partition's stored rows can refer to (cells carry a `u16`).
pub const MAX_COLUMNS: usize = u16::MAX as usize + 1;

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
        let state = PartitionActorState::open(tp, ctx)?;
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
                let result = state.apply(&records);
                if result.is_ok() {
                    state.ctx.progress.done(
                        &state.tp.topic,
                        state.tp.partition,
                        records.len() as u64,
                    );
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

pub(super) enum MemOp {
    Upsert(Vec<u8>, Row),
    Delete(Vec<u8>),
}

impl PartitionActorState {
    /// The partition's state as the store holds it: its rows (into the live table), its
    /// schema, its applied offset, its text index.
    pub(crate) fn open(
        tp: TopicPartition,
        ctx: Arc<PartitionContext>,
    ) -> Result<PartitionActorState, ActorProcessingErr> {
        let table = ctx.catalog.table_for_topic(&tp.topic);
        let part = table.partition(tp.partition);
        let store = ctx.store.partition(&tp)?;
        let mut loaded = store.load()?;
        *part.schema_history.write() = std::mem::take(&mut loaded.history);
        if let Some(kind) = loaded.control {
            table.mark_control(kind);
        }
        *part.logical.write() = std::mem::take(&mut loaded.logical);
        {
            let mut events = part.events.write();
            *events = Default::default();
            for e in std::mem::take(&mut loaded.events) {
                events.push(e);
            }
            // Counts are since start; what was loaded is history.
            events.truncates = 0;
            events.heartbeats = 0;
        }
        let table_name = table.schema.read().name.to_string();
        let mut state = PartitionActorState {
            tp,
            table,
            part,
            store,
            decoder: Decoder::with(ctx.registry.clone(), ctx.max_value_bytes)
                .with_flattened(ctx.flattened_topics.clone()),
            index: HashMap::new(),
            seen: StoredSchema::default(),
            seen_pos: HashMap::new(),
            seen_to_table: Vec::new(),
            applied: loaded.applied,
            text: None,
            last_commit: Instant::now(),
            win_spec: Arc::new(WindowSpec::default()),
            fixed: guard::fixed_types(&ctx.column_types, &table_name),
            recent: recent::Recent::new(ctx.recent_window),
            table_name,
            max_columns: MAX_COLUMNS,
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
        Ok(state)
    }
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

    /// Records that this partition has seen column `orig` with type `t` (given `by` the
    /// value, the record's schema or configuration), widening the table's schema when needed; a
    /// change goes into `history`, as made by the record at `at` (offset, time). Returns the
    /// column's position in the partition schema and whether the partition schema changed.
    fn observe(
        &mut self,
        orig: &str,
        t: Option<DType>,
        by: TypeFrom,
        at: (Offset, i64),
        history: &mut Vec<SchemaChange>,
    ) -> (u16, bool) {
        let mut note = |from: Option<Option<DType>>, to: Option<DType>| {
            history.push(SchemaChange {
                offset: at.0,
                ts_ms: at.1,
                column: orig.to_string(),
                from,
                to,
                by,
            })
        };
        if let Some((pos, known)) = self.seen_pos.get(orig).copied() {
            let merged = match (known, t) {
                (Some(a), Some(b)) => Some(a.merge(b)),
                (a, b) => a.or(b),
            };
            if merged == known {
                return (pos, false);
            }
            note(Some(known), merged);
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
        note(None, t);
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
    fn note_batch(&self, records: &[Record], out: &ApplyOutcome, dup: Option<(Offset, Offset)>) {
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
}
