//! Bad input: every bad record is quarantined with its position and reason, every good one is
//! applied, and the process keeps running — including when a gzip file ends mid-stream.

mod common;

use std::io::Write;

use common::{TestServer, get_json, oracle_row_counts, post_sql};
use streamq::config::DemoFormat;

fn kcat(
    topic: &str,
    partition: i32,
    offset: i64,
    key: Option<&str>,
    payload: Option<&str>,
) -> String {
    serde_json::json!({"topic": topic, "partition": partition, "offset": offset, "tstype": "create",
        "ts": 1772438400000i64, "broker": 1, "headers": null, "key": key, "payload": payload})
    .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_bad_record_is_quarantined_and_every_good_one_applied() {
    let dir = tempfile::tempdir().unwrap();
    let mut good = Vec::new();
    streamq::ingest::demo::write_kcat_lines(3, 4000, DemoFormat::Json, &mut good).unwrap();
    let good = String::from_utf8(good).unwrap();
    let path = dir.path().join("mixed.jsonl");
    let mut f = std::fs::File::create(&path).unwrap();
    // A new topic of its own holds the bad records, so offsets never collide with good ones.
    let t = "erp.invoices";
    let bad_records = [
        (0, Some(r#"{"ID":1}"#), Some("{\"before\":null,\"after\":")), // invalid (truncated) JSON
        (1, Some(r#"{"ID":2}"#), Some(r#"{"greeting":"hello"}"#)),     // not an envelope
        (
            2,
            Some(r#"{"ID":3}"#),
            Some(r#"{"before":null,"after":{"ID":3},"op":"x","ts_ms":1}"#),
        ), // unknown op
        (
            3,
            None,
            Some(r#"{"before":null,"after":null,"op":"d","ts_ms":1}"#),
        ), // a keyless delete with no row image to find its row by
        (
            4,
            Some(r#"{"ID":5}"#),
            Some(r#"{"before":null,"after":null,"op":"c","ts_ms":1}"#),
        ), // create without row
    ];
    for (i, line) in good.lines().enumerate() {
        writeln!(f, "{line}").unwrap();
        if i % 1000 == 500 {
            writeln!(f, "not json at all {i}").unwrap();
        }
    }
    for (offset, key, payload) in bad_records {
        writeln!(f, "{}", kcat(t, 0, offset, key, payload)).unwrap();
    }
    writeln!(
        f,
        "{}",
        kcat(
            t,
            0,
            5,
            Some(r#"{"ID":6}"#),
            Some(r#"{"before":null,"after":{"ID":6,"TOTAL":9.5},"op":"c","ts_ms":1}"#)
        )
    )
    .unwrap();
    drop(f);

    let server = TestServer::replayed(&path, |_| {}).await;
    let (_, q) = get_json(&format!("{}/api/quarantine", server.base));
    let entries = q["entries"].as_array().unwrap();
    let source_faults: Vec<_> = entries.iter().filter(|e| e["topic"].is_null()).collect();
    assert_eq!(source_faults.len(), 4, "{q:#}");
    assert!(source_faults.iter().all(|e| {
        e["position"]
            .as_str()
            .unwrap()
            .starts_with(&path.display().to_string())
            && e["reason"]
                .as_str()
                .unwrap()
                .contains("not a kcat JSON record")
    }));
    let mut record_faults: Vec<(i64, String)> = entries
        .iter()
        .filter(|e| e["topic"] == t)
        .map(|e| {
            (
                e["offset"].as_i64().unwrap(),
                e["reason"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    record_faults.sort();
    let reasons: Vec<&str> = record_faults.iter().map(|(_, r)| r.as_str()).collect();
    assert_eq!(
        record_faults.iter().map(|(o, _)| *o).collect::<Vec<_>>(),
        vec![0, 1, 2, 3, 4],
        "{reasons:?}"
    );
    assert!(
        reasons[0].starts_with("value is not valid JSON"),
        "{reasons:?}"
    );
    assert!(
        reasons[1].starts_with("value is not a Debezium envelope"),
        "{reasons:?}"
    );
    assert_eq!(reasons[2], r#"unknown op "x""#);
    assert_eq!(
        reasons[3],
        r#"op "d" on a table without a key has no 'before' row to find the row by"#
    );
    assert_eq!(reasons[4], r#"op "c" has no 'after' row"#);
    assert!(
        entries
            .iter()
            .all(|e| !e["raw"].as_str().unwrap().is_empty()),
        "raw bytes are kept"
    );

    // Every good record applied: the demo's tables match the oracle, and the one good record
    // of the new topic is there.
    for (table, n) in oracle_row_counts(&path) {
        let (status, body) = post_sql(&server.base, &format!("SELECT count(*) FROM {table}"));
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["rows"][0][0].as_u64(), Some(n as u64), "{table}");
    }
    let (_, row) = post_sql(&server.base, "SELECT id, total FROM erp.invoices");
    assert_eq!(row["rows"], serde_json::json!([[6, 9.5]]));
    let (status, _) = get_json(&format!("{}/readyz", server.base));
    assert_eq!(status, 200);
    let metrics = server.metrics();
    assert!(
        metrics.contains(r#"streamq_quarantined_total{topic="erp.invoices"} 5"#),
        "{metrics}"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_truncated_gzip_keeps_what_was_readable_and_records_where_it_broke() {
    let dir = tempfile::tempdir().unwrap();
    let mut lines = Vec::new();
    streamq::ingest::demo::write_kcat_lines(5, 20_000, DemoFormat::Json, &mut lines).unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&lines).unwrap();
    let bytes = gz.finish().unwrap();
    let path = dir.path().join("cut.jsonl.gz");
    std::fs::write(&path, &bytes[..bytes.len() * 2 / 3]).unwrap();

    let server = TestServer::replayed(&path, |_| {}).await;
    let (_, q) = get_json(&format!("{}/api/quarantine", server.base));
    let entries = q["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 1, "{q:#}");
    assert!(
        entries[0]["reason"]
            .as_str()
            .unwrap()
            .starts_with("read error, input ends here"),
        "{q:#}"
    );
    // What could be read was applied, exactly as the oracle reads the same prefix.
    let expected = oracle_row_counts(&path);
    assert!(expected.values().sum::<usize>() > 1000);
    for (table, n) in expected {
        let (_, body) = post_sql(&server.base, &format!("SELECT count(*) FROM {table}"));
        assert_eq!(body["rows"][0][0].as_u64(), Some(n as u64), "{table}");
    }
    server.stop().await;
}
