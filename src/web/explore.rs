//! Exploring a table beyond SQL: its change log read back (`/changes`), a data-quality profile
//! (`/profile`), freshness, and charts of query results (`/api/chart`). The MCP tools
//! `read_topic`, `profile_table` and `chart` are these endpoints.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::{Extension, Json};
use base64::Engine as _;
use serde::Deserialize;
use serde_json::{Value as Json_, json};

use crate::audit::Detail;
use crate::config::SourceKind;
use crate::ident::{Offset, TableName};
use crate::ingest::change::Change;
use crate::ingest::debezium::Decoder;
use crate::ingest::log::{Budget, LogSource, Range};
use crate::ingest::record::Record;
use crate::privacy::TableMask;
use crate::store::schema::TableSchema;
use crate::store::table::{LiveTable, Row};
use crate::store::value::{DType, Value, format_timestamp_us};
use crate::web::AppState;
use crate::web::door::CallerSight;
use crate::web::error::{ApiError, ErrorCode};
use crate::web::ws::Filter;

fn table_of(st: &AppState, name: &str) -> Result<std::sync::Arc<LiveTable>, ApiError> {
    st.node
        .catalog
        .get(&TableName::parse(name))
        .ok_or_else(|| ApiError::new(ErrorCode::UnknownTable, format!("no table named {name}")))
}

fn bad(msg: impl Into<String>) -> ApiError {
    ApiError::new(ErrorCode::BadRequest, msg)
}

// ---------------------------------------------------------------------------------------------
// The change log

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ChangesParams {
    pub partition: Option<i32>,
    pub from_offset: Option<Offset>,
    pub to_offset: Option<Offset>,
    /// Record time lower bound (inclusive): RFC 3339 or epoch ms.
    pub from: Option<String>,
    /// Record time upper bound (exclusive).
    pub to: Option<String>,
    /// A SQL condition on the row image (`amount > 100 AND _op = 'u'`).
    pub filter: Option<String>,
    pub limit: Option<usize>,
    /// The last `limit` matches instead of the first.
    #[serde(default)]
    pub newest: bool,
}

struct Collector {
    decoder: Decoder,
    schema: TableSchema,
    /// What this caller may not see (`None`: everything is shown).
    hide: Option<std::sync::Arc<TableMask>>,
    /// The table's columns as this caller sees them (masked ones are text).
    seen_columns: Vec<crate::store::schema::ColumnDef>,
    filter: Option<Filter>,
    pending: Vec<(i32, Row, Json_)>,
    out: VecDeque<Json_>,
    limit: usize,
    newest: bool,
    matched: u64,
    undecodable: u64,
    error: Option<String>,
}

/// The record key as JSON: the key struct (a schema-enabled key's payload), or, for a key that
/// is not JSON (Avro), its bytes in base64.
fn key_json(rec: &Record) -> Json_ {
    let Some(k) = &rec.key else {
        return Json_::Null;
    };
    match serde_json::from_slice::<Json_>(k) {
        Ok(Json_::Object(mut o)) if o.contains_key("payload") && o.contains_key("schema") => {
            o.remove("payload").unwrap_or_default()
        }
        Ok(v) => v,
        Err(_) => json!({"base64": base64::engine::general_purpose::STANDARD.encode(k)}),
    }
}

impl Collector {
    /// A JSON object of column values (a row image, a key) as this caller sees it. A column
    /// the table does not have yet is masked when its name says it is personal.
    fn hide_obj(&self, obj: &mut serde_json::Map<String, Json_>) {
        let Some(m) = &self.hide else { return };
        for (name, v) in obj.iter_mut() {
            match self.schema.columns.iter().position(|c| &c.name == name) {
                Some(i) => *v = m.json(i, v),
                None if crate::store::personal::by_name(name).is_some() && !v.is_null() => {
                    *v = json!("***");
                }
                None => {}
            }
        }
    }

    fn hide_key(&self, key: Json_) -> Json_ {
        match key {
            Json_::Object(mut o) if self.hide.is_some() => {
                self.hide_obj(&mut o);
                Json_::Object(o)
            }
            other => other,
        }
    }

    fn take(&mut self, entry: Json_) {
        self.matched += 1;
        self.out.push_back(entry);
        if self.newest && self.out.len() > self.limit {
            self.out.pop_front();
        }
    }

    /// False once enough is collected (oldest-first) or the filter failed.
    fn push(&mut self, rec: Record) -> bool {
        let base = json!({
            "partition": rec.partition,
            "offset": rec.offset,
            "ts": format_timestamp_us(rec.ts_ms * 1000),
        });
        // A keyless table's change reads as its row image (its key is its position).
        let decoded = match self.decoder.decode(&rec) {
            Ok(Change::Keyless {
                op,
                ts_ms,
                after: Some(cells),
                ..
            }) => Ok(Change::Upsert {
                key: Vec::new(),
                key_columns: Vec::new(),
                op,
                ts_ms,
                cells,
            }),
            Ok(Change::Keyless { after: None, .. }) => Ok(Change::Delete {
                key: Vec::new(),
                key_columns: Vec::new(),
            }),
            other => other,
        };
        let mut entry = base;
        let row = match decoded {
            Ok(Change::Upsert {
                op,
                ts_ms,
                cells,
                key_columns,
                ..
            }) => {
                let mut values = vec![Value::Null; self.schema.columns.len()];
                let mut obj = serde_json::Map::new();
                for c in cells {
                    let name = match self.schema.index_of(&c.original) {
                        Some(i) => {
                            values[i] = match &self.hide {
                                Some(m) => m.value(i, &c.value),
                                None => c.value.clone(),
                            };
                            self.schema.columns[i].name.clone()
                        }
                        None => crate::ident::normalize_column(&c.original),
                    };
                    obj.insert(name, c.value.to_json());
                }
                self.hide_obj(&mut obj);
                entry["op"] = json!(char::from(op.code()).to_string());
                entry["change_ts"] = json!(format_timestamp_us(ts_ms * 1000));
                // The key from the row image when its columns are known (any encoding).
                let key: Option<serde_json::Map<String, Json_>> = (!key_columns.is_empty())
                    .then(|| {
                        key_columns
                            .iter()
                            .map(|k| {
                                let n = crate::ident::normalize_column(k);
                                obj.get(&n).cloned().map(|v| (n, v))
                            })
                            .collect()
                    })
                    .flatten();
                entry["key"] = key
                    .map(Json_::Object)
                    .unwrap_or_else(|| self.hide_key(key_json(&rec)));
                entry["row"] = Json_::Object(obj);
                Row {
                    values,
                    op: op.code(),
                    ts_ms,
                    offset: rec.offset,
                }
            }
            Ok(Change::Delete { .. }) => {
                entry["op"] = json!("d");
                entry["key"] = self.hide_key(key_json(&rec));
                entry["row"] = Json_::Null;
                Row {
                    values: Vec::new(),
                    op: b'd',
                    ts_ms: rec.ts_ms,
                    offset: rec.offset,
                }
            }
            Ok(
                ref c @ (Change::Tombstone { .. }
                | Change::Truncate { .. }
                | Change::Control { .. }
                | Change::Keyless { .. }),
            ) => {
                entry["op"] = json!(match c {
                    Change::Truncate { .. } => "t",
                    Change::Control { .. } => "control",
                    // Read as an upsert or delete above.
                    Change::Keyless { .. } => "keyless",
                    _ => "tombstone",
                });
                entry["key"] = self.hide_key(key_json(&rec));
                entry["row"] = Json_::Null;
                if self.filter.is_some() {
                    return true;
                }
                self.take(entry);
                return self.newest || self.out.len() <= self.limit;
            }
            Err(e) => {
                self.undecodable += 1;
                if self.filter.is_some() {
                    return true;
                }
                entry["error"] = json!(e.to_string());
                self.take(entry);
                return self.newest || self.out.len() <= self.limit;
            }
        };
        if self.filter.is_none() {
            self.take(entry);
            return self.newest || self.out.len() <= self.limit;
        }
        self.pending.push((rec.partition, row, entry));
        if self.pending.len() >= 512 {
            return self.flush();
        }
        true
    }

    fn flush(&mut self) -> bool {
        let Some(filter) = self.filter.as_mut() else {
            return true;
        };
        let pending = std::mem::take(&mut self.pending);
        let mut parts: Vec<i32> = pending.iter().map(|p| p.0).collect();
        parts.sort_unstable();
        parts.dedup();
        let mut keep = vec![false; pending.len()];
        for p in parts {
            let idx: Vec<usize> = (0..pending.len()).filter(|&i| pending[i].0 == p).collect();
            let rows: Vec<&Row> = idx.iter().map(|&i| &pending[i].1).collect();
            match filter.mask(&self.seen_columns, self.schema.version, p, &rows) {
                Ok(m) => {
                    for (j, &i) in idx.iter().enumerate() {
                        keep[i] = m[j];
                    }
                }
                Err(e) => {
                    self.error = Some(e.to_string());
                    return false;
                }
            }
        }
        // Back in log order.
        for ((_, _, entry), k) in pending.into_iter().zip(keep) {
            if k {
                self.take(entry);
            }
        }
        self.newest || self.out.len() <= self.limit
    }
}

/// Where this node's log for `kind` lives.
fn log_source(st: &AppState) -> Result<LogSource, ApiError> {
    let cfg = &st.node.config;
    Ok(match cfg.source.kind {
        SourceKind::Kafka => LogSource::Kafka {
            cfg: Box::new(cfg.kafka.clone()),
        },
        SourceKind::Replay => LogSource::Replay {
            path: cfg
                .source
                .file
                .clone()
                .ok_or_else(|| ApiError::new(ErrorCode::NotAvailable, "no replay file"))?,
        },
        SourceKind::Demo => {
            let status = st.node.pipeline.status.lock().clone().ok_or_else(|| {
                ApiError::new(ErrorCode::NotAvailable, "the demo source has not started")
            })?;
            LogSource::Demo {
                cfg: cfg.source.demo.clone(),
                start_ms: status.demo_start_ms.unwrap_or_default(),
                produced: status
                    .router
                    .records_routed
                    .load(std::sync::atomic::Ordering::Relaxed),
            }
        }
    })
}

/// `GET /api/tables/{name}/changes?partition=&from_offset=&to_offset=&from=&to=&filter=&limit=&newest=`:
/// the table's change records read back from the source's log, decoded, in log order.
pub async fn changes(
    State(st): State<AppState>,
    CallerSight(sight): CallerSight,
    Path(name): Path<String>,
    params: Result<Query<ChangesParams>, axum::extract::rejection::QueryRejection>,
) -> Result<(Extension<Detail>, Json<Json_>), ApiError> {
    let Query(p) = params.map_err(|e| bad(e.body_text()))?;
    let t = table_of(&st, &name)?;
    let schema = t.schema.read().clone();
    let hide = st.node.privacy.mask_for(&t, &sight);
    let seen_columns = match &hide {
        Some(m) => m.columns(&schema.columns),
        None => schema.columns.clone(),
    };
    let range = Range {
        partitions: p.partition.map(|p| vec![p]),
        from_offset: p.from_offset,
        to_offset: p.to_offset,
        from_ms: crate::web::params::instant_param(&p.from, "from")?,
        to_ms: crate::web::params::instant_param(&p.to, "to")?,
    };
    if let (Some(a), Some(b)) = (range.from_offset, range.to_offset)
        && a > b
    {
        return Err(bad(format!("from_offset {a} is after to_offset {b}")));
    }
    let max = st.node.config.query.max_rows;
    let limit = p.limit.unwrap_or(100);
    if limit == 0 || limit > max {
        return Err(bad(format!("'limit' must be 1..={max}")));
    }
    let filter = match p.filter.as_deref().map(str::trim).filter(|f| !f.is_empty()) {
        Some(text) => {
            let mut f = Filter::new(text, st.node.engine.limits());
            let seen = crate::store::table::arrow_schema_of(&seen_columns);
            f.compile(schema.version, &seen).map_err(|e| {
                use crate::error::HasCode;
                ApiError::new(e.code(), format!("filter {text:?}: {e}"))
            })?;
            Some(f)
        }
        None => None,
    };
    let source = log_source(&st)?;
    let source_name = source.name();
    let topic = schema.topic.clone();
    let mut c = Collector {
        decoder: Decoder::with(
            st.node.pipeline.partition_registry(),
            st.node.config.ingest.max_value_bytes,
        ),
        schema,
        hide,
        seen_columns,
        filter,
        pending: Vec::new(),
        out: VecDeque::new(),
        limit,
        newest: p.newest,
        matched: 0,
        undecodable: 0,
        error: None,
    };
    let started = Instant::now();
    let budget = Budget {
        max_scanned: 5_000_000,
        deadline: started + Duration::from_millis(st.node.config.query.timeout_ms.max(1000) * 2),
    };
    let (c, stats) = tokio::task::spawn_blocking(move || {
        let stats = crate::ingest::log::scan(&source, &topic, &range, budget, &mut |r| c.push(r));
        if c.error.is_none() && !c.pending.is_empty() {
            c.flush();
        }
        (c, stats)
    })
    .await
    .map_err(ApiError::internal)?;
    let stats = stats.map_err(|e| ApiError::new(ErrorCode::NotAvailable, e.to_string()))?;
    if let Some(e) = c.error {
        return Err(ApiError::new(ErrorCode::InvalidQuery, e));
    }
    let mut out: Vec<Json_> = c.out.into_iter().collect();
    let truncated = if p.newest {
        c.matched > limit as u64
    } else {
        out.len() > limit
    };
    out.truncate(limit);
    let detail = Detail {
        filter: p.filter.clone(),
        tables: vec![c.schema.name.to_string()],
        rows: Some(out.len() as u64),
        masked: c
            .hide
            .as_ref()
            .map(|m| m.names(&c.schema.columns))
            .unwrap_or_default(),
        ..Detail::default()
    };
    Ok((
        Extension(detail),
        Json(json!({
            "table": name,
            "topic": c.schema.topic,
            "source": source_name,
            "count": out.len(),
            "truncated": truncated,
            "complete": stats.complete,
            "scanned": stats.scanned,
            "undecodable": c.undecodable,
            "took_ms": (started.elapsed().as_secs_f64() * 1e6).round() / 1e3,
            "changes": out,
        })),
    ))
}

// ---------------------------------------------------------------------------------------------
// Profile

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ProfileParams {
    /// Rows looked at, at most (default 200 000).
    pub sample: Option<usize>,
    /// Top values per column (default 5).
    pub top: Option<usize>,
}

#[derive(Default)]
struct ColumnProfile {
    nulls: u64,
    counts: HashMap<String, u64>,
    overflow: bool,
    min_num: Option<f64>,
    max_num: Option<f64>,
    min_text: Option<String>,
    max_text: Option<String>,
    min_ts: Option<i64>,
    max_ts: Option<i64>,
}

const DISTINCT_CAP: usize = 100_000;

impl ColumnProfile {
    fn add(&mut self, v: &Value) {
        match v {
            Value::Null => {
                self.nulls += 1;
                return;
            }
            Value::Timestamp(us) => {
                self.min_ts = Some(self.min_ts.map_or(*us, |m| m.min(*us)));
                self.max_ts = Some(self.max_ts.map_or(*us, |m| m.max(*us)));
            }
            Value::TimestampNs(ns) => {
                let us = ns.div_euclid(1000);
                self.min_ts = Some(self.min_ts.map_or(us, |m| m.min(us)));
                self.max_ts = Some(self.max_ts.map_or(us, |m| m.max(us)));
            }
            Value::Date(d) => {
                let us = i64::from(*d) * 86_400_000_000;
                self.min_ts = Some(self.min_ts.map_or(us, |m| m.min(us)));
                self.max_ts = Some(self.max_ts.map_or(us, |m| m.max(us)));
            }
            Value::Str(s) => {
                if self.min_text.as_ref().is_none_or(|m| s < m) {
                    self.min_text = Some(s.clone());
                }
                if self.max_text.as_ref().is_none_or(|m| s > m) {
                    self.max_text = Some(s.clone());
                }
            }
            other => {
                if let Some(f) = other.as_f64() {
                    self.min_num = Some(self.min_num.map_or(f, |m| m.min(f)));
                    self.max_num = Some(self.max_num.map_or(f, |m| m.max(f)));
                }
            }
        }
        let key = v.to_text().unwrap_or_default();
        if let Some(n) = self.counts.get_mut(&key) {
            *n += 1;
        } else if self.counts.len() < DISTINCT_CAP {
            self.counts.insert(key, 1);
        } else {
            self.overflow = true;
        }
    }

    fn to_json(&self, rows: u64, top: usize, dtype: Option<DType>) -> Json_ {
        let (min, max) = if let (Some(a), Some(b)) = (self.min_ts, self.max_ts) {
            (json!(format_timestamp_us(a)), json!(format_timestamp_us(b)))
        } else if let (Some(a), Some(b)) = (self.min_num, self.max_num) {
            (json!(a), json!(b))
        } else {
            (json!(self.min_text), json!(self.max_text))
        };
        let mut top_values: Vec<(&String, &u64)> = self.counts.iter().collect();
        top_values.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        let non_null = rows - self.nulls;
        // A key-like column (every value distinct) has no meaningful top values.
        let top_values: Vec<Json_> = if self.counts.len() as u64 == non_null && non_null > 20 {
            Vec::new()
        } else {
            top_values
                .into_iter()
                .take(top)
                .map(|(v, n)| json!({"value": v, "count": n, "share": (*n as f64 / rows.max(1) as f64 * 1e4).round() / 1e4}))
                .collect()
        };
        json!({
            "type": dtype.map(|d| d.sql_type()).unwrap_or_else(|| "VARCHAR".into()),
            "null_rate": (self.nulls as f64 / rows.max(1) as f64 * 1e4).round() / 1e4,
            "nulls": self.nulls,
            "distinct": self.counts.len(),
            "distinct_is_lower_bound": self.overflow,
            "min": min,
            "max": max,
            "top_values": top_values,
        })
    }
}

/// `GET /api/tables/{name}/profile?sample=&top=`: per column null rate, distinct count, min/max
/// and top values; freshness; quarantined records; schema changes seen.
pub async fn profile(
    State(st): State<AppState>,
    CallerSight(sight): CallerSight,
    Path(name): Path<String>,
    params: Result<Query<ProfileParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Json_>, ApiError> {
    let Query(p) = params.map_err(|e| bad(e.body_text()))?;
    let t = table_of(&st, &name)?;
    let sample = p.sample.unwrap_or(200_000).max(1);
    let top = p.top.unwrap_or(5).min(50);
    let started = Instant::now();
    let t2 = t.clone();
    let (schema, profiles, rows_seen, total) = tokio::task::spawn_blocking(move || {
        let schema = t2.schema.read().clone();
        let mut profiles: Vec<ColumnProfile> = (0..schema.columns.len())
            .map(|_| ColumnProfile::default())
            .collect();
        let total = t2.row_count();
        let mut seen = 0u64;
        'outer: for (_, part) in t2.partitions() {
            let rows = part.rows.read();
            for r in rows.rows.values() {
                if seen as usize >= sample {
                    break 'outer;
                }
                seen += 1;
                for (i, prof) in profiles.iter_mut().enumerate() {
                    prof.add(r.values.get(i).unwrap_or(&Value::Null));
                }
            }
        }
        (schema, profiles, seen, total)
    })
    .await
    .map_err(ApiError::internal)?;
    let hide = st.node.privacy.mask_for(&t, &sight);
    let columns: Vec<Json_> = schema
        .columns
        .iter()
        .zip(&profiles)
        .enumerate()
        .map(|(i, (c, prof))| {
            let mut v = prof.to_json(rows_seen, top, c.dtype);
            v["name"] = json!(c.name);
            v["original"] = json!(c.original);
            // A masked column's top values are masked; its range would show real values.
            if let Some(m) = &hide
                && let Some(class) = m.class(i)
            {
                v["masked"] = json!(class.as_str());
                v["min"] = Json_::Null;
                v["max"] = Json_::Null;
                if let Some(tops) = v["top_values"].as_array_mut() {
                    for t in tops {
                        t["value"] = m.json(i, &t["value"]);
                    }
                }
            }
            v
        })
        .collect();
    let store = st.node.store.clone();
    let quarantine = tokio::task::spawn_blocking(move || store.quarantine())
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)?;
    let mine: Vec<_> = quarantine
        .iter()
        .filter(|e| e.topic.as_deref() == Some(schema.topic.as_str()))
        .collect();
    let recent_reasons: Vec<Json_> = mine
        .iter()
        .rev()
        .take(5)
        .map(|e| json!({"partition": e.partition, "offset": e.offset, "reason": e.reason}))
        .collect();
    let table_name = schema.name.to_string();
    let schema_changes: Vec<Json_> = st
        .node
        .live
        .insights(Some(&table_name), 1000)
        .iter()
        .filter(|i| i.kind == "new_column" || i.kind == "vanished_column")
        .map(|i| json!({"kind": i.kind, "sentence": i.sentence, "window": i.window}))
        .collect();
    Ok(Json(json!({
        "table": table_name,
        "topic": schema.topic,
        "row_count": total,
        "rows_profiled": rows_seen,
        "sampled": (rows_seen as usize) < total,
        "primary_key": schema.primary_key,
        "columns": columns,
        "freshness": crate::web::freshness::of(&st, &t),
        "quarantined": {"count": mine.len(), "recent": recent_reasons},
        "schema": {"version": schema.version, "columns": schema.columns.len(), "changes_seen": schema_changes, "history": crate::web::history::of(&schema, &t)},
        "took_ms": (started.elapsed().as_secs_f64() * 1e6).round() / 1e3,
    })))
}

// ---------------------------------------------------------------------------------------------
// Charts

#[derive(Deserialize)]
pub struct ChartRequest {
    pub sql: Option<String>,
    pub question: Option<String>,
    pub as_of: Option<String>,
    #[serde(flatten)]
    pub options: crate::query::chart::ChartOptions,
}

/// `POST /api/chart {sql | question, kind?, x?, y?, title?, format?, width?, height?}`: the
/// result drawn as a line or bar chart; `{spec, mime_type, image (base64), sql, rows}`.
pub async fn chart(
    State(st): State<AppState>,
    CallerSight(sight): CallerSight,
    body: Result<Json<ChartRequest>, JsonRejection>,
) -> Result<(Extension<Detail>, Json<Json_>), ApiError> {
    let Json(req) = body.map_err(ApiError::from)?;
    let (sql, columns, types, rows) = match (req.sql.as_deref(), req.question.as_deref()) {
        (Some(sql), None) if !sql.trim().is_empty() => {
            let r = st.engine.sql_as(sql, &sight).await?;
            (
                sql.to_string(),
                r.columns.iter().map(|c| c.name.clone()).collect::<Vec<_>>(),
                r.columns
                    .iter()
                    .map(|c| Some(c.data_type.clone()))
                    .collect::<Vec<_>>(),
                r.rows,
            )
        }
        (None, Some(q)) if !q.trim().is_empty() => {
            match st
                .assistant
                .ask(q, req.as_of.as_deref(), &sight)
                .await
                .map_err(ApiError::from)?
            {
                crate::llm::AskReply::Answer(a) => (a.sql, a.columns, Vec::new(), a.rows),
                crate::llm::AskReply::Clarify { clarify, .. } => {
                    return Err(bad(format!("the question needs clarifying: {clarify}")));
                }
            }
        }
        _ => return Err(bad("give exactly one of 'sql' or 'question'")),
    };
    let n = rows.len();
    let opts = req.options.clone();
    let chart = tokio::task::spawn_blocking(move || {
        crate::query::chart::render(&columns, &types, &rows, &opts)
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(|e| bad(e.to_string()))?;
    let detail = Detail {
        tables: st.engine.tables_of(&sql).unwrap_or_default(),
        sql: Some(sql.clone()),
        question: req.question.clone(),
        rows: Some(n as u64),
        ..Detail::default()
    };
    Ok((
        Extension(detail),
        Json(json!({
            "spec": chart.spec,
            "mime_type": chart.spec.mime_type,
            "image": base64::engine::general_purpose::STANDARD.encode(&chart.bytes),
            "bytes": chart.bytes.len(),
            "sql": sql,
            "rows": n,
        })),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RatesParams {
    pub topic: Option<String>,
    /// How far back (default 300, at most 600).
    pub seconds: Option<u64>,
}

/// `GET /api/sources/rates?topic=&seconds=`: events applied per second and lag per partition,
/// one point a second.
pub async fn rates(
    State(st): State<AppState>,
    q: Result<Query<RatesParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Json_>, ApiError> {
    let Query(p) = q.map_err(|e| bad(e.body_text()))?;
    let seconds = crate::actors::rates::span_secs(p.seconds);
    let series = st.node.pipeline.rates.series(p.topic.as_deref(), seconds);
    Ok(Json(json!({
        "interval_ms": crate::actors::rates::INTERVAL.as_millis() as u64,
        "seconds": seconds,
        "series": series,
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RatesChartParams {
    pub topic: String,
    /// `rate` (events/s, the default) or `lag`.
    pub metric: Option<String>,
    pub seconds: Option<u64>,
    pub width: Option<u32>,
    pub height: Option<u32>,
    /// Ignored: lets a page ask again past its cache.
    #[serde(rename = "t")]
    pub _t: Option<String>,
}

/// `GET /api/sources/chart?topic=&metric=rate|lag&seconds=&width=&height=`: the topic's
/// partitions as a line chart, `image/svg+xml`.
pub async fn rates_chart(
    State(st): State<AppState>,
    q: Result<Query<RatesChartParams>, axum::extract::rejection::QueryRejection>,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;
    let Query(p) = q.map_err(|e| bad(e.body_text()))?;
    let lag = match p.metric.as_deref().unwrap_or("rate") {
        "rate" => false,
        "lag" => true,
        other => return Err(bad(format!("metric is rate or lag, not {other:?}"))),
    };
    let seconds = crate::actors::rates::span_secs(p.seconds);
    let series = st.node.pipeline.rates.series(Some(&p.topic), seconds);
    if series.is_empty() {
        return Err(ApiError::new(
            ErrorCode::NotAvailable,
            format!("no samples for topic {:?} yet", p.topic),
        ));
    }
    let series: Vec<_> = series
        .into_iter()
        .take(crate::query::chart::MAX_SERIES)
        .collect();
    let mut columns = vec!["time".to_string()];
    columns.extend(series.iter().map(|s| format!("p{}", s.partition)));
    let mut by_time: std::collections::BTreeMap<i64, Vec<Json_>> = Default::default();
    for (i, s) in series.iter().enumerate() {
        for &(t, rate, l) in &s.points {
            let row = by_time
                .entry(t)
                .or_insert_with(|| vec![Json_::Null; series.len()]);
            row[i] = if lag { json!(l) } else { json!(rate) };
        }
    }
    let rows: Vec<Vec<Json_>> = by_time
        .into_iter()
        .map(|(t, vals)| {
            let mut row = vec![json!(format_timestamp_us(t * 1000))];
            row.extend(vals);
            row
        })
        .collect();
    let opts = crate::query::chart::ChartOptions {
        kind: crate::query::chart::Kind::Line,
        title: Some(format!(
            "{} — {}",
            p.topic,
            if lag { "lag (records)" } else { "events/s" }
        )),
        format: crate::query::chart::Format::Svg,
        width: p.width,
        height: p.height,
        ..Default::default()
    };
    let types = vec![Some("TIMESTAMP".to_string())];
    let chart = tokio::task::spawn_blocking(move || {
        crate::query::chart::render(&columns, &types, &rows, &opts)
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(|e| bad(e.to_string()))?;
    Ok((
        [
            (axum::http::header::CONTENT_TYPE, "image/svg+xml"),
            (axum::http::header::CACHE_CONTROL, "no-store"),
        ],
        chart.bytes,
    )
        .into_response())
}
