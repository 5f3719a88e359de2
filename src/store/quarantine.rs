//! What could not be applied: a record (or a piece of input that never became one), with
//! where it came from and why.

use serde::{Deserialize, Serialize};

use crate::ident::Offset;

/// A record (or piece of input) that could not be applied, and why.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct QuarantineEntry {
    pub topic: Option<String>,
    pub partition: Option<i32>,
    pub offset: Option<Offset>,
    /// For input that never became a record: where in the source (`file:line`).
    pub position: Option<String>,
    pub reason: String,
    /// The raw bytes, cut at [`QUARANTINE_RAW_CAP`].
    pub raw: Vec<u8>,
    /// The full length of the raw bytes.
    pub raw_len: usize,
    /// When it was quarantined (ms since the epoch).
    pub at_ms: i64,
}

/// How much of a bad record's bytes is kept.
pub const QUARANTINE_RAW_CAP: usize = 64 * 1024;

/// A piece of input that could not even be read as a record (a line that is not JSON, a
/// truncated gzip): kept with where it came from and why.
#[derive(Clone, Debug)]
pub struct SourceFault {
    /// Where in the source: `file.jsonl.gz:1234`.
    pub position: String,
    /// Why it could not be read.
    pub reason: String,
    /// The raw bytes, as far as they could be read.
    pub raw: Vec<u8>,
}
