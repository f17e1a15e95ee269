//! Mirroring one region's log: fetch its signed checkpoint, check it
//! against the last one verified (a smaller size is a rollback, the same
//! size with another root a fork), fetch and verify everything new
//! ([`tlog::verify`]), replay each new entry ([`crate::replay`]), keep a
//! copy of the tiles, and commit the checkpoint only once every entry it
//! covers is verified. Then compare what the witnesses were shown.

use std::sync::atomic::{AtomicBool, Ordering};

use tlog::edge::TileData;
use tlog::tile::TileId;
use tlog::verify::{self, Consumer, Discrepancy, Fetch, Stop, TileSource, fetch as send};
use tlog::{Checkpoint, FsStorage, LogReader, SignedCheckpoint, Storage};

use crate::config::LogConfig;
use crate::replay::{Finding, FindingKind, Replayer};
use crate::state::{Batch, BundleLogged, Verified};
use crate::{Error, Monitor};

/// A log followed: its configuration, the local mirror, and the replayer
/// kept warm between syncs.
#[derive(Debug)]
pub(crate) struct Followed {
    pub(crate) config: LogConfig,
    pub(crate) mirror: LogReader<FsStorage>,
    pub(crate) replayer: tokio::sync::Mutex<Option<Replayer>>,
}

/// What one sync of one log found.
#[derive(Clone, Debug, serde::Serialize)]
pub struct SyncOutcome {
    /// The region.
    pub region: String,
    /// Verified size after the sync.
    pub size: u64,
    /// Entries verified in this sync.
    pub new_entries: u64,
    /// Findings recorded in this sync.
    pub findings: Vec<Finding>,
    /// Why the log could not be fetched, if it could not.
    pub unreachable: Option<String>,
}

/// A region's log over HTTP, reading full tiles from the mirror first when
/// a sync resumes (they are verified again like fetched ones).
struct HttpLog<'a> {
    client: &'a reqwest::Client,
    base: &'a str,
    cache: Option<&'a LogReader<FsStorage>>,
    used_cache: AtomicBool,
}

impl TileSource for HttpLog<'_> {
    async fn tile(&self, id: TileId) -> Result<Vec<u8>, Fetch> {
        if let Some(cache) = self.cache
            && id.is_full()
            && let Ok(Some(data)) = cache.storage().read(&id.path()).await
        {
            self.used_cache.store(true, Ordering::Relaxed);
            return Ok(data);
        }
        get(self.client, &format!("{}/log/{}", self.base, id.path()))
            .await?
            .ok_or_else(|| Fetch::Missing(id.path()))
    }
}

/// GET of a public log resource; `None` on 404.
async fn get(client: &reqwest::Client, url: &str) -> Result<Option<Vec<u8>>, Fetch> {
    send(client.get(url)).await
}

/// Receives verified entries: replays them and writes provisional rows
/// and tiles in batches.
struct Sink<'a> {
    monitor: &'a Monitor,
    origin: &'a str,
    region: &'a str,
    mirror: &'a LogReader<FsStorage>,
    replayer: &'a mut Replayer,
    pending: Vec<Vec<u8>>,
    first: u64,
    batch: Batch,
    tiles: Vec<(String, Vec<u8>)>,
    findings: Vec<Finding>,
    /// Served hash tiles that differ from the entries' (findings if the
    /// entries then give the signed root).
    tiles_differ: Vec<(Option<u64>, String)>,
    done: u64,
    total: u64,
    progress: &'a (dyn Fn(&str, u64, u64) + Sync),
}

const ROWS_PER_WRITE: usize = 4096;
const TILES_PER_WRITE: usize = 256;
const REPLAY_BATCH: usize = 4096;

impl Sink<'_> {
    /// Replays the entries received since the last call, on every core.
    fn replay_pending(&mut self) -> Result<(), String> {
        let entries = std::mem::take(&mut self.pending);
        let replayed = self.replayer.replay_all(self.first, &entries);
        for (i, (bytes, r)) in entries.iter().zip(replayed).enumerate() {
            if let Some(hash) = r.bundle {
                self.batch.history.push(BundleLogged {
                    region: self.region.to_owned(),
                    index: self.first + i as u64,
                    hash: hash.clone(),
                    previous: r.previous,
                    changes: r.changes,
                });
                let content = entry::Entry::parse(bytes)
                    .ok()
                    .and_then(|e| e.bundle_content)
                    .map(|v| String::from_utf8_lossy(&entry::canonical(&v)).into_owned())
                    .unwrap_or_default();
                self.batch
                    .bundles
                    .push((self.first + i as u64, hash, content));
            }
            if let Some(a) = r.access {
                self.batch.accesses.push((self.region.to_owned(), a));
            }
            self.batch.findings.extend(r.findings);
        }
        if self.batch.len() >= ROWS_PER_WRITE {
            self.flush_rows()?;
        }
        Ok(())
    }

    fn flush_rows(&mut self) -> Result<(), String> {
        if !self.batch.is_empty() {
            let batch = std::mem::take(&mut self.batch);
            let new = self
                .monitor
                .state
                .put_replayed(self.origin, &batch)
                .map_err(|e| e.to_string())?;
            self.findings.extend(new);
        }
        Ok(())
    }

    async fn flush_tiles(&mut self) -> Result<(), String> {
        if !self.tiles.is_empty() {
            let files = std::mem::take(&mut self.tiles);
            self.mirror
                .storage()
                .write(files)
                .await
                .map_err(|e| format!("writing the mirror: {e}"))?;
        }
        Ok(())
    }
}

impl Consumer for Sink<'_> {
    fn entry(&mut self, index: u64, bytes: &[u8]) -> Result<(), String> {
        if self.pending.is_empty() {
            self.first = index;
        }
        self.pending.push(bytes.to_vec());
        self.done += 1;
        if self.done.is_multiple_of(256) {
            (self.progress)(self.region, self.done, self.total);
        }
        Ok(())
    }

    async fn tiles(&mut self, tiles: Vec<TileData>) -> Result<(), String> {
        if self.pending.len() >= REPLAY_BATCH {
            self.replay_pending()?;
        }
        self.tiles
            .extend(tiles.into_iter().map(|(id, data)| (id.path(), data)));
        if self.tiles.len() >= TILES_PER_WRITE {
            self.flush_tiles().await?;
        }
        Ok(())
    }

    fn tile_differs(&mut self, found: &Discrepancy) -> bool {
        self.tiles_differ.push((found.index(), found.to_string()));
        true
    }
}

impl Monitor {
    /// Records a finding about a log itself; if it is new, logs it, alerts
    /// and returns it (a log that stays inconsistent is reported once, not
    /// on every poll).
    pub(crate) async fn inconsistency(
        &self,
        log: &LogConfig,
        index: Option<u64>,
        message: String,
        evidence: &str,
    ) -> Result<Option<Finding>, Error> {
        let f = Finding {
            region: log.region.clone(),
            index,
            kind: FindingKind::Inconsistency,
            message,
        };
        if !self.state.add_finding(&log.key.name, &f, evidence)? {
            return Ok(None);
        }
        tracing::warn!(region = %log.region, index, "{}", f.message);
        self.alert(&f).await;
        Ok(Some(f))
    }

    /// A replayer for a log verified up to `size`: its bundles, and the one
    /// logged last as the one the next bundle entry is compared with.
    pub(crate) fn resumed_replayer(&self, cfg: &LogConfig, size: u64) -> Result<Replayer, Error> {
        let origin = cfg.key.name.as_str();
        let mut r = Replayer::new(&cfg.region).judging_by(self.config.law.clone());
        for (hash, content) in self.state.bundles(origin, size)? {
            r.add_bundle(&hash, &content)
                .map_err(|e| Error::State(format!("stored bundle {hash}: {e}")))?;
        }
        if let Some(hash) = self.state.latest_bundle(origin, size)? {
            r.resume_after(&hash)
                .map_err(|e| Error::State(format!("{}: bundle history: {e}", cfg.region)))?;
        }
        Ok(r)
    }

    /// Syncs one log: see the module docs.
    pub(crate) async fn sync_log(
        &self,
        log: &Followed,
        progress: &(dyn Fn(&str, u64, u64) + Sync),
    ) -> Result<SyncOutcome, Error> {
        let cfg = &log.config;
        let origin = cfg.key.name.as_str();
        let held = self.state.verified(origin)?;
        let (old, old_root) = held
            .as_ref()
            .map_or((0, tlog::hash::empty_root()), |v| (v.size, v.root));
        let mut out = SyncOutcome {
            region: cfg.region.clone(),
            size: old,
            new_entries: 0,
            findings: Vec::new(),
            unreachable: None,
        };
        let raw = match get(&self.http, &format!("{}/log/checkpoint", cfg.url)).await {
            Ok(Some(raw)) => raw,
            Ok(None) => {
                out.unreachable = Some("no checkpoint served".into());
                return Ok(out);
            }
            Err(e) => {
                out.unreachable = Some(e.to_string());
                return Ok(out);
            }
        };
        let served = String::from_utf8_lossy(&raw).into_owned();
        let cp = match SignedCheckpoint::open(&raw, &cfg.key, &[]) {
            Ok(cp) => cp,
            Err(e) => {
                let f = self
                    .inconsistency(
                        cfg,
                        None,
                        format!("the served checkpoint does not verify with the log's key: {e}"),
                        &served,
                    )
                    .await?;
                out.findings.extend(f);
                return Ok(out);
            }
        };
        let cosigners: Vec<String> = self
            .config
            .witnesses
            .iter()
            .filter(|w| cp.note.verify(std::slice::from_ref(&w.key)).is_ok())
            .map(|w| w.key.name.clone())
            .collect();
        let n = cp.checkpoint.size;
        let evidence = |held: &Option<Verified>| {
            format!(
                "verified:\n{}\nserved:\n{served}",
                held.as_ref().map_or("", |v| v.checkpoint.as_str())
            )
        };
        if n < old {
            let f = self
                .inconsistency(
                    cfg,
                    None,
                    format!("checkpoint rolled back: the log serves size {n}, the monitor verified size {old}"),
                    &evidence(&held),
                )
                .await?;
            out.findings.extend(f);
            return Ok(out);
        }
        if n == old {
            if cp.checkpoint.root != old_root {
                let f = self
                    .inconsistency(
                        cfg,
                        None,
                        format!(
                            "fork: a second checkpoint of size {n} with root {}, the monitor verified root {}",
                            cp.checkpoint.root.to_base64(),
                            old_root.to_base64()
                        ),
                        &evidence(&held),
                    )
                    .await?;
                out.findings.extend(f);
            } else if let Some(mut v) = held
                && v.cosigners != cosigners
            {
                v.cosigners = cosigners;
                v.checkpoint = served;
                self.state.commit(&v)?;
            }
            return Ok(out);
        }

        let mut cached = true;
        loop {
            match self
                .extend(log, old, &old_root, &cp.checkpoint, cached, progress)
                .await?
            {
                Ok(findings) => {
                    self.state.commit(&Verified {
                        region: cfg.region.clone(),
                        origin: origin.to_owned(),
                        size: n,
                        root: cp.checkpoint.root,
                        checkpoint: served,
                        verified_at: crate::state::now(),
                        cosigners,
                    })?;
                    for f in &findings {
                        self.alert(f).await;
                    }
                    out.size = n;
                    out.new_entries = n - old;
                    out.findings = findings;
                    tracing::info!(region = %cfg.region, size = n, "log verified");
                    break;
                }
                Err((Stop::Inconsistent(_), true)) => {
                    // Tiles cached by an interrupted sync were never
                    // verified against a signed root: fetch again.
                    cached = false;
                }
                Err((Stop::Inconsistent(discrepancy), false)) => {
                    let (bad, found) = self.salvage(log, old, &cp).await?;
                    out.findings.extend(found);
                    if !bad {
                        // No entry could be blamed: the stop itself is the finding.
                        let f = self
                            .inconsistency(
                                cfg,
                                discrepancy.index(),
                                discrepancy.to_string(),
                                &evidence(&held),
                            )
                            .await?;
                        out.findings.extend(f);
                    }
                    return Ok(out);
                }
                Err((Stop::Unavailable(why), _)) => {
                    out.unreachable = Some(why);
                    return Ok(out);
                }
                Err((Stop::Sink(why), _)) => return Err(Error::State(why)),
            }
        }
        Ok(out)
    }

    /// One attempt at extending the verified tree to `target`. On a stop,
    /// the provisional rows are dropped and the replayer reset; the flag
    /// says whether cached tiles were read.
    async fn extend(
        &self,
        log: &Followed,
        old: u64,
        old_root: &tlog::Hash,
        target: &Checkpoint,
        use_cache: bool,
        progress: &(dyn Fn(&str, u64, u64) + Sync),
    ) -> Result<Result<Vec<Finding>, (Stop, bool)>, Error> {
        let cfg = &log.config;
        let origin = cfg.key.name.as_str();
        let mut edge = verify::restore(&log.mirror, old, old_root)
            .await
            .map_err(|e| Error::State(format!("{}: mirror: {e}", cfg.region)))?;
        self.state.discard_provisional(origin, old)?;
        let mut slot = log.replayer.lock().await;
        if slot.is_none() {
            *slot = Some(self.resumed_replayer(cfg, old)?);
        }
        let Some(replayer) = slot.as_mut() else {
            return Err(Error::State("replayer missing".into()));
        };
        let src = HttpLog {
            client: &self.http,
            base: &cfg.url,
            cache: use_cache.then_some(&log.mirror),
            used_cache: AtomicBool::new(false),
        };
        let mut sink = Sink {
            monitor: self,
            origin,
            region: &cfg.region,
            mirror: &log.mirror,
            replayer,
            pending: Vec::new(),
            first: 0,
            batch: Batch::default(),
            tiles: Vec::new(),
            findings: Vec::new(),
            tiles_differ: Vec::new(),
            done: 0,
            total: target.size - old,
            progress,
        };
        let result = verify::extend(&src, &mut edge, target, &mut sink).await;
        let result = match result {
            Ok(()) => {
                sink.tiles.extend(
                    edge.partial_tiles()
                        .into_iter()
                        .map(|(id, d)| (id.path(), d)),
                );
                match sink.replay_pending().and_then(|()| sink.flush_rows()) {
                    Ok(()) => sink.flush_tiles().await.map_err(Stop::Sink),
                    Err(e) => Err(Stop::Sink(e)),
                }
            }
            Err(e) => Err(e),
        };
        (progress)(&cfg.region, sink.done, sink.total);
        let mut findings = std::mem::take(&mut sink.findings);
        let tiles_differ = std::mem::take(&mut sink.tiles_differ);
        drop(sink);
        match result {
            Ok(()) => {
                // The entries gave the signed root: they are the log's, and
                // only the served tiles are wrong (the mirror keeps the
                // recomputed ones).
                for (index, message) in tiles_differ {
                    let evidence = format!("served:\n{}", target.to_text());
                    let f = Finding {
                        region: cfg.region.clone(),
                        index,
                        kind: FindingKind::Inconsistency,
                        message,
                    };
                    if self.state.add_finding(origin, &f, &evidence)? {
                        tracing::warn!(region = %cfg.region, index, "{}", f.message);
                        findings.push(f);
                    }
                }
                Ok(Ok(findings))
            }
            Err(stop) => {
                *slot = None;
                self.state.discard_provisional(origin, old)?;
                Ok(Err((stop, src.used_cache.load(Ordering::Relaxed))))
            }
        }
    }

    /// The split views a witness refused for this log: each one whose
    /// offered checkpoint the log signed becomes a finding, once. `None`
    /// when the witness does not offer `/evidence` (not C2SP: our
    /// witness's extension) or it could not be read.
    async fn witness_evidence(
        &self,
        cfg: &LogConfig,
        w: &crate::config::WitnessConfig,
    ) -> Result<(Vec<Finding>, Extension), Error> {
        let raw = match get(&self.http, &format!("{}/evidence", w.url)).await {
            Ok(Some(raw)) => raw,
            Ok(None) => return Ok((Vec::new(), Extension::Absent)),
            Err(e) => return Ok((Vec::new(), Extension::Failed(e.to_string()))),
        };
        let Ok(list) = serde_json::from_slice::<Vec<witness::Evidence>>(&raw) else {
            return Ok((
                Vec::new(),
                Extension::Failed("its /evidence is not a list of evidence".into()),
            ));
        };
        let mut out = Vec::new();
        for ev in list.into_iter().filter(|e| e.origin == cfg.key.name) {
            let Ok(offered) = SignedCheckpoint::open(ev.offered.as_bytes(), &cfg.key, &[]) else {
                continue; // not signed by the log: no evidence against it
            };
            let f = Finding {
                region: cfg.region.clone(),
                index: None,
                kind: FindingKind::Inconsistency,
                message: format!(
                    "split view: witness {} refused a checkpoint of size {} signed by the log: {}",
                    w.key.name, offered.checkpoint.size, ev.why
                ),
            };
            let evidence = format!("held:\n{}\noffered:\n{}", ev.held, ev.offered);
            if self.state.add_finding(&cfg.key.name, &f, &evidence)? {
                tracing::warn!(region = %cfg.region, "{}", f.message);
                self.alert(&f).await;
                out.push(f);
            }
        }
        Ok((out, Extension::Read))
    }

    /// Checks each witness as far as it can be checked, and records how
    /// ([`WitnessCheck`]): the cosignature on the served checkpoint (C2SP:
    /// every witness), and, for a witness that offers our `/latest` and
    /// `/evidence` extensions, the checkpoint it holds against the verified
    /// tree (a witness shown another tree is a split view, and the two
    /// signed checkpoints are the evidence) and the split views it refused.
    pub(crate) async fn check_witnesses(&self, log: &Followed) -> Result<Vec<Finding>, Error> {
        let cfg = &log.config;
        let Some(v) = self.state.verified(&cfg.key.name)? else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for w in &self.config.witnesses {
            let (found, evidence) = self.witness_evidence(cfg, w).await?;
            out.extend(found);
            let (found, split_view) = self.witness_latest(log, &v, w, &evidence).await?;
            out.extend(found);
            let key = (cfg.region.clone(), w.key.name.clone());
            let mut checks = self
                .witness_checks
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let previous = checks.get(&key).and_then(|c| c.cosigned);
            // Every checkpoint the monitor commits was shown consistent
            // with the ones before, so each cosigned one it verified is in
            // the same tree: the latest is the one to name.
            let cosigned = if v.cosigners.contains(&w.key.name) {
                Some(v.size)
            } else {
                previous
            };
            checks.insert(
                key,
                WitnessCheck {
                    cosigned,
                    split_view_checked: split_view.0,
                    split_view: split_view.1,
                },
            );
        }
        Ok(out)
    }

    /// Compares the checkpoint a witness holds (`GET /latest`) with the
    /// verified tree; says whether the check was made, and how or why not.
    async fn witness_latest(
        &self,
        log: &Followed,
        v: &Verified,
        w: &crate::config::WitnessConfig,
        evidence: &Extension,
    ) -> Result<(Vec<Finding>, (bool, String)), Error> {
        let cfg = &log.config;
        let mut out = Vec::new();
        let req = self
            .http
            .get(format!("{}/latest", w.url))
            .query(&[("origin", &cfg.key.name)]);
        let raw = match (send(req).await, evidence) {
            (Ok(Some(raw)), _) => raw,
            (Ok(None), Extension::Absent) => {
                return Ok((
                    out,
                    (
                        false,
                        "split-view check not available (C2SP-only: no /latest or /evidence)"
                            .into(),
                    ),
                ));
            }
            (Ok(None), _) => {
                return Ok((
                    out,
                    (
                        false,
                        "split-view check not made: the witness holds no checkpoint of this log"
                            .into(),
                    ),
                ));
            }
            (Err(e), _) => {
                return Ok((
                    out,
                    (false, format!("split-view check not made: /latest: {e}")),
                ));
            }
        };
        let seen = match SignedCheckpoint::open(&raw, &cfg.key, &[]) {
            Ok(seen) => seen,
            Err(e) => {
                return Ok((
                    out,
                    (
                        false,
                        format!(
                            "split-view check not made: its /latest does not verify with the log's key: {e}"
                        ),
                    ),
                ));
            }
        };
        let how = match evidence {
            Extension::Read => "its refused split views read".to_owned(),
            Extension::Absent => "it offers no /evidence".to_owned(),
            Extension::Failed(why) => format!("its /evidence could not be read: {why}"),
        };
        let s = seen.checkpoint.size;
        if s > v.size {
            // Checked once the monitor has verified that far.
            return Ok((
                out,
                (
                    false,
                    format!(
                        "split-view check not made yet: the witness holds size {s}, beyond the verified size {}",
                        v.size
                    ),
                ),
            ));
        }
        let consistent = if s == v.size {
            seen.checkpoint.root == v.root
        } else {
            match log.mirror.consistency_proof(s, v.size).await {
                Ok(proof) => tlog::merkle::verify_consistency(
                    s,
                    v.size,
                    &proof,
                    &seen.checkpoint.root,
                    &v.root,
                )
                .is_ok(),
                Err(e) => {
                    return Err(Error::State(format!(
                        "{}: mirror proof from {s} to {}: {e}",
                        cfg.region, v.size
                    )));
                }
            }
        };
        if !consistent {
            let f = self
                .inconsistency(
                    cfg,
                    None,
                    format!(
                        "split view: witness {} was shown a checkpoint of size {s} with root {}, which is not in the tree the log serves (size {}, root {})",
                        w.key.name,
                        seen.checkpoint.root.to_base64(),
                        v.size,
                        v.root.to_base64()
                    ),
                    &format!(
                        "shown to {}:\n{}\nserved:\n{}",
                        w.key.name,
                        String::from_utf8_lossy(&raw),
                        v.checkpoint
                    ),
                )
                .await?;
            out.extend(f);
            return Ok((
                out,
                (
                    true,
                    format!("split view: its latest (size {s}) is not in the verified tree"),
                ),
            ));
        }
        Ok((
            out,
            (
                true,
                format!("split-view checked: its latest (size {s}) is in the verified tree; {how}"),
            ),
        ))
    }
}

/// Whether a witness's `/evidence` extension could be read.
enum Extension {
    /// Read.
    Read,
    /// Not offered (404): a C2SP-only witness.
    Absent,
    /// Failed: why.
    Failed(String),
}

/// What the monitor could check of one witness for one log, and how.
#[derive(Clone, Debug, serde::Serialize)]
pub struct WitnessCheck {
    /// The size of the newest checkpoint served by the log and verified by
    /// the monitor on which this witness's cosignature verified with its
    /// key (C2SP tlog-cosignature: checkable for every witness).
    pub cosigned: Option<u64>,
    /// Whether the witness's own view was compared with the verified tree
    /// (needs our `/latest` extension).
    pub split_view_checked: bool,
    /// How the split-view check was made, or why it was not.
    pub split_view: String,
}

impl std::fmt::Display for WitnessCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.cosigned {
            Some(n) => write!(f, "cosignature verified on checkpoint {n}; ")?,
            None => write!(f, "no cosignature verified on a served checkpoint; ")?,
        }
        f.write_str(&self.split_view)
    }
}
