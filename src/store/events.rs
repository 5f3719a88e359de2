//! What happens to a table besides its rows changing: a truncate, and what Debezium's control
//! topics say (schema changes, transaction boundaries, heartbeats). Kept per partition in sled
//! beside the rows, shown by `/api/tables`.

use serde::{Deserialize, Serialize};

use crate::ident::Offset;

/// The kind of a Debezium control topic: none of its records is a row.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ControlKind {
    /// The schema-change topic (`<topic.prefix>`): DDL and table structures.
    SchemaChanges,
    /// Transaction metadata (`<topic.prefix>.transaction`): BEGIN/END of each transaction.
    Transactions,
    /// Heartbeats (`__debezium-heartbeat.<topic.prefix>`): the connector is alive.
    Heartbeats,
}

impl ControlKind {
    pub fn name(self) -> &'static str {
        match self {
            ControlKind::SchemaChanges => "schema_changes",
            ControlKind::Transactions => "transactions",
            ControlKind::Heartbeats => "heartbeats",
        }
    }

    pub(crate) fn code(self) -> u8 {
        match self {
            ControlKind::SchemaChanges => 1,
            ControlKind::Transactions => 2,
            ControlKind::Heartbeats => 3,
        }
    }

    pub(crate) fn from_code(c: u8) -> Option<Self> {
        Some(match c {
            1 => ControlKind::SchemaChanges,
            2 => ControlKind::Transactions,
            3 => ControlKind::Heartbeats,
            _ => return None,
        })
    }
}

/// What happened.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum EventKind {
    /// The source table was truncated: this partition's rows were removed.
    Truncate { rows: u64 },
    /// A schema-change record: the DDL (when the connector sends it) and the tables it names
    /// (`schema.table`, as the source spells them), with the change type (CREATE, ALTER, DROP).
    SchemaChange {
        ddl: Option<String>,
        tables: Vec<String>,
        change: Option<String>,
    },
    /// A transaction boundary: its id, `BEGIN` or `END`, and (at END) its event count and
    /// the count per table.
    Transaction {
        id: String,
        status: String,
        event_count: Option<u64>,
        per_table: Vec<(String, u64)>,
    },
    /// The connector's heartbeat.
    Heartbeat,
}

impl EventKind {
    /// The control topic a record of this kind comes from (`None`: a table's own event).
    pub fn control(&self) -> Option<ControlKind> {
        match self {
            EventKind::Truncate { .. } => None,
            EventKind::SchemaChange { .. } => Some(ControlKind::SchemaChanges),
            EventKind::Transaction { .. } => Some(ControlKind::Transactions),
            EventKind::Heartbeat => Some(ControlKind::Heartbeats),
        }
    }
}

/// The `source` block of a table's Debezium envelopes: which connector, database, schema and
/// table the rows come from (as the source spells them). Read from the first record each
/// partition decodes after it starts.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SourceBlock {
    pub connector: Option<String>,
    /// The connector's logical name (`topic.prefix`).
    pub name: Option<String>,
    pub db: Option<String>,
    pub schema: Option<String>,
    pub table: Option<String>,
}

/// One event, at the record that carried it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TableEvent {
    pub offset: Offset,
    /// The source's time of the event (`ts_ms`), or the record's.
    pub ts_ms: i64,
    pub kind: EventKind,
}

/// How many events a partition keeps in memory for the API (all are in sled; heartbeats are
/// not kept one by one, only the last).
pub const EVENTS_IN_MEMORY: usize = 1000;

/// A partition's events as the API reads them.
#[derive(Default, Debug)]
pub struct PartitionEvents {
    /// Oldest first, at most [`EVENTS_IN_MEMORY`].
    pub recent: std::collections::VecDeque<TableEvent>,
    /// The last heartbeat (its `ts_ms`) and how many were seen since start.
    pub last_heartbeat_ms: Option<i64>,
    pub heartbeats: u64,
    /// Truncates applied since start.
    pub truncates: u64,
}

impl PartitionEvents {
    pub fn push(&mut self, e: TableEvent) {
        match e.kind {
            EventKind::Heartbeat => {
                self.last_heartbeat_ms = self.last_heartbeat_ms.max(Some(e.ts_ms));
                self.heartbeats += 1;
                return;
            }
            EventKind::Truncate { .. } => self.truncates += 1,
            _ => {}
        }
        if self.recent.len() >= EVENTS_IN_MEMORY {
            self.recent.pop_front();
        }
        self.recent.push_back(e);
    }
}
