//! HTTP: the dashboard, the REST API, health, metrics, `/ws` and `/mcp`, on axum.

pub mod alerts;
pub mod api;
pub mod dashboard;
pub mod door;
pub mod error;
pub mod explore;
pub mod freshness;
pub mod history;
pub mod origin;
pub mod params;
pub mod routes;
pub mod session;
pub mod trail;
pub mod ws;

use std::sync::Arc;

use axum::Router;

use crate::auth::sessions::Sessions;
use crate::auth::tokens::TokenStore;
use crate::llm::Assistant;
use crate::node::Node;
use crate::query::QueryEngine;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub node: Node,
    pub engine: Arc<QueryEngine>,
    pub assistant: Arc<Assistant>,
    /// Shared tails of the change feed (one evaluation per table and filter).
    pub tails: Arc<ws::Tails>,
    /// Who holds a `/ws` connection.
    pub ws_gate: Arc<ws::Gate>,
    /// The API tokens (re-read when the file changes).
    pub tokens: Arc<TokenStore>,
    /// Dashboard sessions.
    pub sessions: Arc<Sessions>,
    /// The `Host` names and `Origin`s answered.
    pub origins: Arc<origin::Origins>,
    /// Session cookies carry `Secure` (the server is on TLS).
    pub secure_cookies: bool,
}

impl AppState {
    /// The doors over a running node: its engine and assistant, shared. `local` is the address
    /// listened on (which `Host` and `Origin` may name), when there is a socket.
    pub fn new(node: Node, local: Option<std::net::SocketAddr>) -> Self {
        let hours = node.config.auth.session_hours.max(1);
        Self {
            engine: node.engine.clone(),
            assistant: node.assistant.clone(),
            tails: Arc::new(ws::Tails::default()),
            ws_gate: Arc::new(ws::Gate::default()),
            tokens: Arc::new(TokenStore::in_data_dir(&node.config.data_dir)),
            sessions: Arc::new(Sessions::new(std::time::Duration::from_secs(hours * 3600))),
            origins: Arc::new(origin::Origins::new(&node.config.server, local)),
            secure_cookies: false,
            node,
        }
    }
}

/// The whole HTTP surface: the REST API, `/ws`, and `/mcp` (MCP over streamable HTTP, which
/// calls the same REST API in process).
pub fn router(state: AppState) -> Router {
    let mcp = state.node.config.mcp.clone();
    let metrics = state.node.metrics.clone();
    let gate = axum::middleware::from_fn_with_state(state.clone(), door::gate);
    let api = routes::build(&state)
        .fallback(api::not_found)
        .with_state(state.clone())
        .layer(gate.clone());
    if !mcp.enabled {
        return api;
    }
    let allow_remote = mcp.allow_remote;
    let service = crate::mcp::http_service(api.clone(), mcp, metrics);
    let authorize =
        axum::middleware::from_fn_with_state((state.clone(), routes::MCP_NEED), door::authorize);
    let mcp_route = Router::new()
        .route_service("/mcp", service)
        .route_layer(authorize)
        .layer(axum::middleware::from_fn(move |req, next| {
            loopback_only(req, next, allow_remote)
        }))
        .layer(gate);
    api.merge(mcp_route)
}

/// `/mcp` answers loopback peers only, unless `mcp.allow_remote`.
async fn loopback_only(
    req: axum::extract::Request,
    next: axum::middleware::Next,
    allow_remote: bool,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    if !allow_remote {
        let peer = req
            .extensions()
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|c| c.0);
        if let Some(peer) = peer
            && !peer.ip().is_loopback()
        {
            tracing::warn!(target: "streamq::mcp", %peer, "refused: /mcp answers loopback peers only");
            return error::ApiError::new(
                error::ErrorCode::OriginNotAllowed,
                "/mcp answers loopback clients only (set mcp.allow_remote to open it)",
            )
            .into_response();
        }
    }
    let is_delete = req.method() == axum::http::Method::DELETE;
    let mut resp = next.run(req).await;
    // A closed session: 204, which every client reads as success (some reject rmcp's 202).
    if is_delete && resp.status() == axum::http::StatusCode::ACCEPTED {
        *resp.status_mut() = axum::http::StatusCode::NO_CONTENT;
    }
    resp
}
