//! How questions are answered: one DataFusion engine over the live tables. SQL, and later the
//! plain-English path, MCP and the dashboard, all come through [`QueryEngine::sql`].

pub mod chart;
pub mod json;
pub mod provider;

use std::sync::Arc;
use std::time::{Duration, Instant};

use datafusion::error::DataFusionError;
use datafusion::execution::context::SQLOptions;
use datafusion::prelude::{SessionConfig, SessionContext};
use futures::StreamExt;
use serde::Serialize;

use crate::config::QueryConfig;
use crate::error::{ErrorCode, HasCode};
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
}

/// The SQL engine. Queries run on their own small runtime, so a heavy query never starves
/// ingestion or the HTTP server, and one past its timeout is abandoned at once (and aborted at
/// its next yield point).
pub struct QueryEngine {
    ctx: SessionContext,
    cfg: QueryConfig,
    metrics: Arc<Metrics>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl Drop for QueryEngine {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

impl QueryEngine {
    pub fn new(catalog: Arc<Catalog>, cfg: QueryConfig, metrics: Arc<Metrics>) -> Self {
        let config = SessionConfig::new()
            .with_create_default_catalog_and_schema(false)
            .with_default_catalog_and_schema("streamq", "public")
            .with_information_schema(true)
            .with_target_partitions(2);
        let ctx = SessionContext::new_with_config(config);
        ctx.register_catalog(
            "streamq",
            Arc::new(provider::LiveCatalogProvider { catalog }),
        );
        ctx.register_udf(text_match_udf());
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("streamq-query")
            .enable_all()
            .build()
            .expect("the query runtime starts");
        Self {
            ctx,
            cfg,
            metrics,
            runtime: Some(runtime),
        }
    }

    /// The tables a statement reads (`schema.table`), if it parses.
    pub fn tables_of(&self, sql: &str) -> Option<Vec<String>> {
        let state = self.ctx.state();
        let stmt = state
            .sql_to_statement(sql, &datafusion::config::Dialect::Generic)
            .ok()?;
        let refs = state.resolve_table_references(&stmt).ok()?;
        Some(
            refs.iter()
                .map(|r| format!("{}.{}", r.schema().unwrap_or("public"), r.table()))
                .collect(),
        )
    }

    /// Runs one read-only statement within the timeout, returning at most the row cap.
    pub async fn sql(&self, sql: &str) -> Result<QueryResult, QueryError> {
        let started = Instant::now();
        let timeout = Duration::from_millis(self.cfg.timeout_ms);
        let (ctx, cap, owned) = (self.ctx.clone(), self.cfg.max_rows, sql.to_string());
        let rt = self.runtime.as_ref().expect("runtime lives until drop");
        let mut task = rt.spawn(async move { run(&ctx, &owned, cap).await });
        let result = match tokio::time::timeout(timeout, &mut task).await {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => Err(QueryError::Execution(format!("query task failed: {e}"))),
            Err(_) => {
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
            r
        })
    }
}

async fn run(ctx: &SessionContext, sql: &str, cap: usize) -> Result<QueryResult, QueryError> {
    let opts = SQLOptions::new()
        .with_allow_ddl(false)
        .with_allow_dml(false)
        .with_allow_statements(false);
    let df = ctx.sql_with_options(sql, opts).await.map_err(classify)?;
    let schema = df.schema().inner().clone();
    let columns = schema
        .fields()
        .iter()
        .map(|f| ColumnMeta {
            name: f.name().clone(),
            data_type: json::type_name(f.data_type()),
        })
        .collect();
    let mut stream = df.execute_stream().await.map_err(classify)?;
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
    })
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
            QueryError::Timeout(_) => ErrorCode::QueryTimeout,
            QueryError::Execution(_) => ErrorCode::QueryFailed,
        }
    }
}
