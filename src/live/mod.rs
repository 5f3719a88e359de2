//! The live half: merging the partition actors' windows per table, running detectors over the
//! window series, evaluating alert rules, and publishing insights, alert events and windows to
//! subscribers (WebSocket, webhooks).
//!
//! Everything runs on event time. A table's clock is the smallest event time its active
//! partitions have reached (a partition with no batch for `idle_ms` stops holding it back); a
//! window is emitted once the clock is `grace_ms` past its end, and re-emitted while events
//! within the allowed lateness still change it. Silence (stalls) is judged on the node's clock:
//! the largest record time of any topic (and the wall clock for a Kafka source).

pub mod detect;
pub mod english;
pub mod feed;
pub mod insight;
pub mod rules;
pub mod webhook;

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use parking_lot::{Mutex, RwLock};
use serde::Serialize;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use crate::actors::window::PaneView;
use crate::config::LiveConfig;
use crate::live::detect::{Baselines, Finding, Tuning};
use crate::live::feed::Feed;
use crate::live::insight::{Insight, Span, clock, num};
use crate::live::rules::{AlertEvent, Condition, Rule, RuleError};
use crate::store::Store;
use crate::store::catalog::Catalog;
use crate::store::table::PartitionState;
use crate::telemetry::Metrics;

/// A table window as subscribers see it (emitted on time, re-emitted when late events change
/// it).
#[derive(Clone, Debug, Serialize)]
pub struct WindowFrame {
    pub table: String,
    pub window: Span,
    pub count: u64,
    /// Per numeric column: count, sum, min, max, avg.
    pub measures: BTreeMap<String, serde_json::Value>,
    /// 0 when first emitted, then one more per re-emission.
    pub revision: u32,
}

/// A redelivered run is reported once no more duplicates came for this long (wall clock) or
/// for this much stream time, whichever is first.
const DUP_QUIET_WALL: Duration = Duration::from_secs(2);
const DUP_QUIET_STREAM_MS: i64 = 30_000;

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

struct RuleState {
    rule: Rule,
    firing: BTreeMap<Option<String>, bool>,
    error: Option<String>,
    evaluated_from: Option<String>,
    webhook: Option<Arc<webhook::Webhook>>,
}

impl RuleState {
    /// A rule as loaded or added: nothing firing yet, its webhook (if any) idle.
    fn new(rule: Rule, cfg: &LiveConfig, metrics: &Arc<Metrics>) -> RuleState {
        let webhook = rule.webhook.as_ref().map(|url| {
            let retry = webhook::Retry {
                attempts: cfg.webhook_attempts,
                backoff_ms: cfg.webhook_backoff_ms,
            };
            webhook::Webhook::new(url.clone(), retry, metrics.clone())
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

#[derive(Default)]
struct TableLive {
    next_start: Option<i64>,
    baselines: Baselines,
    /// Emitted windows by start: the merged view, the partitions' versions it was built from,
    /// its revision, and whether the watermark has passed it.
    fired: BTreeMap<i64, (PaneView, u64, u32, bool)>,
    stalled_since: Option<i64>,
    /// The stall was seen in an empty window (not live): it ends with the next non-empty one.
    stall_by_pane: bool,
    /// A reported stall covered event time up to here: its empty windows are not news.
    stall_reported_until: Option<i64>,
    late_seen: u64,
    late_reported_at: Option<i64>,
    late_pending: u64,
    late_max_ms: i64,
    late_window_start: Option<i64>,
    dup_seen: u64,
    dup_pending: u64,
    /// When the count of redelivered records last grew (wall clock, stream time).
    dup_grew: Option<(Instant, i64)>,
    dup_partitions: BTreeMap<i32, (i64, i64)>,
}

/// The live engine and what it publishes.
pub struct Live {
    cfg: LiveConfig,
    catalog: Arc<Catalog>,
    metrics: Arc<Metrics>,
    pub feed: Arc<Feed>,
    insights_tx: broadcast::Sender<Arc<Insight>>,
    alerts_tx: broadcast::Sender<Arc<AlertEvent>>,
    windows_tx: broadcast::Sender<Arc<WindowFrame>>,
    recent: Mutex<VecDeque<Arc<Insight>>>,
    rules: RwLock<BTreeMap<String, RuleState>>,
    rules_tree: sled::Tree,
    events_tree: sled::Tree,
    next_insight: AtomicU64,
    next_event: AtomicU64,
    next_rule: AtomicU64,
    /// Stalls are also judged against the wall clock (live sources).
    wall_clock: bool,
    tables: Mutex<BTreeMap<String, TableLive>>,
}

/// Errors of the rule API.
#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    #[error(transparent)]
    Rule(#[from] RuleError),
    #[error("no alert rule {0}")]
    NotFound(String),
    #[error("store: {0}")]
    Store(String),
}

fn now_rfc3339() -> String {
    crate::store::value::format_timestamp_us(chrono::Utc::now().timestamp_micros())
}

impl Live {
    /// Opens the rule and event trees and loads the rules (with the state their last events
    /// left them in).
    pub fn new(
        cfg: LiveConfig,
        catalog: Arc<Catalog>,
        metrics: Arc<Metrics>,
        store: &Store,
        feed: Arc<Feed>,
        wall_clock: bool,
    ) -> Result<Live, crate::store::StoreError> {
        let rules_tree = store.tree("alert-rules")?;
        let events_tree = store.tree("alert-events")?;
        let mut rules = BTreeMap::new();
        let mut max_rule = 0u64;
        for kv in rules_tree.iter() {
            let (_, v) = kv?;
            let Ok(rule) = serde_json::from_slice::<Rule>(&v) else {
                continue;
            };
            if let Some(n) = rule
                .id
                .strip_prefix('r')
                .and_then(|n| n.parse::<u64>().ok())
            {
                max_rule = max_rule.max(n);
            }
            rules.insert(rule.id.clone(), RuleState::new(rule, &cfg, &metrics));
        }
        let mut max_event = 0u64;
        for kv in events_tree.iter() {
            let (_, v) = kv?;
            let Ok(e) = serde_json::from_slice::<AlertEvent>(&v) else {
                continue;
            };
            max_event = max_event.max(e.seq);
            // A disabled rule judges nothing, so nothing of it is firing (as `set_enabled`).
            if let Some(rs) = rules.get_mut(&e.rule_id).filter(|rs| rs.rule.enabled) {
                let g = e.group.as_ref().and_then(|g| g.values().next().cloned());
                rs.firing.insert(g, e.state == "firing");
            }
        }
        Ok(Live {
            cfg,
            catalog,
            metrics,
            feed,
            insights_tx: broadcast::channel(1024).0,
            alerts_tx: broadcast::channel(1024).0,
            windows_tx: broadcast::channel(1024).0,
            recent: Mutex::new(VecDeque::new()),
            rules: RwLock::new(rules),
            rules_tree,
            events_tree,
            next_insight: AtomicU64::new(1),
            next_event: AtomicU64::new(max_event + 1),
            next_rule: AtomicU64::new(max_rule + 1),
            wall_clock,
            tables: Mutex::new(BTreeMap::new()),
        })
    }

    pub fn config(&self) -> &LiveConfig {
        &self.cfg
    }

    pub fn subscribe_insights(&self) -> broadcast::Receiver<Arc<Insight>> {
        self.insights_tx.subscribe()
    }

    pub fn subscribe_alerts(&self) -> broadcast::Receiver<Arc<AlertEvent>> {
        self.alerts_tx.subscribe()
    }

    pub fn subscribe_windows(&self) -> broadcast::Receiver<Arc<WindowFrame>> {
        self.windows_tx.subscribe()
    }

    /// The most recent insights, newest last.
    pub fn insights(&self, table: Option<&str>, limit: usize) -> Vec<Arc<Insight>> {
        let recent = self.recent.lock();
        let v: Vec<Arc<Insight>> = recent
            .iter()
            .filter(|i| table.is_none_or(|t| i.table == t))
            .cloned()
            .collect();
        let skip = v.len().saturating_sub(limit);
        v.into_iter().skip(skip).collect()
    }

    /// The emitted windows of a table, oldest first.
    pub fn windows(&self, table: &str) -> Vec<WindowFrame> {
        let tables = self.tables.lock();
        let Some(tl) = tables.get(table) else {
            return Vec::new();
        };
        let labels = self.labels(table);
        tl.fired
            .iter()
            .map(|(start, (v, _, rev, _))| {
                window_frame(table, *start, self.cfg.window_ms, v, *rev, &labels)
            })
            .collect()
    }

    // ---- rules ----

    /// Adds a rule (validated, given an id), persisting it.
    pub fn add_rule(&self, mut rule: Rule) -> Result<RuleStatus, LiveError> {
        rule.validate()?;
        rule.id = format!("r{}", self.next_rule.fetch_add(1, Ordering::SeqCst));
        rule.created_at = now_rfc3339();
        self.persist(&rule)?;
        let id = rule.id.clone();
        self.rules
            .write()
            .insert(id.clone(), RuleState::new(rule, &self.cfg, &self.metrics));
        self.rule(&id)
    }

    /// Writes `rule` to the rules tree, flushed.
    fn persist(&self, rule: &Rule) -> Result<(), LiveError> {
        let bytes = serde_json::to_vec(rule).expect("a rule serializes");
        self.rules_tree
            .insert(rule.id.as_bytes(), bytes)
            .map_err(|e| LiveError::Store(e.to_string()))?;
        let _ = self.rules_tree.flush();
        Ok(())
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
        let store = |e: sled::Error| LiveError::Store(e.to_string());
        self.rules_tree.remove(id.as_bytes()).map_err(store)?;
        let prefix = format!("{id}\0");
        for kv in self.events_tree.scan_prefix(prefix.as_bytes()) {
            let (k, _) = kv.map_err(store)?;
            self.events_tree.remove(k).map_err(store)?;
        }
        let _ = self.events_tree.flush();
        let _ = self.rules_tree.flush();
        Ok(())
    }

    /// A rule's events, oldest first.
    pub fn rule_events(&self, id: &str) -> Result<Vec<AlertEvent>, LiveError> {
        if !self.rules.read().contains_key(id) {
            return Err(LiveError::NotFound(id.to_string()));
        }
        let prefix = format!("{id}\0");
        let mut out = Vec::new();
        for kv in self.events_tree.scan_prefix(prefix.as_bytes()) {
            let (_, v) = kv.map_err(|e| LiveError::Store(e.to_string()))?;
            if let Ok(e) = serde_json::from_slice::<AlertEvent>(&v) {
                out.push(e);
            }
        }
        Ok(out)
    }

    // ---- the engine ----

    /// Runs the engine until `shutdown`: a step every 100 ms and after applied batches.
    pub fn spawn(self: &Arc<Self>, shutdown: CancellationToken) -> tokio::task::JoinHandle<()> {
        let me = self.clone();
        let mut applied = self.feed.watch_applied();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(100));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = tick.tick() => {}
                    r = applied.changed() => if r.is_err() { break },
                }
                let me2 = me.clone();
                // Merging and judging windows is CPU work: off the async workers.
                let _ = tokio::task::spawn_blocking(move || me2.step()).await;
            }
        })
    }

    fn labels(&self, table: &str) -> Vec<String> {
        self.catalog
            .tables()
            .into_iter()
            .find(|t| t.schema.read().name.to_string() == table)
            .map(|t| {
                t.schema
                    .read()
                    .columns
                    .iter()
                    .map(|c| c.name.clone())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// One pass: fire due windows, re-emit changed ones, judge silence, lateness and
    /// redelivery.
    pub fn step(&self) {
        if !self.cfg.enabled {
            return;
        }
        let pane = self.cfg.window_ms.max(1000);
        let tables = self.catalog.tables();
        // Read in this order: the source's position, then what is still on its way, then the
        // partitions. A partition with nothing on its way has then applied everything read up
        // to that position, and the partition state read afterwards shows it.
        let source_ts = self.feed.source_ts();
        let pending = self.feed.pending();
        let pending_of = |topic: &str, p: i32| {
            pending
                .get(&(Arc::<str>::from(topic), p))
                .copied()
                .unwrap_or(0)
        };
        let mut global: Option<i64> = None;
        let mut snapshot = Vec::new();
        for t in &tables {
            let (name, topic, columns, originals, time_col) = {
                let s = t.schema.read();
                let spec = crate::actors::window::WindowSpec::of(&s, &self.cfg);
                (
                    s.name.to_string(),
                    s.topic.clone(),
                    s.columns.iter().map(|c| c.name.clone()).collect::<Vec<_>>(),
                    s.columns
                        .iter()
                        .map(|c| (c.name.clone(), c.original.clone()))
                        .collect::<Vec<_>>(),
                    spec.time_col
                        .and_then(|i| s.columns.get(i))
                        .map(|c| c.name.clone()),
                )
            };
            let parts: Vec<(i32, Arc<PartitionState>)> = t.partitions();
            let mut info = Vec::new();
            for (p, st) in &parts {
                let w = st.windows.lock();
                if let Some(ts) = w.max_ts_ms {
                    global = Some(global.map_or(ts, |g: i64| g.max(ts)));
                }
                info.push((
                    *p,
                    w.max_event_ms,
                    w.last_batch,
                    w.max_ts_ms,
                    w.late,
                    w.late_max_ms,
                    w.duplicates,
                    w.duplicate_offsets,
                    w.first_start(),
                    w.high_cardinality(),
                ));
            }
            snapshot.push((name, topic, columns, originals, time_col, parts, info));
        }
        // Silence is judged against how far the source has been read (records of a silent
        // topic would have been handed over by then), not against other topics' progress.
        global = source_ts.or(global);
        if self.wall_clock {
            // A live source: the wall clock moves on even when nothing arrives at all — as
            // long as the records' times are live ones (not an old log being re-read).
            let now = chrono::Utc::now().timestamp_millis();
            if global.is_none_or(|g| (now - g).abs() < 3_600_000) {
                global = Some(global.map_or(now, |g| g.max(now)));
            }
        }
        let mut state = self.tables.lock();
        for (name, topic, columns, originals, time_col, parts, info) in snapshot {
            let tl = state.entry(name.clone()).or_default();
            // A partition with records on their way stands at its own event time; one that has
            // applied everything read stands where the source is. Without a source (nothing
            // read since start), partitions idle for `idle_ms` stop holding the clock back.
            let clock = match source_ts {
                Some(src) => info
                    .iter()
                    .filter_map(|i| {
                        if pending_of(&topic, i.0) > 0 {
                            i.1
                        } else {
                            Some(src)
                        }
                    })
                    .min(),
                None => {
                    let idle = Duration::from_millis(self.cfg.idle_ms);
                    let active: Vec<i64> = info
                        .iter()
                        .filter(|i| {
                            i.1.is_some() && i.2.is_some_and(|b: Instant| b.elapsed() < idle)
                        })
                        .filter_map(|i| i.1)
                        .collect();
                    if active.is_empty() {
                        info.iter().filter_map(|i| i.1).max()
                    } else {
                        active.iter().min().copied()
                    }
                }
            };
            let high: HashSet<usize> = info.iter().flat_map(|i| i.9.iter().copied()).collect();
            let label = |c: usize| columns.get(c).cloned().unwrap_or_else(|| format!("#{c}"));
            if let Some(clock) = clock {
                if tl.next_start.is_none() {
                    tl.next_start = info.iter().filter_map(|i| i.8).min();
                }
                if let Some(ns) = tl.next_start
                    && (clock - ns) / pane > 10_000
                {
                    tl.next_start = Some((clock - 100 * pane).div_euclid(pane) * pane);
                }
                // Re-emit windows that late events changed; finalize those the watermark passed.
                let watermark = clock - self.cfg.allowed_lateness_ms;
                let starts: Vec<i64> = tl
                    .fired
                    .iter()
                    .filter(|(_, f)| !f.3)
                    .map(|(s, _)| *s)
                    .collect();
                for start in starts {
                    let version: u64 = parts
                        .iter()
                        .map(|(_, st)| st.windows.lock().version(start))
                        .sum();
                    let entry = tl.fired.get_mut(&start).expect("listed above");
                    if version != entry.1 {
                        let view = merge(&parts, start, self.cfg.max_share_values, &high);
                        entry.0 = view;
                        entry.1 = version;
                        entry.2 += 1;
                        let frame = window_frame(&name, start, pane, &entry.0, entry.2, &columns);
                        let _ = self.windows_tx.send(Arc::new(frame));
                    }
                    if start + pane <= watermark {
                        entry.3 = true;
                    }
                }
                while let Some(start) = tl.next_start
                    && start + pane + self.cfg.grace_ms <= clock
                {
                    let view = merge(&parts, start, self.cfg.max_share_values, &high);
                    let version: u64 = parts
                        .iter()
                        .map(|(_, st)| st.windows.lock().version(start))
                        .sum();
                    self.fire(&name, tl, start, view, version, &label, &originals);
                    tl.next_start = Some(start + pane);
                }
                // Partitions may drop panes the engine no longer needs to re-read.
                if let Some(ns) = tl.next_start {
                    let keep_from = ns - self.cfg.allowed_lateness_ms - pane;
                    for (_, st) in &parts {
                        st.windows.lock().emitted_before = Some(keep_from);
                    }
                }
            }
            // Silence.
            let last_ts = info.iter().filter_map(|i| i.3).max();
            let topic_pending = info.iter().any(|i| pending_of(&topic, i.0) > 0);
            if let (Some(g), Some(last)) = (global, last_ts) {
                self.judge_silence(&name, tl, g, last, topic_pending);
            }
            // Late events.
            let late: u64 = info.iter().map(|i| i.4).sum();
            let late_max = info.iter().map(|i| i.5).max().unwrap_or(0);
            if let Some(c) = clock {
                self.judge_late(&name, tl, late, late_max, c, time_col);
            }
            // Redelivery.
            let dups: u64 = info.iter().map(|i| i.6).sum();
            for i in &info {
                if i.6 > 0 {
                    tl.dup_partitions.insert(i.0, i.7);
                }
            }
            self.judge_redelivery(&name, tl, dups, global.unwrap_or(0));
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn fire(
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

    fn publish_insight(&self, mut insight: Insight) -> Arc<Insight> {
        insight.id = self.next_insight.fetch_add(1, Ordering::SeqCst);
        insight.detected_at = now_rfc3339();
        crate::telemetry::InsightFound {
            kind: &insight.kind,
            table: &insight.table,
            sentence: &insight.sentence,
        }
        .emit(&self.metrics);
        let insight = Arc::new(insight);
        {
            let mut recent = self.recent.lock();
            recent.push_back(insight.clone());
            while recent.len() > self.cfg.keep_insights.max(1) {
                recent.pop_front();
            }
        }
        let _ = self.insights_tx.send(insight.clone());
        insight
    }

    fn judge_silence(
        &self,
        table: &str,
        tl: &mut TableLive,
        global: i64,
        last: i64,
        pending: bool,
    ) {
        if tl.stall_by_pane {
            return;
        }
        if let Some(since) = tl.stalled_since {
            if last > since {
                tl.stalled_since = None;
                tl.stall_reported_until = Some(last);
                let insight = Insight {
                    id: 0,
                    kind: "stall_ended".into(),
                    table: table.to_string(),
                    dimension: BTreeMap::new(),
                    window: Span::new(since, last),
                    observed: (last - since) as f64 / 1000.0,
                    expected: 0.0,
                    score: 0.0,
                    sentence: format!(
                        "{table} is flowing again at {} after {} s of silence",
                        clock(last),
                        num(((last - since) as f64 / 1000.0).round())
                    ),
                    related: Vec::new(),
                    detected_at: String::new(),
                };
                self.publish_insight(insight);
            }
            return;
        }
        if pending {
            // Records of this topic are on their way: not silent.
            return;
        }
        let pane = self.cfg.window_ms.max(1000) as f64;
        let Some(expected) = tl.baselines.expected_count(self.cfg.warmup_windows) else {
            return;
        };
        if expected < 1.0 {
            return;
        }
        let gap = pane / expected;
        let threshold = (self.cfg.stall_min_ms as f64).max(15.0 * gap);
        let silence = (global - last) as f64;
        if silence >= threshold {
            tl.stalled_since = Some(last);
            let per_min = expected * 60_000.0 / pane;
            let insight = Insight {
                id: 0,
                kind: "stall".into(),
                table: table.to_string(),
                dimension: BTreeMap::new(),
                window: Span::new(last, global),
                observed: 0.0,
                expected: expected * silence / pane,
                score: silence / gap,
                sentence: format!(
                    "{table} has been silent since {} ({} s); it usually carries about {} changes a minute",
                    clock(last),
                    num((silence / 1000.0).round()),
                    num(per_min.round())
                ),
                related: Vec::new(),
                detected_at: String::new(),
            };
            self.publish_insight(insight);
        }
    }

    fn judge_late(
        &self,
        table: &str,
        tl: &mut TableLive,
        late: u64,
        late_max: i64,
        clock_ms: i64,
        time_col: Option<String>,
    ) {
        if late > tl.late_seen {
            if tl.late_pending == 0 {
                tl.late_window_start = Some(clock_ms);
            }
            tl.late_pending += late - tl.late_seen;
            tl.late_seen = late;
            tl.late_max_ms = tl.late_max_ms.max(late_max);
        }
        let every = 10 * self.cfg.window_ms.max(1000);
        let due = tl.late_reported_at.is_none_or(|r| clock_ms - r >= every);
        if tl.late_pending > 0 && due {
            let n = tl.late_pending;
            let from = tl
                .late_reported_at
                .or(tl.late_window_start)
                .unwrap_or(clock_ms);
            let mut dimension = BTreeMap::new();
            if let Some(c) = &time_col {
                dimension.insert("event_time".to_string(), c.clone());
            }
            let insight = Insight {
                id: 0,
                kind: "late_events".into(),
                table: table.to_string(),
                dimension,
                window: Span::new(from.min(clock_ms), clock_ms),
                observed: n as f64,
                expected: 0.0,
                score: n as f64,
                sentence: format!(
                    "{n} late event{} on {table} (up to {} min behind, past the {} min allowed lateness): applied to the table, not to their closed windows",
                    if n == 1 { "" } else { "s" },
                    num(((tl.late_max_ms as f64) / 60_000.0 * 10.0).round() / 10.0),
                    self.cfg.allowed_lateness_ms / 60_000
                ),
                related: Vec::new(),
                detected_at: String::new(),
            };
            self.publish_insight(insight);
            tl.late_pending = 0;
            tl.late_reported_at = Some(clock_ms);
        }
    }

    fn judge_redelivery(&self, table: &str, tl: &mut TableLive, dups: u64, now_ms: i64) {
        if dups > tl.dup_seen + tl.dup_pending {
            // Still arriving: report once they stop.
            tl.dup_pending = dups - tl.dup_seen;
            tl.dup_grew = Some((Instant::now(), now_ms));
            return;
        }
        if tl.dup_pending == 0 {
            return;
        }
        // "Stopped" means quiet for a while, not for one step: a redelivered run arrives
        // paced like the rest of the stream, with gaps. One report per run.
        if let Some((at, ms)) = tl.dup_grew
            && at.elapsed() < DUP_QUIET_WALL
            && now_ms - ms < DUP_QUIET_STREAM_MS
        {
            return;
        }
        let n = tl.dup_pending;
        let parts: Vec<String> = tl
            .dup_partitions
            .iter()
            .map(|(p, (lo, hi))| format!("{p} (offsets {lo}–{hi})"))
            .collect();
        let mut dimension = BTreeMap::new();
        dimension.insert(
            "partition".to_string(),
            tl.dup_partitions
                .keys()
                .map(|p| p.to_string())
                .collect::<Vec<_>>()
                .join(","),
        );
        let insight = Insight {
            id: 0,
            kind: "redelivery".into(),
            table: table.to_string(),
            dimension,
            window: Span::new(now_ms, now_ms),
            observed: n as f64,
            expected: 0.0,
            score: n as f64,
            sentence: format!(
                "{n} record{} of {table} delivered again (partition {}): already applied, skipped",
                if n == 1 { "" } else { "s" },
                parts.join(", ")
            ),
            related: Vec::new(),
            detected_at: String::new(),
        };
        self.publish_insight(insight);
        tl.dup_seen += n;
        tl.dup_pending = 0;
        tl.dup_partitions.clear();
    }

    fn evaluate_rules(
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
            let key = format!("{}\0{:020}", event.rule_id, event.seq);
            if let Err(e) = self.events_tree.insert(
                key.as_bytes(),
                serde_json::to_vec(&event).expect("an event serializes"),
            ) {
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

fn status_of(rs: &RuleState) -> RuleStatus {
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

/// Merges a pane across partitions, leaving out columns that are not dimensions.
fn merge(
    parts: &[(i32, Arc<PartitionState>)],
    start: i64,
    max_share: usize,
    high: &HashSet<usize>,
) -> PaneView {
    let mut view = PaneView {
        start_ms: start,
        ..Default::default()
    };
    for (_, st) in parts {
        let w = st.windows.lock();
        view.merge(&w.export(start, max_share));
    }
    view.retain_columns(|c| !high.contains(&c));
    view
}

fn window_frame(
    table: &str,
    start: i64,
    len: i64,
    v: &PaneView,
    revision: u32,
    columns: &[String],
) -> WindowFrame {
    let mut measures = BTreeMap::new();
    for (c, s) in &v.total.measures {
        let name = columns.get(*c).cloned().unwrap_or_else(|| format!("#{c}"));
        measures.insert(
            name,
            serde_json::json!({"count": s.n, "sum": s.sum, "min": s.min, "max": s.max, "avg": s.mean()}),
        );
    }
    WindowFrame {
        table: table.to_string(),
        window: Span::new(start, start + len),
        count: v.count,
        measures,
        revision,
    }
}

/// Turns a window's findings into insights: findings about the same dimension value become one
/// insight (the strongest leads, the others are `related`); at most three per window, the
/// strongest first.
fn group_findings(
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
            created_at: String::new(),
            enabled: true,
        }
    }

    #[test]
    fn rules_survive_a_restart_and_deleting_forgets_them() {
        let dir = tempfile::tempdir().unwrap();
        let open = || {
            let store = Store::open(dir.path(), 100, 16).unwrap();
            let live = Live::new(
                LiveConfig::default(),
                Arc::new(Catalog::new()),
                Arc::new(Metrics::new()),
                &store,
                Arc::new(Feed::default()),
                false,
            )
            .unwrap();
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
