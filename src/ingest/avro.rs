//! Debezium change events in Avro (Confluent wire format), decoded with the writer's schema.
//!
//! apache-avro reads the datum; the Debezium/Kafka Connect semantic types ride on schema
//! attributes (`connect.name`: `io.debezium.time.MicroTimestamp`, `…Decimal`, …) or Avro
//! logical types (`timestamp-micros`, `date`, `decimal`), which are read from the schema JSON
//! here. Schema evolution needs nothing special: every record is read with its own writer
//! schema, and columns are matched by name (a column a later schema drops reads as null).
//!
//! The other way — Connect schema JSON to Avro schema, JSON payload to Avro datum — serves
//! `streamq produce --format avro`.

use std::collections::HashMap;

use apache_avro::Schema;
use apache_avro::reader::datum::GenericDatumReader;
use apache_avro::types::Value as Avro;
use apache_avro::writer::datum::GenericDatumWriter;
use base64::Engine as _;
use serde_json::{Map, Value as Json};

use crate::ingest::change::DecodeError;
use crate::ingest::fields::{
    FieldKind, FieldSpec, bad, infer, logical_kind, param_u8, read_json, unscaled_from_be,
};
use crate::store::events::ControlKind;
use crate::store::value::{DType, Value, parse_timestamp};

/// A writer schema as the registry gave it, parsed and resolved once. Schemas live for the
/// process (a registry id never changes meaning, and there are few), so the parsed schema is
/// leaked to let the resolved reader borrow it.
pub struct AvroWriterSchema {
    pub schema: &'static Schema,
    reader: GenericDatumReader<'static>,
    /// For a Debezium envelope: the `after` row's fields and how to read them.
    pub(crate) row_fields: Option<HashMap<String, FieldSpec>>,
    /// For a Debezium control record (schema change, transaction, heartbeat): its kind.
    pub(crate) control: Option<ControlKind>,
    /// For a row flattened by `ExtractNewRecordState` (a record without `after`): its fields.
    pub(crate) flat_fields: Option<HashMap<String, FieldSpec>>,
    /// The row's columns that declare a logical type (`connect.name`, else `logicalType`).
    pub(crate) logical: Vec<(String, String)>,
}

impl std::fmt::Debug for AvroWriterSchema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AvroWriterSchema")
            .field("schema", &self.schema)
            .finish()
    }
}

/// An Avro schema that does not read, a datum that cannot be written, or a JSON value that is
/// not of its schema.
#[derive(Debug, thiserror::Error)]
pub enum AvroError {
    #[error("invalid Avro schema: {0}")]
    Schema(String),
    #[error("Avro datum cannot be written: {0}")]
    Write(String),
    #[error("{0}")]
    Convert(String),
}

impl AvroWriterSchema {
    pub fn parse(text: &str) -> Result<Self, AvroError> {
        let invalid = |e: &dyn std::fmt::Display| AvroError::Schema(e.to_string());
        let schema: &'static Schema =
            Box::leak(Box::new(Schema::parse_str(text).map_err(|e| invalid(&e))?));
        let reader = GenericDatumReader::builder(schema)
            .build()
            .map_err(|e| invalid(&e))?;
        let json: Json = serde_json::from_str(text).map_err(|e| invalid(&e))?;
        let specs = |rec: &Json| -> HashMap<String, FieldSpec> {
            rec.get("fields")
                .and_then(Json::as_array)
                .map(|fs| {
                    fs.iter()
                        .filter_map(|f| {
                            let name = f.get("name")?.as_str()?.to_string();
                            Some((name, field_spec(f.get("type")?)))
                        })
                        .collect()
                })
                .unwrap_or_default()
        };
        let row_fields = row_record(&json).map(specs);
        let name = json.get("name").and_then(Json::as_str).unwrap_or_default();
        let full = match json.get("namespace").and_then(Json::as_str) {
            Some(ns) if !name.contains('.') => format!("{ns}.{name}"),
            _ => name.to_string(),
        };
        let control = [
            json.get("connect.name").and_then(Json::as_str),
            Some(&*full),
        ]
        .into_iter()
        .flatten()
        .find_map(crate::ingest::control::kind_of_schema);
        let is_record = json.get("type").and_then(Json::as_str) == Some("record");
        let flat_fields =
            (row_fields.is_none() && control.is_none() && is_record).then(|| specs(&json));
        let logical = row_record(&json)
            .or((flat_fields.is_some()).then_some(&json))
            .and_then(|r| r.get("fields"))
            .and_then(Json::as_array)
            .into_iter()
            .flatten()
            .filter_map(|f| {
                let t = non_null(f.get("type")?);
                let name = t
                    .get("connect.name")
                    .or_else(|| t.get("logicalType"))?
                    .as_str()?;
                Some((f.get("name")?.as_str()?.to_string(), name.to_string()))
            })
            .collect();
        Ok(Self {
            schema,
            reader,
            row_fields,
            control,
            flat_fields,
            logical,
        })
    }

    /// Reads one datum.
    pub fn read(&self, datum: &[u8]) -> Result<Avro, DecodeError> {
        let mut r = datum;
        self.reader
            .read_value(&mut r)
            .map_err(|e| DecodeError::InvalidAvro(e.to_string()))
    }
}

/// Every named record in a schema, by full and short name.
fn named_records<'a>(json: &'a Json, ns: Option<&str>, out: &mut HashMap<String, &'a Json>) {
    match json {
        Json::Array(items) => items.iter().for_each(|i| named_records(i, ns, out)),
        Json::Object(o) => {
            let ns_here = o.get("namespace").and_then(Json::as_str).or(ns);
            if o.get("type").and_then(Json::as_str) == Some("record")
                && let Some(name) = o.get("name").and_then(Json::as_str)
            {
                let full = match (name.contains('.'), ns_here) {
                    (false, Some(n)) if !n.is_empty() => format!("{n}.{name}"),
                    _ => name.to_string(),
                };
                let short = full.rsplit('.').next().unwrap_or(&full).to_string();
                out.insert(full.clone(), json);
                out.entry(short).or_insert(json);
                let inner_ns = full.rsplit_once('.').map(|(n, _)| n.to_string());
                if let Some(fs) = o.get("fields").and_then(Json::as_array) {
                    for f in fs {
                        if let Some(t) = f.get("type") {
                            named_records(t, inner_ns.as_deref(), out);
                        }
                    }
                }
            } else if let Some(t) = o.get("type") {
                named_records(t, ns_here, out);
            }
        }
        _ => {}
    }
}

/// The record an envelope's `after` field holds (resolving a by-name reference), if this is a
/// Debezium envelope.
fn row_record(json: &Json) -> Option<&Json> {
    let mut named = HashMap::new();
    named_records(json, None, &mut named);
    let after = json
        .get("fields")?
        .as_array()?
        .iter()
        .find(|f| f.get("name").and_then(Json::as_str) == Some("after"))?
        .get("type")?;
    let branch = non_null(after);
    match branch {
        Json::Object(_) => Some(branch),
        Json::String(name) => named
            .get(name.as_str())
            .or_else(|| named.get(name.rsplit('.').next().unwrap_or(name)))
            .copied(),
        _ => None,
    }
}

/// The non-null branch of a `["null", T]` union (or the type itself).
fn non_null(t: &Json) -> &Json {
    match t {
        Json::Array(branches) => branches
            .iter()
            .find(|b| b.as_str() != Some("null"))
            .unwrap_or(t),
        _ => t,
    }
}

fn scale_of(t: &Json) -> u8 {
    let from_params = t
        .get("connect.parameters")
        .and_then(|p| p.get("scale"))
        .and_then(param_u8);
    t.get("scale")
        .and_then(Json::as_u64)
        .and_then(|n| u8::try_from(n).ok())
        .or(from_params)
        .unwrap_or(0)
}

/// How to read one Avro field, from its (union-stripped) type.
fn field_spec(t: &Json) -> FieldSpec {
    let t = non_null(t);
    let prim = match t {
        Json::String(s) => s.as_str(),
        Json::Object(o) => o.get("type").and_then(Json::as_str).unwrap_or(""),
        _ => "",
    };
    let connect = t.get("connect.name").and_then(Json::as_str).unwrap_or("");
    let logical = t.get("logicalType").and_then(Json::as_str).unwrap_or("");
    let (kind, declared) = match (logical_kind(connect, scale_of(t)), logical) {
        (Some(k), _) => k,
        (None, "timestamp-micros") => (FieldKind::MicroTimestamp, Some(DType::Timestamp)),
        (None, "timestamp-millis") => (FieldKind::MilliTimestamp, Some(DType::Timestamp)),
        (None, "timestamp-nanos") => (FieldKind::NanoTimestamp, Some(DType::TimestampNs)),
        (None, "date") => (FieldKind::EpochDate, Some(DType::Date)),
        (None, "decimal") => {
            let scale = scale_of(t);
            (FieldKind::Decimal(scale), Some(DType::Decimal { scale }))
        }
        (None, "time-millis") => (FieldKind::MilliTime, Some(DType::Time)),
        (None, "time-micros") => (FieldKind::MicroTime, Some(DType::Time)),
        (None, "uuid") => (FieldKind::Text, Some(DType::Utf8)),
        _ => match prim {
            "int" => (FieldKind::Integer, Some(DType::Int32)),
            "long" => (FieldKind::Integer, Some(DType::Int64)),
            "float" | "double" => (FieldKind::Float, Some(DType::Float64)),
            "boolean" => (FieldKind::Plain, Some(DType::Bool)),
            _ => (FieldKind::Plain, None),
        },
    };
    FieldSpec { kind, declared }
}

fn unwrap_union(v: Avro) -> Avro {
    match v {
        Avro::Union(_, inner) => unwrap_union(*inner),
        other => other,
    }
}

/// An Avro value, with no declared meaning, as JSON (for keys and undeclared columns).
pub fn to_json(v: Avro) -> Json {
    match unwrap_union(v) {
        Avro::Null => Json::Null,
        Avro::Boolean(b) => Json::Bool(b),
        Avro::Int(i) | Avro::Date(i) | Avro::TimeMillis(i) => Json::from(i),
        Avro::Long(i)
        | Avro::TimeMicros(i)
        | Avro::TimestampMillis(i)
        | Avro::TimestampMicros(i)
        | Avro::TimestampNanos(i)
        | Avro::LocalTimestampMillis(i)
        | Avro::LocalTimestampMicros(i)
        | Avro::LocalTimestampNanos(i) => Json::from(i),
        Avro::Float(f) => Json::from(f as f64),
        Avro::Double(f) => Json::from(f),
        Avro::String(s) | Avro::Enum(_, s) => Json::String(s),
        Avro::Bytes(b) | Avro::Fixed(_, b) => {
            Json::String(base64::engine::general_purpose::STANDARD.encode(b))
        }
        Avro::Decimal(d) => Json::String(
            base64::engine::general_purpose::STANDARD
                .encode(<Vec<u8>>::try_from(d).unwrap_or_default()),
        ),
        Avro::Uuid(u) => Json::String(u.to_string()),
        Avro::Array(items) => Json::Array(items.into_iter().map(to_json).collect()),
        Avro::Map(m) => Json::Object(m.into_iter().map(|(k, v)| (k, to_json(v))).collect()),
        Avro::Record(fields) => {
            Json::Object(fields.into_iter().map(|(k, v)| (k, to_json(v))).collect())
        }
        other => Json::String(format!("{other:?}")),
    }
}

/// Reads one row column as its declared kind says.
pub(crate) fn read_field(name: &str, v: Avro, spec: &FieldSpec) -> Result<Value, DecodeError> {
    let v = unwrap_union(v);
    if matches!(v, Avro::Null) {
        return Ok(Value::Null);
    }
    let int = |v: &Avro| -> Result<i64, DecodeError> {
        match v {
            Avro::Int(i) | Avro::Date(i) | Avro::TimeMillis(i) => Ok(*i as i64),
            Avro::Long(i)
            | Avro::TimestampMillis(i)
            | Avro::TimestampMicros(i)
            | Avro::TimestampNanos(i)
            | Avro::LocalTimestampMillis(i)
            | Avro::LocalTimestampMicros(i)
            | Avro::LocalTimestampNanos(i)
            | Avro::TimeMicros(i) => Ok(*i),
            other => Err(bad(name, format!("expected an integer, got {other:?}"))),
        }
    };
    Ok(match spec.kind {
        FieldKind::Plain => match v {
            Avro::Boolean(b) => Value::Bool(b),
            other => infer(name, &to_json(other)),
        },
        FieldKind::MicroTimestamp => Value::Timestamp(int(&v)?),
        FieldKind::MilliTimestamp => Value::Timestamp(int(&v)?.saturating_mul(1000)),
        FieldKind::NanoTimestamp => Value::TimestampNs(int(&v)?),
        FieldKind::EpochDate => {
            Value::Date(i32::try_from(int(&v)?).map_err(|_| bad(name, "date out of range"))?)
        }
        FieldKind::IsoTimestamp => match v {
            Avro::String(s) => Value::Timestamp(
                parse_timestamp(&s).ok_or_else(|| bad(name, format!("bad timestamp {s:?}")))?,
            ),
            other => {
                return Err(bad(
                    name,
                    format!("expected a timestamp string, got {other:?}"),
                ));
            }
        },
        FieldKind::Decimal(scale) => {
            let bytes = match v {
                Avro::Decimal(d) => <Vec<u8>>::try_from(d).map_err(|e| bad(name, e.to_string()))?,
                Avro::Bytes(b) | Avro::Fixed(_, b) => b,
                Avro::Double(f) => return Ok(Value::Float(f)),
                other => return Err(bad(name, format!("expected decimal bytes, got {other:?}"))),
            };
            Value::Decimal {
                unscaled: unscaled_from_be(&bytes)
                    .ok_or_else(|| bad(name, format!("decimal of {} bytes", bytes.len())))?,
                scale,
            }
        }
        FieldKind::MilliTime
        | FieldKind::MicroTime
        | FieldKind::NanoTime
        | FieldKind::ZonedTime
        | FieldKind::VariableDecimal
        | FieldKind::Text => read_json(name, &to_json(v), spec)?,
        FieldKind::Integer => Value::Int(int(&v)?),
        FieldKind::Float => match v {
            Avro::Float(f) => Value::Float(f as f64),
            Avro::Double(f) => Value::Float(f),
            other => Value::Float(int(&other)? as f64),
        },
    })
}

/// The envelope fields of a decoded Debezium Avro value.
pub(crate) struct AvroEnvelope {
    pub op: Option<String>,
    pub ts_ms: Option<i64>,
    /// `None` when `before` is null.
    pub before: Option<Vec<(String, Avro)>>,
    /// `None` when `after` is null.
    pub after: Option<Vec<(String, Avro)>>,
}

pub(crate) fn envelope(v: Avro) -> Result<AvroEnvelope, DecodeError> {
    let Avro::Record(fields) = unwrap_union(v) else {
        return Err(DecodeError::NotAnEnvelope(
            "Avro value is not a record".into(),
        ));
    };
    let mut env = AvroEnvelope {
        op: None,
        ts_ms: None,
        before: None,
        after: None,
    };
    let mut has_op = false;
    for (name, v) in fields {
        match name.as_str() {
            "op" => {
                has_op = true;
                if let Avro::String(s) | Avro::Enum(_, s) = unwrap_union(v) {
                    env.op = Some(s);
                }
            }
            "ts_ms" => {
                if let Avro::Long(t) | Avro::TimestampMillis(t) = unwrap_union(v) {
                    env.ts_ms = Some(t);
                }
            }
            "after" => {
                if let Avro::Record(row) = unwrap_union(v) {
                    env.after = Some(row);
                }
            }
            "before" => {
                if let Avro::Record(row) = unwrap_union(v) {
                    env.before = Some(row);
                }
            }
            _ => {}
        }
    }
    if !has_op {
        return Err(DecodeError::NotAnEnvelope(
            "Avro record has no 'op' field".into(),
        ));
    }
    Ok(env)
}

/// The fields of a record datum (a flattened row).
pub(crate) fn record_fields(v: Avro) -> Result<Vec<(String, Avro)>, DecodeError> {
    match unwrap_union(v) {
        Avro::Record(fields) => Ok(fields),
        _ => Err(DecodeError::NotAnEnvelope(
            "Avro value is not a record".into(),
        )),
    }
}

/// An Avro key struct as the JSON object the JSON path would have produced; `None` for a
/// null key (a keyless table).
pub(crate) fn key_object(v: Avro) -> Result<Option<Map<String, Json>>, DecodeError> {
    Ok(match to_json(v) {
        Json::Object(m) => Some(m),
        Json::Null => None,
        other => {
            let mut m = Map::new();
            m.insert("key".into(), other);
            Some(m)
        }
    })
}

/// Writes one datum with `schema`.
pub fn write_datum(schema: &Schema, value: Avro) -> Result<Vec<u8>, AvroError> {
    GenericDatumWriter::builder(schema)
        .build()
        .and_then(|w| w.write_value_to_vec(value))
        .map_err(|e| AvroError::Write(e.to_string()))
}

// ---------------------------------------------------------------------------------------
// Producing: Kafka Connect schema JSON → Avro schema; payload JSON → Avro value.

fn avro_name(s: &str) -> String {
    let mut out: String = s
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    if out.is_empty() || out.as_bytes()[0].is_ascii_digit() {
        out.insert(0, '_');
    }
    out
}

/// The Avro schema Debezium's AvroConverter would write for a Connect schema (`struct` with
/// `fields`, semantic types by `name`). `ns` is the namespace for records without a Connect
/// name; a record defined once is referred to by name afterwards (`before` and `after` share
/// one row record).
pub fn connect_to_avro(connect: &Json, ns: &str, fallback_name: &str) -> Json {
    let mut defined = std::collections::HashSet::new();
    convert(connect, ns, fallback_name, &mut defined)
}

fn convert(
    connect: &Json,
    ns: &str,
    fallback_name: &str,
    defined: &mut std::collections::HashSet<String>,
) -> Json {
    let optional = connect
        .get("optional")
        .and_then(Json::as_bool)
        .unwrap_or(false);
    let t = connect
        .get("type")
        .and_then(Json::as_str)
        .unwrap_or("string");
    let cname = connect.get("name").and_then(Json::as_str);
    let mut out = match (t, cname) {
        ("bytes", Some("org.apache.kafka.connect.data.Decimal")) => {
            let params = connect.get("parameters");
            let scale = params
                .and_then(|p| p.get("scale"))
                .and_then(param_u8)
                .unwrap_or(0);
            let precision = params
                .and_then(|p| p.get("connect.decimal.precision"))
                .and_then(param_u8)
                .unwrap_or(38);
            serde_json::json!({"type": "bytes", "logicalType": "decimal", "precision": precision,
                "scale": scale, "connect.name": "org.apache.kafka.connect.data.Decimal",
                "connect.parameters": {"scale": scale.to_string()}})
        }
        ("struct", _) => {
            let (space, name) = match cname.and_then(|n| n.rsplit_once('.')) {
                Some((space, name)) => (
                    space
                        .split('.')
                        .map(avro_name)
                        .collect::<Vec<_>>()
                        .join("."),
                    avro_name(name),
                ),
                None => (ns.to_string(), avro_name(cname.unwrap_or(fallback_name))),
            };
            let full = format!("{space}.{name}");
            if !defined.insert(full.clone()) {
                Json::String(full)
            } else {
                let fields: Vec<Json> = connect
                    .get("fields")
                    .and_then(Json::as_array)
                    .map(|fs| {
                        fs.iter()
                            .map(|f| {
                                let fname = f.get("field").and_then(Json::as_str).unwrap_or("f");
                                let ty = convert(f, &space, &format!("{name}_{fname}"), defined);
                                let mut field = serde_json::json!({"name": fname, "type": ty});
                                if f.get("optional").and_then(Json::as_bool).unwrap_or(false) {
                                    field["default"] = Json::Null;
                                }
                                field
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                let mut rec = serde_json::json!({"type": "record", "name": name,
                    "namespace": space, "fields": fields});
                if let Some(n) = cname {
                    rec["connect.name"] = Json::String(n.into());
                }
                rec
            }
        }
        (prim, name) => {
            let avro = match prim {
                "int8" | "int16" | "int32" => "int",
                "int64" => "long",
                "float32" | "float" => "float",
                "float64" | "double" => "double",
                "boolean" => "boolean",
                "bytes" => "bytes",
                _ => "string",
            };
            match name {
                Some(n) => serde_json::json!({"type": avro, "connect.name": n}),
                None => Json::String(avro.into()),
            }
        }
    };
    if optional {
        out = serde_json::json!(["null", out]);
    }
    out
}

/// A JSON payload value as an Avro value of schema `schema` (the parsed form of the JSON
/// `connect_to_avro` gave). Decimals arrive as Connect's base64 bytes.
pub fn json_to_avro(json: &Json, schema: &Schema) -> Result<Avro, AvroError> {
    let resolved = apache_avro::schema::ResolvedSchema::try_from(schema)
        .map_err(|e| AvroError::Schema(e.to_string()))?;
    to_avro(json, schema, resolved.get_names()).map_err(AvroError::Convert)
}

fn to_avro(
    json: &Json,
    schema: &Schema,
    names: &HashMap<apache_avro::schema::Name, &Schema>,
) -> Result<Avro, String> {
    let json_to_avro = |j: &Json, s: &Schema| to_avro(j, s, names);
    Ok(match schema {
        Schema::Ref { name } => {
            let target = names
                .get(name)
                .ok_or_else(|| format!("unknown named type {name:?}"))?;
            return json_to_avro(json, target);
        }
        Schema::Union(u) => {
            let variants = u.variants();
            if json.is_null() {
                let idx = variants
                    .iter()
                    .position(|s| matches!(s, Schema::Null))
                    .ok_or("null for a non-nullable union")?;
                Avro::Union(idx as u32, Box::new(Avro::Null))
            } else {
                let (idx, s) = variants
                    .iter()
                    .enumerate()
                    .find(|(_, s)| !matches!(s, Schema::Null))
                    .ok_or("a union with only null")?;
                Avro::Union(idx as u32, Box::new(json_to_avro(json, s)?))
            }
        }
        Schema::Null => Avro::Null,
        Schema::Boolean => Avro::Boolean(json.as_bool().ok_or("expected a boolean")?),
        Schema::Int => Avro::Int(
            json.as_i64()
                .and_then(|i| i32::try_from(i).ok())
                .ok_or_else(|| format!("expected an int, got {json}"))?,
        ),
        Schema::Long => Avro::Long(
            json.as_i64()
                .ok_or_else(|| format!("expected a long, got {json}"))?,
        ),
        Schema::Float => Avro::Float(json.as_f64().ok_or("expected a number")? as f32),
        Schema::Double => Avro::Double(json.as_f64().ok_or("expected a number")?),
        Schema::String => Avro::String(match json {
            Json::String(s) => s.clone(),
            other => other.to_string(),
        }),
        Schema::Bytes => Avro::Bytes(
            base64::engine::general_purpose::STANDARD
                .decode(json.as_str().ok_or("expected base64 bytes")?)
                .map_err(|e| e.to_string())?,
        ),
        Schema::Decimal(_) => Avro::Decimal(apache_avro::Decimal::from(
            base64::engine::general_purpose::STANDARD
                .decode(json.as_str().ok_or("expected base64 decimal bytes")?)
                .map_err(|e| e.to_string())?,
        )),
        Schema::Record(r) => {
            let obj = json.as_object();
            let mut fields = Vec::with_capacity(r.fields.len());
            for f in &r.fields {
                let v = obj.and_then(|o| o.get(&f.name)).unwrap_or(&Json::Null);
                fields.push((
                    f.name.clone(),
                    json_to_avro(v, &f.schema).map_err(|e| format!("{}: {e}", f.name))?,
                ));
            }
            Avro::Record(fields)
        }
        other => return Err(format!("unsupported Avro type {other:?}")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema_v(version: u32) -> String {
        // v1: ID, NAME; v2 adds a nullable EMAIL; v3 drops NAME.
        let mut fields = vec![serde_json::json!({"name": "ID", "type": "long"})];
        if version < 3 {
            fields.push(serde_json::json!({"name": "NAME", "type": "string"}));
        }
        if version >= 2 {
            fields.push(
                serde_json::json!({"name": "EMAIL", "type": ["null", "string"], "default": null}),
            );
        }
        fields.push(serde_json::json!({"name": "AMOUNT", "type": {"type": "bytes", "logicalType": "decimal", "precision": 12, "scale": 2}}));
        fields.push(serde_json::json!({"name": "CREATED_AT", "type": {"type": "long", "connect.name": "io.debezium.time.MicroTimestamp"}}));
        serde_json::json!({
            "type": "record", "name": "Envelope", "namespace": "db2.people",
            "fields": [
                {"name": "before", "type": ["null", {"type": "record", "name": "Value", "fields": fields}], "default": null},
                {"name": "after", "type": ["null", "Value"], "default": null},
                {"name": "op", "type": "string"},
                {"name": "ts_ms", "type": ["null", "long"], "default": null}
            ]
        })
        .to_string()
    }

    #[test]
    fn by_name_row_reference_and_logical_types_are_resolved() {
        let w = AvroWriterSchema::parse(&schema_v(2)).unwrap();
        let f = w.row_fields.as_ref().unwrap();
        assert!(matches!(f["AMOUNT"].kind, FieldKind::Decimal(2)));
        assert!(matches!(f["CREATED_AT"].kind, FieldKind::MicroTimestamp));
        assert!(matches!(f["ID"].kind, FieldKind::Integer));
        assert!(matches!(f["EMAIL"].kind, FieldKind::Plain));
    }

    #[test]
    fn control_records_and_flattened_rows_are_told_by_their_schema() {
        let change = serde_json::json!({"type": "record", "name": "SchemaChangeValue",
            "namespace": "io.debezium.connector.mysql", "fields": [
                {"name": "databaseName", "type": ["null", "string"]},
                {"name": "ddl", "type": ["null", "string"]}]});
        let w = AvroWriterSchema::parse(&change.to_string()).unwrap();
        assert_eq!(w.control, Some(ControlKind::SchemaChanges));
        let named = serde_json::json!({"type": "record", "name": "SchemaChangeValue",
            "namespace": "io.debezium.connector.mysql",
            "connect.name": "io.debezium.connector.mysql.SchemaChangeValue",
            "fields": [{"name": "ddl", "type": ["null", "string"]}]});
        let w = AvroWriterSchema::parse(&named.to_string()).unwrap();
        assert_eq!(w.control, Some(ControlKind::SchemaChanges));
        assert!(w.flat_fields.is_none());
        let flat = serde_json::json!({"type": "record", "name": "Value", "namespace": "db.inv.orders",
            "fields": [{"name": "id", "type": "long"},
                {"name": "at", "type": {"type": "long", "connect.name": "io.debezium.time.MicroTimestamp"}},
                {"name": "__deleted", "type": ["null", "string"]}]});
        let w = AvroWriterSchema::parse(&flat.to_string()).unwrap();
        assert!(w.row_fields.is_none() && w.control.is_none());
        let f = w.flat_fields.as_ref().unwrap();
        assert!(matches!(f["at"].kind, FieldKind::MicroTimestamp));
    }

    #[test]
    fn connect_schema_round_trips_through_avro() {
        let connect = serde_json::json!({"type": "struct", "name": "db2.t.Value", "optional": true, "fields": [
            {"field": "ID", "type": "int64", "optional": false},
            {"field": "AMT", "type": "bytes", "optional": true, "name": "org.apache.kafka.connect.data.Decimal",
             "parameters": {"scale": "2", "connect.decimal.precision": "12"}},
            {"field": "AT", "type": "int64", "optional": true, "name": "io.debezium.time.MicroTimestamp"}
        ]});
        let avro = connect_to_avro(&connect, "db2.t", "Value");
        let text = avro.to_string();
        let w = AvroWriterSchema::parse(
            &serde_json::json!({"type": "record", "name": "Envelope", "namespace": "db2.t", "fields": [
                {"name": "after", "type": avro}, {"name": "op", "type": "string"}]})
            .to_string(),
        )
        .unwrap();
        let payload = serde_json::json!({"after": {"ID": 7, "AMT": crate::ingest::fields::encode_decimal_bytes(-12345), "AT": 1_700_000_000_000_000i64}, "op": "c"});
        let value = json_to_avro(&payload, w.schema).unwrap();
        let bytes = write_datum(w.schema, value).unwrap();
        let env = envelope(w.read(&bytes).unwrap()).unwrap();
        let row = env.after.unwrap();
        let specs = w.row_fields.as_ref().unwrap();
        let got: Vec<Value> = row
            .into_iter()
            .map(|(n, v)| read_field(&n, v, &specs[&n]).unwrap())
            .collect();
        assert_eq!(
            got,
            vec![
                Value::Int(7),
                Value::Decimal {
                    unscaled: -12345,
                    scale: 2
                },
                Value::Timestamp(1_700_000_000_000_000)
            ],
            "{text}"
        );
    }

    #[test]
    fn a_truncated_datum_is_an_error_not_a_panic() {
        let w = AvroWriterSchema::parse(&schema_v(1)).unwrap();
        let payload = serde_json::json!({"before": null, "after": {"ID": 1, "NAME": "ann", "AMOUNT": "AQ==", "CREATED_AT": 5}, "op": "c", "ts_ms": 9});
        let bytes = write_datum(w.schema, json_to_avro(&payload, w.schema).unwrap()).unwrap();
        // apache-avro reads end-of-input in the trailing envelope fields leniently (a missing
        // union index reads as null), so a cut within the last bytes (`op`, `ts_ms`) can decode;
        // every cut into the row itself must fail.
        let mut decoded = Vec::new();
        for cut in 0..bytes.len() {
            if let Ok(v) = w.read(&bytes[..cut]) {
                assert_eq!(envelope(v).unwrap().ts_ms, None, "cut at {cut}");
                decoded.push(cut);
            }
        }
        assert!(
            decoded.iter().all(|c| *c + 4 > bytes.len()),
            "cuts that decoded: {decoded:?} of {}",
            bytes.len()
        );
        assert_eq!(envelope(w.read(&bytes).unwrap()).unwrap().ts_ms, Some(9));
    }

    pub(crate) fn encode_version(version: u32, payload: &Json) -> (String, Vec<u8>) {
        let text = schema_v(version);
        let w = AvroWriterSchema::parse(&text).unwrap();
        let bytes = write_datum(w.schema, json_to_avro(payload, w.schema).unwrap()).unwrap();
        (text, bytes)
    }

    #[test]
    fn schema_evolution_reads_each_record_with_its_writer_schema() {
        let p1 = serde_json::json!({"before": null, "after": {"ID": 1, "NAME": "ann", "AMOUNT": "AQ==", "CREATED_AT": 5}, "op": "c", "ts_ms": 9});
        let p2 = serde_json::json!({"before": null, "after": {"ID": 2, "NAME": "bo", "EMAIL": "b@x", "AMOUNT": "Ag==", "CREATED_AT": 6}, "op": "c", "ts_ms": 9});
        let p3 = serde_json::json!({"before": null, "after": {"ID": 3, "EMAIL": null, "AMOUNT": "Aw==", "CREATED_AT": 7}, "op": "u", "ts_ms": 9});
        let mut cols = Vec::new();
        for (v, p) in [(1, &p1), (2, &p2), (3, &p3)] {
            let (text, bytes) = encode_version(v, p);
            let w = AvroWriterSchema::parse(&text).unwrap();
            let env = envelope(w.read(&bytes).unwrap()).unwrap();
            let names: Vec<String> = env.after.unwrap().into_iter().map(|(n, _)| n).collect();
            cols.push(names);
        }
        assert_eq!(cols[0], ["ID", "NAME", "AMOUNT", "CREATED_AT"]);
        assert_eq!(cols[1], ["ID", "NAME", "EMAIL", "AMOUNT", "CREATED_AT"]);
        assert_eq!(cols[2], ["ID", "EMAIL", "AMOUNT", "CREATED_AT"]);
    }
}
