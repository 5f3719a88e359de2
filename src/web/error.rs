//! The error table as HTTP: every [`ErrorCode`] has its status. Responses are
//! `{code, message}`; internals are logged, not leaked.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

pub use crate::error::{ErrorCode, HasCode};

/// The HTTP status of a code.
pub fn status(code: ErrorCode) -> StatusCode {
    match code {
        ErrorCode::BadRequest
        | ErrorCode::InvalidSql
        | ErrorCode::InvalidQuery
        | ErrorCode::QueryTooComplex
        | ErrorCode::InvalidRule => StatusCode::BAD_REQUEST,
        ErrorCode::ReadOnly
        | ErrorCode::OriginNotAllowed
        | ErrorCode::HostNotAllowed
        | ErrorCode::Forbidden => StatusCode::FORBIDDEN,
        ErrorCode::Unauthorized => StatusCode::UNAUTHORIZED,
        ErrorCode::UnknownTable | ErrorCode::NotFound => StatusCode::NOT_FOUND,
        ErrorCode::QueryTimeout => StatusCode::GATEWAY_TIMEOUT,
        ErrorCode::QueryFailed | ErrorCode::QueryMemoryExceeded => StatusCode::UNPROCESSABLE_ENTITY,
        ErrorCode::FramesMissed | ErrorCode::LimitReached => StatusCode::TOO_MANY_REQUESTS,
        ErrorCode::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        ErrorCode::ModelUnavailable | ErrorCode::NotAvailable => StatusCode::SERVICE_UNAVAILABLE,
        ErrorCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// An error as the API returns it.
#[derive(Debug, Serialize)]
pub struct ApiError {
    #[serde(skip)]
    pub code: ErrorCode,
    #[serde(rename = "code")]
    code_name: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            code_name: code.as_str(),
            message: message.into(),
        }
    }

    /// An internal failure: logged in full, reported without details.
    pub fn internal(e: impl std::fmt::Display) -> Self {
        tracing::error!(error = %e, "internal error");
        Self::new(ErrorCode::Internal, "internal error; see the server log")
    }
}

impl From<crate::query::QueryError> for ApiError {
    fn from(e: crate::query::QueryError) -> Self {
        ApiError::new(e.code(), e.to_string())
    }
}

impl From<crate::llm::AskError> for ApiError {
    fn from(e: crate::llm::AskError) -> Self {
        match e {
            crate::llm::AskError::Query { error, sql } => {
                tracing::warn!(%sql, %error, "generated SQL failed");
                ApiError::from(error)
            }
            e => ApiError::new(e.code(), e.to_string()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let code = self.code;
        let mut r = (status(code), Json(self)).into_response();
        // For the audit trail.
        r.extensions_mut().insert(code);
        r
    }
}

/// A body that could not be read: over the body limit is 413 `too_large`, anything else 400.
impl From<axum::extract::rejection::JsonRejection> for ApiError {
    fn from(e: axum::extract::rejection::JsonRejection) -> Self {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                ErrorCode::TooLarge,
                format!("{} (the request body limit)", e.body_text()),
            )
        } else {
            ApiError::new(ErrorCode::BadRequest, e.body_text())
        }
    }
}
