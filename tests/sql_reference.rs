//! The reference questions' gold SQL, scored by the shared evaluation script against a real
//! server that replayed each reference file; and the row counts against an independent oracle
//! (the file's duplicate delivery must change nothing).

mod common;

use common::{TestServer, oracle_row_counts, post_sql, run_eval, shared};

async fn gold_sql_all_pass(file: &str) {
    let path = shared(file);
    let server = TestServer::replayed(&path, |_| {}).await;
    let (base, dir) = (server.base.clone(), server.dir.path().to_path_buf());
    let run = tokio::task::spawn_blocking(move || run_eval("sql_eval.py", &base, &dir))
        .await
        .unwrap();
    let (last, failed) = (run.last, run.failures);
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
