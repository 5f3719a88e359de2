//! The unit every source produces: one Kafka-shaped record.

use std::sync::Arc;

use crate::ident::{Offset, TopicPartition};

/// One record as a source delivers it: where it sits in its partition and its raw bytes.
/// The demo generator, a replay file and Kafka all produce exactly this.
#[derive(Clone, Debug)]
pub struct Record {
    /// The topic name as the source spells it.
    pub topic: Arc<str>,
    /// The partition within the topic.
    pub partition: i32,
    /// The position within the partition; increasing, never reused.
    pub offset: Offset,
    /// The record timestamp in milliseconds since the epoch.
    pub ts_ms: i64,
    /// The key bytes, if any.
    pub key: Option<Vec<u8>>,
    /// The value bytes; `None` is a tombstone.
    pub value: Option<Vec<u8>>,
}

impl Record {
    pub fn topic_partition(&self) -> TopicPartition {
        TopicPartition::new(self.topic.as_ref(), self.partition)
    }
}
