//! How the MCP tools reach streamq: its REST API, in process (the `/mcp` endpoint calls the
//! server's own router, no socket) or over HTTP (`streamq mcp --server URL`, so the store keeps
//! one owner). Either way a tool does exactly what the REST call does: same engine, same
//! timeout, same row cap, same errors.

use axum::body::Body;
use axum::http::{Method, Request, header};

/// The header naming the door and tool of an in-process call (the audit trail reads it).
pub const VIA: &str = "x-streamq-via";
use serde_json::Value as Json;
use tower::ServiceExt;

pub use crate::client::CallError;
use crate::client::{Client, parse_reply};

/// Largest REST reply read (the tool output is capped far below this).
const MAX_REPLY_BYTES: usize = 256 * 1024 * 1024;

#[derive(Clone)]
pub enum Backend {
    /// The server's own router (without `/mcp`).
    Local(axum::Router),
    /// A running streamq, called with the token of the stdio server's environment.
    Remote(Client),
}

/// The credentials of the MCP request a tool runs for, passed on to the REST call, so that a
/// tool may do exactly what its caller may (over stdio the [`Client`]'s token counts instead).
#[derive(Clone, Debug, Default)]
pub struct Credentials {
    pub authorization: Option<axum::http::HeaderValue>,
    pub cookie: Option<axum::http::HeaderValue>,
    /// The tool the call runs for, which the audit trail records (`mcp; tool=<name>`).
    pub via: Option<axum::http::HeaderValue>,
}

impl Backend {
    pub fn describe(&self) -> String {
        match self {
            Backend::Local(_) => "in-process".into(),
            Backend::Remote(c) => c.base().to_string(),
        }
    }

    /// Calls `method path` (path with its query string) with an optional JSON body.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Json>,
        creds: &Credentials,
    ) -> Result<Json, CallError> {
        match self {
            Backend::Local(router) => {
                let mut req = Request::builder().method(method).uri(path);
                if let Some(a) = &creds.authorization {
                    req = req.header(header::AUTHORIZATION, a);
                }
                if let Some(c) = &creds.cookie {
                    req = req.header(header::COOKIE, c);
                }
                if let Some(v) = &creds.via {
                    req = req.header(VIA, v);
                }
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
            Backend::Remote(client) => {
                let client = client.clone();
                let method = method.as_str().to_string();
                let path = path.to_string();
                tokio::task::spawn_blocking(move || client.call(&method, &path, body))
                    .await
                    .map_err(|e| CallError::new("internal", e.to_string()))?
            }
        }
    }
}
