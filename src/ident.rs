//! Typed identities: a topic partition, an offset, a table name.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A Kafka topic partition (or its equivalent in a replay file or the demo generator).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct TopicPartition {
    /// The topic name exactly as the source spells it.
    pub topic: String,
    /// The partition number within the topic.
    pub partition: i32,
}

impl TopicPartition {
    pub fn new(topic: impl Into<String>, partition: i32) -> Self {
        Self {
            topic: topic.into(),
            partition,
        }
    }
}

impl fmt::Display for TopicPartition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.topic, self.partition)
    }
}

/// A record's position within its partition. It serializes as the bare number (JSON and
/// the stored rows alike), so typing it changes no format.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Offset(pub i64);

impl Offset {
    /// The position as the number Kafka and the stored formats use.
    pub fn get(self) -> i64 {
        self.0
    }

    /// The position after this one: where a consumer resumes once this record is applied.
    pub fn next(self) -> Offset {
        Offset(self.0.saturating_add(1))
    }
}

impl From<i64> for Offset {
    fn from(o: i64) -> Self {
        Offset(o)
    }
}

impl fmt::Display for Offset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A table as SQL names it: `<schema>.<table>` (`db2.transactions`), or
/// `<catalog>.<schema>.<table>` for a topic of three or more levels
/// (`db2server.db2inst1.transactions`); every part lower case.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct TableName {
    /// The SQL catalog (Debezium's `topic.prefix`); `None`: the default catalog.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub catalog: Option<String>,
    /// The SQL schema (the source system `db2`, or the database schema `db2inst1`).
    pub schema: String,
    /// The table within that schema.
    pub table: String,
}

/// One level of a name as SQL can carry it unquoted: lower case, every character that is not
/// a letter, a digit or `_` (a dash, a space, a dot) becomes `_`.
pub fn sql_level(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect()
}

impl TableName {
    /// A topic's levels, each normalised by [`sql_level`]: `<table>` lands in the schema
    /// `public`; `<source>.<table>` is that schema and table; `<prefix>.<schema>.<table>` (what
    /// Debezium writes) is catalog, schema and table — a topic of more levels keeps its last
    /// two as schema and table and joins the rest with `_` as the catalog
    /// (`server1.testDB.dbo.customers` → `server1_testdb.dbo.customers`).
    pub fn from_topic(topic: &str) -> Self {
        let levels: Vec<&str> = topic.split('.').collect();
        if levels.iter().any(|l| l.is_empty()) {
            // `a..b`, `.a`: no levels to read; the whole topic is the table.
            return Self::new(None, "public", &sql_level(topic));
        }
        match levels.as_slice() {
            [t] => Self::new(None, "public", &sql_level(t)),
            [s, t] => Self::new(None, &sql_level(s), &sql_level(t)),
            [rest @ .., s, t] => {
                let catalog: Vec<String> = rest.iter().map(|l| sql_level(l)).collect();
                Self::new(Some(catalog.join("_")), &sql_level(s), &sql_level(t))
            }
            [] => Self::new(None, "public", "_"),
        }
    }

    pub fn new(catalog: Option<String>, schema: &str, table: &str) -> Self {
        Self {
            catalog,
            schema: schema.to_string(),
            table: table.to_string(),
        }
    }

    /// Parses `catalog.schema.table`, `schema.table`, or a bare `table` in `public`.
    pub fn parse(s: &str) -> Self {
        let lower = s.to_ascii_lowercase();
        let parts: Vec<&str> = lower.splitn(3, '.').collect();
        match parts.as_slice() {
            [c, s, t] => Self::new(Some(c.to_string()), s, t),
            [s, t] => Self::new(None, s, t),
            _ => Self::new(None, "public", &lower),
        }
    }

    /// The same name with `_<n>` after the table (a name two topics would share).
    pub fn suffixed(&self, n: usize) -> Self {
        Self {
            table: format!("{}_{n}", self.table),
            ..self.clone()
        }
    }
}

impl fmt::Display for TableName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.catalog {
            Some(c) => write!(f, "{c}.{}.{}", self.schema, self.table),
            None => write!(f, "{}.{}", self.schema, self.table),
        }
    }
}

/// Lower snake case for a source column name: `TXN_ID` → `txn_id`, `customerId` →
/// `customer_id`, `sale_time` stays.
pub fn normalize_column(name: &str) -> String {
    let has_lower = name.chars().any(|c| c.is_ascii_lowercase());
    let mut out = String::with_capacity(name.len() + 4);
    let mut prev_lower_or_digit = false;
    for c in name.chars() {
        if c.is_ascii_uppercase() {
            if has_lower && prev_lower_or_digit {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
            prev_lower_or_digit = false;
        } else if c.is_ascii_alphanumeric() {
            out.push(c);
            prev_lower_or_digit = true;
        } else {
            out.push('_');
            prev_lower_or_digit = false;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_names_become_lower_case_tables() {
        assert_eq!(
            TableName::from_topic("db2.transactions").to_string(),
            "db2.transactions"
        );
        assert_eq!(
            TableName::from_topic("DB2.ORDERS").to_string(),
            "db2.orders"
        );
        assert_eq!(
            TableName::from_topic("db2server.DB2INST1.TRANSACTIONS").to_string(),
            "db2server.db2inst1.transactions"
        );
        assert_eq!(
            TableName::from_topic("server1.testDB.dbo.customers").to_string(),
            "server1_testdb.dbo.customers"
        );
        // Levels stay levels: these two no longer meet in one name.
        assert_ne!(
            TableName::from_topic("x.MY_S.T"),
            TableName::from_topic("x.MY.S_T")
        );
        assert_eq!(
            TableName::from_topic("mysql-server-1.inventory.customers").to_string(),
            "mysql_server_1.inventory.customers"
        );
        let three = TableName::parse("a.b.c");
        assert_eq!(three, TableName::from_topic("A.B.C"));
        assert_eq!(TableName::from_topic("events").to_string(), "public.events");
    }

    #[test]
    fn columns_become_lower_snake_case() {
        assert_eq!(normalize_column("TXN_ID"), "txn_id");
        assert_eq!(normalize_column("sale_time"), "sale_time");
        assert_eq!(normalize_column("customerId"), "customer_id");
        assert_eq!(normalize_column("unit price"), "unit_price");
    }
}
