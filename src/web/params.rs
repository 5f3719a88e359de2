//! Query-string parameters several handlers read the same way.

use crate::web::error::{ApiError, ErrorCode};

/// A time parameter (`from`, `to`): RFC 3339 or epoch milliseconds, as epoch milliseconds.
pub fn instant_param(v: &Option<String>, what: &str) -> Result<Option<i64>, ApiError> {
    v.as_deref()
        .map(|s| {
            s.parse::<i64>()
                .ok()
                .or_else(|| crate::store::value::parse_timestamp(s).map(|us| us / 1000))
                .ok_or_else(|| {
                    ApiError::new(
                        ErrorCode::BadRequest,
                        format!("'{what}' is not a timestamp (RFC 3339 or epoch ms): {s:?}"),
                    )
                })
        })
        .transpose()
}
