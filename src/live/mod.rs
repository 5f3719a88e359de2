//! The live half: merging the partition actors' windows per table, running detectors over the
//! window series, evaluating alert rules, and publishing insights, alert events and windows to
//! subscribers (WebSocket, webhooks).
//!
//! Everything runs on event time. A table's clock is the smallest event time its active
//! partitions have reached (a partition with no batch for `idle_ms` stops holding it back); a
//! window is emitted once the clock is `grace_ms` past its end, and re-emitted while events
//! within the allowed lateness still change it. Silence (stalls) is judged on the node's clock:
//! the largest record time of any topic (and the wall clock for a Kafka source).

pub mod delivery;
pub mod detect;
pub mod english;
mod evaluate;
pub mod frame;
pub mod insight;
mod judge;
pub mod outbound;
pub mod rulebook;
pub mod rules;
pub mod signing;
pub mod webhook;

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use parking_lot::{Mutex, RwLock};
use serde::Serialize;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use crate::actors::changes::Changes;
use crate::actors::progress::Progress;
use crate::config::LiveConfig;
use crate::live::detect::{Baselines, Finding, Tuning};
use crate::live::frame::{WindowFrame, merge, window_frame};
use crate::live::insight::{Insight, Span, clock, num};
use crate::live::rulebook::RuleState;
use crate::live::rules::{AlertEvent, Condition, Rule, RuleError};
use crate::store::Store;
use crate::store::catalog::Catalog;
use crate::store::rules::RuleStore;
use crate::store::table::PartitionState;
use crate::store::window::PaneView;
use crate::telemetry::Metrics;

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
    /// The block of the last late-events summary, and the blocks not yet reported: block
    /// start → (count, largest lateness).
    late_reported: Option<i64>,
    late_blocks: BTreeMap<i64, (u64, i64)>,
    dup_seen: u64,
    dup_pending: u64,
    /// When the count of redelivered records last grew (wall clock, stream time).
    dup_grew: Option<(Instant, i64)>,
    dup_partitions: BTreeMap<i32, (crate::ident::Offset, crate::ident::Offset)>,
}

/// The live engine and what it publishes.
pub struct Live {
    cfg: LiveConfig,
    catalog: Arc<Catalog>,
    metrics: Arc<Metrics>,
    /// What partition actors publish after each durable batch.
    pub changes: Arc<Changes>,
    /// How far the source has been read.
    pub progress: Arc<Progress>,
    insights_tx: broadcast::Sender<Arc<Insight>>,
    alerts_tx: broadcast::Sender<Arc<AlertEvent>>,
    windows_tx: broadcast::Sender<Arc<WindowFrame>>,
    recent: Mutex<VecDeque<Arc<Insight>>>,
    rules: RwLock<BTreeMap<String, RuleState>>,
    rule_store: RuleStore,
    next_insight: AtomicU64,
    next_event: AtomicU64,
    next_rule: AtomicU64,
    /// Stalls are also judged against the wall clock (live sources).
    wall_clock: bool,
    tables: Mutex<BTreeMap<String, TableLive>>,
    /// The webhook delivery workers every rule shares.
    deliveries: Arc<delivery::Pool>,
    /// Where webhooks may go.
    outbound: Arc<outbound::Policy>,
}

/// Errors of the rule API.
#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    #[error(transparent)]
    Rule(#[from] RuleError),
    #[error("no alert rule {0}")]
    NotFound(String),
    /// A configured cap is reached.
    #[error("{0}")]
    Limit(String),
    #[error("store: {0}")]
    Store(#[from] crate::store::StoreError),
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
        changes: Arc<Changes>,
        progress: Arc<Progress>,
        wall_clock: bool,
    ) -> Result<Live, crate::store::StoreError> {
        let rule_store = RuleStore::open(store)?;
        let mut rules = BTreeMap::new();
        let mut max_rule = 0u64;
        let deliveries = delivery::Pool::new(cfg.webhook_workers);
        // `Node::start` refuses a bad list; here one can only mean less is allowed.
        let outbound = Arc::new(outbound::Policy::new(&cfg.webhook_allow).unwrap_or_default());
        for rule in rule_store.rules::<rules::StoredRule>()? {
            let rule = Rule::from(rule);
            if let Some(n) = rule
                .id
                .strip_prefix('r')
                .and_then(|n| n.parse::<u64>().ok())
            {
                max_rule = max_rule.max(n);
            }
            rules.insert(
                rule.id.clone(),
                RuleState::new(rule, &cfg, &metrics, &deliveries, &outbound),
            );
        }
        let mut max_event = 0u64;
        for e in rule_store.all_events::<AlertEvent>()? {
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
            changes,
            progress,
            insights_tx: broadcast::channel(1024).0,
            alerts_tx: broadcast::channel(1024).0,
            windows_tx: broadcast::channel(1024).0,
            recent: Mutex::new(VecDeque::new()),
            rules: RwLock::new(rules),
            rule_store,
            next_insight: AtomicU64::new(1),
            next_event: AtomicU64::new(max_event + 1),
            next_rule: AtomicU64::new(max_rule + 1),
            wall_clock,
            tables: Mutex::new(BTreeMap::new()),
            deliveries,
            outbound,
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

    // Rules: `rulebook.rs`; judging windows and silence: `evaluate.rs`, `judge.rs`.

    // ---- the engine ----

    /// Runs the engine until `shutdown`: a step every 100 ms and after applied batches.
    pub fn spawn(self: &Arc<Self>, shutdown: CancellationToken) -> tokio::task::JoinHandle<()> {
        let me = self.clone();
        let mut applied = self.changes.watch_applied();
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

    pub(super) fn labels(&self, table: &str) -> Vec<String> {
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
        let source_ts = self.progress.source_ts();
        let pending = self.progress.pending();
        let behind = self.progress.behind();
        // Records of the partition are on their way, or still unread at the source.
        let held = |topic: &str, p: i32| {
            let key = (Arc::<str>::from(topic), p);
            pending.get(&key).is_some_and(|n| *n > 0) || behind.contains(&key)
        };
        let mut global: Option<i64> = None;
        let mut snapshot = Vec::new();
        for t in &tables {
            let (name, topic, columns, originals, time_col) = {
                let s = t.schema.read();
                let spec = crate::store::window::WindowSpec::of(&s, &self.cfg);
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
            // A partition with records on their way (or unread at the source) stands at its own
            // event time, and one with no event time yet holds the clock where it is; one that
            // has applied everything read stands where the source is. Without a source (nothing
            // read since start), partitions idle for `idle_ms` stop holding the clock back.
            let unstarted = behind
                .iter()
                .any(|(t, p)| **t == *topic && !info.iter().any(|i| i.0 == *p));
            let clock = match source_ts {
                Some(_) if unstarted => None,
                Some(src) => info
                    .iter()
                    .map(|i| if held(&topic, i.0) { i.1 } else { Some(src) })
                    .collect::<Option<Vec<i64>>>()
                    .and_then(|v| v.into_iter().min()),
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
            let high: HashSet<usize> = info.iter().flat_map(|i| i.7.iter().copied()).collect();
            let label = |c: usize| columns.get(c).cloned().unwrap_or_else(|| format!("#{c}"));
            if let Some(clock) = clock {
                if tl.next_start.is_none() {
                    tl.next_start = info.iter().filter_map(|i| i.6).min();
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
            let topic_pending =
                info.iter().any(|i| held(&topic, i.0)) || behind.iter().any(|(t, _)| **t == *topic);
            if let (Some(g), Some(last)) = (global, last_ts) {
                self.judge_silence(&name, tl, g, last, topic_pending);
            }
            // Late events, by the pane they arrived in, once the clock (less the allowed
            // lateness, for a partition standing where the source is) has passed it.
            if let Some(c) = clock {
                let due = (c - self.cfg.allowed_lateness_ms).div_euclid(pane) * pane;
                let mut arrivals = BTreeMap::new();
                for (_, st) in &parts {
                    for (p, (n, lag)) in st.windows.lock().take_late_before(due) {
                        let a: &mut (u64, i64) = arrivals.entry(p).or_default();
                        a.0 += n;
                        a.1 = a.1.max(lag);
                    }
                }
                self.judge_late(&name, tl, arrivals, due, time_col.as_deref());
            }
            // Redelivery.
            let dups: u64 = info.iter().map(|i| i.4).sum();
            for i in &info {
                if i.4 > 0 {
                    tl.dup_partitions.insert(i.0, i.5);
                }
            }
            self.judge_redelivery(&name, tl, dups, global.unwrap_or(0));
        }
    }

    pub(super) fn publish_insight(&self, mut insight: Insight) -> Arc<Insight> {
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
}
