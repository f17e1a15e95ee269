//! `residency custodian`: the `custodian` crate's key custodian — create
//! its keys, serve it, add a key for a rotation.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::{Args, Subcommand, ValueEnum};
use custodian::CustodianConfig;
use custodian::keys::{KeyFile, KeyProvider as _};

/// The KEM of a custodian key.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub(crate) enum SuiteArg {
    /// X-Wing (ML-KEM-768 + X25519), post-quantum hybrid.
    Xwing,
    /// DHKEM(X25519), classical.
    X25519,
}

impl From<SuiteArg> for custody::Suite {
    fn from(s: SuiteArg) -> Self {
        match s {
            SuiteArg::Xwing => custody::Suite::XWing,
            SuiteArg::X25519 => custody::Suite::X25519,
        }
    }
}

/// `residency custodian …`.
#[derive(Subcommand, Debug)]
pub(crate) enum CustodianCommand {
    /// Create the custodian's key file (mode 0600) and print its public
    /// keys, for the regions' cluster file.
    Init(InitArgs),
    /// Serve the custodian: `POST /v1/release`, `POST /v1/erase`,
    /// `GET /v1/keys`, `/metrics`.
    Serve(ServeArgs),
    /// Add a new current KEM key (the old ones stay valid until
    /// `--retire-old`), and print the public keys.
    Rotate(RotateArgs),
}

/// Arguments of `residency custodian init`.
#[derive(Args, Debug)]
pub(crate) struct InitArgs {
    /// The key file to create.
    #[arg(long)]
    key: PathBuf,
    /// The custodian's name (in its public keys and cosignatures).
    #[arg(long)]
    name: String,
    /// The KEM.
    #[arg(long, value_enum, default_value = "xwing")]
    suite: SuiteArg,
}

/// Arguments of `residency custodian serve`.
#[derive(Args, Debug)]
pub(crate) struct ServeArgs {
    /// The configuration (`custodian.toml`).
    #[arg(long)]
    config: PathBuf,
    /// The key file.
    #[arg(long)]
    key: PathBuf,
    #[command(flatten)]
    tls: crate::listen::ListenTls,
}

/// Arguments of `residency custodian rotate`.
#[derive(Args, Debug)]
pub(crate) struct RotateArgs {
    /// The key file.
    #[arg(long)]
    key: PathBuf,
    /// The new key's KEM.
    #[arg(long, value_enum, default_value = "xwing")]
    suite: SuiteArg,
    /// Instead of adding a key, drop every key but the current one (once
    /// every wrapped secret is rewrapped).
    #[arg(long)]
    retire_old: bool,
}

fn print_public(keys: &KeyFile) {
    for k in keys.public_keys() {
        println!("kem {}", k.to_text());
    }
    println!("cosigner {}", keys.cosigner().verifier().to_vkey());
}

pub(crate) async fn run(cmd: CustodianCommand) -> anyhow::Result<()> {
    match cmd {
        CustodianCommand::Init(a) => {
            let keys = KeyFile::create(&a.key, &a.name, a.suite.into())?;
            print_public(&keys);
        }
        CustodianCommand::Rotate(a) => {
            let mut keys = KeyFile::open(&a.key)?;
            if a.retire_old {
                let n = keys.retire_old()?;
                eprintln!("retired {n} old key(s)");
            } else {
                keys.add_key(a.suite.into())?;
            }
            print_public(&keys);
        }
        CustodianCommand::Serve(a) => {
            let tls = a.tls.config("the custodian")?;
            let config = CustodianConfig::load(&a.config).map_err(anyhow::Error::msg)?;
            let keys = Arc::new(KeyFile::open(&a.key)?);
            let listen = config.listen.clone();
            let gate = custodian::Gate::open(config, keys.clone(), keys.cosigner().clone())
                .map_err(anyhow::Error::msg)?;
            let listener = tokio::net::TcpListener::bind(&listen)
                .await
                .with_context(|| format!("listening on {listen}"))?;
            tracing::info!(%listen, key = keys.current().id(), "custodian serving");
            tls::serve(
                listener,
                custodian::http::router(gate),
                tls,
                crate::listen::ctrl_c(),
            )
            .await?;
        }
    }
    Ok(())
}
