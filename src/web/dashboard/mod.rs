//! The web dashboard: one page and its script and style, built into the binary (nothing is
//! fetched from elsewhere; it works air-gapped). Charts are SVG drawn by the server.

use axum::http::header;
use axum::response::IntoResponse;

const INDEX: &str = include_str!("index.html");
const APP_JS: &str = include_str!("app.js");
const APP_CSS: &str = include_str!("app.css");

/// Everything the page loads comes from this server; the policy makes the browser refuse
/// anything else (images may be `data:`/`blob:` URLs of server-drawn charts).
const CSP: &str = "default-src 'self'; img-src 'self' data: blob:; connect-src 'self'; \
                   style-src 'self'; script-src 'self'; object-src 'none'; base-uri 'none'; \
                   frame-ancestors 'none'; form-action 'self'";

/// `GET /`.
pub async fn index() -> impl IntoResponse {
    (
        [(header::CONTENT_SECURITY_POLICY, CSP)],
        asset("text/html; charset=utf-8", INDEX),
    )
}

/// `GET /assets/app.js`.
pub async fn app_js() -> impl IntoResponse {
    asset("text/javascript; charset=utf-8", APP_JS)
}

/// `GET /assets/app.css`.
pub async fn app_css() -> impl IntoResponse {
    asset("text/css; charset=utf-8", APP_CSS)
}

/// A built-in file, revalidated on every load (a new binary serves new assets).
fn asset(content_type: &'static str, body: &'static str) -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
}
