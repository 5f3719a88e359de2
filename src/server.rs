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
) -> std::io::Result<(SocketAddr, JoinHandle<std::io::Result<()>>)> {
    let addr = listener.local_addr()?;
    // A server answers questions: read the model now rather than on the first one.
    let assistant = node.assistant.clone();
    tokio::spawn(async move { assistant.warm().await });
    let app = router(AppState::new(node));
    let http = tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await
    });
    Ok((addr, http))
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
