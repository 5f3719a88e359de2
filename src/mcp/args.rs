//! Every tool's arguments, typed: one struct per tool, whose JSON Schema (the `inputSchema`
//! of `tools/list`) is derived from the same definition serde validates calls with, so the
//! two cannot drift. [`ToolCall`] is one call, parsed.

use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value as Json};

/// No arguments.
#[derive(Deserialize, JsonSchema, Debug)]
#[serde(deny_unknown_fields)]
pub struct NoArgs {}

#[derive(Deserialize, JsonSchema, Debug)]
#[serde(deny_unknown_fields)]
pub struct TableArg {
    /// Table name as SQL sees it, e.g. db2.transactions (see list_tables)
    pub table: String,
}

#[derive(Deserialize, JsonSchema, Debug)]
#[serde(deny_unknown_fields)]
pub struct SqlArgs {
    /// A SELECT (or WITH … SELECT) statement
    pub sql: String,
    /// Rows to return at most (capped by the server)
    #[schemars(range(min = 1))]
    pub max_rows: Option<usize>,
}

#[derive(Deserialize, JsonSchema, Debug)]
#[serde(deny_unknown_fields)]
pub struct AskArgs {
    /// e.g. 'how many declined transactions per region in the last hour'
    pub question: String,
    /// Evaluate relative times ('last hour') as of this RFC 3339 time
    pub as_of: Option<String>,
}

#[derive(Deserialize, JsonSchema, Debug)]
#[serde(deny_unknown_fields)]
pub struct ReadTopicArgs {
    /// Table name as SQL sees it, e.g. db2.transactions (see list_tables)
    pub table: String,
    #[schemars(range(min = 0))]
    pub partition: Option<i32>,
    /// First offset (inclusive)
    #[schemars(range(min = 0))]
    pub from_offset: Option<i64>,
    /// Last offset (inclusive)
    #[schemars(range(min = 0))]
    pub to_offset: Option<i64>,
    /// Record time lower bound (inclusive):
    /// RFC 3339 time (2026-03-02T09:30:00Z) or epoch milliseconds
    pub from: Option<String>,
    /// Record time upper bound (exclusive):
    /// RFC 3339 time (2026-03-02T09:30:00Z) or epoch milliseconds
    pub to: Option<String>,
    /// SQL condition over the table's columns and _op, _ts, _partition, _offset
    pub filter: Option<String>,
    /// Changes to return at most (capped by the server)
    #[schemars(range(min = 1))]
    pub limit: Option<usize>,
    /// Return the last matches instead of the first
    pub newest: Option<bool>,
}

#[derive(Deserialize, JsonSchema, Debug)]
#[serde(deny_unknown_fields)]
pub struct SearchArgs {
    /// Terms, "phrases", AND/OR/NOT, column:term
    pub query: String,
    /// Table name as SQL sees it, e.g. db2.transactions (see list_tables)
    pub table: Option<String>,
    /// Change time lower bound:
    /// RFC 3339 time (2026-03-02T09:30:00Z) or epoch milliseconds
    pub from: Option<String>,
    /// Change time upper bound:
    /// RFC 3339 time (2026-03-02T09:30:00Z) or epoch milliseconds
    pub to: Option<String>,
    #[schemars(range(min = 1))]
    pub limit: Option<usize>,
    /// Allow one typo per term
    pub fuzzy: Option<bool>,
}

#[derive(Deserialize, JsonSchema, Debug)]
#[serde(deny_unknown_fields)]
pub struct ProfileArgs {
    /// Table name as SQL sees it, e.g. db2.transactions (see list_tables)
    pub table: String,
    /// Rows to look at, at most (default 200000)
    #[schemars(range(min = 1))]
    pub sample: Option<usize>,
    /// Top values per column (default 5)
    #[schemars(range(min = 0, max = 50))]
    pub top: Option<usize>,
}

/// The kind of chart.
#[derive(Deserialize, Serialize, JsonSchema, Debug, Clone, Copy, PartialEq)]
#[serde(rename_all = "lowercase")]
pub enum ChartKind {
    Auto,
    Line,
    Bar,
}

/// The image format of a chart.
#[derive(Deserialize, Serialize, JsonSchema, Debug, Clone, Copy, PartialEq)]
#[serde(rename_all = "lowercase")]
pub enum ChartFormat {
    Png,
    Svg,
}

#[derive(Deserialize, JsonSchema, Debug)]
#[serde(deny_unknown_fields)]
pub struct ChartArgs {
    /// The query to draw (give this or question)
    pub sql: Option<String>,
    /// A plain-English question to draw (give this or sql)
    pub question: Option<String>,
    pub kind: Option<ChartKind>,
    /// x column (default: the first time or text column)
    pub x: Option<String>,
    /// y columns (default: the numeric columns)
    pub y: Option<Vec<String>>,
    pub title: Option<String>,
    pub format: Option<ChartFormat>,
    #[schemars(range(min = 200, max = 2000))]
    pub width: Option<u32>,
    #[schemars(range(min = 150, max = 1500))]
    pub height: Option<u32>,
}

#[derive(Deserialize, JsonSchema, Debug)]
#[serde(deny_unknown_fields)]
pub struct CreateAlertArgs {
    /// The rule in English (give this or rule)
    pub text: Option<String>,
    /// A structured rule as POST /api/alerts takes it (give this or text)
    pub rule: Option<Map<String, Json>>,
    pub name: Option<String>,
    /// http(s) URL to POST each firing and resolving to
    pub webhook: Option<String>,
}

#[derive(Deserialize, JsonSchema, Debug)]
#[serde(deny_unknown_fields)]
pub struct IdArg {
    /// The alert rule's id (see list_alerts)
    pub id: String,
}

#[derive(Deserialize, JsonSchema, Debug)]
#[serde(deny_unknown_fields)]
pub struct InsightArgs {
    /// Table name as SQL sees it, e.g. db2.transactions (see list_tables)
    pub table: Option<String>,
    #[schemars(range(min = 1))]
    pub limit: Option<usize>,
}

/// One tool call, its arguments checked.
#[derive(Debug)]
pub enum ToolCall {
    ListTables,
    DescribeTable(TableArg),
    RunSql(SqlArgs),
    Ask(AskArgs),
    ReadTopic(ReadTopicArgs),
    SearchEvents(SearchArgs),
    ProfileTable(ProfileArgs),
    Chart(ChartArgs),
    ListAlerts,
    CreateAlert(CreateAlertArgs),
    DeleteAlert(IdArg),
    RecentInsights(InsightArgs),
}

/// Why a call's arguments were refused.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ArgsError {
    #[error("no tool {0}")]
    UnknownTool(String),
    #[error("invalid arguments for {tool}: {message}. See the tool's input schema (tools/list).")]
    Invalid { tool: String, message: String },
}

fn parse<T: DeserializeOwned>(tool: &str, v: &Map<String, Json>) -> Result<T, ArgsError> {
    serde_json::from_value(Json::Object(v.clone())).map_err(|e| ArgsError::Invalid {
        tool: tool.to_string(),
        message: e.to_string(),
    })
}

impl ToolCall {
    /// The call of tool `name` with arguments `a`.
    pub fn parse(name: &str, a: &Map<String, Json>) -> Result<ToolCall, ArgsError> {
        Ok(match name {
            "list_tables" => {
                parse::<NoArgs>(name, a)?;
                ToolCall::ListTables
            }
            "describe_table" => ToolCall::DescribeTable(parse(name, a)?),
            "run_sql" => ToolCall::RunSql(parse(name, a)?),
            "ask" => ToolCall::Ask(parse(name, a)?),
            "read_topic" => ToolCall::ReadTopic(parse(name, a)?),
            "search_events" => ToolCall::SearchEvents(parse(name, a)?),
            "profile_table" => ToolCall::ProfileTable(parse(name, a)?),
            "chart" => ToolCall::Chart(parse(name, a)?),
            "list_alerts" => {
                parse::<NoArgs>(name, a)?;
                ToolCall::ListAlerts
            }
            "create_alert" => ToolCall::CreateAlert(parse(name, a)?),
            "delete_alert" => ToolCall::DeleteAlert(parse(name, a)?),
            "recent_insights" => ToolCall::RecentInsights(parse(name, a)?),
            other => return Err(ArgsError::UnknownTool(other.to_string())),
        })
    }
}
