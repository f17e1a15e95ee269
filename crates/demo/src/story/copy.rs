//! Step 6's attacker: a copy of a region's whole directory, opened with
//! everything found in it — the key file (its KEKs and pseudonym secret
//! name every user), the store and keyring, and an entry of a log of the
//! copier's own making, which satisfies the store's proof type. Under a
//! custodian the records stay shut: their keys are derived from batch
//! secrets only the custodian opens.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context as _;
use node::config::StoreLocation;
use store::keys::FileKeyProvider;
use store::{Backend, LoggedAccess, PgBackend, SqliteBackend, Store};

/// Tries to open the records of `users` (app user ids) in the copy at
/// `copy` (a region directory: `store/` or, for a store in PostgreSQL,
/// its database `store`, and `region.keys`): how many users had records,
/// and how many of those opened.
pub(crate) async fn try_open(
    copy: &Path,
    store: &StoreLocation,
    policy: &Path,
    users: &[&str],
) -> anyhow::Result<(usize, usize)> {
    let bundle = policy::Bundle::load(policy).context("loading the policy")?;
    let keys = FileKeyProvider::open(&copy.join("region.keys")).context("the copied key file")?;
    let datasets: Vec<String> = bundle.catalog.datasets.keys().cloned().collect();
    let catalog = Arc::new(bundle.catalog.clone());
    match store {
        StoreLocation::Sqlite(_) => {
            let backend = SqliteBackend::open(&copy.join("store")).context("the copied store")?;
            open_all(
                Store::new(backend, catalog, Arc::new(keys)),
                &datasets,
                users,
            )
            .await
        }
        // The dump restored is the database itself: the copier reads it.
        StoreLocation::Postgres { records, keyring } => {
            let backend = PgBackend::connect(records, keyring)
                .await
                .context("the database")?;
            open_all(
                Store::new(backend, catalog, Arc::new(keys)),
                &datasets,
                users,
            )
            .await
        }
    }
}

/// [`try_open`] on a store opened.
async fn open_all<B: Backend>(
    store: Store<B>,
    datasets: &[String],
    users: &[&str],
) -> anyhow::Result<(usize, usize)> {
    // A log of the copier's own, to make the "proof" the store asks for.
    let storage = tlog::MemStorage::new();
    let signer = tlog::Signer::generate("copier.example/log", tlog::note::TYPE_ED25519)?;
    tlog::sequencer::create(&storage, &signer).await?;
    let (seq, _task) =
        tlog::sequencer::open(storage, signer, tlog::SequencerConfig::default()).await?;
    let (mut tried, mut opened) = (0, 0);
    for user in users {
        let subject = store.subject_ref(user);
        let Ok(sealed) = store.sealed(&subject, datasets).await else {
            continue;
        };
        if sealed.rows().is_empty() {
            continue;
        }
        tried += 1;
        let entry = serde_json::to_vec(&serde_json::json!({
            "decision": "allow", "subjects": [subject], "datasets": datasets,
        }))?;
        let s = seq.add(entry.clone()).await?;
        let access = LoggedAccess::new(&s, &entry)?;
        if store.open(&access, sealed).await.is_ok() {
            opened += 1;
        }
    }
    Ok((tried, opened))
}
