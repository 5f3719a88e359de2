//! Debezium's control records: schema changes (the `<topic.prefix>` topic), transaction
//! metadata (`<topic.prefix>.transaction`) and heartbeats (`__debezium-heartbeat.<prefix>`).
//! None is a row of a table; each is recognised by its shape (or its Connect schema's name)
//! and read into a [`EventKind`].

use serde_json::{Map, Value as Json};

use crate::store::events::{ControlKind, EventKind};

/// Debezium's heartbeat topics start with this (`topic.heartbeat.prefix`'s default).
const HEARTBEAT_TOPIC: &str = "__debezium-heartbeat";

/// The control kind a Connect schema name declares (`…SchemaChangeValue`,
/// `…TransactionMetadataValue`, `…Heartbeat`).
pub fn kind_of_schema(name: &str) -> Option<ControlKind> {
    if name.ends_with("SchemaChangeValue") {
        Some(ControlKind::SchemaChanges)
    } else if name.ends_with("TransactionMetadataValue") {
        Some(ControlKind::Transactions)
    } else if name.ends_with(".Heartbeat") || name == "Heartbeat" {
        Some(ControlKind::Heartbeats)
    } else {
        None
    }
}

/// The fields Debezium's schema-change values have (`SchemaChangeValue`).
const SCHEMA_CHANGE_FIELDS: [&str; 6] = [
    "source",
    "ts_ms",
    "databaseName",
    "schemaName",
    "ddl",
    "tableChanges",
];

/// The fields of transaction metadata values (`TransactionMetadataValue`).
const TRANSACTION_FIELDS: [&str; 5] = ["status", "id", "ts_ms", "event_count", "data_collections"];

/// The control kind of a schemaless value without `op`, from its fields (a value with any
/// field the control record does not have is a row, whatever its values) and its topic.
pub fn kind_of_value(topic: &str, v: &Map<String, Json>) -> Option<ControlKind> {
    let only = |allowed: &[&str]| v.keys().all(|k| allowed.contains(&k.as_str()));
    if (v.contains_key("ddl") || v.contains_key("tableChanges")) && only(&SCHEMA_CHANGE_FIELDS) {
        return Some(ControlKind::SchemaChanges);
    }
    let status = v.get("status").and_then(Json::as_str);
    if matches!(status, Some("BEGIN" | "END")) && v.contains_key("id") && only(&TRANSACTION_FIELDS)
    {
        return Some(ControlKind::Transactions);
    }
    if v.contains_key("ts_ms") && only(&["ts_ms"]) {
        return Some(ControlKind::Heartbeats);
    }
    // A heartbeat topic's records are heartbeats, whatever the connector adds to them.
    if topic.starts_with(HEARTBEAT_TOPIC) {
        return Some(ControlKind::Heartbeats);
    }
    None
}

/// The event a control record carries, and its time (`ts_ms`, else the source's, else
/// `record_ts_ms`).
pub fn read(kind: ControlKind, v: &Map<String, Json>, record_ts_ms: i64) -> (i64, EventKind) {
    let ts_ms = v
        .get("ts_ms")
        .and_then(Json::as_i64)
        .or_else(|| v.get("source")?.get("ts_ms")?.as_i64())
        .unwrap_or(record_ts_ms);
    let event = match kind {
        ControlKind::SchemaChanges => schema_change(v),
        ControlKind::Transactions => EventKind::Transaction {
            id: match v.get("id") {
                Some(Json::String(s)) => s.clone(),
                Some(other) => other.to_string(),
                None => String::new(),
            },
            status: v
                .get("status")
                .and_then(Json::as_str)
                .unwrap_or_default()
                .to_string(),
            event_count: v.get("event_count").and_then(Json::as_u64),
            per_table: v
                .get("data_collections")
                .and_then(Json::as_array)
                .map(|cs| {
                    cs.iter()
                        .filter_map(|c| {
                            Some((
                                c.get("data_collection")?.as_str()?.to_string(),
                                c.get("event_count")?.as_u64()?,
                            ))
                        })
                        .collect()
                })
                .unwrap_or_default(),
        },
        ControlKind::Heartbeats => EventKind::Heartbeat,
    };
    (ts_ms, event)
}

/// A schema-change record: its DDL and the tables it names — from `tableChanges[].id`
/// (`"inventory"."customers"`), else from `source` (`schema`/`db` and `table`).
fn schema_change(v: &Map<String, Json>) -> EventKind {
    let ddl = v
        .get("ddl")
        .and_then(Json::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_string);
    let changes = v.get("tableChanges").and_then(Json::as_array);
    let mut tables: Vec<String> = changes
        .into_iter()
        .flatten()
        .filter_map(|c| c.get("id")?.as_str().map(unquote_id))
        .collect();
    if tables.is_empty()
        && let Some(src) = v.get("source")
        && let Some(t) = src.get("table").and_then(Json::as_str)
        && !t.is_empty()
    {
        let schema = src
            .get("schema")
            .or_else(|| src.get("db"))
            .and_then(Json::as_str)
            .unwrap_or_default();
        tables = t
            .split(',')
            .map(|t| {
                if schema.is_empty() {
                    t.to_string()
                } else {
                    format!("{schema}.{t}")
                }
            })
            .collect();
    }
    let change = changes
        .and_then(|cs| cs.first())
        .and_then(|c| c.get("type")?.as_str())
        .map(str::to_string);
    EventKind::SchemaChange {
        ddl,
        tables,
        change,
    }
}

/// `"db"."schema"."table"` or `db.table` → `schema.table` (the last two levels, unquoted).
fn unquote_id(id: &str) -> String {
    let parts: Vec<String> = split_id(id);
    let n = parts.len();
    parts[n.saturating_sub(2)..].join(".")
}

fn split_id(id: &str) -> Vec<String> {
    let mut parts = vec![String::new()];
    let mut quoted = false;
    for ch in id.chars() {
        match ch {
            '"' => quoted = !quoted,
            '.' if !quoted => parts.push(String::new()),
            c => parts.last_mut().expect("never empty").push(c),
        }
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(s: &str) -> Map<String, Json> {
        serde_json::from_str(s).unwrap()
    }

    #[test]
    fn control_records_are_told_by_shape_and_read() {
        let ddl = obj(
            r#"{"source":{"db":"inventory","table":"customers"},"ts_ms":5,"databaseName":"inventory","ddl":"ALTER TABLE customers ADD COLUMN x INT","tableChanges":[{"type":"ALTER","id":"\"inventory\".\"customers\""}]}"#,
        );
        assert_eq!(
            kind_of_value("dbserver1", &ddl),
            Some(ControlKind::SchemaChanges)
        );
        let (ts, e) = read(ControlKind::SchemaChanges, &ddl, 1);
        assert_eq!(ts, 5);
        assert_eq!(
            e,
            EventKind::SchemaChange {
                ddl: Some("ALTER TABLE customers ADD COLUMN x INT".into()),
                tables: vec!["inventory.customers".into()],
                change: Some("ALTER".into())
            }
        );
        let end = obj(
            r#"{"status":"END","id":"571:53195832","ts_ms":7,"event_count":2,"data_collections":[{"data_collection":"s1.a","event_count":1},{"data_collection":"s2.a","event_count":1}]}"#,
        );
        assert_eq!(
            kind_of_value("x.transaction", &end),
            Some(ControlKind::Transactions)
        );
        let (_, e) = read(ControlKind::Transactions, &end, 1);
        assert_eq!(
            e,
            EventKind::Transaction {
                id: "571:53195832".into(),
                status: "END".into(),
                event_count: Some(2),
                per_table: vec![("s1.a".into(), 1), ("s2.a".into(), 1)]
            }
        );
        let beat = obj(r#"{"ts_ms":1588252618953}"#);
        assert_eq!(
            kind_of_value("__debezium-heartbeat.dbserver1", &beat),
            Some(ControlKind::Heartbeats)
        );
        assert_eq!(kind_of_value("shop.orders", &obj(r#"{"id":1}"#)), None);
        // A row of a table that happens to have such columns is a row.
        assert_eq!(
            kind_of_value(
                "etl.batches",
                &obj(r#"{"id":"b1","status":"BEGIN","rows":10}"#)
            ),
            None
        );
        assert_eq!(
            kind_of_schema("io.debezium.connector.mysql.SchemaChangeValue"),
            Some(ControlKind::SchemaChanges)
        );
        assert_eq!(kind_of_schema("dbserver1.inventory.customers.Value"), None);
        assert_eq!(unquote_id(r#""DB"."S.X"."T""#), "S.X.T");
    }
}
