//! Ingest benchmarks: decode throughput, and end-to-end replay throughput (read, decode,
//! apply, sled batch) through the real node. Criterion prints elements/s, the figure the README
//! quotes; `streamq bench ingest` measures the full dev file and a 2 M-event stream with peak
//! memory.

use std::time::Duration;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use streamq::config::{Config, DemoFormat, SourceKind};
use streamq::ingest::debezium::Decoder;
use streamq::ingest::replay::parse_line;
use streamq::{Node, table_checksum};
use tokio_util::sync::CancellationToken;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn generated(n: usize, format: DemoFormat) -> Vec<u8> {
    let mut out = Vec::new();
    streamq::ingest::demo::write_kcat_lines(11, n, format, &mut out).unwrap();
    out
}

fn decode(c: &mut Criterion) {
    let mut group = c.benchmark_group("decode");
    for (name, format) in [
        ("json", DemoFormat::Json),
        ("json-schema", DemoFormat::JsonSchema),
    ] {
        let bytes = generated(20_000, format);
        let mut topics = Default::default();
        let records: Vec<_> = bytes
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| parse_line(l, &mut topics).unwrap())
            .collect();
        group.throughput(Throughput::Elements(records.len() as u64));
        group.bench_function(name, |b| {
            b.iter(|| {
                let mut d = Decoder::new();
                records.iter().filter(|r| d.decode(r).is_ok()).count()
            })
        });
    }
    group.finish();
}

fn replay(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bench.jsonl");
    let n = 100_000;
    std::fs::write(&file, generated(n, DemoFormat::Json)).unwrap();
    let mut group = c.benchmark_group("replay");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(20));
    group.throughput(Throughput::Elements(n as u64));
    group.bench_function("generated_100k", |b| {
        b.iter_batched(
            || tempfile::tempdir().unwrap(),
            |data| {
                rt.block_on(async {
                    let mut cfg = Config {
                        data_dir: data.path().join("d"),
                        ..Config::default()
                    };
                    cfg.source.kind = SourceKind::Replay;
                    cfg.source.file = Some(file.clone());
                    let node = Node::start(cfg, false).await.unwrap();
                    node.start_source(CancellationToken::new()).await.unwrap();
                    let rows: usize = node
                        .catalog
                        .tables()
                        .iter()
                        .map(|t| table_checksum(t).0)
                        .sum();
                    node.stop().await;
                    rows
                })
            },
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

criterion_group!(benches, decode, replay);
criterion_main!(benches);
