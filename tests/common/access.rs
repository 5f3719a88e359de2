//! Calling the doors as a token holder: REST with a bearer token, and an MCP session over
//! `/mcp`.

use std::io::Read;

use axum::http::Method;
use serde_json::{Value, json};

/// A request with `token` as bearer: the status and the JSON body (null when not JSON).
pub fn http(
    method: &Method,
    url: &str,
    token: Option<&str>,
    headers: &[(&str, &str)],
    body: Option<&Value>,
) -> (u16, Value) {
    let mut req = super::agent().request(method.as_str(), url);
    if let Some(t) = token {
        req = req.set("Authorization", &format!("Bearer {t}"));
    }
    for (k, v) in headers {
        req = req.set(k, v);
    }
    let res = match body {
        Some(b) => req.send_json(b.clone()),
        None => req.call(),
    };
    let r = match res {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("{method} {url}: {e}"),
    };
    let status = r.status();
    let mut text = String::new();
    let _ = r.into_reader().take(1 << 20).read_to_string(&mut text);
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// Calls one tool of an MCP session.
pub type ToolCaller = Box<dyn FnMut(&str, Value) -> Value>;

/// An MCP session over `/mcp` with `token`; None when the server refuses to open one.
pub fn mcp_session(base: &str, token: Option<&str>) -> Option<ToolCaller> {
    let url = format!("{base}/mcp");
    let token = token.map(str::to_string);
    let post = move |session: Option<&str>, body: Value| -> Result<ureq::Response, u16> {
        let mut req = super::agent()
            .post(&url)
            .set("Content-Type", "application/json")
            .set("Accept", "application/json, text/event-stream");
        if let Some(t) = &token {
            req = req.set("Authorization", &format!("Bearer {t}"));
        }
        if let Some(s) = session {
            req = req.set("Mcp-Session-Id", s);
        }
        match req.send_string(&body.to_string()) {
            Ok(r) => Ok(r),
            Err(ureq::Error::Status(s, _)) => Err(s),
            Err(e) => panic!("POST /mcp: {e}"),
        }
    };
    let reply_of = |r: ureq::Response| -> Value {
        let text = r.into_string().unwrap();
        let data: String = text
            .lines()
            .filter_map(|l| l.strip_prefix("data:"))
            .map(str::trim)
            .rfind(|l| !l.is_empty())
            .map(str::to_string)
            .unwrap_or(text);
        serde_json::from_str(&data).unwrap_or_else(|e| panic!("{e}: {data}"))
    };
    let init = match post(
        None,
        json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {},
        "clientInfo": {"name": "auth-test", "version": "0"}}}),
    ) {
        Ok(r) => r,
        Err(401 | 403) => return None,
        Err(s) => panic!("initialize: HTTP {s}"),
    };
    let session = init.header("mcp-session-id").map(str::to_string);
    let _ = reply_of(init);
    let _ = post(
        session.as_deref(),
        json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
    );
    let mut id = 10;
    Some(Box::new(move |name: &str, args: Value| {
        id += 1;
        reply_of(
            post(
                session.as_deref(),
                json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
                    "params": {"name": name, "arguments": args}}),
            )
            .expect("a tool call is answered"),
        )
    }))
}
