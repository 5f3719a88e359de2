//! The dashboard in a real browser: the `streamq serve` binary replays the dev data at 30×
//! (from 50 minutes before the injected fraud burst to 11 minutes after it), and
//! `tests/e2e/dashboard.mjs` drives Debian's chromium through playwright-core: ask a question
//! and see its answer, SQL and table; a chart for a trend question; edit and re-run the SQL;
//! watch the live tail (filtered) update and the throughput charts draw; create an English
//! alert and see it fire, see an insight arrive, disable and enable the rule; a full-text
//! search (the text index on) shows what `/api/search` finds, highlighted; the schema page
//! against `/api/tables`; every page at 1280×800 and at phone width without sideways
//! scrolling; no console errors; no request leaving localhost. Screenshots of each page land
//! in `target/dashboard-screenshots/` (or `$STREAMQ_SCREENSHOTS`).
//!
//! Needs `node`, `/usr/bin/chromium` and `tests/e2e/node_modules` — `scripts/setup.sh`
//! installs all three; without them the test fails and says so.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use common::*;
use serde_json::Value;

#[test]
fn the_dashboard_in_chromium_on_a_paced_replay() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let e2e = root.join("tests/e2e");
    let chromium = std::env::var("STREAMQ_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        Path::new(&chromium).exists(),
        "{chromium} is missing: `bash scripts/setup.sh` installs Debian's chromium"
    );
    assert!(
        e2e.join("node_modules/playwright-core").exists(),
        "tests/e2e/node_modules is missing: `bash scripts/setup.sh` runs `npm ci` there"
    );

    // The replayed slice: [burst start − 49 min, burst end + 11 min).
    let fraud = dev_anomaly("fraud_burst");
    let from = ms_of(fraud["start"].as_str().unwrap()) - 49 * 60_000;
    let to = ms_of(fraud["end"].as_str().unwrap()) + 11 * 60_000;
    let dir = tempfile::tempdir().unwrap();
    let slice = dir.path().join("slice.jsonl");
    let mut out = std::io::BufWriter::new(std::fs::File::create(&slice).unwrap());
    let mut kept = 0usize;
    for line in read_lines(&shared("data/dev-events.jsonl.gz")) {
        let ts = serde_json::from_str::<Value>(&line)
            .ok()
            .and_then(|v| v["ts"].as_i64());
        if ts.is_some_and(|ts| ts >= from && ts < to) {
            writeln!(out, "{line}").unwrap();
            kept += 1;
        }
    }
    out.flush().unwrap();
    drop(out);
    assert!(kept > 10_000, "only {kept} records in the slice");

    let mut cmd = Command::new(env!("CARGO_BIN_EXE_streamq"));
    cmd.arg("serve")
        .args(["--data-dir", dir.path().join("data").to_str().unwrap()])
        .args(["--file", slice.to_str().unwrap()])
        .args(["--speed", "30", "--listen", "127.0.0.1:0"])
        .current_dir(root)
        .env("STREAMQ_LOG", "warn")
        // The Search tab needs the text index (off by default).
        .env("STREAMQ_TEXT_ENABLED", "true");
    let server = Served::start(cmd);
    let base = server.base.clone();

    let shots = screenshots_dir("dashboard-screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    // Only this run's screenshots count.
    for e in std::fs::read_dir(&shots).unwrap().filter_map(|e| e.ok()) {
        if e.path().extension().is_some_and(|x| x == "png") {
            std::fs::remove_file(e.path()).unwrap();
        }
    }
    let table = fraud["topic"].as_str().unwrap().to_lowercase();
    let started = Instant::now();
    let mut browser = Command::new("node")
        .arg("dashboard.mjs")
        .current_dir(&e2e)
        .env("STREAMQ_URL", &base)
        .env("STREAMQ_SCREENSHOTS", &shots)
        .env("STREAMQ_CHROMIUM", &chromium)
        .env("E2E_TABLE", &table)
        .env(
            "E2E_BURST_START_MS",
            ms_of(fraud["start"].as_str().unwrap()).to_string(),
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("node runs (setup installs it)");
    // Relay the script's progress as it goes.
    for line in BufReader::new(browser.stdout.take().unwrap())
        .lines()
        .map_while(Result::ok)
    {
        println!("[e2e {:>5.1}s] {line}", started.elapsed().as_secs_f64());
    }
    let status = browser.wait().unwrap();
    assert!(status.success(), "the browser test failed: {status}");
    let shots_taken: Vec<_> = std::fs::read_dir(&shots)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|n| n.ends_with(".png"))
        .collect();
    for page in ["ask", "live", "alerts", "search", "schema"] {
        assert!(
            shots_taken.iter().any(|n| n.starts_with(page)),
            "no screenshot of {page} in {}",
            shots.display()
        );
    }
    println!("screenshots in {}", shots.display());
}
