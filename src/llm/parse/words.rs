//! The shape vocabulary: words with a grammatical role, never linked as data.

pub(super) const COUNT_WORDS: &[&str] = &["count", "number", "many", "#"];
pub(super) const SUM_WORDS: &[&str] = &[
    "total",
    "sum",
    "combined",
    "overall",
    "totals",
    "cumulative",
];
pub(super) const AVG_WORDS: &[&str] = &["average", "avg", "mean", "typical"];
pub(super) const MAX_WORDS: &[&str] = &[
    "peak",
    "busiest",
    "max",
    "maximum",
    "largest",
    "biggest",
    "highest",
    "greatest",
    "most",
    "top",
    "priciest",
    "costliest",
];
pub(super) const MIN_WORDS: &[&str] = &[
    "quietest", "min", "minimum", "smallest", "lowest", "least", "fewest", "cheapest", "bottom",
];
pub(super) const MONEY_WORDS: &[&str] = &[
    "volume", "revenue", "revenues", "spend", "spends", "spending", "spent", "value", "turnover",
    "money", "takings", "worth", "earned", "earnings",
];
pub(super) const QUANTITY_WORDS: &[&str] = &["units", "unit", "items", "pieces", "qty"];
pub(super) const RECENCY_WORDS: &[&str] = &[
    "recent", "latest", "newest", "last", "first", "earliest", "oldest",
];
pub(super) const NEGATORS: &[&str] = &[
    "not",
    "excluding",
    "except",
    "without",
    "exclude",
    "non",
    "no",
    "other",
];
pub(super) const SUPPRESSORS: &[&str] = &["whatever", "any", "regardless", "irrespective"];
pub(super) const TEXT_CUES: &[&str] = &[
    "talking",
    "talk",
    "talks",
    "regarding",
    "concerning",
    "complaining",
    "describing",
    "describe",
    "describes",
    "mention",
    "mentions",
    "mentioning",
    "contain",
    "contains",
    "containing",
    "say",
    "says",
    "saying",
    "ask",
    "asks",
    "asking",
    "include",
    "includes",
    "including",
    "like",
    "about",
    "reference",
    "references",
];

/// Shape words, for typo correction.
pub(super) fn shape_vocabulary() -> impl Iterator<Item = &'static str> {
    COUNT_WORDS
        .iter()
        .chain(SUM_WORDS)
        .chain(AVG_WORDS)
        .chain(MAX_WORDS)
        .chain(MIN_WORDS)
        .chain(MONEY_WORDS)
        .chain(RECENCY_WORDS)
        .chain(&[
            "percentage",
            "percent",
            "distinct",
            "different",
            "between",
            "number",
            "median",
            "minimum",
            "maximum",
            "without",
            "excluding",
        ])
        .copied()
        .filter(|w| w.len() >= 5)
}

/// Words with a grammatical role (aggregations, rankings, markers): never linked as data.
pub fn is_keyword(w: &str) -> bool {
    COUNT_WORDS.contains(&w)
        || SUM_WORDS.contains(&w)
        || AVG_WORDS.contains(&w)
        || MAX_WORDS.contains(&w)
        || MIN_WORDS.contains(&w)
        || MONEY_WORDS.contains(&w)
        || QUANTITY_WORDS.contains(&w)
        || NEGATORS.contains(&w)
        || SUPPRESSORS.contains(&w)
        || TEXT_CUES.contains(&w)
        || matches!(
            w,
            "negative"
                | "positive"
                | "distinct"
                | "unique"
                | "different"
                | "when"
                | "first"
                | "earliest"
                | "oldest"
                | "recent"
                | "break"
                | "breakdown"
                | "trend"
                | "out"
                | "more"
                | "less"
                | "than"
                | "sold"
                | "sell"
                | "mention"
        )
}

/// "top 5 merchants by volume": this "by" introduces the ranking measure.
pub(super) fn self_is_rank_by(words_l: &[String], by: usize) -> bool {
    words_l[..by].iter().any(|w| {
        matches!(w.as_str(), "top" | "bottom")
            || MAX_WORDS.contains(&w.as_str())
            || MIN_WORDS.contains(&w.as_str())
    })
}
