//! Stage 4, the frame: the main table, the measure column, the entity ranked or counted,
//! the mentions that group — the roles the mentions play before they are resolved.

use super::account::Trace;
use super::lexicon::Question;
use super::mention::{ColAt, Kind, Mention};
use super::shape::Shape;
use super::tables::is_verb_time;
use super::words::*;
use super::{Parsed, Parser};
use crate::llm::plan::Agg;
use crate::llm::schema::ColKind;
use crate::llm::text::{TokKind, is_stopword, stem};

/// The roles the mentions play around the main table.
pub(super) struct Frame {
    pub main: usize,
    /// How strongly the mentions point at each table.
    pub scores: Vec<f32>,
    /// Where the mentions a grouping marker introduces start ("per region", "by channel").
    pub grouped: Vec<usize>,
    /// "which" / "what".
    pub which_pos: Option<usize>,
    /// The entity a ranking ranks ("which store", "top 5 merchants").
    pub rank_entity: Option<Mention>,
    /// The aggregation word and where it stands.
    pub agg_word: Option<(Agg, usize)>,
    /// The aggregation is of a value (sum, average, median, min, max), not a count.
    pub agg_is_value: bool,
    /// Numeric columns named as the measure.
    pub numeric: Vec<Mention>,
    pub money_pos: Option<usize>,
    pub qty_pos: Option<usize>,
    pub distinct_pos: Option<usize>,
    /// "how many distinct customers": the entity counted once each.
    pub distinct_entity: Option<Mention>,
    pub measure_col: Option<ColAt>,
    /// What the accounting needs to know of the stages so far.
    pub trace: Trace,
}

impl Frame {
    pub fn is_group_pos(&self, m: &Mention) -> bool {
        self.grouped.contains(&m.start)
    }

    pub fn is_rank_entity(&self, m: &Mention) -> bool {
        self.rank_entity
            .as_ref()
            .is_some_and(|r| r.start == m.start)
    }
}

impl Parser<'_> {
    pub(super) fn frame(
        &self,
        q: &Question,
        ms: &[Mention],
        sh: &Shape,
        semantic_links: usize,
    ) -> Result<Frame, Parsed> {
        let Question {
            toks,
            used,
            words: words_l,
            time,
            limit,
            thresholds: num_cmps,
            typos,
            ..
        } = q;
        let (limit, typos) = (*limit, *typos);
        let n = toks.len();
        let count_q = sh.count;
        let pos_of = |w: &[&str]| q.pos_of(w);
        let mut scores = self.scores(ms, words_l);
        // "customers with more than 3 accounts": the rows counted are not what is asked about
        if ms
            .iter()
            .filter(|m| matches!(m.kind, Kind::Table(_)))
            .count()
            >= 2
        {
            let ats = num_cmps
                .iter()
                .map(|th| th.0)
                .chain(q.exists_at.iter().copied());
            for at in ats {
                if let Some(i) = self.counted_rows(q, ms, at)
                    && let Kind::Table(ts) = &ms[i].kind
                {
                    let w = if ms[i].semantic { 1.5 } else { 3.0 };
                    ts.iter().for_each(|t| scores[*t] -= w);
                }
            }
        }
        let marker_before = |m: &Mention| -> bool {
            let mut k = m.start;
            while k > 0 {
                let w = words_l[k - 1].as_str();
                if matches!(w, "per" | "by" | "each" | "every") {
                    return !(w == "by"
                        && limit.is_some()
                        && limit.map(|(p, _)| p < k).unwrap_or(false)
                        && self_is_rank_by(words_l, k - 1));
                }
                if matches!(w, "the" | "a" | "in" | "for" | "of" | "down") {
                    k -= 1;
                    continue;
                }
                break;
            }
            false
        };
        // "by region and channel": a column right after a grouped one (joined by "and" or
        // a comma) is grouped too
        // a value that names a flag ("by roaming") groups by the flag
        let groupable = |m: &Mention| match &m.kind {
            Kind::Col(..) | Kind::Table(_) => true,
            Kind::Val(vs) => self.s.tables.iter().any(|t| {
                t.columns
                    .iter()
                    .any(|c| c.kind == ColKind::Bool && c.stems.last() == Some(&stem(&vs[0].2)))
            }),
            _ => false,
        };
        let mut grouped_starts: Vec<usize> = Vec::new();
        for (i, m) in ms.iter().enumerate() {
            let chained = i > 0
                && grouped_starts.contains(&ms[i - 1].start)
                && groupable(m)
                && (ms[i - 1].end == m.start
                    || ms[i - 1].end + 1 == m.start && words_l[m.start - 1] == "and");
            if marker_before(m) && groupable(m) || chained {
                grouped_starts.push(m.start);
            }
        }
        let is_group_pos = |m: &Mention| -> bool { grouped_starts.contains(&m.start) };

        // which X / top N X: the entity ranked
        let which_pos = pos_of(&["which", "what"]);
        let rank_entity: Option<&Mention> = ms.iter().find(|m| {
            let before_ok = limit
                .map(|(p, _)| m.start > p && m.start <= p + 3)
                .unwrap_or(false)
                || which_pos.map(|p| m.start == p + 1).unwrap_or(false);
            // "least popular payment method", "the busiest store", "the latest order"
            let sup = |k: usize| {
                let w = words_l[k].as_str();
                MAX_WORDS.contains(&w)
                    || MIN_WORDS.contains(&w)
                    || RECENCY_WORDS.contains(&w) && !used[k]
            };
            let adjective_ok = !words_l.iter().any(|w| w == "when")
                && which_pos.is_none()
                && limit.is_none()
                && !time.bucket_is_target
                && (m.start >= 1 && sup(m.start - 1)
                    || m.start >= 2
                        && sup(m.start - 2)
                        && matches!(
                            words_l[m.start - 1].as_str(),
                            "popular"
                                | "common"
                                | "frequent"
                                | "used"
                                | "active"
                                | "expensive"
                                | "valuable"
                                | "recent"
                        ));
            let numeric =
                matches!(&m.kind, Kind::Col(cs, _) if cs.iter().any(|c| self.c(*c).kind.numeric()));
            // "the supplier with the highest rating": the rows ranked by the column after
            let w = |k: usize| words_l.get(k).map(String::as_str).unwrap_or("");
            let with_ok = matches!(m.kind, Kind::Table(_))
                && !words_l.iter().any(|w| w == "when")
                && which_pos.is_none()
                && limit.is_none()
                && !time.bucket_is_target
                && {
                    // past the conditions on it ("patient in cardio with …")
                    let mut k = m.end;
                    while k < m.end + 4
                        && (is_stopword(w(k)) && !matches!(w(k), "with" | "has" | "had")
                            || ms.iter().any(|o| o.start <= k && k < o.end))
                    {
                        k += 1;
                    }
                    matches!(w(k), "with" | "having" | "has" | "had")
                        && (k + 1..k + 3)
                            .any(|j| MAX_WORDS.contains(&w(j)) || MIN_WORDS.contains(&w(j)))
                };
            (before_ok || adjective_ok && !numeric || with_ok)
                && matches!(m.kind, Kind::Table(_) | Kind::Col(..))
        });
        // The explicit measure: an aggregation word and the numeric column after it. In a
        // ranking ("which X had the highest total …") the superlative orders, it does not
        // aggregate.
        let free_words: Vec<String> = words_l
            .iter()
            .enumerate()
            .map(|(i, w)| if used[i] { String::new() } else { w.clone() })
            .collect();
        let agg_word = self.agg_word(&free_words, count_q || rank_entity.is_some());
        let numeric_mentions: Vec<&Mention> = ms
            .iter()
            .filter(|m| {
                // the column a comparison is on is a filter, not the measure
                !num_cmps.iter().any(|(p, _, _)| {
                    m.end <= *p && m.end + 2 >= *p
                        || m.start > *p
                            && m.start <= p + 5
                            && !ms.iter().any(|o| {
                                // another mention between them, unless of the same column
                                // ("500 kg of load capacity")
                                o.start > *p
                                    && o.start < m.start
                                    && !matches!((&o.kind, &m.kind), (Kind::Col(a, _), Kind::Col(b, _)) if a.iter().any(|c| b.contains(c)))
                            })
                })
            })
            .filter(|m| m.start == 0 || !matches!(words_l[m.start - 1].as_str(), "negative" | "positive"))
            .filter(|m| matches!(&m.kind, Kind::Col(cs, _) if cs.iter().any(|tc| self.c(*tc).kind.numeric() && !self.c(*tc).is_key)))
            .filter(|m| !is_group_pos(m))
            .collect();
        let money_pos = words_l
            .iter()
            .position(|w| MONEY_WORDS.contains(&w.as_str()));
        let qty_pos = words_l
            .iter()
            .position(|w| QUANTITY_WORDS.contains(&w.as_str()));

        // counted entity: the table named after "how many" / "number of" / "count of"
        let count_start = pos_of(&["many", "number", "count"]).unwrap_or(0);
        let distinct_pos = pos_of(&["distinct", "unique", "different"]);
        let counted_table: Option<&Mention> = ms.iter().find(|m| {
            m.start >= count_start && matches!(m.kind, Kind::Table(_)) && !is_group_pos(m)
        });

        let mut main: Option<usize> = None;
        let mut measure_col: Option<ColAt> = None;
        let pick = |cands: &[usize]| self.best_table(&scores, cands.iter().copied());
        let agg_is_value = matches!(
            agg_word,
            Some((Agg::Sum | Agg::Avg | Agg::Median | Agg::Min | Agg::Max, _))
        );
        if let Some(m) = numeric_mentions.first()
            && (agg_is_value || !count_q)
            && let Kind::Col(cs, _) = &m.kind
        {
            let tables: Vec<usize> = cs
                .iter()
                .filter(|tc| self.c(**tc).kind.numeric())
                .map(|tc| tc.0)
                .collect();
            if let Some(t) = pick(&tables) {
                main = Some(t);
                measure_col = cs.iter().copied().find(|tc| tc.0 == t);
            }
        }
        let mut distinct_entity: Option<&Mention> = None;
        if main.is_none()
            && count_q
            && let Some(m) = counted_table
            && let Kind::Table(ts) = &m.kind
        {
            if distinct_pos.is_some_and(|d| d < m.start) {
                distinct_entity = Some(m);
            } else {
                main = pick(ts);
            }
        }
        if main.is_none() {
            // Skip the distinct entity's own table: count distinct customers *in* transactions.
            let mut sc = scores.clone();
            if let Some(Kind::Table(ts)) = distinct_entity.map(|m| &m.kind) {
                for t in ts {
                    sc[*t] -= 3.0;
                }
            }
            main = self.best_table(&sc, (0..sc.len()).filter(|t| sc[*t] > 0.0));
        }
        // A money measure on a table without money ("total spent by premium customers"): the
        // money lives in a related table, which becomes the main one.
        if let Some(m0) = main
            && measure_col.is_none()
            && !count_q
            && ((money_pos.is_some() || agg_is_value)
                && qty_pos.is_none()
                && self.money_column(m0).is_none()
                || qty_pos.is_some() && self.quantity_column(m0).is_none())
        {
            let wanted = |t: usize| {
                if qty_pos.is_some() {
                    self.quantity_column(t).is_some()
                } else {
                    self.money_column(t).is_some()
                }
            };
            let alt = self.best_table(
                &scores,
                (0..self.s.tables.len()).filter(|t| wanted(*t) && self.relate(*t, m0).is_some()),
            );
            if alt.is_some() {
                main = alt;
            }
        }
        let Some(main) = main else {
            return Err(Parsed::clarify(
                "I could not tell which table the question is about.".into(),
                self.s.overview(),
            ));
        };
        // two tables the question names alike ("transactions"): a verb naming one's time
        // column decides ("created between …"); else one holding most of the rows is taken,
        // which the answer says, below the reliable band; else ask which
        let mut main = main;
        let mut assumed: Vec<String> = Vec::new();
        let mut guesses = 0;
        let tie = ms.iter().find_map(|m| match &m.kind {
            Kind::Table(ts) if ts.len() >= 2 && ts.contains(&main) => {
                let tied: Vec<usize> = ts
                    .iter()
                    .copied()
                    .filter(|t| (scores[*t] - scores[main]).abs() < 1e-6)
                    .collect();
                (tied.len() >= 2).then_some((m, tied))
            }
            _ => None,
        });
        if let Some((m, mut tied)) = tie {
            let timed: Vec<usize> = tied
                .iter()
                .copied()
                .filter(|t| {
                    // a verb of its time column, other than the table's own name ("visits")
                    toks.iter().enumerate().any(|(i, tok)| {
                        !(m.start..m.end).contains(&i)
                            && tok.kind == TokKind::Word
                            && self.t(*t).columns.iter().any(|c| {
                                is_verb_time(c, &[ColKind::Timestamp, ColKind::Date], &tok.stem)
                            })
                    })
                })
                .collect();
            if !timed.is_empty() && timed.len() < tied.len() {
                tied = timed;
            }
            let said = toks[m.start..m.end]
                .iter()
                .map(|t| t.raw.as_str())
                .collect::<Vec<_>>()
                .join(" ");
            tied.sort_by_key(|t| std::cmp::Reverse(self.t(*t).rows));
            let names: Vec<String> = tied.iter().map(|t| self.t(*t).name.clone()).collect();
            if tied.len() == 1 {
                main = tied[0];
            } else if self.t(tied[0]).rows >= 3 * self.t(tied[1]).rows.max(1) {
                main = tied[0];
                guesses = 2;
                assumed.push(format!(
                    "'{said}' also names {}; this answer is from {}, which holds most of the rows (name the other to ask about it)",
                    names[1..].join(", "),
                    names[0]
                ));
            } else {
                return Err(Parsed::Clarify {
                    message: format!(
                        "'{said}' names {} tables and nothing else in the question decides between them: {}. Name the one you mean (by its source, or with a column or value only it has).",
                        names.len(),
                        names.join(", ")
                    ),
                    candidates: names,
                    understood: None,
                    unmatched: vec![said],
                });
            }
        }
        // the measure column of the table taken, by name
        if let Some((t, c)) = measure_col
            && t != main
        {
            let name = &self.t(t).columns[c].name;
            measure_col = self
                .t(main)
                .columns
                .iter()
                .position(|x| x.name == *name)
                .map(|c| (main, c));
        }
        let consumed_early: Vec<usize> = (0..n).filter(|i| used[*i]).collect();
        let heads: Vec<usize> = ms
            .iter()
            .filter(|m| {
                matches!(&m.kind, Kind::Val(_))
                    || matches!(&m.kind, Kind::Col(cs, _) if cs.iter().all(|c| self.c(*c).kind == ColKind::Bool))
            })
            .map(|m| m.end)
            .filter(|e| {
                toks.get(*e).is_some_and(|t| {
                    t.kind == TokKind::Word && !is_stopword(&t.lower) && !is_keyword(&t.lower)
                }) && !used[*e]
            })
            .collect();
        let col_mentions: Vec<(String, Vec<String>)> = ms
            .iter()
            .filter(|m| {
                // "whatever their status", "any status": named to be ignored
                let suppressed = (1..=2)
                    .any(|k| m.start >= k && SUPPRESSORS.contains(&words_l[m.start - k].as_str()));
                // "store sales", "in-store purchases": an id column naming the kind of row
                let qualifier = matches!(&m.kind, Kind::Col(cs, _) if cs.iter().all(|c| {
                    let c = self.c(*c);
                    !c.is_key && c.stems.len() >= 2 && c.stems.last().is_some_and(|l| l == "id")
                })) && (used.get(m.end).copied().unwrap_or(false)
                    || toks.get(m.end).is_some_and(|t| is_stopword(&t.lower)));
                !suppressed && !qualifier
            })
            .filter_map(|m| match &m.kind {
                Kind::Col(cs, _) | Kind::Null(cs, _) | Kind::Text(cs, _) | Kind::Id(cs, _) => {
                    Some((
                        toks[m.start..m.end]
                            .iter()
                            .map(|t| t.raw.as_str())
                            .collect::<Vec<_>>()
                            .join(" "),
                        cs.iter().map(|c| self.c(*c).name.clone()).collect(),
                    ))
                }
                _ => None,
            })
            .collect();
        Ok(Frame {
            main,
            scores,
            grouped: grouped_starts,
            which_pos,
            rank_entity: rank_entity.cloned(),
            agg_word,
            agg_is_value,
            numeric: numeric_mentions.into_iter().cloned().collect(),
            money_pos,
            qty_pos,
            distinct_pos,
            distinct_entity: distinct_entity.cloned(),
            measure_col,
            trace: Trace {
                semantic: semantic_links,
                typos,
                unresolved: 0,
                limit: limit.map(|(p, _)| p),
                time: time.clone(),
                columns: col_mentions,
                guesses,
                assumed,
                heads,
                consumed: consumed_early,
                dropped: Vec::new(),
                having: Vec::new(),
            },
        })
    }

    /// How strongly the mentions point at each table.
    fn scores(&self, ms: &[Mention], words_l: &[String]) -> Vec<f32> {
        let mut s = vec![0f32; self.s.tables.len()];
        // "sales revenue", "order value", "transaction volume": the table measured
        for m in ms {
            if let Kind::Table(ts) = &m.kind
                && words_l.get(m.end).is_some_and(|w| {
                    MONEY_WORDS.contains(&w.as_str()) || QUANTITY_WORDS.contains(&w.as_str())
                })
            {
                ts.iter().for_each(|t| s[*t] += 2.0);
            }
        }
        // each mention counts once per table it could belong to
        let mut add = |tables: &mut dyn Iterator<Item = usize>, weight: f32| {
            let mut seen = Vec::new();
            for t in tables {
                if !seen.contains(&t) {
                    s[t] += weight;
                    seen.push(t);
                }
            }
        };
        for m in ms {
            let w = if m.semantic { 0.5 } else { 1.0 };
            match &m.kind {
                Kind::Table(ts) => add(&mut ts.iter().copied(), 3.0 * w),
                Kind::Col(cs, partial) => add(
                    &mut cs.iter().map(|c| c.0),
                    if *partial { 0.75 } else { 2.0 } * w,
                ),
                Kind::Val(vs) => add(&mut vs.iter().map(|v| v.0), 2.0 * w),
                Kind::Text(cs, _) | Kind::Id(cs, _) => add(&mut cs.iter().map(|c| c.0), 2.0),
                Kind::Null(cs, _) => add(&mut cs.iter().map(|c| c.0), 1.5 * w),
                Kind::Absent(_) => {}
            }
        }
        // "in-store purchases": an entity column right before what is counted qualifies it
        for w in ms.windows(2) {
            if w[0].end == w[1].start
                && matches!(w[1].kind, Kind::Val(_) | Kind::Table(_))
                && let Kind::Col(cs, false) = &w[0].kind
                && cs.iter().all(|c| {
                    let c = self.c(*c);
                    !c.is_key && c.stems.len() >= 2 && c.stems.last().is_some_and(|l| l == "id")
                })
            {
                add(&mut cs.iter().map(|c| c.0), 1.0);
            }
        }
        s
    }

    /// The highest-scoring of `cands`; the larger table wins a tie.
    fn best_table(&self, scores: &[f32], cands: impl Iterator<Item = usize>) -> Option<usize> {
        cands.max_by(|a, b| {
            scores[*a]
                .partial_cmp(&scores[*b])
                .unwrap_or(std::cmp::Ordering::Equal)
                .then(self.t(*a).rows.cmp(&self.t(*b).rows))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::mention::Kind;
    use super::super::tests::staged;

    #[test]
    fn the_main_table_the_measure_and_the_groups() {
        staged("average resolution minutes by team", |st| {
            let (ms, f) = (&st.ms, &st.f);
            assert_eq!(f.main, 0);
            assert_eq!(f.measure_col, Some((0, 4)));
            let team = ms
                .iter()
                .find(|m| matches!(&m.kind, Kind::Col(cs, _) if cs.contains(&(1, 1))))
                .expect("team");
            assert!(f.is_group_pos(team));
        });
        // the rows counted after a threshold are not the main table
        staged("agents with more than 3 urgent tickets", |st| {
            let f = &st.f;
            assert_eq!(f.main, 1);
        });
    }
}
