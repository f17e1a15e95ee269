//! `residency serve`: one region's node — its gateway and sequencer in
//! one process (the embedded default), or either of them alone.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::Args;
use node::ClusterConfig;
use node::config::StoreLocation;
use store::keys::{FileKeyProvider, KeyProvider};
use store::{Backend, PgBackend, SqliteBackend};

/// Arguments of `residency serve`.
#[derive(Args, Debug)]
pub(crate) struct ServeArgs {
    /// The cluster file.
    #[arg(long)]
    config: PathBuf,
    /// The region this process serves.
    #[arg(long)]
    region: String,
    /// Create the region's key file and log if they are missing (the
    /// embedded default's first start).
    #[arg(long)]
    init: bool,
    /// A standby for a region whose log is in a bucket: wait for the log's
    /// lease as long as another process holds it, then take over (listen
    /// only then). Without it, a node waits the lease's length at most.
    #[arg(long)]
    standby: bool,
    /// What this process is: `both` (gateway and the log's sequencer, the
    /// default without `sequencers` in the region's configuration),
    /// `gateway` (the default with them: it sends its log entries to the
    /// region's sequencer) or `sequencer` (the log's one writer, for the
    /// region's gateways).
    #[arg(long, value_enum)]
    role: Option<Role>,
    /// Listen here instead of the region's `listen` (several gateways or
    /// sequencers of one region on one machine).
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// Serve plain HTTP when the cluster file has no `[tls]`: only behind
    /// a proxy that terminates TLS, or for testing.
    #[arg(long)]
    insecure_http: bool,
}

/// The TLS this process serves with: the cluster file's `[tls]`, or none
/// only with `--insecure-http`.
fn server_tls(
    cluster: &ClusterConfig,
    args: &ServeArgs,
) -> anyhow::Result<Option<std::sync::Arc<tls::ServerConfig>>> {
    match &cluster.tls {
        Some(t) => Ok(Some(tls::server_config(&t.cert, &t.key)?)),
        None => crate::listen::insecure(
            args.insecure_http,
            &format!("region {}'s node", args.region),
        ),
    }
}

/// What a `serve` process is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum Role {
    Both,
    Gateway,
    Sequencer,
}

pub(crate) async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let cluster = ClusterConfig::load(&args.config)?;
    let me = cluster
        .regions
        .get(&args.region)
        .with_context(|| {
            format!(
                "{}: no region {:?} (regions: {})",
                args.config.display(),
                args.region,
                cluster
                    .regions
                    .keys()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })?
        .clone();
    let role = match (args.role, me.sequencers.is_empty()) {
        (None, true) => Role::Both,
        (None, false) => Role::Gateway,
        (Some(Role::Both), false) => anyhow::bail!(
            "{}: regions.{}.sequencers lists the region's sequencers: run this process as --role gateway or --role sequencer",
            args.config.display(),
            me.id
        ),
        (Some(Role::Gateway), true) => anyhow::bail!(
            "{}: regions.{}.sequencers is empty: a gateway needs the region's sequencers (or run --role both)",
            args.config.display(),
            me.id
        ),
        (Some(r), _) => r,
    };
    let listen = args.listen.unwrap_or(me.listen);
    // Refused before anything starts, not after the log is opened.
    server_tls(&cluster, &args)?;
    if role == Role::Sequencer {
        return sequence(cluster, &args, listen).await;
    }
    let bundle = policy::Bundle::load(&cluster.policy)
        .with_context(|| format!("loading the policy directory {}", cluster.policy.display()))?;
    let keys: Arc<dyn KeyProvider> = Arc::new(if args.init && !me.keys.exists() {
        if let Some(dir) = me.keys.parent() {
            std::fs::create_dir_all(dir)?;
        }
        FileKeyProvider::open_or_create(&me.keys)?
    } else {
        FileKeyProvider::open(&me.keys).with_context(|| format!("regions.{}.keys", me.id))?
    });
    match &me.store {
        StoreLocation::Sqlite(dir) => {
            let backend = SqliteBackend::open(dir)?;
            serve(cluster, &args, listen, bundle, backend, keys).await
        }
        StoreLocation::Postgres { records, keyring } => {
            let backend = PgBackend::connect(records, keyring).await?;
            serve(cluster, &args, listen, bundle, backend, keys).await
        }
    }
}

async fn serve<B: Backend>(
    cluster: ClusterConfig,
    args: &ServeArgs,
    listen: SocketAddr,
    bundle: policy::Bundle,
    backend: B,
    keys: Arc<dyn KeyProvider>,
) -> anyhow::Result<()> {
    let me = &cluster.regions[&args.region];
    let region = Arc::new(
        node::Region::start(
            &cluster,
            &args.region,
            bundle,
            backend,
            keys,
            node::Start {
                init: args.init,
                standby: args.standby,
            },
        )
        .await?,
    );
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("listening on {listen} (regions.{}.listen)", me.id))?;
    tracing::info!(region = %me.id, %listen, "serving");
    let app = node::http::router(region.clone(), &cluster.limits);
    let sweeper = {
        let region = region.clone();
        tokio::spawn(async move {
            region
                .store()
                .run_sweeper(std::time::Duration::from_secs(3600), |r| match r {
                    Ok(swept) => tracing::debug!(?swept, "retention sweep"),
                    Err(e) => tracing::warn!("retention sweep failed: {e}"),
                })
                .await;
        })
    };
    let witnesses = {
        let (region, witnesses) = (region.clone(), cluster.witnesses.clone());
        tokio::spawn(async move { region.push_to_witnesses(&witnesses).await })
    };
    let notifier = {
        let region = region.clone();
        tokio::spawn(async move { region.run_notifier().await })
    };
    let (shutdown, writer_stopped) = until_stopped({
        let region = region.clone();
        async move { region.writer_stopped().await }
    });
    tls::serve(listener, app, server_tls(&cluster, args)?, shutdown).await?;
    sweeper.abort();
    witnesses.abort();
    notifier.abort();
    anyhow::ensure!(!writer_stopped(), WRITER_STOPPED);
    region
        .settle_log()
        .await
        .with_context(|| format!("settling the log in {}", me.log.display()))?;
    tracing::info!(region = %me.id, "stopped");
    Ok(())
}

const WRITER_STOPPED: &str = "the log's writer stopped (another writer fenced it out, or its storage failed): exiting so that a standby takes the log over";

/// A shutdown signal for a process that writes a log: Ctrl-C, or its
/// writer stopping for good (`stopped`) — then the process must exit, so
/// that its lease lapses and a standby takes the log over. The second
/// value tells, once the server has stopped, whether the writer did.
fn until_stopped(
    stopped: impl std::future::Future<Output = ()> + Send + 'static,
) -> (impl std::future::Future<Output = ()>, impl Fn() -> bool) {
    use std::sync::atomic::{AtomicBool, Ordering};
    let flag = Arc::new(AtomicBool::new(false));
    let set = flag.clone();
    let shutdown = async move {
        tokio::select! {
            () = crate::listen::ctrl_c() => {}
            () = stopped => set.store(true, Ordering::SeqCst),
        }
    };
    (shutdown, move || flag.load(Ordering::SeqCst))
}

/// The region's sequencer alone: the log's one writer for its gateways.
async fn sequence(
    cluster: ClusterConfig,
    args: &ServeArgs,
    listen: SocketAddr,
) -> anyhow::Result<()> {
    let me = &cluster.regions[&args.region];
    let node = Arc::new(
        node::SequencerNode::start(
            &cluster,
            &args.region,
            node::Start {
                init: args.init,
                standby: args.standby,
            },
        )
        .await?,
    );
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("listening on {listen} (regions.{}'s sequencer)", me.id))?;
    tracing::info!(region = %me.id, %listen, "sequencing");
    let witnesses = {
        let (node, witnesses) = (node.clone(), cluster.witnesses.clone());
        tokio::spawn(async move { node.push_to_witnesses(&witnesses).await })
    };
    let (shutdown, writer_stopped) = until_stopped({
        let node = node.clone();
        async move { node.stopped().await }
    });
    tls::serve(
        listener,
        node.clone().router(),
        server_tls(&cluster, args)?,
        shutdown,
    )
    .await?;
    witnesses.abort();
    anyhow::ensure!(!writer_stopped(), WRITER_STOPPED);
    node.settle_log()
        .await
        .with_context(|| format!("settling the log in {}", me.log.display()))?;
    tracing::info!(region = %me.id, "stopped");
    Ok(())
}
