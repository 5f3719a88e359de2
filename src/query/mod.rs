//! How questions are answered: one DataFusion engine over the live tables. SQL, and later the
//! plain-English path, MCP and the dashboard, all come through [`QueryEngine::sql`].

pub mod audit;
mod avg;
pub mod cancel;
pub mod chart;
pub mod json;
pub mod limits;
pub mod provider;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use datafusion::error::DataFusionError;
use datafusion::execution::context::SQLOptions;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::prelude::{SessionConfig, SessionContext};
use futures::StreamExt;
use parking_lot::Mutex;
use serde::Serialize;

use cancel::{RaiseOnDrop, StopFlag};
use limits::Limits;

use crate::config::QueryConfig;
use crate::error::{ErrorCode, HasCode};
use crate::privacy::Privacy;
use crate::privacy::sight::Sight;
use crate::store::catalog::Catalog;
use crate::telemetry::Metrics;

/// Why a query did not answer.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// The text is not valid SQL.
    #[error("invalid SQL: {0}")]
    Parse(String),
    /// The statement would write or change something; only queries are allowed.
    #[error("only read-only queries are allowed: {0}")]
    NotReadOnly(String),
    /// The query names a table that does not exist.
    #[error("{0}")]
    UnknownTable(String),
    /// The query is valid SQL but cannot be planned (unknown column, type mismatch, …).
    #[error("{0}")]
    Plan(String),
    /// The query is too deep or too wide to plan safely.
    #[error("{0}")]
    TooComplex(String),
    /// The query needed more memory than the budget for queries.
    #[error("{0}")]
    MemoryExceeded(String),
    /// The query ran longer than allowed.
    #[error("query exceeded the {0} ms timeout")]
    Timeout(u64),
    /// The query failed while running.
    #[error("query failed: {0}")]
    Execution(String),
}

/// A result column.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ColumnMeta {
    pub name: String,
    #[serde(rename = "type")]
    pub data_type: String,
}

/// A query's answer.
#[derive(Debug, Clone, Serialize)]
pub struct QueryResult {
    pub columns: Vec<ColumnMeta>,
    pub rows: Vec<Vec<serde_json::Value>>,
    /// More rows existed than the row cap allowed.
    pub truncated: bool,
    pub took_ms: f64,
    /// Set when this node holds only some partitions of a table the query read (a consumer
    /// group split them): the answer covers the owned ones only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub partial: Option<Coverage>,
    /// Personal-data columns of the tables read that this caller saw masked
    /// (`schema.table.column`): their values, and anything computed from them, are masked
    /// forms, so a filter on a real value matches nothing.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub masked: Vec<String>,
}

/// Which partitions of the tables an answer read were on this node, and which were not.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Coverage {
    pub owned: Vec<TableParts>,
    pub missing: Vec<TableParts>,
}

/// Some partitions of one table.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TableParts {
    pub table: String,
    pub partitions: Vec<i32>,
}

impl Coverage {
    /// What an answer from these partitions leaves out, said in a sentence.
    pub fn sentence(&self) -> String {
        let list = |ps: &[i32]| {
            ps.iter()
                .map(|p| p.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let parts: Vec<String> = self
            .missing
            .iter()
            .map(|m| {
                let held = self
                    .owned
                    .iter()
                    .find(|o| o.table == m.table)
                    .map_or(String::from("none"), |o| list(&o.partitions));
                format!(
                    "{} from partitions {held} only (partition {} is on another node)",
                    m.table,
                    list(&m.partitions)
                )
            })
            .collect();
        format!("Partial answer: {}.", parts.join("; "))
    }
}

/// The SQL engine. Queries run on their own small runtime (threads with a known, large
/// stack), so a heavy query never starves ingestion or the HTTP server; within a memory pool
/// of their own; and one past its timeout is stopped: its caller gets the timeout at once and
/// every node of its plan ends at its next batch ([`cancel`]).
pub struct QueryEngine {
    ctx: SessionContext,
    catalog: Arc<Catalog>,
    privacy: Arc<Privacy>,
    audit: Arc<crate::audit::AuditLog>,
    cfg: QueryConfig,
    limits: Limits,
    /// The memory budget of all queries, in bytes.
    memory_limit: usize,
    metrics: Arc<Metrics>,
    runtime: Option<tokio::runtime::Runtime>,
    /// Queries whose task is still running, by id, with when they started.
    running: Arc<Mutex<HashMap<u64, Instant>>>,
    next_id: AtomicU64,
}

impl Drop for QueryEngine {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

impl QueryEngine {
    pub fn new(
        catalog: Arc<Catalog>,
        privacy: Arc<Privacy>,
        audit: Arc<crate::audit::AuditLog>,
        cfg: QueryConfig,
        metrics: Arc<Metrics>,
    ) -> Self {
        let mut config = SessionConfig::new()
            .with_create_default_catalog_and_schema(false)
            .with_default_catalog_and_schema(DEFAULT_CATALOG, "public")
            .with_information_schema(true)
            .with_target_partitions(2);
        if let Ok(n) = datafusion::config::ConfigNonZeroUsize::try_new(cfg.max_nesting) {
            config.options_mut().sql_parser.recursion_limit = n;
        }
        let memory_limit = memory_budget(cfg.memory_limit_mb);
        let env = RuntimeEnvBuilder::new()
            .with_memory_limit(memory_limit, 1.0)
            .build_arc()
            .expect("the query memory pool is built");
        let ctx = SessionContext::new_with_config_rt(config, env);
        ctx.register_catalog_list(Arc::new(provider::LiveCatalogList {
            catalog: catalog.clone(),
            view: provider::View {
                privacy: privacy.clone(),
                audit: audit.clone(),
                sight: Sight::All,
                seen: Default::default(),
            },
        }));
        ctx.register_udf(text_match_udf());
        ctx.register_udaf(avg::avg_udaf());
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("streamq-query")
            .thread_stack_size(cfg.thread_stack_mb.max(2) << 20)
            .enable_all()
            .build()
            .expect("the query runtime starts");
        Self {
            limits: Limits::of(&cfg),
            ctx,
            catalog,
            privacy,
            audit,
            cfg,
            memory_limit,
            metrics,
            runtime: Some(runtime),
            running: Arc::default(),
            next_id: AtomicU64::new(0),
        }
    }

    /// The complexity limits every statement and filter is measured against.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// The memory budget of all queries together, in bytes.
    pub fn memory_limit(&self) -> usize {
        self.memory_limit
    }

    /// How long the oldest query has run past its timeout and a grace period: a query the
    /// engine could not stop, which `/readyz` reports (`None` when every query is in time).
    pub fn stuck_for(&self) -> Option<Duration> {
        let allowed = Duration::from_millis(self.cfg.timeout_ms) + STOP_GRACE;
        let oldest = self.running.lock().values().min().copied()?;
        oldest.elapsed().checked_sub(allowed)
    }

    /// The tables a statement reads (`schema.table`), if it parses.
    pub fn tables_of(&self, sql: &str) -> Option<Vec<String>> {
        let state = self.ctx.state();
        let stmt = state
            .sql_to_statement(sql, &datafusion::config::Dialect::Generic)
            .ok()?;
        limits::check(&stmt, self.limits).ok()?;
        let refs = state.resolve_table_references(&stmt).ok()?;
        Some(
            refs.iter()
                .map(|r| match r.catalog().filter(|c| *c != DEFAULT_CATALOG) {
                    Some(c) => format!("{c}.{}.{}", r.schema().unwrap_or("public"), r.table()),
                    None => format!("{}.{}", r.schema().unwrap_or("public"), r.table()),
                })
                .collect(),
        )
    }

    /// The personal-data columns of `table` that `sight` sees masked.
    pub fn masked_columns(&self, table: &crate::ident::TableName, sight: &Sight) -> Vec<String> {
        let Some(t) = self.catalog.get(table) else {
            return Vec::new();
        };
        match self.privacy.mask_for(&t, sight) {
            Some(m) => m.names(&t.schema.read().columns),
            None => Vec::new(),
        }
    }

    /// Runs one read-only statement seeing every column (streamq's own questions of its
    /// tables, and callers who see everything).
    pub async fn sql(&self, sql: &str) -> Result<QueryResult, QueryError> {
        self.sql_as(sql, &Sight::All).await
    }

    /// The engine as `sight` sees the tables: the same session, with a catalog whose tables
    /// mask what `sight` may not see.
    fn context_for(&self, sight: &Sight) -> (SessionContext, provider::MaskedSeen) {
        let seen = provider::MaskedSeen::default();
        if sight.is_all() {
            return (self.ctx.clone(), seen);
        }
        let state = datafusion::execution::SessionStateBuilder::new_from_existing(self.ctx.state())
            .with_catalog_list(Arc::new(provider::LiveCatalogList {
                catalog: self.catalog.clone(),
                view: provider::View {
                    privacy: self.privacy.clone(),
                    audit: self.audit.clone(),
                    sight: sight.clone(),
                    seen: seen.clone(),
                },
            }))
            .build();
        let ctx = SessionContext::new_with_state(state);
        (ctx, seen)
    }

    /// Runs one read-only statement within the timeout, returning at most the row cap, with
    /// the personal-data columns `sight` may not see masked.
    pub async fn sql_as(&self, sql: &str, sight: &Sight) -> Result<QueryResult, QueryError> {
        let started = Instant::now();
        let timeout = Duration::from_millis(self.cfg.timeout_ms);
        let (ctx, seen) = self.context_for(sight);
        let (cap, owned) = (self.cfg.max_rows, sql.to_string());
        let (limits, budget) = (self.limits, self.memory_limit);
        let rt = self.runtime.as_ref().expect("runtime lives until drop");
        let flag = StopFlag::default();
        // Whoever stops waiting (the timeout below, a caller gone) stops the query.
        let _stop = RaiseOnDrop(flag.clone());
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        self.running.lock().insert(id, started);
        let running = Running {
            id,
            set: self.running.clone(),
        };
        let task_flag = flag.clone();
        let mut task = rt.spawn(async move {
            let _running = running;
            run(&ctx, &owned, cap, limits, &task_flag).await
        });
        let result = match tokio::time::timeout(timeout, &mut task).await {
            Ok(Ok(Err(QueryError::MemoryExceeded(m)))) => Err(QueryError::MemoryExceeded(format!(
                "{m} (query.memory_limit_mb: {} MiB for all queries)",
                budget >> 20
            ))),
            Ok(Ok(r)) => r,
            Ok(Err(e)) => Err(QueryError::Execution(format!("query task failed: {e}"))),
            Err(_) => {
                flag.raise();
                task.abort();
                Err(QueryError::Timeout(self.cfg.timeout_ms))
            }
        };
        let secs = started.elapsed().as_secs_f64();
        crate::telemetry::QueryRan {
            seconds: secs,
            error: result.as_ref().err().map(|e| e.code().as_str()),
        }
        .emit(&self.metrics);
        result.map(|mut r| {
            r.took_ms = (secs * 1e6).round() / 1e3;
            r.masked = seen.lock().iter().cloned().collect();
            r
        })
    }
}

/// How long past its timeout a query may take to stop before `/readyz` calls the engine stuck.
/// The SQL catalog of two-level names (`db2.transactions`); three-level names have their own.
pub const DEFAULT_CATALOG: &str = "streamq";

const STOP_GRACE: Duration = Duration::from_secs(5);

/// A query's entry among the running ones, removed when its task ends (or is dropped).
struct Running {
    id: u64,
    set: Arc<Mutex<HashMap<u64, Instant>>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.set.lock().remove(&self.id);
    }
}

/// Parse → measure → plan → check it reads only → run with every node guarded by `flag`.
async fn run(
    ctx: &SessionContext,
    sql: &str,
    cap: usize,
    limits: Limits,
    flag: &StopFlag,
) -> Result<QueryResult, QueryError> {
    let opts = SQLOptions::new()
        .with_allow_ddl(false)
        .with_allow_dml(false)
        .with_allow_statements(false);
    let state = ctx.state();
    let stmt = state
        .sql_to_statement(sql, &datafusion::config::Dialect::Generic)
        .map_err(|e| classify_parse(e, &state))?;
    limits::check(&stmt, limits).map_err(|e| QueryError::TooComplex(e.to_string()))?;
    let plan = state.statement_to_plan(stmt).await.map_err(classify)?;
    opts.verify_plan(&plan).map_err(classify)?;
    let df = ctx.execute_logical_plan(plan).await.map_err(classify)?;
    let schema = df.schema().inner().clone();
    let columns = schema
        .fields()
        .iter()
        .map(|f| ColumnMeta {
            name: f.name().clone(),
            data_type: json::type_name(f.data_type()),
        })
        .collect();
    let task_ctx = Arc::new(df.task_ctx());
    let physical = df.create_physical_plan().await.map_err(classify)?;
    let physical = cancel::guard(physical, flag).map_err(classify)?;
    let mut stream =
        datafusion::physical_plan::execute_stream(physical, task_ctx).map_err(classify)?;
    let mut rows = Vec::new();
    let mut truncated = false;
    'outer: while let Some(batch) = stream.next().await {
        let batch = batch.map_err(classify)?;
        for i in 0..batch.num_rows() {
            if rows.len() == cap {
                truncated = true;
                break 'outer;
            }
            rows.push(batch.columns().iter().map(|c| json::cell(c, i)).collect());
        }
    }
    Ok(QueryResult {
        columns,
        rows,
        truncated,
        took_ms: 0.0,
        partial: None,
        masked: Vec::new(),
    })
}

/// A parse error; the parser's nesting limit is a complexity limit, said as one.
fn classify_parse(e: DataFusionError, state: &datafusion::execution::SessionState) -> QueryError {
    let text = e.to_string();
    if text.contains("RecursionLimitExceeded") || text.contains("recursion limit exceeded") {
        let n = state.config().options().sql_parser.recursion_limit;
        return QueryError::TooComplex(format!(
            "the query nests parentheses or subqueries more than {n} deep (query.max_nesting)"
        ));
    }
    classify(e)
}

/// The budget for all queries: the configured MiB, or a quarter of the machine's memory.
fn memory_budget(configured_mb: u64) -> usize {
    if configured_mb > 0 {
        return (configured_mb as usize) << 20;
    }
    let total = std::fs::read_to_string("/proc/meminfo").ok().and_then(|s| {
        s.lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<usize>().ok())
            .map(|kb| kb * 1024)
    });
    total.unwrap_or(4 << 30) / 4
}

fn classify(e: DataFusionError) -> QueryError {
    let e = e.find_root().to_string();
    let msg = e
        .strip_prefix("Error during planning: ")
        .or_else(|| e.strip_prefix("SQL error: "))
        .unwrap_or(&e)
        .replace("'streamq.", "'");
    if e.starts_with("SQL error")
        || e.contains("ParserError")
        || e.contains("only supports a single SQL statement")
    {
        QueryError::Parse(msg)
    } else if e.contains("DDL not supported")
        || e.contains("DML not supported")
        || e.contains("Statement not supported")
    {
        QueryError::NotReadOnly(msg)
    } else if e.starts_with("Resources exhausted") {
        QueryError::MemoryExceeded(format!("the query needs more memory than allowed: {msg}"))
    } else if e.contains("table") && e.contains("not found") {
        QueryError::UnknownTable(msg)
    } else if e.starts_with("Error during planning") || e.starts_with("Schema error") {
        QueryError::Plan(msg)
    } else {
        QueryError::Execution(msg)
    }
}

/// `text_match(column, 'query')`: true when every term and "quoted phrase" of the query occurs
/// in the value (whole tokens, case-insensitive) — the search index's matching rule, as a
/// predicate the SQL and plain-English paths can use.
fn text_match_udf() -> datafusion::logical_expr::ScalarUDF {
    use datafusion::arrow::array::{Array, BooleanArray, StringArray};
    use datafusion::arrow::datatypes::DataType;
    use datafusion::logical_expr::{ColumnarValue, Volatility, create_udf};
    let f = Arc::new(
        |args: &[ColumnarValue]| -> datafusion::error::Result<ColumnarValue> {
            let arrays = ColumnarValue::values_to_arrays(args)?;
            let as_utf8 = |a: &datafusion::arrow::array::ArrayRef| {
                datafusion::arrow::compute::cast(a, &DataType::Utf8)
            };
            let (values, queries) = (as_utf8(&arrays[0])?, as_utf8(&arrays[1])?);
            let values = values
                .as_any()
                .downcast_ref::<StringArray>()
                .expect("cast to Utf8");
            let queries = queries
                .as_any()
                .downcast_ref::<StringArray>()
                .expect("cast to Utf8");
            let out: BooleanArray = (0..values.len())
                .map(|i| {
                    if values.is_null(i) || queries.is_null(i) {
                        None
                    } else {
                        Some(crate::store::text::text_matches(
                            values.value(i),
                            queries.value(i),
                        ))
                    }
                })
                .collect();
            Ok(ColumnarValue::Array(Arc::new(out)))
        },
    );
    create_udf(
        "text_match",
        vec![DataType::Utf8, DataType::Utf8],
        DataType::Boolean,
        Volatility::Immutable,
        f,
    )
}

impl HasCode for QueryError {
    fn code(&self) -> ErrorCode {
        match self {
            QueryError::Parse(_) => ErrorCode::InvalidSql,
            QueryError::NotReadOnly(_) => ErrorCode::ReadOnly,
            QueryError::UnknownTable(_) => ErrorCode::UnknownTable,
            QueryError::Plan(_) => ErrorCode::InvalidQuery,
            QueryError::TooComplex(_) => ErrorCode::QueryTooComplex,
            QueryError::MemoryExceeded(_) => ErrorCode::QueryMemoryExceeded,
            QueryError::Timeout(_) => ErrorCode::QueryTimeout,
            QueryError::Execution(_) => ErrorCode::QueryFailed,
        }
    }
}
