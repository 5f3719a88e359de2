//! Who runs: the supervisor and its partition actors, the router that feeds them, and the
//! [`Node`] that wires store, catalog, actors and a source together.

pub mod fault;
pub mod partition;
pub mod rates;
pub mod router;
pub mod supervisor;
pub mod window;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use parking_lot::Mutex;
use ractor::{Actor, ActorRef};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::actors::fault::FaultHook;
use crate::actors::partition::PartitionContext;
use crate::actors::router::{RouterConfig, RouterStats, SourceEvent};
use crate::actors::supervisor::{
    Registry, RestartPolicy, Supervisor, SupervisorArgs, SupervisorMsg,
};
use crate::config::{Config, Rate, SourceKind};
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

/// Errors starting a node.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// The store could not be opened.
    #[error("cannot open the store at {dir}: {source}")]
    Store {
        dir: String,
        source: crate::store::StoreError,
    },
    /// The data directory could not be moved aside or removed for a rebuild.
    #[error("cannot clear {dir} for a rebuild: {source}")]
    Rebuild { dir: String, source: std::io::Error },
    /// The supervisor did not start.
    #[error("supervisor: {0}")]
    Actor(String),
    /// A setting is wrong.
    #[error("{0}")]
    Config(String),
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

/// A running streamq: the store, the catalog, the supervised actors and (once started) a
/// source.
#[derive(Clone)]
pub struct Node {
    pub config: Arc<Config>,
    pub store: Arc<Store>,
    pub catalog: Arc<Catalog>,
    pub metrics: Arc<Metrics>,
    pub registry: Arc<Registry>,
    pub supervisor: ActorRef<SupervisorMsg>,
    pub status: Arc<Mutex<Option<Arc<IngestStatus>>>>,
    /// Windows, detectors, alert rules and the change feed.
    pub live: Arc<crate::live::Live>,
    live_stop: CancellationToken,
    /// Events/s and lag per partition over the last minutes.
    pub rates: Arc<rates::Rates>,
    registry_client: Option<Arc<crate::ingest::registry::SchemaRegistry>>,
}

impl Node {
    /// Opens the store (moving a corrupt one aside, or clearing it when `rebuild`), starts the
    /// supervisor and an actor for every partition already on disk, which loads its state.
    pub async fn start(config: Config, rebuild: bool) -> Result<Node, NodeError> {
        let dir = config.data_dir.clone();
        let dir_s = dir.display().to_string();
        if rebuild && dir.exists() {
            tracing::warn!(dir = %dir_s, "--rebuild: clearing state; it is rebuilt by replaying the source");
            std::fs::remove_dir_all(&dir).map_err(|source| NodeError::Rebuild {
                dir: dir_s.clone(),
                source,
            })?;
        }
        let flush = config.ingest.flush_interval_ms;
        let cache = config.ingest.sled_cache_mb;
        let store = match Store::open(&dir, flush, cache) {
            Ok(s) => s,
            Err(e) if e.is_corruption() => {
                let aside = format!("{dir_s}.corrupt-{}", chrono::Utc::now().timestamp());
                tracing::error!(dir = %dir_s, moved_to = %aside, error = %e,
                    "the store is corrupt; moving it aside and rebuilding by replaying the source from the start");
                std::fs::rename(&dir, &aside).map_err(|source| NodeError::Rebuild {
                    dir: dir_s.clone(),
                    source,
                })?;
                Store::open(&dir, flush, cache).map_err(|source| NodeError::Store {
                    dir: dir_s.clone(),
                    source,
                })?
            }
            Err(source) => return Err(NodeError::Store { dir: dir_s, source }),
        };
        let store = Arc::new(store);
        let catalog = Arc::new(Catalog::new());
        let metrics = Arc::new(Metrics::new());
        let registry = Arc::new(Registry::default());
        let faults =
            FaultHook::parse(config.debug.fault_panic.as_deref()).map_err(NodeError::Config)?;
        let registry_client = config.kafka.registry.url.as_deref().map(|url| {
            crate::ingest::registry::SchemaRegistry::new(
                url,
                config.kafka.registry.username.as_deref(),
                config.kafka.registry.password.as_deref(),
            )
        });
        let feed = Arc::new(crate::live::feed::Feed::default());
        let live = Arc::new(
            crate::live::Live::new(
                config.live.clone(),
                catalog.clone(),
                metrics.clone(),
                &store,
                feed.clone(),
                config.source.kind == SourceKind::Kafka,
            )
            .map_err(|source| NodeError::Store {
                dir: dir_s.clone(),
                source,
            })?,
        );
        let live_stop = CancellationToken::new();
        live.spawn(live_stop.clone());
        let ctx = Arc::new(PartitionContext {
            registry: registry_client.clone(),
            max_value_bytes: config.ingest.max_value_bytes,
            store: store.clone(),
            index_root: dir.join("index"),
            text: config.text.clone(),
            catalog: catalog.clone(),
            metrics: metrics.clone(),
            faults: Arc::new(faults),
            live: config.live.clone(),
            feed: feed.clone(),
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
        .map_err(|e| NodeError::Actor(e.to_string()))?;
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
        rates.spawn(
            registry.clone(),
            catalog.clone(),
            feed,
            status.clone(),
            live_stop.clone(),
        );
        Ok(Node {
            config: Arc::new(config),
            store,
            catalog,
            metrics,
            registry,
            supervisor,
            status,
            live,
            live_stop,
            rates,
            registry_client,
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
        let feed = self.live.feed.clone();
        tokio::spawn(async move {
            let ended = router::route(
                rx,
                router_cfg,
                supervisor,
                registry,
                store.clone(),
                router_stats,
                feed,
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
            let applied = crate::ident::TableName::from_topic(&tp.topic);
            let applied = self
                .catalog
                .get(&applied)
                .map(|t| t.partition(tp.partition).rows.read().applied)
                .unwrap_or(None);
            if let Some(lag) = pos.lag(applied) {
                self.metrics
                    .kafka_lag
                    .with_label_values(&[&tp.topic, &tp.partition.to_string()])
                    .set(lag);
            }
        }
    }

    /// Ready: no failed partition, and the source is live or has caught up.
    pub fn readiness(&self) -> (bool, serde_json::Value) {
        let failed: Vec<serde_json::Value> = self
            .registry
            .failed()
            .into_iter()
            .map(|(tp, reason)| serde_json::json!({"topic": tp.topic, "partition": tp.partition, "reason": reason}))
            .collect();
        let status = self.status.lock().clone();
        let (source, caught_up, error) = match &status {
            Some(s) => (
                s.source.clone(),
                s.paced || s.finished.load(Ordering::SeqCst),
                s.error.lock().clone(),
            ),
            None => ("none".into(), true, None),
        };
        let mut broker = serde_json::Value::Null;
        let mut source_ok = true;
        if let Some(k) = status.as_ref().and_then(|s| s.kafka.clone()) {
            let up = k.broker_up.load(Ordering::SeqCst);
            let registry_error = k.registry_error.lock().clone();
            source_ok = up && registry_error.is_none();
            broker = serde_json::json!({
                "brokers": k.brokers,
                "up": up,
                "last_error": k.last_error.lock().clone(),
                "registry_error": registry_error,
                "owned_partitions": k.owned.read().len(),
            });
        }
        let ready = failed.is_empty() && caught_up && error.is_none() && source_ok;
        (
            ready,
            serde_json::json!({
                "ready": ready,
                "source": source,
                "caught_up": caught_up,
                "source_error": error,
                "failed_partitions": failed,
                "kafka": broker,
            }),
        )
    }

    /// Graceful stop: stop the actors (each finishes its batch), flush sled, stop the
    /// supervisor. Nothing durable happens in `post_stop`.
    pub async fn stop(&self) {
        self.live_stop.cancel();
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
