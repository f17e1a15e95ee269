//! The independent monitor of residency's regional logs. It needs nothing
//! from an operator but each log's origin, public key and URL, and trusts
//! nothing else: it verifies every entry, tile and checkpoint itself,
//! replays every decision under the policy bundle the log carries, and
//! reports what it finds.
//!
//! - [`config`]: the logs and witnesses to follow.
//! - [`tlog::verify`]: verification of a tiled log from its entries up.
//! - [`replay`]: decisions decided again and the law checked again.
//! - [`state`]: the verified state, in SQLite.
//! - `salvage`: entries checked one by one when a log's tree does not
//!   verify from its entries up.
//! - [`report`]: the summary, the dashboard and the Art. 30 record.
//!
//! [`Monitor`] ties them: [`Monitor::sync`] is one round over every log,
//! [`Monitor::reverify`] checks the mirror again from scratch.

#![deny(missing_docs)]
#![cfg_attr(
    not(test),
    warn(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod config;
mod mirror;
pub use ::replay;
pub mod report;
mod salvage;
pub mod state;

use std::path::PathBuf;
use std::sync::Arc;

use tlog::edge::Edge;
use tlog::storage::WriterGuard;
use tlog::verify;
use tlog::{FsStorage, LogReader, SignedCheckpoint, Storage};

pub use config::MonitorConfig;
pub use mirror::{SyncOutcome, WitnessCheck};
pub use replay::{Finding, FindingKind};

/// What can go wrong in the monitor itself (what it finds in the logs are
/// [`Finding`]s, not errors).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The configuration is invalid: the file and what is wrong.
    #[error("{file}: {message}")]
    Config {
        /// The file.
        file: String,
        /// What is wrong, naming the field.
        message: String,
    },
    /// The monitor's own state or mirror failed.
    #[error("monitor state: {0}")]
    State(String),
    /// Another monitor holds this state directory.
    #[error("{0} is in use by another monitor")]
    Locked(String),
}

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Self {
        Error::State(e.to_string())
    }
}

/// The monitor: its configuration, state, mirrors and HTTP client.
#[derive(Debug)]
pub struct Monitor {
    pub(crate) config: MonitorConfig,
    pub(crate) state: state::State,
    pub(crate) http: reqwest::Client,
    pub(crate) logs: Vec<mirror::Followed>,
    /// What could be checked of each witness, per (region, witness name),
    /// as of this process's last round.
    pub(crate) witness_checks:
        std::sync::Mutex<std::collections::BTreeMap<(String, String), WitnessCheck>>,
    _locks: Vec<WriterGuard>,
}

/// A progress callback: region, entries done, entries to do.
pub type Progress<'a> = &'a (dyn Fn(&str, u64, u64) + Sync);

impl Monitor {
    /// Opens the state directory (creating it) for `config`. One monitor
    /// at a time may use a state directory.
    pub async fn open(config: MonitorConfig) -> Result<Self, Error> {
        let io = |p: &PathBuf, e: std::io::Error| Error::State(format!("{}: {e}", p.display()));
        std::fs::create_dir_all(&config.state).map_err(|e| io(&config.state, e))?;
        let state = state::State::open(&config.state.join("monitor.db"))?;
        let mut logs = Vec::new();
        let mut locks = Vec::new();
        for l in &config.logs {
            let dir = config.state.join("mirror").join(&l.region);
            std::fs::create_dir_all(&dir).map_err(|e| io(&dir, e))?;
            let storage = FsStorage::open(&dir).map_err(|e| Error::State(e.to_string()))?;
            locks.push(storage.claim_writer().await.map_err(|e| match e {
                tlog::Error::Locked(p) => Error::Locked(p),
                other => Error::State(other.to_string()),
            })?);
            logs.push(mirror::Followed {
                config: l.clone(),
                mirror: LogReader::new(storage),
                replayer: tokio::sync::Mutex::new(None),
            });
        }
        let http = tls::client(config.ca.as_deref())
            .map_err(|e| Error::Config {
                file: "the monitor's configuration".into(),
                message: format!("ca: {e}"),
            })?
            .timeout(std::time::Duration::from_secs(30))
            .build()
            .map_err(|e| Error::State(format!("HTTP client: {e}")))?;
        Ok(Monitor {
            config,
            state,
            http,
            logs,
            witness_checks: Default::default(),
            _locks: locks,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &MonitorConfig {
        &self.config
    }

    /// One round: every log fetched, verified and replayed up to its
    /// current checkpoint, and the witnesses' views compared with it.
    pub async fn sync(&self, progress: Progress<'_>) -> Result<Vec<SyncOutcome>, Error> {
        let mut out = Vec::new();
        for log in &self.logs {
            let mut o = self.sync_log(log, progress).await?;
            o.findings.extend(self.check_witnesses(log).await?);
            out.push(o);
        }
        Ok(out)
    }

    /// Verifies the mirror again from its first entry, from the files on
    /// disk alone: every entry hashed, every tile recomputed, every
    /// checkpoint's signature checked, every decision replayed. Findings
    /// are recorded (once) and returned.
    pub async fn reverify(&self, progress: Progress<'_>) -> Result<Vec<Finding>, Error> {
        let mut found = Vec::new();
        for log in &self.logs {
            let cfg = &log.config;
            let Some(v) = self.state.verified(&cfg.key.name)? else {
                continue;
            };
            let mut problems = Vec::new();
            match SignedCheckpoint::open(v.checkpoint.as_bytes(), &cfg.key, &[]) {
                Ok(cp) if cp.checkpoint.size == v.size && cp.checkpoint.root == v.root => {
                    let mut sink = Recheck {
                        replayer: replay::Replayer::new(&cfg.region)
                            .judging_by(self.config.law.clone()),
                        pending: Vec::new(),
                        first: 0,
                        findings: Vec::new(),
                        done: 0,
                        total: v.size,
                        region: &cfg.region,
                        progress,
                    };
                    let mut edge = Edge::new();
                    match verify::extend(&log.mirror, &mut edge, &cp.checkpoint, &mut sink).await {
                        Ok(()) => {
                            sink.replay_pending();
                            found.extend(sink.findings.clone());
                        }
                        Err(e) => problems.push((
                            match &e {
                                verify::Stop::Inconsistent(found) => found.index(),
                                _ => None,
                            },
                            format!("the mirror copy does not verify: {e}"),
                        )),
                    }
                    for f in &sink.findings {
                        self.state.add_finding(&cfg.key.name, f, "")?;
                    }
                }
                Ok(_) => problems.push((
                    None,
                    "the stored checkpoint disagrees with the state".into(),
                )),
                Err(e) => {
                    problems.push((None, format!("the stored checkpoint does not verify: {e}")))
                }
            }
            for (index, message) in problems {
                found.extend(
                    self.inconsistency(cfg, index, message, &v.checkpoint)
                        .await?,
                );
            }
        }
        Ok(found)
    }

    /// Follows the logs until `stop` resolves, one round every poll interval.
    pub async fn run(self: Arc<Self>, stop: impl std::future::Future<Output = ()>) {
        let mut stop = std::pin::pin!(stop);
        let every = std::time::Duration::from_millis(self.config.poll_ms);
        loop {
            if let Err(e) = self.sync(&|_, _, _| {}).await {
                tracing::error!("sync failed: {e}");
            }
            tokio::select! {
                () = &mut stop => return,
                () = tokio::time::sleep(every) => {}
            }
        }
    }

    /// Posts a finding to the webhook, if one is configured. A failed post
    /// is logged; the finding stays in the state either way.
    pub(crate) async fn alert(&self, f: &Finding) {
        let Some(url) = &self.config.webhook else {
            return;
        };
        let sent = self.http.post(url).json(f).send().await;
        match sent {
            Ok(r) if r.status().is_success() => {}
            Ok(r) => tracing::warn!(status = %r.status(), "the alert webhook refused a finding"),
            Err(e) => tracing::warn!("the alert webhook failed: {}", e.without_url()),
        }
    }
}

/// Receives the mirror's entries when it is verified again.
struct Recheck<'a> {
    replayer: replay::Replayer,
    pending: Vec<Vec<u8>>,
    first: u64,
    findings: Vec<Finding>,
    done: u64,
    total: u64,
    region: &'a str,
    progress: Progress<'a>,
}

impl verify::Consumer for Recheck<'_> {
    fn entry(&mut self, index: u64, bytes: &[u8]) -> Result<(), String> {
        if self.pending.is_empty() {
            self.first = index;
        }
        self.pending.push(bytes.to_vec());
        self.done += 1;
        if self.done.is_multiple_of(256) || self.done == self.total {
            (self.progress)(self.region, self.done, self.total);
        }
        Ok(())
    }

    async fn tiles(&mut self, _: Vec<tlog::edge::TileData>) -> Result<(), String> {
        if self.pending.len() >= 4096 {
            self.replay_pending();
        }
        Ok(())
    }
}

impl Recheck<'_> {
    fn replay_pending(&mut self) {
        let entries = std::mem::take(&mut self.pending);
        for r in self.replayer.replay_all(self.first, &entries) {
            self.findings.extend(r.findings);
        }
    }
}
