//! REST handlers.

use std::sync::atomic::Ordering;

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use crate::ident::TableName;
use crate::query::QueryResult;
use crate::store::value::format_timestamp_us;
use crate::web::AppState;
use crate::web::error::{ApiError, ErrorCode};

#[derive(Deserialize)]
pub struct SqlRequest {
    pub sql: String,
}

/// `POST /api/sql {"sql"}`.
pub async fn sql(
    State(st): State<AppState>,
    body: Result<Json<SqlRequest>, JsonRejection>,
) -> Result<Json<QueryResult>, ApiError> {
    let Json(req) = body.map_err(|e| ApiError::new(ErrorCode::BadRequest, e.body_text()))?;
    if req.sql.trim().is_empty() {
        return Err(ApiError::new(ErrorCode::BadRequest, "'sql' is empty"));
    }
    Ok(Json(st.engine.sql(&req.sql).await?))
}

/// `GET /api/tables`.
pub async fn tables(State(st): State<AppState>) -> Json<serde_json::Value> {
    let tables: Vec<_> = st
        .node
        .catalog
        .tables()
        .into_iter()
        .map(|t| {
            let s = t.schema.read().clone();
            json!({
                "name": s.name.to_string(),
                "topic": s.topic,
                "columns": s.columns.len(),
                "primary_key": s.primary_key,
                "row_count": t.row_count(),
            })
        })
        .collect();
    Json(json!({ "tables": tables }))
}

/// `GET /api/tables/{name}`: columns with types and original names, key, topic, rows, and
/// per-partition applied offsets.
pub async fn table(
    State(st): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let tn = TableName::parse(&name);
    let t =
        st.node.catalog.get(&tn).ok_or_else(|| {
            ApiError::new(ErrorCode::UnknownTable, format!("no table named {name}"))
        })?;
    let s = t.schema.read().clone();
    let mut columns: Vec<_> = s
        .columns
        .iter()
        .map(|c| {
            json!({
                "name": c.name,
                "original": c.original,
                "type": c.dtype.map(|d| d.sql_name()).unwrap_or("VARCHAR"),
                "logical": match c.dtype {
                    Some(crate::store::value::DType::Decimal { scale }) => Some(format!("decimal(scale={scale})")),
                    _ => None,
                },
                "primary_key": s.primary_key.contains(&c.name),
            })
        })
        .collect();
    for (name, ty) in [
        ("_op", "VARCHAR"),
        ("_ts", "TIMESTAMP"),
        ("_partition", "INT"),
        ("_offset", "BIGINT"),
    ] {
        columns.push(json!({"name": name, "original": null, "type": ty, "metadata": true}));
    }
    let partitions: Vec<_> = t
        .partitions()
        .into_iter()
        .map(|(p, state)| {
            let rows = state.rows.read();
            let slot = st
                .node
                .registry
                .get(&crate::ident::TopicPartition::new(s.topic.clone(), p));
            json!({
                "partition": p,
                "applied_offset": rows.applied,
                "rows": rows.rows.len(),
                "status": slot.as_ref().map(|s| serde_json::to_value(&s.status).unwrap_or_default()),
                "restarts": slot.map(|s| s.restarts).unwrap_or(0),
            })
        })
        .collect();
    Ok(Json(json!({
        "name": s.name.to_string(),
        "topic": s.topic,
        "primary_key": s.primary_key,
        "row_count": t.row_count(),
        "columns": columns,
        "partitions": partitions,
    })))
}

#[derive(Deserialize)]
pub struct QuarantineParams {
    pub topic: Option<String>,
    pub limit: Option<usize>,
}

/// `GET /api/quarantine[?topic=&limit=]`.
pub async fn quarantine(
    State(st): State<AppState>,
    Query(q): Query<QuarantineParams>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let store = st.node.store.clone();
    let all = tokio::task::spawn_blocking(move || store.quarantine())
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)?;
    let matching: Vec<_> = all
        .into_iter()
        .filter(|e| q.topic.as_ref().is_none_or(|t| e.topic.as_ref() == Some(t)))
        .collect();
    let total = matching.len();
    let entries: Vec<_> = matching
        .into_iter()
        .take(q.limit.unwrap_or(1000))
        .map(|e| {
            json!({
                "topic": e.topic,
                "partition": e.partition,
                "offset": e.offset,
                "position": e.position,
                "reason": e.reason,
                "raw": String::from_utf8_lossy(&e.raw[..e.raw.len().min(4096)]),
                "raw_len": e.raw_len,
                "at": format_timestamp_us(e.at_ms * 1000),
            })
        })
        .collect();
    Ok(Json(json!({ "count": total, "entries": entries })))
}

/// `GET /api/sources`: the source and how far ingestion has come.
pub async fn sources(State(st): State<AppState>) -> Json<serde_json::Value> {
    let status = st.node.status.lock().clone();
    let partitions: Vec<_> = st
        .node
        .registry
        .all()
        .into_iter()
        .map(|(tp, slot)| {
            let applied = st
                .node
                .catalog
                .table_for_topic(&tp.topic)
                .partition(tp.partition)
                .rows
                .read()
                .applied;
            json!({
                "topic": tp.topic, "partition": tp.partition, "applied_offset": applied,
                "status": slot.status, "restarts": slot.restarts,
            })
        })
        .collect();
    Json(json!({
        "source": status.as_ref().map(|s| s.source.clone()),
        "finished": status.as_ref().map(|s| s.finished.load(Ordering::SeqCst)),
        "records_read": status.as_ref().map(|s| s.router.records_routed.load(Ordering::Relaxed)),
        "source_faults": status.as_ref().map(|s| s.router.source_faults.load(Ordering::Relaxed)),
        "undelivered": status.as_ref().map(|s| s.router.undelivered.load(Ordering::Relaxed)),
        "partitions": partitions,
    }))
}

pub async fn healthz() -> Json<serde_json::Value> {
    Json(json!({"status": "ok"}))
}

/// `GET /readyz`: 200 when ready, 503 with the reason otherwise.
pub async fn readyz(State(st): State<AppState>) -> Response {
    let (ready, body) = st.node.readiness();
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body)).into_response()
}

pub async fn metrics(State(st): State<AppState>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        st.node.metrics.render(),
    )
        .into_response()
}

pub async fn not_found() -> ApiError {
    ApiError::new(ErrorCode::NotFound, "no such endpoint")
}

pub async fn index() -> Html<&'static str> {
    Html(include_str!("index.html"))
}
