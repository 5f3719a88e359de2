//! The `streamq` command: serve, sql, replay, bench.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use tokio_util::sync::CancellationToken;

use streamq::config::{Config, DemoFormat, Rate, SourceKind};
use streamq::ingest::produce::{self, ProduceFormat, ProduceOptions, ProduceSource};
use streamq::ingest::registry::SchemaRegistry;
use streamq::telemetry::percentile;
use streamq::web::{AppState, router};
use streamq::{Node, table_checksum};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "streamq",
    version,
    about = "Real-time CDC stream query assistant"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(clap::Args, Default)]
struct Common {
    /// Config file (TOML); see config/streamq.toml.
    #[arg(long, env = "STREAMQ_CONFIG")]
    config: Option<PathBuf>,
    /// Where state is kept.
    #[arg(long, env = "STREAMQ_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Drop existing state and rebuild it from the source.
    #[arg(long)]
    rebuild: bool,
}

#[derive(Subcommand)]
enum Cmd {
    /// Ingest from a source and serve the HTTP API.
    Serve {
        #[command(flatten)]
        common: Common,
        /// demo (built-in generator) or replay (a kcat -C -J file).
        #[arg(long, env = "STREAMQ_SOURCE")]
        source: Option<SourceKind>,
        /// The replay file (.jsonl or .jsonl.gz); implies --source replay.
        #[arg(long, env = "STREAMQ_FILE")]
        file: Option<PathBuf>,
        /// Replay at the recorded pace times N (default: as fast as possible).
        #[arg(long, env = "STREAMQ_SPEED")]
        speed: Option<f64>,
        /// Demo events per second, or "max".
        #[arg(long, env = "STREAMQ_DEMO_RATE")]
        rate: Option<Rate>,
        /// Demo JSON form.
        #[arg(long, env = "STREAMQ_DEMO_FORMAT")]
        format: Option<DemoFormat>,
        /// Address to listen on.
        #[arg(long, env = "STREAMQ_LISTEN")]
        listen: Option<String>,
        #[command(flatten)]
        kafka: KafkaArgs,
    },
    /// Publish the demo stream or a replay file to Kafka (creates the topics).
    Produce {
        /// bootstrap.servers.
        #[arg(long, env = "STREAMQ_KAFKA_BROKERS")]
        brokers: String,
        /// demo or replay.
        #[arg(long, default_value = "demo")]
        source: ProduceFrom,
        /// The replay file (with --source replay).
        file: Option<PathBuf>,
        /// Encoding written to Kafka.
        #[arg(long, default_value = "json")]
        format: ProduceFormat,
        /// Schema Registry URL (for --format avro).
        #[arg(long, env = "STREAMQ_SCHEMA_REGISTRY_URL")]
        registry: Option<String>,
        /// Partitions for topics that do not exist yet.
        #[arg(long, default_value_t = 3)]
        partitions: i32,
        /// Replication factor for topics that do not exist yet.
        #[arg(long, default_value_t = 1)]
        replication_factor: i32,
        /// Records to produce (demo default: 100 000; replay default: the whole file).
        #[arg(long)]
        limit: Option<u64>,
        /// Demo seed.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// A librdkafka property, `name=value` (repeatable).
        #[arg(long = "property", short = 'X')]
        properties: Vec<String>,
    },
    /// Run one SQL query against a running server and print the result.
    Sql {
        sql: String,
        #[arg(long, env = "STREAMQ_SERVER", default_value = "http://127.0.0.1:8080")]
        server: String,
    },
    /// Ask a running server a question in plain English; prints the answer, the SQL and the rows.
    Ask {
        question: String,
        /// The instant "now" means (RFC 3339); default: the server's clock.
        #[arg(long)]
        as_of: Option<String>,
        #[arg(long, env = "STREAMQ_SERVER", default_value = "http://127.0.0.1:8080")]
        server: String,
    },
    /// Serve streamq's MCP tools over stdio (what an MCP desktop client launches), calling a
    /// running server's REST API.
    Mcp {
        #[arg(long, env = "STREAMQ_SERVER", default_value = "http://127.0.0.1:8080")]
        server: String,
        #[command(flatten)]
        common: Common,
    },
    /// Ingest a replay file and exit when caught up.
    Replay {
        file: PathBuf,
        #[command(flatten)]
        common: Common,
    },
    /// Measure ingest throughput.
    Bench {
        #[command(subcommand)]
        what: BenchCmd,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum ProduceFrom {
    Demo,
    Replay,
}

/// Kafka source flags for `serve`.
#[derive(clap::Args, Default)]
struct KafkaArgs {
    /// bootstrap.servers; implies --source kafka.
    #[arg(long, env = "STREAMQ_KAFKA_BROKERS")]
    brokers: Option<String>,
    /// Topics: a comma-separated list or one `^regex` (default: all not starting with `_`).
    #[arg(long, env = "STREAMQ_KAFKA_TOPICS")]
    topics: Option<String>,
    /// Consumer group.
    #[arg(long, env = "STREAMQ_KAFKA_GROUP")]
    group: Option<String>,
    /// Schema Registry URL for Avro records.
    #[arg(long, env = "STREAMQ_SCHEMA_REGISTRY_URL")]
    registry: Option<String>,
}

fn parse_properties(
    props: &[String],
) -> anyhow::Result<std::collections::BTreeMap<String, String>> {
    props
        .iter()
        .map(|p| {
            p.split_once('=')
                .map(|(k, v)| (k.trim().to_string(), v.to_string()))
                .with_context(|| format!("--property {p:?}: expected name=value"))
        })
        .collect()
}

#[derive(Subcommand)]
enum BenchCmd {
    /// Replay throughput of a file and of a generated stream, with peak memory.
    Ingest {
        /// A kcat -C -J file to replay (e.g. ../shared/data/dev-events.jsonl.gz).
        #[arg(long)]
        file: Option<PathBuf>,
        /// Events in the generated stream (0 = skip).
        #[arg(long, default_value_t = 2_000_000)]
        events: usize,
        /// Form of the generated stream.
        #[arg(long, default_value = "json")]
        format: DemoFormat,
        /// Turn the full-text index on (to measure its cost).
        #[arg(long)]
        index: bool,
        /// Turn windows, detectors and rules off (to measure their cost).
        #[arg(long)]
        no_live: bool,
    },
    /// Consume throughput from a Kafka cluster: a fresh consumer group and store read the
    /// topics until every partition reaches the end offsets `streamq produce` printed.
    Kafka {
        #[arg(long)]
        brokers: String,
        /// The JSON summary `streamq produce` printed (its `end_offsets`).
        #[arg(long)]
        ends: PathBuf,
        /// Schema Registry for Avro topics.
        #[arg(long)]
        registry: Option<String>,
    },
    /// Plain-English latency: parse (no execution) and end-to-end ask over a question file,
    /// on a store that has replayed a data file; plus the encoder's own cost.
    Ask {
        /// The data the questions are about.
        #[arg(long, default_value = "../shared/data/dev-events.jsonl.gz")]
        file: PathBuf,
        /// JSON lines with "question" and optional "as_of".
        #[arg(long, default_value = "../shared/data/dev-questions.jsonl")]
        questions: PathBuf,
        /// Timed rounds over the questions after the first (cold) one.
        #[arg(long, default_value_t = 5)]
        rounds: usize,
    },
    /// WebSocket push: ingest throughput with no subscribers, with one that never reads, and
    /// with many reading a filtered tail and insights; push latency for the latter.
    Ws {
        #[arg(long, default_value = "../shared/data/dev-events.jsonl.gz")]
        file: PathBuf,
        /// The table tailed.
        #[arg(long, default_value = "db2.transactions")]
        table: String,
        /// The tail filter of the reading subscribers.
        #[arg(long, default_value = "region = 'LATAM' AND amount > 1000")]
        filter: String,
        #[arg(long, default_value_t = 1000)]
        subscribers: usize,
        /// Rounds of the set-ups (interleaved); medians are printed at the end.
        #[arg(long, default_value_t = 3)]
        rounds: usize,
        /// The latency run replays at this pace (× real time) …
        #[arg(long, default_value_t = 20.0)]
        paced_speed: f64,
        /// … for this many seconds.
        #[arg(long, default_value_t = 30)]
        paced_secs: u64,
    },
    /// Search latency over an index of generated rows.
    Search {
        /// Documents to index.
        #[arg(long, default_value_t = 10_000_000)]
        docs: usize,
        /// Queries to time.
        #[arg(long, default_value_t = 1000)]
        queries: usize,
    },
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("STREAMQ_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

fn load(common: &Common) -> anyhow::Result<Config> {
    let mut cfg = Config::load(common.config.as_deref(), &Config::process_env())?;
    if let Some(d) = &common.data_dir {
        cfg.data_dir = d.clone();
    }
    Ok(cfg)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::Serve {
            common,
            source,
            file,
            speed,
            rate,
            format,
            listen,
            kafka,
        } => {
            init_tracing();
            let mut cfg = load(&common)?;
            if let Some(b) = kafka.brokers {
                cfg.kafka.brokers = b;
                cfg.source.kind = SourceKind::Kafka;
            }
            if let Some(t) = kafka.topics {
                cfg.kafka.topics = Some(t);
            }
            if let Some(g) = kafka.group {
                cfg.kafka.group = g;
            }
            if let Some(r) = kafka.registry {
                cfg.kafka.registry.url = Some(r);
            }
            if let Some(f) = file {
                cfg.source.file = Some(f);
                cfg.source.kind = SourceKind::Replay;
            }
            if let Some(s) = source {
                cfg.source.kind = s;
            }
            if let Some(s) = speed {
                cfg.source.speed = Some(s);
            }
            if let Some(r) = rate {
                cfg.source.demo.rate = r;
            }
            if let Some(f) = format {
                cfg.source.demo.format = f;
            }
            if let Some(l) = listen {
                cfg.listen = l;
            }
            cfg.validate()?;
            serve(cfg, common.rebuild).await
        }
        Cmd::Produce {
            brokers,
            source,
            file,
            format,
            registry,
            partitions,
            replication_factor,
            limit,
            seed,
            properties,
        } => {
            init_tracing();
            let source = match (source, file) {
                (ProduceFrom::Replay, Some(f)) => ProduceSource::Replay(f),
                (ProduceFrom::Replay, None) => bail!("--source replay needs a FILE"),
                (ProduceFrom::Demo, _) => ProduceSource::Demo(streamq::config::DemoConfig {
                    seed,
                    partitions,
                    ..Default::default()
                }),
            };
            let env = Config::process_env();
            let registry = registry.map(|url| {
                SchemaRegistry::new(
                    &url,
                    env.get("STREAMQ_SCHEMA_REGISTRY_USERNAME")
                        .map(String::as_str),
                    env.get("STREAMQ_SCHEMA_REGISTRY_PASSWORD")
                        .map(String::as_str),
                )
            });
            let opts = ProduceOptions {
                brokers,
                source,
                format,
                registry,
                partitions,
                replication: replication_factor,
                properties: parse_properties(&properties)?,
                limit,
            };
            let summary = tokio::task::spawn_blocking(move || produce::run(opts)).await??;
            println!("{}", serde_json::to_string_pretty(&summary)?);
            Ok(())
        }
        Cmd::Mcp { server, common } => {
            let cfg = load(&common)?;
            streamq::mcp::serve_stdio(&server, cfg.mcp).await
        }
        Cmd::Sql { sql, server } => {
            if let Err(e) = run_sql(&sql, &server) {
                eprintln!("error: {e}");
                std::process::exit(1);
            }
            Ok(())
        }
        Cmd::Ask {
            question,
            as_of,
            server,
        } => {
            if let Err(e) = run_ask(&question, as_of.as_deref(), &server) {
                eprintln!("error: {e}");
                std::process::exit(1);
            }
            Ok(())
        }
        Cmd::Replay { file, common } => {
            init_tracing();
            let mut cfg = load(&common)?;
            cfg.source.kind = SourceKind::Replay;
            cfg.source.file = Some(file);
            cfg.source.speed = None;
            cfg.validate()?;
            let (node, took, read) = ingest_to_end(cfg, common.rebuild).await?;
            print_summary(&node, took, read);
            node.stop().await;
            Ok(())
        }
        Cmd::Bench { what } => match what {
            BenchCmd::Ingest {
                file,
                events,
                format,
                index,
                no_live,
            } => bench_ingest(file, events, format, index, no_live).await,
            BenchCmd::Search { docs, queries } => bench_search(docs, queries),
            BenchCmd::Ws {
                file,
                table,
                filter,
                subscribers,
                rounds,
                paced_speed,
                paced_secs,
            } => {
                streamq::web::wsbench::run(streamq::web::wsbench::WsBench {
                    file,
                    table,
                    filter,
                    subscribers,
                    rounds,
                    paced_speed,
                    paced_secs,
                })
                .await
            }
            BenchCmd::Ask {
                file,
                questions,
                rounds,
            } => bench_ask(file, questions, rounds).await,
            BenchCmd::Kafka {
                brokers,
                ends,
                registry,
            } => bench_kafka(brokers, ends, registry).await,
        },
    }
}

async fn shutdown_signal(token: CancellationToken) {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down: draining ingestion, flushing state");
    token.cancel();
}

async fn serve(cfg: Config, rebuild: bool) -> anyhow::Result<()> {
    let listen = cfg.listen.clone();
    let node = Node::start(cfg, rebuild).await?;
    let shutdown = CancellationToken::new();
    let ingest = node.start_source(shutdown.clone());
    let listener = tokio::net::TcpListener::bind(&listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    let addr: SocketAddr = listener.local_addr()?;
    println!("streamq serving on http://{addr}  (dashboard: http://{addr}/ , SQL: POST /api/sql)");
    let app = router(AppState::new(node.clone()));
    tokio::spawn(shutdown_signal(shutdown.clone()));
    let server_token = shutdown.clone();
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async move { server_token.cancelled().await })
    .await?;
    // Drain: the router delivers what it has cut, then actors stop and sled flushes; past the
    // deadline, exit anyway (state is a fold of the log: a restart re-reads what was lost).
    let drain = async {
        let _ = ingest.await;
        node.stop().await;
    };
    if tokio::time::timeout(Duration::from_secs(20), drain)
        .await
        .is_err()
    {
        tracing::warn!("shutdown deadline passed; exiting without a clean drain");
    }
    Ok(())
}

/// Ingests the configured source to its end; returns the node, the time taken and records read.
async fn ingest_to_end(cfg: Config, rebuild: bool) -> anyhow::Result<(Node, Duration, u64)> {
    let node = Node::start(cfg, rebuild).await?;
    let started = Instant::now();
    let handle = node.start_source(CancellationToken::new());
    handle.await?;
    let took = started.elapsed();
    let status = node.status.lock().clone();
    if let Some(err) = status.as_ref().and_then(|s| s.error.lock().clone()) {
        bail!("source failed: {err}");
    }
    let read = status
        .map(|s| {
            s.router
                .records_routed
                .load(std::sync::atomic::Ordering::Relaxed)
        })
        .unwrap_or(0);
    Ok((node, took, read))
}

fn print_summary(node: &Node, took: Duration, read: u64) {
    println!(
        "replayed {read} records in {:.2}s ({:.0} events/s)",
        took.as_secs_f64(),
        read as f64 / took.as_secs_f64().max(1e-9)
    );
    for t in node.catalog.tables() {
        let (n, sum) = table_checksum(&t);
        println!(
            "  {:<22} {:>8} rows  checksum {:016x}",
            t.schema.read().name.to_string(),
            n,
            sum
        );
    }
    let q = node.store.quarantine().map(|q| q.len()).unwrap_or(0);
    println!("  quarantined: {q}");
}

fn post_json(
    server: &str,
    path: &str,
    body: serde_json::Value,
) -> anyhow::Result<serde_json::Value> {
    let url = format!("{}{path}", server.trim_end_matches('/'));
    Ok(match ureq::post(&url).send_json(body) {
        Ok(r) => r.into_json()?,
        Err(ureq::Error::Status(_, r)) => {
            let e: serde_json::Value = r.into_json()?;
            bail!(
                "{}: {}",
                e["code"].as_str().unwrap_or("error"),
                e["message"].as_str().unwrap_or("")
            );
        }
        Err(e) => bail!("cannot reach {server}: {e}"),
    })
}

fn run_ask(question: &str, as_of: Option<&str>, server: &str) -> anyhow::Result<()> {
    let body = post_json(
        server,
        "/api/ask",
        serde_json::json!({ "question": question, "as_of": as_of }),
    )?;
    if let Some(c) = body["clarify"].as_str() {
        println!("{c}");
        for cand in body["candidates"].as_array().into_iter().flatten() {
            println!("  - {}", cand.as_str().unwrap_or(""));
        }
        return Ok(());
    }
    println!("{}", body["answer"].as_str().unwrap_or(""));
    println!("\nSQL: {}", body["sql"].as_str().unwrap_or(""));
    println!("confidence {}", body["confidence"]);
    let columns: Vec<serde_json::Value> = body["columns"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| serde_json::json!({ "name": c }))
        .collect();
    print_rows(&serde_json::json!({
        "columns": columns,
        "rows": body["rows"],
        "took_ms": body["took_ms"],
        "truncated": false,
    }))
}

fn run_sql(sql: &str, server: &str) -> anyhow::Result<()> {
    let body = post_json(server, "/api/sql", serde_json::json!({ "sql": sql }))?;
    print_rows(&body)
}

fn print_rows(body: &serde_json::Value) -> anyhow::Result<()> {
    let mut table = comfy_table::Table::new();
    table.load_preset(comfy_table::presets::UTF8_FULL_CONDENSED);
    table.set_header(
        body["columns"]
            .as_array()
            .map(|c| {
                c.iter()
                    .map(|c| c["name"].as_str().unwrap_or("").to_string())
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default(),
    );
    let rows = body["rows"].as_array().cloned().unwrap_or_default();
    for row in &rows {
        table.add_row(
            row.as_array()
                .map(|r| {
                    r.iter()
                        .map(|v| match v {
                            serde_json::Value::String(s) => s.clone(),
                            serde_json::Value::Null => "NULL".into(),
                            other => other.to_string(),
                        })
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default(),
        );
    }
    println!("{table}");
    println!(
        "{} row{}{} in {} ms",
        rows.len(),
        if rows.len() == 1 { "" } else { "s" },
        if body["truncated"].as_bool() == Some(true) {
            " (truncated)"
        } else {
            ""
        },
        body["took_ms"]
    );
    Ok(())
}

fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

async fn bench_ingest(
    file: Option<PathBuf>,
    events: usize,
    format: DemoFormat,
    index: bool,
    no_live: bool,
) -> anyhow::Result<()> {
    let tmp = std::env::temp_dir().join(format!("streamq-bench-{}", std::process::id()));
    let mut runs: Vec<(String, PathBuf)> = Vec::new();
    if let Some(f) = file {
        runs.push((f.display().to_string(), f));
    }
    if events > 0 {
        std::fs::create_dir_all(&tmp)?;
        let path = tmp.join("generated.jsonl");
        let mut out = std::io::BufWriter::new(std::fs::File::create(&path)?);
        streamq::ingest::demo::write_kcat_lines(7, events, format, &mut out)?;
        drop(out);
        runs.push((format!("generated {events} events ({format:?})"), path));
    }
    if runs.is_empty() {
        bail!("nothing to measure: give --file and/or --events");
    }
    for (label, path) in runs {
        // STREAMQ_* variables apply (e.g. STREAMQ_TEXT_COMMIT_INTERVAL_MS), for comparisons.
        let mut cfg = Config::load(None, &Config::process_env())?;
        cfg.data_dir = tmp.join(format!("data-{}", label.len()));
        cfg.source.kind = SourceKind::Replay;
        cfg.source.file = Some(path);
        cfg.text.enabled = index;
        cfg.live.enabled = !no_live;
        let (node, took, read) = ingest_to_end(cfg.clone(), true).await?;
        node.stop().await;
        println!(
            "bench ingest{}{}: {label}: {read} events in {:.2} s = {:.0} events/s; peak RSS {:.0} MiB",
            if index { " (text index on)" } else { "" },
            if no_live { " (live off)" } else { "" },
            took.as_secs_f64(),
            read as f64 / took.as_secs_f64(),
            peak_rss_mib().unwrap_or(f64::NAN)
        );
        let _ = std::fs::remove_dir_all(&cfg.data_dir);
    }
    let _ = std::fs::remove_dir_all(&tmp);
    Ok(())
}

fn summary_ms(mut v: Vec<f64>) -> String {
    v.sort_by(f64::total_cmp);
    format!(
        "p50 {:.2} ms, p95 {:.2} ms, max {:.2} ms (n={})",
        percentile(&v, 0.5),
        percentile(&v, 0.95),
        v.last().copied().unwrap_or(f64::NAN),
        v.len()
    )
}

async fn bench_ask(file: PathBuf, questions: PathBuf, rounds: usize) -> anyhow::Result<()> {
    use streamq::llm::{AskReply, Assistant, encoder::Encoder};
    let file_qs: Vec<serde_json::Value> = std::fs::read_to_string(&questions)
        .with_context(|| format!("reading {}", questions.display()))?
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| Ok(serde_json::from_str(l)?))
        .collect::<anyhow::Result<_>>()?;
    let qs: Vec<(String, Option<String>)> = file_qs
        .iter()
        .map(|v| {
            (
                v["question"].as_str().unwrap_or("").to_string(),
                v["as_of"].as_str().map(str::to_string),
            )
        })
        .collect();
    let cfg0 = Config::default();
    let model_dir = cfg0.llm.model_dir.clone();

    // the encoder alone
    let enc = Encoder::load(&model_dir)?;
    let sample: Vec<&str> = qs.iter().take(8).map(|q| q.0.as_str()).collect();
    enc.embed(&sample)?;
    let time = |f: &dyn Fn()| {
        let t = Instant::now();
        for _ in 0..10 {
            f();
        }
        t.elapsed().as_secs_f64() * 1e3 / 10.0
    };
    let one_q = time(&|| {
        enc.embed(&[sample[0]]).ok();
    });
    let one_w = time(&|| {
        enc.embed(&["rejected"]).ok();
    });
    let batch = time(&|| {
        enc.embed(&sample).ok();
    });
    println!(
        "bench ask: encoder (no padding): one question {one_q:.1} ms, one word {one_w:.1} ms, a batch of {} questions {batch:.1} ms",
        sample.len()
    );
    drop(enc);

    let tmp = std::env::temp_dir().join(format!("streamq-bench-ask-{}", std::process::id()));
    let mut cfg = Config {
        data_dir: tmp.clone(),
        ..Config::default()
    };
    cfg.source.kind = SourceKind::Replay;
    cfg.source.file = Some(file.clone());
    let (node, took, read) = ingest_to_end(cfg.clone(), true).await?;
    println!(
        "bench ask: replayed {read} events of {} in {:.1} s",
        file.display(),
        took.as_secs_f64()
    );
    let engine = std::sync::Arc::new(streamq::query::QueryEngine::new(
        node.catalog.clone(),
        cfg.query.clone(),
        node.metrics.clone(),
    ));
    let assistant = Assistant::new(
        node.catalog.clone(),
        engine,
        node.metrics.clone(),
        &model_dir,
    );
    let t = Instant::now();
    assistant.parse("warm up", None).await?;
    println!(
        "bench ask: catalog snapshot (value statistics through SQL + embedding columns and values) {:.0} ms, once per catalog change",
        t.elapsed().as_secs_f64() * 1e3
    );
    let mut cold = Vec::new();
    for (q, as_of) in &qs {
        cold.push(assistant.parse(q, as_of.as_deref()).await?.1);
    }
    let mut warm = Vec::new();
    let mut e2e = Vec::new();
    let mut clarified = 0;
    let mut reliability = streamq::llm::reliability::Reliability::new();
    for round in 0..rounds {
        for ((q, as_of), v) in qs.iter().zip(&file_qs) {
            warm.push(assistant.parse(q, as_of.as_deref()).await?.1);
            let t = Instant::now();
            let reply = assistant.ask(q, as_of.as_deref()).await;
            e2e.push(t.elapsed().as_secs_f64() * 1e3);
            let expected: Option<Vec<Vec<serde_json::Value>>> =
                serde_json::from_value(v["expected"]["rows"].clone()).ok();
            match reply {
                Ok(AskReply::Clarify { .. }) => {
                    clarified += 1;
                    if round == 0 {
                        reliability.clarified += 1;
                    }
                }
                Ok(AskReply::Answer(a)) if round == 0 => {
                    if let Some(e) = &expected {
                        let ordered =
                            streamq::llm::reliability::is_ordered(v["sql"].as_str().unwrap_or(""));
                        reliability.add(
                            a.confidence,
                            streamq::llm::reliability::matches(e, &a.rows, ordered),
                        );
                    }
                }
                Ok(_) => {}
                Err(e) if round == 0 => {
                    println!("bench ask: {q}: {e}");
                    reliability.add(0.0, false);
                }
                Err(_) => {}
            }
        }
    }
    println!(
        "bench ask: parse, first sight of each question (encoder runs for unmatched words): {}",
        summary_ms(cold)
    );
    println!(
        "bench ask: parse, repeated (embeddings cached): {}",
        summary_ms(warm)
    );
    println!(
        "bench ask: end-to-end ask (parse + DataFusion + answer): {}; {clarified} clarifications",
        summary_ms(e2e)
    );
    println!(
        "bench ask: reliability of the first round's answers against the questions' expected results\n{}",
        reliability.table()
    );
    node.stop().await;
    let _ = std::fs::remove_dir_all(&tmp);
    Ok(())
}

async fn bench_kafka(
    brokers: String,
    ends: PathBuf,
    registry: Option<String>,
) -> anyhow::Result<()> {
    let summary: serde_json::Value = serde_json::from_slice(&std::fs::read(&ends)?)?;
    let offsets = summary.get("end_offsets").unwrap_or(&summary);
    let mut want: Vec<(String, i32, i64)> = Vec::new();
    for (t, parts) in offsets
        .as_object()
        .context("end_offsets is not an object")?
    {
        for (p, e) in parts.as_object().context("partitions are not an object")? {
            want.push((t.clone(), p.parse()?, e.as_i64().unwrap_or(0)));
        }
    }
    let total: i64 = want.iter().map(|w| w.2).sum();
    let raw = tokio::task::spawn_blocking({
        let brokers = brokers.clone();
        let want = want.clone();
        move || raw_consume(&brokers, &want)
    })
    .await??;
    println!(
        "bench kafka: raw librdkafka (rdkafka BaseConsumer, no decode): {total} records in {:.2} s (from the first record) = {:.0} records/s; {:.2} s including start-up",
        raw.0.as_secs_f64(),
        total as f64 / raw.0.as_secs_f64().max(1e-9),
        raw.1.as_secs_f64()
    );
    let tmp = std::env::temp_dir().join(format!("streamq-bench-kafka-{}", std::process::id()));
    let mut cfg = Config {
        data_dir: tmp.clone(),
        ..Config::default()
    };
    cfg.source.kind = SourceKind::Kafka;
    cfg.kafka.brokers = brokers;
    cfg.kafka.group = format!("streamq-bench-{}", std::process::id());
    cfg.kafka.registry.url = registry;
    let node = Node::start(cfg, true).await?;
    let shutdown = CancellationToken::new();
    let handle = node.start_source(shutdown.clone());
    let applied = |node: &Node| -> (i64, bool) {
        let mut sum = 0;
        let mut done = true;
        for (t, p, e) in &want {
            let a = node
                .catalog
                .table_for_topic(t)
                .partition(*p)
                .rows
                .read()
                .applied
                .map_or(0, |a| a + 1);
            sum += a;
            done &= a >= *e;
        }
        (sum, done)
    };
    let started = Instant::now();
    let mut first: Option<Instant> = None;
    loop {
        let (sum, done) = applied(&node);
        if sum > 0 && first.is_none() {
            first = Some(Instant::now());
        }
        if done {
            break;
        }
        if started.elapsed() > Duration::from_secs(600) {
            bail!("not caught up after 10 minutes ({sum} of {total})");
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let took = first.map_or(started.elapsed(), |f| f.elapsed());
    println!(
        "bench kafka: {total} records applied in {:.2} s (from the first applied record) = {:.0} events/s; {:.2} s including the group join; peak RSS {:.0} MiB",
        took.as_secs_f64(),
        total as f64 / took.as_secs_f64().max(1e-9),
        started.elapsed().as_secs_f64(),
        peak_rss_mib().unwrap_or(f64::NAN)
    );
    shutdown.cancel();
    let _ = handle.await;
    node.stop().await;
    let _ = std::fs::remove_dir_all(&tmp);
    Ok(())
}

/// Reads every partition from the start to its end offset with a plain librdkafka consumer
/// (assigned, no group, nothing decoded); the time from the first record to the last.
fn raw_consume(brokers: &str, want: &[(String, i32, i64)]) -> anyhow::Result<(Duration, Duration)> {
    use rdkafka::Message;
    use rdkafka::consumer::{BaseConsumer, Consumer};
    let consumer: BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set(
            "group.id",
            format!("streamq-bench-raw-{}", std::process::id()),
        )
        .set("enable.auto.commit", "false")
        .set("fetch.message.max.bytes", "8388608")
        .create()?;
    let mut tpl = rdkafka::TopicPartitionList::new();
    let mut remaining = std::collections::HashMap::new();
    for (t, p, e) in want {
        tpl.add_partition_offset(t, *p, rdkafka::Offset::Beginning)?;
        if *e > 0 {
            remaining.insert((t.clone(), *p), *e);
        }
    }
    consumer.assign(&tpl)?;
    let started = Instant::now();
    let mut first: Option<Instant> = None;
    let mut bytes = 0usize;
    while !remaining.is_empty() {
        if started.elapsed() > Duration::from_secs(600) {
            bail!("raw consumer did not reach the end offsets in 10 minutes");
        }
        match consumer.poll(Duration::from_millis(500)) {
            Some(Ok(m)) => {
                first.get_or_insert_with(Instant::now);
                bytes += m.payload().map_or(0, <[u8]>::len);
                let key = (m.topic().to_string(), m.partition());
                if remaining.get(&key).is_some_and(|e| m.offset() + 1 >= *e) {
                    remaining.remove(&key);
                }
            }
            Some(Err(e)) => tracing::warn!(error = %e, "raw consumer error"),
            None => {}
        }
    }
    std::hint::black_box(bytes);
    let from_first = first.map_or(started.elapsed(), |f| f.elapsed());
    Ok((from_first, started.elapsed()))
}

/// Indexes `docs` generated transaction-like rows in one index, then times `queries` searches
/// (terms, phrases, column-qualified) and prints p50/p95.
fn bench_search(docs: usize, queries: usize) -> anyhow::Result<()> {
    use streamq::store::text::TextIndex;
    let dir = std::env::temp_dir().join(format!("streamq-bench-search-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut ix = TextIndex::open(&dir, 256 * 1024 * 1024)?;
    let merchants = [
        "Fourth Coffee",
        "Cobalt Mobile",
        "Coho Winery",
        "Blue Yonder Airlines",
        "Urban Threads",
        "Nod Publishers",
        "Alpine Ski House",
        "Wingtip Toys",
    ];
    let kinds = [
        "Contactless purchase at",
        "Card purchase at",
        "Online purchase at",
        "Refund from",
        "Chip and PIN purchase at",
    ];
    let tails = [
        "",
        ", express shipping",
        ", standard shipping",
        ", click and collect",
    ];
    let started = Instant::now();
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    // What each document holds (merchant, kind, tail), so hits get their snippets from the
    // "live row" as the server's do.
    let mut parts: Vec<[u8; 3]> = Vec::with_capacity(docs);
    let text_of = |p: [u8; 3]| {
        let m = merchants[p[0] as usize];
        (
            format!("{} {m}{}", kinds[p[1] as usize], tails[p[2] as usize]),
            m,
        )
    };
    for i in 0..docs {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let p = [(x % 8) as u8, ((x >> 8) % 5) as u8, ((x >> 16) % 4) as u8];
        parts.push(p);
        let (d, m) = text_of(p);
        ix.upsert(
            format!("T{i:09}").as_bytes(),
            i as i64,
            i as i64,
            &[("description", d.as_str()), ("merchant", m)],
            false,
        );
        if i % 1_000_000 == 999_999 {
            ix.commit(Some(i as i64))?;
            eprintln!("indexed {} docs", i + 1);
        }
    }
    ix.commit(Some(docs as i64))?;
    let index_secs = started.elapsed().as_secs_f64();
    let searcher = ix.searcher();
    let qs = [
        "express",
        "\"blue yonder\"",
        "description:\"click and collect\"",
        "refund coffee",
        "merchant:wingtip",
        "\"standard shipping\" alpine",
    ];
    let cols = vec!["description".to_string(), "merchant".to_string()];
    let mut lat = Vec::with_capacity(queries);
    for i in 0..queries {
        let t = Instant::now();
        let live = |k: &[u8]| -> Option<String> {
            let i: usize = std::str::from_utf8(k.get(1..)?).ok()?.parse().ok()?;
            let (d, m) = text_of(*parts.get(i)?);
            Some(format!("{d} · {m}"))
        };
        let hits = searcher.search(qs[i % qs.len()], &cols, None, None, 20, false, &live)?;
        lat.push(t.elapsed().as_secs_f64() * 1000.0);
        assert!(!hits.is_empty());
    }
    lat.sort_by(f64::total_cmp);
    let pct = |p: f64| percentile(&lat, p);
    println!(
        "bench search: {docs} docs indexed in {index_secs:.1} s ({:.0} docs/s); {queries} queries (top 20): p50 {:.2} ms, p95 {:.2} ms; peak RSS {:.0} MiB",
        docs as f64 / index_secs,
        pct(0.5),
        pct(0.95),
        peak_rss_mib().unwrap_or(f64::NAN)
    );
    drop(searcher);
    drop(ix);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
