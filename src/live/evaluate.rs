//! A due window's judgement: detectors' findings become insights, the window is published,
//! and the table's alert rules are evaluated over it.

use super::*;

impl Live {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn fire(
        &self,
        table: &str,
        tl: &mut TableLive,
        start: i64,
        view: PaneView,
        version: u64,
        label: &dyn Fn(usize) -> String,
        originals: &[(String, String)],
    ) {
        let pane = self.cfg.window_ms.max(1000);
        let end = start + pane;
        let tuning = Tuning {
            warmup: self.cfg.warmup_windows,
            min_score: self.cfg.min_score,
        };
        // An empty window where many events were due is silence the live check did not see
        // (a replay read faster than the check runs): reported from the window itself.
        if view.count == 0
            && tl.stalled_since.is_none()
            && tl.stall_reported_until.is_none_or(|u| start >= u)
            && let Some(expected) = tl.baselines.expected_count(self.cfg.warmup_windows)
            && expected >= 15.0
        {
            tl.stalled_since = Some(start);
            tl.stall_by_pane = true;
            self.publish_insight(Insight {
                id: 0,
                kind: "stall".into(),
                table: table.to_string(),
                dimension: BTreeMap::new(),
                window: Span::new(start, end),
                observed: 0.0,
                expected,
                score: expected,
                sentence: format!(
                    "{table}: no changes in {}, usually about {}",
                    Span::new(start, end).label(),
                    num(expected.round())
                ),
                related: Vec::new(),
                detected_at: String::new(),
            });
        }
        if view.count > 0
            && tl.stall_by_pane
            && let Some(since) = tl.stalled_since.take()
        {
            tl.stall_by_pane = false;
            self.publish_insight(Insight {
                id: 0,
                kind: "stall_ended".into(),
                table: table.to_string(),
                dimension: BTreeMap::new(),
                window: Span::new(since, start),
                observed: view.count as f64,
                expected: 0.0,
                score: 0.0,
                sentence: format!(
                    "{table} is flowing again in {} after {} min with no changes",
                    Span::new(start, end).label(),
                    (start - since) / 60_000
                ),
                related: Vec::new(),
                detected_at: String::new(),
            });
        }
        let findings = tl.baselines.judge(&view, label, tuning);
        let span = Span::new(start, end);
        let mut emitted = Vec::new();
        for insight in group_findings(table, findings, &span, label) {
            emitted.push(self.publish_insight(insight));
        }
        let columns: Vec<String> = originals.iter().map(|(n, _)| n.clone()).collect();
        let frame = window_frame(table, start, pane, &view, 0, &columns);
        let _ = self.windows_tx.send(Arc::new(frame));
        for &h in &self.cfg.hopping_ms {
            if h > pane && h % pane == 0 {
                // A hopping window is a run of panes: its frame sums their totals.
                let mut merged = PaneView {
                    start_ms: end - h,
                    count: view.count,
                    total: view.total.clone(),
                    ..Default::default()
                };
                for (_, f) in tl.fired.range(end - h..start) {
                    merged.count += f.0.count;
                    merged.total.merge(&f.0.total);
                }
                let frame = window_frame(table, end - h, h, &merged, 0, &columns);
                let _ = self.windows_tx.send(Arc::new(frame));
            }
        }
        tl.fired.insert(start, (view, version, 0, false));
        // Rules over this table.
        self.evaluate_rules(table, tl, end, originals, &emitted);
        // Keep what the longest rule (twice, for rates of change) and hopping window need.
        let longest = self
            .rules
            .read()
            .values()
            .filter(|r| r.rule.table == table)
            .map(|r| 2 * r.rule.window_ms)
            .chain(self.cfg.hopping_ms.iter().copied())
            .max()
            .unwrap_or(pane)
            .max(10 * pane);
        while let Some((&s, _)) = tl.fired.first_key_value() {
            if s + longest >= end {
                break;
            }
            tl.fired.pop_first();
        }
    }

    pub(super) fn evaluate_rules(
        &self,
        table: &str,
        tl: &TableLive,
        end: i64,
        originals: &[(String, String)],
        emitted: &[Arc<Insight>],
    ) {
        let mut events = Vec::new();
        let mut rules = self.rules.write();
        for rs in rules
            .values_mut()
            .filter(|r| r.rule.enabled && r.rule.table == table)
        {
            let rule = rs.rule.clone();
            let w = rule.window_ms;
            let over = |from: i64, to: i64| {
                let mut v = PaneView {
                    start_ms: from,
                    ..Default::default()
                };
                for (_, f) in tl.fired.range(from..to) {
                    v.merge(&f.0);
                }
                v
            };
            let firing: BTreeMap<Option<String>, Option<f64>> = match &rule.condition {
                Condition::Anomalous { .. } => {
                    let mut m = BTreeMap::new();
                    for i in emitted {
                        match &rule.group_by {
                            Some(g) => {
                                if let Some(v) = i.dimension.get(g)
                                    && rules::insight_matches(&rule, Some(v), i)
                                {
                                    m.insert(Some(v.clone()), Some(i.score));
                                }
                            }
                            None => {
                                if rules::insight_matches(&rule, None, i) {
                                    m.insert(None, Some(i.score));
                                }
                            }
                        }
                    }
                    m
                }
                cond => {
                    let resolved = match rules::resolve(&rule, originals) {
                        Ok(r) => {
                            rs.error = None;
                            r
                        }
                        Err(e) => {
                            rs.error = Some(e.to_string());
                            continue;
                        }
                    };
                    let now = rules::values(&rule, &resolved, &over(end - w, end));
                    match cond {
                        Condition::Threshold { op, value } => now
                            .into_iter()
                            .filter(|(_, v)| rules::holds(op, *v, *value))
                            .map(|(g, v)| (g, Some(v)))
                            .collect(),
                        Condition::Change { change_pct } => {
                            let before =
                                rules::values(&rule, &resolved, &over(end - 2 * w, end - w));
                            now.into_iter()
                                .filter(|(g, v)| {
                                    before.get(g).is_some_and(|b| {
                                        *b != 0.0 && {
                                            let c = (v - b) / b.abs() * 100.0;
                                            if *change_pct >= 0.0 {
                                                c >= *change_pct
                                            } else {
                                                c <= *change_pct
                                            }
                                        }
                                    })
                                })
                                .map(|(g, v)| (g, Some(v)))
                                .collect()
                        }
                        Condition::Anomalous { .. } => unreachable!("handled above"),
                    }
                }
            };
            if rs.evaluated_from.is_none() {
                rs.evaluated_from = Some(crate::store::value::format_timestamp_us(end * 1000));
            }
            let span = Span::new(end - w, end);
            let mut transitions = Vec::new();
            for (g, v) in &firing {
                if !rs.firing.get(g).copied().unwrap_or(false) {
                    transitions.push((g.clone(), "firing", *v));
                }
            }
            for (g, on) in rs.firing.iter() {
                if *on && !firing.contains_key(g) {
                    transitions.push((g.clone(), "resolved", None));
                }
            }
            for (g, state, v) in transitions {
                rs.firing.insert(g.clone(), state == "firing");
                let group = match (&rule.group_by, &g) {
                    (Some(col), Some(val)) => Some(BTreeMap::from([(col.clone(), val.clone())])),
                    _ => None,
                };
                let who = match (&rule.group_by, &g) {
                    (Some(col), Some(val)) => format!(" for {col} = {val}"),
                    _ => String::new(),
                };
                let value_text = match (v, &rule.measure.agg) {
                    (Some(v), rules::RuleAgg::Share) => format!(": {}", insight::pct(v)),
                    (Some(v), _) => format!(": {}", num((v * 100.0).round() / 100.0)),
                    (None, _) => String::new(),
                };
                let message = format!(
                    "{} {state}{who}{value_text} in {} ({})",
                    rule.name.clone().unwrap_or_else(|| rule.id.clone()),
                    span.label(),
                    rule.describe()
                );
                let seq = self.next_event.fetch_add(1, Ordering::SeqCst);
                let event = AlertEvent {
                    seq,
                    rule_id: rule.id.clone(),
                    rule_name: rule.name.clone(),
                    table: table.to_string(),
                    state: state.to_string(),
                    group,
                    value: v,
                    window: span.clone(),
                    at: span.end.clone(),
                    at_ms: end,
                    detected_at: now_rfc3339(),
                    message,
                };
                events.push((event, rs.webhook.clone()));
            }
        }
        drop(rules);
        for (event, hook) in events {
            if let Err(e) = self.rule_store.put_event(&event.rule_id, event.seq, &event) {
                tracing::error!(error = %e, "cannot store an alert event");
            }
            crate::telemetry::AlertTransition {
                rule: &event.rule_id,
                state: &event.state,
                message: &event.message,
            }
            .emit(&self.metrics);
            let event = Arc::new(event);
            if let Some(hook) = hook {
                hook.send(event.clone());
            }
            let _ = self.alerts_tx.send(event);
        }
    }
}

/// Turns a window's findings into insights: findings about the same dimension value become one
/// insight (the strongest leads, the others are `related`); at most three per window, the
/// strongest first.
pub(super) fn group_findings(
    table: &str,
    findings: Vec<Finding>,
    span: &Span,
    label: &dyn Fn(usize) -> String,
) -> Vec<Insight> {
    let mut groups: BTreeMap<String, Vec<Finding>> = BTreeMap::new();
    for f in findings {
        let key = match (&f.group, &f.extra) {
            (Some((c, v)), _) => format!("{c}={v}"),
            (None, Some((c, _))) => format!("col{c}"),
            (None, None) => "table".into(),
        };
        groups.entry(key).or_default().push(f);
    }
    let mut out: Vec<Insight> = groups
        .into_values()
        .map(|mut fs| {
            fs.sort_by(|a, b| b.score.total_cmp(&a.score));
            let lead = fs.remove(0);
            let mut dimension = BTreeMap::new();
            if let Some((c, v)) = &lead.group {
                dimension.insert(label(*c), v.clone());
            }
            if let Some((c, v)) = &lead.extra {
                if v.is_empty() {
                    dimension.insert("column".to_string(), label(*c));
                } else {
                    dimension.insert(label(*c), v.clone());
                }
            }
            let mut sentence = format!("{table}: {} in {}", lead.sentence, span.label());
            if let Some(second) = fs.iter().find(|f| f.kind == "share_shift") {
                // "…; suspected_fraud 38 %, usually 0.4 %"
                if let Some((_, v)) = &second.extra {
                    sentence.push_str(&format!(
                        "; {v} {}, usually {}",
                        insight::pct(second.observed),
                        insight::pct(second.expected)
                    ));
                }
            }
            Insight {
                id: 0,
                kind: lead.kind.to_string(),
                table: table.to_string(),
                dimension,
                window: span.clone(),
                observed: lead.observed,
                expected: lead.expected,
                score: (lead.score * 10.0).round() / 10.0,
                sentence,
                related: fs.into_iter().map(|f| f.sentence).collect(),
                detected_at: String::new(),
            }
        })
        .collect();
    out.sort_by(|a, b| b.score.total_cmp(&a.score));
    out.truncate(3);
    out
}
