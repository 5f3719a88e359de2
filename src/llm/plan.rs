//! The typed plan a question parses into, and its SQL for the DataFusion engine.

use serde::Serialize;

use crate::store::value::format_timestamp_us;

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

    fn alias(&self, t: usize) -> String {
        format!("t{t}")
    }

    fn table_name(&self, t: usize) -> &str {
        if t == 0 {
            &self.table
        } else {
            &self.related[t - 1].table
        }
    }

    fn col(&self, c: &ColRef) -> String {
        format!("{}.{}", self.alias(c.table), quote(&c.column))
    }

    fn output_name(&self, o: &Output) -> String {
        match o {
            Output::Key(GroupKey::Column(c)) | Output::Column(c) => c.column.clone(),
            Output::Key(GroupKey::Bucket { unit, .. }) => unit.name().to_string(),
            Output::Measure(m) => match (&m.agg, &m.column) {
                (Agg::Count, _) => {
                    let t = self.table_name(0);
                    t.split_once('.').map(|(_, t)| t).unwrap_or(t).to_string()
                }
                (Agg::CountDistinct, Some(c)) => format!("distinct_{}", c.column),
                (Agg::Share, _) => "pct".to_string(),
                (a, Some(c)) => format!(
                    "{}_{}",
                    a.label()
                        .replace("average", "avg")
                        .replace("maximum", "max")
                        .replace("minimum", "min"),
                    c.column
                ),
                (a, None) => a.label().to_string(),
            },
        }
    }

    fn output_sql(&self, o: &Output) -> String {
        match o {
            Output::Key(k) => self.key_sql(k),
            Output::Column(c) => self.col(c),
            Output::Measure(m) => self.measure_sql(m),
        }
    }

    fn key_sql(&self, k: &GroupKey) -> String {
        match k {
            GroupKey::Column(c) => self.col(c),
            GroupKey::Bucket { unit, size, column } if *size <= 1 => {
                format!("date_trunc('{}', {})", unit.name(), self.col(column))
            }
            GroupKey::Bucket { unit, size, column } => format!(
                "date_bin(INTERVAL '{size} {}s', {}, TIMESTAMP '1970-01-01 00:00:00')",
                unit.name(),
                self.col(column)
            ),
        }
    }

    fn measure_sql(&self, m: &Measure) -> String {
        match (&m.agg, &m.column) {
            (Agg::Share, col) => {
                let cond = if m.when.is_empty() {
                    "FALSE".to_string()
                } else {
                    m.when
                        .iter()
                        .map(|f| self.filter_sql(f))
                        .collect::<Vec<_>>()
                        .join(" AND ")
                };
                match col {
                    None => format!("100.0 * SUM(CASE WHEN {cond} THEN 1 ELSE 0 END) / COUNT(*)"),
                    Some(c) => {
                        let c = self.col(c);
                        format!("100.0 * SUM(CASE WHEN {cond} THEN {c} ELSE 0 END) / SUM({c})")
                    }
                }
            }
            (Agg::Count, None) => "COUNT(*)".into(),
            (Agg::CountDistinct, Some(c)) => format!("COUNT(DISTINCT {})", self.col(c)),
            (a, Some(c)) => format!("{}({})", a.sql(), self.col(c)),
            (a, None) => format!("{}(*)", a.sql()),
        }
    }

    fn filter_sql(&self, f: &Filter) -> String {
        self.op_sql(&self.col(&f.column), &f.op)
    }

    /// `lhs <op>`: a column's or an aggregate's condition.
    fn op_sql(&self, c: &str, op: &Op) -> String {
        match op {
            Op::In(v) if v.len() == 1 => format!("{c} = {}", v[0].sql()),
            Op::In(v) => format!(
                "{c} IN ({})",
                v.iter().map(Lit::sql).collect::<Vec<_>>().join(", ")
            ),
            Op::NotIn(v) if v.len() == 1 => format!("{c} <> {}", v[0].sql()),
            Op::NotIn(v) => format!(
                "{c} NOT IN ({})",
                v.iter().map(Lit::sql).collect::<Vec<_>>().join(", ")
            ),
            Op::NotNull => format!("{c} IS NOT NULL"),
            Op::IsNull => format!("{c} IS NULL"),
            Op::Contains(s) => format!(
                "LOWER({c}) LIKE '%{}%'",
                s.to_lowercase().replace('\'', "''")
            ),
            Op::Gt(v) => format!("{c} > {}", v.sql()),
            Op::Ge(v) => format!("{c} >= {}", v.sql()),
            Op::Lt(v) => format!("{c} < {}", v.sql()),
            Op::Le(v) => format!("{c} <= {}", v.sql()),
            Op::AfterColumn { other, micros } => {
                format!(
                    "{c} > {} + INTERVAL '{} seconds'",
                    self.col(other),
                    micros / 1_000_000
                )
            }
            Op::BeforeColumn { other, micros } => {
                format!(
                    "{c} < {} + INTERVAL '{} seconds'",
                    self.col(other),
                    micros / 1_000_000
                )
            }
            Op::SameAs(other) => format!("{c} = {}", self.col(other)),
            Op::DifferentFrom(other) => format!("{c} <> {}", self.col(other)),
        }
    }

    /// Count conditions, joined: the body of a `HAVING`.
    fn having_sql(&self, hs: &[Having]) -> String {
        hs.iter()
            .map(|h| self.op_sql(&self.measure_sql(&h.measure), &h.op))
            .collect::<Vec<_>>()
            .join(" AND ")
    }

    fn time_sql(&self, t: &TimeRange) -> Vec<String> {
        let c = self.col(&t.column);
        let mut out = Vec::new();
        if let Some(s) = t.start_us {
            out.push(format!("{c} >= TIMESTAMP '{}'", sql_ts(s)));
        }
        if let Some(e) = t.end_us {
            out.push(format!("{c} < TIMESTAMP '{}'", sql_ts(e)));
        }
        out
    }

    /// The SQL for DataFusion.
    pub fn to_sql(&self) -> String {
        let outputs = self.outputs();
        let shown: Vec<String> = outputs
            .iter()
            .enumerate()
            .filter(|(_, o)| !(self.hide_measure && matches!(o, Output::Measure(_))))
            .map(|(_, o)| format!("{} AS {}", self.output_sql(o), quote(&self.output_name(o))))
            .collect();
        let mut sql = format!("SELECT {} FROM {} t0", shown.join(", "), self.table);
        // Conditions on semi-joined tables go inside their subquery.
        let mut semi_conds: Vec<Vec<String>> = vec![Vec::new(); self.related.len() + 1];
        let mut conds = Vec::new();
        for f in &self.filters {
            let s = self.filter_sql(f);
            match self.link_of(f.column.table) {
                Some(Link::Semi | Link::Anti | Link::Exists) => semi_conds[f.column.table].push(s),
                _ => conds.push(s),
            }
        }
        if let Some(t) = &self.time {
            let parts = self.time_sql(t);
            match self.link_of(t.column.table) {
                Some(Link::Semi | Link::Anti | Link::Exists) => {
                    semi_conds[t.column.table].extend(parts)
                }
                _ => conds.extend(parts),
            }
        }
        for (i, r) in self.related.iter().enumerate() {
            if let Some(t) = &r.time {
                semi_conds[i + 1].extend(self.time_sql(t));
            }
        }
        for (i, r) in self.related.iter().enumerate() {
            let a = self.alias(i + 1);
            match r.link {
                Link::Join => {
                    sql.push_str(&format!(
                        " JOIN {} {a} ON {}.{} = {a}.{}",
                        r.table,
                        self.alias(r.via),
                        quote(&r.main_key),
                        quote(&r.key)
                    ));
                }
                Link::Semi | Link::Exists => {
                    let mut sub = format!("SELECT {a}.{} FROM {} {a}", quote(&r.key), r.table);
                    if !semi_conds[i + 1].is_empty() {
                        sub.push_str(&format!(" WHERE {}", semi_conds[i + 1].join(" AND ")));
                    }
                    if !r.having.is_empty() {
                        sub.push_str(&format!(
                            " GROUP BY {a}.{} HAVING {}",
                            quote(&r.key),
                            self.having_sql(&r.having)
                        ));
                    }
                    conds.push(format!(
                        "{}.{} IN ({sub})",
                        self.alias(r.via),
                        quote(&r.main_key)
                    ));
                }
                // "fewer than 2 tickets": not among the keys with 2 or more, so rows with
                // none count too
                Link::Anti if !r.having.is_empty() => {
                    let k = quote(&r.key);
                    let mut sub = format!(
                        "SELECT {a}.{k} FROM {} {a} WHERE {a}.{k} IS NOT NULL",
                        r.table
                    );
                    for c in &semi_conds[i + 1] {
                        sub.push_str(&format!(" AND {c}"));
                    }
                    sub.push_str(&format!(
                        " GROUP BY {a}.{k} HAVING {}",
                        self.having_sql(&r.having)
                    ));
                    conds.push(format!(
                        "{}.{} NOT IN ({sub})",
                        self.alias(r.via),
                        quote(&r.main_key)
                    ));
                }
                Link::Anti => {
                    let mut sub = format!(
                        "SELECT 1 FROM {} {a} WHERE {a}.{} = t0.{}",
                        r.table,
                        quote(&r.key),
                        quote(&r.main_key)
                    );
                    for c in &semi_conds[i + 1] {
                        sub.push_str(&format!(" AND {c}"));
                    }
                    conds.push(format!("NOT EXISTS ({sub})"));
                }
            }
        }
        if let Some((col, id)) = &self.lookup {
            conds.push(format!(
                "t0.{} = {}",
                quote(col),
                Lit::Text(id.clone()).sql()
            ));
        }
        if !conds.is_empty() {
            sql.push_str(&format!(" WHERE {}", conds.join(" AND ")));
        }
        if !self.group_by.is_empty() {
            let keys: Vec<String> = self.group_by.iter().map(|k| self.key_sql(k)).collect();
            sql.push_str(&format!(" GROUP BY {}", keys.join(", ")));
        }
        if !self.having.is_empty() {
            sql.push_str(&format!(" HAVING {}", self.having_sql(&self.having)));
        }
        if let Some(o) = &self.order {
            let dir = if o.descending { "DESC" } else { "ASC" };
            let expr = self.output_sql(&outputs[o.output]);
            sql.push_str(&format!(" ORDER BY {expr} {dir}"));
        } else if let Some(GroupKey::Bucket { .. }) = self.group_by.first() {
            sql.push_str(&format!(" ORDER BY {}", self.key_sql(&self.group_by[0])));
        }
        if let Some(n) = self.limit {
            sql.push_str(&format!(" LIMIT {n}"));
        }
        sql
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

    /// Readable name of an output, for answers.
    pub fn describe(&self, o: &Output) -> String {
        match o {
            Output::Key(GroupKey::Column(c)) | Output::Column(c) => c.column.replace('_', " "),
            Output::Key(GroupKey::Bucket { unit, .. }) => unit.name().into(),
            Output::Measure(m) => match (&m.agg, &m.column) {
                (Agg::Count, _) => format!(
                    "number of {}",
                    self.table
                        .split_once('.')
                        .map(|(_, t)| t)
                        .unwrap_or(&self.table)
                ),
                (Agg::CountDistinct, Some(c)) => {
                    format!("number of distinct {}", c.column.replace('_', " "))
                }
                (Agg::Share, col) => {
                    let of = match col {
                        Some(c) => format!("of the total {}", c.column.replace('_', " ")),
                        None => format!(
                            "of {}",
                            self.table
                                .split_once('.')
                                .map(|(_, t)| t)
                                .unwrap_or(&self.table)
                        ),
                    };
                    format!("percentage {of} with {}", self.filters_text(&m.when))
                }
                (a, Some(c)) => format!("{} {}", a.label(), c.column.replace('_', " ")),
                (a, None) => a.label().into(),
            },
        }
    }

    /// The whole plan in one line ("count of shop.suppliers by region where tier gold").
    pub fn summary(&self) -> String {
        let outs = self.outputs();
        let measures: Vec<String> = outs
            .iter()
            .filter(|o| matches!(o, Output::Measure(_)))
            .map(|o| self.describe(o))
            .collect();
        let cols: Vec<String> = outs
            .iter()
            .filter(|o| matches!(o, Output::Column(_)))
            .map(|o| self.describe(o))
            .collect();
        let mut s = if !measures.is_empty() {
            format!("{} of {}", measures.join(" and "), self.table)
        } else if !cols.is_empty() {
            format!("{} of {}", cols.join(", "), self.table)
        } else {
            format!("rows of {}", self.table)
        };
        let keys: Vec<String> = outs
            .iter()
            .filter(|o| matches!(o, Output::Key(_)))
            .map(|o| self.describe(o))
            .collect();
        if !keys.is_empty() {
            s.push_str(&format!(" by {}", keys.join(" and ")));
        }
        let cond = self.conditions_text();
        if !cond.is_empty() {
            s.push_str(&format!(" where {cond}"));
        }
        if let (Some(o), Some(n)) = (&self.order, self.limit) {
            let dir = if o.descending { "highest" } else { "lowest" };
            s.push_str(&format!(
                ", the {n} {dir} by {}",
                self.describe(&outs[o.output])
            ));
        }
        s
    }

    /// The conditions in words ("status = declined, in the last hour").
    pub fn conditions_text(&self) -> String {
        // conditions on the rows of an existence or absence are said with it
        let inner = |t: usize| {
            matches!(
                self.link_of(t),
                Some(Link::Semi | Link::Anti | Link::Exists)
            )
        };
        let outer: Vec<Filter> = self
            .filters
            .iter()
            .filter(|f| !inner(f.column.table))
            .cloned()
            .collect();
        let mut parts = vec![self.filters_text(&outer)];
        parts.retain(|p| !p.is_empty());
        for (i, r) in self.related.iter().enumerate() {
            let own_filters: Vec<Filter> = self
                .filters
                .iter()
                .filter(|f| f.column.table == i + 1 && inner(i + 1))
                .cloned()
                .collect();
            let mut own: Vec<String> = r
                .having
                .iter()
                .filter(|_| r.link != Link::Anti)
                .map(|h| format!("{} rows", op_text(&h.op)))
                .collect();
            let own_text = self.filters_text(&own_filters);
            if !own_text.is_empty() {
                own.insert(0, own_text);
            }
            if let Some(t) = &r.time {
                own.push(t.label.clone());
            }
            let own = if own.is_empty() {
                String::new()
            } else {
                format!(" ({})", own.join(", "))
            };
            match r.link {
                Link::Anti if !r.having.is_empty() => {
                    let fewer: Vec<String> = r
                        .having
                        .iter()
                        .map(|h| match &h.op {
                            Op::Ge(v) => format!("fewer than {}", v.text()),
                            Op::Gt(v) => format!("at most {}", v.text()),
                            other => format!("not {}", op_text(other)),
                        })
                        .collect();
                    parts.push(format!("{} rows of {}{own}", fewer.join(", "), r.table))
                }
                Link::Anti => parts.push(format!("no row of {} matches{own}", r.table)),
                Link::Exists => parts.push(format!("a row of {} matches{own}", r.table)),
                Link::Semi if !own.is_empty() => {
                    parts.push(format!("a row of {} matches{own}", r.table))
                }
                _ => {}
            }
        }
        for h in &self.having {
            parts.push(format!(
                "{} {}",
                self.describe(&Output::Measure(h.measure.clone())),
                op_text(&h.op)
            ));
        }
        if let Some((c, id)) = &self.lookup {
            parts.push(format!("{} {id}", c.replace('_', " ")));
        }
        if let Some(t) = &self.time {
            parts.push(t.label.clone());
        }
        parts.join(", ")
    }

    /// A column of another table, in words ("the senders' country").
    fn other_text(&self, c: &ColRef) -> String {
        let t = self.table_name(c.table);
        let t = t.rsplit('.').next().unwrap_or(t);
        format!("the {t}' {}", c.column.replace('_', " "))
    }

    /// Filters in words ("status = declined, amount > 100").
    pub fn filters_text(&self, filters: &[Filter]) -> String {
        let mut parts = Vec::new();
        for f in filters {
            let c = f.column.column.replace('_', " ");
            parts.push(match &f.op {
                Op::In(v) => format!(
                    "{c} {}",
                    v.iter().map(Lit::text).collect::<Vec<_>>().join(" or ")
                ),
                Op::NotIn(v) => format!(
                    "{c} not {}",
                    v.iter().map(Lit::text).collect::<Vec<_>>().join(" or ")
                ),
                // said by the answer's rows themselves
                Op::NotNull if self.order.is_some() => continue,
                Op::NotNull => format!("{c} present"),
                Op::IsNull => format!("no {c}"),
                Op::Contains(s) => format!("{c} mentioning \"{s}\""),
                Op::Gt(v) => format!("{c} > {}", v.text()),
                Op::Ge(v) => format!("{c} at least {}", v.text()),
                Op::Lt(v) => format!("{c} < {}", v.text()),
                Op::Le(v) => format!("{c} at most {}", v.text()),
                Op::AfterColumn { other, micros } => format!(
                    "{c} more than {} s after {}",
                    micros / 1_000_000,
                    other.column.replace('_', " ")
                ),
                Op::BeforeColumn { other, micros } => format!(
                    "{c} less than {} s after {}",
                    micros / 1_000_000,
                    other.column.replace('_', " ")
                ),
                Op::SameAs(other) => format!("{c} same as {}", self.other_text(other)),
                Op::DifferentFrom(other) => {
                    format!("{c} other than {}", self.other_text(other))
                }
            });
        }
        parts.join(", ")
    }
}

/// A comparison with a number, in words ("more than 3").
fn op_text(op: &Op) -> String {
    match op {
        Op::Gt(v) => format!("more than {}", v.text()),
        Op::Ge(v) => format!("at least {}", v.text()),
        Op::Lt(v) => format!("fewer than {}", v.text()),
        Op::Le(v) => format!("at most {}", v.text()),
        Op::In(v) if v.len() == 1 => format!("exactly {}", v[0].text()),
        other => format!("{other:?}"),
    }
}

fn is_one(n: &u32) -> bool {
    *n == 1
}

/// `2026-03-02 10:00:00` (UTC), as a SQL timestamp literal.
fn sql_ts(us: i64) -> String {
    format_timestamp_us(us)
        .trim_end_matches('Z')
        .replace('T', " ")
}

fn quote(c: &str) -> String {
    if c.chars()
        .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '_')
        && !c.starts_with(|ch: char| ch.is_ascii_digit())
    {
        c.to_string()
    } else {
        format!("\"{}\"", c.replace('"', "\"\""))
    }
}
