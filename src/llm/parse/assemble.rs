//! Stage 8, the plan: the shape the parts take — a ranking of rows or groups, a series, a
//! breakdown, the columns of identified rows, a listing, shares and several measures — then
//! the accounting.

use super::frame::Frame;
use super::lexicon::Question;
use super::mention::{Kind, Mention};
use super::resolve::Resolved;
use super::shape::Shape;
use super::words::*;
use super::{Parsed, Parser, Trace, shares};
use crate::llm::plan::*;
use crate::llm::schema::{ColKind, MAX_CATEGORICAL};
use crate::llm::text::stem;

impl Parser<'_> {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn assemble(
        &self,
        mut q: Question,
        ms: &[Mention],
        sh: &Shape,
        f: &Frame,
        res: Resolved,
        time_range: Option<TimeRange>,
        measure: Option<Measure>,
    ) -> Parsed {
        let Question {
            toks,
            used,
            words: words_l,
            time,
            limit,
            ..
        } = &mut q;
        let n = toks.len();
        let main = f.main;
        let mt = self.t(main);
        let which_pos = f.which_pos;
        let rank_entity = f.rank_entity.as_ref();
        let count_q = sh.count;
        let Resolved {
            related,
            mut filters,
            mut group_by,
            unresolved,
            dropped,
            mut group_entity,
            mut entity_name,
            group_having,
            ..
        } = res;
        let (group_having, having_text): (Vec<Having>, Vec<String>) =
            group_having.into_iter().unzip();
        // "hours with fewer than 5 calls": only the groups that have rows can be listed
        let mut assumed = f.trace.assumed.clone();
        if group_having
            .iter()
            .any(|h| matches!(h.op, Op::Lt(_) | Op::Le(_)))
        {
            assumed.push("only groups with at least one row are listed".into());
        }
        let mut measure = measure;
        let mut columns: Vec<ColRef> = Vec::new();
        let mut measures: Vec<Measure> = Vec::new();
        let money_col = |t: usize| -> Option<String> { self.money_column(t) };
        let has = |w: &[&str]| words_l.iter().any(|x| w.contains(&x.as_str()));
        let trace = |unresolved: usize| Trace {
            unresolved,
            dropped: dropped.clone(),
            having: having_text.clone(),
            assumed: assumed.clone(),
            ..f.trace.clone()
        };
        // ---- shapes: rankings, trends, breakdowns, plain
        let mut order = None;
        let mut hide_measure = false;
        let recency: Option<bool> = (0..n).find_map(|k| {
            if used[k] {
                return None;
            }
            match words_l[k].as_str() {
                "recent" | "latest" | "newest" | "last" => Some(true),
                "first" | "earliest" | "oldest" => Some(false),
                _ => None,
            }
        });
        let superlative = words_l.iter().enumerate().find_map(|(i, w)| {
            if MAX_WORDS.contains(&w.as_str()) {
                Some((i, true))
            } else if MIN_WORDS.contains(&w.as_str()) {
                Some((i, false))
            } else {
                None
            }
        });
        let mut limit_n = limit.map(|(_, n)| n);
        if let Some(b) = time.bucket {
            if let Some(tc) = time_range.as_ref().map(|t| t.column.clone()).or_else(|| {
                mt.event_time.clone().map(|c| ColRef {
                    table: 0,
                    column: c,
                })
            }) {
                group_by.insert(
                    0,
                    GroupKey::Bucket {
                        unit: b,
                        size: time.bucket_size,
                        column: tc,
                    },
                );
            }
            if time.bucket_is_target {
                group_entity = None;
                if let Some((_, desc)) = superlative {
                    limit_n = Some(limit_n.unwrap_or(1));
                    hide_measure = true;
                    order = Some((desc, true));
                }
            }
        }
        let mut plain_rank = false;
        if let Some((_, key)) = group_entity.clone() {
            // "biggest data session today - which cell was it on?": a superlative before the
            // "which" may rank single rows, not groups, and nothing says by which column
            if let (Some((sp, _)), Some(wp)) = (superlative, which_pos)
                && sp < wp
                && f.numeric.is_empty()
                && f.measure_col.is_none()
            {
                let entity = key.column.replace('_', " ");
                return Parsed::Clarify {
                    message: format!(
                        "Two readings: the {entity} with the most rows, or the {entity} of the single {} row (by which column?). Ask \"which {entity} had the most …\" or \"the {entity} of the … with the highest <column>\".",
                        words_l[sp]
                    ),
                    candidates: self.s.overview(),
                    understood: None,
                    unmatched: vec![words_l[sp].clone()],
                };
            }
            if rank_entity
                .map(|m| matches!(&m.kind, Kind::Table(ts) if ts.contains(&main)))
                .unwrap_or(false)
            {
                plain_rank = true;
            } else {
                // a ranking names a value: the "no value" group is not a candidate
                filters.push(Filter {
                    column: key.clone(),
                    op: Op::NotNull,
                });
                if let Some(n) = entity_name.take() {
                    group_by.insert(0, GroupKey::Column(n));
                }
                group_by.insert(0, GroupKey::Column(key));
            }
            if let Some((_, desc)) = superlative {
                order = Some((desc, false));
                if limit_n.is_none() {
                    limit_n = Some(1);
                    hide_measure = which_pos.is_some();
                }
            } else if limit_n.is_some() {
                order = Some((true, false));
            }
        } else if let Some(r) = rank_entity
            && matches!(&r.kind, Kind::Table(ts) if ts.contains(&main))
            && (superlative.is_some() || recency.is_some())
        {
            plain_rank = true;
            order = superlative.map(|(_, d)| (d, false));
        }
        // "the 3 most recent orders", "the first transaction today": by event time
        let by_time = recency.filter(|_| {
            plain_rank
                && measure
                    .as_ref()
                    .is_none_or(|m| m.agg == Agg::Count || m.column.is_none())
        });
        if let Some(desc) = by_time
            && let Some(t) = &mt.event_time
        {
            measure = Some(Measure {
                when: Vec::new(),
                agg: Agg::Max,
                column: Some(ColRef {
                    table: 0,
                    column: t.clone(),
                }),
            });
            order = Some((desc, false));
        }
        if plain_rank {
            // row-level ranking: the rows themselves, by the measure's column
            let col = measure.as_ref().and_then(|m| m.column.clone()).or_else(|| {
                money_col(main).map(|c| ColRef {
                    table: 0,
                    column: c,
                })
            });
            if let Some(col) = col {
                if let Some(pk) = mt.pk() {
                    columns.push(ColRef {
                        table: 0,
                        column: pk.to_string(),
                    });
                }
                if let Some(name) = self.name_column(main) {
                    columns.push(ColRef {
                        table: 0,
                        column: name,
                    });
                }
                // other columns the question names ("which depot was it from")
                for m in ms {
                    if let Kind::Col(cs, _) = &m.kind
                        && let Some(c) = cs.iter().find(|c| c.0 == main)
                    {
                        let c = ColRef {
                            table: 0,
                            column: self.c(*c).name.clone(),
                        };
                        if c != col && !columns.contains(&c) {
                            columns.push(c);
                        }
                    }
                }
                columns.push(col);
                let out = group_by.len() + columns.len() - 1;
                let desc = order.map(|(d, _)| d).unwrap_or(true);
                let plan = QueryPlan {
                    table: mt.name.clone(),
                    related,
                    columns,
                    measures: Vec::new(),
                    group_by,
                    filters,
                    time: time_range,
                    order: Some(Order {
                        output: out,
                        descending: desc,
                    }),
                    limit: Some(limit_n.unwrap_or(1)),
                    lookup: None,
                    hide_measure: false,
                    having: Vec::new(),
                    assumed: Vec::new(),
                };
                return self.finish(plan, toks, used, &trace(unresolved));
            }
        }
        // "ward of <name>", "status of member <number>": columns of the rows a
        // value identifies (a name, or a value of a wide column)
        let identifies = |f: &Filter| {
            f.column.table == 0
                && matches!(&f.op, Op::In(v) if v.len() == 1)
                && mt.col(&f.column.column).is_some_and(|c| {
                    c.distinct > MAX_CATEGORICAL
                        || c.stems.last().is_some_and(|s| *s == stem("name"))
                })
        };
        let attrs: Vec<ColRef> = ms
            .iter()
            .filter_map(|m| match &m.kind {
                Kind::Col(cs, _) => cs.iter().find(|c| c.0 == main).map(|c| ColRef {
                    table: 0,
                    column: self.c(*c).name.clone(),
                }),
                _ => None,
            })
            .filter(|c| !filters.iter().any(|f| f.column == *c))
            .collect();
        let share_q = has(shares::SHARE_WORDS);
        if measure.is_none()
            && !count_q
            && !share_q
            && group_by.is_empty()
            && order.is_none()
            && !attrs.is_empty()
            && filters.iter().any(identifies)
        {
            let plan = QueryPlan::rows(
                mt.name.clone(),
                related,
                attrs,
                group_by,
                filters,
                time_range,
            );
            return self.finish(plan, toks, used, &trace(unresolved));
        }
        // "list the customers in LATAM with a risk score above 0.8": the rows themselves
        // "agents with a rating of 4 or higher", "urgent cases with no owner":
        // a noun phrase with conditions (and no time window, which asks how many) lists too
        let asked = matches!(
            words_l.first().map(String::as_str),
            Some(
                "how"
                    | "what"
                    | "whats"
                    | "when"
                    | "where"
                    | "is"
                    | "are"
                    | "was"
                    | "were"
                    | "do"
                    | "does"
                    | "did"
                    | "can"
                    | "could"
                    | "tell"
                    | "count"
                    | "number"
                    | "total"
            )
        );
        // an existence or absence of related rows is a condition too
        let conditioned = !filters.is_empty()
            || related
                .iter()
                .any(|r| matches!(r.link, Link::Exists | Link::Anti));
        let noun_phrase = !asked && time_range.is_none() && conditioned;
        let listing = measure.is_none()
            && !count_q
            && !share_q
            && group_by.is_empty()
            && order.is_none()
            && (noun_phrase
                || matches!(
                    words_l.first().map(String::as_str),
                    Some("list" | "show" | "display" | "give" | "find" | "which" | "who")
                ))
            && ms
                .iter()
                .any(|m| matches!(&m.kind, Kind::Table(ts) if ts.contains(&main)));
        if listing {
            if let Some(pk) = mt.pk() {
                columns.push(ColRef {
                    table: 0,
                    column: pk.to_string(),
                });
            }
            // a readable name beside the key, when the table has one
            if let Some(c) = mt.columns.iter().find(|c| {
                c.kind == ColKind::Text
                    && c.stems.last().is_some_and(|s| *s == stem("name"))
                    && !c.is_key
            }) {
                columns.push(ColRef {
                    table: 0,
                    column: c.name.clone(),
                });
            }
            for f in &filters {
                if f.column.table == 0 && !columns.contains(&f.column) {
                    columns.push(f.column.clone());
                }
            }
            let plan = QueryPlan::rows(
                mt.name.clone(),
                related,
                columns,
                group_by,
                filters,
                time_range,
            );
            return self.finish(plan, toks, used, &trace(unresolved));
        }
        let measure = measure.unwrap_or(Measure {
            when: Vec::new(),
            agg: Agg::Count,
            column: None,
        });
        // ---- shares and several measures
        let share = if has(shares::SHARE_WORDS) {
            let of = measure.column.clone().filter(|_| measure.agg == Agg::Sum);
            let table_of = |k: usize| self.table_idx(main, &related, k);
            self.share_measure(toks, ms, &mut filters, &table_of, of, used)
        } else {
            None
        };
        match share {
            Some(s) => measures.push(s),
            None => match self.several_measures(toks, ms, main, used) {
                Some(several) if order.is_none() => measures = several,
                _ => measures.push(measure),
            },
        }
        let plan_order = order.map(|(desc, _)| Order {
            output: group_by.len() + columns.len(),
            descending: desc,
        });
        if group_by.is_empty() && limit_n.is_some() && plan_order.is_none() {
            limit_n = None;
        }
        if group_by.is_empty() {
            hide_measure = false;
        }
        let having = if group_by.is_empty() {
            Vec::new()
        } else {
            group_having
        };
        let plan = QueryPlan {
            table: mt.name.clone(),
            related,
            columns,
            measures,
            group_by,
            filters,
            time: time_range,
            order: plan_order,
            limit: if order.is_some() { limit_n } else { None },
            lookup: None,
            hide_measure,
            having,
            assumed: Vec::new(),
        };
        self.finish(plan, toks, used, &trace(unresolved))
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::sql;

    #[test]
    fn the_shape_the_parts_take() {
        // a ranking of groups, a listing, a series
        let q = sql("top 3 agents by tickets");
        assert!(
            q.contains("GROUP BY t0.agent_id") && q.ends_with("DESC LIMIT 3"),
            "{q}"
        );
        let q = sql("list urgent tickets with resolution minutes above 60");
        assert!(q.starts_with("SELECT t0.ticket_id AS ticket_id"), "{q}");
        let q = sql("tickets per hour today");
        assert!(q.contains("date_trunc('hour', t0.opened_at)"), "{q}");
    }
}
