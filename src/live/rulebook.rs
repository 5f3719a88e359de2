//! The alert rules a node keeps: adding, reading, switching and deleting them, and how each
//! stands (what fires, why it cannot be judged). Kept through the store's [`RuleStore`].

use super::*;
use crate::live::delivery::Pool;

/// A rule and how it stands.
#[derive(Clone, Debug, Serialize)]
pub struct RuleStatus {
    #[serde(flatten)]
    pub rule: Rule,
    /// Human form of the condition.
    pub description: String,
    /// Groups currently firing (`"*"` when the rule has no group).
    pub firing: Vec<String>,
    /// Why the rule cannot be evaluated on the data, if it cannot.
    pub error: Option<String>,
    /// End of the first window evaluated.
    pub evaluated_from: Option<String>,
    pub webhook_status: Option<webhook::WebhookStatus>,
}

pub(super) struct RuleState {
    pub(super) rule: Rule,
    pub(super) firing: BTreeMap<Option<String>, bool>,
    pub(super) error: Option<String>,
    pub(super) evaluated_from: Option<String>,
    pub(super) webhook: Option<Arc<webhook::Webhook>>,
}

impl RuleState {
    /// A rule as loaded or added: nothing firing yet, its webhook (if any) idle.
    pub(super) fn new(
        rule: Rule,
        cfg: &LiveConfig,
        metrics: &Arc<Metrics>,
        pool: &Arc<Pool>,
        outbound: &Arc<crate::live::outbound::Policy>,
    ) -> RuleState {
        let webhook = rule.webhook.as_ref().map(|url| {
            let retry = webhook::Retry {
                attempts: cfg.webhook_attempts,
                backoff_ms: cfg.webhook_backoff_ms,
                timeout_ms: cfg.webhook_timeout_ms,
            };
            webhook::Webhook::new(
                url.clone(),
                rule.webhook_secret.clone().unwrap_or_default(),
                retry,
                metrics.clone(),
                pool.clone(),
                outbound.clone(),
            )
        });
        RuleState {
            rule,
            firing: BTreeMap::new(),
            error: None,
            evaluated_from: None,
            webhook,
        }
    }
}

impl Live {
    /// Adds a rule (validated, given an id), persisting it.
    pub fn add_rule(&self, mut rule: Rule) -> Result<RuleStatus, LiveError> {
        rule.validate()?;
        if let Some(url) = &rule.webhook {
            self.outbound
                .check_url(url)
                .map_err(crate::live::rules::RuleError::Invalid)?;
            if rule
                .webhook_secret
                .as_deref()
                .is_none_or(|s| s.trim().is_empty())
            {
                rule.webhook_secret = Some(crate::live::signing::new_secret());
            }
        } else {
            rule.webhook_secret = None;
        }
        let (held, mine) = {
            let rules = self.rules.read();
            let mine = rules
                .values()
                .filter(|r| rule.created_by.is_some() && r.rule.created_by == rule.created_by)
                .count();
            (rules.len(), mine)
        };
        if held >= self.cfg.max_rules {
            return Err(LiveError::Limit(format!(
                "{held} alert rules exist (live.max_rules); delete one first"
            )));
        }
        if mine >= self.cfg.max_rules_per_client {
            return Err(LiveError::Limit(format!(
                "{} created {mine} alert rules (live.max_rules_per_client); delete one first",
                rule.created_by.as_deref().unwrap_or("this client")
            )));
        }
        rule.id = format!("r{}", self.next_rule.fetch_add(1, Ordering::SeqCst));
        rule.created_at = now_rfc3339();
        self.persist(&rule)?;
        let id = rule.id.clone();
        self.rules.write().insert(
            id.clone(),
            RuleState::new(
                rule,
                &self.cfg,
                &self.metrics,
                &self.deliveries,
                &self.outbound,
            ),
        );
        self.rule(&id)
    }

    /// Writes `rule` to the rule store, flushed.
    fn persist(&self, rule: &Rule) -> Result<(), LiveError> {
        let stored = crate::live::rules::StoredRule {
            rule: rule.clone(),
            webhook_secret: rule.webhook_secret.clone(),
        };
        Ok(self.rule_store.put_rule(&rule.id, &stored)?)
    }

    /// The secret a rule's webhook signs with (for the reply that creates it).
    pub fn webhook_secret(&self, id: &str) -> Option<String> {
        self.rules.read().get(id)?.rule.webhook_secret.clone()
    }

    pub fn rule(&self, id: &str) -> Result<RuleStatus, LiveError> {
        let rules = self.rules.read();
        let rs = rules
            .get(id)
            .ok_or_else(|| LiveError::NotFound(id.to_string()))?;
        Ok(status_of(rs))
    }

    pub fn rules(&self) -> Vec<RuleStatus> {
        self.rules.read().values().map(status_of).collect()
    }

    /// Enables or disables a rule. Disabling forgets what was firing (nothing is judged while
    /// disabled); enabling judges again from the next window.
    pub fn set_enabled(&self, id: &str, enabled: bool) -> Result<RuleStatus, LiveError> {
        let mut rules = self.rules.write();
        let rs = rules
            .get_mut(id)
            .ok_or_else(|| LiveError::NotFound(id.to_string()))?;
        if rs.rule.enabled != enabled {
            rs.rule.enabled = enabled;
            if !enabled {
                rs.firing.clear();
            }
            self.persist(&rs.rule)?;
        }
        Ok(status_of(rs))
    }

    /// Deletes a rule and its events.
    pub fn delete_rule(&self, id: &str) -> Result<(), LiveError> {
        if self.rules.write().remove(id).is_none() {
            return Err(LiveError::NotFound(id.to_string()));
        }
        self.rule_store.remove_rule(id)?;
        Ok(())
    }

    /// A rule's events, oldest first.
    pub fn rule_events(&self, id: &str) -> Result<Vec<AlertEvent>, LiveError> {
        if !self.rules.read().contains_key(id) {
            return Err(LiveError::NotFound(id.to_string()));
        }
        Ok(self.rule_store.events_of(id)?)
    }
}

pub(super) fn status_of(rs: &RuleState) -> RuleStatus {
    RuleStatus {
        description: rs.rule.describe(),
        firing: rs
            .firing
            .iter()
            .filter(|(_, on)| **on)
            .map(|(g, _)| g.clone().unwrap_or_else(|| "*".into()))
            .collect(),
        error: rs.error.clone(),
        evaluated_from: rs.evaluated_from.clone(),
        webhook_status: rs.webhook.as_ref().map(|w| w.status()),
        rule: rs.rule.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::live::rules::{RuleAgg, RuleMeasure};

    fn rule() -> Rule {
        Rule {
            id: String::new(),
            name: Some("declines".into()),
            text: None,
            table: "bank.txns".into(),
            measure: RuleMeasure {
                agg: RuleAgg::Count,
                column: None,
            },
            filters: vec![],
            group_by: None,
            window_ms: 60_000,
            condition: Condition::Threshold {
                op: ">".into(),
                value: 10.0,
            },
            webhook: None,
            webhook_secret: None,
            created_at: String::new(),
            enabled: true,
            created_by: None,
        }
    }

    /// A live engine with `cfg` over `store` and an empty catalog.
    fn live_over(store: &Store, cfg: LiveConfig) -> Live {
        Live::new(
            cfg,
            Arc::new(Catalog::new()),
            Arc::new(Metrics::new()),
            store,
            Arc::new(Changes::default()),
            Arc::new(Progress::default()),
            false,
        )
        .unwrap()
    }

    #[test]
    fn rules_are_capped_in_total_and_per_client() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), 100, 16).unwrap();
        let cfg = LiveConfig {
            max_rules: 3,
            max_rules_per_client: 2,
            ..LiveConfig::default()
        };
        let live = live_over(&store, cfg);
        let from = |ip: &str| Rule {
            created_by: Some(ip.into()),
            ..rule()
        };
        live.add_rule(from("10.0.0.1")).unwrap();
        live.add_rule(from("10.0.0.1")).unwrap();
        let mine = live.add_rule(from("10.0.0.1")).unwrap_err().to_string();
        assert!(mine.contains("live.max_rules_per_client"), "{mine}");
        live.add_rule(from("10.0.0.2")).unwrap();
        let all = live.add_rule(from("10.0.0.3")).unwrap_err().to_string();
        assert!(all.contains("live.max_rules"), "{all}");
    }

    #[test]
    fn rules_survive_a_restart_and_deleting_forgets_them() {
        let dir = tempfile::tempdir().unwrap();
        let open = || {
            let store = Store::open(dir.path(), 100, 16).unwrap();
            let live = live_over(&store, LiveConfig::default());
            (store, live)
        };
        let (store, live) = open();
        let a = live.add_rule(rule()).unwrap();
        let b = live.add_rule(rule()).unwrap();
        assert_ne!(a.rule.id, b.rule.id);
        assert!(
            live.add_rule(Rule {
                window_ms: 5,
                ..rule()
            })
            .is_err()
        );
        drop(live);
        store.flush_blocking().unwrap();
        drop(store);
        let (store, live) = open();
        let ids: Vec<String> = live.rules().into_iter().map(|r| r.rule.id).collect();
        assert_eq!(ids, vec![a.rule.id.clone(), b.rule.id.clone()]);
        live.delete_rule(&a.rule.id).unwrap();
        assert!(matches!(live.rule(&a.rule.id), Err(LiveError::NotFound(_))));
        let c = live.add_rule(rule()).unwrap();
        assert!(
            c.rule.id != a.rule.id && c.rule.id != b.rule.id,
            "ids are not reused"
        );
        assert!(!live.set_enabled(&b.rule.id, false).unwrap().rule.enabled);
        // Both were firing when last judged: after a restart only the enabled one still is.
        let events = store.tree("alert-events").unwrap();
        for (seq, id) in [(1u64, &b.rule.id), (2, &c.rule.id)] {
            let e = AlertEvent {
                seq,
                rule_id: id.clone(),
                rule_name: None,
                table: "bank.txns".into(),
                state: "firing".into(),
                group: None,
                value: Some(11.0),
                window: Span::new(0, 60_000),
                at: String::new(),
                at_ms: 60_000,
                detected_at: String::new(),
                message: String::new(),
            };
            let key = format!("{id}\0{seq:020}");
            events
                .insert(key.as_bytes(), serde_json::to_vec(&e).unwrap())
                .unwrap();
        }
        drop(events);
        drop(live);
        store.flush_blocking().unwrap();
        drop(store);
        let (_store, live) = open();
        assert!(
            !live.rule(&b.rule.id).unwrap().rule.enabled,
            "kept disabled"
        );
        assert!(live.rule(&c.rule.id).unwrap().rule.enabled);
        assert!(live.rule(&b.rule.id).unwrap().firing.is_empty());
        assert_eq!(live.rule(&c.rule.id).unwrap().firing, vec!["*".to_string()]);
        assert!(live.set_enabled(&b.rule.id, true).unwrap().rule.enabled);
        assert!(matches!(
            live.set_enabled("r999", true),
            Err(LiveError::NotFound(_))
        ));
    }
}
