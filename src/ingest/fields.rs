//! Reading one field's value: its declared shape in a Kafka Connect (or Avro) schema, the
//! Connect encodings (decimal bytes, small parameters), and inference for schemaless JSON.

use base64::Engine as _;
use serde_json::Value as Json;

use crate::ingest::change::DecodeError;
use crate::store::value::{DType, Value, parse_date, parse_time_ns, parse_timestamp};

/// The declared shape of one field in a Kafka Connect schema.
#[derive(Clone, Debug)]
pub struct FieldSpec {
    pub kind: FieldKind,
    pub declared: Option<DType>,
}

#[derive(Clone, Copy, Debug)]
pub enum FieldKind {
    /// A plain JSON value; types inferred as in schemaless JSON.
    Plain,
    MicroTimestamp,
    MilliTimestamp,
    NanoTimestamp,
    EpochDate,
    IsoTimestamp,
    Decimal(u8),
    Integer,
    Float,
    /// Milliseconds since midnight (`io.debezium.time.Time`, Connect's `Time`).
    MilliTime,
    /// Microseconds since midnight (`io.debezium.time.MicroTime`).
    MicroTime,
    /// Nanoseconds since midnight (`io.debezium.time.NanoTime`).
    NanoTime,
    /// `10:15:30.123+01:00` (`io.debezium.time.ZonedTime`), kept as the UTC time of day.
    ZonedTime,
    /// `{"scale": 2, "value": <decimal bytes>}` (`io.debezium.data.VariableScaleDecimal`).
    VariableDecimal,
    /// A value kept as text whatever its JSON shape (`Json`, `Xml`, `Bits`, `Geometry`, …).
    Text,
}

/// The reading a Debezium or Kafka Connect logical type name calls for, and the column type it
/// declares (`None`: not a logical type this knows; read by the physical type). `scale` is the
/// schema's `scale` parameter, for `Decimal`.
pub fn logical_kind(name: &str, scale: u8) -> Option<(FieldKind, Option<DType>)> {
    Some(match name {
        "io.debezium.time.MicroTimestamp" => (FieldKind::MicroTimestamp, Some(DType::Timestamp)),
        "io.debezium.time.Timestamp" | "org.apache.kafka.connect.data.Timestamp" => {
            (FieldKind::MilliTimestamp, Some(DType::Timestamp))
        }
        "io.debezium.time.NanoTimestamp" => (FieldKind::NanoTimestamp, Some(DType::TimestampNs)),
        "io.debezium.time.ZonedTimestamp" => (FieldKind::IsoTimestamp, Some(DType::Timestamp)),
        "io.debezium.time.Date" | "org.apache.kafka.connect.data.Date" => {
            (FieldKind::EpochDate, Some(DType::Date))
        }
        "org.apache.kafka.connect.data.Decimal" => {
            (FieldKind::Decimal(scale), Some(DType::Decimal { scale }))
        }
        "io.debezium.time.Time" | "org.apache.kafka.connect.data.Time" => {
            (FieldKind::MilliTime, Some(DType::Time))
        }
        "io.debezium.time.MicroTime" => (FieldKind::MicroTime, Some(DType::Time)),
        "io.debezium.time.NanoTime" => (FieldKind::NanoTime, Some(DType::Time)),
        "io.debezium.time.ZonedTime" => (FieldKind::ZonedTime, Some(DType::Time)),
        // The scale varies by row; the column takes the largest seen.
        "io.debezium.data.VariableScaleDecimal" => (FieldKind::VariableDecimal, None),
        "io.debezium.time.Year" => (FieldKind::Integer, Some(DType::Int32)),
        "io.debezium.data.Json"
        | "io.debezium.data.Xml"
        | "io.debezium.data.Uuid"
        | "io.debezium.data.Enum"
        | "io.debezium.data.EnumSet"
        | "io.debezium.data.Bits"
        | "io.debezium.data.Ltree"
        | "io.debezium.data.geometry.Geometry"
        | "io.debezium.data.geometry.Geography"
        | "io.debezium.data.geometry.Point"
        | "io.debezium.time.Interval" => (FieldKind::Text, Some(DType::Utf8)),
        _ => return None,
    })
}

/// Reads a JSON value as its declared kind says.
pub fn read_json(name: &str, json: &Json, spec: &FieldSpec) -> Result<Value, DecodeError> {
    if json.is_null() {
        return Ok(Value::Null);
    }
    let int = || {
        json.as_i64()
            .ok_or_else(|| bad(name, format!("expected an integer, got {json}")))
    };
    let text = || {
        json.as_str()
            .ok_or_else(|| bad(name, format!("expected a string, got {json}")))
    };
    Ok(match spec.kind {
        FieldKind::Plain => infer(name, json),
        FieldKind::MicroTimestamp => Value::Timestamp(int()?),
        FieldKind::MilliTimestamp => Value::Timestamp(int()?.saturating_mul(1000)),
        FieldKind::NanoTimestamp => Value::TimestampNs(int()?),
        FieldKind::EpochDate => {
            Value::Date(i32::try_from(int()?).map_err(|_| bad(name, "date out of range"))?)
        }
        FieldKind::IsoTimestamp => {
            let s = text()?;
            Value::Timestamp(
                parse_timestamp(s).ok_or_else(|| bad(name, format!("bad timestamp {s:?}")))?,
            )
        }
        FieldKind::Decimal(scale) => match json {
            Json::String(s) => Value::Decimal {
                unscaled: decode_decimal_bytes(s)
                    .ok_or_else(|| bad(name, format!("bad decimal bytes {s:?}")))?,
                scale,
            },
            // Some converters emit decimals as numbers (decimal.handling.mode=double).
            Json::Number(n) => Value::Float(n.as_f64().unwrap_or(f64::NAN)),
            _ => return Err(bad(name, "expected base64 decimal bytes")),
        },
        FieldKind::Integer => Value::Int(int()?),
        FieldKind::Float => Value::Float(
            json.as_f64()
                .ok_or_else(|| bad(name, format!("expected a number, got {json}")))?,
        ),
        FieldKind::MilliTime => Value::Time(time_ns(name, int()?, 1_000_000)?),
        FieldKind::MicroTime => Value::Time(time_ns(name, int()?, 1000)?),
        FieldKind::NanoTime => Value::Time(time_ns(name, int()?, 1)?),
        FieldKind::ZonedTime => {
            let s = text()?;
            Value::Time(parse_time_ns(s).ok_or_else(|| bad(name, format!("bad time {s:?}")))?)
        }
        FieldKind::VariableDecimal => {
            let scale = json.get("scale").and_then(param_u8).ok_or_else(|| {
                bad(
                    name,
                    format!("variable-scale decimal without a scale: {json}"),
                )
            })?;
            let bytes = json.get("value").and_then(Json::as_str).ok_or_else(|| {
                bad(
                    name,
                    format!("variable-scale decimal without a value: {json}"),
                )
            })?;
            Value::Decimal {
                unscaled: decode_decimal_bytes(bytes)
                    .ok_or_else(|| bad(name, format!("bad decimal bytes {bytes:?}")))?,
                scale,
            }
        }
        FieldKind::Text => match json {
            Json::String(s) => Value::Str(s.clone()),
            other => Value::Str(other.to_string()),
        },
    })
}

/// A time of day in `unit` nanoseconds → nanoseconds since midnight, checked.
fn time_ns(name: &str, v: i64, unit: i64) -> Result<i64, DecodeError> {
    v.checked_mul(unit)
        .filter(|ns| (0..=86_400_000_000_000).contains(ns))
        .ok_or_else(|| bad(name, format!("time of day {v} out of range")))
}

/// A column whose value does not match its declared type.
pub fn bad(column: &str, reason: impl Into<String>) -> DecodeError {
    DecodeError::BadValue {
        column: column.to_string(),
        reason: reason.into(),
    }
}

/// Kafka Connect's Decimal: base64 of the unscaled value, two's complement, big-endian.
pub fn decode_decimal_bytes(b64: &str) -> Option<i128> {
    unscaled_from_be(&base64::engine::general_purpose::STANDARD.decode(b64).ok()?)
}

/// A decimal's unscaled value from its big-endian two's-complement bytes (Connect's and
/// Avro's `decimal` encoding); `None` if empty or wider than 128 bits.
pub fn unscaled_from_be(bytes: &[u8]) -> Option<i128> {
    if bytes.is_empty() || bytes.len() > 16 {
        return None;
    }
    let neg = bytes[0] & 0x80 != 0;
    let mut buf = [if neg { 0xff } else { 0 }; 16];
    buf[16 - bytes.len()..].copy_from_slice(bytes);
    Some(i128::from_be_bytes(buf))
}

/// A small schema parameter that Connect writes as a string (`"2"`) and others as a number.
pub fn param_u8(v: &Json) -> Option<u8> {
    match v {
        Json::String(s) => s.parse().ok(),
        Json::Number(n) => n.as_u64().and_then(|n| u8::try_from(n).ok()),
        _ => None,
    }
}

/// Kafka Connect's Decimal bytes for an unscaled value (shortest two's complement form).
pub fn encode_decimal_bytes(unscaled: i128) -> String {
    let full = unscaled.to_be_bytes();
    let mut start = 0;
    while start < 15 {
        let (b, next) = (full[start], full[start + 1]);
        if (b == 0 && next & 0x80 == 0) || (b == 0xff && next & 0x80 != 0) {
            start += 1;
        } else {
            break;
        }
    }
    base64::engine::general_purpose::STANDARD.encode(&full[start..])
}

fn ends_with_ci(name: &str, suffix: &str) -> bool {
    name.len() >= suffix.len()
        && name.as_bytes()[name.len() - suffix.len()..].eq_ignore_ascii_case(suffix.as_bytes())
}

fn name_hints(name: &str) -> (bool, bool) {
    let time = ["_at", "_time", "_ts", "_timestamp"]
        .iter()
        .any(|s| ends_with_ci(name, s))
        || name.eq_ignore_ascii_case("timestamp");
    let date = ["_date", "_on", "_day"]
        .iter()
        .any(|s| ends_with_ci(name, s))
        || name.eq_ignore_ascii_case("date");
    (time, date)
}

/// Reads a schemaless JSON value. Integers in a time-named column with the magnitude of
/// epoch microseconds (or milliseconds) are times; small integers in a date-named column are
/// epoch days; ISO strings in such columns are times and dates.
pub fn infer(name: &str, json: &Json) -> Value {
    match json {
        Json::Null => Value::Null,
        Json::Bool(b) => Value::Bool(*b),
        Json::Number(n) => {
            if let Some(i) = n.as_i64() {
                let (time, date) = name_hints(name);
                let mag = i.unsigned_abs();
                if time && (100_000_000_000_000..100_000_000_000_000_000).contains(&mag) {
                    Value::Timestamp(i)
                } else if time && (100_000_000_000..100_000_000_000_000).contains(&mag) {
                    Value::Timestamp(i * 1000)
                } else if date && mag < 200_000 {
                    Value::Date(i as i32)
                } else {
                    Value::Int(i)
                }
            } else {
                Value::Float(n.as_f64().unwrap_or(f64::NAN))
            }
        }
        Json::String(s) => {
            let (time, date) = name_hints(name);
            if time && let Some(t) = parse_timestamp(s) {
                return Value::Timestamp(t);
            }
            if date && let Some(d) = parse_date(s) {
                return Value::Date(d);
            }
            Value::Str(s.clone())
        }
        other => Value::Str(other.to_string()),
    }
}
