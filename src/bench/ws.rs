//! `streamq bench ws`: what WebSocket subscribers cost ingestion, and how fast pushes are.
//!
//! The same file is replayed as fast as possible into a fresh store, served on a loopback port,
//! in three set-ups: no subscribers; one subscriber tailing every change of a table that never
//! reads (a slow consumer); and N subscribers (1 000 by default) each tailing a filtered table
//! and subscribed to insights, reading everything. Each prints ingest throughput; the last also
//! prints push latency — the record applied (durable) to its frame received by the client, so
//! it includes the write.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use parking_lot::Mutex;
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

use crate::config::{Config, SourceKind};
use crate::telemetry::percentile;

/// What to measure (the `bench ws` flags).
#[derive(clap::Args)]
pub struct WsBench {
    #[arg(long, default_value = "../shared/data/dev-events.jsonl.gz")]
    pub file: std::path::PathBuf,
    /// The table tailed.
    #[arg(long, default_value = "db2.transactions")]
    pub table: String,
    /// The tail filter of the reading subscribers.
    #[arg(long, default_value = "region = 'LATAM' AND amount > 1000")]
    pub filter: String,
    #[arg(long, default_value_t = 1000)]
    pub subscribers: usize,
    /// Rounds of the set-ups (interleaved); medians are printed at the end.
    #[arg(long, default_value_t = 3)]
    pub rounds: usize,
    /// The latency run replays at this pace (× real time) …
    #[arg(long, default_value_t = 20.0)]
    pub paced_speed: f64,
    /// … for this many seconds.
    #[arg(long, default_value_t = 30)]
    pub paced_secs: u64,
}

enum Setup {
    None,
    Slow,
    Many,
    /// Many subscribers, the file replayed at a pace (push latency without a backlog).
    Paced,
}

struct Run {
    events: u64,
    secs: f64,
    latencies_ms: Vec<f64>,
    frames: u64,
}

async fn one(b: &WsBench, setup: &Setup, dir: &std::path::Path) -> anyhow::Result<Run> {
    let mut cfg = Config {
        data_dir: dir.to_path_buf(),
        ..Config::default()
    };
    cfg.source.kind = SourceKind::Replay;
    cfg.source.file = Some(b.file.clone());
    if let Setup::Paced = setup {
        cfg.source.speed = Some(b.paced_speed);
    }
    let node = crate::node::Node::start(cfg, true).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("ws://{}/ws", listener.local_addr()?);
    let stop = CancellationToken::new();
    crate::server::serve(node.clone(), listener, stop.clone())?;
    let latencies = Arc::new(Mutex::new(Vec::<f64>::new()));
    let frames = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let mut keep = Vec::new();
    let clients = match setup {
        Setup::None => 0,
        Setup::Slow => 1,
        Setup::Many | Setup::Paced => b.subscribers,
    };
    let mut acks = Vec::new();
    for _ in 0..clients {
        let (mut ws, _) = tokio_tungstenite::connect_async(url.as_str()).await?;
        match setup {
            Setup::Slow => {
                let sub = serde_json::json!({"subscribe": "tail", "table": b.table});
                ws.send(Message::Text(sub.to_string().into())).await?;
                // Never read: the socket's buffers fill, then the server's queue.
                keep.push(ws);
            }
            _ => {
                let tail =
                    serde_json::json!({"subscribe": "tail", "table": b.table, "filter": b.filter});
                ws.send(Message::Text(tail.to_string().into())).await?;
                let ins = serde_json::json!({"subscribe": "insights"});
                ws.send(Message::Text(ins.to_string().into())).await?;
                let (ack_tx, ack_rx) = tokio::sync::oneshot::channel::<()>();
                acks.push(ack_rx);
                let latencies = latencies.clone();
                let frames = frames.clone();
                tokio::spawn(async move {
                    let mut ack_tx = Some(ack_tx);
                    let mut acked = 0;
                    while let Some(Ok(m)) = ws.next().await {
                        let Message::Text(t) = m else { continue };
                        let now = chrono::Utc::now().timestamp_micros();
                        frames.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Ok(v) = serde_json::from_str::<serde_json::Value>(t.as_str()) else {
                            continue;
                        };
                        if v["type"] == "subscribed" {
                            acked += 1;
                            if acked == 2
                                && let Some(tx) = ack_tx.take()
                            {
                                let _ = tx.send(());
                            }
                        }
                        if let Some(applied) = v["applied_us"].as_i64() {
                            latencies.lock().push((now - applied) as f64 / 1e3);
                        }
                    }
                });
            }
        }
    }
    for a in acks {
        let _ = tokio::time::timeout(Duration::from_secs(30), a).await;
    }
    if matches!(setup, Setup::Slow) {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let started = Instant::now();
    let source_stop = CancellationToken::new();
    let ingest = node.start_source(source_stop.clone());
    if let Setup::Paced = setup {
        tokio::time::sleep(Duration::from_secs(b.paced_secs)).await;
        source_stop.cancel();
    }
    ingest.await?;
    let secs = started.elapsed().as_secs_f64();
    let events = node
        .pipeline
        .status
        .lock()
        .as_ref()
        .map(|s| {
            s.router
                .records_routed
                .load(std::sync::atomic::Ordering::Relaxed)
        })
        .unwrap_or(0);
    if matches!(setup, Setup::Many | Setup::Paced) {
        // Let the last pushes arrive.
        let mut last = 0;
        loop {
            tokio::time::sleep(Duration::from_millis(500)).await;
            let n = latencies.lock().len();
            if n == last {
                break;
            }
            last = n;
        }
    }
    stop.cancel();
    node.stop().await;
    drop(keep);
    let latencies_ms = std::mem::take(&mut *latencies.lock());
    Ok(Run {
        events,
        secs,
        latencies_ms,
        frames: frames.load(std::sync::atomic::Ordering::Relaxed),
    })
}

/// Runs the three set-ups `rounds` times each, interleaved, and prints every figure.
pub async fn run(b: WsBench) -> anyhow::Result<()> {
    let tmp = std::env::temp_dir().join(format!("streamq-wsbench-{}", std::process::id()));
    let mut rates: [Vec<f64>; 4] = Default::default();
    for round in 0..b.rounds.max(1) {
        for (i, (name, setup)) in [
            ("no subscribers", Setup::None),
            ("one slow consumer", Setup::Slow),
            ("subscribers", Setup::Many),
            ("subscribers, paced", Setup::Paced),
        ]
        .into_iter()
        .enumerate()
        {
            if matches!(setup, Setup::Paced) && b.paced_secs == 0 {
                continue;
            }
            let dir = tmp.join(format!("r{round}-{i}"));
            let r = one(&b, &setup, &dir).await?;
            let _ = std::fs::remove_dir_all(&dir);
            let rate = r.events as f64 / r.secs;
            rates[i].push(rate);
            let who = match setup {
                Setup::Many => format!("{} {name}", b.subscribers),
                Setup::Paced => format!("{} {name} at {}x", b.subscribers, b.paced_speed),
                _ => name.to_string(),
            };
            let mut line = format!(
                "bench ws round {}: {who}: {} events in {:.2} s = {:.0} events/s",
                round + 1,
                r.events,
                r.secs,
                rate
            );
            if let Setup::Many | Setup::Paced = setup {
                let mut l = r.latencies_ms;
                l.sort_by(f64::total_cmp);
                line.push_str(&format!(
                    "; {} frames received; push latency (applied → received) p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms over {} change frames",
                    r.frames,
                    percentile(&l, 0.5),
                    percentile(&l, 0.99),
                    l.last().copied().unwrap_or(f64::NAN),
                    l.len()
                ));
            }
            println!("{line}");
        }
    }
    let _ = std::fs::remove_dir_all(&tmp);
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        percentile(v, 0.5)
    };
    let base = median(&mut rates[0]);
    let slow = median(&mut rates[1]);
    let many = median(&mut rates[2]);
    if !rates[3].is_empty() {
        println!(
            "bench ws: paced at {}x: {:.0} events/s applied and pushed",
            b.paced_speed,
            median(&mut rates[3])
        );
    }
    println!(
        "bench ws: median ingest {base:.0} events/s without subscribers; {slow:.0} with a slow consumer ({:+.1} %); {many:.0} with {} subscribers ({:+.1} %)",
        (slow / base - 1.0) * 100.0,
        b.subscribers,
        (many / base - 1.0) * 100.0
    );
    Ok(())
}
