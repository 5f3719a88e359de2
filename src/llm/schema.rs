//! What the question parser knows about the data: a snapshot of the live catalog with, per
//! column, its words (name split, abbreviations expanded), its kind, the categorical values it
//! has been seen to hold, the shape of its ids and, for free text, the phrases that occur in
//! it. Built from the catalog and from queries through the same SQL engine, so a new topic is
//! understood as soon as it has rows: nothing here names any table.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use crate::query::QueryEngine;
use crate::store::catalog::Catalog;
use crate::store::schema::META_COLUMNS;
use crate::store::value::DType;

use super::text::{stem, words_of_identifier};

/// The most distinct values a column may have and still be read as categorical.
pub const MAX_CATEGORICAL: usize = 64;
/// Values of wider string columns are still matched when quoted exactly (names, merchants).
pub const MAX_NAMED: usize = 2000;

/// How a column behaves in questions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ColKind {
    Text,
    Integer,
    Number,
    Bool,
    Timestamp,
    Date,
}

impl ColKind {
    fn of(t: Option<DType>) -> Self {
        match t {
            Some(DType::Bool) => ColKind::Bool,
            Some(DType::Int32 | DType::Int64) => ColKind::Integer,
            Some(DType::Float64 | DType::Decimal { .. }) => ColKind::Number,
            Some(DType::Timestamp | DType::TimestampNs) => ColKind::Timestamp,
            Some(DType::Date) => ColKind::Date,
            // A time of day compares as its text (`'08:30:00'`).
            Some(DType::Utf8 | DType::Time) | None => ColKind::Text,
        }
    }

    pub fn numeric(self) -> bool {
        matches!(self, ColKind::Integer | ColKind::Number)
    }
}

/// The shape of an id column's values: a letter prefix and a digit count (`A` + 6 digits).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdShape {
    pub prefix: String,
    pub digits: usize,
}

impl IdShape {
    pub fn matches(&self, s: &str) -> bool {
        s.len() == self.prefix.len() + self.digits
            && s[..self.prefix.len()].eq_ignore_ascii_case(&self.prefix)
            && s[self.prefix.len()..].bytes().all(|b| b.is_ascii_digit())
    }
}

/// One column, as the parser sees it.
#[derive(Clone, Debug)]
pub struct ColInfo {
    pub name: String,
    pub kind: ColKind,
    /// Words of the name, abbreviations expanded, stemmed (`txn_type` → `transact`, `typ`).
    pub stems: Vec<String>,
    /// The readable phrase embedded for meaning (`transaction type`).
    pub phrase: String,
    /// Part of the primary key.
    pub is_key: bool,
    /// Holds ids of rows in some table (`*_id`, or an id shape).
    pub id_shape: Option<IdShape>,
    /// Distinct non-null values seen, when few enough to be categorical.
    pub values: Vec<String>,
    /// Distinct values (capped at `MAX_NAMED + 1`).
    pub distinct: usize,
    /// Free text: long, varied values. Phrases are stemmed word n-grams (1–4) found in it,
    /// and the same n-grams as written prefixed with `=`.
    pub free_text: bool,
    pub phrases: HashSet<String>,
    /// Some rows have no value here ("not yet shipped" reads as `IS NULL` only then).
    pub nullable: bool,
}

impl ColInfo {
    pub fn categorical(&self) -> bool {
        self.kind == ColKind::Text
            && !self.free_text
            && self.id_shape.is_none()
            && self.distinct <= MAX_CATEGORICAL
    }
}

/// One table, as the parser sees it.
#[derive(Clone, Debug)]
pub struct TableInfo {
    /// `schema.table`.
    pub name: String,
    /// Stems of the table part of the name (`transact`), and of the topic's source system.
    pub stems: Vec<String>,
    pub schema_stem: String,
    pub rows: u64,
    pub columns: Vec<ColInfo>,
    pub primary_key: Vec<String>,
    /// The column that dates each row's event, for "today", "last hour", "per minute".
    pub event_time: Option<String>,
}

impl TableInfo {
    pub fn col(&self, name: &str) -> Option<&ColInfo> {
        self.columns.iter().find(|c| c.name == name)
    }

    /// The single-column primary key.
    pub fn pk(&self) -> Option<&str> {
        match self.primary_key.as_slice() {
            [k] => Some(k),
            _ => None,
        }
    }

    /// The readable name (`transactions`, `customers`).
    pub fn short(&self) -> &str {
        self.name
            .split_once('.')
            .map(|(_, t)| t)
            .unwrap_or(&self.name)
    }
}

/// Lookups derived from the tables, built once per snapshot rather than per question.
#[derive(Clone, Debug, Default)]
pub struct Lexicon {
    /// Stemmed phrase of a value → (table, column, value), categorical and named values.
    pub values: HashMap<String, Vec<(usize, usize, String)>>,
    /// Catalog word as written → its stem, for typo correction.
    pub vocab: BTreeMap<String, String>,
    /// Every stem in `vocab`: a word stemming to one of these is no typo.
    pub known_stems: HashSet<String>,
}

impl Lexicon {
    fn of(tables: &[TableInfo]) -> Self {
        let mut lex = Lexicon::default();
        for (ti, t) in tables.iter().enumerate() {
            let mut add = |w: String| {
                let st = stem(&w);
                lex.known_stems.insert(st.clone());
                lex.vocab.insert(w, st);
            };
            words_of_identifier(t.short())
                .into_iter()
                .for_each(&mut add);
            for (ci, c) in t.columns.iter().enumerate() {
                words_of_identifier(&c.name).into_iter().for_each(&mut add);
                for v in &c.values {
                    let ws = super::text::words(v);
                    if ws.is_empty() || ws.len() > 5 {
                        continue;
                    }
                    let key = ws.iter().map(|w| stem(w)).collect::<Vec<_>>().join(" ");
                    lex.values.entry(key).or_default().push((ti, ci, v.clone()));
                    if c.distinct <= MAX_CATEGORICAL {
                        ws.into_iter().for_each(&mut add);
                    }
                }
            }
        }
        lex
    }
}

/// The whole snapshot.
#[derive(Clone, Debug, Default)]
pub struct SchemaInfo {
    pub tables: Vec<TableInfo>,
    /// Sum of schema versions and row counts when built: a cheap change detector.
    pub fingerprint: (u64, u64),
    pub lexicon: Lexicon,
}

impl SchemaInfo {
    pub fn new(tables: Vec<TableInfo>, fingerprint: (u64, u64)) -> Self {
        let lexicon = Lexicon::of(&tables);
        Self {
            tables,
            fingerprint,
            lexicon,
        }
    }

    /// Tables and their columns, for a clarifying reply.
    pub fn overview(&self) -> Vec<String> {
        self.tables
            .iter()
            .map(|t| {
                let cols: Vec<&str> = t
                    .columns
                    .iter()
                    .filter(|c| c.name != "_ts")
                    .map(|c| c.name.as_str())
                    .take(12)
                    .collect();
                format!("{} ({})", t.name, cols.join(", "))
            })
            .collect()
    }

    pub fn table(&self, name: &str) -> Option<&TableInfo> {
        self.tables.iter().find(|t| t.name == name)
    }

    /// The catalog's fingerprint as it stands.
    pub fn fingerprint_of(catalog: &Catalog) -> (u64, u64) {
        let mut v = 0u64;
        let mut rows = 0u64;
        for t in catalog.tables() {
            v += t.schema.read().version + 1;
            rows += t.row_count() as u64;
        }
        (v, rows)
    }

    /// Builds the snapshot: schemas from the catalog, value statistics through SQL.
    pub async fn build(catalog: &Arc<Catalog>, engine: &QueryEngine) -> SchemaInfo {
        let fingerprint = Self::fingerprint_of(catalog);
        let mut tables = Vec::new();
        for live in catalog.tables() {
            let schema = live.schema.read().clone();
            let rows = live.row_count() as u64;
            if rows == 0 {
                continue;
            }
            let name = schema.name.to_string();
            let mut columns = Vec::new();
            for c in schema
                .columns
                .iter()
                .filter(|c| !META_COLUMNS.contains(&c.name.as_str()))
            {
                columns
                    .push(column_info(engine, &name, &c.name, c.dtype, &schema.primary_key).await);
            }
            // `_ts` (when the change was made) is a column questions can name too.
            {
                columns.push(ColInfo {
                    name: "_ts".into(),
                    kind: ColKind::Timestamp,
                    stems: vec!["_ts".into()],
                    phrase: "change timestamp".into(),
                    is_key: false,
                    id_shape: None,
                    values: Vec::new(),
                    distinct: 0,
                    free_text: false,
                    phrases: HashSet::new(),
                    nullable: false,
                });
            }
            let event_time = pick_event_time(&columns);
            let mut stems: Vec<String> = words_of_identifier(&schema.name.table)
                .iter()
                .map(|w| stem(w))
                .collect();
            stems.dedup();
            tables.push(TableInfo {
                stems,
                schema_stem: stem(&schema.name.schema),
                name,
                rows,
                columns,
                primary_key: schema.primary_key.clone(),
                event_time,
            });
        }
        SchemaInfo::new(tables, fingerprint)
    }
}

fn quote(c: &str) -> String {
    format!("\"{}\"", c.replace('"', "\"\""))
}

async fn column_info(
    engine: &QueryEngine,
    table: &str,
    name: &str,
    dtype: Option<DType>,
    pk: &[String],
) -> ColInfo {
    let kind = ColKind::of(dtype);
    let words = words_of_identifier(name);
    let stems: Vec<String> = words.iter().map(|w| stem(w)).collect();
    let phrase = words.join(" ");
    let mut info = ColInfo {
        name: name.to_string(),
        kind,
        stems,
        phrase,
        is_key: pk.iter().any(|k| k == name),
        id_shape: None,
        values: Vec::new(),
        distinct: 0,
        free_text: false,
        phrases: HashSet::new(),
        nullable: false,
    };
    let q = quote(name);
    if let Ok(res) = engine
        .sql(&format!("SELECT COUNT(*) - COUNT({q}) AS n FROM {table}"))
        .await
    {
        info.nullable = res
            .rows
            .first()
            .and_then(|r| r.first())
            .and_then(|v| v.as_i64())
            .is_some_and(|n| n > 0);
    }
    if kind != ColKind::Text {
        return info;
    }
    // The most frequent values first; one more than the cap tells "too many to list".
    let sql = format!(
        "SELECT {q} AS v, COUNT(*) AS n FROM {table} WHERE {q} IS NOT NULL GROUP BY {q} ORDER BY n DESC, v LIMIT {}",
        MAX_NAMED + 1
    );
    let Ok(res) = engine.sql(&sql).await else {
        return info;
    };
    let values: Vec<String> = res
        .rows
        .iter()
        .filter_map(|r| r.first().and_then(|v| v.as_str()).map(str::to_string))
        .collect();
    info.distinct = values.len();
    info.id_shape = id_shape(&values);
    let avg_words = if values.is_empty() {
        0.0
    } else {
        values
            .iter()
            .map(|v| v.split_whitespace().count())
            .sum::<usize>() as f64
            / values.len() as f64
    };
    info.free_text = info.id_shape.is_none() && values.len() > 8 && avg_words >= 2.5;
    if info.free_text {
        for v in &values {
            add_phrases(&mut info.phrases, v);
        }
    } else if info.id_shape.is_none() && values.len() <= MAX_NAMED {
        info.values = values;
    }
    info
}

/// The word n-grams (1–4) of a free-text value, stemmed, and as written with a leading `=`
/// so a LIKE pattern can use the question's own words.
pub(crate) fn add_phrases(phrases: &mut HashSet<String>, v: &str) {
    let raw = super::text::words(v);
    let ws: Vec<String> = raw.iter().map(|w| stem(w)).collect();
    for n in 1..=4 {
        for g in ws.windows(n) {
            phrases.insert(g.join(" "));
        }
        for g in raw.windows(n) {
            phrases.insert(format!("={}", g.join(" ")));
        }
    }
}

/// Ids share one letter prefix and one digit count (`T00000042`, `A106625`).
fn id_shape(values: &[String]) -> Option<IdShape> {
    let first = values.first()?;
    let split = first.find(|c: char| c.is_ascii_digit())?;
    let shape = IdShape {
        prefix: first[..split].to_string(),
        digits: first.len() - split,
    };
    if shape.prefix.len() > 4
        || shape.digits < 3
        || !shape.prefix.chars().all(|c| c.is_ascii_alphabetic())
    {
        return None;
    }
    values
        .iter()
        .take(200)
        .all(|v| shape.matches(v))
        .then_some(shape)
}

/// The event-time column: a timestamp whose name says when the thing happened (created,
/// occurred, sale time…) rather than when the row last changed; else the only timestamp.
fn pick_event_time(columns: &[ColInfo]) -> Option<String> {
    let ts: Vec<&ColInfo> = columns
        .iter()
        .filter(|c| c.kind == ColKind::Timestamp && c.name != "_ts")
        .collect();
    let changed = |c: &ColInfo| {
        c.stems
            .iter()
            .any(|s| ["updat", "modifi", "chang", "load", "ingest"].contains(&s.as_str()))
    };
    ts.iter()
        .find(|c| !changed(c))
        .or_else(|| ts.first())
        .map(|c| c.name.clone())
}

/// Caches embeddings by text across snapshots.
pub type EmbeddingCache = HashMap<String, Arc<Vec<f32>>>;
