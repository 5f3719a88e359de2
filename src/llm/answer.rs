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

/// One or two sentences stating the result, then the choices the question left open.
pub fn describe(plan: &QueryPlan, r: &QueryResult) -> String {
    let s = sentence(plan, r);
    if plan.assumed.is_empty() {
        s
    } else {
        format!("{s} Note: {}.", plan.assumed.join("; "))
    }
}

fn sentence(plan: &QueryPlan, r: &QueryResult) -> String {
    let outputs: Vec<Output> = plan
        .outputs()
        .into_iter()
        .filter(|o| !(plan.hide_measure && matches!(o, Output::Measure(_))))
        .collect();
    let conditions = plan.conditions_text();
    // the interpretation, restated: which table, which rows
    let cond = if conditions.is_empty() {
        format!(" (from {})", plan.table)
    } else {
        format!(" (from {} where {conditions})", plan.table)
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
        return format!("For {conditions} in {}: {}.", plan.table, parts.join(", "));
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
    let more = if r.truncated { " (more not shown)" } else { "" };
    let keys = plan.group_by.len();
    let measure_at = outputs.iter().position(|o| matches!(o, Output::Measure(_)));
    let num = |row: &[Json], i: usize| row.get(i).and_then(Json::as_f64);
    // a series: its peak, low, latest value and change
    if keys == 1
        && matches!(plan.group_by[0], GroupKey::Bucket { .. })
        && plan.order.is_none()
        && let Some(mi) = measure_at
        && r.rows.iter().all(|row| num(row, mi).is_some())
    {
        let by = |better: fn(f64, f64) -> bool| {
            r.rows
                .iter()
                .fold(None::<&Vec<Json>>, |best, row| match best {
                    Some(b) if !better(num(row, mi).unwrap_or(0.0), num(b, mi).unwrap_or(0.0)) => {
                        Some(b)
                    }
                    _ => Some(row),
                })
                .expect("rows")
        };
        let (peak, low) = (by(|a, b| a > b), by(|a, b| a < b));
        let (start, last) = (&r.rows[0], &r.rows[r.rows.len() - 1]);
        let change = num(last, mi).unwrap_or(0.0) - num(start, mi).unwrap_or(0.0);
        return format!(
            "{} over {} {}s{cond}{more}: peak {} at {}, low {} at {}, latest {} at {} ({}{} since {}).",
            names[mi],
            r.rows.len(),
            names[0],
            show(&peak[mi]),
            show(&peak[0]),
            show(&low[mi]),
            show(&low[0]),
            show(&last[mi]),
            show(&last[0]),
            if change >= 0.0 { "+" } else { "" },
            show(&json!(change)),
            show(&start[0]),
        );
    }
    // a ranking: the top entries
    if plan.order.is_some() {
        let top: Vec<String> = r
            .rows
            .iter()
            .take(5)
            .map(|row| row.iter().map(show).collect::<Vec<_>>().join(" "))
            .collect();
        return format!(
            "The top {}{cond}{more}: {}{}.",
            r.rows.len(),
            top.join("; "),
            if r.rows.len() > 5 { "; …" } else { "" }
        );
    }
    // a breakdown by one key: the leader and its share of the whole
    if keys == 1
        && outputs.len() == 2
        && let Some(mi) = measure_at
        && r.rows
            .iter()
            .all(|row| num(row, mi).is_some_and(|v| v >= 0.0))
    {
        let total: f64 = r.rows.iter().filter_map(|row| num(row, mi)).sum();
        let lead = r
            .rows
            .iter()
            .max_by(|a, b| {
                num(a, mi)
                    .unwrap_or(0.0)
                    .total_cmp(&num(b, mi).unwrap_or(0.0))
            })
            .expect("rows");
        let share = if total > 0.0 {
            format!(
                " ({:.1} % of {})",
                100.0 * num(lead, mi).unwrap_or(0.0) / total,
                show(&json!(total))
            )
        } else {
            String::new()
        };
        return format!(
            "{} by {} over {} groups{cond}{more}: {} leads with {}{share}.",
            names[mi],
            names[0],
            r.rows.len(),
            show(&lead[0]),
            show(&lead[mi]),
        );
    }
    format!(
        "{} rows{cond}{more}; for example {}.",
        r.rows.len(),
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
