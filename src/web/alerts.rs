//! Alert rules, insights and windows over REST.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::json;

use crate::live::LiveError;
use crate::live::english::{EnglishError, parse_rule};
use crate::live::rules::Rule;
use crate::llm::AskError;
use crate::web::AppState;
use crate::web::error::{ApiError, ErrorCode};

impl From<LiveError> for ApiError {
    fn from(e: LiveError) -> Self {
        match e {
            LiveError::Rule(r) => ApiError::new(ErrorCode::InvalidRule, r.to_string()),
            LiveError::NotFound(_) => ApiError::new(ErrorCode::NotFound, e.to_string()),
            LiveError::Limit(m) => ApiError::new(ErrorCode::LimitReached, m),
            LiveError::Store(m) => ApiError::internal(m),
        }
    }
}

impl From<EnglishError> for ApiError {
    fn from(e: EnglishError) -> Self {
        match e {
            EnglishError::Ask(a @ AskError::Model(_)) => {
                ApiError::new(ErrorCode::ModelUnavailable, a.to_string())
            }
            other => ApiError::new(ErrorCode::InvalidRule, other.to_string()),
        }
    }
}

/// `POST /api/alerts`: a structured rule, or `{"text": "alert me when …", "name"?, "webhook"?}`.
pub async fn create(
    State(st): State<AppState>,
    extensions: axum::http::Extensions,
    body: Result<Json<serde_json::Value>, JsonRejection>,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    let Json(body) = body.map_err(ApiError::from)?;
    let rule = match body.get("text").and_then(|t| t.as_str()) {
        Some(text) if body.get("table").is_none() => {
            let mut rule = parse_rule(&st.assistant, text).await?;
            rule.name = body
                .get("name")
                .and_then(|v| v.as_str())
                .map(str::to_string);
            rule.webhook = body
                .get("webhook")
                .and_then(|v| v.as_str())
                .map(str::to_string);
            rule.webhook_secret = body
                .get("webhook_secret")
                .and_then(|v| v.as_str())
                .map(str::to_string);
            if let Some(w) = body.get("window_ms").and_then(|v| v.as_i64()) {
                rule.window_ms = w;
            }
            rule
        }
        _ => serde_json::from_value::<Rule>(body)
            .map_err(|e| ApiError::new(ErrorCode::InvalidRule, format!("not a rule: {e}")))?,
    };
    // The webhook URL (its form and where it points) is checked by the live engine's policy.
    let mut rule = rule;
    rule.created_by = extensions
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip().to_string());
    let given_secret = rule.webhook_secret.is_some();
    let status = st.node.live.add_rule(rule)?;
    let mut reply = json!(status);
    // A secret streamq made is shown here once; one the client gave is not echoed.
    if let Some(secret) = st.node.live.webhook_secret(&status.rule.id)
        && !given_secret
    {
        reply["webhook_secret"] = json!(secret);
    }
    Ok((StatusCode::CREATED, Json(reply)))
}

/// `GET /api/alerts`.
pub async fn list(State(st): State<AppState>) -> Json<serde_json::Value> {
    Json(json!({"rules": st.node.live.rules()}))
}

/// `GET /api/alerts/{id}`.
pub async fn get_one(
    State(st): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    Ok(Json(json!(st.node.live.rule(&id)?)))
}

/// `PATCH /api/alerts/{id}`: `{"enabled": true | false}`.
pub async fn patch(
    State(st): State<AppState>,
    Path(id): Path<String>,
    body: Result<Json<serde_json::Value>, JsonRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Json(body) = body.map_err(ApiError::from)?;
    let obj = body.as_object();
    let enabled = obj
        .filter(|o| o.len() == 1)
        .and_then(|o| o.get("enabled"))
        .and_then(|v| v.as_bool())
        .ok_or_else(|| {
            ApiError::new(
                ErrorCode::BadRequest,
                "expected {\"enabled\": true} or {\"enabled\": false}",
            )
        })?;
    Ok(Json(json!(st.node.live.set_enabled(&id, enabled)?)))
}

/// `DELETE /api/alerts/{id}`.
pub async fn delete(
    State(st): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    st.node.live.delete_rule(&id)?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /api/alerts/{id}/events`: firings and resolvings, oldest first.
pub async fn events(
    State(st): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    Ok(Json(json!({"events": st.node.live.rule_events(&id)?})))
}

#[derive(Deserialize)]
pub struct InsightParams {
    pub table: Option<String>,
    pub limit: Option<usize>,
}

/// `GET /api/insights?table=&limit=`: the most recent insights, newest last.
pub async fn insights(
    State(st): State<AppState>,
    Query(p): Query<InsightParams>,
) -> Json<serde_json::Value> {
    let v = st
        .node
        .live
        .insights(p.table.as_deref(), p.limit.unwrap_or(100));
    Json(json!({"insights": v}))
}

/// `GET /api/windows/{table}`: the table's recent windows (counts and numeric statistics).
pub async fn windows(
    State(st): State<AppState>,
    Path(table): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let name = crate::ident::TableName::parse(&table);
    if st.node.catalog.get(&name).is_none() {
        return Err(ApiError::new(
            ErrorCode::UnknownTable,
            format!("no table {table}"),
        ));
    }
    let name = name.to_string();
    Ok(Json(
        json!({"table": name, "windows": st.node.live.windows(&name)}),
    ))
}
