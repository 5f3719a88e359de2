//! The environment as a configuration layer: every setting is `STREAMQ_<SECTION>__<FIELD>`
//! (nested with `__`, e.g. `STREAMQ_QUERY__TIMEOUT_MS`, `STREAMQ_SOURCE__DEMO__RATE`), the
//! names streamq has always read keep working (`STREAMQ_QUERY_TIMEOUT_MS`, [`ALIASES`]), and
//! a `STREAMQ_*` variable that is no setting is refused with its name. The settings are
//! known from the configuration's own type (its JSON Schema), so a new field is settable
//! from the environment the day it is added.

use std::collections::{BTreeMap, HashMap};

use figment::value::{Dict, Map, Value};
use figment::{Metadata, Profile, Provider};
use serde_json::Value as Json;

use crate::config::{Config, ConfigError};

/// Variables streamq's commands read that are not settings.
pub const NOT_SETTINGS: &[&str] = &["STREAMQ_CONFIG", "STREAMQ_LOG", "STREAMQ_SERVER"];

/// The names streamq read before every setting had one, and the setting each one sets.
pub const ALIASES: &[(&str, &str)] = &[
    ("STREAMQ_LISTEN", "listen"),
    ("STREAMQ_DATA_DIR", "data_dir"),
    ("STREAMQ_SOURCE", "source.kind"),
    ("STREAMQ_FILE", "source.file"),
    ("STREAMQ_SPEED", "source.speed"),
    ("STREAMQ_DEMO_SEED", "source.demo.seed"),
    ("STREAMQ_DEMO_RATE", "source.demo.rate"),
    ("STREAMQ_RATE", "source.demo.rate"),
    ("STREAMQ_DEMO_FORMAT", "source.demo.format"),
    ("STREAMQ_FORMAT", "source.demo.format"),
    ("STREAMQ_DEMO_LIMIT", "source.demo.limit"),
    ("STREAMQ_BATCH_SIZE", "ingest.batch_size"),
    ("STREAMQ_LINGER_MS", "ingest.linger_ms"),
    ("STREAMQ_FLUSH_INTERVAL_MS", "ingest.flush_interval_ms"),
    ("STREAMQ_SLED_CACHE_MB", "ingest.sled_cache_mb"),
    ("STREAMQ_MAX_VALUE_BYTES", "ingest.max_value_bytes"),
    ("STREAMQ_QUERY_TIMEOUT_MS", "query.timeout_ms"),
    ("STREAMQ_QUERY_MAX_ROWS", "query.max_rows"),
    ("STREAMQ_MAX_RESTARTS", "supervisor.max_restarts"),
    ("STREAMQ_RESTART_WINDOW_SECS", "supervisor.window_secs"),
    ("STREAMQ_TEXT_ENABLED", "text.enabled"),
    ("STREAMQ_TEXT_COMMIT_INTERVAL_MS", "text.commit_interval_ms"),
    ("STREAMQ_TEXT_WRITER_HEAP_MB", "text.writer_heap_mb"),
    ("STREAMQ_LLM_MODEL_DIR", "llm.model_dir"),
    ("STREAMQ_LIVE_ENABLED", "live.enabled"),
    ("STREAMQ_MCP_ENABLED", "mcp.enabled"),
    ("STREAMQ_MCP_ALLOW_WRITES", "mcp.allow_writes"),
    ("STREAMQ_MCP_TOOLS", "mcp.tools"),
    ("STREAMQ_FAULT_PANIC", "debug.fault_panic"),
    ("STREAMQ_KAFKA_BROKERS", "kafka.brokers"),
    ("STREAMQ_KAFKA_TOPICS", "kafka.topics"),
    ("STREAMQ_KAFKA_GROUP", "kafka.group"),
    (
        "STREAMQ_KAFKA_COMMIT_INTERVAL_MS",
        "kafka.commit_interval_ms",
    ),
    ("STREAMQ_SCHEMA_REGISTRY_URL", "kafka.registry.url"),
    (
        "STREAMQ_SCHEMA_REGISTRY_USERNAME",
        "kafka.registry.username",
    ),
    (
        "STREAMQ_SCHEMA_REGISTRY_PASSWORD",
        "kafka.registry.password",
    ),
];

/// The shape of a setting's value, which decides how its text is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    /// A string, number, boolean or name: the text as it is.
    Scalar,
    /// A list: `a,b,c` or a TOML array `["a", "b"]`.
    List,
    /// A table: a TOML inline table `{ "db2.transactions" = "created_at" }`.
    Table,
}

/// Every setting: its dotted path and shape, walked from the configuration's JSON Schema.
pub fn settings() -> BTreeMap<String, Shape> {
    let schema = serde_json::to_value(schemars::schema_for!(Config)).expect("a schema serializes");
    let defs = schema.get("$defs").cloned().unwrap_or(Json::Null);
    let mut out = BTreeMap::new();
    walk(&schema, &defs, String::new(), &mut out);
    out
}

/// The struct behind `s` (through `$ref` and `Option`'s `anyOf`), if it is one.
fn resolve<'a>(s: &'a Json, defs: &'a Json) -> &'a Json {
    if let Some(r) = s["$ref"].as_str() {
        return resolve(&defs[r.rsplit('/').next().unwrap_or_default()], defs);
    }
    if let Some(alts) = s["anyOf"].as_array()
        && let Some(a) = alts.iter().find(|a| a["type"] != "null")
    {
        return resolve(a, defs);
    }
    s
}

fn walk(s: &Json, defs: &Json, prefix: String, out: &mut BTreeMap<String, Shape>) {
    let s = resolve(s, defs);
    if let Some(props) = s["properties"].as_object() {
        for (name, p) in props {
            let path = if prefix.is_empty() {
                name.clone()
            } else {
                format!("{prefix}.{name}")
            };
            walk(p, defs, path, out);
        }
        return;
    }
    let types: Vec<&str> = match &s["type"] {
        Json::String(t) => vec![t.as_str()],
        Json::Array(ts) => ts.iter().filter_map(Json::as_str).collect(),
        _ => Vec::new(),
    };
    let shape = if types.contains(&"array") {
        Shape::List
    } else if types.contains(&"object") {
        Shape::Table
    } else {
        Shape::Scalar
    };
    out.insert(prefix, shape);
}

/// The variable that sets `path` (`query.timeout_ms` → `STREAMQ_QUERY__TIMEOUT_MS`).
pub fn var_of(path: &str) -> String {
    format!("STREAMQ_{}", path.replace('.', "__").to_ascii_uppercase())
}

/// The setting a variable names (and, for a librdkafka property, the property's name).
fn path_of(var: &str, settings: &BTreeMap<String, Shape>) -> Option<(String, Option<String>)> {
    if let Some((_, path)) = ALIASES.iter().find(|(v, _)| *v == var) {
        return Some((path.to_string(), None));
    }
    let rest = var.strip_prefix("STREAMQ_")?;
    let parts: Vec<String> = rest.split("__").map(str::to_ascii_lowercase).collect();
    if parts.iter().any(String::is_empty) {
        return None;
    }
    let path = parts.join(".");
    if settings.contains_key(&path) {
        return Some((path, None));
    }
    // A librdkafka property: STREAMQ_KAFKA__PROPERTIES__SASL_USERNAME, or the older
    // STREAMQ_KAFKA__SASL_USERNAME (sasl.username).
    match parts.as_slice() {
        [k, p, prop] if k == "kafka" && p == "properties" => {
            Some(("kafka.properties".into(), Some(prop.replace('_', "."))))
        }
        [k, prop] if k == "kafka" => {
            Some(("kafka.properties".into(), Some(prop.replace('_', "."))))
        }
        _ => None,
    }
}

/// The `STREAMQ_*` variables as a configuration layer.
pub struct EnvLayer {
    dict: Dict,
    /// Setting path → the variable that set it, to name it in errors.
    pub vars: HashMap<String, (String, String)>,
}

fn refuse(var: &str, value: &str, message: impl Into<String>) -> ConfigError {
    ConfigError::Env {
        var: var.to_string(),
        value: value.to_string(),
        message: message.into(),
    }
}

impl EnvLayer {
    /// Reads `env` (only `STREAMQ_*` names are looked at); refuses a variable that is no
    /// setting, naming it.
    pub fn from(env: &HashMap<String, String>) -> Result<EnvLayer, ConfigError> {
        let settings = settings();
        let mut dict = Dict::new();
        let mut vars = HashMap::new();
        let mut names: Vec<&String> = env.keys().filter(|k| k.starts_with("STREAMQ_")).collect();
        names.sort();
        for var in names {
            let raw = &env[var];
            if NOT_SETTINGS.contains(&var.as_str()) {
                continue;
            }
            // `<VAR>_FILE=/run/secrets/x`: the setting's value is the file's contents (how
            // passwords are passed without putting them in the environment).
            let direct = path_of(var, &settings);
            let via_file = var
                .strip_suffix("_FILE")
                .and_then(|stem| path_of(stem, &settings));
            let (found, raw, shown) = match (direct, via_file) {
                // A setting of its own name (`STREAMQ_TLS__CA_FILE`) is that setting.
                (Some(found @ (_, None)), _) => (found, raw.clone(), raw.clone()),
                (_, Some(found)) => {
                    let text = std::fs::read_to_string(raw)
                        .map_err(|e| refuse(var, raw, format!("cannot read the file: {e}")))?;
                    let text = text.strip_suffix('\n').unwrap_or(&text);
                    let text = text.strip_suffix('\r').unwrap_or(text).to_string();
                    (found, text, format!("<the contents of {raw}>"))
                }
                (Some(found), None) => (found, raw.clone(), raw.clone()),
                (None, None) => {
                    return Err(ConfigError::UnknownEnv {
                        var: var.clone(),
                        hint: hint(var, &settings),
                    });
                }
            };
            let (path, property) = found;
            let value = match property {
                Some(_) => Value::from(raw.clone()),
                None => read(&raw, settings[&path]).map_err(|m| refuse(var, &shown, m))?,
            };
            let mut keys: Vec<String> = path.split('.').map(str::to_string).collect();
            keys.extend(property);
            insert(&mut dict, &keys, value);
            vars.insert(keys.join("."), (var.clone(), shown));
        }
        Ok(EnvLayer { dict, vars })
    }

    /// The variable that set `path`, if one did (or one set a table above it).
    pub fn var_for(&self, path: &[String]) -> Option<&(String, String)> {
        (1..=path.len())
            .rev()
            .find_map(|n| self.vars.get(&path[..n].join(".")))
    }
}

/// A variable's text as a value of its shape.
fn read(raw: &str, shape: Shape) -> Result<Value, String> {
    let toml = |raw: &str| -> Result<Value, String> {
        let v: toml::Value = toml::from_str::<toml::Table>(&format!("v = {raw}"))
            .map_err(|e| format!("not a TOML value: {}", e.message()))?
            .remove("v")
            .expect("the key just written");
        Value::serialize(v).map_err(|e| e.to_string())
    };
    match shape {
        Shape::Scalar => Ok(Value::from(raw.to_string())),
        Shape::List if raw.trim_start().starts_with('[') => toml(raw),
        Shape::List => Ok(Value::from(
            raw.split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect::<Vec<String>>(),
        )),
        Shape::Table => toml(raw),
    }
}

fn insert(dict: &mut Dict, keys: &[String], value: Value) {
    let (first, rest) = keys.split_first().expect("a path has a key");
    if rest.is_empty() {
        dict.insert(first.clone(), value);
        return;
    }
    let entry = dict
        .entry(first.clone())
        .or_insert_with(|| Value::from(Dict::new()));
    if let Value::Dict(_, inner) = entry {
        insert(inner, rest, value);
    }
}

/// A nearby setting's variable, for the refusal message.
fn hint(var: &str, settings: &BTreeMap<String, Shape>) -> String {
    let want = var.trim_start_matches("STREAMQ_").replace("__", "_");
    let best = settings
        .keys()
        .map(|p| var_of(p))
        .min_by_key(|v| distance(&want, &v.trim_start_matches("STREAMQ_").replace("__", "_")));
    match best {
        Some(v) => format!("settings are STREAMQ_<SECTION>__<FIELD>; did you mean {v}?"),
        None => "settings are STREAMQ_<SECTION>__<FIELD>".into(),
    }
}

fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            cur.push(
                (prev[j] + usize::from(ca != *cb))
                    .min(prev[j + 1] + 1)
                    .min(cur[j] + 1),
            );
        }
        prev = cur;
    }
    prev[b.len()]
}

impl Provider for EnvLayer {
    fn metadata(&self) -> Metadata {
        Metadata::named("environment variables")
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        Ok(Profile::Default.collect(self.dict.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_setting_has_a_variable_and_every_alias_names_a_setting() {
        let s = settings();
        assert!(s.len() > 50, "{s:?}");
        assert_eq!(s["query.timeout_ms"], Shape::Scalar);
        assert_eq!(s["mcp.tools"], Shape::List);
        assert_eq!(s["live.time_columns"], Shape::Table);
        assert_eq!(
            s["source.file"],
            Shape::Scalar,
            "an Option is its inner type"
        );
        for (var, path) in ALIASES {
            assert!(s.contains_key(*path), "{var} → {path}");
        }
        assert_eq!(var_of("source.demo.rate"), "STREAMQ_SOURCE__DEMO__RATE");
    }

    #[test]
    fn a_misspelt_variable_is_refused_with_its_name_and_a_hint() {
        let env: HashMap<String, String> =
            [("STREAMQ_QUERY__TIMEOUT".to_string(), "5".to_string())].into();
        match EnvLayer::from(&env) {
            Err(ConfigError::UnknownEnv { var, hint }) => {
                assert_eq!(var, "STREAMQ_QUERY__TIMEOUT");
                assert!(hint.contains("STREAMQ_QUERY__TIMEOUT_MS"), "{hint}");
            }
            other => panic!("not refused: {:?}", other.map(|_| ())),
        }
    }

    #[test]
    fn lists_and_tables_read_from_text() {
        assert_eq!(
            read("a, b,", Shape::List).unwrap(),
            Value::from(vec!["a".to_string(), "b".to_string()])
        );
        assert!(read("[300000, 600000]", Shape::List).is_ok());
        assert!(read(r#"{ "db2.t" = "created_at" }"#, Shape::Table).is_ok());
        assert!(read("{ oops", Shape::Table).is_err());
    }
}
