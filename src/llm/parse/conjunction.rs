//! Two conditions on related rows at once: "subscribers who both opened a ticket and
//! roamed today", "patients who booked and also cancelled this week", "of the agents who
//! closed a case today, how many also escalated one". Each clause is parsed as a question
//! of its own; the entity named before them keeps the rows whose key the rows of both
//! clauses hold (an existence on each side).

use std::ops::Range;

use super::lexicon::Question;
use super::{Parsed, Parser};
use crate::llm::plan::*;
use crate::llm::text::{TokKind, Token};

/// Words that open the first clause after the entity ("subscribers who …").
const OPENERS: &[&str] = &["who", "that", "which", "whose", "with", "having"];

/// Where the two clauses stand; the rest is the head (the entity and the shape words).
#[derive(Debug, PartialEq)]
struct Split {
    a: Range<usize>,
    b: Range<usize>,
    /// The conjunction's own words ("both", "and", "also", "as well as").
    cue: Vec<usize>,
}

/// The two clauses of "both A and B", "A and also B", "A as well as B", "…, how many also B".
fn split(w: &[String]) -> Option<Split> {
    let n = w.len();
    let at = |i: usize| w.get(i).map(String::as_str).unwrap_or("");
    // where the second clause ends: before the shape words that follow it ("…: how many?")
    let end_of = |from: usize| (from..n).find(|k| at(*k) == "how").unwrap_or(n);
    if let Some(both) = w.iter().position(|x| x == "both") {
        let and = (both + 2..n).find(|k| at(*k) == "and")?;
        let mut cue = vec![both, and];
        let mut b0 = and + 1;
        if at(b0) == "also" {
            cue.push(b0);
            b0 += 1;
        }
        let b = b0..end_of(b0);
        return (and > both + 1 && !b.is_empty()).then_some(Split {
            a: both + 1..and,
            b,
            cue,
        });
    }
    let (a_end, b0, cue) = if let Some(also) = w.iter().position(|x| x == "also") {
        if also > 0 && at(also - 1) == "and" {
            (also - 1, also + 1, vec![also - 1, also])
        } else {
            // "…, how many also roamed": the shape words before the cue close the first clause
            let mut k = also;
            while k > 0 && matches!(at(k - 1), "how" | "many" | "much" | "did" | "have" | "had") {
                k -= 1;
            }
            (k, also + 1, vec![also])
        }
    } else {
        let p = (2..n.saturating_sub(3))
            .find(|k| at(*k) == "as" && at(k + 1) == "well" && at(k + 2) == "as")?;
        (p, p + 3, vec![p, p + 1, p + 2])
    };
    // a relative pronoun after the entity, not the question's own "which"
    let opener = (1..a_end).rev().find(|k| OPENERS.contains(&at(*k)))?;
    let b = b0..end_of(b0);
    (a_end > opener + 1 && !b.is_empty()).then_some(Split {
        a: opener + 1..a_end,
        b,
        cue,
    })
}

/// Tokens written back as a question's text (hyphens, quotes and parentheses kept).
fn render(toks: &[Token]) -> String {
    let mut s = String::new();
    for (i, t) in toks.iter().enumerate() {
        let text = match t.kind {
            TokKind::Quoted => format!("'{}'", t.raw),
            _ => t.raw.clone(),
        };
        let opens = t.paren && (i == 0 || !toks[i - 1].paren);
        let closes = t.paren && toks.get(i + 1).is_none_or(|n| !n.paren);
        if i > 0 && !t.hyphen {
            s.push(' ');
        } else if t.hyphen {
            s.push('-');
        }
        if opens {
            s.push('(');
        }
        s.push_str(&text);
        if closes {
            s.push(')');
        }
    }
    s
}

/// A clause's plan: conditions on one table's rows, nothing else.
fn conditions_only(p: &QueryPlan) -> bool {
    p.related.is_empty()
        && p.group_by.is_empty()
        && p.order.is_none()
        && p.lookup.is_none()
        && p.having.is_empty()
        && p.measures
            .iter()
            .all(|m| m.agg == Agg::Count && m.column.is_none())
        && p.filters
            .iter()
            .all(|f| f.column.table == 0 && f.op.other().is_none())
}

impl Parser<'_> {
    /// The plan of a two-clause existence, or `None` when the question is not one (the
    /// other stages take it).
    pub(super) fn conjunction(&self, q: &Question, as_of_us: i64) -> Option<Parsed> {
        let sp = split(&q.words)?;
        let toks = &q.toks;
        let head: Vec<Token> = (0..toks.len())
            .filter(|i| !sp.a.contains(i) && !sp.b.contains(i) && !sp.cue.contains(i))
            .filter(|i| !(OPENERS.contains(&q.words[*i].as_str()) && *i + 1 == sp.a.start))
            .map(|i| toks[i].clone())
            .collect();
        let head_text = render(&head);
        let Parsed::Plan {
            plan: head,
            confidence: c0,
        } = self.parse(&head_text, as_of_us)
        else {
            return None;
        };
        let counted = head.measures.len() == 1 && head.measures[0].agg == Agg::Count;
        if !conditions_only(&head) || head.time.is_some() || !(counted || head.measures.is_empty())
        {
            return None;
        }
        let e = self.s.tables.iter().position(|t| t.name == head.table)?;
        let mut head = *head;
        // "subscribers who …": the entity's rows (key and name), unless it asks how many
        let asks_count = q
            .words
            .iter()
            .any(|w| matches!(w.as_str(), "many" | "number" | "count"));
        if !asks_count {
            head.measures.clear();
            head.columns = [self.t(e).pk().map(str::to_string), self.name_column(e)]
                .into_iter()
                .flatten()
                .map(|column| ColRef { table: 0, column })
                .collect();
        }
        // a clause without a time of its own shares the other's ("both … and … today")
        let time_words = |r: &Range<usize>| -> Option<String> {
            let cq = self.lex(&render(&toks[r.clone()]), as_of_us);
            let p = cq.time_pos?;
            Some(if (p..cq.len()).all(|k| cq.used[k]) {
                render(&cq.toks[p..])
            } else {
                cq.time.label.clone()
            })
        };
        let (ta, tb) = (time_words(&sp.a), time_words(&sp.b));
        let mut clauses = Vec::new();
        for (r, shared) in [
            (&sp.a, ta.is_none().then_some(tb.clone()).flatten()),
            (&sp.b, tb.is_none().then_some(ta.clone()).flatten()),
        ] {
            let text = format!(
                "{} {}",
                render(&toks[r.clone()]),
                shared.unwrap_or_default()
            );
            match self.parse(text.trim(), as_of_us) {
                Parsed::Plan { plan, confidence } if conditions_only(&plan) => {
                    clauses.push((*plan, confidence))
                }
                Parsed::Plan { .. } => return None,
                Parsed::Clarify { message, .. } => {
                    let clause = render(&toks[r.clone()]);
                    return Some(Parsed::Clarify {
                        message: format!(
                            "I understood: {} that meet two conditions. I did not understand the condition '{clause}': {message}",
                            head.summary()
                        ),
                        candidates: self.s.overview(),
                        understood: Some(Box::new(head)),
                        unmatched: vec![clause],
                    });
                }
            }
        }
        if clauses.iter().all(|c| c.0.table == head.table) {
            return None;
        }
        let mut plan = head;
        let mut confidence = c0;
        for (c, conf) in clauses {
            confidence = confidence.min(conf);
            if c.table == plan.table {
                plan.filters.extend(c.filters);
                if c.time.is_some() {
                    if plan.time.is_some() {
                        return None;
                    }
                    plan.time = c.time;
                }
                continue;
            }
            let t = self.s.tables.iter().position(|x| x.name == c.table)?;
            let mut r = self.relate(e, t)?;
            let k = plan.related.len() + 1;
            if r.link == Link::Semi {
                r.link = Link::Exists;
            } else if c.time.is_some() {
                // a joined row (the one the entity holds) is not ranged by time here
                return None;
            }
            r.time = c.time.map(|mut tr| {
                tr.column.table = k;
                tr
            });
            plan.filters.extend(c.filters.into_iter().map(|mut f| {
                f.column.table = k;
                f
            }));
            plan.related.push(r);
        }
        Some(Parsed::Plan {
            plan: Box::new(plan),
            confidence,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llm::text::tokenize;

    fn words(q: &str) -> Vec<String> {
        tokenize(q).into_iter().map(|t| t.lower).collect()
    }

    #[test]
    fn the_clauses_of_each_cue() {
        let w = words("how many members both borrowed a book and paid a fine this week");
        let s = split(&w).unwrap();
        assert_eq!((s.a, s.b), (4..7, 8..13));
        let w = words("members who paid a fine and also borrowed a book: how many?");
        let s = split(&w).unwrap();
        assert_eq!((s.a, s.b), (2..5, 7..10));
        let w = words("of the members who paid a fine, how many also borrowed a book");
        let s = split(&w).unwrap();
        assert_eq!((s.a, s.b), (4..7, 10..13));
        let w = words("members that borrowed a book as well as paid a fine");
        let s = split(&w).unwrap();
        assert_eq!((s.a, s.b), (2..5, 8..11));
        assert!(split(&words("books per genre and shelf")).is_none());
        assert!(split(&words("which branches also lend films")).is_none());
    }

    #[test]
    fn tokens_render_back_to_text() {
        let t = tokenize("used cell ldn-0116 (state 'open') today");
        assert_eq!(render(&t), "used cell ldn-0116 (state 'open') today");
    }
}
