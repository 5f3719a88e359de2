//! What each tool call does: the REST call it makes (the same the API answers a person
//! with), and the caps its result gets (rows, bytes) with a `truncated` flag.

use axum::http::Method;
use rmcp::model::ContentBlock;
use serde_json::{Value as Json, json};

use crate::mcp::args::ToolCall;
use crate::mcp::backend::Credentials;
use crate::mcp::{Output, StreamqMcp, ToolError, invalid};

impl StreamqMcp {
    /// Runs one tool.
    pub(super) async fn run(
        &self,
        call: ToolCall,
        creds: &Credentials,
    ) -> Result<Output, ToolError> {
        let b = &self.inner.backend;
        match call {
            ToolCall::ListTables => Ok(self.get("/api/tables", creds).await?.into()),
            ToolCall::DescribeTable(p) => Ok(self
                .get(&format!("/api/tables/{}", path_segment(&p.table)?), creds)
                .await?
                .into()),
            ToolCall::RunSql(p) => {
                non_empty("sql", &p.sql)?;
                let max = self.max_rows(p.max_rows);
                let mut r = self.post("/api/sql", json!({"sql": p.sql}), creds).await?;
                let cut_here = cut(&mut r, "rows", max);
                let n = r["rows"].as_array().map_or(0, Vec::len);
                let engine_cut = r["truncated"].as_bool().unwrap_or(false);
                r["row_count"] = json!(n);
                r["truncated"] = json!(engine_cut || cut_here);
                if cut_here || engine_cut {
                    r["note"] = json!(format!(
                        "only the first {n} rows are returned; aggregate or add LIMIT/WHERE for the rest"
                    ));
                }
                Ok(r.into())
            }
            ToolCall::Ask(p) => {
                non_empty("question", &p.question)?;
                let mut r = self
                    .post(
                        "/api/ask",
                        json!({"question": p.question, "as_of": p.as_of}),
                        creds,
                    )
                    .await?;
                let max = self.max_rows(None);
                if cut(&mut r, "rows", max) {
                    r["truncated"] = json!(true);
                }
                Ok(r.into())
            }
            ToolCall::ReadTopic(p) => {
                let limit = self.max_rows(p.limit);
                let path = format!(
                    "/api/tables/{}/changes{}",
                    path_segment(&p.table)?,
                    query(&[
                        ("partition", p.partition.map(|v| v.to_string())),
                        ("from_offset", p.from_offset.map(|v| v.to_string())),
                        ("to_offset", p.to_offset.map(|v| v.to_string())),
                        ("from", p.from),
                        ("to", p.to),
                        ("filter", p.filter),
                        ("limit", Some(limit.to_string())),
                        ("newest", p.newest.map(|v| v.to_string())),
                    ])
                );
                Ok(self.get(&path, creds).await?.into())
            }
            ToolCall::SearchEvents(p) => {
                non_empty("query", &p.query)?;
                let limit = self.max_rows(p.limit.or(Some(20)));
                let path = format!(
                    "/api/search{}",
                    query(&[
                        ("q", Some(p.query)),
                        ("table", p.table),
                        ("from", p.from),
                        ("to", p.to),
                        ("limit", Some(limit.to_string())),
                        ("fuzzy", p.fuzzy.map(|v| v.to_string())),
                    ])
                );
                match self.get(&path, creds).await {
                    Err(e) if e.code == "not_available" => Err(ToolError {
                        code: "not_available".into(),
                        message: format!(
                            "full-text search is not available on this server ({}); use run_sql with LIKE or read_topic with a filter instead",
                            e.message
                        ),
                    }),
                    r => Ok(r?.into()),
                }
            }
            ToolCall::ProfileTable(p) => {
                let path = format!(
                    "/api/tables/{}/profile{}",
                    path_segment(&p.table)?,
                    query(&[
                        ("sample", p.sample.map(|v| v.to_string())),
                        ("top", p.top.map(|v| v.to_string())),
                    ])
                );
                Ok(self.get(&path, creds).await?.into())
            }
            ToolCall::Chart(p) => {
                if p.sql.is_some() == p.question.is_some() {
                    return Err(invalid("give exactly one of 'sql' or 'question'"));
                }
                let mut body = serde_json::Map::new();
                for (k, v) in [
                    ("sql", p.sql.map(Json::from)),
                    ("question", p.question.map(Json::from)),
                    ("kind", p.kind.map(|k| json!(k))),
                    ("x", p.x.map(Json::from)),
                    ("y", p.y.map(|y| json!(y))),
                    ("title", p.title.map(Json::from)),
                    ("format", p.format.map(|f| json!(f))),
                    ("width", p.width.map(Json::from)),
                    ("height", p.height.map(Json::from)),
                ] {
                    if let Some(v) = v {
                        body.insert(k.into(), v);
                    }
                }
                let r = self.post("/api/chart", Json::Object(body), creds).await?;
                let image = r["image"].as_str().unwrap_or_default().to_string();
                let mime = r["mime_type"].as_str().unwrap_or("image/png").to_string();
                Ok(Output {
                    structured: json!({"spec": r["spec"], "sql": r["sql"], "rows": r["rows"], "bytes": r["bytes"]}),
                    extra: vec![ContentBlock::image(image, mime)],
                })
            }
            ToolCall::ListAlerts => Ok(self.get("/api/alerts", creds).await?.into()),
            ToolCall::CreateAlert(p) => {
                let body = match (p.text, p.rule) {
                    (Some(text), None) => {
                        non_empty("text", &text)?;
                        json!({"text": text, "name": p.name, "webhook": p.webhook})
                    }
                    (None, Some(mut rule)) => {
                        if let Some(n) = p.name {
                            rule.insert("name".into(), json!(n));
                        }
                        if let Some(w) = p.webhook {
                            rule.insert("webhook".into(), json!(w));
                        }
                        Json::Object(rule)
                    }
                    _ => {
                        return Err(invalid(
                            "give exactly one of 'text' (English) or 'rule' (structured)",
                        ));
                    }
                };
                Ok(self.post("/api/alerts", body, creds).await?.into())
            }
            ToolCall::DeleteAlert(p) => {
                non_empty("id", &p.id)?;
                b.call(
                    Method::DELETE,
                    &format!("/api/alerts/{}", encode(p.id.trim())),
                    None,
                    creds,
                )
                .await?;
                Ok(json!({"deleted": p.id}).into())
            }
            ToolCall::RecentInsights(p) => {
                let limit = self.max_rows(p.limit.or(Some(50)));
                let path = format!(
                    "/api/insights{}",
                    query(&[("table", p.table), ("limit", Some(limit.to_string()))])
                );
                Ok(self.get(&path, creds).await?.into())
            }
        }
    }
}

fn non_empty(what: &str, s: &str) -> Result<(), ToolError> {
    if s.trim().is_empty() {
        Err(invalid(format!("'{what}' must not be empty")))
    } else {
        Ok(())
    }
}

/// A query string from pairs (values percent-encoded).
fn query(pairs: &[(&str, Option<String>)]) -> String {
    let parts: Vec<String> = pairs
        .iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={}", encode(v))))
        .collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!("?{}", parts.join("&"))
    }
}

fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

fn path_segment(s: &str) -> Result<String, ToolError> {
    non_empty("table", s)?;
    Ok(encode(s.trim()))
}

/// Cuts the array under `key` to `max` items; true when something was cut.
fn cut(v: &mut Json, key: &str, max: usize) -> bool {
    match v.get_mut(key).and_then(Json::as_array_mut) {
        Some(a) if a.len() > max => {
            a.truncate(max);
            true
        }
        _ => false,
    }
}

/// Cuts `s` to at most `max` bytes at a character boundary, then appends `mark`; true when
/// something was cut.
pub(super) fn cut_text(s: &mut String, max: usize, mark: &str) -> bool {
    if s.len() <= max {
        return false;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.truncate(end);
    s.push_str(mark);
    true
}

/// Cuts every string in `v` longer than `max` bytes (at a character boundary, marked `…`).
fn cut_strings(v: &mut Json, max: usize) -> bool {
    match v {
        Json::String(s) => cut_text(s, max, "…"),
        Json::Array(a) => a.iter_mut().fold(false, |acc, x| cut_strings(x, max) | acc),
        Json::Object(o) => o
            .values_mut()
            .fold(false, |acc, x| cut_strings(x, max) | acc),
        _ => false,
    }
}

/// Keeps a result under `max_bytes` by halving its largest row-like array; says so in
/// `truncated` and `note`.
pub(super) fn cap_bytes(v: &mut Json, max_bytes: usize) {
    const KEYS: &[&str] = &[
        "rows",
        "changes",
        "hits",
        "insights",
        "rules",
        "tables",
        "columns",
        "partitions",
    ];
    let mut cut_any = false;
    for _ in 0..64 {
        let size = serde_json::to_vec(v).map(|b| b.len()).unwrap_or(0);
        if size <= max_bytes {
            break;
        }
        let biggest = KEYS
            .iter()
            .filter_map(|k| {
                let a = v.get(*k)?.as_array()?;
                (!a.is_empty()).then(|| (*k, serde_json::to_vec(a).map(|b| b.len()).unwrap_or(0)))
            })
            .max_by_key(|(_, n)| *n);
        let Some((key, _)) = biggest else { break };
        let a = v[key].as_array_mut().expect("checked above");
        let keep = a.len() / 2;
        a.truncate(keep);
        cut_any = true;
    }
    // What is still too large is long text (an echoed question, a message): cut every string
    // to a share of the budget, more each round.
    let mut longest = max_bytes / 4;
    while serde_json::to_vec(v).map(|b| b.len()).unwrap_or(0) > max_bytes && longest > 16 {
        cut_any |= cut_strings(v, longest);
        longest /= 2;
    }
    if cut_any && let Some(o) = v.as_object_mut() {
        o.insert("truncated".into(), json!(true));
        o.insert(
            "note".into(),
            json!(format!(
                "output cut to stay under {max_bytes} bytes; narrow the request"
            )),
        );
        if let Some(Json::Array(rows)) = o.get("rows") {
            let n = rows.len();
            o.insert("row_count".into(), json!(n));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn big_results_are_cut_to_the_byte_cap_with_a_flag() {
        let rows: Vec<Json> = (0..10_000).map(|i| json!([i, "x".repeat(50)])).collect();
        let mut v = json!({"columns": [{"name": "a"}], "rows": rows, "truncated": false});
        cap_bytes(&mut v, 64 * 1024);
        assert!(serde_json::to_vec(&v).unwrap().len() <= 64 * 1024);
        assert_eq!(v["truncated"], json!(true));
        assert_eq!(v["row_count"], json!(v["rows"].as_array().unwrap().len()));
        assert!(v["rows"].as_array().unwrap().len() > 500);
    }

    #[test]
    fn an_echoed_text_is_cut_to_the_cap_too() {
        let mut v = json!({"question": "é".repeat(300_000), "clarify": "which table?"});
        cap_bytes(&mut v, 64 * 1024);
        assert!(serde_json::to_vec(&v).unwrap().len() <= 64 * 1024);
        assert_eq!(v["truncated"], json!(true));
        assert_eq!(v["clarify"], "which table?", "short text is kept");
    }

    #[test]
    fn query_values_are_percent_encoded() {
        assert_eq!(
            query(&[("filter", Some("a > 1 & b = 'x'".into())), ("n", None)]),
            "?filter=a%20%3E%201%20%26%20b%20%3D%20%27x%27"
        );
    }
}
