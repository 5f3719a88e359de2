//! # streamq
//!
//! A self-hosted real-time query assistant for change-data-capture streams: Debezium events
//! from Kafka topics (or a replay file, or the built-in demo) are folded into live tables that
//! answer SQL and plain English, while windows, detectors and alert rules push insights and
//! alerts to subscribers.
//!
//! # Layout
//!
//! Imports run one way, from the top of this list to the bottom; nothing imports upward and
//! no two modules import each other:
//!
//! - `main.rs` — the command line: flags become configuration, then [`server`], a client
//!   command ([`client`]) or a measurement ([`bench`]).
//! - [`server`] — serving everything: a [`node`], its source, the HTTP surface on a listener,
//!   the drain on shutdown. [`bench`] measures through the same parts.
//! - [`web`], [`mcp`] — the doors. [`web`]: REST, `/ws`, the dashboard, health and metrics on
//!   axum (it alone turns [`error`] codes into HTTP statuses); [`mcp`]: the same
//!   capabilities as MCP tools, whose argument types give their schemas, over `/mcp` and
//!   stdio, calling the REST API.
//! - [`node`] — one running streamq: it builds the store, the [`actors::Pipeline`], the
//!   [`live`] engine, the [`query`] engine and the [`llm`] assistant once, and hands them to
//!   the doors.
//! - [`live`] — the real-time half: merges the partitions' windows per table, runs detectors
//!   (insights) and alert rules (events, webhooks to the targets its outbound policy allows)
//!   over them.
//! - [`actors`] — the event path: source → router → supervisor → one
//!   [`actors::partition`] actor per topic partition (decode → commit → index → fold →
//!   publish) → the change broadcast; the router-owned progress of the input.
//! - [`llm`], [`query`] — answering: DataFusion over the live tables (every statement
//!   measured against the complexity limits first, every plan node stopping at its query's
//!   deadline, all queries within one memory pool); a local sentence encoder (candle, read
//!   on first use) and a parser that turns a question into a typed plan whose SQL [`query`]
//!   runs.
//! - [`ingest`], [`store`] — what comes in (sources produce [`ingest::record::Record`]s, the
//!   Debezium and Avro decoders make changes) and what is kept (sled rows and offsets in one
//!   atomic batch per micro-batch, the quarantine, schemas and their history, windows, the
//!   rule store, tantivy).
//! - [`config`], [`error`], [`ident`], [`telemetry`], [`client`], [`auth`] — the ground:
//!   settings (file → `STREAMQ_*` → flags), the error-code table, typed names, metrics and
//!   typed events, the HTTP client of a running server, tokens, roles and sessions (which
//!   [`web`]'s door applies to every route, socket subscription and MCP tool).

pub mod actors;
pub mod audit;
pub mod auth;
pub mod bench;
pub mod client;
pub mod config;
pub mod error;
pub mod ident;
pub mod ingest;
pub mod live;
pub mod llm;
pub mod mcp;
pub mod node;
pub mod privacy;
pub mod query;
pub mod server;
pub mod store;
pub mod telemetry;
pub mod tls;
pub mod web;

pub use config::Config;
pub use node::Node;
pub use store::checksum::{partition_checksum, table_checksum};
