//! Stage 1, the words: tokens (typos corrected against the catalog's and the shape
//! vocabulary), numeric comparisons, the column comparison, the time expression and a limit.

use super::Parser;
use super::account;
use super::compare::{ColumnMatch, column_match};
use super::words::*;
use crate::llm::text::{TokKind, Token, close_enough, is_stopword, mark_used, stem, tokenize};
use crate::llm::time::{self, TimeSpec, number_of, unit_of};

/// A numeric comparison: where it sits, the operator and the number ("over 2.5k").
pub(super) type Threshold = (usize, &'static str, f64);

/// "more than 2 minutes after": where, the gap in µs, and whether it is "more".
pub(super) type ColumnGap = (usize, i64, bool);

/// The question as the later stages read it. `used` marks the tokens a stage consumed; the
/// accounting asks that every content word end up used.
pub(super) struct Question {
    pub toks: Vec<Token>,
    pub used: Vec<bool>,
    /// Lower-case words, one per token.
    pub words: Vec<String>,
    pub thresholds: Vec<Threshold>,
    pub gap: Option<ColumnGap>,
    pub time: TimeSpec,
    /// The first token of the time expression.
    pub time_pos: Option<usize>,
    /// The token that sets a limit ("top 5") and the limit.
    pub limit: Option<(usize, u64)>,
    pub typos: usize,
    /// Where "at least one" stands ("at least one open case": an existence).
    pub exists_at: Vec<usize>,
    /// "a country other than the sender's": two columns of related rows compared.
    pub matching: Option<ColumnMatch>,
}

impl Question {
    pub fn len(&self) -> usize {
        self.toks.len()
    }

    /// Whether any of `w` is a word of the question.
    pub fn has(&self, w: &[&str]) -> bool {
        self.words.iter().any(|x| w.contains(&x.as_str()))
    }

    /// The first word that is one of `w`.
    pub fn pos_of(&self, w: &[&str]) -> Option<usize> {
        self.words.iter().position(|x| w.contains(&x.as_str()))
    }

    /// "what time" or "when": the question asks for a time.
    pub fn asks_when(&self) -> bool {
        self.has(&["when"])
            || self
                .words
                .windows(2)
                .any(|w| w[0] == "what" && w[1] == "time")
    }
}

impl Parser<'_> {
    /// Reads `question` relative to `as_of` (µs since the epoch).
    pub(super) fn lex(&self, question: &str, as_of_us: i64) -> Question {
        let mut toks = tokenize(question);
        let n = toks.len();
        let mut used = vec![false; n];
        // "quantity between 2 and 5": a numeric range, not hours of the day
        let mut num_cmps: Vec<(usize, &'static str, f64)> = Vec::new();
        for i in 1..n.saturating_sub(3) {
            if toks[i].lower == "between"
                && toks[i + 2].lower == "and"
                && toks[i + 1].kind == TokKind::Number
                && toks[i + 3].kind == TokKind::Number
                && self.is_numeric_word(&toks[i - 1])
                && let (Ok(a), Ok(b)) = (
                    toks[i + 1].lower.parse::<f64>(),
                    toks[i + 3].lower.parse::<f64>(),
                )
            {
                num_cmps.push((i, ">=", a));
                num_cmps.push((i, "<=", b));
                mark_used(&mut used, i..i + 4);
            }
        }
        let before_time = used.clone();
        let time = time::parse(&toks, &mut used, as_of_us);
        let time_pos = (0..n).find(|i| used[*i] && !before_time[*i]);
        let lw =
            |toks: &Vec<Token>, i: usize| toks.get(i).map(|t| t.lower.clone()).unwrap_or_default();

        // "more than 2 minutes after": a comparison of two columns.
        let mut col_cmp: Option<(usize, i64, bool)> = None;
        for i in 0..n.saturating_sub(4) {
            if matches!(lw(&toks, i).as_str(), "more" | "less" | "over" | "under")
                && lw(&toks, i + 1) == "than"
                && let Some(num) = number_of(&toks[i + 2])
                && let Some(u) = unit_of(&toks[i + 3].lower)
                && matches!(lw(&toks, i + 4).as_str(), "after" | "later" | "past")
            {
                let more = matches!(lw(&toks, i).as_str(), "more" | "over");
                col_cmp = Some((i, (num * u.micros() as f64) as i64, more));
                mark_used(&mut used, i..i + 5);
            }
        }

        let matching = column_match(&toks, &mut used);

        // "risk score above 0.9", "transactions over 1000", "at least 3 units"
        let mut exists_at = Vec::new();
        for i in 0..n {
            if used[i] {
                continue;
            }
            // "at least one open case": existence, which the join to the cases says
            if lw(&toks, i) == "at"
                && lw(&toks, i + 1) == "least"
                && matches!(lw(&toks, i + 2).as_str(), "one" | "a" | "an")
            {
                mark_used(&mut used, i..i + 3);
                exists_at.push(i);
                continue;
            }
            let (op, width) = match (lw(&toks, i).as_str(), lw(&toks, i + 1).as_str()) {
                ("above" | "over" | "exceeding" | "exceeds", _) => (">", 1),
                ("greater" | "more" | "higher" | "larger" | "bigger", "than") => (">", 2),
                ("at", "least") => (">=", 2),
                ("below" | "under", _) => ("<", 1),
                ("less" | "lower" | "smaller" | "fewer", "than") => ("<", 2),
                ("at", "most") => ("<=", 2),
                _ => continue,
            };
            if let Some(t) = toks.get(i + width)
                && t.kind == TokKind::Number
                && !used[i + width]
                && let Ok(v) = t.lower.parse::<f64>()
            {
                num_cmps.push((i, op, v));
                mark_used(&mut used, i..i + width + 1);
            }
        }
        // "1,000 or more", "4 or higher", "5 or fewer", "a rating of 4.5 or better"
        for i in 0..n.saturating_sub(2) {
            if used[i] || toks[i].kind != TokKind::Number || lw(&toks, i + 1) != "or" {
                continue;
            }
            let op = match lw(&toks, i + 2).as_str() {
                "more" | "higher" | "above" | "greater" | "over" | "better" | "larger"
                | "bigger" | "up" => ">=",
                "less" | "fewer" | "lower" | "below" | "under" | "smaller" | "worse" => "<=",
                _ => continue,
            };
            if let Ok(v) = toks[i].lower.parse::<f64>() {
                // the comparison sits where the number does: the column named before it
                num_cmps.push((i, op, v));
                mark_used(&mut used, i..i + 3);
                if lw(&toks, i + 3) == "than" {
                    used[i + 3] = true;
                }
            }
        }

        // "top 5", "3 largest", "the 4 biggest": a limit.
        let mut limit: Option<(usize, u64)> = None;
        for i in 0..n {
            if used[i] || toks[i].kind != TokKind::Number {
                continue;
            }
            let v: f64 = toks[i].lower.parse().unwrap_or(0.0);
            let prev = if i > 0 {
                lw(&toks, i - 1)
            } else {
                String::new()
            };
            let next = lw(&toks, i + 1);
            if v >= 1.0
                && v.fract() == 0.0
                && (matches!(
                    prev.as_str(),
                    "top" | "bottom" | "first" | "which" | "the" | "list"
                ) || MAX_WORDS.contains(&next.as_str())
                    || MIN_WORDS.contains(&next.as_str())
                    || i == 0)
            {
                limit = Some((i, v as u64));
                used[i] = true;
                break;
            }
        }

        // Typos: a word no catalog word stems to, close to one that does.
        // Shape words are corrected too ("avrage", "percnt").
        let known = &self.s.lexicon.known_stems;
        let mut typos = 0usize;
        for (i, t) in toks.iter_mut().enumerate() {
            if used[i]
                || t.kind != TokKind::Word
                || is_stopword(&t.lower)
                || known.contains(&t.stem)
                || is_keyword(&t.lower)
                || account::is_filler(&t.lower)
            {
                continue;
            }
            if let Some((_, st)) = self
                .s
                .lexicon
                .vocab
                .iter()
                .find(|(w, _)| close_enough(&t.lower, w))
            {
                t.stem = st.clone();
                typos += 1;
            } else if let Some(k) = shape_vocabulary().find(|k| close_enough(&t.lower, k)) {
                t.lower = k.to_string();
                t.stem = stem(k);
                typos += 1;
            }
        }
        let words = toks.iter().map(|t| t.lower.clone()).collect();
        Question {
            toks,
            used,
            words,
            thresholds: num_cmps,
            gap: col_cmp,
            time,
            time_pos,
            limit,
            typos,
            exists_at,
            matching,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lex(q: &str) -> Question {
        let s = super::super::tests::schema();
        Parser::new(&s, None).lex(q, 0)
    }

    #[test]
    fn thresholds_in_their_written_forms() {
        let th = |q: &str| -> Vec<(&'static str, f64)> {
            lex(q).thresholds.iter().map(|t| (t.1, t.2)).collect()
        };
        assert_eq!(th("tickets over 2.5k minutes"), vec![(">", 2500.0)]);
        assert_eq!(
            th("resolution minutes of 1,000 or more"),
            vec![(">=", 1000.0)]
        );
        assert_eq!(th("at least 4 tickets"), vec![(">=", 4.0)]);
        assert_eq!(
            th("resolution minutes between 2 and 5"),
            vec![(">=", 2.0), ("<=", 5.0)]
        );
        assert_eq!(th("50 or fewer tickets"), vec![("<=", 50.0)]);
    }

    #[test]
    fn at_least_one_is_existence_not_a_threshold() {
        let q = lex("agents with at least one urgent ticket");
        assert!(q.thresholds.is_empty());
        assert!(q.used[2] && q.used[3] && q.used[4]);
    }

    #[test]
    fn a_limit_and_its_position() {
        assert_eq!(lex("top 5 agents by tickets").limit, Some((1, 5)));
        assert_eq!(lex("the 3 slowest tickets").limit, Some((1, 3)));
        assert_eq!(lex("tickets over 5 minutes").limit, None);
    }

    #[test]
    fn typos_of_catalog_and_shape_words_are_corrected_and_counted() {
        let q = lex("avrage resolution minutes of escalatd tickets");
        assert_eq!(q.words[0], "average");
        assert_eq!(q.toks[4].stem, stem("escalated"));
        assert_eq!(q.typos, 2);
    }
}
