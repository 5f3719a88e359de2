//! Plain-English questions: a local sentence encoder (candle) and a schema-linking parser
//! turn a question into a typed [`plan::QueryPlan`], whose SQL the same DataFusion engine
//! answers. No network, no GPU; the catalog is read live, so new tables need no code.

pub mod answer;
pub mod encoder;
pub mod parse;
pub mod plan;
pub mod reliability;
pub mod schema;
pub mod text;
pub mod time;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use serde::Serialize;

use crate::error::{ErrorCode, HasCode};
use crate::privacy::sight::Sight;
use crate::query::{QueryEngine, QueryError};
use crate::store::catalog::Catalog;
use crate::telemetry::Metrics;

use encoder::{Embedding, Encoder, EncoderError, cosine};
use parse::{Parsed, Parser, SemLink, Semantic};
use schema::{EmbeddingCache, SchemaInfo};

/// A word links to a column or value by meaning when at least this similar.
pub const COLUMN_SIMILARITY: f32 = 0.62;
pub const VALUE_SIMILARITY: f32 = 0.62;
pub const TABLE_SIMILARITY: f32 = 0.62;
/// How long a catalog snapshot serves before values are re-read.
const SNAPSHOT_MAX_AGE: Duration = Duration::from_secs(15);

/// Why a question got no answer (a clarification is an answer).
#[derive(Debug, thiserror::Error)]
pub enum AskError {
    #[error(transparent)]
    Model(#[from] EncoderError),
    #[error("invalid as_of (want RFC 3339, e.g. 2026-03-02T10:00:00Z): {0}")]
    AsOf(String),
    #[error("the question is empty")]
    Empty,
    #[error("the question is {len} characters; at most {max} are read (llm.max_question_chars)")]
    TooLong { len: usize, max: usize },
    #[error("the generated SQL failed: {error} (SQL: {sql})")]
    Query { sql: String, error: QueryError },
}

impl HasCode for AskError {
    fn code(&self) -> ErrorCode {
        match self {
            AskError::Query { error, .. } => error.code(),
            AskError::Model(_) => ErrorCode::ModelUnavailable,
            AskError::AsOf(_) | AskError::Empty => ErrorCode::BadRequest,
            AskError::TooLong { .. } => ErrorCode::TooLarge,
        }
    }
}

/// The reply to a question.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum AskReply {
    Answer(Box<Answer>),
    Clarify {
        question: String,
        clarify: String,
        /// What was understood, when only part of the question was.
        #[serde(skip_serializing_if = "Option::is_none")]
        understood: Option<Box<plan::QueryPlan>>,
        /// The phrases nothing in the plan accounts for.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        unmatched: Vec<String>,
        candidates: Vec<String>,
        took_ms: f64,
    },
}

#[derive(Debug, Clone, Serialize)]
pub struct Answer {
    pub question: String,
    pub plan: plan::QueryPlan,
    pub sql: String,
    pub columns: Vec<String>,
    pub rows: Vec<Vec<serde_json::Value>>,
    pub answer: String,
    pub chart: Option<serde_json::Value>,
    pub confidence: f32,
    pub parse_ms: f64,
    pub took_ms: f64,
    /// Set when the tables read are split with other nodes: the rows cover this node's
    /// partitions only (and `answer` says so).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub partial: Option<crate::query::Coverage>,
    /// Personal-data columns read that this caller sees masked (`answer` says so).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub masked: Vec<String>,
}

struct Snapshot {
    schema: SchemaInfo,
    /// (table, embedding of its readable name)
    tables: Vec<(usize, Arc<Embedding>)>,
    /// (table, column, embedding of the column's phrase)
    columns: Vec<(usize, usize, Arc<Embedding>)>,
    /// (table, column, value, embedding)
    values: Vec<(usize, usize, String, Arc<Embedding>)>,
    built: Instant,
}

/// The assistant: model, catalog snapshot and the engine.
pub struct Assistant {
    catalog: Arc<Catalog>,
    metrics: Arc<Metrics>,
    engine: Arc<QueryEngine>,
    /// The encoder, loaded on first use (or by [`Assistant::warm`]), or why it could not be
    /// loaded (said on every question that needs it). A node that only ingests never pays
    /// for the model's memory.
    encoder: Arc<OnceLock<Result<Arc<Encoder>, EncoderError>>>,
    model_dir: PathBuf,
    /// Longer questions are refused before any work is done.
    max_question_chars: usize,
    snapshot: Arc<Mutex<Option<Arc<Snapshot>>>>,
    build_lock: tokio::sync::Mutex<()>,
    refreshing: Arc<AtomicBool>,
    cache: Arc<Mutex<EmbeddingCache>>,
}

impl Assistant {
    /// An assistant whose model is read from `model_dir` on first use; a missing model leaves
    /// it answering a clear error (everything else in streamq keeps working).
    pub fn new(
        catalog: Arc<Catalog>,
        engine: Arc<QueryEngine>,
        metrics: Arc<Metrics>,
        model_dir: &Path,
        max_question_chars: usize,
    ) -> Self {
        Self {
            max_question_chars,
            catalog,
            metrics,
            engine,
            encoder: Arc::new(OnceLock::new()),
            model_dir: model_dir.to_path_buf(),
            snapshot: Arc::new(Mutex::new(None)),
            build_lock: tokio::sync::Mutex::new(()),
            refreshing: Arc::new(AtomicBool::new(false)),
            cache: Arc::new(Mutex::new(EmbeddingCache::new())),
        }
    }

    pub fn model_dir(&self) -> &Path {
        &self.model_dir
    }

    /// Loads the model now, off the async threads, so the first question does not wait for
    /// it; a server calls this once it is up.
    pub async fn warm(&self) {
        let _ = self.encoder().await;
    }

    /// The encoder, loading it (on a blocking thread) the first time.
    async fn encoder(&self) -> Result<Arc<Encoder>, AskError> {
        let loaded = match self.encoder.get() {
            Some(r) => r.clone(),
            None => {
                let (slot, dir) = (self.encoder.clone(), self.model_dir.clone());
                tokio::task::spawn_blocking(move || slot.get_or_init(|| load(&dir)).clone())
                    .await
                    .map_err(|e| AskError::Model(EncoderError::Run(e.to_string())))?
            }
        };
        loaded.map_err(AskError::Model)
    }

    /// The current snapshot, rebuilt when the catalog changed shape or it is old.
    async fn snapshot(&self) -> Result<Arc<Snapshot>, AskError> {
        let encoder = self.encoder().await?;
        let fp = SchemaInfo::fingerprint_of(&self.catalog);
        let current = self.snapshot.lock().clone();
        if let Some(s) = &current {
            if fp == s.schema.fingerprint {
                return Ok(s.clone());
            }
            if fp.0 == s.schema.fingerprint.0 {
                // Same tables and columns, more rows: answer from this snapshot and refresh
                // the observed values behind it, at most every SNAPSHOT_MAX_AGE.
                if s.built.elapsed() >= SNAPSHOT_MAX_AGE
                    && !self.refreshing.swap(true, Ordering::AcqRel)
                {
                    let (catalog, engine, cache, slot, flag) = (
                        self.catalog.clone(),
                        self.engine.clone(),
                        self.cache.clone(),
                        self.snapshot.clone(),
                        self.refreshing.clone(),
                    );
                    tokio::spawn(async move {
                        match build_snapshot(&catalog, &engine, encoder, cache).await {
                            Ok(snap) => *slot.lock() = Some(Arc::new(snap)),
                            Err(e) => tracing::warn!(error = %e, "catalog snapshot refresh failed"),
                        }
                        flag.store(false, Ordering::Release);
                    });
                }
                return Ok(s.clone());
            }
        }
        // No snapshot yet, or the catalog changed shape: build it now, one build at a time.
        let _one = self.build_lock.lock().await;
        if let Some(s) = self.snapshot.lock().clone()
            && s.schema.fingerprint.0 == SchemaInfo::fingerprint_of(&self.catalog).0
            && current.as_ref().is_none_or(|c| !Arc::ptr_eq(c, &s))
        {
            return Ok(s);
        }
        let snap = Arc::new(
            build_snapshot(&self.catalog, &self.engine, encoder, self.cache.clone()).await?,
        );
        *self.snapshot.lock() = Some(snap.clone());
        Ok(snap)
    }

    /// Drops the snapshot so the next question re-reads the catalog.
    pub fn invalidate(&self) {
        *self.snapshot.lock() = None;
    }

    /// Parses without executing: the plan (or clarification) and the parse time in ms.
    pub async fn parse(
        &self,
        question: &str,
        as_of: Option<&str>,
    ) -> Result<(Parsed, f64), AskError> {
        let question = question.trim().to_string();
        if question.is_empty() {
            return Err(AskError::Empty);
        }
        let len = question.chars().count();
        if len > self.max_question_chars {
            return Err(AskError::TooLong {
                len,
                max: self.max_question_chars,
            });
        }
        let as_of_us = match as_of {
            Some(s) if !s.trim().is_empty() => crate::store::value::parse_timestamp(s.trim())
                .ok_or_else(|| AskError::AsOf(s.to_string()))?,
            _ => chrono::Utc::now().timestamp_micros(),
        };
        let snap = self.snapshot().await?;
        let encoder = self.encoder().await?;
        let cache = self.cache.clone();
        tokio::task::spawn_blocking(move || {
            let started = Instant::now();
            let sem = SemIndex {
                snap: &snap,
                encoder: &encoder,
                cache: &cache,
            };
            let parser = Parser::new(&snap.schema, Some(&sem));
            let parsed = match parser.parse(&question, as_of_us) {
                Parsed::Clarify {
                    message,
                    candidates,
                    understood,
                    unmatched,
                } => Parsed::Clarify {
                    message,
                    candidates: closest(&snap, &encoder, &cache, &question, &unmatched)
                        .unwrap_or(candidates),
                    understood,
                    unmatched,
                },
                p => p,
            };
            (parsed, started.elapsed().as_secs_f64() * 1e3)
        })
        .await
        .map_err(|e| AskError::Model(EncoderError::Run(e.to_string())))
    }

    /// Answers a question: parse, run the SQL, describe the rows.
    /// Answers a question: parse, run the SQL as `sight` sees the tables, describe the rows.
    /// A question that matches values of a column `sight` sees masked gets a clarification,
    /// not an answer: a masked column cannot match a real value, and "none" would be wrong.
    pub async fn ask(
        &self,
        question: &str,
        as_of: Option<&str>,
        sight: &Sight,
    ) -> Result<AskReply, AskError> {
        let r = self.ask_inner(question, as_of, sight).await;
        let outcome = match &r {
            Ok(AskReply::Answer(_)) => "answered",
            Ok(AskReply::Clarify { .. }) => "clarified",
            Err(_) => "failed",
        };
        crate::telemetry::AskDone { outcome }.emit(&self.metrics);
        r
    }

    async fn ask_inner(
        &self,
        question: &str,
        as_of: Option<&str>,
        sight: &Sight,
    ) -> Result<AskReply, AskError> {
        let started = Instant::now();
        let (parsed, parse_ms) = self.parse(question, as_of).await?;
        crate::telemetry::AskParsed { ms: parse_ms }.emit(&self.metrics);
        let question = question.trim().to_string();
        match parsed {
            Parsed::Clarify {
                message,
                candidates,
                understood,
                unmatched,
            } => Ok(AskReply::Clarify {
                question,
                clarify: message,
                understood,
                unmatched,
                candidates,
                took_ms: round3(started.elapsed().as_secs_f64() * 1e3),
            }),
            Parsed::Plan { plan, confidence } => {
                let hidden = self.hidden_matches(&plan, sight);
                if !hidden.is_empty() {
                    return Ok(AskReply::Clarify {
                        question,
                        clarify: masked_clarification(&hidden),
                        // The plan would show the values it linked to; they stay unsaid.
                        understood: None,
                        unmatched: Vec::new(),
                        candidates: Vec::new(),
                        took_ms: round3(started.elapsed().as_secs_f64() * 1e3),
                    });
                }
                let sql = plan.to_sql();
                let result =
                    self.engine
                        .sql_as(&sql, sight)
                        .await
                        .map_err(|error| AskError::Query {
                            sql: sql.clone(),
                            error,
                        })?;
                let columns: Vec<String> = result.columns.iter().map(|c| c.name.clone()).collect();
                let mut answer = answer::describe(&plan, &result);
                // Shown masked: the result's columns that are masked ones.
                let shown: Vec<&str> = result
                    .masked
                    .iter()
                    .filter(|m| {
                        let name = m.rsplit('.').next().unwrap_or(m);
                        result.columns.iter().any(|c| c.name == name)
                    })
                    .map(String::as_str)
                    .collect();
                if !shown.is_empty() {
                    answer = format!("{answer} (Masked for your token: {}.)", shown.join(", "));
                }
                let chart = answer::chart(&plan, &result);
                Ok(AskReply::Answer(Box::new(Answer {
                    question,
                    plan: *plan,
                    sql,
                    columns,
                    rows: result.rows,
                    answer,
                    chart,
                    confidence: (confidence * 100.0).round() / 100.0,
                    parse_ms: round3(parse_ms),
                    took_ms: round3(started.elapsed().as_secs_f64() * 1e3),
                    partial: None,
                    masked: result.masked,
                })))
            }
        }
    }
}

impl Assistant {
    /// The columns a plan matches values of that `sight` sees masked (`schema.table.column`).
    pub fn hidden_matches(&self, plan: &plan::QueryPlan, sight: &Sight) -> Vec<String> {
        plan.matched_columns()
            .into_iter()
            .filter(|(t, c)| {
                self.engine
                    .masked_columns(&crate::ident::TableName::parse(t), sight)
                    .contains(c)
            })
            .map(|(t, c)| format!("{t}.{c}"))
            .collect()
    }
}

/// Why a question matching masked columns gets no answer.
pub fn masked_clarification(hidden: &[String]) -> String {
    format!(
        "The question matches values of {}, personal data your token sees masked, so no \
         value can be matched and any count would be wrong. Ask without that condition, or \
         ask an admin for a token granted the column (`streamq token create --role analyst \
         --grant {}`).",
        hidden.join(", "),
        hidden.first().map_or("", String::as_str)
    )
}

fn round3(x: f64) -> f64 {
    (x * 1e3).round() / 1e3
}

/// The columns closest in meaning to what was not understood (else the question), best
/// first, then every table with its columns: what a clarification offers.
fn closest(
    snap: &Snapshot,
    encoder: &Encoder,
    cache: &Mutex<EmbeddingCache>,
    question: &str,
    unmatched: &[String],
) -> Option<Vec<String>> {
    // the phrases not understood (short, cached like linked words), else the whole question
    // (not cached: questions are unbounded)
    let probes: Vec<Arc<Vec<f32>>> = if unmatched.is_empty() {
        vec![Arc::new(encoder.embed(&[question]).ok()?.pop()?)]
    } else {
        embed_all(encoder, cache, unmatched).ok()?;
        let c = cache.lock();
        unmatched.iter().filter_map(|u| c.get(u).cloned()).collect()
    };
    let mut scored: Vec<(f32, String)> = snap
        .columns
        .iter()
        .filter_map(|(t, c, e)| {
            let table = snap.schema.tables.get(*t)?;
            let col = table.columns.get(*c)?;
            let score = probes.iter().map(|p| cosine(p, e)).fold(f32::MIN, f32::max);
            (col.name != "_ts").then(|| (score, format!("{}.{}", table.name, col.name)))
        })
        .collect();
    scored.sort_by(|a, b| b.0.partial_cmp(&a.0).unwrap_or(std::cmp::Ordering::Equal));
    let mut out: Vec<String> = scored.into_iter().take(5).map(|(_, s)| s).collect();
    out.extend(snap.schema.overview());
    Some(out)
}

/// Reads the catalog's value statistics and embeds what is new.
/// Reads the model, saying once in the log why plain English is unavailable if it cannot.
fn load(model_dir: &Path) -> Result<Arc<Encoder>, EncoderError> {
    Encoder::load(model_dir).map(Arc::new).inspect_err(|e| {
        tracing::warn!(error = %e, "plain-English questions are unavailable");
    })
}

async fn build_snapshot(
    catalog: &Arc<Catalog>,
    engine: &QueryEngine,
    encoder: Arc<Encoder>,
    cache: Arc<Mutex<EmbeddingCache>>,
) -> Result<Snapshot, AskError> {
    let schema = SchemaInfo::build(catalog, engine).await;
    tokio::task::spawn_blocking(move || embed_snapshot(&encoder, &cache, schema))
        .await
        .map_err(|e| AskError::Model(EncoderError::Run(e.to_string())))?
}

/// Embeds what the snapshot needs that the cache lacks, in batches.
fn embed_snapshot(
    encoder: &Encoder,
    cache: &Mutex<EmbeddingCache>,
    schema: SchemaInfo,
) -> Result<Snapshot, AskError> {
    let mut texts: Vec<String> = Vec::new();
    for t in &schema.tables {
        texts.push(table_phrase(t.short()));
        for c in &t.columns {
            texts.push(c.phrase.clone());
            if c.categorical() {
                texts.extend(c.values.iter().map(|v| value_phrase(v)));
            }
        }
    }
    embed_all(encoder, cache, &texts)?;
    let cache = cache.lock();
    let mut columns = Vec::new();
    let mut values = Vec::new();
    let mut tables = Vec::new();
    for (ti, t) in schema.tables.iter().enumerate() {
        if let Some(e) = cache.get(&table_phrase(t.short())) {
            tables.push((ti, e.clone()));
        }
        for (ci, c) in t.columns.iter().enumerate() {
            if let Some(e) = cache.get(&c.phrase) {
                columns.push((ti, ci, e.clone()));
            }
            if c.categorical() {
                for v in &c.values {
                    if let Some(e) = cache.get(&value_phrase(v)) {
                        values.push((ti, ci, v.clone(), e.clone()));
                    }
                }
            }
        }
    }
    Ok(Snapshot {
        schema,
        tables,
        columns,
        values,
        built: Instant::now(),
    })
}

fn table_phrase(t: &str) -> String {
    t.replace('_', " ").to_lowercase()
}

fn value_phrase(v: &str) -> String {
    v.replace('_', " ").to_lowercase()
}

fn embed_all(
    encoder: &Encoder,
    cache: &Mutex<EmbeddingCache>,
    texts: &[String],
) -> Result<(), AskError> {
    let missing: Vec<String> = {
        let c = cache.lock();
        let mut m: Vec<String> = texts
            .iter()
            .filter(|t| !c.contains_key(*t))
            .cloned()
            .collect();
        m.sort();
        m.dedup();
        m
    };
    for chunk in missing.chunks(32) {
        let refs: Vec<&str> = chunk.iter().map(String::as_str).collect();
        let embs = encoder.embed(&refs)?;
        let mut c = cache.lock();
        for (t, e) in chunk.iter().zip(embs) {
            c.insert(t.clone(), Arc::new(e));
        }
    }
    Ok(())
}

struct SemIndex<'a> {
    snap: &'a Snapshot,
    encoder: &'a Encoder,
    cache: &'a Mutex<EmbeddingCache>,
}

impl Semantic for SemIndex<'_> {
    fn link(&self, word: &str) -> Vec<SemLink> {
        if embed_all(self.encoder, self.cache, &[word.to_string()]).is_err() {
            return Vec::new();
        }
        let Some(e) = self.cache.lock().get(word).cloned() else {
            return Vec::new();
        };
        let mut links: Vec<SemLink> = Vec::new();
        let best_col = self
            .snap
            .columns
            .iter()
            .map(|(t, c, ce)| (*t, *c, cosine(&e, ce)))
            .max_by(|a, b| a.2.total_cmp(&b.2));
        let best_val = self
            .snap
            .values
            .iter()
            .map(|(t, c, v, ve)| (*t, *c, v, cosine(&e, ve)))
            .max_by(|a, b| a.3.total_cmp(&b.3));
        let best_table = self
            .snap
            .tables
            .iter()
            .map(|(t, te)| (*t, cosine(&e, te)))
            .max_by(|a, b| a.1.total_cmp(&b.1));
        tracing::debug!(word, ?best_table, ?best_col, ?best_val, "semantic link");
        // a table by meaning ("clients" → customers), when it beats any column and value
        if let Some((_, s)) = best_table
            && s >= TABLE_SIMILARITY
            && best_col.is_none_or(|c| s >= c.2)
            && best_val.is_none_or(|v| s >= v.3)
        {
            for (t, te) in &self.snap.tables {
                let sc = cosine(&e, te);
                if sc >= s - 0.02 {
                    links.push(SemLink::Table {
                        table: *t,
                        score: sc,
                    });
                }
            }
            return links;
        }
        match (best_col, best_val) {
            (_, Some((_, _, v, s)))
                if s >= VALUE_SIMILARITY && best_col.is_none_or(|c| s >= c.2) =>
            {
                for (t, c, v2, ve) in &self.snap.values {
                    if v2 == v && cosine(&e, ve) >= VALUE_SIMILARITY {
                        links.push(SemLink::Value {
                            table: *t,
                            column: *c,
                            value: v2.clone(),
                            score: s,
                        });
                    }
                }
            }
            (Some((_, _, s)), _) if s >= COLUMN_SIMILARITY => {
                for (t, c, ce) in &self.snap.columns {
                    let sc = cosine(&e, ce);
                    if sc >= s - 0.02 {
                        links.push(SemLink::Column {
                            table: *t,
                            column: *c,
                            score: sc,
                        });
                    }
                }
            }
            _ => {}
        }
        links
    }
}
