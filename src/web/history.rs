//! A table's schema history as the API shows it: which column, what happened (`added`,
//! `typed`, `widened`, `declared`, `configured`), by what, the types before and after, and the
//! record that did it.

use serde_json::{Value as Json_, json};

use crate::store::schema::{TableSchema, TypeFrom};
use crate::store::table::LiveTable;
use crate::store::value::{DType, format_timestamp_us};

/// The history, oldest first.
pub fn of(s: &TableSchema, t: &LiveTable) -> Vec<Json_> {
    let sql = |d: Option<DType>| d.map(|d| d.sql_name());
    t.schema_history()
        .into_iter()
        .map(|(p, c)| {
            json!({
                "column": s.index_of(&c.column).map(|i| s.columns[i].name.clone()),
                "original": c.column,
                "change": c.kind(),
                "by": match c.by {
                    TypeFrom::Value => "value",
                    TypeFrom::Schema => "schema",
                    TypeFrom::Config => "configuration",
                },
                "from": c.from.map(sql),
                "to": sql(c.to),
                "partition": p,
                "offset": c.offset,
                "at": format_timestamp_us(c.ts_ms * 1000),
            })
        })
        .collect()
}
