//! HTTP: the REST API, health, metrics and the start page, on axum.

pub mod alerts;
pub mod api;
pub mod error;
pub mod ws;
pub mod wsbench;

use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};

use crate::actors::Node;
use crate::llm::Assistant;
use crate::query::QueryEngine;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub node: Node,
    pub engine: Arc<QueryEngine>,
    pub assistant: Arc<Assistant>,
    /// Shared tails of the change feed (one evaluation per table and filter).
    pub tails: Arc<ws::Tails>,
}

impl AppState {
    pub fn new(node: Node) -> Self {
        let engine = Arc::new(QueryEngine::new(
            node.catalog.clone(),
            node.config.query.clone(),
            node.metrics.clone(),
        ));
        let assistant = Arc::new(Assistant::new(
            node.catalog.clone(),
            engine.clone(),
            node.metrics.clone(),
            &node.config.llm.model_dir,
        ));
        Self {
            node,
            engine,
            assistant,
            tails: Arc::new(ws::Tails::default()),
        }
    }
}

/// The whole HTTP surface.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/", get(api::index))
        .route("/api/sql", post(api::sql))
        .route("/api/ask", post(api::ask))
        .route("/api/tables", get(api::tables))
        .route("/api/tables/{name}", get(api::table))
        .route("/api/quarantine", get(api::quarantine))
        .route("/api/search", get(api::search))
        .route("/api/sources", get(api::sources))
        .route("/api/alerts", post(alerts::create).get(alerts::list))
        .route(
            "/api/alerts/{id}",
            get(alerts::get_one).delete(alerts::delete),
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
