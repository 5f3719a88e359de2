//! Command-line flags as configuration: the last layer, over the file and the environment.
//! A flag given on the command line wins; a flag left out changes nothing.

use std::path::PathBuf;

use crate::config::{Config, DemoFormat, Rate, SourceKind};

/// Where the configuration comes from, for every command that runs a node.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct CommonFlags {
    /// Config file (TOML); see config/streamq.toml.
    #[arg(long, env = "STREAMQ_CONFIG")]
    pub config: Option<PathBuf>,
    /// Where state is kept.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Drop existing state and rebuild it from the source.
    #[arg(long)]
    pub rebuild: bool,
}

/// What `streamq serve` can be told on the command line.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct ServeFlags {
    /// demo (built-in generator), replay (a kcat -C -J file) or kafka.
    #[arg(long)]
    pub source: Option<SourceKind>,
    /// The replay file (.jsonl or .jsonl.gz); implies --source replay.
    #[arg(long)]
    pub file: Option<PathBuf>,
    /// Replay at the recorded pace times N (default: as fast as possible).
    #[arg(long)]
    pub speed: Option<f64>,
    /// Demo events per second, or "max".
    #[arg(long)]
    pub rate: Option<Rate>,
    /// Demo JSON form.
    #[arg(long)]
    pub format: Option<DemoFormat>,
    /// Address to listen on.
    #[arg(long)]
    pub listen: Option<String>,
    /// bootstrap.servers; implies --source kafka.
    #[arg(long)]
    pub brokers: Option<String>,
    /// Topics: a comma-separated list or one `^regex` (default: all not starting with `_`).
    #[arg(long)]
    pub topics: Option<String>,
    /// Consumer group.
    #[arg(long)]
    pub group: Option<String>,
    /// Schema Registry URL for Avro records.
    #[arg(long)]
    pub registry: Option<String>,
    /// A librdkafka property for the Kafka consumer, `name=value` (repeatable; as kcat's `-X`),
    /// over `kafka.properties` of the config file.
    #[arg(long = "property", short = 'X', value_parser = parse_property)]
    pub properties: Vec<(String, String)>,
}

/// `name=value` → the librdkafka property.
pub fn parse_property(p: &str) -> Result<(String, String), String> {
    match p.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.to_string())),
        _ => Err(format!("{p:?}: expected name=value")),
    }
}

impl Config {
    /// Applies the command line over the file and the environment. `--file` and `--brokers`
    /// name a source, so they choose it (unless `--source` says otherwise); the same settings
    /// from the file or the environment do not.
    pub fn apply_cli(&mut self, common: &CommonFlags, serve: &ServeFlags) {
        if let Some(d) = &common.data_dir {
            self.data_dir = d.clone();
        }
        if let Some(b) = &serve.brokers {
            self.kafka.brokers = b.clone();
            self.source.kind = SourceKind::Kafka;
        }
        if let Some(t) = &serve.topics {
            self.kafka.topics = Some(t.clone());
        }
        if let Some(g) = &serve.group {
            self.kafka.group = g.clone();
        }
        if let Some(r) = &serve.registry {
            self.kafka.registry.url = Some(r.clone());
        }
        for (k, v) in &serve.properties {
            self.kafka.properties.insert(k.clone(), v.clone());
        }
        if let Some(f) = &serve.file {
            self.source.file = Some(f.clone());
            self.source.kind = SourceKind::Replay;
        }
        if let Some(s) = serve.source {
            self.source.kind = s;
        }
        if let Some(s) = serve.speed {
            self.source.speed = Some(s);
        }
        if let Some(r) = serve.rate {
            self.source.demo.rate = r;
        }
        if let Some(f) = serve.format {
            self.source.demo.format = f;
        }
        if let Some(l) = &serve.listen {
            self.listen = l.clone();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_win_and_a_file_or_brokers_flag_chooses_its_source() {
        let mut cfg = Config::default();
        cfg.apply_cli(
            &CommonFlags {
                data_dir: Some("d".into()),
                ..Default::default()
            },
            &ServeFlags {
                file: Some("f.jsonl".into()),
                listen: Some("127.0.0.1:0".into()),
                ..Default::default()
            },
        );
        assert_eq!(cfg.source.kind, SourceKind::Replay);
        assert_eq!(cfg.data_dir, PathBuf::from("d"));
        assert_eq!(cfg.listen, "127.0.0.1:0");
        cfg.apply_cli(
            &CommonFlags::default(),
            &ServeFlags {
                brokers: Some("b:9092".into()),
                source: Some(SourceKind::Demo),
                ..Default::default()
            },
        );
        assert_eq!(cfg.source.kind, SourceKind::Demo, "--source decides");
        assert_eq!(cfg.kafka.brokers, "b:9092");
    }
}
