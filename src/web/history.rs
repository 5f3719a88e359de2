//! A table's schema history as the API shows it: which column, what happened (`added`,
//! `typed`, `widened`, `declared`, `configured`), by what, the types before and after, and the
//! record that did it. Also its events (truncates, and the schema changes Debezium's
//! schema-change topic reported for it), and what each control topic said.

use serde_json::{Value as Json_, json};

use crate::store::catalog::Catalog;
use crate::store::events::{EventKind, TableEvent};
use crate::store::schema::{TableSchema, TypeFrom};
use crate::store::table::LiveTable;
use crate::store::value::{DType, format_timestamp_us};

/// The history, oldest first.
pub fn of(s: &TableSchema, t: &LiveTable) -> Vec<Json_> {
    let sql = |d: Option<DType>| d.map(|d| d.sql_type());
    t.schema_history()
        .into_iter()
        .map(|(p, c)| {
            json!({
                "column": s.index_of(&c.column).map(|i| s.columns[i].name.clone()),
                "original": c.column,
                "change": c.kind(),
                "by": match c.by {
                    TypeFrom::Value => "value",
                    TypeFrom::Schema => "schema",
                    TypeFrom::Config => "configuration",
                },
                "from": c.from.map(sql),
                "to": sql(c.to),
                "partition": p,
                "offset": c.offset,
                "at": format_timestamp_us(c.ts_ms * 1000),
            })
        })
        .collect()
}

/// One event as JSON.
fn event_json(topic: &str, partition: i32, e: &TableEvent) -> Json_ {
    let mut v = match &e.kind {
        EventKind::Truncate { rows } => json!({"event": "truncate", "rows_removed": rows}),
        EventKind::SchemaChange {
            ddl,
            tables,
            change,
        } => json!({"event": "schema_change", "ddl": ddl, "tables": tables, "change": change}),
        EventKind::Transaction {
            id,
            status,
            event_count,
            per_table,
        } => json!({
            "event": "transaction",
            "id": id,
            "status": status,
            "event_count": event_count,
            "per_table": per_table.iter().map(|(t, n)| json!({"table": t, "events": n})).collect::<Vec<_>>(),
        }),
        EventKind::Heartbeat => json!({"event": "heartbeat"}),
    };
    v["topic"] = json!(topic);
    v["partition"] = json!(partition);
    v["offset"] = json!(e.offset);
    v["at"] = json!(format_timestamp_us(e.ts_ms * 1000));
    v
}

/// The table's events, oldest first: its truncates, and the schema-change records of its
/// connector's schema-change topic (`<prefix>`) that name it (`<prefix>.….<schema>.<table>`).
pub fn events_of(catalog: &Catalog, s: &TableSchema, t: &LiveTable) -> Vec<Json_> {
    let topic = s.topic.to_ascii_lowercase();
    let mut all: Vec<(i64, Json_)> = t
        .events()
        .iter()
        .map(|(p, e)| (e.ts_ms, event_json(&s.topic, *p, e)))
        .collect();
    for c in catalog.control_tables() {
        let control_topic = c.schema.read().topic.clone();
        let prefix = format!("{}.", control_topic.to_ascii_lowercase());
        if !topic.starts_with(&prefix) {
            continue;
        }
        for (p, e) in c.events() {
            let EventKind::SchemaChange { tables, .. } = &e.kind else {
                continue;
            };
            if tables
                .iter()
                .any(|id| topic.ends_with(&format!(".{}", id.to_ascii_lowercase())))
            {
                all.push((e.ts_ms, event_json(&control_topic, p, &e)));
            }
        }
    }
    all.sort_by_key(|(ts, _)| *ts);
    all.into_iter().map(|(_, v)| v).collect()
}

/// What each control topic is and said: its kind, its last heartbeat, its recent events.
pub fn control_topics(catalog: &Catalog) -> Vec<Json_> {
    catalog
        .control_tables()
        .into_iter()
        .map(|c| {
            let topic = c.schema.read().topic.clone();
            let (mut beats, mut last, mut records) = (0u64, None, 0u64);
            for (_, p) in c.partitions() {
                let e = p.events.read();
                beats += e.heartbeats;
                last = last.max(e.last_heartbeat_ms);
                records += e.recent.len() as u64;
            }
            let recent: Vec<Json_> = c
                .events()
                .iter()
                .rev()
                .take(20)
                .map(|(p, e)| event_json(&topic, *p, e))
                .collect();
            json!({
                "topic": topic,
                "kind": c.control().map(|k| k.name()),
                "last_heartbeat": last.map(|ms: i64| format_timestamp_us(ms * 1000)),
                "heartbeats_since_start": beats,
                "events_kept": records,
                "recent": recent,
            })
        })
        .collect()
}
