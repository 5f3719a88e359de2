//! The typed plan a question parses into. Its SQL for the DataFusion engine is `sql.rs`; its
//! words for the answer, `text.rs`.

mod sql;
mod text;

use serde::Serialize;

/// A column of the main table (`table` 0) or of a joined table (1…).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ColRef {
    pub table: usize,
    pub column: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Agg {
    Count,
    CountDistinct,
    Sum,
    Avg,
    Median,
    Min,
    Max,
    /// The percentage (0–100) of rows, or of a column's total, that meet `Measure::when`.
    Share,
}

impl Agg {
    fn sql(self) -> &'static str {
        match self {
            Agg::Count | Agg::CountDistinct | Agg::Share => "COUNT",
            Agg::Sum => "SUM",
            Agg::Avg => "AVG",
            Agg::Median => "MEDIAN",
            Agg::Min => "MIN",
            Agg::Max => "MAX",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Agg::Count => "count",
            Agg::CountDistinct => "distinct",
            Agg::Sum => "total",
            Agg::Avg => "average",
            Agg::Median => "median",
            Agg::Min => "minimum",
            Agg::Max => "maximum",
            Agg::Share => "percentage",
        }
    }
}

/// A measure: an aggregation over a column (or over rows, for a plain count).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Measure {
    pub agg: Agg,
    pub column: Option<ColRef>,
    /// For a share: the condition whose part of the whole is measured.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub when: Vec<Filter>,
}

impl Measure {
    pub fn new(agg: Agg, column: Option<ColRef>) -> Self {
        Self {
            agg,
            column,
            when: Vec::new(),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TimeUnit {
    Second,
    Minute,
    Hour,
    Day,
    Week,
}

impl TimeUnit {
    pub fn name(self) -> &'static str {
        match self {
            TimeUnit::Second => "second",
            TimeUnit::Minute => "minute",
            TimeUnit::Hour => "hour",
            TimeUnit::Day => "day",
            TimeUnit::Week => "week",
        }
    }

    pub fn micros(self) -> i64 {
        1_000_000
            * match self {
                TimeUnit::Second => 1,
                TimeUnit::Minute => 60,
                TimeUnit::Hour => 3600,
                TimeUnit::Day => 86_400,
                TimeUnit::Week => 7 * 86_400,
            }
    }
}

/// A grouping key: a column, or a column's time bucket.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupKey {
    Column(ColRef),
    Bucket {
        unit: TimeUnit,
        /// Width in units (5 for "per 5 minutes").
        #[serde(skip_serializing_if = "is_one")]
        size: u32,
        column: ColRef,
    },
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    In(Vec<Lit>),
    NotIn(Vec<Lit>),
    /// Has a value (rankings leave out the "no value" group; "already closed").
    NotNull,
    /// Has no value ("not yet shipped", "no manager assigned").
    IsNull,
    /// Case-insensitive substring (`LOWER(col) LIKE '%…%'`).
    Contains(String),
    Gt(Lit),
    Ge(Lit),
    Lt(Lit),
    Le(Lit),
    /// `col > other + interval` (µs).
    AfterColumn {
        other: ColRef,
        micros: i64,
    },
    /// `col < other + interval` (µs).
    BeforeColumn {
        other: ColRef,
        micros: i64,
    },
    /// `col = other` ("delivered to the sender's own country").
    SameAs(ColRef),
    /// `col <> other` ("a country other than the sender's").
    DifferentFrom(ColRef),
}

impl Op {
    /// The other column a comparison of two columns refers to.
    pub fn other(&self) -> Option<&ColRef> {
        match self {
            Op::AfterColumn { other, .. }
            | Op::BeforeColumn { other, .. }
            | Op::SameAs(other)
            | Op::DifferentFrom(other) => Some(other),
            _ => None,
        }
    }

    fn other_mut(&mut self) -> Option<&mut ColRef> {
        match self {
            Op::AfterColumn { other, .. }
            | Op::BeforeColumn { other, .. }
            | Op::SameAs(other)
            | Op::DifferentFrom(other) => Some(other),
            _ => None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Lit {
    Text(String),
    Number(f64),
    Bool(bool),
}

impl Lit {
    fn sql(&self) -> String {
        match self {
            Lit::Text(s) => format!("'{}'", s.replace('\'', "''")),
            Lit::Number(n) => format!("{n}"),
            Lit::Bool(b) => b.to_string(),
        }
    }

    pub fn text(&self) -> String {
        match self {
            Lit::Text(s) => s.clone(),
            Lit::Number(n) => format!("{n}"),
            Lit::Bool(b) => b.to_string(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Filter {
    pub column: ColRef,
    pub op: Op,
}

/// A time range on an event-time column: `start <= col < end`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TimeRange {
    pub column: ColRef,
    /// RFC 3339.
    pub start: Option<String>,
    pub end: Option<String>,
    #[serde(skip)]
    pub start_us: Option<i64>,
    #[serde(skip)]
    pub end_us: Option<i64>,
    /// As the question put it ("the last hour").
    pub label: String,
}

/// How a second table takes part: joined (the other table is the "one" side, the main table
/// holds its key) or as a semi-join filter (the main table's key appears in it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Link {
    Join,
    Semi,
    /// The main table's key does not appear in it ("suppliers with no invoices").
    Anti,
    /// The main table's key appears in it, a condition by itself even with no filter on it
    /// ("subscribers who opened a ticket and roamed", "customers with more than 3 accounts").
    Exists,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Related {
    pub table: String,
    pub link: Link,
    /// Column of the main table (or of the table `via` names).
    pub main_key: String,
    /// Column of this table.
    pub key: String,
    /// The table `main_key` is on: 0 = the main one, k = the k-th related one (joined before
    /// this one), for a join two keys away (usage → subscribers → plans).
    #[serde(skip_serializing_if = "is_zero")]
    pub via: usize,
    /// Its rows' own time range, for an existence or absence ("… and roamed today").
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time: Option<TimeRange>,
    /// How many of its rows each main row must have ("more than 3 accounts").
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub having: Vec<Having>,
}

impl Related {
    /// `table` related by `main_key` (of the main table) = `key` (of this one).
    pub fn new(table: String, link: Link, main_key: String, key: String) -> Self {
        Related {
            table,
            link,
            main_key,
            key,
            via: 0,
            time: None,
            having: Vec::new(),
        }
    }
}

/// A condition on an aggregate: of each group ("hours with more than 5 failures"), or of
/// the related rows of each main row ("customers with more than 3 accounts").
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Having {
    pub measure: Measure,
    pub op: Op,
}

impl QueryPlan {
    /// The columns (`schema.table`, column) whose values the plan matches against something
    /// the question gave — a value, a range, a substring, a key: what a masked column cannot
    /// answer.
    pub fn matched_columns(&self) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = self
            .filters
            .iter()
            .filter(|f| {
                matches!(
                    f.op,
                    Op::In(_)
                        | Op::NotIn(_)
                        | Op::Contains(_)
                        | Op::Gt(_)
                        | Op::Ge(_)
                        | Op::Lt(_)
                        | Op::Le(_)
                )
            })
            .map(|f| {
                (
                    self.table_name(f.column.table).to_string(),
                    f.column.column.clone(),
                )
            })
            .collect();
        if let Some((col, _)) = &self.lookup {
            out.push((self.table.clone(), col.clone()));
        }
        out
    }
}

fn is_zero(v: &usize) -> bool {
    *v == 0
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Order {
    /// Index into the output columns.
    pub output: usize,
    pub descending: bool,
}

/// The typed plan of a question.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct QueryPlan {
    /// Main table (`schema.table`) and the tables it relates to.
    pub table: String,
    pub related: Vec<Related>,
    /// Plain columns to show (lookups, row-level rankings).
    pub columns: Vec<ColRef>,
    pub measures: Vec<Measure>,
    pub group_by: Vec<GroupKey>,
    pub filters: Vec<Filter>,
    pub time: Option<TimeRange>,
    pub order: Option<Order>,
    pub limit: Option<u64>,
    /// A point lookup by primary key.
    pub lookup: Option<(String, String)>,
    /// For "which X had the most Y": the measure only orders and is not shown.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub hide_measure: bool,
    /// Conditions on the groups' aggregates (`HAVING`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub having: Vec<Having>,
    /// Choices nothing in the question decided, which the answer states.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub assumed: Vec<String>,
}

/// One output column, in order: group keys, then plain columns, then measures.
#[derive(Clone, Debug, PartialEq)]
pub enum Output {
    Key(GroupKey),
    Column(ColRef),
    Measure(Measure),
}

impl QueryPlan {
    /// The rows of `table` themselves (no measure, no order): columns to show, with the
    /// conditions on them.
    pub fn rows(
        table: String,
        related: Vec<Related>,
        columns: Vec<ColRef>,
        group_by: Vec<GroupKey>,
        filters: Vec<Filter>,
        time: Option<TimeRange>,
    ) -> Self {
        QueryPlan {
            table,
            related,
            columns,
            measures: Vec::new(),
            group_by,
            filters,
            time,
            order: None,
            limit: None,
            lookup: None,
            hide_measure: false,
            having: Vec::new(),
            assumed: Vec::new(),
        }
    }

    pub fn outputs(&self) -> Vec<Output> {
        let mut out: Vec<Output> = self.group_by.iter().cloned().map(Output::Key).collect();
        out.extend(self.columns.iter().cloned().map(Output::Column));
        out.extend(self.measures.iter().cloned().map(Output::Measure));
        out
    }

    /// Drops related tables nothing refers to ("customer transactions" needs no join), and
    /// renumbers the references to the rest.
    pub fn prune_unused_relations(&mut self) {
        let mut used = vec![false; self.related.len() + 1];
        used[0] = true;
        // an anti-join or existence filters by itself
        for (i, r) in self.related.iter().enumerate() {
            if matches!(r.link, Link::Anti | Link::Exists) {
                used[i + 1] = true;
            }
        }
        let mut mark = |c: &ColRef| used[c.table] = true;
        self.columns.iter().for_each(&mut mark);
        self.measures
            .iter()
            .filter_map(|m| m.column.as_ref())
            .for_each(&mut mark);
        self.measures
            .iter()
            .flat_map(|m| m.when.iter())
            .for_each(|f| mark(&f.column));
        self.having
            .iter()
            .filter_map(|h| h.measure.column.as_ref())
            .for_each(&mut mark);
        for g in &self.group_by {
            match g {
                GroupKey::Column(c) | GroupKey::Bucket { column: c, .. } => mark(c),
            }
        }
        for f in &self.filters {
            mark(&f.column);
            if let Some(other) = f.op.other() {
                mark(other);
            }
        }
        if let Some(t) = &self.time {
            mark(&t.column);
        }
        // a join two keys away needs the table it goes through
        for i in (0..self.related.len()).rev() {
            if used[i + 1] {
                used[self.related[i].via] = true;
            }
        }
        if used.iter().all(|u| *u) {
            return;
        }
        let mut map = vec![0usize; used.len()];
        let mut next = 0;
        for (i, u) in used.iter().enumerate() {
            if *u {
                map[i] = next;
                next += 1;
            }
        }
        let mut i = 0;
        self.related.retain(|_| {
            i += 1;
            used[i]
        });
        for r in &mut self.related {
            r.via = map[r.via];
        }
        let remap = |c: &mut ColRef| c.table = map[c.table];
        self.columns.iter_mut().for_each(remap);
        self.measures
            .iter_mut()
            .filter_map(|m| m.column.as_mut())
            .for_each(remap);
        self.measures
            .iter_mut()
            .flat_map(|m| m.when.iter_mut())
            .for_each(|f| remap(&mut f.column));
        self.having
            .iter_mut()
            .filter_map(|h| h.measure.column.as_mut())
            .for_each(remap);
        for r in self.related.iter_mut() {
            if let Some(t) = &mut r.time {
                remap(&mut t.column);
            }
        }
        for g in &mut self.group_by {
            match g {
                GroupKey::Column(c) | GroupKey::Bucket { column: c, .. } => remap(c),
            }
        }
        for f in &mut self.filters {
            remap(&mut f.column);
            if let Some(other) = f.op.other_mut() {
                remap(other);
            }
        }
        if let Some(t) = &mut self.time {
            remap(&mut t.column);
        }
    }

    /// Every column name the plan refers to, in any table.
    pub fn column_names(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        out.extend(self.columns.iter().map(|c| c.column.as_str()));
        for m in &self.measures {
            out.extend(m.column.iter().map(|c| c.column.as_str()));
            out.extend(m.when.iter().map(|f| f.column.column.as_str()));
        }
        for g in &self.group_by {
            match g {
                GroupKey::Column(c) | GroupKey::Bucket { column: c, .. } => {
                    out.push(c.column.as_str())
                }
            }
        }
        for f in &self.filters {
            out.push(f.column.column.as_str());
            if let Some(other) = f.op.other() {
                out.push(other.column.as_str());
            }
        }
        out.extend(self.time.iter().map(|t| t.column.column.as_str()));
        out.extend(self.lookup.iter().map(|(c, _)| c.as_str()));
        for r in &self.related {
            out.push(r.main_key.as_str());
            out.push(r.key.as_str());
        }
        out
    }

    fn link_of(&self, t: usize) -> Option<Link> {
        (t > 0).then(|| self.related[t - 1].link)
    }
}

fn is_one(n: &u32) -> bool {
    *n == 1
}
