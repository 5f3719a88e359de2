//! Comparisons between columns of related rows: "parcels sent to a country other than the
//! sender's", "employees in a different city from their manager", "orders shipped to the
//! customer's own city". The left column is the main table's; the right one belongs to the
//! row the main row points at (a join, possibly of the table with itself).

use super::Parser;
use super::mention::{Kind, Mention};
use crate::llm::plan::{ColRef, Filter, Link, Op, Related};
use crate::llm::text::{Token, mark_used};

/// Where a comparison of two columns stands: the left column's mention ends at or before
/// `left_end`, the right row's mention starts at `right_start`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct ColumnMatch {
    pub left_end: usize,
    pub right_start: usize,
    /// Equal ("same as") rather than different ("other than").
    pub same: bool,
}

const POSSESSIVES: &[&str] = &["the", "their", "its", "his", "her", "own"];

/// Finds "<col> other than|different from|same as the <row>['s] [col]" and "a different|the
/// same <col> from|as|to the <row>", marking the cue words used.
pub(super) fn column_match(toks: &[Token], used: &mut [bool]) -> Option<ColumnMatch> {
    let w = |i: usize| toks.get(i).map(|t| t.lower.as_str()).unwrap_or("");
    let n = toks.len();
    let after_possessives = |mut k: usize| {
        while POSSESSIVES.contains(&w(k)) {
            k += 1;
        }
        k
    };
    for i in 0..n {
        if used[i] {
            continue;
        }
        // "other than the sender's", "different from the manager's", "not the same as"
        let (width, same) = match (w(i), w(i + 1)) {
            ("other", "than") => (2, false),
            ("different", "from" | "to" | "than") => (2, false),
            ("same", "as") => (2, true),
            _ => (0, false),
        };
        if width > 0 {
            let not = i >= 2 && w(i - 2) == "not" && w(i - 1) == "the";
            let start = if not || i >= 1 && w(i - 1) == "the" && same {
                i - usize::from(not) - 1
            } else {
                i
            };
            let right_start = after_possessives(i + width);
            if right_start >= n {
                return None;
            }
            mark_used(used, start..right_start);
            return Some(ColumnMatch {
                left_end: start,
                right_start,
                same: same && !not,
            });
        }
        // "a different city from their manager", "the same city as the customer"
        if matches!(w(i), "different" | "same")
            && let Some(k) = (i + 2..(i + 5).min(n))
                .find(|k| matches!(w(*k), "from" | "to" | "than" | "as") && !used[*k])
        {
            let right_start = after_possessives(k + 1);
            if right_start >= n {
                return None;
            }
            used[i] = true;
            mark_used(used, k..right_start);
            return Some(ColumnMatch {
                left_end: k,
                right_start,
                same: w(i) == "same",
            });
        }
    }
    None
}

impl Parser<'_> {
    /// The filter a column comparison makes, joining the row the right side names; `None`
    /// when its columns cannot be found (the caller names the phrase).
    pub(super) fn column_match_filter(
        &self,
        cm: &ColumnMatch,
        ms: &[Mention],
        main: usize,
        related: &mut Vec<Related>,
    ) -> Option<Filter> {
        let left = ms
            .iter()
            .rev()
            .find(|m| m.end <= cm.left_end && m.end + 3 >= cm.left_end)?;
        let owner = ms.iter().find(|m| m.start == cm.right_start)?;
        // the row pointed at: a table the main one joins, or the one a key column names
        let (t, rel) = match &owner.kind {
            Kind::Table(ts) => ts.iter().find_map(|t| {
                self.relate(main, *t)
                    .filter(|r| r.link == Link::Join)
                    .map(|r| (*t, r))
            })?,
            Kind::Col(cs, _) => cs.iter().filter(|c| c.0 == main).find_map(|c| {
                let col = self.c(*c);
                let shape = col.id_shape.as_ref()?;
                self.s.tables.iter().enumerate().find_map(|(t, tt)| {
                    let pk = tt.pk()?;
                    (tt.col(pk)?.id_shape.as_ref() == Some(shape) && pk != col.name).then(|| {
                        (
                            t,
                            Related::new(tt.name.clone(), Link::Join, col.name.clone(), pk.into()),
                        )
                    })
                })
            })?,
            _ => return None,
        };
        // the right column: named after the row ("the sender's country"), else the one
        // the left mention names in that table, else one ending in the same word
        let left_cols: Vec<(usize, usize)> = match &left.kind {
            Kind::Col(cs, _) => cs.clone(),
            _ => return None,
        };
        let named_after = ms
            .iter()
            .find(|m| m.start == owner.end)
            .and_then(|m| match &m.kind {
                Kind::Col(cs, _) => cs.iter().find(|c| c.0 == t).copied(),
                _ => None,
            });
        let last = |c: (usize, usize)| self.c(c).stems.last().cloned();
        let lcol = left_cols
            .iter()
            .copied()
            .find(|c| c.0 == main && !self.c(*c).is_key)
            .or_else(|| {
                let r = named_after.or_else(|| left_cols.iter().copied().find(|c| c.0 == t))?;
                let tt = self.t(main);
                (0..tt.columns.len())
                    .map(|i| (main, i))
                    .find(|c| last(*c) == last(r) && self.c(*c).kind == self.c(r).kind)
            })?;
        let rcol = named_after
            .or_else(|| left_cols.iter().copied().find(|c| c.0 == t))
            .or_else(|| {
                (0..self.t(t).columns.len())
                    .map(|i| (t, i))
                    .find(|c| last(*c) == last(lcol) && !self.c(*c).is_key)
            })?;
        let k = match related
            .iter()
            .position(|r| r.table == rel.table && r.main_key == rel.main_key && r.via == 0)
        {
            Some(p) => p + 1,
            None => {
                related.push(rel);
                related.len()
            }
        };
        let other = ColRef {
            table: k,
            column: self.c(rcol).name.clone(),
        };
        Some(Filter {
            column: ColRef {
                table: 0,
                column: self.c(lcol).name.clone(),
            },
            op: if cm.same {
                Op::SameAs(other)
            } else {
                Op::DifferentFrom(other)
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llm::text::tokenize;

    fn find(q: &str) -> Option<ColumnMatch> {
        let t = tokenize(q);
        let mut used = vec![false; t.len()];
        column_match(&t, &mut used)
    }

    #[test]
    fn the_cues_of_a_column_comparison() {
        let m = find("parcels sent to a country other than the sender's").unwrap();
        assert_eq!((m.left_end, m.right_start, m.same), (5, 8, false));
        let m = find("staff in a different city from their manager").unwrap();
        assert_eq!((m.left_end, m.right_start, m.same), (5, 7, false));
        let m = find("orders shipped to the same city as the customer").unwrap();
        assert_eq!((m.left_end, m.right_start, m.same), (6, 8, true));
        let m = find("rooms whose floor is not the same as the building's").unwrap();
        assert!(!m.same);
        assert!(find("orders per city").is_none());
    }
}
