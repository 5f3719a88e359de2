//! The sentence and the chart for an answer, built only from the returned rows.

use serde_json::{Value as Json, json};

use super::plan::{GroupKey, Output, QueryPlan};
use crate::query::QueryResult;

fn show(v: &Json) -> String {
    match v {
        Json::Null => "none".into(),
        Json::String(s) => s.clone(),
        Json::Number(n) => match n.as_f64() {
            Some(f) if f.fract() != 0.0 => format!("{:.2}", f),
            _ => n.to_string(),
        },
        other => other.to_string(),
    }
}

/// One or two sentences stating the result.
pub fn describe(plan: &QueryPlan, r: &QueryResult) -> String {
    let outputs: Vec<Output> = plan
        .outputs()
        .into_iter()
        .filter(|o| !(plan.hide_measure && matches!(o, Output::Measure(_))))
        .collect();
    let cond = plan.conditions_text();
    let cond = if cond.is_empty() {
        String::new()
    } else {
        format!(" ({cond})")
    };
    if r.rows.is_empty() {
        return format!("No rows match{cond}.");
    }
    let names: Vec<String> = outputs.iter().map(|o| plan.describe(o)).collect();
    if plan.lookup.is_some() {
        let row = &r.rows[0];
        let parts: Vec<String> = names
            .iter()
            .zip(row)
            .take(6)
            .map(|(n, v)| format!("{n} is {}", show(v)))
            .collect();
        return format!(
            "For {}: {}.",
            cond.trim().trim_start_matches('(').trim_end_matches(')'),
            parts.join(", ")
        );
    }
    if r.rows.len() == 1 && r.rows[0].len() == 1 {
        return format!(
            "The {} is {}{cond}.",
            names.first().cloned().unwrap_or_default(),
            show(&r.rows[0][0])
        );
    }
    let first = &r.rows[0];
    let head: Vec<String> = names
        .iter()
        .zip(first)
        .map(|(n, v)| format!("{n} {}", show(v)))
        .collect();
    if r.rows.len() == 1 {
        return format!("The answer is {}{cond}.", head.join(", "));
    }
    let kind = if plan.order.is_some() {
        "the first is"
    } else if matches!(plan.group_by.first(), Some(GroupKey::Bucket { .. })) {
        "the earliest is"
    } else {
        "for example"
    };
    format!(
        "{} rows{cond}{}; {kind} {}.",
        r.rows.len(),
        if r.truncated { " (more not shown)" } else { "" },
        head.join(", ")
    )
}

/// A Vega-Lite spec when the result is a series (time buckets) or a breakdown (one key and
/// one measure); otherwise none.
pub fn chart(plan: &QueryPlan, r: &QueryResult) -> Option<Json> {
    if plan.group_by.len() != 1 || plan.measures.len() != 1 || plan.hide_measure || r.rows.len() < 2
    {
        return None;
    }
    let (x, y) = (
        r.columns.first()?.name.clone(),
        r.columns.get(1)?.name.clone(),
    );
    let values: Vec<Json> = r
        .rows
        .iter()
        .map(|row| json!({ x.clone(): row.first().cloned().unwrap_or(Json::Null), y.clone(): row.get(1).cloned().unwrap_or(Json::Null) }))
        .collect();
    let series = matches!(plan.group_by[0], GroupKey::Bucket { .. });
    Some(if series {
        json!({
            "$schema": "https://vega.github.io/schema/vega-lite/v5.json",
            "data": {"values": values},
            "mark": {"type": "line", "point": true},
            "encoding": {
                "x": {"field": x, "type": "temporal"},
                "y": {"field": y, "type": "quantitative"}
            }
        })
    } else {
        json!({
            "$schema": "https://vega.github.io/schema/vega-lite/v5.json",
            "data": {"values": values},
            "mark": "bar",
            "encoding": {
                "x": {"field": x, "type": "nominal", "sort": "-y"},
                "y": {"field": y, "type": "quantitative"}
            }
        })
    })
}
