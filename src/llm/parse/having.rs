//! Conditions on a count: "customers with more than 3 accounts", "suppliers with at least 2
//! disputed invoices" (how many related rows each row has), "which hours had more than 5
//! failed logins" (how many rows each group has). A threshold whose number is followed by
//! the rows it counts, rather than by a numeric column.

use super::Parser;
use super::lexicon::{Question, Threshold};
use super::mention::{Kind, Mention};
use crate::llm::plan::{Agg, Having, Lit, Measure, Op};
use crate::llm::text::{TokKind, is_stopword};

impl Parser<'_> {
    /// The mention (an index into `ms`) of the table whose rows the threshold at `at`
    /// counts ("more than 3 accounts", "at least 2 disputed invoices"), if it counts rows.
    pub(super) fn counted_rows(&self, q: &Question, ms: &[Mention], at: usize) -> Option<usize> {
        let num = (at..q.len()).find(|k| {
            q.toks[*k].kind == TokKind::Number || matches!(q.words[*k].as_str(), "one" | "a" | "an")
        })?;
        let mut k = num + 1;
        for (i, m) in ms.iter().enumerate().filter(|(_, m)| m.start > num) {
            // only articles and qualifying values ("disputed") between the number and the rows
            if (k..m.start).any(|j| !is_stopword(&q.words[j])) || m.start > num + 4 {
                return None;
            }
            // "more than 200 calls": a plural value names the rows counted, unless a table
            // or a numeric column follows
            let plural_value = matches!(&m.kind, Kind::Val(_))
                && m.end == m.start + 1
                && q.toks[m.start].lower.ends_with('s')
                && q.toks[m.start].lower != q.toks[m.start].stem
                && !ms.iter().any(|o| {
                    o.start >= m.end
                        && o.start <= m.end + 1
                        && matches!(&o.kind, Kind::Table(_) | Kind::Col(..))
                });
            match &m.kind {
                Kind::Table(_) => return Some(i),
                Kind::Val(_) if plural_value => return Some(i),
                Kind::Val(_) => k = m.end,
                Kind::Col(cs, _) if cs.iter().all(|c| !self.c(*c).kind.numeric()) => k = m.end,
                _ => return None,
            }
        }
        None
    }
}

/// The count condition a threshold makes.
pub(super) fn count_having(th: &Threshold) -> Having {
    let (_, op, v) = *th;
    let lit = Lit::Number(v);
    Having {
        measure: Measure::new(Agg::Count, None),
        op: match op {
            ">" => Op::Gt(lit),
            ">=" => Op::Ge(lit),
            "<" => Op::Lt(lit),
            _ => Op::Le(lit),
        },
    }
}

/// The count condition rows must not meet for `h` ("fewer than 2" → not "2 or more").
pub(super) fn complement(h: Having) -> Having {
    let op = match h.op {
        Op::Lt(v) => Op::Ge(v),
        Op::Le(v) => Op::Gt(v),
        Op::Gt(v) => Op::Le(v),
        Op::Ge(v) => Op::Lt(v),
        other => other,
    };
    Having { op, ..h }
}

#[cfg(test)]
mod tests {
    use super::super::mention::Kind;
    use super::super::tests::staged;

    #[test]
    fn a_threshold_counts_the_rows_after_its_number() {
        staged("agents with more than 3 tickets", |st| {
            let (p, q, ms) = (st.p, &st.q, &st.ms);
            let i = p.counted_rows(q, ms, q.thresholds[0].0).expect("counted");
            assert!(matches!(&ms[i].kind, Kind::Table(ts) if ts == &vec![0]));
        });
        // a numeric column after the number is compared, not counted
        staged("tickets over 30 resolution minutes", |st| {
            let (p, q, ms) = (st.p, &st.q, &st.ms);
            assert_eq!(p.counted_rows(q, ms, q.thresholds[0].0), None);
        });
    }
}
