//! Alert rules written in English ("alert me when declined transactions in any region exceed
//! 20% over 5 minutes"): the alert phrasing — window, comparison, threshold, "in any X" — is
//! read here; what is measured ("declined transactions", "the average amount of purchases") is
//! handed to the plain-English parser, whose plan gives the table, filters and group. The
//! result is the same structured [`Rule`] the API takes, echoed back to the client.

use crate::live::rules::{Condition, EqFilter, Rule, RuleAgg, RuleMeasure};
use crate::llm::parse::Parsed;
use crate::llm::plan::{Agg, GroupKey, Lit, Op};
use crate::llm::{AskError, Assistant};

/// Why an English rule could not be read.
#[derive(Debug, thiserror::Error)]
pub enum EnglishError {
    /// The text is understood only in part; the message says what is missing.
    #[error("{0}")]
    Unclear(String),
    #[error(transparent)]
    Ask(#[from] AskError),
}

/// The alert phrasing pulled out of a rule's text.
#[derive(Debug, PartialEq)]
pub struct Phrasing {
    /// What is measured, as a noun phrase ("declined transactions").
    pub subject: String,
    /// "in any region" → `region` (still to be resolved to a column).
    pub group: Option<String>,
    pub window_ms: Option<i64>,
    pub condition: Condition,
    /// The threshold was a percentage.
    pub percent: bool,
}

const LEADS: &[&str] = &[
    "alert me when",
    "alert me if",
    "notify me when",
    "notify me if",
    "tell me when",
    "tell me if",
    "warn me when",
    "warn me if",
    "let me know when",
    "let me know if",
    "alert when",
    "alert if",
    "when",
    "if",
];

const ABOVE: &[(&str, &str)] = &[
    ("goes above", ">"),
    ("go above", ">"),
    ("rises above", ">"),
    ("rise above", ">"),
    ("is above", ">"),
    ("are above", ">"),
    ("exceeds", ">"),
    ("exceed", ">"),
    ("is over", ">"),
    ("are over", ">"),
    ("more than", ">"),
    ("greater than", ">"),
    ("higher than", ">"),
    ("at least", ">="),
    ("above", ">"),
    ("over", ">"),
    (">=", ">="),
    (">", ">"),
    ("drops below", "<"),
    ("drop below", "<"),
    ("falls below", "<"),
    ("fall below", "<"),
    ("is below", "<"),
    ("are below", "<"),
    ("fewer than", "<"),
    ("less than", "<"),
    ("lower than", "<"),
    ("at most", "<="),
    ("below", "<"),
    ("under", "<"),
    ("<=", "<="),
    ("<", "<"),
];

const CHANGES: &[(&str, f64)] = &[
    ("rises by", 1.0),
    ("rise by", 1.0),
    ("increases by", 1.0),
    ("increase by", 1.0),
    ("jumps by", 1.0),
    ("jump by", 1.0),
    ("grows by", 1.0),
    ("grow by", 1.0),
    ("drops by", -1.0),
    ("drop by", -1.0),
    ("falls by", -1.0),
    ("fall by", -1.0),
    ("decreases by", -1.0),
    ("decrease by", -1.0),
];

const ANOMALOUS: &[&str] = &[
    "look anomalous",
    "looks anomalous",
    "are anomalous",
    "is anomalous",
    "look unusual",
    "looks unusual",
    "are unusual",
    "is unusual",
    "behave oddly",
    "behaves oddly",
];

/// A number with an optional `%`/`percent` right after `at` in `s`: (value, percent, rest).
fn number_at(s: &str) -> Option<(f64, bool, &str)> {
    let t = s.trim_start();
    let end = t
        .char_indices()
        .find(|(_, c)| !(c.is_ascii_digit() || *c == '.' || *c == ','))
        .map_or(t.len(), |(i, _)| i);
    let v: f64 = t[..end].replace(',', "").parse().ok()?;
    let rest = t[end..].trim_start();
    for p in ["%", "percent", "per cent"] {
        if let Some(r) = rest.strip_prefix(p) {
            return Some((v, true, r));
        }
    }
    Some((v, false, rest))
}

/// Finds `word` as a whole phrase in `s`.
fn find_phrase(s: &str, word: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(i) = s[from..].find(word) {
        let at = from + i;
        let before_ok = at == 0 || !s.as_bytes()[at - 1].is_ascii_alphanumeric();
        let after = at + word.len();
        let after_ok = after >= s.len()
            || !s.as_bytes()[after].is_ascii_alphanumeric()
            || !word.as_bytes()[word.len() - 1].is_ascii_alphanumeric();
        if before_ok && after_ok {
            return Some(at);
        }
        from = at + word.len();
    }
    None
}

/// "over 5 minutes", "in the last 10 min", "within an hour" → ms, and the text without it.
fn take_window(s: &str) -> (Option<i64>, String) {
    let words: Vec<&str> = s.split_whitespace().collect();
    for i in 0..words.len() {
        if !["over", "in", "within", "during", "for", "per", "every"].contains(&words[i]) {
            continue;
        }
        let mut j = i + 1;
        while j < words.len() && ["the", "last", "past", "a", "an", "any"].contains(&words[j]) {
            j += 1;
        }
        let (n, k) = match words.get(j).and_then(|w| w.parse::<f64>().ok()) {
            Some(n) => (n, j + 1),
            None => (1.0, j),
        };
        let Some(unit) = words.get(k) else { continue };
        let unit = unit.trim_end_matches([',', '.', '?', '!']);
        let ms = match unit {
            "second" | "seconds" | "sec" | "secs" | "s" => 1000.0,
            "minute" | "minutes" | "min" | "mins" | "m" => 60_000.0,
            "hour" | "hours" | "h" | "hr" | "hrs" => 3_600_000.0,
            _ => continue,
        };
        let rest: Vec<&str> = words[..i]
            .iter()
            .chain(words[k + 1..].iter())
            .copied()
            .collect();
        return (Some((n * ms) as i64), rest.join(" "));
    }
    (None, s.to_string())
}

/// "in any region", "per region", "for each region", "by region" → `region`.
fn take_group(s: &str) -> (Option<String>, String) {
    let words: Vec<&str> = s.split_whitespace().collect();
    for i in 0..words.len() {
        let (skip, ok) = match (words[i], words.get(i + 1).copied()) {
            ("in" | "for" | "of", Some("any" | "each" | "every" | "a" | "some" | "one")) => {
                (2, true)
            }
            ("per" | "by", Some(_)) => (1, true),
            _ => (0, false),
        };
        if ok
            && let Some(g) = words.get(i + skip)
            && !g.starts_with(|c: char| c.is_ascii_digit())
        {
            let g = g.trim_end_matches([',', '.', '?', '!']).to_string();
            let rest: Vec<&str> = words[..i]
                .iter()
                .chain(words[i + skip + 1..].iter())
                .copied()
                .collect();
            return (Some(g), rest.join(" "));
        }
    }
    (None, s.to_string())
}

/// Reads the alert phrasing.
pub fn phrasing(text: &str) -> Result<Phrasing, EnglishError> {
    let mut s = text.trim().to_lowercase();
    s = s.trim_end_matches(['.', '!', '?']).to_string();
    for lead in LEADS {
        if let Some(rest) = s.strip_prefix(lead)
            && rest.starts_with(' ')
        {
            s = rest.trim().to_string();
            break;
        }
    }
    let (window_ms, s) = take_window(&s);
    let (group, s) = take_group(&s);
    // "anomalous"
    for w in ANOMALOUS {
        if let Some(i) = find_phrase(&s, w) {
            return Ok(Phrasing {
                subject: s[..i].trim().to_string(),
                group,
                window_ms,
                condition: Condition::Anomalous { anomalous: true },
                percent: false,
            });
        }
    }
    for (w, sign) in CHANGES {
        if let Some(i) = find_phrase(&s, w)
            && let Some((v, _, _)) = number_at(&s[i + w.len()..])
        {
            return Ok(Phrasing {
                subject: s[..i].trim().to_string(),
                group,
                window_ms,
                condition: Condition::Change {
                    change_pct: v * sign,
                },
                percent: false,
            });
        }
    }
    // The earliest comparison phrase followed by a number.
    let mut best: Option<(usize, &str, &str)> = None;
    for (w, op) in ABOVE {
        if let Some(i) = find_phrase(&s, w)
            && number_at(&s[i + w.len()..]).is_some()
            && best.is_none_or(|(b, bw, _)| i < b || (i == b && w.len() > bw.len()))
        {
            best = Some((i, w, op));
        }
    }
    let Some((i, w, op)) = best else {
        return Err(EnglishError::Unclear(
            "say when the alert fires: 'exceeds 20%', 'more than 100', 'drops below 5', 'rises by 50%' or 'looks anomalous'".into(),
        ));
    };
    let (v, percent, _) = number_at(&s[i + w.len()..]).expect("checked above");
    Ok(Phrasing {
        subject: s[..i].trim().to_string(),
        group,
        window_ms,
        condition: Condition::Threshold {
            op: op.to_string(),
            value: if percent { v / 100.0 } else { v },
        },
        percent,
    })
}

/// Parses an English rule into a structured one, using the assistant for what is measured.
pub async fn parse_rule(assistant: &Assistant, text: &str) -> Result<Rule, EnglishError> {
    let p = phrasing(text)?;
    if p.subject.is_empty() {
        return Err(EnglishError::Unclear(
            "say what to watch, e.g. 'declined transactions' or 'the average amount of purchases'"
                .into(),
        ));
    }
    let subject = p
        .subject
        .trim_start_matches("the number of ")
        .trim_start_matches("number of ")
        .to_string();
    let measured = [
        "average", "avg", "mean", "total", "sum", "max", "maximum", "min", "minimum", "highest",
        "lowest",
    ]
    .iter()
    .any(|w| subject.starts_with(w) || subject.starts_with(&format!("the {w}")));
    let mut question = if measured {
        format!("what is {subject}")
    } else {
        format!("how many {subject}")
    };
    if let Some(g) = &p.group {
        question.push_str(&format!(" by {g}"));
    }
    let (parsed, _) = assistant.parse(&question, None).await?;
    let plan = match parsed {
        Parsed::Plan { plan, .. } => plan,
        Parsed::Clarify { message, .. } => return Err(EnglishError::Unclear(message)),
    };
    if !plan.related.is_empty() {
        return Err(EnglishError::Unclear(format!(
            "a rule watches one table; '{}' involves {} and {}",
            p.subject,
            plan.table,
            plan.related
                .iter()
                .map(|r| r.table.clone())
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    let mut filters = Vec::new();
    for f in &plan.filters {
        match &f.op {
            Op::In(v) if v.len() == 1 => filters.push(EqFilter {
                column: f.column.column.clone(),
                value: match &v[0] {
                    Lit::Text(s) => s.clone(),
                    Lit::Bool(b) => b.to_string(),
                    Lit::Number(n) => n.to_string(),
                },
            }),
            Op::NotNull => {}
            _ => {
                return Err(EnglishError::Unclear(format!(
                    "rules filter on equal values (status = declined); '{}' has a condition on {} they cannot watch",
                    p.subject, f.column.column
                )));
            }
        }
    }
    let group_by = plan.group_by.iter().find_map(|g| match g {
        GroupKey::Column(c) => Some(c.column.clone()),
        GroupKey::Bucket { .. } => None,
    });
    if p.group.is_some() && group_by.is_none() {
        return Err(EnglishError::Unclear(format!(
            "no column of {} matches '{}'",
            plan.table,
            p.group.clone().unwrap_or_default()
        )));
    }
    let measure = match plan.measures.first() {
        Some(m) if measured => {
            let agg = match m.agg {
                Agg::Sum => RuleAgg::Sum,
                Agg::Avg | Agg::Median => RuleAgg::Avg,
                Agg::Min => RuleAgg::Min,
                Agg::Max => RuleAgg::Max,
                _ => RuleAgg::Count,
            };
            RuleMeasure {
                agg,
                column: m.column.as_ref().map(|c| c.column.clone()),
            }
        }
        _ if p.percent => RuleMeasure {
            agg: RuleAgg::Share,
            column: None,
        },
        _ => RuleMeasure {
            agg: RuleAgg::Count,
            column: None,
        },
    };
    let rule = Rule {
        id: String::new(),
        name: None,
        text: Some(text.trim().to_string()),
        table: plan.table.clone(),
        measure,
        filters,
        group_by,
        window_ms: p.window_ms.unwrap_or(300_000),
        condition: p.condition,
        webhook: None,
        webhook_secret: None,
        created_at: String::new(),
        enabled: true,
        created_by: None,
    };
    rule.validate()
        .map_err(|e| EnglishError::Unclear(format!("'{}': {e}", text.trim())))?;
    Ok(rule)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_alert_phrasing_is_read_apart_from_what_is_measured() {
        let p =
            phrasing("alert me when declined transactions in any region exceed 20% over 5 minutes")
                .unwrap();
        assert_eq!(p.subject, "declined transactions");
        assert_eq!(p.group.as_deref(), Some("region"));
        assert_eq!(p.window_ms, Some(300_000));
        assert!(p.percent);
        assert_eq!(
            p.condition,
            Condition::Threshold {
                op: ">".into(),
                value: 0.2
            }
        );
        let p = phrasing(
            "notify me if the average amount of purchases drops below 10 in the last 2 minutes",
        )
        .unwrap();
        assert_eq!(p.subject, "the average amount of purchases");
        assert_eq!(p.window_ms, Some(120_000));
        assert_eq!(
            p.condition,
            Condition::Threshold {
                op: "<".into(),
                value: 10.0
            }
        );
        let p = phrasing("tell me when orders per country look unusual").unwrap();
        assert_eq!(p.group.as_deref(), Some("country"));
        assert_eq!(p.condition, Condition::Anomalous { anomalous: true });
        let p = phrasing("alert when refunds rise by 50% within an hour").unwrap();
        assert_eq!(p.window_ms, Some(3_600_000));
        assert_eq!(p.condition, Condition::Change { change_pct: 50.0 });
        assert!(phrasing("alert me about stuff").is_err());
    }
}
