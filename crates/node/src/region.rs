//! What a region does, without HTTP: ingest and routing to home regions,
//! and every release of data — each decided by policy, logged, and only
//! then decrypted and transformed.
//!
//! The order of a release is fixed: decide → append the entry and wait
//! until it is durably sequenced → build the store's `LoggedAccess` from
//! the acknowledgement → decrypt → apply the plan → answer with a receipt.
//! A denial is logged the same way, and nothing is decrypted.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use policy::{Action, Bundle, Decision, DecisionRequest};
use pseudo::Transform;
use serde::{Deserialize, Serialize};
use store::{Backend, Event, LoggedAccess, Store};
use tlog::{FsStorage, LogReader, Sequenced, Sequencer, Signer};

use entry::{Entry, Kind, Opening, PrincipalRef, SubjectSet};

use crate::Error;
use crate::auth::{Caller, Credentials};
use crate::config::{ClusterConfig, resolve_secret};
use crate::metrics::{DecisionLabels, Metrics, TransferLabels};
use tlog::CachedTiles;

/// The log's signing key, in the log directory (as `residency log init`
/// writes it).
pub const LOG_KEY_FILE: &str = "log.key";
/// The log's public key, beside it.
pub const LOG_VKEY_FILE: &str = "log.vkey";

/// One event as the app sends it: about a user resident in `country`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IncomingEvent {
    /// The app's user id.
    pub user_id: String,
    /// Country of residence (ISO 3166-1 alpha-2): decides the home region.
    pub country: String,
    /// Dataset of the catalog.
    pub dataset: String,
    /// Record id within the dataset.
    pub record_id: String,
    /// Time of the record, seconds since the epoch.
    pub time: i64,
    /// Field values.
    pub fields: BTreeMap<String, String>,
}

/// What an ingest did: events stored per home region, and the parts not
/// stored. Every part is checked against the catalog (which every region
/// shares) before any is stored; a part can still fail at its home (the
/// region is down, or refuses), and then the others stay stored: the answer
/// says exactly which.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IngestOutcome {
    /// Events accepted (stored durably in their home region).
    pub accepted: usize,
    /// Of which, per home region.
    pub regions: BTreeMap<String, usize>,
    /// The parts not stored, per home region.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub not_stored: BTreeMap<String, NotStored>,
}

/// A home region's part of an ingest that was not stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotStored {
    /// Events of the part.
    pub events: usize,
    /// `refused`: the home region refused them (resending the same events
    /// will not help); `unavailable`: the home region could not be reached
    /// or did not answer (sending them again is safe: an event for a
    /// record already stored replaces it).
    pub outcome: String,
    /// Why, as the home region said (field names, and event indices
    /// counted within the part sent there; no values).
    pub detail: String,
}

/// A read of one subject's data (in the region's jurisdiction a read;
/// from outside it, a transfer).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReadRequest {
    /// The app's user id.
    pub user_id: String,
    /// Fields as `dataset.field`.
    pub fields: Vec<String>,
    /// Purpose.
    pub purpose: String,
    /// Transfer tool, if the reader is outside the jurisdiction.
    #[serde(default)]
    pub legal_basis: Option<String>,
}

/// A transfer of data about several subjects.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransferRequest {
    /// The subjects, by the app's user ids; absent: every subject homed
    /// here with records in the datasets asked for.
    #[serde(default)]
    pub user_ids: Option<Vec<String>>,
    /// Only the subjects with a record whose public fields (stored in
    /// clear) equal these values: `dataset.field` to a JSON string, number
    /// or boolean. Conditions on one dataset hold in one record; all hold.
    #[serde(default)]
    pub filter: Option<BTreeMap<String, serde_json::Value>>,
    /// Fields as `dataset.field`.
    pub fields: Vec<String>,
    /// Purpose.
    pub purpose: String,
    /// Destination country (the principal's location when absent).
    #[serde(default)]
    pub destination: Option<String>,
    /// Transfer tool: `adequacy:<id>` or a tool id of the law table.
    #[serde(default)]
    pub legal_basis: Option<String>,
}

/// Counts of subjects grouped by fields of one dataset.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AggregateRequest {
    /// Fields to group by, as `dataset.field`, all of one dataset.
    pub group_by: Vec<String>,
    /// Purpose.
    pub purpose: String,
}

/// Reversal of a reversible token, in the home region only.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReidentifyRequest {
    /// The field the token was made from (`dataset.field`).
    pub field: String,
    /// The token.
    pub token: String,
    /// Why (a ticket reference; logged as a digest).
    pub justification: String,
}

/// A subject request (export or erasure), made on the subject's behalf.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubjectRequest {
    /// The app's user id.
    pub user_id: String,
}

/// A released record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Released {
    /// The subject: in-region, its pseudonym; across a border, a token
    /// unlinkable across purposes.
    pub subject: String,
    /// Dataset.
    pub dataset: String,
    /// Record id.
    pub record_id: String,
    /// Time.
    pub time: i64,
    /// Fields after the plan.
    pub fields: BTreeMap<String, String>,
}

/// A release, with the proof it was logged first.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Release {
    /// Index of the log entry recording the release.
    pub log_index: u64,
    /// The entry, as logged.
    pub entry: serde_json::Value,
    /// A C2SP tlog-proof of the entry's inclusion.
    pub receipt: String,
    /// The records.
    pub records: Vec<Released>,
    /// Values left out because their transform could not take them.
    pub withheld: usize,
}

/// A k-anonymous count table, with its receipt.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AggregateAnswer {
    /// Index of the log entry.
    pub log_index: u64,
    /// A C2SP tlog-proof of the entry's inclusion.
    pub receipt: String,
    /// Fields grouped by.
    pub group_by: Vec<String>,
    /// The smallest group reported.
    pub k: usize,
    /// Groups: values (after the plan) and subject count.
    pub groups: Vec<(Vec<String>, usize)>,
    /// Groups suppressed for being smaller than k.
    pub suppressed_groups: usize,
    /// Subjects in them.
    pub suppressed_subjects: usize,
}

/// A logged entry that touched a subject, for the subject's export.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AccessRecord {
    /// Its index.
    pub log_index: u64,
    /// The entry.
    pub entry: serde_json::Value,
    /// A C2SP tlog-proof of its inclusion in the latest checkpoint a
    /// witness cosigned (see [`Region::cosigned_receipt`]).
    pub receipt: String,
    /// Whether the receipt's checkpoint carries a witness cosignature.
    #[serde(default)]
    pub cosigned: bool,
    /// For an entry that names its subjects by `subjects_root`: the proof
    /// that this subject is in the set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject_proof: Option<SubjectProof>,
}

/// Proof that a subject is in the set an entry's `subjects_root` commits
/// to: an RFC 6962 inclusion proof of its leaf. In a salted entry (schema
/// version 2) the leaf is the leaf hash of `salt || subject`; in a version
/// 1 entry, of the pseudonym alone.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SubjectProof {
    /// The subject's pseudonym.
    pub subject: String,
    /// The subject's salt in this entry, hex (salted entries only): with
    /// the pseudonym, the opening of the commitment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub salt: Option<String>,
    /// Its position in the sorted set.
    pub index: u64,
    /// The size of the set.
    pub size: u64,
    /// The inclusion proof, base64 hashes.
    pub proof: Vec<String>,
}

impl SubjectProof {
    /// The leaf proven: the leaf hash of `salt || subject` for a salted
    /// entry, of the pseudonym alone for a version 1 entry.
    pub fn leaf(&self) -> Result<tlog::Hash, tlog::Error> {
        Ok(match &self.salt {
            Some(salt) => entry::Opening {
                subject: self.subject.clone(),
                salt: tlog::Hash::from_hex(salt)?.0,
            }
            .leaf(),
            None => tlog::leaf_hash(self.subject.as_bytes()),
        })
    }

    /// Checks the proof against the `subjects_root` of an entry.
    pub fn verify(&self, root: &tlog::Hash) -> Result<(), tlog::Error> {
        let proof = self
            .proof
            .iter()
            .map(|h| tlog::Hash::from_base64(h))
            .collect::<Result<Vec<_>, _>>()?;
        tlog::merkle::verify_inclusion(&self.leaf()?, self.index, self.size, &proof, root)
    }
}

/// A subject's export.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Export {
    /// The export's own log entry.
    pub log_index: u64,
    /// Its receipt, cosigned when a witness cosigned in time (see
    /// [`Region::cosigned_receipt`]).
    pub receipt: String,
    /// Whether that receipt's checkpoint carries a witness cosignature.
    #[serde(default)]
    pub receipt_cosigned: bool,
    /// Every record, decrypted.
    pub records: Vec<Released>,
    /// Every logged access to the subject's data, with receipts.
    pub accesses: Vec<AccessRecord>,
}

/// A re-identified value.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Reidentified {
    /// Index of the log entry.
    pub log_index: u64,
    /// Its receipt.
    pub receipt: String,
    /// The value.
    pub value: String,
}

/// An erasure's outcome.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Erased {
    /// Index of the log entry.
    pub log_index: u64,
    /// Its receipt.
    pub receipt: String,
    /// Whether the subject was known here.
    pub existed: bool,
}

/// How released records name their subject and themselves: in clear
/// in-region; across a border, as keyed tokens of the purpose, so that
/// recipients can join within a transfer but not across purposes.
struct Naming<'a> {
    subject: Box<dyn Fn(&str) -> String + Send + Sync + 'a>,
    record: Box<dyn Fn(&str) -> String + Send + Sync + 'a>,
}

impl<'a> Naming<'a> {
    fn clear() -> Self {
        Naming {
            subject: Box::new(str::to_owned),
            record: Box::new(str::to_owned),
        }
    }

    fn tokens(keys: &'a pseudo::Keys, purpose: &str) -> Self {
        let (subjects, records) = (format!("subject/{purpose}"), format!("record/{purpose}"));
        Naming {
            subject: Box::new(move |s| keys.token.token(&subjects, s)),
            record: Box::new(move |r| keys.token.token(&records, r)),
        }
    }
}

/// Sealed records read before a decision, while finding the subjects
/// homed here, kept so that releasing them needs no second read: by
/// subject, for the datasets they were read for.
struct ReadAhead {
    datasets: Vec<String>,
    sealed: BTreeMap<String, store::Sealed>,
}

/// Subtree hashes the node's log reader remembers for receipts (about
/// 64 bytes each).
const SUBTREES_REMEMBERED: usize = 65_536;

/// An allowed decision, durably logged.
struct Logged {
    seq: Sequenced,
    bytes: Vec<u8>,
    /// The openings of the subject set the entry commits to.
    openings: Vec<Opening>,
    /// For a release, the records the entry's payload digest commits to.
    sealed: Vec<store::Sealed>,
}

impl Logged {
    /// The proof the store opens records with.
    fn access(&self) -> Result<LoggedAccess, Error> {
        Ok(LoggedAccess::with_openings(
            &self.seq,
            &self.bytes,
            &self.openings,
        )?)
    }
}

/// The openings of a salted subject set: one per subject (pseudonyms),
/// plus `fillers` that stand for subjects asked for but not known here, so
/// that an entry has the same shape whoever exists. Salts are fresh.
fn openings(
    subjects: impl IntoIterator<Item = String>,
    fillers: usize,
) -> Result<Vec<Opening>, Error> {
    let salt = || {
        let mut salt = [0u8; 32];
        getrandom::fill(&mut salt).map_err(|e| Error::Internal(format!("no randomness: {e}")))?;
        Ok::<_, Error>(salt)
    };
    let mut out = Vec::new();
    for subject in subjects {
        out.push(Opening {
            subject,
            salt: salt()?,
        });
    }
    for _ in 0..fillers {
        out.push(Opening {
            subject: String::new(),
            salt: salt()?,
        });
    }
    Ok(out)
}

/// One reading of the clock for a request: the decision's date and the
/// entry's time both come from it, so a replay decides on the same day.
struct Now {
    time: String,
    date: time::Date,
}

impl Now {
    fn read() -> Self {
        let now = time::OffsetDateTime::now_utc();
        let now = now.replace_nanosecond(0).unwrap_or(now);
        Now {
            time: now
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default(),
            date: now.date(),
        }
    }
}

/// A peer region, as this node reaches it.
#[derive(Clone, Debug)]
struct Peer {
    url: String,
}

/// A running region.
pub struct Region<B> {
    id: String,
    bundle: Arc<Bundle>,
    store: Store<B>,
    seq: Sequencer,
    reader: LogReader<CachedTiles<FsStorage>>,
    /// The sequencer's (journaled) storage, to settle when stopping.
    log_writes: FsStorage,
    egress: pseudo::Keys,
    /// Keys the digest of re-identification justifications in entries.
    justification_key: [u8; 32],
    credentials: Credentials,
    node_token: String,
    peers: BTreeMap<String, Peer>,
    http: reqwest::Client,
    metrics: Metrics,
    /// What the witnesses cosigned: see [`Cosigned`].
    cosigned: tokio::sync::watch::Sender<Cosigned>,
}

/// The witnesses' view of the log, as the node keeps it for serving and
/// for receipts.
#[derive(Clone, Debug, Default)]
struct Cosigned {
    /// Size of the newest checkpoint the push to the witnesses has finished
    /// with, cosigned or not (`u64::MAX` when no witness is configured).
    tried: u64,
    /// The newest checkpoint a witness cosigned, its cosignatures attached.
    latest: Option<tlog::SignedCheckpoint>,
}

/// How long a receipt waits for the witnesses to cosign a checkpoint that
/// covers its entry (a push takes one round trip per witness).
const COSIGN_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

impl<B> std::fmt::Debug for Region<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Region({})", self.id)
    }
}

/// The keys of what leaves the region, derived from the region secret
/// under a label of their own (apart from the subject pseudonyms).
fn egress_keys(secret: &[u8; 32]) -> pseudo::Keys {
    pseudo::Keys::derive(1, &pseudo::token::hmac_sha256(secret, b"residency/egress"))
}

/// The key of justification digests, derived from the region secret under
/// a label of its own: the region can show a justification matches its
/// digest; without the key, the public cannot guess short texts.
fn justification_key(secret: &[u8; 32]) -> [u8; 32] {
    pseudo::token::hmac_sha256(secret, b"residency/justification")
}

/// Opens (with `init`, creating if missing) the log in `dir`; returns the
/// signer.
pub async fn open_log_key(dir: &Path, region: &str, init: bool) -> Result<Signer, Error> {
    let key_path = dir.join(LOG_KEY_FILE);
    let io = |e: std::io::Error| Error::Internal(format!("{}: {e}", key_path.display()));
    if !key_path.exists() {
        if !init {
            return Err(Error::Internal(format!(
                "no log key at {}: run `residency log init` or start with --init",
                key_path.display()
            )));
        }
        std::fs::create_dir_all(dir).map_err(io)?;
        let signer = Signer::generate(
            &format!("residency.example/{region}"),
            tlog::note::TYPE_ED25519,
        )?;
        write_private(&key_path, &format!("{}\n", signer.to_skey())).map_err(io)?;
        std::fs::write(
            dir.join(LOG_VKEY_FILE),
            format!("{}\n", signer.verifier().to_vkey()),
        )
        .map_err(io)?;
        let storage = FsStorage::open(dir)?;
        tlog::sequencer::create(&storage, &signer).await?;
        return Ok(signer);
    }
    let text = std::fs::read_to_string(&key_path).map_err(io)?;
    Ok(Signer::parse(text.trim())?)
}

fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(text.as_bytes())?;
    f.sync_all()
}

impl<B: Backend> Region<B> {
    /// Starts region `id` of `cluster` over `backend`: loads and checks the
    /// bundle, opens keys and log, resolves credentials, and logs the
    /// policy bundle in force.
    pub async fn start(
        cluster: &ClusterConfig,
        id: &str,
        bundle: Bundle,
        backend: B,
        keys: Arc<dyn store::keys::KeyProvider>,
        init: bool,
    ) -> Result<Self, Error> {
        cluster.check_against(&bundle)?;
        if bundle.catalog.purposes.is_empty() {
            tracing::warn!(
                "the policy bundle declares no purposes: every read, transfer and aggregate will be refused"
            );
        }
        let me = cluster.regions.get(id).ok_or_else(|| Error::Config {
            file: cluster.file.display().to_string(),
            field: "regions".into(),
            why: format!("no region {id:?}"),
        })?;
        let bundle = Arc::new(bundle);
        let store = Store::new(backend, Arc::new(bundle.catalog.clone()), keys.clone());
        let egress = egress_keys(&keys.pseudonym_secret());
        let justification_key = justification_key(&keys.pseudonym_secret());

        let signer = open_log_key(&me.log, id, init).await?;
        let tiles = CachedTiles::new(FsStorage::open(&me.log)?);
        // Journaled: a batch is durable after one flush, not one per tile
        // file and directory.
        let log_writes = FsStorage::open(&me.log)?.journaled(tlog::JOURNAL_SEGMENT_BYTES);
        let (seq, _task) = tlog::sequencer::open(
            tiles.warmed_by(log_writes.clone()),
            signer,
            tlog::SequencerConfig {
                // No window: a batch is whatever queued while the last
                // commit ran (group commit), so an idle log adds no wait.
                batch_interval: std::time::Duration::ZERO,
                ..Default::default()
            },
        )
        .await?;
        let reader = LogReader::new(tiles).remembering_subtrees(SUBTREES_REMEMBERED);

        let mut credentials = Credentials::default();
        for (pid, p) in &bundle.principals.principals {
            match resolve_secret(&p.credential) {
                Ok(token) => credentials.add(Caller::Principal(pid.clone()), &token),
                Err(why) => tracing::warn!(principal = %pid, "principal cannot sign in: {why}"),
            }
        }
        let mut node_token = String::new();
        let mut peers = BTreeMap::new();
        for (rid, r) in &cluster.regions {
            let token = resolve_secret(&r.token).map_err(|why| Error::Config {
                file: cluster.file.display().to_string(),
                field: format!("regions.{rid}.token"),
                why,
            })?;
            if rid == id {
                node_token = token;
            } else {
                credentials.add(Caller::Region(rid.clone()), &token);
                peers.insert(rid.clone(), Peer { url: r.url.clone() });
            }
        }
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(30))
            .build()
            .map_err(|e| Error::Internal(format!("HTTP client: {e}")))?;

        let region = Region {
            id: id.to_owned(),
            bundle,
            store,
            seq,
            reader,
            log_writes,
            egress,
            justification_key,
            credentials,
            node_token,
            peers,
            http,
            metrics: Metrics::default(),
            cosigned: tokio::sync::watch::Sender::new(Cosigned {
                tried: if cluster.witnesses.is_empty() {
                    u64::MAX
                } else {
                    0
                },
                latest: None,
            }),
        };
        region.log_bundle().await?;
        Ok(region)
    }

    /// Makes the log's files durable in place and empties its journal, so
    /// that a stopped region's log directory holds the log alone (an edit
    /// made while it is stopped is then caught at the next start, not
    /// repaired by a replay). Call once requests have stopped.
    pub async fn settle_log(&self) -> Result<(), Error> {
        Ok(self.log_writes.settle().await?)
    }

    /// The region's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The policy bundle in force.
    pub fn bundle(&self) -> &Bundle {
        &self.bundle
    }

    /// The metrics.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The credentials this node accepts.
    pub fn credentials(&self) -> &Credentials {
        &self.credentials
    }

    /// The store (for maintenance: sweeps).
    pub fn store(&self) -> &Store<B> {
        &self.store
    }

    /// The log reader (for the log endpoints).
    pub fn log(&self) -> &LogReader<CachedTiles<FsStorage>> {
        &self.reader
    }

    /// The latest checkpoint as served: with the witnesses' cosignatures
    /// when they have cosigned it.
    pub fn cosigned_checkpoint(&self) -> tlog::SignedCheckpoint {
        let cp = self.seq.checkpoint();
        match &self.cosigned.borrow().latest {
            Some(c) if c.checkpoint == cp.checkpoint => c.clone(),
            _ => (*cp).clone(),
        }
    }

    /// A receipt for entry `index` proven against the newest checkpoint a
    /// witness cosigned, and whether it is cosigned. An entry newer than
    /// that checkpoint waits (up to [`COSIGN_WAIT`]) for the push of a
    /// checkpoint covering it; if no witness cosigns one in time (or none
    /// is configured), the receipt is proven against the log's own
    /// checkpoint and carries the log's signature only.
    pub async fn cosigned_receipt(&self, index: u64) -> Result<(String, bool), Error> {
        let mut rx = self.cosigned.subscribe();
        let _ = tokio::time::timeout(COSIGN_WAIT, rx.wait_for(|c| c.tried > index)).await;
        let latest = rx.borrow().latest.clone();
        Ok(match latest {
            Some(cp) if cp.checkpoint.size > index => {
                (self.reader.receipt(index, &cp).await?.to_text(), true)
            }
            _ => (
                self.reader
                    .receipt(index, &self.seq.checkpoint())
                    .await?
                    .to_text(),
                false,
            ),
        })
    }

    /// Pushes every new checkpoint to the witnesses and keeps their
    /// cosignatures; runs until the log stops. A witness that fails is
    /// retried with the next checkpoint.
    pub async fn push_to_witnesses(&self, witnesses: &[crate::config::WitnessConfig]) {
        if witnesses.is_empty() {
            return;
        }
        let clients: Vec<_> = witnesses
            .iter()
            .filter_map(|w| match tlog::witness::WitnessClient::new(&w.url) {
                Ok(c) => Some((c, w)),
                Err(e) => {
                    tracing::warn!(witness = %w.url, "witness client: {e}");
                    None
                }
            })
            .collect();
        let mut held = vec![0u64; clients.len()];
        let mut updates = self.seq.subscribe();
        loop {
            let cp = updates.borrow_and_update().clone();
            let mut sigs = Vec::new();
            for ((client, w), held) in clients.iter().zip(held.iter_mut()) {
                match client.submit(&self.reader, &cp, *held, &w.key).await {
                    Ok(s) if !s.is_empty() => {
                        *held = cp.checkpoint.size;
                        sigs.extend(s);
                    }
                    Ok(_) => {
                        tracing::warn!(witness = %w.url, "answered without a valid cosignature")
                    }
                    Err(tlog::Error::WitnessConflict { latest }) => *held = latest,
                    Err(e) => {
                        tracing::warn!(witness = %w.url, size = cp.checkpoint.size, "witness refused: {e}")
                    }
                }
            }
            // A round without cosignatures keeps the older cosigned
            // checkpoint: it still proves the entries it covers.
            self.cosigned.send_modify(|c| {
                c.tried = cp.checkpoint.size;
                if !sigs.is_empty() {
                    let mut signed = (*cp).clone();
                    tlog::witness::attach(&mut signed.note, sigs);
                    c.latest = Some(signed);
                }
            });
            if updates.changed().await.is_err() {
                return;
            }
        }
    }

    async fn log_bundle(&self) -> Result<(), Error> {
        let mut e = Entry::new(
            Kind::PolicyBundle,
            &self.id,
            self.bundle.hash(),
            Now::read().time,
        );
        e.bundle_content = Some(
            serde_json::from_str(self.bundle.canonical())
                .map_err(|e| Error::Internal(format!("bundle is not JSON: {e}")))?,
        );
        let (s, _) = self.append(&e).await?;
        tracing::info!(region = %self.id, index = s.index(), bundle = %self.bundle.hash(), "policy bundle logged");
        Ok(())
    }

    /// Appends an entry and waits until it is durably sequenced. A failure
    /// is counted and traced (kind, action and the log's error: sizes and
    /// paths, nothing of the entry), and answered as [`Error::NotLogged`].
    async fn append(&self, e: &Entry) -> Result<(Sequenced, Vec<u8>), Error> {
        let bytes = e.to_canonical();
        let start = Instant::now();
        let s = self.seq.add(bytes.clone()).await.map_err(|err| {
            self.metrics.log_append_failures.inc();
            tracing::error!(
                region = %self.id,
                kind = ?e.kind,
                action = e.action.as_deref().unwrap_or(""),
                "a decided entry could not be logged; nothing released: {err}"
            );
            Error::NotLogged
        })?;
        self.metrics
            .sequencing
            .observe(start.elapsed().as_secs_f64());
        self.metrics
            .log_size
            .set(i64::try_from(s.checkpoint().checkpoint.size).unwrap_or(i64::MAX));
        Ok((s, bytes))
    }

    async fn receipt(&self, s: &Sequenced) -> Result<String, Error> {
        Ok(self
            .reader
            .receipt(s.index(), s.checkpoint())
            .await?
            .to_text())
    }

    fn principal(&self, id: &str) -> Result<PrincipalRef, Error> {
        let p = self
            .bundle
            .principals
            .principals
            .get(id)
            .ok_or_else(|| Error::Unauthenticated(format!("unknown principal {id}")))?;
        Ok(PrincipalRef {
            id: id.to_owned(),
            location: p.location.clone(),
        })
    }

    fn decide(&self, req: &DecisionRequest, date: time::Date) -> Result<Decision, Error> {
        let d = policy::decide(&self.bundle, req, date).map_err(|e| match e {
            policy::Error::UnknownFields(_) | policy::Error::InvalidRequest(_) => {
                Error::BadRequest(e.to_string())
            }
            other => Error::Policy(other),
        })?;
        Ok(d)
    }

    /// The entry for a decided request, before subjects are named.
    fn access_entry(
        &self,
        principal: &PrincipalRef,
        req: &DecisionRequest,
        d: &Decision,
        now: &Now,
    ) -> Entry {
        let e = Entry::decided(&self.bundle, now.time.clone(), principal.clone(), req, d);
        self.metrics
            .decisions
            .get_or_create(&DecisionLabels {
                action: e.action.clone().unwrap_or_default(),
                outcome: e.decision.clone().unwrap_or_default(),
            })
            .inc();
        e
    }

    /// Logs a decided request committing to the subjects of `openings`,
    /// and notes the entry in the access index. A denial comes back as the
    /// error that carries it. An allowed request that will `release`
    /// records first reads them sealed and puts their digest in the entry,
    /// so the entry commits to exactly what is opened after it.
    async fn log_decision(
        &self,
        mut e: Entry,
        allow: bool,
        mut openings: Vec<Opening>,
        release: bool,
        mut ahead: Option<ReadAhead>,
    ) -> Result<Logged, Error> {
        if !allow {
            return Err(self.deny(e, &openings).await);
        }
        let set = SubjectSet::of(&openings);
        e.commit_to(&set);
        // Release order: by pseudonym.
        openings.sort_by(|a, b| a.subject.cmp(&b.subject));
        let mut sealed = Vec::new();
        if release {
            let mut leaves = Vec::new();
            for s in openings.iter().filter(|o| !o.subject.is_empty()) {
                leaves.push(s.leaf());
                let read = ahead
                    .as_mut()
                    .filter(|a| a.datasets == e.datasets)
                    .and_then(|a| a.sealed.remove(&s.subject));
                sealed.push(match read {
                    Some(read) => read,
                    None => self.store.sealed(&s.subject, &e.datasets).await?,
                });
            }
            e.payload_digest = Some(payload_digest(&set.root(), &leaves, &sealed));
        }
        let (seq, bytes) = self.append(&e).await?;
        self.store.note_access(seq.index(), &openings).await?;
        Ok(Logged {
            seq,
            bytes,
            openings,
            sealed,
        })
    }

    /// Logs a denial, notes it for the subjects it names (their export
    /// lists it), and returns the error that carries it.
    async fn deny(&self, mut e: Entry, openings: &[Opening]) -> Error {
        e.commit_to(&SubjectSet::of(openings));
        let reasons = e.reasons.clone();
        let logged = match self.append(&e).await {
            Ok((s, _)) => s,
            Err(err) => return err,
        };
        tracing::info!(region = %self.id, index = logged.index(), "denial logged");
        if let Err(err) = self.store.note_access(logged.index(), openings).await {
            return err.into();
        }
        Error::Denied {
            reasons,
            log_index: Some(logged.index()),
        }
    }

    /// Logs an allowed decision about a user not homed here — every
    /// decision is logged — committing to a filler, as for anyone unknown;
    /// nothing is released. Returns the 404 to answer.
    async fn allowed_but_absent(&self, e: Entry, why: String) -> Error {
        let filler = match openings(Vec::new(), 1) {
            Ok(o) => o,
            Err(err) => return err,
        };
        match self.log_decision(e, true, filler, false, None).await {
            Ok(_) => Error::NotFound(why),
            Err(err) => err,
        }
    }

    /// The pseudonym of a user homed here, or `None` for anyone else: for
    /// naming the subject of a denial, which must look the same either way.
    async fn homed_subject(&self, user_id: &str) -> Result<Option<String>, Error> {
        match self.local_subject(user_id).await {
            Ok(s) => Ok(Some(s)),
            Err(Error::NotFound(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Openings for the users asked for: the subjects homed here and a
    /// filler for each of the others.
    async fn asked_openings(&self, user_ids: &[String]) -> Result<Vec<Opening>, Error> {
        let mut known = BTreeSet::new();
        let mut unknown = 0;
        for id in user_ids {
            match self.homed_subject(id).await? {
                Some(s) => {
                    known.insert(s);
                }
                None => unknown += 1,
            }
        }
        openings(known, unknown)
    }

    /// The region homing residents of `country`.
    pub fn home_of(&self, country: &str) -> Option<&str> {
        self.bundle
            .regions
            .regions
            .iter()
            .find(|(_, r)| r.homes.iter().any(|c| c == country))
            .map(|(id, _)| id.as_str())
    }

    /// Stores events homed here and forwards the others to their home
    /// regions; returns once every part is durably stored in its home or
    /// known not to be. Every part is checked against the catalog before
    /// any is stored or forwarded, so a batch with a bad event is refused
    /// whole; a part its home then refuses or cannot take is named in the
    /// outcome's `not_stored`, beside the parts that were stored. A
    /// forwarding peer may only send events homed here.
    pub async fn ingest(
        &self,
        caller: &Caller,
        events: Vec<IncomingEvent>,
    ) -> Result<IngestOutcome, Error> {
        if events.is_empty() {
            return Err(Error::BadRequest("no events".into()));
        }
        let mut homes = Vec::with_capacity(events.len());
        for (i, e) in events.iter().enumerate() {
            let home = self.home_of(&e.country).ok_or_else(|| {
                Error::BadRequest(format!("event {i}: country is homed by no region"))
            })?;
            homes.push(home.to_owned());
        }
        // The whole batch is checked against the catalog (which every
        // region shares) before anything is decided, stored or forwarded:
        // a bad event anywhere refuses the batch whole, naming its index.
        let mut countries = Vec::with_capacity(events.len());
        let events: Vec<Event> = events
            .into_iter()
            .map(|e| {
                countries.push(e.country);
                Event {
                    user_id: e.user_id,
                    dataset: e.dataset,
                    record_id: e.record_id,
                    time: e.time,
                    fields: e.fields,
                }
            })
            .collect();
        self.store.check(&events).map_err(rejected)?;
        match caller {
            Caller::Region(from) => {
                if let Some(other) = homes.iter().find(|h| **h != self.id) {
                    return Err(Error::BadRequest(format!(
                        "region {from} forwarded events homed in {other}, not here"
                    )));
                }
            }
            Caller::Principal(p) => {
                let fields: BTreeSet<String> = events
                    .iter()
                    .flat_map(|e| e.fields.keys().map(move |f| format!("{}.{f}", e.dataset)))
                    .collect();
                let d = self.decide(
                    &DecisionRequest {
                        principal: p.clone(),
                        action: Action::Ingest,
                        region: self.id.clone(),
                        fields: fields.into_iter().collect(),
                        purpose: String::new(),
                        destination: None,
                        legal_basis: None,
                        subject_count: 1,
                    },
                    Now::read().date,
                )?;
                self.metrics
                    .decisions
                    .get_or_create(&DecisionLabels {
                        action: "ingest".into(),
                        outcome: if d.allow { "allow" } else { "deny" }.into(),
                    })
                    .inc();
                if !d.allow {
                    return Err(Error::Denied {
                        reasons: d.reasons,
                        log_index: None,
                    });
                }
            }
        }
        let mut local = Vec::new();
        let mut remote: BTreeMap<String, Vec<IncomingEvent>> = BTreeMap::new();
        for ((e, home), country) in events.into_iter().zip(homes).zip(countries) {
            if home == self.id {
                local.push(e);
            } else {
                remote.entry(home).or_default().push(IncomingEvent {
                    user_id: e.user_id,
                    country,
                    dataset: e.dataset,
                    record_id: e.record_id,
                    time: e.time,
                    fields: e.fields,
                });
            }
        }
        let mut outcome = IngestOutcome::default();
        // The local part first: if it cannot be stored, nothing is
        // forwarded.
        if !local.is_empty() {
            self.store
                .ingest(&self.id, &local)
                .await
                .map_err(rejected)?;
            outcome.regions.insert(self.id.clone(), local.len());
            outcome.accepted += local.len();
        }
        // One peer after another: a cluster has a handful of regions, and a
        // peer that is down must not keep the others from their events.
        for (home, events) in remote {
            let n = events.len();
            match self.forward(&home, &events).await {
                Ok(()) => {
                    outcome.regions.insert(home, n);
                    outcome.accepted += n;
                }
                Err(e) => {
                    let refused = matches!(e, Error::BadRequest(_));
                    let outcome_of = if refused { "refused" } else { "unavailable" };
                    outcome.not_stored.insert(
                        home,
                        NotStored {
                            events: n,
                            outcome: outcome_of.into(),
                            detail: e.to_string(),
                        },
                    );
                }
            }
        }
        Ok(outcome)
    }

    async fn forward(&self, home: &str, events: &[IncomingEvent]) -> Result<(), Error> {
        let peer = self.peers.get(home).ok_or_else(|| Error::PeerUnavailable {
            region: home.to_owned(),
            why: "not in the cluster".into(),
        })?;
        let unavailable = |why: String| Error::PeerUnavailable {
            region: home.to_owned(),
            why,
        };
        let body = serde_json::to_vec(&serde_json::json!({ "events": events }))
            .map_err(|e| Error::Internal(format!("encoding a forward: {e}")))?;
        let resp = self
            .http
            .post(format!("{}/v1/ingest", peer.url))
            .bearer_auth(&self.node_token)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .map_err(|e| unavailable(without_url(&e)))?;
        let status = resp.status();
        if status.as_u16() == 202 {
            return Ok(());
        }
        let detail = resp.text().await.unwrap_or_default();
        let detail: String = serde_json::from_str::<serde_json::Value>(&detail)
            .ok()
            .and_then(|v| v.get("detail").and_then(|d| d.as_str()).map(str::to_owned))
            .unwrap_or_default();
        // Only a refusal of the events themselves is the caller's to fix;
        // a rate limit, or a peer that does not accept this node's
        // credential, is the cluster's state.
        if status == 400 || status == 413 {
            Err(Error::BadRequest(format!(
                "region {home} refused the events: {detail}"
            )))
        } else {
            Err(unavailable(format!("answered {status}: {detail}")))
        }
    }

    /// Reads a user's records of `datasets`, sealed; the user must be
    /// homed here. One look-up finds the subject, its home and its rows.
    async fn local_sealed(
        &self,
        user_id: &str,
        datasets: &[String],
    ) -> Result<store::Sealed, Error> {
        let subject = self.store.subject_ref(user_id);
        match self.store.sealed(&subject, datasets).await {
            Ok(sealed) if sealed.home() == self.id => Ok(sealed),
            Ok(_) | Err(store::Error::UnknownSubject) => Err(Error::NotFound(format!(
                "no such subject in region {}",
                self.id
            ))),
            Err(e) => Err(e.into()),
        }
    }

    /// Looks up a user's pseudonym, which must be homed here.
    async fn local_subject(&self, user_id: &str) -> Result<String, Error> {
        Ok(self.local_sealed(user_id, &[]).await?.subject().to_owned())
    }

    fn plan_apply(
        &self,
        plan: &BTreeMap<String, Transform>,
        subject: &str,
        record: store::Record,
        out: &Naming<'_>,
        withheld: &mut usize,
    ) -> Released {
        let mut fields = BTreeMap::new();
        for (name, value) in record.fields {
            let key = format!("{}.{name}", record.dataset);
            let Some(t) = plan.get(&key) else { continue };
            let cx = pseudo::transform::Context {
                subject: Some(subject),
                label: None,
            };
            match t.apply(&self.egress, &value, cx) {
                Ok(Some(v)) => {
                    fields.insert(name, v);
                }
                Ok(None) => {}
                Err(_) => *withheld += 1,
            }
        }
        Released {
            subject: (out.subject)(subject),
            record_id: (out.record)(&record.record_id),
            dataset: record.dataset,
            time: record.time,
            fields,
        }
    }

    /// Decrypts and transforms the records of `subjects` under `access`.
    async fn release(
        &self,
        access: &LoggedAccess,
        sealed: Vec<store::Sealed>,
        plan: &BTreeMap<String, Transform>,
        name: &Naming<'_>,
    ) -> Result<(Vec<Released>, usize), Error> {
        let mut out = Vec::new();
        let mut withheld = 0;
        for s in sealed {
            let subject = s.subject().to_owned();
            for r in self.store.open(access, s).await? {
                out.push(self.plan_apply(plan, &subject, r, name, &mut withheld));
            }
        }
        Ok((out, withheld))
    }

    /// A read of one subject by `principal`. Decided before the subject is
    /// looked up: a denial names a known and an unknown user alike.
    pub async fn read(&self, principal: &str, req: ReadRequest) -> Result<Release, Error> {
        let who = self.principal(principal)?;
        let now = Now::read();
        let dreq = DecisionRequest {
            principal: principal.to_owned(),
            action: Action::Read,
            region: self.id.clone(),
            fields: req.fields.clone(),
            purpose: req.purpose.clone(),
            destination: None,
            legal_basis: req.legal_basis.clone(),
            subject_count: 1,
        };
        let d = self.decide(&dreq, now.date)?;
        let e = self.access_entry(&who, &dreq, &d, &now);
        if !d.allow {
            let asked = self
                .asked_openings(std::slice::from_ref(&req.user_id))
                .await?;
            return Err(self.deny(e, &asked).await);
        }
        let datasets = datasets_of(&req.fields);
        let sealed = match self.local_sealed(&req.user_id, &datasets).await {
            Ok(sealed) => sealed,
            Err(Error::NotFound(why)) => return Err(self.allowed_but_absent(e, why).await),
            Err(e) => return Err(e),
        };
        let subject = sealed.subject().to_owned();
        let ahead = ReadAhead {
            datasets,
            sealed: BTreeMap::from([(subject.clone(), sealed)]),
        };
        self.logged_release(e, &dreq, d, openings([subject], 0)?, Some(ahead))
            .await
    }

    /// The subjects every condition of a transfer's filter selects. Only
    /// public fields can be named: they are stored in clear, so selecting
    /// opens nothing before the transfer is logged.
    async fn subjects_matching(
        &self,
        filter: &BTreeMap<String, serde_json::Value>,
    ) -> Result<BTreeSet<String>, Error> {
        if filter.is_empty() {
            return Err(Error::BadRequest(
                "filter: name at least one dataset.field".into(),
            ));
        }
        let mut by_dataset: BTreeMap<&str, Vec<(String, serde_json::Value)>> = BTreeMap::new();
        for (name, value) in filter {
            // A name is repeated in a message only once the catalog knows it.
            let (ds, field) = name.split_once('.').ok_or_else(|| {
                Error::BadRequest("filter: a condition's name is not dataset.field".into())
            })?;
            if self.bundle.catalog.field(ds, field).is_none() {
                return Err(Error::BadRequest(
                    "filter: a condition names a field that is not in the catalog".into(),
                ));
            }
            if !(value.is_string() || value.is_number() || value.is_boolean()) {
                return Err(Error::BadRequest(format!(
                    "filter: the value for {name} must be a string, number or boolean"
                )));
            }
            by_dataset
                .entry(ds)
                .or_default()
                .push((field.to_owned(), value.clone()));
        }
        let mut matching: Option<BTreeSet<String>> = None;
        for (ds, equal) in by_dataset {
            let found: BTreeSet<String> = self
                .store
                .subjects_where(ds, &equal)
                .await
                .map_err(|e| match e {
                    store::Error::Rejected(why) => Error::BadRequest(format!("filter: {why}")),
                    e => e.into(),
                })?
                .into_iter()
                .collect();
            matching = Some(match matching {
                None => found,
                Some(m) => m.intersection(&found).cloned().collect(),
            });
        }
        Ok(matching.unwrap_or_default())
    }

    /// A transfer of several subjects' data. Users asked for by id are
    /// counted and decided on as asked, before any is looked up: a denial
    /// names them all (unknown ones as fillers), and an allowed transfer
    /// releases those homed here that the filter selects.
    pub async fn transfer(&self, principal: &str, req: TransferRequest) -> Result<Release, Error> {
        let who = self.principal(principal)?;
        let now = Now::read();
        let datasets = datasets_of(&req.fields);
        let asked: Option<Vec<String>> = req.user_ids.as_ref().map(|ids| {
            let set: BTreeSet<&String> = ids.iter().collect();
            set.into_iter().cloned().collect()
        });
        // The filter selects from what the region holds (public fields
        // only), checked before anything is decided; no caller-named person
        // is looked up until the decision allows it.
        let matching = match &req.filter {
            Some(filter) => Some(self.subjects_matching(filter).await?),
            None => None,
        };
        let selected: Option<Vec<String>> = match &asked {
            Some(_) => None,
            None => {
                let mut all = BTreeSet::new();
                for ds in &datasets {
                    all.extend(self.store.subjects_with(ds).await?);
                }
                Some(
                    all.into_iter()
                        .filter(|s| matching.as_ref().is_none_or(|m| m.contains(s)))
                        .collect(),
                )
            }
        };
        let count = match (&asked, &selected) {
            (Some(ids), _) => ids.len(),
            (None, Some(s)) => s.len(),
            (None, None) => 0,
        };
        let dreq = DecisionRequest {
            principal: principal.to_owned(),
            action: Action::Transfer,
            region: self.id.clone(),
            fields: req.fields.clone(),
            purpose: req.purpose.clone(),
            destination: req.destination.clone(),
            legal_basis: req.legal_basis.clone(),
            subject_count: count.max(1),
        };
        let d = self.decide(&dreq, now.date)?;
        let e = self.access_entry(&who, &dreq, &d, &now);
        let Some(ids) = asked else {
            let subjects = selected.unwrap_or_default();
            return self
                .logged_release(e, &dreq, d, openings(subjects, 0)?, None)
                .await;
        };
        if !d.allow {
            let asked = self.asked_openings(&ids).await?;
            return Err(self.deny(e, &asked).await);
        }
        // Allowed: now find who is homed here (and selected by the filter);
        // the others stay in the set as fillers.
        let mut found = BTreeMap::new();
        for id in &ids {
            let subject = self.store.subject_ref(id);
            if matching.as_ref().is_some_and(|m| !m.contains(&subject)) {
                continue;
            }
            match self.local_sealed(id, &datasets).await {
                Ok(sealed) => {
                    found.insert(sealed.subject().to_owned(), sealed);
                }
                // Users not homed here are not part of the transfer.
                Err(Error::NotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
        let fillers = ids.len() - found.len();
        let set = openings(found.keys().cloned(), fillers)?;
        let ahead = ReadAhead {
            datasets,
            sealed: found,
        };
        self.logged_release(e, &dreq, d, set, Some(ahead)).await
    }

    async fn logged_release(
        &self,
        e: Entry,
        dreq: &DecisionRequest,
        d: Decision,
        openings: Vec<Opening>,
        ahead: Option<ReadAhead>,
    ) -> Result<Release, Error> {
        let logged = self.log_decision(e, d.allow, openings, true, ahead).await?;
        let access = logged.access()?;
        let Logged {
            seq: s,
            bytes,
            sealed,
            ..
        } = logged;
        let purpose = dreq.purpose.clone();
        let transfer = d.transfer;
        let naming = if transfer {
            Naming::tokens(&self.egress, &purpose)
        } else {
            Naming::clear()
        };
        let (records, withheld) = self.release(&access, sealed, &d.plan, &naming).await?;
        if transfer {
            self.metrics
                .transfers
                .get_or_create(&TransferLabels {
                    destination: d.destination.clone(),
                })
                .inc();
        }
        let receipt = self.receipt(&s).await?;
        Ok(Release {
            log_index: s.index(),
            entry: serde_json::from_slice(&bytes).unwrap_or_default(),
            receipt,
            records,
            withheld,
        })
    }

    /// Counts of subjects grouped by fields of one dataset, k-anonymous.
    pub async fn aggregate(
        &self,
        principal: &str,
        req: AggregateRequest,
    ) -> Result<AggregateAnswer, Error> {
        let who = self.principal(principal)?;
        let datasets = datasets_of(&req.group_by);
        let [dataset] = datasets.as_slice() else {
            return Err(Error::BadRequest(
                "group_by needs fields of exactly one dataset".into(),
            ));
        };
        let now = Now::read();
        let subjects = self.store.subjects_with(dataset).await?;
        let dreq = DecisionRequest {
            principal: principal.to_owned(),
            action: Action::Aggregate,
            region: self.id.clone(),
            fields: req.group_by.clone(),
            purpose: req.purpose.clone(),
            destination: None,
            legal_basis: None,
            subject_count: subjects.len().max(1),
        };
        let d = self.decide(&dreq, now.date)?;
        let e = self.access_entry(&who, &dreq, &d, &now);
        // Every member's latest record is opened: the entry names them all
        // (allowed or denied), so each one's export lists it.
        let logged = self
            .log_decision(e, d.allow, openings(subjects, 0)?, true, None)
            .await?;
        let access = logged.access()?;
        let s = logged.seq;
        let mut rows = Vec::with_capacity(logged.openings.len());
        for sealed in logged.sealed {
            let subject = sealed.subject().to_owned();
            // A subject counts once, with its latest record.
            let Some(latest) = self.store.open(&access, sealed).await?.pop() else {
                continue;
            };
            let subject = subject.as_str();
            let mut withheld = 0;
            let r = self.plan_apply(&d.plan, subject, latest, &Naming::clear(), &mut withheld);
            let key: Vec<String> = req
                .group_by
                .iter()
                .map(|f| {
                    let name = f.split_once('.').map_or(f.as_str(), |(_, n)| n);
                    r.fields
                        .get(name)
                        .cloned()
                        .unwrap_or_else(|| "(none)".into())
                })
                .collect();
            rows.push(key);
        }
        let k = d.k.unwrap_or(pseudo::kanon::MIN_K);
        let table = pseudo::kanon::count_groups(rows, k)
            .map_err(|e| Error::Internal(format!("aggregate: {e}")))?;
        Ok(AggregateAnswer {
            log_index: s.index(),
            receipt: self.receipt(&s).await?,
            group_by: req.group_by,
            k: table.k,
            groups: table.groups,
            suppressed_groups: table.suppressed_groups,
            suppressed_subjects: table.suppressed_rows,
        })
    }

    /// Reverses a reversible token, with a justification, in-region only.
    pub async fn reidentify(
        &self,
        principal: &str,
        req: ReidentifyRequest,
    ) -> Result<Reidentified, Error> {
        let who = self.principal(principal)?;
        if req.justification.trim().is_empty() {
            return Err(Error::BadRequest(
                "a re-identification needs a justification".into(),
            ));
        }
        let (ds, name) = req
            .field
            .split_once('.')
            .ok_or_else(|| Error::BadRequest(format!("{} is not dataset.field", req.field)))?;
        let field = self
            .bundle
            .catalog
            .field(ds, name)
            .ok_or_else(|| Error::BadRequest(format!("{} is not in the catalog", req.field)))?;
        let domain = [
            &field.egress.same,
            &field.egress.adequate,
            &field.egress.other,
        ]
        .into_iter()
        .find_map(|t| match t {
            Transform::Reversible { domain } => Some(domain.clone()),
            _ => None,
        })
        .ok_or_else(|| {
            Error::BadRequest(format!("{} never leaves as a reversible token", req.field))
        })?;
        let dreq = DecisionRequest {
            principal: principal.to_owned(),
            action: Action::Reidentify,
            region: self.id.clone(),
            fields: vec![req.field.clone()],
            purpose: policy::purpose::REIDENTIFICATION.into(),
            destination: None,
            legal_basis: None,
            subject_count: 1,
        };
        let now = Now::read();
        let d = self.decide(&dreq, now.date)?;
        let mut e = self.access_entry(&who, &dreq, &d, &now);
        e.justification_digest = Some(justification_digest(
            &self.justification_key,
            &req.justification,
        ));
        let s = self
            .log_decision(e, d.allow, Vec::new(), false, None)
            .await?
            .seq;
        let value = self.egress.siv.open(&domain, &req.token).map_err(|_| {
            Error::BadRequest("the token does not open with this region's key".into())
        })?;
        Ok(Reidentified {
            log_index: s.index(),
            receipt: self.receipt(&s).await?,
            value,
        })
    }

    /// Decides and logs a subject request (export, erasure) for a
    /// subject homed here; returns the subject's pseudonym and the logged
    /// entry (for an export, with the sealed records it commits to).
    async fn logged_subject_request(
        &self,
        principal: &str,
        user_id: &str,
        action: Action,
    ) -> Result<(String, Logged), Error> {
        let who = self.principal(principal)?;
        let now = Now::read();
        let dreq = DecisionRequest {
            principal: principal.to_owned(),
            action,
            region: self.id.clone(),
            fields: Vec::new(),
            purpose: policy::purpose::SUBJECT_REQUEST.into(),
            destination: None,
            legal_basis: None,
            subject_count: 1,
        };
        let d = self.decide(&dreq, now.date)?;
        let e = self.access_entry(&who, &dreq, &d, &now);
        if !d.allow {
            let asked = self.asked_openings(&[user_id.to_owned()]).await?;
            return Err(self.deny(e, &asked).await);
        }
        let subject = match self.local_subject(user_id).await {
            Ok(subject) => subject,
            Err(Error::NotFound(why)) => return Err(self.allowed_but_absent(e, why).await),
            Err(e) => return Err(e),
        };
        // An export releases everything the subject has.
        let release = action == Action::Export;
        let logged = self
            .log_decision(e, true, openings([subject.clone()], 0)?, release, None)
            .await?;
        Ok((subject, logged))
    }

    /// A subject's export: all its data, and every logged access to it
    /// with a receipt.
    pub async fn export(&self, principal: &str, req: SubjectRequest) -> Result<Export, Error> {
        let (subject, logged) = self
            .logged_subject_request(principal, &req.user_id, Action::Export)
            .await?;
        let access = logged.access()?;
        let Logged { seq: s, sealed, .. } = logged;
        let all_fields: BTreeMap<String, Transform> = self
            .bundle
            .catalog
            .datasets
            .iter()
            .flat_map(|(ds, d)| {
                d.fields
                    .keys()
                    .map(move |f| (format!("{ds}.{f}"), Transform::Keep))
            })
            .collect();
        let (records, _) = self
            .release(&access, sealed, &all_fields, &Naming::clear())
            .await?;
        let cp = self.seq.checkpoint();
        // The export's own entry is the newest: once a cosigned checkpoint
        // covers it, it covers every access below.
        let (own_receipt, receipt_cosigned) = self.cosigned_receipt(s.index()).await?;
        let mut accesses = Vec::new();
        for (index, opening) in self.store.accesses(&subject).await? {
            let entry = self.reader.entry(index, cp.checkpoint.size).await?;
            let (receipt, cosigned) = self.cosigned_receipt(index).await?;
            let entry = Entry::parse(&entry)
                .map_err(|e| Error::Internal(format!("log entry {index} does not parse: {e}")))?;
            let subject_proof = match (&entry.subjects_root, opening) {
                (Some(root), Some(opening)) => {
                    Some(self.salted_subject_proof(&opening, index, root).await?)
                }
                (Some(root), None) => Some(self.subject_proof(&subject, index, root).await?),
                (None, _) => None,
            };
            accesses.push(AccessRecord {
                log_index: index,
                entry: serde_json::to_value(&entry).unwrap_or_default(),
                receipt,
                cosigned,
                subject_proof,
            });
        }
        Ok(Export {
            log_index: s.index(),
            receipt: own_receipt,
            receipt_cosigned,
            records,
            accesses,
        })
    }

    /// Proves the subject of `opening` is in the salted set entry `index`
    /// commits to by `root`, from the leaves the access index keeps.
    async fn salted_subject_proof(
        &self,
        opening: &Opening,
        index: u64,
        root: &str,
    ) -> Result<SubjectProof, Error> {
        let set = self.store.subject_set_at(index).await?;
        if set.root().to_hex() != root {
            return Err(Error::Internal(format!(
                "the access index does not reproduce the subject set of log entry {index}"
            )));
        }
        let (position, proof) = set.prove(&opening.leaf()).ok_or_else(|| {
            Error::Internal(format!("log entry {index} does not cover the subject"))
        })?;
        Ok(SubjectProof {
            subject: opening.subject.clone(),
            salt: Some(tlog::Hash(opening.salt).to_hex()),
            index: position,
            size: set.len() as u64,
            proof: proof.iter().map(tlog::Hash::to_base64).collect(),
        })
    }

    /// Version 1 entries: proves `subject` is in the unsalted set entry
    /// `index` commits to by `root`, from the access index (which keeps
    /// every subject an entry touched).
    async fn subject_proof(
        &self,
        subject: &str,
        index: u64,
        root: &str,
    ) -> Result<SubjectProof, Error> {
        let set = self.store.subjects_at(index).await?;
        let (set, computed) = store::subject_set_root(&set);
        if computed.to_hex() != root {
            return Err(Error::Internal(format!(
                "the access index does not reproduce the subjects of log entry {index}"
            )));
        }
        let position = set
            .binary_search_by(|s| s.as_str().cmp(subject))
            .map_err(|_| Error::Internal(format!("log entry {index} does not cover the subject")))?
            as u64;
        let mut tree = tlog::merkle::MemoryTree::new();
        for s in &set {
            tree.push(tlog::leaf_hash(s.as_bytes()));
        }
        let size = set.len() as u64;
        let proof = tree.run(&tlog::merkle::ProofPlan::inclusion(position, size)?)?;
        Ok(SubjectProof {
            subject: subject.to_owned(),
            salt: None,
            index: position,
            size,
            proof: proof.iter().map(tlog::Hash::to_base64).collect(),
        })
    }

    /// Erases a subject (crypto-shredding), logged first.
    pub async fn erase(&self, principal: &str, req: SubjectRequest) -> Result<Erased, Error> {
        let (subject, logged) = self
            .logged_subject_request(principal, &req.user_id, Action::Erase)
            .await?;
        let s = logged.seq;
        let existed = self.store.erase(&subject).await?;
        Ok(Erased {
            log_index: s.index(),
            receipt: self.receipt(&s).await?,
            existed,
        })
    }
}

/// The payload digest of sealed records (`payload_digest` in
/// `docs/log-entries.md`): SHA-256 over the entry's salted subject-set
/// root, then, for each record in release order, its subject's salted leaf
/// in this entry, dataset, record id, time (decimal), public fields (JSON)
/// and sealed bytes, each preceded by its length as a 4-byte big-endian
/// integer. The salts make it differ from entry to entry, so it neither
/// links two accesses to the same records nor tells an empty release (no
/// such subject) from another.
/// `leaves[i]` is the salted leaf of `sealed[i]`'s subject.
pub fn payload_digest(
    root: &tlog::Hash,
    leaves: &[tlog::Hash],
    sealed: &[store::Sealed],
) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(root.0);
    let mut field = |bytes: &[u8]| {
        h.update((bytes.len() as u32).to_be_bytes());
        h.update(bytes);
    };
    for (leaf, s) in leaves.iter().zip(sealed) {
        for r in s.rows() {
            field(&leaf.0);
            field(r.dataset.as_bytes());
            field(r.record_id.as_bytes());
            field(r.time.to_string().as_bytes());
            field(r.public.as_bytes());
            field(&r.sealed);
        }
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// The keyed digest of a re-identification's justification
/// (`justification_digest` in `docs/log-entries.md`): HMAC-SHA-256 under the
/// region's justification key, hex.
pub fn justification_digest(key: &[u8; 32], justification: &str) -> String {
    pseudo::token::hmac_sha256(key, justification.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn datasets_of(fields: &[String]) -> Vec<String> {
    let set: BTreeSet<String> = fields
        .iter()
        .filter_map(|f| f.split_once('.').map(|(d, _)| d.to_owned()))
        .collect();
    set.into_iter().collect()
}

/// A store error of an ingest: a refusal is the caller's to fix.
fn rejected(e: store::Error) -> Error {
    match e {
        store::Error::Rejected(why) => Error::BadRequest(why),
        other => Error::Store(other),
    }
}

/// A reqwest error's message without the URL (which is ours anyway, but
/// keeps messages short).
fn without_url(e: &reqwest::Error) -> String {
    let mut e = e.to_string();
    if let Some(i) = e.find(" for url") {
        e.truncate(i);
    }
    e
}
