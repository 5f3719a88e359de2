//! HTTP: the REST API, health, metrics and the start page, on axum.

pub mod api;
pub mod error;

use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};

use crate::actors::Node;
use crate::query::QueryEngine;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub node: Node,
    pub engine: Arc<QueryEngine>,
}

impl AppState {
    pub fn new(node: Node) -> Self {
        let engine = Arc::new(QueryEngine::new(
            node.catalog.clone(),
            node.config.query.clone(),
            node.metrics.clone(),
        ));
        Self { node, engine }
    }
}

/// The whole HTTP surface.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/", get(api::index))
        .route("/api/sql", post(api::sql))
        .route("/api/tables", get(api::tables))
        .route("/api/tables/{name}", get(api::table))
        .route("/api/quarantine", get(api::quarantine))
        .route("/api/search", get(api::search))
        .route("/api/sources", get(api::sources))
        .route("/healthz", get(api::healthz))
        .route("/readyz", get(api::readyz))
        .route("/metrics", get(api::metrics))
        .fallback(api::not_found)
        .with_state(state)
}
