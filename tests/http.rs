//! The HTTP layer in-process (`Router::oneshot`): the error table, the row cap, the timeout,
//! tables, health and metrics, over a node fed by the demo generator.

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use tower::ServiceExt;

use common::test_config;
use streamq::Node;
use streamq::config::Rate;
use streamq::web::{AppState, router};
use tokio_util::sync::CancellationToken;

async fn app(tweak: impl FnOnce(&mut streamq::Config)) -> (axum::Router, Node, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = test_config(dir.path());
    cfg.source.demo.rate = Rate::Max;
    cfg.source.demo.limit = Some(5_000);
    tweak(&mut cfg);
    let node = Node::start(cfg, false).await.unwrap();
    node.start_source(CancellationToken::new()).await.unwrap();
    (router(AppState::new(node.clone(), None)), node, dir)
}

async fn call(
    app: &axum::Router,
    method: &str,
    uri: &str,
    body: Option<&str>,
) -> (StatusCode, serde_json::Value) {
    let req = Request::builder()
        .method(method)
        .uri(uri)
        .header("content-type", "application/json")
        .body(
            body.map(|b| Body::from(b.to_string()))
                .unwrap_or_else(Body::empty),
        )
        .unwrap();
    let resp = app.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    let json = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::String(
        String::from_utf8_lossy(&bytes).into(),
    ));
    (status, json)
}

fn sql(s: &str) -> String {
    serde_json::json!({ "sql": s }).to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_come_from_one_table_with_codes_and_statuses() {
    let (app, node, _dir) = app(|_| {}).await;
    let cases = [
        (
            Some("{\"nope\": 1}".to_string()),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            Some("not json".to_string()),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (Some(sql("SELEC 1")), StatusCode::BAD_REQUEST, "invalid_sql"),
        (
            Some(sql("SELECT 1; SELECT 2")),
            StatusCode::BAD_REQUEST,
            "invalid_sql",
        ),
        (
            Some(sql("DROP TABLE db2.orders")),
            StatusCode::FORBIDDEN,
            "read_only",
        ),
        (
            Some(sql("INSERT INTO db2.orders (order_id) VALUES ('x')")),
            StatusCode::FORBIDDEN,
            "read_only",
        ),
        (
            Some(sql("CREATE TABLE t AS SELECT 1")),
            StatusCode::FORBIDDEN,
            "read_only",
        ),
        (
            Some(sql("SET datafusion.execution.batch_size = 1")),
            StatusCode::FORBIDDEN,
            "read_only",
        ),
        (
            Some(sql("SELECT * FROM db2.nothing")),
            StatusCode::NOT_FOUND,
            "unknown_table",
        ),
        (
            Some(sql("SELECT no_such_column FROM db2.orders")),
            StatusCode::BAD_REQUEST,
            "invalid_query",
        ),
    ];
    for (body, status, code) in cases {
        let (s, j) = call(&app, "POST", "/api/sql", body.as_deref()).await;
        assert_eq!(
            (s, j["code"].as_str().unwrap_or("")),
            (status, code),
            "{body:?} → {j}"
        );
        assert!(!j["message"].as_str().unwrap().is_empty());
    }
    let (s, j) = call(&app, "GET", "/api/tables/db2.nothing", None).await;
    assert_eq!(
        (s, j["code"].as_str().unwrap()),
        (StatusCode::NOT_FOUND, "unknown_table")
    );
    let (s, j) = call(&app, "GET", "/no/such/path", None).await;
    assert_eq!(
        (s, j["code"].as_str().unwrap()),
        (StatusCode::NOT_FOUND, "not_found")
    );
    // Nothing was written by the refused statements.
    let (_, j) = call(
        &app,
        "POST",
        "/api/sql",
        Some(&sql("SELECT count(*) FROM db2.orders WHERE order_id = 'x'")),
    )
    .await;
    assert_eq!(j["rows"][0][0], 0);
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn results_are_capped_and_typed() {
    let (app, node, _dir) = app(|c| c.query.max_rows = 7).await;
    let (s, j) = call(
        &app,
        "POST",
        "/api/sql",
        Some(&sql(
            "SELECT txn_id, amount, created_at, _ts, _partition FROM db2.transactions",
        )),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{j}");
    assert_eq!(j["rows"].as_array().unwrap().len(), 7);
    assert_eq!(j["truncated"], true);
    let types: Vec<&str> = j["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        ["VARCHAR", "DOUBLE", "TIMESTAMP", "TIMESTAMP", "INT"]
    );
    let row = &j["rows"][0];
    assert!(row[1].is_f64());
    assert!(
        row[2].as_str().unwrap().ends_with('Z'),
        "timestamps are ISO-8601 UTC: {row}"
    );
    let (_, j) = call(
        &app,
        "POST",
        "/api/sql",
        Some(&sql("SELECT count(*) FROM db2.transactions")),
    )
    .await;
    assert_eq!(j["truncated"], false);
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_past_its_timeout_is_cancelled_with_a_code() {
    let (app, node, _dir) = app(|c| c.query.timeout_ms = 50).await;
    let heavy = "SELECT count(*) FROM db2.transactions a, db2.transactions b, hive.transactions c WHERE a.amount + b.amount > c.amount";
    let (s, j) = call(&app, "POST", "/api/sql", Some(&sql(heavy))).await;
    assert_eq!(
        (s, j["code"].as_str().unwrap()),
        (StatusCode::GATEWAY_TIMEOUT, "query_timeout"),
        "{j}"
    );
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tables_health_and_metrics_describe_the_live_state() {
    let (app, node, _dir) = app(|_| {}).await;
    let (s, j) = call(&app, "GET", "/api/tables", None).await;
    assert_eq!(s, StatusCode::OK);
    let names: Vec<&str> = j["tables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "db2.accounts",
            "db2.orders",
            "db2.transactions",
            "hive.customers",
            "hive.products",
            "hive.transactions"
        ]
    );
    let (_, t) = call(&app, "GET", "/api/tables/db2.transactions", None).await;
    assert_eq!(t["primary_key"], serde_json::json!(["txn_id"]));
    let created = t["columns"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "created_at")
        .unwrap();
    assert_eq!(
        (created["type"].as_str(), created["original"].as_str()),
        (Some("TIMESTAMP"), Some("CREATED_AT"))
    );
    let parts = t["partitions"].as_array().unwrap();
    assert_eq!(parts.len(), 3);
    let total: u64 = parts.iter().map(|p| p["rows"].as_u64().unwrap()).sum();
    assert_eq!(total, t["row_count"].as_u64().unwrap());
    assert!(
        parts
            .iter()
            .all(|p| p["applied_offset"].as_i64().unwrap() > 0)
    );
    let (s, _) = call(&app, "GET", "/healthz", None).await;
    assert_eq!(s, StatusCode::OK);
    let (s, r) = call(&app, "GET", "/readyz", None).await;
    assert_eq!(s, StatusCode::OK, "{r}");
    let (_, m) = call(&app, "GET", "/metrics", None).await;
    let m = m.as_str().unwrap();
    for name in [
        "streamq_ingest_events_total",
        "streamq_batch_apply_seconds_bucket",
        "streamq_query_seconds",
    ] {
        assert!(m.contains(name), "{name} missing");
    }
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_its_rates_and_rule_switches() {
    let (app, node, _dir) = app(|_| {}).await;

    // The page and its assets come from the binary and name no other host.
    let resp = app
        .clone()
        .oneshot(Request::get("/").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let csp = resp.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(csp.starts_with("default-src 'self'"), "{csp}");
    let page = resp.into_body().collect().await.unwrap().to_bytes();
    let page = String::from_utf8_lossy(&page).to_string();
    for asset in ["/assets/app.js", "/assets/app.css"] {
        assert!(page.contains(asset), "the page loads {asset}");
        let (s, body) = call(&app, "GET", asset, None).await;
        assert_eq!(s, StatusCode::OK, "{asset}");
        let body = body.as_str().unwrap().to_string();
        assert!(body.len() > 1000, "{asset}");
        for text in [&page, &body] {
            assert!(
                !text.contains("http://") && !text.contains("https://"),
                "{asset} names an absolute URL"
            );
        }
    }

    // Events/s and lag per partition, once two samples were taken.
    let parts = node.registry.all().len();
    let started = std::time::Instant::now();
    let rates = loop {
        let (s, r) = call(&app, "GET", "/api/sources/rates?seconds=60", None).await;
        assert_eq!(s, StatusCode::OK, "{r}");
        let ready = r["series"].as_array().unwrap();
        if ready.len() == parts
            && ready
                .iter()
                .all(|x| x["points"].as_array().unwrap().len() >= 2)
        {
            break r;
        }
        assert!(started.elapsed().as_secs() < 60, "{r}");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    for s in rates["series"].as_array().unwrap() {
        for p in s["points"].as_array().unwrap() {
            assert!(
                p[1].as_f64().unwrap() >= 0.0 && p[2].as_i64().unwrap() >= 0,
                "{p}"
            );
        }
    }
    let req = Request::get("/api/sources/chart?topic=db2.orders&metric=lag&width=400&height=200")
        .body(Body::empty())
        .unwrap();
    let resp = app.clone().oneshot(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["content-type"], "image/svg+xml");
    let svg = resp.into_body().collect().await.unwrap().to_bytes();
    let svg = String::from_utf8_lossy(&svg);
    assert!(svg.starts_with("<svg width=\"400\" height=\"200\""));
    assert!(svg.contains("db2.orders — lag (records)") && svg.lines().any(|l| l.trim() == "p2"));
    let (s, e) = call(
        &app,
        "GET",
        "/api/sources/chart?topic=db2.orders&metric=speed",
        None,
    )
    .await;
    assert_eq!(
        (s, e["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("bad_request"))
    );
    let (s, e) = call(&app, "GET", "/api/sources/chart?topic=nope", None).await;
    assert_eq!(
        (s, e["code"].as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, Some("not_available"))
    );

    // A rule switched off and on.
    let rule = r#"{"table": "db2.orders", "measure": {"agg": "count"}, "condition": {"op": ">", "value": 5}}"#;
    let (s, r) = call(&app, "POST", "/api/alerts", Some(rule)).await;
    assert_eq!(s, StatusCode::CREATED, "{r}");
    assert_eq!(r["enabled"], true);
    let id = r["id"].as_str().unwrap().to_string();
    let path = format!("/api/alerts/{id}");
    let (s, r) = call(&app, "PATCH", &path, Some(r#"{"enabled": false}"#)).await;
    assert_eq!(
        (s, &r["enabled"]),
        (StatusCode::OK, &serde_json::json!(false))
    );
    assert!(r["firing"].as_array().unwrap().is_empty());
    let (_, r) = call(&app, "GET", &path, None).await;
    assert_eq!(r["enabled"], false);
    let (s, r) = call(&app, "PATCH", &path, Some(r#"{"enabled": "no"}"#)).await;
    assert_eq!(
        (s, r["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("bad_request"))
    );
    let (s, _) = call(
        &app,
        "PATCH",
        &path,
        Some(r#"{"enabled": true, "name": "x"}"#),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, r) = call(&app, "PATCH", &path, Some(r#"{"enabled": true}"#)).await;
    assert_eq!(
        (s, &r["enabled"]),
        (StatusCode::OK, &serde_json::json!(true))
    );
    let (s, _) = call(
        &app,
        "PATCH",
        "/api/alerts/r999",
        Some(r#"{"enabled": true}"#),
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    node.stop().await;
}
