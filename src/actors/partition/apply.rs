//! One micro-batch through the partition, in named stages: **decode** (records → changes,
//! the bad ones quarantined), **commit** (rows, schema and applied offset in one sled batch),
//! **index** (the text index), **fold** (the in-memory rows and the event-time windows) and
//! **publish** (the change broadcast). Nothing is visible before it is durable.

use std::sync::Arc;
use std::time::Instant;

use crate::actors::changes::{ChangeBatch, ChangeRow};
use crate::actors::partition::recent::Again;
use crate::actors::partition::{ApplyOutcome, MemOp, PartitionActorState, guard};
use crate::ident::{Offset, normalize_column};
use crate::ingest::change::{Cell, Change};
use crate::ingest::record::Record;
use crate::store::events::{EventKind, TableEvent};
use crate::store::schema::{SchemaChange, TypeFrom};
use crate::store::table::Row;
use crate::store::value::Value;
use crate::store::window::{PartitionWindows, Placed};
use crate::store::{QUARANTINE_RAW_CAP, QuarantineEntry, StoreError, StoredRow, WriteBatch};
use crate::telemetry::{BatchApplied, LateEvents, RecordQuarantined};

/// What the decode stage made of a batch.
#[derive(Default)]
pub(super) struct Decoded {
    pub(super) out: ApplyOutcome,
    /// The durable writes.
    pub(super) batch: WriteBatch,
    /// The same changes for the in-memory table, in offset order.
    pub(super) mem: Vec<MemOp>,
    /// The last offset the batch reaches (applied or quarantined).
    pub(super) applied: Option<Offset>,
    /// The range of redelivered offsets, if any.
    pub(super) dup: Option<(Offset, Offset)>,
    /// The newest change time.
    pub(super) newest: Option<i64>,
    pub(super) schema_changed: bool,
    /// What those schema changes were, for the schema history.
    pub(super) history: Vec<SchemaChange>,
    /// Truncates and control records.
    pub(super) events: Vec<TableEvent>,
}

/// The key of a keyless table's row: where its record was read (`@<partition>:<offset>`).
fn position_key(rec: &Record) -> Vec<u8> {
    format!("@{}:{}", rec.partition, rec.offset.get()).into_bytes()
}

impl PartitionActorState {
    /// The whole batch: decode → commit → index → fold → publish.
    pub(super) fn apply(&mut self, records: &[Record]) -> Result<ApplyOutcome, StoreError> {
        let started = Instant::now();
        let mut d = self.decode(records);
        if self.part.source.read().is_none()
            && let Some(src) = self.decoder.source()
        {
            *self.part.source.write() = Some(src.clone());
        }
        if d.applied == self.applied && d.out.quarantined == 0 {
            d.out.applied = d.applied;
            self.note_batch(records, &d.out, d.dup);
            return Ok(d.out);
        }
        self.commit(&mut d)?;
        self.index(&d.mem);
        let tail = self.ctx.changes.wants_rows(&self.table_name);
        let changes = self.fold(std::mem::take(&mut d.mem), d.newest, tail);
        self.note_batch(records, &d.out, d.dup);
        self.publish(changes);
        d.out.applied = self.applied;
        BatchApplied {
            tp: &self.tp,
            applied: d.out.upserts + d.out.deletes,
            duplicates: d.out.duplicates,
            tombstones: d.out.tombstones,
            quarantined: d.out.quarantined,
            gaps: d.out.gaps,
            seconds: started.elapsed().as_secs_f64(),
        }
        .emit(&self.ctx.metrics);
        Ok(d.out)
    }

    /// Decode: each new record becomes a write (or a quarantine entry, with its reason);
    /// records at or below the applied offset are redeliveries, counted and skipped.
    pub(super) fn decode(&mut self, records: &[Record]) -> Decoded {
        let mut d = Decoded {
            applied: self.applied,
            mem: Vec::with_capacity(records.len()),
            ..Decoded::default()
        };
        for rec in records {
            if let Some(reason) =
                guard::offset_refusal(rec.offset, d.applied, self.ctx.max_offset_jump)
            {
                // Quarantined at its own offset; the applied offset stays where it was, so the
                // records that follow are applied as usual.
                self.quarantine(&mut d, rec, reason);
                continue;
            }
            if d.applied.is_some_and(|a| rec.offset <= a) {
                if self.recent.again(rec) == Again::Different {
                    let reason = format!(
                        "offset {} was already applied with a different key or value: a second \
                         record claims the position (not a redelivery)",
                        rec.offset
                    );
                    self.quarantine(&mut d, rec, reason);
                    continue;
                }
                d.out.duplicates += 1;
                d.dup = Some(d.dup.map_or((rec.offset, rec.offset), |(lo, hi)| {
                    (lo.min(rec.offset), hi.max(rec.offset))
                }));
                continue;
            }
            if let Some(a) = d.applied {
                d.out.gaps += u64::try_from(rec.offset.get() - a.get() - 1).unwrap_or(0);
            }
            self.recent.note(rec);
            self.ctx.faults.check(&self.tp, rec.offset);
            let mut change = self.decoder.decode(rec);
            let wrong_kind = match &mut change {
                Ok(Change::Upsert { cells, .. }) => self.refusal(cells),
                Ok(Change::Keyless { before, after, .. }) => before
                    .as_deref_mut()
                    .and_then(|c| self.refusal(c))
                    .or_else(|| after.as_deref_mut().and_then(|c| self.refusal(c))),
                _ => None,
            };
            if let Some(reason) = wrong_kind {
                self.quarantine(&mut d, rec, reason);
                d.applied = Some(rec.offset);
                continue;
            }
            match change {
                Ok(Change::Tombstone { key }) => {
                    d.out.tombstones += 1;
                    // Kafka's delete of the key; after a Debezium delete the row is gone already.
                    if let Some(key) = key
                        && self.is_live(&d, &key)
                    {
                        d.batch.delete(&key);
                        d.mem.push(MemOp::Delete(key));
                        d.out.deletes += 1;
                    }
                }
                Ok(Change::Delete { key, key_columns }) => {
                    d.newest = d.newest.max(Some(rec.ts_ms));
                    d.schema_changed |= self.learn_key(&key_columns);
                    d.batch.delete(&key);
                    d.mem.push(MemOp::Delete(key));
                    d.out.deletes += 1;
                }
                Ok(Change::Upsert { cells, .. }) if self.new_columns(&cells) > self.room() => {
                    self.too_wide(&mut d, rec);
                }
                Ok(Change::Upsert {
                    key,
                    key_columns,
                    op,
                    ts_ms,
                    cells,
                }) => {
                    d.schema_changed |= self.learn_key(&key_columns);
                    self.upsert(&mut d, rec, key, op, ts_ms, cells);
                }
                Ok(Change::Keyless { after: Some(a), .. })
                    if self.new_columns(&a) > self.room() =>
                {
                    self.too_wide(&mut d, rec);
                }
                Ok(Change::Keyless {
                    op,
                    ts_ms,
                    before,
                    after,
                }) => {
                    let at = match &before {
                        Some(image) => match self.find_row(&d, image) {
                            Some(k) => Some(k),
                            None => {
                                let reason = format!(
                                    "op {:?} on a table without a key: no row of partition {} \
                                     matches its 'before' image",
                                    op.code() as char,
                                    self.tp
                                );
                                self.quarantine(&mut d, rec, reason);
                                d.applied = Some(rec.offset);
                                continue;
                            }
                        },
                        None => None,
                    };
                    match (at, after) {
                        (Some(key), None) => {
                            d.newest = d.newest.max(Some(ts_ms));
                            d.batch.delete(&key);
                            d.mem.push(MemOp::Delete(key));
                            d.out.deletes += 1;
                        }
                        (at, Some(cells)) => {
                            // A new row is identified by where it was read from.
                            let key = at.unwrap_or_else(|| position_key(rec));
                            self.upsert(&mut d, rec, key, op, ts_ms, cells);
                        }
                        (None, None) => {}
                    }
                }
                Ok(Change::Truncate { ts_ms }) => {
                    let keys = self.live_keys(&d);
                    let rows = keys.len() as u64;
                    for key in keys {
                        d.batch.delete(&key);
                        d.mem.push(MemOp::Delete(key));
                    }
                    d.newest = d.newest.max(Some(ts_ms));
                    d.out.deletes += rows;
                    d.out.truncates += 1;
                    d.events.push(TableEvent {
                        offset: rec.offset,
                        ts_ms,
                        kind: EventKind::Truncate { rows },
                    });
                }
                Ok(Change::Control { ts_ms, kind }) => {
                    if let Some(c) = kind.control()
                        && self.table.control() != Some(c)
                    {
                        self.table.mark_control(c);
                        d.batch.control(c);
                    }
                    d.out.control += 1;
                    let ignored = matches!(kind, EventKind::Transaction { .. })
                        && !self.ctx.keep_transactions;
                    if !ignored {
                        d.events.push(TableEvent {
                            offset: rec.offset,
                            ts_ms,
                            kind,
                        });
                    }
                }
                Err(e) => self.quarantine(&mut d, rec, e.to_string()),
            }
            d.applied = Some(rec.offset);
        }
        d
    }

    /// Why these cells cannot be applied as they are (a type configuration refuses them, or a
    /// value is of another kind than its column), if they cannot.
    fn refusal(&self, cells: &mut [Cell]) -> Option<String> {
        guard::fix_types(&self.fixed, cells)
            .err()
            .or_else(|| guard::type_refusal(&self.table.schema.read(), cells))
    }

    fn too_wide(&self, d: &mut Decoded, rec: &Record) {
        let reason = format!(
            "the record would give partition {} more than {} distinct columns",
            self.tp, self.max_columns
        );
        self.quarantine(d, rec, reason);
    }

    /// The row `cells` make, under `key`: its columns observed (the schema history notes new
    /// ones and widenings), written, and queued for memory.
    fn upsert(
        &mut self,
        d: &mut Decoded,
        rec: &Record,
        key: Vec<u8>,
        op: crate::ingest::change::Op,
        ts_ms: i64,
        cells: Vec<Cell>,
    ) {
        d.newest = d.newest.max(Some(ts_ms));
        let mut stored_cells = Vec::with_capacity(cells.len());
        for c in cells {
            let t = c.declared.or_else(|| c.value.dtype(false));
            let by = match c.declared {
                None => TypeFrom::Value,
                Some(_)
                    if !self.fixed.is_empty()
                        && self.fixed.contains_key(&normalize_column(&c.original)) =>
                {
                    TypeFrom::Config
                }
                Some(_) => TypeFrom::Schema,
            };
            let (pos, changed) =
                self.observe(&c.original, t, by, (rec.offset, ts_ms), &mut d.history);
            d.schema_changed |= changed;
            stored_cells.push((pos, c.value));
        }
        let stored = StoredRow {
            op: op.code(),
            ts_ms,
            offset: rec.offset,
            cells: stored_cells,
        };
        d.batch.upsert(&key, &stored);
        let values = self.values_of(stored.cells);
        d.mem.push(MemOp::Upsert(
            key,
            Row {
                values,
                op: stored.op,
                ts_ms,
                offset: rec.offset,
            },
        ));
        d.out.upserts += 1;
    }

    /// Whether `key` has a row once the batch's changes so far are applied.
    fn is_live(&self, d: &Decoded, key: &[u8]) -> bool {
        for op in d.mem.iter().rev() {
            match op {
                MemOp::Upsert(k, _) if k == key => return true,
                MemOp::Delete(k) if k == key => return false,
                _ => {}
            }
        }
        self.part.rows.read().rows.contains_key(key)
    }

    /// Every key with a row once the batch's changes so far are applied.
    fn live_keys(&self, d: &Decoded) -> Vec<Vec<u8>> {
        let mut keys: rustc_hash::FxHashSet<Vec<u8>> =
            self.part.rows.read().rows.keys().cloned().collect();
        for op in &d.mem {
            match op {
                MemOp::Upsert(k, _) => keys.insert(k.clone()),
                MemOp::Delete(k) => keys.remove(k),
            };
        }
        let mut keys: Vec<Vec<u8>> = keys.into_iter().collect();
        keys.sort_unstable();
        keys
    }

    /// The key of a row whose values are the `image`'s (a keyless table's update or delete):
    /// the batch's own rows first (newest first), then the partition's.
    fn find_row(&self, d: &Decoded, image: &[Cell]) -> Option<Vec<u8>> {
        let mut wanted = Vec::with_capacity(image.len());
        for c in image {
            wanted.push((*self.index.get(&c.original)?, &c.value));
        }
        let matches = |values: &[Value]| {
            wanted
                .iter()
                .all(|(i, v)| values.get(*i).unwrap_or(&Value::Null) == *v)
        };
        let mut decided: rustc_hash::FxHashSet<&[u8]> = Default::default();
        for op in d.mem.iter().rev() {
            let (k, row) = match op {
                MemOp::Upsert(k, r) => (k, Some(r)),
                MemOp::Delete(k) => (k, None),
            };
            if !decided.insert(k.as_slice()) {
                continue;
            }
            if let Some(r) = row
                && matches(&r.values)
            {
                return Some(k.clone());
            }
        }
        let rows = self.part.rows.read();
        let mut found: Vec<&Vec<u8>> = rows
            .rows
            .iter()
            .filter(|(k, r)| !decided.contains(k.as_slice()) && matches(&r.values))
            .map(|(k, _)| k)
            .collect();
        // Identical rows are interchangeable; take the earliest key, so a replay picks the same.
        found.sort_unstable();
        found.first().map(|k| (*k).clone())
    }

    /// The key columns, the first time a keyed change names them.
    fn learn_key(&mut self, key_columns: &[String]) -> bool {
        if self.seen.key_columns.is_empty() && !key_columns.is_empty() {
            self.seen.key_columns = key_columns.to_vec();
            self.table.schema.write().set_primary_key(key_columns);
            return true;
        }
        false
    }

    /// Columns of `cells` this partition has not seen.
    fn new_columns(&self, cells: &[Cell]) -> usize {
        let mut fresh: Vec<&str> = Vec::new();
        for c in cells {
            if !self.seen_pos.contains_key(&c.original) && !fresh.contains(&c.original.as_str()) {
                fresh.push(&c.original);
            }
        }
        fresh.len()
    }

    /// How many more distinct columns the partition can take.
    fn room(&self) -> usize {
        self.max_columns.saturating_sub(self.seen.columns.len())
    }

    fn quarantine(&self, d: &mut Decoded, rec: &Record, reason: String) {
        RecordQuarantined {
            tp: &self.tp,
            offset: rec.offset,
            reason: &reason,
        }
        .emit();
        let raw = rec.value.as_deref().unwrap_or_default();
        d.batch.quarantine(&QuarantineEntry {
            topic: Some(self.tp.topic.clone()),
            partition: Some(self.tp.partition),
            offset: Some(rec.offset),
            position: None,
            reason,
            raw: raw[..raw.len().min(QUARANTINE_RAW_CAP)].to_vec(),
            raw_len: raw.len(),
            at_ms: chrono::Utc::now().timestamp_millis(),
        });
        d.out.quarantined += 1;
    }

    /// Commit: the writes, the partition schema if it changed, and the applied offset, in one
    /// atomic sled batch.
    pub(super) fn commit(&mut self, d: &mut Decoded) -> Result<(), StoreError> {
        let mut batch = std::mem::take(&mut d.batch);
        // The logical type names the decoder has read from new schemas, kept with the rows.
        let merged = {
            let known = self.part.logical.read();
            let fresh = self.decoder.logical_names();
            fresh.iter().any(|(k, v)| known.get(k) != Some(v)).then(|| {
                let mut m = known.clone();
                m.extend(fresh.iter().map(|(k, v)| (k.clone(), v.clone())));
                m
            })
        };
        if let Some(m) = merged {
            batch.logical(&m);
            *self.part.logical.write() = m;
        }
        if d.schema_changed {
            batch.schema(&self.seen);
        }
        for change in &d.history {
            batch.schema_change(change);
        }
        for e in &d.events {
            batch.event(e);
        }
        if let Some(last) = d.applied {
            batch.applied(last);
        }
        self.store.commit(batch)?;
        self.applied = d.applied;
        if !d.history.is_empty() {
            self.part
                .schema_history
                .write()
                .extend(std::mem::take(&mut d.history));
        }
        if !d.events.is_empty() {
            let mut events = self.part.events.write();
            for e in std::mem::take(&mut d.events) {
                events.push(e);
            }
        }
        Ok(())
    }

    /// Index: the text index follows the committed changes (it commits on its own clock).
    pub(super) fn index(&mut self, mem: &[MemOp]) {
        let Some(mut ix) = self.text.take() else {
            return;
        };
        let columns = self.text_columns();
        // A key with no document yet (not a live row, not added in this batch) needs no
        // delete: deletes are resolved against every segment at commit, so skipping them for
        // inserts saves most of that work.
        let rows = self.part.rows.read();
        let mut added: rustc_hash::FxHashSet<&[u8]> = Default::default();
        for op in mem {
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

    /// Fold: the changes into the in-memory rows and the event-time windows; the row images
    /// for the change broadcast when someone tails the table.
    pub(super) fn fold(
        &mut self,
        mem: Vec<MemOp>,
        newest: Option<i64>,
        tail: bool,
    ) -> Vec<ChangeRow> {
        let mut changes: Vec<ChangeRow> = Vec::new();
        let mut late = 0u64;
        let spec = self.window_spec();
        let windowed = self.ctx.live.enabled;
        {
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
                            late += 1;
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
            rows.applied = self.applied;
            rows.version += 1;
            rows.last_change_ms = rows.last_change_ms.max(newest);
            if windowed
                && let Some(from) = windows
                    .watermark(spec.lateness_ms)
                    .map(|w| w - 2 * spec.pane_ms)
            {
                windows.prune(from, spec.pane_ms);
            }
        }
        if late > 0 {
            LateEvents {
                topic: &self.tp.topic,
                n: late,
            }
            .emit(&self.ctx.metrics);
        }
        changes
    }

    /// Publish: the batch's row images to tails (if any), and the signal that a batch was
    /// applied (what continuous queries and the live engine wake on).
    pub(super) fn publish(&self, changes: Vec<ChangeRow>) {
        if !changes.is_empty() {
            let (columns, schema_version, name) = {
                let s = self.table.schema.read();
                (Arc::new(s.columns.clone()), s.version, s.name.to_string())
            };
            self.ctx.changes.publish(ChangeBatch {
                table: name,
                partition: self.tp.partition,
                applied_us: chrono::Utc::now().timestamp_micros(),
                columns,
                schema_version,
                changes,
            });
        }
        self.ctx.changes.applied();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actors::changes::Changes;
    use crate::actors::fault::FaultHook;
    use crate::actors::partition::PartitionContext;
    use crate::actors::progress::Progress;
    use crate::config::Config;
    use crate::ident::TopicPartition;
    use crate::store::Store;
    use crate::store::catalog::Catalog;
    use crate::store::value::DType;
    use crate::telemetry::Metrics;

    fn state(dir: &std::path::Path, text: bool) -> PartitionActorState {
        let cfg = Config::default();
        let ctx = Arc::new(PartitionContext {
            store: Arc::new(Store::open(&dir.join("data"), 100, 16).unwrap()),
            index_root: dir.join("index"),
            text: crate::config::TextConfig {
                enabled: text,
                ..cfg.text.clone()
            },
            catalog: Arc::new(Catalog::new()),
            metrics: Arc::new(Metrics::new()),
            faults: Arc::new(FaultHook::default()),
            registry: None,
            max_value_bytes: cfg.ingest.max_value_bytes,
            max_offset_jump: cfg.ingest.max_offset_jump,
            flattened_topics: cfg.ingest.flattened_topics.clone(),
            keep_transactions: cfg.ingest.keep_transactions,
            column_types: cfg.ingest.column_types.clone(),
            recent_window: cfg.ingest.redelivery_window,
            live: cfg.live.clone(),
            changes: Arc::new(Changes::default()),
            progress: Arc::new(Progress::default()),
        });
        PartitionActorState::open(TopicPartition::new("shop.orders", 0), ctx).unwrap()
    }

    /// A create of order `id` with these extra columns.
    fn rec(offset: i64, id: u32, extra: &str) -> Record {
        let value = format!(
            r#"{{"before":null,"after":{{"ID":{id},"NOTE":"gift wrap and express delivery please"{extra}}},"op":"c","ts_ms":{}}}"#,
            1_772_409_600_000i64 + offset
        );
        Record {
            topic: "shop.orders".into(),
            partition: 0,
            offset: Offset(offset),
            ts_ms: 1_772_409_600_000 + offset,
            key: Some(format!(r#"{{"ID":{id}}}"#).into_bytes()),
            value: Some(value.into_bytes()),
        }
    }

    fn raw(offset: i64, value: &str) -> Record {
        Record {
            value: Some(value.as_bytes().to_vec()),
            ..rec(offset, 0, "")
        }
    }

    #[test]
    fn decode_skips_redeliveries_quarantines_what_does_not_read_and_shows_nothing_yet() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = state(dir.path(), false);
        s.apply(&[rec(0, 1, ""), rec(1, 2, "")]).unwrap();
        let d = s.decode(&[rec(1, 2, ""), raw(2, "{not json"), rec(3, 3, "")]);
        assert_eq!(
            (d.out.duplicates, d.out.quarantined, d.out.upserts),
            (1, 1, 1)
        );
        assert_eq!(d.dup, Some((Offset(1), Offset(1))));
        assert_eq!(
            d.applied,
            Some(Offset(3)),
            "a quarantined record is passed too"
        );
        assert_eq!(
            s.part.rows.read().rows.len(),
            2,
            "decoding makes nothing visible"
        );
        assert_eq!(s.applied, Some(Offset(1)));
    }

    #[test]
    fn a_record_past_the_column_limit_is_quarantined_and_the_partition_goes_on() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = state(dir.path(), false);
        s.max_columns = 3;
        let out = s
            .apply(&[
                rec(0, 1, r#","QTY":2"#),
                rec(1, 2, r#","A":1,"B":2,"C":3"#),
                rec(2, 3, r#","QTY":5"#),
            ])
            .unwrap();
        assert_eq!((out.upserts, out.quarantined), (2, 1));
        assert_eq!(out.applied, Some(Offset(2)));
        let q = s.ctx.store.quarantine().unwrap();
        assert_eq!(q.len(), 1);
        assert_eq!(q[0].offset, Some(Offset(1)));
        assert!(
            q[0].reason.contains("more than 3 distinct columns"),
            "{}",
            q[0].reason
        );
        assert_eq!(s.table.schema.read().columns.len(), 3);
    }

    #[test]
    fn a_bad_offset_is_quarantined_and_the_records_after_it_apply() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = state(dir.path(), false);
        s.apply(&[rec(0, 1, "")]).unwrap();
        let out = s
            .apply(&[
                rec(-4, 2, ""),
                rec(1 << 62, 3, ""),
                rec(1, 4, ""),
                rec(2, 5, ""),
            ])
            .unwrap();
        assert_eq!((out.upserts, out.quarantined, out.duplicates), (2, 2, 0));
        assert_eq!(out.applied, Some(Offset(2)));
        let q = s.ctx.store.quarantine().unwrap();
        let reasons: Vec<&str> = q.iter().map(|e| e.reason.as_str()).collect();
        assert!(
            reasons.iter().any(|r| r.contains("offset -4 is negative")),
            "{reasons:?}"
        );
        assert!(
            reasons.iter().any(|r| r.contains("ingest.max_offset_jump")),
            "{reasons:?}"
        );
        // A batch holding only a bad offset still records it.
        let out = s.apply(&[rec(-1, 6, "")]).unwrap();
        assert_eq!((out.quarantined, out.applied), (1, Some(Offset(2))));
        assert_eq!(s.ctx.store.quarantine().unwrap().len(), 3);
    }

    #[test]
    fn ordinary_gaps_are_applied_and_counted() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = state(dir.path(), false);
        let out = s
            .apply(&[rec(0, 1, ""), rec(5, 2, ""), rec(6, 3, "")])
            .unwrap();
        assert_eq!((out.upserts, out.gaps, out.quarantined), (3, 4, 0));
    }

    #[test]
    fn a_value_of_another_kind_is_quarantined_and_the_column_keeps_its_type() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = state(dir.path(), false);
        s.apply(&[rec(0, 1, r#","AMOUNT":12.5"#)]).unwrap();
        let out = s
            .apply(&[
                rec(1, 2, r#","AMOUNT":"12.50""#),
                rec(2, 3, r#","AMOUNT":true"#),
                rec(3, 4, r#","AMOUNT":7"#),
            ])
            .unwrap();
        assert_eq!((out.upserts, out.quarantined), (1, 2));
        let schema = s.table.schema.read();
        let amount = &schema.columns[schema.index_of("AMOUNT").unwrap()];
        assert_eq!(amount.dtype, Some(DType::Float64));
        drop(schema);
        let q = s.ctx.store.quarantine().unwrap();
        assert_eq!(q[0].reason, r#"amount: expected a number, got "12.50""#);
        assert_eq!(q[0].offset, Some(Offset(1)));
        assert_eq!(
            s.part.rows.read().rows.len(),
            2,
            "the good records are applied"
        );
    }

    #[test]
    fn commit_makes_rows_schema_and_offset_durable_together() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = state(dir.path(), false);
        let mut d = s.decode(&[rec(0, 1, ""), rec(1, 2, r#","QTY":4"#)]);
        s.commit(&mut d).unwrap();
        assert_eq!(s.applied, Some(Offset(1)));
        let loaded = s.store.load().unwrap();
        assert_eq!(loaded.applied, Some(Offset(1)));
        assert_eq!(loaded.rows.len(), 2);
        let cols: Vec<&str> = loaded
            .schema
            .as_ref()
            .unwrap()
            .columns
            .iter()
            .map(|c| c.0.as_str())
            .collect();
        assert_eq!(cols, ["ID", "NOTE", "QTY"]);
        assert!(
            s.part.rows.read().rows.is_empty(),
            "memory follows in the fold stage"
        );
    }

    #[test]
    fn index_follows_the_committed_changes() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = state(dir.path(), true);
        let mut d = s.decode(&[rec(0, 1, ""), rec(1, 2, "")]);
        s.commit(&mut d).unwrap();
        s.index(&d.mem);
        s.commit_text().unwrap();
        assert_eq!(s.text.as_ref().unwrap().committed_offset(), Some(Offset(1)));
    }

    #[test]
    fn fold_shows_the_rows_and_publish_tells_a_tail() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = state(dir.path(), false);
        let _tail = s.ctx.changes.tail("shop.orders");
        let mut rx = s.ctx.changes.subscribe();
        let applied = s.ctx.changes.watch_applied();
        s.apply(&[rec(0, 1, ""), rec(1, 2, "")]).unwrap();
        let rows = s.part.rows.read();
        assert_eq!((rows.rows.len(), rows.applied), (2, Some(Offset(1))));
        drop(rows);
        let b = rx.try_recv().expect("the tail got the batch");
        assert_eq!(b.table, "shop.orders");
        assert_eq!(
            b.changes.iter().map(|c| c.offset).collect::<Vec<_>>(),
            [Offset(0), Offset(1)]
        );
        assert!(
            applied.has_changed().unwrap(),
            "the applied signal went out"
        );
    }
}
