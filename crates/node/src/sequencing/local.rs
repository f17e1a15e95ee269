//! Opening a region's log for writing in this process: its keys, its
//! storage, and its sequencer once the log's lease is free.

use std::path::Path;

use tlog::{CachedTiles, Sequencer, Signer};

use crate::Error;
use crate::config::RegionConfig;
use crate::region::{LogStorage, Start};

/// Under load (submissions at most half of it apart: 2,000/s and more), a batch
/// waits this long after its first entry for others (see
/// [`tlog::SequencerConfig::group_window`]). Measured at 2,000 one-subject
/// transfers/s (bench/README.md): 1 ms took CPU per transfer from 464–512
/// to 373–399 µs and P50 from 1.0–1.4 to 1.8 ms; 2 ms to 308–344 µs at a
/// P50 of 2.5–2.8 ms, too near the 3 ms goal; 0.5 ms never opens at that
/// rate.
const GROUP_WINDOW: std::time::Duration = std::time::Duration::from_micros(1_000);

/// A region's log, opened for writing here.
pub(crate) struct LocalLog {
    /// The one writer.
    pub(crate) seq: Sequencer,
    /// The storage it writes through (journaled files, or the bucket).
    pub(crate) writes: LogStorage,
    /// The storage readers read, warmed by the writes.
    pub(crate) tiles: CachedTiles<LogStorage>,
}

/// Opens the log's key in `dir` (with `init`, creating key and log if
/// missing: keys by [`tlog::keyfile`]).
async fn open_key(file: &Path, me: &RegionConfig, init: bool) -> Result<Signer, Error> {
    let origin = format!("residency.example/{}", me.id);
    let signer = if init {
        std::fs::create_dir_all(&me.log)
            .map_err(|e| Error::Internal(format!("{}: {e}", me.log.display())))?;
        tlog::keyfile::open_or_create_in(&me.log, &origin, &LogStorage::open(file, me, false)?)
            .await
    } else {
        tlog::keyfile::open(&me.log)
    };
    let signer = signer.map_err(|e| match e {
        tlog::Error::NotInitialized(why) => Error::Internal(format!(
            "{why}: run `residency log init` or start with --init"
        )),
        e => e.into(),
    })?;
    // A bucket's log is made there, under the key found in the directory.
    if init && me.log_bucket.is_some() {
        let storage = LogStorage::open(file, me, false)?;
        if tlog::Storage::read(&storage, tlog::reader::CHECKPOINT_PATH)
            .await?
            .is_none()
        {
            tlog::sequencer::create(&storage, &signer).await?;
        }
    }
    Ok(signer)
}

/// Opens region `me`'s log (of cluster file `file`) for writing and starts
/// its sequencer. A log in a bucket is held by a lease: one that a killed
/// process held runs out within its length, so this waits that long (and a
/// second sequencer started beside a live one is then refused), or, for a
/// standby, however long it takes.
pub(crate) async fn open_local(
    file: &Path,
    me: &RegionConfig,
    start: Start,
) -> Result<LocalLog, Error> {
    let signer = open_key(file, me, start.init).await?;
    // Journaled files: a batch is durable after one flush, not one per
    // tile file and directory.
    let writes = LogStorage::open(file, me, true)?;
    // Readers read through the writer's storage: its files go in place
    // lazily, and until then only it has them.
    let tiles = CachedTiles::new(writes.clone());
    let waits = match &me.log_bucket {
        None => 0,
        Some(_) if start.standby => u64::MAX,
        Some(b) => b.lease_secs.saturating_mul(4).saturating_add(4),
    };
    let mut waited = 0;
    let (seq, _task) = loop {
        let opened = tlog::sequencer::open(
            tiles.warmed_by(writes.clone()),
            signer.clone(),
            tlog::SequencerConfig {
                // No fixed window: a batch is whatever queued while the
                // last commit ran (group commit), so an idle log adds no
                // wait; under load the group window gathers more.
                batch_interval: std::time::Duration::ZERO,
                group_window: GROUP_WINDOW,
                ..Default::default()
            },
        )
        .await;
        match opened {
            Err(tlog::Error::Locked(why)) if waited < waits => {
                if waited == 0 {
                    tracing::warn!(region = %me.id, "waiting for the log's lease: {why}");
                }
                waited += 1;
                tokio::time::sleep(std::time::Duration::from_millis(250)).await;
            }
            other => break other?,
        }
    };
    Ok(LocalLog { seq, writes, tiles })
}
