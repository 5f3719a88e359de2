//! Plain-English questions against real replayed data with the real model files: the shared
//! evaluation script on both reference files, a topic the demo never had, clarifications,
//! and the error when the model is absent.

mod common;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use common::{TestServer, post_sql, run_eval, run_eval_on, shared};

fn ask(base: &str, question: &str, as_of: Option<&str>) -> (u16, serde_json::Value) {
    let body = serde_json::json!({ "question": question, "as_of": as_of });
    match ureq::post(&format!("{base}/api/ask")).send_json(body) {
        Ok(r) => (r.status(), r.into_json().unwrap()),
        Err(ureq::Error::Status(code, r)) => (code, r.into_json().unwrap()),
        Err(e) => panic!("request failed: {e}"),
    }
}

fn model_present() {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/all-MiniLM-L6-v2/model.safetensors");
    assert!(
        p.is_file(),
        "{} is missing: run `bash scripts/setup.sh` (the test command does)",
        p.display()
    );
}

/// The shared script's accuracy line, e.g. `nl-accuracy 0.950 (57/60) p95_ms 12.3`.
async fn dev_accuracy(file: &str) -> (f64, String) {
    model_present();
    let server = TestServer::replayed(&shared(file), |_| {}).await;
    let (base, dir) = (server.base.clone(), server.dir.path().to_path_buf());
    let run = tokio::task::spawn_blocking(move || run_eval("eval.py", &base, &dir))
        .await
        .unwrap();
    server.stop().await;
    (
        accuracy(&run),
        format!("{}\nfailures:\n{}", run.stdout, run.failures),
    )
}

/// The accuracy the shared script's last line states.
fn accuracy(run: &common::EvalRun) -> f64 {
    run.last
        .split_whitespace()
        .nth(1)
        .and_then(|x| x.parse().ok())
        .unwrap_or_else(|| panic!("no accuracy line in:\n{}\n{}", run.stdout, run.stderr))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dev_questions_schemaless() {
    let (acc, report) = dev_accuracy("data/dev-events.jsonl.gz").await;
    assert!(acc >= 0.95, "accuracy {acc} < 0.95\n{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dev_questions_schema_enabled() {
    let (acc, report) = dev_accuracy("data/dev-events-schema.jsonl.gz").await;
    assert!(acc >= 0.95, "accuracy {acc} < 0.95\n{report}");
}

/// The second domain (a telecom operator): answers right, and few answered wrong — a
/// question the parser cannot fully read is clarified instead.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn telecom_questions_are_answered_or_clarified_rarely_wrong() {
    model_present();
    let server = TestServer::replayed(&shared("data/dev2/telecom-events.jsonl.gz"), |_| {}).await;
    let (base, dir) = (server.base.clone(), server.dir.path().to_path_buf());
    let run = tokio::task::spawn_blocking(move || {
        run_eval_on("eval.py", &base, &dir, "data/dev2/telecom-questions.jsonl")
    })
    .await
    .unwrap();
    server.stop().await;
    let acc = accuracy(&run);
    // a wrong answer is a failure whose reply had rows; a clarification has none
    let wrong: Vec<&str> = run
        .failures
        .lines()
        .filter(|l| {
            serde_json::from_str::<serde_json::Value>(l)
                .is_ok_and(|f| f["got"].get("rows").is_some())
        })
        .collect();
    assert!(acc >= 0.9, "accuracy {acc} < 0.9\n{}", run.stdout);
    assert!(
        wrong.len() <= 3,
        "{} wrong answers:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

/// A delivery as the generator makes it.
struct Delivery {
    id: String,
    vehicle: &'static str,
    city: &'static str,
    status: &'static str,
    weight: f64,
    at_us: i64,
}

/// Writes a replay file for `fleet.deliveries`, a topic with a table and columns the demo never
/// had, and returns the final rows (updates applied).
fn write_deliveries(path: &Path) -> Vec<Delivery> {
    let vehicles = ["van", "truck", "cargo_bike"];
    let cities = ["Lisbon", "Porto", "Faro", "Braga"];
    let statuses = ["in_transit", "delivered", "failed"];
    let mut seed: u64 = 42;
    let mut next = move || {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (seed >> 33) as u32
    };
    let start_us: i64 = 1_780_000_000_000_000;
    let mut rows: Vec<Delivery> = Vec::new();
    let mut f = std::fs::File::create(path).unwrap();
    let mut offsets = [0u64; 2];
    for i in 0..600 {
        let d = Delivery {
            id: format!("D{:06}", 100_000 + i),
            vehicle: vehicles[next() as usize % 3],
            city: cities[next() as usize % 4],
            status: statuses[next() as usize % 3],
            weight: (next() % 50_000) as f64 / 100.0,
            at_us: start_us + i as i64 * 6_000_000,
        };
        rows.push(d);
    }
    // each delivery is created in transit, then half of them change status
    let mut events: Vec<(usize, &'static str, &'static str)> = Vec::new();
    for (i, d) in rows.iter().enumerate() {
        events.push((i, "c", "in_transit"));
        if d.status != "in_transit" {
            events.push((i, "u", d.status));
        }
    }
    for (i, op, status) in events {
        let d = &rows[i];
        let part = (i % 2) as i32;
        let after = serde_json::json!({
            "DELIVERY_ID": d.id, "VEHICLE_TYPE": d.vehicle, "CITY": d.city, "STATUS": status,
            "WEIGHT_KG": d.weight, "DISPATCHED_AT": d.at_us,
        });
        let ts_ms = d.at_us / 1000 + if op == "u" { 60_000 } else { 0 };
        let payload = serde_json::json!({
            "before": null, "after": after, "op": op, "ts_ms": ts_ms,
            "source": {"connector": "postgresql", "db": "fleet", "table": "deliveries", "ts_ms": ts_ms},
        });
        let line = serde_json::json!({
            "topic": "fleet.deliveries", "partition": part, "offset": offsets[part as usize],
            "tstype": "create", "ts": ts_ms, "broker": 1, "headers": null,
            "key": serde_json::json!({"DELIVERY_ID": d.id}).to_string(),
            "payload": payload.to_string(),
        });
        offsets[part as usize] += 1;
        writeln!(f, "{line}").unwrap();
    }
    rows
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_topic_is_understood_without_code_changes() {
    model_present();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("deliveries.jsonl");
    let rows = write_deliveries(&file);
    let server = TestServer::replayed(&file, |_| {}).await;
    let (status, body) = post_sql(&server.base, "SELECT count(*) AS n FROM fleet.deliveries");
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["rows"][0][0], 600);

    // 1. a breakdown with an aggregate over a column named with a unit suffix
    let (status, body) = ask(&server.base, "average weight per vehicle type", None);
    assert_eq!(status, 200, "{body}");
    let mut expected: BTreeMap<&str, (f64, usize)> = BTreeMap::new();
    for d in &rows {
        let e = expected.entry(d.vehicle).or_default();
        e.0 += d.weight;
        e.1 += 1;
    }
    let got: BTreeMap<String, f64> = body["rows"]
        .as_array()
        .unwrap_or_else(|| panic!("no rows: {body}"))
        .iter()
        .map(|r| (r[0].as_str().unwrap().to_string(), r[1].as_f64().unwrap()))
        .collect();
    assert_eq!(got.len(), expected.len(), "{body}");
    for (v, (sum, n)) in &expected {
        let want = sum / *n as f64;
        let have = got[*v];
        assert!(
            (have - want).abs() < 1e-6 * want.abs().max(1.0),
            "{v}: {have} != {want}; {body}"
        );
    }

    // 2. a count with two categorical values, one of them a city name
    let (status, body) = ask(
        &server.base,
        "how many failed deliveries were there in Porto?",
        None,
    );
    assert_eq!(status, 200, "{body}");
    let want = rows
        .iter()
        .filter(|d| d.status == "failed" && d.city == "Porto")
        .count();
    assert_eq!(body["rows"][0][0], want, "{body}");
    assert!(
        body["answer"].as_str().unwrap().contains(&want.to_string()),
        "{body}"
    );

    // 3. a time window relative to as_of on the table's own event-time column
    let last = rows.last().unwrap().at_us;
    let as_of = streamq::store::value::format_timestamp_us(last + 1);
    let (status, body) = ask(
        &server.base,
        "deliveries dispatched in the last 10 minutes",
        Some(&as_of),
    );
    assert_eq!(status, 200, "{body}");
    let want = rows
        .iter()
        .filter(|d| d.at_us >= last + 1 - 600_000_000)
        .count();
    assert_eq!(body["rows"][0][0], want, "{body}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vague_or_unrelated_questions_get_a_clarification() {
    model_present();
    let server = TestServer::replayed(&shared("data/dev-events.jsonl.gz"), |_| {}).await;
    for q in [
        "what's the weather",
        "show me the thing",
        "tell me something interesting",
    ] {
        let (status, body) = ask(&server.base, q, Some("2026-03-02T10:00:00Z"));
        assert_eq!(status, 200, "{q}: {body}");
        assert!(body["clarify"].is_string(), "{q}: {body}");
        assert!(body.get("rows").is_none(), "{q}: {body}");
        assert!(
            !body["candidates"].as_array().unwrap().is_empty(),
            "{q}: {body}"
        );
    }
    // an answerable one on the same server is answered, with a chart for a breakdown
    let (status, body) = ask(
        &server.base,
        "number of orders by status",
        Some("2026-03-02T10:00:00Z"),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["rows"].as_array().unwrap().len(), 6, "{body}");
    assert_eq!(body["chart"]["mark"], "bar", "{body}");
    let (status, body) = ask(&server.base, "", None);
    assert_eq!(status, 400, "{body}");
    let (status, body) = ask(&server.base, "orders by status", Some("yesterday-ish"));
    assert_eq!(status, 400, "{body}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_model_ask_names_the_path_and_the_fix_and_sql_still_works() {
    let server = TestServer::replayed(&shared("data/dev-events.jsonl.gz"), |c| {
        c.llm.model_dir = "/nonexistent/minilm".into();
    })
    .await;
    let (status, body) = ask(&server.base, "orders by status", None);
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["code"], "model_unavailable", "{body}");
    let msg = body["message"].as_str().unwrap();
    assert!(
        msg.contains("/nonexistent/minilm") && msg.contains("scripts/setup.sh"),
        "{msg}"
    );
    let (status, _) = post_sql(&server.base, "SELECT count(*) FROM db2.orders");
    assert_eq!(status, 200);
    server.stop().await;
}
