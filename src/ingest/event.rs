//! What a source sends down the event path: records, faults, its end, and the partitions a
//! consumer group gives it or takes away.

use crate::ident::TopicPartition;
use crate::ingest::record::Record;
use crate::store::SourceFault;

/// What a source sends.
#[derive(Debug)]
pub enum SourceEvent {
    Records(Vec<Record>),
    /// Input that never became a record.
    Fault(SourceFault),
    /// The source has nothing more (end of file, or a limit reached).
    End,
    /// These partitions are now this node's (a consumer-group assignment): start their actors,
    /// which load their state, so they are queryable before new records arrive.
    Assigned(Vec<TopicPartition>),
    /// Whether each partition still holds records not yet read (its log's end is ahead of
    /// what was read): a partition catching up must hold back the live engine's clock.
    Reading(Vec<(TopicPartition, bool)>),
    /// These partitions are leaving this node: deliver every record already routed for them,
    /// stop their actors, then answer.
    Revoke(Vec<TopicPartition>, tokio::sync::oneshot::Sender<()>),
}
