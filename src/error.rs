//! The error table every door shares (REST, WebSocket, MCP): a code with its stable
//! snake_case name. Each module's error says which code it is ([`HasCode`]); the web layer
//! alone turns codes into HTTP statuses.

/// Every error a client can see.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
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
    /// The query is too deep or too wide to plan safely (the message names the limit).
    QueryTooComplex,
    /// The query needed more memory than the query budget allows.
    QueryMemoryExceeded,
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
    /// The page's `Origin` may not change state or open a WebSocket here.
    OriginNotAllowed,
    /// The request's `Host` is not a name this server answers (DNS-rebinding guard).
    HostNotAllowed,
    /// No credentials, or a token that is unknown, revoked or expired.
    Unauthorized,
    /// The caller's role may not do this (the message says which role it needs).
    Forbidden,
    /// WebSocket frames were not delivered while the client was not reading.
    FramesMissed,
    /// A configured cap is reached (connections, subscriptions, rules…; the message names it).
    LimitReached,
    /// The request or message is larger than allowed (the message names the limit).
    TooLarge,
    /// The feature or source needed is not available here (the message says why).
    NotAvailable,
    /// Something failed inside streamq (details are in the log).
    Internal,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BadRequest => "bad_request",
            ErrorCode::InvalidSql => "invalid_sql",
            ErrorCode::ReadOnly => "read_only",
            ErrorCode::UnknownTable => "unknown_table",
            ErrorCode::InvalidQuery => "invalid_query",
            ErrorCode::QueryTooComplex => "query_too_complex",
            ErrorCode::QueryMemoryExceeded => "query_memory_exceeded",
            ErrorCode::QueryTimeout => "query_timeout",
            ErrorCode::QueryFailed => "query_failed",
            ErrorCode::NotFound => "not_found",
            ErrorCode::ModelUnavailable => "model_unavailable",
            ErrorCode::InvalidRule => "invalid_rule",
            ErrorCode::OriginNotAllowed => "origin_not_allowed",
            ErrorCode::HostNotAllowed => "host_not_allowed",
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::FramesMissed => "frames_missed",
            ErrorCode::LimitReached => "limit_reached",
            ErrorCode::TooLarge => "too_large",
            ErrorCode::NotAvailable => "not_available",
            ErrorCode::Internal => "internal",
        }
    }
}

/// An error that knows which client-visible code it is.
pub trait HasCode {
    fn code(&self) -> ErrorCode;
}
