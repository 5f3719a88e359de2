//! What a decoded record does to its table, and why a record could not be decoded.

use crate::store::events::EventKind;
use crate::store::value::{DType, Value};

/// Why a record could not be decoded. Each becomes a quarantine entry's reason.
#[derive(Debug, thiserror::Error, Clone, PartialEq)]
pub enum DecodeError {
    /// The value bytes are not JSON.
    #[error("value is not valid JSON: {0}")]
    InvalidJson(String),
    /// The JSON is not a Debezium change-event envelope.
    #[error("value is not a Debezium envelope: {0}")]
    NotAnEnvelope(String),
    /// The envelope's `op` is none of c, u, d, r, t.
    #[error("unknown op {0:?}")]
    UnknownOp(String),
    /// A create, update or read without an `after` row.
    #[error("op {0:?} has no 'after' row")]
    MissingAfter(String),
    /// An update or delete of a keyless table without a `before` image to find its row by.
    #[error("op {0:?} on a table without a key has no 'before' row to find the row by")]
    MissingBefore(String),
    /// A flattened row (`ExtractNewRecordState`) whose `__deleted` marker is not a boolean.
    #[error("flattened row: {0}")]
    BadMarker(String),
    /// The key is not a JSON object of key columns.
    #[error("key is not a JSON key struct: {0}")]
    InvalidKey(String),
    /// A column's value does not match its declared type.
    #[error("column {column}: {reason}")]
    BadValue { column: String, reason: String },
    /// The value is larger than `ingest.max_value_bytes`.
    #[error("value is {len} bytes, over the {max}-byte limit (ingest.max_value_bytes)")]
    TooLarge { len: usize, max: usize },
    /// Confluent-framed Avro whose bytes do not decode with the writer schema.
    #[error("Avro datum does not decode: {0}")]
    InvalidAvro(String),
    /// The writer schema of an Avro record could not be had.
    #[error("{0}")]
    Schema(String),
}

/// The operation a change applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Create,
    Update,
    Delete,
    Read,
}

impl Op {
    pub fn code(self) -> u8 {
        match self {
            Op::Create => b'c',
            Op::Update => b'u',
            Op::Delete => b'd',
            Op::Read => b'r',
        }
    }
}

/// One decoded column of an `after` row.
#[derive(Clone, Debug, PartialEq)]
pub struct Cell {
    /// The column name as the source spells it (`TXN_ID`).
    pub original: String,
    /// The value, typed.
    pub value: Value,
    /// The type the envelope schema declares, if it has one.
    pub declared: Option<DType>,
}

/// What one record does to its table.
#[derive(Clone, Debug, PartialEq)]
pub enum Change {
    /// Insert or replace the row with this key.
    Upsert {
        key: Vec<u8>,
        key_columns: Vec<String>,
        op: Op,
        ts_ms: i64,
        cells: Vec<Cell>,
    },
    /// Remove the row with this key.
    Delete {
        key: Vec<u8>,
        key_columns: Vec<String>,
    },
    /// A null value: Kafka's delete of the key (after a Debezium delete, the row is already
    /// gone). `None` when the record has no usable key.
    Tombstone { key: Option<Vec<u8>> },
    /// `op: "t"`: the source table was truncated.
    Truncate { ts_ms: i64 },
    /// A change to a table without a primary key (Debezium sends a null key): rows are
    /// identified by their position, an update or delete finds its row by the `before` image.
    Keyless {
        op: Op,
        ts_ms: i64,
        /// The row as it was (update, delete), if the source sends it.
        before: Option<Vec<Cell>>,
        /// The row as it is now (create, read, update).
        after: Option<Vec<Cell>>,
    },
    /// A record of a Debezium control topic (schema change, transaction, heartbeat).
    Control { ts_ms: i64, kind: EventKind },
}
