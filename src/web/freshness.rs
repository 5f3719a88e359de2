//! How fresh a table is: its last change, how far behind the source it is, what is still on
//! its way to it, and (from Kafka) its lag.

use serde_json::{Value as Json_, json};

use crate::store::table::LiveTable;
use crate::store::value::format_timestamp_us;
use crate::web::AppState;

/// A table's freshness: its newest change and how far ingestion is behind.
pub fn of(st: &AppState, t: &LiveTable) -> Json_ {
    let schema_topic = t.schema.read().topic.clone();
    let newest = t
        .partitions()
        .iter()
        .filter_map(|(_, p)| p.rows.read().last_change_ms)
        .max();
    let pending: u64 = st
        .node
        .pipeline
        .progress
        .pending()
        .iter()
        .filter(|((topic, _), _)| **topic == *schema_topic)
        .map(|(_, n)| *n)
        .sum();
    let kafka_lag: Option<i64> = st.node.pipeline.status.lock().clone().and_then(|s| {
        let k = s.kafka.clone()?;
        let owned = k.owned.read();
        let mut sum = None;
        for (p, state) in t.partitions() {
            let tp = crate::ident::TopicPartition::new(schema_topic.clone(), p);
            if let Some(l) = owned
                .get(&tp)
                .and_then(|pos| pos.lag(state.rows.read().applied))
            {
                sum = Some(sum.unwrap_or(0) + l);
            }
        }
        sum
    });
    let now_ms = chrono::Utc::now().timestamp_millis();
    let source_ms = st.node.pipeline.progress.source_ts();
    json!({
        "last_change": newest.map(|ms| format_timestamp_us(ms * 1000)),
        "age_s": newest.map(|ms| ((now_ms - ms) as f64 / 1000.0).max(0.0)),
        "behind_source_s": newest.zip(source_ms).map(|(ms, s)| ((s - ms) as f64 / 1000.0).max(0.0)),
        "pending_records": pending,
        "kafka_lag": kafka_lag,
    })
}
