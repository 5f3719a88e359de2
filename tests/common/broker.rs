//! Real parts for the Kafka tests: a Tansu broker (Kafka protocol) on a loopback port, the
//! registry fixture, `streamq serve` as a child process, and Confluent's Python client.

use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A free loopback port (bound and released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The Tansu binary: `$TANSU_BIN`, or where `scripts/setup.sh` installs it.
pub fn tansu_bin() -> PathBuf {
    if let Ok(p) = std::env::var("TANSU_BIN") {
        return p.into();
    }
    let p = PathBuf::from("/var/cache/streamq/tansu/bin/tansu");
    assert!(
        p.exists(),
        "the Tansu broker is not installed at {} — run ./test.sh (scripts/setup.sh installs it)",
        p.display()
    );
    p
}

fn wait_port(port: u16, what: &str, child: &mut Child) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("{what} exited before listening: {status}");
        }
        assert!(Instant::now() < deadline, "{what} did not listen on {port}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A running Tansu broker.
pub struct Broker {
    pub port: u16,
    pub dir: PathBuf,
    storage: String,
    child: Option<Child>,
}

impl Broker {
    /// `storage`: `memory://tansu/` or `sqlite://tansu.db` (kept in `dir`, survives restarts).
    pub fn start(dir: &Path, storage: &str) -> Broker {
        let mut b = Broker {
            port: free_port(),
            dir: dir.to_path_buf(),
            storage: storage.to_string(),
            child: None,
        };
        b.spawn();
        b
    }

    fn spawn(&mut self) {
        let url = format!("tcp://127.0.0.1:{}", self.port);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("tansu.log"))
            .unwrap();
        let mut child = Command::new(tansu_bin())
            .current_dir(&self.dir)
            .args([
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &url,
            ])
            .args(["--storage-engine", &self.storage])
            .env_remove("STORAGE_ENGINE")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .spawn()
            .expect("start tansu");
        wait_port(self.port, "tansu", &mut child);
        self.child = Some(child);
    }

    pub fn brokers(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The Schema Registry fixture (`tests/fixtures/registry.py`).
pub struct Registry {
    pub url: String,
    child: Child,
}

impl Registry {
    pub fn start() -> Registry {
        let mut child = Command::new("python3")
            .arg(fixture("registry.py"))
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the registry fixture");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port: u16 = line
            .trim()
            .strip_prefix("PORT ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("registry fixture said {line:?}"));
        Registry {
            url: format!("http://127.0.0.1:{port}"),
            child,
        }
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// Runs `tests/fixtures/kafka_tool.py` and returns its JSON answer.
pub fn kafka_tool(args: &[&str]) -> serde_json::Value {
    let out = Command::new("python3")
        .arg(fixture("kafka_tool.py"))
        .args(args)
        .stderr(Stdio::inherit())
        .output()
        .expect("run kafka_tool.py");
    assert!(out.status.success(), "kafka_tool.py {args:?} failed");
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "kafka_tool.py said {:?}: {e}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

/// `streamq produce …`; returns its summary.
pub fn streamq_produce(args: &[&str]) -> serde_json::Value {
    let out = Command::new(env!("CARGO_BIN_EXE_streamq"))
        .arg("produce")
        .args(args)
        .env("STREAMQ_LOG", "warn")
        .stderr(Stdio::inherit())
        .output()
        .expect("run streamq produce");
    assert!(out.status.success(), "streamq produce {args:?} failed");
    serde_json::from_slice(&out.stdout).unwrap()
}

/// `streamq serve --source kafka` as a child process.
pub struct Streamq {
    pub base: String,
    pub data: PathBuf,
    pub port: u16,
    args: Vec<String>,
    log: PathBuf,
    child: Option<Child>,
}

impl Streamq {
    pub fn start(data: &Path, args: &[&str]) -> Streamq {
        let port = free_port();
        let mut s = Streamq {
            base: format!("http://127.0.0.1:{port}"),
            data: data.to_path_buf(),
            port,
            args: args.iter().map(|s| s.to_string()).collect(),
            log: data.with_extension("log"),
            child: None,
        };
        s.spawn();
        s
    }

    pub fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_streamq"))
            .arg("serve")
            .args(["--listen", &format!("127.0.0.1:{}", self.port)])
            .arg("--data-dir")
            .arg(&self.data)
            .args(&self.args)
            .env("STREAMQ_LOG", "info,librdkafka=warn")
            .env("STREAMQ_LINGER_MS", "5")
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .spawn()
            .expect("start streamq");
        wait_port(self.port, "streamq", &mut child);
        self.child = Some(child);
    }

    /// The arguments the next `spawn` uses.
    pub fn set_args(&mut self, args: &[&str]) {
        self.args = args.iter().map(|s| s.to_string()).collect();
    }

    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM and wait: the graceful path (drain, flush, commit, leave the group).
    pub fn terminate(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &c.id().to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(40);
            loop {
                if c.try_wait().unwrap().is_some() {
                    break;
                }
                if Instant::now() > deadline {
                    let _ = c.kill();
                    let _ = c.wait();
                    panic!("streamq did not stop on SIGTERM");
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }

    pub fn log_text(&self) -> String {
        let text = std::fs::read_to_string(&self.log)
            .unwrap_or_else(|e| format!("(cannot read {}: {e})", self.log.display()));
        // The interesting part is the end, without the per-record quarantine lines.
        let lines: Vec<&str> = text
            .lines()
            .filter(|l| !l.contains("record quarantined"))
            .collect();
        lines[lines.len().saturating_sub(80)..].join("\n")
    }

    pub fn sources(&self) -> serde_json::Value {
        match ureq::get(&format!("{}/api/sources", self.base)).call() {
            Ok(r) => r.into_json().unwrap(),
            Err(_) => serde_json::Value::Null,
        }
    }

    pub fn ready(&self) -> bool {
        ureq::get(&format!("{}/readyz", self.base)).call().is_ok()
    }
}

impl Drop for Streamq {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// `end_offsets` from a producer summary: topic → partition → end.
pub type Ends = std::collections::BTreeMap<(String, i32), i64>;

pub fn ends_of(summary: &serde_json::Value) -> Ends {
    let mut out = Ends::new();
    for (t, parts) in summary["end_offsets"].as_object().unwrap() {
        for (p, e) in parts.as_object().unwrap() {
            out.insert((t.clone(), p.parse().unwrap()), e.as_i64().unwrap());
        }
    }
    out
}

/// Applied offsets of the partitions the nodes own, merged.
pub fn applied_of(nodes: &[&Streamq]) -> Ends {
    let mut out = Ends::new();
    for n in nodes {
        let s = n.sources();
        for p in s["partitions"].as_array().cloned().unwrap_or_default() {
            if let (Some(t), Some(part), Some(a)) = (
                p["topic"].as_str(),
                p["partition"].as_i64(),
                p["applied_offset"].as_i64(),
            ) {
                let e = out.entry((t.to_string(), part as i32)).or_insert(a);
                *e = (*e).max(a);
            }
        }
    }
    out
}

/// Waits until every partition's last offset is applied on some node.
pub fn wait_caught_up(nodes: &[&Streamq], ends: &Ends, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let applied = applied_of(nodes);
        let behind: Vec<_> = ends
            .iter()
            .filter(|(k, e)| applied.get(*k).is_none_or(|a| a + 1 < **e))
            .collect();
        if behind.is_empty() {
            return;
        }
        if Instant::now() > deadline {
            for n in nodes {
                eprintln!("--- node log ---\n{}", n.log_text());
            }
            panic!(
                "not caught up after {within:?}: {} partitions behind, e.g. {:?} (applied {:?})",
                behind.len(),
                behind[0],
                applied.get(behind[0].0)
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Per table: (rows, checksum) summed over the partitions each node owns.
pub fn table_sums(nodes: &[&Streamq]) -> std::collections::BTreeMap<String, (u64, u64)> {
    let mut out = std::collections::BTreeMap::new();
    for n in nodes {
        let (_, tables) = super::get_json(&format!("{}/api/tables", n.base));
        for t in tables["tables"].as_array().cloned().unwrap_or_default() {
            let name = t["name"].as_str().unwrap().to_string();
            let (_, detail) =
                super::get_json(&format!("{}/api/tables/{name}?checksum=true", n.base));
            let e = out.entry(name).or_insert((0u64, 0u64));
            for p in detail["partitions"].as_array().unwrap() {
                e.0 += p["rows"].as_u64().unwrap();
                let sum = u64::from_str_radix(p["checksum"].as_str().unwrap(), 16).unwrap();
                e.1 = e.1.wrapping_add(sum);
            }
        }
    }
    out
}
