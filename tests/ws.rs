//! The WebSocket protocol against a real server fed by the demo source: origin checks, error
//! frames, continuous queries (SQL and plain English) pushed only when their result changes,
//! unsubscribing, and a client that stops reading being cut without slowing ingestion.

mod common;

use std::time::{Duration, Instant};

use common::ws::Client;
use common::*;
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use streamq::Node;
use streamq::config::{Rate, SourceKind};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_util::sync::CancellationToken;

async fn demo_server(
    rate: Rate,
    limit: u64,
    tweak: impl FnOnce(&mut streamq::Config),
) -> TestServer {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = test_config(dir.path());
    cfg.source.kind = SourceKind::Demo;
    cfg.source.demo.rate = rate;
    cfg.source.demo.limit = Some(limit);
    tweak(&mut cfg);
    let node = Node::start(cfg, false).await.unwrap();
    TestServer::serve(node, dir).await
}

fn ws_url(base: &str) -> String {
    format!("{}/ws", common::ws_base(base))
}

async fn wait_table(base: &str, table: &str) {
    let start = Instant::now();
    loop {
        let (code, _) = get_json(&format!("{base}/api/tables/{table}"));
        if code == 200 {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "{table} never appeared"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn origins_errors_and_continuous_queries() {
    let server = demo_server(Rate::PerSecond(1500.0), 4500, |_| {}).await;
    let base = server.base.clone();
    let host = common::authority(&base);

    // A page from elsewhere may not open the socket; this server's own pages may.
    let mut req = ws_url(&base).into_client_request().unwrap();
    req.headers_mut()
        .insert("origin", "http://evil.example".parse().unwrap());
    match common::ws_connect(req).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => assert_eq!(r.status(), 403),
        other => panic!("a foreign origin was let in: {:?}", other.map(|_| ())),
    }
    let mut req = ws_url(&base).into_client_request().unwrap();
    req.headers_mut()
        .insert("origin", format!("http://{host}").parse().unwrap());
    common::ws_connect(req)
        .await
        .expect("the server's own origin is allowed");

    // Errors come back as {code, message} frames; the connection stays usable.
    let mut c = Client::connect(&base).await;
    c.tx.send(Message::Text("not json".into())).await.unwrap();
    c.send(json!({"subscribe": "everything"})).await;
    c.send(json!({"unsubscribe": "nope"})).await;
    c.send(json!({"subscribe": "tail"})).await;
    c.wait_for("error", 4).await;
    let codes: Vec<String> = c
        .of_type("error")
        .iter()
        .map(|e| e["code"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        codes,
        ["bad_request", "bad_request", "not_found", "bad_request"]
    );
    assert!(
        c.of_type("error")
            .iter()
            .all(|e| e["message"].as_str().is_some_and(|m| !m.is_empty()))
    );

    let ingest = server.node.start_source(CancellationToken::new());
    wait_table(&base, "db2.transactions").await;
    c.send(
        json!({"subscribe": "tail", "table": "db2.transactions", "filter": "no_such_column > 1"}),
    )
    .await;
    c.wait_for("error", 5).await;
    assert_eq!(c.of_type("error")[4]["code"], "invalid_query");

    let every_ms = 200;
    let subscribed = Instant::now();
    c.send(json!({"subscribe": "query", "id": "q", "sql": "SELECT count(*) AS n FROM db2.transactions", "every_ms": every_ms}))
        .await;
    c.send(
        json!({"subscribe": "query", "id": "qq", "question": "how many db2 transactions are there"}),
    )
    .await;
    ingest.await.unwrap();
    // Past the end of the data the result stops changing: wait for the push of the final one.
    let (_, now) = post_sql(&base, "SELECT count(*) AS n FROM db2.transactions");
    let last_q = |c: &Client| {
        c.of_type("result")
            .into_iter()
            .rfind(|r| r["sub"] == "q")
            .and_then(|r| r["rows"][0][0].as_i64())
    };
    let waited = Instant::now();
    while last_q(&c) != now["rows"][0][0].as_i64() {
        assert!(
            waited.elapsed() < Duration::from_secs(30),
            "no push of the final count"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let results: Vec<Value> = c
        .of_type("result")
        .into_iter()
        .filter(|r| r["sub"] == "q")
        .collect();
    let elapsed_ms = subscribed.elapsed().as_millis() as usize;
    let counts: Vec<i64> = results
        .iter()
        .map(|r| r["rows"][0][0].as_i64().unwrap())
        .collect();
    assert!(
        counts.len() >= 2,
        "the query was re-run as data arrived: {counts:?}"
    );
    assert!(
        counts.windows(2).all(|w| w[1] > w[0]),
        "pushed only when the result changed: {counts:?}"
    );
    assert!(
        counts.len() <= elapsed_ms / every_ms + 2,
        "re-run at most every {every_ms} ms: {} results in {elapsed_ms} ms",
        counts.len()
    );
    let (_, now) = post_sql(&base, "SELECT count(*) AS n FROM db2.transactions");
    assert_eq!(
        counts.last().copied(),
        now["rows"][0][0].as_i64(),
        "the last push is the current answer"
    );

    // The question is parsed by the model first (its catalog snapshot is built on first use),
    // which on a loaded machine can take longer than the data took: wait for its answer.
    let asked_since = Instant::now();
    let asked: Vec<Value> = loop {
        let asked: Vec<Value> = c
            .of_type("result")
            .into_iter()
            .filter(|r| r["sub"] == "qq")
            .collect();
        if !asked.is_empty() || asked_since.elapsed() > Duration::from_secs(60) {
            break asked;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(!asked.is_empty(), "{:?}", c.of_type("error"));
    assert!(
        asked[0]["sql"]
            .as_str()
            .unwrap()
            .contains("db2.transactions"),
        "{}",
        asked[0]
    );

    let before = c.of_type("result").len();
    c.send(json!({"unsubscribe": "q"})).await;
    c.wait_for("unsubscribed", 1).await;
    assert_eq!(c.of_type("unsubscribed")[0]["sub"], "q");
    assert_eq!(c.of_type("result").len(), before);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_client_that_stops_reading_is_cut_and_ingestion_goes_on() {
    let deadline_ms = 2000;
    // A stream long enough to fill the socket's buffers many times over.
    let server = demo_server(Rate::Max, 50_000_000, |c| {
        c.ws.queue_frames = 32;
        c.ws.slow_deadline_ms = deadline_ms;
    })
    .await;
    let base = server.base.clone();
    let (mut ws, _) = common::ws_connect(ws_url(&base)).await.unwrap();
    ws.send(Message::Text(
        json!({"subscribe": "tail", "table": "db2.transactions"})
            .to_string()
            .into(),
    ))
    .await
    .unwrap();
    // From here on the client never reads.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let subscribed = Instant::now();
    let stop = CancellationToken::new();
    let ingest = server.node.start_source(stop.clone());
    let read = |base: &str| {
        get_json(&format!("{base}/api/sources")).1["records_read"]
            .as_u64()
            .unwrap_or(0)
    };

    let metric = |m: &str, name: &str| -> f64 {
        m.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.rsplit(' ').next()?.parse().ok())
            .unwrap_or(0.0)
    };
    let cut_after = loop {
        let m = server.metrics();
        if metric(&m, "streamq_ws_disconnects_total{reason=\"slow_consumer\"}") >= 1.0 {
            break subscribed.elapsed();
        }
        assert!(
            subscribed.elapsed() < Duration::from_secs(120),
            "never cut:\n{m}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(
        cut_after >= Duration::from_millis(deadline_ms),
        "cut before its queue was full for the deadline ({cut_after:?})"
    );
    // Ingestion went on while the client was stuck, and goes on after it is gone.
    let at_cut = read(&base);
    assert!(at_cut > 0);
    let start = Instant::now();
    while read(&base) <= at_cut {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "ingestion stopped"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.cancel();
    ingest.await.unwrap();
    // The server closes its side (after at most a second trying to send the close frame).
    let start = Instant::now();
    while metric(&server.metrics(), "streamq_ws_connections") != 0.0 {
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "the server never closed it"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // What the client finds when it reads again: frames, then the end of the connection (with
    // the close reason if it got through the full socket).
    let mut close_reason = None;
    let end = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(msg) = ws.next().await {
            match msg {
                Ok(Message::Close(Some(f))) => close_reason = Some(f.reason.to_string()),
                Ok(_) => {}
                Err(_) => break,
            }
        }
    })
    .await;
    assert!(end.is_ok(), "the connection never ended");
    if let Some(r) = close_reason {
        assert!(r.starts_with("slow consumer"), "{r}");
    }
    eprintln!("cut after {cut_after:?}, {at_cut} records read by then");
    server.stop().await;
}

/// A receiver that fails its first `fail` requests with 500, then accepts; it keeps the bodies.
async fn webhook_receiver(fail: usize) -> (String, std::sync::Arc<std::sync::Mutex<Vec<Value>>>) {
    use axum::routing::post;
    let got = std::sync::Arc::new(std::sync::Mutex::new(Vec::<Value>::new()));
    let calls = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let (g, n) = (got.clone(), calls.clone());
    let app = axum::Router::new().route(
        "/hook",
        post(move |axum::Json(v): axum::Json<Value>| {
            let (g, n) = (g.clone(), n.clone());
            async move {
                if n.fetch_add(1, std::sync::atomic::Ordering::SeqCst) < fail {
                    return axum::http::StatusCode::INTERNAL_SERVER_ERROR;
                }
                g.lock().unwrap().push(v);
                axum::http::StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, got)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn webhooks_are_retried_and_failures_are_visible() {
    let (url, got) = webhook_receiver(2).await;
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = test_config(dir.path());
    cfg.source.kind = SourceKind::Replay;
    cfg.source.file = Some(shared("data/dev-events.jsonl.gz"));
    cfg.live.webhook_attempts = 3;
    cfg.live.webhook_backoff_ms = 50;
    // The receivers are on loopback, which webhooks may reach only when listed.
    cfg.live.webhook_allow = vec!["127.0.0.1".into()];
    let node = Node::start(cfg, false).await.unwrap();
    let server = TestServer::serve(node.clone(), dir).await;
    let base = server.base.clone();
    let rule = |hook: &str| {
        json!({"table": "db2.orders", "measure": {"agg": "count"}, "window_ms": 60_000,
               "condition": {"op": ">", "value": 0.0}, "webhook": hook})
    };
    let post = |body: Value| match common::agent()
        .post(&format!("{base}/api/alerts"))
        .send_json(body)
    {
        Ok(r) => (r.status(), r.into_json::<Value>().unwrap()),
        Err(ureq::Error::Status(c, r)) => (c, r.into_json::<Value>().unwrap()),
        Err(e) => panic!("{e}"),
    };
    let (code, ok_rule) = post(rule(&url));
    assert_eq!(code, 201, "{ok_rule}");
    // Nothing listens on port 9 of loopback: every attempt fails.
    let (code, bad_rule) = post(rule("http://127.0.0.1:9/hook"));
    assert_eq!(code, 201, "{bad_rule}");
    // Internal addresses not listed are refused as the rule is made, never called.
    for hook in [
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]:22/",
        "http://10.0.0.1/hook",
        "file:///etc/passwd",
    ] {
        let (code, err) = post(rule(hook));
        assert_eq!(code, 400, "{hook}: {err}");
        assert_eq!(err["code"], "invalid_rule", "{err}");
        let why = if hook.starts_with("http") {
            "refused by policy"
        } else {
            "only http and https"
        };
        assert!(err.to_string().contains(why), "{hook}: {err}");
    }
    let (code, err) = post(
        json!({"table": "db2.orders", "measure": {"agg": "share"}, "condition": {"op": ">", "value": 1.0}}),
    );
    assert_eq!(
        (code, err["code"].as_str()),
        (400, Some("invalid_rule")),
        "{err}"
    );
    let (code, err) = post(json!({"text": "alert me about things"}));
    assert_eq!(
        (code, err["code"].as_str()),
        (400, Some("invalid_rule")),
        "{err}"
    );

    node.start_source(CancellationToken::new()).await.unwrap();
    let start = Instant::now();
    let (ok_id, bad_id) = (
        ok_rule["id"].as_str().unwrap(),
        bad_rule["id"].as_str().unwrap(),
    );
    loop {
        let (_, ok) = get_json(&format!("{base}/api/alerts/{ok_id}"));
        let (_, bad) = get_json(&format!("{base}/api/alerts/{bad_id}"));
        let delivered = ok["webhook_status"]["delivered"].as_u64().unwrap_or(0);
        let failed = bad["webhook_status"]["failed"].as_u64().unwrap_or(0);
        if delivered >= 1 && failed >= 1 {
            // The receiver refused its first two requests: the first event's attempts 1
            // and 2 (a rule's events go one at a time, so no later event took them).
            assert_eq!(ok["webhook_status"]["failed_attempts"], 2, "{ok}");
            assert!(
                bad["webhook_status"]["last_error"].as_str().is_some(),
                "{bad}"
            );
            // Three attempts per given-up event, plus at most two of the one in flight.
            let attempts = bad["webhook_status"]["failed_attempts"].as_u64().unwrap();
            assert!((3 * failed..3 * failed + 3).contains(&attempts), "{bad}");
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(60), "{ok}\n{bad}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (_, events) = get_json(&format!("{base}/api/alerts/{ok_id}/events"));
    let first = &events["events"][0];
    assert_eq!(first["state"], "firing", "{events:#}");
    // Delivered in the order they happened: firing first, sequence numbers rising.
    let bodies = got.lock().unwrap().clone();
    assert_eq!(bodies[0]["rule_id"], ok_id);
    assert_eq!(bodies[0]["state"], "firing");
    assert_eq!(bodies[0]["seq"], first["seq"]);
    let seqs: Vec<u64> = bodies.iter().map(|b| b["seq"].as_u64().unwrap()).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
    // Rules survive a restart; deleting one removes it and its events.
    let (code, _) = get_json(&format!("{base}/api/alerts"));
    assert_eq!(code, 200);
    let del = common::agent()
        .delete(&format!("{base}/api/alerts/{bad_id}"))
        .call()
        .unwrap();
    assert_eq!(del.status(), 204);
    let (code, _) = get_json(&format!("{base}/api/alerts/{bad_id}"));
    assert_eq!(code, 404);
    server.stop().await;
}
