//! Real Debezium output: every connector's events as Debezium writes them — create, update,
//! delete, snapshot read, truncate, tombstones, a keyless table, the schema-change,
//! transaction and heartbeat topics, and rows flattened by `ExtractNewRecordState` — replayed
//! through the node; every table then holds exactly the rows the source has, under its
//! three-part name, with nothing quarantined. And every Debezium logical type round-trips
//! exactly (value and SQL type) through ingest → sled → restart → SQL.
//!
//! The events follow the examples in Debezium's documentation, field for field (envelope,
//! `source` block, op, key); where each comes from is noted beside it. They are written out
//! here rather than copied byte for byte, with the documented example's values.

mod common;

use std::io::Write;
use std::path::Path;

use common::{TestServer, get_json, post_sql, test_config};
use serde_json::{Value, json};
use streamq::config::SourceKind;
use tokio_util::sync::CancellationToken;

/// One record as `kcat -C -J` prints it.
fn kcat(topic: &str, offset: i64, key: Option<Value>, value: Option<Value>) -> String {
    json!({"topic": topic, "partition": 0, "offset": offset, "tstype": "create",
        "ts": 1772438400000i64 + offset, "broker": 1, "headers": null,
        "key": key.map(|k| k.to_string()), "payload": value.map(|v| v.to_string())})
    .to_string()
}

/// Writes the records of each topic at offsets 0, 1, 2, … in the order given.
fn write_log(path: &Path, records: &[(&str, Option<Value>, Option<Value>)]) {
    let mut f = std::fs::File::create(path).unwrap();
    let mut next: std::collections::HashMap<&str, i64> = Default::default();
    for (topic, key, value) in records {
        let o = next.entry(topic).or_insert(0);
        writeln!(f, "{}", kcat(topic, *o, key.clone(), value.clone())).unwrap();
        *o += 1;
    }
}

fn pg_source(table: &str, lsn: i64) -> Value {
    json!({"version": "2.5.0.Final", "connector": "postgresql", "name": "PostgreSQL_server",
        "ts_ms": 1559033904863i64, "snapshot": "false", "db": "postgres",
        "sequence": "[\"24023119\",\"24023128\"]", "schema": "public", "table": table,
        "txId": 555, "lsn": lsn, "xmin": null})
}

fn mysql_source(table: &str, pos: i64) -> Value {
    json!({"version": "2.5.0.Final", "connector": "mysql", "name": "mysql-server-1",
        "ts_ms": 1465581029100i64, "snapshot": "false", "db": "inventory", "table": table,
        "server_id": 223344, "gtid": null, "file": "mysql-bin.000003", "pos": pos, "row": 0,
        "thread": 7, "query": null})
}

fn db2_source(table: &str) -> Value {
    json!({"version": "2.5.0.Final", "connector": "db2", "name": "mydatabase",
        "ts_ms": 1588252618953i64, "snapshot": "false", "db": "MYDATABASE",
        "schema": "MYSCHEMA", "table": table, "change_lsn": "00000025:00000d98:00a2",
        "commit_lsn": "00000025:00000d98:00a5"})
}

fn oracle_source(table: &str, scn: &str) -> Value {
    json!({"version": "2.5.0.Final", "connector": "oracle", "name": "server1",
        "ts_ms": 1520085154000i64, "txId": "6.28.807", "scn": scn, "commit_scn": scn,
        "snapshot": "false", "db": "ORCLPDB1", "schema": "INVENTORY", "table": table})
}

fn sqlserver_source(table: &str, lsn: &str) -> Value {
    json!({"version": "2.5.0.Final", "connector": "sqlserver", "name": "sqlserver1",
        "ts_ms": 1559729468470i64, "snapshot": "false", "db": "testDB", "schema": "dbo",
        "table": table, "change_lsn": lsn, "commit_lsn": lsn, "event_serial_no": "1"})
}

fn env(op: &str, before: Value, after: Value, source: Value, ts_ms: i64) -> Value {
    json!({"before": before, "after": after, "source": source, "op": op, "ts_ms": ts_ms,
        "transaction": null})
}

fn customer(id: i64, first: &str, last: &str, email: &str) -> Value {
    json!({"id": id, "first_name": first, "last_name": last, "email": email})
}

fn upper_customer(id: i64, first: &str, last: &str, email: &str) -> Value {
    json!({"ID": id, "FIRST_NAME": first, "LAST_NAME": last, "EMAIL": email})
}

/// The whole log: topic, key, value.
fn events() -> Vec<(&'static str, Option<Value>, Option<Value>)> {
    let pg = "PostgreSQL_server.public.customers";
    let my = "mysql-server-1.inventory.customers";
    let db2 = "mydatabase.MYSCHEMA.CUSTOMERS";
    let ora = "server1.INVENTORY.CUSTOMERS";
    let mss = "sqlserver1.testDB.dbo.customers";
    let keyless = "PostgreSQL_server.public.audit_log";
    let flat = "dbserver1.inventory.orders";
    let flat_schema = "dbserver1.inventory.products";
    let anne = customer(1, "Anne", "Kretchmar", "annek@noanswer.org");
    let anne_marie = customer(1, "Anne Marie", "Kretchmar", "annek@noanswer.org");
    let sally = customer(1001, "Sally", "Thomas", "sally.thomas@acme.com");
    let k = |id: i64| Some(json!({"id": id}));
    let ku = |id: i64| Some(json!({"ID": id}));
    vec![
        // PostgreSQL — "Debezium connector for PostgreSQL", Data change events: create,
        // update, delete (then its tombstone), and the truncate event (`op: t`, no before or
        // after, no key; `skipped.operations=none`).
        (
            pg,
            k(1),
            Some(env(
                "c",
                Value::Null,
                anne.clone(),
                pg_source("customers", 24023128),
                1559033904863,
            )),
        ),
        (
            pg,
            k(1),
            Some(env(
                "u",
                anne.clone(),
                anne_marie.clone(),
                pg_source("customers", 24023190),
                1465584025523,
            )),
        ),
        (
            pg,
            k(2),
            Some(env(
                "c",
                Value::Null,
                customer(2, "George", "Bailey", "gbailey@foobar.com"),
                pg_source("customers", 24023200),
                1465584025600,
            )),
        ),
        (
            pg,
            k(1),
            Some(env(
                "d",
                anne_marie.clone(),
                Value::Null,
                pg_source("customers", 46523128),
                1465581902461,
            )),
        ),
        (pg, k(1), None),
        (
            pg,
            None,
            Some(
                json!({"source": pg_source("customers", 46523200), "op": "t", "ts_ms": 1559033904961i64}),
            ),
        ),
        (
            pg,
            k(3),
            Some(env(
                "c",
                Value::Null,
                customer(3, "Edward", "Walker", "ed@walker.com"),
                pg_source("customers", 46523300),
                1559033905000,
            )),
        ),
        // PostgreSQL, a table without a primary key (REPLICA IDENTITY FULL): the key is null,
        // the update and delete carry the whole old row — "Replica identity" in the same page.
        (
            keyless,
            None,
            Some(env(
                "c",
                Value::Null,
                json!({"who": "anne", "what": "login"}),
                pg_source("audit_log", 47000000),
                1559033906000,
            )),
        ),
        (
            keyless,
            None,
            Some(env(
                "c",
                Value::Null,
                json!({"who": "anne", "what": "login"}),
                pg_source("audit_log", 47000100),
                1559033906100,
            )),
        ),
        (
            keyless,
            None,
            Some(env(
                "c",
                Value::Null,
                json!({"who": "george", "what": "logout"}),
                pg_source("audit_log", 47000200),
                1559033906200,
            )),
        ),
        (
            keyless,
            None,
            Some(env(
                "u",
                json!({"who": "george", "what": "logout"}),
                json!({"who": "george", "what": "login"}),
                pg_source("audit_log", 47000300),
                1559033906300,
            )),
        ),
        (
            keyless,
            None,
            Some(env(
                "d",
                json!({"who": "anne", "what": "login"}),
                Value::Null,
                pg_source("audit_log", 47000400),
                1559033906400,
            )),
        ),
        // MySQL — "Debezium connector for MySQL": snapshot reads, an update, a delete and its
        // tombstone.
        (
            my,
            k(1001),
            Some(env(
                "r",
                Value::Null,
                sally.clone(),
                mysql_source("customers", 154),
                1465491411815,
            )),
        ),
        (
            my,
            k(1002),
            Some(env(
                "r",
                Value::Null,
                customer(1002, "George", "Bailey", "gbailey@foobar.com"),
                mysql_source("customers", 154),
                1465491411816,
            )),
        ),
        (
            my,
            k(1001),
            Some(env(
                "u",
                sally.clone(),
                customer(1001, "Sally", "Thomas", "noreply@example.org"),
                mysql_source("customers", 484),
                1465581029523,
            )),
        ),
        (
            my,
            k(1002),
            Some(env(
                "d",
                customer(1002, "George", "Bailey", "gbailey@foobar.com"),
                Value::Null,
                mysql_source("customers", 805),
                1465581902461,
            )),
        ),
        (my, k(1002), None),
        // MySQL's schema-change topic (`<topic.prefix>`), key `{databaseName}`: "Schema
        // change topic" in the MySQL connector page.
        (
            "mysql-server-1",
            Some(json!({"databaseName": "inventory"})),
            Some(json!({
            "source": mysql_source("customers", 900), "ts_ms": 1465581029600i64,
            "databaseName": "inventory", "schemaName": null,
            "ddl": "ALTER TABLE customers ADD COLUMN middle_name VARCHAR(2000)",
            "tableChanges": [{"type": "ALTER", "id": "\"inventory\".\"customers\"",
                "table": {"defaultCharsetName": "utf8mb4", "primaryKeyColumnNames": ["id"],
                    "columns": [{"name": "id", "jdbcType": 4, "typeName": "INT", "position": 1,
                        "optional": false, "autoIncremented": true, "generated": true}]}}]})),
        ),
        // Transaction metadata (`<topic.prefix>.transaction`), BEGIN and END:
        // "Transaction metadata" in the connector pages.
        (
            "mysql-server-1.transaction",
            Some(json!({"id": "571:53195829"})),
            Some(json!({
            "status": "BEGIN", "id": "571:53195829", "ts_ms": 1486500577125i64,
            "event_count": null, "data_collections": null})),
        ),
        (
            "mysql-server-1.transaction",
            Some(json!({"id": "571:53195829"})),
            Some(json!({
            "status": "END", "id": "571:53195829", "ts_ms": 1486500577691i64,
            "event_count": 2, "data_collections": [
                {"data_collection": "inventory.customers", "event_count": 1},
                {"data_collection": "inventory.orders", "event_count": 1}]})),
        ),
        // Heartbeats (`__debezium-heartbeat.<topic.prefix>`): key `{serverName}`, value
        // `{ts_ms}` — `heartbeat.interval.ms` in the connector pages.
        (
            "__debezium-heartbeat.mysql-server-1",
            Some(json!({"serverName": "mysql-server-1"})),
            Some(json!({"ts_ms": 1588252618953i64})),
        ),
        (
            "__debezium-heartbeat.mysql-server-1",
            Some(json!({"serverName": "mysql-server-1"})),
            Some(json!({"ts_ms": 1588252628953i64})),
        ),
        // Db2 — "Debezium connector for Db2": upper-case columns, create, update, delete.
        (
            db2,
            ku(1005),
            Some(env(
                "c",
                Value::Null,
                upper_customer(1005, "john", "doe", "john.doe@example.org"),
                db2_source("CUSTOMERS"),
                1559729471739,
            )),
        ),
        (
            db2,
            ku(1006),
            Some(env(
                "c",
                Value::Null,
                upper_customer(1006, "jane", "doe", "jane.doe@example.org"),
                db2_source("CUSTOMERS"),
                1559729471740,
            )),
        ),
        (
            db2,
            ku(1005),
            Some(env(
                "u",
                upper_customer(1005, "john", "doe", "john.doe@example.org"),
                upper_customer(1005, "john", "doe", "noreply@example.org"),
                db2_source("CUSTOMERS"),
                1559729995937,
            )),
        ),
        (
            db2,
            ku(1006),
            Some(env(
                "d",
                upper_customer(1006, "jane", "doe", "jane.doe@example.org"),
                Value::Null,
                db2_source("CUSTOMERS"),
                1559730445243,
            )),
        ),
        // Oracle — "Debezium connector for Oracle": snapshot read, create, update.
        (
            ora,
            ku(1004),
            Some(env(
                "r",
                Value::Null,
                upper_customer(1004, "Anne", "Kretchmar", "annek@noanswer.org"),
                oracle_source("CUSTOMERS", "1513734"),
                1532592105960,
            )),
        ),
        (
            ora,
            ku(1005),
            Some(env(
                "c",
                Value::Null,
                upper_customer(1005, "Edward", "Walker", "ed@walker.com"),
                oracle_source("CUSTOMERS", "1513735"),
                1532592105975,
            )),
        ),
        (
            ora,
            ku(1004),
            Some(env(
                "u",
                upper_customer(1004, "Anne", "Kretchmar", "annek@noanswer.org"),
                upper_customer(1004, "Anne", "Kretchmar", "anne@example.com"),
                oracle_source("CUSTOMERS", "1513800"),
                1532592713485,
            )),
        ),
        // SQL Server — "Debezium connector for SQL Server": four-level topic
        // `<prefix>.<db>.<schema>.<table>`; create, update, delete, tombstone.
        (
            mss,
            k(1005),
            Some(env(
                "c",
                Value::Null,
                customer(1005, "john", "doe", "john.doe@example.org"),
                sqlserver_source("customers", "00000027:00000758:0003"),
                1559729471739,
            )),
        ),
        (
            mss,
            k(1006),
            Some(env(
                "c",
                Value::Null,
                customer(1006, "jane", "doe", "jane.doe@example.org"),
                sqlserver_source("customers", "00000027:00000758:0005"),
                1559729471740,
            )),
        ),
        (
            mss,
            k(1005),
            Some(env(
                "u",
                customer(1005, "john", "doe", "john.doe@example.org"),
                customer(1005, "john", "doe", "noreply@example.org"),
                sqlserver_source("customers", "00000027:00000ac0:0002"),
                1559729995937,
            )),
        ),
        (
            mss,
            k(1006),
            Some(env(
                "d",
                customer(1006, "jane", "doe", "jane.doe@example.org"),
                Value::Null,
                sqlserver_source("customers", "00000027:00000bb0:0002"),
                1559730445243,
            )),
        ),
        (mss, k(1006), None),
        // ExtractNewRecordState with `add.fields=op,table,source.ts_ms` and
        // `delete.handling.mode=rewrite` — "New Record State Extraction" (the SMT page): the
        // row itself with `__op`, `__table`, `__source_ts_ms`, and `__deleted`.
        (
            flat,
            Some(json!({"id": 10001})),
            Some(
                json!({"id": 10001, "order_date": 16816, "purchaser": 1001, "quantity": 1, "product_id": 102, "__op": "r", "__table": "orders", "__source_ts_ms": 1588252618953i64, "__deleted": "false"}),
            ),
        ),
        (
            flat,
            Some(json!({"id": 10002})),
            Some(
                json!({"id": 10002, "order_date": 16817, "purchaser": 1002, "quantity": 2, "product_id": 105, "__op": "r", "__table": "orders", "__source_ts_ms": 1588252618953i64, "__deleted": "false"}),
            ),
        ),
        (
            flat,
            Some(json!({"id": 10001})),
            Some(
                json!({"id": 10001, "order_date": 16816, "purchaser": 1001, "quantity": 5, "product_id": 102, "__op": "u", "__table": "orders", "__source_ts_ms": 1588252619000i64, "__deleted": "false"}),
            ),
        ),
        (
            flat,
            Some(json!({"id": 10002})),
            Some(
                json!({"id": 10002, "order_date": 16817, "purchaser": 1002, "quantity": 2, "product_id": 105, "__op": "d", "__table": "orders", "__source_ts_ms": 1588252619100i64, "__deleted": "true"}),
            ),
        ),
        (flat, Some(json!({"id": 10002})), None),
        // ExtractNewRecordState with its defaults, schema-enabled JSON: the row's own struct
        // schema (no `after` field), then a tombstone for the delete.
        (
            flat_schema,
            Some(json!({"id": 101})),
            Some(
                json!({"schema": {"type": "struct", "optional": false, "name": "dbserver1.inventory.products.Value", "fields": [
            {"type": "int32", "optional": false, "field": "id"},
            {"type": "string", "optional": false, "field": "name"},
            {"type": "double", "optional": true, "field": "weight"}]},
            "payload": {"id": 101, "name": "scooter", "weight": 3.75}}),
            ),
        ),
        (
            flat_schema,
            Some(json!({"id": 102})),
            Some(
                json!({"schema": {"type": "struct", "optional": false, "name": "dbserver1.inventory.products.Value", "fields": [
            {"type": "int32", "optional": false, "field": "id"},
            {"type": "string", "optional": false, "field": "name"},
            {"type": "double", "optional": true, "field": "weight"}]},
            "payload": {"id": 102, "name": "car battery", "weight": 8.1}}),
            ),
        ),
        (flat_schema, Some(json!({"id": 102})), None),
        // Two topics whose levels differ only in case: both tables, never one.
        (
            "shop.ORDERS",
            Some(json!({"id": 1})),
            Some(env(
                "c",
                Value::Null,
                json!({"id": 1, "total": 5}),
                Value::Null,
                1,
            )),
        ),
        (
            "shop.orders",
            Some(json!({"id": 2})),
            Some(env(
                "c",
                Value::Null,
                json!({"id": 2, "total": 7}),
                Value::Null,
                2,
            )),
        ),
    ]
}

fn rows(base: &str, sql: &str) -> Value {
    let (status, body) = post_sql(base, sql);
    assert_eq!(status, 200, "{sql}: {body}");
    body["rows"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_connectors_events_leave_exactly_the_sources_rows() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("debezium.jsonl");
    write_log(&path, &events());
    let server = TestServer::replayed(&path, |_| {}).await;
    let b = &server.base;

    let (_, q) = get_json(&format!("{b}/api/quarantine"));
    assert_eq!(
        q["count"], 0,
        "nothing Debezium considers valid is quarantined: {q:#}"
    );

    // PostgreSQL: the truncate removed George; only the row created after it remains.
    assert_eq!(
        rows(
            b,
            "SELECT id, first_name FROM postgresql_server.public.customers"
        ),
        json!([[3, "Edward"]])
    );
    // The keyless table: two identical logins, one deleted; George's logout became a login.
    assert_eq!(
        rows(
            b,
            "SELECT who, what FROM postgresql_server.public.audit_log ORDER BY who"
        ),
        json!([["anne", "login"], ["george", "login"]])
    );
    assert_eq!(
        rows(
            b,
            "SELECT id, email, _op FROM mysql_server_1.inventory.customers"
        ),
        json!([[1001, "noreply@example.org", "u"]])
    );
    assert_eq!(
        rows(b, "SELECT id, email FROM mydatabase.myschema.customers"),
        json!([[1005, "noreply@example.org"]])
    );
    assert_eq!(
        rows(
            b,
            "SELECT id, email, _op FROM server1.inventory.customers ORDER BY id"
        ),
        json!([
            [1004, "anne@example.com", "u"],
            [1005, "ed@walker.com", "c"]
        ])
    );
    assert_eq!(
        rows(b, "SELECT id, email FROM sqlserver1_testdb.dbo.customers"),
        json!([[1005, "noreply@example.org"]])
    );
    // Flattened rows: the markers are Debezium's, not columns of the row.
    assert_eq!(
        rows(
            b,
            "SELECT * EXCLUDE (_ts, _partition, _offset) FROM dbserver1.inventory.orders"
        ),
        json!([[10001, "2016-01-16", 1001, 5, 102, "u"]])
    );
    assert_eq!(
        rows(
            b,
            "SELECT id, name, weight FROM dbserver1.inventory.products"
        ),
        json!([[101, "scooter", 3.75]])
    );

    // The control topics are no tables, and are reported as what they are.
    let (_, t) = get_json(&format!("{b}/api/tables"));
    let names: Vec<&str> = t["tables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names.len(),
        10,
        "ten data tables, no control topic among them: {names:?}"
    );
    // Whichever topic asked second for `shop.orders` got a suffix, and that is reported.
    let collisions = t["name_collisions"].as_array().unwrap();
    assert_eq!(collisions.len(), 1, "{t:#}");
    let c = &collisions[0];
    let pair = [
        c["topic"].as_str().unwrap(),
        c["taken_by"].as_str().unwrap(),
    ];
    assert!(
        pair == ["shop.orders", "shop.ORDERS"] || pair == ["shop.ORDERS", "shop.orders"],
        "{c}"
    );
    assert_eq!(c["wanted"], "shop.orders");
    assert_eq!(c["given"], "shop.orders_2");
    let first = rows(b, "SELECT id, total FROM shop.orders");
    let second = rows(b, "SELECT id, total FROM shop.orders_2");
    let (mine, theirs) = if c["topic"] == "shop.orders" {
        (json!([[2, 7]]), json!([[1, 5]]))
    } else {
        (json!([[1, 5]]), json!([[2, 7]]))
    };
    assert_eq!(
        (second, first),
        (mine, theirs),
        "each topic's row is in its own table"
    );
    let controls = t["control_topics"].as_array().unwrap();
    let kind_of = |topic: &str| {
        controls
            .iter()
            .find(|c| c["topic"] == topic)
            .unwrap_or_else(|| panic!("{topic} in {controls:#?}"))["kind"]
            .clone()
    };
    assert_eq!(kind_of("mysql-server-1"), "schema_changes");
    assert_eq!(kind_of("mysql-server-1.transaction"), "transactions");
    let beat = controls
        .iter()
        .find(|c| c["topic"] == "__debezium-heartbeat.mysql-server-1")
        .unwrap();
    assert_eq!(beat["kind"], "heartbeats");
    assert_eq!(beat["last_heartbeat"], "2020-04-30T13:17:08.953Z");
    let tx = controls
        .iter()
        .find(|c| c["kind"] == "transactions")
        .unwrap();
    assert_eq!(tx["recent"][0]["status"], "END", "{tx:#}");
    assert_eq!(tx["recent"][0]["event_count"], 2);
    let (status, body) = post_sql(b, "SELECT * FROM mysql_server_1.transaction");
    assert_ne!(status, 200, "a control topic is no table: {body}");

    // The schema change is in the history of the table it altered; the truncate in its own.
    let (_, my) = get_json(&format!(
        "{b}/api/tables/mysql_server_1.inventory.customers"
    ));
    let events = my["events"].as_array().unwrap();
    assert_eq!(events.len(), 1, "{my:#}");
    assert_eq!(events[0]["event"], "schema_change");
    assert_eq!(
        events[0]["ddl"],
        "ALTER TABLE customers ADD COLUMN middle_name VARCHAR(2000)"
    );
    // The table shows where it comes from: its topic's levels and the envelope's source.
    let (_, db2) = get_json(&format!("{b}/api/tables/mydatabase.myschema.customers"));
    assert_eq!(
        db2["topic_levels"],
        json!(["mydatabase", "MYSCHEMA", "CUSTOMERS"])
    );
    assert_eq!(db2["source"]["connector"], "db2");
    assert_eq!(db2["source"]["schema"], "MYSCHEMA");
    assert_eq!(db2["source"]["table"], "CUSTOMERS");
    let (_, pg) = get_json(&format!(
        "{b}/api/tables/postgresql_server.public.customers"
    ));
    assert_eq!(pg["topic"], "PostgreSQL_server.public.customers");
    let events = pg["events"].as_array().unwrap();
    assert_eq!(events.len(), 1, "{pg:#}");
    assert_eq!(events[0]["event"], "truncate");
    assert_eq!(events[0]["rows_removed"], 1);
    server.stop().await;
}

/// Every Debezium logical type in one schema-enabled envelope, as the connectors declare them
/// ("Data type mappings" in each connector's page; Kafka Connect's own logical types).
fn all_types_event(id: i64, vsd: (u8, &str)) -> Value {
    let f = |ty: &str, name: Option<&str>, field: &str, params: Option<Value>| {
        let mut v = json!({"type": ty, "optional": true, "field": field});
        if let Some(n) = name {
            v["name"] = json!(n);
        }
        if let Some(p) = params {
            v["parameters"] = p;
        }
        v
    };
    let fields = vec![
        f("int32", None, "id", None),
        f(
            "bytes",
            Some("org.apache.kafka.connect.data.Decimal"),
            "dec38",
            Some(json!({"scale": "10", "connect.decimal.precision": "38"})),
        ),
        f(
            "bytes",
            Some("org.apache.kafka.connect.data.Decimal"),
            "dec24",
            Some(json!({"scale": "2", "connect.decimal.precision": "24"})),
        ),
        json!({"type": "struct", "optional": true, "name": "io.debezium.data.VariableScaleDecimal", "field": "vsd",
            "fields": [{"type": "int32", "optional": false, "field": "scale"}, {"type": "bytes", "optional": false, "field": "value"}]}),
        f("int32", Some("io.debezium.time.Time"), "t_ms", None),
        f("int64", Some("io.debezium.time.MicroTime"), "t_us", None),
        f("int64", Some("io.debezium.time.NanoTime"), "t_ns", None),
        f(
            "string",
            Some("io.debezium.time.ZonedTime"),
            "t_zoned",
            None,
        ),
        f("int32", Some("io.debezium.time.Date"), "d", None),
        f("int64", Some("io.debezium.time.Timestamp"), "ts_ms", None),
        f(
            "int64",
            Some("io.debezium.time.MicroTimestamp"),
            "ts_us",
            None,
        ),
        f(
            "int64",
            Some("io.debezium.time.NanoTimestamp"),
            "ts_ns",
            None,
        ),
        f(
            "string",
            Some("io.debezium.time.ZonedTimestamp"),
            "ts_zoned",
            None,
        ),
        f("string", Some("io.debezium.data.Json"), "doc", None),
        f("string", Some("io.debezium.data.Uuid"), "uid", None),
        f(
            "string",
            Some("io.debezium.data.Enum"),
            "mood",
            Some(json!({"allowed": "happy,sad"})),
        ),
        f(
            "string",
            Some("io.debezium.data.EnumSet"),
            "moods",
            Some(json!({"allowed": "happy,sad"})),
        ),
        f(
            "bytes",
            Some("io.debezium.data.Bits"),
            "flags",
            Some(json!({"length": "8"})),
        ),
        json!({"type": "struct", "optional": true, "name": "io.debezium.data.geometry.Point", "field": "place",
            "fields": [{"type": "double", "field": "x"}, {"type": "double", "field": "y"}, {"type": "bytes", "optional": true, "field": "wkb"}, {"type": "int32", "optional": true, "field": "srid"}]}),
        f("int32", Some("io.debezium.time.Year"), "yr", None),
    ];
    let after = json!({
        "id": id,
        "dec38": streamq::ingest::fields::encode_decimal_bytes(12345678901234567890123456789),
        "dec24": streamq::ingest::fields::encode_decimal_bytes(1234567890123456789012),
        "vsd": {"scale": vsd.0, "value": vsd.1},
        "t_ms": 3723004,
        "t_us": 3723004005i64,
        "t_ns": 3723004005006i64,
        "t_zoned": "10:15:30.5+01:00",
        "d": 16064,
        "ts_ms": 1772409600123i64,
        "ts_us": 1772409600123456i64,
        "ts_ns": 1772409600123456789i64,
        "ts_zoned": "2026-03-02T10:00:00.5+02:00",
        "doc": "{\"a\": [1, 2]}",
        "uid": "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
        "mood": "happy",
        "moods": "happy,sad",
        "flags": "AQ==",
        "place": {"x": 1.5, "y": -2.25, "wkb": null, "srid": 4326},
        "yr": 2024,
    });
    json!({
        "schema": {"type": "struct", "optional": false, "name": "typesdb.public.all_types.Envelope", "fields": [
            {"type": "struct", "optional": true, "name": "typesdb.public.all_types.Value", "field": "before", "fields": fields.clone()},
            {"type": "struct", "optional": true, "name": "typesdb.public.all_types.Value", "field": "after", "fields": fields},
            {"type": "string", "optional": false, "field": "op"},
            {"type": "int64", "optional": true, "field": "ts_ms"}]},
        "payload": {"before": null, "after": after, "op": "c", "ts_ms": 1772409600000i64}
    })
}

/// What SQL gives for the round-trip table: each column's type and row 1's values.
fn types_and_values(base: &str) -> (Vec<(String, String)>, Value) {
    let (status, body) = post_sql(
        base,
        "SELECT * EXCLUDE (_op, _ts, _partition, _offset) FROM typesdb.public.all_types ORDER BY id",
    );
    assert_eq!(status, 200, "{body}");
    let types = body["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap().to_string(),
                c["type"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    (types, body["rows"].clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_logical_type_round_trips_through_sled_and_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("types.jsonl");
    let topic = "typesdb.public.all_types";
    // A VariableScaleDecimal's scale is per value: 123.4 (scale 1), then 0.005 (scale 3).
    let one = streamq::ingest::fields::encode_decimal_bytes(1234);
    let five = streamq::ingest::fields::encode_decimal_bytes(5);
    write_log(
        &path,
        &[
            (
                topic,
                Some(json!({"id": 1})),
                Some(all_types_event(1, (1, &one))),
            ),
            (
                topic,
                Some(json!({"id": 2})),
                Some(all_types_event(2, (3, &five))),
            ),
        ],
    );
    let data = dir.path().join("data");
    let (base, node, shutdown) = run_on(dir.path(), &data, &path).await;
    let (_, q) = get_json(&format!("{base}/api/quarantine"));
    assert_eq!(q["count"], 0, "{q:#}");
    let (types, values) = types_and_values(&base);
    let want_types: Vec<(String, String)> = [
        ("id", "INT"),
        ("dec38", "DECIMAL(38,10)"),
        ("dec24", "DECIMAL(38,2)"),
        ("vsd", "DECIMAL(38,3)"),
        ("t_ms", "TIME"),
        ("t_us", "TIME"),
        ("t_ns", "TIME"),
        ("t_zoned", "TIME"),
        ("d", "DATE"),
        ("ts_ms", "TIMESTAMP"),
        ("ts_us", "TIMESTAMP"),
        ("ts_ns", "TIMESTAMP"),
        ("ts_zoned", "TIMESTAMP"),
        ("doc", "VARCHAR"),
        ("uid", "VARCHAR"),
        ("mood", "VARCHAR"),
        ("moods", "VARCHAR"),
        ("flags", "VARCHAR"),
        ("place", "VARCHAR"),
        ("yr", "INT"),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    assert_eq!(types, want_types);
    let row1 = json!([
        1,
        "1234567890123456789.0123456789",
        "12345678901234567890.12",
        123.4,
        "01:02:03.004",
        "01:02:03.004005",
        "01:02:03.004005006",
        "09:15:30.5",
        "2013-12-25",
        "2026-03-02T00:00:00.123Z",
        "2026-03-02T00:00:00.123456Z",
        "2026-03-02T00:00:00.123456789Z",
        "2026-03-02T08:00:00.500Z",
        "{\"a\": [1, 2]}",
        "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
        "happy",
        "happy,sad",
        "AQ==",
        "{\"x\":1.5,\"y\":-2.25,\"wkb\":null,\"srid\":4326}",
        2024
    ]);
    assert_eq!(values[0], row1);
    assert_eq!(values[1][3], json!(0.005), "the second scale: {values}");
    // Exact arithmetic: no double in between.
    let (status, sum) = post_sql(
        &base,
        "SELECT sum(dec38) + CAST('0.0000000001' AS DECIMAL(38,10)) AS s FROM typesdb.public.all_types",
    );
    assert_eq!(status, 200, "{sum}");
    assert_eq!(sum["rows"][0][0], json!("2469135780246913578.0246913579"));
    shutdown.cancel();
    node.stop().await;
    drop(node);

    // A restart reads the same from sled (an empty source: nothing is re-read).
    let empty = dir.path().join("empty.jsonl");
    std::fs::write(&empty, "").unwrap();
    let (base, node, shutdown) = run_on(dir.path(), &data, &empty).await;
    let (types2, values2) = types_and_values(&base);
    assert_eq!(types2, want_types, "types after the restart");
    assert_eq!(values2, values, "values after the restart");
    // Each column's logical type is shown, also after the restart.
    let (_, t) = get_json(&format!("{base}/api/tables/typesdb.public.all_types"));
    let logical = |c: &str| {
        t["columns"]
            .as_array()
            .unwrap()
            .iter()
            .find(|col| col["name"] == c)
            .unwrap_or_else(|| panic!("{c} in {t:#}"))["logical"]
            .clone()
    };
    assert_eq!(logical("t_ns"), "io.debezium.time.NanoTime");
    assert_eq!(logical("vsd"), "io.debezium.data.VariableScaleDecimal");
    assert_eq!(logical("place"), "io.debezium.data.geometry.Point");
    assert_eq!(logical("dec38"), "org.apache.kafka.connect.data.Decimal");
    assert_eq!(logical("id"), Value::Null);
    shutdown.cancel();
    node.stop().await;
}

/// A node on `data` replaying `file` to its end, served.
async fn run_on(
    dir: &Path,
    data: &Path,
    file: &Path,
) -> (String, streamq::Node, CancellationToken) {
    let mut cfg = test_config(dir);
    cfg.data_dir = data.to_path_buf();
    cfg.source.kind = SourceKind::Replay;
    cfg.source.file = Some(file.to_path_buf());
    // The store of a node just stopped is released once its last task has let go of it.
    let mut tries = 0;
    let (running, shutdown) = loop {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let shutdown = CancellationToken::new();
        match streamq::server::run(cfg.clone(), false, listener, shutdown.clone()).await {
            Ok(r) => break (r, shutdown),
            Err(e) if tries < 100 && e.to_string().contains("could not acquire lock") => {
                tries += 1;
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            Err(e) => panic!("{e}"),
        }
    };
    let base = common::base_of(running.addr);
    running.ingest.await.unwrap();
    (base, running.node, shutdown)
}
