//! Cell values and column types as streamq keeps them.

use serde::{Deserialize, Serialize};

/// One cell of a row. Timestamps are microseconds since the Unix epoch (UTC), dates days since
/// the epoch; decimals keep their exact unscaled value and scale.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Timestamp(i64),
    Date(i32),
    Decimal { unscaled: i128, scale: u8 },
}

impl Value {
    /// The narrowest column type that holds this value (`None` for null).
    pub fn dtype(&self, int_is_wide: bool) -> Option<DType> {
        Some(match self {
            Value::Null => return None,
            Value::Bool(_) => DType::Bool,
            Value::Int(_) if int_is_wide => DType::Int64,
            Value::Int(v) if i32::try_from(*v).is_ok() => DType::Int32,
            Value::Int(_) => DType::Int64,
            Value::Float(_) => DType::Float64,
            Value::Str(_) => DType::Utf8,
            Value::Timestamp(_) => DType::Timestamp,
            Value::Date(_) => DType::Date,
            Value::Decimal { scale, .. } => DType::Decimal { scale: *scale },
        })
    }

    /// The value as a float, for numeric columns.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Int(v) => Some(*v as f64),
            Value::Float(v) => Some(*v),
            Value::Decimal { unscaled, scale } => {
                Some(*unscaled as f64 / 10f64.powi(*scale as i32))
            }
            Value::Timestamp(v) => Some(*v as f64),
            Value::Date(v) => Some(*v as f64),
            Value::Bool(b) => Some(if *b { 1.0 } else { 0.0 }),
            _ => None,
        }
    }

    /// The value as JSON: timestamps as RFC 3339 strings, dates as `YYYY-MM-DD`, decimals as
    /// numbers.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Value::Null => serde_json::Value::Null,
            Value::Bool(b) => serde_json::Value::Bool(*b),
            Value::Int(i) => serde_json::Value::from(*i),
            Value::Float(f) => serde_json::Value::from(*f),
            Value::Str(s) => serde_json::Value::String(s.clone()),
            Value::Timestamp(us) => serde_json::Value::String(format_timestamp_us(*us)),
            Value::Date(d) => serde_json::Value::String(format_date(*d)),
            Value::Decimal { .. } => self
                .as_f64()
                .map(serde_json::Value::from)
                .unwrap_or(serde_json::Value::Null),
        }
    }

    /// The value as text, for columns that had to widen to text.
    pub fn to_text(&self) -> Option<String> {
        Some(match self {
            Value::Null => return None,
            Value::Bool(b) => b.to_string(),
            Value::Int(v) => v.to_string(),
            Value::Float(v) => v.to_string(),
            Value::Str(s) => s.clone(),
            Value::Timestamp(us) => format_timestamp_us(*us),
            Value::Date(d) => format_date(*d),
            Value::Decimal { unscaled, scale } => format_decimal(*unscaled, *scale),
        })
    }
}

/// A column's type. `Decimal` is exact in storage and read as DOUBLE in SQL.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum DType {
    Bool,
    Int32,
    Int64,
    Float64,
    Utf8,
    Timestamp,
    Date,
    Decimal { scale: u8 },
}

impl DType {
    /// The SQL name shown in the schema explorer.
    pub fn sql_name(&self) -> &'static str {
        match self {
            DType::Bool => "BOOLEAN",
            DType::Int32 => "INT",
            DType::Int64 => "BIGINT",
            DType::Float64 | DType::Decimal { .. } => "DOUBLE",
            DType::Utf8 => "VARCHAR",
            DType::Timestamp => "TIMESTAMP",
            DType::Date => "DATE",
        }
    }

    /// The type that holds values of both: integers widen, numbers meet at DOUBLE, anything
    /// else that disagrees meets at text (nothing is lost; text shows every value).
    pub fn merge(self, other: DType) -> DType {
        use DType::*;
        if self == other {
            return self;
        }
        match (self, other) {
            (Int32, Int64) | (Int64, Int32) => Int64,
            (
                Int32 | Int64 | Float64 | Decimal { .. },
                Int32 | Int64 | Float64 | Decimal { .. },
            ) => Float64,
            _ => Utf8,
        }
    }
}

/// `2026-03-02T10:00:00Z`, with a fraction only when there is one.
pub fn format_timestamp_us(us: i64) -> String {
    let secs = us.div_euclid(1_000_000);
    let micros = us.rem_euclid(1_000_000) as u32;
    match chrono::DateTime::from_timestamp(secs, micros * 1000) {
        Some(t) if micros == 0 => t.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        Some(t) if micros.is_multiple_of(1000) => t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
        Some(t) => t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string(),
        None => us.to_string(),
    }
}

/// `YYYY-MM-DD` for days since the epoch.
pub fn format_date(days: i32) -> String {
    chrono::NaiveDate::from_ymd_opt(1970, 1, 1)
        .and_then(|d| d.checked_add_signed(chrono::TimeDelta::days(days as i64)))
        .map(|d| d.format("%Y-%m-%d").to_string())
        .unwrap_or_else(|| days.to_string())
}

/// The exact decimal text of an unscaled value.
pub fn format_decimal(unscaled: i128, scale: u8) -> String {
    if scale == 0 {
        return unscaled.to_string();
    }
    let neg = unscaled < 0;
    let digits = unscaled.unsigned_abs().to_string();
    let scale = scale as usize;
    let padded = if digits.len() <= scale {
        format!("{}{}", "0".repeat(scale + 1 - digits.len()), digits)
    } else {
        digits
    };
    let (int, frac) = padded.split_at(padded.len() - scale);
    format!("{}{}.{}", if neg { "-" } else { "" }, int, frac)
}

/// Parses an ISO-8601 timestamp (`2026-03-02T10:00:00Z`, with or without zone or fraction,
/// `T` or space) to microseconds since the epoch, UTC.
pub fn parse_timestamp(s: &str) -> Option<i64> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Some(t.timestamp_micros());
    }
    for fmt in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"] {
        if let Ok(t) = chrono::NaiveDateTime::parse_from_str(s, fmt) {
            return Some(t.and_utc().timestamp_micros());
        }
    }
    None
}

/// Parses an ISO date (`2025-11-03`) to days since the epoch.
pub fn parse_date(s: &str) -> Option<i32> {
    let d = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()?;
    let epoch = chrono::NaiveDate::from_ymd_opt(1970, 1, 1)?;
    i32::try_from((d - epoch).num_days()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_widen_without_losing_values() {
        assert_eq!(DType::Int32.merge(DType::Int64), DType::Int64);
        assert_eq!(DType::Int64.merge(DType::Float64), DType::Float64);
        assert_eq!(
            DType::Decimal { scale: 2 }.merge(DType::Float64),
            DType::Float64
        );
        assert_eq!(DType::Timestamp.merge(DType::Utf8), DType::Utf8);
    }

    #[test]
    fn timestamps_and_dates_round_trip() {
        let us = parse_timestamp("2026-03-02T10:00:00Z").unwrap();
        assert_eq!(format_timestamp_us(us), "2026-03-02T10:00:00Z");
        assert_eq!(
            format_timestamp_us(us + 1500),
            "2026-03-02T10:00:00.001500Z"
        );
        assert_eq!(
            parse_timestamp("2026-03-02 10:00:00.25"),
            Some(us + 250_000)
        );
        let d = parse_date("2026-03-02").unwrap();
        assert_eq!(format_date(d), "2026-03-02");
    }

    #[test]
    fn decimals_format_exactly() {
        assert_eq!(format_decimal(1250, 2), "12.50");
        assert_eq!(format_decimal(-5, 2), "-0.05");
        assert_eq!(format_decimal(7, 0), "7");
    }
}
