//! REST handlers.

use std::sync::atomic::Ordering;

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::json;

use crate::audit::Detail;
use crate::ident::TableName;
use crate::query::QueryResult;
use crate::store::value::format_timestamp_us;
use crate::web::AppState;
use crate::web::door::CallerSight;
use crate::web::error::{ApiError, ErrorCode};
use crate::web::params::instant_param;

#[derive(Deserialize)]
pub struct SqlRequest {
    pub sql: String,
}

/// `POST /api/sql {"sql"}`.
pub async fn sql(
    State(st): State<AppState>,
    CallerSight(sight): CallerSight,
    body: Result<Json<SqlRequest>, JsonRejection>,
) -> Result<(Extension<Detail>, Json<QueryResult>), ApiError> {
    let Json(req) = body.map_err(ApiError::from)?;
    if req.sql.trim().is_empty() {
        return Err(ApiError::new(ErrorCode::BadRequest, "'sql' is empty"));
    }
    let mut result = st.engine.sql_as(&req.sql, &sight).await?;
    result.partial = st.node.coverage(&req.sql);
    let detail = Detail {
        sql: Some(req.sql.clone()),
        tables: st.engine.tables_of(&req.sql).unwrap_or_default(),
        rows: Some(result.rows.len() as u64),
        masked: result.masked.clone(),
        ..Detail::default()
    };
    Ok((Extension(detail), Json(result)))
}

#[derive(Deserialize)]
pub struct AskRequest {
    pub question: String,
    #[serde(default)]
    pub as_of: Option<String>,
}

/// `POST /api/ask {"question", "as_of"?}`: an answer, or a clarification (200, no rows).
pub async fn ask(
    State(st): State<AppState>,
    CallerSight(sight): CallerSight,
    body: Result<Json<AskRequest>, JsonRejection>,
) -> Result<(Extension<Detail>, Json<crate::llm::AskReply>), ApiError> {
    let Json(req) = body.map_err(ApiError::from)?;
    let mut reply = st
        .assistant
        .ask(&req.question, req.as_of.as_deref(), &sight)
        .await
        .map_err(ApiError::from)?;
    if let crate::llm::AskReply::Answer(a) = &mut reply
        && let Some(cov) = st.node.coverage(&a.sql)
    {
        a.answer = format!("{} {}", a.answer, cov.sentence());
        a.partial = Some(cov);
    }
    let mut detail = Detail {
        question: Some(req.question.clone()),
        ..Detail::default()
    };
    if let crate::llm::AskReply::Answer(a) = &reply {
        detail.tables = st.engine.tables_of(&a.sql).unwrap_or_default();
        detail.rows = Some(a.rows.len() as u64);
        detail.masked = a.masked.clone();
        detail.sql = Some(a.sql.clone());
    }
    Ok((Extension(detail), Json(reply)))
}

/// `GET /api/tables`.
pub async fn tables(
    State(st): State<AppState>,
    CallerSight(sight): CallerSight,
) -> Json<serde_json::Value> {
    let tables: Vec<_> = st
        .node
        .catalog
        .tables()
        .into_iter()
        .map(|t| {
            let s = t.schema.read().clone();
            let personal = personal_columns(&st, &t, &s, &sight);
            json!({
                "name": s.name.to_string(),
                "topic": s.topic,
                "topic_levels": s.topic.split('.').collect::<Vec<_>>(),
                "source": t.source(),
                "columns": s.columns.len(),
                "primary_key": s.primary_key,
                "row_count": t.row_count(),
                "partitions_elsewhere": st.node.partitions_elsewhere(&s.topic),
                "freshness": crate::web::freshness::of(&st, &t),
                "personal_data": personal,
            })
        })
        .collect();
    Json(json!({
        "tables": tables,
        "control_topics": crate::web::history::control_topics(&st.node.catalog),
        "name_collisions": st.node.catalog.collisions(),
    }))
}

/// A table's personal-data columns: class, where the class came from, and whether this caller
/// sees them masked.
fn personal_columns(
    st: &AppState,
    t: &crate::store::table::LiveTable,
    s: &crate::store::schema::TableSchema,
    sight: &crate::privacy::sight::Sight,
) -> Vec<serde_json::Value> {
    let masked = st.engine.masked_columns(&s.name, sight);
    st.node
        .privacy
        .classes(t)
        .into_iter()
        .zip(&s.columns)
        .filter_map(|(c, col)| {
            let c = c?;
            Some(json!({
                "column": col.name,
                "class": c.class,
                "by": c.by,
                "masked": masked.contains(&col.name),
            }))
        })
        .collect()
}

/// `GET /api/tables/{name}`: columns with types and original names, key, topic, rows, and
/// per-partition applied offsets.
#[derive(Deserialize, Default)]
pub struct TableParams {
    /// Add each partition's row checksum (costs a pass over the rows).
    #[serde(default)]
    pub checksum: bool,
}

/// Kafka position and lag of one owned partition, if the source is Kafka.
fn kafka_position(
    st: &AppState,
    tp: &crate::ident::TopicPartition,
    applied: Option<crate::ident::Offset>,
) -> serde_json::Value {
    let status = st.node.pipeline.status.lock().clone();
    let Some(k) = status.and_then(|s| s.kafka.clone()) else {
        return serde_json::Value::Null;
    };
    let owned = k.owned.read();
    match owned.get(tp) {
        Some(pos) => json!({
            "high_watermark": pos.high_watermark,
            "next_read": pos.next_read,
            "committed": pos.committed,
            "lag": pos.lag(applied),
        }),
        None => serde_json::Value::Null,
    }
}

pub async fn table(
    State(st): State<AppState>,
    CallerSight(sight): CallerSight,
    Path(name): Path<String>,
    Query(params): Query<TableParams>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let tn = TableName::parse(&name);
    let t =
        st.node.catalog.get(&tn).ok_or_else(|| {
            ApiError::new(ErrorCode::UnknownTable, format!("no table named {name}"))
        })?;
    let s = t.schema.read().clone();
    let personal = personal_columns(&st, &t, &s, &sight);
    let mut columns: Vec<_> = s
        .columns
        .iter()
        .map(|c| {
            let pii = personal.iter().find(|p| p["column"] == c.name.as_str()).map(|p| {
                json!({"class": p["class"], "by": p["by"], "masked": p["masked"]})
            });
            json!({
                "name": c.name,
                "original": c.original,
                "type": c.dtype.map(|d| d.sql_type()).unwrap_or_else(|| "VARCHAR".into()),
                "logical": t.logical_name(&c.original).or_else(|| match c.dtype {
                    Some(crate::store::value::DType::Decimal { scale }) => Some(format!("decimal(scale={scale})")),
                    _ => None,
                }),
                "arrow_type": crate::store::table::arrow_type(c.dtype).to_string(),
                "primary_key": s.primary_key.contains(&c.name),
                "personal_data": pii,
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
            let tp = crate::ident::TopicPartition::new(s.topic.clone(), p);
            let slot = st.node.registry.get(&tp);
            let kafka = kafka_position(&st, &tp, rows.applied);
            let mut v = json!({
                "partition": p,
                "applied_offset": rows.applied,
                "rows": rows.rows.len(),
                "status": slot.as_ref().map(|s| serde_json::to_value(&s.status).unwrap_or_default()),
                "restarts": slot.map(|s| s.restarts).unwrap_or(0),
                "lag": kafka.get("lag").cloned(),
                "kafka": kafka,
            });
            if params.checksum {
                let (_, sum) = crate::store::checksum::partition_checksum(&rows);
                v["checksum"] = json!(format!("{sum:016x}"));
            }
            v
        })
        .collect();
    Ok(Json(json!({
        "name": s.name.to_string(),
        "topic": s.topic,
        "topic_levels": s.topic.split('.').collect::<Vec<_>>(),
        "source": t.source(),
        "primary_key": s.primary_key,
        "row_count": t.row_count(),
        "freshness": crate::web::freshness::of(&st, &t),
        "columns": columns,
        "partitions": partitions,
        "partitions_elsewhere": st.node.partitions_elsewhere(&s.topic),
        "schema_history": crate::web::history::of(&s, &t),
        "events": crate::web::history::events_of(&st.node.catalog, &s, &t),
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
    caller: Option<axum::Extension<crate::web::door::Caller>>,
) -> Result<Json<serde_json::Value>, ApiError> {
    // The record's bytes and where it was read (a file path) are an admin's; others see why
    // and at which offset.
    let admin = caller
        .as_ref()
        .and_then(|c| c.identity())
        .is_some_and(|i| i.role == crate::auth::Role::Admin);
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
            let mut v = json!({
                "topic": e.topic,
                "partition": e.partition,
                "offset": e.offset,
                "reason": e.reason,
                "raw_len": e.raw_len,
                "at": format_timestamp_us(e.at_ms * 1000),
            });
            if admin {
                v["position"] = json!(e.position);
                v["raw"] = json!(String::from_utf8_lossy(&e.raw[..e.raw.len().min(4096)]));
            }
            v
        })
        .collect();
    Ok(Json(json!({ "count": total, "entries": entries })))
}

/// `GET /api/sources`: the source and how far ingestion has come.
pub async fn sources(State(st): State<AppState>) -> Json<serde_json::Value> {
    let status = st.node.pipeline.status.lock().clone();
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
            let kafka = kafka_position(&st, &tp, applied);
            json!({
                "topic": tp.topic, "partition": tp.partition, "applied_offset": applied,
                "status": slot.status, "restarts": slot.restarts,
                "lag": kafka.get("lag").cloned(), "kafka": kafka,
            })
        })
        .collect();
    let kafka = status.as_ref().and_then(|s| s.kafka.clone()).map(|k| {
        json!({
            "brokers": k.brokers,
            "group": k.group,
            "topics": k.topics,
            "broker_up": k.broker_up.load(Ordering::SeqCst),
            "last_error": k.last_error.lock().clone(),
            "registry_error": k.registry_error.lock().clone(),
            "owned_partitions": k.owned.read().len(),
            "rebalances": k.rebalances.load(Ordering::Relaxed),
        })
    });
    Json(json!({
        "source": status.as_ref().map(|s| s.source.clone()),
        "finished": status.as_ref().map(|s| s.finished.load(Ordering::SeqCst)),
        "records_read": status.as_ref().map(|s| s.router.records_routed.load(Ordering::Relaxed)),
        "source_faults": status.as_ref().map(|s| s.router.source_faults.load(Ordering::Relaxed)),
        "undelivered": status.as_ref().map(|s| s.router.undelivered.load(Ordering::Relaxed)),
        "kafka": kafka,
        "partitions": partitions,
    }))
}

pub async fn healthz() -> Json<serde_json::Value> {
    Json(json!({"status": "ok"}))
}

/// `GET /readyz`: 200 when ready, 503 with the reason otherwise.
pub async fn readyz(State(st): State<AppState>) -> Response {
    let body = st.node.readiness();
    let status = if body.ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body)).into_response()
}

pub async fn metrics(State(st): State<AppState>) -> Response {
    st.node.refresh_gauges();
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        st.node.metrics.render(),
    )
        .into_response()
}

pub async fn not_found() -> ApiError {
    ApiError::new(ErrorCode::NotFound, "no such endpoint")
}

#[derive(Deserialize)]
pub struct SearchParams {
    /// tantivy query syntax: terms (all required), "phrases", AND/OR/NOT, `column:term`.
    pub q: Option<String>,
    /// Only this table (`db2.transactions`); all tables when absent.
    pub table: Option<String>,
    /// `_ts` lower bound (inclusive): RFC 3339 or epoch milliseconds.
    pub from: Option<String>,
    /// `_ts` upper bound (exclusive).
    pub to: Option<String>,
    pub limit: Option<usize>,
    /// Allow one typo per term.
    pub fuzzy: Option<bool>,
}

/// `GET /api/search?q=…&table=…&from=…&to=…&limit=…`: rows whose text matches, merged across
/// partitions by score, each with its score and a highlighted snippet. Only live rows are
/// returned: a hit whose row was deleted since the last index commit is dropped.
pub async fn search(
    State(st): State<AppState>,
    CallerSight(sight): CallerSight,
    Query(p): Query<SearchParams>,
) -> Result<(Extension<Detail>, Json<serde_json::Value>), ApiError> {
    let q = p.q.as_deref().unwrap_or("").trim().to_string();
    if q.is_empty() {
        return Err(ApiError::new(ErrorCode::BadRequest, "'q' is required"));
    }
    if !st.node.config.text.enabled {
        return Err(ApiError::new(
            ErrorCode::NotAvailable,
            "full-text search is disabled (text.enabled = false)",
        ));
    }
    let (from, to) = (instant_param(&p.from, "from")?, instant_param(&p.to, "to")?);
    let limit = p
        .limit
        .unwrap_or(20)
        .clamp(1, st.node.config.query.max_rows);
    let tables = match &p.table {
        Some(name) => vec![
            st.node
                .catalog
                .get(&TableName::parse(name))
                .ok_or_else(|| {
                    ApiError::new(ErrorCode::UnknownTable, format!("no table named {name}"))
                })?,
        ],
        None => st.node.catalog.tables(),
    };
    let fuzzy = p.fuzzy.unwrap_or(false);
    // Masked columns are neither searched nor shown: a hit on one would tell its value.
    let hides: Vec<_> = tables
        .iter()
        .map(|t| st.node.privacy.mask_for(t, &sight))
        .collect();
    let started = std::time::Instant::now();
    let result = tokio::task::spawn_blocking(move || -> Result<Vec<(f32, serde_json::Value)>, ApiError> {
        let mut hits = Vec::new();
        for (t, hide) in tables.into_iter().zip(hides) {
            let schema = t.schema.read().clone();
            let text_columns: Vec<String> = schema
                .columns
                .iter()
                .enumerate()
                .filter(|(_, c)| matches!(c.dtype, Some(crate::store::value::DType::Utf8) | None))
                .filter(|(i, _)| hide.as_ref().is_none_or(|m| m.class(*i).is_none()))
                .map(|(_, c)| c.name.clone())
                .collect();
            if text_columns.is_empty() {
                continue;
            }
            for (partition, state) in t.partitions() {
                let Some(searcher) = state.text.read().clone() else { continue };
                // A hit's snippet is made from its live row's text columns.
                let live_text = |key: &[u8]| -> Option<String> {
                    let rows = state.rows.read();
                    let row = rows.rows.get(key)?;
                    let parts: Vec<&str> = schema
                        .columns
                        .iter()
                        .zip(&row.values)
                        .filter(|(c, _)| text_columns.contains(&c.name))
                        .filter_map(|(_, v)| match v {
                            crate::store::value::Value::Str(s) => Some(s.as_str()),
                            _ => None,
                        })
                        .collect();
                    Some(parts.join(" · "))
                };
                let found = searcher
                    .search(&q, &text_columns, from, to, limit, fuzzy, &live_text)
                    .map_err(|e| match e {
                        crate::store::text::TextError::Query(m) => ApiError::new(ErrorCode::BadRequest, m),
                        other => ApiError::internal(other),
                    })?;
                // With masked columns, a hit must match on the columns this caller sees (the
                // index's catch-all field holds them all): every term, exactly.
                let found: Vec<_> = match &hide {
                    Some(_) => found
                        .into_iter()
                        .filter(|h| {
                            live_text(&h.key)
                                .is_some_and(|t| crate::store::text::text_matches(&t, &q))
                        })
                        .collect(),
                    None => found,
                };
                let rows = state.rows.read();
                for h in found {
                    let Some(row) = rows.rows.get(&h.key) else { continue };
                    let mut obj = serde_json::Map::new();
                    for (i, c) in schema.columns.iter().enumerate() {
                        let v = row.values.get(i).unwrap_or(&crate::store::value::Value::Null);
                        let v = match &hide {
                            Some(m) => m.value(i, v),
                            None => v.clone(),
                        };
                        obj.insert(c.name.clone(), v.to_json());
                    }
                    obj.insert("_op".into(), json!(char::from(row.op).to_string()));
                    obj.insert("_ts".into(), json!(format_timestamp_us(row.ts_ms * 1000)));
                    obj.insert("_partition".into(), json!(partition));
                    obj.insert("_offset".into(), json!(row.offset));
                    hits.push((
                        h.score,
                        json!({"table": schema.name.to_string(), "score": h.score, "snippet": h.snippet, "row": obj}),
                    ));
                }
            }
        }
        Ok(hits)
    })
    .await
    .map_err(ApiError::internal)??;
    let mut hits = result;
    hits.sort_by(|a, b| b.0.total_cmp(&a.0));
    hits.truncate(limit);
    let detail = Detail {
        filter: p.q.as_deref().map(|q| q.trim().to_string()),
        tables: p.table.iter().cloned().collect(),
        rows: Some(hits.len() as u64),
        ..Detail::default()
    };
    Ok((
        Extension(detail),
        Json(json!({
            "query": p.q,
            "hits": hits.into_iter().map(|(_, h)| h).collect::<Vec<_>>(),
            "took_ms": (started.elapsed().as_secs_f64() * 1e6).round() / 1e3,
        })),
    ))
}
