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
use crate::ingest::control;
use crate::ingest::fields::{FieldKind, FieldSpec, infer, logical_kind, param_u8, read_json};
use crate::ingest::record::Record;
use crate::ingest::registry::{RegistryError, SchemaRegistry, split_wire};
use crate::store::events::{ControlKind, SourceBlock};
use crate::store::value::DType;

type FieldMap = Arc<HashMap<String, FieldSpec>>;

/// What a Connect schema describes: a Debezium envelope (its row's fields), a flattened row
/// (`ExtractNewRecordState`: the row's fields at the top), or a control record.
#[derive(Clone)]
enum Shape {
    Envelope(FieldMap),
    Flat(FieldMap),
    Control(ControlKind),
}

/// Decodes records; keeps a small cache of parsed envelope schemas so a schema-enabled stream
/// parses each distinct schema once. Values in the Confluent wire format (magic byte 0 and a
/// schema id) are Avro, read with the writer schema from the registry.
#[derive(Default)]
pub struct Decoder {
    schemas: HashMap<String, Shape>,
    registry: Option<Arc<SchemaRegistry>>,
    /// Values larger than this are quarantined (0 = no limit).
    max_value_bytes: usize,
    /// Topics whose values are flattened rows even without Debezium's `__` markers.
    flattened: Arc<Vec<String>>,
    /// The first envelope `source` block seen.
    source: Option<SourceBlock>,
    /// Each column's logical type name as its schemas declare it (`io.debezium.time.NanoTime`).
    logical: std::collections::BTreeMap<String, String>,
    /// The Avro writer schemas whose logical names are in `logical`.
    avro_seen: std::collections::HashSet<u32>,
}

#[derive(Deserialize)]
struct Top<'a> {
    #[serde(borrow, default)]
    schema: Option<&'a RawValue>,
    #[serde(borrow, default)]
    payload: Option<&'a RawValue>,
    #[serde(default)]
    before: Option<Map<String, Json>>,
    #[serde(default)]
    after: Option<Map<String, Json>>,
    #[serde(default)]
    op: Option<String>,
    #[serde(default)]
    ts_ms: Option<i64>,
    #[serde(borrow, default)]
    source: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow, default)]
    source: Option<&'a RawValue>,
    #[serde(default)]
    before: Option<Map<String, Json>>,
    #[serde(default)]
    after: Option<Map<String, Json>>,
    #[serde(default)]
    op: Option<String>,
    #[serde(default)]
    ts_ms: Option<i64>,
}

/// A record's key: its canonical bytes and key column names; `None` for a keyless table's
/// record (Debezium sends a null key).
type Key = Option<(Vec<u8>, Vec<String>)>;

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
            flattened: Arc::default(),
            source: None,
            logical: Default::default(),
            avro_seen: Default::default(),
        }
    }

    /// Each column's logical type name, as the schemas seen so far declare them.
    pub fn logical_names(&self) -> &std::collections::BTreeMap<String, String> {
        &self.logical
    }

    fn note_logical(&mut self, names: impl IntoIterator<Item = (String, String)>) {
        for (column, name) in names {
            self.logical.insert(column, name);
        }
    }

    /// The `source` block of the first envelope decoded that had one.
    pub fn source(&self) -> Option<&SourceBlock> {
        self.source.as_ref()
    }

    fn note_source(&mut self, raw: Option<&RawValue>) {
        if self.source.is_some() {
            return;
        }
        let Some(Ok(Json::Object(m))) = raw.map(|r| serde_json::from_str::<Json>(r.get())) else {
            return;
        };
        let text = |k: &str| m.get(k).and_then(Json::as_str).map(str::to_string);
        self.source = Some(SourceBlock {
            connector: text("connector"),
            name: text("name"),
            db: text("db"),
            schema: text("schema"),
            table: text("table"),
        });
    }

    /// Topics (patterns with `*`) whose values are rows flattened by `ExtractNewRecordState`
    /// without `add.fields` markers (`ingest.flattened_topics`).
    pub fn with_flattened(mut self, patterns: Vec<String>) -> Self {
        self.flattened = Arc::new(patterns);
        self
    }

    fn writer_schema(&self, id: u32) -> Result<Arc<AvroWriterSchema>, DecodeError> {
        let reg = self
            .registry
            .as_ref()
            .ok_or_else(|| DecodeError::Schema(RegistryError::NotConfigured(id).to_string()))?;
        reg.get(id).map_err(|e| DecodeError::Schema(e.to_string()))
    }

    fn decode_key(&self, key: Option<&[u8]>) -> Result<Key, DecodeError> {
        match key.and_then(split_wire) {
            Some((id, datum)) => {
                let w = self.writer_schema(id)?;
                let Some(obj) = avro::key_object(w.read(datum)?)? else {
                    return Ok(None);
                };
                let columns = obj.keys().cloned().collect();
                let bytes =
                    serde_json::to_vec(&obj).map_err(|e| DecodeError::InvalidKey(e.to_string()))?;
                Ok(Some((bytes, columns)))
            }
            None => decode_key(key),
        }
    }

    fn decode_avro(&mut self, rec: &Record, id: u32, datum: &[u8]) -> Result<Change, DecodeError> {
        let w = self.writer_schema(id)?;
        if self.avro_seen.insert(id) {
            self.note_logical(w.logical.clone());
        }
        if let Some(kind) = w.control {
            let Json::Object(v) = avro::to_json(w.read(datum)?) else {
                return Err(DecodeError::NotAnEnvelope(
                    "Avro control record is not a record".into(),
                ));
            };
            let (ts_ms, kind) = control::read(kind, &v, rec.ts_ms);
            return Ok(Change::Control { ts_ms, kind });
        }
        if let Some(specs) = &w.flat_fields {
            let (marks, row): (Vec<_>, Vec<_>) = avro::record_fields(w.read(datum)?)?
                .into_iter()
                .partition(|(name, _)| name.starts_with("__"));
            let marks: Map<String, Json> = marks
                .into_iter()
                .map(|(k, v)| (k, avro::to_json(v)))
                .collect();
            let (op, ts_ms) = match flat_marks(&marks, rec.ts_ms)? {
                Flat::Truncate(ts_ms) => return Ok(Change::Truncate { ts_ms }),
                Flat::Op(op, ts_ms) => (op, ts_ms),
            };
            let key = self.decode_key(rec.key.as_deref())?;
            let image = avro_cells(row, Some(specs))?;
            return match op {
                Op::Delete => change_of(op, ts_ms, key, Some(image), None),
                _ => change_of(op, ts_ms, key, None, Some(image)),
            };
        }
        let env = avro::envelope(w.read(datum)?)?;
        let ts_ms = env.ts_ms.unwrap_or(rec.ts_ms);
        if env.op.as_deref() == Some("t") {
            return Ok(Change::Truncate { ts_ms });
        }
        let op = parse_op(env.op.as_deref())?;
        let specs = w.row_fields.as_ref();
        let key = self.decode_key(rec.key.as_deref())?;
        let before = env.before.map(|b| avro_cells(b, specs)).transpose()?;
        let after = env.after.map(|a| avro_cells(a, specs)).transpose()?;
        change_of(op, ts_ms, key, before, after)
    }

    /// Decodes one record into the change it makes.
    pub fn decode(&mut self, rec: &Record) -> Result<Change, DecodeError> {
        let Some(value) = rec.value.as_deref() else {
            let key = self.decode_key(rec.key.as_deref()).ok().flatten();
            return Ok(Change::Tombstone {
                key: key.map(|k| k.0),
            });
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
        let top: Top = match serde_json::from_slice(value) {
            Ok(top) => top,
            Err(e) if e.is_syntax() || e.is_eof() => {
                return Err(DecodeError::InvalidJson(e.to_string()));
            }
            // Not an envelope's fields (a flattened row's own `ts_ms`, say): read as an object.
            Err(e) => return self.decode_plain(rec, value, e.to_string()),
        };
        match (top.schema, top.payload, &top.op) {
            (Some(schema), Some(payload), None) => {
                if payload.get() == "null" {
                    let key = self.decode_key(rec.key.as_deref()).ok().flatten();
                    return Ok(Change::Tombstone {
                        key: key.map(|k| k.0),
                    });
                }
                match self.shape_of(schema.get())? {
                    Shape::Envelope(fields) => {
                        let env: Envelope = serde_json::from_str(payload.get())
                            .map_err(|e| DecodeError::NotAnEnvelope(e.to_string()))?;
                        self.note_source(env.source);
                        self.envelope(rec, env, Some(&fields))
                    }
                    Shape::Flat(fields) => {
                        let row = object(payload.get())?;
                        self.flat(rec, row, Some(&fields))
                    }
                    Shape::Control(kind) => {
                        let (ts_ms, kind) = control::read(kind, &object(payload.get())?, rec.ts_ms);
                        Ok(Change::Control { ts_ms, kind })
                    }
                }
            }
            (_, _, Some(_)) => {
                self.note_source(top.source);
                self.envelope(
                    rec,
                    Envelope {
                        source: None,
                        before: top.before,
                        after: top.after,
                        op: top.op,
                        ts_ms: top.ts_ms,
                    },
                    None,
                )
            }
            _ => self.decode_plain(rec, value, "no 'op' field".into()),
        }
    }

    /// A schemaless value that is no envelope: a control record, a flattened row, or not
    /// Debezium's (`why` says what was missing).
    fn decode_plain(&self, rec: &Record, value: &[u8], why: String) -> Result<Change, DecodeError> {
        let Ok(Json::Object(v)) = serde_json::from_slice::<Json>(value) else {
            return Err(DecodeError::NotAnEnvelope(why));
        };
        // Markers make it a flattened row; a listed topic holds rows.
        let marked = v.keys().any(|k| FLAT_MARKERS.contains(&k.as_str()));
        if marked || self.flattened.iter().any(|p| glob(p, &rec.topic)) {
            return self.flat(rec, v, None);
        }
        if let Some(kind) = control::kind_of_value(&rec.topic, &v) {
            let (ts_ms, kind) = control::read(kind, &v, rec.ts_ms);
            return Ok(Change::Control { ts_ms, kind });
        }
        Err(DecodeError::NotAnEnvelope(format!(
            "{why} (if the topic holds rows flattened by ExtractNewRecordState, list it in \
             ingest.flattened_topics)"
        )))
    }

    /// An envelope: the change its op makes to the keyed (or keyless) table.
    fn envelope(
        &self,
        rec: &Record,
        env: Envelope,
        fields: Option<&FieldMap>,
    ) -> Result<Change, DecodeError> {
        let ts_ms = env.ts_ms.unwrap_or(rec.ts_ms);
        if env.op.as_deref() == Some("t") {
            return Ok(Change::Truncate { ts_ms });
        }
        let op = parse_op(env.op.as_deref())?;
        let key = self.decode_key(rec.key.as_deref())?;
        // A keyed delete needs no row image.
        let before = match (&key, op) {
            (None, Op::Update | Op::Delete) => {
                env.before.map(|b| cells_of(b, fields)).transpose()?
            }
            _ => None,
        };
        let after = match op {
            Op::Delete => None,
            _ => env.after.map(|a| cells_of(a, fields)).transpose()?,
        };
        change_of(op, ts_ms, key, before, after)
    }

    /// A row flattened by `ExtractNewRecordState`: the `__op`, `__deleted` and
    /// `__source_ts_ms`/`__ts_ms` markers (`add.fields`, `delete.handling.mode=rewrite`) say
    /// what happened; every `__` field is Debezium's, not the row's. Without `__op`, an upsert.
    fn flat(
        &self,
        rec: &Record,
        mut row: Map<String, Json>,
        fields: Option<&FieldMap>,
    ) -> Result<Change, DecodeError> {
        let (op, ts_ms) = match flat_marks(&row, rec.ts_ms)? {
            Flat::Truncate(ts_ms) => return Ok(Change::Truncate { ts_ms }),
            Flat::Op(op, ts_ms) => (op, ts_ms),
        };
        row.retain(|k, _| !k.starts_with("__"));
        let key = self.decode_key(rec.key.as_deref())?;
        let image = cells_of(row, fields)?;
        match op {
            Op::Delete => change_of(op, ts_ms, key, Some(image), None),
            _ => change_of(op, ts_ms, key, None, Some(image)),
        }
    }

    fn shape_of(&mut self, schema: &str) -> Result<Shape, DecodeError> {
        if let Some(f) = self.schemas.get(schema) {
            return Ok(f.clone());
        }
        let parsed: Json = serde_json::from_str(schema)
            .map_err(|e| DecodeError::NotAnEnvelope(format!("bad schema: {e}")))?;
        let shape = shape(&parsed)?;
        self.note_logical(logical_names(&parsed));
        if self.schemas.len() >= 256 {
            self.schemas.clear();
        }
        self.schemas.insert(schema.to_string(), shape.clone());
        Ok(shape)
    }
}

/// What a flattened row's markers say: a truncate, or the op and its time.
enum Flat {
    Truncate(i64),
    Op(Op, i64),
}

/// Reads `__deleted` (`delete.handling.mode=rewrite`), `__op` and `__source_ts_ms`/`__ts_ms`
/// (`add.fields`); without `__op`, an upsert (`u`), at the record's time without a time.
fn flat_marks(row: &Map<String, Json>, record_ts_ms: i64) -> Result<Flat, DecodeError> {
    let deleted = match row.get("__deleted") {
        None | Some(Json::Null) => false,
        Some(Json::Bool(b)) => *b,
        Some(Json::String(s)) if s == "true" => true,
        Some(Json::String(s)) if s == "false" => false,
        Some(other) => {
            return Err(DecodeError::BadMarker(format!(
                "__deleted is {other}, not true or false"
            )));
        }
    };
    let marker = row.get("__op").and_then(Json::as_str);
    let ts_ms = ["__source_ts_ms", "__ts_ms"]
        .iter()
        .find_map(|k| row.get(*k).and_then(Json::as_i64))
        .unwrap_or(record_ts_ms);
    if marker == Some("t") {
        return Ok(Flat::Truncate(ts_ms));
    }
    let op = match marker {
        _ if deleted => Op::Delete,
        None => Op::Update,
        m => parse_op(m)?,
    };
    Ok(Flat::Op(op, ts_ms))
}

/// An Avro row's cells, read with the writer schema's declared fields where there are some.
fn avro_cells(
    row: Vec<(String, apache_avro::types::Value)>,
    specs: Option<&HashMap<String, FieldSpec>>,
) -> Result<Vec<Cell>, DecodeError> {
    let mut cells = Vec::with_capacity(row.len());
    for (name, v) in row {
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
    Ok(cells)
}

/// The `add.fields` markers `ExtractNewRecordState` writes (with its default `__` prefix).
const FLAT_MARKERS: [&str; 5] = ["__op", "__deleted", "__source_ts_ms", "__ts_ms", "__table"];

/// `*` matches any run of characters; everything else itself.
fn glob(pattern: &str, s: &str) -> bool {
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or_default();
    let Some(mut rest) = s.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    for (i, p) in parts.iter().enumerate() {
        if i + 1 == parts.len() {
            return rest.ends_with(p);
        }
        match rest.find(p) {
            Some(at) => rest = &rest[at + p.len()..],
            None => return false,
        }
    }
    rest.is_empty()
}

/// The row's fields that name a logical type (`name` in a Connect schema), of the `after`
/// struct or, for a flattened row, the top level.
fn logical_names(schema: &Json) -> Vec<(String, String)> {
    let top = schema.get("fields").and_then(Json::as_array);
    let after = top.and_then(|fs| {
        fs.iter()
            .find(|f| f.get("field").and_then(Json::as_str) == Some("after"))
            .and_then(|f| f.get("fields"))
            .and_then(Json::as_array)
    });
    after
        .or(top)
        .into_iter()
        .flatten()
        .filter_map(|f| {
            Some((
                f.get("field")?.as_str()?.to_string(),
                f.get("name")?.as_str()?.to_string(),
            ))
        })
        .collect()
}

fn object(json: &str) -> Result<Map<String, Json>, DecodeError> {
    serde_json::from_str(json).map_err(|e| DecodeError::NotAnEnvelope(e.to_string()))
}

/// The schema's shape: an envelope (a struct field `after`), a control record (by the schema's
/// name), or else a flattened row (its own fields).
fn shape(schema: &Json) -> Result<Shape, DecodeError> {
    let specs = |fields: &Vec<Json>| {
        let mut map = HashMap::new();
        for f in fields {
            if let Some(name) = f.get("field").and_then(Json::as_str) {
                map.insert(name.to_string(), field_spec(f));
            }
        }
        Arc::new(map)
    };
    if let Some(kind) = schema
        .get("name")
        .and_then(Json::as_str)
        .and_then(control::kind_of_schema)
    {
        return Ok(Shape::Control(kind));
    }
    let fields = schema
        .get("fields")
        .and_then(Json::as_array)
        .ok_or_else(|| DecodeError::NotAnEnvelope("schema has no fields".into()))?;
    let after = fields.iter().find(|f| {
        f.get("field").and_then(Json::as_str) == Some("after") && f.get("fields").is_some()
    });
    Ok(
        match after.and_then(|f| f.get("fields")).and_then(Json::as_array) {
            Some(row) => Shape::Envelope(specs(row)),
            None => Shape::Flat(specs(fields)),
        },
    )
}

/// A row image's cells, read with the schema's declared fields where there are some.
fn cells_of(row: Map<String, Json>, fields: Option<&FieldMap>) -> Result<Vec<Cell>, DecodeError> {
    let mut cells = Vec::with_capacity(row.len());
    for (name, json) in row {
        let spec = fields.and_then(|f| f.get(&name));
        let (value, declared) = match spec {
            Some(spec) => (read_json(&name, &json, spec)?, spec.declared),
            None => (infer(&name, &json), None),
        };
        cells.push(Cell {
            original: name,
            value,
            declared,
        });
    }
    Ok(cells)
}

/// The change an op makes, given the key (or none) and the row images read.
fn change_of(
    op: Op,
    ts_ms: i64,
    key: Key,
    before: Option<Vec<Cell>>,
    after: Option<Vec<Cell>>,
) -> Result<Change, DecodeError> {
    let code = || (op.code() as char).to_string();
    match key {
        Some((key, key_columns)) if op == Op::Delete => Ok(Change::Delete { key, key_columns }),
        Some((key, key_columns)) => Ok(Change::Upsert {
            key,
            key_columns,
            op,
            ts_ms,
            cells: after.ok_or_else(|| DecodeError::MissingAfter(code()))?,
        }),
        None => {
            if op != Op::Delete && after.is_none() {
                return Err(DecodeError::MissingAfter(code()));
            }
            if matches!(op, Op::Update | Op::Delete) && before.is_none() {
                return Err(DecodeError::MissingBefore(code()));
            }
            Ok(Change::Keyless {
                op,
                ts_ms,
                before,
                after,
            })
        }
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

fn field_spec(f: &Json) -> FieldSpec {
    let ty = f.get("type").and_then(Json::as_str).unwrap_or("");
    let name = f.get("name").and_then(Json::as_str).unwrap_or("");
    let scale = f
        .get("parameters")
        .and_then(|p| p.get("scale"))
        .and_then(param_u8)
        .unwrap_or(0);
    let (kind, declared) = logical_kind(name, scale).unwrap_or(match ty {
        "int8" | "int16" | "int32" => (FieldKind::Integer, Some(DType::Int32)),
        "int64" => (FieldKind::Integer, Some(DType::Int64)),
        "float" | "float32" | "double" | "float64" => (FieldKind::Float, Some(DType::Float64)),
        "boolean" => (FieldKind::Plain, Some(DType::Bool)),
        // A struct or array without a logical type this knows: its JSON text.
        "struct" | "array" | "map" => (FieldKind::Text, Some(DType::Utf8)),
        // Strings may still be ISO times by naming convention (Hive): infer from values.
        _ => (FieldKind::Plain, None),
    });
    FieldSpec { kind, declared }
}

/// The key struct → (canonical key bytes, key column names). Accepts the schemaless struct
/// and the schema-enabled `{"schema", "payload"}` form.
fn decode_key(key: Option<&[u8]>) -> Result<Key, DecodeError> {
    let Some(key) = key else {
        return Ok(None);
    };
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
        Json::Null => return Ok(None),
        other => {
            // A bare scalar key: the row is identified by the value itself.
            let bytes = other.to_string().into_bytes();
            return Ok(Some((bytes, Vec::new())));
        }
    };
    let columns = obj.keys().cloned().collect();
    let bytes = serde_json::to_vec(&obj).map_err(|e| DecodeError::InvalidKey(e.to_string()))?;
    Ok(Some((bytes, columns)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::fields::{decode_decimal_bytes, encode_decimal_bytes};
    use crate::store::value::{Value, parse_timestamp};

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
        assert_eq!(
            d.decode(&rec(r#"{"ID":1}"#, None)),
            Ok(Change::Tombstone {
                key: Some(br#"{"ID":1}"#.to_vec())
            })
        );
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
        assert!(matches!(
            d.decode(&no_key),
            Ok(Change::Keyless {
                before: None,
                after: Some(_),
                ..
            })
        ));
        let mut no_before = rec("{}", Some(r#"{"before":null,"after":null,"op":"d"}"#));
        no_before.key = None;
        assert_eq!(
            d.decode(&no_before),
            Err(DecodeError::MissingBefore("d".into()))
        );
    }

    #[test]
    fn truncates_control_records_and_flattened_rows() {
        let mut d = Decoder::new();
        let mut t = rec("{}", Some(r#"{"source":{},"op":"t","ts_ms":5}"#));
        t.key = None;
        assert_eq!(d.decode(&t), Ok(Change::Truncate { ts_ms: 5 }));
        let hb = Record {
            topic: "__debezium-heartbeat.x".into(),
            ..rec(r#"{"serverName":"x"}"#, Some(r#"{"ts_ms":9}"#))
        };
        assert!(matches!(
            d.decode(&hb),
            Ok(Change::Control {
                ts_ms: 9,
                kind: crate::store::events::EventKind::Heartbeat
            })
        ));
        let flat = rec(
            r#"{"id":1}"#,
            Some(r#"{"id":1,"qty":2,"__op":"u","__source_ts_ms":7,"__deleted":"false"}"#),
        );
        let Ok(Change::Upsert {
            op, ts_ms, cells, ..
        }) = d.decode(&flat)
        else {
            panic!("an upsert")
        };
        assert_eq!((op, ts_ms, cells.len()), (Op::Update, 7, 2));
        let gone = rec(
            r#"{"id":1}"#,
            Some(r#"{"id":1,"qty":2,"__deleted":"true"}"#),
        );
        assert!(matches!(d.decode(&gone), Ok(Change::Delete { .. })));
        // A bare row is no envelope unless its topic is listed as flattened.
        let bare = rec(r#"{"id":1}"#, Some(r#"{"id":1,"qty":2}"#));
        assert!(matches!(
            d.decode(&bare),
            Err(DecodeError::NotAnEnvelope(_))
        ));
        let mut listed = Decoder::new().with_flattened(vec!["db2.*".into()]);
        assert!(matches!(listed.decode(&bare), Ok(Change::Upsert { .. })));
        assert!(glob("a*c*", "abcxc") && glob("*.orders", "x.orders") && !glob("a*b", "ac"));
    }
}
