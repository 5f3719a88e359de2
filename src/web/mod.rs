//! HTTP: the dashboard, the REST API, health, metrics, `/ws` and `/mcp`, on axum.

pub mod alerts;
pub mod api;
pub mod dashboard;
pub mod error;
pub mod explore;
pub mod freshness;
pub mod history;
pub mod params;
pub mod ws;

use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};

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
}

impl AppState {
    /// The doors over a running node: its engine and assistant, shared.
    pub fn new(node: Node) -> Self {
        Self {
            engine: node.engine.clone(),
            assistant: node.assistant.clone(),
            node,
            tails: Arc::new(ws::Tails::default()),
            ws_gate: Arc::new(ws::Gate::default()),
        }
    }
}

/// The whole HTTP surface: the REST API, `/ws`, and `/mcp` (MCP over streamable HTTP, which
/// calls the same REST API in process).
pub fn router(state: AppState) -> Router {
    let mcp = state.node.config.mcp.clone();
    let metrics = state.node.metrics.clone();
    let api = api_router(state);
    if !mcp.enabled {
        return api;
    }
    let allow_remote = mcp.allow_remote;
    let service = crate::mcp::http_service(api.clone(), mcp, metrics);
    let mcp_route = Router::new()
        .route_service("/mcp", service)
        .layer(axum::middleware::from_fn(move |req, next| {
            loopback_only(req, next, allow_remote)
        }));
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

fn api_router(state: AppState) -> Router {
    Router::new()
        .route("/", get(dashboard::index))
        .route("/assets/app.js", get(dashboard::app_js))
        .route("/assets/app.css", get(dashboard::app_css))
        .route("/api/sql", post(api::sql))
        .route("/api/ask", post(api::ask))
        .route("/api/tables", get(api::tables))
        .route("/api/tables/{name}", get(api::table))
        .route("/api/tables/{name}/changes", get(explore::changes))
        .route("/api/tables/{name}/profile", get(explore::profile))
        .route("/api/chart", post(explore::chart))
        .route("/api/quarantine", get(api::quarantine))
        .route("/api/search", get(api::search))
        .route("/api/sources", get(api::sources))
        .route("/api/sources/rates", get(explore::rates))
        .route("/api/sources/chart", get(explore::rates_chart))
        .route("/api/alerts", post(alerts::create).get(alerts::list))
        .route(
            "/api/alerts/{id}",
            get(alerts::get_one)
                .patch(alerts::patch)
                .delete(alerts::delete),
        )
        .route("/api/alerts/{id}/events", get(alerts::events))
        .route("/api/insights", get(alerts::insights))
        .route("/api/windows/{table}", get(alerts::windows))
        .route("/ws", get(ws::upgrade))
        .route("/healthz", get(api::healthz))
        .route("/readyz", get(api::readyz))
        .route("/metrics", get(api::metrics))
        .fallback(api::not_found)
        .with_state(state)
}
