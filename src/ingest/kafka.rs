//! The Kafka source: a member of a consumer group. Its partitions' records go through the
//! same router and partition actors as every other source.
//!
//! - On **assign**, each partition starts at the offset after the one its stored state has
//!   applied (sled is the truth; with no state, the beginning), and its actor is started so
//!   the state is queryable at once.
//! - On **revoke**, every record already read for the partition is applied, the store is
//!   flushed, the group offset committed, and the actor stopped; its rows leave this node.
//! - Group offsets are committed only for state that is durable: the applied offsets are read,
//!   then the store is flushed, then those offsets are committed. Auto-commit is off.
//! - Lag is the high-water mark (or the next offset read, whichever is larger: some brokers
//!   under-report the mark) minus the next offset to apply, never negative.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use parking_lot::{Mutex, RwLock};
use rdkafka::client::ClientContext;
use rdkafka::config::{ClientConfig, RDKafkaLogLevel};
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, RebalanceProtocol};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Message;
use rdkafka::topic_partition_list::{Offset as KOffset, TopicPartitionList};
use rdkafka::types::RDKafkaRespErr;
use serde::Serialize;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::config::KafkaConfig;
use crate::ident::TopicPartition;
use crate::ingest::event::SourceEvent;
use crate::ingest::record::Record;
use crate::ingest::registry::{SchemaRegistry, split_wire};
use crate::store::Store;
use crate::telemetry::Metrics;

/// Records handed to the router at a time.
const CHUNK: usize = 512;

/// One owned partition's position.
#[derive(Clone, Debug, Default, Serialize)]
pub struct PartitionPosition {
    /// The broker's high-water mark, as last reported.
    pub high_watermark: Option<i64>,
    /// One past the last offset read from the broker.
    pub next_read: Option<i64>,
    /// The last group offset committed (the next offset to read).
    pub committed: Option<i64>,
}

impl PartitionPosition {
    /// Records not yet applied, given the partition's applied offset.
    pub fn lag(&self, applied: Option<crate::ident::Offset>) -> Option<i64> {
        let end = match (self.high_watermark, self.next_read) {
            (Some(a), Some(b)) => a.max(b),
            (a, b) => a.or(b)?,
        };
        Some((end - applied.map_or(0, |a| a.next().get())).max(0))
    }
}

/// What the Kafka source reports to `/api/sources`, `/readyz` and the metrics.
#[derive(Debug, Default)]
pub struct KafkaStatus {
    pub brokers: String,
    pub group: String,
    pub topics: String,
    /// The brokers answered the last probe.
    pub broker_up: AtomicBool,
    /// The last client error (transport, authentication, …).
    pub last_error: Mutex<Option<String>>,
    /// The schema registry is unreachable: Avro records wait.
    pub registry_error: Mutex<Option<String>>,
    /// The partitions this node owns now.
    pub owned: RwLock<BTreeMap<TopicPartition, PartitionPosition>>,
    /// Every topic's partitions as the brokers last reported them (owned here or not).
    pub partitions: RwLock<BTreeMap<String, Vec<i32>>>,
    pub rebalances: std::sync::atomic::AtomicU64,
}

impl KafkaStatus {
    /// `topic`'s partitions as the brokers report them, split into those this node owns and
    /// those it does not (`None` before the brokers reported the topic).
    pub fn split(&self, topic: &str) -> Option<(Vec<i32>, Vec<i32>)> {
        let owned = self.owned.read();
        let all = self.partitions.read();
        Some(
            all.get(topic)?
                .iter()
                .partition(|p| owned.contains_key(&TopicPartition::new(topic, **p))),
        )
    }
}

/// Errors starting the consumer.
#[derive(Debug, thiserror::Error)]
pub enum KafkaSourceError {
    #[error("kafka client: {0}")]
    Client(#[from] KafkaError),
}

struct Ctx {
    tx: mpsc::Sender<SourceEvent>,
    store: Arc<Store>,
    status: Arc<KafkaStatus>,
    metrics: Arc<Metrics>,
    /// Records read but not yet handed to the router (a revoke hands them over first).
    pending: Mutex<Vec<Record>>,
}

impl ClientContext for Ctx {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, log_message: &str) {
        match level {
            RDKafkaLogLevel::Emerg
            | RDKafkaLogLevel::Alert
            | RDKafkaLogLevel::Critical
            | RDKafkaLogLevel::Error => tracing::error!(target: "librdkafka", fac, "{log_message}"),
            RDKafkaLogLevel::Warning => tracing::warn!(target: "librdkafka", fac, "{log_message}"),
            RDKafkaLogLevel::Notice | RDKafkaLogLevel::Info => {
                tracing::info!(target: "librdkafka", fac, "{log_message}")
            }
            RDKafkaLogLevel::Debug => tracing::debug!(target: "librdkafka", fac, "{log_message}"),
        }
    }

    fn error(&self, error: KafkaError, reason: &str) {
        let down = matches!(
            error.rdkafka_error_code(),
            Some(RDKafkaErrorCode::AllBrokersDown)
        );
        if down {
            self.set_broker_up(false);
        }
        tracing::warn!(error = %error, reason, "kafka client error");
        *self.status.last_error.lock() = Some(format!("{error}: {reason}"));
    }
}

impl Ctx {
    fn set_broker_up(&self, up: bool) {
        let was = self.status.broker_up.swap(up, Ordering::SeqCst);
        crate::telemetry::BrokerState { up }.emit(&self.metrics);
        if was != up {
            if up {
                tracing::info!("kafka brokers answer again");
            } else {
                tracing::error!("kafka brokers unreachable");
            }
        }
    }

    fn hand_over_pending(&self) {
        let batch = std::mem::take(&mut *self.pending.lock());
        if !batch.is_empty() {
            let _ = self.tx.blocking_send(SourceEvent::Records(batch));
        }
    }

    /// Where a partition starts: after its stored state, or at the beginning.
    fn start_offset(&self, tp: &TopicPartition) -> KOffset {
        match self.store.partition(tp).and_then(|p| p.applied()) {
            Ok(Some(a)) => KOffset::Offset(a.next().get()),
            Ok(None) => KOffset::Beginning,
            Err(e) => {
                tracing::error!(partition = %tp, error = %e, "cannot read the stored offset; starting from the beginning");
                KOffset::Beginning
            }
        }
    }

    /// Commits, for `tps`, the offsets covered by durable state (store read, then flushed).
    fn commit_durable(
        &self,
        consumer: &BaseConsumer<Ctx>,
        tps: &[TopicPartition],
        mode: CommitMode,
    ) {
        let mut list = TopicPartitionList::new();
        let mut entries = Vec::new();
        for tp in tps {
            if let Ok(Some(a)) = self.store.partition(tp).and_then(|p| p.applied()) {
                let committed = self.status.owned.read().get(tp).and_then(|p| p.committed);
                if committed != Some(a.next().get()) {
                    entries.push((tp.clone(), a.next().get()));
                }
            }
        }
        if entries.is_empty() {
            return;
        }
        if let Err(e) = self.store.flush_blocking() {
            tracing::error!(error = %e, "flush before commit failed; not committing");
            return;
        }
        for (tp, next) in &entries {
            let _ = list.add_partition_offset(&tp.topic, tp.partition, KOffset::Offset(*next));
        }
        match consumer.commit(&list, mode) {
            Ok(()) => {
                let mut owned = self.status.owned.write();
                for (tp, next) in entries {
                    if let Some(p) = owned.get_mut(&tp) {
                        p.committed = Some(next);
                    }
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "committing group offsets failed; retried next round")
            }
        }
    }
}

fn tps_of(tpl: &TopicPartitionList) -> Vec<TopicPartition> {
    tpl.elements()
        .iter()
        .map(|e| TopicPartition::new(e.topic(), e.partition()))
        .collect()
}

impl ConsumerContext for Ctx {
    fn rebalance(
        &self,
        consumer: &BaseConsumer<Self>,
        err: RDKafkaRespErr,
        tpl: &mut TopicPartitionList,
    ) {
        let cooperative = matches!(
            consumer.rebalance_protocol(),
            RebalanceProtocol::Cooperative
        );
        self.status.rebalances.fetch_add(1, Ordering::Relaxed);
        match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => {
                let tps = tps_of(tpl);
                for tp in &tps {
                    let start = self.start_offset(tp);
                    tracing::info!(partition = %tp, start = ?start, "partition assigned");
                    let _ = tpl.set_partition_offset(&tp.topic, tp.partition, start);
                    self.status
                        .owned
                        .write()
                        .insert(tp.clone(), PartitionPosition::default());
                }
                let _ = self.tx.blocking_send(SourceEvent::Assigned(tps));
                let r = if cooperative {
                    consumer.incremental_assign(tpl)
                } else {
                    consumer.assign(tpl)
                };
                if let Err(e) = r {
                    tracing::error!(error = %e, "assign failed");
                }
            }
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => {
                let tps = tps_of(tpl);
                tracing::info!(partitions = tps.len(), "partitions revoked: draining");
                self.hand_over_pending();
                let (done, wait) = tokio::sync::oneshot::channel();
                if self
                    .tx
                    .blocking_send(SourceEvent::Revoke(tps.clone(), done))
                    .is_ok()
                {
                    let _ = wait.blocking_recv();
                }
                self.commit_durable(consumer, &tps, CommitMode::Sync);
                {
                    let mut owned = self.status.owned.write();
                    for tp in &tps {
                        owned.remove(tp);
                        let _ = self
                            .metrics
                            .kafka_lag
                            .remove_label_values(&[&tp.topic, &tp.partition.to_string()]);
                    }
                }
                let r = if cooperative {
                    consumer.incremental_unassign(tpl)
                } else {
                    consumer.unassign()
                };
                if let Err(e) = r {
                    tracing::error!(error = %e, "unassign failed");
                }
            }
            other => {
                tracing::error!(error = ?other, "rebalance error; dropping the assignment");
                let _ = consumer.unassign();
            }
        }
    }
}

/// How the source subscribes.
pub fn subscription(topics: Option<&str>) -> Vec<String> {
    match topics.map(str::trim) {
        None | Some("") => vec!["^[^_].*".to_string()],
        Some(t) if t.starts_with('^') => vec![t.to_string()],
        Some(t) => t
            .split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect(),
    }
}

/// The librdkafka configuration for the consumer: the pass-through properties, then what
/// streamq must own (auto-commit off).
pub fn consumer_config(cfg: &KafkaConfig) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", &cfg.brokers)
        .set("group.id", &cfg.group)
        .set("client.id", "streamq")
        .set("session.timeout.ms", "10000")
        // Also the rebalance timeout: a member that died mid-rebalance holds the group up to
        // this long. streamq polls continuously, so it never needs the 5-minute default.
        .set("max.poll.interval.ms", "30000")
        .set("heartbeat.interval.ms", "1000")
        .set("topic.metadata.refresh.interval.ms", "5000")
        .set("enable.partition.eof", "false")
        .set("fetch.message.max.bytes", "8388608");
    for (k, v) in &cfg.properties {
        c.set(k, v);
    }
    c.set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest");
    c.set_log_level(RDKafkaLogLevel::Warning);
    c
}

/// Runs the consumer until `shutdown`; blocking (run it on a blocking thread).
pub fn run_blocking(
    cfg: &KafkaConfig,
    store: Arc<Store>,
    registry: Option<Arc<SchemaRegistry>>,
    metrics: Arc<Metrics>,
    status: Arc<KafkaStatus>,
    tx: &mpsc::Sender<SourceEvent>,
    shutdown: &CancellationToken,
) -> Result<u64, KafkaSourceError> {
    let ctx = Ctx {
        tx: tx.clone(),
        store,
        status: status.clone(),
        metrics: metrics.clone(),
        pending: Mutex::new(Vec::with_capacity(CHUNK)),
    };
    let consumer: BaseConsumer<Ctx> = consumer_config(cfg).create_with_context(ctx)?;
    let topics = subscription(cfg.topics.as_deref());
    let refs: Vec<&str> = topics.iter().map(String::as_str).collect();
    consumer.subscribe(&refs)?;
    tracing::info!(brokers = %cfg.brokers, group = %cfg.group, topics = ?topics, "kafka consumer subscribed");

    let commit_every = Duration::from_millis(cfg.commit_interval_ms.max(50));
    let mut last_commit = Instant::now();
    let mut last_probe = Instant::now() - Duration::from_secs(10);
    let mut topic_names: std::collections::HashMap<String, Arc<str>> = Default::default();
    let mut read = 0u64;
    let mut next_read: BTreeMap<TopicPartition, i64> = BTreeMap::new();
    let mut read_since_probe: BTreeSet<TopicPartition> = BTreeSet::new();
    while !shutdown.is_cancelled() {
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => {
                let topic = match topic_names.get(m.topic()) {
                    Some(t) => t.clone(),
                    None => {
                        let t: Arc<str> = Arc::from(m.topic());
                        topic_names.insert(m.topic().to_string(), t.clone());
                        t
                    }
                };
                let rec = Record {
                    topic,
                    partition: m.partition(),
                    offset: crate::ident::Offset(m.offset()),
                    ts_ms: m.timestamp().to_millis().unwrap_or(0),
                    key: m.key().map(<[u8]>::to_vec),
                    value: m.payload().map(<[u8]>::to_vec),
                };
                if let Some(reg) = &registry {
                    for bytes in [rec.key.as_deref(), rec.value.as_deref()]
                        .into_iter()
                        .flatten()
                    {
                        if let Some((id, _)) = split_wire(bytes) {
                            await_schema(reg, id, &status, shutdown);
                        }
                    }
                }
                let tp = rec.topic_partition();
                let entry = next_read
                    .entry(tp.clone())
                    .or_insert(rec.offset.next().get());
                *entry = (*entry).max(rec.offset.next().get());
                read_since_probe.insert(tp);
                read += 1;
                let ctx = consumer.context();
                let full = {
                    let mut p = ctx.pending.lock();
                    p.push(rec);
                    p.len() >= CHUNK
                };
                if full {
                    ctx.hand_over_pending();
                }
            }
            Some(Err(e)) => {
                tracing::warn!(error = %e, "kafka consume error");
                *status.last_error.lock() = Some(e.to_string());
            }
            None => consumer.context().hand_over_pending(),
        }
        if last_commit.elapsed() >= commit_every {
            let owned: Vec<TopicPartition> = status.owned.read().keys().cloned().collect();
            consumer
                .context()
                .commit_durable(&consumer, &owned, CommitMode::Async);
            last_commit = Instant::now();
        }
        if last_probe.elapsed() >= Duration::from_secs(2) {
            let reading = probe(&consumer, &status, &mut next_read, &read_since_probe);
            read_since_probe.clear();
            if !reading.is_empty() {
                // Records read before the probe are already handed over or pending here: hand
                // them over first, so a partition is never called caught up ahead of them.
                consumer.context().hand_over_pending();
                let _ = tx.blocking_send(SourceEvent::Reading(reading));
            }
            last_probe = Instant::now();
        }
    }
    consumer.context().hand_over_pending();
    // Leaving the group: librdkafka revokes (our callback drains and commits what is durable).
    let owned: Vec<TopicPartition> = status.owned.read().keys().cloned().collect();
    consumer
        .context()
        .commit_durable(&consumer, &owned, CommitMode::Sync);
    drop(consumer);
    Ok(read)
}

/// Waits until the registry has answered for `id` (an unknown id is an answer: the record is
/// quarantined); while it is unreachable, records wait rather than being lost.
fn await_schema(reg: &SchemaRegistry, id: u32, status: &KafkaStatus, shutdown: &CancellationToken) {
    let mut delay = Duration::from_millis(200);
    loop {
        match reg.get(id) {
            Err(e) if !e.is_permanent() => {
                tracing::warn!(error = %e, "schema registry unreachable; waiting");
                *status.registry_error.lock() = Some(e.to_string());
                if shutdown.is_cancelled() {
                    return;
                }
                std::thread::sleep(delay);
                delay = (delay * 2).min(Duration::from_secs(5));
            }
            _ => {
                if status.registry_error.lock().take().is_some() {
                    tracing::info!("schema registry answers again");
                }
                return;
            }
        }
    }
}

/// Asks the brokers for the owned partitions' high-water marks: the lag figures, the liveness
/// probe behind `/readyz`, and which partitions are still behind their log's end. A partition
/// with records read since the last probe counts as behind too (a broker may report a mark
/// older than what was just fetched). Answers nothing when the brokers did not answer.
fn probe(
    consumer: &BaseConsumer<Ctx>,
    status: &KafkaStatus,
    next_read: &mut BTreeMap<TopicPartition, i64>,
    read_since_probe: &BTreeSet<TopicPartition>,
) -> Vec<(TopicPartition, bool)> {
    let owned: BTreeSet<TopicPartition> = status.owned.read().keys().cloned().collect();
    next_read.retain(|tp, _| owned.contains(tp));
    let mut marks = Vec::new();
    let mut up = true;
    // The topics' partitions, so answers can say which ones are on other nodes.
    match consumer.fetch_metadata(None, Duration::from_millis(1500)) {
        Ok(md) => {
            let mut all = status.partitions.write();
            for t in md.topics() {
                let mut ps: Vec<i32> = t.partitions().iter().map(|p| p.id()).collect();
                ps.sort_unstable();
                all.insert(t.name().to_string(), ps);
            }
        }
        Err(_) => up = false,
    }
    for tp in &owned {
        match consumer.fetch_watermarks(&tp.topic, tp.partition, Duration::from_millis(1500)) {
            Ok((low, high)) => marks.push((tp.clone(), low, high)),
            Err(e) => {
                tracing::debug!(partition = %tp, error = %e, "high-water mark not available");
                up = false;
                break;
            }
        }
    }
    consumer.context().set_broker_up(up);
    let mut reading = Vec::new();
    if up {
        for (tp, low, high) in &marks {
            let next = next_read.get(tp).copied().unwrap_or_else(|| {
                match consumer.context().start_offset(tp) {
                    KOffset::Offset(n) => n,
                    _ => *low,
                }
            });
            reading.push((tp.clone(), read_since_probe.contains(tp) || next < *high));
        }
    }
    let mut owned_pos = status.owned.write();
    for (tp, _, high) in marks {
        if let Some(p) = owned_pos.get_mut(&tp) {
            p.high_watermark = Some(high);
        }
    }
    for (tp, n) in next_read.iter() {
        if let Some(p) = owned_pos.get_mut(tp) {
            p.next_read = Some(*n);
        }
    }
    reading
}
