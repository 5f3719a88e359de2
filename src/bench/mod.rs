//! `streamq bench`: the measurements the README quotes, each printed beside its reference
//! where one runs here (a raw librdkafka consumer for Kafka). Criterion benches of the hot
//! loops are under `benches/`.

pub mod ask;
pub mod ingest;
pub mod kafka;
pub mod search;
pub mod ws;

use std::path::PathBuf;

use clap::Subcommand;

use crate::config::DemoFormat;
use crate::telemetry::percentile;

/// What `streamq bench` measures.
#[derive(Subcommand)]
pub enum BenchCmd {
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
    Ws(ws::WsBench),
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

impl BenchCmd {
    pub async fn run(self) -> anyhow::Result<()> {
        match self {
            BenchCmd::Ingest {
                file,
                events,
                format,
                index,
                no_live,
            } => ingest::run(file, events, format, index, no_live).await,
            BenchCmd::Search { docs, queries } => search::run(docs, queries),
            BenchCmd::Ws(b) => ws::run(b).await,
            BenchCmd::Ask {
                file,
                questions,
                rounds,
            } => ask::run(file, questions, rounds).await,
            BenchCmd::Kafka {
                brokers,
                ends,
                registry,
            } => kafka::run(brokers, ends, registry).await,
        }
    }
}

/// The process's peak resident memory so far.
pub fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// p50, p95 and max of latencies in ms.
pub fn summary_ms(mut v: Vec<f64>) -> String {
    v.sort_by(f64::total_cmp);
    format!(
        "p50 {:.2} ms, p95 {:.2} ms, max {:.2} ms (n={})",
        percentile(&v, 0.5),
        percentile(&v, 0.95),
        v.last().copied().unwrap_or(f64::NAN),
        v.len()
    )
}
