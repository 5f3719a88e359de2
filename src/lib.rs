//! # streamq
//!
//! A self-hosted real-time query assistant for change-data-capture streams: Debezium events
//! from Kafka topics (or a replay file, or the built-in demo) are folded into live tables that
//! answer SQL and plain English, while windows, detectors and alert rules push insights and
//! alerts to subscribers.
//!
//! # Layout
//!
//! Data flows top to bottom:
//!
//! - [`ingest`] — what comes in: sources ([`ingest::demo`], [`ingest::replay`]) produce
//!   [`ingest::record::Record`]s; [`ingest::debezium`] decodes envelopes into changes;
//!   [`ingest::log`] reads a topic's log back (Kafka, the file, or the demo rebuilt).
//! - [`actors`] — who runs: the router cuts records into per-partition micro-batches; one
//!   supervised [`actors::partition::PartitionActor`] per topic partition applies them.
//! - [`store`] — what is kept: sled (rows and applied offset in one atomic batch per
//!   micro-batch, the quarantine), the in-memory tables, the catalog discovered from data,
//!   and a tantivy text index per partition.
//! - [`query`] — how questions are answered: DataFusion over the live tables.
//! - [`llm`] — language in, plans out: a local sentence encoder (candle, all-MiniLM-L6-v2)
//!   and a parser that links a question to the live catalog and builds a typed plan whose
//!   SQL [`query`] runs.
//! - [`live`] — the real-time half: the change feed partition actors publish after each
//!   durable batch; the engine that merges their event-time windows per table, runs detectors
//!   (insights) and alert rules (events, webhooks) over them.
//! - [`web`] — HTTP: REST (SQL, plain-English ask, tables, search, quarantine, alert rules,
//!   insights, windows), the WebSocket (insights, alerts, windows, tails, continuous queries),
//!   health, metrics, the dashboard (`web::dashboard`: page, style, script built in; live
//!   throughput and lag per partition from `actors::rates`); table exploration (the change
//!   log read back from the source, profiles, charts drawn server-side).
//! - [`mcp`] — the MCP server: the same capabilities as tools for LLM clients, over
//!   streamable HTTP (`/mcp`) and stdio (`streamq mcp`), both calling the REST API.
//! - [`config`], [`telemetry`], [`ident`] — settings, metrics and typed events, typed names.

pub mod actors;
pub mod config;
pub mod ident;
pub mod ingest;
pub mod live;
pub mod llm;
pub mod mcp;
pub mod query;
pub mod store;
pub mod telemetry;
pub mod web;

pub use actors::Node;
pub use config::Config;

/// An order-independent checksum of a table's rows (values, op, timestamp, offset) with the
/// row count: equal for two stores that hold the same rows, however they got there.
pub fn table_checksum(table: &store::table::LiveTable) -> (usize, u64) {
    let mut count = 0;
    let mut sum = 0u64;
    for (_, part) in table.partitions() {
        let (n, s) = partition_checksum(&part.rows.read());
        count += n;
        sum = sum.wrapping_add(s);
    }
    (count, sum)
}

/// The same checksum over one partition's rows; a table's is the wrapping sum of its
/// partitions', so partitions held by different nodes add up to the whole.
pub fn partition_checksum(rows: &store::table::PartitionRows) -> (usize, u64) {
    let mut count = 0;
    let mut sum = 0u64;
    {
        for (key, row) in &rows.rows {
            count += 1;
            let mut h = Fnv::default();
            h.write(key);
            h.write(&[row.op]);
            h.write(&row.ts_ms.to_le_bytes());
            h.write(&row.offset.to_le_bytes());
            let trimmed = {
                let mut v = row.values.as_slice();
                while let [rest @ .., store::value::Value::Null] = v {
                    v = rest;
                }
                v
            };
            h.write(&store::encode(&trimmed));
            sum = sum.wrapping_add(h.0);
        }
    }
    (count, sum)
}

struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv {
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= *b as u64;
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }
}
