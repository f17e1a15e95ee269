//! What a region does, without HTTP: ingest and routing to home regions,
//! and every release of data — each decided by policy, logged, and only
//! then decrypted and transformed.
//!
//! - [`api`]: the requests and answers.
//! - `ingest`: storing events homed here, forwarding the others.
//! - `release`: the release pipeline of reads and transfers, phase by
//!   phase — select → decide → read sealed → log → open → transform →
//!   receipt.
//! - `entries`: making the log entry of a decision — appending it,
//!   noting it in the access index, denials.
//! - `aggregate`: k-anonymous counts and re-identification.
//! - `subject`: a subject's export (with a proof of every access) and
//!   erasure.
//! - `witnesses`: pushing checkpoints to witnesses, cosigned receipts.
//!
//! Nothing is opened before its log entry is durably sequenced: the store
//! opens records only with the [`store::LoggedAccess`] built from the
//! sequencer's acknowledgement. A denial is logged the same way, and
//! nothing is decrypted.

mod aggregate;
pub mod api;
mod custodian;
mod entries;
mod ingest;
mod log_storage;
mod notify;
mod release;
mod subject;
mod witnesses;

use std::collections::BTreeMap;
use std::sync::Arc;

use policy::{Bundle, Decision, DecisionRequest};
use store::{Backend, Store};
use tlog::{CachedTiles, LogReader};

pub use ingest::ON_BEHALF_OF;
pub use log_storage::LogStorage;
pub use notify::{Batch, Notification, webhook_signature};

use entry::PrincipalRef;

pub use api::*;
pub use entries::{justification_digest, payload_digest};

use crate::Error;
use crate::auth::{Caller, Credentials};
use crate::config::{ClusterConfig, resolve_secret};
use crate::metrics::Metrics;
use crate::sequencing::{Appender, Cosigned, RemoteLog};

/// Subtree hashes the node's log reader remembers for receipts (about
/// 64 bytes each).
pub(crate) const SUBTREES_REMEMBERED: usize = 65_536;

/// A running region.
pub struct Region<B> {
    id: String,
    bundle: Arc<Bundle>,
    store: Store<B>,
    /// How entries reach the log: this process's sequencer, or the
    /// region's over the network.
    seq: Appender,
    reader: LogReader<CachedTiles<LogStorage>>,
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
    /// The key custodian records are sealed for, if any.
    custodian: Option<custodian::CustodianLink>,
    /// The app's webhook, if it opted in to notifications.
    notify: Option<notify::Notify>,
    /// Decisions already made under this bundle: `policy::decide` is pure
    /// in (bundle, request, date), and requests repeat.
    decisions: quick_cache::sync::Cache<(DecisionRequest, time::Date), Decision>,
}

/// How many distinct decisions a region remembers.
const DECISIONS_REMEMBERED: usize = 4096;

/// A peer region, as this node reaches it.
#[derive(Clone, Debug)]
struct Peer {
    url: String,
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

/// How a region starts.
#[derive(Clone, Copy, Debug, Default)]
pub struct Start {
    /// Create its key file and log if they are missing.
    pub init: bool,
    /// With its log in a bucket: wait for the log's lease however long
    /// another process holds it (a standby), not only the lease's length.
    pub standby: bool,
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
        start: Start,
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
        let mut store = Store::new(backend, Arc::new(bundle.catalog.clone()), keys.clone());
        let custodian = match &me.custodian {
            None => None,
            Some(c) => {
                store.seal_for(store::custody::Custody {
                    key: c.key.clone(),
                    region: id.to_owned(),
                });
                let token = resolve_secret(&c.token).map_err(|why| Error::Config {
                    file: cluster.file.display().to_string(),
                    field: format!("regions.{id}.custodian.token"),
                    why,
                })?;
                let left = store.data_keys_left().await?;
                if left > 0 {
                    tracing::warn!(
                        data_keys = left,
                        "records sealed before the custodian still open with the key file: run `residency keys move-to-custodian`"
                    );
                }
                Some(custodian::CustodianLink::new(c.url.clone(), token))
            }
        };
        let notify = match &me.notify {
            None => None,
            Some(n) => {
                let field = format!("regions.{id}.notify.secret");
                let bad = |why: String| Error::Config {
                    file: cluster.file.display().to_string(),
                    field: field.clone(),
                    why,
                };
                let secret = resolve_secret(&n.secret).map_err(bad)?;
                let notify = notify::Notify::new(n, &secret, &bundle.catalog).map_err(bad)?;
                // Whom to name: each new subject's country and user id,
                // sealed under the app's secret (not the region's keys).
                store.keep_user_ids(notify.secret());
                Some(notify)
            }
        };
        let egress = egress_keys(&keys.pseudonym_secret());
        let justification_key = justification_key(&keys.pseudonym_secret());

        let mut credentials = Credentials::default();
        for (pid, p) in &bundle.principals.principals {
            match resolve_secret(&p.credential) {
                Ok(token) => credentials.add(Caller::Principal(pid.clone()), &token),
                Err(why) => tracing::warn!(principal = %pid, "principal cannot sign in: {why}"),
            }
        }
        // Peers are known by their tokens' hashes: this process holds no
        // secret but its own region's.
        let node_token = me.own_token(&cluster.file)?;
        let mut peers = BTreeMap::new();
        for (rid, r) in &cluster.regions {
            if rid != id {
                credentials.add_hash(Caller::Region(rid.clone()), r.token_sha256);
                peers.insert(rid.clone(), Peer { url: r.url.clone() });
            }
        }
        let http = cluster.http_client(std::time::Duration::from_secs(30))?;
        let (seq, tiles) = if me.sequencers.is_empty() {
            let log = crate::sequencing::open_local(&cluster.file, me, start).await?;
            (
                Appender::Local {
                    seq: log.seq,
                    writes: log.writes,
                },
                log.tiles,
            )
        } else {
            // A gateway: it reads the log the sequencer writes, and holds
            // only the log's public key.
            let key = tlog::keyfile::open_verifier(&me.log)?;
            let latest = LogReader::new(LogStorage::open(&cluster.file, me, false)?)
                .checkpoint(&key)
                .await?;
            let tiles = CachedTiles::new(LogStorage::open(&cluster.file, me, false)?);
            let failover = me.log_bucket.as_ref().map_or(10, |b| b.lease_secs);
            let remote = RemoteLog::new(
                me.sequencers.clone(),
                node_token.clone(),
                http.clone(),
                key,
                latest,
                std::time::Duration::from_secs(failover.saturating_mul(4).saturating_add(4)),
            );
            (Appender::Remote(remote), tiles)
        };
        let reader = LogReader::new(tiles).remembering_subtrees(SUBTREES_REMEMBERED);

        let region = Region {
            id: id.to_owned(),
            bundle,
            store,
            seq,
            reader,
            egress,
            justification_key,
            credentials,
            node_token,
            peers,
            http,
            metrics: Metrics::default(),
            cosigned: tokio::sync::watch::Sender::new(Cosigned::new(!cluster.witnesses.is_empty())),
            custodian,
            notify,
            decisions: quick_cache::sync::Cache::new(DECISIONS_REMEMBERED),
        };
        region.log_bundle().await?;
        Ok(region)
    }

    /// Makes the log's files durable in place and empties its journal, so
    /// that a stopped region's log directory holds the log alone (an edit
    /// made while it is stopped is then caught at the next start, not
    /// repaired by a replay). Call once requests have stopped.
    pub async fn settle_log(&self) -> Result<(), Error> {
        Ok(self.seq.settle().await?)
    }

    /// Returns once the log writer this process holds (role `both`) has
    /// stopped for good — fenced out by another writer, or its storage
    /// failing; never when the region's sequencer runs apart.
    pub async fn writer_stopped(&self) {
        self.seq.stopped().await
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
    pub fn log(&self) -> &LogReader<CachedTiles<LogStorage>> {
        &self.reader
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

    /// The principal as the bundle configures it: its location is the
    /// configuration's, never the caller's claim.
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

    /// Decides by the bundle in force; a request the policy cannot parse
    /// is the caller's to fix.
    fn decide(&self, req: &DecisionRequest, date: time::Date) -> Result<Decision, Error> {
        let key = (req.clone(), date);
        if let Some(d) = self.decisions.get(&key) {
            return Ok(d);
        }
        let d = policy::decide(&self.bundle, req, date).map_err(|e| match e {
            policy::Error::UnknownFields(_) | policy::Error::InvalidRequest(_) => {
                Error::BadRequest(e.to_string())
            }
            other => Error::Policy(other),
        })?;
        self.decisions.insert(key, d.clone());
        Ok(d)
    }

    /// Decides a request that releases nothing and is not logged (an
    /// ingest, a person's history): counted, and refused as a denial
    /// without a log index.
    fn decide_unlogged(&self, req: &DecisionRequest) -> Result<(), Error> {
        let d = self.decide(req, Now::read().date)?;
        self.metrics
            .decisions
            .get_or_create(&crate::metrics::DecisionLabels {
                action: req.action.as_str().into(),
                outcome: if d.allow { "allow" } else { "deny" }.into(),
            })
            .inc();
        if d.allow {
            Ok(())
        } else {
            Err(Error::Denied {
                reasons: d.reasons,
                log_index: None,
            })
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
}
