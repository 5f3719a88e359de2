//! Serving everything: a node started from its configuration, its source, and the HTTP
//! surface (REST, `/ws`, `/mcp`, the dashboard) on a listener, until shutdown; then a drain.
//! `main.rs` and the test harness both serve through here.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::node::Node;
use crate::web::{AppState, router};

/// How long a shutdown may take to drain ingestion and flush state before exiting anyway.
pub const DRAIN_DEADLINE: Duration = Duration::from_secs(20);

/// A serving streamq.
pub struct Running {
    pub node: Node,
    /// Where the HTTP surface answers.
    pub addr: SocketAddr,
    /// Resolves when the source has ended and all it produced is applied (or on shutdown).
    pub ingest: JoinHandle<()>,
    http: JoinHandle<std::io::Result<()>>,
}

/// Starts a node from `config` (cleared first when `rebuild`), its source, and the HTTP
/// surface on `listener`; everything stops when `shutdown` is cancelled.
pub async fn run(
    config: Config,
    rebuild: bool,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<Running> {
    check_exposure(&config, listener.local_addr()?)?;
    // TLS files are read before anything starts, so a bad one stops nothing half-way (and
    // the registry's client, made as the node starts, trusts `tls.ca_file`).
    crate::tls::trust(config.tls.ca_file.as_deref())?;
    if let (Some(cert), Some(key)) = (&config.tls.cert, &config.tls.key) {
        crate::tls::server_config(cert, key)?;
    }
    let node = Node::start(config, rebuild).await?;
    let ingest = node.start_source(shutdown.clone());
    let (addr, http) = serve(node.clone(), listener, shutdown)?;
    Ok(Running {
        node,
        addr,
        ingest,
        http,
    })
}

/// Serves the HTTP surface of an already started node on `listener` until `shutdown`.
pub fn serve(
    node: Node,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<(SocketAddr, JoinHandle<std::io::Result<()>>)> {
    let addr = listener.local_addr()?;
    check_exposure(&node.config, addr)?;
    // A server answers questions: read the model now rather than on the first one.
    let assistant = node.assistant.clone();
    tokio::spawn(async move { assistant.warm().await });
    crate::tls::trust(node.config.tls.ca_file.as_deref())?;
    let tls = match (&node.config.tls.cert, &node.config.tls.key) {
        (Some(cert), Some(key)) => {
            let served = crate::tls::Served::load(cert, key)?;
            served.reload_on_sighup();
            Some(served)
        }
        (None, None) => None,
        _ => anyhow::bail!("tls.cert and tls.key go together: set both to serve HTTPS"),
    };
    let mut state = AppState::new(node, Some(addr));
    state.secure_cookies = tls.is_some();
    let app = router(state).into_make_service_with_connect_info::<SocketAddr>();
    let stop = async move { shutdown.cancelled().await };
    let http = match tls {
        None => tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(stop)
                .await
        }),
        Some(served) => {
            use axum::serve::ListenerExt;
            let listener = crate::tls::TlsListener::new(listener, served)?.tap_io(|_| {});
            tokio::spawn(async move {
                axum::serve(listener, app)
                    .with_graceful_shutdown(stop)
                    .await
            })
        }
    };
    Ok((addr, http))
}

/// With no token, streamq serves loopback only: anyone reaching the port would be an admin.
/// A wider address then refuses to start unless `auth.allow_anonymous`, which is warned about.
pub fn check_exposure(config: &Config, addr: SocketAddr) -> anyhow::Result<()> {
    let tokens = crate::auth::tokens::TokenStore::in_data_dir(&config.data_dir);
    if tokens.enabled() {
        tracing::info!(target: "streamq::auth", file = %tokens.path().display(),
            "authentication on: every request but health and sign-in needs a token");
        return Ok(());
    }
    if addr.ip().is_loopback() {
        tracing::info!(target: "streamq::auth", %addr,
            "authentication off (no token exists): serving loopback only; \
             create one with `streamq token create --role admin --name NAME` to share this server");
        return Ok(());
    }
    if !config.auth.allow_anonymous {
        anyhow::bail!(
            "refusing to serve {addr} without authentication: anyone reaching it could read \
             every table and change alert rules. Create a token (`streamq token create --role \
             admin --name NAME`), listen on 127.0.0.1, or set auth.allow_anonymous = true"
        );
    }
    tracing::warn!(target: "streamq::auth", %addr,
        "AUTHENTICATION IS OFF on a non-loopback address (auth.allow_anonymous = true): \
         anyone who can reach {addr} reads every table and changes alert rules");
    Ok(())
}

impl Running {
    /// Waits for the HTTP server to stop (on shutdown), then drains: the router delivers what
    /// it has cut, the actors stop and sled flushes. Past [`DRAIN_DEADLINE`] it returns anyway
    /// (state is a fold of the log: a restart re-reads what was lost).
    pub async fn finish(self) -> anyhow::Result<()> {
        self.http.await??;
        let node = self.node;
        let ingest = self.ingest;
        let drain = async {
            let _ = ingest.await;
            node.stop().await;
        };
        if tokio::time::timeout(DRAIN_DEADLINE, drain).await.is_err() {
            tracing::warn!("shutdown deadline passed; exiting without a clean drain");
        }
        Ok(())
    }
}

/// Cancels `token` on Ctrl-C or SIGTERM.
pub async fn shutdown_on_signal(token: CancellationToken) {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down: draining ingestion, flushing state");
    token.cancel();
}
