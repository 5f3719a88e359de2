//! The `streamq` command: serve, replay, produce, sql, ask, mcp, bench. Flags become
//! configuration ([`Config::apply_cli`]); serving is [`streamq::server::run`].

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use tokio_util::sync::CancellationToken;

use streamq::bench::BenchCmd;
use streamq::client::{Client, print};
use streamq::config::cli::{CommonFlags, ServeFlags};
use streamq::config::{Config, SourceKind};
use streamq::ingest::produce::{self, ProduceFormat, ProduceOptions, ProduceSource};
use streamq::ingest::registry::SchemaRegistry;
use streamq::{Node, table_checksum};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "streamq",
    version,
    about = "Real-time CDC stream query assistant"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Ingest from a source and serve the HTTP API.
    Serve {
        #[command(flatten)]
        common: CommonFlags,
        #[command(flatten)]
        flags: ServeFlags,
    },
    /// Publish the demo stream or a replay file to Kafka (creates the topics).
    Produce {
        /// bootstrap.servers (default: `kafka.brokers` of the config).
        #[arg(long, env = "STREAMQ_KAFKA_BROKERS")]
        brokers: Option<String>,
        /// Config file (TOML): its `kafka.brokers` and `kafka.properties` (security, SASL,
        /// compression …) apply; `-X` wins over them.
        #[arg(long, env = "STREAMQ_CONFIG")]
        config: Option<PathBuf>,
        /// demo or replay.
        #[arg(long, default_value = "demo")]
        source: ProduceFrom,
        /// The replay file (with --source replay).
        file: Option<PathBuf>,
        /// Encoding written to Kafka.
        #[arg(long, default_value = "json")]
        format: ProduceFormat,
        /// Schema Registry URL (for --format avro).
        #[arg(long, env = "STREAMQ_SCHEMA_REGISTRY_URL")]
        registry: Option<String>,
        /// Partitions for topics that do not exist yet.
        #[arg(long, default_value_t = 3)]
        partitions: i32,
        /// Replication factor for topics that do not exist yet.
        #[arg(long, default_value_t = 1)]
        replication_factor: i32,
        /// Records to produce (demo default: 100 000; replay default: the whole file).
        #[arg(long)]
        limit: Option<u64>,
        /// Demo seed.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// A librdkafka property, `name=value` (repeatable; as kcat's `-X`).
        #[arg(long = "property", short = 'X', value_parser = streamq::config::cli::parse_property)]
        properties: Vec<(String, String)>,
    },
    /// Run one SQL query against a running server and print the result.
    Sql {
        sql: String,
        #[arg(long, env = "STREAMQ_SERVER", default_value = "http://127.0.0.1:8080")]
        server: String,
    },
    /// Ask a running server a question in plain English; prints the answer, the SQL and the rows.
    Ask {
        question: String,
        /// The instant "now" means (RFC 3339); default: the server's clock.
        #[arg(long)]
        as_of: Option<String>,
        #[arg(long, env = "STREAMQ_SERVER", default_value = "http://127.0.0.1:8080")]
        server: String,
    },
    /// Serve streamq's MCP tools over stdio (what an MCP desktop client launches), calling a
    /// running server's REST API.
    Mcp {
        #[arg(long, env = "STREAMQ_SERVER", default_value = "http://127.0.0.1:8080")]
        server: String,
        #[command(flatten)]
        common: CommonFlags,
    },
    /// Ingest a replay file and exit when caught up.
    Replay {
        file: PathBuf,
        #[command(flatten)]
        common: CommonFlags,
    },
    /// Manage API tokens in a data directory (works while the server runs).
    Token {
        #[command(subcommand)]
        what: TokenCmd,
    },
    /// Read the audit trail of a data directory (works while the server runs).
    Audit {
        #[command(subcommand)]
        what: AuditCmd,
    },
    /// Measure throughput and latency.
    Bench {
        #[command(subcommand)]
        what: BenchCmd,
    },
}

#[derive(Subcommand)]
enum AuditCmd {
    /// Print the entries as JSON lines, oldest first.
    Export {
        /// From this time (RFC 3339, inclusive).
        #[arg(long)]
        from: Option<String>,
        /// Up to this time (RFC 3339, exclusive).
        #[arg(long)]
        to: Option<String>,
        #[command(flatten)]
        common: CommonFlags,
    },
}

fn audit_command(what: AuditCmd) -> anyhow::Result<()> {
    let AuditCmd::Export { from, to, common } = what;
    let dir = load(&common, &ServeFlags::default())?
        .data_dir
        .join("audit");
    let mut out = std::io::stdout().lock();
    for e in streamq::audit::read_dir(&dir, from.as_deref(), to.as_deref())? {
        use std::io::Write;
        writeln!(out, "{}", serde_json::to_string(&e)?)?;
    }
    Ok(())
}

#[derive(Subcommand)]
enum TokenCmd {
    /// Create a token and print it (the only time it is shown).
    Create {
        /// viewer (reads), analyst (also SQL, questions, live tails), admin (also rules,
        /// tokens, quarantine bytes), metrics (`/metrics` only).
        #[arg(long)]
        role: streamq::auth::Role,
        /// Who or what holds it (shown in listings and the audit trail).
        #[arg(long)]
        name: String,
        /// A personal-data column an analyst sees unmasked: `<schema>.<table>.<column>`
        /// (`*` for any one part) or a class (`email`, `phone`, `name`, …); repeatable.
        #[arg(long = "grant")]
        grants: Vec<String>,
        #[command(flatten)]
        common: CommonFlags,
    },
    /// List tokens (ids, names, roles, revocations; never secrets).
    List {
        #[command(flatten)]
        common: CommonFlags,
    },
    /// Revoke a token by id; requests with it are refused from then on.
    Revoke {
        id: String,
        #[command(flatten)]
        common: CommonFlags,
    },
}

fn token_command(what: TokenCmd) -> anyhow::Result<()> {
    use streamq::auth::tokens::TokenStore;
    // The data directory as `serve` would find it: the file, the environment, the flag.
    let store = |common: &CommonFlags| -> anyhow::Result<TokenStore> {
        Ok(TokenStore::in_data_dir(
            &load(common, &ServeFlags::default())?.data_dir,
        ))
    };
    match what {
        TokenCmd::Create {
            role,
            name,
            grants,
            common,
        } => {
            let store = store(&common)?;
            let (token, info) = store.create(&name, role, &grants)?;
            eprintln!(
                "token {} ({}, {}) created in {}; it is shown once:",
                info.id,
                info.name,
                info.role.as_str(),
                store.path().display()
            );
            println!("{token}");
        }
        TokenCmd::List { common } => {
            let store = store(&common)?;
            for t in store.list()? {
                println!(
                    "{}  {:<8} {:<24} created {}{}{}",
                    t.id,
                    t.role.as_str(),
                    t.name,
                    t.created,
                    t.revoked
                        .map(|r| format!("  revoked {r}"))
                        .unwrap_or_default(),
                    if t.grants.is_empty() {
                        String::new()
                    } else {
                        format!("  grants {}", t.grants.join(", "))
                    }
                );
            }
        }
        TokenCmd::Revoke { id, common } => {
            let store = store(&common)?;
            if !store.revoke(&id)? {
                bail!("no token {id} in {}", store.path().display());
            }
            println!("revoked {id}");
        }
    }
    Ok(())
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum ProduceFrom {
    Demo,
    Replay,
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("STREAMQ_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

/// The file (if any) → the environment → the flags.
fn load(common: &CommonFlags, serve: &ServeFlags) -> anyhow::Result<Config> {
    let mut cfg = Config::load(common.config.as_deref(), &Config::process_env())?;
    cfg.apply_cli(common, serve);
    Ok(cfg)
}

/// A client command's error: printed, exit status 1.
fn or_exit(r: Result<(), streamq::client::CallError>) -> anyhow::Result<()> {
    if let Err(e) = r {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::Serve { common, flags } => {
            init_tracing();
            let cfg = load(&common, &flags)?;
            cfg.validate()?;
            let listener = tokio::net::TcpListener::bind(&cfg.listen)
                .await
                .with_context(|| format!("cannot listen on {}", cfg.listen))?;
            let shutdown = CancellationToken::new();
            tokio::spawn(streamq::server::shutdown_on_signal(shutdown.clone()));
            let scheme = if cfg.tls.cert.is_some() {
                "https"
            } else {
                "http"
            };
            let running = streamq::server::run(cfg, common.rebuild, listener, shutdown).await?;
            let addr = running.addr;
            println!(
                "streamq serving on {scheme}://{addr}  (dashboard: {scheme}://{addr}/ , SQL: POST /api/sql)"
            );
            running.finish().await
        }
        Cmd::Produce {
            brokers,
            config,
            source,
            file,
            format,
            registry,
            partitions,
            replication_factor,
            limit,
            seed,
            properties,
        } => {
            init_tracing();
            let source = match (source, file) {
                (ProduceFrom::Replay, Some(f)) => ProduceSource::Replay(f),
                (ProduceFrom::Replay, None) => bail!("--source replay needs a FILE"),
                (ProduceFrom::Demo, _) => ProduceSource::Demo(streamq::config::DemoConfig {
                    seed,
                    partitions,
                    ..Default::default()
                }),
            };
            // The registry's credentials and the Kafka properties are settings (kafka.*), from
            // the config file and the environment.
            let settings = Config::load(config.as_deref(), &Config::process_env())?;
            let mut kafka_properties = settings.kafka.properties.clone();
            kafka_properties.extend(properties);
            let registry = registry.map(|url| {
                SchemaRegistry::new(
                    &url,
                    settings.kafka.registry.username.as_deref(),
                    settings.kafka.registry.password.as_deref(),
                )
            });
            let opts = ProduceOptions {
                brokers: brokers.unwrap_or_else(|| settings.kafka.brokers.clone()),
                source,
                format,
                registry,
                partitions,
                replication: replication_factor,
                properties: kafka_properties,
                limit,
            };
            let summary = tokio::task::spawn_blocking(move || produce::run(opts)).await??;
            println!("{}", serde_json::to_string_pretty(&summary)?);
            Ok(())
        }
        Cmd::Mcp { server, common } => {
            let cfg = load(&common, &ServeFlags::default())?;
            let client = Client::new(&server).with_token(streamq::client::token_from_env()?);
            streamq::mcp::serve_stdio(client, cfg.mcp).await
        }
        Cmd::Sql { sql, server } => {
            let client = Client::new(&server).with_token(streamq::client::token_from_env()?);
            or_exit(print::sql(&client, &sql))
        }
        Cmd::Ask {
            question,
            as_of,
            server,
        } => {
            let client = Client::new(&server).with_token(streamq::client::token_from_env()?);
            or_exit(print::ask(&client, &question, as_of.as_deref()))
        }
        Cmd::Token { what } => token_command(what),
        Cmd::Audit { what } => audit_command(what),
        Cmd::Replay { file, common } => {
            init_tracing();
            let mut cfg = load(&common, &ServeFlags::default())?;
            cfg.source.kind = SourceKind::Replay;
            cfg.source.file = Some(file);
            cfg.source.speed = None;
            cfg.validate()?;
            let node = Node::start(cfg, common.rebuild).await?;
            let (took, read) = node.ingest_to_end().await?;
            print_summary(&node, took, read);
            node.stop().await;
            Ok(())
        }
        Cmd::Bench { what } => what.run().await,
    }
}

fn print_summary(node: &Node, took: std::time::Duration, read: u64) {
    println!(
        "replayed {read} records in {:.2}s ({:.0} events/s)",
        took.as_secs_f64(),
        read as f64 / took.as_secs_f64().max(1e-9)
    );
    for t in node.catalog.tables() {
        let (n, sum) = table_checksum(&t);
        println!(
            "  {:<22} {:>8} rows  checksum {:016x}",
            t.schema.read().name.to_string(),
            n,
            sum
        );
    }
    let q = node.store.quarantine().map(|q| q.len()).unwrap_or(0);
    println!("  quarantined: {q}");
}
