//! Windows as subscribers see them: a table's merged panes, with count and measures.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use serde::Serialize;

use crate::live::insight::Span;
use crate::store::table::PartitionState;
use crate::store::window::PaneView;

/// A table window as subscribers see it (emitted on time, re-emitted when late events change
/// it).
#[derive(Clone, Debug, Serialize)]
pub struct WindowFrame {
    pub table: String,
    pub window: Span,
    pub count: u64,
    /// Per numeric column: count, sum, min, max, avg.
    pub measures: BTreeMap<String, serde_json::Value>,
    /// 0 when first emitted, then one more per re-emission.
    pub revision: u32,
}

/// Merges a pane across partitions, leaving out columns that are not dimensions.
pub(super) fn merge(
    parts: &[(i32, Arc<PartitionState>)],
    start: i64,
    max_share: usize,
    high: &HashSet<usize>,
) -> PaneView {
    let mut view = PaneView {
        start_ms: start,
        ..Default::default()
    };
    for (_, st) in parts {
        let w = st.windows.lock();
        view.merge(&w.export(start, max_share));
    }
    view.retain_columns(|c| !high.contains(&c));
    view
}

pub(super) fn window_frame(
    table: &str,
    start: i64,
    len: i64,
    v: &PaneView,
    revision: u32,
    columns: &[String],
) -> WindowFrame {
    let mut measures = BTreeMap::new();
    for (c, s) in &v.total.measures {
        let name = columns.get(*c).cloned().unwrap_or_else(|| format!("#{c}"));
        measures.insert(
            name,
            serde_json::json!({"count": s.n, "sum": s.sum, "min": s.min, "max": s.max, "avg": s.mean()}),
        );
    }
    WindowFrame {
        table: table.to_string(),
        window: Span::new(start, start + len),
        count: v.count,
        measures,
        revision,
    }
}
