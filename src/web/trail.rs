//! Writing the audit trail from the door: what the request was (read before the handler
//! runs), who made it, and how it ended with what the handler said of it ([`Detail`] on the
//! response). Health, the dashboard's files and the `/ws` upgrade are not entries (each `/ws`
//! subscription is, written by the socket).

use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::response::Response;

use crate::audit::{Detail, Entry};
use crate::auth::Identity;
use crate::error::ErrorCode;
use crate::web::AppState;

/// The header an MCP tool's in-process REST call carries: `mcp; tool=<name>`.
pub use crate::mcp::backend::VIA;

/// What is known of a request before it runs.
pub struct Asked {
    method: String,
    route: String,
    path: String,
    door: &'static str,
    tool: Option<String>,
    peer: Option<String>,
    started: Instant,
}

impl Asked {
    /// `by_cookie`: the caller came with a dashboard session (and no bearer token).
    pub fn of(req: &Request, by_cookie: bool) -> Asked {
        let headers = req.headers();
        let via = headers.get(VIA).and_then(|v| v.to_str().ok()).unwrap_or("");
        let tool = via
            .split(';')
            .find_map(|p| p.trim().strip_prefix("tool="))
            .map(str::to_string);
        let path = req.uri().path();
        Asked {
            method: req.method().to_string(),
            route: req
                .extensions()
                .get::<MatchedPath>()
                .map_or(path, |m| m.as_str())
                .to_string(),
            path: req
                .uri()
                .path_and_query()
                .map_or(path, |p| p.as_str())
                .to_string(),
            door: door_of(by_cookie, via, path),
            tool,
            peer: req
                .extensions()
                .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
                .map(|c| c.0.ip().to_string()),
            started: Instant::now(),
        }
    }
}

fn door_of(by_cookie: bool, via: &str, path: &str) -> &'static str {
    if via.starts_with("mcp") || path == "/mcp" {
        "mcp"
    } else if by_cookie {
        "dashboard"
    } else {
        "rest"
    }
}

/// Whether a route's requests are entries.
pub fn audited(path: &str, open: bool) -> bool {
    !open || path.starts_with("/api/session")
}

/// Appends the entry of an answered (or refused) request; `caller` is who the request
/// showed to be (none without a valid token).
pub fn record(st: &AppState, asked: Asked, caller: Option<&Identity>, resp: &Response) {
    let status = resp.status().as_u16();
    let mut detail = resp
        .extensions()
        .get::<Detail>()
        .cloned()
        .unwrap_or_default();
    if detail.tool.is_none() {
        detail.tool = asked.tool;
    }
    // A sign-in names who signed in (whatever else the request carried).
    let who = resp.extensions().get::<Identity>().or(caller);
    let entry = Entry {
        at: crate::audit::now(),
        who: who.map(|i| i.id.clone()),
        name: who.map(|i| i.name.clone()),
        role: who.map(|i| i.role.as_str().to_string()),
        door: asked.door.into(),
        method: asked.method,
        route: asked.route,
        path: asked.path,
        status,
        outcome: outcome(status).into(),
        code: resp
            .extensions()
            .get::<ErrorCode>()
            .map(|c| c.as_str().to_string()),
        ms: (asked.started.elapsed().as_secs_f64() * 1e6).round() / 1e3,
        peer: asked.peer,
        detail,
    };
    st.node.audit.append(&entry);
}

/// `ok`, `refused` or `failed`, by status.
pub fn outcome(status: u16) -> &'static str {
    match status {
        401 | 403 => "refused",
        s if s < 400 => "ok",
        _ => "failed",
    }
}

#[derive(serde::Deserialize)]
pub struct ExportParams {
    /// RFC 3339 lower bound (inclusive).
    pub from: Option<String>,
    /// RFC 3339 upper bound (exclusive).
    pub to: Option<String>,
}

/// `GET /api/audit?from=&to=`: the trail as JSON lines (`application/x-ndjson`), oldest first.
pub async fn export(
    axum::extract::State(st): axum::extract::State<AppState>,
    axum::extract::Query(p): axum::extract::Query<ExportParams>,
) -> Result<Response, crate::web::error::ApiError> {
    use axum::response::IntoResponse;
    let log = st.node.audit.clone();
    let entries = tokio::task::spawn_blocking(move || log.read(p.from.as_deref(), p.to.as_deref()))
        .await
        .map_err(crate::web::error::ApiError::internal)?
        .map_err(crate::web::error::ApiError::internal)?;
    let mut body = String::new();
    for e in &entries {
        body.push_str(&serde_json::to_string(e).map_err(crate::web::error::ApiError::internal)?);
        body.push('\n');
    }
    Ok((
        [(axum::http::header::CONTENT_TYPE, "application/x-ndjson")],
        body,
    )
        .into_response())
}
