//! Crash safety: `kill -9` the replaying process at 10 random points, restart it each time;
//! the final tables must equal a clean single-run ingest (row count and checksum) and the
//! quarantine must hold exactly the genuinely bad records, once each.

mod common;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{checksums, read_lines, shared, test_config};
use streamq::Node;

/// The dev file with bad input mixed in: two unreadable lines in the middle, and at the end
/// three records that continue their partitions' offsets but cannot be decoded.
fn file_with_bad_records(dir: &Path) -> (std::path::PathBuf, usize) {
    let lines = read_lines(&shared("data/dev-events.jsonl.gz"));
    let mut last: BTreeMap<(String, i64), i64> = BTreeMap::new();
    for l in &lines {
        let v: serde_json::Value = serde_json::from_str(l).unwrap();
        let k = (
            v["topic"].as_str().unwrap().to_string(),
            v["partition"].as_i64().unwrap(),
        );
        let o = v["offset"].as_i64().unwrap();
        let e = last.entry(k).or_insert(o);
        *e = (*e).max(o);
    }
    let path = dir.join("dev-with-bad.jsonl");
    let mut f = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    for (i, l) in lines.iter().enumerate() {
        if i == 20_000 {
            writeln!(f, "{{this is not json").unwrap();
        }
        if i == 60_000 {
            writeln!(f, r#"{{"topic":"db2.orders","partition":"zero"}}"#).unwrap();
        }
        writeln!(f, "{l}").unwrap();
    }
    let next = |t: &str, p: i64| last[&(t.to_string(), p)] + 1;
    let bad = [
        ("db2.orders", 0, r#"{not json"#.to_string()),
        (
            "db2.orders",
            1,
            r#"{"before":null,"after":{"ORDER_ID":"O1"},"op":"z","ts_ms":1}"#.to_string(),
        ),
        ("hive.products", 2, r#"[1,2,3]"#.to_string()),
    ];
    for (t, p, payload) in &bad {
        let rec = serde_json::json!({"topic": t, "partition": p, "offset": next(t, *p), "tstype": "create",
            "ts": 1772445600000i64, "broker": 1, "headers": null, "key": r#"{"ID":"x"}"#, "payload": payload});
        writeln!(f, "{rec}").unwrap();
    }
    f.flush().unwrap();
    (path, 2 + bad.len())
}

fn replay(file: &Path, data: &Path) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_streamq"))
        .arg("replay")
        .arg(file)
        .arg("--data-dir")
        .arg(data)
        .env("STREAMQ_LOG", "warn")
        .env("STREAMQ_FLUSH_INTERVAL_MS", "50")
        .env("STREAMQ_TEXT_ENABLED", "true")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

async fn state_of(data: &Path) -> (BTreeMap<String, (usize, u64)>, Vec<String>) {
    let mut cfg = test_config(data);
    cfg.data_dir = data.to_path_buf();
    cfg.text.enabled = true;
    let node = Node::start(cfg, false).await.unwrap();
    let sums = checksums(&node);
    // The text index holds exactly one document per live row, and finds rows by their text.
    for t in node.catalog.tables() {
        let rows = t.row_count() as u64;
        let docs: u64 = t
            .partitions()
            .iter()
            .map(|(_, p)| p.text.read().as_ref().map_or(0, |s| s.num_docs()))
            .sum();
        let name = t.schema.read().name.to_string();
        assert_eq!(docs, rows, "{name}: one document per live row");
        for (_, p) in t.partitions().iter().take(1) {
            let rows = p.rows.read();
            let Some((key, row)) = rows.rows.iter().find(|(_, r)| {
                r.values
                    .iter()
                    .any(|v| matches!(v, streamq::store::value::Value::Str(s) if s.contains(' ')))
            }) else {
                continue;
            };
            let text = row
                .values
                .iter()
                .find_map(|v| match v {
                    streamq::store::value::Value::Str(s) if s.contains(' ') => Some(s.clone()),
                    _ => None,
                })
                .unwrap();
            let phrase = format!("\"{}\"", text.replace('"', " "));
            let searcher = p.text.read().clone().unwrap();
            let live = |k: &[u8]| rows.rows.contains_key(k).then(String::new);
            let hits = searcher
                .search(&phrase, &[], None, None, 100_000, false, &live)
                .unwrap();
            assert!(
                hits.iter().any(|h| &h.key == key),
                "{name}: {phrase} finds its row"
            );
        }
    }
    let mut q: Vec<String> = node
        .store
        .quarantine()
        .unwrap()
        .into_iter()
        .map(|e| {
            format!(
                "{:?}/{:?}/{:?}/{:?}: {}",
                e.topic, e.partition, e.offset, e.position, e.reason
            )
        })
        .collect();
    q.sort();
    node.stop().await;
    (sums, q)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_nine_at_ten_random_points_converges_to_a_clean_ingest() {
    let dir = tempfile::tempdir().unwrap();
    let (file, bad) = file_with_bad_records(dir.path());

    let clean_dir = dir.path().join("clean");
    let status = replay(&file, &clean_dir).wait().unwrap();
    assert!(status.success());
    let (clean, clean_q) = state_of(&clean_dir).await;
    assert_eq!(clean.len(), 6);
    assert_eq!(clean_q.len(), bad, "{clean_q:#?}");

    // Time a clean run to place the kills inside it.
    let timing_dir = dir.path().join("timing");
    let started = std::time::Instant::now();
    assert!(replay(&file, &timing_dir).wait().unwrap().success());
    let full = started.elapsed().as_millis() as u64;

    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    println!("kill points seed {seed}, clean run {full} ms");
    let mut x = seed | 1;
    let crash_dir = dir.path().join("crash");
    let mut killed_mid_run = 0;
    for i in 0..10 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        // Within the first half of a full run: a restarted run resumes, so later points would
        // often land after it has finished.
        let at = 50 + x % (full / 2).max(100);
        let mut child = replay(&file, &crash_dir);
        tokio::time::sleep(Duration::from_millis(at)).await;
        if child.try_wait().unwrap().is_none() {
            killed_mid_run += 1;
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        println!("kill {i} at {at} ms (mid-run so far: {killed_mid_run})");
    }
    assert!(
        killed_mid_run >= 3,
        "kills must land mid-run ({killed_mid_run}/10)"
    );
    assert!(replay(&file, &crash_dir).wait().unwrap().success());
    let (after, after_q) = state_of(&crash_dir).await;
    assert_eq!(after, clean, "tables after 10 crashes equal a clean ingest");
    assert_eq!(
        after_q, clean_q,
        "the quarantine holds the bad records once each"
    );
}
