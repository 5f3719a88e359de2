//! The catalog: every table's schema as discovered from the data, and the registry of live
//! tables. Nothing here knows any table by name; tables and columns appear as data arrives.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use parking_lot::RwLock;
use serde::{Deserialize, Serialize};

use crate::ident::{TableName, normalize_column};
use crate::store::table::LiveTable;
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

/// Every live table, by name.
#[derive(Default)]
#[allow(missing_debug_implementations)]
pub struct Catalog {
    tables: RwLock<BTreeMap<TableName, Arc<LiveTable>>>,
}

impl std::fmt::Debug for Catalog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.tables.read().keys()).finish()
    }
}

impl Catalog {
    pub fn new() -> Self {
        Self::default()
    }

    /// The table fed by `topic`, created on first sight.
    pub fn table_for_topic(&self, topic: &str) -> Arc<LiveTable> {
        let name = TableName::from_topic(topic);
        if let Some(t) = self.tables.read().get(&name) {
            return t.clone();
        }
        self.tables
            .write()
            .entry(name.clone())
            .or_insert_with(|| Arc::new(LiveTable::new(TableSchema::new(name, topic))))
            .clone()
    }

    pub fn get(&self, name: &TableName) -> Option<Arc<LiveTable>> {
        self.tables.read().get(name).cloned()
    }

    pub fn tables(&self) -> Vec<Arc<LiveTable>> {
        self.tables.read().values().cloned().collect()
    }

    /// The SQL schema names in use (`db2`, `hive`).
    pub fn schema_names(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .tables
            .read()
            .keys()
            .map(|k| k.schema.clone())
            .collect();
        v.dedup();
        v
    }

    /// Table names within one SQL schema.
    pub fn table_names(&self, schema: &str) -> Vec<String> {
        self.tables
            .read()
            .keys()
            .filter(|k| k.schema == schema)
            .map(|k| k.table.clone())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_are_appended_with_stable_indices_and_widen() {
        let mut s = TableSchema::new(TableName::parse("db2.t"), "db2.t");
        assert_eq!(s.ensure_column("TXN_ID"), 0);
        assert_eq!(s.ensure_column("AMOUNT"), 1);
        assert_eq!(s.ensure_column("TXN_ID"), 0);
        assert!(s.widen(1, DType::Int32));
        assert!(s.widen(1, DType::Float64));
        assert!(!s.widen(1, DType::Int64));
        assert_eq!(s.columns[1].dtype, Some(DType::Float64));
        assert_eq!(s.columns[0].name, "txn_id");
        // A source column that normalises onto an existing name gets a suffix.
        assert_eq!(s.ensure_column("txn_id"), 2);
        assert_eq!(s.columns[2].name, "txn_id_2");
    }
}
