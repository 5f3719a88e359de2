//! Personal data is masked at every door, against a real server fed by the demo source: SQL,
//! plain-English answers, charts, continuous queries, WebSocket tails, search hits and
//! snippets, change-log reads, profiles, the table listing and MCP tools. A viewer and an
//! analyst without grants never see a real value of a personal-data column (checked against
//! the raw data an admin reads); an analyst granted a column sees it; joins and distinct counts
//! on a masked key give the same numbers as on the real one.

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use axum::http::Method;
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use streamq::auth::Role;
use streamq::auth::tokens::TokenStore;
use streamq::config::{Rate, SourceKind};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_util::sync::CancellationToken;

use common::access::{http, mcp_session};

struct Tokens {
    viewer: String,
    analyst: String,
    granted: String,
    admin: String,
}

/// The raw personal values: every email, customer name and customer id the tables hold.
fn raw_values(base: &str, admin: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for sql in [
        "SELECT email, name, customer_id FROM hive.customers",
        "SELECT DISTINCT customer_id FROM hive.transactions WHERE customer_id IS NOT NULL",
    ] {
        let (s, v) = http(
            &Method::POST,
            &format!("{base}/api/sql"),
            Some(admin),
            &[],
            Some(&json!({ "sql": sql })),
        );
        assert_eq!(s, 200, "{v}");
        for row in v["rows"].as_array().unwrap() {
            for cell in row.as_array().unwrap() {
                if let Some(t) = cell.as_str()
                    && t.len() >= 5
                {
                    out.insert(t.to_string());
                }
            }
        }
    }
    out
}

/// The raw values that appear in `text`.
fn leaks<'a>(text: &str, raw: &'a BTreeSet<String>) -> Vec<&'a str> {
    raw.iter()
        .filter(|r| text.contains(r.as_str()))
        .map(String::as_str)
        .take(3)
        .collect()
}

fn sql(base: &str, token: &str, q: &str) -> Value {
    let (s, v) = http(
        &Method::POST,
        &format!("{base}/api/sql"),
        Some(token),
        &[],
        Some(&json!({ "sql": q })),
    );
    assert_eq!(s, 200, "{q}: {v}");
    v
}

async fn start() -> (
    String,
    Tokens,
    CancellationToken,
    streamq::Node,
    tempfile::TempDir,
) {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = common::test_config(dir.path());
    cfg.source.kind = SourceKind::Demo;
    cfg.source.file = None;
    // Paced and unending, so tails see changes while the test runs.
    cfg.source.demo.rate = Rate::PerSecond(400.0);
    cfg.source.demo.limit = None;
    cfg.text.enabled = true;
    cfg.privacy
        .columns
        .insert("*.*.customer_id".into(), "personal".into());
    let store = TokenStore::in_data_dir(&cfg.data_dir);
    std::fs::create_dir_all(&cfg.data_dir).unwrap();
    let mk = |name: &str, role, grants: &[String]| store.create(name, role, grants).unwrap().0;
    let tokens = Tokens {
        viewer: mk("viewer", Role::Viewer, &[]),
        analyst: mk("analyst", Role::Analyst, &[]),
        granted: mk(
            "granted",
            Role::Analyst,
            &["hive.customers.email".into(), "personal".into()],
        ),
        admin: mk("admin", Role::Admin, &[]),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let shutdown = CancellationToken::new();
    let running = streamq::server::run(cfg, false, listener, shutdown.clone())
        .await
        .unwrap();
    let base = format!("http://{}", running.addr);
    // Enough customers and sales to mean something.
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let (_, v) = http(
            &Method::GET,
            &format!("{base}/api/tables"),
            Some(&tokens.admin),
            &[],
            None,
        );
        let rows = |n: &str| {
            v["tables"]
                .as_array()
                .and_then(|ts| ts.iter().find(|t| t["name"] == n))
                .and_then(|t| t["row_count"].as_u64())
                .unwrap_or(0)
        };
        if rows("hive.customers") >= 50 && rows("hive.transactions") >= 200 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the demo did not fill the tables"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    (base, tokens, shutdown, running.node, dir)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_masked_caller_sees_no_personal_value_at_any_door_and_a_granted_one_does() {
    let (base, t, shutdown, node, _dir) = start().await;
    let raw = raw_values(&base, &t.admin);
    let emails: Vec<String> = raw.iter().filter(|r| r.contains('@')).cloned().collect();
    assert!(emails.len() >= 20, "the demo's customers have emails");
    let one_email = emails[0].clone();
    let mut seen: Vec<(String, String)> = Vec::new();
    let mut check = |door: &str, body: &str| {
        let found = leaks(body, &raw);
        assert!(found.is_empty(), "{door} shows {found:?}: {body:.600}");
        seen.push((door.to_string(), body.to_string()));
    };

    // The table listing says which columns are personal and how each caller sees them.
    for (who, token, masked) in [("viewer", &t.viewer, true), ("admin", &t.admin, false)] {
        let (_, v) = http(
            &Method::GET,
            &format!("{base}/api/tables/hive.customers"),
            Some(token),
            &[],
            None,
        );
        let col = |n: &str| {
            v["columns"]
                .as_array()
                .unwrap()
                .iter()
                .find(|c| c["name"] == n)
                .cloned()
                .unwrap()
        };
        assert_eq!(col("email")["personal_data"]["class"], "email", "{v}");
        assert_eq!(col("email")["personal_data"]["by"], "name");
        assert_eq!(col("name")["personal_data"]["class"], "name");
        assert_eq!(col("customer_id")["personal_data"]["by"], "config");
        assert_eq!(col("email")["personal_data"]["masked"], masked, "{who}");
        assert!(col("segment")["personal_data"].is_null());
    }

    // SQL: masked values, text type, and `masked` says which.
    let q = "SELECT customer_id, name, email, segment FROM hive.customers ORDER BY segment";
    let v = sql(&base, &t.analyst, q);
    check("sql (analyst)", &v.to_string());
    assert!(
        v["masked"]
            .as_array()
            .unwrap()
            .contains(&json!("hive.customers.email")),
        "{v}"
    );
    let first_email = v["rows"][0][2].as_str().unwrap();
    assert!(
        first_email.contains("***@") && first_email.contains('~'),
        "{first_email}"
    );
    // A filter on a real value finds nothing: the column holds masked forms.
    let v = sql(
        &base,
        &t.analyst,
        &format!("SELECT COUNT(*) AS n FROM hive.customers WHERE email = '{one_email}'"),
    );
    assert_eq!(v["rows"][0][0], 0, "{v}");
    // The granted analyst sees the email, not the (ungranted) name.
    let g = sql(&base, &t.granted, q);
    let g_text = g.to_string();
    assert!(
        emails.iter().any(|e| g_text.contains(e.as_str())),
        "granted: {g_text:.400}"
    );
    assert!(
        g["masked"]
            .as_array()
            .unwrap()
            .contains(&json!("hive.customers.name"))
    );
    assert!(
        !g["masked"]
            .as_array()
            .unwrap()
            .contains(&json!("hive.customers.email"))
    );

    // Joins and distinct counts on a masked key: the same numbers as on the real one.
    join_counts_agree(&base, &t).await;

    // Plain English: the answer shows masked values and says so; a question matching a
    // masked column's value is asked back, not answered "none".
    let (_, v) = http(
        &Method::POST,
        &format!("{base}/api/ask"),
        Some(&t.analyst),
        &[],
        Some(&json!({"question": "list the customers in the premium segment"})),
    );
    check("ask (analyst)", &v.to_string());
    let (_, v) = http(
        &Method::POST,
        &format!("{base}/api/ask"),
        Some(&t.analyst),
        &[],
        Some(&json!({"question": format!("how many customers have the email {one_email}")})),
    );
    if v.get("clarify").is_none() {
        // An answer must not be a count over a masked column's real value.
        let sql = v["sql"].as_str().unwrap_or_default();
        assert!(!sql.contains("email"), "answered over a masked column: {v}");
    }

    // Charts: the drawing's labels are masked too (SVG is text).
    let (s, v) = http(
        &Method::POST,
        &format!("{base}/api/chart"),
        Some(&t.analyst),
        &[],
        Some(
            &json!({"sql": "SELECT email, risk_score FROM hive.customers ORDER BY risk_score DESC LIMIT 8",
            "kind": "bar", "format": "svg"}),
        ),
    );
    assert_eq!(s, 200, "{v}");
    use base64::Engine as _;
    let svg = base64::engine::general_purpose::STANDARD
        .decode(v["image"].as_str().unwrap())
        .unwrap();
    let svg = String::from_utf8_lossy(&svg).to_string();
    assert!(svg.contains("***@"), "the chart shows masked labels");
    check("chart (analyst)", &format!("{v} {svg}"));

    // Change-log reads: rows and keys masked; a filter on a real value matches nothing.
    let changes = |token: &str, filter: Option<&str>| {
        let mut url = format!("{base}/api/tables/hive.customers/changes?limit=200");
        if let Some(f) = filter {
            url.push_str(&format!("&filter={}", urlencode(f)));
        }
        http(&Method::GET, &url, Some(token), &[], None)
    };
    let (s, v) = changes(&t.viewer, None);
    assert_eq!(s, 200, "{v}");
    assert!(v["count"].as_u64().unwrap() > 0);
    check("changes (viewer)", &v.to_string());
    let f = format!("email = '{one_email}'");
    let (_, v) = changes(&t.viewer, Some(&f));
    assert_eq!(v["count"], 0, "{v}");
    let (_, v) = changes(&t.admin, Some(&f));
    assert!(
        v["count"].as_u64().unwrap() >= 1,
        "admin finds the email: {v}"
    );

    // Profiles: top values masked, no range of real values.
    let (_, v) = http(
        &Method::GET,
        &format!("{base}/api/tables/hive.customers/profile?top=50"),
        Some(&t.viewer),
        &[],
        None,
    );
    check("profile (viewer)", &v.to_string());

    // Search: a masked column is not searched, and hits show masked rows. (Emails hold no
    // spaces and are not indexed as free text; names are.)
    let name = sql(
        &base,
        &t.admin,
        "SELECT name FROM hive.customers WHERE name LIKE '% %' ORDER BY name LIMIT 1",
    );
    let name = name["rows"][0][0].as_str().unwrap().to_string();
    let word = name.split_whitespace().last().unwrap().to_string();
    let search = |token: &str, q: &str| {
        http(
            &Method::GET,
            &format!("{base}/api/search?q={}&table=hive.customers", urlencode(q)),
            Some(token),
            &[],
            None,
        )
        .1
    };
    // The index commits now and then: wait for the admin to find the name.
    let deadline = Instant::now() + Duration::from_secs(30);
    while search(&t.admin, &word)["hits"]
        .as_array()
        .unwrap_or_else(|| panic!("search failed"))
        .is_empty()
    {
        assert!(Instant::now() < deadline, "admin never finds {word}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let v = search(&t.viewer, &word);
    assert_eq!(
        v["hits"],
        json!([]),
        "a viewer finds rows by a masked name: {v}"
    );
    // Sales described in free text: found, with their customer ids masked.
    let (_, v) = http(
        &Method::GET,
        &format!("{base}/api/search?q=purchase&table=db2.transactions&limit=50"),
        Some(&t.viewer),
        &[],
        None,
    );
    let hits = v["hits"].as_array().unwrap();
    assert!(!hits.is_empty(), "{v}");
    assert!(
        hits.iter().all(|h| h["row"]["customer_id"]
            .as_str()
            .is_some_and(|c| c.starts_with("***~"))),
        "{v}"
    );
    check("search (viewer)", &v.to_string());

    // MCP tools, as a viewer and as an analyst without grants.
    for (who, token) in [("viewer", &t.viewer), ("analyst", &t.analyst)] {
        let base2 = base.clone();
        let token = token.clone();
        let outputs = tokio::task::block_in_place(move || {
            let mut call = mcp_session(&base2, Some(&token)).expect("an MCP session");
            let mut outs = Vec::new();
            for (name, args) in [
                ("describe_table", json!({"table": "hive.customers"})),
                (
                    "read_topic",
                    json!({"table": "hive.customers", "limit": 50}),
                ),
                ("search_events", json!({"query": "purchase"})),
                ("profile_table", json!({"table": "hive.customers"})),
                (
                    "run_sql",
                    json!({"sql": "SELECT email, name FROM hive.customers"}),
                ),
                (
                    "ask",
                    json!({"question": "list the customers in the premium segment"}),
                ),
            ] {
                outs.push((name, call(name, args)));
            }
            outs
        });
        for (name, out) in outputs {
            check(&format!("mcp {name} ({who})"), &out.to_string());
        }
    }

    // WebSocket: a continuous query and a tail, as an analyst without grants.
    let ws_url = base.replace("http://", "ws://") + "/ws";
    let mut req = ws_url.into_client_request().unwrap();
    req.headers_mut().insert(
        "Authorization",
        format!("Bearer {}", t.analyst).parse().unwrap(),
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(req).await.unwrap();
    for sub in [
        json!({"subscribe": "query", "id": "q", "sql": "SELECT email FROM hive.customers LIMIT 20"}),
        json!({"subscribe": "tail", "id": "t", "table": "hive.transactions",
            "filter": "customer_id IS NOT NULL"}),
    ] {
        ws.send(Message::Text(sub.to_string().into()))
            .await
            .unwrap();
    }
    let (mut results, mut changes_seen) = (0, 0);
    let deadline = Instant::now() + Duration::from_secs(60);
    while (results == 0 || changes_seen < 5) && Instant::now() < deadline {
        let Ok(Some(Ok(Message::Text(m)))) =
            tokio::time::timeout(Duration::from_secs(10), ws.next()).await
        else {
            continue;
        };
        let v: Value = serde_json::from_str(m.as_str()).unwrap();
        match v["type"].as_str() {
            Some("result") => results += 1,
            Some("change") => {
                changes_seen += 1;
                let id = v["row"]["customer_id"].as_str().unwrap_or_default();
                assert!(id.starts_with("***~"), "tail shows {id}: {v}");
            }
            Some("error") => panic!("{v}"),
            _ => {}
        }
        check("ws (analyst)", m.as_str());
    }
    assert!(
        results > 0 && changes_seen >= 5,
        "results {results}, changes {changes_seen}"
    );

    // Rows that arrived meanwhile count too: every response against the raw data now.
    let raw = raw_values(&base, &t.admin);
    for (door, body) in &seen {
        let found = leaks(body, &raw);
        assert!(found.is_empty(), "{door} shows {found:?}");
    }
    shutdown.cancel();
    node.stop().await;
}

/// The join's counts, masked and real, over the records applied so far (sales are only ever
/// inserted, so those rows stay): retried until two reads of the real counts around the
/// masked one agree, since a customer may change meanwhile.
async fn join_counts_agree(base: &str, t: &Tokens) {
    let upto = |table: &str, alias: &str| -> String {
        let v = sql(
            base,
            &t.admin,
            &format!("SELECT _partition, MAX(_offset) FROM {table} GROUP BY _partition"),
        );
        let parts: Vec<String> = v["rows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                format!(
                    "({alias}._partition = {} AND {alias}._offset <= {})",
                    r[0], r[1]
                )
            })
            .collect();
        format!("({})", parts.join(" OR "))
    };
    let join = format!(
        "SELECT COUNT(*) AS n, COUNT(DISTINCT t.customer_id) AS d \
         FROM hive.transactions t JOIN hive.customers c ON t.customer_id = c.customer_id \
         WHERE {} AND {}",
        upto("hive.transactions", "t"),
        upto("hive.customers", "c")
    );
    for _ in 0..20 {
        let before = sql(base, &t.admin, &join);
        let masked = sql(base, &t.analyst, &join);
        let after = sql(base, &t.admin, &join);
        if before["rows"] == after["rows"] {
            assert_eq!(masked["rows"], before["rows"], "masked join {masked}");
            assert!(before["rows"][0][0].as_i64().unwrap() > 0, "{before}");
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the tables never held still for two reads");
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
