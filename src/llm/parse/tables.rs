//! What the catalog offers a stage: how two tables relate, a table's name, money, quantity
//! and verb-named time columns, and the related tables a plan reaches.

use super::Parser;
use super::words::{MONEY_WORDS, QUANTITY_WORDS};
use crate::llm::plan::*;
use crate::llm::schema::{ColInfo, ColKind};
use crate::llm::text::{TokKind, Token, stem};

impl Parser<'_> {
    /// The index (0 = main, 1… = related) of the first of `cands` the main table can reach,
    /// adding the relation when new.
    pub(super) fn resolve(
        &self,
        main: usize,
        related: &mut Vec<Related>,
        cands: &[usize],
    ) -> Option<usize> {
        if cands.contains(&main) {
            return Some(0);
        }
        for (i, r) in related.iter().enumerate() {
            if cands.iter().any(|c| self.t(*c).name == r.table) {
                return Some(i + 1);
            }
        }
        for &c in cands {
            if let Some(r) = self.relate(main, c) {
                related.push(r);
                return Some(related.len());
            }
        }
        // two keys away, through a table the main one joins ("charge by plan tier": usage
        // → subscribers → plans); only along joins, each row has one partner
        for &c in cands {
            for mid in 0..self.s.tables.len() {
                let (Some(first), Some(mut second)) = (self.relate(main, mid), self.relate(mid, c))
                else {
                    continue;
                };
                if first.link != Link::Join || second.link != Link::Join || mid == c {
                    continue;
                }
                let at = match related.iter().position(|r| r.table == first.table) {
                    Some(p) if related[p].link == Link::Join && related[p].via == 0 => p + 1,
                    Some(_) => continue,
                    None => {
                        related.push(first);
                        related.len()
                    }
                };
                second.via = at;
                related.push(second);
                return Some(related.len());
            }
        }
        None
    }

    pub(super) fn table_idx(&self, main: usize, related: &[Related], k: usize) -> usize {
        if k == 0 {
            main
        } else {
            self.s
                .tables
                .iter()
                .position(|t| t.name == related[k - 1].table)
                .unwrap_or(main)
        }
    }

    /// How `other` relates to `main`: `main` holds `other`'s key (join), or `other` holds
    /// `main`'s key (semi-join).
    pub(super) fn relate(&self, main: usize, other: usize) -> Option<Related> {
        let (m, o) = (self.t(main), self.t(other));
        if main == other {
            return None;
        }
        if let Some(pk) = o.pk()
            && m.col(pk).is_some()
        {
            return Some(Related::new(
                o.name.clone(),
                Link::Join,
                pk.to_string(),
                pk.to_string(),
            ));
        }
        if let Some(pk) = m.pk()
            && o.col(pk).is_some()
        {
            return Some(Related::new(
                o.name.clone(),
                Link::Semi,
                pk.to_string(),
                pk.to_string(),
            ));
        }
        None
    }

    /// The first word that names one of table `t`'s time columns by its verb ("closed" →
    /// `closed_at`, "shipped" → `shipped_on`), with the column.
    pub(super) fn verb_time_column(
        &self,
        toks: &[Token],
        t: usize,
        kinds: &[ColKind],
    ) -> Option<(usize, String)> {
        toks.iter().enumerate().find_map(|(i, tok)| {
            self.t(t)
                .columns
                .iter()
                .find(|c| tok.kind == TokKind::Word && is_verb_time(c, kinds, &tok.stem))
                .map(|c| (i, c.name.clone()))
        })
    }

    /// A table's readable name column (`tech_name`, `plan_name`, `name`), if it has one.
    pub(super) fn name_column(&self, t: usize) -> Option<String> {
        self.t(t)
            .columns
            .iter()
            .find(|c| {
                c.kind == ColKind::Text
                    && !c.is_key
                    && c.id_shape.is_none()
                    && c.stems.last().is_some_and(|s| *s == stem("name"))
            })
            .map(|c| c.name.clone())
    }

    /// The column a money word means: the numeric column whose name says amount or value.
    pub(super) fn money_column(&self, t: usize) -> Option<String> {
        let tt = self.t(t);
        let prefs = [
            "amount", "total", "revenu", "valu", "sale", "price", "balanc", "cost", "fare", "fee",
            "charg", "payment", "spend", "incom", "salari", "subtotal", "gross", "net",
        ];
        for p in prefs {
            if let Some(c) = tt
                .columns
                .iter()
                .find(|c| c.kind.numeric() && !c.is_key && c.stems.iter().any(|s| *s == stem(p)))
            {
                return Some(c.name.clone());
            }
        }
        None
    }

    /// A word naming a numeric column ("quantity", "price", "amount", "score").
    pub(super) fn is_numeric_word(&self, t: &Token) -> bool {
        MONEY_WORDS.contains(&t.lower.as_str())
            || QUANTITY_WORDS.contains(&t.lower.as_str())
            || self.s.tables.iter().any(|tt| {
                tt.columns
                    .iter()
                    .any(|c| c.kind.numeric() && c.stems.last() == Some(&t.stem))
            })
    }

    /// The column counting units ("quantity", "qty", "units").
    pub(super) fn quantity_column(&self, t: usize) -> Option<String> {
        self.t(t)
            .columns
            .iter()
            .find(|c| {
                c.kind.numeric()
                    && c.stems
                        .iter()
                        .any(|s| s.starts_with("quantit") || s == "unit" && c.stems.len() == 1)
            })
            .map(|c| c.name.clone())
    }
}

/// Whether `c` is a time column of one of `kinds` named `<verb>_at|on|date|time` for the
/// verb stemming to `verb`.
pub(super) fn is_verb_time(c: &ColInfo, kinds: &[ColKind], verb: &str) -> bool {
    kinds.contains(&c.kind)
        && c.stems.len() == 2
        && c.stems[0] == verb
        && matches!(c.stems[1].as_str(), "at" | "on" | "date" | "time")
}

#[cfg(test)]
mod tests {
    use super::super::tests::staged;
    use crate::llm::plan::Link;

    #[test]
    fn tables_relate_by_the_key_one_holds() {
        staged("tickets", |st| {
            let p = st.p;
            let r = p.relate(0, 1).expect("tickets hold the agent's key");
            assert_eq!((r.link, r.main_key.as_str()), (Link::Join, "agent_id"));
            let r = p.relate(1, 0).expect("agents are named by tickets");
            assert_eq!(r.link, Link::Semi);
            assert_eq!(p.money_column(0), None);
        });
    }
}
