//! The checks a release must pass, in order: the checkpoint (vouched for
//! as a witness), the entry's inclusion, what the entry decided, each
//! key's subject (membership, dataset, erasure list), then the replay.
//! Nothing is opened before every check of the request has passed, so a
//! refusal releases nothing.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use custody::protocol::{
    Base64, Consistency, EraseAnswer, EraseRequest, LoggedEntry, MAX_RELEASES, Membership, Refused,
    ReleaseAnswer, ReleaseOutcome, ReleaseRequest, ReleasesAnswer, ReleasesRequest, ScanAnswer,
    ScanRequest, SubjectKeys, Tail, Wrapped,
};
use custody::{BatchSecret, WrappedSecret};
use entry::{Entry, Kind, Opening, Outcome};
use policy::Action;
use replay::Replayer;
use tlog::{Hash, SignedCheckpoint};

use crate::config::CustodianConfig;
use crate::keys::KeyProvider;
use crate::scan::Scans;
use crate::state::State;

/// Why a request is refused. Each names what failed — an index, a
/// position, a dataset — never a subject or a value.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Refusal {
    /// The body is not a request (400).
    #[error("malformed request: {0}")]
    Malformed(String),
    /// The caller is not the region's gateway (401).
    #[error("not authenticated: {0}")]
    Unauthenticated(String),
    /// The checkpoint is not signed by a log the custodian serves (403).
    #[error("checkpoint not signed by the region's log: {0}")]
    NotSigned(String),
    /// The checkpoint is older than the latest the custodian holds and was
    /// never shown to it, or the consistency proof starts elsewhere (409):
    /// prove against a newer checkpoint, from `latest`.
    #[error("the custodian holds checkpoint size {latest}: prove against it or a newer one")]
    Stale {
        /// The size the custodian holds.
        latest: u64,
    },
    /// The checkpoint contradicts one the custodian has seen (409): kept
    /// as evidence.
    #[error("split view: {0}")]
    SplitView(String),
    /// The entry is not in the log at the checkpoint (403).
    #[error("not logged: {0}")]
    NotLogged(String),
    /// The entry does not allow this release (403).
    #[error("not allowed by the entry: {0}")]
    NotAllowed(String),
    /// The custodian does not hold the entry's policy bundle: send it
    /// (409).
    #[error("the custodian does not hold policy bundle {0}: send its entry")]
    UnknownBundle(String),
    /// The entry's decision does not replay, or the law (by the
    /// custodian's own table) does not allow it (403).
    #[error("the decision does not replay: {0}")]
    DoesNotReplay(String),
    /// The custodian has not read every entry of the checkpoints it
    /// vouched for (409): send the entries from `scanned` on.
    #[error("the custodian has read the log up to entry {scanned}: send the entries from there")]
    Unscanned {
        /// How many entries it has read.
        scanned: u64,
    },
    /// The log holds an allowed erasure the custodian was not notified
    /// of (409): nothing is released until it is.
    #[error("log entry {0} is an erasure the custodian was not notified of")]
    ErasureUnnotified(u64),
    /// A subject asked for (by its position) was erased by a logged
    /// erasure (410).
    #[error("subject {0}: erased by log entry {1}")]
    Erased(usize, u64),
    /// A wrapped secret (by its position) does not open (422).
    #[error("secret {0}: {1}")]
    DoesNotOpen(usize, String),
    /// The custodian's own storage failed (500).
    #[error("custodian storage: {0}")]
    Storage(String),
}

impl Refusal {
    /// The HTTP status.
    pub fn status(&self) -> u16 {
        match self {
            Refusal::Malformed(_) => 400,
            Refusal::Unauthenticated(_) => 401,
            Refusal::NotSigned(_)
            | Refusal::NotLogged(_)
            | Refusal::NotAllowed(_)
            | Refusal::DoesNotReplay(_) => 403,
            Refusal::Stale { .. }
            | Refusal::SplitView(_)
            | Refusal::UnknownBundle(_)
            | Refusal::Unscanned { .. }
            | Refusal::ErasureUnnotified(_) => 409,
            Refusal::Erased(..) => 410,
            Refusal::DoesNotOpen(..) => 422,
            Refusal::Storage(_) => 500,
        }
    }

    /// A short code for clients and metrics.
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::Malformed(_) => "malformed",
            Refusal::Unauthenticated(_) => "unauthenticated",
            Refusal::NotSigned(_) => "not_signed",
            Refusal::Stale { .. } => "stale_checkpoint",
            Refusal::SplitView(_) => "split_view",
            Refusal::NotLogged(_) => "not_logged",
            Refusal::NotAllowed(_) => "not_allowed",
            Refusal::UnknownBundle(_) => "unknown_bundle",
            Refusal::DoesNotReplay(_) => "does_not_replay",
            Refusal::Unscanned { .. } => "unscanned",
            Refusal::ErasureUnnotified(_) => "erasure_unnotified",
            Refusal::Erased(..) => "erased",
            Refusal::DoesNotOpen(..) => "does_not_open",
            Refusal::Storage(_) => "storage",
        }
    }
}

fn storage(e: impl std::fmt::Display) -> Refusal {
    Refusal::Storage(e.to_string())
}

/// The actions whose allowed entries open records.
fn opens_records(action: Action) -> bool {
    matches!(
        action,
        Action::Read | Action::Transfer | Action::Export | Action::Aggregate
    )
}

/// The custodian's checks over its keys and state.
pub struct Gate {
    config: CustodianConfig,
    keys: Arc<dyn KeyProvider>,
    witness: witness::Witness,
    state: State,
    scans: Scans,
    /// One replayer per region, holding the bundles seen.
    replayers: Mutex<HashMap<String, Replayer>>,
    /// Batch secrets opened lately, by region and wrapped bytes: a batch's
    /// records are read many times, and opening one (X-Wing) costs far
    /// more than every check of a one-key release.
    opened: quick_cache::sync::Cache<(String, Vec<u8>), BatchSecret>,
    /// Per log (by origin), the checkpoint, verbatim, last found to carry
    /// the witness quorum: every release it covers shows it again.
    quorum_met: Mutex<HashMap<String, String>>,
}

/// Batch secrets kept opened.
const OPENED_SECRETS: usize = 4096;

impl std::fmt::Debug for Gate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Gate({} logs)", self.config.logs.len())
    }
}

/// What a request shows of the log: a checkpoint, the consistency proof
/// to it, the entries the custodian has not read.
struct Shown<'a> {
    checkpoint: &'a str,
    consistency: Option<&'a Consistency>,
    tail: Option<&'a Tail>,
}

/// A checkpoint the custodian vouched for, and its cosignature.
struct Vouched {
    checkpoint: SignedCheckpoint,
    cosignature: String,
    region: String,
}

impl Gate {
    /// Opens the gate's state in `config.state`, cosigning with `cosigner`.
    pub fn open(
        config: CustodianConfig,
        keys: Arc<dyn KeyProvider>,
        cosigner: tlog::Signer,
    ) -> Result<Self, String> {
        std::fs::create_dir_all(&config.state)
            .map_err(|e| format!("{}: {e}", config.state.display()))?;
        let logs: Vec<tlog::Verifier> = config.logs.values().map(|l| l.key.clone()).collect();
        let witness = witness::Witness::open(&config.state.join("witness.db"), cosigner, logs)
            .map_err(|e| e.to_string())?;
        let state = State::open(&config.state.join("custodian.db")).map_err(|e| e.to_string())?;
        let vouched = config
            .logs
            .iter()
            .map(|(origin, l)| Ok((l.region.clone(), witness.latest_size(origin)?)))
            .collect::<Result<Vec<_>, witness::Refusal>>()
            .map_err(|e| e.to_string())?;
        let scans = Scans::open(&config.state.join("scan.db"), vouched)?;
        let mut replayers: HashMap<String, Replayer> = HashMap::new();
        let bundles = state.bundles().map_err(|e| e.to_string())?;
        for log in config.logs.values() {
            let mut r = Replayer::new(&log.region).judging_by(config.law.clone());
            for (hash, content) in &bundles {
                r.add_bundle(hash, content)
                    .map_err(|e| format!("stored bundle {hash}: {e}"))?;
            }
            replayers.insert(log.region.clone(), r);
        }
        Ok(Gate {
            config,
            keys,
            witness,
            state,
            scans,
            replayers: Mutex::new(replayers),
            opened: quick_cache::sync::Cache::new(OPENED_SECRETS),
            quorum_met: Mutex::new(HashMap::new()),
        })
    }

    fn quorum_met(&self) -> std::sync::MutexGuard<'_, HashMap<String, String>> {
        self.quorum_met
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The configuration.
    pub fn config(&self) -> &CustodianConfig {
        &self.config
    }

    /// The key provider.
    pub fn keys(&self) -> &dyn KeyProvider {
        &*self.keys
    }

    /// The witness state (for its evidence and latest checkpoints).
    pub fn witness(&self) -> &witness::Witness {
        &self.witness
    }

    /// The durable state.
    pub fn state(&self) -> &State {
        &self.state
    }

    /// The region whose gateway holds `token`, if any.
    pub fn authenticate(&self, token: &str) -> Option<&str> {
        use sha2::Digest as _;
        use subtle::ConstantTimeEq as _;
        let digest: [u8; 32] = sha2::Sha256::digest(token.as_bytes()).into();
        self.config
            .logs
            .values()
            .find(|l| bool::from(l.token_sha256.ct_eq(&digest)))
            .map(|l| l.region.as_str())
    }

    fn vouch(
        &self,
        caller: &str,
        checkpoint: &str,
        consistency: Option<&Consistency>,
        now: u64,
    ) -> Result<Vouched, Refusal> {
        // The caller's own log only, checked before the witness state is
        // touched: a region neither learns nor moves another's.
        let origin = SignedCheckpoint::parse_unverified(checkpoint.as_bytes())
            .map_err(|e| Refusal::Malformed(format!("checkpoint: {e}")))?
            .checkpoint
            .origin;
        match self.config.logs.get(&origin) {
            Some(l) if l.region == caller => {}
            Some(_) => {
                return Err(Refusal::Unauthenticated(format!(
                    "the caller is {caller}'s gateway, not the log's"
                )));
            }
            None => return Err(Refusal::NotSigned("not a log this custodian serves".into())),
        }
        // Enough independent witnesses cosigned it: what the custodian
        // is shown is what they were shown.
        let quorum_met = || {
            self.quorum_met()
                .get(&origin)
                .is_some_and(|c| c == checkpoint)
        };
        if self.config.witness_quorum > 0 && !quorum_met() {
            let cosigned = tlog::Note::parse(checkpoint.as_bytes())
                .and_then(|n| n.verify(&self.config.witnesses).map(|v| v.len()))
                .unwrap_or(0);
            if cosigned < self.config.witness_quorum {
                return Err(Refusal::NotSigned(format!(
                    "the checkpoint carries {cosigned} of the {} witness cosignatures required",
                    self.config.witness_quorum
                )));
            }
            self.quorum_met()
                .insert(origin.clone(), checkpoint.to_owned());
        }
        let consistency = consistency.map(|c| (c.old_size, c.proof.iter().map(|h| h.0).collect()));
        let (checkpoint, sig) = self
            .witness
            .vouch(checkpoint, consistency, now)
            .map_err(|r| match r {
                witness::Refusal::Malformed(m) => Refusal::Malformed(format!("checkpoint: {m}")),
                witness::Refusal::UnknownOrigin(_) => {
                    Refusal::NotSigned("not a log this custodian serves".into())
                }
                witness::Refusal::NotSigned(m) => Refusal::NotSigned(m),
                witness::Refusal::Conflict { latest } => Refusal::Stale { latest },
                witness::Refusal::BadOldSize { old, size } => Refusal::Malformed(format!(
                    "consistency: old size {old} above the checkpoint's {size}"
                )),
                witness::Refusal::SplitView { why, .. } => Refusal::SplitView(why),
                other => Refusal::Storage(other.to_string()),
            })?;
        let region = self
            .config
            .logs
            .get(&checkpoint.checkpoint.origin)
            .map(|l| l.region.clone())
            .ok_or_else(|| Refusal::NotSigned("not a log this custodian serves".into()))?;
        if region != caller {
            return Err(Refusal::Unauthenticated(format!(
                "the caller is {caller}'s gateway, the log is {region}'s"
            )));
        }
        Ok(Vouched {
            checkpoint,
            cosignature: sig.to_line(),
            region,
        })
    }

    /// Vouches for the checkpoint, then reads the tail up to it under the
    /// region's scan lock; with `complete`, refuses unless every entry of
    /// every checkpoint vouched for has been read.
    fn vouch_and_read(
        &self,
        caller: &str,
        shown: Shown<'_>,
        now: u64,
        before_read: impl FnOnce(&Vouched) -> Result<(), Refusal>,
        complete: bool,
    ) -> Result<(Vouched, u64), Refusal> {
        // Vouched for outside the lock (a new checkpoint costs the witness
        // a durable write, which concurrent requests need not wait for);
        // the first thing under it is to count it as vouched.
        let v = self.vouch(caller, shown.checkpoint, shown.consistency, now)?;
        let mut scan = self.scans.lock(caller)?;
        scan.vouched = scan.vouched.max(v.checkpoint.checkpoint.size);
        before_read(&v)?;
        self.scans
            .read(&v.region, &mut scan, &v.checkpoint, shown.tail, &self.state)?;
        if complete {
            scan.complete()?;
        }
        Ok((v, scan.frontier.size()))
    }

    /// Checks that `logged` is in the log at the vouched checkpoint and
    /// parses it.
    fn included(v: &Vouched, logged: &LoggedEntry, what: &str) -> Result<Entry, Refusal> {
        let cp = &v.checkpoint.checkpoint;
        let proof: Vec<Hash> = logged.inclusion.iter().map(|h| h.0).collect();
        tlog::merkle::verify_inclusion(
            &tlog::leaf_hash(&logged.bytes.0),
            logged.index,
            cp.size,
            &proof,
            &cp.root,
        )
        .map_err(|e| {
            Refusal::NotLogged(format!(
                "{what} {} is not in the log at size {}: {e}",
                logged.index, cp.size
            ))
        })?;
        Entry::parse(&logged.bytes.0)
            .map_err(|_| Refusal::NotLogged(format!("{what} {} is not a log entry", logged.index)))
    }

    /// Checks that `member` is in the entry's salted subject set (a
    /// filler — an empty subject — opens nothing).
    fn member_of(e: &Entry, index: u64, m: &Membership, n: usize) -> Result<(), Refusal> {
        if m.subject.is_empty() {
            return Err(Refusal::NotAllowed(format!(
                "subject {n}: a filler leaf opens nothing"
            )));
        }
        Self::leaf_of(e, index, m, n)
    }

    /// Checks that `member` (a subject or a filler) is the leaf at its
    /// position of the entry's salted subject set.
    fn leaf_of(e: &Entry, index: u64, m: &Membership, n: usize) -> Result<(), Refusal> {
        let Some(root) = e.subjects_root.as_deref().filter(|_| e.salted()) else {
            return Err(Refusal::NotAllowed(format!(
                "entry {index} does not commit to a salted subject set"
            )));
        };
        let root = Hash::from_hex(root).map_err(|_| {
            Refusal::NotAllowed(format!("entry {index}: its subject root is not a hash"))
        })?;
        let leaf = Opening {
            subject: m.subject.clone(),
            salt: m.salt.0,
        }
        .leaf();
        let proof: Vec<Hash> = m.proof.iter().map(|h| h.0).collect();
        tlog::merkle::verify_inclusion(&leaf, m.position, e.subject_count, &proof, &root).map_err(
            |_| {
                Refusal::NotAllowed(format!(
                    "subject {n} is not in entry {index}'s set at position {}",
                    m.position
                ))
            },
        )
    }

    /// Learns the entry's bundle from the request if it is new, then
    /// replays the entry under it.
    fn replays(
        &self,
        v: &Vouched,
        index: u64,
        e: Entry,
        bundle: Option<&LoggedEntry>,
    ) -> Result<(), Refusal> {
        let mut replayers = self
            .replayers
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let replayer = replayers
            .get_mut(&v.region)
            .ok_or_else(|| Refusal::Storage("no replayer for the region".into()))?;
        if !replayer.knows(&e.bundle) {
            let Some(b) = bundle else {
                return Err(Refusal::UnknownBundle(e.bundle.clone()));
            };
            if b.index >= index {
                return Err(Refusal::NotLogged(format!(
                    "bundle entry {} is not before entry {index}",
                    b.index
                )));
            }
            let be = Self::included(v, b, "bundle entry")?;
            let content = match (&be.kind, &be.bundle_content) {
                (Kind::PolicyBundle, Some(c)) if be.bundle == e.bundle && be.region == v.region => {
                    String::from_utf8(entry::canonical(c)).map_err(storage)?
                }
                _ => {
                    return Err(Refusal::NotLogged(format!(
                        "entry {} is not the logging of bundle {}",
                        b.index, e.bundle
                    )));
                }
            };
            replayer
                .add_bundle(&e.bundle, &content)
                .map_err(|why| Refusal::NotLogged(format!("bundle entry {}: {why}", b.index)))?;
            self.state
                .put_bundle(&e.bundle, &content)
                .map_err(storage)?;
        }
        let replayed = replayer.replay_entry(index, e);
        if !replayed.findings.is_empty() {
            let why: Vec<String> = replayed
                .findings
                .iter()
                .map(|f| f.message.clone())
                .collect();
            return Err(Refusal::DoesNotReplay(why.join("; ")));
        }
        Ok(())
    }

    /// Decides a release: every check, then the keys.
    pub fn release(
        &self,
        caller: &str,
        req: &ReleaseRequest,
        now: u64,
    ) -> Result<ReleaseAnswer, Refusal> {
        let v = self.vouch_for_release(
            caller,
            &req.checkpoint,
            req.consistency.as_ref(),
            req.tail.as_ref(),
            now,
        )?;
        let keys = self.release_vouched(
            &v,
            &req.entry,
            req.bundle.as_ref(),
            &req.secrets,
            &req.subjects,
            now,
        )?;
        Ok(ReleaseAnswer {
            cosignature: v.cosignature,
            keys,
        })
    }

    /// Decides several releases against one checkpoint: it is vouched for
    /// and the tail read once, then each release is decided on its own,
    /// exactly as [`Gate::release`] would decide it — one refused keeps
    /// none of the others from their keys, and none lends another its
    /// entry or proofs.
    pub fn release_batch(
        &self,
        caller: &str,
        req: &ReleasesRequest,
        now: u64,
    ) -> Result<ReleasesAnswer, Refusal> {
        if req.releases.is_empty() || req.releases.len() > MAX_RELEASES {
            return Err(Refusal::Malformed(format!(
                "releases: between 1 and {MAX_RELEASES}"
            )));
        }
        let v = self.vouch_for_release(
            caller,
            &req.checkpoint,
            req.consistency.as_ref(),
            req.tail.as_ref(),
            now,
        )?;
        let releases = req
            .releases
            .iter()
            .map(|r| {
                match self.release_vouched(
                    &v,
                    &r.entry,
                    req.bundle.as_ref(),
                    &r.secrets,
                    &r.subjects,
                    now,
                ) {
                    Ok(keys) => ReleaseOutcome {
                        keys: Some(keys),
                        refused: None,
                    },
                    Err(r) => ReleaseOutcome {
                        keys: None,
                        refused: Some(Refused {
                            code: r.code().to_owned(),
                            detail: r.to_string(),
                        }),
                    },
                }
            })
            .collect();
        Ok(ReleasesAnswer {
            cosignature: v.cosignature,
            releases,
        })
    }

    /// Vouches for a release's checkpoint and reads the tail: every
    /// erasure in the log it vouched for is then known, so none is kept
    /// from the erasure list a release is checked against.
    fn vouch_for_release(
        &self,
        caller: &str,
        checkpoint: &str,
        consistency: Option<&Consistency>,
        tail: Option<&Tail>,
        now: u64,
    ) -> Result<Vouched, Refusal> {
        let shown = Shown {
            checkpoint,
            consistency,
            tail,
        };
        let (v, _) = self.vouch_and_read(caller, shown, now, |_| Ok(()), true)?;
        Ok(v)
    }

    /// Decides one release under a vouched checkpoint: every check, then
    /// the keys.
    fn release_vouched(
        &self,
        v: &Vouched,
        entry: &LoggedEntry,
        bundle: Option<&LoggedEntry>,
        secrets: &[Wrapped],
        subjects: &[SubjectKeys],
        now: u64,
    ) -> Result<Vec<Base64>, Refusal> {
        let index = entry.index;
        let e = Self::included(v, entry, "entry")?;
        if e.kind != Kind::Access || e.region != v.region {
            return Err(Refusal::NotAllowed(format!(
                "entry {index} is not an access of region {}",
                v.region
            )));
        }
        if e.decision != Some(Outcome::Allow) {
            return Err(Refusal::NotAllowed(format!(
                "entry {index} is not an allowed decision"
            )));
        }
        // A release follows its logging within moments: an old entry does
        // not authorise keys to records sealed since.
        let logged_at =
            time::OffsetDateTime::parse(&e.time, &time::format_description::well_known::Rfc3339)
                .map(|t| t.unix_timestamp())
                .map_err(|_| Refusal::NotAllowed(format!("entry {index} has no valid time")))?;
        let now_s = i64::try_from(now).unwrap_or(i64::MAX);
        let max = i64::try_from(self.config.max_entry_age_secs).unwrap_or(i64::MAX);
        if logged_at > now_s.saturating_add(60) || now_s.saturating_sub(logged_at) > max {
            return Err(Refusal::NotAllowed(format!(
                "entry {index} was not logged within the last {max} s"
            )));
        }
        match e.action {
            Some(a) if opens_records(a) => {}
            _ => {
                return Err(Refusal::NotAllowed(format!(
                    "entry {index}'s action opens no records"
                )));
            }
        }
        for (n, s) in subjects.iter().enumerate() {
            Self::member_of(&e, index, &s.member, n)?;
            for k in &s.keys {
                if !e.datasets.contains(&k.dataset) {
                    return Err(Refusal::NotAllowed(format!(
                        "subject {n}: entry {index} does not name this dataset"
                    )));
                }
                if k.secret as usize >= secrets.len() {
                    return Err(Refusal::Malformed(format!(
                        "subjects[{n}]: secret {} is not in secrets",
                        k.secret
                    )));
                }
            }
        }
        for (n, s) in subjects.iter().enumerate() {
            if let Some(at) = self
                .state
                .erased(&v.region, &s.member.subject)
                .map_err(storage)?
            {
                return Err(Refusal::Erased(n, at));
            }
        }
        self.replays(v, index, e, bundle)?;
        // Every check passed: open each secret asked for, once.
        let mut opened: HashMap<u32, BatchSecret> = HashMap::new();
        let mut keys = Vec::with_capacity(subjects.iter().map(|s| s.keys.len()).sum());
        for s in subjects {
            for k in &s.keys {
                let secret = match opened.get(&k.secret) {
                    Some(secret) => secret,
                    None => {
                        let w: &WrappedSecret = &secrets[k.secret as usize].0;
                        let cached = (v.region.clone(), w.to_bytes());
                        let secret = match self.opened.get(&cached) {
                            Some(secret) => secret,
                            None => {
                                let secret = self.keys.open(w, &v.region).map_err(|e| {
                                    Refusal::DoesNotOpen(k.secret as usize, e.to_string())
                                })?;
                                self.opened.insert(cached, secret.clone());
                                secret
                            }
                        };
                        opened.entry(k.secret).or_insert(secret)
                    }
                };
                let key = secret.record_key(&s.member.subject, &k.dataset);
                keys.push(Base64(key.0.to_vec()));
            }
        }
        Ok(keys)
    }

    /// Seals each secret anew to the current key (a rotation): the
    /// secrets never leave; a secret that does not open is refused by its
    /// position, and nothing is answered.
    pub fn rewrap(
        &self,
        caller: &str,
        req: &custody::protocol::RewrapRequest,
    ) -> Result<custody::protocol::RewrapAnswer, Refusal> {
        let wrapped = req
            .wrapped
            .iter()
            .enumerate()
            .map(|(n, w)| {
                self.keys
                    .rewrap(&w.0, caller)
                    .map(custody::protocol::Wrapped)
                    .map_err(|e| Refusal::DoesNotOpen(n, e.to_string()))
            })
            .collect::<Result<_, _>>()?;
        Ok(custody::protocol::RewrapAnswer { wrapped })
    }

    /// Records a logged erasure: from the answer on, no key of the
    /// subject is released.
    pub fn erase(
        &self,
        caller: &str,
        req: &EraseRequest,
        now: u64,
    ) -> Result<EraseAnswer, Refusal> {
        // Recorded before the tail is read, so reading passes it.
        let record = |v: &Vouched| {
            let index = req.entry.index;
            let e = Self::included(v, &req.entry, "entry")?;
            if e.kind != Kind::Access
                || e.region != v.region
                || e.action != Some(Action::Erase)
                || e.decision != Some(Outcome::Allow)
            {
                return Err(Refusal::NotAllowed(format!(
                    "entry {index} is not an allowed erasure of region {}",
                    v.region
                )));
            }
            // Every leaf, each position once: an erasure of several
            // subjects is recorded for all of them, or not at all.
            if req.members.len() as u64 != e.subject_count {
                return Err(Refusal::NotAllowed(format!(
                    "entry {index} commits to {} subjects: open every one ({} given)",
                    e.subject_count,
                    req.members.len()
                )));
            }
            let mut positions: Vec<u64> = req.members.iter().map(|m| m.position).collect();
            positions.sort_unstable();
            positions.dedup();
            if positions.len() != req.members.len() {
                return Err(Refusal::NotAllowed(format!(
                    "entry {index}: a position of its set is opened twice"
                )));
            }
            for (n, m) in req.members.iter().enumerate() {
                Self::leaf_of(&e, index, m, n)?;
            }
            let subjects: Vec<&str> = req
                .members
                .iter()
                .map(|m| m.subject.as_str())
                .filter(|s| !s.is_empty())
                .collect();
            self.state
                .add_erasure(&v.region, &subjects, index)
                .map_err(storage)
        };
        let (v, _) = self.vouch_and_read(
            caller,
            Shown {
                checkpoint: &req.checkpoint,
                consistency: req.consistency.as_ref(),
                tail: req.tail.as_ref(),
            },
            now,
            record,
            false,
        )?;
        Ok(EraseAnswer {
            cosignature: v.cosignature,
        })
    }

    /// Reads entries the custodian has not read (no release): answers how
    /// far it has read — short of the checkpoint when it stopped at an
    /// erasure it was not notified of.
    pub fn scan(&self, caller: &str, req: &ScanRequest, now: u64) -> Result<ScanAnswer, Refusal> {
        let (v, scanned) = self.vouch_and_read(
            caller,
            Shown {
                checkpoint: &req.checkpoint,
                consistency: req.consistency.as_ref(),
                tail: Some(&req.tail),
            },
            now,
            |_| Ok(()),
            false,
        )?;
        Ok(ScanAnswer {
            scanned,
            cosignature: v.cosignature,
        })
    }
}
