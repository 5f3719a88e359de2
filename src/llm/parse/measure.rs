//! Stage 7, the measure: what is computed over the rows — a count, a count of distinct
//! entities, a sum, an average of a level, a money or quantity total, the first or last time.

use super::Parser;
use super::frame::Frame;
use super::lexicon::Question;
use super::mention::{ColAt, Kind, Mention};
use super::resolve::Resolved;
use super::shape::Shape;
use super::words::*;
use crate::llm::plan::*;
use crate::llm::schema::ColKind;
use crate::llm::text::stem;

impl Parser<'_> {
    pub(super) fn main_measure(
        &self,
        q: &mut Question,
        ms: &[Mention],
        sh: &Shape,
        f: &Frame,
        res: &mut Resolved,
    ) -> Option<Measure> {
        let Question {
            toks,
            used,
            words: words_l,
            ..
        } = q;
        let main = f.main;
        let mt = self.t(main);
        let count_q = sh.count;
        let (agg_word, agg_is_value) = (f.agg_word, f.agg_is_value);
        let (measure_col, money_pos, qty_pos, distinct_pos) =
            (f.measure_col, f.money_pos, f.qty_pos, f.distinct_pos);
        let numeric_mentions: Vec<&Mention> = f.numeric.iter().collect();
        let distinct_entity = f.distinct_entity.as_ref();
        let Resolved {
            related, group_by, ..
        } = res;
        let has = |w: &[&str]| words_l.iter().any(|x| w.contains(&x.as_str()));
        let money_col = |t: usize| -> Option<String> { self.money_column(t) };
        let measure_ref = |tc: ColAt, related: &Vec<Related>| -> ColRef {
            let k = if tc.0 == main {
                0
            } else {
                related
                    .iter()
                    .position(|r| r.table == self.t(tc.0).name)
                    .map(|i| i + 1)
                    .unwrap_or(0)
            };
            ColRef {
                table: k,
                column: self.c(tc).name.clone(),
            }
        };
        let mut measure: Option<Measure> = None;
        let explicit_col = measure_col.or_else(|| {
            numeric_mentions.iter().find_map(|m| match &m.kind {
                Kind::Col(cs, _) => cs
                    .iter()
                    .copied()
                    .find(|tc| tc.0 == main && self.c(*tc).kind.numeric()),
                _ => None,
            })
        });
        let quantity_col = qty_pos.and_then(|_| self.quantity_column(main));
        if let Some(d) = distinct_entity
            && let Kind::Table(ts) = &d.kind
            && let Some(key) = ts
                .iter()
                .find_map(|t| self.t(*t).pk().filter(|pk| mt.col(pk).is_some()))
        {
            measure = Some(Measure {
                when: Vec::new(),
                agg: Agg::CountDistinct,
                column: Some(ColRef {
                    table: 0,
                    column: key.to_string(),
                }),
            });
        } else if let Some(dp) = distinct_pos
            && let Some(m) = ms
                .iter()
                .find(|m| m.start > dp && matches!(m.kind, Kind::Col(..)))
            && let Kind::Col(cs, _) = &m.kind
            && let Some(tc) = cs.iter().find(|c| c.0 == main)
        {
            measure = Some(Measure {
                when: Vec::new(),
                agg: Agg::CountDistinct,
                column: Some(ColRef {
                    table: 0,
                    column: self.c(*tc).name.clone(),
                }),
            });
            group_by.retain(|g| !matches!(g, GroupKey::Column(c) if c.column == self.c(*tc).name));
        } else if count_q
            && !agg_is_value
            && let Some(q) = self.quantity_column(main).filter(|_| {
                words_l.iter().position(|w| w == "many").is_some_and(|p| {
                    words_l
                        .get(p + 1)
                        .is_some_and(|w| QUANTITY_WORDS.contains(&w.as_str()))
                })
            })
        {
            // "how many units …": the units, not the rows
            measure = Some(Measure {
                when: Vec::new(),
                agg: Agg::Sum,
                column: Some(ColRef {
                    table: 0,
                    column: q,
                }),
            });
        } else if count_q && !agg_is_value {
            measure = Some(Measure {
                when: Vec::new(),
                agg: Agg::Count,
                column: None,
            });
        } else if let Some(tc) = explicit_col {
            // a level (price, score, rate) is averaged unless asked otherwise; an amount summed
            let level = self.c(tc).stems.iter().any(|w| {
                [
                    "price",
                    "rate",
                    "score",
                    "ratio",
                    "percent",
                    "pct",
                    "temperature",
                    "age",
                    "rating",
                ]
                .iter()
                .any(|x| stem(x) == *w)
            });
            let agg = match agg_word {
                Some((a, _)) if a != Agg::Count && a != Agg::CountDistinct => a,
                _ if level => Agg::Avg,
                _ => Agg::Sum,
            };
            measure = Some(Measure {
                when: Vec::new(),
                agg,
                column: Some(measure_ref(tc, related)),
            });
        } else if let Some(q) = quantity_col {
            let agg = match agg_word {
                Some((a, _)) if a != Agg::Count => a,
                _ => Agg::Sum,
            };
            measure = Some(Measure {
                when: Vec::new(),
                agg,
                column: Some(ColRef {
                    table: 0,
                    column: q,
                }),
            });
        } else if let Some((a, _)) = agg_word
            && a != Agg::Count
        {
            if let Some(c) = money_col(main) {
                measure = Some(Measure {
                    when: Vec::new(),
                    agg: a,
                    column: Some(ColRef {
                        table: 0,
                        column: c,
                    }),
                });
            }
        } else if money_pos.is_some()
            && let Some(c) = money_col(main)
        {
            measure = Some(Measure {
                when: Vec::new(),
                agg: Agg::Sum,
                column: Some(ColRef {
                    table: 0,
                    column: c,
                }),
            });
        }
        // "When was the last order …", "what time did the first ticket come in": the latest
        // (earliest) time of the column the verb names ("closed" → closed_at), else the
        // event time.
        let when_q = has(&["when"]) || words_l.windows(2).any(|w| w[0] == "what" && w[1] == "time");
        let verb_time = self.verb_time_column(toks, main, &[ColKind::Timestamp, ColKind::Date]);
        if when_q
            && measure.is_none()
            && let Some(t) = verb_time
                .as_ref()
                .map(|(_, c)| c.clone())
                .or_else(|| mt.event_time.clone())
        {
            let first = has(&["first", "earliest", "oldest"]);
            for (i, w) in words_l.iter().enumerate() {
                if matches!(
                    w.as_str(),
                    "when"
                        | "time"
                        | "first"
                        | "earliest"
                        | "oldest"
                        | "last"
                        | "latest"
                        | "recent"
                        | "newest"
                        | "most"
                ) && (w != "time"
                    || i > 0 && words_l[i - 1] == "what"
                    || i > 0 && words_l[i - 1] == "last")
                {
                    used[i] = true;
                }
            }
            if let Some((i, _)) = &verb_time {
                used[*i] = true;
            }
            measure = Some(Measure::new(
                if first { Agg::Min } else { Agg::Max },
                Some(ColRef {
                    table: 0,
                    column: t,
                }),
            ));
        }
        measure
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::staged;
    use crate::llm::plan::Agg;

    #[test]
    fn the_measure_is_the_aggregation_of_the_column_named() {
        staged("average resolution minutes of urgent tickets", |st| {
            let m = st.measure.as_ref();
            let m = m.expect("a measure");
            assert_eq!(m.agg, Agg::Avg);
            assert_eq!(
                m.column.as_ref().map(|c| c.column.as_str()),
                Some("resolution_minutes")
            );
        });
        staged("maximum resolution minutes today", |st| {
            let m = st.measure.as_ref();
            assert_eq!(m.map(|m| m.agg), Some(Agg::Max));
        });
    }
}
