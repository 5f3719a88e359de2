//! Cell values and column types as streamq keeps them.

use serde::{Deserialize, Serialize};

/// One cell of a row. Timestamps are microseconds since the Unix epoch (UTC), dates days since
/// the epoch, times of day nanoseconds since midnight; decimals keep their exact unscaled value
/// and scale. New variants go at the end: rows are stored with bincode by variant index.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Timestamp(i64),
    Date(i32),
    Decimal {
        unscaled: i128,
        scale: u8,
    },
    Time(i64),
    /// A timestamp to the nanosecond (`NanoTimestamp`): nanoseconds since the epoch, UTC.
    TimestampNs(i64),
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
            Value::Time(_) => DType::Time,
            Value::TimestampNs(_) => DType::TimestampNs,
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
            Value::TimestampNs(v) => Some(*v as f64 / 1000.0),
            Value::Date(v) => Some(*v as f64),
            Value::Bool(b) => Some(if *b { 1.0 } else { 0.0 }),
            _ => None,
        }
    }

    /// The value as JSON: timestamps as RFC 3339 strings, dates as `YYYY-MM-DD`, times as
    /// `HH:MM:SS[.f]`, decimals as numbers when a double holds them exactly, else as strings.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Value::Null => serde_json::Value::Null,
            Value::Bool(b) => serde_json::Value::Bool(*b),
            Value::Int(i) => serde_json::Value::from(*i),
            Value::Float(f) => serde_json::Value::from(*f),
            Value::Str(s) => serde_json::Value::String(s.clone()),
            Value::Timestamp(us) => serde_json::Value::String(format_timestamp_us(*us)),
            Value::Date(d) => serde_json::Value::String(format_date(*d)),
            Value::Decimal { unscaled, scale } => decimal_json(*unscaled, *scale),
            Value::Time(ns) => serde_json::Value::String(format_time_ns(*ns)),
            Value::TimestampNs(ns) => serde_json::Value::String(format_timestamp_ns(*ns)),
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
            Value::Time(ns) => format_time_ns(*ns),
            Value::TimestampNs(ns) => format_timestamp_ns(*ns),
        })
    }
}

/// A column's type. `Decimal` is exact in storage and in SQL (DECIMAL(38, scale)). New
/// variants go at the end (bincode, by variant index).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum DType {
    Bool,
    Int32,
    Int64,
    Float64,
    Utf8,
    Timestamp,
    Date,
    Decimal {
        scale: u8,
    },
    /// A time of day (TIME, nanoseconds).
    Time,
    /// A timestamp to the nanosecond (TIMESTAMP, nanoseconds).
    TimestampNs,
}

impl DType {
    /// The SQL name shown in the schema explorer.
    pub fn sql_name(&self) -> &'static str {
        match self {
            DType::Bool => "BOOLEAN",
            DType::Int32 => "INT",
            DType::Int64 => "BIGINT",
            DType::Float64 => "DOUBLE",
            DType::Decimal { .. } => "DECIMAL",
            DType::Time => "TIME",
            DType::Utf8 => "VARCHAR",
            DType::Timestamp | DType::TimestampNs => "TIMESTAMP",
            DType::Date => "DATE",
        }
    }

    /// The SQL type as results name it: `DECIMAL(38,2)` with its scale, else [`Self::sql_name`].
    pub fn sql_type(&self) -> String {
        match self {
            DType::Decimal { scale } => format!("DECIMAL(38,{scale})"),
            other => other.sql_name().to_string(),
        }
    }

    /// The type that holds values of both: integers widen, decimals take the larger scale (and
    /// hold integers exactly), other numbers meet at DOUBLE, anything else that disagrees meets
    /// at text (nothing is lost; text shows every value).
    pub fn merge(self, other: DType) -> DType {
        use DType::*;
        if self == other {
            return self;
        }
        match (self, other) {
            (Int32, Int64) | (Int64, Int32) => Int64,
            (Decimal { scale: a }, Decimal { scale: b }) => Decimal { scale: a.max(b) },
            (Decimal { scale }, Int32 | Int64) | (Int32 | Int64, Decimal { scale }) => {
                Decimal { scale }
            }
            (Timestamp, TimestampNs) | (TimestampNs, Timestamp) => TimestampNs,
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

/// A nanosecond timestamp as [`format_timestamp_us`] does, with nine digits of fraction
/// when the nanoseconds are not whole microseconds.
pub fn format_timestamp_ns(ns: i64) -> String {
    if ns.rem_euclid(1000) == 0 {
        return format_timestamp_us(ns.div_euclid(1000));
    }
    let secs = ns.div_euclid(1_000_000_000);
    let nanos = ns.rem_euclid(1_000_000_000) as u32;
    match chrono::DateTime::from_timestamp(secs, nanos) {
        Some(t) => t.format("%Y-%m-%dT%H:%M:%S%.9fZ").to_string(),
        None => ns.to_string(),
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

/// A decimal as JSON: a number when a double holds it exactly (its shortest text is the
/// decimal's), else its exact text as a string.
pub fn decimal_json(unscaled: i128, scale: u8) -> serde_json::Value {
    let exact = format_decimal(unscaled, scale);
    let trimmed = if exact.contains('.') {
        exact.trim_end_matches('0').trim_end_matches('.')
    } else {
        exact.as_str()
    };
    if !trimmed.contains('.')
        && let Ok(i) = trimmed.parse::<i64>()
    {
        return serde_json::Value::from(i);
    }
    // The correctly rounded double of the text; it holds the decimal if it prints back as it.
    match trimmed
        .parse::<f64>()
        .ok()
        .and_then(serde_json::Number::from_f64)
    {
        Some(n) if n.as_f64().is_some_and(|f| format!("{f}") == trimmed) => {
            serde_json::Value::Number(n)
        }
        _ => serde_json::Value::String(exact),
    }
}

/// `HH:MM:SS`, with a fraction only when there is one (to the nanosecond).
pub fn format_time_ns(ns: i64) -> String {
    let secs = ns.div_euclid(1_000_000_000);
    let frac = ns.rem_euclid(1_000_000_000);
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    if frac == 0 {
        format!("{h:02}:{m:02}:{s:02}")
    } else {
        let f = format!("{frac:09}");
        format!("{h:02}:{m:02}:{s:02}.{}", f.trim_end_matches('0'))
    }
}

/// Parses a time of day (`10:15:30`, `10:15:30.123456789`, with `Z` or an offset such as
/// `+01:00`, which is taken off: the result is the UTC time of day) to nanoseconds since
/// midnight.
pub fn parse_time_ns(s: &str) -> Option<i64> {
    let (clock, offset_s) = match s.find(['Z', 'z', '+', '-']) {
        Some(at) => {
            let (c, z) = s.split_at(at);
            let off = if z.eq_ignore_ascii_case("z") {
                0
            } else {
                let sign = if z.starts_with('-') { -1 } else { 1 };
                let digits: String = z[1..].chars().filter(char::is_ascii_digit).collect();
                let (h, m) = match digits.len() {
                    2 => (digits.parse::<i64>().ok()?, 0),
                    4 => (digits[..2].parse().ok()?, digits[2..].parse().ok()?),
                    _ => return None,
                };
                sign * (h * 3600 + m * 60)
            };
            (c, off)
        }
        None => (s, 0),
    };
    let t = chrono::NaiveTime::parse_from_str(clock, "%H:%M:%S%.f").ok()?;
    use chrono::Timelike;
    let local = t.num_seconds_from_midnight() as i64 * 1_000_000_000 + t.nanosecond() as i64;
    Some((local - offset_s * 1_000_000_000).rem_euclid(86_400_000_000_000))
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
    fn decimals_are_json_numbers_only_when_a_double_holds_them() {
        assert_eq!(decimal_json(1250, 2), serde_json::json!(12.5));
        assert_eq!(decimal_json(-5, 2), serde_json::json!(-0.05));
        assert_eq!(decimal_json(0, 10), serde_json::json!(0));
        assert_eq!(
            decimal_json(1234567890123456789012, 2),
            serde_json::json!("12345678901234567890.12")
        );
        assert_eq!(
            decimal_json(12345678901234567890123456789, 10),
            serde_json::json!("1234567890123456789.0123456789")
        );
    }

    #[test]
    fn times_of_day_parse_and_format_to_the_nanosecond() {
        let ns = parse_time_ns("10:15:30.123456789").unwrap();
        assert_eq!(format_time_ns(ns), "10:15:30.123456789");
        assert_eq!(parse_time_ns("10:15:30+01:00"), parse_time_ns("09:15:30"));
        assert_eq!(parse_time_ns("00:30:00-01:00"), parse_time_ns("01:30:00"));
        assert_eq!(parse_time_ns("10:15:30Z"), parse_time_ns("10:15:30"));
        assert_eq!(format_time_ns(0), "00:00:00");
        assert_eq!(parse_time_ns("25:00:00"), None);
    }

    #[test]
    fn nanosecond_timestamps_keep_their_nanoseconds() {
        assert_eq!(
            format_timestamp_ns(1_772_409_600_123_456_789),
            "2026-03-02T00:00:00.123456789Z"
        );
        assert_eq!(
            format_timestamp_ns(1_772_409_600_123_456_000),
            "2026-03-02T00:00:00.123456Z"
        );
        assert_eq!(
            DType::Timestamp.merge(DType::TimestampNs),
            DType::TimestampNs
        );
    }

    #[test]
    fn decimals_format_exactly() {
        assert_eq!(format_decimal(1250, 2), "12.50");
        assert_eq!(format_decimal(-5, 2), "-0.05");
        assert_eq!(format_decimal(7, 0), "7");
    }
}
