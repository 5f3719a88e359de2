//! What operators watch: Prometheus metrics, and typed events that write the log line and the
//! metric together.

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};

use crate::ident::{Offset, TopicPartition};

/// Every metric streamq exports, registered once.
pub struct Metrics {
    registry: Registry,
    pub events_applied: IntCounterVec,
    pub records_skipped: IntCounterVec,
    /// Offsets passed over between consecutive records of a partition (compaction,
    /// transaction markers): the records are applied, the gaps counted.
    pub offset_gaps: IntCounterVec,
    pub quarantined: IntCounterVec,
    pub batch_apply_seconds: HistogramVec,
    pub partition_restarts: IntCounterVec,
    pub partitions_failed: IntGauge,
    pub query_seconds: Histogram,
    pub query_errors: IntCounterVec,
    /// Plain-English parse latency (question → plan, without execution).
    pub ask_parse_seconds: Histogram,
    /// Questions by outcome: answered, clarified, failed.
    pub asks: IntCounterVec,
    /// MCP tool calls by tool and outcome (ok, error, refused).
    pub mcp_calls: IntCounterVec,
    /// Kafka: high-water mark − next offset to apply, per owned partition.
    pub kafka_lag: IntGaugeVec,
    /// Kafka: 1 while the brokers answer, 0 while they do not.
    pub kafka_broker_up: IntGauge,
    /// Events older than their partition's watermark: applied to the table, not to a window.
    pub late_events: IntCounterVec,
    /// Insights by kind.
    pub insights: IntCounterVec,
    /// Alert transitions by state (firing, resolved).
    pub alert_events: IntCounterVec,
    /// Webhook deliveries by outcome (delivered, retried, failed).
    pub webhooks: IntCounterVec,
    /// Open WebSocket connections.
    pub ws_connections: IntGauge,
    /// WebSocket frames written, by subscription kind.
    pub ws_frames: IntCounterVec,
    /// WebSocket connections closed by the server, by reason.
    pub ws_disconnects: IntCounterVec,
    /// Record applied (durable) → its frame written to a subscriber's socket.
    pub ws_push_seconds: Histogram,
}

impl Metrics {
    pub fn new() -> Self {
        let registry = Registry::new();
        let events_applied = IntCounterVec::new(
            Opts::new(
                "streamq_ingest_events_total",
                "Records applied to tables, by topic",
            ),
            &["topic"],
        )
        .expect("valid metric");
        let records_skipped = IntCounterVec::new(
            Opts::new(
                "streamq_ingest_skipped_total",
                "Records not applied: already applied (redelivery) or tombstones",
            ),
            &["topic", "reason"],
        )
        .expect("valid metric");
        let offset_gaps = IntCounterVec::new(
            Opts::new(
                "streamq_ingest_offset_gaps_total",
                "Offsets with no record between consecutive records of a partition (compacted topics, transaction markers), by topic",
            ),
            &["topic"],
        )
        .expect("valid metric");
        let quarantined = IntCounterVec::new(
            Opts::new(
                "streamq_quarantined_total",
                "Records sent to the quarantine, by topic",
            ),
            &["topic"],
        )
        .expect("valid metric");
        let batch_apply_seconds = HistogramVec::new(
            HistogramOpts::new(
                "streamq_batch_apply_seconds",
                "Time to decode and apply one micro-batch",
            )
            .buckets(vec![
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
            ]),
            &["topic"],
        )
        .expect("valid metric");
        let partition_restarts = IntCounterVec::new(
            Opts::new(
                "streamq_partition_restarts_total",
                "Partition actor restarts after a failure",
            ),
            &["topic", "partition"],
        )
        .expect("valid metric");
        let partitions_failed = IntGauge::new(
            "streamq_partitions_failed",
            "Partitions stopped after exhausting their restart budget",
        )
        .expect("valid metric");
        let query_seconds = Histogram::with_opts(
            HistogramOpts::new("streamq_query_seconds", "SQL query latency").buckets(vec![
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 2.0, 10.0,
            ]),
        )
        .expect("valid metric");
        let query_errors = IntCounterVec::new(
            Opts::new("streamq_query_errors_total", "Failed queries by error code"),
            &["code"],
        )
        .expect("valid metric");
        let ask_parse_seconds = Histogram::with_opts(
            HistogramOpts::new(
                "streamq_ask_parse_seconds",
                "Plain-English question parse latency (no execution)",
            )
            .buckets(vec![0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1.0]),
        )
        .expect("valid metric");
        let asks = IntCounterVec::new(
            Opts::new("streamq_ask_total", "Plain-English questions by outcome"),
            &["outcome"],
        )
        .expect("valid metric");
        let mcp_calls = IntCounterVec::new(
            Opts::new(
                "streamq_mcp_calls_total",
                "MCP tool calls by tool and outcome",
            ),
            &["tool", "outcome"],
        )
        .expect("valid metric");
        let kafka_lag = IntGaugeVec::new(
            Opts::new(
                "streamq_kafka_lag",
                "Records in the partition not yet applied (high-water mark - next offset)",
            ),
            &["topic", "partition"],
        )
        .expect("valid metric");
        let kafka_broker_up = IntGauge::new(
            "streamq_kafka_broker_up",
            "1 while the Kafka brokers answer, 0 while they do not",
        )
        .expect("valid metric");
        let late_events = IntCounterVec::new(
            Opts::new(
                "streamq_late_events_total",
                "Events behind their partition's watermark (applied to the table, not to a window)",
            ),
            &["topic"],
        )
        .expect("valid metric");
        let insights = IntCounterVec::new(
            Opts::new("streamq_insights_total", "Insights found, by kind"),
            &["kind"],
        )
        .expect("valid metric");
        let alert_events = IntCounterVec::new(
            Opts::new("streamq_alert_events_total", "Alert transitions, by state"),
            &["state"],
        )
        .expect("valid metric");
        let webhooks = IntCounterVec::new(
            Opts::new("streamq_webhooks_total", "Webhook attempts, by outcome"),
            &["outcome"],
        )
        .expect("valid metric");
        let ws_connections = IntGauge::new("streamq_ws_connections", "Open WebSocket connections")
            .expect("valid metric");
        let ws_frames = IntCounterVec::new(
            Opts::new(
                "streamq_ws_frames_total",
                "WebSocket frames written, by kind",
            ),
            &["kind"],
        )
        .expect("valid metric");
        let ws_disconnects = IntCounterVec::new(
            Opts::new(
                "streamq_ws_disconnects_total",
                "WebSocket connections closed by the server, by reason",
            ),
            &["reason"],
        )
        .expect("valid metric");
        let ws_push_seconds = Histogram::with_opts(
            HistogramOpts::new(
                "streamq_ws_push_seconds",
                "Record applied (durable) to its frame written on a WebSocket",
            )
            .buckets(vec![
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0,
            ]),
        )
        .expect("valid metric");
        for c in [
            Box::new(events_applied.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(records_skipped.clone()),
            Box::new(offset_gaps.clone()),
            Box::new(quarantined.clone()),
            Box::new(batch_apply_seconds.clone()),
            Box::new(partition_restarts.clone()),
            Box::new(partitions_failed.clone()),
            Box::new(query_seconds.clone()),
            Box::new(query_errors.clone()),
            Box::new(ask_parse_seconds.clone()),
            Box::new(asks.clone()),
            Box::new(mcp_calls.clone()),
            Box::new(kafka_lag.clone()),
            Box::new(kafka_broker_up.clone()),
            Box::new(late_events.clone()),
            Box::new(insights.clone()),
            Box::new(alert_events.clone()),
            Box::new(webhooks.clone()),
            Box::new(ws_connections.clone()),
            Box::new(ws_frames.clone()),
            Box::new(ws_disconnects.clone()),
            Box::new(ws_push_seconds.clone()),
        ] {
            registry.register(c).expect("metric registered once");
        }
        Self {
            registry,
            events_applied,
            records_skipped,
            offset_gaps,
            quarantined,
            batch_apply_seconds,
            partition_restarts,
            partitions_failed,
            query_seconds,
            query_errors,
            ask_parse_seconds,
            asks,
            mcp_calls,
            kafka_lag,
            kafka_broker_up,
            late_events,
            insights,
            alert_events,
            webhooks,
            ws_connections,
            ws_frames,
            ws_disconnects,
            ws_push_seconds,
        }
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut buf)
            .expect("text encoding cannot fail");
        String::from_utf8(buf).expect("the text format is UTF-8")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// A micro-batch was applied and is in the store.
pub struct BatchApplied<'a> {
    pub tp: &'a TopicPartition,
    pub applied: u64,
    pub duplicates: u64,
    pub tombstones: u64,
    pub quarantined: u64,
    pub gaps: u64,
    pub seconds: f64,
}

impl BatchApplied<'_> {
    pub fn emit(&self, m: &Metrics) {
        let topic = self.tp.topic.as_str();
        m.events_applied
            .with_label_values(&[topic])
            .inc_by(self.applied);
        if self.duplicates > 0 {
            m.records_skipped
                .with_label_values(&[topic, "duplicate"])
                .inc_by(self.duplicates);
        }
        if self.gaps > 0 {
            m.offset_gaps.with_label_values(&[topic]).inc_by(self.gaps);
        }
        if self.tombstones > 0 {
            m.records_skipped
                .with_label_values(&[topic, "tombstone"])
                .inc_by(self.tombstones);
        }
        if self.quarantined > 0 {
            m.quarantined
                .with_label_values(&[topic])
                .inc_by(self.quarantined);
        }
        m.batch_apply_seconds
            .with_label_values(&[topic])
            .observe(self.seconds);
        tracing::trace!(partition = %self.tp, applied = self.applied, duplicates = self.duplicates,
            quarantined = self.quarantined, seconds = self.seconds, "batch applied");
    }
}

/// A record was quarantined.
pub struct RecordQuarantined<'a> {
    pub tp: &'a TopicPartition,
    pub offset: Offset,
    pub reason: &'a str,
}

impl RecordQuarantined<'_> {
    pub fn emit(&self) {
        tracing::warn!(partition = %self.tp, offset = self.offset.get(), reason = self.reason, "record quarantined");
    }
}

/// A partition actor failed and was restarted, or ran out of restarts.
pub struct PartitionRestarted<'a> {
    pub tp: &'a TopicPartition,
    pub reason: &'a str,
    pub restarts_in_window: usize,
    pub gave_up: bool,
}

impl PartitionRestarted<'_> {
    pub fn emit(&self, m: &Metrics) {
        let p = self.tp.partition.to_string();
        if self.gave_up {
            m.partitions_failed.inc();
            tracing::error!(partition = %self.tp, reason = self.reason,
                restarts = self.restarts_in_window, "partition failed: restart budget exhausted");
        } else {
            m.partition_restarts
                .with_label_values(&[self.tp.topic.as_str(), p.as_str()])
                .inc();
            tracing::warn!(partition = %self.tp, reason = self.reason,
                restarts = self.restarts_in_window, "partition actor restarted");
        }
    }
}

/// A detector found something.
pub struct InsightFound<'a> {
    pub kind: &'a str,
    pub table: &'a str,
    pub sentence: &'a str,
}

impl InsightFound<'_> {
    pub fn emit(&self, m: &Metrics) {
        m.insights.with_label_values(&[self.kind]).inc();
        tracing::info!(kind = %self.kind, table = %self.table, "{}", self.sentence);
    }
}

/// An alert rule fired or resolved.
pub struct AlertTransition<'a> {
    pub rule: &'a str,
    pub state: &'a str,
    pub message: &'a str,
}

impl AlertTransition<'_> {
    pub fn emit(&self, m: &Metrics) {
        m.alert_events.with_label_values(&[self.state]).inc();
        tracing::info!(rule = %self.rule, state = %self.state, "{}", self.message);
    }
}

/// The server closed a WebSocket (a slow consumer, a silent peer).
pub struct WsClosed<'a> {
    /// `slow_consumer` or `idle`.
    pub why: &'a str,
    pub reason: &'a str,
}

impl WsClosed<'_> {
    pub fn emit(&self, m: &Metrics) {
        m.ws_disconnects.with_label_values(&[self.why]).inc();
        tracing::warn!(why = %self.why, reason = %self.reason, "closing a WebSocket");
    }
}

/// A WebSocket opened or closed (the open-connections gauge).
pub enum WsConnection {
    Opened,
    Closed,
}

impl WsConnection {
    pub fn emit(&self, m: &Metrics) {
        match self {
            WsConnection::Opened => m.ws_connections.inc(),
            WsConnection::Closed => m.ws_connections.dec(),
        }
    }
}

/// A frame was written to a WebSocket; a change frame carries when its batch became durable.
pub struct WsFrameSent<'a> {
    pub kind: &'a str,
    pub applied_us: Option<i64>,
}

impl WsFrameSent<'_> {
    pub fn emit(&self, m: &Metrics) {
        m.ws_frames.with_label_values(&[self.kind]).inc();
        if let Some(us) = self.applied_us {
            let now = chrono::Utc::now().timestamp_micros();
            m.ws_push_seconds.observe((now - us).max(0) as f64 / 1e6);
        }
    }
}

/// A question was answered, clarified or failed.
pub struct AskDone<'a> {
    /// `answered`, `clarified` or `failed`.
    pub outcome: &'a str,
}

impl AskDone<'_> {
    pub fn emit(&self, m: &Metrics) {
        m.asks.with_label_values(&[self.outcome]).inc();
    }
}

/// A question was parsed into a plan (or a clarification).
pub struct AskParsed {
    pub ms: f64,
}

impl AskParsed {
    pub fn emit(&self, m: &Metrics) {
        m.ask_parse_seconds.observe(self.ms / 1e3);
    }
}

/// A SQL query finished: its time, and its error code if it failed.
pub struct QueryRan<'a> {
    pub seconds: f64,
    pub error: Option<&'a str>,
}

impl QueryRan<'_> {
    pub fn emit(&self, m: &Metrics) {
        m.query_seconds.observe(self.seconds);
        if let Some(code) = self.error {
            m.query_errors.with_label_values(&[code]).inc();
        }
    }
}

/// Whether the Kafka brokers answer.
pub struct BrokerState {
    pub up: bool,
}

impl BrokerState {
    pub fn emit(&self, m: &Metrics) {
        m.kafka_broker_up.set(self.up as i64);
    }
}

/// How far a Kafka partition's applied state is behind its end.
pub struct KafkaLag<'a> {
    pub tp: &'a TopicPartition,
    pub lag: i64,
}

impl KafkaLag<'_> {
    pub fn emit(&self, m: &Metrics) {
        m.kafka_lag
            .with_label_values(&[&self.tp.topic, &self.tp.partition.to_string()])
            .set(self.lag);
    }
}

/// Events of a batch that arrived after their window closed.
pub struct LateEvents<'a> {
    pub topic: &'a str,
    pub n: u64,
}

impl LateEvents<'_> {
    pub fn emit(&self, m: &Metrics) {
        m.late_events
            .with_label_values(&[self.topic])
            .inc_by(self.n);
    }
}

/// A webhook notification was delivered, retried or given up on.
pub struct WebhookDelivery<'a> {
    /// `delivered`, `retried` or `failed`.
    pub outcome: &'a str,
}

impl WebhookDelivery<'_> {
    pub fn emit(&self, m: &Metrics) {
        m.webhooks.with_label_values(&[self.outcome]).inc();
    }
}

/// An MCP tool was called.
pub struct McpCall<'a> {
    pub tool: &'a str,
    /// `ok`, `error` or `refused`.
    pub outcome: &'a str,
}

impl McpCall<'_> {
    pub fn emit(&self, m: &Metrics) {
        m.mcp_calls
            .with_label_values(&[self.tool, self.outcome])
            .inc();
    }
}

/// The `p` quantile (0–1) of sorted values, nearest rank; NaN when empty.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}
