//! Who may do what, at every door, against a real server: the authorization matrix generated
//! from the route table (every route and method, every WebSocket subscription kind, every MCP
//! tool × no token, viewer, analyst, admin, metrics, revoked), the `Host` and `Origin`
//! guards, start-up exposure, and signed webhooks.

mod common;

use std::io::Read;
use std::time::Duration;

use axum::http::Method;
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use streamq::auth::tokens::TokenStore;
use streamq::auth::{Need, Role};
use streamq::config::SourceKind;
use streamq::web::routes::{MCP_NEED, policies};
use streamq::web::ws::protocol::{WS_KINDS, ws_need};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use common::TestServer;
use common::access::{http, mcp_session};

/// The callers of the matrix: a label and the token they send.
struct Callers {
    cells: Vec<(&'static str, Option<String>, Option<Role>)>,
}

/// The documented outcome of a cell: allowed, or refused with this status and code.
fn expected(need: Need, role: Option<Role>) -> Option<(u16, &'static str)> {
    match (need, role) {
        (Need::Open, _) => None,
        (_, None) => Some((401, "unauthorized")),
        (need, Some(r)) if !need.allows(r) => Some((403, "forbidden")),
        _ => None,
    }
}

async fn server() -> (TestServer, Callers, String) {
    let server = TestServer::replayed(&common::shared("data/dev-events.jsonl.gz"), |cfg| {
        cfg.source.kind = SourceKind::Demo;
        cfg.source.file = None;
        cfg.source.demo.limit = Some(3000);
        cfg.mcp.allow_writes = true;
        cfg.server.allowed_hosts = vec!["dash.example".into()];
        // Tokens exist before the server starts (as `streamq token create` leaves them).
        let store = TokenStore::in_data_dir(&cfg.data_dir);
        std::fs::create_dir_all(&cfg.data_dir).unwrap();
        for (name, role) in [
            ("v", Role::Viewer),
            ("a", Role::Analyst),
            ("ad", Role::Admin),
            ("m", Role::Metrics),
            ("gone", Role::Admin),
            ("victim", Role::Viewer),
        ] {
            let (token, info) = store.create(name, role, &[]).unwrap();
            std::fs::write(cfg.data_dir.join(format!("auth/{name}.token")), &token).unwrap();
            if name == "gone" {
                store.revoke(&info.id).unwrap();
            }
            if name == "victim" {
                std::fs::write(cfg.data_dir.join("auth/victim.id"), &info.id).unwrap();
            }
        }
    })
    .await;
    let auth = server.node.config.data_dir.join("auth");
    let read = |n: &str| std::fs::read_to_string(auth.join(format!("{n}.token"))).unwrap();
    let callers = Callers {
        cells: vec![
            ("no token", None, None),
            ("viewer", Some(read("v")), Some(Role::Viewer)),
            ("analyst", Some(read("a")), Some(Role::Analyst)),
            ("admin", Some(read("ad")), Some(Role::Admin)),
            ("metrics", Some(read("m")), Some(Role::Metrics)),
            ("revoked", Some(read("gone")), None),
        ],
    };
    let victim = std::fs::read_to_string(auth.join("victim.id")).unwrap();
    (server, callers, victim)
}

/// A request that exercises the route: its path with real ids, and a body that is valid.
fn request_for(
    method: &Method,
    path: &str,
    table: &str,
    rule: &str,
    victim: &str,
    admin: &str,
) -> (String, Option<Value>) {
    let p = path
        .replace("{name}", table)
        .replace("{table}", table)
        .replace(
            "{id}",
            if path.starts_with("/api/tokens") {
                victim
            } else {
                rule
            },
        );
    let body = match (method.as_str(), path) {
        ("POST", "/api/sql") => Some(json!({"sql": "SELECT 1 AS one"})),
        ("POST", "/api/ask") => Some(json!({"question": format!("how many rows in {table}")})),
        ("POST", "/api/chart") => Some(json!({"sql": "SELECT 1 AS x, 2 AS y"})),
        ("POST", "/api/alerts") => Some(json!({"table": table, "measure": {"agg": "count"},
            "condition": {"op": ">", "value": 1e12}})),
        ("PATCH", _) => Some(json!({"enabled": true})),
        ("POST", "/api/tokens") => Some(json!({"name": "made", "role": "viewer"})),
        ("POST", "/api/session") => Some(json!({"token": admin})),
        _ => None,
    };
    (p, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_route_subscription_and_tool_answers_each_role_as_documented() {
    let (server, callers, victim) = server().await;
    let base = server.base.clone();
    let table = server.node.catalog.tables()[0]
        .schema
        .read()
        .name
        .to_string();
    let admin = callers.cells[3].1.clone().unwrap();
    let rule = {
        let (s, v) = http(
            &Method::POST,
            &format!("{base}/api/alerts"),
            Some(&admin),
            &[],
            Some(&json!({"table": table, "measure": {"agg": "count"},
                "condition": {"op": ">", "value": 1e12}})),
        );
        assert_eq!(s, 201, "{v}");
        v["id"].as_str().unwrap().to_string()
    };

    // REST: every route of the table, every caller. State-changing cells run last per route
    // (admin's DELETE removes what the others would have found).
    let mut cells = 0;
    let mut policies = policies();
    policies.retain(|p| p.path != "/ws"); // the socket has its own matrix below
    let audit = server.node.audit.clone();
    let before = audit.read(None, None).unwrap().len();
    let mut audited: Vec<(String, String, u16, Option<&'static str>)> = Vec::new();
    for p in &policies {
        for (label, token, role) in &callers.cells {
            let (path, body) = request_for(&p.method, p.path, &table, &rule, &victim, &admin);
            let (status, v) = tokio::task::block_in_place(|| {
                http(
                    &p.method,
                    &format!("{base}{path}"),
                    token.as_deref(),
                    &[],
                    body.as_ref(),
                )
            });
            cells += 1;
            if p.need != Need::Open || p.path.starts_with("/api/session") {
                // Who the entry should name: the caller's role when its token is good.
                let who = role.map(|r| r.as_str());
                audited.push((p.method.to_string(), p.path.to_string(), status, who));
            }
            match expected(p.need, *role) {
                Some((want, code)) => {
                    assert_eq!(
                        (status, v["code"].as_str().unwrap_or_default()),
                        (want, code),
                        "{label} {} {path}: {v}",
                        p.method
                    );
                }
                // Allowed: past the door (the handler may still find a parameter missing or the
                // model absent, but never answers for want of a role).
                None => assert!(
                    status != 401 && status != 403 && status != 500,
                    "{label} {} {path} should be allowed: {status} {v}",
                    p.method
                ),
            }
        }
    }
    assert!(cells >= 6 * 30, "{cells} cells");
    // The audit trail: one entry per request of the matrix, naming the route, the outcome
    // and the caller's role.
    let entries = audit.read(None, None).unwrap();
    let mut got: Vec<(String, String, u16, Option<String>)> = entries[before..]
        .iter()
        .map(|e| (e.method.clone(), e.route.clone(), e.status, e.role.clone()))
        .collect();
    let mut want: Vec<(String, String, u16, Option<String>)> = audited
        .iter()
        .map(|(m, r, s, w)| {
            // A sign-in names the token it signed in with (the matrix signs in as admin).
            let who = if r == "/api/session" && m == "POST" && *s == 200 {
                Some("admin".to_string())
            } else {
                w.map(str::to_string)
            };
            (m.clone(), r.clone(), *s, who)
        })
        .collect();
    got.sort();
    want.sort();
    assert_eq!(got.len(), want.len(), "one audit entry per matrix request");
    assert_eq!(got, want);
    // What the handlers said: the SQL and its rows, the question.
    let ok = |route: &str| -> Vec<&streamq::audit::Entry> {
        entries[before..]
            .iter()
            .filter(|e| e.route == route && e.status == 200)
            .collect()
    };
    assert!(
        ok("/api/sql")
            .iter()
            .all(|e| e.detail.sql.as_deref() == Some("SELECT 1 AS one") && e.detail.rows == Some(1)),
        "the SQL of each /api/sql entry"
    );
    assert!(ok("/api/ask").iter().all(|e| e.detail.question.is_some()));

    // A foreign Host: 403 on every route, whoever calls.
    for p in &policies {
        let (path, body) = request_for(&p.method, p.path, &table, &rule, &victim, &admin);
        let (status, v) = tokio::task::block_in_place(|| {
            http(
                &p.method,
                &format!("{base}{path}"),
                Some(&admin),
                &[("Host", "rebound.example:80")],
                body.as_ref(),
            )
        });
        assert_eq!(
            (status, v["code"].as_str()),
            (403, Some("host_not_allowed")),
            "{} {path}",
            p.method
        );
    }
    // A foreign Origin: 403 on every state-changing route, even with an allowed Host.
    for p in policies.iter().filter(|p| p.method != Method::GET) {
        let (path, body) = request_for(&p.method, p.path, &table, &rule, &victim, &admin);
        let (status, v) = tokio::task::block_in_place(|| {
            http(
                &p.method,
                &format!("{base}{path}"),
                Some(&admin),
                &[("Origin", "http://evil.example")],
                body.as_ref(),
            )
        });
        assert_eq!(
            (status, v["code"].as_str()),
            (403, Some("origin_not_allowed")),
            "{} {path}",
            p.method
        );
    }

    // /ws: Host and Origin first; an allowed Host with its own name as Origin is still refused.
    let ws_url = format!("{}/ws", common::ws_base(&base));
    for (headers, why) in [
        (
            vec![("Host", "dash.example"), ("Origin", "http://dash.example")],
            "Origin = Host",
        ),
        (vec![("Origin", "http://evil.example")], "foreign Origin"),
        (vec![("Host", "rebound.example")], "foreign Host"),
    ] {
        let mut req = ws_url.as_str().into_client_request().unwrap();
        for (k, v) in &headers {
            req.headers_mut().insert(*k, v.parse().unwrap());
        }
        match common::ws_connect(req).await {
            Err(tokio_tungstenite::tungstenite::Error::Http(r)) => {
                assert_eq!(r.status().as_u16(), 403, "{why}")
            }
            other => panic!("{why}: {:?}", other.map(|_| ())),
        }
    }
    // Each subscription kind × each caller, the token in a header and in the first message.
    let mut ws_answered = 0;
    for kind in WS_KINDS {
        for (label, token, role) in &callers.cells {
            for in_header in [true, false] {
                let got = ws_subscribe(&ws_url, kind, token.as_deref(), in_header, &table).await;
                let want = expected(ws_need(kind), *role);
                ws_answered += usize::from(got.is_ok());
                match (want, &got) {
                    (None, Ok(frame)) => {
                        assert_eq!(frame["type"], "subscribed", "{label} {kind}: {frame}")
                    }
                    (Some((401, _)), Err(401)) if in_header => {}
                    (Some((_, code)), Ok(frame)) => {
                        assert_eq!(frame["type"], "error", "{label} {kind}: {frame}");
                        assert_eq!(frame["code"], code, "{label} {kind}: {frame}");
                    }
                    _ => panic!("{label} {kind} header={in_header}: {got:?}, wanted {want:?}"),
                }
            }
        }
    }

    // One audit entry per subscription answered (the last socket's may still be on its way).
    let ws_entries = || {
        audit
            .read(None, None)
            .unwrap()
            .into_iter()
            .filter(|e| e.door == "ws")
            .count()
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while ws_entries() < ws_answered && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        ws_entries(),
        ws_answered,
        "one audit entry per subscription"
    );

    // MCP over HTTP: each tool needs what the REST route it calls needs.
    let tools: [(&str, Value, Need); 12] = [
        ("list_tables", json!({}), Need::Viewer),
        ("describe_table", json!({"table": table}), Need::Viewer),
        (
            "read_topic",
            json!({"table": table, "limit": 2}),
            Need::Viewer,
        ),
        ("search_events", json!({"query": "a"}), Need::Viewer),
        ("profile_table", json!({"table": table}), Need::Viewer),
        ("list_alerts", json!({}), Need::Viewer),
        ("recent_insights", json!({}), Need::Viewer),
        ("run_sql", json!({"sql": "SELECT 1"}), Need::Analyst),
        (
            "ask",
            json!({"question": format!("how many rows in {table}")}),
            Need::Analyst,
        ),
        (
            "chart",
            json!({"sql": "SELECT 1 AS x, 2 AS y"}),
            Need::Analyst,
        ),
        (
            "create_alert",
            json!({"rule": {"table": table, "measure": {"agg": "count"},
                "condition": {"op": ">", "value": 1e12}}}),
            Need::Admin,
        ),
        ("delete_alert", json!({"id": "r999999"}), Need::Admin),
    ];
    let offered = streamq::mcp::tools::all_tools();
    assert_eq!(
        offered.len(),
        tools.len(),
        "a tool without a row in this matrix"
    );
    let mut mcp_calls = Vec::new();
    for (label, token, role) in &callers.cells {
        let base = base.clone();
        let token = token.clone();
        let outcome = tokio::task::block_in_place(move || mcp_session(&base, token.as_deref()));
        let Some(mut call) = outcome else {
            assert!(
                expected(MCP_NEED, *role).is_some(),
                "{label} could not open /mcp"
            );
            continue;
        };
        assert!(expected(MCP_NEED, *role).is_none(), "{label} opened /mcp");
        for (name, args, need) in &tools {
            mcp_calls.push((name.to_string(), role.map(|r| r.as_str().to_string())));
            let r = tokio::task::block_in_place(|| call(name, args.clone()));
            let code = r["result"]["structuredContent"]["error"]["code"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            match expected(*need, *role) {
                Some((_, want)) => assert_eq!(code, want, "{label} {name}: {r}"),
                None => assert!(
                    code != "unauthorized" && code != "forbidden",
                    "{label} {name}: {r}"
                ),
            }
        }
    }
    // Each tool call is in the trail as the REST call it made, with the tool's name.
    let entries = audit.read(None, None).unwrap();
    for (name, role) in &mcp_calls {
        assert!(
            entries.iter().any(|e| e.door == "mcp"
                && e.detail.tool.as_deref() == Some(name.as_str())
                && &e.role == role),
            "no audit entry for {name} by {role:?}"
        );
    }
    // No token, in any form, is in the trail.
    let mut text = String::new();
    for f in std::fs::read_dir(audit.dir()).unwrap() {
        text.push_str(&std::fs::read_to_string(f.unwrap().path()).unwrap());
    }
    for (label, token, _) in &callers.cells {
        if let Some(t) = token {
            assert!(
                !text.contains(t.as_str()),
                "{label}'s token is in the audit trail"
            );
            let secret = t.rsplit('_').next().unwrap();
            assert!(
                !text.contains(secret),
                "{label}'s secret is in the audit trail"
            );
        }
    }
    assert!(!text.contains("sq_"), "a token is in the audit trail");
    // Nor any personal value the tables hold (entries carry what was asked, never results).
    let (_, people) = tokio::task::block_in_place(|| {
        http(
            &Method::POST,
            &format!("{base}/api/sql"),
            Some(callers.cells[3].1.as_deref().unwrap()),
            &[],
            Some(&json!({"sql": "SELECT email, name FROM hive.customers"})),
        )
    });
    let values: Vec<String> = people["rows"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| r.as_array().unwrap().iter())
        .filter_map(|v| v.as_str().map(str::to_string))
        .filter(|v| v.len() >= 5)
        .collect();
    assert!(values.len() > 20, "the demo's customers: {people:.300}");
    let shown: Vec<&String> = values
        .iter()
        .filter(|v| text.contains(v.as_str()))
        .collect();
    assert!(
        shown.is_empty(),
        "personal data in the audit trail: {shown:?}"
    );
    // Admins read it as a table and export it; nobody else does.
    let (admin_t, analyst_t) = (
        callers.cells[3].1.clone().unwrap(),
        callers.cells[2].1.clone().unwrap(),
    );
    let (s, v) = tokio::task::block_in_place(|| {
        http(
            &Method::POST,
            &format!("{base}/api/sql"),
            Some(&admin_t),
            &[],
            Some(
                &json!({"sql": "SELECT door, COUNT(*) AS n FROM streamq.audit GROUP BY door ORDER BY door"}),
            ),
        )
    });
    assert_eq!(s, 200, "{v}");
    let doors: Vec<&str> = v["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r[0].as_str())
        .collect();
    for d in ["mcp", "rest", "ws"] {
        assert!(doors.contains(&d), "streamq.audit has no {d} entries: {v}");
    }
    let (s, v) = tokio::task::block_in_place(|| {
        http(
            &Method::POST,
            &format!("{base}/api/sql"),
            Some(&analyst_t),
            &[],
            Some(&json!({"sql": "SELECT COUNT(*) FROM streamq.audit"})),
        )
    });
    assert!(
        s == 400 && v["message"].as_str().unwrap_or_default().contains("admin"),
        "{s} {v}"
    );
    let export = tokio::task::block_in_place(|| {
        common::agent()
            .get(&format!("{base}/api/audit"))
            .set("Authorization", &format!("Bearer {admin_t}"))
            .call()
            .unwrap()
            .into_string()
            .unwrap()
    });
    assert!(
        export.lines().count() >= entries.len(),
        "the export holds every entry"
    );
    assert!(
        export
            .lines()
            .all(|l| serde_json::from_str::<Value>(l).is_ok())
    );
    server.stop().await;
}

/// Opens `/ws` (the token in an Authorization header or as `{"auth"}`), subscribes to `kind`,
/// and returns the first frame that answers the subscription; Err(status) if the upgrade is
/// refused.
async fn ws_subscribe(
    url: &str,
    kind: &str,
    token: Option<&str>,
    in_header: bool,
    table: &str,
) -> Result<Value, u16> {
    let mut req = url.into_client_request().unwrap();
    if let (Some(t), true) = (token, in_header) {
        req.headers_mut()
            .insert("Authorization", format!("Bearer {t}").parse().unwrap());
    }
    let (mut ws, _) = match common::ws_connect(req).await {
        Ok(x) => x,
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => return Err(r.status().as_u16()),
        Err(e) => panic!("{e}"),
    };
    if let (Some(t), false) = (token, in_header) {
        ws.send(Message::Text(json!({"auth": t}).to_string().into()))
            .await
            .unwrap();
    }
    let sub = match kind {
        "query" => json!({"subscribe": "query", "sql": "SELECT 1 AS one"}),
        "tail" => json!({"subscribe": "tail", "table": table}),
        k => json!({"subscribe": k}),
    };
    ws.send(Message::Text(sub.to_string().into()))
        .await
        .unwrap();
    loop {
        let m = tokio::time::timeout(Duration::from_secs(20), ws.next())
            .await
            .expect("an answer")
            .expect("a frame")
            .unwrap();
        if let Message::Text(t) = m {
            let v: Value = serde_json::from_str(t.as_str()).unwrap();
            // `{"auth"}` is acknowledged (or refused) before the subscription is answered.
            if v["type"] == "authenticated" {
                continue;
            }
            if v["type"] == "subscribed" || v["type"] == "error" {
                return Ok(v);
            }
        }
    }
}

#[tokio::test]
async fn a_wide_address_without_tokens_refuses_to_start_unless_anonymous_is_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = common::test_config(dir.path());
    cfg.source.demo.limit = Some(10);
    let listener = tokio::net::TcpListener::bind("0.0.0.0:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let e = streamq::server::check_exposure(&cfg, addr).unwrap_err();
    assert!(e.to_string().contains("without authentication"), "{e}");
    cfg.auth.allow_anonymous = true;
    streamq::server::check_exposure(&cfg, addr).unwrap();
    cfg.auth.allow_anonymous = false;
    TokenStore::in_data_dir(&cfg.data_dir)
        .create("ops", Role::Admin, &[])
        .unwrap();
    streamq::server::check_exposure(&cfg, addr).unwrap();
    streamq::server::check_exposure(
        &common::test_config(dir.path()),
        "127.0.0.1:1".parse().unwrap(),
    )
    .unwrap();
}

/// The README's route table is the router's: same routes, same needs, nothing missing.
#[test]
fn the_readme_documents_every_route_with_its_need() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let section = readme
        .split("## Access: tokens, roles, Host and Origin")
        .nth(1)
        .and_then(|rest| rest.split("\n## ").next())
        .unwrap();
    let mut documented = std::collections::BTreeMap::new();
    for line in section.lines().filter(|l| l.starts_with("| `")) {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        let need = match cells[2].split_whitespace().next().unwrap() {
            "open" => Need::Open,
            "any" => Need::Known,
            "viewer" => Need::Viewer,
            "analyst" => Need::Analyst,
            "admin" => Need::Admin,
            "metrics" => Need::Metrics,
            other => panic!("unknown need {other}"),
        };
        for route in cells[1].split(", ") {
            let route = route.trim_matches('`');
            assert!(
                documented.insert(route.to_string(), need).is_none(),
                "{route} twice"
            );
        }
    }
    let routed: std::collections::BTreeMap<String, Need> = policies()
        .into_iter()
        .map(|p| (format!("{} {}", p.method, p.path), p.need))
        .collect();
    assert_eq!(documented, routed);
}

/// An allowed receiver gets bodies whose signature verifies with the rule's secret; a redirect
/// to a refused address is not followed.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn webhooks_are_signed_and_redirects_to_refused_addresses_are_not_followed() {
    use std::io::{BufRead, BufReader, Write};
    let receiver = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = receiver.local_addr().unwrap().port();
    let (tx, rx) = std::sync::mpsc::channel::<(String, Vec<(String, String)>, Vec<u8>)>();
    std::thread::spawn(move || {
        for conn in receiver.incoming() {
            let Ok(mut conn) = conn else { break };
            let mut r = BufReader::new(conn.try_clone().unwrap());
            let mut line = String::new();
            r.read_line(&mut line).unwrap();
            let path = line
                .split_whitespace()
                .nth(1)
                .unwrap_or_default()
                .to_string();
            let mut headers = Vec::new();
            loop {
                let mut h = String::new();
                r.read_line(&mut h).unwrap();
                if h.trim().is_empty() {
                    break;
                }
                let (k, v) = h.split_once(':').unwrap();
                headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
            }
            let len: usize = headers
                .iter()
                .find(|(k, _)| k == "content-length")
                .map_or(0, |(_, v)| v.parse().unwrap());
            let mut body = vec![0; len];
            r.read_exact(&mut body).unwrap();
            let reply = if path == "/redirect" {
                // 10.0.0.1 is private: the policy refuses it, even as a redirect.
                "HTTP/1.1 302 Found\r\nLocation: http://10.0.0.1/x\r\nContent-Length: 0\r\n\r\n"
            } else {
                "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
            };
            conn.write_all(reply.as_bytes()).unwrap();
            let _ = tx.send((path, headers, body));
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = common::test_config(dir.path());
    cfg.source.kind = SourceKind::Replay;
    cfg.source.file = Some(common::shared("data/dev-events.jsonl.gz"));
    cfg.live.webhook_allow = vec!["127.0.0.1".into()];
    cfg.live.webhook_attempts = 1;
    let node = streamq::Node::start(cfg, false).await.unwrap();
    let server = TestServer::serve(node.clone(), dir).await;
    let rule = |hook: &str| {
        json!({"table": "db2.orders", "measure": {"agg": "count"}, "window_ms": 60_000,
            "condition": {"op": ">", "value": 0.0}, "webhook": hook})
    };
    let base = server.base.clone();
    let (s, created) = tokio::task::block_in_place(|| {
        http(
            &Method::POST,
            &format!("{base}/api/alerts"),
            None,
            &[],
            Some(&rule(&format!("http://127.0.0.1:{port}/hook"))),
        )
    });
    assert_eq!(s, 201, "{created}");
    let secret = created["webhook_secret"].as_str().unwrap().to_string();
    let (_, listed) = tokio::task::block_in_place(|| {
        http(&Method::GET, &format!("{base}/api/alerts"), None, &[], None)
    });
    assert!(
        !listed.to_string().contains(&secret),
        "the secret is shown once"
    );
    let (s, _) = tokio::task::block_in_place(|| {
        http(
            &Method::POST,
            &format!("{base}/api/alerts"),
            None,
            &[],
            Some(&rule(&format!("http://127.0.0.1:{port}/redirect"))),
        )
    });
    assert_eq!(s, 201);
    let _ingest = node.start_source(tokio_util::sync::CancellationToken::new());
    let mut signed = 0;
    let mut redirected = 0;
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while (signed == 0 || redirected == 0) && std::time::Instant::now() < deadline {
        let Ok((path, headers, body)) = rx.recv_timeout(Duration::from_secs(1)) else {
            continue;
        };
        let h = |k: &str| {
            headers
                .iter()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.clone())
                .unwrap_or_else(|| panic!("no {k}"))
        };
        let ts: i64 = h("x-streamq-timestamp").parse().unwrap();
        let now = chrono::Utc::now().timestamp();
        if path == "/hook" {
            assert!(
                streamq::live::signing::verify(
                    &secret,
                    &h("x-streamq-signature"),
                    ts,
                    &body,
                    now,
                    300
                ),
                "the signature verifies"
            );
            assert!(!streamq::live::signing::verify(
                "wrong",
                &h("x-streamq-signature"),
                ts,
                &body,
                now,
                300
            ));
            signed += 1;
        } else {
            redirected += 1;
        }
    }
    assert!(
        signed > 0 && redirected > 0,
        "signed {signed}, redirect hits {redirected}"
    );
    // The redirect's rule records a policy refusal, not a connection to 10.0.0.1.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (_, listed) = tokio::task::block_in_place(|| {
        http(&Method::GET, &format!("{base}/api/alerts"), None, &[], None)
    });
    let redirect_rule = listed["rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["webhook"].as_str().unwrap().ends_with("/redirect"))
        .unwrap()
        .clone();
    let err = redirect_rule["webhook_status"]["last_error"]
        .as_str()
        .unwrap_or_default();
    assert!(err.contains("refused by policy"), "{redirect_rule}");
    server.stop().await;
}
