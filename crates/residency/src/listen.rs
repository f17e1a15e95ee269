//! How a server command listens: over TLS from the files given, or plain
//! HTTP only when asked (`--insecure-http`).

use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;

/// A listener's TLS files, as flags.
#[derive(Args, Debug, Clone)]
pub(crate) struct ListenTls {
    /// The listener's certificate chain (PEM, leaf first).
    #[arg(long, value_name = "PEM", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// Its private key (PEM).
    #[arg(long, value_name = "PEM", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Serve plain HTTP: only behind a proxy that terminates TLS, or for
    /// testing.
    #[arg(long, conflicts_with_all = ["tls_cert", "tls_key"])]
    insecure_http: bool,
}

impl ListenTls {
    /// The TLS configuration `what` serves with; `None` only with
    /// `--insecure-http`.
    pub(crate) fn config(&self, what: &str) -> anyhow::Result<Option<Arc<tls::ServerConfig>>> {
        match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) => Ok(Some(tls::server_config(cert, key)?)),
            _ => insecure(self.insecure_http, what),
        }
    }
}

/// No TLS: allowed only when asked, and said.
pub(crate) fn insecure(asked: bool, what: &str) -> anyhow::Result<Option<Arc<tls::ServerConfig>>> {
    if !asked {
        anyhow::bail!(
            "{what} has no certificate: give --tls-cert and --tls-key (or `[tls]` in the cluster file), or --insecure-http to serve plain HTTP"
        );
    }
    tracing::warn!("{what} serves plain HTTP (--insecure-http)");
    Ok(None)
}

/// What ends a server: Ctrl-C (SIGINT).
pub(crate) async fn ctrl_c() {
    let _ = tokio::signal::ctrl_c().await;
}
