//! Reading a topic's log back: records by partition, offset range and time range, for
//! `GET /api/tables/{name}/changes` (the MCP `read_topic` tool). Each source has its log:
//! Kafka is read from the broker (a reader outside the consumer group: partitions assigned,
//! positions sought, nothing committed), a replay file is its own log, and the demo's log is
//! rebuilt from its seed and start (the generator is deterministic).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use rdkafka::Message;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::topic_partition_list::{Offset as KOffset, TopicPartitionList};

use crate::config::{DemoConfig, KafkaConfig};
use crate::ident::Offset;
use crate::ingest::record::Record;

/// Which records to read. Offsets are inclusive; `to_ms` is exclusive.
#[derive(Clone, Debug, Default)]
pub struct Range {
    pub partitions: Option<Vec<i32>>,
    pub from_offset: Option<Offset>,
    pub to_offset: Option<Offset>,
    pub from_ms: Option<i64>,
    pub to_ms: Option<i64>,
}

impl Range {
    pub fn admits(&self, r: &Record) -> bool {
        self.partitions
            .as_ref()
            .is_none_or(|ps| ps.contains(&r.partition))
            && self.from_offset.is_none_or(|o| r.offset >= o)
            && self.to_offset.is_none_or(|o| r.offset <= o)
            && self.from_ms.is_none_or(|t| r.ts_ms >= t)
            && self.to_ms.is_none_or(|t| r.ts_ms < t)
    }
}

/// Where a topic's log lives.
#[derive(Clone, Debug)]
pub enum LogSource {
    /// The demo generator's output, `produced` records of it so far.
    Demo {
        cfg: DemoConfig,
        start_ms: i64,
        produced: u64,
    },
    /// A `kcat -C -J` file.
    Replay { path: PathBuf },
    /// The Kafka cluster.
    Kafka { cfg: Box<KafkaConfig> },
}

impl LogSource {
    pub fn name(&self) -> &'static str {
        match self {
            LogSource::Demo { .. } => "demo",
            LogSource::Replay { .. } => "replay",
            LogSource::Kafka { .. } => "kafka",
        }
    }
}

/// How far a scan went.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct ScanStats {
    /// Records of the topic looked at.
    pub scanned: u64,
    /// Lines of a replay file that were not records.
    pub unreadable: u64,
    /// False when the scan stopped at its budget (records or time) before the range's end.
    pub complete: bool,
}

/// Limits on one scan.
#[derive(Clone, Copy, Debug)]
pub struct Budget {
    pub max_scanned: u64,
    pub deadline: Instant,
}

/// Why a log could not be read back.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("cannot read {path}: {source}")]
    File {
        path: String,
        source: std::io::Error,
    },
    /// Kafka failed at a step (`what` says which).
    #[error("{what}: {source}")]
    Kafka {
        what: String,
        source: rdkafka::error::KafkaError,
    },
}

fn kafka(what: impl Into<String>) -> impl FnOnce(rdkafka::error::KafkaError) -> LogError {
    let what = what.into();
    move |source| LogError::Kafka { what, source }
}

/// Reads `topic`'s records within `range`, in log order (per partition, offset order),
/// handing each to `visit` until it returns false.
pub fn scan(
    source: &LogSource,
    topic: &str,
    range: &Range,
    budget: Budget,
    visit: &mut dyn FnMut(Record) -> bool,
) -> Result<ScanStats, LogError> {
    match source {
        LogSource::Demo {
            cfg,
            start_ms,
            produced,
        } => Ok(scan_iter(
            crate::ingest::demo::regenerate(cfg, *start_ms)
                .take(usize::try_from(*produced).unwrap_or(usize::MAX))
                .map(Ok),
            topic,
            range,
            budget,
            visit,
        )),
        LogSource::Replay { path } => {
            let records =
                crate::ingest::replay::records(path).map_err(|source| LogError::File {
                    path: path.display().to_string(),
                    source,
                })?;
            Ok(scan_iter(records, topic, range, budget, visit))
        }
        LogSource::Kafka { cfg } => scan_kafka(cfg, topic, range, budget, visit),
    }
}

/// A sequential log (demo, file): every record is looked at; the time bound ends the scan
/// early once records are well past it (timestamps in these logs only ever run a little
/// backwards, for late events).
fn scan_iter(
    records: impl Iterator<Item = Result<Record, crate::ingest::replay::BadLine>>,
    topic: &str,
    range: &Range,
    budget: Budget,
    visit: &mut dyn FnMut(Record) -> bool,
) -> ScanStats {
    const SLACK_MS: i64 = 10 * 60 * 1000;
    let mut stats = ScanStats {
        complete: true,
        ..Default::default()
    };
    for (i, r) in records.enumerate() {
        let r = match r {
            Ok(r) => r,
            Err(_) => {
                stats.unreadable += 1;
                continue;
            }
        };
        if i % 4096 == 0 && Instant::now() > budget.deadline {
            stats.complete = false;
            break;
        }
        if &*r.topic != topic {
            continue;
        }
        stats.scanned += 1;
        if range.to_ms.is_some_and(|t| r.ts_ms > t + SLACK_MS) {
            break;
        }
        if stats.scanned > budget.max_scanned {
            stats.complete = false;
            break;
        }
        if range.admits(&r) && !visit(r) {
            break;
        }
    }
    stats
}

fn scan_kafka(
    cfg: &KafkaConfig,
    topic: &str,
    range: &Range,
    budget: Budget,
    visit: &mut dyn FnMut(Record) -> bool,
) -> Result<ScanStats, LogError> {
    let mut client = crate::ingest::kafka::consumer_config(cfg);
    // A reader of its own: not a member of the node's group, commits nothing.
    client.set(
        "group.id",
        format!("{}-reader-{}", cfg.group, std::process::id()),
    );
    let consumer: BaseConsumer = client
        .create()
        .map_err(kafka("cannot create a Kafka reader"))?;
    let timeout = Duration::from_secs(5);
    let md = consumer
        .fetch_metadata(Some(topic), timeout)
        .map_err(kafka(format!(
            "cannot read the topic's metadata from {}",
            cfg.brokers
        )))?;
    let parts: Vec<i32> = md
        .topics()
        .iter()
        .filter(|t| t.name() == topic)
        .flat_map(|t| t.partitions().iter().map(|p| p.id()))
        .filter(|p| range.partitions.as_ref().is_none_or(|ps| ps.contains(p)))
        .collect();
    // Start and end (exclusive) per partition.
    let mut plan: Vec<(i32, i64, i64)> = Vec::new();
    let mut lows = std::collections::HashMap::new();
    for p in parts {
        let (lo, hi) = consumer
            .fetch_watermarks(topic, p, timeout)
            .map_err(kafka(format!("cannot read partition {p}'s offsets")))?;
        lows.insert(p, lo);
        let mut start = range.from_offset.map_or(lo, |o| o.get().max(lo));
        if let Some(t) = range.from_ms {
            let mut tpl = TopicPartitionList::new();
            tpl.add_partition_offset(topic, p, KOffset::Offset(t))
                .map_err(kafka("cannot build a partition list"))?;
            let found = consumer
                .offsets_for_times(tpl, timeout)
                .map_err(kafka(format!(
                    "cannot look up partition {p}'s offset for a time"
                )))?;
            match found
                .find_partition(topic, p)
                .map(|e| e.offset())
                .unwrap_or(KOffset::End)
            {
                KOffset::Offset(o) => start = start.max(o),
                _ => start = hi,
            }
        }
        let end = range.to_offset.map_or(hi, |o| hi.min(o.get() + 1));
        if start < end {
            plan.push((p, start, end));
        }
    }
    tracing::debug!(
        topic,
        ?plan,
        "kafka log read: (partition, start, end) planned"
    );
    let mut stats = ScanStats {
        complete: true,
        ..Default::default()
    };
    if plan.is_empty() {
        return Ok(stats);
    }
    let mut tpl = TopicPartitionList::new();
    for (p, start, _) in &plan {
        tpl.add_partition_offset(topic, *p, KOffset::Offset(*start))
            .map_err(kafka("cannot build a partition list"))?;
    }
    consumer
        .assign(&tpl)
        .map_err(kafka("cannot assign partitions"))?;
    // Per partition: (partition, wanted start, end, low watermark, fetch position, step back,
    // start confirmed). Some brokers (Tansu 0.6) answer a fetch from the middle of a record
    // batch with the *next* batch; when the first record is past the wanted start, the reader
    // seeks further back (doubling the step) until it lands at or before it, and skips ahead.
    struct Cursor {
        p: i32,
        start: i64,
        end: i64,
        lo: i64,
        at: i64,
        back: i64,
        confirmed: bool,
    }
    let mut open: Vec<Cursor> = plan
        .iter()
        .map(|&(p, start, end)| Cursor {
            p,
            start,
            end,
            lo: lows.get(&p).copied().unwrap_or(0),
            at: start,
            back: 512,
            confirmed: false,
        })
        .collect();
    let topic_arc: std::sync::Arc<str> = topic.into();
    while !open.is_empty() {
        if Instant::now() > budget.deadline || stats.scanned >= budget.max_scanned {
            stats.complete = false;
            break;
        }
        let Some(msg) = consumer.poll(Duration::from_millis(200)) else {
            continue;
        };
        let m = msg.map_err(kafka("Kafka read failed"))?;
        let Some(i) = open.iter().position(|c| c.p == m.partition()) else {
            continue;
        };
        let c = &mut open[i];
        if !c.confirmed {
            if m.offset() > c.start && c.at > c.lo {
                c.at = (c.start - c.back).max(c.lo);
                c.back *= 2;
                consumer
                    .seek(topic, c.p, KOffset::Offset(c.at), timeout)
                    .map_err(kafka(format!("cannot seek partition {}", c.p)))?;
                continue;
            }
            c.confirmed = true;
        }
        if m.offset() < c.start {
            continue;
        }
        if m.offset() >= c.end {
            open.swap_remove(i);
            continue;
        }
        if m.offset() + 1 >= c.end {
            open.swap_remove(i);
        }
        stats.scanned += 1;
        let r = Record {
            topic: topic_arc.clone(),
            partition: m.partition(),
            offset: crate::ident::Offset(m.offset()),
            ts_ms: m.timestamp().to_millis().unwrap_or(0),
            key: m.key().map(<[u8]>::to_vec),
            value: m.payload().map(<[u8]>::to_vec),
        };
        if range.admits(&r) && !visit(r) {
            break;
        }
    }
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_log_is_rebuilt_record_for_record() {
        let cfg = DemoConfig {
            rate: crate::config::Rate::Max,
            ..DemoConfig::default()
        };
        let start = crate::ingest::demo::start_ms(&cfg);
        let produced: Vec<Record> = crate::ingest::demo::regenerate(&cfg, start)
            .take(2000)
            .collect();
        let topic = produced[10].topic.to_string();
        let want: Vec<(i32, i64)> = produced
            .iter()
            .filter(|r| *r.topic == *topic && r.partition == 1 && (3..=9).contains(&r.offset.get()))
            .map(|r| (r.partition, r.offset.get()))
            .collect();
        assert_eq!(want.len(), 7);
        let range = Range {
            partitions: Some(vec![1]),
            from_offset: Some(Offset(3)),
            to_offset: Some(Offset(9)),
            ..Range::default()
        };
        let mut got = Vec::new();
        let src = LogSource::Demo {
            cfg,
            start_ms: start,
            produced: 2000,
        };
        let budget = Budget {
            max_scanned: u64::MAX,
            deadline: Instant::now() + Duration::from_secs(60),
        };
        let stats = scan(&src, &topic, &range, budget, &mut |r| {
            got.push((r.partition, r.offset.get()));
            true
        })
        .unwrap();
        assert_eq!(got, want);
        assert!(stats.complete);
        // Stopping early is honoured.
        let mut n = 0;
        scan(&src, &topic, &Range::default(), budget, &mut |_| {
            n += 1;
            n < 5
        })
        .unwrap();
        assert_eq!(n, 5);
    }
}
