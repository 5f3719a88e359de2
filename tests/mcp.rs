//! The MCP server, driven by the official MCP Python SDK client (`tests/mcp/client.py`): every
//! tool over streamable HTTP (`/mcp`) and over stdio (`streamq mcp`, which calls the server's
//! REST API), on replayed dev data, with results checked against the shared comparator and the
//! data file itself.

mod common;

use std::process::Command;

use common::{TestServer, shared};

/// Runs the Python client; returns its report (and fails with the failed checks listed).
fn run_client(args: &[String]) -> serde_json::Value {
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/mcp/client.py");
    let out = Command::new("python3")
        .arg(&script)
        .args(args)
        .output()
        .expect("python3 runs the MCP client");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let report: serde_json::Value = stdout
        .lines()
        .last()
        .and_then(|l| serde_json::from_str(l).ok())
        .unwrap_or_else(|| {
            panic!(
                "the client printed no report ({}):\n{stdout}\n{}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            )
        });
    let failed: Vec<&serde_json::Value> = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["ok"] == false)
        .collect();
    assert!(
        failed.is_empty(),
        "{} MCP checks failed:\n{}",
        failed.len(),
        failed
            .iter()
            .map(|c| format!("- {}: {}", c["check"], c["detail"]))
            .collect::<Vec<_>>()
            .join("\n")
    );
    report
}

fn checked(report: &serde_json::Value) -> usize {
    report["checks"].as_array().unwrap().len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_tool_over_streamable_http_read_only() {
    let server = TestServer::replayed(&shared("data/dev-events.jsonl.gz"), |_| {}).await;
    let url = format!("{}/mcp", server.base);
    let report = tokio::task::spawn_blocking(move || run_client(&["--http".to_string(), url]))
        .await
        .unwrap();
    assert!(checked(&report) >= 40, "{report}");
    // Every call was counted (and logged): the refused write too.
    let metrics = server.metrics();
    assert!(
        metrics.contains(r#"streamq_mcp_calls_total{outcome="refused",tool="create_alert"} 1"#),
        "{}",
        metrics
            .lines()
            .filter(|l| l.contains("mcp"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert!(metrics.contains(r#"streamq_mcp_calls_total{outcome="ok",tool="run_sql"}"#));

    // A browser page from another origin may not call /mcp.
    let r = ureq::post(&format!("{}/mcp", server.base))
        .set("Origin", "http://evil.example")
        .set("Content-Type", "application/json")
        .set("Accept", "application/json, text/event-stream")
        .send_string(r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#);
    match r {
        Err(ureq::Error::Status(code, _)) => assert_eq!(code, 403),
        other => panic!("a foreign Origin was let through: {other:?}"),
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_tool_over_stdio_with_writes_and_search() {
    let server = TestServer::replayed(&shared("data/dev-events.jsonl.gz"), |c| {
        c.text.enabled = true;
    })
    .await;
    let args = vec![
        "--stdio".to_string(),
        env!("CARGO_BIN_EXE_streamq").to_string(),
        "--server".into(),
        server.base.clone(),
        "--writes".into(),
        "--search".into(),
        "--gold".into(),
        "10".into(),
    ];
    let report = tokio::task::spawn_blocking(move || run_client(&args))
        .await
        .unwrap();
    assert!(checked(&report) >= 40, "{report}");
    // The stdio process called this server's REST API: the rule it created and deleted is gone.
    let (status, body) = common::get_json(&format!("{}/api/alerts", server.base));
    assert_eq!(status, 200);
    assert_eq!(body["rules"].as_array().unwrap().len(), 0, "{body}");
    server.stop().await;
}
