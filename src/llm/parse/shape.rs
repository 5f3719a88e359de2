//! Stage 3, the shape: what kind of answer the question asks for (a count, an aggregate, a
//! grouping, a time), read off its shape words before any table is chosen.

use super::Parsed;
use super::Parser;
use super::lexicon::Question;
use super::mention::{Kind, Mention};
use super::words::*;
use crate::llm::time::unit_of;

/// The question's shape words, read once.
pub(super) struct Shape {
    /// "how many", "count", "number of".
    pub count: bool,
    /// "how much".
    pub how_much: bool,
    /// Some aggregation is asked for (count, total, average, money, extremes).
    pub aggregate: bool,
    /// "per", "each", "every", or a time bucket.
    pub grouped: bool,
    /// "when", "what time".
    pub when: bool,
}

impl Shape {
    pub fn of(q: &Question) -> Self {
        let has = |w: &[&str]| q.has(w);
        let number_of = q.words.windows(2).any(|w| w[0] == "number" && w[1] == "of");
        let count = (has(&["how"]) && has(&["many"])) || has(&["count", "counts"]) || number_of;
        let how_much = has(&["how"]) && has(&["much"]);
        // "how much did C1 spend" aggregates; "how much is P1", "how much was V7" look up
        let aggregate = count
            || how_much && (has(MONEY_WORDS) || has(&["did", "does", "do"]))
            || has(MONEY_WORDS)
            || has(SUM_WORDS)
            || has(AVG_WORDS)
            || has(&["max", "maximum", "min", "minimum"]);
        Shape {
            count,
            how_much,
            aggregate,
            grouped: has(&["per", "each", "every"]) || q.time.bucket.is_some(),
            when: q.asks_when(),
        }
    }
}

impl Parser<'_> {
    /// Shapes this parser does not build yet: say so rather than answer something else.
    pub(super) fn unsupported_shape(&self, q: &Question, ms: &[Mention]) -> Option<Parsed> {
        let words_l = &q.words;
        let n = q.len();
        let superlative_any = (0..n).any(|i| {
            MAX_WORDS.contains(&words_l[i].as_str()) || MIN_WORDS.contains(&words_l[i].as_str())
        });
        let per_group = words_l.windows(2).any(|w| {
            matches!(w[0].as_str(), "each" | "every")
                || w[0] == "per" && !w[1].is_empty() && unit_of(&w[1]).is_none()
        }) || (0..n).any(|i| matches!(words_l[i].as_str(), "each" | "every"));
        if superlative_any && per_group && ms.iter().any(|m| matches!(&m.kind, Kind::Table(_))) {
            // "the most expensive product in each category": a ranking inside every group
            let entity_first = ms
                .iter()
                .find(|m| matches!(m.kind, Kind::Table(_) | Kind::Col(..)));
            let sup_pos = (0..n).find(|i| {
                MAX_WORDS.contains(&words_l[*i].as_str())
                    || MIN_WORDS.contains(&words_l[*i].as_str())
            });
            if let (Some(e), Some(p)) = (entity_first, sup_pos)
                && matches!(e.kind, Kind::Table(_))
                && p < e.start
            {
                return Some(Parsed::clarify(
                    "A ranking inside every group (the top one per category) is not supported yet. Ask for the ranking within one group, e.g. \"the most expensive product in electronics\", or for the breakdown, e.g. \"highest price per category\".".into(),
                    self.s.overview(),
                ));
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(q: &str) -> Shape {
        let s = super::super::tests::schema();
        Shape::of(&Parser::new(&s, None).lex(q, 0))
    }

    #[test]
    fn the_shape_words() {
        let s = shape("how many tickets per agent");
        assert!(s.count && s.aggregate && s.grouped && !s.when && !s.how_much);
        let s = shape("when was the last urgent ticket opened");
        assert!(s.when && !s.count && !s.aggregate);
        let s = shape("how much did resolution take on average");
        assert!(s.how_much && s.aggregate);
        // "how much is T1" looks up
        let s = shape("how much is ticket T1");
        assert!(s.how_much && !s.aggregate, "{:?}", (s.count, s.aggregate));
        assert!(shape("tickets per hour").grouped);
    }

    #[test]
    fn a_ranking_inside_every_group_is_not_built() {
        let s = super::super::tests::schema();
        let p = Parser::new(&s, None);
        let mut q = p.lex("the most recent ticket of each agent", 0);
        let (ms, _) = p.mentions(&mut q);
        assert!(p.unsupported_shape(&q, &ms).is_some());
        let mut q = p.lex("highest resolution minutes per agent", 0);
        let (ms, _) = p.mentions(&mut q);
        assert!(p.unsupported_shape(&q, &ms).is_none());
    }
}
