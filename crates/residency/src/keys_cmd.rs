//! `residency keys …`: a region's key file, and rotation of its
//! key-encryption key (KEK) over the region's store.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use clap::{Args, Subcommand};
use policy::catalog::Catalog;
use store::keys::FileKeyProvider;
use store::{Backend, PgBackend, SqliteBackend, Store};

use crate::progress::progress;

#[derive(Subcommand, Debug)]
pub(crate) enum KeysCommand {
    /// Create a region's key file (mode 0600): its first key-encryption key
    /// and the secret subject pseudonyms derive from. Never overwrites.
    Init {
        /// Where to write it, e.g. `data/eu-fr/region.keys`.
        #[arg(long)]
        file: PathBuf,
    },
    /// Rotate the key-encryption key: add a new one to the key file, rewrap
    /// every data key of the store under it (records are not rewritten),
    /// then drop the old one. Safe to interrupt: run it again and it picks
    /// up where it stopped. Stop the region's node first (a SQLite store
    /// refuses a second process).
    Rotate {
        /// The region's key file.
        #[arg(long)]
        file: PathBuf,
        #[command(flatten)]
        store: StoreArgs,
        /// PostgreSQL connection string of the keyring database (default:
        /// the records database).
        #[arg(long, requires = "postgres")]
        keyring_postgres: Option<String>,
        /// Data keys rewrapped per transaction.
        #[arg(long, default_value_t = 1000)]
        page: usize,
    },
    /// After `residency custodian rotate` and the new key in the cluster
    /// file (`custodian = { key = … }`): has the custodian seal every batch
    /// secret of the region's store anew to that key (the secrets never
    /// leave it), then `residency custodian rotate --retire-old` can drop
    /// the old key. Safe to interrupt and run again. Stop the region's node
    /// first (a SQLite store refuses a second process).
    RewrapBatches {
        /// The cluster file.
        #[arg(long)]
        config: PathBuf,
        /// The region.
        #[arg(long)]
        region: String,
        /// Batch secrets per request and transaction.
        #[arg(long, default_value_t = 256)]
        page: usize,
    },
    /// Move a region's store from its key file to the custodian named in
    /// the cluster file (`custodian = { url, key, token }`): every record
    /// still sealed under its subject's data key is sealed anew for the
    /// custodian, then every data key is destroyed — after it, nothing on
    /// the region's disk opens a record. Needs only the custodian's public
    /// key, not the custodian. Safe to interrupt and run again. Stop the
    /// region's node first (a SQLite store refuses a second process).
    MoveToCustodian {
        /// The cluster file.
        #[arg(long)]
        config: PathBuf,
        /// The region.
        #[arg(long)]
        region: String,
        /// Data keys per transaction.
        #[arg(long, default_value_t = 1000)]
        page: usize,
    },
}

/// Where a region's store is.
#[derive(Args, Debug)]
#[group(required = true, multiple = false)]
pub(crate) struct StoreArgs {
    /// Directory of a SQLite store.
    #[arg(long)]
    sqlite: Option<PathBuf>,
    /// PostgreSQL connection string of the records database.
    #[arg(long)]
    postgres: Option<String>,
}

pub(crate) async fn run(cmd: KeysCommand) -> anyhow::Result<std::process::ExitCode> {
    match cmd {
        KeysCommand::Init { file } => {
            if let Some(parent) = file.parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::create_dir_all(parent)
                    .with_context(|| format!("creating {}", parent.display()))?;
            }
            FileKeyProvider::create(&file)?;
            println!(
                "created {} (mode 0600); keep it in the region and back it up securely",
                file.display()
            );
        }
        KeysCommand::Rotate {
            file,
            store,
            keyring_postgres,
            page,
        } => rotate(&file, &store, keyring_postgres.as_deref(), page).await?,
        KeysCommand::RewrapBatches {
            config,
            region,
            page,
        } => rewrap_batches(&config, &region, page).await?,
        KeysCommand::MoveToCustodian {
            config,
            region,
            page,
        } => move_to_custodian(&config, &region, page).await?,
    }
    Ok(std::process::ExitCode::SUCCESS)
}

async fn rotate(
    file: &Path,
    at: &StoreArgs,
    keyring: Option<&str>,
    page: usize,
) -> anyhow::Result<()> {
    // The key file must read before anything changes.
    FileKeyProvider::open(file)?;
    match (&at.sqlite, &at.postgres) {
        (Some(dir), _) => {
            if !dir.join("records.sqlite").exists() {
                anyhow::bail!("{} holds no store (no records.sqlite)", dir.display());
            }
            rotate_over(SqliteBackend::open(dir)?, file, page).await
        }
        (None, Some(records)) => {
            let keyring = keyring.unwrap_or(records);
            rotate_over(PgBackend::connect(records, keyring).await?, file, page).await
        }
        (None, None) => anyhow::bail!("name the store: --sqlite DIR or --postgres URL"),
    }
}

/// With the store open (so that nothing changes if it cannot be): a new
/// KEK unless a rotation is under way, every data key rewrapped, the old
/// KEKs dropped.
async fn rotate_over<B: Backend>(backend: B, file: &Path, page: usize) -> anyhow::Result<()> {
    let mut keys = FileKeyProvider::open(file)?;
    let ids = keys.kek_ids();
    let current = if ids.len() > 1 {
        let current = ids[ids.len() - 1].to_owned();
        println!("resuming the rotation to {current}");
        current
    } else {
        let current = keys.add_kek()?;
        println!("added {current} to {}", file.display());
        current
    };
    // Rewrapping reads no catalog: an empty one will do.
    let store = Store::new(backend, Arc::new(Catalog::default()), Arc::new(keys));
    let total = store.keys_to_rewrap().await?;
    let bar = progress(total, "rewrapping data keys");
    let done = store.rewrap(page, |n| bar.set_position(n)).await;
    bar.finish_and_clear();
    let done = done.context("rewrapping stopped; run the rotation again to resume")?;
    let left = store.keys_to_rewrap().await?;
    if left > 0 {
        anyhow::bail!("{left} data keys are still under an old KEK; run the rotation again");
    }
    drop(store);
    println!("rewrapped {done} data keys");
    let retired = FileKeyProvider::open(file)?.retire_old()?;
    println!(
        "every data key is under {current}; retired {}",
        retired.join(", ")
    );
    Ok(())
}

/// A region of the cluster file, with the custodian it names.
fn region_under_custodian(
    config: &Path,
    region: &str,
) -> anyhow::Result<(
    node::config::RegionConfig,
    node::config::CustodianConfig,
    reqwest::Client,
)> {
    let cluster = node::ClusterConfig::load(config)?;
    let http = cluster.http_client(std::time::Duration::from_secs(60))?;
    let me = cluster
        .regions
        .get(region)
        .with_context(|| format!("{}: no region {region:?}", config.display()))?
        .clone();
    let custodian = me
        .custodian
        .clone()
        .with_context(|| format!("{}: region {region} names no custodian", config.display()))?;
    Ok((me, custodian, http))
}

/// Runs `job` on the region's store (opened from the cluster file, with an
/// empty catalog: key work reads none).
macro_rules! on_store {
    ($me:expr, |$store:ident| $job:expr) => {{
        let keys = Arc::new(FileKeyProvider::open(&$me.keys)?);
        match &$me.store {
            node::config::StoreLocation::Sqlite(dir) => {
                let $store = Store::new(
                    SqliteBackend::open(dir)?,
                    Arc::new(Catalog::default()),
                    keys,
                );
                $job
            }
            node::config::StoreLocation::Postgres { records, keyring } => {
                let backend = PgBackend::connect(records, keyring).await?;
                let $store = Store::new(backend, Arc::new(Catalog::default()), keys);
                $job
            }
        }
    }};
}

/// `keys rewrap-batches`: the region's store, from the cluster file.
async fn rewrap_batches(config: &Path, region: &str, page: usize) -> anyhow::Result<()> {
    let (me, custodian, http) = region_under_custodian(config, region)?;
    let token = node::config::resolve_secret(&custodian.token)
        .map_err(|why| anyhow::anyhow!("regions.{region}.custodian.token: {why}"))?;
    on_store!(me, |store| rewrap_over(
        &store, region, &custodian, &token, page, &http
    )
    .await)
}

/// `keys move-to-custodian`: the region's store, from the cluster file.
async fn move_to_custodian(config: &Path, region: &str, page: usize) -> anyhow::Result<()> {
    let (me, custodian, _) = region_under_custodian(config, region)?;
    on_store!(me, |store| {
        let store = store.sealing_to(store::custody::Custody {
            key: custodian.key.clone(),
            region: region.to_owned(),
        });
        move_over(&store, region, &custodian, page).await
    })
}

async fn move_over<B: Backend>(
    store: &Store<B>,
    region: &str,
    custodian: &node::config::CustodianConfig,
    page: usize,
) -> anyhow::Result<()> {
    let total = store.data_keys_left().await?;
    if total == 0 {
        println!(
            "{region}: the store holds no data key; every record is already sealed for the custodian"
        );
        return Ok(());
    }
    let bar = progress(total, "resealing records for the custodian");
    let moved = store
        .move_under_custody(page, |n| bar.set_position(n))
        .await;
    bar.finish_and_clear();
    let (dropped, resealed) = moved.context("moving stopped; run it again to resume")?;
    let left = store.data_keys_left().await?;
    if left > 0 {
        anyhow::bail!("{left} data keys are left; run it again");
    }
    println!(
        "{region}: resealed {resealed} records for the custodian's key {} and destroyed {dropped} data keys; the key file now opens no record",
        custodian.key.id()
    );
    Ok(())
}

async fn rewrap_over<B: Backend>(
    store: &Store<B>,
    region: &str,
    custodian: &node::config::CustodianConfig,
    token: &str,
    page: usize,
    http: &reqwest::Client,
) -> anyhow::Result<()> {
    let to = custodian.key.id().to_owned();
    let total = store.batch_keys_to_rewrap(&to).await?;
    let url = format!("{}/v1/rewrap", custodian.url);
    let bar = progress(total, "rewrapping batch secrets");
    let done = store
        .rewrap_batch_keys(
            &to,
            page,
            |ws| {
                let req = custody::protocol::RewrapRequest {
                    wrapped: ws.into_iter().map(custody::protocol::Wrapped).collect(),
                };
                let post = http.post(&url).bearer_auth(token);
                async move {
                    let fail = |why: String| store::Error::Keys {
                        path: "the custodian".into(),
                        why,
                    };
                    let body = serde_json::to_vec(&req).map_err(|e| fail(e.to_string()))?;
                    let answer = post
                        .header("content-type", "application/json")
                        .body(body)
                        .send()
                        .await
                        .map_err(|e| fail(e.without_url().to_string()))?;
                    let status = answer.status();
                    let bytes = answer.bytes().await.map_err(|e| fail(e.to_string()))?;
                    if !status.is_success() {
                        return Err(fail(format!(
                            "answered {status}: {}",
                            String::from_utf8_lossy(&bytes)
                        )));
                    }
                    let a: custody::protocol::RewrapAnswer =
                        serde_json::from_slice(&bytes).map_err(|e| fail(e.to_string()))?;
                    Ok(a.wrapped.into_iter().map(|w| w.0).collect())
                }
            },
            |n| bar.set_position(n),
        )
        .await;
    bar.finish_and_clear();
    let done = done.context("rewrapping stopped; run it again to resume")?;
    let left = store.batch_keys_to_rewrap(&to).await?;
    if left > 0 {
        anyhow::bail!("{left} batch secrets are still under an old key; run it again");
    }
    println!(
        "{region}: rewrapped {done} batch secrets; every one is under the custodian's key {to}"
    );
    Ok(())
}
