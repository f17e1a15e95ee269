//! Notifications to the app: when an access from outside a person's
//! country touches them — a transfer that names them, a view from abroad,
//! a refused attempt — the region tells the app, so that the app can tell
//! the person ("your profile was viewed from Dublin by support, for a
//! support ticket").
//!
//! The notifier follows the region's own log from a durable cursor (a
//! counter in the store): what is notified is derived from the log and
//! the access index, never from a request in flight, so the release path
//! writes nothing more and a crash loses nothing — the cursor moves only
//! once the app has acknowledged a batch. Delivery is therefore at least
//! once; each notification carries an id that stays the same on every
//! delivery (the app's idempotency key).
//!
//! A batch is one POST signed as the Standard Webhooks specification says
//! (<https://github.com/standard-webhooks/standard-webhooks/blob/main/spec/standard-webhooks.md>):
//! `webhook-id`, `webhook-timestamp`, and `webhook-signature: v1,<base64
//! HMAC-SHA-256 of "{id}.{timestamp}.{body}">` under the secret the app
//! gave (`whsec_` and base64). A notification holds what the public log
//! entry holds (principal, country, purpose, legal basis, fields, outcome)
//! and the app's own user id — no personal value. To name the person, the
//! store keeps each new subject's country and user id sealed under a key
//! derived from the app's secret (not the region's keys: a copy of the
//! store and key file opens none); subjects stored before are not named.

use std::collections::BTreeSet;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use entry::{Entry, Kind};
use policy::Action;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use store::Backend;

use super::Region;
use crate::Error;

/// The store counter holding the first log index not yet notified.
const CURSOR: &str = "notify_cursor";
/// Entries read from the log at a time.
const CHUNK: u64 = 256;
/// Notifications in one POST at most.
const MAX_BATCH: usize = 100;
/// How long an entry may wait for its subjects in the access index (noted
/// just after the log acknowledged it): an entry that names no one homed
/// here has none to note.
const SETTLE: Duration = Duration::from_secs(30);
/// Back-off after a failed delivery: doubling from the first, capped.
const FIRST_RETRY: Duration = Duration::from_secs(1);
const LAST_RETRY: Duration = Duration::from_secs(60);

/// Where and how a region notifies the app.
#[derive(Clone)]
pub(crate) struct Notify {
    url: String,
    key: Vec<u8>,
    /// The datasets opted in; `None`: the whole catalog.
    datasets: Option<BTreeSet<String>>,
}

impl std::fmt::Debug for Notify {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Notify")
            .field("datasets", &self.datasets)
            .finish_non_exhaustive()
    }
}

impl Notify {
    /// The key the app's secret gives (what the store seals people under).
    pub(crate) fn secret(&self) -> &[u8] {
        &self.key
    }

    /// The notifier of a region's configuration: `secret` is the resolved
    /// Standard Webhooks secret, `datasets` are checked against the
    /// catalog's.
    pub(crate) fn new(
        config: &crate::config::NotifyConfig,
        secret: &str,
        catalog: &policy::catalog::Catalog,
    ) -> Result<Self, String> {
        let key = secret
            .trim()
            .strip_prefix("whsec_")
            .and_then(|b64| STANDARD.decode(b64).ok())
            .filter(|k| k.len() >= 24 && k.len() <= 64)
            .ok_or("the secret must be `whsec_` and the base64 of 24 to 64 random bytes")?;
        let datasets = if config.datasets == ["*"] {
            None
        } else {
            let unknown = config
                .datasets
                .iter()
                .filter(|d| !catalog.datasets.contains_key(*d))
                .count();
            if unknown > 0 {
                return Err(format!(
                    "{unknown} dataset(s) not in the catalog (or \"*\" alone for all)"
                ));
            }
            Some(config.datasets.iter().cloned().collect())
        };
        Ok(Notify {
            url: config.url.clone(),
            key,
            datasets,
        })
    }
}

/// The Standard Webhooks signature (`v1,` and base64) of `body` sent as
/// message `id` at `timestamp` under `key` (the secret's bytes, after
/// `whsec_`): what the app's receiver recomputes and compares.
pub fn webhook_signature(key: &[u8], id: &str, timestamp: u64, body: &[u8]) -> String {
    let mut signed = format!("{id}.{timestamp}.").into_bytes();
    signed.extend_from_slice(body);
    format!(
        "v1,{}",
        STANDARD.encode(pseudo::token::hmac_sha256(key, &signed))
    )
}

/// One notification: an access that touched one person.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notification {
    /// Stable across deliveries: the idempotency key.
    pub id: String,
    /// The region whose log holds the entry.
    pub region: String,
    /// The entry's index in that log (its receipt comes with the person's
    /// history).
    pub log_index: u64,
    /// The app's own id of the person.
    pub user_id: String,
    /// When, RFC 3339 UTC.
    pub time: String,
    /// What was done: `read`, `transfer`, `reidentify`, …
    pub action: String,
    /// `allow` or `deny`.
    pub decision: String,
    /// Who asked (a principal of the policy).
    pub principal: String,
    /// Where they are (ISO 3166-1 alpha-2, from the configuration).
    pub from: String,
    /// The destination country declared, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destination: Option<String>,
    /// The purpose (an id of the policy).
    pub purpose: String,
    /// The legal basis, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub legal_basis: Option<String>,
    /// The fields asked for (`dataset.field`).
    pub fields: Vec<String>,
}

/// The body of one delivery.
#[derive(Debug, Serialize, Deserialize)]
pub struct Batch {
    /// The notifications, in log order.
    pub notifications: Vec<Notification>,
}

impl<B: Backend> Region<B> {
    /// Delivers notifications until the task is aborted: follows the log
    /// from the stored cursor, posts what concerns people to the app, and
    /// moves the cursor once the app acknowledged (2xx); retries a failed
    /// delivery with a doubling back-off. Returns at once when the app did
    /// not opt in.
    pub async fn run_notifier(&self) {
        let Some(notify) = &self.notify else {
            return;
        };
        let mut retry = FIRST_RETRY;
        loop {
            match self.notify_some(notify).await {
                Ok(true) => retry = FIRST_RETRY,
                Ok(false) => tokio::time::sleep(Duration::from_millis(500)).await,
                Err(e) => {
                    self.metrics.notify_failures.inc();
                    tracing::warn!(region = %self.id, retry_in = ?retry, "notifying the app failed: {e}");
                    tokio::time::sleep(retry).await;
                    retry = (retry * 2).min(LAST_RETRY);
                }
            }
        }
    }

    /// Notifies the entries of one chunk past the cursor; whether the
    /// cursor moved.
    async fn notify_some(&self, notify: &Notify) -> Result<bool, Error> {
        let from = self.store.counter(CURSOR).await?;
        let size = self.seq.checkpoint().checkpoint.size;
        if from >= size {
            return Ok(false);
        }
        let to = size.min(from + CHUNK);
        let entries = self.reader.entries(from, to, size).await?;
        let settled = time::OffsetDateTime::now_utc() - SETTLE;
        let mut out = Vec::new();
        let mut upto = from;
        for (index, bytes) in (from..to).zip(entries) {
            let Ok(e) = Entry::parse(&bytes) else {
                upto = index + 1;
                continue;
            };
            let logged_at = time::OffsetDateTime::parse(
                &e.time,
                &time::format_description::well_known::Rfc3339,
            )
            .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
            if notifiable(&e, notify.datasets.as_ref()) {
                // Its subjects are noted just after the log acknowledged it;
                // until then (or until it is clear that it names no one
                // here), wait.
                if !self.store.noted(index).await? && logged_at > settled {
                    break;
                }
                let subjects = self.store.subjects_at(index).await?;
                for (country, user_id) in self.store.people(&subjects).await?.into_values() {
                    if reaches_abroad(&e, &country) {
                        out.push(notification(&self.id, index, &e, user_id));
                    }
                }
            }
            upto = index + 1;
        }
        if upto == from {
            return Ok(false);
        }
        for batch in out.chunks(MAX_BATCH) {
            self.deliver(notify, batch).await?;
        }
        self.store.set_counter(CURSOR, upto).await?;
        self.metrics.notified.inc_by(out.len() as u64);
        Ok(true)
    }

    /// Posts one batch, signed; Ok once the app answered 2xx.
    async fn deliver(&self, notify: &Notify, batch: &[Notification]) -> Result<(), Error> {
        let body = serde_json::to_vec(&Batch {
            notifications: batch.to_vec(),
        })
        .map_err(|e| Error::Internal(format!("encoding notifications: {e}")))?;
        // The same batch gets the same id on every retry.
        let mut h = Sha256::new();
        for n in batch {
            h.update(n.id.as_bytes());
            h.update(b"\n");
        }
        let id = format!("msg_{}", &hex::encode(h.finalize())[..32]);
        let timestamp = time::OffsetDateTime::now_utc().unix_timestamp().max(0) as u64;
        let signature = webhook_signature(&notify.key, &id, timestamp, &body);
        let unreachable = |why: String| Error::PeerUnavailable {
            region: "the app's webhook".into(),
            why,
        };
        let resp = self
            .http
            .post(&notify.url)
            .header("content-type", "application/json")
            .header("webhook-id", &id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(body)
            .send()
            .await
            .map_err(|e| unreachable(e.without_url().to_string()))?;
        if resp.status().is_success() {
            Ok(())
        } else {
            Err(unreachable(format!("answered {}", resp.status())))
        }
    }
}

/// Whether entry `e` may be notified to the people it names: an access to
/// their data (not an aggregate, which releases no one's record) in an
/// opted-in dataset.
fn notifiable(e: &Entry, datasets: Option<&BTreeSet<String>>) -> bool {
    let Some(action) = e.action else {
        return false;
    };
    if e.kind != Kind::Access
        || !matches!(
            action,
            Action::Read | Action::Transfer | Action::Reidentify | Action::Export
        )
    {
        return false;
    }
    match datasets {
        None => true,
        Some(set) => e.datasets.iter().any(|d| set.contains(d)),
    }
}

/// Whether entry `e` reached outside `country` (the person's): asked by a
/// principal located elsewhere, or toward another declared destination.
fn reaches_abroad(e: &Entry, country: &str) -> bool {
    e.principal.as_ref().is_some_and(|p| p.location != country)
        || e.declared_destination
            .as_deref()
            .is_some_and(|d| d != country)
}

fn notification(region: &str, index: u64, e: &Entry, user_id: String) -> Notification {
    let mut h = Sha256::new();
    h.update(region.as_bytes());
    h.update(b"\n");
    h.update(index.to_be_bytes());
    h.update(user_id.as_bytes());
    Notification {
        id: format!("ntf_{}", &hex::encode(h.finalize())[..32]),
        region: region.to_owned(),
        log_index: index,
        user_id,
        time: e.time.clone(),
        action: e.action.map_or("", Action::as_str).to_owned(),
        decision: e.decision.map_or("", entry::Outcome::as_str).to_owned(),
        principal: e
            .principal
            .as_ref()
            .map(|p| p.id.clone())
            .unwrap_or_default(),
        from: e
            .principal
            .as_ref()
            .map(|p| p.location.clone())
            .unwrap_or_default(),
        destination: e.declared_destination.clone(),
        purpose: e.purpose.clone(),
        legal_basis: e.legal_basis.clone(),
        fields: e.fields.keys().cloned().collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_by(location: &str, destination: Option<&str>) -> Entry {
        let mut e = Entry::new(
            Kind::Access,
            "eu-no",
            "bundle",
            "2026-12-07T00:00:00Z".into(),
        );
        e.action = Some(Action::Read);
        e.principal = Some(entry::PrincipalRef {
            id: "support-dublin".into(),
            location: location.into(),
        });
        e.declared_destination = destination.map(str::to_owned);
        e.datasets = vec!["profile".into()];
        e
    }

    /// Regression (red team): "abroad" was the region's data-centre
    /// country, so a principal in Norway reading a German resident of
    /// eu-no went unnotified, and an Irish one reading an Irish resident
    /// was notified.
    #[test]
    fn abroad_is_the_persons_country_not_the_regions() {
        assert!(!reaches_abroad(&read_by("IE", None), "IE"));
        assert!(reaches_abroad(&read_by("NO", None), "DE"));
        assert!(reaches_abroad(&read_by("IE", Some("US")), "IE"));
        assert!(!reaches_abroad(&read_by("DE", Some("DE")), "DE"));
    }

    #[test]
    fn only_accesses_to_opted_in_datasets_are_notifiable() {
        let e = read_by("CN", None);
        assert!(notifiable(&e, None));
        let only = |d: &str| Some(BTreeSet::from([d.to_owned()]));
        assert!(notifiable(&e, only("profile").as_ref()));
        assert!(!notifiable(&e, only("device").as_ref()));
        let mut aggregate = e.clone();
        aggregate.action = Some(Action::Aggregate);
        assert!(!notifiable(&aggregate, None));
        let bundle = Entry::new(
            Kind::PolicyBundle,
            "eu-no",
            "b",
            "2026-12-07T00:00:00Z".into(),
        );
        assert!(!notifiable(&bundle, None));
    }
}
