//! Absence: "no manager", "without an email", "not yet shipped", "already closed" (a
//! column with or without a value), and "with no invoices", "never logged in" (no related
//! row at all: an anti-join, or a missing key when the main table holds it).

use super::Parser;
use super::mention::{ColAt, Kind, Mention};
use super::tables::is_verb_time;
use crate::llm::schema::ColKind;
use crate::llm::text::{TokKind, Token, is_stopword};

/// Words that say "none": the cue of an absence.
const ABSENCE_CUES: &[&str] = &[
    "no", "without", "never", "zero", "lacking", "missing", "nobody", "none", "noone",
];
/// Words after a column that say it has no value ("manager is missing").
const EMPTY_WORDS: &[&str] = &["null", "missing", "empty", "blank", "unset", "unknown"];

impl Parser<'_> {
    /// Rewrites mentions that an absence cue governs, marking the cue used.
    pub(super) fn link_absence(&self, toks: &[Token], used: &mut [bool], ms: &mut Vec<Mention>) {
        let n = toks.len();
        let w = |i: usize| toks.get(i).map(|t| t.lower.as_str()).unwrap_or("");
        for i in 0..n {
            if used[i] || !ABSENCE_CUES.contains(&w(i)) {
                continue;
            }
            // "no" of "no. of" is a number word, not a cue
            if w(i) == "no" && w(i + 1) == "of" {
                continue;
            }
            let Some(mi) = ms.iter().position(|m| m.start > i && m.start <= i + 4) else {
                continue;
            };
            // between the cue and the mention: articles and at most one verb ("never
            // booked a visit", "with no manager", "had no visits at all")
            let between: Vec<usize> = (i + 1..ms[mi].start).collect();
            let content = between
                .iter()
                .filter(|k| !is_stopword(w(**k)) && !matches!(w(**k), "any" | "single"))
                .count();
            if content > 1
                || between
                    .iter()
                    .any(|k| used[*k] || toks[*k].kind != TokKind::Word)
            {
                continue;
            }
            let kind = match &ms[mi].kind {
                Kind::Table(ts) => Some(Kind::Absent(ts.clone())),
                Kind::Col(cs, _) => {
                    let nullable: Vec<ColAt> = cs
                        .iter()
                        .copied()
                        .filter(|c| self.c(*c).nullable && self.c(*c).kind != ColKind::Bool)
                        .collect();
                    (!nullable.is_empty()).then_some(Kind::Null(nullable, true))
                }
                _ => None,
            };
            if let Some(kind) = kind {
                ms[mi].kind = kind;
                used[i] = true;
                between.iter().for_each(|k| used[*k] = true);
                // "no manager assigned": a participle after it restates the absence
                let end = ms[mi].end;
                if let Some(p) = ms.iter().position(|m| {
                    m.start == end
                        && matches!(&m.kind, Kind::Val(vs) if vs.iter().all(|v| v.2.ends_with("ed")))
                }) {
                    ms.remove(p);
                }
                // "at all", "on record", "on file" after it restate the absence
                let end = ms[mi].end;
                for (a, b) in [("at", "all"), ("on", "record"), ("on", "file")] {
                    if w(end) == a && w(end + 1) == b {
                        used[end] = true;
                        used[end + 1] = true;
                    }
                }
            }
        }
        // "<column> is missing", "manager is null"
        for m in ms.iter_mut() {
            if let Kind::Col(cs, _) = &m.kind
                && matches!(w(m.end), "is" | "are")
                && EMPTY_WORDS.contains(&w(m.end + 1))
                && !used[m.end + 1]
            {
                let nullable: Vec<ColAt> =
                    cs.iter().copied().filter(|c| self.c(*c).nullable).collect();
                if !nullable.is_empty() {
                    m.kind = Kind::Null(nullable, true);
                    used[m.end + 1] = true;
                }
            }
        }
        // a verb naming a nullable time column ("shipped" → shipped_at): "not yet shipped",
        // "not shipped yet", "yet to be shipped" → no value; "already shipped" → a value
        for i in 0..n {
            if used[i] || toks[i].kind != TokKind::Word {
                continue;
            }
            let cols: Vec<ColAt> = self.columns_where(|c| {
                c.nullable && is_verb_time(c, &[ColKind::Timestamp, ColKind::Date], &toks[i].stem)
            });
            if cols.is_empty() || ms.iter().any(|m| m.start <= i && i < m.end) {
                continue;
            }
            let before = |k: usize, word: &str| i >= k && w(i - k) == word;
            let (is_null, from) = if before(1, "yet") && before(2, "not")
                || before(1, "not") && w(i + 1) == "yet"
            {
                (true, if before(1, "yet") { i - 2 } else { i - 1 })
            } else if before(3, "yet") && before(2, "to") && before(1, "be") {
                (true, i - 3)
            } else if before(1, "not") || before(2, "not") && matches!(w(i - 1), "been" | "be") {
                (true, if before(1, "not") { i - 1 } else { i - 2 })
            } else if before(1, "already") || before(2, "already") && w(i - 1) == "been" {
                (false, if before(1, "already") { i - 1 } else { i - 2 })
            } else {
                continue;
            };
            let end = if w(i + 1) == "yet" { i + 2 } else { i + 1 };
            (from..end).for_each(|k| used[k] = true);
            ms.push(Mention::new(i, i + 1, Kind::Null(cols, is_null)));
        }
        ms.sort_by_key(|m| m.start);
    }
}

#[cfg(test)]
mod tests {
    use super::super::mention::Kind;
    use super::super::tests::staged;

    #[test]
    fn an_absence_cue_rewrites_the_mention_it_governs() {
        staged("agents with no tickets", |st| {
            let ms = &st.ms;
            assert!(
                ms.iter()
                    .any(|m| matches!(&m.kind, Kind::Absent(ts) if ts == &vec![0])),
                "{ms:?}"
            );
        });
    }
}
