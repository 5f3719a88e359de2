//! Throughput and lag over the last minutes, per topic partition: sampled once a second from
//! the partitions' applied offsets and what is still on its way to them, for the dashboard's
//! live charts and `GET /api/sources/rates`.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use crate::actors::IngestStatus;
use crate::actors::progress::Progress;
use crate::actors::supervisor::Registry;
use crate::ident::{Offset, TopicPartition};
use crate::store::catalog::Catalog;

/// How often a sample is taken.
pub const INTERVAL: Duration = Duration::from_secs(1);
/// Samples kept (ten minutes).
pub const KEEP: usize = 600;

/// How far back a series reaches, in seconds: as asked, else five minutes; never more than is
/// kept.
pub fn span_secs(asked: Option<u64>) -> u64 {
    asked.unwrap_or(300).min(KEEP as u64 * INTERVAL.as_secs())
}

/// One partition at one instant.
#[derive(Clone, Copy, Debug)]
struct Point {
    applied: Option<Offset>,
    /// Records not yet applied: the broker's lag for Kafka, else what the source has read and
    /// handed over but the partition has not applied yet.
    lag: i64,
}

struct Sample {
    at_ms: i64,
    points: BTreeMap<TopicPartition, Point>,
}

/// A partition's series: `[time_ms, events/s, lag]`, oldest first.
#[derive(Clone, Debug, Serialize)]
pub struct Series {
    pub topic: String,
    pub partition: i32,
    pub points: Vec<(i64, f64, i64)>,
}

#[derive(Default)]
pub struct Rates {
    samples: Mutex<VecDeque<Sample>>,
}

impl Rates {
    /// Samples every [`INTERVAL`] until `stop`.
    pub fn spawn(
        self: &Arc<Self>,
        registry: Arc<Registry>,
        catalog: Arc<Catalog>,
        progress: Arc<Progress>,
        status: Arc<Mutex<Option<Arc<IngestStatus>>>>,
        stop: CancellationToken,
    ) {
        let me = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(INTERVAL);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = stop.cancelled() => break,
                    _ = tick.tick() => {}
                }
                let kafka = status.lock().as_ref().and_then(|s| s.kafka.clone());
                let pending = progress.pending();
                let mut points = BTreeMap::new();
                for (tp, _) in registry.all() {
                    let applied = catalog
                        .table_for_topic(&tp.topic)
                        .partition(tp.partition)
                        .rows
                        .read()
                        .applied;
                    let lag = match &kafka {
                        Some(k) => k
                            .owned
                            .read()
                            .get(&tp)
                            .and_then(|p| p.lag(applied))
                            .unwrap_or(0),
                        None => pending
                            .get(&(Arc::<str>::from(tp.topic.as_str()), tp.partition))
                            .copied()
                            .unwrap_or(0) as i64,
                    };
                    points.insert(tp, Point { applied, lag });
                }
                me.push(chrono::Utc::now().timestamp_millis(), points);
            }
        });
    }

    fn push(&self, at_ms: i64, points: BTreeMap<TopicPartition, Point>) {
        let mut s = self.samples.lock();
        if s.len() >= KEEP {
            s.pop_front();
        }
        s.push_back(Sample { at_ms, points });
    }

    /// The last `seconds` of each partition (of `topic`, if given): events applied per second
    /// between consecutive samples, and the lag at each sample.
    pub fn series(&self, topic: Option<&str>, seconds: u64) -> Vec<Series> {
        let s = self.samples.lock();
        let Some(last) = s.back() else {
            return Vec::new();
        };
        let from = last.at_ms - (seconds as i64) * 1000;
        let mut out: BTreeMap<&TopicPartition, Vec<(i64, f64, i64)>> = BTreeMap::new();
        for (prev, cur) in s.iter().zip(s.iter().skip(1)) {
            if cur.at_ms < from {
                continue;
            }
            let dt = (cur.at_ms - prev.at_ms).max(1) as f64 / 1000.0;
            for (tp, p) in &cur.points {
                if topic.is_some_and(|t| t != tp.topic) {
                    continue;
                }
                let before = prev.points.get(tp).and_then(|q| q.applied);
                let applied = match (p.applied, before) {
                    (Some(a), Some(b)) => (a.get() - b.get()).max(0),
                    (Some(a), None) => a.next().get(),
                    _ => 0,
                };
                out.entry(tp)
                    .or_default()
                    .push((cur.at_ms, applied as f64 / dt, p.lag));
            }
        }
        out.into_iter()
            .map(|(tp, points)| Series {
                topic: tp.topic.clone(),
                partition: tp.partition,
                points,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tp(t: &str, p: i32) -> TopicPartition {
        TopicPartition {
            topic: t.into(),
            partition: p,
        }
    }

    #[test]
    fn rates_are_offset_deltas_over_time_and_old_samples_fall_off() {
        let r = Rates::default();
        for i in 0..(KEEP as i64 + 5) {
            let mut m = BTreeMap::new();
            m.insert(
                tp("a", 0),
                Point {
                    applied: Some(Offset(i * 50)),
                    lag: i,
                },
            );
            m.insert(
                tp("b", 1),
                Point {
                    applied: (i >= 3).then_some(Offset(i - 3)),
                    lag: 0,
                },
            );
            r.push(i * 500, m);
        }
        let all = r.series(None, 3600);
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].points.len(), KEEP - 1, "only KEEP samples are kept");
        assert!(all[0].points.iter().all(|p| p.1 == 100.0), "50 per 0.5 s");
        assert_eq!(all[0].points.last().unwrap().2, KEEP as i64 + 4);
        assert!(all[1].points.iter().all(|p| p.1 == 2.0));
        let a = r.series(Some("a"), 2);
        assert_eq!(a.len(), 1);
        assert_eq!(
            a[0].points.len(),
            5,
            "the last 2 s at 0.5 s steps, ends included"
        );
    }
}
