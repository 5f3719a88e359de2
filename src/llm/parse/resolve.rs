//! Stage 5, resolving: every mention becomes part of the plan over the main table or a
//! related one — a filter, a grouping key, the entity ranked, a join — and the numeric and
//! column comparisons find their columns.

use std::collections::BTreeMap;

use super::frame::Frame;
use super::lexicon::Question;
use super::mention::{ColAt, Kind, Mention};
use super::words::*;
use super::{Parser, having};
use crate::llm::plan::*;
use crate::llm::schema::ColKind;
use crate::llm::text::stem;

/// The plan's parts the mentions gave.
pub(super) struct Resolved {
    pub related: Vec<Related>,
    pub filters: Vec<Filter>,
    pub group_by: Vec<GroupKey>,
    /// Mentions no table the main one reaches could take.
    pub unresolved: usize,
    /// Those mentions as written: constraints the plan cannot carry, which the reply names.
    pub dropped: Vec<String>,
    /// The ranked entity's key, with the mention's position.
    pub group_entity: Option<(usize, ColRef)>,
    /// Where an absence ("with no invoices") made an anti-join.
    pub anti_at: Option<usize>,
    /// The time column a verb names ("cases closed today"), with the verb's position.
    pub named_time: Option<(usize, String)>,
    /// The ranked or grouped entity's readable name column.
    pub entity_name: Option<ColRef>,
    /// Count conditions on the main table's groups ("hours with more than 5 failures"), with
    /// the words that said them.
    pub group_having: Vec<(Having, String)>,
}

impl Parser<'_> {
    pub(super) fn resolve_mentions(&self, q: &Question, ms: &[Mention], f: &Frame) -> Resolved {
        let Question {
            toks,
            words: words_l,
            time,
            thresholds: num_cmps,
            gap,
            ..
        } = q;
        let col_cmp = *gap;
        let main = f.main;
        let mt = self.t(main);
        let distinct_entity = f.distinct_entity.as_ref();
        let is_group_pos = |m: &Mention| f.is_group_pos(m);
        let span_text = |m: &Mention| {
            toks[m.start..m.end]
                .iter()
                .map(|t| t.raw.as_str())
                .collect::<Vec<_>>()
                .join(" ")
        };
        let mut dropped: Vec<String> = Vec::new();
        let has = |w: &[&str]| q.has(w);
        let mut related: Vec<Related> = Vec::new();
        let mut filters: Vec<Filter> = Vec::new();
        let mut group_by: Vec<GroupKey> = Vec::new();
        let mut unresolved = 0usize;
        let mut pos_vals: BTreeMap<(usize, String), Vec<Lit>> = BTreeMap::new();
        let mut neg_vals: BTreeMap<(usize, String), Vec<Lit>> = BTreeMap::new();
        let mut group_entity: Option<(usize, ColRef)> = None; // position, key
        let mut anti_at: Option<usize> = None;
        // "cases closed today": the time column a verb names, for the time range
        let named_time = self.verb_time_column(toks, main, &[ColKind::Timestamp]);
        let mut entity_name: Option<ColRef> = None;
        let suppressed: Vec<usize> = ms
            .iter()
            .filter(|m| {
                m.start > 0 && SUPPRESSORS.contains(&words_l[m.start - 1].as_str())
                    || m.start > 1 && SUPPRESSORS.contains(&words_l[m.start - 2].as_str())
            })
            .map(|m| m.start)
            .collect();
        let suppressed_cols: Vec<ColAt> = ms
            .iter()
            .filter(|m| suppressed.contains(&m.start))
            .filter_map(|m| match &m.kind {
                Kind::Col(cs, _) => Some(cs.clone()),
                _ => None,
            })
            .flatten()
            .collect();

        for m in ms {
            match &m.kind {
                Kind::Val(vs) => {
                    let tabs: Vec<usize> = vs.iter().map(|v| v.0).collect();
                    // "active customers": the main table's own flag beats another table's value
                    if !tabs.contains(&main)
                        && let Some(b) = mt.columns.iter().find(|c| {
                            c.kind == ColKind::Bool && c.stems.last() == Some(&stem(&vs[0].2))
                        })
                    {
                        let key = ColRef {
                            table: 0,
                            column: b.name.clone(),
                        };
                        if is_group_pos(m) {
                            group_by.push(GroupKey::Column(key));
                            continue;
                        }
                        filters.push(Filter {
                            column: ColRef {
                                table: 0,
                                column: b.name.clone(),
                            },
                            op: Op::In(vec![Lit::Bool(!m.negated)]),
                        });
                        continue;
                    }
                    let Some(k) = self.resolve(main, &mut related, &tabs) else {
                        // "created between …": the verb of the main table's time column
                        // (which the time range takes), not another table's status
                        let verb_of_time = named_time
                            .as_ref()
                            .is_some_and(|(p, _)| (m.start..m.end).contains(p));
                        if !verb_of_time {
                            unresolved += 1;
                            dropped.push(span_text(m));
                        }
                        continue;
                    };
                    let ti = self.table_idx(main, &related, k);
                    let Some((_, ci, v)) = vs.iter().find(|v| v.0 == ti) else {
                        continue;
                    };
                    let col = &self.t(ti).columns[*ci];
                    if suppressed_cols.contains(&(ti, *ci)) {
                        continue;
                    }
                    // "orders created between …": the verb of a time column, not a status;
                    // "not closed yet" is no closing time, "already closed" one
                    let vstem = stem(v);
                    if !m.qualified
                        && let Some(tc) = self.t(ti).columns.iter().find(|c| {
                            c.kind == ColKind::Timestamp && c.stems.first() == Some(&vstem)
                        })
                    {
                        let ranged = (time.start_us.is_some() || time.end_us.is_some())
                            && named_time.as_ref().is_none_or(|(_, c)| *c == tc.name);
                        if tc.nullable && (m.negated || !ranged) {
                            filters.push(Filter {
                                column: ColRef {
                                    table: k,
                                    column: tc.name.clone(),
                                },
                                op: if m.negated { Op::IsNull } else { Op::NotNull },
                            });
                        }
                        continue;
                    }
                    // "orders paid with PayPal": a participle introducing another column's
                    // value describes it, it is not a status of its own
                    let next_is_prep = words_l.get(m.end).is_some_and(|w| {
                        matches!(w.as_str(), "by" | "with" | "via" | "using" | "through")
                    });
                    let then_value = ms.iter().any(|o| o.start == m.end + 1 && matches!(&o.kind, Kind::Val(ov) if ov.iter().all(|x| (x.0, x.1) != (ti, *ci))));
                    if !m.qualified
                        && next_is_prep
                        && then_value
                        && (v.ends_with("ed") || v.ends_with("id"))
                    {
                        continue;
                    }
                    let key = (k, col.name.clone());
                    let lit = Lit::Text(v.clone());
                    if m.negated {
                        neg_vals.entry(key).or_default().push(lit);
                    } else {
                        pos_vals.entry(key).or_default().push(lit);
                    }
                }
                Kind::Text(cs, phrase) => {
                    let tabs: Vec<usize> = cs.iter().map(|c| c.0).collect();
                    let tabs = if tabs.is_empty() { vec![main] } else { tabs };
                    let Some(k) = self.resolve(main, &mut related, &tabs) else {
                        unresolved += 1;
                        dropped.push(span_text(m));
                        continue;
                    };
                    let ti = self.table_idx(main, &related, k);
                    let col = cs
                        .iter()
                        .find(|c| c.0 == ti)
                        .map(|c| self.c(*c).name.clone())
                        .or_else(|| {
                            self.t(ti)
                                .columns
                                .iter()
                                .find(|c| c.free_text)
                                .map(|c| c.name.clone())
                        });
                    if let Some(col) = col {
                        filters.push(Filter {
                            column: ColRef {
                                table: k,
                                column: col,
                            },
                            op: Op::Contains(phrase.clone()),
                        });
                    }
                }
                Kind::Id(cs, id) => {
                    let tabs: Vec<usize> = cs.iter().map(|c| c.0).collect();
                    if let Some(k) = self.resolve(main, &mut related, &tabs) {
                        let ti = self.table_idx(main, &related, k);
                        if let Some(c) = cs.iter().find(|c| c.0 == ti) {
                            filters.push(Filter {
                                column: ColRef {
                                    table: k,
                                    column: self.c(*c).name.clone(),
                                },
                                op: Op::In(vec![Lit::Text(id.clone())]),
                            });
                        }
                    }
                }
                Kind::Col(cs, _) => {
                    let bools: Vec<&ColAt> = cs
                        .iter()
                        .filter(|tc| self.c(**tc).kind == ColKind::Bool)
                        .collect();
                    let grouped = is_group_pos(m) || f.is_rank_entity(m);
                    if !bools.is_empty() && !grouped {
                        let tabs: Vec<usize> = bools.iter().map(|c| c.0).collect();
                        if let Some(k) = self.resolve(main, &mut related, &tabs) {
                            let ti = self.table_idx(main, &related, k);
                            let c = bools.iter().find(|c| c.0 == ti).expect("resolved");
                            let out_of = m.start >= 2
                                && words_l[m.start - 2] == "out"
                                && words_l[m.start - 1] == "of";
                            let val = !(m.negated || out_of);
                            filters.push(Filter {
                                column: ColRef {
                                    table: k,
                                    column: self.c(**c).name.clone(),
                                },
                                op: Op::In(vec![Lit::Bool(val)]),
                            });
                        }
                        continue;
                    }
                    if grouped {
                        let tabs: Vec<usize> = cs.iter().map(|c| c.0).collect();
                        if let Some(k) = self.resolve(main, &mut related, &tabs) {
                            let ti = self.table_idx(main, &related, k);
                            let c = cs.iter().find(|c| c.0 == ti).expect("resolved");
                            let key = ColRef {
                                table: k,
                                column: self.c(*c).name.clone(),
                            };
                            if f.is_rank_entity(m) {
                                group_entity = Some((m.start, key));
                            } else if !group_by.contains(&GroupKey::Column(key.clone())) {
                                group_by.push(GroupKey::Column(key));
                            }
                        }
                    }
                }
                Kind::Null(cs, is_null) => {
                    let tabs: Vec<usize> = cs.iter().map(|c| c.0).collect();
                    let Some(k) = self.resolve(main, &mut related, &tabs) else {
                        unresolved += 1;
                        dropped.push(span_text(m));
                        continue;
                    };
                    let ti = self.table_idx(main, &related, k);
                    if let Some(c) = cs.iter().find(|c| c.0 == ti) {
                        filters.push(Filter {
                            column: ColRef {
                                table: k,
                                column: self.c(*c).name.clone(),
                            },
                            op: if *is_null { Op::IsNull } else { Op::NotNull },
                        });
                    }
                }
                Kind::Absent(ts) => {
                    // the main table holds the other's key: that key is missing; else no
                    // row of the other table names the main row
                    let held = ts.iter().find_map(|t| {
                        self.t(*t)
                            .pk()
                            .filter(|pk| mt.col(pk).is_some_and(|c| c.nullable))
                            .map(str::to_string)
                    });
                    if let Some(key) = held {
                        filters.push(Filter {
                            column: ColRef {
                                table: 0,
                                column: key,
                            },
                            op: Op::IsNull,
                        });
                    } else if let Some(mut r) = ts.iter().find_map(|t| self.relate(main, *t))
                        && r.link == Link::Semi
                    {
                        r.link = Link::Anti;
                        related.push(r);
                        anti_at = Some(m.start);
                    } else {
                        unresolved += 1;
                        dropped.push(span_text(m));
                    }
                }
                Kind::Table(ts) => {
                    let grouped = is_group_pos(m) || f.is_rank_entity(m);
                    if grouped && !ts.contains(&main) {
                        // group by the entity: the main table's column holding its key
                        if let Some((t, key)) = ts.iter().find_map(|t| {
                            self.t(*t)
                                .pk()
                                .filter(|pk| mt.col(pk).is_some())
                                .map(|k| (*t, k))
                        }) {
                            let key = ColRef {
                                table: 0,
                                column: key.to_string(),
                            };
                            // its readable name beside the key ("agents" → agent_name)
                            entity_name = self.name_column(t).and_then(|name| {
                                self.resolve(main, &mut related, &[t]).map(|k| ColRef {
                                    table: k,
                                    column: name,
                                })
                            });
                            if f.is_rank_entity(m) {
                                group_entity = Some((m.start, key));
                            } else {
                                group_by.push(GroupKey::Column(key));
                                if let Some(n) = entity_name.take() {
                                    group_by.push(GroupKey::Column(n));
                                }
                            }
                        }
                    } else if !ts.contains(&main)
                        && distinct_entity.map(|d| d.start != m.start).unwrap_or(true)
                    {
                        // a related table named only to join through ("premium customers");
                        // one the main table cannot reach is a constraint it cannot carry
                        if self.resolve(main, &mut related, ts).is_none() {
                            unresolved += 1;
                            dropped.push(span_text(m));
                        }
                    }
                }
            }
        }
        // "which home cells had zero usage": no rows naming the grouped value, related by
        // the other table's column that shares its word (`home_cell` ~ `cell_id`), not by
        // the main table's key
        let grouped_col = group_entity
            .as_ref()
            .map(|(_, c)| c.clone())
            .or_else(|| {
                group_by.iter().find_map(|g| match g {
                    GroupKey::Column(c) => Some(c.clone()),
                    _ => None,
                })
            })
            .filter(|c| c.table == 0 && mt.pk() != Some(c.column.as_str()));
        if anti_at.is_some()
            && let Some(g) = grouped_col
            && let Some(gc) = mt.col(&g.column)
            && let Some(r) = related.iter_mut().find(|r| r.link == Link::Anti)
            && let Some(ot) = self.s.tables.iter().find(|t| t.name == r.table)
            && let Some(c) = ot.columns.iter().find(|c| {
                c.kind == gc.kind
                    && c.stems
                        .iter()
                        .any(|s| s != "id" && s.len() > 2 && gc.stems.contains(s))
            })
        {
            r.main_key = g.column.clone();
            r.key = c.name.clone();
        }
        // "declined vs approved": values compared side by side are a breakdown of their column
        let versus = has(&["vs", "versus", "compared", "compare", "against"]);
        for ((k, col), vals) in pos_vals {
            let column = ColRef {
                table: k,
                column: col,
            };
            if versus && vals.len() >= 2 && !group_by.contains(&GroupKey::Column(column.clone())) {
                group_by.push(GroupKey::Column(column.clone()));
            }
            filters.push(Filter {
                column,
                op: Op::In(vals),
            });
        }
        for ((k, col), vals) in neg_vals {
            filters.push(Filter {
                column: ColRef {
                    table: k,
                    column: col,
                },
                op: Op::NotIn(vals),
            });
        }

        // "negative balance", "positive amount"
        for m in ms {
            if m.start == 0 {
                continue;
            }
            let sign = match words_l[m.start - 1].as_str() {
                "negative" => "<",
                "positive" => ">",
                _ => continue,
            };
            if let Kind::Col(cs, _) = &m.kind
                && let Some(tc) = cs.iter().copied().find(|c| self.c(*c).kind.numeric())
                && let Some(k) = self.resolve(main, &mut related, &[tc.0])
            {
                let column = ColRef {
                    table: k,
                    column: self.c(tc).name.clone(),
                };
                let zero = Lit::Number(0.0);
                filters.push(Filter {
                    column,
                    op: if sign == "<" {
                        Op::Lt(zero)
                    } else {
                        Op::Gt(zero)
                    },
                });
            }
        }

        // "customers with more than 3 accounts": a count of the related rows each row has;
        // "at least one open case": that there is one
        let mut group_having: Vec<(Having, String)> = Vec::new();
        let mut counted: Vec<usize> = Vec::new();
        for th in num_cmps {
            let Some(i) = self.counted_rows(q, ms, th.0) else {
                continue;
            };
            let ts: Vec<usize> = match &ms[i].kind {
                Kind::Table(ts) => ts.clone(),
                // "more than 200 calls": the rows of the value's table
                Kind::Val(vs) => vs.iter().map(|v| v.0).collect(),
                _ => continue,
            };
            let ts = &ts;
            counted.push(th.0);
            let h = having::count_having(th);
            let text = toks[th.0..ms[i].end]
                .iter()
                .map(|t| t.raw.as_str())
                .collect::<Vec<_>>()
                .join(" ");
            if ts.contains(&main) {
                group_having.push((h, text));
                continue;
            }
            match self.resolve(main, &mut related, ts) {
                // "fewer than 2 tickets", "at most 3": rows with none count too, so not
                // among those with more
                Some(k)
                    if matches!(related[k - 1].link, Link::Semi | Link::Anti)
                        && matches!(h.op, Op::Lt(_) | Op::Le(_)) =>
                {
                    related[k - 1].link = Link::Anti;
                    related[k - 1].having.push(having::complement(h));
                }
                Some(k) if matches!(related[k - 1].link, Link::Semi | Link::Exists) => {
                    related[k - 1].link = Link::Exists;
                    related[k - 1].having.push(h);
                }
                _ => {
                    unresolved += 1;
                    dropped.push(text);
                }
            }
        }
        for at in &q.exists_at {
            if let Some(i) = self.counted_rows(q, ms, *at)
                && let Kind::Table(ts) = &ms[i].kind
                && !ts.contains(&main)
                && let Some(k) = self.resolve(main, &mut related, ts)
                && related[k - 1].link == Link::Semi
            {
                related[k - 1].link = Link::Exists;
            }
        }

        // numeric comparisons: on the numeric column named just before, else the money column
        for (p, op, v) in num_cmps.iter().filter(|th| !counted.contains(&th.0)) {
            // the numeric column right before the comparison ("risk score above 0.9"), else the
            // money of the thing named just before ("a purchase over 1000" → its amount)
            let numeric_col = |m: &Mention| match &m.kind {
                Kind::Col(cs, _) => cs.iter().copied().find(|c| self.c(*c).kind.numeric()),
                _ => None,
            };
            // "more than 1,800 units": the numeric column right after the number
            let after = ms
                .iter()
                .find(|m| m.start > *p && m.start <= p + 5)
                .and_then(numeric_col);
            let named = after.or_else(|| {
                ms.iter()
                    .rev()
                    .filter(|m| m.end <= *p && m.end + 2 >= *p)
                    .find_map(numeric_col)
            });
            let col = match named {
                Some(tc) => self.resolve(main, &mut related, &[tc.0]).map(|k| ColRef {
                    table: k,
                    column: self.c(tc).name.clone(),
                }),
                None => {
                    let near: Option<Vec<usize>> =
                        ms.iter()
                            .rev()
                            .find(|m| m.end <= *p)
                            .map(|m| match &m.kind {
                                Kind::Table(ts) => ts.clone(),
                                Kind::Col(cs, _) | Kind::Text(cs, _) | Kind::Id(cs, _) => {
                                    cs.iter().map(|c| c.0).collect()
                                }
                                Kind::Val(vs) => vs.iter().map(|v| v.0).collect(),
                                Kind::Null(cs, _) => cs.iter().map(|c| c.0).collect(),
                                Kind::Absent(_) => Vec::new(),
                            });
                    let owner = near
                        .and_then(|ts| {
                            if ts.contains(&main) {
                                Some(main)
                            } else {
                                ts.into_iter().find(|t| {
                                    self.money_column(*t).is_some()
                                        && self.relate(main, *t).is_some()
                                })
                            }
                        })
                        .filter(|t| self.money_column(*t).is_some())
                        .unwrap_or(main);
                    match (
                        self.money_column(owner),
                        self.resolve(main, &mut related, &[owner]),
                    ) {
                        (Some(c), Some(k)) => Some(ColRef {
                            table: k,
                            column: c,
                        }),
                        _ => None,
                    }
                }
            };
            if let Some(column) = col {
                let lit = Lit::Number(*v);
                let op = match *op {
                    ">" => Op::Gt(lit),
                    ">=" => Op::Ge(lit),
                    "<" => Op::Lt(lit),
                    _ => Op::Le(lit),
                };
                filters.push(Filter { column, op });
            }
        }

        // "a country other than the sender's": columns of related rows compared
        if let Some(cm) = &q.matching {
            match self.column_match_filter(cm, ms, main, &mut related) {
                Some(f) => filters.push(f),
                None => {
                    unresolved += 1;
                    dropped.push(
                        toks[cm.left_end..(cm.right_start + 2).min(toks.len())]
                            .iter()
                            .map(|t| t.raw.as_str())
                            .collect::<Vec<_>>()
                            .join(" "),
                    );
                }
            }
        }

        // column comparison ("_ts more than 2 minutes after sale time")
        if let Some((p, micros, more)) = col_cmp {
            let before = ms
                .iter()
                .rev()
                .find(|m| m.end <= p && matches!(m.kind, Kind::Col(..)));
            let after = ms
                .iter()
                .find(|m| m.start > p && matches!(m.kind, Kind::Col(..)));
            if let (Some(a), Some(b)) = (before, after)
                && let (Kind::Col(ca, _), Kind::Col(cb, _)) = (&a.kind, &b.kind)
                && let (Some(x), Some(y)) = (
                    ca.iter().find(|c| c.0 == main),
                    cb.iter().find(|c| c.0 == main),
                )
            {
                let other = ColRef {
                    table: 0,
                    column: self.c(*y).name.clone(),
                };
                let column = ColRef {
                    table: 0,
                    column: self.c(*x).name.clone(),
                };
                filters.push(Filter {
                    column,
                    op: if more {
                        Op::AfterColumn { other, micros }
                    } else {
                        Op::BeforeColumn { other, micros }
                    },
                });
            }
        }
        Resolved {
            related,
            filters,
            group_by,
            unresolved,
            dropped,
            group_entity,
            anti_at,
            named_time,
            entity_name,
            group_having,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::staged;
    use crate::llm::plan::*;

    fn col(table: usize, column: &str) -> ColRef {
        ColRef {
            table,
            column: column.into(),
        }
    }

    #[test]
    fn mentions_become_filters_joins_and_groups() {
        staged("urgent tickets of senior agents by state", |st| {
            let res = &st.res;
            assert_eq!(res.related.len(), 1);
            assert_eq!(res.related[0].table, "helpdesk.agents");
            assert_eq!(res.related[0].link, Link::Join);
            assert!(res.filters.contains(&Filter {
                column: col(0, "priority"),
                op: Op::In(vec![Lit::Text("urgent".into())]),
            }));
            assert!(res.filters.contains(&Filter {
                column: col(1, "is_senior"),
                op: Op::In(vec![Lit::Bool(true)]),
            }));
            assert_eq!(res.group_by, vec![GroupKey::Column(col(0, "state"))]);
        });
        // a count of related rows is a condition on the relation
        staged("agents with at least 2 escalated tickets", |st| {
            let res = &st.res;
            assert_eq!(res.related[0].link, Link::Exists);
            assert_eq!(res.related[0].having.len(), 1);
        });
    }
}
