//! The catalog: the registry of live tables. Nothing here knows any table by name; tables
//! appear as data arrives.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::ident::TableName;
use crate::store::schema::TableSchema;
use crate::store::table::LiveTable;
use parking_lot::RwLock;

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
    use crate::store::value::DType;

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
