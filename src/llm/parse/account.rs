//! Accounting: every content word of a question is either consumed by the plan (a table, a
//! column, a value, an operator, a time expression, a shape word) or named in a
//! clarification. Confidence is computed from the same accounting.

use crate::llm::text::{TokKind, Token, is_stopword};

/// Words that only shape how a question is asked (never a constraint on the rows).
pub fn is_filler(w: &str) -> bool {
    matches!(
        w,
        "whats"
            | "many"
            | "much"
            | "number"
            | "count"
            | "give"
            | "giving"
            | "show"
            | "shows"
            | "showing"
            | "list"
            | "listing"
            | "display"
            | "tell"
            | "want"
            | "need"
            | "know"
            | "like"
            | "would"
            | "could"
            | "can"
            | "will"
            | "should"
            | "shall"
            | "may"
            | "might"
            | "must"
            | "am"
            | "being"
            | "got"
            | "gets"
            | "getting"
            | "look"
            | "looking"
            | "return"
            | "returns"
            | "report"
            | "ever"
            | "just"
            | "exactly"
            | "approximately"
            | "roughly"
            | "about"
            | "around"
            | "overall"
            | "altogether"
            | "together"
            | "total"
            | "here"
            | "there"
            | "thing"
            | "things"
            | "one"
            | "ones"
            | "anything"
            | "something"
            | "everything"
            | "rows"
            | "row"
            | "records"
            | "record"
            | "entries"
            | "entry"
            | "happen"
            | "happens"
            | "happened"
            | "occur"
            | "occurs"
            | "occurred"
            | "take"
            | "took"
            | "place"
            | "split"
            | "broken"
            | "break"
            | "breakdown"
            | "down"
            | "grouped"
            | "group"
            | "groups"
            | "over"
            | "time"
            | "trend"
            | "series"
            | "figure"
            | "figures"
            | "stats"
            | "statistics"
            | "table"
            | "tables"
            | "value"
            | "values"
            | "amount"
            | "amounts"
            | "each"
            | "respectively"
            | "some"
            | "say"
            | "ok"
            | "okay"
            | "hey"
            | "hi"
            | "thanks"
            | "thank"
            | "quick"
            | "quickly"
            | "question"
            | "currently"
            | "presently"
            | "today's"
            | "i.e"
            | "ie"
            | "eg"
            | "e.g"
            | "namely"
            | "meaning"
            | "mean"
            | "means"
            | "counting"
            | "treat"
            | "treating"
            | "consider"
            | "considering"
            | "as"
            | "such"
            | "either"
            | "well"
            | "them"
            // connectives and prepositions that join constraints without adding one
            | "but"
            | "yet"
            | "though"
            | "however"
            | "while"
            | "whilst"
            | "across"
            | "among"
            | "amongst"
            | "within"
            | "during"
            | "via"
            | "throughout"
            | "onto"
            | "upon"
            | "towards"
            | "toward"
            | "still"
            | "already"
            | "single"
            | "individual"
            | "separate"
            | "separately"
            | "respective"
            | "given"
            | "i"
            // light verbs: they say that something is, not what
            | "hold"
            | "holds"
            | "held"
            | "holding"
            | "make"
            | "makes"
            | "made"
            | "making"
            | "done"
            | "seen"
            | "keep"
            | "kept"
            | "exist"
            | "exists"
            | "existed"
            | "belong"
            | "belongs"
            | "belonging"
            | "sitting"
            | "sit"
            | "sits"
            | "stand"
            | "stands"
            | "see"
            | "saw"
            | "sees"
            | "go"
            | "goes"
            | "went"
            | "gone"
            | "going"
            | "pay"
            | "pays"
            | "paying"
            | "use"
            | "uses"
            | "using"
            | "carry"
            | "carries"
            | "carried"
            | "carrying"
            | "handle"
            | "handles"
            | "handled"
            | "handling"
            | "come"
            | "comes"
            | "came"
            | "coming"
            | "raise"
            | "raises"
            | "raised"
            | "receive"
            | "received"
            | "receives"
            | "register"
            | "registered"
            | "recorded"
            | "log"
            | "logged"
    )
}

/// A run of question words nothing in the plan accounts for, as written.
#[derive(Clone, Debug, PartialEq)]
pub struct Unmatched {
    pub start: usize,
    pub end: usize,
    pub text: String,
}

/// Whether token `i` carries meaning a plan must account for.
fn is_content(t: &Token, keyword: &dyn Fn(&str) -> bool) -> bool {
    match t.kind {
        TokKind::Word => {
            t.lower.chars().count() >= 2
                && !is_stopword(&t.lower)
                && !keyword(&t.lower)
                && !is_filler(&t.lower)
                && !t.lower.chars().all(|c| c.is_ascii_punctuation())
        }
        TokKind::Number | TokKind::Clock | TokKind::Id | TokKind::Quoted | TokKind::Meta => true,
    }
}

/// The words a fully consumed parenthesised value explains: the few just before it ("on
/// file (status archived)", "premium-ish parcels (grade gold)").
pub fn explained(toks: &[Token], used: &[bool], keyword: &dyn Fn(&str) -> bool) -> Vec<bool> {
    let n = toks.len();
    let mut explained = vec![false; n];
    let mut i = 0;
    while i < n {
        if toks[i].paren {
            let start = i;
            while i < n && toks[i].paren {
                i += 1;
            }
            let consumed = (start..i).all(|k| used[k] || !is_content(&toks[k], keyword));
            if consumed {
                (start.saturating_sub(4)..start).for_each(|k| explained[k] = true);
            }
            continue;
        }
        i += 1;
    }
    explained
}

/// The runs of content words not consumed (`used`) nor explained, in order.
pub fn unmatched(toks: &[Token], used: &[bool], keyword: &dyn Fn(&str) -> bool) -> Vec<Unmatched> {
    let n = toks.len();
    let explained = explained(toks, used, keyword);
    let mut out: Vec<Unmatched> = Vec::new();
    for i in 0..n {
        if used[i] || explained[i] || !is_content(&toks[i], keyword) {
            continue;
        }
        match out.last_mut() {
            // one run across stopwords between two missed words ("rating of 4.5")
            Some(u) if (u.end..i).all(|k| !is_content(&toks[k], keyword) && !used[k]) => {
                u.end = i + 1;
            }
            _ => out.push(Unmatched {
                start: i,
                end: i + 1,
                text: String::new(),
            }),
        }
    }
    for u in &mut out {
        u.text = toks[u.start..u.end]
            .iter()
            .map(|t| t.raw.as_str())
            .collect::<Vec<_>>()
            .join(" ");
    }
    out
}

/// Confidence of a plan that accounts for every content word: lower for each link made only
/// by meaning, for each corrected typo and for each mention that could not be placed.
pub fn confidence(semantic: usize, typos: usize, unresolved: usize, guesses: usize) -> f32 {
    let c = 0.97
        - 0.12 * semantic as f32
        - 0.04 * typos as f32
        - 0.25 * unresolved as f32
        - 0.1 * guesses as f32;
    c.clamp(0.05, 0.97)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llm::text::tokenize;

    fn missed(q: &str, used_words: &[&str]) -> Vec<String> {
        let toks = tokenize(q);
        let used: Vec<bool> = toks
            .iter()
            .map(|t| used_words.contains(&t.lower.as_str()))
            .collect();
        unmatched(&toks, &used, &|_| false)
            .into_iter()
            .map(|u| u.text)
            .collect()
    }

    #[test]
    fn a_constraint_nothing_consumed_is_reported_as_one_phrase() {
        assert_eq!(
            missed(
                "how many suppliers in the north with a rating of 4.5 or more",
                &["suppliers", "north"]
            ),
            vec!["rating of 4.5 or more".to_string()]
        );
    }

    #[test]
    fn shape_words_and_stopwords_need_no_accounting() {
        assert!(missed("please show me the number of parcels", &["parcels"]).is_empty());
    }

    #[test]
    fn a_consumed_parenthesised_value_explains_the_words_before_it() {
        assert!(
            missed(
                "patients on the waiting list (state waiting)",
                &["patients", "state", "waiting"]
            )
            .is_empty()
        );
        // not consumed: the words before it stay unexplained
        assert_eq!(
            missed("patients on the waiting list (grade x)", &["patients"]),
            vec!["waiting list grade".to_string()]
        );
    }
}
