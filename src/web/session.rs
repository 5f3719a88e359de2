//! Signing in and out of the dashboard (a token exchanged for an `HttpOnly`, `SameSite=Strict`
//! session cookie), `whoami`, and token management for admins.

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::json;

use crate::auth::sessions::COOKIE;
use crate::auth::{Role, sha256_hex};
use crate::web::AppState;
use crate::web::door::{Caller, check_token, session_cookie, unauthorized};
use crate::web::error::{ApiError, ErrorCode};

#[derive(Deserialize)]
pub struct SignIn {
    pub token: String,
}

fn cookie(st: &AppState, value: &str, max_age_secs: u64) -> HeaderValue {
    let secure = if st.secure_cookies { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age_secs}{secure}"
    ))
    .expect("a cookie of hex is a header value")
}

/// `POST /api/session {"token"}`: a session cookie for a valid token (the dashboard's sign-in).
pub async fn sign_in(
    State(st): State<AppState>,
    body: Result<Json<SignIn>, JsonRejection>,
) -> Response {
    let Json(req) = match body {
        Ok(b) => b,
        Err(e) => return ApiError::from(e).into_response(),
    };
    if !st.tokens.enabled() {
        return ApiError::new(
            ErrorCode::BadRequest,
            "authentication is off (no token exists): nothing to sign in to",
        )
        .into_response();
    }
    match check_token(&st, &req.token) {
        Caller::Known(who) => {
            let id = st.sessions.open(sha256_hex(req.token.trim()));
            tracing::info!(target: "streamq::auth", token = %who.id, role = who.role.as_str(),
                "dashboard sign-in");
            let mut r =
                Json(json!({"id": who.id, "name": who.name, "role": who.role})).into_response();
            // The audit trail names who signed in.
            r.extensions_mut().insert(who.clone());
            r.headers_mut().insert(
                header::SET_COOKIE,
                cookie(&st, &id, st.sessions.ttl().as_secs()),
            );
            r
        }
        Caller::Refused(why) => unauthorized(why),
        Caller::Anonymous => unauthorized("no token given"),
    }
}

/// `DELETE /api/session`: closes the session and clears the cookie.
pub async fn sign_out(State(st): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(s) = session_cookie(&headers) {
        st.sessions.close(s);
    }
    let mut r = StatusCode::NO_CONTENT.into_response();
    r.headers_mut()
        .insert(header::SET_COOKIE, cookie(&st, "", 0));
    r
}

/// `GET /api/whoami`: the caller's token id, name and role, and whether authentication is on.
pub async fn whoami(State(st): State<AppState>, Extension(caller): Extension<Caller>) -> Response {
    match caller.identity() {
        Some(i) => Json(json!({
            "id": i.id,
            "name": i.name,
            "role": i.role,
            "auth": st.tokens.enabled(),
        }))
        .into_response(),
        None => unauthorized("sign in"),
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, crate::auth::tokens::TokenError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(ApiError::internal)?
        .map_err(|e| match e {
            crate::auth::tokens::TokenError::BadName
            | crate::auth::tokens::TokenError::BadGrant(_) => {
                ApiError::new(ErrorCode::BadRequest, e.to_string())
            }
            e => ApiError::internal(e),
        })
}

/// `GET /api/tokens`: every token, without secrets or digests.
pub async fn list_tokens(State(st): State<AppState>) -> Result<Response, ApiError> {
    let tokens = st.tokens.clone();
    let list = blocking(move || tokens.list()).await?;
    Ok(Json(json!({ "tokens": list })).into_response())
}

#[derive(Deserialize)]
pub struct CreateToken {
    pub name: String,
    pub role: String,
    /// Personal-data columns an analyst's token sees unmasked.
    #[serde(default)]
    pub grants: Vec<String>,
}

/// `POST /api/tokens {"name", "role", "grants"?}`: a new token, shown in this reply only.
pub async fn create_token(
    State(st): State<AppState>,
    body: Result<Json<CreateToken>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(req) = body.map_err(ApiError::from)?;
    let role = Role::parse(&req.role).ok_or_else(|| {
        ApiError::new(
            ErrorCode::BadRequest,
            format!(
                "role {:?}: one of viewer, analyst, admin, metrics",
                req.role
            ),
        )
    })?;
    let tokens = st.tokens.clone();
    let (token, info) = blocking(move || tokens.create(&req.name, role, &req.grants)).await?;
    tracing::info!(target: "streamq::auth", token = %info.id, role = role.as_str(), "token created");
    let mut v = serde_json::to_value(&info).map_err(ApiError::internal)?;
    v["token"] = json!(token);
    Ok((StatusCode::CREATED, Json(v)).into_response())
}

/// `DELETE /api/tokens/{id}`: revokes a token (its sessions end with it).
pub async fn revoke_token(
    State(st): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let tokens = st.tokens.clone();
    let id2 = id.clone();
    if blocking(move || tokens.revoke(&id2)).await? {
        tracing::info!(target: "streamq::auth", token = %id, "token revoked");
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(ApiError::new(ErrorCode::NotFound, format!("no token {id}")))
    }
}
