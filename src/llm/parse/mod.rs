//! Question → [`QueryPlan`]. Schema linking against the live catalog (table and column
//! names, observed values, id shapes, phrases of free-text columns), exact and fuzzy, with
//! the sentence encoder for words that only match in meaning; then a small grammar of
//! question shapes (counts, measures, breakdowns, trends, rankings, lookups, joins).
//!
//! A pipeline of stages, each a file: [`lexicon`] (tokens, typos, numbers, time, limit) →
//! [`linking`] (mentions) → [`shape`] (what is asked) → [`frame`] (the main table and the
//! roles of mentions) → [`resolve`] (filters, groups, joins, comparisons) → [`timerange`] →
//! [`measure`] → [`assemble`] (the plan's shape) → [`account`] (every word accounted for,
//! or a clarification; the confidence). Special shapes sit beside them: [`lookup`] (a row
//! by its id), [`absence`] (null and anti-join), [`shares`] (shares, several measures),
//! [`conjunction`] (two conditions on related rows, each clause parsed on its own).

mod absence;
mod account;
mod assemble;
mod compare;
mod conjunction;
#[cfg(test)]
mod construct_tests;
mod frame;
mod having;
mod lexicon;
mod linking;
mod lookup;
mod measure;
mod mention;
mod resolve;
mod shape;
mod shares;
mod tables;
mod timerange;
mod words;

use account::Trace;
use mention::ColAt;
pub use words::is_keyword;

use super::plan::*;
use super::schema::{ColInfo, SchemaInfo, TableInfo};

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

    fn c(&self, (t, c): ColAt) -> &ColInfo {
        &self.s.tables[t].columns[c]
    }

    /// Parses `question` relative to `as_of` (µs since the epoch).
    pub fn parse(&self, question: &str, as_of_us: i64) -> Parsed {
        if self.s.tables.is_empty() {
            return Parsed::clarify(
                "There is no data to ask about yet: no table has any rows.".into(),
                Vec::new(),
            );
        }
        let mut q = self.lex(question, as_of_us);
        let (ms, semantic) = self.mentions(&mut q);
        tracing::debug!(question, ?ms, "mentions");
        if !ms
            .iter()
            .any(|m| !matches!(m.kind, mention::Kind::Col(_, true)))
        {
            return Parsed::clarify(
                "I could not match that question to the data: it names no table, column or value I know. Try naming what to count or measure and over which table.".into(),
                self.s.overview(),
            );
        }
        if let Some(p) = self.conjunction(&q, as_of_us) {
            return p;
        }
        if let Some(p) = self.unsupported_shape(&q, &ms) {
            return p;
        }
        let sh = shape::Shape::of(&q);
        if let Some(p) = self.lookup_by_id(&mut q, &ms, &sh) {
            return p;
        }
        let f = match self.frame(&q, &ms, &sh, semantic) {
            Ok(f) => f,
            Err(p) => return p,
        };
        let mut res = self.resolve_mentions(&q, &ms, &f);
        let time = self.time_range(&mut q, &f, &mut res);
        let measure = self.main_measure(&mut q, &ms, &sh, &f, &mut res);
        self.assemble(q, &ms, &sh, &f, res, time, measure)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llm::schema::ColKind;
    use crate::llm::text::{TokKind, stem, tokenize, words_of_identifier};
    use crate::llm::time;

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
    pub(super) fn schema() -> SchemaInfo {
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

    /// The stages' outputs for a question over the help-desk schema, up to the measure.
    pub(super) struct Staged<'a> {
        pub p: &'a Parser<'a>,
        pub q: lexicon::Question,
        pub ms: Vec<mention::Mention>,
        pub f: frame::Frame,
        pub res: resolve::Resolved,
        pub time: Option<TimeRange>,
        pub measure: Option<Measure>,
    }

    /// Runs the stages on `q` and hands them to `check` (a stage's own test reads the part
    /// it makes).
    pub(super) fn staged<R>(q: &str, check: impl FnOnce(&Staged) -> R) -> R {
        let s = schema();
        let p = Parser::new(&s, None);
        let as_of = crate::store::value::parse_timestamp("2026-05-01T12:00:00Z").unwrap();
        let mut lq = p.lex(q, as_of);
        let (ms, sem) = p.mentions(&mut lq);
        let sh = shape::Shape::of(&lq);
        let f = p.frame(&lq, &ms, &sh, sem).expect("a frame");
        let mut res = p.resolve_mentions(&lq, &ms, &f);
        let time = p.time_range(&mut lq, &f, &mut res);
        let measure = p.main_measure(&mut lq, &ms, &sh, &f, &mut res);
        check(&Staged {
            p: &p,
            q: lq,
            ms,
            f,
            res,
            time,
            measure,
        })
    }

    pub(super) fn sql(q: &str) -> String {
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
