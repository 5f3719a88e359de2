//! HTTPS: a certificate generated for the test (by its own CA) served by streamq. REST and a
//! WebSocket subscription over TLS; plain HTTP to the port is no HTTP answer; the session
//! cookie is `Secure`; a new certificate is served after SIGHUP; a webhook reaches an HTTPS
//! receiver whose certificate the same private CA signed (`tls.ca_file`).

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use streamq::auth::Role;
use streamq::auth::tokens::TokenStore;
use streamq::config::SourceKind;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use common::ca::Ca;

/// The certificate a fresh TLS connection to `port` is shown.
async fn served_certificate(port: u16, client: Arc<rustls::ClientConfig>) -> Vec<u8> {
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let tls = tokio_rustls::TlsConnector::from(client)
        .connect(name, tcp)
        .await
        .unwrap();
    tls.get_ref().1.peer_certificates().unwrap()[0].to_vec()
}

/// An HTTPS receiver on loopback: each request's path and body.
fn https_receiver(cert: &Path, key: &Path) -> (u16, std::sync::mpsc::Receiver<(String, Vec<u8>)>) {
    let cfg = streamq::tls::server_config(cert, key).unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for tcp in listener.incoming() {
            let Ok(tcp) = tcp else { break };
            let conn = rustls::ServerConnection::new(cfg.clone()).unwrap();
            let mut tls = rustls::StreamOwned::new(conn, tcp);
            let (path, body) = {
                let mut r = BufReader::new(&mut tls);
                let mut line = String::new();
                if r.read_line(&mut line).is_err() {
                    continue;
                }
                let path = line
                    .split_whitespace()
                    .nth(1)
                    .unwrap_or_default()
                    .to_string();
                let mut len = 0usize;
                loop {
                    let mut h = String::new();
                    r.read_line(&mut h).unwrap();
                    if h.trim().is_empty() {
                        break;
                    }
                    if let Some((k, v)) = h.split_once(':')
                        && k.trim().eq_ignore_ascii_case("content-length")
                    {
                        len = v.trim().parse().unwrap();
                    }
                }
                let mut body = vec![0; len];
                r.read_exact(&mut body).unwrap();
                (path, body)
            };
            tls.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                .unwrap();
            tls.flush().unwrap();
            let _ = tx.send((path, body));
        }
    });
    (port, rx)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rest_websocket_reload_and_webhooks_over_tls() {
    let certs = tempfile::tempdir().unwrap();
    let ca = Ca::new();
    let ca_file = certs.path().join("ca.pem");
    std::fs::write(&ca_file, ca.cert.pem()).unwrap();
    let (cert, key, first_der) = ca.issue(certs.path(), "server");
    let (r_cert, r_key, _) = ca.issue(certs.path(), "receiver");
    let (hook_port, hooks) = https_receiver(&r_cert, &r_key);

    let dir = tempfile::tempdir().unwrap();
    let mut cfg = common::test_config(dir.path());
    cfg.source.kind = SourceKind::Replay;
    cfg.source.file = Some(common::shared("data/dev-events.jsonl.gz"));
    cfg.tls.cert = Some(cert.clone());
    cfg.tls.key = Some(key.clone());
    cfg.tls.ca_file = Some(ca_file.clone());
    cfg.live.webhook_allow = vec!["127.0.0.1".into()];
    cfg.live.webhook_attempts = 3;
    std::fs::create_dir_all(&cfg.data_dir).unwrap();
    let admin = TokenStore::in_data_dir(&cfg.data_dir)
        .create("tls-admin", Role::Admin, &[])
        .unwrap()
        .0;
    streamq::tls::trust(Some(&ca_file)).unwrap();
    let node = streamq::Node::start(cfg, false).await.unwrap();
    let server = common::TestServer::serve(node.clone(), dir).await;
    let port: u16 = server.base.rsplit(':').next().unwrap().parse().unwrap();
    let base = format!("https://localhost:{port}");
    let agent = ureq::AgentBuilder::new().tls_config(ca.client()).build();
    let call = |method: &str, path: &str, body: Option<Value>| -> (u16, Value, Option<String>) {
        let req = agent
            .request(method, &format!("{base}{path}"))
            .set("Authorization", &format!("Bearer {admin}"));
        let r = match body {
            Some(b) => req.send_json(b),
            None => req.call(),
        };
        let r = match r {
            Ok(r) => r,
            Err(ureq::Error::Status(_, r)) => r,
            Err(e) => panic!("{method} {path}: {e}"),
        };
        let cookie = r.header("set-cookie").map(str::to_string);
        (r.status(), r.into_json().unwrap_or(Value::Null), cookie)
    };

    // A webhook to an HTTPS receiver signed by the private CA, fired as the data arrives.
    let (s, v, _) = tokio::task::block_in_place(|| {
        call(
            "POST",
            "/api/alerts",
            Some(json!({"table": "db2.orders", "measure": {"agg": "count"},
                "window_ms": 60_000, "condition": {"op": ">", "value": 0.0},
                "webhook": format!("https://127.0.0.1:{hook_port}/hook")})),
        )
    });
    assert_eq!(s, 201, "{v}");
    node.start_source(tokio_util::sync::CancellationToken::new())
        .await
        .unwrap();

    // REST over HTTPS.
    let (s, v, _) = tokio::task::block_in_place(|| call("GET", "/api/tables", None));
    assert_eq!(s, 200, "{v}");
    assert!(!v["tables"].as_array().unwrap().is_empty());
    let (s, v, _) = tokio::task::block_in_place(|| {
        call(
            "POST",
            "/api/sql",
            Some(json!({"sql": "SELECT COUNT(*) AS n FROM db2.transactions"})),
        )
    });
    assert_eq!(s, 200, "{v}");
    assert!(v["rows"][0][0].as_i64().unwrap() > 0);
    // The session cookie is Secure on TLS.
    let (s, _, cookie) =
        tokio::task::block_in_place(|| call("POST", "/api/session", Some(json!({"token": admin}))));
    assert_eq!(s, 200);
    let cookie = cookie.unwrap();
    assert!(
        cookie.contains("Secure") && cookie.contains("HttpOnly"),
        "{cookie}"
    );
    // Plain HTTP to the TLS port gets no HTTP answer.
    let answered = tokio::task::block_in_place(|| {
        ureq::get(&format!("http://127.0.0.1:{port}/healthz"))
            .call()
            .is_ok()
    });
    assert!(!answered, "plain HTTP was answered");

    // A WebSocket over TLS.
    let mut req = format!("wss://localhost:{port}/ws")
        .into_client_request()
        .unwrap();
    req.headers_mut()
        .insert("Authorization", format!("Bearer {admin}").parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::connect_async_tls_with_config(
        req,
        None,
        false,
        Some(tokio_tungstenite::Connector::Rustls(ca.client())),
    )
    .await
    .unwrap();
    ws.send(Message::Text(
        json!({"subscribe": "query", "sql": "SELECT 1 AS one"})
            .to_string()
            .into(),
    ))
    .await
    .unwrap();
    let mut result = None;
    while result.is_none() {
        let m = tokio::time::timeout(Duration::from_secs(20), ws.next())
            .await
            .expect("a frame")
            .unwrap()
            .unwrap();
        if let Message::Text(t) = m {
            let v: Value = serde_json::from_str(t.as_str()).unwrap();
            if v["type"] == "result" {
                result = Some(v);
            }
        }
    }
    assert_eq!(result.unwrap()["rows"], json!([[1]]));

    // SIGHUP: a renewed certificate is served to new connections.
    assert_eq!(served_certificate(port, ca.client()).await, first_der);
    let (_, _, second_der) = ca.issue(certs.path(), "server");
    let status = std::process::Command::new("kill")
        .args(["-HUP", &std::process::id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while served_certificate(port, ca.client()).await != second_der {
        assert!(
            std::time::Instant::now() < deadline,
            "the new certificate is not served"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Connections made before still work with the old one.
    let (s, _, _) = tokio::task::block_in_place(|| call("GET", "/healthz", None));
    assert_eq!(s, 200);

    let (path, body) = tokio::task::block_in_place(|| hooks.recv_timeout(Duration::from_secs(60)))
        .expect("the HTTPS receiver got the alert");
    assert_eq!(path, "/hook");
    let event: Value = serde_json::from_slice(&body).unwrap();
    assert!(event.is_object(), "{event}");
    server.stop().await;
}
