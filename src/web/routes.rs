//! Every route with what it needs of its caller. The router is built from this table alone,
//! so a route cannot exist without a policy; the authorization test walks the same table.

use axum::Router;
use axum::handler::Handler;
use axum::http::Method;
use axum::routing::{MethodFilter, MethodRouter, on};

use crate::auth::Need;
use crate::web::{AppState, alerts, api, dashboard, door, explore, session, trail, ws};

/// One method on one path.
pub struct Route {
    pub method: Method,
    pub path: &'static str,
    pub need: Need,
    handler: MethodRouter<AppState>,
}

/// What the table says of a route, for tests and documentation.
#[derive(Clone, Debug, PartialEq)]
pub struct Policy {
    pub method: Method,
    pub path: &'static str,
    pub need: Need,
}

fn route<H, T>(method: Method, path: &'static str, need: Need, h: H) -> Route
where
    H: Handler<T, AppState>,
    T: 'static,
{
    let filter = MethodFilter::try_from(method.clone()).expect("a routable method");
    Route {
        method,
        path,
        need,
        handler: on(filter, h),
    }
}

fn get<H: Handler<T, AppState>, T: 'static>(path: &'static str, need: Need, h: H) -> Route {
    route(Method::GET, path, need, h)
}

fn post<H: Handler<T, AppState>, T: 'static>(path: &'static str, need: Need, h: H) -> Route {
    route(Method::POST, path, need, h)
}

fn patch<H: Handler<T, AppState>, T: 'static>(path: &'static str, need: Need, h: H) -> Route {
    route(Method::PATCH, path, need, h)
}

fn delete<H: Handler<T, AppState>, T: 'static>(path: &'static str, need: Need, h: H) -> Route {
    route(Method::DELETE, path, need, h)
}

/// The REST API, the dashboard, health, metrics and `/ws`. `/ws` is open at the door and
/// authenticates on the socket (its upgrade may carry no header); each subscription is
/// checked against [`crate::web::ws::protocol::ws_need`].
fn table() -> Vec<Route> {
    use Need::*;
    vec![
        get("/", Open, dashboard::index),
        get("/assets/app.js", Open, dashboard::app_js),
        get("/assets/app.css", Open, dashboard::app_css),
        get("/healthz", Open, api::healthz),
        get("/readyz", Open, api::readyz),
        post("/api/session", Open, session::sign_in),
        delete("/api/session", Open, session::sign_out),
        get("/ws", Open, ws::upgrade),
        get("/api/whoami", Known, session::whoami),
        get("/api/tables", Viewer, api::tables),
        get("/api/tables/{name}", Viewer, api::table),
        get("/api/tables/{name}/changes", Viewer, explore::changes),
        get("/api/tables/{name}/profile", Viewer, explore::profile),
        get("/api/search", Viewer, api::search),
        get("/api/sources", Viewer, api::sources),
        get("/api/sources/rates", Viewer, explore::rates),
        get("/api/sources/chart", Viewer, explore::rates_chart),
        get("/api/alerts", Viewer, alerts::list),
        get("/api/alerts/{id}", Viewer, alerts::get_one),
        get("/api/alerts/{id}/events", Viewer, alerts::events),
        get("/api/insights", Viewer, alerts::insights),
        get("/api/windows/{table}", Viewer, alerts::windows),
        post("/api/sql", Analyst, api::sql),
        post("/api/ask", Analyst, api::ask),
        post("/api/chart", Analyst, explore::chart),
        get("/api/quarantine", Analyst, api::quarantine),
        post("/api/alerts", Admin, alerts::create),
        patch("/api/alerts/{id}", Admin, alerts::patch),
        delete("/api/alerts/{id}", Admin, alerts::delete),
        get("/api/tokens", Admin, session::list_tokens),
        post("/api/tokens", Admin, session::create_token),
        delete("/api/tokens/{id}", Admin, session::revoke_token),
        get("/api/audit", Admin, trail::export),
        get("/metrics", Metrics, api::metrics),
    ]
}

/// What `/mcp` needs to be reached at all; each tool then needs what the REST route it calls
/// needs (the caller's credentials travel with the tool's call).
pub const MCP_NEED: Need = Need::Viewer;

/// The policy table, without handlers.
pub fn policies() -> Vec<Policy> {
    table()
        .into_iter()
        .map(|r| Policy {
            method: r.method,
            path: r.path,
            need: r.need,
        })
        .collect()
}

/// The router of [`table`]: each route behind [`door::authorize`] with its need.
pub fn build(state: &AppState) -> Router<AppState> {
    table().into_iter().fold(Router::new(), |router, r| {
        let layer = axum::middleware::from_fn_with_state((state.clone(), r.need), door::authorize);
        router.route(r.path, r.handler.route_layer(layer))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_is_listed_once_and_only_health_and_signing_in_are_open() {
        let p = policies();
        let mut seen = std::collections::HashSet::new();
        for r in &p {
            assert!(
                seen.insert((r.method.clone(), r.path)),
                "{} {}",
                r.method,
                r.path
            );
            if r.need == Need::Open {
                assert!(
                    r.path == "/"
                        || r.path.starts_with("/assets/")
                        || r.path.ends_with("z")
                        || r.path == "/api/session"
                        || r.path == "/ws",
                    "{} {} is open",
                    r.method,
                    r.path
                );
            }
        }
        for kind in crate::web::ws::protocol::WS_KINDS {
            assert_ne!(crate::web::ws::protocol::ws_need(kind), Need::Open);
        }
    }
}
