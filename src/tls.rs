//! TLS, both ways. Serving: the certificate and key files of `[tls]`, read at start and again
//! on SIGHUP (a renewed certificate is served to new connections without a restart), behind a
//! listener that completes handshakes off the accept loop. Calling out (webhooks, the schema
//! registry, `--server` clients): the web's public roots plus `tls.ca_file`, for sites whose
//! services carry a private CA's certificates.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use parking_lot::RwLock;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::server::TlsStream;

/// Why TLS cannot be set up.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{path}: {why}")]
    File { path: String, why: String },
    #[error("the certificate and key do not make a TLS configuration: {0}")]
    Config(String),
}

fn file_error(path: &Path, why: impl std::fmt::Display) -> TlsError {
    TlsError::File {
        path: path.display().to_string(),
        why: why.to_string(),
    }
}

/// The crypto provider every configuration uses.
fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A server configuration from PEM files: the certificate chain, and its private key.
pub fn server_config(cert: &Path, key: &Path) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| file_error(cert, e))?
        .collect::<Result<_, _>>()
        .map_err(|e| file_error(cert, e))?;
    if chain.is_empty() {
        return Err(file_error(cert, "no certificate in the file"));
    }
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| file_error(key, e))?;
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| TlsError::Config(e.to_string()))?;
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(cfg))
}

/// The certificate being served, replaced by [`Served::reload`].
pub struct Served {
    cert: PathBuf,
    key: PathBuf,
    current: RwLock<Arc<rustls::ServerConfig>>,
}

impl Served {
    pub fn load(cert: &Path, key: &Path) -> Result<Arc<Served>, TlsError> {
        Ok(Arc::new(Served {
            cert: cert.to_path_buf(),
            key: key.to_path_buf(),
            current: RwLock::new(server_config(cert, key)?),
        }))
    }

    /// Reads the files again; on failure the certificate served so far stays (and the
    /// error says why).
    pub fn reload(&self) -> Result<(), TlsError> {
        let cfg = server_config(&self.cert, &self.key)?;
        *self.current.write() = cfg;
        Ok(())
    }

    fn acceptor(&self) -> tokio_rustls::TlsAcceptor {
        tokio_rustls::TlsAcceptor::from(self.current.read().clone())
    }

    /// Reloads on every SIGHUP, for as long as the process runs.
    pub fn reload_on_sighup(self: &Arc<Self>) {
        #[cfg(unix)]
        {
            let me = self.clone();
            tokio::spawn(async move {
                use tokio::signal::unix::{SignalKind, signal};
                let Ok(mut hup) = signal(SignalKind::hangup()) else {
                    tracing::warn!(target: "streamq::tls", "SIGHUP cannot be watched: the certificate is not reloaded");
                    return;
                };
                while hup.recv().await.is_some() {
                    match me.reload() {
                        Ok(()) => {
                            tracing::info!(target: "streamq::tls", cert = %me.cert.display(), "certificate reloaded")
                        }
                        Err(e) => {
                            tracing::error!(target: "streamq::tls", error = %e, "certificate not reloaded; the previous one is still served")
                        }
                    }
                }
            });
        }
    }
}

/// How long a client has to complete its handshake.
const HANDSHAKE: Duration = Duration::from_secs(10);

/// A TCP listener whose connections are TLS: handshakes run in their own tasks, so a slow or
/// silent client holds up no one; a failed one is logged and dropped.
pub struct TlsListener {
    addr: SocketAddr,
    ready: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
}

impl TlsListener {
    pub fn new(tcp: TcpListener, served: Arc<Served>) -> std::io::Result<TlsListener> {
        let addr = tcp.local_addr()?;
        let (tx, ready) = mpsc::channel(64);
        tokio::spawn(async move {
            loop {
                let (stream, peer) = match tcp.accept().await {
                    Ok(x) => x,
                    Err(e) => {
                        tracing::warn!(target: "streamq::tls", error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                if tx.is_closed() {
                    return;
                }
                let acceptor = served.acceptor();
                let ready = tx.clone();
                tokio::spawn(async move {
                    match tokio::time::timeout(HANDSHAKE, acceptor.accept(stream)).await {
                        Ok(Ok(tls)) => {
                            let _ = ready.send((tls, peer)).await;
                        }
                        Ok(Err(e)) => {
                            tracing::debug!(target: "streamq::tls", %peer, error = %e, "handshake failed")
                        }
                        Err(_) => {
                            tracing::debug!(target: "streamq::tls", %peer, "handshake timed out")
                        }
                    }
                });
            }
        });
        Ok(TlsListener { addr, ready })
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(x) => x,
            // The accept task ended (it never does while the listener lives).
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.addr)
    }
}

static CLIENT: OnceLock<Arc<rustls::ClientConfig>> = OnceLock::new();

/// Sets the roots outbound calls trust: the web's public roots and the certificates of
/// `ca_file`. Called once at start; later calls keep the first.
pub fn trust(ca_file: Option<&Path>) -> Result<(), TlsError> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(f) = ca_file {
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(f)
            .map_err(|e| file_error(f, e))?
            .collect::<Result<_, _>>()
            .map_err(|e| file_error(f, e))?;
        if certs.is_empty() {
            return Err(file_error(f, "no certificate in the file"));
        }
        for c in certs {
            roots.add(c).map_err(|e| file_error(f, e))?;
        }
    }
    let _ = CLIENT.set(client_with(roots)?);
    Ok(())
}

fn client_with(roots: rustls::RootCertStore) -> Result<Arc<rustls::ClientConfig>, TlsError> {
    Ok(Arc::new(
        rustls::ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::Config(e.to_string()))?
            .with_root_certificates(roots)
            .with_no_client_auth(),
    ))
}

/// The client configuration outbound HTTPS uses (the public roots until [`trust`] is called).
pub fn client_config() -> Arc<rustls::ClientConfig> {
    if let Some(c) = CLIENT.get() {
        return c.clone();
    }
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    client_with(roots).expect("the default TLS configuration builds")
}
