//! The durable sequencer: the one writer of a log.
//!
//! Callers [`Sequencer::add`] entries concurrently. A single task gathers
//! them into batches (up to [`SequencerConfig::max_batch`] entries, or what
//! arrives within [`SequencerConfig::batch_interval`] of the first), and per
//! batch:
//!
//! 1. appends the entries to the in-memory [`Edge`] of the tree;
//! 2. writes the new entry bundles and tiles, durably;
//! 3. checks that the new tree is consistent with the last signed one,
//!    signs the new checkpoint and stores it, durably;
//! 4. answers every caller with its index and the checkpoint that covers it.
//!
//! An entry is acknowledged only after step 3, so an acknowledged entry
//! survives a crash at any moment. On [`open`], the sequencer resumes from
//! the stored checkpoint: files a crashed batch wrote beyond it are deleted
//! and the stored edge tiles must reproduce the checkpoint's root.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::Error;
use crate::checkpoint::{Checkpoint, SignedCheckpoint};
use crate::edge::{Edge, TileData};
use crate::hash::{Hash, empty_root};
use crate::merkle::{ProofPlan, verify_consistency, verify_inclusion};
use crate::note::{Signer, Verifier};
use crate::reader::{CHECKPOINT_PATH, LogReader};
use crate::storage::{Storage, WriterGuard};
use crate::tile::{
    self, MAX_ENTRY_LEN, MAX_TILE_LEVEL, TILE_WIDTH, TileId, TileKind, format_index,
};

/// Batching knobs.
#[derive(Clone, Debug)]
pub struct SequencerConfig {
    /// How long a batch stays open after its first entry arrives.
    pub batch_interval: Duration,
    /// A window that opens only under load: when submissions have been
    /// arriving at most half of it apart (on a recent average) and the
    /// last came within it, a batch stays open until this long after its
    /// first entry arrived, so that one commit — one flush, one signature,
    /// one consistency check — serves several. A sparse log, or the first
    /// entry after a pause longer than the window, never waits for it;
    /// entries submitted together ([`Sequencer::try_submit_all`]) count
    /// as one arrival. Timed on a thread of the blocking pool, as tokio's
    /// timer fires only on millisecond ticks. Zero: none.
    pub group_window: Duration,
    /// Most entries in one batch.
    pub max_batch: usize,
    /// Entries waiting for a batch before `add` waits for room.
    pub queue: usize,
}

impl Default for SequencerConfig {
    fn default() -> Self {
        SequencerConfig {
            batch_interval: Duration::from_millis(10),
            group_window: Duration::ZERO,
            max_batch: 4096,
            queue: 65_536,
        }
    }
}

/// An acknowledged entry: where it is, and the checkpoint that covers it.
///
/// Only the sequencer makes these (the fields are private), so holding one
/// proves that an entry with this leaf hash was durably sequenced: the
/// store's "no log entry, no plaintext" rests on it.
#[derive(Clone, Debug)]
pub struct Sequenced {
    index: u64,
    leaf_hash: Hash,
    checkpoint: Arc<SignedCheckpoint>,
}

impl Sequenced {
    /// Index of the entry in the log.
    pub fn index(&self) -> u64 {
        self.index
    }

    /// The entry's leaf hash.
    pub fn leaf_hash(&self) -> &Hash {
        &self.leaf_hash
    }

    /// The first signed checkpoint that includes the entry.
    pub fn checkpoint(&self) -> &Arc<SignedCheckpoint> {
        &self.checkpoint
    }

    /// Whether `entry` is the entry that was sequenced.
    pub fn is_entry(&self, entry: &[u8]) -> bool {
        crate::hash::leaf_hash(entry) == self.leaf_hash
    }

    /// Entries a sequencer in another process acknowledged, proven rather
    /// than taken on its word: `checkpoint` must be signed by `log_key`,
    /// and each `(entry, index, proof)` must be an inclusion proof of that
    /// entry at that index in the checkpoint's tree. What this returns is
    /// then as good as the local sequencer's acknowledgement — the only
    /// other way to make a [`Sequenced`].
    pub fn prove_all<'e>(
        checkpoint: &[u8],
        log_key: &Verifier,
        entries: impl IntoIterator<Item = (&'e [u8], u64, &'e [Hash])>,
    ) -> Result<Vec<Sequenced>, Error> {
        let cp = Arc::new(SignedCheckpoint::open(checkpoint, log_key, &[])?);
        entries
            .into_iter()
            .map(|(entry, index, proof)| {
                let leaf_hash = crate::hash::leaf_hash(entry);
                verify_inclusion(
                    &leaf_hash,
                    index,
                    cp.checkpoint.size,
                    proof,
                    &cp.checkpoint.root,
                )?;
                Ok(Sequenced {
                    index,
                    leaf_hash,
                    checkpoint: cp.clone(),
                })
            })
            .collect()
    }
}

struct Request {
    entry: Vec<u8>,
    reply: oneshot::Sender<Result<Sequenced, Error>>,
    /// When it was submitted.
    at: Instant,
}

/// How far apart submissions arrive: a running mean of the gaps, weighted
/// to the recent ones, and the last gap. Entries stamped at one instant
/// (one call) or earlier than the last (queued out of order) add no gap.
#[derive(Default)]
struct Arrivals {
    last: Option<Instant>,
    last_gap: Option<Duration>,
    mean_gap: Option<Duration>,
}

impl Arrivals {
    fn note(&mut self, at: Instant) {
        match self.last {
            Some(last) if at <= last => {}
            Some(last) => {
                let gap = at - last;
                self.last_gap = Some(gap);
                self.mean_gap = Some(self.mean_gap.map_or(gap, |m| (m * 7 + gap) / 8));
                self.last = Some(at);
            }
            None => self.last = Some(at),
        }
    }

    /// Whether submissions arrive at most half of `window` apart, the last
    /// within it.
    fn dense(&self, window: Duration) -> bool {
        self.mean_gap.is_some_and(|m| m * 2 <= window) && self.last_gap.is_some_and(|g| g <= window)
    }
}

/// A queued entry awaiting its acknowledgement.
#[derive(Debug)]
pub struct Pending(oneshot::Receiver<Result<Sequenced, Error>>);

impl Pending {
    /// Waits until the entry is durably sequenced.
    pub async fn wait(self) -> Result<Sequenced, Error> {
        self.0
            .await
            .map_err(|_| Error::Sequencer("stopped before answering".to_owned()))?
    }
}

/// A handle to submit entries; cheap to clone.
#[derive(Clone, Debug)]
pub struct Sequencer {
    tx: mpsc::Sender<Request>,
    latest: watch::Receiver<Arc<SignedCheckpoint>>,
}

impl Sequencer {
    /// Appends an entry; resolves once it is durably sequenced under a
    /// signed checkpoint.
    pub async fn add(&self, entry: Vec<u8>) -> Result<Sequenced, Error> {
        self.submit(entry).await?.wait().await
    }

    /// Resolves once this sequencer has stopped for good: every handle
    /// dropped, or its writer fenced out by another (or unable to clean up
    /// after a failed batch). A process serving the log should then exit,
    /// so that a standby can take it over.
    pub async fn stopped(&self) {
        let mut latest = self.latest.clone();
        while latest.changed().await.is_ok() {}
    }

    /// Queues an entry and returns as soon as it is queued (waiting only if
    /// the queue is full). Entries submitted one after another by one caller
    /// get increasing indices. Await [`Pending::wait`] for the acknowledgement.
    pub async fn submit(&self, entry: Vec<u8>) -> Result<Pending, Error> {
        if entry.len() > MAX_ENTRY_LEN {
            return Err(Error::EntryTooLarge(entry.len()));
        }
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Request {
                entry,
                reply,
                at: Instant::now(),
            })
            .await
            .map_err(|_| Error::Sequencer("stopped".to_owned()))?;
        Ok(Pending(rx))
    }

    /// Queues every one of `entries` if the queue has room for all of them
    /// now, or none: [`Error::Busy`] when it has not (the pushback a
    /// network front answers with `503`, rather than queueing without
    /// bound). Their indices follow their order.
    pub fn try_submit_all(&self, entries: Vec<Vec<u8>>) -> Result<Vec<Pending>, Error> {
        if let Some(e) = entries.iter().find(|e| e.len() > MAX_ENTRY_LEN) {
            return Err(Error::EntryTooLarge(e.len()));
        }
        if entries.is_empty() {
            return Ok(Vec::new());
        }
        let permits = match self.tx.try_reserve_many(entries.len()) {
            Ok(p) => p,
            Err(mpsc::error::TrySendError::Full(())) => return Err(Error::Busy(entries.len())),
            Err(mpsc::error::TrySendError::Closed(())) => {
                return Err(Error::Sequencer("stopped".to_owned()));
            }
        };
        // One arrival: a batch sent together has nothing more to wait for.
        let at = Instant::now();
        Ok(permits
            .zip(entries)
            .map(|(permit, entry)| {
                let (reply, rx) = oneshot::channel();
                permit.send(Request { entry, reply, at });
                Pending(rx)
            })
            .collect())
    }

    /// The latest signed checkpoint.
    pub fn checkpoint(&self) -> Arc<SignedCheckpoint> {
        self.latest.borrow().clone()
    }

    /// A receiver that sees every new checkpoint (e.g. to push to witnesses).
    pub fn subscribe(&self) -> watch::Receiver<Arc<SignedCheckpoint>> {
        self.latest.clone()
    }
}

/// Creates an empty log in `storage`: signs and stores the checkpoint of
/// size 0. The log's origin is the signer's key name.
pub async fn create<S: Storage>(storage: &S, signer: &Signer) -> Result<SignedCheckpoint, Error> {
    if storage.read(CHECKPOINT_PATH).await?.is_some() {
        return Err(Error::AlreadyInitialized(CHECKPOINT_PATH.to_owned()));
    }
    let cp = Checkpoint {
        origin: signer.name().to_owned(),
        size: 0,
        root: empty_root(),
        extensions: Vec::new(),
    }
    .sign(signer)?;
    storage
        .write(vec![(
            CHECKPOINT_PATH.to_owned(),
            cp.to_text().into_bytes(),
        )])
        .await?;
    Ok(cp)
}

/// Opens the log in `storage`, recovers from whatever a crash left, and
/// starts the sequencer task. The task ends when every [`Sequencer`] handle
/// is dropped, after answering what was submitted.
pub async fn open<S: Storage>(
    storage: S,
    signer: Signer,
    config: SequencerConfig,
) -> Result<(Sequencer, JoinHandle<()>), Error> {
    let reader = LogReader::new(storage);
    // Claim first: claiming repairs what a crash left (a journal replay).
    let claim = reader.storage().claim_writer().await?;
    let cp = reader.checkpoint(&signer.verifier()).await?;
    let edge = recover(&reader, &cp).await?;
    let (tx, rx) = mpsc::channel(config.queue.max(1));
    let (latest_tx, latest) = watch::channel(Arc::new(cp));
    let task = tokio::spawn(run(rx, reader, signer, edge, latest_tx, config, claim));
    Ok((Sequencer { tx, latest }, task))
}

/// Loads the edge of the checkpointed tree, checks it against the signed
/// root, and deletes tiles and bundles a crashed batch wrote beyond it.
async fn recover<S: Storage>(reader: &LogReader<S>, cp: &SignedCheckpoint) -> Result<Edge, Error> {
    let n = cp.checkpoint.size;
    let mut bundle = Vec::new();
    if let Some(id) = TileId::entries_at(n / TILE_WIDTH, n).filter(|id| !id.is_full()) {
        for e in reader.read_entries(id).await? {
            tile::push_entry(&mut bundle, &e)?;
        }
    }
    let mut tiles = Vec::new();
    for level in 0..=MAX_TILE_LEVEL {
        let count = tile::level_count(level, n);
        if count == 0 {
            break;
        }
        match TileId::hashes_at(level, count / TILE_WIDTH, n).filter(|id| !id.is_full()) {
            Some(id) => tiles.push(reader.read_hashes(id).await?),
            None => tiles.push(Vec::new()),
        }
    }
    let edge = Edge::from_parts(n, bundle, tiles)?;
    let root = edge.root()?;
    if root != cp.checkpoint.root {
        return Err(Error::Corrupt(format!(
            "stored tiles give root {} for size {n}, the signed checkpoint says {}",
            root.to_base64(),
            cp.checkpoint.root.to_base64()
        )));
    }
    delete_beyond(reader.storage(), n).await?;
    Ok(edge)
}

/// Deletes every tile and bundle that a tree of `size` leaves does not have.
async fn delete_beyond<S: Storage>(storage: &S, size: u64) -> Result<(), Error> {
    let mut stale = Vec::new();
    let kinds =
        std::iter::once(TileKind::Entries).chain((0..=MAX_TILE_LEVEL).map(TileKind::Hashes));
    for kind in kinds {
        let (dir, count) = match kind {
            TileKind::Entries => ("tile/entries".to_owned(), size),
            TileKind::Hashes(l) => (format!("tile/{l}"), tile::level_count(l, size)),
        };
        if storage.list(&dir).await?.is_empty() {
            if matches!(kind, TileKind::Hashes(_)) {
                break;
            }
            continue;
        }
        let (mut index, width) = (count / TILE_WIDTH, count % TILE_WIDTH);
        let mut first = true;
        loop {
            let path = format!("{dir}/{}", format_index(index));
            let (parent, name) = path.rsplit_once('/').unwrap_or((&dir, &path));
            let names = storage.list(parent).await?;
            let has_full = names.iter().any(|n| n == name);
            let partial_dir = format!("{name}.p");
            let has_partial = names.contains(&partial_dir);
            if !has_full && !has_partial {
                break;
            }
            if has_full {
                stale.push(path.clone());
            }
            if has_partial {
                for w in storage.list(&format!("{path}.p")).await? {
                    // At the edge tile, widths up to the committed one stay.
                    let keep = first && w.parse::<u64>().is_ok_and(|w| w <= width);
                    if !keep {
                        stale.push(format!("{path}.p/{w}"));
                    }
                }
            }
            first = false;
            index += 1;
        }
    }
    if !stale.is_empty() {
        storage.delete(stale).await?;
    }
    Ok(())
}

async fn run<S: Storage>(
    mut rx: mpsc::Receiver<Request>,
    reader: LogReader<S>,
    signer: Signer,
    mut edge: Edge,
    latest: watch::Sender<Arc<SignedCheckpoint>>,
    config: SequencerConfig,
    _claim: WriterGuard,
) {
    let mut arrivals = Arrivals::default();
    while let Some(first) = rx.recv().await {
        arrivals.note(first.at);
        let opened = first.at;
        let mut batch = vec![first];
        let deadline = Instant::now() + config.batch_interval;
        while batch.len() < config.max_batch {
            match rx.try_recv() {
                Ok(r) => {
                    arrivals.note(r.at);
                    batch.push(r);
                    continue;
                }
                Err(mpsc::error::TryRecvError::Disconnected) => break,
                Err(mpsc::error::TryRecvError::Empty) => {}
            }
            // A window that has closed ends the batch now: a timer would
            // only fire at the runtime's next millisecond tick, and with
            // no window (group commit) every commit would wait for it.
            if Instant::now() >= deadline {
                break;
            }
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some(r)) => {
                    arrivals.note(r.at);
                    batch.push(r);
                }
                Ok(None) | Err(_) => break,
            }
        }
        let window = config.group_window;
        if !window.is_zero() && batch.len() < config.max_batch && arrivals.dense(window) {
            let wait = (opened + window).saturating_duration_since(Instant::now());
            if !wait.is_zero() {
                let _ = tokio::task::spawn_blocking(move || std::thread::sleep(wait)).await;
            }
            while batch.len() < config.max_batch {
                let Ok(r) = rx.try_recv() else { break };
                arrivals.note(r.at);
                batch.push(r);
            }
        }
        let previous = latest.borrow().clone();
        let before = edge.clone();
        match commit(&reader, &signer, &mut edge, &previous, &batch).await {
            Ok(Committed {
                checkpoint: cp,
                leaves,
                superseded,
            }) => {
                let cp = Arc::new(cp);
                latest.send_replace(cp.clone());
                let first_index = previous.checkpoint.size;
                for (i, (req, leaf_hash)) in batch.into_iter().zip(leaves).enumerate() {
                    let _ = req.reply.send(Ok(Sequenced {
                        index: first_index + i as u64,
                        leaf_hash,
                        checkpoint: cp.clone(),
                    }));
                }
                // After the acknowledgements, as no reader needs them gone;
                // a failed clean-up only leaves spare files.
                if !superseded.is_empty() {
                    let _ = reader.storage().delete(superseded).await;
                }
            }
            Err(e) => {
                // Nothing of this batch was acknowledged: forget it.
                edge = before;
                let msg = e.to_string();
                for req in batch {
                    let _ = req
                        .reply
                        .send(Err(Error::Sequencer(format!("batch not persisted: {msg}"))));
                }
                // Fenced: another writer holds the log now, and this one
                // must never write again. Otherwise the files the batch
                // wrote beyond the checkpoint go (a bucket's objects are
                // never overwritten, so the next batch would meet them),
                // and a writer that cannot even do that stops too.
                if matches!(e, Error::Fenced(_))
                    || delete_beyond(reader.storage(), previous.checkpoint.size)
                        .await
                        .is_err()
                {
                    return;
                }
            }
        }
    }
}

/// A batch stored under its signed checkpoint.
struct Committed {
    checkpoint: SignedCheckpoint,
    /// The leaf hashes of the batch's entries, in order.
    leaves: Vec<Hash>,
    /// Partial tiles the batch made redundant, to delete.
    superseded: Vec<String>,
}

/// Appends a batch, persists it and signs its checkpoint.
async fn commit<S: Storage>(
    reader: &LogReader<S>,
    signer: &Signer,
    edge: &mut Edge,
    previous: &SignedCheckpoint,
    batch: &[Request],
) -> Result<Committed, Error> {
    let old_ids = edge.partial_ids();
    let mut files: Vec<TileData> = Vec::new();
    let mut leaves = Vec::with_capacity(batch.len());
    for req in batch {
        leaves.push(edge.push(&req.entry, &mut files)?);
    }
    // Partial tiles whose width did not change are already stored.
    files.extend(
        edge.partial_tiles()
            .into_iter()
            .filter(|(id, _)| !old_ids.contains(id)),
    );

    let old = &previous.checkpoint;
    let new_size = edge.size();
    let new_root = edge.root()?;
    check_consistent(reader, old, edge, &new_root, &files).await?;

    let storage = reader.storage();
    // Partial versions of tiles this batch completes become redundant once
    // the checkpoint is stored (readers fall back to the full tile).
    let superseded: Vec<String> = files
        .iter()
        .filter(|(id, _)| id.is_full())
        .map(|(id, _)| format!("{}.p", id.path()))
        .collect();
    let cp = Checkpoint {
        origin: old.origin.clone(),
        size: new_size,
        root: new_root,
        extensions: Vec::new(),
    }
    .sign(signer)?;
    storage
        .write_then(
            files
                .into_iter()
                .map(|(id, data)| (id.path(), data))
                .collect(),
            vec![(CHECKPOINT_PATH.to_owned(), cp.to_text().into_bytes())],
        )
        .await?;
    Ok(Committed {
        checkpoint: cp,
        leaves,
        superseded,
    })
}

/// The guard behind "never sign a checkpoint inconsistent with an earlier
/// one": proves that the new tree extends the old, from the new edge's
/// partial tiles, the full tiles `written` by this batch, and storage.
async fn check_consistent<S: Storage>(
    reader: &LogReader<S>,
    old: &Checkpoint,
    edge: &Edge,
    new_root: &Hash,
    written: &[TileData],
) -> Result<(), Error> {
    let new_size = edge.size();
    let plan = ProofPlan::consistency(old.size, new_size)?;
    // Full tiles the proof needs: those the batch completed, as written,
    // and the others (which neither side of the batch touched) from storage.
    let mut full: std::collections::HashMap<(TileKind, u64), Vec<Hash>> =
        std::collections::HashMap::new();
    for st in plan.subtrees() {
        if edge.subtree(st)?.is_some() {
            continue;
        }
        let (id, _) = tile::locate(st, new_size)?;
        if let std::collections::hash_map::Entry::Vacant(slot) = full.entry((id.kind, id.index)) {
            let hashes = match written.iter().find(|(w, _)| *w == id) {
                Some((_, data)) => tile::parse_hashes(&id, data)?,
                None => reader.read_hashes(id).await?,
            };
            slot.insert(hashes);
        }
    }
    let proof = plan.finish(|st| {
        if let Some(h) = edge.subtree(st)? {
            return Ok(h);
        }
        let (id, _) = tile::locate(st, new_size)?;
        let hashes = full.get(&(id.kind, id.index)).ok_or_else(|| {
            Error::Corrupt(format!(
                "tile {} not at hand for the consistency check",
                id.path()
            ))
        })?;
        tile::subtree_from_tile(st, new_size, hashes)
    })?;
    verify_consistency(old.size, new_size, &proof, &old.root, new_root)
        .map_err(|e| Error::Corrupt(format!("refusing to sign an inconsistent checkpoint: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::MemStorage;

    /// Without a batch window, a commit starts as soon as the queue is
    /// empty: it used to wait on a timer whose deadline had passed, which
    /// fires only at the runtime's next millisecond tick — up to 1 ms
    /// added to every release. On a paused clock, any timer wait shows as
    /// time that moved.
    #[tokio::test(start_paused = true)]
    async fn no_batch_window_means_no_timer_wait_before_a_commit() {
        let storage = MemStorage::new();
        let signer = Signer::generate("test.example/seq", crate::note::TYPE_ED25519).unwrap();
        create(&storage, &signer).await.unwrap();
        let config = SequencerConfig {
            batch_interval: Duration::ZERO,
            ..Default::default()
        };
        let (seq, task) = open(storage, signer, config).await.unwrap();
        for i in 0..20u32 {
            // Off the millisecond boundary, as a real clock always is.
            tokio::time::advance(Duration::from_micros(300)).await;
            let start = Instant::now();
            seq.add(i.to_be_bytes().to_vec()).await.unwrap();
            assert_eq!(start.elapsed(), Duration::ZERO, "entry {i} waited");
        }
        drop(seq);
        task.await.unwrap();
    }

    /// The guard refuses to extend a tree whose signed root is not the one
    /// the tiles in hand give: it would otherwise sign a fork.
    #[tokio::test]
    async fn consistency_guard_refuses_a_tree_that_does_not_extend_the_signed_one() {
        let reader = LogReader::new(MemStorage::new());
        let mut edge = Edge::new();
        let mut written = Vec::new();
        for i in 0..300u32 {
            edge.push(&i.to_be_bytes(), &mut written).unwrap();
        }
        let old_root = edge.root().unwrap();
        for i in 300..700u32 {
            edge.push(&i.to_be_bytes(), &mut written).unwrap();
        }
        let new_root = edge.root().unwrap();
        let old = Checkpoint {
            origin: "o".into(),
            size: 300,
            root: old_root,
            extensions: vec![],
        };
        check_consistent(&reader, &old, &edge, &new_root, &written)
            .await
            .unwrap();
        let forked = Checkpoint {
            root: crate::hash::leaf_hash(b"another history"),
            ..old
        };
        let err = check_consistent(&reader, &forked, &edge, &new_root, &written)
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Corrupt(_)), "{err}");
    }
}
