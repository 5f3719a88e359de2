//! The shared harness: a real node (store in a temp dir, real actors, real DataFusion) and a
//! real HTTP server on port 0, plus an independent oracle for what a file should produce.
#![allow(dead_code)]

pub mod access;
pub mod broker;
pub mod ca;
pub mod ws;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::BufRead;
use std::path::{Path, PathBuf};

use streamq::config::{Config, SourceKind};
use streamq::{Node, table_checksum};
use tempfile::TempDir;
use tokio_util::sync::CancellationToken;

/// Where a browser test's screenshots go: `$STREAMQ_SCREENSHOTS`, else `<target>/<name>`.
pub fn screenshots_dir(name: &str) -> PathBuf {
    match std::env::var_os("STREAMQ_SCREENSHOTS") {
        Some(d) => PathBuf::from(d),
        None => std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"))
            .join(name),
    }
}

/// A file under `../shared`.
pub fn shared(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared")
        .join(rel)
}

pub fn test_config(dir: &Path) -> Config {
    let mut cfg = Config {
        data_dir: dir.join("data"),
        ..Config::default()
    };
    cfg.ingest.linger_ms = 5;
    if let Some((cert, key)) = tls_files() {
        cfg.tls.cert = Some(cert);
        cfg.tls.key = Some(key);
    }
    cfg
}

/// The suite's HTTPS mode: `STREAMQ_TEST_TLS=<dir>` makes every test server speak HTTPS with
/// a certificate for localhost that a CA made here (`<dir>/ca.pem`) signs; the tests' HTTP
/// ([`agent`]) and WebSocket ([`ws_connect`]) clients trust that CA alone. `test.sh` runs the REST and
/// WebSocket tests a second time so.
pub fn tls_files() -> Option<(PathBuf, PathBuf)> {
    suite_ca().map(|(_, cert, key)| (cert.clone(), key.clone()))
}

/// The CA of the suite's HTTPS mode and the server certificate and key it signed.
fn suite_ca() -> Option<&'static (ca::Ca, PathBuf, PathBuf)> {
    static SUITE: std::sync::OnceLock<Option<(ca::Ca, PathBuf, PathBuf)>> =
        std::sync::OnceLock::new();
    SUITE
        .get_or_init(|| {
            let dir = PathBuf::from(std::env::var_os("STREAMQ_TEST_TLS")?);
            std::fs::create_dir_all(&dir).unwrap();
            let ca = ca::Ca::new();
            std::fs::write(dir.join("ca.pem"), ca.cert.pem()).unwrap();
            let (cert, key, _) = ca.issue(&dir, "server");
            Some((ca, cert, key))
        })
        .as_ref()
}

/// The TLS client configuration of the suite's HTTPS mode: the test CA as the only root.
fn tls_client() -> Option<std::sync::Arc<rustls::ClientConfig>> {
    static CLIENT: std::sync::OnceLock<Option<std::sync::Arc<rustls::ClientConfig>>> =
        std::sync::OnceLock::new();
    CLIENT
        .get_or_init(|| suite_ca().map(|(ca, _, _)| ca.client()))
        .clone()
}

/// The HTTP client of the tests: trusts the test CA in the HTTPS mode.
pub fn agent() -> ureq::Agent {
    static AGENT: std::sync::OnceLock<ureq::Agent> = std::sync::OnceLock::new();
    AGENT
        .get_or_init(|| match tls_client() {
            Some(c) => ureq::AgentBuilder::new().tls_config(c).build(),
            None => ureq::agent(),
        })
        .clone()
}

/// Opens a WebSocket (`ws://` or, in the HTTPS mode, `wss://` trusting the test CA).
pub async fn ws_connect<R>(
    req: R,
) -> Result<
    (
        tokio_tungstenite::WebSocketStream<
            tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
        >,
        tokio_tungstenite::tungstenite::handshake::client::Response,
    ),
    tokio_tungstenite::tungstenite::Error,
>
where
    R: tokio_tungstenite::tungstenite::client::IntoClientRequest + Unpin,
{
    let connector = tls_client().map(tokio_tungstenite::Connector::Rustls);
    tokio_tungstenite::connect_async_tls_with_config(req, None, false, connector).await
}

/// The base URL of a test server listening on `addr` (HTTPS in the suite's TLS mode).
pub fn base_of(addr: std::net::SocketAddr) -> String {
    if tls_files().is_some() {
        format!("https://localhost:{}", addr.port())
    } else {
        format!("http://{addr}")
    }
}

/// A server's `/ws` base: `ws://` for `http://`, `wss://` for `https://`.
pub fn ws_base(base: &str) -> String {
    if let Some(rest) = base.strip_prefix("https://") {
        format!("wss://{rest}")
    } else {
        base.replacen("http://", "ws://", 1)
    }
}

/// `host:port` of a base URL.
pub fn authority(base: &str) -> String {
    base.split_once("://").map_or(base, |(_, a)| a).to_string()
}

/// A node that has ingested a file to its end, serving HTTP on a loopback port.
pub struct TestServer {
    pub node: Node,
    pub base: String,
    pub dir: TempDir,
    shutdown: CancellationToken,
}

impl TestServer {
    /// Replays `file` to the end with `cfg` (data dir in a fresh temp dir), serving it.
    pub async fn replayed(file: &Path, tweak: impl FnOnce(&mut Config)) -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = test_config(dir.path());
        cfg.source.kind = SourceKind::Replay;
        cfg.source.file = Some(file.to_path_buf());
        tweak(&mut cfg);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let shutdown = CancellationToken::new();
        let running = streamq::server::run(cfg, false, listener, shutdown.clone())
            .await
            .unwrap();
        let base = base_of(running.addr);
        running.ingest.await.unwrap();
        TestServer {
            node: running.node,
            base,
            dir,
            shutdown,
        }
    }

    /// Serves an already started node.
    pub async fn serve(node: Node, dir: TempDir) -> TestServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let shutdown = CancellationToken::new();
        let (addr, _) = streamq::server::serve(node.clone(), listener, shutdown.clone()).unwrap();
        TestServer {
            node,
            base: base_of(addr),
            dir,
            shutdown,
        }
    }

    /// The Prometheus text from `/metrics`.
    pub fn metrics(&self) -> String {
        agent()
            .get(&format!("{}/metrics", self.base))
            .call()
            .unwrap()
            .into_string()
            .unwrap()
    }

    pub async fn stop(self) {
        self.shutdown.cancel();
        self.node.stop().await;
    }
}

/// Row count and checksum per table.
pub fn checksums(node: &Node) -> BTreeMap<String, (usize, u64)> {
    node.catalog
        .tables()
        .into_iter()
        .map(|t| (t.schema.read().name.to_string(), table_checksum(&t)))
        .collect()
}

/// Reads `kcat -C -J` lines (plain or gzip), stopping quietly at a read error.
pub fn read_lines(path: &Path) -> Vec<String> {
    let f = std::fs::File::open(path).unwrap();
    let reader: Box<dyn BufRead> = if path.extension().is_some_and(|e| e == "gz") {
        Box::new(std::io::BufReader::new(flate2::read::MultiGzDecoder::new(
            f,
        )))
    } else {
        Box::new(std::io::BufReader::new(f))
    };
    reader.lines().map_while(Result::ok).collect()
}

/// The oracle: rows per table that a file should leave, computed independently of streamq's
/// code — each (topic, partition, offset) counts once, `c`/`u`/`r` set the key's row, `d`
/// removes it, anything undecodable is skipped.
pub fn oracle_row_counts(path: &Path) -> BTreeMap<String, usize> {
    let mut seen: HashSet<(String, i64, i64)> = HashSet::new();
    let mut rows: HashMap<String, HashSet<String>> = HashMap::new();
    for line in read_lines(path) {
        let Ok(rec) = serde_json::from_str::<serde_json::Value>(&line) else {
            continue;
        };
        let (Some(topic), Some(p), Some(o)) = (
            rec["topic"].as_str(),
            rec["partition"].as_i64(),
            rec["offset"].as_i64(),
        ) else {
            continue;
        };
        if !seen.insert((topic.to_string(), p, o)) {
            continue;
        }
        let Some(key) = rec["key"].as_str() else {
            continue;
        };
        let Some(payload) = rec["payload"].as_str() else {
            continue;
        };
        let Ok(mut v) = serde_json::from_str::<serde_json::Value>(payload) else {
            continue;
        };
        if v.get("payload").is_some() && v.get("schema").is_some() {
            v = v["payload"].take();
        }
        let set = rows.entry(topic.to_lowercase()).or_default();
        match v["op"].as_str() {
            Some("c" | "u" | "r") if v["after"].is_object() => {
                set.insert(key.to_string());
            }
            Some("d") => {
                set.remove(key);
            }
            _ => {}
        }
    }
    rows.into_iter().map(|(k, v)| (k, v.len())).collect()
}

/// What one of the shared evaluation scripts printed over the dev questions.
pub struct EvalRun {
    pub stdout: String,
    pub stderr: String,
    /// The summary line (`sql-accuracy 1.000 (60/60)`, `nl-accuracy 0.950 (57/60) p95_ms 12.3`).
    pub last: String,
    /// The failures it wrote, for assertion messages.
    pub failures: String,
}

/// Runs `../shared/bench/<script>` against `base` over the dev questions, failures into `dir`.
pub fn run_eval(script: &str, base: &str, dir: &Path) -> EvalRun {
    run_eval_on(script, base, dir, "data/dev-questions.jsonl")
}

/// The shared evaluation script over another question file under `../shared`.
pub fn run_eval_on(script: &str, base: &str, dir: &Path, questions: &str) -> EvalRun {
    let failures = dir.join(format!("{script}.failures.jsonl"));
    let out = std::process::Command::new("python3")
        .arg(shared(&format!("bench/{script}")))
        .args(["--base", base, "--questions"])
        .arg(shared(questions))
        .arg("--failures")
        .arg(&failures)
        .output()
        .expect("python3 runs the shared evaluation script");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    EvalRun {
        last: stdout.lines().last().unwrap_or_default().to_string(),
        stdout,
        stderr: String::from_utf8_lossy(&out.stderr).to_string(),
        failures: std::fs::read_to_string(&failures).unwrap_or_default(),
    }
}

/// POSTs SQL and returns the JSON reply and status.
pub fn post_sql(base: &str, sql: &str) -> (u16, serde_json::Value) {
    match agent()
        .post(&format!("{base}/api/sql"))
        .send_json(serde_json::json!({ "sql": sql }))
    {
        Ok(r) => (r.status(), r.into_json().unwrap()),
        Err(ureq::Error::Status(code, r)) => (code, r.into_json().unwrap()),
        Err(e) => panic!("request failed: {e}"),
    }
}

pub fn get_json(url: &str) -> (u16, serde_json::Value) {
    match agent().get(url).call() {
        Ok(r) => (r.status(), r.into_json().unwrap()),
        Err(ureq::Error::Status(code, r)) => (code, r.into_json().unwrap()),
        Err(e) => panic!("request failed: {e}"),
    }
}

/// The `streamq` binary running as its own process, killed when dropped however the test
/// ends; `base` is the URL it printed on its first line.
pub struct Served {
    pub child: std::process::Child,
    pub base: String,
}

impl Served {
    /// Spawns `cmd` (a `streamq serve …`) and reads the URL from its first line of output.
    pub fn start(mut cmd: std::process::Command) -> Served {
        use std::io::BufRead;
        let mut child = cmd.stdout(std::process::Stdio::piped()).spawn().unwrap();
        let mut first = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut first)
            .unwrap();
        let served = |base| Served { child, base };
        match first.split_whitespace().find(|w| w.starts_with("http://")) {
            Some(url) => served(url.trim_end_matches('/').to_string()),
            None => {
                drop(served(String::new()));
                panic!("no URL in the first line printed: {first:?}")
            }
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Milliseconds since the epoch of an RFC 3339 time.
pub fn ms_of(rfc: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(rfc)
        .unwrap()
        .timestamp_millis()
}

/// `dev-anomalies.json`: what was injected into the dev data, and when.
pub fn dev_anomalies() -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(shared("data/dev-anomalies.json")).unwrap())
        .unwrap()
}

/// The injected situation of `kind` (`fraud_burst`, `amount_spike`, …).
pub fn dev_anomaly(kind: &str) -> serde_json::Value {
    dev_anomalies()["anomalies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["type"] == kind)
        .unwrap_or_else(|| panic!("no {kind} in dev-anomalies.json"))
        .clone()
}
