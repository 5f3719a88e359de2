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

    /// The SQL table this partition's topic feeds.
    pub fn table(&self) -> TableName {
        TableName::from_topic(&self.topic)
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

/// A table as SQL names it: `<schema>.<table>`, both lower case (`db2.transactions`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct TableName {
    /// The SQL schema (the source system: `db2`, `hive`).
    pub schema: String,
    /// The table within that schema.
    pub table: String,
}

impl TableName {
    /// A topic `<source>.<table>` becomes the table `<source>.<table>` in lower case; a topic
    /// with more dots (`server.schema.table`) keeps its first part as the schema and joins the
    /// rest with `_`; a topic with no dot lands in the schema `public`.
    pub fn from_topic(topic: &str) -> Self {
        let lower = topic.to_ascii_lowercase();
        let clean = |s: &str| -> String {
            s.chars()
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
                .collect()
        };
        match lower.split_once('.') {
            Some((schema, rest)) if !schema.is_empty() && !rest.is_empty() => Self {
                schema: clean(schema),
                table: clean(rest),
            },
            _ => Self {
                schema: "public".into(),
                table: clean(&lower),
            },
        }
    }

    /// Parses `schema.table` (or a bare `table` in `public`).
    pub fn parse(s: &str) -> Self {
        match s.split_once('.') {
            Some((a, b)) => Self {
                schema: a.to_ascii_lowercase(),
                table: b.to_ascii_lowercase(),
            },
            None => Self {
                schema: "public".into(),
                table: s.to_ascii_lowercase(),
            },
        }
    }
}

impl fmt::Display for TableName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.schema, self.table)
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
            TableName::from_topic("bank.CORE.ACCOUNTS").to_string(),
            "bank.core_accounts"
        );
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
