//! `streamq bench search`: index throughput and search latency over generated rows.

use std::time::Instant;

use crate::bench::peak_rss_mib;
use crate::telemetry::percentile;

/// Indexes `docs` generated transaction-like rows in one index, then times `queries` searches
/// (terms, phrases, column-qualified) and prints p50/p95.
pub fn run(docs: usize, queries: usize) -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(format!("streamq-bench-search-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut ix = crate::store::text::TextIndex::open(&dir, 256 * 1024 * 1024)?;
    let merchants = [
        "Fourth Coffee",
        "Cobalt Mobile",
        "Coho Winery",
        "Blue Yonder Airlines",
        "Urban Threads",
        "Nod Publishers",
        "Alpine Ski House",
        "Wingtip Toys",
    ];
    let kinds = [
        "Contactless purchase at",
        "Card purchase at",
        "Online purchase at",
        "Refund from",
        "Chip and PIN purchase at",
    ];
    let tails = [
        "",
        ", express shipping",
        ", standard shipping",
        ", click and collect",
    ];
    let started = Instant::now();
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    // What each document holds (merchant, kind, tail), so hits get their snippets from the
    // "live row" as the server's do.
    let mut parts: Vec<[u8; 3]> = Vec::with_capacity(docs);
    let text_of = |p: [u8; 3]| {
        let m = merchants[p[0] as usize];
        (
            format!("{} {m}{}", kinds[p[1] as usize], tails[p[2] as usize]),
            m,
        )
    };
    for i in 0..docs {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let p = [(x % 8) as u8, ((x >> 8) % 5) as u8, ((x >> 16) % 4) as u8];
        parts.push(p);
        let (d, m) = text_of(p);
        ix.upsert(
            format!("T{i:09}").as_bytes(),
            crate::ident::Offset(i as i64),
            i as i64,
            &[("description", d.as_str()), ("merchant", m)],
            false,
        );
        if i % 1_000_000 == 999_999 {
            ix.commit(Some(crate::ident::Offset(i as i64)))?;
            eprintln!("indexed {} docs", i + 1);
        }
    }
    ix.commit(Some(crate::ident::Offset(docs as i64)))?;
    let index_secs = started.elapsed().as_secs_f64();
    let searcher = ix.searcher();
    let qs = [
        "express",
        "\"blue yonder\"",
        "description:\"click and collect\"",
        "refund coffee",
        "merchant:wingtip",
        "\"standard shipping\" alpine",
    ];
    let cols = vec!["description".to_string(), "merchant".to_string()];
    let mut lat = Vec::with_capacity(queries);
    for i in 0..queries {
        let t = Instant::now();
        let live = |k: &[u8]| -> Option<String> {
            let i: usize = std::str::from_utf8(k.get(1..)?).ok()?.parse().ok()?;
            let (d, m) = text_of(*parts.get(i)?);
            Some(format!("{d} · {m}"))
        };
        let hits = searcher.search(qs[i % qs.len()], &cols, None, None, 20, false, &live)?;
        lat.push(t.elapsed().as_secs_f64() * 1000.0);
        assert!(!hits.is_empty());
    }
    lat.sort_by(f64::total_cmp);
    let pct = |p: f64| percentile(&lat, p);
    println!(
        "bench search: {docs} docs indexed in {index_secs:.1} s ({:.0} docs/s); {queries} queries (top 20): p50 {:.2} ms, p95 {:.2} ms; peak RSS {:.0} MiB",
        docs as f64 / index_secs,
        pct(0.5),
        pct(0.95),
        peak_rss_mib().unwrap_or(f64::NAN)
    );
    drop(searcher);
    drop(ix);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
