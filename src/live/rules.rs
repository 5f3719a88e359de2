//! Alert rules: a condition over a table's windows — an aggregate over the last `window_ms`
//! of event time, with equality filters and an optional group, against a threshold, a rate of
//! change, or "anomalous". Rules and their firing/resolving events live in sled; an event is
//! written only on a transition, so a condition that stays true fires once.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::live::insight::{Insight, Span, num, pct};
use crate::store::window::PaneView;

/// What is aggregated.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum RuleAgg {
    /// Events.
    Count,
    /// The fraction of the group's events that match the filters.
    Share,
    Sum,
    Avg,
    Min,
    Max,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct RuleMeasure {
    pub agg: RuleAgg,
    /// The numeric column for sum/avg/min/max.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub column: Option<String>,
}

/// `column = value`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct EqFilter {
    pub column: String,
    pub value: String,
}

/// When the rule fires.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum Condition {
    /// `value <op> threshold` (`>`, `>=`, `<`, `<=`).
    Threshold { op: String, value: f64 },
    /// The value rose (positive) or fell (negative) by at least this many percent against the
    /// window before.
    Change { change_pct: f64 },
    /// A detector found something about the table (and the rule's group or filter values).
    Anomalous { anomalous: bool },
}

/// A rule as stored and as the API shows it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Rule {
    #[serde(default)]
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The English text the rule was parsed from, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    pub table: String,
    pub measure: RuleMeasure,
    #[serde(default)]
    pub filters: Vec<EqFilter>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_by: Option<String>,
    #[serde(default = "default_window")]
    pub window_ms: i64,
    pub condition: Condition,
    /// POSTed a JSON copy of every event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook: Option<String>,
    /// The key the webhook's bodies are signed with ([`crate::live::signing`]): given when the
    /// rule is created, or made then and shown in that reply only. Never serialised with the
    /// rule (the rule store keeps it beside it, see [`StoredRule`]).
    #[serde(default, skip_serializing)]
    pub webhook_secret: Option<String>,
    #[serde(default)]
    pub created_at: String,
    /// A disabled rule is kept (with its history) but not evaluated.
    #[serde(default = "default_enabled")]
    pub enabled: bool,
    /// The client address that created it (set by the server, never by the request), for the
    /// per-client cap.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
}

/// A rule as the rule store keeps it: the rule and its webhook's secret.
#[derive(Serialize, Deserialize)]
pub struct StoredRule {
    #[serde(flatten)]
    pub rule: Rule,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_secret: Option<String>,
}

impl From<StoredRule> for Rule {
    fn from(s: StoredRule) -> Rule {
        Rule {
            webhook_secret: s.webhook_secret,
            ..s.rule
        }
    }
}

fn default_enabled() -> bool {
    true
}

fn default_window() -> i64 {
    300_000
}

/// A firing or resolving.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct AlertEvent {
    pub seq: u64,
    pub rule_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule_name: Option<String>,
    pub table: String,
    /// `firing` or `resolved`.
    pub state: String,
    /// The group value (`region = LATAM`), if the rule groups.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<BTreeMap<String, String>>,
    pub value: Option<f64>,
    pub window: Span,
    /// Event time of the transition: the end of the window that changed it.
    pub at: String,
    pub at_ms: i64,
    pub detected_at: String,
    pub message: String,
}

/// Why a rule cannot be evaluated.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum RuleError {
    #[error("{0}")]
    Invalid(String),
}

impl Rule {
    /// Checks the parts that do not depend on the data.
    pub fn validate(&self) -> Result<(), RuleError> {
        let bad = |m: &str| Err(RuleError::Invalid(m.to_string()));
        if self.table.trim().is_empty() {
            return bad("a rule needs a table");
        }
        if self.window_ms < 1000 {
            return bad("window_ms must be at least 1000");
        }
        match self.measure.agg {
            RuleAgg::Count => {
                if self.filters.len() > 2 || (self.group_by.is_some() && self.filters.len() > 1) {
                    return bad("a count takes at most two filters, or one filter with a group_by");
                }
            }
            RuleAgg::Share => {
                if self.filters.len() != 1 {
                    return bad(
                        "a share needs exactly one filter: the events whose share is watched",
                    );
                }
            }
            _ => {
                if self.measure.column.is_none() {
                    return bad("sum/avg/min/max need measure.column");
                }
                if self.filters.len() + usize::from(self.group_by.is_some()) > 1 {
                    return bad("sum/avg/min/max take either one filter or a group_by, not both");
                }
            }
        }
        if let Condition::Threshold { op, .. } = &self.condition
            && ![">", ">=", "<", "<="].contains(&op.as_str())
        {
            return bad("condition.op must be one of > >= < <=");
        }
        Ok(())
    }

    /// A short description: `share of status = declined per region over 5 min > 20 %`.
    pub fn describe(&self) -> String {
        let f = self
            .filters
            .iter()
            .map(|f| format!("{} = {}", f.column, f.value))
            .collect::<Vec<_>>()
            .join(" and ");
        let what = match (&self.measure.agg, &self.measure.column) {
            (RuleAgg::Count, _) if f.is_empty() => "events".to_string(),
            (RuleAgg::Count, _) => format!("events with {f}"),
            (RuleAgg::Share, _) => format!("share of {f}"),
            (a, Some(c)) if f.is_empty() => format!("{a:?} {c}").to_lowercase(),
            (a, Some(c)) => format!("{} {c} where {f}", format!("{a:?}").to_lowercase()),
            (a, None) => format!("{a:?}").to_lowercase(),
        };
        let group = self
            .group_by
            .as_ref()
            .map(|g| format!(" per {g}"))
            .unwrap_or_default();
        let cond = match &self.condition {
            Condition::Threshold { op, value } if self.measure.agg == RuleAgg::Share => {
                format!("{op} {}", pct(*value))
            }
            Condition::Threshold { op, value } => format!("{op} {}", num(*value)),
            Condition::Change { change_pct } if *change_pct >= 0.0 => {
                format!("rises by {change_pct} %")
            }
            Condition::Change { change_pct } => format!("falls by {} %", -change_pct),
            Condition::Anomalous { .. } => "is anomalous".into(),
        };
        format!(
            "{} {what}{group} over {} {cond}",
            self.table,
            window_label(self.window_ms)
        )
    }
}

pub fn window_label(ms: i64) -> String {
    if ms % 3_600_000 == 0 {
        format!("{} h", ms / 3_600_000)
    } else if ms % 60_000 == 0 {
        format!("{} min", ms / 60_000)
    } else {
        format!("{} s", ms as f64 / 1000.0)
    }
}

/// Column indices a rule refers to, resolved against the table's columns.
pub struct Resolved {
    pub group: Option<usize>,
    pub filters: Vec<(usize, String)>,
    pub measure: Option<usize>,
}

/// Resolves column names (as SQL spells them, or as the source does).
pub fn resolve(rule: &Rule, columns: &[(String, String)]) -> Result<Resolved, RuleError> {
    let find = |name: &str| {
        columns
            .iter()
            .position(|(n, o)| n.eq_ignore_ascii_case(name) || o == name)
            .ok_or_else(|| RuleError::Invalid(format!("{} has no column {name}", rule.table)))
    };
    Ok(Resolved {
        group: rule.group_by.as_deref().map(find).transpose()?,
        filters: rule
            .filters
            .iter()
            .map(|f| Ok((find(&f.column)?, f.value.clone())))
            .collect::<Result<_, RuleError>>()?,
        measure: rule.measure.column.as_deref().map(find).transpose()?,
    })
}

/// The rule's value per group over a window (a merge of panes). Groups with no events are
/// absent.
pub fn values(rule: &Rule, r: &Resolved, w: &PaneView) -> BTreeMap<Option<String>, f64> {
    let mut out = BTreeMap::new();
    let stat = |acc: &crate::store::window::Acc| -> Option<f64> {
        let s = acc.stat(r.measure?)?;
        if s.n == 0 {
            return None;
        }
        Some(match rule.measure.agg {
            RuleAgg::Sum => s.sum,
            RuleAgg::Avg => s.sum / s.n as f64,
            RuleAgg::Min => s.min,
            RuleAgg::Max => s.max,
            RuleAgg::Count | RuleAgg::Share => s.n as f64,
        })
    };
    match r.group {
        Some(g) => {
            for ((c, a), acc) in &w.cells {
                if *c != g || acc.count == 0 {
                    continue;
                }
                let v = match (rule.measure.agg, r.filters.first()) {
                    (RuleAgg::Count, None) => Some(acc.count as f64),
                    (RuleAgg::Count, Some((f, fv))) => Some(
                        w.pairs
                            .get(&(g, a.clone(), *f, fv.clone()))
                            .copied()
                            .unwrap_or(0) as f64,
                    ),
                    (RuleAgg::Share, Some((f, fv))) => Some(
                        w.pairs
                            .get(&(g, a.clone(), *f, fv.clone()))
                            .copied()
                            .unwrap_or(0) as f64
                            / acc.count as f64,
                    ),
                    (RuleAgg::Share, None) => None,
                    _ => stat(acc),
                };
                if let Some(v) = v {
                    out.insert(Some(a.clone()), v);
                }
            }
        }
        None => {
            let v = match (rule.measure.agg, r.filters.as_slice()) {
                (RuleAgg::Count, []) => Some(w.count as f64),
                (RuleAgg::Count, [(f, v)]) => {
                    Some(w.cells.get(&(*f, v.clone())).map_or(0, |a| a.count) as f64)
                }
                (RuleAgg::Count, [(f1, v1), (f2, v2)]) => Some(
                    w.pairs
                        .get(&(*f1, v1.clone(), *f2, v2.clone()))
                        .or_else(|| w.pairs.get(&(*f2, v2.clone(), *f1, v1.clone())))
                        .copied()
                        .unwrap_or(0) as f64,
                ),
                (RuleAgg::Share, [(f, v)]) if w.count > 0 => Some(
                    w.cells.get(&(*f, v.clone())).map_or(0, |a| a.count) as f64 / w.count as f64,
                ),
                (_, []) => stat(&w.total),
                (_, [(f, v)]) => w.cells.get(&(*f, v.clone())).and_then(stat),
                _ => None,
            };
            if let Some(v) = v {
                out.insert(None, v);
            }
        }
    }
    out
}

/// Whether `v` satisfies a threshold.
pub fn holds(op: &str, v: f64, threshold: f64) -> bool {
    match op {
        ">" => v > threshold,
        ">=" => v >= threshold,
        "<" => v < threshold,
        "<=" => v <= threshold,
        _ => false,
    }
}

/// Whether an insight is about this rule's table and (when it has them) its group or filter
/// values.
pub fn insight_matches(rule: &Rule, group: Option<&str>, i: &Insight) -> bool {
    if i.table != rule.table {
        return false;
    }
    if let (Some(g), Some(gv)) = (&rule.group_by, group) {
        return i.dimension.get(g).is_some_and(|v| v == gv);
    }
    rule.filters
        .iter()
        .all(|f| i.dimension.get(&f.column).is_none_or(|v| *v == f.value))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::window::Acc;

    fn rule(agg: RuleAgg, filters: &[(&str, &str)], group: Option<&str>) -> Rule {
        Rule {
            id: "r1".into(),
            name: None,
            text: None,
            table: "bank.txns".into(),
            measure: RuleMeasure { agg, column: None },
            filters: filters
                .iter()
                .map(|(c, v)| EqFilter {
                    column: c.to_string(),
                    value: v.to_string(),
                })
                .collect(),
            group_by: group.map(str::to_string),
            window_ms: 300_000,
            condition: Condition::Threshold {
                op: ">".into(),
                value: 0.2,
            },
            webhook: None,
            webhook_secret: None,
            created_at: String::new(),
            enabled: true,
            created_by: None,
        }
    }

    #[test]
    fn a_share_per_group_comes_from_the_pair_counts() {
        let cols = vec![
            ("region".to_string(), "REGION".to_string()),
            ("status".to_string(), "STATUS".to_string()),
        ];
        let r = rule(RuleAgg::Share, &[("status", "declined")], Some("region"));
        r.validate().unwrap();
        let res = resolve(&r, &cols).unwrap();
        let mut w = PaneView {
            count: 300,
            ..Default::default()
        };
        w.cells.insert(
            (0, "EU".into()),
            Acc {
                count: 200,
                measures: vec![],
            },
        );
        w.cells.insert(
            (0, "US".into()),
            Acc {
                count: 100,
                measures: vec![],
            },
        );
        w.pairs.insert((0, "EU".into(), 1, "declined".into()), 50);
        let v = values(&r, &res, &w);
        assert_eq!(v[&Some("EU".to_string())], 0.25);
        assert_eq!(v[&Some("US".to_string())], 0.0);
        assert!(
            r.describe()
                .contains("share of status = declined per region over 5 min > 20 %")
        );
    }

    #[test]
    fn impossible_combinations_are_refused_with_a_reason() {
        let mut r = rule(RuleAgg::Avg, &[("status", "declined")], Some("region"));
        r.measure.column = Some("amount".into());
        assert!(r.validate().is_err());
        let r = rule(RuleAgg::Share, &[], Some("region"));
        assert!(r.validate().is_err());
        let cols = vec![("region".to_string(), "REGION".to_string())];
        let r = rule(RuleAgg::Count, &[("nope", "x")], None);
        assert!(resolve(&r, &cols).is_err());
    }
}
