//! Question → [`QueryPlan`]. Schema linking against the live catalog (table and column
//! names, observed values, id shapes, phrases of free-text columns), exact and fuzzy, with
//! the sentence encoder for words that only match in meaning; then a small grammar of
//! question shapes (counts, measures, breakdowns, trends, rankings, lookups, joins).

use std::collections::BTreeMap;

mod absence;
mod account;
#[cfg(test)]
mod construct_tests;
mod measures;

use super::plan::*;
use super::schema::{ColInfo, ColKind, MAX_CATEGORICAL, SchemaInfo, TableInfo};
use super::text::{
    TokKind, Token, close_enough, country_code, is_stopword, is_unit_suffix, mark_used, stem,
    tokenize, words,
};
use super::time::{self, number_of, unit_of};

/// Meaning-level links the encoder found for a word.
pub trait Semantic {
    /// The best column or categorical value for `word` with its similarity, across tables.
    fn link(&self, word: &str) -> Vec<SemLink>;
}

#[derive(Clone, Debug)]
pub enum SemLink {
    Table {
        table: usize,
        score: f32,
    },
    Column {
        table: usize,
        column: usize,
        score: f32,
    },
    Value {
        table: usize,
        column: usize,
        value: String,
        score: f32,
    },
}

/// What parsing gave.
#[derive(Clone, Debug)]
pub enum Parsed {
    Plan {
        plan: Box<QueryPlan>,
        confidence: f32,
    },
    Clarify {
        message: String,
        candidates: Vec<String>,
        /// What was understood, when the question was understood only in part.
        understood: Option<Box<QueryPlan>>,
        /// The phrases nothing in the plan accounts for.
        unmatched: Vec<String>,
    },
}

impl Parsed {
    pub fn clarify(message: String, candidates: Vec<String>) -> Self {
        Parsed::Clarify {
            message,
            candidates,
            understood: None,
            unmatched: Vec::new(),
        }
    }
}

type TC = (usize, usize);

#[derive(Clone, Debug)]
enum MK {
    Table(Vec<usize>),
    Col(Vec<TC>, bool),
    Val(Vec<(usize, usize, String)>),
    Text(Vec<TC>, String),
    Id(Vec<TC>, String),
    /// A column with no value (`true`) or with one (`false`).
    Null(Vec<TC>, bool),
    /// No row of these tables relates to the row ("with no invoices").
    Absent(Vec<usize>),
}

#[derive(Clone, Debug)]
struct M {
    start: usize,
    end: usize,
    kind: MK,
    negated: bool,
    semantic: bool,
    /// A value named together with its column ("status created").
    qualified: bool,
}

impl M {
    fn new(start: usize, end: usize, kind: MK) -> Self {
        Self {
            start,
            end,
            kind,
            negated: false,
            semantic: false,
            qualified: false,
        }
    }
}

const COUNT_WORDS: &[&str] = &["count", "number", "many", "#"];
const SUM_WORDS: &[&str] = &[
    "total",
    "sum",
    "combined",
    "overall",
    "totals",
    "cumulative",
];
const AVG_WORDS: &[&str] = &["average", "avg", "mean", "typical"];
const MAX_WORDS: &[&str] = &[
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
const MIN_WORDS: &[&str] = &[
    "quietest", "min", "minimum", "smallest", "lowest", "least", "fewest", "cheapest", "bottom",
];
const MONEY_WORDS: &[&str] = &[
    "volume", "revenue", "revenues", "spend", "spends", "spending", "spent", "value", "turnover",
    "money", "takings", "worth", "earned", "earnings",
];
const QUANTITY_WORDS: &[&str] = &["units", "unit", "items", "pieces", "qty"];
const RECENCY_WORDS: &[&str] = &[
    "recent", "latest", "newest", "last", "first", "earliest", "oldest",
];
const NEGATORS: &[&str] = &[
    "not",
    "excluding",
    "except",
    "without",
    "exclude",
    "non",
    "no",
    "other",
];
const SUPPRESSORS: &[&str] = &["whatever", "any", "regardless", "irrespective"];
const TEXT_CUES: &[&str] = &[
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

pub struct Parser<'a> {
    s: &'a SchemaInfo,
    sem: Option<&'a dyn Semantic>,
}

impl<'a> Parser<'a> {
    pub fn new(s: &'a SchemaInfo, sem: Option<&'a dyn Semantic>) -> Self {
        Self { s, sem }
    }

    fn t(&self, i: usize) -> &TableInfo {
        &self.s.tables[i]
    }

    fn c(&self, (t, c): TC) -> &ColInfo {
        &self.s.tables[t].columns[c]
    }

    /// Parses `question` relative to `as_of` (µs since the epoch).
    pub fn parse(&self, question: &str, as_of_us: i64) -> Parsed {
        let mut toks = tokenize(question);
        let n = toks.len();
        let mut used = vec![false; n];
        if self.s.tables.is_empty() {
            return Parsed::clarify(
                "There is no data to ask about yet: no table has any rows.".into(),
                Vec::new(),
            );
        }
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

        // "risk score above 0.9", "transactions over 1000", "at least 3 units"
        for i in 0..n {
            if used[i] {
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

        let mut ms = Vec::new();
        self.link_text(&toks, &mut used, &mut ms);
        ms.extend(self.link(&toks, &mut used));
        // "order total": an aggregation word right after a table's name that is a column of it
        for i in 1..n {
            if used[i] || !SUM_WORDS.contains(&toks[i].lower.as_str()) {
                continue;
            }
            if let Some(m) = ms
                .iter_mut()
                .find(|m| m.end == i && matches!(m.kind, MK::Table(_)))
                && let MK::Table(ts) = &m.kind
            {
                let cols: Vec<TC> = ts
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
                    m.kind = MK::Col(cols, false);
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
        self.link_absence(&toks, &mut used, &mut ms);
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
                        SemLink::Column { .. } => MK::Col(
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
                        SemLink::Table { .. } => MK::Table(
                            links
                                .iter()
                                .filter_map(|l| match l {
                                    SemLink::Table { table, .. } => Some(*table),
                                    _ => None,
                                })
                                .collect(),
                        ),
                        SemLink::Value { value, .. } => MK::Val(
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
                    ms.push(M {
                        semantic: true,
                        ..M::new(i, i + 1, kind)
                    });
                }
            }
        }
        ms.sort_by_key(|m| m.start);
        self.mark_negations(&toks, &mut used, &mut ms);
        self.merge_qualifiers(&mut ms);
        tracing::debug!(question, ?ms, "mentions");

        let has_any = ms.iter().any(|m| !matches!(m.kind, MK::Col(_, true)));
        if !has_any {
            return Parsed::clarify(
                "I could not match that question to the data: it names no table, column or value I know. Try naming what to count or measure and over which table.".into(),
                self.s.overview(),
            );
        }

        let words_l: Vec<String> = toks.iter().map(|t| t.lower.clone()).collect();
        let has = |w: &[&str]| words_l.iter().any(|x| w.contains(&x.as_str()));
        let pos_of = |w: &[&str]| words_l.iter().position(|x| w.contains(&x.as_str()));

        // Shapes this parser does not build yet: say so rather than answer something else.
        let superlative_any = (0..n).any(|i| {
            MAX_WORDS.contains(&words_l[i].as_str()) || MIN_WORDS.contains(&words_l[i].as_str())
        });
        let per_group = words_l.windows(2).any(|w| {
            matches!(w[0].as_str(), "each" | "every")
                || w[0] == "per" && !w[1].is_empty() && unit_of(&w[1]).is_none()
        }) || (0..n).any(|i| matches!(words_l[i].as_str(), "each" | "every"));
        if superlative_any && per_group && ms.iter().any(|m| matches!(&m.kind, MK::Table(_))) {
            // "the most expensive product in each category": a ranking inside every group
            let entity_first = ms
                .iter()
                .find(|m| matches!(m.kind, MK::Table(_) | MK::Col(..)));
            let sup_pos = (0..n).find(|i| {
                MAX_WORDS.contains(&words_l[*i].as_str())
                    || MIN_WORDS.contains(&words_l[*i].as_str())
            });
            if let (Some(e), Some(p)) = (entity_first, sup_pos)
                && matches!(e.kind, MK::Table(_))
                && p < e.start
            {
                return Parsed::clarify(
                    "A ranking inside every group (the top one per category) is not supported yet. Ask for the ranking within one group, e.g. \"the most expensive product in electronics\", or for the breakdown, e.g. \"highest price per category\".".into(),
                    self.s.overview(),
                );
            }
        }

        // ---- lookups by id
        let number_of = words_l.windows(2).any(|w| w[0] == "number" && w[1] == "of");
        let count_q = (has(&["how"]) && has(&["many"])) || has(&["count", "counts"]) || number_of;
        let how_much = has(&["how"]) && has(&["much"]);
        // "how much did C1 spend" aggregates; "how much is P1" looks up
        let agg_q = count_q
            || how_much && (has(MONEY_WORDS) || has(&["did", "does", "do", "were", "was"]))
            || has(MONEY_WORDS)
            || has(SUM_WORDS)
            || has(AVG_WORDS)
            || has(&["max", "maximum", "min", "minimum"]);
        let group_marker = has(&["per", "each", "every"]) || time.bucket.is_some();
        let asks_when =
            has(&["when"]) || words_l.windows(2).any(|w| w[0] == "what" && w[1] == "time");
        if !agg_q
            && !group_marker
            && !asks_when
            && let Some(idm) = ms.iter().find(|m| matches!(m.kind, MK::Id(..)))
            && let MK::Id(cands, id) = &idm.kind
            && let Some(&(ti, ci)) = cands.iter().find(|tc| self.c(**tc).is_key)
        {
            let table = self.t(ti);
            let mut columns: Vec<ColRef> = Vec::new();
            for m in &ms {
                if let MK::Col(cs, _) = &m.kind
                    && let Some(&(_, c)) = cs.iter().find(|(t, _)| *t == ti)
                    && c != ci
                {
                    columns.push(ColRef {
                        table: 0,
                        column: table.columns[c].name.clone(),
                    });
                }
                // "which customer owns account A1": the other table's key held by this row
                if let MK::Table(ts) = &m.kind
                    && !ts.contains(&ti)
                    && let Some(pk) = ts
                        .iter()
                        .find_map(|t| self.t(*t).pk().filter(|pk| table.col(pk).is_some()))
                {
                    columns.push(ColRef {
                        table: 0,
                        column: pk.to_string(),
                    });
                }
            }
            // "what did invoice I1 come to", "how much is P1": the row's own money column
            let money_words = ["cost", "costs", "worth", "come", "came", "comes"];
            if columns.is_empty()
                && (how_much || has(&money_words))
                && let Some(c) = self.money_column(ti)
            {
                for (i, w) in words_l.iter().enumerate() {
                    if money_words.contains(&w.as_str()) {
                        used[i] = true;
                    }
                }
                columns.push(ColRef {
                    table: 0,
                    column: c,
                });
            }
            if columns.is_empty() {
                columns = table
                    .columns
                    .iter()
                    .filter(|c| c.name != "_ts")
                    .map(|c| ColRef {
                        table: 0,
                        column: c.name.clone(),
                    })
                    .collect();
            }
            let plan = QueryPlan {
                table: table.name.clone(),
                related: Vec::new(),
                columns,
                measures: Vec::new(),
                group_by: Vec::new(),
                filters: Vec::new(),
                time: None,
                order: None,
                limit: None,
                lookup: Some((table.columns[ci].name.clone(), id.clone())),
                hide_measure: false,
            };
            return self.finish(plan, &toks, &used, &Trace::default());
        }

        // ---- the main table
        let scores = self.scores(&ms, &words_l);
        let marker_before = |m: &M| -> bool {
            let mut k = m.start;
            while k > 0 {
                let w = words_l[k - 1].as_str();
                if matches!(w, "per" | "by" | "each" | "every") {
                    return !(w == "by"
                        && limit.is_some()
                        && limit.map(|(p, _)| p < k).unwrap_or(false)
                        && self_is_rank_by(&words_l, k - 1));
                }
                if matches!(w, "the" | "a" | "in" | "for" | "of" | "down") {
                    k -= 1;
                    continue;
                }
                break;
            }
            false
        };
        // "by region and channel": a column right after a grouped one (joined by "and" or
        // a comma) is grouped too
        let mut grouped_starts: Vec<usize> = Vec::new();
        for (i, m) in ms.iter().enumerate() {
            let chained = i > 0
                && grouped_starts.contains(&ms[i - 1].start)
                && matches!(m.kind, MK::Col(..) | MK::Table(_))
                && (ms[i - 1].end == m.start
                    || ms[i - 1].end + 1 == m.start && words_l[m.start - 1] == "and");
            if marker_before(m) && matches!(m.kind, MK::Col(..) | MK::Table(_)) || chained {
                grouped_starts.push(m.start);
            }
        }
        let is_group_pos = |m: &M| -> bool { grouped_starts.contains(&m.start) };

        // which X / top N X: the entity ranked
        let which_pos = pos_of(&["which", "what"]);
        let rank_entity: Option<&M> = ms.iter().find(|m| {
            let before_ok = limit
                .map(|(p, _)| m.start > p && m.start <= p + 3)
                .unwrap_or(false)
                || which_pos.map(|p| m.start == p + 1).unwrap_or(false);
            // "least popular payment method", "the busiest store", "the latest order"
            let sup = |k: usize| {
                let w = words_l[k].as_str();
                MAX_WORDS.contains(&w)
                    || MIN_WORDS.contains(&w)
                    || RECENCY_WORDS.contains(&w) && !used[k]
            };
            let adjective_ok = !words_l.iter().any(|w| w == "when")
                && which_pos.is_none()
                && limit.is_none()
                && !time.bucket_is_target
                && (m.start >= 1 && sup(m.start - 1)
                    || m.start >= 2
                        && sup(m.start - 2)
                        && matches!(
                            words_l[m.start - 1].as_str(),
                            "popular"
                                | "common"
                                | "frequent"
                                | "used"
                                | "active"
                                | "expensive"
                                | "valuable"
                                | "recent"
                        ));
            let numeric =
                matches!(&m.kind, MK::Col(cs, _) if cs.iter().any(|c| self.c(*c).kind.numeric()));
            (before_ok || adjective_ok && !numeric) && matches!(m.kind, MK::Table(_) | MK::Col(..))
        });
        // The explicit measure: an aggregation word and the numeric column after it. In a
        // ranking ("which X had the highest total …") the superlative orders, it does not
        // aggregate.
        let free_words: Vec<String> = words_l
            .iter()
            .enumerate()
            .map(|(i, w)| if used[i] { String::new() } else { w.clone() })
            .collect();
        let agg_word = self.agg_word(&free_words, count_q || rank_entity.is_some());
        let numeric_mentions: Vec<&M> = ms
            .iter()
            .filter(|m| {
                // the column a comparison is on is a filter, not the measure
                !num_cmps.iter().any(|(p, _, _)| {
                    m.end <= *p && m.end + 2 >= *p
                        || m.start > *p
                            && m.start <= p + 5
                            && !ms.iter().any(|o| {
                                // another mention between them, unless of the same column
                                // ("500 kg of load capacity")
                                o.start > *p
                                    && o.start < m.start
                                    && !matches!((&o.kind, &m.kind), (MK::Col(a, _), MK::Col(b, _)) if a.iter().any(|c| b.contains(c)))
                            })
                })
            })
            .filter(|m| m.start == 0 || !matches!(words_l[m.start - 1].as_str(), "negative" | "positive"))
            .filter(|m| matches!(&m.kind, MK::Col(cs, _) if cs.iter().any(|tc| self.c(*tc).kind.numeric() && !self.c(*tc).is_key)))
            .filter(|m| !is_group_pos(m))
            .collect();
        let money_pos = words_l
            .iter()
            .position(|w| MONEY_WORDS.contains(&w.as_str()));
        let qty_pos = words_l
            .iter()
            .position(|w| QUANTITY_WORDS.contains(&w.as_str()));

        // counted entity: the table named after "how many" / "number of" / "count of"
        let count_start = pos_of(&["many", "number", "count"]).unwrap_or(0);
        let distinct_pos = pos_of(&["distinct", "unique", "different"]);
        let counted_table: Option<&M> = ms
            .iter()
            .find(|m| m.start >= count_start && matches!(m.kind, MK::Table(_)) && !is_group_pos(m));

        let mut main: Option<usize> = None;
        let mut measure_col: Option<TC> = None;
        let pick = |cands: &[usize]| self.best_table(&scores, cands.iter().copied());
        let agg_is_value = matches!(
            agg_word,
            Some((Agg::Sum | Agg::Avg | Agg::Median | Agg::Min | Agg::Max, _))
        );
        if let Some(m) = numeric_mentions.first()
            && (agg_is_value || !count_q)
            && let MK::Col(cs, _) = &m.kind
        {
            let tables: Vec<usize> = cs
                .iter()
                .filter(|tc| self.c(**tc).kind.numeric())
                .map(|tc| tc.0)
                .collect();
            if let Some(t) = pick(&tables) {
                main = Some(t);
                measure_col = cs.iter().copied().find(|tc| tc.0 == t);
            }
        }
        let mut distinct_entity: Option<&M> = None;
        if main.is_none()
            && count_q
            && let Some(m) = counted_table
            && let MK::Table(ts) = &m.kind
        {
            if distinct_pos.is_some_and(|d| d < m.start) {
                distinct_entity = Some(m);
            } else {
                main = pick(ts);
            }
        }
        if main.is_none() {
            // Skip the distinct entity's own table: count distinct customers *in* transactions.
            let mut sc = scores.clone();
            if let Some(MK::Table(ts)) = distinct_entity.map(|m| &m.kind) {
                for t in ts {
                    sc[*t] -= 3.0;
                }
            }
            main = self.best_table(&sc, (0..sc.len()).filter(|t| sc[*t] > 0.0));
        }
        // A money measure on a table without money ("total spent by premium customers"): the
        // money lives in a related table, which becomes the main one.
        if let Some(m0) = main
            && measure_col.is_none()
            && !count_q
            && ((money_pos.is_some() || agg_is_value)
                && qty_pos.is_none()
                && self.money_column(m0).is_none()
                || qty_pos.is_some() && self.quantity_column(m0).is_none())
        {
            let wanted = |t: usize| {
                if qty_pos.is_some() {
                    self.quantity_column(t).is_some()
                } else {
                    self.money_column(t).is_some()
                }
            };
            let alt = self.best_table(
                &scores,
                (0..self.s.tables.len()).filter(|t| wanted(*t) && self.relate(*t, m0).is_some()),
            );
            if alt.is_some() {
                main = alt;
            }
        }
        let Some(main) = main else {
            return Parsed::clarify(
                "I could not tell which table the question is about.".into(),
                self.s.overview(),
            );
        };
        let mt = self.t(main);
        // two tables the question names alike ("transactions") and nothing else decided
        // between: the larger was taken, which the answer says, at a lower confidence
        let guessed = ms.iter().any(|m| {
            matches!(&m.kind, MK::Table(ts) if ts.len() >= 2
                && ts.contains(&main)
                && ts.iter().any(|t| *t != main && (scores[*t] - scores[main]).abs() < 1e-6))
        });
        let consumed_early: Vec<usize> = (0..n).filter(|i| used[*i]).collect();
        let heads: Vec<usize> = ms
            .iter()
            .filter(|m| {
                matches!(&m.kind, MK::Val(_))
                    || matches!(&m.kind, MK::Col(cs, _) if cs.iter().all(|c| self.c(*c).kind == ColKind::Bool))
            })
            .map(|m| m.end)
            .filter(|e| {
                toks.get(*e).is_some_and(|t| {
                    t.kind == TokKind::Word && !is_stopword(&t.lower) && !is_keyword(&t.lower)
                }) && !used[*e]
            })
            .collect();
        let col_mentions: Vec<(String, Vec<String>)> = ms
            .iter()
            .filter(|m| {
                // "whatever their status", "any status": named to be ignored
                let suppressed = (1..=2)
                    .any(|k| m.start >= k && SUPPRESSORS.contains(&words_l[m.start - k].as_str()));
                // "store sales", "in-store purchases": an id column naming the kind of row
                let qualifier = matches!(&m.kind, MK::Col(cs, _) if cs.iter().all(|c| {
                    let c = self.c(*c);
                    !c.is_key && c.stems.len() >= 2 && c.stems.last().is_some_and(|l| l == "id")
                })) && (used.get(m.end).copied().unwrap_or(false)
                    || toks.get(m.end).is_some_and(|t| is_stopword(&t.lower)));
                !suppressed && !qualifier
            })
            .filter_map(|m| match &m.kind {
                MK::Col(cs, _) | MK::Null(cs, _) | MK::Text(cs, _) | MK::Id(cs, _) => Some((
                    toks[m.start..m.end]
                        .iter()
                        .map(|t| t.raw.as_str())
                        .collect::<Vec<_>>()
                        .join(" "),
                    cs.iter().map(|c| self.c(*c).name.clone()).collect(),
                )),
                _ => None,
            })
            .collect();
        let trace = |unresolved: usize| Trace {
            semantic: semantic_links,
            typos,
            unresolved,
            limit: limit.map(|(p, _)| p),
            time: time.clone(),
            columns: col_mentions.clone(),
            guesses: usize::from(guessed),
            heads: heads.clone(),
            consumed: consumed_early.clone(),
        };

        // ---- resolve every mention into the main table or a related one
        let mut related: Vec<Related> = Vec::new();
        let mut filters: Vec<Filter> = Vec::new();
        let mut group_by: Vec<GroupKey> = Vec::new();
        let mut columns: Vec<ColRef> = Vec::new();
        let mut unresolved = 0usize;
        let mut pos_vals: BTreeMap<(usize, String), Vec<Lit>> = BTreeMap::new();
        let mut neg_vals: BTreeMap<(usize, String), Vec<Lit>> = BTreeMap::new();
        let mut group_entity: Option<(usize, ColRef)> = None; // position, key
        let mut anti_at: Option<usize> = None;
        // "cases closed today": the time column a verb names, for the time range
        let named_time = self.verb_time_column(&toks, main, &[ColKind::Timestamp]);
        let mut entity_name: Option<ColRef> = None;
        let suppressed: Vec<usize> = ms
            .iter()
            .filter(|m| {
                m.start > 0 && SUPPRESSORS.contains(&words_l[m.start - 1].as_str())
                    || m.start > 1 && SUPPRESSORS.contains(&words_l[m.start - 2].as_str())
            })
            .map(|m| m.start)
            .collect();
        let suppressed_cols: Vec<TC> = ms
            .iter()
            .filter(|m| suppressed.contains(&m.start))
            .filter_map(|m| match &m.kind {
                MK::Col(cs, _) => Some(cs.clone()),
                _ => None,
            })
            .flatten()
            .collect();

        for m in &ms {
            match &m.kind {
                MK::Val(vs) => {
                    let tabs: Vec<usize> = vs.iter().map(|v| v.0).collect();
                    // "active customers": the main table's own flag beats another table's value
                    if !tabs.contains(&main)
                        && let Some(b) = mt.columns.iter().find(|c| {
                            c.kind == ColKind::Bool && c.stems.last() == Some(&stem(&vs[0].2))
                        })
                    {
                        filters.push(Filter {
                            column: ColRef {
                                table: 0,
                                column: b.name.clone(),
                            },
                            op: Op::In(vec![Lit::Bool(!m.negated)]),
                        });
                        continue;
                    }
                    let Some(k) = self.resolve(main, &mut related, &tabs) else {
                        unresolved += 1;
                        continue;
                    };
                    let ti = self.table_idx(main, &related, k);
                    let Some((_, ci, v)) = vs.iter().find(|v| v.0 == ti) else {
                        continue;
                    };
                    let col = &self.t(ti).columns[*ci];
                    if suppressed_cols.contains(&(ti, *ci)) {
                        continue;
                    }
                    // "orders created between …": the verb of a time column, not a status;
                    // "not closed yet" is no closing time, "already closed" one
                    let vstem = stem(v);
                    if !m.qualified
                        && let Some(tc) = self.t(ti).columns.iter().find(|c| {
                            c.kind == ColKind::Timestamp && c.stems.first() == Some(&vstem)
                        })
                    {
                        let ranged = (time.start_us.is_some() || time.end_us.is_some())
                            && named_time.as_ref().is_none_or(|(_, c)| *c == tc.name);
                        if tc.nullable && (m.negated || !ranged) {
                            filters.push(Filter {
                                column: ColRef {
                                    table: k,
                                    column: tc.name.clone(),
                                },
                                op: if m.negated { Op::IsNull } else { Op::NotNull },
                            });
                        }
                        continue;
                    }
                    // "orders paid with PayPal": a participle introducing another column's
                    // value describes it, it is not a status of its own
                    let next_is_prep = words_l.get(m.end).is_some_and(|w| {
                        matches!(w.as_str(), "by" | "with" | "via" | "using" | "through")
                    });
                    let then_value = ms.iter().any(|o| o.start == m.end + 1 && matches!(&o.kind, MK::Val(ov) if ov.iter().all(|x| (x.0, x.1) != (ti, *ci))));
                    if !m.qualified
                        && next_is_prep
                        && then_value
                        && (v.ends_with("ed") || v.ends_with("id"))
                    {
                        continue;
                    }
                    let key = (k, col.name.clone());
                    let lit = Lit::Text(v.clone());
                    if m.negated {
                        neg_vals.entry(key).or_default().push(lit);
                    } else {
                        pos_vals.entry(key).or_default().push(lit);
                    }
                }
                MK::Text(cs, phrase) => {
                    let tabs: Vec<usize> = cs.iter().map(|c| c.0).collect();
                    let tabs = if tabs.is_empty() { vec![main] } else { tabs };
                    let Some(k) = self.resolve(main, &mut related, &tabs) else {
                        unresolved += 1;
                        continue;
                    };
                    let ti = self.table_idx(main, &related, k);
                    let col = cs
                        .iter()
                        .find(|c| c.0 == ti)
                        .map(|c| self.c(*c).name.clone())
                        .or_else(|| {
                            self.t(ti)
                                .columns
                                .iter()
                                .find(|c| c.free_text)
                                .map(|c| c.name.clone())
                        });
                    if let Some(col) = col {
                        filters.push(Filter {
                            column: ColRef {
                                table: k,
                                column: col,
                            },
                            op: Op::Contains(phrase.clone()),
                        });
                    }
                }
                MK::Id(cs, id) => {
                    let tabs: Vec<usize> = cs.iter().map(|c| c.0).collect();
                    if let Some(k) = self.resolve(main, &mut related, &tabs) {
                        let ti = self.table_idx(main, &related, k);
                        if let Some(c) = cs.iter().find(|c| c.0 == ti) {
                            filters.push(Filter {
                                column: ColRef {
                                    table: k,
                                    column: self.c(*c).name.clone(),
                                },
                                op: Op::In(vec![Lit::Text(id.clone())]),
                            });
                        }
                    }
                }
                MK::Col(cs, _) => {
                    let bools: Vec<&TC> = cs
                        .iter()
                        .filter(|tc| self.c(**tc).kind == ColKind::Bool)
                        .collect();
                    let grouped =
                        is_group_pos(m) || rank_entity.map(|r| r.start == m.start).unwrap_or(false);
                    if !bools.is_empty() && !grouped {
                        let tabs: Vec<usize> = bools.iter().map(|c| c.0).collect();
                        if let Some(k) = self.resolve(main, &mut related, &tabs) {
                            let ti = self.table_idx(main, &related, k);
                            let c = bools.iter().find(|c| c.0 == ti).expect("resolved");
                            let out_of = m.start >= 2
                                && words_l[m.start - 2] == "out"
                                && words_l[m.start - 1] == "of";
                            let val = !(m.negated || out_of);
                            filters.push(Filter {
                                column: ColRef {
                                    table: k,
                                    column: self.c(**c).name.clone(),
                                },
                                op: Op::In(vec![Lit::Bool(val)]),
                            });
                        }
                        continue;
                    }
                    if grouped {
                        let tabs: Vec<usize> = cs.iter().map(|c| c.0).collect();
                        if let Some(k) = self.resolve(main, &mut related, &tabs) {
                            let ti = self.table_idx(main, &related, k);
                            let c = cs.iter().find(|c| c.0 == ti).expect("resolved");
                            let key = ColRef {
                                table: k,
                                column: self.c(*c).name.clone(),
                            };
                            if rank_entity.map(|r| r.start == m.start).unwrap_or(false) {
                                group_entity = Some((m.start, key));
                            } else if !group_by.contains(&GroupKey::Column(key.clone())) {
                                group_by.push(GroupKey::Column(key));
                            }
                        }
                    }
                }
                MK::Null(cs, is_null) => {
                    let tabs: Vec<usize> = cs.iter().map(|c| c.0).collect();
                    let Some(k) = self.resolve(main, &mut related, &tabs) else {
                        unresolved += 1;
                        continue;
                    };
                    let ti = self.table_idx(main, &related, k);
                    if let Some(c) = cs.iter().find(|c| c.0 == ti) {
                        filters.push(Filter {
                            column: ColRef {
                                table: k,
                                column: self.c(*c).name.clone(),
                            },
                            op: if *is_null { Op::IsNull } else { Op::NotNull },
                        });
                    }
                }
                MK::Absent(ts) => {
                    // the main table holds the other's key: that key is missing; else no
                    // row of the other table names the main row
                    let held = ts.iter().find_map(|t| {
                        self.t(*t)
                            .pk()
                            .filter(|pk| mt.col(pk).is_some_and(|c| c.nullable))
                            .map(str::to_string)
                    });
                    if let Some(key) = held {
                        filters.push(Filter {
                            column: ColRef {
                                table: 0,
                                column: key,
                            },
                            op: Op::IsNull,
                        });
                    } else if let Some(mut r) = ts.iter().find_map(|t| self.relate(main, *t))
                        && r.link == Link::Semi
                    {
                        r.link = Link::Anti;
                        related.push(r);
                        anti_at = Some(m.start);
                    } else {
                        unresolved += 1;
                    }
                }
                MK::Table(ts) => {
                    let grouped =
                        is_group_pos(m) || rank_entity.map(|r| r.start == m.start).unwrap_or(false);
                    if grouped && !ts.contains(&main) {
                        // group by the entity: the main table's column holding its key
                        if let Some((t, key)) = ts.iter().find_map(|t| {
                            self.t(*t)
                                .pk()
                                .filter(|pk| mt.col(pk).is_some())
                                .map(|k| (*t, k))
                        }) {
                            let key = ColRef {
                                table: 0,
                                column: key.to_string(),
                            };
                            // its readable name beside the key ("agents" → agent_name)
                            entity_name = self.name_column(t).and_then(|name| {
                                self.resolve(main, &mut related, &[t]).map(|k| ColRef {
                                    table: k,
                                    column: name,
                                })
                            });
                            if rank_entity.map(|r| r.start == m.start).unwrap_or(false) {
                                group_entity = Some((m.start, key));
                            } else {
                                group_by.push(GroupKey::Column(key));
                                if let Some(n) = entity_name.take() {
                                    group_by.push(GroupKey::Column(n));
                                }
                            }
                        }
                    } else if !ts.contains(&main)
                        && distinct_entity.map(|d| d.start != m.start).unwrap_or(true)
                    {
                        // a related table named only to join through ("premium customers")
                        let _ = self.resolve(main, &mut related, ts);
                    }
                }
            }
        }
        // "declined vs approved": values compared side by side are a breakdown of their column
        let versus = has(&["vs", "versus", "compared", "compare", "against"]);
        for ((k, col), vals) in pos_vals {
            let column = ColRef {
                table: k,
                column: col,
            };
            if versus && vals.len() >= 2 && !group_by.contains(&GroupKey::Column(column.clone())) {
                group_by.push(GroupKey::Column(column.clone()));
            }
            filters.push(Filter {
                column,
                op: Op::In(vals),
            });
        }
        for ((k, col), vals) in neg_vals {
            filters.push(Filter {
                column: ColRef {
                    table: k,
                    column: col,
                },
                op: Op::NotIn(vals),
            });
        }

        // "negative balance", "positive amount"
        for m in &ms {
            if m.start == 0 {
                continue;
            }
            let sign = match words_l[m.start - 1].as_str() {
                "negative" => "<",
                "positive" => ">",
                _ => continue,
            };
            if let MK::Col(cs, _) = &m.kind
                && let Some(tc) = cs.iter().copied().find(|c| self.c(*c).kind.numeric())
                && let Some(k) = self.resolve(main, &mut related, &[tc.0])
            {
                let column = ColRef {
                    table: k,
                    column: self.c(tc).name.clone(),
                };
                let zero = Lit::Number(0.0);
                filters.push(Filter {
                    column,
                    op: if sign == "<" {
                        Op::Lt(zero)
                    } else {
                        Op::Gt(zero)
                    },
                });
            }
        }

        // numeric comparisons: on the numeric column named just before, else the money column
        for (p, op, v) in &num_cmps {
            // the numeric column right before the comparison ("risk score above 0.9"), else the
            // money of the thing named just before ("a purchase over 1000" → its amount)
            let numeric_col = |m: &M| match &m.kind {
                MK::Col(cs, _) => cs.iter().copied().find(|c| self.c(*c).kind.numeric()),
                _ => None,
            };
            // "more than 1,800 units": the numeric column right after the number
            let after = ms
                .iter()
                .find(|m| m.start > *p && m.start <= p + 5)
                .and_then(numeric_col);
            let named = after.or_else(|| {
                ms.iter()
                    .rev()
                    .filter(|m| m.end <= *p && m.end + 2 >= *p)
                    .find_map(numeric_col)
            });
            let col = match named {
                Some(tc) => self.resolve(main, &mut related, &[tc.0]).map(|k| ColRef {
                    table: k,
                    column: self.c(tc).name.clone(),
                }),
                None => {
                    let near: Option<Vec<usize>> =
                        ms.iter()
                            .rev()
                            .find(|m| m.end <= *p)
                            .map(|m| match &m.kind {
                                MK::Table(ts) => ts.clone(),
                                MK::Col(cs, _) | MK::Text(cs, _) | MK::Id(cs, _) => {
                                    cs.iter().map(|c| c.0).collect()
                                }
                                MK::Val(vs) => vs.iter().map(|v| v.0).collect(),
                                MK::Null(cs, _) => cs.iter().map(|c| c.0).collect(),
                                MK::Absent(_) => Vec::new(),
                            });
                    let owner = near
                        .and_then(|ts| {
                            if ts.contains(&main) {
                                Some(main)
                            } else {
                                ts.into_iter().find(|t| {
                                    self.money_column(*t).is_some()
                                        && self.relate(main, *t).is_some()
                                })
                            }
                        })
                        .filter(|t| self.money_column(*t).is_some())
                        .unwrap_or(main);
                    match (
                        self.money_column(owner),
                        self.resolve(main, &mut related, &[owner]),
                    ) {
                        (Some(c), Some(k)) => Some(ColRef {
                            table: k,
                            column: c,
                        }),
                        _ => None,
                    }
                }
            };
            if let Some(column) = col {
                let lit = Lit::Number(*v);
                let op = match *op {
                    ">" => Op::Gt(lit),
                    ">=" => Op::Ge(lit),
                    "<" => Op::Lt(lit),
                    _ => Op::Le(lit),
                };
                filters.push(Filter { column, op });
            }
        }

        // column comparison ("_ts more than 2 minutes after sale time")
        if let Some((p, micros, more)) = col_cmp {
            let before = ms
                .iter()
                .rev()
                .find(|m| m.end <= p && matches!(m.kind, MK::Col(..)));
            let after = ms
                .iter()
                .find(|m| m.start > p && matches!(m.kind, MK::Col(..)));
            if let (Some(a), Some(b)) = (before, after)
                && let (MK::Col(ca, _), MK::Col(cb, _)) = (&a.kind, &b.kind)
                && let (Some(x), Some(y)) = (
                    ca.iter().find(|c| c.0 == main),
                    cb.iter().find(|c| c.0 == main),
                )
            {
                let other = ColRef {
                    table: 0,
                    column: self.c(*y).name.clone(),
                };
                let column = ColRef {
                    table: 0,
                    column: self.c(*x).name.clone(),
                };
                filters.push(Filter {
                    column,
                    op: if more {
                        Op::AfterColumn { other, micros }
                    } else {
                        Op::BeforeColumn { other, micros }
                    },
                });
            }
        }

        // ---- the time range: on the main table's event time, else a related table's
        let mut time_range = None;
        if time.start_us.is_some() || time.end_us.is_some() {
            // "with no visits in the last hour": the time is the absent rows'
            let anti_time = anti_at
                .filter(|a| time_pos.is_some_and(|p| p > *a))
                .and_then(|_| {
                    related.iter().enumerate().find_map(|(i, r)| {
                        (r.link == Link::Anti)
                            .then(|| self.s.table(&r.table).and_then(|t| t.event_time.clone()))
                            .flatten()
                            .map(|c| ColRef {
                                table: i + 1,
                                column: c,
                            })
                    })
                });
            // "cases closed today": the time column the verb names, else the event time
            let named = named_time.clone();
            if let Some((i, _)) = &named {
                used[*i] = true;
            }
            // a table whose only time is when its rows last changed ("patients that had
            // visits in the last hour"): a related table's event time comes first
            let change_time = mt
                .event_time
                .as_ref()
                .and_then(|c| mt.col(c))
                .is_some_and(|c| {
                    c.stems
                        .iter()
                        .any(|s| ["updat", "modifi", "chang"].contains(&s.as_str()))
                });
            let main_time = mt.event_time.clone().map(|c| ColRef {
                table: 0,
                column: c,
            });
            let mut target = anti_time.or_else(|| {
                named
                    .map(|(_, c)| ColRef {
                        table: 0,
                        column: c,
                    })
                    .or_else(|| main_time.clone().filter(|_| !change_time))
            });
            if target.is_none() {
                for (i, r) in related.iter().enumerate() {
                    if let Some(t) = self.s.table(&r.table).and_then(|t| t.event_time.clone()) {
                        target = Some(ColRef {
                            table: i + 1,
                            column: t,
                        });
                        break;
                    }
                }
            }
            if target.is_none() {
                // a table with event time that relates to the main one
                for (ti, t) in self.s.tables.iter().enumerate() {
                    if ti != main
                        && t.event_time.is_some()
                        && scores[ti] > 0.0
                        && let Some(r) = self.relate(main, ti)
                    {
                        related.push(r);
                        target = Some(ColRef {
                            table: related.len(),
                            column: t.event_time.clone().expect("checked"),
                        });
                        break;
                    }
                }
            }
            if target.is_none() {
                target = main_time;
            }
            if let Some(column) = target {
                time_range = Some(TimeRange {
                    column,
                    start: time.start_us.map(crate::store::value::format_timestamp_us),
                    end: time.end_us.map(crate::store::value::format_timestamp_us),
                    start_us: time.start_us,
                    end_us: time.end_us,
                    label: time.label.clone(),
                });
            }
        }

        // ---- measures
        let money_col = |t: usize| -> Option<String> { self.money_column(t) };
        let mut measures: Vec<Measure> = Vec::new();
        let measure_ref = |tc: TC, related: &Vec<Related>| -> ColRef {
            let k = if tc.0 == main {
                0
            } else {
                related
                    .iter()
                    .position(|r| r.table == self.t(tc.0).name)
                    .map(|i| i + 1)
                    .unwrap_or(0)
            };
            ColRef {
                table: k,
                column: self.c(tc).name.clone(),
            }
        };
        let mut measure: Option<Measure> = None;
        let explicit_col = measure_col.or_else(|| {
            numeric_mentions.iter().find_map(|m| match &m.kind {
                MK::Col(cs, _) => cs
                    .iter()
                    .copied()
                    .find(|tc| tc.0 == main && self.c(*tc).kind.numeric()),
                _ => None,
            })
        });
        let quantity_col = qty_pos.and_then(|_| self.quantity_column(main));
        if let Some(d) = distinct_entity
            && let MK::Table(ts) = &d.kind
            && let Some(key) = ts
                .iter()
                .find_map(|t| self.t(*t).pk().filter(|pk| mt.col(pk).is_some()))
        {
            measure = Some(Measure {
                when: Vec::new(),
                agg: Agg::CountDistinct,
                column: Some(ColRef {
                    table: 0,
                    column: key.to_string(),
                }),
            });
        } else if let Some(dp) = distinct_pos
            && let Some(m) = ms
                .iter()
                .find(|m| m.start > dp && matches!(m.kind, MK::Col(..)))
            && let MK::Col(cs, _) = &m.kind
            && let Some(tc) = cs.iter().find(|c| c.0 == main)
        {
            measure = Some(Measure {
                when: Vec::new(),
                agg: Agg::CountDistinct,
                column: Some(ColRef {
                    table: 0,
                    column: self.c(*tc).name.clone(),
                }),
            });
            group_by.retain(|g| !matches!(g, GroupKey::Column(c) if c.column == self.c(*tc).name));
        } else if count_q
            && !agg_is_value
            && let Some(q) = self.quantity_column(main).filter(|_| {
                words_l.iter().position(|w| w == "many").is_some_and(|p| {
                    words_l
                        .get(p + 1)
                        .is_some_and(|w| QUANTITY_WORDS.contains(&w.as_str()))
                })
            })
        {
            // "how many units …": the units, not the rows
            measure = Some(Measure {
                when: Vec::new(),
                agg: Agg::Sum,
                column: Some(ColRef {
                    table: 0,
                    column: q,
                }),
            });
        } else if count_q && !agg_is_value {
            measure = Some(Measure {
                when: Vec::new(),
                agg: Agg::Count,
                column: None,
            });
        } else if let Some(tc) = explicit_col {
            // a level (price, score, rate) is averaged unless asked otherwise; an amount summed
            let level = self.c(tc).stems.iter().any(|w| {
                [
                    "price",
                    "rate",
                    "score",
                    "ratio",
                    "percent",
                    "pct",
                    "temperature",
                    "age",
                    "rating",
                ]
                .iter()
                .any(|x| stem(x) == *w)
            });
            let agg = match agg_word {
                Some((a, _)) if a != Agg::Count && a != Agg::CountDistinct => a,
                _ if level => Agg::Avg,
                _ => Agg::Sum,
            };
            measure = Some(Measure {
                when: Vec::new(),
                agg,
                column: Some(measure_ref(tc, &related)),
            });
        } else if let Some(q) = quantity_col {
            let agg = match agg_word {
                Some((a, _)) if a != Agg::Count => a,
                _ => Agg::Sum,
            };
            measure = Some(Measure {
                when: Vec::new(),
                agg,
                column: Some(ColRef {
                    table: 0,
                    column: q,
                }),
            });
        } else if let Some((a, _)) = agg_word
            && a != Agg::Count
        {
            if let Some(c) = money_col(main) {
                measure = Some(Measure {
                    when: Vec::new(),
                    agg: a,
                    column: Some(ColRef {
                        table: 0,
                        column: c,
                    }),
                });
            }
        } else if money_pos.is_some()
            && let Some(c) = money_col(main)
        {
            measure = Some(Measure {
                when: Vec::new(),
                agg: Agg::Sum,
                column: Some(ColRef {
                    table: 0,
                    column: c,
                }),
            });
        }
        // "When was the last order …", "what time did the first ticket come in": the latest
        // (earliest) time of the column the verb names ("closed" → closed_at), else the
        // event time.
        let when_q = has(&["when"]) || words_l.windows(2).any(|w| w[0] == "what" && w[1] == "time");
        let verb_time = self.verb_time_column(&toks, main, &[ColKind::Timestamp, ColKind::Date]);
        if when_q
            && measure.is_none()
            && let Some(t) = verb_time
                .as_ref()
                .map(|(_, c)| c.clone())
                .or_else(|| mt.event_time.clone())
        {
            let first = has(&["first", "earliest", "oldest"]);
            for (i, w) in words_l.iter().enumerate() {
                if matches!(
                    w.as_str(),
                    "when"
                        | "time"
                        | "first"
                        | "earliest"
                        | "oldest"
                        | "last"
                        | "latest"
                        | "recent"
                        | "newest"
                        | "most"
                ) && (w != "time"
                    || i > 0 && words_l[i - 1] == "what"
                    || i > 0 && words_l[i - 1] == "last")
                {
                    used[i] = true;
                }
            }
            if let Some((i, _)) = &verb_time {
                used[*i] = true;
            }
            measure = Some(Measure::new(
                if first { Agg::Min } else { Agg::Max },
                Some(ColRef {
                    table: 0,
                    column: t,
                }),
            ));
        }

        // ---- shapes: rankings, trends, breakdowns, plain
        let mut order = None;
        let mut hide_measure = false;
        let recency: Option<bool> = (0..n).find_map(|k| {
            if used[k] {
                return None;
            }
            match words_l[k].as_str() {
                "recent" | "latest" | "newest" | "last" => Some(true),
                "first" | "earliest" | "oldest" => Some(false),
                _ => None,
            }
        });
        let superlative = words_l.iter().enumerate().find_map(|(i, w)| {
            if MAX_WORDS.contains(&w.as_str()) {
                Some((i, true))
            } else if MIN_WORDS.contains(&w.as_str()) {
                Some((i, false))
            } else {
                None
            }
        });
        let mut limit_n = limit.map(|(_, n)| n);
        if let Some(b) = time.bucket {
            if let Some(tc) = time_range.as_ref().map(|t| t.column.clone()).or_else(|| {
                mt.event_time.clone().map(|c| ColRef {
                    table: 0,
                    column: c,
                })
            }) {
                group_by.insert(
                    0,
                    GroupKey::Bucket {
                        unit: b,
                        size: time.bucket_size,
                        column: tc,
                    },
                );
            }
            if time.bucket_is_target {
                group_entity = None;
                if let Some((_, desc)) = superlative {
                    limit_n = Some(limit_n.unwrap_or(1));
                    hide_measure = true;
                    order = Some((desc, true));
                }
            }
        }
        let mut plain_rank = false;
        if let Some((_, key)) = group_entity.clone() {
            if rank_entity
                .map(|m| matches!(&m.kind, MK::Table(ts) if ts.contains(&main)))
                .unwrap_or(false)
            {
                plain_rank = true;
            } else {
                // a ranking names a value: the "no value" group is not a candidate
                filters.push(Filter {
                    column: key.clone(),
                    op: Op::NotNull,
                });
                if let Some(n) = entity_name.take() {
                    group_by.insert(0, GroupKey::Column(n));
                }
                group_by.insert(0, GroupKey::Column(key));
            }
            if let Some((_, desc)) = superlative {
                order = Some((desc, false));
                if limit_n.is_none() {
                    limit_n = Some(1);
                    hide_measure = which_pos.is_some();
                }
            } else if limit_n.is_some() {
                order = Some((true, false));
            }
        } else if let Some(r) = rank_entity
            && matches!(&r.kind, MK::Table(ts) if ts.contains(&main))
            && (superlative.is_some() || recency.is_some())
        {
            plain_rank = true;
            order = superlative.map(|(_, d)| (d, false));
        }
        // "the 3 most recent orders", "the first transaction today": by event time
        let by_time = recency.filter(|_| {
            plain_rank
                && measure
                    .as_ref()
                    .is_none_or(|m| m.agg == Agg::Count || m.column.is_none())
        });
        if let Some(desc) = by_time
            && let Some(t) = &mt.event_time
        {
            measure = Some(Measure {
                when: Vec::new(),
                agg: Agg::Max,
                column: Some(ColRef {
                    table: 0,
                    column: t.clone(),
                }),
            });
            order = Some((desc, false));
        }
        if plain_rank {
            // row-level ranking: the rows themselves, by the measure's column
            let col = measure.as_ref().and_then(|m| m.column.clone()).or_else(|| {
                money_col(main).map(|c| ColRef {
                    table: 0,
                    column: c,
                })
            });
            if let Some(col) = col {
                if let Some(pk) = mt.pk() {
                    columns.push(ColRef {
                        table: 0,
                        column: pk.to_string(),
                    });
                }
                if let Some(name) = self.name_column(main) {
                    columns.push(ColRef {
                        table: 0,
                        column: name,
                    });
                }
                // other columns the question names ("which depot was it from")
                for m in &ms {
                    if let MK::Col(cs, _) = &m.kind
                        && let Some(c) = cs.iter().find(|c| c.0 == main)
                    {
                        let c = ColRef {
                            table: 0,
                            column: self.c(*c).name.clone(),
                        };
                        if c != col && !columns.contains(&c) {
                            columns.push(c);
                        }
                    }
                }
                columns.push(col);
                let out = group_by.len() + columns.len() - 1;
                let desc = order.map(|(d, _)| d).unwrap_or(true);
                let plan = QueryPlan {
                    table: mt.name.clone(),
                    related,
                    columns,
                    measures: Vec::new(),
                    group_by,
                    filters,
                    time: time_range,
                    order: Some(Order {
                        output: out,
                        descending: desc,
                    }),
                    limit: Some(limit_n.unwrap_or(1)),
                    lookup: None,
                    hide_measure: false,
                };
                return self.finish(plan, &toks, &used, &trace(unresolved));
            }
        }
        // "ward of <name>", "status of member <number>": columns of the rows a
        // value identifies (a name, or a value of a wide column)
        let identifies = |f: &Filter| {
            f.column.table == 0
                && matches!(&f.op, Op::In(v) if v.len() == 1)
                && mt.col(&f.column.column).is_some_and(|c| {
                    c.distinct > MAX_CATEGORICAL
                        || c.stems.last().is_some_and(|s| *s == stem("name"))
                })
        };
        let attrs: Vec<ColRef> = ms
            .iter()
            .filter_map(|m| match &m.kind {
                MK::Col(cs, _) => cs.iter().find(|c| c.0 == main).map(|c| ColRef {
                    table: 0,
                    column: self.c(*c).name.clone(),
                }),
                _ => None,
            })
            .filter(|c| !filters.iter().any(|f| f.column == *c))
            .collect();
        let share_q = has(measures::SHARE_WORDS);
        if measure.is_none()
            && !count_q
            && !share_q
            && group_by.is_empty()
            && order.is_none()
            && !attrs.is_empty()
            && filters.iter().any(identifies)
        {
            let plan = QueryPlan {
                table: mt.name.clone(),
                related,
                columns: attrs,
                measures: Vec::new(),
                group_by,
                filters,
                time: time_range,
                order: None,
                limit: None,
                lookup: None,
                hide_measure: false,
            };
            return self.finish(plan, &toks, &used, &trace(unresolved));
        }
        // "list the customers in LATAM with a risk score above 0.8": the rows themselves
        // "agents with a rating of 4 or higher", "urgent cases with no owner":
        // a noun phrase with conditions (and no time window, which asks how many) lists too
        let asked = matches!(
            words_l.first().map(String::as_str),
            Some(
                "how"
                    | "what"
                    | "whats"
                    | "when"
                    | "where"
                    | "is"
                    | "are"
                    | "was"
                    | "were"
                    | "do"
                    | "does"
                    | "did"
                    | "can"
                    | "could"
                    | "tell"
                    | "count"
                    | "number"
                    | "total"
            )
        );
        let noun_phrase = !asked && time_range.is_none() && !filters.is_empty();
        let listing = measure.is_none()
            && !count_q
            && !share_q
            && group_by.is_empty()
            && order.is_none()
            && (noun_phrase
                || matches!(
                    words_l.first().map(String::as_str),
                    Some("list" | "show" | "display" | "give" | "find" | "which" | "who")
                ))
            && ms
                .iter()
                .any(|m| matches!(&m.kind, MK::Table(ts) if ts.contains(&main)));
        if listing {
            if let Some(pk) = mt.pk() {
                columns.push(ColRef {
                    table: 0,
                    column: pk.to_string(),
                });
            }
            // a readable name beside the key, when the table has one
            if let Some(c) = mt.columns.iter().find(|c| {
                c.kind == ColKind::Text
                    && c.stems.last().is_some_and(|s| *s == stem("name"))
                    && !c.is_key
            }) {
                columns.push(ColRef {
                    table: 0,
                    column: c.name.clone(),
                });
            }
            for f in &filters {
                if f.column.table == 0 && !columns.contains(&f.column) {
                    columns.push(f.column.clone());
                }
            }
            let plan = QueryPlan {
                table: mt.name.clone(),
                related,
                columns,
                measures: Vec::new(),
                group_by,
                filters,
                time: time_range,
                order: None,
                limit: None,
                lookup: None,
                hide_measure: false,
            };
            return self.finish(plan, &toks, &used, &trace(unresolved));
        }
        let measure = measure.unwrap_or(Measure {
            when: Vec::new(),
            agg: Agg::Count,
            column: None,
        });
        // ---- shares and several measures
        let share = if has(measures::SHARE_WORDS) {
            let of = measure.column.clone().filter(|_| measure.agg == Agg::Sum);
            let table_of = |k: usize| self.table_idx(main, &related, k);
            self.share_measure(&toks, &ms, &mut filters, &table_of, of, &mut used)
        } else {
            None
        };
        match share {
            Some(s) => measures.push(s),
            None => match self.several_measures(&toks, &ms, main, &mut used) {
                Some(several) if order.is_none() => measures = several,
                _ => measures.push(measure),
            },
        }
        let plan_order = order.map(|(desc, _)| Order {
            output: group_by.len() + columns.len(),
            descending: desc,
        });
        if group_by.is_empty() && limit_n.is_some() && plan_order.is_none() {
            limit_n = None;
        }
        if group_by.is_empty() {
            hide_measure = false;
        }
        let plan = QueryPlan {
            table: mt.name.clone(),
            related,
            columns,
            measures,
            group_by,
            filters,
            time: time_range,
            order: plan_order,
            limit: if order.is_some() { limit_n } else { None },
            lookup: None,
            hide_measure,
        };
        self.finish(plan, &toks, &used, &trace(unresolved))
    }

    /// The index (0 = main, 1… = related) of the first of `cands` the main table can reach,
    /// adding the relation when new.
    fn resolve(&self, main: usize, related: &mut Vec<Related>, cands: &[usize]) -> Option<usize> {
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
        None
    }

    fn table_idx(&self, main: usize, related: &[Related], k: usize) -> usize {
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

    /// Finds table, column, value, id and phrase mentions: longest spans first.
    fn link(&self, toks: &[Token], used: &mut [bool]) -> Vec<M> {
        let n = toks.len();
        let mut ms = Vec::new();
        for i in 0..n {
            if !used[i] && toks[i].kind == TokKind::Id {
                let cands: Vec<TC> = self.columns_where(|c| {
                    c.id_shape.as_ref().is_some_and(|s| s.matches(&toks[i].raw))
                });
                if !cands.is_empty() {
                    used[i] = true;
                    ms.push(M::new(i, i + 1, MK::Id(cands, toks[i].raw.to_uppercase())));
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
                    ms.push(M::new(i, i + len, kind));
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
    ) -> Option<MK> {
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
                tt.stems.join(" ") == phrase
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
        let cols: Vec<TC> = self.columns_where(|c| {
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
        if !vals.is_empty() && (tables.is_empty() || len > 1) && !plural_col {
            return Some(MK::Val(vals));
        }
        if !tables.is_empty() {
            return Some(MK::Table(tables));
        }
        if !cols.is_empty() {
            return Some(MK::Col(cols, false));
        }
        if len >= 3 {
            let text: Vec<TC> = self.columns_where(|c| c.free_text && c.phrases.contains(phrase));
            if !text.is_empty() {
                return Some(MK::Text(text.clone(), self.like_pattern(span, &text)));
            }
        }
        if len == 1 {
            // the head word of a longer column name ("type", "limit", "reason"), or its
            // first word for a two-word name ("risk"), or a quantity synonym
            let w = stems[0];
            let partial: Vec<TC> = self.columns_where(|c| {
                c.stems.len() >= 2
                    && c.stems.last().map(String::as_str) != Some("id")
                    && (c.stems.last().map(String::as_str) == Some(w))
            });
            if !partial.is_empty() && !is_keyword(&span[0].lower) {
                return Some(MK::Col(partial, true));
            }
        }
        None
    }

    /// The question's words when they occur as written in the column, else their stems
    /// joined by `%` ("fees" finds "fee").
    fn like_pattern(&self, span: &[Token], cols: &[TC]) -> String {
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

    fn columns_where(&self, f: impl Fn(&ColInfo) -> bool) -> Vec<TC> {
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
    fn link_text(&self, toks: &[Token], used: &mut [bool], ms: &mut Vec<M>) {
        let n = toks.len();
        // free-text columns named in the question: (start, end, columns)
        let mut named: Vec<(usize, usize, Vec<TC>)> = Vec::new();
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
                ms.push(M::new(i, i + 1, MK::Val(vs.clone())));
                continue;
            }
            let cands: Vec<TC> = if named.is_empty() {
                self.columns_where(|c| c.free_text)
            } else {
                named.iter().flat_map(|(_, _, c)| c.clone()).collect()
            };
            for (a, b, _) in &named {
                mark_used(used, *a..*b);
            }
            ms.push(M::new(i, i + 1, MK::Text(cands, toks[i].raw.clone())));
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
                    let hits: Vec<TC> =
                        self.columns_where(|c| c.free_text && c.phrases.contains(&phrase));
                    if !hits.is_empty() {
                        mark_used(used, i..k + len);
                        let like = self.like_pattern(&toks[k..k + len], &hits);
                        ms.push(M::new(k, k + len, MK::Text(hits, like)));
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
                let hits: Vec<TC> = cols
                    .iter()
                    .copied()
                    .filter(|c| self.c(*c).phrases.contains(&phrase))
                    .collect();
                if !hits.is_empty() {
                    mark_used(used, start..k + len);
                    let like = self.like_pattern(&toks[k..k + len], &hits);
                    ms.push(M::new(k, k + len, MK::Text(hits, like)));
                    break;
                }
            }
        }
    }

    /// "not", "excluding", "other than" negate the values that follow them in one run.
    fn mark_negations(&self, toks: &[Token], used: &mut [bool], ms: &mut [M]) {
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
                if matches!(m.kind, MK::Val(_) | MK::Col(..)) {
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
    fn merge_qualifiers(&self, ms: &mut Vec<M>) {
        let mut i = 0;
        while i + 1 < ms.len() {
            let (a, b) = (&ms[i], &ms[i + 1]);
            if a.end == b.start {
                match (&a.kind, &b.kind) {
                    (MK::Table(ts), MK::Col(cs, p)) => {
                        let keep: Vec<TC> =
                            cs.iter().copied().filter(|c| ts.contains(&c.0)).collect();
                        if !keep.is_empty() {
                            let p = *p;
                            let start = a.start;
                            ms[i + 1].kind = MK::Col(keep, p);
                            ms[i + 1].start = start;
                            ms.remove(i);
                            continue;
                        }
                    }
                    (MK::Table(_), MK::Id(..)) => {
                        ms.remove(i);
                        continue;
                    }
                    // "business customers": the value is the named table's
                    (MK::Val(vs), MK::Table(ts)) => {
                        let keep: Vec<(usize, usize, String)> =
                            vs.iter().filter(|v| ts.contains(&v.0)).cloned().collect();
                        if !keep.is_empty() && keep.len() < vs.len() {
                            ms[i].kind = MK::Val(keep);
                        } else if keep.is_empty() {
                            // "active customers": the named table's flag (`is_active`)
                            let word = stem(&vs[0].2);
                            let flags: Vec<TC> = ts
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
                                ms[i].kind = MK::Col(flags, true);
                            }
                        }
                    }
                    (MK::Val(vs), MK::Col(cs, _)) | (MK::Col(cs, _), MK::Val(vs)) => {
                        let keep: Vec<(usize, usize, String)> = vs
                            .iter()
                            .filter(|v| cs.contains(&(v.0, v.1)))
                            .cloned()
                            .collect();
                        if !keep.is_empty() {
                            let (start, end) = (a.start, b.end);
                            let negated = a.negated || b.negated;
                            ms[i] = M {
                                start,
                                end,
                                kind: MK::Val(keep),
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

    /// How strongly the mentions point at each table.
    fn scores(&self, ms: &[M], words_l: &[String]) -> Vec<f32> {
        let mut s = vec![0f32; self.s.tables.len()];
        // "sales revenue", "order value", "transaction volume": the table measured
        for m in ms {
            if let MK::Table(ts) = &m.kind
                && words_l.get(m.end).is_some_and(|w| {
                    MONEY_WORDS.contains(&w.as_str()) || QUANTITY_WORDS.contains(&w.as_str())
                })
            {
                ts.iter().for_each(|t| s[*t] += 2.0);
            }
        }
        // each mention counts once per table it could belong to
        let mut add = |tables: &mut dyn Iterator<Item = usize>, weight: f32| {
            let mut seen = Vec::new();
            for t in tables {
                if !seen.contains(&t) {
                    s[t] += weight;
                    seen.push(t);
                }
            }
        };
        for m in ms {
            let w = if m.semantic { 0.5 } else { 1.0 };
            match &m.kind {
                MK::Table(ts) => add(&mut ts.iter().copied(), 3.0 * w),
                MK::Col(cs, partial) => add(
                    &mut cs.iter().map(|c| c.0),
                    if *partial { 0.75 } else { 2.0 } * w,
                ),
                MK::Val(vs) => add(&mut vs.iter().map(|v| v.0), 2.0 * w),
                MK::Text(cs, _) | MK::Id(cs, _) => add(&mut cs.iter().map(|c| c.0), 2.0),
                MK::Null(cs, _) => add(&mut cs.iter().map(|c| c.0), 1.5 * w),
                MK::Absent(_) => {}
            }
        }
        // "in-store purchases": an entity column right before what is counted qualifies it
        for w in ms.windows(2) {
            if w[0].end == w[1].start
                && matches!(w[1].kind, MK::Val(_) | MK::Table(_))
                && let MK::Col(cs, false) = &w[0].kind
                && cs.iter().all(|c| {
                    let c = self.c(*c);
                    !c.is_key && c.stems.len() >= 2 && c.stems.last().is_some_and(|l| l == "id")
                })
            {
                add(&mut cs.iter().map(|c| c.0), 1.0);
            }
        }
        s
    }

    /// The highest-scoring of `cands`; the larger table wins a tie.
    fn best_table(&self, scores: &[f32], cands: impl Iterator<Item = usize>) -> Option<usize> {
        cands.max_by(|a, b| {
            scores[*a]
                .partial_cmp(&scores[*b])
                .unwrap_or(std::cmp::Ordering::Equal)
                .then(self.t(*a).rows.cmp(&self.t(*b).rows))
        })
    }

    /// How `other` relates to `main`: `main` holds `other`'s key (join), or `other` holds
    /// `main`'s key (semi-join).
    fn relate(&self, main: usize, other: usize) -> Option<Related> {
        let (m, o) = (self.t(main), self.t(other));
        if main == other {
            return None;
        }
        if let Some(pk) = o.pk()
            && m.col(pk).is_some()
        {
            return Some(Related {
                table: o.name.clone(),
                link: Link::Join,
                main_key: pk.to_string(),
                key: pk.to_string(),
            });
        }
        if let Some(pk) = m.pk()
            && o.col(pk).is_some()
        {
            return Some(Related {
                table: o.name.clone(),
                link: Link::Semi,
                main_key: pk.to_string(),
                key: pk.to_string(),
            });
        }
        None
    }

    /// The first word that names one of table `t`'s time columns by its verb ("closed" →
    /// `closed_at`, "shipped" → `shipped_on`), with the column.
    fn verb_time_column(
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
    fn name_column(&self, t: usize) -> Option<String> {
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
    fn money_column(&self, t: usize) -> Option<String> {
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
    fn is_numeric_word(&self, t: &Token) -> bool {
        MONEY_WORDS.contains(&t.lower.as_str())
            || QUANTITY_WORDS.contains(&t.lower.as_str())
            || self.s.tables.iter().any(|tt| {
                tt.columns
                    .iter()
                    .any(|c| c.kind.numeric() && c.stems.last() == Some(&t.stem))
            })
    }

    /// The column counting units ("quantity", "qty", "units").
    fn quantity_column(&self, t: usize) -> Option<String> {
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

    fn agg_word(&self, words_l: &[String], ranking: bool) -> Option<(Agg, usize)> {
        for (i, w) in words_l.iter().enumerate() {
            let w = w.as_str();
            // "the single largest charge": one row's value, even in a ranking
            let single = i > 0 && matches!(words_l[i - 1].as_str(), "single" | "individual");
            if single && MAX_WORDS.contains(&w) {
                return Some((Agg::Max, i));
            }
            if single && MIN_WORDS.contains(&w) {
                return Some((Agg::Min, i));
            }
            if AVG_WORDS.contains(&w) {
                return Some((Agg::Avg, i));
            }
            if w == "median" {
                return Some((Agg::Median, i));
            }
            if SUM_WORDS.contains(&w) {
                // "total" directly naming a column is that column, handled as a mention
                return Some((Agg::Sum, i));
            }
            if matches!(w, "max" | "maximum")
                || (matches!(w, "largest" | "biggest" | "highest" | "greatest") && !ranking)
            {
                return Some((Agg::Max, i));
            }
            if matches!(w, "min" | "minimum")
                || (matches!(w, "smallest" | "lowest" | "cheapest") && !ranking)
            {
                return Some((Agg::Min, i));
            }
        }
        None
    }

    /// The plan, if it accounts for the whole question; else a clarification naming what it
    /// does not account for, with what was understood.
    fn finish(&self, plan: QueryPlan, toks: &[Token], used: &[bool], tr: &Trace) -> Parsed {
        let plan = pruned(plan);
        let mut missed: Vec<String> = Vec::new();
        let words_l: Vec<&str> = toks.iter().map(|t| t.lower.as_str()).collect();
        let keyword = |w: &str| is_keyword(w) && !NEGATORS.contains(&w);
        let explained = account::explained(toks, used, &keyword);
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
                || tr.heads.contains(&i);
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
        // a column named in the question that the plan does not use
        for (text, cols) in &tr.columns {
            if !cols.iter().any(|c| names.contains(&c.as_str())) {
                missed.push(text.clone());
            }
        }
        // a negator that negated nothing is a constraint dropped
        missed.extend(
            account::unmatched(toks, &used, &keyword)
                .into_iter()
                .map(|u| u.text),
        );
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
            confidence: account::confidence(
                tr.semantic,
                tr.typos,
                tr.unresolved,
                // an anti-join under a grouping relates along a guessed key
                tr.guesses + 3 * usize::from(anti_grouped),
            ),
        }
    }
}

/// Whether `c` is a time column of one of `kinds` named `<verb>_at|on|date|time` for the
/// verb stemming to `verb`.
fn is_verb_time(c: &ColInfo, kinds: &[ColKind], verb: &str) -> bool {
    kinds.contains(&c.kind)
        && c.stems.len() == 2
        && c.stems[0] == verb
        && matches!(c.stems[1].as_str(), "at" | "on" | "date" | "time")
}

/// What the parse did beyond the mentions, for the accounting.
#[derive(Default)]
struct Trace {
    semantic: usize,
    typos: usize,
    unresolved: usize,
    /// The token that set a limit ("top 5").
    limit: Option<usize>,
    time: time::TimeSpec,
    /// Column mentions (as written, candidate columns): each must reach the plan.
    columns: Vec<(String, Vec<String>)>,
    /// Choices nothing in the question decided (a table among namesakes).
    guesses: usize,
    /// The noun right after a value ("express shipments", "refund requests"): the rows it names.
    heads: Vec<usize>,
    /// Shape words a stage took before the plan was shaped ("least" of "at least 4").
    consumed: Vec<usize>,
}

/// Shape words, for typo correction.
fn shape_vocabulary() -> impl Iterator<Item = &'static str> {
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

fn pruned(mut plan: QueryPlan) -> QueryPlan {
    plan.prune_unused_relations();
    plan
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
fn self_is_rank_by(words_l: &[String], by: usize) -> bool {
    words_l[..by].iter().any(|w| {
        matches!(w.as_str(), "top" | "bottom")
            || MAX_WORDS.contains(&w.as_str())
            || MIN_WORDS.contains(&w.as_str())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llm::text::words_of_identifier;

    #[test]
    fn tokens_and_stems() {
        let t = tokenize(
            "What's the credit limit on account A126955, between 09:15 and 09:25 UTC? 'gift wrap'",
        );
        let kinds: Vec<TokKind> = t.iter().map(|t| t.kind).collect();
        assert!(kinds.contains(&TokKind::Id));
        assert!(kinds.contains(&TokKind::Clock));
        assert!(kinds.contains(&TokKind::Quoted));
        assert_eq!(t[0].lower, "what");
        assert_eq!(stem("declines"), stem("declined"));
        assert_eq!(stem("branches"), stem("branch"));
        assert_eq!(stem("categories"), stem("category"));
    }

    pub(super) fn col(name: &str, kind: ColKind, values: &[&str], is_key: bool) -> ColInfo {
        let words = words_of_identifier(name);
        ColInfo {
            name: name.into(),
            kind,
            stems: words.iter().map(|w| stem(w)).collect(),
            phrase: words.join(" "),
            is_key,
            id_shape: None,
            values: values.iter().map(|v| v.to_string()).collect(),
            distinct: values.len(),
            free_text: false,
            phrases: Default::default(),
            nullable: false,
        }
    }

    /// Two tables no dataset of the project has: tickets and agents.
    fn schema() -> SchemaInfo {
        let mut agent_id = col("agent_id", ColKind::Text, &[], false);
        agent_id.id_shape = Some(super::super::schema::IdShape {
            prefix: "AG".into(),
            digits: 4,
        });
        let mut agent_pk = agent_id.clone();
        agent_pk.is_key = true;
        let tickets = TableInfo {
            name: "helpdesk.tickets".into(),
            stems: vec![stem("tickets")],
            schema_stem: "helpdesk".into(),
            rows: 1000,
            columns: vec![
                col("ticket_id", ColKind::Text, &[], true),
                agent_id,
                col("priority", ColKind::Text, &["low", "high", "urgent"], false),
                col(
                    "state",
                    ColKind::Text,
                    &["open", "resolved", "escalated"],
                    false,
                ),
                col("resolution_minutes", ColKind::Number, &[], false),
                col("opened_at", ColKind::Timestamp, &[], false),
            ],
            primary_key: vec!["ticket_id".into()],
            event_time: Some("opened_at".into()),
        };
        let agents = TableInfo {
            name: "helpdesk.agents".into(),
            stems: vec![stem("agents")],
            schema_stem: "helpdesk".into(),
            rows: 20,
            columns: vec![
                agent_pk,
                col("team", ColKind::Text, &["billing", "network"], false),
                col("is_senior", ColKind::Bool, &[], false),
            ],
            primary_key: vec!["agent_id".into()],
            event_time: None,
        };
        SchemaInfo::new(vec![tickets, agents], (0, 0))
    }

    fn sql(q: &str) -> String {
        let s = schema();
        let p = Parser::new(&s, None);
        let as_of = crate::store::value::parse_timestamp("2026-05-01T12:00:00Z").unwrap();
        match p.parse(q, as_of) {
            Parsed::Plan { plan, .. } => plan.to_sql(),
            Parsed::Clarify { message, .. } => format!("CLARIFY {message}"),
        }
    }

    #[test]
    fn shapes_over_an_unseen_schema() {
        assert_eq!(
            sql("tickets per priority"),
            "SELECT t0.priority AS priority, COUNT(*) AS tickets FROM helpdesk.tickets t0 GROUP BY t0.priority"
        );
        assert_eq!(
            sql("how many urgent tickets were escalated in the last 2 hours"),
            "SELECT COUNT(*) AS tickets FROM helpdesk.tickets t0 WHERE t0.priority = 'urgent' AND t0.state = 'escalated' AND t0.opened_at >= TIMESTAMP '2026-05-01 10:00:00'"
        );
        assert_eq!(
            sql("average resolution minutes by team"),
            "SELECT t1.team AS team, AVG(t0.resolution_minutes) AS avg_resolution_minutes FROM helpdesk.tickets t0 JOIN helpdesk.agents t1 ON t0.agent_id = t1.agent_id GROUP BY t1.team"
        );
        assert_eq!(
            sql("which priority had the most tickets today"),
            "SELECT t0.priority AS priority FROM helpdesk.tickets t0 WHERE t0.priority IS NOT NULL AND t0.opened_at >= TIMESTAMP '2026-05-01 00:00:00' GROUP BY t0.priority ORDER BY COUNT(*) DESC LIMIT 1"
        );
        assert_eq!(
            sql("tickets not resolved per hour since 9am"),
            "SELECT date_trunc('hour', t0.opened_at) AS hour, COUNT(*) AS tickets FROM helpdesk.tickets t0 WHERE t0.state <> 'resolved' AND t0.opened_at >= TIMESTAMP '2026-05-01 09:00:00' GROUP BY date_trunc('hour', t0.opened_at) ORDER BY date_trunc('hour', t0.opened_at)"
        );
        assert_eq!(
            sql("team of agent AG0042"),
            "SELECT t0.team AS team FROM helpdesk.agents t0 WHERE t0.agent_id = 'AG0042'"
        );
        assert_eq!(
            sql("how many senior agents"),
            "SELECT COUNT(*) AS agents FROM helpdesk.agents t0 WHERE t0.is_senior = true"
        );
        assert_eq!(
            sql("tickets by priority and state"),
            "SELECT t0.priority AS priority, t0.state AS state, COUNT(*) AS tickets FROM helpdesk.tickets t0 GROUP BY t0.priority, t0.state"
        );
        assert!(
            sql("tickets per 15 minutes today").starts_with(
                "SELECT date_bin(INTERVAL '15 minutes', t0.opened_at, TIMESTAMP '1970-01-01 00:00:00') AS minute, COUNT(*) AS tickets"
            ),
            "{}",
            sql("tickets per 15 minutes today")
        );
        assert!(sql("what's the weather like").starts_with("CLARIFY"));
    }

    #[test]
    fn time_ranges() {
        let as_of = crate::store::value::parse_timestamp("2026-03-02T10:00:00Z").unwrap();
        let toks = tokenize("sales in the last 45 minutes");
        let mut used = vec![false; toks.len()];
        let spec = time::parse(&toks, &mut used, as_of);
        assert_eq!(spec.start_us, Some(as_of - 45 * 60_000_000));
        let toks = tokenize("orders per minute between 08:30 and 08:46 UTC");
        let mut used = vec![false; toks.len()];
        let spec = time::parse(&toks, &mut used, as_of);
        assert_eq!(spec.bucket, Some(TimeUnit::Minute));
        assert_eq!(
            spec.end_us.unwrap() - spec.start_us.unwrap(),
            16 * 60_000_000
        );
    }
}
