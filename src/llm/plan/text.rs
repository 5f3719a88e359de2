//! A plan in words: what an answer says it understood (outputs, conditions, filters).

use crate::llm::plan::*;

impl QueryPlan {
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
