//! TLS for every listener and client of residency: rustls with the ring
//! provider (no aws-lc in the build), certificates and keys read from PEM
//! files named in the configuration, and a throwaway local CA for a
//! cluster on one machine (`residency demo`, the tests).
//!
//! - [`server_config`] and [`serve`]: a listener over TLS (or, only when
//!   the caller asked for it, plain HTTP). Handshakes run apart from the
//!   accept loop, each within [`HANDSHAKE`], so a slow client holds up no
//!   other.
//! - [`client`]: an HTTP client that trusts the configured CA only — or,
//!   with none, the platform's roots.
//! - [`LocalCa`]: a CA made at start and a certificate it signed.
//!
//! Peers authenticate each other with the bearer tokens they already
//! present, now over TLS: the server is authenticated by its certificate,
//! the client by its token (scoped to one region or principal, stored
//! hashed, compared in constant time) — not mutual TLS, which would add a
//! certificate per process to issue and rotate for no authority the
//! tokens do not already carry.
#![deny(missing_docs)]
#![cfg_attr(
    not(test),
    warn(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

use std::io::Write as _;
use std::net::SocketAddr;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls::RootCertStore;
pub use rustls::ServerConfig;
use rustls::crypto::CryptoProvider;
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

/// Longest a TLS handshake may take before the connection is dropped.
pub const HANDSHAKE: Duration = Duration::from_secs(10);

/// What can go wrong setting TLS up. Messages name files and what was
/// wrong with them, never key material.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A certificate or key file could not be read or holds no usable PEM.
    #[error("{path}: {why}")]
    File {
        /// The file.
        path: String,
        /// What was wrong.
        why: String,
    },
    /// rustls refused the certificates or key.
    #[error("TLS configuration: {0}")]
    Config(String),
    /// The local CA could not be made.
    #[error("local CA: {0}")]
    LocalCa(String),
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Makes ring the process's crypto provider (for clients built without a
/// configuration of their own, such as the object store's). Idempotent.
pub fn install_ring() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

fn file_error(path: &Path, why: impl ToString) -> Error {
    Error::File {
        path: path.display().to_string(),
        why: why.to_string(),
    }
}

/// The certificates of a PEM file, in order.
fn certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, Error> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| file_error(path, e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| file_error(path, e))?;
    if certs.is_empty() {
        return Err(file_error(path, "holds no PEM certificate"));
    }
    Ok(certs)
}

/// A server's TLS configuration: its certificate chain (`cert`, PEM, leaf
/// first) and private key (`key`, PEM), HTTP/2 and HTTP/1.1 offered.
pub fn server_config(cert: &Path, key: &Path) -> Result<Arc<rustls::ServerConfig>, Error> {
    let certs = certificates(cert)?;
    let key = PrivateKeyDer::from_pem_file(key).map_err(|_| {
        file_error(
            key,
            "holds no PEM private key (PKCS#8, PKCS#1 or SEC1) that could be read",
        )
    })?;
    let mut config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Config(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| Error::Config(format!("{}: {e}", cert.display())))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// The roots in a PEM file of CA certificates.
pub fn roots(ca: &Path) -> Result<RootCertStore, Error> {
    let mut roots = RootCertStore::empty();
    for cert in certificates(ca)? {
        roots.add(cert).map_err(|e| file_error(ca, e))?;
    }
    Ok(roots)
}

/// An HTTP client builder that trusts the CA certificates in `ca` and no
/// other root; without `ca`, the platform's roots (through ring).
pub fn client(ca: Option<&Path>) -> Result<reqwest::ClientBuilder, Error> {
    install_ring();
    let Some(ca) = ca else {
        return Ok(reqwest::Client::builder());
    };
    let config = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Config(e.to_string()))?
        .with_root_certificates(roots(ca)?)
        .with_no_client_auth();
    Ok(reqwest::Client::builder().tls_backend_preconfigured(config))
}

/// A listener whose connections are TLS streams, handshaken apart from
/// the accept loop (each within [`HANDSHAKE`]); for `axum::serve`.
pub struct TlsListener {
    ready: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    local: SocketAddr,
    accepting: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for TlsListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TlsListener({})", self.local)
    }
}

impl Drop for TlsListener {
    fn drop(&mut self) {
        self.accepting.abort();
    }
}

impl TlsListener {
    /// Accepts on `tcp`, handshaking with `config`.
    pub fn new(tcp: TcpListener, config: Arc<rustls::ServerConfig>) -> std::io::Result<Self> {
        let local = tcp.local_addr()?;
        let acceptor = TlsAcceptor::from(config);
        let (tx, ready) = mpsc::channel(256);
        let accepting = tokio::spawn(async move {
            loop {
                let (stream, peer) = match tcp.accept().await {
                    Ok(s) => s,
                    Err(e) => {
                        // Out of descriptors, or the like: wait, go on.
                        tracing::warn!("accepting a connection: {e}");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                // An answer's last segment goes out at once, not after the
                // client's delayed acknowledgement of the one before (Nagle):
                // a 40 ms stall on answers of a few hundred KiB otherwise.
                let _ = stream.set_nodelay(true);
                let (acceptor, tx) = (acceptor.clone(), tx.clone());
                tokio::spawn(async move {
                    match tokio::time::timeout(HANDSHAKE, acceptor.accept(stream)).await {
                        Ok(Ok(tls)) => {
                            let _ = tx.send((tls, peer)).await;
                        }
                        Ok(Err(e)) => tracing::debug!(%peer, "TLS handshake failed: {e}"),
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                });
            }
        });
        Ok(TlsListener {
            ready,
            local,
            accepting,
        })
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(conn) => conn,
            // The accepting task never ends on its own; if it is gone,
            // there is nothing more to serve.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local)
    }
}

/// Serves `router` on `tcp` until `shutdown` resolves: over TLS with
/// `tls`, or plain HTTP with `None` (which callers allow only when told
/// to, e.g. `--insecure-http`).
pub async fn serve(
    tcp: TcpListener,
    router: axum::Router,
    tls: Option<Arc<rustls::ServerConfig>>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    match tls {
        None => {
            use axum::serve::ListenerExt as _;
            let tcp = tcp.tap_io(|s| {
                let _ = s.set_nodelay(true);
            });
            axum::serve(tcp, router)
                .with_graceful_shutdown(shutdown)
                .await
        }
        Some(config) => {
            axum::serve(TlsListener::new(tcp, config)?, router)
                .with_graceful_shutdown(shutdown)
                .await
        }
    }
}

/// A throwaway certificate authority and one certificate it signed, PEM:
/// enough for every process of a cluster on one machine.
pub struct LocalCa {
    /// The CA's certificate (what clients trust).
    pub ca: String,
    /// The certificate for the names asked for.
    pub cert: String,
    /// Its private key.
    pub key: String,
}

impl std::fmt::Debug for LocalCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LocalCa(..)")
    }
}

impl LocalCa {
    /// A fresh CA (its key dropped once it has signed) and a certificate
    /// for `names` (DNS names or IP addresses, e.g. `127.0.0.1`).
    pub fn new(names: &[&str]) -> Result<Self, Error> {
        let fail = |e: rcgen::Error| Error::LocalCa(e.to_string());
        let ca_key = rcgen::KeyPair::generate().map_err(fail)?;
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).map_err(fail)?;
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "residency local CA");
        ca_params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::CrlSign,
        ];
        let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).map_err(fail)?;
        let key = rcgen::KeyPair::generate().map_err(fail)?;
        let mut params =
            rcgen::CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
                .map_err(fail)?;
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "residency local node");
        params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
        let cert = params.signed_by(&key, &ca).map_err(fail)?;
        Ok(LocalCa {
            ca: ca.pem(),
            cert: cert.pem(),
            key: key.serialize_pem(),
        })
    }

    /// Writes `ca.pem`, `cert.pem` and `key.pem` (readable by its owner
    /// only) into `dir`, which must not hold them already.
    pub fn write(&self, dir: &Path) -> Result<(), Error> {
        std::fs::create_dir_all(dir).map_err(|e| file_error(dir, e))?;
        for (name, text, mode) in [
            ("ca.pem", &self.ca, 0o644),
            ("cert.pem", &self.cert, 0o644),
            ("key.pem", &self.key, 0o600),
        ] {
            let path = dir.join(name);
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(mode)
                .open(&path)
                .map_err(|e| file_error(&path, e))?;
            f.write_all(text.as_bytes())
                .map_err(|e| file_error(&path, e))?;
        }
        Ok(())
    }
}
