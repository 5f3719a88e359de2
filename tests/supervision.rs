//! Supervision: a partition actor that panics is restarted from its durable state and ends
//! correct; one that keeps panicking exhausts its budget and `/readyz` names it.

mod common;

use common::{TestServer, checksums, get_json, shared};

const FILE: &str = "data/dev-events.jsonl.gz";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_partition_restarts_and_its_state_is_correct() {
    let clean = TestServer::replayed(&shared(FILE), |_| {}).await;
    let expected = checksums(&clean.node);
    clean.stop().await;

    let faulty = TestServer::replayed(&shared(FILE), |c| {
        c.debug.fault_panic = Some("db2.transactions:1:5000:2".into());
    })
    .await;
    assert_eq!(checksums(&faulty.node), expected);
    let slot = faulty
        .node
        .registry
        .get(&streamq::ident::TopicPartition::new("db2.transactions", 1))
        .unwrap();
    assert_eq!(slot.restarts, 2, "two injected panics, two restarts");
    let (status, body) = get_json(&format!("{}/readyz", faulty.base));
    assert_eq!(status, 200, "{body}");
    let metrics = faulty.metrics();
    assert!(
        metrics.contains(
            r#"streamq_partition_restarts_total{partition="1",topic="db2.transactions"} 2"#
        )
    );
    faulty.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_the_restart_budget_the_partition_is_failed_and_not_ready() {
    let server = TestServer::replayed(&shared(FILE), |c| {
        c.debug.fault_panic = Some("db2.orders:2:100:0".into());
    })
    .await;
    let (status, body) = get_json(&format!("{}/readyz", server.base));
    assert_eq!(status, 503, "{body}");
    let failed = body["failed_partitions"].as_array().unwrap();
    assert_eq!(failed.len(), 1, "{body}");
    assert_eq!(failed[0]["topic"], "db2.orders");
    assert_eq!(failed[0]["partition"], 2);
    assert!(
        failed[0]["reason"]
            .as_str()
            .unwrap()
            .contains("injected fault"),
        "{body}"
    );
    // The failed partition kept what it had applied before the fault; the others are whole.
    let (_, t) = get_json(&format!("{}/api/tables/db2.orders", server.base));
    let p2 = t["partitions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["partition"] == 2)
        .unwrap()
        .clone();
    assert!(
        p2["applied_offset"].as_i64().unwrap_or(-1) < 100,
        "nothing at or past the fault: {p2}"
    );
    assert_eq!(p2["status"]["state"], "failed");
    let (_, tx) = common::post_sql(&server.base, "SELECT count(*) FROM db2.transactions");
    let expected = common::oracle_row_counts(&shared(FILE))["db2.transactions"];
    assert_eq!(tx["rows"][0][0].as_u64(), Some(expected as u64));
    server.stop().await;
}
