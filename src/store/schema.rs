//! A table's schema as discovered from the data: columns appear and widen as records arrive.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::ident::{Offset, TableName, normalize_column};
use crate::store::value::DType;

/// One change to the columns a partition has seen, kept as the table's schema history: a
/// column appearing, or its type changing — numbers widening among themselves, or a type the
/// record's own schema declares (schema-enabled JSON, Avro).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct SchemaChange {
    /// The record that made the change.
    pub offset: Offset,
    pub ts_ms: i64,
    /// The column as the source spells it.
    pub column: String,
    /// `None` for a column seen for the first time.
    pub from: Option<Option<DType>>,
    pub to: Option<DType>,
    /// Where the new type came from.
    pub by: TypeFrom,
}

/// Where a column's type came from.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub enum TypeFrom {
    /// Read from the value (JSON numbers carry no declared type).
    Value,
    /// Declared by the record's own schema (schema-enabled JSON, Avro).
    Schema,
    /// Fixed by configuration (`ingest.column_types`).
    Config,
}

impl SchemaChange {
    /// What happened, in a few words: `added`, `typed` (a column of nulls got a type),
    /// `widened` (numbers), `declared` (by the record's schema) or `configured`.
    pub fn kind(&self) -> &'static str {
        match (&self.from, self.by) {
            (None, _) => "added",
            (Some(_), TypeFrom::Schema) => "declared",
            (Some(_), TypeFrom::Config) => "configured",
            (Some(None), TypeFrom::Value) => "typed",
            (Some(Some(_)), TypeFrom::Value) => "widened",
        }
    }
}

/// One column of a table.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ColumnDef {
    /// Lower snake case, as SQL sees it (`txn_id`).
    pub name: String,
    /// As the source spells it (`TXN_ID`).
    pub original: String,
    /// The type; `None` while only nulls have been seen (read as VARCHAR).
    pub dtype: Option<DType>,
}

/// A table's schema. Columns are only ever appended or widened, so a column's index is stable
/// for the life of the process.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TableSchema {
    pub name: TableName,
    /// The topic that feeds the table.
    pub topic: String,
    pub columns: Vec<ColumnDef>,
    /// Primary key columns (normalised names), from the record key struct.
    pub primary_key: Vec<String>,
    /// Bumped on every change, so caches keyed by it stay correct.
    pub version: u64,
    #[serde(skip)]
    by_original: HashMap<String, usize>,
}

impl TableSchema {
    pub fn new(name: TableName, topic: impl Into<String>) -> Self {
        Self {
            name,
            topic: topic.into(),
            columns: Vec::new(),
            primary_key: Vec::new(),
            version: 0,
            by_original: HashMap::new(),
        }
    }

    /// The index of a column by its source name, if known.
    pub fn index_of(&self, original: &str) -> Option<usize> {
        self.by_original.get(original).copied()
    }

    /// The index of a column by its source name, adding it if new.
    pub fn ensure_column(&mut self, original: &str) -> usize {
        if let Some(i) = self.by_original.get(original) {
            return *i;
        }
        let base = normalize_column(original);
        let mut name = base.clone();
        let mut n = 2;
        while self.columns.iter().any(|c| c.name == name) || name.starts_with("_") && is_meta(&name)
        {
            name = format!("{base}_{n}");
            n += 1;
        }
        self.columns.push(ColumnDef {
            name,
            original: original.to_string(),
            dtype: None,
        });
        let idx = self.columns.len() - 1;
        self.by_original.insert(original.to_string(), idx);
        self.version += 1;
        idx
    }

    /// Widens column `idx` so it also holds `t`. Returns whether anything changed.
    pub fn widen(&mut self, idx: usize, t: DType) -> bool {
        let col = &mut self.columns[idx];
        let merged = match col.dtype {
            None => t,
            Some(old) => old.merge(t),
        };
        if col.dtype != Some(merged) {
            col.dtype = Some(merged);
            self.version += 1;
            true
        } else {
            false
        }
    }

    /// Sets the primary key from the record key's column names, once.
    pub fn set_primary_key(&mut self, originals: &[String]) {
        if self.primary_key.is_empty() && !originals.is_empty() {
            self.primary_key = originals.iter().map(|o| normalize_column(o)).collect();
            self.version += 1;
        }
    }
}

/// The metadata columns every table carries after its own.
pub const META_COLUMNS: [&str; 4] = ["_op", "_ts", "_partition", "_offset"];

fn is_meta(name: &str) -> bool {
    META_COLUMNS.contains(&name)
}
