//! Debezium change-event envelopes in JSON: schemaless and schema-enabled.
//!
//! A record's value is either the envelope itself (`schemas.enable=false`) or
//! `{"schema": …, "payload": <envelope>}`; the schema's logical types (MicroTimestamp, Date,
//! Decimal, …) decide how values are read. Without a schema, types are inferred from the values
//! and from column-name conventions (`*_at`/`*_time` hold times, `*_date`/`*_on` hold dates).

use std::collections::HashMap;
use std::sync::Arc;

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value as Json};

use crate::ingest::avro::{self, AvroWriterSchema};
use crate::ingest::change::{Cell, Change, DecodeError, Op};
use crate::ingest::fields::{FieldKind, FieldSpec, bad, decode_decimal_bytes, infer, param_u8};
use crate::ingest::record::Record;
use crate::ingest::registry::{RegistryError, SchemaRegistry, split_wire};
use crate::store::value::{DType, Value, parse_timestamp};

type FieldMap = Arc<HashMap<String, FieldSpec>>;

/// Decodes records; keeps a small cache of parsed envelope schemas so a schema-enabled stream
/// parses each distinct schema once. Values in the Confluent wire format (magic byte 0 and a
/// schema id) are Avro, read with the writer schema from the registry.
#[derive(Default)]
pub struct Decoder {
    schemas: HashMap<String, FieldMap>,
    registry: Option<Arc<SchemaRegistry>>,
    /// Values larger than this are quarantined (0 = no limit).
    max_value_bytes: usize,
}

#[derive(Deserialize)]
struct Top<'a> {
    #[serde(borrow, default)]
    schema: Option<&'a RawValue>,
    #[serde(borrow, default)]
    payload: Option<&'a RawValue>,
    #[serde(default)]
    after: Option<Map<String, Json>>,
    #[serde(default)]
    op: Option<String>,
    #[serde(default)]
    ts_ms: Option<i64>,
}

#[derive(Deserialize)]
struct Envelope {
    #[serde(default)]
    after: Option<Map<String, Json>>,
    #[serde(default)]
    op: Option<String>,
    #[serde(default)]
    ts_ms: Option<i64>,
}

impl Decoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// A decoder that reads Avro through `registry` and refuses values over `max_value_bytes`.
    pub fn with(registry: Option<Arc<SchemaRegistry>>, max_value_bytes: usize) -> Self {
        Self {
            schemas: HashMap::new(),
            registry,
            max_value_bytes,
        }
    }

    fn writer_schema(&self, id: u32) -> Result<Arc<AvroWriterSchema>, DecodeError> {
        let reg = self
            .registry
            .as_ref()
            .ok_or_else(|| DecodeError::Schema(RegistryError::NotConfigured(id).to_string()))?;
        reg.get(id).map_err(|e| DecodeError::Schema(e.to_string()))
    }

    fn decode_key(&self, key: Option<&[u8]>) -> Result<(Vec<u8>, Vec<String>), DecodeError> {
        match key.and_then(split_wire) {
            Some((id, datum)) => {
                let w = self.writer_schema(id)?;
                let obj = avro::key_object(w.read(datum)?)?;
                let columns = obj.keys().cloned().collect();
                let bytes =
                    serde_json::to_vec(&obj).map_err(|e| DecodeError::InvalidKey(e.to_string()))?;
                Ok((bytes, columns))
            }
            None => decode_key(key),
        }
    }

    fn decode_avro(&self, rec: &Record, id: u32, datum: &[u8]) -> Result<Change, DecodeError> {
        let w = self.writer_schema(id)?;
        let env = avro::envelope(w.read(datum)?)?;
        let op = parse_op(env.op.as_deref())?;
        let (key, key_columns) = self.decode_key(rec.key.as_deref())?;
        if op == Op::Delete {
            return Ok(Change::Delete { key, key_columns });
        }
        let Some(after) = env.after else {
            return Err(DecodeError::MissingAfter((op.code() as char).to_string()));
        };
        let specs = w.row_fields.as_ref();
        let mut cells = Vec::with_capacity(after.len());
        for (name, v) in after {
            let spec = specs.and_then(|f| f.get(&name));
            let (value, declared) = match spec {
                Some(spec) => (avro::read_field(&name, v, spec)?, spec.declared),
                None => (infer(&name, &avro::to_json(v)), None),
            };
            cells.push(Cell {
                original: name,
                value,
                declared,
            });
        }
        Ok(Change::Upsert {
            key,
            key_columns,
            op,
            ts_ms: env.ts_ms.unwrap_or(rec.ts_ms),
            cells,
        })
    }

    /// Decodes one record into the change it makes.
    pub fn decode(&mut self, rec: &Record) -> Result<Change, DecodeError> {
        let Some(value) = rec.value.as_deref() else {
            return Ok(Change::Tombstone);
        };
        if self.max_value_bytes > 0 && value.len() > self.max_value_bytes {
            return Err(DecodeError::TooLarge {
                len: value.len(),
                max: self.max_value_bytes,
            });
        }
        if let Some((id, datum)) = split_wire(value) {
            return self.decode_avro(rec, id, datum);
        }
        let top: Top = serde_json::from_slice(value).map_err(classify_json_error)?;
        let (env, fields) = match (top.schema, top.payload, &top.op) {
            (Some(schema), Some(payload), None) => {
                if payload.get() == "null" {
                    return Ok(Change::Tombstone);
                }
                let env: Envelope = serde_json::from_str(payload.get())
                    .map_err(|e| DecodeError::NotAnEnvelope(e.to_string()))?;
                (env, Some(self.fields_for(schema.get())?))
            }
            _ => (
                Envelope {
                    after: top.after,
                    op: top.op,
                    ts_ms: top.ts_ms,
                },
                None,
            ),
        };
        let op = parse_op(env.op.as_deref())?;
        let (key, key_columns) = self.decode_key(rec.key.as_deref())?;
        if op == Op::Delete {
            return Ok(Change::Delete { key, key_columns });
        }
        let Some(after) = env.after else {
            return Err(DecodeError::MissingAfter((op.code() as char).to_string()));
        };
        let mut cells = Vec::with_capacity(after.len());
        for (name, json) in after {
            let spec = fields.as_ref().and_then(|f| f.get(&name));
            let (value, declared) = match spec {
                Some(spec) => (read_declared(&name, &json, spec)?, spec.declared),
                None => (infer(&name, &json), None),
            };
            cells.push(Cell {
                original: name,
                value,
                declared,
            });
        }
        Ok(Change::Upsert {
            key,
            key_columns,
            op,
            ts_ms: env.ts_ms.unwrap_or(rec.ts_ms),
            cells,
        })
    }

    fn fields_for(&mut self, schema: &str) -> Result<FieldMap, DecodeError> {
        if let Some(f) = self.schemas.get(schema) {
            return Ok(f.clone());
        }
        let parsed: Json = serde_json::from_str(schema)
            .map_err(|e| DecodeError::NotAnEnvelope(format!("bad schema: {e}")))?;
        let row = parsed
            .get("fields")
            .and_then(Json::as_array)
            .and_then(|fs| {
                fs.iter().find(|f| {
                    f.get("field").and_then(Json::as_str) == Some("after")
                        && f.get("fields").is_some()
                })
            })
            .and_then(|f| f.get("fields"))
            .and_then(Json::as_array)
            .ok_or_else(|| DecodeError::NotAnEnvelope("schema has no 'after' struct".into()))?;
        let mut map = HashMap::new();
        for f in row {
            let Some(name) = f.get("field").and_then(Json::as_str) else {
                continue;
            };
            map.insert(name.to_string(), field_spec(f));
        }
        let map = Arc::new(map);
        if self.schemas.len() >= 256 {
            self.schemas.clear();
        }
        self.schemas.insert(schema.to_string(), map.clone());
        Ok(map)
    }
}

fn parse_op(op: Option<&str>) -> Result<Op, DecodeError> {
    match op {
        Some("c") => Ok(Op::Create),
        Some("u") => Ok(Op::Update),
        Some("d") => Ok(Op::Delete),
        Some("r") => Ok(Op::Read),
        Some(other) => Err(DecodeError::UnknownOp(other.to_string())),
        None => Err(DecodeError::NotAnEnvelope("no 'op' field".into())),
    }
}

fn classify_json_error(e: serde_json::Error) -> DecodeError {
    if e.is_syntax() || e.is_eof() {
        DecodeError::InvalidJson(e.to_string())
    } else {
        DecodeError::NotAnEnvelope(e.to_string())
    }
}

fn field_spec(f: &Json) -> FieldSpec {
    let ty = f.get("type").and_then(Json::as_str).unwrap_or("");
    let name = f.get("name").and_then(Json::as_str).unwrap_or("");
    let (kind, declared) = match name {
        "io.debezium.time.MicroTimestamp" => (FieldKind::MicroTimestamp, Some(DType::Timestamp)),
        "io.debezium.time.Timestamp" | "org.apache.kafka.connect.data.Timestamp" => {
            (FieldKind::MilliTimestamp, Some(DType::Timestamp))
        }
        "io.debezium.time.NanoTimestamp" => (FieldKind::NanoTimestamp, Some(DType::Timestamp)),
        "io.debezium.time.ZonedTimestamp" => (FieldKind::IsoTimestamp, Some(DType::Timestamp)),
        "io.debezium.time.Date" | "org.apache.kafka.connect.data.Date" => {
            (FieldKind::EpochDate, Some(DType::Date))
        }
        "org.apache.kafka.connect.data.Decimal" => {
            let scale = f
                .get("parameters")
                .and_then(|p| p.get("scale"))
                .and_then(param_u8)
                .unwrap_or(0);
            (FieldKind::Decimal(scale), Some(DType::Decimal { scale }))
        }
        _ => match ty {
            "int8" | "int16" | "int32" => (FieldKind::Integer, Some(DType::Int32)),
            "int64" => (FieldKind::Integer, Some(DType::Int64)),
            "float" | "float32" | "double" | "float64" => (FieldKind::Float, Some(DType::Float64)),
            "boolean" => (FieldKind::Plain, Some(DType::Bool)),
            // Strings may still be ISO times by naming convention (Hive): infer from values.
            _ => (FieldKind::Plain, None),
        },
    };
    FieldSpec { kind, declared }
}

fn read_declared(name: &str, json: &Json, spec: &FieldSpec) -> Result<Value, DecodeError> {
    if json.is_null() {
        return Ok(Value::Null);
    }
    let int = || {
        json.as_i64()
            .ok_or_else(|| bad(name, format!("expected an integer, got {json}")))
    };
    Ok(match spec.kind {
        FieldKind::Plain => infer(name, json),
        FieldKind::MicroTimestamp => Value::Timestamp(int()?),
        FieldKind::MilliTimestamp => Value::Timestamp(int()?.saturating_mul(1000)),
        FieldKind::NanoTimestamp => Value::Timestamp(int()? / 1000),
        FieldKind::EpochDate => {
            Value::Date(i32::try_from(int()?).map_err(|_| bad(name, "date out of range"))?)
        }
        FieldKind::IsoTimestamp => {
            let s = json
                .as_str()
                .ok_or_else(|| bad(name, "expected a timestamp string"))?;
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
    })
}

/// The key struct → (canonical key bytes, key column names). Accepts the schemaless struct
/// and the schema-enabled `{"schema", "payload"}` form.
fn decode_key(key: Option<&[u8]>) -> Result<(Vec<u8>, Vec<String>), DecodeError> {
    let key = key.ok_or(DecodeError::NullKey)?;
    let json: Json =
        serde_json::from_slice(key).map_err(|e| DecodeError::InvalidKey(e.to_string()))?;
    let obj = match json {
        Json::Object(mut m) if m.contains_key("schema") && m.contains_key("payload") => {
            match m.remove("payload") {
                Some(Json::Object(p)) => p,
                _ => return Err(DecodeError::InvalidKey("payload is not a struct".into())),
            }
        }
        Json::Object(m) => m,
        Json::Null => return Err(DecodeError::NullKey),
        other => {
            // A bare scalar key: the row is identified by the value itself.
            let bytes = other.to_string().into_bytes();
            return Ok((bytes, Vec::new()));
        }
    };
    let columns = obj.keys().cloned().collect();
    let bytes = serde_json::to_vec(&obj).map_err(|e| DecodeError::InvalidKey(e.to_string()))?;
    Ok((bytes, columns))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::fields::encode_decimal_bytes;

    fn rec(key: &str, value: Option<&str>) -> Record {
        Record {
            topic: "db2.transactions".into(),
            partition: 0,
            offset: crate::ident::Offset(7),
            ts_ms: 1,
            key: Some(key.as_bytes().to_vec()),
            value: value.map(|v| v.as_bytes().to_vec()),
        }
    }

    #[test]
    fn schemaless_create_reads_types_from_values_and_names() {
        let r = rec(
            r#"{"TXN_ID":"T1"}"#,
            Some(
                r#"{"before":null,"after":{"TXN_ID":"T1","AMOUNT":12.5,"QTY":3,"CREATED_AT":1772409600123456,"OPENED_ON":16064,"sale_time":"2026-03-02T08:00:01Z"},"source":{},"op":"c","ts_ms":1772409600123,"transaction":null}"#,
            ),
        );
        let Change::Upsert {
            key,
            key_columns,
            op,
            ts_ms,
            cells,
        } = Decoder::new().decode(&r).unwrap()
        else {
            panic!("expected an upsert")
        };
        assert_eq!(key, br#"{"TXN_ID":"T1"}"#);
        assert_eq!(key_columns, vec!["TXN_ID"]);
        assert_eq!(op, Op::Create);
        assert_eq!(ts_ms, 1772409600123);
        let values: Vec<_> = cells.iter().map(|c| c.value.clone()).collect();
        assert_eq!(
            values,
            vec![
                Value::Str("T1".into()),
                Value::Float(12.5),
                Value::Int(3),
                Value::Timestamp(1772409600123456),
                Value::Date(16064),
                Value::Timestamp(parse_timestamp("2026-03-02T08:00:01Z").unwrap()),
            ]
        );
    }

    #[test]
    fn schema_enabled_decimal_and_logical_types_are_used() {
        let amount = encode_decimal_bytes(-1234);
        let v = format!(
            r#"{{"schema":{{"type":"struct","fields":[{{"type":"struct","field":"after","fields":[{{"type":"bytes","name":"org.apache.kafka.connect.data.Decimal","parameters":{{"scale":"2"}},"field":"AMOUNT"}},{{"type":"int64","name":"io.debezium.time.MicroTimestamp","field":"WHEN"}},{{"type":"double","optional":true,"field":"LIMIT"}}]}}]}},"payload":{{"before":null,"after":{{"AMOUNT":"{amount}","WHEN":5,"LIMIT":null}},"op":"u","ts_ms":9}}}}"#
        );
        let Change::Upsert { cells, op, .. } = Decoder::new()
            .decode(&rec(r#"{"ID":1}"#, Some(&v)))
            .unwrap()
        else {
            panic!("expected an upsert")
        };
        assert_eq!(op, Op::Update);
        assert_eq!(
            cells[0].value,
            Value::Decimal {
                unscaled: -1234,
                scale: 2
            }
        );
        assert_eq!(cells[1].value, Value::Timestamp(5));
        assert_eq!(cells[2].value, Value::Null);
        assert_eq!(cells[2].declared, Some(DType::Float64));
    }

    #[test]
    fn decimal_bytes_round_trip() {
        for v in [0i128, 1, -1, 127, 128, -128, -129, 3895497, -99999999999] {
            assert_eq!(
                decode_decimal_bytes(&encode_decimal_bytes(v)),
                Some(v),
                "{v}"
            );
        }
    }

    #[test]
    fn deletes_tombstones_and_bad_records() {
        let mut d = Decoder::new();
        assert!(matches!(
            d.decode(&rec(
                r#"{"ID":1}"#,
                Some(r#"{"before":{"ID":1},"after":null,"op":"d","ts_ms":1}"#)
            )),
            Ok(Change::Delete { .. })
        ));
        assert_eq!(d.decode(&rec(r#"{"ID":1}"#, None)), Ok(Change::Tombstone));
        assert!(matches!(
            d.decode(&rec("{}", Some("{not json"))),
            Err(DecodeError::InvalidJson(_))
        ));
        assert!(matches!(
            d.decode(&rec("{}", Some(r#"{"hello":1}"#))),
            Err(DecodeError::NotAnEnvelope(_))
        ));
        assert!(matches!(
            d.decode(&rec("{}", Some("[1,2]"))),
            Err(DecodeError::NotAnEnvelope(_))
        ));
        assert_eq!(
            d.decode(&rec("{}", Some(r#"{"after":{},"op":"x"}"#))),
            Err(DecodeError::UnknownOp("x".into()))
        );
        let mut no_key = rec("{}", Some(r#"{"after":{"A":1},"op":"c"}"#));
        no_key.key = None;
        assert_eq!(d.decode(&no_key), Err(DecodeError::NullKey));
    }
}
