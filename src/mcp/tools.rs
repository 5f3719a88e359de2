//! Every tool's definition as `tools/list` gives it: name, title, description, annotations,
//! the input schema derived from its argument type ([`crate::mcp::args`]) and the shape of
//! its result.

use std::sync::Arc;

use rmcp::handler::server::common::schema_for_type;
use rmcp::model::{JsonObject, Tool, ToolAnnotations};
use schemars::JsonSchema;
use serde_json::{Value as Json, json};

use crate::mcp::args::*;

/// Tools that change state: offered only with `mcp.allow_writes`.
pub const WRITING_TOOLS: &[&str] = &["create_alert", "delete_alert"];

fn object(v: Json) -> Arc<JsonObject> {
    match v {
        Json::Object(m) => Arc::new(m),
        _ => unreachable!("tool schemas are objects"),
    }
}

/// A tool whose arguments are `A`.
fn tool<A: JsonSchema + 'static>(
    name: &'static str,
    title: &str,
    description: &'static str,
    output: Json,
    read_only: bool,
    destructive: bool,
) -> Tool {
    Tool::new(name, description, schema_for_type::<A>())
        .with_title(title)
        .with_raw_output_schema(object(output))
        .with_annotations(
            ToolAnnotations::with_title(title)
                .read_only(read_only)
                .destructive(destructive)
                .idempotent(read_only)
                .open_world(false),
        )
}

fn out(props: Json, required: &[&str]) -> Json {
    json!({"type": "object", "properties": props, "required": required})
}

/// Every tool streamq has, in the order they are listed.
pub fn all_tools() -> Vec<Tool> {
    vec![
        tool::<NoArgs>(
            "list_tables",
            "List tables",
            "The live tables streamq keeps from its CDC topics: name, topic, column count, primary key, row count and freshness (newest change, how far ingestion is behind).",
            out(json!({"tables": {"type": "array"}}), &["tables"]),
            true,
            false,
        ),
        tool::<TableArg>(
            "describe_table",
            "Describe a table",
            "A table's columns (SQL name, original source name, SQL type), primary key, topic, row count, freshness and each partition's applied offset, status and lag.",
            out(
                json!({"name": {"type": "string"}, "columns": {"type": "array"}, "partitions": {"type": "array"}}),
                &["name", "columns"],
            ),
            true,
            false,
        ),
        tool::<SqlArgs>(
            "run_sql",
            "Run SQL",
            "Runs one read-only SQL query (DataFusion dialect) on the live tables. Tables are schema.table (db2.transactions); every table also has _op, _ts, _partition, _offset. Returns columns, rows (as JSON arrays), row_count and truncated (true when rows were cut at the row cap).",
            out(
                json!({"columns": {"type": "array"}, "rows": {"type": "array"}, "row_count": {"type": "integer"}, "truncated": {"type": "boolean"}}),
                &["columns", "rows", "row_count", "truncated"],
            ),
            true,
            false,
        ),
        tool::<AskArgs>(
            "ask",
            "Ask in plain English",
            "Answers a question about the live data in plain English (parsed by a local model): the answer sentence, the SQL it ran, and the rows. A question that is ambiguous gets a clarification with candidate readings instead.",
            out(json!({"question": {"type": "string"}}), &["question"]),
            true,
            false,
        ),
        tool::<ReadTopicArgs>(
            "read_topic",
            "Read a table's change feed",
            "Reads a table's change records back from its topic's log (Kafka, the replay file, or the demo's), decoded: partition, offset, time, op (c/u/d/r), key and row image. Bound it by offset range and/or record time; filter with a SQL condition on the row (amount > 100 AND _op = 'u'). Oldest first, or the newest with newest=true.",
            out(
                json!({"changes": {"type": "array"}, "count": {"type": "integer"}, "truncated": {"type": "boolean"}}),
                &["changes", "count", "truncated"],
            ),
            true,
            false,
        ),
        tool::<SearchArgs>(
            "search_events",
            "Full-text search",
            "Full-text search over the text columns of the live rows (tantivy query syntax: terms, \"phrases\", AND/OR/NOT, column:term), ranked by score, with highlighted snippets. Fails with not_available when the server's text index is off.",
            out(
                json!({"hits": {"type": "array"}, "truncated": {"type": "boolean"}}),
                &["hits"],
            ),
            true,
            false,
        ),
        tool::<ProfileArgs>(
            "profile_table",
            "Profile a table (data quality)",
            "Data quality of a table: per column null rate, distinct count, min/max and top values; freshness; quarantined (undecodable) records with reasons; schema changes seen.",
            out(
                json!({"table": {"type": "string"}, "row_count": {"type": "integer"}, "columns": {"type": "array"}}),
                &["table", "row_count", "columns"],
            ),
            true,
            false,
        ),
        tool::<ChartArgs>(
            "chart",
            "Chart a query result",
            "Runs SQL (or a plain-English question) and draws the result server-side: a line chart for a series (time or numbers on x), a bar chart for a breakdown (categories on x). Returns the image (PNG by default, or SVG) and its spec.",
            out(
                json!({"spec": {"type": "object"}, "sql": {"type": "string"}, "rows": {"type": "integer"}}),
                &["spec", "sql", "rows"],
            ),
            true,
            false,
        ),
        tool::<NoArgs>(
            "list_alerts",
            "List alert rules",
            "The alert rules, each with its condition, whether it is firing (and for which groups) and its webhook status.",
            out(json!({"rules": {"type": "array"}}), &["rules"]),
            true,
            false,
        ),
        tool::<CreateAlertArgs>(
            "create_alert",
            "Create an alert rule",
            "Creates an alert rule, from English (text: 'alert me when declined transactions in any region exceed 20% over 5 minutes') or structured (rule: {table, measure, filters, group_by, window_ms, condition}). The rule is evaluated on every window; firings are pushed to subscribers and the optional webhook.",
            out(json!({"id": {"type": "string"}}), &["id"]),
            false,
            false,
        ),
        tool::<IdArg>(
            "delete_alert",
            "Delete an alert rule",
            "Deletes an alert rule and its history.",
            out(json!({"deleted": {"type": "string"}}), &["deleted"]),
            false,
            true,
        ),
        tool::<InsightArgs>(
            "recent_insights",
            "Recent insights",
            "The most recent insights streamq found in the live windows (volume spikes and drops, share shifts, measure spikes, null-rate jumps, new or vanished columns, stalls, late events, redelivery), each with its sentence, table, dimension, window and score; newest last.",
            out(json!({"insights": {"type": "array"}}), &["insights"]),
            true,
            false,
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Map;

    /// A value the schema `s` admits (resolving `$ref`s in `defs`), or `None` for null.
    fn sample(s: &Json, defs: &Json) -> Json {
        if let Some(r) = s["$ref"].as_str() {
            let name = r.rsplit('/').next().unwrap();
            return sample(&defs[name], defs);
        }
        if let Some(alts) = s["anyOf"].as_array().or(s["oneOf"].as_array()) {
            let alt = alts.iter().find(|a| a["type"] != "null").unwrap();
            return sample(alt, defs);
        }
        if let Some(e) = s["enum"].as_array() {
            return e[0].clone();
        }
        if let Some(c) = s.get("const") {
            return c.clone();
        }
        let ty = match &s["type"] {
            Json::Array(ts) => ts.iter().find(|t| *t != "null").unwrap().clone(),
            t => t.clone(),
        };
        match ty.as_str().unwrap() {
            "string" => json!("x"),
            "integer" => json!(s["minimum"].as_i64().unwrap_or(1).max(1)),
            "number" => json!(1.5),
            "boolean" => json!(true),
            "array" => json!([sample(&s["items"], defs)]),
            "object" => json!({}),
            other => panic!("no sample for type {other}"),
        }
    }

    #[test]
    fn every_listed_schema_is_exactly_what_its_call_accepts() {
        for t in all_tools() {
            let name = t.name.to_string();
            let schema = Json::Object((*t.input_schema).clone());
            let defs = schema.get("$defs").cloned().unwrap_or(Json::Null);
            assert_eq!(schema["type"], "object", "{name}");
            assert_eq!(
                schema["additionalProperties"], false,
                "{name}: unknown fields are refused"
            );
            let props = schema["properties"]
                .as_object()
                .cloned()
                .unwrap_or_default();
            let required: Vec<String> = schema["required"]
                .as_array()
                .map(|r| r.iter().map(|v| v.as_str().unwrap().to_string()).collect())
                .unwrap_or_default();
            // Every property the schema lists, with a value of its type, is accepted …
            let full: Map<String, Json> = props
                .iter()
                .map(|(k, s)| (k.clone(), sample(s, &defs)))
                .collect();
            ToolCall::parse(&name, &full)
                .unwrap_or_else(|e| panic!("{name}: the schema's own sample is refused: {e}"));
            // … and so is the required part alone, while leaving out any required one is not.
            let minimal: Map<String, Json> = full
                .iter()
                .filter(|(k, _)| required.contains(k))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            ToolCall::parse(&name, &minimal)
                .unwrap_or_else(|e| panic!("{name}: the required fields alone are refused: {e}"));
            for r in &required {
                let mut less = minimal.clone();
                less.remove(r);
                assert!(
                    ToolCall::parse(&name, &less).is_err(),
                    "{name}: '{r}' is listed as required but the call goes without it"
                );
            }
            // A property the schema does not list is refused, naming it.
            let mut extra = minimal.clone();
            extra.insert("not_a_field".into(), json!(1));
            let e = ToolCall::parse(&name, &extra).unwrap_err().to_string();
            assert!(e.contains("not_a_field"), "{name}: {e}");
            // A wrong type for a listed property is refused.
            if let Some((k, _)) = props.iter().find(|(_, s)| s["type"] == "string") {
                let mut wrong = full.clone();
                wrong.insert(k.clone(), json!({"an": "object"}));
                assert!(ToolCall::parse(&name, &wrong).is_err(), "{name}.{k}");
            }
        }
    }

    #[test]
    fn descriptions_and_bounds_come_through() {
        let tools = all_tools();
        let sql = tools.iter().find(|t| t.name == "run_sql").unwrap();
        let p = &sql.input_schema["properties"];
        assert!(p["sql"]["description"].as_str().unwrap().contains("SELECT"));
        assert_eq!(p["max_rows"]["minimum"], 1);
        let chart = tools.iter().find(|t| t.name == "chart").unwrap();
        let chart = serde_json::to_string(&*chart.input_schema).unwrap();
        assert!(chart.contains("\"svg\""), "{chart}");
    }
}
