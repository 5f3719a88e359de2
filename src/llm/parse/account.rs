//! Accounting: every content word of a question is either consumed by the plan (a table, a
//! column, a value, an operator, a time expression, a shape word) or named in a
//! clarification. Confidence is computed from the same accounting.

use super::words::*;
use super::{Parsed, Parser};
use crate::llm::plan::*;
use crate::llm::text::{TokKind, Token, is_stopword};
use crate::llm::time;

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
            // a generic verb of an event ("subscribers who used cell X")
            | "used"
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

impl Parser<'_> {
    /// The plan, if it accounts for the whole question; else a clarification naming what it
    /// does not account for, with what was understood.
    pub(super) fn finish(
        &self,
        plan: QueryPlan,
        toks: &[Token],
        used: &[bool],
        tr: &Trace,
    ) -> Parsed {
        let mut plan = pruned(plan);
        plan.assumed = tr.assumed.clone();
        let mut missed: Vec<String> = Vec::new();
        let words_l: Vec<&str> = toks.iter().map(|t| t.lower.as_str()).collect();
        let keyword = |w: &str| is_keyword(w) && !NEGATORS.contains(&w);
        let explained = explained(toks, used, &keyword);
        let mut used = used.to_vec();
        // words the plan's shape accounts for
        let names = plan.column_names();
        let outputs_name = names.iter().any(|c| c.ends_with("name"));
        for i in 0..toks.len() {
            let prev = if i > 0 { words_l[i - 1] } else { "" };
            let consumed = (matches!(prev, "most" | "least") && plan.order.is_some())
                || matches!(words_l[i], "name" | "names") && outputs_name
                || matches!(words_l[i], "flag" | "field" | "column" | "attribute")
                    && i > 0
                    && used[i - 1]
                || tr.heads.contains(&i)
                // "what share … as a percentage": every share word names the one share
                || super::shares::SHARE_WORDS.contains(&words_l[i])
                    && plan.measures.iter().any(|m| m.agg == Agg::Share);
            if consumed {
                used[i] = true;
            }
        }
        // shape words the plan did not use
        let ordered = plan.order.is_some()
            || plan
                .measures
                .iter()
                .any(|m| matches!(m.agg, Agg::Max | Agg::Min));
        let has_agg = |a: &[Agg]| plan.measures.iter().any(|m| a.contains(&m.agg));
        for (i, w) in words_l.iter().enumerate() {
            // explained by a parenthesis, or taken by another stage ("at least 4")
            if explained[i] || tr.consumed.contains(&i) {
                continue;
            }
            let dropped = (MAX_WORDS.contains(w) || MIN_WORDS.contains(w)) && !ordered
                || AVG_WORDS.contains(w) && !has_agg(&[Agg::Avg])
                || *w == "median" && !has_agg(&[Agg::Median])
                || matches!(*w, "distinct" | "unique") && !has_agg(&[Agg::CountDistinct])
                || matches!(
                    *w,
                    "percentage" | "percent" | "share" | "proportion" | "fraction"
                ) && !has_agg(&[Agg::Share]);
            if dropped {
                missed.push(toks[i].raw.clone());
            }
        }
        if let Some(p) = tr.limit
            && plan.limit.is_none()
        {
            missed.push(toks[p].raw.clone());
        }
        if (tr.time.start_us.is_some() || tr.time.end_us.is_some()) && plan.time.is_none() {
            missed.push(tr.time.label.clone());
        }
        if tr.time.bucket.is_some()
            && !plan
                .group_by
                .iter()
                .any(|g| matches!(g, GroupKey::Bucket { .. }))
        {
            missed.push(format!(
                "per {}",
                tr.time.bucket.map(|u| u.name()).unwrap_or("")
            ));
        }
        // a value or phrase of a table the plan cannot reach
        missed.extend(tr.dropped.iter().cloned());
        // a count condition on groups, and no groups
        if plan.having.len() < tr.having.len() {
            missed.extend(tr.having.iter().cloned());
        }
        // a column named in the question that the plan does not use
        for (text, cols) in &tr.columns {
            if !cols.iter().any(|c| names.contains(&c.as_str())) {
                missed.push(text.clone());
            }
        }
        // a negator that negated nothing is a constraint dropped
        missed.extend(unmatched(toks, &used, &keyword).into_iter().map(|u| u.text));
        missed.dedup();
        if !missed.is_empty() {
            let quoted: Vec<String> = missed.iter().map(|m| format!("'{m}'")).collect();
            return Parsed::Clarify {
                message: format!(
                    "I understood: {}. I did not understand: {}. Say it with a column or value of the data, or leave it out.",
                    plan.summary(),
                    quoted.join(", ")
                ),
                candidates: self.s.overview(),
                understood: Some(Box::new(plan)),
                unmatched: missed,
            };
        }
        let anti_grouped =
            !plan.group_by.is_empty() && plan.related.iter().any(|r| r.link == Link::Anti);
        Parsed::Plan {
            plan: Box::new(plan),
            confidence: confidence(
                tr.semantic,
                tr.typos,
                tr.unresolved,
                // an anti-join under a grouping relates along a guessed key
                tr.guesses + 3 * usize::from(anti_grouped),
            ),
        }
    }
}

/// What the parse did beyond the mentions, for the accounting.
#[derive(Clone, Default)]
pub(super) struct Trace {
    pub semantic: usize,
    pub typos: usize,
    pub unresolved: usize,
    /// The token that set a limit ("top 5").
    pub limit: Option<usize>,
    pub time: time::TimeSpec,
    /// Column mentions (as written, candidate columns): each must reach the plan.
    pub columns: Vec<(String, Vec<String>)>,
    /// Choices nothing in the question decided.
    pub guesses: usize,
    /// The noun right after a value ("express shipments", "refund requests"): the rows it names.
    pub heads: Vec<usize>,
    /// Shape words a stage took before the plan was shaped ("least" of "at least 4").
    pub consumed: Vec<usize>,
    /// Mentions no table the plan reaches could take, as written.
    pub dropped: Vec<String>,
    /// Count conditions on groups ("more than 5 failures"), as written: the plan must group.
    pub having: Vec<String>,
    /// Choices the answer must say it made ("'transactions' also names …").
    pub assumed: Vec<String>,
}

fn pruned(mut plan: QueryPlan) -> QueryPlan {
    plan.prune_unused_relations();
    plan
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
