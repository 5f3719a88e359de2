//! What operators watch: Prometheus metrics, and typed events that write the log line and the
//! metric together.

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};

use crate::ident::TopicPartition;

/// Every metric streamq exports, registered once.
pub struct Metrics {
    registry: Registry,
    pub events_applied: IntCounterVec,
    pub records_skipped: IntCounterVec,
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
    /// Kafka: high-water mark − next offset to apply, per owned partition.
    pub kafka_lag: IntGaugeVec,
    /// Kafka: 1 while the brokers answer, 0 while they do not.
    pub kafka_broker_up: IntGauge,
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
        for c in [
            Box::new(events_applied.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(records_skipped.clone()),
            Box::new(quarantined.clone()),
            Box::new(batch_apply_seconds.clone()),
            Box::new(partition_restarts.clone()),
            Box::new(partitions_failed.clone()),
            Box::new(query_seconds.clone()),
            Box::new(query_errors.clone()),
            Box::new(ask_parse_seconds.clone()),
            Box::new(asks.clone()),
            Box::new(kafka_lag.clone()),
            Box::new(kafka_broker_up.clone()),
        ] {
            registry.register(c).expect("metric registered once");
        }
        Self {
            registry,
            events_applied,
            records_skipped,
            quarantined,
            batch_apply_seconds,
            partition_restarts,
            partitions_failed,
            query_seconds,
            query_errors,
            ask_parse_seconds,
            asks,
            kafka_lag,
            kafka_broker_up,
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
    pub offset: i64,
    pub reason: &'a str,
}

impl RecordQuarantined<'_> {
    pub fn emit(&self) {
        tracing::warn!(partition = %self.tp, offset = self.offset, reason = self.reason, "record quarantined");
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
