//! One error table for every door (REST, WebSocket, MCP): a code, its HTTP
//! status and its stable snake_case name. Responses are `{code, message}`; internals are
//! logged, not leaked.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::query::QueryError;

/// Every error a client can see.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorCode {
    /// The request body or parameters are malformed.
    BadRequest,
    /// The SQL does not parse.
    InvalidSql,
    /// The statement would write; streamq's SQL is read-only.
    ReadOnly,
    /// No such table.
    UnknownTable,
    /// The query cannot be planned (unknown column, bad types…).
    InvalidQuery,
    /// The query ran past its timeout.
    QueryTimeout,
    /// The query failed while running.
    QueryFailed,
    /// No such resource.
    NotFound,
    /// The plain-English model is not installed.
    ModelUnavailable,
    /// An alert rule cannot be read or cannot work (the message says why).
    InvalidRule,
    /// The page's `Origin` is not allowed to open a WebSocket.
    OriginNotAllowed,
    /// WebSocket frames were not delivered while the client was not reading.
    FramesMissed,
    /// The feature or source needed is not available here (the message says why).
    NotAvailable,
    /// Something failed inside streamq (details are in the log).
    Internal,
}

impl ErrorCode {
    pub fn status(self) -> StatusCode {
        match self {
            ErrorCode::BadRequest
            | ErrorCode::InvalidSql
            | ErrorCode::InvalidQuery
            | ErrorCode::InvalidRule => StatusCode::BAD_REQUEST,
            ErrorCode::ReadOnly | ErrorCode::OriginNotAllowed => StatusCode::FORBIDDEN,
            ErrorCode::UnknownTable | ErrorCode::NotFound => StatusCode::NOT_FOUND,
            ErrorCode::QueryTimeout => StatusCode::GATEWAY_TIMEOUT,
            ErrorCode::QueryFailed => StatusCode::UNPROCESSABLE_ENTITY,
            ErrorCode::FramesMissed => StatusCode::TOO_MANY_REQUESTS,
            ErrorCode::ModelUnavailable | ErrorCode::NotAvailable => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ErrorCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BadRequest => "bad_request",
            ErrorCode::InvalidSql => "invalid_sql",
            ErrorCode::ReadOnly => "read_only",
            ErrorCode::UnknownTable => "unknown_table",
            ErrorCode::InvalidQuery => "invalid_query",
            ErrorCode::QueryTimeout => "query_timeout",
            ErrorCode::QueryFailed => "query_failed",
            ErrorCode::NotFound => "not_found",
            ErrorCode::ModelUnavailable => "model_unavailable",
            ErrorCode::InvalidRule => "invalid_rule",
            ErrorCode::OriginNotAllowed => "origin_not_allowed",
            ErrorCode::FramesMissed => "frames_missed",
            ErrorCode::NotAvailable => "not_available",
            ErrorCode::Internal => "internal",
        }
    }
}

impl From<&QueryError> for ErrorCode {
    fn from(e: &QueryError) -> Self {
        match e {
            QueryError::Parse(_) => ErrorCode::InvalidSql,
            QueryError::NotReadOnly(_) => ErrorCode::ReadOnly,
            QueryError::UnknownTable(_) => ErrorCode::UnknownTable,
            QueryError::Plan(_) => ErrorCode::InvalidQuery,
            QueryError::Timeout(_) => ErrorCode::QueryTimeout,
            QueryError::Execution(_) => ErrorCode::QueryFailed,
        }
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

impl From<QueryError> for ApiError {
    fn from(e: QueryError) -> Self {
        ApiError::new(ErrorCode::from(&e), e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.code.status(), Json(self)).into_response()
    }
}
