//! The replay source: `kcat -C -J` lines (`.jsonl` or `.jsonl.gz`), as fast as possible or at
//! the recorded pace times a factor. A line that is not a record, or a file that ends mid-way
//! (a truncated gzip), becomes a source fault with its position; reading goes on where it can.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader, IsTerminal, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Deserialize;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::ingest::event::SourceEvent;
use crate::ingest::record::Record;
use crate::store::SourceFault;

/// How a replay ended.
#[derive(Debug, Default, Clone)]
pub struct ReplayStats {
    pub lines: u64,
    pub records: u64,
    pub faults: u64,
}

#[derive(Deserialize)]
struct KcatLine {
    topic: String,
    partition: i32,
    offset: i64,
    #[serde(default)]
    ts: Option<i64>,
    #[serde(default)]
    key: Option<String>,
    #[serde(default)]
    payload: Option<String>,
}

/// Replay settings.
#[derive(Clone, Debug)]
pub struct ReplayOptions {
    pub path: PathBuf,
    /// Recorded pace × this; `None` = as fast as possible.
    pub speed: Option<f64>,
    /// Records per message to the router.
    pub chunk: usize,
    /// Show a progress bar (only when stderr is a terminal).
    pub progress: bool,
}

fn open(path: &Path) -> std::io::Result<Box<dyn BufRead + Send>> {
    let f = File::open(path)?;
    let gz = path.extension().is_some_and(|e| e == "gz");
    let inner: Box<dyn Read + Send> = if gz {
        Box::new(flate2::read::MultiGzDecoder::new(BufReader::with_capacity(
            1 << 20,
            f,
        )))
    } else {
        Box::new(f)
    };
    Ok(Box::new(BufReader::with_capacity(1 << 20, inner)))
}

/// A line of the file that is not a record.
#[derive(Debug, thiserror::Error)]
pub enum LineError {
    #[error("not a kcat JSON record: {0}")]
    NotKcat(#[from] serde_json::Error),
    #[error("read error: {0}")]
    Read(#[from] std::io::Error),
}

/// A line that is not a record, with its (1-based) number.
#[derive(Debug, thiserror::Error)]
#[error("line {line}: {error}")]
pub struct BadLine {
    pub line: usize,
    pub error: LineError,
}

/// Parses one line into a record.
pub fn parse_line(
    line: &[u8],
    topics: &mut HashMap<String, Arc<str>>,
) -> Result<Record, LineError> {
    let l: KcatLine = serde_json::from_slice(line)?;
    let topic = match topics.get(&l.topic) {
        Some(t) => t.clone(),
        None => {
            let t: Arc<str> = l.topic.as_str().into();
            topics.insert(l.topic, t.clone());
            t
        }
    };
    Ok(Record {
        topic,
        partition: l.partition,
        offset: crate::ident::Offset(l.offset),
        ts_ms: l.ts.unwrap_or(0),
        key: l.key.map(String::into_bytes),
        value: l.payload.map(String::into_bytes),
    })
}

/// The file's records in order, lazily; an unreadable line is an `Err` with its line number.
pub fn records(path: &Path) -> std::io::Result<impl Iterator<Item = Result<Record, BadLine>>> {
    let reader = open(path)?;
    let mut topics = HashMap::new();
    Ok(reader
        .split(b'\n')
        .enumerate()
        .filter(|(_, l)| !matches!(l, Ok(l) if l.trim_ascii().is_empty()))
        .map(move |(i, l)| match l {
            Ok(l) => parse_line(l.trim_ascii(), &mut topics)
                .map_err(|error| BadLine { line: i + 1, error }),
            Err(e) => Err(BadLine {
                line: i + 1,
                error: LineError::Read(e),
            }),
        }))
}

/// Reads the file on the calling (blocking) thread and sends records to `tx`.
pub fn run_blocking(
    opts: &ReplayOptions,
    tx: &mpsc::Sender<SourceEvent>,
    shutdown: &CancellationToken,
) -> std::io::Result<ReplayStats> {
    let mut reader = open(&opts.path)?;
    let name = opts.path.display().to_string();
    let mut stats = ReplayStats::default();
    let mut topics = HashMap::new();
    let mut chunk = Vec::with_capacity(opts.chunk);
    let mut line = Vec::with_capacity(4096);
    let started = Instant::now();
    let mut first_ts: Option<i64> = None;
    let bar = (opts.progress && std::io::stderr().is_terminal()).then(|| {
        let b = indicatif::ProgressBar::new_spinner();
        b.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} {pos} records  {per_sec}  {elapsed}",
            )
            .expect("valid template"),
        );
        b
    });
    let send = |ev: SourceEvent| tx.blocking_send(ev).is_ok();
    loop {
        if shutdown.is_cancelled() {
            break;
        }
        line.clear();
        match reader.read_until(b'\n', &mut line) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) => {
                stats.faults += 1;
                let fault = SourceFault {
                    position: format!("{name}:{}", stats.lines + 1),
                    reason: format!("read error, input ends here: {e}"),
                    raw: line.clone(),
                };
                if !chunk.is_empty() && !send(SourceEvent::Records(std::mem::take(&mut chunk))) {
                    break;
                }
                send(SourceEvent::Fault(fault));
                break;
            }
        }
        stats.lines += 1;
        let trimmed = line.trim_ascii();
        if trimmed.is_empty() {
            continue;
        }
        match parse_line(trimmed, &mut topics) {
            Ok(rec) => {
                stats.records += 1;
                if let Some(speed) = opts.speed {
                    let t0 = *first_ts.get_or_insert(rec.ts_ms);
                    let due =
                        Duration::from_secs_f64(((rec.ts_ms - t0).max(0) as f64 / 1000.0) / speed);
                    let now = started.elapsed();
                    if due > now + Duration::from_millis(2) {
                        if !chunk.is_empty()
                            && !send(SourceEvent::Records(std::mem::take(&mut chunk)))
                        {
                            break;
                        }
                        std::thread::sleep(due - now);
                    }
                }
                chunk.push(rec);
                if chunk.len() >= opts.chunk
                    && !send(SourceEvent::Records(std::mem::take(&mut chunk)))
                {
                    break;
                }
                if let Some(b) = &bar {
                    b.set_position(stats.records);
                }
            }
            Err(reason) => {
                stats.faults += 1;
                let fault = SourceFault {
                    position: format!("{name}:{}", stats.lines),
                    reason: reason.to_string(),
                    raw: trimmed.to_vec(),
                };
                if !chunk.is_empty() && !send(SourceEvent::Records(std::mem::take(&mut chunk))) {
                    break;
                }
                if !send(SourceEvent::Fault(fault)) {
                    break;
                }
            }
        }
    }
    if !chunk.is_empty() {
        send(SourceEvent::Records(chunk));
    }
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    send(SourceEvent::End);
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kcat_line_becomes_a_record() {
        let mut topics = HashMap::new();
        let r = parse_line(
            br#"{"topic":"db2.accounts","partition":1,"offset":5,"tstype":"create","ts":17,"broker":1,"headers":null,"key":"{\"ID\":1}","payload":null}"#,
            &mut topics,
        )
        .unwrap();
        assert_eq!(
            (&*r.topic, r.partition, r.offset.get(), r.ts_ms),
            ("db2.accounts", 1, 5, 17)
        );
        assert_eq!(r.key.as_deref(), Some(&br#"{"ID":1}"#[..]));
        assert!(r.value.is_none(), "a null payload is a tombstone");
        assert!(parse_line(b"{\"topic\":1}", &mut topics).is_err());
    }
}
