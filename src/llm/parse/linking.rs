//! Stage 2, linking: the question's spans matched to the catalog — table and column names,
//! observed values, id shapes, phrases of free-text columns — exactly, fuzzily, and by meaning
//! through the encoder for the words nothing else matched; then negations and qualifiers.

use super::lexicon::Question;
use super::mention::{ColAt, Kind, Mention};
use super::words::*;
use super::{Parser, SemLink};
use crate::llm::schema::{ColInfo, ColKind, MAX_CATEGORICAL};
use crate::llm::text::{
    TokKind, Token, country_code, is_stopword, is_unit_suffix, mark_used, stem, words,
};

impl Parser<'_> {
    /// Every mention of the question, in order, and how many only the encoder linked.
    pub(super) fn mentions(&self, q: &mut Question) -> (Vec<Mention>, usize) {
        let Question {
            toks,
            used,
            time_pos,
            ..
        } = q;
        let time_pos = *time_pos;
        let n = toks.len();
        let mut ms = Vec::new();
        self.link_text(toks, used, &mut ms);
        ms.extend(self.link(toks, used));
        // "order total": an aggregation word right after a table's name that is a column of it
        for i in 1..n {
            if used[i] || !SUM_WORDS.contains(&toks[i].lower.as_str()) {
                continue;
            }
            if let Some(m) = ms
                .iter_mut()
                .find(|m| m.end == i && matches!(m.kind, Kind::Table(_)))
                && let Kind::Table(ts) = &m.kind
            {
                let cols: Vec<ColAt> = ts
                    .iter()
                    .filter_map(|t| {
                        self.t(*t)
                            .columns
                            .iter()
                            .position(|c| c.stems.len() == 1 && c.stems[0] == toks[i].stem)
                            .map(|c| (*t, c))
                    })
                    .collect();
                if !cols.is_empty() {
                    m.kind = Kind::Col(cols, false);
                    m.end = i + 1;
                    used[i] = true;
                }
            }
        }
        // "orders placed in the last hour", "tickets raised today": the verb of the event
        // the time range dates, when nothing else claimed it
        if let Some(p) = time_pos {
            let mut k = p;
            while k > 0
                && used[k - 1]
                && matches!(
                    toks[k - 1].lower.as_str(),
                    "in" | "on" | "the" | "during" | "over" | "for" | "within"
                )
            {
                k -= 1;
            }
            let names_time_column = |t: &Token| {
                self.s.tables.iter().any(|tt| {
                    tt.columns.iter().any(|c| {
                        matches!(c.kind, ColKind::Timestamp | ColKind::Date)
                            && c.stems.first() == Some(&t.stem)
                    })
                })
            };
            if k > 0
                && !used[k - 1]
                && toks[k - 1].kind == TokKind::Word
                && toks[k - 1].lower.len() > 4
                && toks[k - 1].lower.ends_with("ed")
                && !names_time_column(&toks[k - 1])
            {
                used[k - 1] = true;
            }
        }
        ms.sort_by_key(|m| m.start);
        self.link_absence(toks, used, &mut ms);
        // Meaning: the encoder links the words nothing else matched.
        let mut semantic_links = 0;
        if let Some(sem) = self.sem {
            for i in 0..n {
                let t = &toks[i];
                if used[i]
                    || t.kind != TokKind::Word
                    || is_stopword(&t.lower)
                    || is_keyword(&t.lower)
                    || t.lower.len() < 3
                {
                    continue;
                }
                let links = sem.link(&t.lower);
                if let Some(best) = links.first() {
                    let kind = match best {
                        SemLink::Column { .. } => Kind::Col(
                            links
                                .iter()
                                .filter_map(|l| match l {
                                    SemLink::Column { table, column, .. } => {
                                        Some((*table, *column))
                                    }
                                    _ => None,
                                })
                                .collect(),
                            false,
                        ),
                        SemLink::Table { .. } => Kind::Table(
                            links
                                .iter()
                                .filter_map(|l| match l {
                                    SemLink::Table { table, .. } => Some(*table),
                                    _ => None,
                                })
                                .collect(),
                        ),
                        SemLink::Value { value, .. } => Kind::Val(
                            links
                                .iter()
                                .filter_map(|l| match l {
                                    SemLink::Value {
                                        table,
                                        column,
                                        value: v,
                                        ..
                                    } if v == value => Some((*table, *column, v.clone())),
                                    _ => None,
                                })
                                .collect(),
                        ),
                    };
                    used[i] = true;
                    semantic_links += 1;
                    ms.push(Mention {
                        semantic: true,
                        ..Mention::new(i, i + 1, kind)
                    });
                }
            }
        }
        ms.sort_by_key(|m| m.start);
        self.mark_negations(toks, used, &mut ms);
        self.merge_qualifiers(&mut ms);
        tracing::debug!(?ms, "mentions");
        (ms, semantic_links)
    }

    /// Finds table, column, value, id and phrase mentions: longest spans first.
    fn link(&self, toks: &[Token], used: &mut [bool]) -> Vec<Mention> {
        let n = toks.len();
        let mut ms = Vec::new();
        for i in 0..n {
            if !used[i] && toks[i].kind == TokKind::Id {
                let cands: Vec<ColAt> = self.columns_where(|c| {
                    c.id_shape.as_ref().is_some_and(|s| s.matches(&toks[i].raw))
                });
                if !cands.is_empty() {
                    used[i] = true;
                    ms.push(Mention::new(
                        i,
                        i + 1,
                        Kind::Id(cands, toks[i].raw.to_uppercase()),
                    ));
                }
            }
        }
        for len in (1..=5).rev() {
            for i in 0..n.saturating_sub(len - 1) {
                let span = &toks[i..i + len];
                if used[i..i + len].iter().any(|u| *u)
                    || span
                        .iter()
                        .any(|t| !matches!(t.kind, TokKind::Word | TokKind::Meta | TokKind::Number))
                {
                    continue;
                }
                // a stopword is skipped, unless written as an acronym ("US", "IT")
                let acronym =
                    span[0].raw.len() >= 2 && span[0].raw.chars().all(|c| c.is_ascii_uppercase());
                if len == 1
                    && is_stopword(&span[0].lower)
                    && span[0].kind != TokKind::Meta
                    && !acronym
                {
                    continue;
                }
                let stems: Vec<&str> = span.iter().map(|t| t.stem.as_str()).collect();
                let phrase = stems.join(" ");
                let after_marker =
                    i > 0 && matches!(toks[i - 1].lower.as_str(), "per" | "by" | "each" | "every");
                if let Some(kind) = self.match_span(&phrase, &stems, span, len, after_marker) {
                    mark_used(used, i..i + len);
                    ms.push(Mention::new(i, i + len, kind));
                }
            }
        }
        ms
    }

    fn match_span(
        &self,
        phrase: &str,
        stems: &[&str],
        span: &[Token],
        len: usize,
        after_marker: bool,
    ) -> Option<Kind> {
        // "total" is an aggregation unless a table's name qualifies it ("order total"); a
        // negator is never data ("not" stems like `notes`)
        if len == 1
            && (SUM_WORDS.contains(&span[0].lower.as_str())
                || NEGATORS.contains(&span[0].lower.as_str()))
        {
            return None;
        }
        // tables: the table's name, or its key's name ("sale" for sale_id)
        let tables: Vec<usize> = (0..self.s.tables.len())
            .filter(|t| {
                let tt = self.t(*t);
                let name = tt.stems.join(" ");
                // "hive transactions", "db2.transactions": the source names one of namesakes
                name == phrase
                    || format!("{} {name}", tt.schema_stem) == phrase
                    || tt.pk().is_some_and(|pk| {
                        let c = tt.col(pk).expect("pk column");
                        c.stems.len() >= 2
                            && c.stems.last().map(String::as_str) == Some("id")
                            && c.stems[..c.stems.len() - 1].join(" ") == phrase
                    })
            })
            .collect();
        // values (a country's name finds its code)
        let raw_phrase = span
            .iter()
            .map(|t| t.lower.as_str())
            .collect::<Vec<_>>()
            .join(" ");
        let code_key = country_code(&raw_phrase).map(|c| c.to_lowercase());
        let vals: Vec<(usize, usize, String)> = self
            .s
            .lexicon
            .values
            .get(phrase)
            .or_else(|| code_key.as_ref().and_then(|k| self.s.lexicon.values.get(k)))
            .map(|vs| {
                vs.iter()
                    .filter(|(t, c, _)| {
                        let col = self.c((*t, *c));
                        // a wide column's value counts only when written as a name
                        col.distinct <= MAX_CATEGORICAL
                            || len >= 2
                            || span[0].kind == TokKind::Number && span[0].lower.len() >= 5
                            || span[0]
                                .raw
                                .chars()
                                .next()
                                .is_some_and(|ch| ch.is_uppercase())
                    })
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        // columns by full name, or by name without a trailing "id" (entity columns)
        let cols: Vec<ColAt> = self.columns_where(|c| {
            let j = c.stems.join(" ");
            j == phrase
                || (c.stems.len() >= 2
                    && c.stems
                        .last()
                        .is_some_and(|l| l == "id" || is_unit_suffix(l))
                    && c.stems[..c.stems.len() - 1].join(" ") == phrase)
                || (span.len() == 1 && span[0].kind == TokKind::Meta && c.name == span[0].lower)
        });
        // "branches" (plural) names the column branch, "branch" the channel value
        let plural_col = !cols.is_empty()
            && (after_marker
                || len == 1 && span[0].lower.ends_with('s') && span[0].lower != span[0].stem);
        // "roamed": a verb naming a flag is the flag (`roaming`), not a category ("roaming"
        // tickets)
        let flags: Vec<ColAt> = cols
            .iter()
            .copied()
            .filter(|c| self.c(*c).kind == ColKind::Bool)
            .collect();
        if len == 1 && span[0].lower.ends_with("ed") && !flags.is_empty() {
            return Some(Kind::Col(flags, false));
        }
        if !vals.is_empty() && (tables.is_empty() || len > 1) && !plural_col {
            return Some(Kind::Val(vals));
        }
        if !tables.is_empty() {
            return Some(Kind::Table(tables));
        }
        if !cols.is_empty() {
            return Some(Kind::Col(cols, false));
        }
        // a phrase of a free-text column, unless part of it is a value of a column of its
        // own ("cell ldn-0116" is the cell, not the words of a summary)
        let catalog_word = |w: &str| {
            self.s
                .lexicon
                .values
                .get(w)
                .is_some_and(|vs| vs.iter().any(|v| !self.c((v.0, v.1)).free_text))
                || !self
                    .columns_where(|c| !c.free_text && c.stems.last().is_some_and(|l| l == w))
                    .is_empty()
        };
        // "data while roaming": words that each name a value or column are those, not a
        // phrase of some text column (without a cue such as "mentioning")
        let holds_value = || {
            stems.iter().filter(|w| catalog_word(w)).count() >= 2
                || (2..len).any(|k| {
                    stems.windows(k).any(|w| {
                        self.s
                            .lexicon
                            .values
                            .get(&w.join(" "))
                            .is_some_and(|vs| vs.iter().any(|v| !self.c((v.0, v.1)).free_text))
                    })
                })
        };
        if len >= 3 && !holds_value() {
            let text: Vec<ColAt> =
                self.columns_where(|c| c.free_text && c.phrases.contains(phrase));
            if !text.is_empty() {
                return Some(Kind::Text(text.clone(), self.like_pattern(span, &text)));
            }
        }
        if len == 1 {
            // the head word of a longer column name ("type", "limit", "reason"), or its
            // first word for a two-word name ("risk"), or a quantity synonym
            let w = stems[0];
            let partial: Vec<ColAt> = self.columns_where(|c| {
                c.stems.len() >= 2
                    && c.stems.last().map(String::as_str) != Some("id")
                    && (c.stems.last().map(String::as_str) == Some(w))
            });
            if !partial.is_empty() && !is_keyword(&span[0].lower) {
                return Some(Kind::Col(partial, true));
            }
            // the head noun of a longer table name ("event" of `usage_events`)
            let heads: Vec<usize> = (0..self.s.tables.len())
                .filter(|t| {
                    let st = &self.t(*t).stems;
                    st.len() >= 2 && st.last().map(String::as_str) == Some(w)
                })
                .collect();
            if !heads.is_empty() && !is_keyword(&span[0].lower) {
                return Some(Kind::Table(heads));
            }
        }
        None
    }

    /// The question's words when they occur as written in the column, else their stems
    /// joined by `%` ("fees" finds "fee").
    fn like_pattern(&self, span: &[Token], cols: &[ColAt]) -> String {
        let raw = span
            .iter()
            .map(|t| t.lower.clone())
            .collect::<Vec<_>>()
            .join(" ");
        if cols
            .iter()
            .any(|c| self.c(*c).phrases.contains(&format!("={raw}")))
        {
            // as written, hyphens kept ("gate-0042")
            let mut out = String::new();
            for (k, t) in span.iter().enumerate() {
                if k > 0 {
                    out.push(if t.hyphen { '-' } else { ' ' });
                }
                out.push_str(&t.lower);
            }
            out
        } else {
            span.iter()
                .map(|t| t.stem.clone())
                .collect::<Vec<_>>()
                .join("%")
        }
    }

    pub(super) fn columns_where(&self, f: impl Fn(&ColInfo) -> bool) -> Vec<ColAt> {
        let mut out = Vec::new();
        for (ti, t) in self.s.tables.iter().enumerate() {
            for (ci, c) in t.columns.iter().enumerate() {
                if f(c) {
                    out.push((ti, ci));
                }
            }
        }
        out
    }

    /// Free-text matches, found before anything else claims their words: quoted text, and
    /// "<text column> <cue> <phrase>" ("notes ask for gift wrap", "description contains express
    /// shipping").
    fn link_text(&self, toks: &[Token], used: &mut [bool], ms: &mut Vec<Mention>) {
        let n = toks.len();
        // free-text columns named in the question: (start, end, columns)
        let mut named: Vec<(usize, usize, Vec<ColAt>)> = Vec::new();
        for i in 0..n {
            for len in [2usize, 1] {
                if i + len > n || used[i..i + len].iter().any(|u| *u) {
                    continue;
                }
                let phrase = toks[i..i + len]
                    .iter()
                    .map(|t| t.stem.as_str())
                    .collect::<Vec<_>>()
                    .join(" ");
                let cols = self.columns_where(|c| c.free_text && c.stems.join(" ") == phrase);
                if !cols.is_empty() {
                    named.push((i, i + len, cols));
                    break;
                }
            }
        }
        let cue_anywhere = toks.iter().any(|t| TEXT_CUES.contains(&t.lower.as_str()));
        // quoted text: a phrase to find in a free-text column, unless it is a value and
        // nothing in the question speaks of text
        for i in 0..n {
            if toks[i].kind != TokKind::Quoted || used[i] {
                continue;
            }
            used[i] = true;
            let key = words(&toks[i].raw)
                .iter()
                .map(|w| stem(w))
                .collect::<Vec<_>>()
                .join(" ");
            if named.is_empty()
                && !cue_anywhere
                && let Some(vs) = self.s.lexicon.values.get(&key)
            {
                ms.push(Mention::new(i, i + 1, Kind::Val(vs.clone())));
                continue;
            }
            let cands: Vec<ColAt> = if named.is_empty() {
                self.columns_where(|c| c.free_text)
            } else {
                named.iter().flat_map(|(_, _, c)| c.clone()).collect()
            };
            for (a, b, _) in &named {
                mark_used(used, *a..*b);
            }
            ms.push(Mention::new(
                i,
                i + 1,
                Kind::Text(cands, toks[i].raw.clone()),
            ));
        }
        // "cases mentioning a cracked screen", "reviews about late delivery": a cue, then the
        // longest run of words that occurs in some free-text column
        let strong_cue = |w: &str| {
            TEXT_CUES.contains(&w)
                && !matches!(
                    w,
                    "like" | "include" | "includes" | "including" | "ask" | "asks" | "asking"
                )
        };
        if named.is_empty() {
            for i in 0..n {
                if used[i] || !strong_cue(&toks[i].lower) {
                    continue;
                }
                let mut k = i + 1;
                while k < n && matches!(toks[k].lower.as_str(), "the" | "a" | "an" | "about" | "of")
                {
                    k += 1;
                }
                for len in (1..=5).rev() {
                    if k + len > n
                        || used[k..k + len].iter().any(|u| *u)
                        || toks[k..k + len].iter().any(|t| {
                            !matches!(t.kind, TokKind::Word | TokKind::Number | TokKind::Id)
                        })
                    {
                        continue;
                    }
                    let phrase = toks[k..k + len]
                        .iter()
                        .map(|t| t.stem.clone())
                        .collect::<Vec<_>>()
                        .join(" ");
                    let hits: Vec<ColAt> =
                        self.columns_where(|c| c.free_text && c.phrases.contains(&phrase));
                    if !hits.is_empty() {
                        mark_used(used, i..k + len);
                        let like = self.like_pattern(&toks[k..k + len], &hits);
                        ms.push(Mention::new(k, k + len, Kind::Text(hits, like)));
                        break;
                    }
                }
            }
        }
        for (start, end, cols) in named {
            if used[start] {
                continue;
            }
            let mut k = end;
            let mut cue = false;
            while k < n
                && (TEXT_CUES.contains(&toks[k].lower.as_str())
                    || matches!(
                        toks[k].lower.as_str(),
                        "for" | "the" | "a" | "to" | "of" | "with"
                    ))
            {
                cue |= TEXT_CUES.contains(&toks[k].lower.as_str());
                k += 1;
            }
            if !cue {
                continue;
            }
            // the longest run of words found in the column
            for len in (1..=5).rev() {
                if k + len > n
                    || used[k..k + len].iter().any(|u| *u)
                    || toks[k..k + len].iter().any(|t| t.kind == TokKind::Quoted)
                {
                    continue;
                }
                let phrase = toks[k..k + len]
                    .iter()
                    .map(|t| t.stem.clone())
                    .collect::<Vec<_>>()
                    .join(" ");
                let hits: Vec<ColAt> = cols
                    .iter()
                    .copied()
                    .filter(|c| self.c(*c).phrases.contains(&phrase))
                    .collect();
                if !hits.is_empty() {
                    mark_used(used, start..k + len);
                    let like = self.like_pattern(&toks[k..k + len], &hits);
                    ms.push(Mention::new(k, k + len, Kind::Text(hits, like)));
                    break;
                }
            }
        }
    }

    /// "not", "excluding", "other than" negate the values that follow them in one run.
    fn mark_negations(&self, toks: &[Token], used: &mut [bool], ms: &mut [Mention]) {
        let n = toks.len();
        let mut neg_from: Vec<usize> = Vec::new();
        for i in 0..n {
            let w = toks[i].lower.as_str();
            if NEGATORS.contains(&w)
                && !(w == "other" && toks.get(i + 1).map(|t| t.lower.as_str()) != Some("than"))
            {
                neg_from.push(i);
            }
        }
        for start in neg_from {
            // values after the negator, joined by and/or/commas, until anything else
            let mut last_end = start + 1;
            for m in ms.iter_mut().filter(|m| m.start > start) {
                let gap_ok = (last_end..m.start).all(|k| {
                    matches!(
                        toks[k].lower.as_str(),
                        "and" | "or" | "nor" | "than" | "the" | "in" | "yet" | "be" | "any"
                    )
                });
                if !gap_ok {
                    break;
                }
                if matches!(m.kind, Kind::Val(_) | Kind::Col(..)) {
                    m.negated = true;
                    used[start] = true;
                    last_end = m.end;
                } else {
                    break;
                }
            }
        }
    }

    /// "customer segment": a table name right before one of its columns qualifies it;
    /// "business-segment", "online channel": a value next to its column names it.
    fn merge_qualifiers(&self, ms: &mut Vec<Mention>) {
        let mut i = 0;
        while i + 1 < ms.len() {
            let (a, b) = (&ms[i], &ms[i + 1]);
            if a.end == b.start {
                match (&a.kind, &b.kind) {
                    (Kind::Table(ts), Kind::Col(cs, p)) => {
                        let keep: Vec<ColAt> =
                            cs.iter().copied().filter(|c| ts.contains(&c.0)).collect();
                        // "tickets priority p2": the column qualifies the value after it, and
                        // the table stays a mention of its own (the rows the question names)
                        let value_next = ms.get(i + 2).is_some_and(|v| {
                            v.start == b.end
                                && matches!(&v.kind, Kind::Val(vs) if vs.iter().any(|x| keep.contains(&(x.0, x.1))))
                        });
                        if !keep.is_empty() && !value_next {
                            let p = *p;
                            let start = a.start;
                            ms[i + 1].kind = Kind::Col(keep, p);
                            ms[i + 1].start = start;
                            ms.remove(i);
                            continue;
                        }
                    }
                    (Kind::Table(_), Kind::Id(..)) => {
                        ms.remove(i);
                        continue;
                    }
                    // "business customers": the value is the named table's
                    (Kind::Val(vs), Kind::Table(ts)) => {
                        let keep: Vec<(usize, usize, String)> =
                            vs.iter().filter(|v| ts.contains(&v.0)).cloned().collect();
                        if !keep.is_empty() && keep.len() < vs.len() {
                            ms[i].kind = Kind::Val(keep);
                        } else if keep.is_empty() {
                            // "active customers": the named table's flag (`is_active`)
                            let word = stem(&vs[0].2);
                            let flags: Vec<ColAt> = ts
                                .iter()
                                .flat_map(|t| {
                                    self.t(*t)
                                        .columns
                                        .iter()
                                        .enumerate()
                                        .filter(|(_, c)| {
                                            c.kind == ColKind::Bool && c.stems.last() == Some(&word)
                                        })
                                        .map(|(ci, _)| (*t, ci))
                                })
                                .collect();
                            if !flags.is_empty() {
                                ms[i].kind = Kind::Col(flags, true);
                            }
                        }
                    }
                    (Kind::Val(vs), Kind::Col(cs, _)) | (Kind::Col(cs, _), Kind::Val(vs)) => {
                        let keep: Vec<(usize, usize, String)> = vs
                            .iter()
                            .filter(|v| cs.contains(&(v.0, v.1)))
                            .cloned()
                            .collect();
                        if !keep.is_empty() {
                            let (start, end) = (a.start, b.end);
                            let negated = a.negated || b.negated;
                            ms[i] = Mention {
                                start,
                                end,
                                kind: Kind::Val(keep),
                                negated,
                                semantic: false,
                                qualified: true,
                            };
                            ms.remove(i + 1);
                            continue;
                        }
                    }
                    _ => {}
                }
            }
            i += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::mention::Kind;
    use super::super::tests::staged;

    #[test]
    fn words_link_to_tables_columns_and_values() {
        staged("urgent tickets per team", |st| {
            let ms = &st.ms;
            assert!(
                matches!(&ms[0].kind, Kind::Val(vs) if vs[0] == (0, 2, "urgent".to_string())),
                "{ms:?}"
            );
            assert!(
                matches!(&ms[1].kind, Kind::Table(ts) if ts == &vec![0]),
                "{ms:?}"
            );
            assert!(
                matches!(&ms[2].kind, Kind::Col(cs, false) if cs == &vec![(1, 1)]),
                "{ms:?}"
            );
        });
    }
}
