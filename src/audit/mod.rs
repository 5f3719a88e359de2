//! The audit trail: one JSON line per request that reads or changes data — who (the token's
//! id, name and role; never the token), through which door, what (the route, the SQL, the
//! question, the tool, the tables), how it ended (status, error code, rows, duration). Kept in
//! `<data_dir>/audit/audit-<YYYY-MM-DD>.jsonl` (UTC days), appended under a lock and synced to
//! disk within [`SYNC_EVERY`]; `--rebuild` keeps it. Admins read it as the SQL table
//! `streamq.audit` and export it from `GET /api/audit` or `streamq audit export`.

use std::fs::File;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

/// How soon an appended entry is on disk.
pub const SYNC_EVERY: Duration = Duration::from_millis(200);

/// One audited request.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Entry {
    /// RFC 3339, milliseconds.
    pub at: String,
    /// The token's public id (`open` while streamq runs without tokens); none when no valid
    /// token was sent.
    pub who: Option<String>,
    pub name: Option<String>,
    pub role: Option<String>,
    /// `rest`, `dashboard` (a session cookie), `mcp` (a tool's REST call), `ws`.
    pub door: String,
    /// The HTTP method, or `SUBSCRIBE` on `/ws`.
    pub method: String,
    /// The route as the router names it (`/api/tables/{name}`), or `ws:<kind>`.
    pub route: String,
    /// The path asked for, with its query string.
    pub path: String,
    pub status: u16,
    /// `ok`, `refused` (401/403) or `failed`.
    pub outcome: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    pub ms: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer: Option<String>,
    #[serde(flatten)]
    pub detail: Detail,
}

/// What a handler says of the request it answered (set on its response).
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Detail {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sql: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub question: Option<String>,
    /// The MCP tool a REST call ran for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool: Option<String>,
    /// A tail's or change-log read's filter, a search's query.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<String>,
    /// Tables read or changed (`schema.table`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tables: Vec<String>,
    /// Rows (or hits, changes) returned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rows: Option<u64>,
    /// Personal-data columns the caller saw masked.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub masked: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
#[error("audit log {path}: {source}")]
pub struct AuditError {
    pub path: String,
    pub source: std::io::Error,
}

struct Writer {
    day: String,
    file: File,
}

/// The audit log of a data directory.
pub struct AuditLog {
    dir: PathBuf,
    /// Days kept (0: all).
    keep_days: u32,
    writer: Mutex<Option<Writer>>,
    dirty: AtomicBool,
}

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AuditLog({})", self.dir.display())
    }
}

impl AuditLog {
    /// The log in `<data_dir>/audit/`, with a thread that syncs appended entries to disk;
    /// day files older than `keep_days` (0: none) are removed as each new day begins.
    pub fn open(data_dir: &Path, keep_days: u32) -> Result<Arc<AuditLog>, AuditError> {
        let dir = data_dir.join("audit");
        std::fs::create_dir_all(&dir).map_err(|source| AuditError {
            path: dir.display().to_string(),
            source,
        })?;
        let log = Arc::new(AuditLog {
            dir,
            keep_days,
            writer: Mutex::new(None),
            dirty: AtomicBool::new(false),
        });
        let weak: Weak<AuditLog> = Arc::downgrade(&log);
        std::thread::Builder::new()
            .name("streamq-audit-sync".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(SYNC_EVERY);
                    let Some(log) = weak.upgrade() else { return };
                    log.sync();
                }
            })
            .map_err(|source| AuditError {
                path: "audit sync thread".into(),
                source,
            })?;
        Ok(log)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Appends one entry (a failure to write is logged, never the request's failure).
    pub fn append(&self, entry: &Entry) {
        let mut line = match serde_json::to_string(entry) {
            Ok(l) => l,
            Err(e) => {
                tracing::error!(target: "streamq::audit", error = %e, "an audit entry could not be written");
                return;
            }
        };
        line.push('\n');
        let day = entry.at.get(..10).unwrap_or("unknown").to_string();
        let mut w = self.writer.lock();
        if w.as_ref().is_none_or(|w| w.day != day) {
            if let Some(old) = w.take() {
                let _ = old.file.sync_data();
            }
            self.expire(&day);
            let path = self.dir.join(format!("audit-{day}.jsonl"));
            match std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
            {
                Ok(file) => *w = Some(Writer { day, file }),
                Err(e) => {
                    tracing::error!(target: "streamq::audit", path = %path.display(), error = %e, "the audit log cannot be opened");
                    return;
                }
            }
        }
        if let Some(writer) = w.as_mut() {
            if let Err(e) = writer.file.write_all(line.as_bytes()) {
                tracing::error!(target: "streamq::audit", error = %e, "an audit entry could not be written");
            }
            self.dirty.store(true, Ordering::Release);
        }
    }

    /// Removes the day files more than `keep_days` before `today` (`YYYY-MM-DD`).
    fn expire(&self, today: &str) {
        let Ok(today) = chrono::NaiveDate::parse_from_str(today, "%Y-%m-%d") else {
            return;
        };
        if self.keep_days == 0 {
            return;
        }
        let oldest = today - chrono::Days::new(u64::from(self.keep_days));
        let Ok(rd) = std::fs::read_dir(&self.dir) else {
            return;
        };
        for f in rd.filter_map(|e| e.ok()) {
            let name = f.file_name().to_string_lossy().to_string();
            let day = name
                .strip_prefix("audit-")
                .and_then(|n| n.strip_suffix(".jsonl"))
                .and_then(|d| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").ok());
            if day.is_some_and(|d| d < oldest) {
                match std::fs::remove_file(f.path()) {
                    Ok(()) => tracing::info!(target: "streamq::audit", file = %name,
                        keep_days = self.keep_days, "expired audit day removed"),
                    Err(e) => tracing::warn!(target: "streamq::audit", file = %name, error = %e,
                        "an expired audit day could not be removed"),
                }
            }
        }
    }

    /// Puts what was appended on disk.
    pub fn sync(&self) {
        if self.dirty.swap(false, Ordering::AcqRel)
            && let Some(w) = self.writer.lock().as_ref()
        {
            let _ = w.file.sync_data();
        }
    }

    /// Every entry with `from <= at < to` (RFC 3339 strings compare in time order), oldest
    /// first. A line being written as this reads is left for the next read.
    pub fn read(&self, from: Option<&str>, to: Option<&str>) -> Result<Vec<Entry>, AuditError> {
        read_dir(&self.dir, from, to)
    }
}

/// The entries of an audit directory (the server's, or one `streamq audit export` reads).
pub fn read_dir(
    dir: &Path,
    from: Option<&str>,
    to: Option<&str>,
) -> Result<Vec<Entry>, AuditError> {
    let io = |source| AuditError {
        path: dir.display().to_string(),
        source,
    };
    let mut files: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(rd) => rd
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("audit-") && n.ends_with(".jsonl"))
            })
            .collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(io(e)),
    };
    files.sort();
    let mut out = Vec::new();
    for f in files {
        // A whole day outside the range is not read.
        let day = f
            .file_stem()
            .and_then(|s| s.to_str())
            .and_then(|s| s.strip_prefix("audit-"))
            .unwrap_or_default()
            .to_string();
        if from.is_some_and(|from| day.as_str() < from.get(..10).unwrap_or(from))
            || to.is_some_and(|to| day.as_str() > to.get(..10).unwrap_or(to))
        {
            continue;
        }
        let file = File::open(&f).map_err(io)?;
        for line in std::io::BufReader::new(file).lines() {
            let line = line.map_err(io)?;
            let Ok(e) = serde_json::from_str::<Entry>(&line) else {
                continue;
            };
            if from.is_some_and(|from| e.at.as_str() < from)
                || to.is_some_and(|to| e.at.as_str() >= to)
            {
                continue;
            }
            out.push(e);
        }
    }
    Ok(out)
}

/// Now, as entries write it.
pub fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_appended_by_day_and_read_back_in_a_range() {
        let dir = tempfile::tempdir().unwrap();
        let log = AuditLog::open(dir.path(), 0).unwrap();
        let e = |at: &str, route: &str| Entry {
            at: at.into(),
            door: "rest".into(),
            method: "GET".into(),
            route: route.into(),
            status: 200,
            outcome: "ok".into(),
            ..Entry::default()
        };
        log.append(&e("2026-03-01T10:00:00.000Z", "/a"));
        log.append(&e("2026-03-02T10:00:00.000Z", "/b"));
        log.append(&e("2026-03-02T11:00:00.000Z", "/c"));
        log.sync();
        let all = log.read(None, None).unwrap();
        assert_eq!(
            all.iter().map(|e| e.route.as_str()).collect::<Vec<_>>(),
            ["/a", "/b", "/c"]
        );
        let some = log
            .read(Some("2026-03-02T00:00:00Z"), Some("2026-03-02T10:30:00Z"))
            .unwrap();
        assert_eq!(some.len(), 1);
        assert_eq!(some[0].route, "/b");
        assert_eq!(
            std::fs::read_dir(log.dir()).unwrap().count(),
            2,
            "one file a day"
        );
    }
}
