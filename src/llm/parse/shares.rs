//! Measures beyond one: several in one question ("count and total value by channel",
//! "min, max and average fee") and shares ("what percentage of orders were refunded",
//! "share of express shipments per carrier").

use super::Parser;
use super::mention::{ColAt, Kind, Mention};
use super::words::*;
use crate::llm::plan::{Agg, ColRef, Filter, Measure};
use crate::llm::text::Token;

/// Words that make a measure a share of the whole.
pub const SHARE_WORDS: &[&str] = &[
    "percentage",
    "percent",
    "share",
    "proportion",
    "fraction",
    "ratio",
    "pct",
];
/// Words that start the condition of a share ("… that were refunded").
const SPLIT_WORDS: &[&str] = &[
    "that", "which", "who", "are", "were", "is", "was", "came", "come", "coming", "being", "had",
    "have", "has",
];

impl Parser<'_> {
    /// The aggregation word of the question and where it stands; in a ranking the
    /// superlative orders, it does not aggregate.
    pub(super) fn agg_word(&self, words_l: &[String], ranking: bool) -> Option<(Agg, usize)> {
        for (i, w) in words_l.iter().enumerate() {
            let w = w.as_str();
            // "the single largest charge": one row's value, even in a ranking
            let single = i > 0 && matches!(words_l[i - 1].as_str(), "single" | "individual");
            if single && MAX_WORDS.contains(&w) {
                return Some((Agg::Max, i));
            }
            if single && MIN_WORDS.contains(&w) {
                return Some((Agg::Min, i));
            }
            if AVG_WORDS.contains(&w) {
                return Some((Agg::Avg, i));
            }
            if w == "median" {
                return Some((Agg::Median, i));
            }
            if SUM_WORDS.contains(&w) {
                // "total" directly naming a column is that column, handled as a mention
                return Some((Agg::Sum, i));
            }
            if matches!(w, "max" | "maximum")
                || (matches!(w, "largest" | "biggest" | "highest" | "greatest") && !ranking)
            {
                return Some((Agg::Max, i));
            }
            if matches!(w, "min" | "minimum")
                || (matches!(w, "smallest" | "lowest" | "cheapest") && !ranking)
            {
                return Some((Agg::Min, i));
            }
        }
        None
    }

    /// The aggregation each measure word asks for, with its position: "how many" / "count" /
    /// "number of" count, "distinct" after them counts distinct, and the value words.
    fn measure_words(&self, toks: &[Token], used: &[bool]) -> Vec<(usize, Agg)> {
        let w = |i: usize| toks.get(i).map(|t| t.lower.as_str()).unwrap_or("");
        let mut out: Vec<(usize, Agg)> = Vec::new();
        for (i, taken) in used.iter().enumerate().take(toks.len()) {
            // a word another stage took ("min" of "30 min") measures nothing
            if *taken {
                continue;
            }
            let agg = match w(i) {
                "many" if i > 0 && w(i - 1) == "how" => Agg::Count,
                "count" | "counts" => Agg::Count,
                "number" if w(i + 1) == "of" => Agg::Count,
                "distinct" | "unique" => {
                    if let Some(last) = out.last_mut()
                        && last.1 == Agg::Count
                        && last.0 + 1 == i
                    {
                        last.1 = Agg::CountDistinct;
                        last.0 = i;
                        continue;
                    }
                    Agg::CountDistinct
                }
                "min" | "minimum" => Agg::Min,
                "max" | "maximum" => Agg::Max,
                "median" => Agg::Median,
                x if AVG_WORDS.contains(&x) => Agg::Avg,
                x if SUM_WORDS.contains(&x) => Agg::Sum,
                _ => continue,
            };
            out.push((i, agg));
        }
        out
    }

    /// Several measures over the main table, when the question names two or more.
    pub(super) fn several_measures(
        &self,
        toks: &[Token],
        ms: &[Mention],
        main: usize,
        used: &mut [bool],
    ) -> Option<Vec<Measure>> {
        let mut words = self.measure_words(toks, used);
        let mt = self.t(main);
        // "average total": a measure word right after another that is a column's own name
        let mut named: Vec<(usize, String)> = Vec::new();
        let mut k = 1;
        while k < words.len() {
            let (p, _) = words[k];
            let own = mt
                .columns
                .iter()
                .find(|c| c.kind.numeric() && c.stems.len() == 1 && c.stems[0] == toks[p].stem);
            if words[k - 1].0 + 1 == p
                && let Some(c) = own
            {
                named.push((words[k - 1].0, c.name.clone()));
                used[p] = true;
                words.remove(k);
                continue;
            }
            k += 1;
        }
        if words.len() < 2 {
            return None;
        }
        // the column each word measures: the first mention after it, before the next word
        let mut cols: Vec<Option<ColRef>> = Vec::new();
        for (k, (p, agg)) in words.iter().enumerate() {
            let until = words.get(k + 1).map(|x| x.0).unwrap_or(toks.len());
            let m = ms
                .iter()
                .find(|m| m.start > *p && m.start < until && !m.negated);
            let col = m.and_then(|m| match &m.kind {
                Kind::Col(cs, _) => cs
                    .iter()
                    .find(|tc| tc.0 == main)
                    .filter(|tc| *agg == Agg::CountDistinct || self.c(**tc).kind.numeric())
                    .map(|tc| self.c(*tc).name.clone()),
                // "distinct patients": the main table's column holding their key
                Kind::Table(ts) if *agg == Agg::CountDistinct => ts.iter().find_map(|t| {
                    self.t(*t)
                        .pk()
                        .filter(|pk| mt.col(pk).is_some())
                        .map(str::to_string)
                }),
                _ => None,
            });
            let col = named
                .iter()
                .find(|(q, _)| q == p)
                .map(|(_, c)| c.clone())
                .or(col);
            cols.push(col.map(|column| ColRef { table: 0, column }));
        }
        // "min, max and average fee": a word with no column of its own shares the next one's
        for k in (0..cols.len()).rev() {
            if cols[k].is_none() && !matches!(words[k].1, Agg::Count) {
                cols[k] = cols.get(k + 1).cloned().flatten();
            }
        }
        let mut out: Vec<Measure> = Vec::new();
        for ((p, agg), col) in words.iter().zip(cols) {
            let m = match (agg, col) {
                (Agg::Count, _) => Measure::new(Agg::Count, None),
                (a, Some(c)) => Measure::new(*a, Some(c)),
                // a value word with nothing to measure ("in total") adds no measure
                (_, None) => continue,
            };
            if !out.contains(&m) {
                out.push(m);
            }
            used[*p] = true;
        }
        (out.len() >= 2).then_some(out)
    }

    /// Moves the filters a share's condition names out of `filters` and into the share
    /// measure. The condition is what follows "that / were / came …" after the share word,
    /// else the value right after "share of" ("share of express shipments").
    pub(super) fn share_measure(
        &self,
        toks: &[Token],
        ms: &[Mention],
        filters: &mut Vec<Filter>,
        table_of: &dyn Fn(usize) -> usize,
        of_column: Option<ColRef>,
        used: &mut [bool],
    ) -> Option<Measure> {
        let w = |i: usize| toks.get(i).map(|t| t.lower.as_str()).unwrap_or("");
        let sp = (0..toks.len()).find(|i| SHARE_WORDS.contains(&w(*i)))?;
        let split = (sp + 1..toks.len())
            .find(|k| SPLIT_WORDS.contains(&w(*k)) && ms.iter().any(|m| m.start > *k));
        let cond_mentions: Vec<&Mention> = match split {
            Some(k) => ms.iter().filter(|m| m.start > k).collect(),
            None => ms
                .iter()
                .filter(|m| m.start > sp && m.start <= sp + 3)
                .take(1)
                .collect(),
        };
        let cols: Vec<ColAt> = cond_mentions
            .iter()
            .flat_map(|m| match &m.kind {
                // a value can name a flag of another table ("were refunded" → `refunded`)
                Kind::Val(vs) => vs
                    .iter()
                    .map(|v| (v.0, v.1))
                    .chain(vs.iter().flat_map(|v| {
                        let st = crate::llm::text::stem(&v.2);
                        self.columns_where(move |c| {
                            c.kind == crate::llm::schema::ColKind::Bool
                                && c.stems.last() == Some(&st)
                        })
                    }))
                    .collect::<Vec<_>>(),
                Kind::Col(cs, _) | Kind::Text(cs, _) | Kind::Null(cs, _) | Kind::Id(cs, _) => {
                    cs.clone()
                }
                _ => Vec::new(),
            })
            .collect();
        let (when, rest): (Vec<Filter>, Vec<Filter>) = filters.drain(..).partition(|f| {
            let t = table_of(f.column.table);
            cols.iter()
                .any(|(ct, cc)| *ct == t && self.c((*ct, *cc)).name == f.column.column)
        });
        *filters = rest;
        if when.is_empty() {
            return None;
        }
        used[sp] = true;
        if let Some(k) = split {
            used[k] = true;
        }
        Some(Measure {
            agg: Agg::Share,
            column: of_column,
            when,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::sql;

    #[test]
    fn a_share_and_several_measures() {
        let q = sql("what percentage of tickets are urgent");
        assert!(
            q.contains(
                "100.0 * SUM(CASE WHEN t0.priority = 'urgent' THEN 1 ELSE 0 END) / COUNT(*)"
            ),
            "{q}"
        );
        let q = sql("count and average resolution minutes by priority");
        assert!(
            q.contains("COUNT(*)") && q.contains("AVG(t0.resolution_minutes)"),
            "{q}"
        );
    }
}
