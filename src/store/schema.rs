//! A table's schema as discovered from the data: columns appear and widen as records arrive.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::ident::{TableName, normalize_column};
use crate::store::value::DType;

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
