//! The built-in demo source: a deterministic generator of the reference dataset
//! (`../shared/spec/dataset.md`) — six CDC topics from DB2 and Hive, Debezium keys and envelopes
//! in either JSON form, snapshots, updates, deletes followed by tombstones, late events, and the
//! situations streamq must notice: a fraud burst, a merchant amount spike, a topic stall and a
//! duplicate delivery.
//!
//! Time is simulated: each event advances the clock by `1 / rate` seconds, so a paced demo
//! runs in step with the wall clock and `--rate max` produces the same records as fast as
//! possible. Every hour of simulated time repeats the situations, at these minutes:
//! stall of `db2.orders` 10–20, duplicate delivery at 22, amount spike 25–35, fraud burst 40–45.

use std::time::{Duration, Instant};

use serde_json::{Value as Json, json};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::config::{DemoConfig, DemoFormat, Rate};
use crate::ingest::event::SourceEvent;
use crate::ingest::record::Record;

mod domain;
mod generator;

pub use generator::DemoGenerator;

/// Simulated events per second and whether the run is paced in real time.
fn pace(cfg: &DemoConfig) -> (f64, bool) {
    match cfg.rate {
        Rate::PerSecond(r) => (r, true),
        // As fast as possible, with the reference data's density of simulated time.
        Rate::Max => (15.0, false),
    }
}

/// Where a run's simulated clock starts: now for a paced run; a fixed instant for an unpaced
/// one, which makes it reproducible record for record.
pub fn start_ms(cfg: &DemoConfig) -> i64 {
    if pace(cfg).1 {
        chrono::Utc::now().timestamp_millis()
    } else {
        1_772_438_400_000
    }
}

/// The records a run started at `start_ms` produced, in order: the demo's log, rebuilt.
pub fn regenerate(cfg: &DemoConfig, start_ms: i64) -> impl Iterator<Item = Record> {
    DemoGenerator::new(cfg.seed, start_ms, pace(cfg).0, cfg.format, cfg.partitions)
}

/// Runs the demo on the calling (blocking) thread until shutdown or the limit; returns how
/// many records it produced.
pub fn run_blocking(
    cfg: &DemoConfig,
    start_ms: i64,
    tx: &mpsc::Sender<SourceEvent>,
    shutdown: &CancellationToken,
) -> std::io::Result<u64> {
    let (per_sec, paced) = pace(cfg);
    let mut generator = DemoGenerator::new(cfg.seed, start_ms, per_sec, cfg.format, cfg.partitions);
    let started = Instant::now();
    let mut produced = 0u64;
    let mut chunk = Vec::with_capacity(256);
    let limit = cfg.limit.unwrap_or(u64::MAX);
    while produced < limit && !shutdown.is_cancelled() {
        let rec = generator.next().expect("the generator never ends");
        if paced {
            let due = Duration::from_millis((rec.ts_ms - start_ms).max(0) as u64);
            let now = started.elapsed();
            if due > now + Duration::from_millis(5) {
                if !chunk.is_empty()
                    && tx
                        .blocking_send(SourceEvent::Records(std::mem::take(&mut chunk)))
                        .is_err()
                {
                    break;
                }
                std::thread::sleep((due - now).min(Duration::from_millis(250)));
            }
        }
        chunk.push(rec);
        produced += 1;
        if chunk.len() >= 256
            && tx
                .blocking_send(SourceEvent::Records(std::mem::take(&mut chunk)))
                .is_err()
        {
            break;
        }
    }
    if !chunk.is_empty() {
        let _ = tx.blocking_send(SourceEvent::Records(chunk));
    }
    let _ = tx.blocking_send(SourceEvent::End);
    Ok(produced)
}

/// Writes `n` demo records as `kcat -C -J` lines (for benches and tests).
pub fn write_kcat_lines(
    seed: u64,
    n: usize,
    format: DemoFormat,
    out: &mut impl std::io::Write,
) -> std::io::Result<()> {
    let generator = DemoGenerator::new(seed, 1_772_438_400_000, 15.0, format, 3);
    for rec in generator.take(n) {
        let line = json!({
            "topic": &*rec.topic, "partition": rec.partition, "offset": rec.offset, "tstype": "create",
            "ts": rec.ts_ms, "broker": 1, "headers": Json::Null,
            "key": rec.key.map(|k| String::from_utf8_lossy(&k).into_owned()),
            "payload": rec.value.map(|v| String::from_utf8_lossy(&v).into_owned()),
        });
        serde_json::to_writer(&mut *out, &line)?;
        out.write_all(b"\n")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::change::Change;
    use crate::ingest::debezium::Decoder;
    use crate::ingest::partitioner::partition_for;

    #[test]
    fn same_seed_same_records_and_every_record_decodes() {
        let a: Vec<Record> = DemoGenerator::new(7, 1_772_438_400_000, 15.0, DemoFormat::Json, 3)
            .take(3000)
            .collect();
        let b: Vec<Record> = DemoGenerator::new(7, 1_772_438_400_000, 15.0, DemoFormat::Json, 3)
            .take(3000)
            .collect();
        assert_eq!(
            a.iter().map(|r| &r.value).collect::<Vec<_>>(),
            b.iter().map(|r| &r.value).collect::<Vec<_>>()
        );
        let mut topics = std::collections::BTreeSet::new();
        let mut d = Decoder::new();
        for r in &a {
            topics.insert(r.topic.to_string());
            assert_eq!(partition_for(r.key.as_ref().unwrap(), 3), r.partition);
            assert!(d.decode(r).is_ok(), "{:?}", r);
        }
        assert_eq!(topics.len(), 6, "{topics:?}");
    }

    #[test]
    fn schema_form_carries_decimal_amounts() {
        let mut d = Decoder::new();
        let rec = DemoGenerator::new(1, 1_772_438_400_000, 15.0, DemoFormat::JsonSchema, 3)
            .find(|r| &*r.topic == "db2.transactions")
            .unwrap();
        let Ok(Change::Upsert { cells, .. }) = d.decode(&rec) else {
            panic!("decodes")
        };
        let amount = cells.iter().find(|c| c.original == "AMOUNT").unwrap();
        assert!(matches!(
            amount.value,
            crate::store::value::Value::Decimal { scale: 2, .. }
        ));
    }
}
