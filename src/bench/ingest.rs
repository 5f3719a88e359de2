//! `streamq bench ingest`: replay throughput of a file and of a generated stream, with peak
//! memory.

use std::path::PathBuf;

use anyhow::bail;

use crate::bench::peak_rss_mib;
use crate::config::{Config, DemoFormat, SourceKind};
use crate::node::Node;

/// Measures each run in turn.
pub async fn run(
    file: Option<PathBuf>,
    events: usize,
    format: DemoFormat,
    index: bool,
    no_live: bool,
) -> anyhow::Result<()> {
    let tmp = std::env::temp_dir().join(format!("streamq-bench-{}", std::process::id()));
    let mut runs: Vec<(String, PathBuf)> = Vec::new();
    if let Some(f) = file {
        runs.push((f.display().to_string(), f));
    }
    if events > 0 {
        std::fs::create_dir_all(&tmp)?;
        let path = tmp.join("generated.jsonl");
        let mut out = std::io::BufWriter::new(std::fs::File::create(&path)?);
        crate::ingest::demo::write_kcat_lines(7, events, format, &mut out)?;
        drop(out);
        runs.push((format!("generated {events} events ({format:?})"), path));
    }
    if runs.is_empty() {
        bail!("nothing to measure: give --file and/or --events");
    }
    for (label, path) in runs {
        // STREAMQ_* variables apply (e.g. STREAMQ_TEXT_COMMIT_INTERVAL_MS), for comparisons.
        let mut cfg = Config::load(None, &Config::process_env())?;
        cfg.data_dir = tmp.join(format!("data-{}", label.len()));
        cfg.source.kind = SourceKind::Replay;
        cfg.source.file = Some(path);
        cfg.text.enabled = index;
        cfg.live.enabled = !no_live;
        let node = Node::start(cfg.clone(), true).await?;
        let (took, read) = node.ingest_to_end().await?;
        node.stop().await;
        println!(
            "bench ingest{}{}: {label}: {read} events in {:.2} s = {:.0} events/s; peak RSS {:.0} MiB",
            if index { " (text index on)" } else { "" },
            if no_live { " (live off)" } else { "" },
            took.as_secs_f64(),
            read as f64 / took.as_secs_f64(),
            peak_rss_mib().unwrap_or(f64::NAN)
        );
        let _ = std::fs::remove_dir_all(&cfg.data_dir);
    }
    let _ = std::fs::remove_dir_all(&tmp);
    Ok(())
}
