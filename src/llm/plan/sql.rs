//! A plan's SQL: the main table `t0`, related tables `t1…` joined or tested for existence,
//! filters, groups, measures, order and limit.

use crate::llm::plan::*;
use crate::store::value::format_timestamp_us;

impl QueryPlan {
    pub(super) fn alias(&self, t: usize) -> String {
        format!("t{t}")
    }

    pub fn table_name(&self, t: usize) -> &str {
        if t == 0 {
            &self.table
        } else {
            &self.related[t - 1].table
        }
    }

    pub(super) fn col(&self, c: &ColRef) -> String {
        format!("{}.{}", self.alias(c.table), quote(&c.column))
    }

    pub(super) fn output_name(&self, o: &Output) -> String {
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

    pub(super) fn output_sql(&self, o: &Output) -> String {
        match o {
            Output::Key(k) => self.key_sql(k),
            Output::Column(c) => self.col(c),
            Output::Measure(m) => self.measure_sql(m),
        }
    }

    pub(super) fn key_sql(&self, k: &GroupKey) -> String {
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

    pub(super) fn measure_sql(&self, m: &Measure) -> String {
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

    pub(super) fn filter_sql(&self, f: &Filter) -> String {
        self.op_sql(&self.col(&f.column), &f.op)
    }

    /// `lhs <op>`: a column's or an aggregate's condition.
    pub(super) fn op_sql(&self, c: &str, op: &Op) -> String {
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
    pub(super) fn having_sql(&self, hs: &[Having]) -> String {
        hs.iter()
            .map(|h| self.op_sql(&self.measure_sql(&h.measure), &h.op))
            .collect::<Vec<_>>()
            .join(" AND ")
    }

    pub(super) fn time_sql(&self, t: &TimeRange) -> Vec<String> {
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
}

/// `2026-03-02 10:00:00` (UTC), as a SQL timestamp literal.
pub(super) fn sql_ts(us: i64) -> String {
    format_timestamp_us(us)
        .trim_end_matches('Z')
        .replace('T', " ")
}

pub(super) fn quote(c: &str) -> String {
    if c.chars()
        .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '_')
        && !c.starts_with(|ch: char| ch.is_ascii_digit())
    {
        c.to_string()
    } else {
        format!("\"{}\"", c.replace('"', "\"\""))
    }
}
