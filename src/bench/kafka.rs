//! `streamq bench kafka`: consume throughput from a Kafka cluster beside a raw librdkafka
//! consumer reading the same partitions in the same run.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use tokio_util::sync::CancellationToken;

use crate::bench::peak_rss_mib;
use crate::config::{Config, SourceKind};
use crate::node::Node;

pub async fn run(brokers: String, ends: PathBuf, registry: Option<String>) -> anyhow::Result<()> {
    let summary: serde_json::Value = serde_json::from_slice(&std::fs::read(&ends)?)?;
    let offsets = summary.get("end_offsets").unwrap_or(&summary);
    let mut want: Vec<(String, i32, i64)> = Vec::new();
    for (t, parts) in offsets
        .as_object()
        .context("end_offsets is not an object")?
    {
        for (p, e) in parts.as_object().context("partitions are not an object")? {
            want.push((t.clone(), p.parse()?, e.as_i64().unwrap_or(0)));
        }
    }
    let total: i64 = want.iter().map(|w| w.2).sum();
    let raw = tokio::task::spawn_blocking({
        let brokers = brokers.clone();
        let want = want.clone();
        move || raw_consume(&brokers, &want)
    })
    .await??;
    println!(
        "bench kafka: raw librdkafka (rdkafka BaseConsumer, no decode): {total} records in {:.2} s (from the first record) = {:.0} records/s; {:.2} s including start-up",
        raw.0.as_secs_f64(),
        total as f64 / raw.0.as_secs_f64().max(1e-9),
        raw.1.as_secs_f64()
    );
    let tmp = std::env::temp_dir().join(format!("streamq-bench-kafka-{}", std::process::id()));
    let mut cfg = Config {
        data_dir: tmp.clone(),
        ..Config::default()
    };
    cfg.source.kind = SourceKind::Kafka;
    cfg.kafka.brokers = brokers;
    cfg.kafka.group = format!("streamq-bench-{}", std::process::id());
    cfg.kafka.registry.url = registry;
    let node = Node::start(cfg, true).await?;
    let shutdown = CancellationToken::new();
    let handle = node.start_source(shutdown.clone());
    let applied = |node: &Node| -> (i64, bool) {
        let mut sum = 0;
        let mut done = true;
        for (t, p, e) in &want {
            let a = node
                .catalog
                .table_for_topic(t)
                .partition(*p)
                .rows
                .read()
                .applied
                .map_or(0, |a| a.next().get());
            sum += a;
            done &= a >= *e;
        }
        (sum, done)
    };
    let started = Instant::now();
    let mut first: Option<Instant> = None;
    loop {
        let (sum, done) = applied(&node);
        if sum > 0 && first.is_none() {
            first = Some(Instant::now());
        }
        if done {
            break;
        }
        if started.elapsed() > Duration::from_secs(600) {
            bail!("not caught up after 10 minutes ({sum} of {total})");
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let took = first.map_or(started.elapsed(), |f| f.elapsed());
    println!(
        "bench kafka: {total} records applied in {:.2} s (from the first applied record) = {:.0} events/s; {:.2} s including the group join; peak RSS {:.0} MiB",
        took.as_secs_f64(),
        total as f64 / took.as_secs_f64().max(1e-9),
        started.elapsed().as_secs_f64(),
        peak_rss_mib().unwrap_or(f64::NAN)
    );
    shutdown.cancel();
    let _ = handle.await;
    node.stop().await;
    let _ = std::fs::remove_dir_all(&tmp);
    Ok(())
}

/// Reads every partition from the start to its end offset with a plain librdkafka consumer
/// (assigned, no group, nothing decoded); the time from the first record to the last.
fn raw_consume(brokers: &str, want: &[(String, i32, i64)]) -> anyhow::Result<(Duration, Duration)> {
    use rdkafka::Message;
    use rdkafka::consumer::{BaseConsumer, Consumer};
    let consumer: BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set(
            "group.id",
            format!("streamq-bench-raw-{}", std::process::id()),
        )
        .set("enable.auto.commit", "false")
        .set("fetch.message.max.bytes", "8388608")
        .create()?;
    let mut tpl = rdkafka::TopicPartitionList::new();
    let mut remaining = std::collections::HashMap::new();
    for (t, p, e) in want {
        tpl.add_partition_offset(t, *p, rdkafka::Offset::Beginning)?;
        if *e > 0 {
            remaining.insert((t.clone(), *p), *e);
        }
    }
    consumer.assign(&tpl)?;
    let started = Instant::now();
    let mut first: Option<Instant> = None;
    let mut bytes = 0usize;
    while !remaining.is_empty() {
        if started.elapsed() > Duration::from_secs(600) {
            bail!("raw consumer did not reach the end offsets in 10 minutes");
        }
        match consumer.poll(Duration::from_millis(500)) {
            Some(Ok(m)) => {
                first.get_or_insert_with(Instant::now);
                bytes += m.payload().map_or(0, <[u8]>::len);
                let key = (m.topic().to_string(), m.partition());
                if remaining.get(&key).is_some_and(|e| m.offset() + 1 >= *e) {
                    remaining.remove(&key);
                }
            }
            Some(Err(e)) => tracing::warn!(error = %e, "raw consumer error"),
            None => {}
        }
    }
    std::hint::black_box(bytes);
    let from_first = first.map_or(started.elapsed(), |f| f.elapsed());
    Ok((from_first, started.elapsed()))
}
