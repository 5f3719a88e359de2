//! Personal data: which columns hold it ([`crate::store::personal`] and configuration), who
//! may see it ([`sight`]) and what everyone else gets instead ([`mask`]). Every door that returns row values asks
//! [`Privacy::mask_for`] for the table's [`TableMask`] and applies it — the query engine in
//! its table provider, the others to the rows they return — so a caller sees the same masked
//! value at every door.

pub mod mask;
pub mod sight;

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, BooleanArray, Date32Array, Float64Array, Int32Array, Int64Array, StringArray,
    StringBuilder, TimestampMicrosecondArray,
};
use datafusion::arrow::datatypes::DataType;
use parking_lot::Mutex;
use serde::Serialize;

use crate::config::{MaskedForm, PrivacyConfig};
use crate::ident::TableName;
use crate::store::schema::{ColumnDef, TableSchema};
use crate::store::table::LiveTable;
use crate::store::value::{DType, Value};

use crate::store::personal::{self as classify, ClassFrom, Classified, PiiClass};
use mask::MaskKey;
use sight::Sight;

/// Text values sampled per column to classify it by its values.
const SAMPLE: usize = 200;

/// The classes of a table's columns, by column index, as of a schema version.
#[derive(Clone, Debug, Default)]
struct TableClasses {
    schema_version: u64,
    /// Rows the table had when its values were sampled (sampled again as it grows, up to
    /// [`SAMPLE`] values a column).
    rows_sampled: usize,
    columns: Vec<Option<Classified>>,
}

/// Personal-data classification and masking for the node.
pub struct Privacy {
    cfg: PrivacyConfig,
    /// `(schema, table, column)` patterns from `privacy.columns`, and the class (`None`:
    /// not personal).
    configured: Vec<([String; 3], Option<PiiClass>)>,
    key: MaskKey,
    cache: Mutex<HashMap<TableName, TableClasses>>,
}

impl std::fmt::Debug for Privacy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Privacy").field("cfg", &self.cfg).finish()
    }
}

impl Privacy {
    /// Reads the masking key from `<data_dir>/auth/mask.key`, creating it (owner-only) on
    /// first use, so masked values stay the same across restarts.
    pub fn open(data_dir: &Path, cfg: &PrivacyConfig) -> Result<Privacy, String> {
        let dir = data_dir.join("auth");
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let path = dir.join("mask.key");
        let key = match std::fs::read(&path) {
            Ok(b) if b.len() == 32 => b,
            Ok(b) => {
                return Err(format!(
                    "{}: {} bytes, want 32 (remove it to make a new key; masked values change)",
                    path.display(),
                    b.len()
                ));
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut b = vec![0u8; 32];
                getrandom::fill(&mut b).map_err(|e| format!("random key: {e}"))?;
                write_new_private(&path, &b).map_err(|e| format!("{}: {e}", path.display()))?;
                std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?
            }
            Err(e) => return Err(format!("{}: {e}", path.display())),
        };
        let mut bytes = [0u8; 32];
        bytes.copy_from_slice(&key);
        Privacy::with_key(cfg, MaskKey::new(bytes))
    }

    /// Privacy with a given key (tests, and [`Privacy::open`]).
    pub fn with_key(cfg: &PrivacyConfig, key: MaskKey) -> Result<Privacy, String> {
        let mut configured = Vec::new();
        for (pattern, class) in &cfg.columns {
            let parts: Vec<String> = pattern
                .split('.')
                .map(|p| p.trim().to_ascii_lowercase())
                .collect();
            let [s, t, c]: [String; 3] = parts.try_into().map_err(|_| {
                format!("privacy.columns: {pattern:?} is not <schema>.<table>.<column>")
            })?;
            let class = match class.trim().to_ascii_lowercase().as_str() {
                "none" => None,
                other => Some(PiiClass::parse(other).ok_or_else(|| {
                    format!(
                        "privacy.columns.{pattern:?}: {other:?} is not none or a class ({})",
                        PiiClass::ALL.map(|c| c.as_str()).join(", ")
                    )
                })?),
            };
            configured.push(([s, t, c], class));
        }
        Ok(Privacy {
            cfg: cfg.clone(),
            configured,
            key,
            cache: Mutex::default(),
        })
    }

    /// The configured class of a column: `Some(None)` when configured as not personal.
    fn configured(&self, table: &TableName, column: &str) -> Option<Option<PiiClass>> {
        let part = |p: &str, v: &str| p == "*" || p == v;
        self.configured
            .iter()
            .find(|([s, t, c], _)| {
                part(s, &table.schema) && part(t, &table.table) && part(c, column)
            })
            .map(|(_, class)| *class)
    }

    /// The class of every column of `table` (`None`: not personal data), by column index.
    /// Kept per schema version; values are sampled again while the table is small and
    /// growing. A column once found personal stays so for the life of the process.
    pub fn classes(&self, table: &LiveTable) -> Vec<Option<Classified>> {
        let schema = table.schema.read().clone();
        let rows = table.row_count();
        let cache = self.cache.lock();
        let cached = cache.get(&schema.name).cloned().unwrap_or_default();
        let grown = cached.rows_sampled < SAMPLE && rows > cached.rows_sampled * 2;
        if cached.schema_version == schema.version && !grown && !cached.columns.is_empty() {
            return cached.columns;
        }
        drop(cache);
        let mut columns = self.classify(&schema, table);
        for (i, old) in cached.columns.iter().enumerate() {
            if let (Some(old), Some(slot)) = (old, columns.get_mut(i))
                && slot.is_none()
                && old.by != ClassFrom::Config
            {
                *slot = Some(*old);
            }
        }
        self.cache.lock().insert(
            schema.name.clone(),
            TableClasses {
                schema_version: schema.version,
                rows_sampled: rows,
                columns: columns.clone(),
            },
        );
        columns
    }

    fn classify(&self, schema: &TableSchema, table: &LiveTable) -> Vec<Option<Classified>> {
        let mut out: Vec<Option<Classified>> = Vec::with_capacity(schema.columns.len());
        let mut to_sample = Vec::new();
        for (i, c) in schema.columns.iter().enumerate() {
            let found = match self.configured(&schema.name, &c.name) {
                Some(class) => class.map(|class| Classified {
                    class,
                    by: ClassFrom::Config,
                }),
                None if self.cfg.detect => {
                    let by_name =
                        classify::by_name_in(&schema.name.to_string(), &c.name).map(|class| {
                            Classified {
                                class,
                                by: ClassFrom::Name,
                            }
                        });
                    if by_name.is_none() && matches!(c.dtype, Some(DType::Utf8)) {
                        to_sample.push(i);
                    }
                    by_name
                }
                None => None,
            };
            out.push(found);
        }
        if !to_sample.is_empty() {
            let mut samples: Vec<Vec<String>> = vec![Vec::new(); to_sample.len()];
            'parts: for (_, part) in table.partitions() {
                let rows = part.rows.read();
                for row in rows.rows.values() {
                    for (j, &i) in to_sample.iter().enumerate() {
                        if samples[j].len() < SAMPLE
                            && let Some(Value::Str(s)) = row.values.get(i)
                        {
                            samples[j].push(s.clone());
                        }
                    }
                    if samples.iter().all(|s| s.len() >= SAMPLE) {
                        break 'parts;
                    }
                }
            }
            for (j, &i) in to_sample.iter().enumerate() {
                out[i] = classify::by_values(samples[j].iter().map(String::as_str)).map(|class| {
                    Classified {
                        class,
                        by: ClassFrom::Values,
                    }
                });
            }
        }
        out
    }

    /// What `sight` may not see of `table`, or `None` when it sees every column.
    pub fn mask_for(&self, table: &LiveTable, sight: &Sight) -> Option<Arc<TableMask>> {
        if sight.is_all() {
            return None;
        }
        let classes = self.classes(table);
        let schema = table.schema.read();
        let columns: Vec<Option<PiiClass>> = classes
            .into_iter()
            .zip(&schema.columns)
            .map(|(c, column)| {
                let c = c?;
                (!sight.sees(&schema.name, &column.name, c.class)).then_some(c.class)
            })
            .collect();
        let name = schema.name.clone();
        drop(schema);
        if columns.iter().all(Option::is_none) {
            return None;
        }
        Some(Arc::new(TableMask {
            table: name,
            columns,
            form: self.cfg.masked_form,
            key: self.key.clone(),
        }))
    }

    /// The masked form of one value of class `class` (what [`TableMask`] writes).
    pub fn masked_text(&self, class: PiiClass, text: &str) -> String {
        mask::masked(&self.key, class, self.cfg.masked_form, text)
    }
}

/// The columns of one table a caller may not see, and how to write them instead.
#[derive(Debug)]
pub struct TableMask {
    pub table: TableName,
    /// The class of each masked column, by column index (`None`: shown as is).
    columns: Vec<Option<PiiClass>>,
    form: MaskedForm,
    key: MaskKey,
}

/// A column's class in the table's `/api/tables` entry and whether this caller sees it.
#[derive(Debug, Serialize)]
pub struct ColumnPrivacy {
    pub class: PiiClass,
    pub by: ClassFrom,
    pub masked: bool,
}

impl TableMask {
    /// The class of column `i` when it is masked.
    pub fn class(&self, i: usize) -> Option<PiiClass> {
        self.columns.get(i).copied().flatten()
    }

    /// The masked columns' names (as SQL sees them), given the table's columns.
    pub fn names(&self, columns: &[ColumnDef]) -> Vec<String> {
        columns
            .iter()
            .enumerate()
            .filter(|(i, _)| self.class(*i).is_some())
            .map(|(_, c)| c.name.clone())
            .collect()
    }

    /// The table's columns as a masked caller sees them: masked ones are text.
    pub fn columns(&self, columns: &[ColumnDef]) -> Vec<ColumnDef> {
        columns
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let mut c = c.clone();
                if self.class(i).is_some() {
                    c.dtype = Some(DType::Utf8);
                }
                c
            })
            .collect()
    }

    /// Value `v` of column `i` as this caller sees it. A null stays null (that a value is
    /// missing is not personal, and `COUNT(column)` stays right).
    pub fn value(&self, i: usize, v: &Value) -> Value {
        match (self.class(i), v.to_text()) {
            (Some(class), Some(text)) => {
                Value::Str(mask::masked(&self.key, class, self.form, &text))
            }
            (Some(_), None) => Value::Null,
            (None, _) => v.clone(),
        }
    }

    /// A row's values as this caller sees them.
    pub fn values(&self, values: &[Value]) -> Vec<Value> {
        values
            .iter()
            .enumerate()
            .map(|(i, v)| self.value(i, v))
            .collect()
    }

    /// A JSON value of column `i` as this caller sees it (rows already written as JSON:
    /// change-log reads, keys).
    pub fn json(&self, i: usize, v: &serde_json::Value) -> serde_json::Value {
        let Some(class) = self.class(i) else {
            return v.clone();
        };
        let text = match v {
            serde_json::Value::Null => return serde_json::Value::Null,
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        serde_json::Value::String(mask::masked(&self.key, class, self.form, &text))
    }

    /// Column `i`'s Arrow array as this caller sees it (text). The text of each value is the
    /// one [`Value::to_text`] gives, so every door writes the same masked value.
    pub fn array(&self, i: usize, array: &ArrayRef) -> ArrayRef {
        let Some(class) = self.class(i) else {
            return array.clone();
        };
        let mut b = StringBuilder::with_capacity(array.len(), array.len() * 24);
        for row in 0..array.len() {
            match value_at(array, row).to_text() {
                Some(text) => b.append_value(mask::masked(&self.key, class, self.form, &text)),
                None => b.append_null(),
            }
        }
        Arc::new(b.finish())
    }
}

/// The value at `row` of an array of a type a live table is read as.
fn value_at(array: &ArrayRef, row: usize) -> Value {
    if array.is_null(row) {
        return Value::Null;
    }
    let any = array.as_any();
    match array.data_type() {
        DataType::Utf8 => Value::Str(
            any.downcast_ref::<StringArray>()
                .map(|a| a.value(row).to_string())
                .unwrap_or_default(),
        ),
        DataType::Int64 => any
            .downcast_ref::<Int64Array>()
            .map_or(Value::Null, |a| Value::Int(a.value(row))),
        DataType::Int32 => any
            .downcast_ref::<Int32Array>()
            .map_or(Value::Null, |a| Value::Int(a.value(row).into())),
        DataType::Float64 => any
            .downcast_ref::<Float64Array>()
            .map_or(Value::Null, |a| Value::Float(a.value(row))),
        DataType::Boolean => any
            .downcast_ref::<BooleanArray>()
            .map_or(Value::Null, |a| Value::Bool(a.value(row))),
        DataType::Date32 => any
            .downcast_ref::<Date32Array>()
            .map_or(Value::Null, |a| Value::Date(a.value(row))),
        DataType::Timestamp(datafusion::arrow::datatypes::TimeUnit::Nanosecond, _) => any
            .downcast_ref::<datafusion::arrow::array::TimestampNanosecondArray>()
            .map_or(Value::Null, |a| Value::TimestampNs(a.value(row))),
        DataType::Timestamp(_, _) => any
            .downcast_ref::<TimestampMicrosecondArray>()
            .map_or(Value::Null, |a| Value::Timestamp(a.value(row))),
        DataType::Decimal128(_, scale) => any
            .downcast_ref::<datafusion::arrow::array::Decimal128Array>()
            .map_or(Value::Null, |a| Value::Decimal {
                unscaled: a.value(row),
                scale: u8::try_from(*scale).unwrap_or(0),
            }),
        DataType::Time64(_) => any
            .downcast_ref::<datafusion::arrow::array::Time64NanosecondArray>()
            .map_or(Value::Null, |a| Value::Time(a.value(row))),
        other => Value::Str(format!("{other}")),
    }
}

/// Writes a new owner-only file; if another process made it first, leaves theirs.
fn write_new_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    match o.open(path) {
        Ok(mut f) => {
            f.write_all(bytes)?;
            f.sync_all()
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}
