//! The reference questions' gold SQL, scored by the shared evaluation script against a real
//! server that replayed each reference file; and the row counts against an independent oracle
//! (the file's duplicate delivery must change nothing).

mod common;

use std::process::Command;

use common::{TestServer, oracle_row_counts, post_sql, shared};

async fn gold_sql_all_pass(file: &str) {
    let path = shared(file);
    let server = TestServer::replayed(&path, |_| {}).await;
    let base = server.base.clone();
    let failures = server.dir.path().join("failures.jsonl");
    let out = tokio::task::spawn_blocking(move || {
        Command::new("python3")
            .arg(shared("bench/sql_eval.py"))
            .args(["--base", &base, "--questions"])
            .arg(shared("data/dev-questions.jsonl"))
            .arg("--failures")
            .arg(&failures)
            .output()
            .expect("python3 runs the shared evaluation script")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let last = stdout.lines().last().unwrap_or_default().to_string();
    let failed =
        std::fs::read_to_string(server.dir.path().join("failures.jsonl")).unwrap_or_default();
    assert!(
        last.contains("(60/60)"),
        "{file}: {last}\nfailures:\n{failed}"
    );

    let expected = oracle_row_counts(&path);
    for (table, n) in &expected {
        let (status, body) = post_sql(&server.base, &format!("SELECT count(*) FROM {table}"));
        assert_eq!(status, 200, "{body}");
        assert_eq!(
            body["rows"][0][0].as_u64(),
            Some(*n as u64),
            "{file}: rows in {table}"
        );
    }
    assert_eq!(expected.len(), 6);
    // Redelivered records were recognised by offset and skipped, not applied twice.
    let metrics = server.metrics();
    assert!(
        metrics.contains(
            r#"streamq_ingest_skipped_total{reason="duplicate",topic="db2.transactions"} 50"#
        ),
        "the 50 redelivered records are counted as duplicates:\n{}",
        metrics
            .lines()
            .filter(|l| l.contains("skipped"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemaless_reference_file_answers_every_gold_query() {
    gold_sql_all_pass("data/dev-events.jsonl.gz").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schema_enabled_reference_file_answers_every_gold_query() {
    gold_sql_all_pass("data/dev-events-schema.jsonl.gz").await;
}
