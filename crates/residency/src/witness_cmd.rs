//! `residency witness`: the `witness` crate's C2SP tlog-witness, serving
//! the regions' logs.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::Args;
use tlog::note::TYPE_COSIGNATURE_V1;
use tlog::{Signer, Verifier};

/// Arguments of `residency witness`.
#[derive(Args, Debug)]
pub(crate) struct WitnessArgs {
    /// Address to listen on; the submission prefix is `https://ADDR`.
    #[arg(long)]
    listen: SocketAddr,
    /// The witness's signing key (cosignature/v1 skey).
    #[arg(long)]
    key: PathBuf,
    /// Create the key if it is missing, named NAME, and print its vkey.
    #[arg(long, value_name = "NAME")]
    init: Option<String>,
    /// The witness's state (SQLite): latest cosigned checkpoints, every
    /// checkpoint seen, split-view evidence.
    #[arg(long)]
    state: PathBuf,
    /// A log to witness: its vkey, or a file holding it. Repeat per log.
    #[arg(long = "log", required = true)]
    logs: Vec<String>,
    /// Serve only C2SP tlog-witness (`add-checkpoint`), without this
    /// witness's `/latest` and `/evidence` extensions: for testing monitors
    /// and logs against a witness as a third party runs it.
    #[arg(long)]
    c2sp_only: bool,
    #[command(flatten)]
    tls: crate::listen::ListenTls,
}

pub(crate) async fn run(args: WitnessArgs) -> anyhow::Result<()> {
    // Refused before anything is created.
    let tls = args.tls.config("the witness")?;
    let signer = match (&args.init, args.key.exists()) {
        (Some(name), false) => {
            let signer = Signer::generate(name, TYPE_COSIGNATURE_V1)?;
            tlog::keyfile::create_private(&args.key, format!("{}\n", signer.to_skey()).as_bytes())
                .with_context(|| format!("creating {}", args.key.display()))?;
            signer
        }
        _ => {
            let text = std::fs::read_to_string(&args.key)
                .with_context(|| format!("reading the witness key {}", args.key.display()))?;
            Signer::parse(text.trim())
                .with_context(|| format!("{}: not a signing key", args.key.display()))?
        }
    };
    println!("{}", signer.verifier().to_vkey());
    let mut logs = Vec::new();
    for l in &args.logs {
        let text = if std::path::Path::new(l).is_file() {
            std::fs::read_to_string(l).with_context(|| format!("reading {l}"))?
        } else {
            l.clone()
        };
        logs.push(Verifier::parse(text.trim()).with_context(|| format!("--log {l}: not a vkey"))?);
    }
    let witness = Arc::new(witness::Witness::open(&args.state, signer, logs)?);
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("listening on {}", args.listen))?;
    tracing::info!(listen = %args.listen, "witness serving");
    let app = if args.c2sp_only {
        witness::c2sp_router(witness)
    } else {
        witness::router(witness)
    };
    tls::serve(listener, app, tls, crate::listen::ctrl_c()).await?;
    Ok(())
}
