//! `streamq produce`: publishes the demo stream or a replay file to Kafka — for demos, tests
//! and benchmarks. Topics are created (3 partitions unless they exist); records are keyed and
//! placed by Kafka's default partitioner (murmur2, as the Java client), in the JSON forms or
//! in Avro through a Schema Registry (Confluent wire format, Debezium's Avro shapes).
//!
//! A replay file is a log: a record it holds twice (same topic, partition and offset — a
//! redelivery the capture saw) is produced once.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use apache_avro::Schema;
use parking_lot::Mutex;
use rdkafka::ClientContext;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{DeliveryResult, Message};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer, ProducerContext};
use serde::Serialize;
use serde_json::Value as Json;

use crate::config::{DemoConfig, DemoFormat};
use crate::ingest::avro::{AvroError, connect_to_avro, json_to_avro, write_datum};
use crate::ingest::demo::DemoGenerator;
use crate::ingest::record::Record;
use crate::ingest::registry::{RegistryError, SchemaRegistry, wire};
use crate::ingest::replay;

/// The encoding written to Kafka.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ProduceFormat {
    /// Schemaless Debezium JSON (a schema-enabled input is reduced to its payload).
    Json,
    /// `{"schema", "payload"}` JSON (the input must carry schemas).
    #[value(name = "json-schema")]
    JsonSchema,
    /// Avro in the Confluent wire format; schemas registered in the registry.
    Avro,
}

/// Where the records come from.
pub enum ProduceSource {
    Demo(DemoConfig),
    Replay(PathBuf),
}

pub struct ProduceOptions {
    pub brokers: String,
    pub source: ProduceSource,
    pub format: ProduceFormat,
    pub registry: Option<Arc<SchemaRegistry>>,
    pub partitions: i32,
    pub replication: i32,
    /// librdkafka properties passed through.
    pub properties: BTreeMap<String, String>,
    /// Stop after this many records (replay: all by default; demo: 100 000).
    pub limit: Option<u64>,
}

/// What was produced.
#[derive(Debug, Default, Serialize)]
pub struct ProduceSummary {
    pub produced: u64,
    pub skipped_duplicates: u64,
    pub delivery_errors: u64,
    pub seconds: f64,
    pub records_per_second: f64,
    /// `topic` → partition → one past the last delivered offset.
    pub end_offsets: BTreeMap<String, BTreeMap<i32, i64>>,
    /// Records the chosen format could not express (reason → count).
    pub not_encodable: BTreeMap<String, u64>,
}

#[derive(Default)]
struct Deliveries {
    errors: u64,
    first_error: Option<String>,
    ends: BTreeMap<String, BTreeMap<i32, i64>>,
}

struct Ctx(Mutex<Deliveries>);

impl ClientContext for Ctx {}

impl ProducerContext for Ctx {
    type DeliveryOpaque = ();
    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        let mut d = self.0.lock();
        match result {
            Ok(m) => {
                let end = d
                    .ends
                    .entry(m.topic().to_string())
                    .or_default()
                    .entry(m.partition())
                    .or_insert(0);
                *end = (*end).max(m.offset() + 1);
            }
            Err((e, _)) => {
                d.errors += 1;
                d.first_error.get_or_insert_with(|| e.to_string());
            }
        }
    }
}

/// Per-topic Avro encoding state: the registered ids per writer schema.
#[derive(Default)]
struct AvroEncoder {
    values: HashMap<String, (u32, Schema)>,
    keys: HashMap<String, (u32, Schema)>,
}

/// Why a record could not be encoded for Kafka.
#[derive(Debug, thiserror::Error)]
pub enum EncodeError {
    #[error("{what} is not JSON: {source}")]
    NotJson {
        what: &'static str,
        source: serde_json::Error,
    },
    /// The input does not have the form the output needs.
    #[error("{0}")]
    Form(&'static str),
    #[error(transparent)]
    Avro(#[from] AvroError),
    #[error(transparent)]
    Registry(#[from] RegistryError),
}

fn not_json(what: &'static str) -> impl FnOnce(serde_json::Error) -> EncodeError {
    move |source| EncodeError::NotJson { what, source }
}

impl AvroEncoder {
    fn value(
        &mut self,
        reg: &SchemaRegistry,
        topic: &str,
        value: &[u8],
    ) -> Result<Vec<u8>, EncodeError> {
        let v: Json = serde_json::from_slice(value).map_err(not_json("value"))?;
        let (Some(schema), Some(payload)) = (v.get("schema"), v.get("payload")) else {
            return Err(EncodeError::Form(
                "avro needs schema-enabled input (json-schema)",
            ));
        };
        let key = schema.to_string();
        if !self.values.contains_key(&key) {
            let ns = topic.replace(['-', ' '], "_");
            let avro = connect_to_avro(schema, &ns, "Envelope");
            let text = avro.to_string();
            let parsed = Schema::parse_str(&text).map_err(|e| AvroError::Schema(e.to_string()))?;
            let id = reg.register(&format!("{topic}-value"), &text)?;
            self.values.insert(key.clone(), (id, parsed));
        }
        let (id, parsed) = &self.values[&key];
        let datum = write_datum(parsed, json_to_avro(payload, parsed)?)?;
        Ok(wire(*id, &datum))
    }

    fn key(
        &mut self,
        reg: &SchemaRegistry,
        topic: &str,
        key: &[u8],
    ) -> Result<Vec<u8>, EncodeError> {
        let v: Json = serde_json::from_slice(key).map_err(not_json("key"))?;
        let obj = match &v {
            Json::Object(m) if m.contains_key("payload") && m.contains_key("schema") => {
                m["payload"].clone()
            }
            other => other.clone(),
        };
        let Json::Object(fields) = &obj else {
            return Err(EncodeError::Form("key is not a struct"));
        };
        let avro_fields: Vec<Json> = fields
            .iter()
            .map(|(name, v)| {
                let t = match v {
                    Json::Number(n) if n.is_i64() => "long",
                    Json::Number(_) => "double",
                    Json::Bool(_) => "boolean",
                    _ => "string",
                };
                serde_json::json!({"name": name, "type": t})
            })
            .collect();
        let ns = topic.replace(['-', ' '], "_");
        let text = serde_json::json!({"type": "record", "name": "Key", "namespace": ns,
            "fields": avro_fields})
        .to_string();
        if !self.keys.contains_key(&text) {
            let parsed = Schema::parse_str(&text).map_err(|e| AvroError::Schema(e.to_string()))?;
            let id = reg.register(&format!("{topic}-key"), &text)?;
            self.keys.insert(text.clone(), (id, parsed));
        }
        let (id, parsed) = &self.keys[&text];
        let datum = write_datum(parsed, json_to_avro(&obj, parsed)?)?;
        Ok(wire(*id, &datum))
    }
}

fn strip_schema(value: &[u8]) -> Result<Vec<u8>, EncodeError> {
    let v: Json = serde_json::from_slice(value).map_err(not_json("value"))?;
    match v {
        Json::Object(mut m) if m.contains_key("schema") && m.contains_key("payload") => Ok(
            serde_json::to_vec(&m.remove("payload").unwrap_or(Json::Null))
                .expect("a JSON value serializes"),
        ),
        _ => Ok(value.to_vec()),
    }
}

fn is_schema_enabled(value: &[u8]) -> bool {
    serde_json::from_slice::<Json>(value)
        .map(|v| v.get("schema").is_some() && v.get("payload").is_some())
        .unwrap_or(false)
}

/// Creates the topics that do not exist.
pub fn create_topics(
    client: &ClientConfig,
    topics: &[String],
    partitions: i32,
    replication: i32,
) -> Result<(), KafkaError> {
    let admin: AdminClient<_> = client.create()?;
    let new: Vec<NewTopic> = topics
        .iter()
        .map(|t| NewTopic::new(t, partitions, TopicReplication::Fixed(replication)))
        .collect();
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    let results = futures::executor::block_on(admin.create_topics(new.iter(), &opts))?;
    for r in results {
        match r {
            Ok(t) => tracing::info!(topic = %t, partitions, "topic created"),
            Err((t, RDKafkaErrorCode::TopicAlreadyExists)) => {
                tracing::info!(topic = %t, "topic exists")
            }
            Err((t, code)) => {
                return Err(KafkaError::AdminOp(code)).inspect_err(
                    |_| tracing::error!(topic = %t, error = %code, "cannot create topic"),
                );
            }
        }
    }
    Ok(())
}

/// Produces everything the source yields; blocking.
pub fn run(opts: ProduceOptions) -> anyhow::Result<ProduceSummary> {
    let records: Box<dyn Iterator<Item = Record>> = match &opts.source {
        ProduceSource::Demo(cfg) => {
            let format = match opts.format {
                ProduceFormat::Json => DemoFormat::Json,
                _ => DemoFormat::JsonSchema,
            };
            let generator = DemoGenerator::new(
                cfg.seed,
                chrono::Utc::now().timestamp_millis(),
                15.0,
                format,
                opts.partitions,
            );
            Box::new(generator.take(opts.limit.unwrap_or(100_000) as usize))
        }
        ProduceSource::Replay(path) => {
            let limit = opts.limit.unwrap_or(u64::MAX) as usize;
            Box::new(
                replay::records(path)?
                    .filter_map(|r| {
                        r.map_err(|e| tracing::warn!(error = %e, "replay line skipped"))
                            .ok()
                    })
                    .take(limit),
            )
        }
    };
    let mut client = ClientConfig::new();
    client.set("bootstrap.servers", &opts.brokers);
    for (k, v) in &opts.properties {
        client.set(k, v);
    }
    let mut pcfg = client.clone();
    pcfg.set("partitioner", "murmur2_random")
        .set("linger.ms", "20")
        .set("batch.num.messages", "10000")
        .set("queue.buffering.max.messages", "200000")
        .set("message.max.bytes", "8388608")
        .set("enable.idempotence", "false");
    for (k, v) in &opts.properties {
        pcfg.set(k, v);
    }
    let producer: BaseProducer<Ctx> =
        pcfg.create_with_context(Ctx(Mutex::new(Deliveries::default())))?;

    let mut created: HashSet<String> = HashSet::new();
    let mut seen: HashSet<(Arc<str>, i32, i64)> = HashSet::new();
    let mut avro = AvroEncoder::default();
    let mut summary = ProduceSummary::default();
    let started = Instant::now();
    let replaying = matches!(opts.source, ProduceSource::Replay(_));
    for rec in records {
        if replaying && !seen.insert((rec.topic.clone(), rec.partition, rec.offset.get())) {
            summary.skipped_duplicates += 1;
            continue;
        }
        if !created.contains(&*rec.topic) {
            create_topics(
                &client,
                &[rec.topic.to_string()],
                opts.partitions,
                opts.replication,
            )?;
            created.insert(rec.topic.to_string());
        }
        let encoded = encode(&opts, &mut avro, &rec);
        let (key, value) = match encoded {
            Ok(kv) => kv,
            Err(reason) => {
                *summary.not_encodable.entry(reason.to_string()).or_default() += 1;
                continue;
            }
        };
        let mut br = BaseRecord::to(&rec.topic).timestamp(rec.ts_ms);
        if let Some(k) = key.as_deref() {
            br = br.key(k);
        }
        if let Some(v) = value.as_deref() {
            br = br.payload(v);
        }
        loop {
            match producer.send(br) {
                Ok(()) => break,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    producer.poll(Duration::from_millis(50));
                    br = back;
                }
                Err((e, _)) => return Err(e.into()),
            }
        }
        summary.produced += 1;
        producer.poll(Duration::ZERO);
    }
    producer.flush(Duration::from_secs(120))?;
    let d = std::mem::take(&mut *producer.context().0.lock());
    summary.delivery_errors = d.errors;
    summary.end_offsets = d.ends;
    summary.seconds = started.elapsed().as_secs_f64();
    summary.records_per_second = summary.produced as f64 / summary.seconds.max(1e-9);
    if let Some(e) = d.first_error {
        anyhow::bail!("{} records were not delivered; first error: {e}", d.errors);
    }
    Ok(summary)
}

type Encoded = (Option<Vec<u8>>, Option<Vec<u8>>);

fn encode(
    opts: &ProduceOptions,
    avro: &mut AvroEncoder,
    rec: &Record,
) -> Result<Encoded, EncodeError> {
    Ok(match opts.format {
        ProduceFormat::Json => (
            rec.key.clone(),
            rec.value.as_deref().map(strip_schema).transpose()?,
        ),
        ProduceFormat::JsonSchema => {
            if let Some(v) = rec.value.as_deref()
                && !is_schema_enabled(v)
            {
                return Err(EncodeError::Form("json-schema needs schema-enabled input"));
            }
            (rec.key.clone(), rec.value.clone())
        }
        ProduceFormat::Avro => {
            let reg = opts
                .registry
                .as_ref()
                .ok_or(EncodeError::Form("avro needs --registry"))?;
            let key = rec
                .key
                .as_deref()
                .map(|k| avro.key(reg, &rec.topic, k))
                .transpose()?;
            let value = rec
                .value
                .as_deref()
                .map(|v| avro.value(reg, &rec.topic, v))
                .transpose()?;
            (key, value)
        }
    })
}
