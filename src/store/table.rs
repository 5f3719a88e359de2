//! A live table in memory: the current row per key for each partition, and the Arrow batches
//! queries read (rebuilt only for partitions that changed since the last query).

use std::collections::BTreeMap;

use rustc_hash::FxHashMap;
use std::sync::Arc;

use datafusion::arrow::array::{
    ArrayRef, BooleanBuilder, Date32Builder, Decimal128Builder, Float64Builder, Int32Builder,
    Int64Builder, StringBuilder, Time64NanosecondBuilder, TimestampMicrosecondBuilder,
    TimestampNanosecondBuilder,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::arrow::record_batch::RecordBatch;
use parking_lot::{Mutex, RwLock};

use crate::ident::Offset;
use crate::store::schema::{ColumnDef, TableSchema};
use crate::store::value::{DType, Value};

/// The current version of one row.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    /// Values by column index in the table schema; a shorter vector means trailing nulls.
    pub values: Vec<Value>,
    /// The op that produced this version (`c`, `u`, `r`).
    pub op: u8,
    /// The change's `ts_ms`.
    pub ts_ms: i64,
    /// The offset of the record that produced this version.
    pub offset: Offset,
}

/// The rows of one partition and the offset they cover.
#[derive(Default)]
pub struct PartitionRows {
    pub rows: FxHashMap<Vec<u8>, Row>,
    /// The last applied offset (`None` before the first record).
    pub applied: Option<Offset>,
    /// Bumped on every applied batch.
    pub version: u64,
    /// The newest change applied (its `ts_ms`; a delete's record time): the table's freshness.
    pub last_change_ms: Option<i64>,
}

struct CachedBatch {
    version: u64,
    schema_version: u64,
    batch: RecordBatch,
}

/// One partition's in-memory state, shared between its actor (writer) and queries (readers).
#[derive(Default)]
pub struct PartitionState {
    pub rows: RwLock<PartitionRows>,
    cache: Mutex<Option<CachedBatch>>,
    /// The partition's text index, for searching (set by its actor).
    pub text: RwLock<Option<crate::store::text::TextSearcher>>,
    /// The partition's event-time windows (kept by its actor, read by the live engine).
    pub windows: Mutex<crate::store::window::PartitionWindows>,
    /// The partition's schema history, oldest first (kept by its actor).
    pub schema_history: RwLock<Vec<crate::store::schema::SchemaChange>>,
    /// The partition's truncates and control records (kept by its actor).
    pub events: RwLock<crate::store::events::PartitionEvents>,
    /// The `source` block of its envelopes, once one is decoded.
    pub source: RwLock<Option<crate::store::events::SourceBlock>>,
    /// Each column's logical type name (by source column name), as its schemas declare them.
    pub logical: RwLock<BTreeMap<String, String>>,
}

/// A table: its schema and its partitions.
pub struct LiveTable {
    pub schema: RwLock<TableSchema>,
    partitions: RwLock<BTreeMap<i32, Arc<PartitionState>>>,
    /// Set when the topic turns out to be a Debezium control topic (0: a data table).
    control: std::sync::atomic::AtomicU8,
}

impl LiveTable {
    pub fn new(schema: TableSchema) -> Self {
        Self {
            schema: RwLock::new(schema),
            partitions: RwLock::new(BTreeMap::new()),
            control: std::sync::atomic::AtomicU8::new(0),
        }
    }

    /// What control topic feeds the table, if it is one (then it is no data table).
    pub fn control(&self) -> Option<crate::store::events::ControlKind> {
        crate::store::events::ControlKind::from_code(
            self.control.load(std::sync::atomic::Ordering::Relaxed),
        )
    }

    /// Marks the table as fed by a control topic.
    pub fn mark_control(&self, kind: crate::store::events::ControlKind) {
        self.control
            .store(kind.code(), std::sync::atomic::Ordering::Relaxed);
    }

    /// The `source` block of the table's envelopes (the first partition's that has one).
    pub fn source(&self) -> Option<crate::store::events::SourceBlock> {
        self.partitions()
            .into_iter()
            .find_map(|(_, p)| p.source.read().clone())
    }

    /// The logical type name a column's schemas declare (`io.debezium.time.NanoTime`), by the
    /// column's source name.
    pub fn logical_name(&self, original: &str) -> Option<String> {
        self.partitions()
            .into_iter()
            .find_map(|(_, p)| p.logical.read().get(original).cloned())
    }

    /// Every partition's table events, oldest first.
    pub fn events(&self) -> Vec<(i32, crate::store::events::TableEvent)> {
        let mut all: Vec<_> = self
            .partitions()
            .into_iter()
            .flat_map(|(p, st)| {
                let e = st.events.read();
                e.recent.iter().map(|e| (p, e.clone())).collect::<Vec<_>>()
            })
            .collect();
        all.sort_by_key(|(p, e)| (e.ts_ms, *p, e.offset));
        all
    }

    /// The state of one partition, created on first use.
    pub fn partition(&self, p: i32) -> Arc<PartitionState> {
        if let Some(s) = self.partitions.read().get(&p) {
            return s.clone();
        }
        self.partitions.write().entry(p).or_default().clone()
    }

    /// Forgets a partition this node no longer owns (its rows leave query results; its
    /// durable state stays on disk).
    pub fn remove_partition(&self, p: i32) {
        self.partitions.write().remove(&p);
    }

    pub fn partitions(&self) -> Vec<(i32, Arc<PartitionState>)> {
        self.partitions
            .read()
            .iter()
            .map(|(p, s)| (*p, s.clone()))
            .collect()
    }

    /// The schema history of the table: each partition's changes, oldest first, a change
    /// several partitions made (a column appearing in each) listed once, as first made.
    pub fn schema_history(&self) -> Vec<(i32, crate::store::schema::SchemaChange)> {
        let mut all: Vec<(i32, crate::store::schema::SchemaChange)> = self
            .partitions()
            .into_iter()
            .flat_map(|(p, st)| {
                let h = st.schema_history.read();
                h.iter().map(|c| (p, c.clone())).collect::<Vec<_>>()
            })
            .collect();
        all.sort_by_key(|(p, c)| (c.ts_ms, *p, c.offset));
        let mut seen = std::collections::HashSet::new();
        all.retain(|(_, c)| seen.insert((c.column.clone(), c.from, c.to)));
        all
    }

    /// Rows across partitions.
    pub fn row_count(&self) -> usize {
        self.partitions
            .read()
            .values()
            .map(|p| p.rows.read().rows.len())
            .sum()
    }

    /// The Arrow schema of the table as it stands.
    pub fn arrow_schema(&self) -> SchemaRef {
        arrow_schema_of(&self.schema.read().columns)
    }

    /// One batch per partition, aligned to `schema` (a snapshot taken when the query was
    /// planned: columns added since are left out, columns it has are always present).
    pub fn batches(&self, schema: &SchemaRef) -> Vec<RecordBatch> {
        let (columns, schema_version) = {
            let s = self.schema.read();
            (s.columns.clone(), s.version)
        };
        let mut out = Vec::new();
        for (p, state) in self.partitions() {
            let rows = state.rows.read();
            let mut cache = state.cache.lock();
            let fresh = matches!(&*cache, Some(c) if c.version == rows.version && c.schema_version == schema_version);
            if !fresh {
                let batch = build_batch(&columns, p, &rows);
                *cache = Some(CachedBatch {
                    version: rows.version,
                    schema_version,
                    batch,
                });
            }
            let batch = &cache.as_ref().expect("cache filled above").batch;
            out.push(align(batch, schema));
        }
        out
    }
}

/// The Arrow schema for a column list plus the metadata columns.
pub fn arrow_schema_of(columns: &[ColumnDef]) -> SchemaRef {
    let mut fields: Vec<Field> = columns
        .iter()
        .map(|c| Field::new(&c.name, arrow_type(c.dtype), true))
        .collect();
    fields.push(Field::new("_op", DataType::Utf8, false));
    fields.push(Field::new(
        "_ts",
        DataType::Timestamp(TimeUnit::Microsecond, None),
        false,
    ));
    fields.push(Field::new("_partition", DataType::Int32, false));
    fields.push(Field::new("_offset", DataType::Int64, false));
    Arc::new(Schema::new(fields))
}

/// The precision decimal columns are read with: the widest Arrow's 128-bit decimal holds (the
/// source's own precision is not carried by every converter).
pub const DECIMAL_PRECISION: u8 = 38;

/// A decimal's unscaled value at `scale` (a column's scale is the largest its values have, so
/// this only adds zeros; `None` if that would overflow or lose digits).
fn rescale(v: &Value, scale: u8) -> Option<i128> {
    let (unscaled, from) = match v {
        Value::Decimal { unscaled, scale } => (*unscaled, *scale),
        Value::Int(i) => (*i as i128, 0),
        _ => return None,
    };
    if from > scale {
        let div = 10i128.checked_pow((from - scale) as u32)?;
        return (unscaled % div == 0).then(|| unscaled / div);
    }
    unscaled.checked_mul(10i128.checked_pow((scale - from) as u32)?)
}

/// The Arrow type a column is read as.
pub fn arrow_type(t: Option<DType>) -> DataType {
    match t {
        Some(DType::Bool) => DataType::Boolean,
        Some(DType::Int32) => DataType::Int32,
        Some(DType::Int64) => DataType::Int64,
        Some(DType::Float64) => DataType::Float64,
        Some(DType::Decimal { scale }) => DataType::Decimal128(DECIMAL_PRECISION, scale as i8),
        Some(DType::Time) => DataType::Time64(TimeUnit::Nanosecond),
        Some(DType::Timestamp) => DataType::Timestamp(TimeUnit::Microsecond, None),
        Some(DType::TimestampNs) => DataType::Timestamp(TimeUnit::Nanosecond, None),
        Some(DType::Date) => DataType::Date32,
        Some(DType::Utf8) | None => DataType::Utf8,
    }
}

fn build_batch(columns: &[ColumnDef], partition: i32, rows: &PartitionRows) -> RecordBatch {
    let rows_vec: Vec<&Row> = rows.rows.values().collect();
    rows_batch(columns, partition, &rows_vec)
}

/// An Arrow batch of rows (all of one partition) with the table's columns and the metadata
/// columns.
pub fn rows_batch(columns: &[ColumnDef], partition: i32, rows_vec: &[&Row]) -> RecordBatch {
    let n = rows_vec.len();
    let mut arrays: Vec<ArrayRef> = Vec::with_capacity(columns.len() + 4);
    fn cell(r: &Row, i: usize) -> &Value {
        r.values.get(i).unwrap_or(&Value::Null)
    }
    for (i, col) in columns.iter().enumerate() {
        let array: ArrayRef = match col.dtype {
            Some(DType::Bool) => {
                let mut b = BooleanBuilder::with_capacity(n);
                for r in rows_vec {
                    match cell(r, i) {
                        Value::Bool(v) => b.append_value(*v),
                        _ => b.append_null(),
                    }
                }
                Arc::new(b.finish())
            }
            Some(DType::Int32) => {
                let mut b = Int32Builder::with_capacity(n);
                for r in rows_vec {
                    match cell(r, i) {
                        Value::Int(v) => b.append_option(i32::try_from(*v).ok()),
                        _ => b.append_null(),
                    }
                }
                Arc::new(b.finish())
            }
            Some(DType::Int64) => {
                let mut b = Int64Builder::with_capacity(n);
                for r in rows_vec {
                    match cell(r, i) {
                        Value::Int(v) => b.append_value(*v),
                        _ => b.append_null(),
                    }
                }
                Arc::new(b.finish())
            }
            Some(DType::Float64) => {
                let mut b = Float64Builder::with_capacity(n);
                for r in rows_vec {
                    b.append_option(cell(r, i).as_f64());
                }
                Arc::new(b.finish())
            }
            Some(DType::Decimal { scale }) => {
                let mut b = Decimal128Builder::with_capacity(n);
                for r in rows_vec {
                    b.append_option(rescale(cell(r, i), scale));
                }
                Arc::new(
                    b.finish()
                        .with_precision_and_scale(DECIMAL_PRECISION, scale as i8)
                        .expect("scale fits the precision"),
                )
            }
            Some(DType::TimestampNs) => {
                let mut b = TimestampNanosecondBuilder::with_capacity(n);
                for r in rows_vec {
                    match cell(r, i) {
                        Value::TimestampNs(v) => b.append_value(*v),
                        Value::Timestamp(us) => b.append_option(us.checked_mul(1000)),
                        _ => b.append_null(),
                    }
                }
                Arc::new(b.finish())
            }
            Some(DType::Time) => {
                let mut b = Time64NanosecondBuilder::with_capacity(n);
                for r in rows_vec {
                    match cell(r, i) {
                        Value::Time(v) => b.append_value(*v),
                        _ => b.append_null(),
                    }
                }
                Arc::new(b.finish())
            }
            Some(DType::Timestamp) => {
                let mut b = TimestampMicrosecondBuilder::with_capacity(n);
                for r in rows_vec {
                    match cell(r, i) {
                        Value::Timestamp(v) => b.append_value(*v),
                        _ => b.append_null(),
                    }
                }
                Arc::new(b.finish())
            }
            Some(DType::Date) => {
                let mut b = Date32Builder::with_capacity(n);
                for r in rows_vec {
                    match cell(r, i) {
                        Value::Date(v) => b.append_value(*v),
                        _ => b.append_null(),
                    }
                }
                Arc::new(b.finish())
            }
            Some(DType::Utf8) | None => {
                let mut b = StringBuilder::with_capacity(n, n * 16);
                for r in rows_vec {
                    match cell(r, i) {
                        Value::Str(s) => b.append_value(s),
                        other => b.append_option(other.to_text()),
                    }
                }
                Arc::new(b.finish())
            }
        };
        arrays.push(array);
    }
    let mut op = StringBuilder::with_capacity(n, n);
    let mut ts = TimestampMicrosecondBuilder::with_capacity(n);
    let mut part = Int32Builder::with_capacity(n);
    let mut off = Int64Builder::with_capacity(n);
    let mut op_buf = [0u8; 4];
    for r in rows_vec {
        op.append_value(char::from(r.op).encode_utf8(&mut op_buf));
        ts.append_value(r.ts_ms.saturating_mul(1000));
        part.append_value(partition);
        off.append_value(r.offset.get());
    }
    arrays.push(Arc::new(op.finish()));
    arrays.push(Arc::new(ts.finish()));
    arrays.push(Arc::new(part.finish()));
    arrays.push(Arc::new(off.finish()));
    RecordBatch::try_new(arrow_schema_of(columns), arrays).expect("arrays match the schema")
}

/// Projects `batch` onto `schema` by column name (the batch may have more columns, never fewer
/// of the ones the schema names, since columns are only appended).
fn align(batch: &RecordBatch, schema: &SchemaRef) -> RecordBatch {
    if batch.schema().fields() == schema.fields() {
        return batch.clone();
    }
    let columns = schema
        .fields()
        .iter()
        .map(|f| {
            let i = batch
                .schema()
                .index_of(f.name())
                .expect("columns are only appended");
            let col = batch.column(i).clone();
            if col.data_type() == f.data_type() {
                col
            } else {
                datafusion::arrow::compute::cast(&col, f.data_type()).unwrap_or_else(|_| {
                    datafusion::arrow::array::new_null_array(f.data_type(), batch.num_rows())
                })
            }
        })
        .collect();
    RecordBatch::try_new(schema.clone(), columns).expect("aligned columns match the schema")
}
