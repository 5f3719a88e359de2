//! Arrow results as JSON: numbers as numbers (a decimal a double cannot hold exactly as its
//! exact text, a string), timestamps as ISO-8601 UTC strings, dates as `YYYY-MM-DD`, times as
//! `HH:MM:SS[.f]`, NULL as null.

use datafusion::arrow::array::{Array, ArrayRef, AsArray};
use datafusion::arrow::datatypes::{
    DataType, Date32Type, Date64Type, Decimal128Type, Float16Type, Float32Type, Float64Type,
    Int8Type, Int16Type, Int32Type, Int64Type, Time64MicrosecondType, Time64NanosecondType,
    TimeUnit, TimestampMicrosecondType, TimestampMillisecondType, TimestampNanosecondType,
    TimestampSecondType, UInt8Type, UInt16Type, UInt32Type, UInt64Type,
};
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use serde_json::Value as Json;

use crate::store::value::{
    decimal_json, format_date, format_time_ns, format_timestamp_ns, format_timestamp_us,
};

fn num(v: f64) -> Json {
    serde_json::Number::from_f64(v)
        .map(Json::Number)
        .unwrap_or(Json::Null)
}

/// The JSON value of row `i` of `array`.
pub fn cell(array: &ArrayRef, i: usize) -> Json {
    if array.is_null(i) {
        return Json::Null;
    }
    match array.data_type() {
        DataType::Boolean => Json::Bool(array.as_boolean().value(i)),
        DataType::Int8 => array.as_primitive::<Int8Type>().value(i).into(),
        DataType::Int16 => array.as_primitive::<Int16Type>().value(i).into(),
        DataType::Int32 => array.as_primitive::<Int32Type>().value(i).into(),
        DataType::Int64 => array.as_primitive::<Int64Type>().value(i).into(),
        DataType::UInt8 => array.as_primitive::<UInt8Type>().value(i).into(),
        DataType::UInt16 => array.as_primitive::<UInt16Type>().value(i).into(),
        DataType::UInt32 => array.as_primitive::<UInt32Type>().value(i).into(),
        DataType::UInt64 => array.as_primitive::<UInt64Type>().value(i).into(),
        DataType::Float16 => num(array.as_primitive::<Float16Type>().value(i).to_f64()),
        DataType::Float32 => num(array.as_primitive::<Float32Type>().value(i) as f64),
        DataType::Float64 => num(array.as_primitive::<Float64Type>().value(i)),
        DataType::Decimal128(_, scale) => {
            let v = array.as_primitive::<Decimal128Type>().value(i);
            match u8::try_from(*scale) {
                Ok(scale) => decimal_json(v, scale),
                // A negative scale: the unscaled value times a power of ten.
                Err(_) => num(v as f64 * 10f64.powi(-(*scale as i32))),
            }
        }
        DataType::Time64(TimeUnit::Nanosecond) => Json::String(format_time_ns(
            array.as_primitive::<Time64NanosecondType>().value(i),
        )),
        DataType::Time64(TimeUnit::Microsecond) => Json::String(format_time_ns(
            array.as_primitive::<Time64MicrosecondType>().value(i) * 1000,
        )),
        DataType::Utf8 => Json::String(array.as_string::<i32>().value(i).to_string()),
        DataType::LargeUtf8 => Json::String(array.as_string::<i64>().value(i).to_string()),
        DataType::Utf8View => Json::String(array.as_string_view().value(i).to_string()),
        DataType::Timestamp(unit, _) => {
            let us = match unit {
                TimeUnit::Second => {
                    array.as_primitive::<TimestampSecondType>().value(i) * 1_000_000
                }
                TimeUnit::Millisecond => {
                    array.as_primitive::<TimestampMillisecondType>().value(i) * 1000
                }
                TimeUnit::Microsecond => array.as_primitive::<TimestampMicrosecondType>().value(i),
                TimeUnit::Nanosecond => {
                    return Json::String(format_timestamp_ns(
                        array.as_primitive::<TimestampNanosecondType>().value(i),
                    ));
                }
            };
            Json::String(format_timestamp_us(us))
        }
        DataType::Date32 => Json::String(format_date(array.as_primitive::<Date32Type>().value(i))),
        DataType::Date64 => Json::String(format_date(
            (array.as_primitive::<Date64Type>().value(i) / 86_400_000) as i32,
        )),
        _ => {
            let opts = FormatOptions::default();
            match ArrayFormatter::try_new(array.as_ref(), &opts) {
                Ok(f) => Json::String(f.value(i).to_string()),
                Err(_) => Json::Null,
            }
        }
    }
}

/// The SQL-ish name of an Arrow type, for result column metadata.
pub fn type_name(t: &DataType) -> String {
    match t {
        DataType::Boolean => "BOOLEAN".into(),
        DataType::Int8 | DataType::Int16 | DataType::Int32 => "INT".into(),
        DataType::Int64 => "BIGINT".into(),
        DataType::UInt8 | DataType::UInt16 | DataType::UInt32 | DataType::UInt64 => {
            "UBIGINT".into()
        }
        DataType::Float16 | DataType::Float32 | DataType::Float64 => "DOUBLE".into(),
        DataType::Decimal128(p, s) => format!("DECIMAL({p},{s})"),
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => "VARCHAR".into(),
        DataType::Timestamp(..) => "TIMESTAMP".into(),
        DataType::Date32 | DataType::Date64 => "DATE".into(),
        DataType::Time32(_) | DataType::Time64(_) => "TIME".into(),
        other => other.to_string(),
    }
}
