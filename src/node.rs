//! A running streamq: the store, the event path ([`Pipeline`]), the live engine, the query
//! engine and the assistant, built once here and handed to every door (web, MCP).

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::actors::supervisor::Registry;
use crate::actors::{Pipeline, PipelineError, Readiness};
use crate::audit::AuditLog;
use crate::config::{Config, SourceKind};
use crate::live::Live;
use crate::llm::Assistant;
use crate::privacy::Privacy;
use crate::query::QueryEngine;
use crate::store::catalog::Catalog;
use crate::store::{Store, StoreError};
use crate::telemetry::Metrics;

/// Errors starting a node.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// The store could not be opened.
    #[error("cannot open the store at {dir}: {source}")]
    Store { dir: String, source: StoreError },
    /// The data directory could not be moved aside or removed for a rebuild.
    #[error("cannot clear {dir} for a rebuild: {source}")]
    Rebuild { dir: String, source: std::io::Error },
    #[error(transparent)]
    Pipeline(#[from] PipelineError),
    /// A setting that cannot be used.
    #[error("{0}")]
    Invalid(String),
}

/// Everything one streamq process runs.
#[derive(Clone)]
pub struct Node {
    pub config: Arc<Config>,
    pub store: Arc<Store>,
    pub catalog: Arc<Catalog>,
    pub metrics: Arc<Metrics>,
    /// Source → router → partition actors.
    pub pipeline: Pipeline,
    /// Who runs each partition (the pipeline's).
    pub registry: Arc<Registry>,
    /// Windows, detectors, alert rules.
    pub live: Arc<Live>,
    /// The one DataFusion engine every door queries.
    pub engine: Arc<QueryEngine>,
    /// Plain English over the same engine.
    pub assistant: Arc<Assistant>,
    /// Which columns hold personal data, and their masked forms.
    pub privacy: Arc<Privacy>,
    /// Who asked what (`<data_dir>/audit/`).
    pub audit: Arc<AuditLog>,
    live_stop: CancellationToken,
}

impl Node {
    /// Opens the store (moving a corrupt one aside, or clearing it when `rebuild`), starts the
    /// pipeline (an actor for every partition already on disk, which loads its state), the
    /// live engine, the query engine and the assistant.
    pub async fn start(config: Config, rebuild: bool) -> Result<Node, NodeError> {
        let store = Arc::new(open_store(&config, rebuild)?);
        let config = Arc::new(config);
        let names = store
            .tree("table-names")
            .map_err(|e| NodeError::Invalid(e.to_string()))?;
        let catalog = Arc::new(
            Catalog::with(&config.catalog.tables, Some(names))
                .map_err(|e| NodeError::Invalid(e.to_string()))?,
        );
        let metrics = Arc::new(Metrics::new());
        let pipeline = Pipeline::start(
            config.clone(),
            store.clone(),
            catalog.clone(),
            metrics.clone(),
        )
        .await?;
        // An allow-list entry that means nothing refuses the start (rather than allowing less).
        crate::live::outbound::Policy::new(&config.live.webhook_allow)
            .map_err(NodeError::Invalid)?;
        let live = Arc::new(
            Live::new(
                config.live.clone(),
                catalog.clone(),
                metrics.clone(),
                &store,
                pipeline.changes.clone(),
                pipeline.progress.clone(),
                config.source.kind == SourceKind::Kafka,
            )
            .map_err(|source| NodeError::Store {
                dir: config.data_dir.display().to_string(),
                source,
            })?,
        );
        let live_stop = CancellationToken::new();
        live.spawn(live_stop.clone());
        let audit = AuditLog::open(&config.data_dir, config.audit.keep_days)
            .map_err(|e| NodeError::Invalid(e.to_string()))?;
        let privacy =
            Arc::new(Privacy::open(&config.data_dir, &config.privacy).map_err(NodeError::Invalid)?);
        let engine = Arc::new(QueryEngine::new(
            catalog.clone(),
            privacy.clone(),
            audit.clone(),
            config.query.clone(),
            metrics.clone(),
        ));
        let assistant = Arc::new(Assistant::new(
            catalog.clone(),
            engine.clone(),
            metrics.clone(),
            &config.llm.model_dir,
            config.llm.max_question_chars,
        ));
        Ok(Node {
            registry: pipeline.registry.clone(),
            config,
            store,
            catalog,
            metrics,
            pipeline,
            live,
            engine,
            assistant,
            privacy,
            audit,
            live_stop,
        })
    }

    /// Starts the configured source; the handle resolves when the source has ended and
    /// everything it produced is applied (or on shutdown).
    pub fn start_source(&self, shutdown: CancellationToken) -> JoinHandle<()> {
        self.pipeline.start_source(shutdown)
    }

    /// Ingests the configured source to its end; the time taken and the records read.
    pub async fn ingest_to_end(&self) -> anyhow::Result<(Duration, u64)> {
        let started = Instant::now();
        self.start_source(CancellationToken::new()).await?;
        let took = started.elapsed();
        let status = self.pipeline.status.lock().clone();
        if let Some(err) = status.as_ref().and_then(|s| s.error.lock().clone()) {
            anyhow::bail!("source failed: {err}");
        }
        let read = status
            .map(|s| {
                s.router
                    .records_routed
                    .load(std::sync::atomic::Ordering::Relaxed)
            })
            .unwrap_or(0);
        Ok((took, read))
    }

    /// Ready: the pipeline is (no failed partition, the source live or caught up), and the
    /// query engine answers (no query it could not stop).
    pub fn readiness(&self) -> Readiness {
        let mut r = self.pipeline.readiness();
        if let Some(late) = self.engine.stuck_for() {
            r.ready = false;
            r.query_engine = Some(format!(
                "a query is still running {} s past its timeout",
                late.as_secs()
            ));
        }
        r
    }

    /// Which partitions of the tables `sql` reads are on this node and which are not, when a
    /// consumer group splits them (`None`: every partition is here, or the source is not a
    /// group).
    pub fn coverage(&self, sql: &str) -> Option<crate::query::Coverage> {
        let kafka = self.kafka()?;
        let tables = self.engine.tables_of(sql)?;
        let mut cov = crate::query::Coverage {
            owned: Vec::new(),
            missing: Vec::new(),
        };
        for t in tables {
            let Some(table) = self.catalog.get(&crate::ident::TableName::parse(&t)) else {
                continue;
            };
            let topic = table.schema.read().topic.clone();
            let Some((here, elsewhere)) = kafka.split(&topic) else {
                continue;
            };
            if elsewhere.is_empty() || cov.missing.iter().any(|m| m.table == t) {
                continue;
            }
            cov.owned.push(crate::query::TableParts {
                table: t.clone(),
                partitions: here,
            });
            cov.missing.push(crate::query::TableParts {
                table: t,
                partitions: elsewhere,
            });
        }
        (!cov.missing.is_empty()).then_some(cov)
    }

    /// Partitions of `topic` the brokers report that this node does not own (a consumer
    /// group gave them to another node).
    pub fn partitions_elsewhere(&self, topic: &str) -> Vec<i32> {
        self.kafka()
            .and_then(|k| k.split(topic))
            .map(|(_, elsewhere)| elsewhere)
            .unwrap_or_default()
    }

    /// The Kafka source's status, when the source is a consumer group.
    fn kafka(&self) -> Option<Arc<crate::ingest::kafka::KafkaStatus>> {
        self.pipeline.status.lock().as_ref()?.kafka.clone()
    }

    /// Brings gauges computed from state up to date (called when metrics are scraped).
    pub fn refresh_gauges(&self) {
        self.pipeline.refresh_gauges();
    }

    /// Graceful stop: the live engine, then the pipeline (each actor finishes its batch, sled
    /// flushes).
    pub async fn stop(&self) {
        self.live_stop.cancel();
        self.pipeline.stop().await;
    }
}

/// Opens the store in the data dir: cleared first when `rebuild`; a corrupt one is moved
/// aside and the state rebuilt by replaying the source. Tokens and the audit trail are not
/// state folded from the log: both survive a rebuild.
fn open_store(config: &Config, rebuild: bool) -> Result<Store, NodeError> {
    let dir = config.data_dir.clone();
    let dir_s = dir.display().to_string();
    if rebuild && dir.exists() {
        tracing::warn!(dir = %dir_s, "--rebuild: clearing state; it is rebuilt by replaying the source");
        clear_state(&dir).map_err(|source| NodeError::Rebuild {
            dir: dir_s.clone(),
            source,
        })?;
    }
    let flush = config.ingest.flush_interval_ms;
    let cache = config.ingest.sled_cache_mb;
    match Store::open(&dir, flush, cache) {
        Ok(s) => Ok(s),
        Err(e) if e.is_corruption() => {
            let aside = format!("{dir_s}.corrupt-{}", chrono::Utc::now().timestamp());
            tracing::error!(dir = %dir_s, moved_to = %aside, error = %e,
                "the store is corrupt; moving it aside and rebuilding by replaying the source from the start");
            std::fs::rename(&dir, &aside)
                .and_then(|()| keep_governance(Path::new(&aside), &dir))
                .map_err(|source| NodeError::Rebuild {
                    dir: dir_s.clone(),
                    source,
                })?;
            Store::open(&dir, flush, cache)
                .map_err(|source| NodeError::Store { dir: dir_s, source })
        }
        Err(source) => Err(NodeError::Store { dir: dir_s, source }),
    }
}

/// What the data directory holds that is not rebuilt from the source.
const GOVERNANCE: [&str; 2] = ["auth", "audit"];

/// Removes the rebuildable state of `dir` (everything but [`GOVERNANCE`]).
fn clear_state(dir: &Path) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if GOVERNANCE.iter().any(|g| entry.file_name() == *g) {
            continue;
        }
        if entry.file_type()?.is_dir() {
            std::fs::remove_dir_all(entry.path())?;
        } else {
            std::fs::remove_file(entry.path())?;
        }
    }
    Ok(())
}

/// Moves [`GOVERNANCE`] back from a store set aside into the fresh `dir`.
fn keep_governance(aside: &Path, dir: &Path) -> std::io::Result<()> {
    for g in GOVERNANCE {
        let from = aside.join(g);
        if from.exists() {
            std::fs::create_dir_all(dir)?;
            std::fs::rename(&from, dir.join(g))?;
        }
    }
    Ok(())
}
