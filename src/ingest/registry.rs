//! A Confluent Schema Registry client: fetches writer schemas by id (`GET /schemas/ids/{id}`),
//! caches them (a schema id never changes meaning), and registers schemas for the producer
//! (`POST /subjects/{subject}/versions`). Basic auth when configured.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use parking_lot::RwLock;

use crate::ingest::avro::AvroWriterSchema;

/// Why a schema could not be had.
#[derive(Debug, Clone, thiserror::Error, PartialEq)]
pub enum RegistryError {
    /// No registry is configured but a record needs one.
    #[error("record is Avro (schema id {0}) but no schema registry is configured")]
    NotConfigured(u32),
    /// The registry does not know the id (HTTP 404): the record can never be decoded.
    #[error("schema id {0} is unknown to the registry")]
    UnknownId(u32),
    /// The registry answered with a schema that does not parse.
    #[error("schema id {id} does not parse: {reason}")]
    BadSchema { id: u32, reason: String },
    /// The registry could not be reached or answered an error; worth retrying.
    #[error("schema registry at {url}: {reason}")]
    Unavailable { url: String, reason: String },
}

impl RegistryError {
    /// A permanent answer (the record is quarantined) rather than an outage (retried).
    pub fn is_permanent(&self) -> bool {
        !matches!(self, RegistryError::Unavailable { .. })
    }
}

/// A registry client with its cache. Cheap to share.
pub struct SchemaRegistry {
    base: String,
    auth: Option<String>,
    agent: ureq::Agent,
    cache: RwLock<HashMap<u32, Result<Arc<AvroWriterSchema>, RegistryError>>>,
}

impl std::fmt::Debug for SchemaRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SchemaRegistry")
            .field("base", &self.base)
            .finish()
    }
}

impl SchemaRegistry {
    /// `url` like `http://registry:8081`; `user`/`password` for basic auth.
    pub fn new(url: &str, user: Option<&str>, password: Option<&str>) -> Arc<Self> {
        let auth = user.map(|u| {
            let token = base64::engine::general_purpose::STANDARD
                .encode(format!("{u}:{}", password.unwrap_or("")));
            format!("Basic {token}")
        });
        Arc::new(Self {
            base: url.trim_end_matches('/').to_string(),
            auth,
            agent: ureq::AgentBuilder::new()
                .tls_config(crate::tls::client_config())
                .timeout_connect(Duration::from_secs(5))
                .timeout(Duration::from_secs(15))
                .build(),
            cache: RwLock::new(HashMap::new()),
        })
    }

    pub fn url(&self) -> &str {
        &self.base
    }

    /// The cached answer for `id`, if one was had.
    pub fn cached(&self, id: u32) -> Option<Result<Arc<AvroWriterSchema>, RegistryError>> {
        self.cache.read().get(&id).cloned()
    }

    /// The writer schema for `id`: from the cache, else fetched (blocking). A permanent
    /// failure (unknown id, unparseable schema) is cached too; an outage is not.
    pub fn get(&self, id: u32) -> Result<Arc<AvroWriterSchema>, RegistryError> {
        if let Some(hit) = self.cached(id) {
            return hit;
        }
        let result = self.fetch(id);
        if result.as_ref().map_or_else(|e| e.is_permanent(), |_| true) {
            self.cache.write().insert(id, result.clone());
        }
        result
    }

    fn request(&self, method: &str, path: &str) -> ureq::Request {
        let mut req = self
            .agent
            .request(method, &format!("{}{path}", self.base))
            .set("Accept", "application/vnd.schemaregistry.v1+json");
        if let Some(a) = &self.auth {
            req = req.set("Authorization", a);
        }
        req
    }

    fn unavailable(&self, reason: impl std::fmt::Display) -> RegistryError {
        RegistryError::Unavailable {
            url: self.base.clone(),
            reason: reason.to_string(),
        }
    }

    fn fetch(&self, id: u32) -> Result<Arc<AvroWriterSchema>, RegistryError> {
        let resp = match self.request("GET", &format!("/schemas/ids/{id}")).call() {
            Ok(r) => r,
            Err(ureq::Error::Status(404, _)) => return Err(RegistryError::UnknownId(id)),
            Err(ureq::Error::Status(code, r)) => {
                return Err(self.unavailable(format!(
                    "HTTP {code}: {}",
                    r.into_string().unwrap_or_default()
                )));
            }
            Err(e) => return Err(self.unavailable(e)),
        };
        let body: serde_json::Value = resp.into_json().map_err(|e| self.unavailable(e))?;
        if body
            .get("schemaType")
            .and_then(|t| t.as_str())
            .is_some_and(|t| t != "AVRO")
        {
            return Err(RegistryError::BadSchema {
                id,
                reason: format!("schema type {} is not AVRO", body["schemaType"]),
            });
        }
        let text = body.get("schema").and_then(|s| s.as_str()).ok_or_else(|| {
            RegistryError::BadSchema {
                id,
                reason: "the answer has no 'schema' string".into(),
            }
        })?;
        AvroWriterSchema::parse(text)
            .map(Arc::new)
            .map_err(|e| RegistryError::BadSchema {
                id,
                reason: e.to_string(),
            })
    }

    /// Registers `schema` under `subject` (idempotent in the registry) and returns its id.
    pub fn register(&self, subject: &str, schema: &str) -> Result<u32, RegistryError> {
        let body = serde_json::json!({ "schema": schema });
        let resp = self
            .request("POST", &format!("/subjects/{subject}/versions"))
            .set("Content-Type", "application/vnd.schemaregistry.v1+json")
            .send_json(body)
            .map_err(|e| self.unavailable(e))?;
        let v: serde_json::Value = resp.into_json().map_err(|e| self.unavailable(e))?;
        let id = v
            .get("id")
            .and_then(|i| i.as_u64())
            .and_then(|i| u32::try_from(i).ok())
            .ok_or_else(|| self.unavailable(format!("no id in the answer {v}")))?;
        if let Ok(parsed) = AvroWriterSchema::parse(schema) {
            self.cache.write().insert(id, Ok(Arc::new(parsed)));
        }
        Ok(id)
    }
}

/// Splits the Confluent wire format: magic byte 0, a 4-byte big-endian schema id, the datum.
pub fn split_wire(bytes: &[u8]) -> Option<(u32, &[u8])> {
    match bytes {
        [0, a, b, c, d, rest @ ..] => Some((u32::from_be_bytes([*a, *b, *c, *d]), rest)),
        _ => None,
    }
}

/// The Confluent wire format for a datum written with schema `id`.
pub fn wire(id: u32, datum: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(5 + datum.len());
    out.push(0);
    out.extend_from_slice(&id.to_be_bytes());
    out.extend_from_slice(datum);
    out
}
