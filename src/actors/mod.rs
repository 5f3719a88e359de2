//! Who runs: the supervisor and its partition actors, the router that feeds them, and the
//! [`Pipeline`] that wires them to a source: source → router → supervisor → partition actor
//! → change broadcast.

pub mod changes;
pub mod fault;
pub mod partition;
pub mod progress;
pub mod rates;
pub mod router;
pub mod supervisor;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use parking_lot::Mutex;
use ractor::{Actor, ActorRef};
use serde::Serialize;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::actors::changes::Changes;
use crate::actors::fault::FaultHook;
use crate::actors::partition::PartitionContext;
use crate::actors::progress::Progress;
use crate::actors::router::{RouterConfig, RouterStats};
use crate::actors::supervisor::{
    Registry, RestartPolicy, Supervisor, SupervisorArgs, SupervisorMsg,
};
use crate::config::{Config, Rate, SourceKind};
use crate::ingest::event::SourceEvent;
use crate::ingest::{demo, replay};
use crate::store::Store;
use crate::store::catalog::Catalog;
use crate::telemetry::Metrics;

/// Commits every partition's text index (so what was applied is searchable and durable).
pub async fn flush_partitions(registry: &Registry) {
    for (_, slot) in registry.all() {
        if let Some(a) = slot.actor {
            let _ = a
                .call(
                    partition::PartitionMsg::Flush,
                    Some(Duration::from_secs(60)),
                )
                .await;
        }
    }
}

/// Errors starting the pipeline.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// The supervisor did not start.
    #[error("supervisor: {0}")]
    Actor(String),
    /// The fault hook setting is wrong.
    #[error(transparent)]
    Fault(#[from] crate::actors::fault::FaultSpecError),
}

/// Where ingestion stands, for `/readyz` and `/api/sources`.
pub struct IngestStatus {
    /// `demo` or `replay:<file>`.
    pub source: String,
    /// A paced source (live demo, paced replay) is ready once running; an as-fast-as-possible
    /// replay only once every partition has reached the end of its file.
    pub paced: bool,
    pub finished: AtomicBool,
    pub error: Mutex<Option<String>>,
    pub router: Arc<RouterStats>,
    /// The Kafka source's view: brokers, owned partitions, positions.
    pub kafka: Option<Arc<crate::ingest::kafka::KafkaStatus>>,
    /// The demo's simulated start (its log is rebuilt from seed and start).
    pub demo_start_ms: Option<i64>,
}

/// The running event path: the supervised partition actors over the store and catalog, the
/// router and (once started) a source.
#[derive(Clone)]
pub struct Pipeline {
    pub config: Arc<Config>,
    pub store: Arc<Store>,
    pub catalog: Arc<Catalog>,
    pub metrics: Arc<Metrics>,
    pub registry: Arc<Registry>,
    pub supervisor: ActorRef<SupervisorMsg>,
    pub status: Arc<Mutex<Option<Arc<IngestStatus>>>>,
    /// What partition actors publish after each durable batch.
    pub changes: Arc<Changes>,
    /// How far the source has been read and what is on its way.
    pub progress: Arc<Progress>,
    /// Events/s and lag per partition over the last minutes.
    pub rates: Arc<rates::Rates>,
    registry_client: Option<Arc<crate::ingest::registry::SchemaRegistry>>,
    /// Stops the pipeline's own tasks (the rates sampler).
    stopping: CancellationToken,
}

/// Why the node is or is not ready, as `/readyz` reports it.
#[derive(Clone, Debug, Serialize)]
pub struct Readiness {
    pub ready: bool,
    pub source: String,
    pub caught_up: bool,
    pub source_error: Option<String>,
    pub failed_partitions: Vec<FailedPartition>,
    pub kafka: Option<BrokerReadiness>,
    /// Why the query engine cannot answer (a query it could not stop), if it cannot; filled
    /// by the node, which owns the engine.
    pub query_engine: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct FailedPartition {
    pub topic: String,
    pub partition: i32,
    pub reason: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct BrokerReadiness {
    pub brokers: String,
    pub up: bool,
    pub last_error: Option<String>,
    pub registry_error: Option<String>,
    pub owned_partitions: usize,
}

impl Pipeline {
    /// Starts the supervisor and an actor for every partition already in the store (each
    /// loads its state); a Kafka pipeline starts only what the group assigns it.
    pub async fn start(
        config: Arc<Config>,
        store: Arc<Store>,
        catalog: Arc<Catalog>,
        metrics: Arc<Metrics>,
    ) -> Result<Pipeline, PipelineError> {
        let registry = Arc::new(Registry::default());
        let faults = FaultHook::parse(config.debug.fault_panic.as_deref())?;
        let registry_client = config.kafka.registry.url.as_deref().map(|url| {
            crate::ingest::registry::SchemaRegistry::new(
                url,
                config.kafka.registry.username.as_deref(),
                config.kafka.registry.password.as_deref(),
            )
        });
        let changes = Arc::new(Changes::default());
        let progress = Arc::new(Progress::default());
        let ctx = Arc::new(PartitionContext {
            registry: registry_client.clone(),
            max_value_bytes: config.ingest.max_value_bytes,
            max_offset_jump: config.ingest.max_offset_jump,
            flattened_topics: config.ingest.flattened_topics.clone(),
            keep_transactions: config.ingest.keep_transactions,
            column_types: config.ingest.column_types.clone(),
            recent_window: config.ingest.redelivery_window,
            store: store.clone(),
            index_root: config.data_dir.join("index"),
            text: config.text.clone(),
            catalog: catalog.clone(),
            metrics: metrics.clone(),
            faults: Arc::new(faults),
            live: config.live.clone(),
            changes: changes.clone(),
            progress: progress.clone(),
        });
        let (supervisor, _) = Actor::spawn(
            None,
            Supervisor,
            SupervisorArgs {
                ctx,
                registry: registry.clone(),
                policy: RestartPolicy {
                    max_restarts: config.supervisor.max_restarts,
                    window: Duration::from_secs(config.supervisor.window_secs),
                },
            },
        )
        .await
        .map_err(|e| PipelineError::Actor(e.to_string()))?;
        // A Kafka node owns only what the group assigns it; other sources own all they stored.
        let owned_on_disk = if config.source.kind == SourceKind::Kafka {
            Vec::new()
        } else {
            store.partitions()
        };
        for tp in owned_on_disk {
            let _ = supervisor
                .call(
                    |r| SupervisorMsg::Ensure(tp.clone(), r),
                    Some(Duration::from_secs(120)),
                )
                .await;
        }
        let status = Arc::new(Mutex::new(None));
        let rates = Arc::new(rates::Rates::default());
        let stopping = CancellationToken::new();
        rates.spawn(
            registry.clone(),
            catalog.clone(),
            progress.clone(),
            status.clone(),
            stopping.clone(),
        );
        Ok(Pipeline {
            config,
            store,
            catalog,
            metrics,
            registry,
            supervisor,
            status,
            changes,
            progress,
            rates,
            registry_client,
            stopping,
        })
    }

    /// Starts the configured source and the router; the handle resolves when the source has
    /// ended and everything it produced is applied (or on shutdown).
    pub fn start_source(&self, shutdown: CancellationToken) -> JoinHandle<()> {
        let cfg = self.config.clone();
        let (tx, rx) = mpsc::channel::<SourceEvent>(64);
        let router_stats = Arc::new(RouterStats::default());
        let (label, paced) = match cfg.source.kind {
            SourceKind::Demo => ("demo".to_string(), cfg.source.demo.rate != Rate::Max),
            SourceKind::Replay => (
                format!(
                    "replay:{}",
                    cfg.source
                        .file
                        .as_ref()
                        .map(|p| p.display().to_string())
                        .unwrap_or_default()
                ),
                cfg.source.speed.is_some(),
            ),
            SourceKind::Kafka => (
                format!("kafka:{} group {}", cfg.kafka.brokers, cfg.kafka.group),
                true,
            ),
        };
        let kafka_status = (cfg.source.kind == SourceKind::Kafka).then(|| {
            Arc::new(crate::ingest::kafka::KafkaStatus {
                brokers: cfg.kafka.brokers.clone(),
                group: cfg.kafka.group.clone(),
                topics: cfg
                    .kafka
                    .topics
                    .clone()
                    .unwrap_or_else(|| "every topic not starting with _".into()),
                ..Default::default()
            })
        });
        let demo_start_ms =
            (cfg.source.kind == SourceKind::Demo).then(|| demo::start_ms(&cfg.source.demo));
        let status = Arc::new(IngestStatus {
            source: label,
            paced,
            finished: AtomicBool::new(false),
            error: Mutex::new(None),
            router: router_stats.clone(),
            kafka: kafka_status.clone(),
            demo_start_ms,
        });
        *self.status.lock() = Some(status.clone());

        let source_shutdown = shutdown.clone();
        let source_status = status.clone();
        let source_store = self.store.clone();
        let source_metrics = self.metrics.clone();
        let source_registry = self.partition_registry();
        let source = tokio::task::spawn_blocking(move || {
            let result = match cfg.source.kind {
                SourceKind::Replay => {
                    let opts = replay::ReplayOptions {
                        path: cfg.source.file.clone().unwrap_or_default(),
                        speed: cfg.source.speed,
                        chunk: 512,
                        progress: true,
                    };
                    replay::run_blocking(&opts, &tx, &source_shutdown)
                        .map(|s| {
                            tracing::info!(
                                records = s.records,
                                faults = s.faults,
                                "replay read to the end"
                            );
                        })
                        .map_err(|e| e.to_string())
                }
                SourceKind::Demo => demo::run_blocking(
                    &cfg.source.demo,
                    demo_start_ms.unwrap_or_default(),
                    &tx,
                    &source_shutdown,
                )
                .map(|n| {
                    tracing::info!(records = n, "demo source ended");
                })
                .map_err(|e| e.to_string()),
                SourceKind::Kafka => crate::ingest::kafka::run_blocking(
                    &cfg.kafka,
                    source_store,
                    source_registry,
                    source_metrics,
                    kafka_status.expect("set for the kafka source"),
                    &tx,
                    &source_shutdown,
                )
                .map(|n| tracing::info!(records = n, "kafka consumer stopped"))
                .map_err(|e| e.to_string()),
            };
            if let Err(e) = result {
                tracing::error!(error = %e, "source failed");
                *source_status.error.lock() = Some(e.to_string());
                let _ = tx.blocking_send(SourceEvent::End);
            }
        });

        let router_cfg = RouterConfig {
            batch_size: self.config.ingest.batch_size,
            linger: Duration::from_millis(self.config.ingest.linger_ms),
            queue_batches: self.config.ingest.queue_batches,
        };
        let supervisor = self.supervisor.clone();
        let registry = self.registry.clone();
        let registry_for_flush = self.registry.clone();
        let store = self.store.clone();
        let progress = self.progress.clone();
        tokio::spawn(async move {
            let ended = router::route(
                rx,
                router_cfg,
                supervisor,
                registry,
                store.clone(),
                router_stats,
                progress,
                shutdown,
            )
            .await;
            if let Err(e) = store.flush().await {
                tracing::error!(error = %e, "flush failed");
            }
            flush_partitions(&registry_for_flush).await;
            if ended {
                status.finished.store(true, Ordering::SeqCst);
                tracing::info!("source caught up: every record read is applied");
            }
            let _ = source.await;
        })
    }

    /// The schema registry client the partition actors use (shared, so its cache is one).
    pub fn partition_registry(&self) -> Option<Arc<crate::ingest::registry::SchemaRegistry>> {
        self.registry_client.clone()
    }

    /// Brings gauges computed from state up to date (called when metrics are scraped): the
    /// Kafka lag of every owned partition.
    pub fn refresh_gauges(&self) {
        let Some(k) = self.status.lock().as_ref().and_then(|s| s.kafka.clone()) else {
            return;
        };
        for (tp, pos) in k.owned.read().iter() {
            let applied = self
                .catalog
                .for_topic(&tp.topic)
                .map(|t| t.partition(tp.partition).rows.read().applied)
                .unwrap_or(None);
            if let Some(lag) = pos.lag(applied) {
                crate::telemetry::KafkaLag { tp, lag }.emit(&self.metrics);
            }
        }
    }

    /// Ready: no failed partition, and the source is live or has caught up.
    pub fn readiness(&self) -> Readiness {
        let failed_partitions: Vec<FailedPartition> = self
            .registry
            .failed()
            .into_iter()
            .map(|(tp, reason)| FailedPartition {
                topic: tp.topic,
                partition: tp.partition,
                reason,
            })
            .collect();
        let status = self.status.lock().clone();
        let (source, caught_up, source_error) = match &status {
            Some(s) => (
                s.source.clone(),
                s.paced || s.finished.load(Ordering::SeqCst),
                s.error.lock().clone(),
            ),
            None => ("none".into(), true, None),
        };
        let kafka = status
            .as_ref()
            .and_then(|s| s.kafka.clone())
            .map(|k| BrokerReadiness {
                brokers: k.brokers.clone(),
                up: k.broker_up.load(Ordering::SeqCst),
                last_error: k.last_error.lock().clone(),
                registry_error: k.registry_error.lock().clone(),
                owned_partitions: k.owned.read().len(),
            });
        let source_ok = kafka
            .as_ref()
            .is_none_or(|k| k.up && k.registry_error.is_none());
        Readiness {
            ready: failed_partitions.is_empty() && caught_up && source_error.is_none() && source_ok,
            source,
            caught_up,
            source_error,
            failed_partitions,
            kafka,
            query_engine: None,
        }
    }

    /// Graceful stop: stop the actors (each finishes its batch), flush sled, stop the
    /// supervisor. Nothing durable happens in `post_stop`.
    pub async fn stop(&self) {
        self.stopping.cancel();
        flush_partitions(&self.registry).await;
        let _ = self
            .supervisor
            .call(SupervisorMsg::StopAll, Some(Duration::from_secs(30)))
            .await;
        if let Err(e) = self.store.flush().await {
            tracing::error!(error = %e, "final flush failed");
        }
        self.supervisor.stop(None);
    }
}
