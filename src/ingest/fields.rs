//! Reading one field's value: its declared shape in a Kafka Connect (or Avro) schema, the
//! Connect encodings (decimal bytes, small parameters), and inference for schemaless JSON.

use base64::Engine as _;
use serde_json::Value as Json;

use crate::ingest::change::DecodeError;
use crate::store::value::{DType, Value, parse_date, parse_timestamp};

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
