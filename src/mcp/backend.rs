//! How the MCP tools reach streamq: its REST API, in process (the `/mcp` endpoint calls the
//! server's own router, no socket) or over HTTP (`streamq mcp --server URL`, so the store keeps
//! one owner). Either way a tool does exactly what the REST call does: same engine, same
//! timeout, same row cap, same errors.

use axum::body::Body;
use axum::http::{Method, Request, header};
use serde_json::Value as Json;
use tower::ServiceExt;

/// A failed call, as the REST API reported it.
#[derive(Debug, Clone)]
pub struct CallError {
    /// The API's error code (`unknown_table`, `invalid_sql`…), or `unreachable`.
    pub code: String,
    pub message: String,
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

/// Largest REST reply read (the tool output is capped far below this).
const MAX_REPLY_BYTES: usize = 256 * 1024 * 1024;

#[derive(Clone)]
pub enum Backend {
    /// The server's own router (without `/mcp`).
    Local(axum::Router),
    /// A running streamq at this base URL.
    Remote(String),
}

impl Backend {
    pub fn describe(&self) -> String {
        match self {
            Backend::Local(_) => "in-process".into(),
            Backend::Remote(u) => u.clone(),
        }
    }

    /// Calls `method path` (path with its query string) with an optional JSON body.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Json>,
    ) -> Result<Json, CallError> {
        match self {
            Backend::Local(router) => {
                let mut req = Request::builder().method(method).uri(path);
                let body = match body {
                    Some(b) => {
                        req = req.header(header::CONTENT_TYPE, "application/json");
                        Body::from(b.to_string())
                    }
                    None => Body::empty(),
                };
                let req = req.body(body).map_err(|e| CallError {
                    code: "bad_request".into(),
                    message: e.to_string(),
                })?;
                let resp = router
                    .clone()
                    .oneshot(req)
                    .await
                    .unwrap_or_else(|e| match e {});
                let status = resp.status();
                let bytes = axum::body::to_bytes(resp.into_body(), MAX_REPLY_BYTES)
                    .await
                    .map_err(|e| CallError {
                        code: "internal".into(),
                        message: e.to_string(),
                    })?;
                parse_reply(status.as_u16(), &bytes)
            }
            Backend::Remote(base) => {
                let url = format!("{}{path}", base.trim_end_matches('/'));
                let base = base.clone();
                tokio::task::spawn_blocking(move || {
                    let req = ureq::request(method.as_str(), &url);
                    let res = match body {
                        Some(b) => req.send_json(b),
                        None => req.call(),
                    };
                    match res {
                        Ok(r) => {
                            let status = r.status();
                            let text = r.into_string().map_err(|e| CallError {
                                code: "unreachable".into(),
                                message: format!("reading the reply from {base}: {e}"),
                            })?;
                            parse_reply(status, text.as_bytes())
                        }
                        Err(ureq::Error::Status(status, r)) => {
                            let text = r.into_string().unwrap_or_default();
                            parse_reply(status, text.as_bytes())
                        }
                        Err(e) => Err(CallError {
                            code: "unreachable".into(),
                            message: format!(
                                "cannot reach streamq at {base} ({e}); is `streamq serve` running?"
                            ),
                        }),
                    }
                })
                .await
                .map_err(|e| CallError {
                    code: "internal".into(),
                    message: e.to_string(),
                })?
            }
        }
    }
}

fn parse_reply(status: u16, bytes: &[u8]) -> Result<Json, CallError> {
    if status == 204 || bytes.is_empty() {
        return if (200..300).contains(&status) {
            Ok(Json::Null)
        } else {
            Err(CallError {
                code: "internal".into(),
                message: format!("HTTP {status} with no body"),
            })
        };
    }
    let v: Json = serde_json::from_slice(bytes).map_err(|e| CallError {
        code: "internal".into(),
        message: format!("HTTP {status}: the reply is not JSON ({e})"),
    })?;
    if (200..300).contains(&status) {
        Ok(v)
    } else {
        Err(CallError {
            code: v["code"].as_str().unwrap_or("error").to_string(),
            message: v["message"]
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| format!("HTTP {status}")),
        })
    }
}
