//! The catalog: the registry of live tables. Nothing here knows any table by name; tables
//! appear as data arrives, named from their topic ([`TableName::from_topic`]) or by a rule of
//! `[[catalog.tables]]`. Two topics never share a table: the second to want a name gets it
//! with a suffix (`_2`), kept (in the store) so it is the same after a restart, and reported.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::config::TableRule;
use crate::ident::TableName;
use crate::store::schema::TableSchema;
use crate::store::table::LiveTable;
use parking_lot::RwLock;

/// A topic that could not have the name its levels (or a rule) give: another topic has it.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Collision {
    pub topic: String,
    /// The name it would have had, and which topic has it.
    pub wanted: String,
    pub taken_by: String,
    /// The name it got.
    pub given: String,
}

/// The naming rules of `[[catalog.tables]]`, compiled.
#[derive(Default)]
struct Rules(Vec<(Rule, String)>);

enum Rule {
    Topic(String),
    Pattern(regex::Regex),
}

/// Every live table, by name.
#[derive(Default)]
#[allow(missing_debug_implementations)]
pub struct Catalog {
    tables: RwLock<BTreeMap<TableName, Arc<LiveTable>>>,
    rules: Rules,
    /// topic → the name it was given, kept across restarts.
    names: Option<sled::Tree>,
    collisions: RwLock<Vec<Collision>>,
}

/// A naming rule that cannot be used (a bad regex, a name that is not `[catalog.]schema.table`).
#[derive(Debug, thiserror::Error)]
#[error("catalog.tables rule {index}: {why}")]
pub struct RuleError {
    pub index: usize,
    pub why: String,
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

    /// A catalog naming tables by `rules` (first match wins), keeping the names it gives in
    /// `names`.
    pub fn with(rules: &[TableRule], names: Option<sled::Tree>) -> Result<Self, RuleError> {
        let mut compiled = Vec::new();
        for (index, r) in rules.iter().enumerate() {
            let err = |why: String| RuleError { index, why };
            let rule = match (&r.topic, &r.pattern) {
                (Some(t), None) => Rule::Topic(t.clone()),
                (None, Some(p)) => Rule::Pattern(
                    regex::Regex::new(&format!("^(?:{p})$")).map_err(|e| err(e.to_string()))?,
                ),
                _ => return Err(err("give exactly one of topic or pattern".into())),
            };
            let parts = r.name.split('.').count();
            if !(2..=3).contains(&parts) || r.name.split('.').any(str::is_empty) {
                return Err(err(format!(
                    "name {:?} is not schema.table or catalog.schema.table",
                    r.name
                )));
            }
            compiled.push((rule, r.name.clone()));
        }
        Ok(Self {
            rules: Rules(compiled),
            names,
            ..Self::default()
        })
    }

    /// The name `topic` wants: a rule's (`$1` … filled from the pattern), else its levels'.
    fn wanted(&self, topic: &str) -> TableName {
        for (rule, name) in &self.rules.0 {
            let named = match rule {
                Rule::Topic(t) if t == topic => Some(name.clone()),
                Rule::Pattern(re) => re.captures(topic).map(|c| {
                    let mut out = String::new();
                    c.expand(name, &mut out);
                    out
                }),
                Rule::Topic(_) => None,
            };
            if let Some(n) = named {
                let levels: Vec<String> = n.split('.').map(crate::ident::sql_level).collect();
                return TableName::parse(&levels.join("."));
            }
        }
        TableName::from_topic(topic)
    }

    /// The table fed by `topic`, created (and named) on first sight.
    pub fn table_for_topic(&self, topic: &str) -> Arc<LiveTable> {
        if let Some(t) = self.for_topic(topic) {
            return t;
        }
        let mut tables = self.tables.write();
        if let Some(t) = tables.values().find(|t| t.schema.read().topic == topic) {
            return t.clone();
        }
        let kept = self.names.as_ref().and_then(|n| {
            let v = n.get(topic.as_bytes()).ok()??;
            Some(TableName::parse(std::str::from_utf8(&v).ok()?))
        });
        let name = match kept {
            Some(name) if !tables.contains_key(&name) => name,
            _ => {
                let wanted = self.wanted(topic);
                let mut name = wanted.clone();
                let mut n = 2;
                while let Some(other) = tables.get(&name) {
                    if n == 2 {
                        self.collisions.write().push(Collision {
                            topic: topic.to_string(),
                            wanted: wanted.to_string(),
                            taken_by: other.schema.read().topic.clone(),
                            given: String::new(),
                        });
                    }
                    name = wanted.suffixed(n);
                    n += 1;
                }
                if let Some(c) = self
                    .collisions
                    .write()
                    .iter_mut()
                    .find(|c| c.topic == topic)
                {
                    c.given = name.to_string();
                    tracing::warn!(topic, wanted = %c.wanted, taken_by = %c.taken_by, given = %c.given,
                        "two topics would share a table name; this one gets a suffix");
                }
                if let Some(n) = &self.names
                    && let Err(e) = n.insert(topic.as_bytes(), name.to_string().as_bytes())
                {
                    tracing::warn!(topic, error = %e, "could not keep the table's name");
                }
                name
            }
        };
        tables
            .entry(name.clone())
            .or_insert_with(|| Arc::new(LiveTable::new(TableSchema::new(name, topic))))
            .clone()
    }

    /// The table `topic` feeds, if it has one yet (data or control).
    pub fn for_topic(&self, topic: &str) -> Option<Arc<LiveTable>> {
        self.tables
            .read()
            .values()
            .find(|t| t.schema.read().topic == topic)
            .cloned()
    }

    /// The topics that could not have the name they wanted, and what they got.
    pub fn collisions(&self) -> Vec<Collision> {
        self.collisions.read().clone()
    }

    /// A data table by name (a control topic's table is none).
    pub fn get(&self, name: &TableName) -> Option<Arc<LiveTable>> {
        self.tables
            .read()
            .get(name)
            .filter(|t| t.control().is_none())
            .cloned()
    }

    /// The data tables.
    pub fn tables(&self) -> Vec<Arc<LiveTable>> {
        self.tables
            .read()
            .values()
            .filter(|t| t.control().is_none())
            .cloned()
            .collect()
    }

    /// The tables fed by Debezium control topics (schema changes, transactions, heartbeats).
    pub fn control_tables(&self) -> Vec<Arc<LiveTable>> {
        self.tables
            .read()
            .values()
            .filter(|t| t.control().is_some())
            .cloned()
            .collect()
    }

    /// The SQL catalogs of three-level names in use (`db2server`), besides the default.
    pub fn catalog_names(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .tables
            .read()
            .keys()
            .filter_map(|k| k.catalog.clone())
            .collect();
        v.sort();
        v.dedup();
        v
    }

    /// The SQL schema names in use in a catalog (`None`: the default one): `db2`, `hive`.
    pub fn schema_names(&self, catalog: Option<&str>) -> Vec<String> {
        let mut v: Vec<String> = self
            .tables
            .read()
            .iter()
            .filter(|(k, t)| k.catalog.as_deref() == catalog && t.control().is_none())
            .map(|(k, _)| k.schema.clone())
            .collect();
        v.sort();
        v.dedup();
        v
    }

    /// Data table names within one SQL schema of a catalog.
    pub fn table_names(&self, catalog: Option<&str>, schema: &str) -> Vec<String> {
        self.tables
            .read()
            .iter()
            .filter(|(k, t)| {
                k.catalog.as_deref() == catalog && k.schema == schema && t.control().is_none()
            })
            .map(|(k, _)| k.table.clone())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::value::DType;

    #[test]
    fn two_topics_never_share_a_table_and_rules_name_tables() {
        let rules = vec![
            TableRule {
                topic: Some("legacy-feed".into()),
                pattern: None,
                name: "erp.orders".into(),
            },
            TableRule {
                topic: None,
                pattern: Some(r"cdc\.(\w+)\.v\d+".into()),
                name: "cdc.$1".into(),
            },
        ];
        let dir = tempfile::tempdir().unwrap();
        let db = sled::open(dir.path()).unwrap();
        let c = Catalog::with(&rules, Some(db.open_tree("names").unwrap())).unwrap();
        let first = c.table_for_topic("shop.ORDERS");
        let second = c.table_for_topic("shop.orders");
        assert_eq!(first.schema.read().name.to_string(), "shop.orders");
        assert_eq!(second.schema.read().name.to_string(), "shop.orders_2");
        assert_eq!(
            c.collisions(),
            vec![Collision {
                topic: "shop.orders".into(),
                wanted: "shop.orders".into(),
                taken_by: "shop.ORDERS".into(),
                given: "shop.orders_2".into(),
            }]
        );
        assert!(Arc::ptr_eq(&c.table_for_topic("shop.orders"), &second));
        assert_eq!(
            c.table_for_topic("legacy-feed")
                .schema
                .read()
                .name
                .to_string(),
            "erp.orders"
        );
        assert_eq!(
            c.table_for_topic("cdc.Payments.v3")
                .schema
                .read()
                .name
                .to_string(),
            "cdc.payments"
        );
        // After a restart the names are the same, whichever topic comes first.
        let again = Catalog::with(&rules, Some(db.open_tree("names").unwrap())).unwrap();
        assert_eq!(
            again
                .table_for_topic("shop.orders")
                .schema
                .read()
                .name
                .to_string(),
            "shop.orders_2"
        );
        assert_eq!(
            again
                .table_for_topic("shop.ORDERS")
                .schema
                .read()
                .name
                .to_string(),
            "shop.orders"
        );
        assert!(
            Catalog::with(
                &[TableRule {
                    topic: Some("t".into()),
                    pattern: None,
                    name: "just_a_table".into()
                }],
                None
            )
            .is_err()
        );
    }

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
