//! The checks every request passes: its `Host` and (for what changes state, and `/ws`) its
//! `Origin` ([`gate`], on the whole router), then who is calling and whether their role meets
//! the route's [`Need`] ([`authorize`], on each route from [`super::routes`]).

use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::auth::sessions::COOKIE;
use crate::auth::tokens::Verdict;
use crate::auth::{Identity, Need};
use crate::privacy::sight::Sight;
use crate::web::AppState;
use crate::web::error::{ApiError, ErrorCode};
use crate::web::trail;

/// Who is calling, as far as the request says.
#[derive(Clone, Debug)]
pub enum Caller {
    Known(Identity),
    /// Credentials were sent and are not good (the text says why).
    Refused(String),
    /// No credentials (authentication is on).
    Anonymous,
}

impl Caller {
    pub fn identity(&self) -> Option<&Identity> {
        match self {
            Caller::Known(i) => Some(i),
            _ => None,
        }
    }
}

/// What the caller sees unmasked, for handlers that return row values. A request that did
/// not pass [`authorize`] sees no personal data.
pub struct CallerSight(pub Sight);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for CallerSight {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Self, Self::Rejection> {
        Ok(CallerSight(
            parts
                .extensions
                .get::<Caller>()
                .and_then(Caller::identity)
                .map_or_else(Sight::masked, Identity::sight),
        ))
    }
}

/// The session cookie's value, if the request carries one.
pub fn session_cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v.trim())
        .filter(|v| !v.is_empty())
}

/// The bearer token of an `Authorization` header.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, token) = v.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// Who a token is, in the words a refused client reads.
pub fn check_token(st: &AppState, token: &str) -> Caller {
    verdict(st.tokens.check(token))
}

fn verdict(v: Verdict) -> Caller {
    match v {
        Verdict::Valid(i) => Caller::Known(i),
        Verdict::Revoked(id) => Caller::Refused(format!("token {id} is revoked")),
        Verdict::Unknown => {
            Caller::Refused("unknown token (create one with `streamq token create`)".into())
        }
    }
}

/// The caller of a request: a bearer token, else a dashboard session, else nobody. While no
/// token exists, everyone is [`Identity::open`].
pub fn identify(st: &AppState, headers: &HeaderMap) -> Caller {
    if !st.tokens.enabled() {
        return Caller::Known(Identity::open());
    }
    if let Some(token) = bearer(headers) {
        return check_token(st, token);
    }
    if let Some(session) = session_cookie(headers) {
        return match st.sessions.token_of(session) {
            Some(digest) => verdict(st.tokens.check_digest(&digest)),
            None => Caller::Refused("the session has expired or was closed; sign in again".into()),
        };
    }
    Caller::Anonymous
}

/// A 401 with the challenge clients expect.
pub fn unauthorized(message: impl Into<String>) -> Response {
    let mut r = ApiError::new(ErrorCode::Unauthorized, message).into_response();
    r.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        header::HeaderValue::from_static("Bearer realm=\"streamq\""),
    );
    r
}

/// Whether a request changes state (so its Origin is checked).
fn changes_state(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Host on every request; Origin on state-changing ones and on `/ws`.
pub async fn gate(State(st): State<AppState>, req: Request, next: Next) -> Response {
    // In-process calls (MCP's) and HTTP/1.0 carry no Host; no browser sends such a request.
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .or_else(|| req.uri().authority().map(|a| a.to_string()));
    if let Some(host) = host
        && !st.origins.host_allowed(&host)
    {
        tracing::warn!(target: "streamq::auth", %host, path = %req.uri().path(),
            "refused: Host not allowed");
        return ApiError::new(
            ErrorCode::HostNotAllowed,
            format!(
                "this server does not answer as {:?}; add it to server.allowed_hosts",
                crate::web::origin::host_part(&host)
            ),
        )
        .into_response();
    }
    if (changes_state(req.method()) || req.uri().path() == "/ws")
        && let Some(origin) = req.headers().get(header::ORIGIN)
    {
        let origin = origin.to_str().unwrap_or("(not text)").to_string();
        if !st.origins.origin_allowed(&origin) {
            tracing::warn!(target: "streamq::auth", %origin, path = %req.uri().path(),
                "refused: Origin not allowed");
            return ApiError::new(
                ErrorCode::OriginNotAllowed,
                format!(
                    "pages from {origin} may not {} {}; add it to server.allowed_origins",
                    req.method(),
                    req.uri().path()
                ),
            )
            .into_response();
        }
    }
    next.run(req).await
}

/// The route's need against the caller's role. Puts the [`Caller`] in the request for the
/// handler (and `/ws`, which authenticates on the socket when the upgrade carried nothing).
pub async fn authorize(
    State((st, need)): State<(AppState, Need)>,
    mut req: Request,
    next: Next,
) -> Response {
    let caller = identify(&st, req.headers());
    let by_cookie = bearer(req.headers()).is_none() && session_cookie(req.headers()).is_some();
    let asked = trail::audited(req.uri().path(), need == Need::Open)
        .then(|| trail::Asked::of(&req, by_cookie));
    let refusal = match (&caller, need) {
        (_, Need::Open) => None,
        (Caller::Anonymous, _) => Some(unauthorized(
            "sign in: send `Authorization: Bearer <token>` (tokens: `streamq token create`)",
        )),
        (Caller::Refused(why), _) => Some(unauthorized(why.clone())),
        (Caller::Known(i), need) if !need.allows(i.role) => Some(
            ApiError::new(
                ErrorCode::Forbidden,
                format!(
                    "a {} token may not {} {}: it needs {}",
                    i.role.as_str(),
                    req.method(),
                    req.uri().path(),
                    need.roles()
                ),
            )
            .into_response(),
        ),
        (Caller::Known(_), _) => None,
    };
    if let Some(r) = refusal {
        tracing::info!(target: "streamq::auth", method = %req.method(), path = %req.uri().path(),
            who = caller.identity().map_or("-", |i| i.id.as_str()), status = r.status().as_u16(),
            "refused");
        if let Some(asked) = asked {
            trail::record(&st, asked, caller.identity(), &r);
        }
        return r;
    }
    req.extensions_mut().insert(caller.clone());
    let resp = next.run(req).await;
    if let Some(asked) = asked {
        trail::record(&st, asked, caller.identity(), &resp);
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_read_from_the_bearer_header_and_the_session_cookie() {
        let mut h = HeaderMap::new();
        assert_eq!(bearer(&h), None);
        h.insert(header::AUTHORIZATION, "bearer  sq_1_2 ".parse().unwrap());
        assert_eq!(bearer(&h), Some("sq_1_2"));
        h.insert(header::AUTHORIZATION, "Basic abc".parse().unwrap());
        assert_eq!(bearer(&h), None);
        h.insert(
            header::COOKIE,
            "a=1; streamq_session=abc; b=2".parse().unwrap(),
        );
        assert_eq!(session_cookie(&h), Some("abc"));
        h.insert(header::COOKIE, "streamq_session=".parse().unwrap());
        assert_eq!(session_cookie(&h), None);
    }
}
