//! [`Store`]: checks events against the catalog, seals and opens values,
//! manages data keys — the same code over every [`Backend`].

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use policy::catalog::{Catalog, Level};
use pseudo::token::TokenKey;

use crate::access::LoggedAccess;
use crate::backend::{Backend, SealedRecord};
use crate::keys::{self, KeyProvider, Sealer, WrappedKey};
use crate::{Error, Event, Record};

/// Largest value accepted for one field.
pub const MAX_VALUE_LEN: usize = 64 * 1024;

/// A region's record store over backend `B`.
pub struct Store<B> {
    backend: B,
    keys: Arc<dyn KeyProvider>,
    pseudonyms: TokenKey,
    catalog: Arc<Catalog>,
    /// One writer at a time: a batch's data keys and records, an erasure,
    /// a page of rewrapping never interleave.
    writer: tokio::sync::Mutex<()>,
}

impl<B> std::fmt::Debug for Store<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Store")
    }
}

/// Associated data binding a field's ciphertext to its place.
fn field_aad(aad: &mut Vec<u8>, subject: &str, dataset: &str, record_id: &str, field: &str) {
    aad.clear();
    for part in ["residency/field", subject, dataset, record_id, field] {
        aad.extend_from_slice(part.as_bytes());
        aad.push(0);
    }
}

impl<B: Backend> Store<B> {
    /// A store over `backend`, with the region's catalog and keys.
    pub fn new(backend: B, catalog: Arc<Catalog>, keys: Arc<dyn KeyProvider>) -> Self {
        let pseudonyms = TokenKey::new(1, keys.pseudonym_secret());
        Store {
            backend,
            keys,
            pseudonyms,
            catalog,
            writer: tokio::sync::Mutex::new(()),
        }
    }

    /// The backend (for its own maintenance calls).
    pub fn backend(&self) -> &B {
        &self.backend
    }

    /// The keyed pseudonym under which a user is stored: the app's own user
    /// id is never stored in clear.
    pub fn subject_ref(&self, user_id: &str) -> String {
        self.pseudonyms.token("subject", user_id)
    }

    fn validate(&self, e: &Event) -> Result<(), Error> {
        let ds = self
            .catalog
            .datasets
            .get(&e.dataset)
            .ok_or_else(|| Error::Rejected(format!("unknown dataset {:?}", e.dataset)))?;
        let unknown: Vec<&str> = e
            .fields
            .keys()
            .filter(|f| !ds.fields.contains_key(*f))
            .map(String::as_str)
            .collect();
        if !unknown.is_empty() {
            return Err(Error::Rejected(format!(
                "fields not in the catalog for {}: {}",
                e.dataset,
                unknown.join(", ")
            )));
        }
        if let Some((f, _)) = e.fields.iter().find(|(_, v)| v.len() > MAX_VALUE_LEN) {
            return Err(Error::Rejected(format!(
                "{}.{f} is larger than {MAX_VALUE_LEN} bytes",
                e.dataset
            )));
        }
        if e.record_id.is_empty() || e.user_id.is_empty() {
            return Err(Error::Rejected(
                "an event needs a user id and a record id".into(),
            ));
        }
        Ok(())
    }

    /// The data keys of `subjects`, made (and stored durably, before any
    /// record needs them) for those that have none.
    async fn data_keys(&self, subjects: Vec<String>) -> Result<HashMap<String, Sealer>, Error> {
        let mut sealers = HashMap::with_capacity(subjects.len());
        for (s, w) in self.backend.keys_of(subjects.clone()).await? {
            let dek = self.keys.unwrap(&w, s.as_bytes())?;
            sealers.insert(s, Sealer::new(&dek)?);
        }
        let mut fresh: HashMap<String, ([u8; 64], WrappedKey)> = HashMap::new();
        for s in subjects.into_iter().filter(|s| !sealers.contains_key(s)) {
            let dek: [u8; 64] = keys::random()?;
            let w = self.keys.wrap(&dek, s.as_bytes())?;
            fresh.insert(s, (dek, w));
        }
        if fresh.is_empty() {
            return Ok(sealers);
        }
        let new: Vec<(String, WrappedKey)> = fresh
            .iter()
            .map(|(s, (_, w))| (s.clone(), w.clone()))
            .collect();
        for (s, stored) in self.backend.ensure_keys(new).await? {
            let dek = match fresh.get(&s) {
                Some((dek, mine)) if *mine == stored => *dek,
                _ => self.keys.unwrap(&stored, s.as_bytes())?,
            };
            sealers.insert(s, Sealer::new(&dek)?);
        }
        Ok(sealers)
    }

    /// Stores a batch of events for subjects homed in `home`: all or nothing.
    /// Every event is checked against the catalog before anything is
    /// written; personal and protected values are sealed under the
    /// subject's data key, made on first sight. Of two events for the same
    /// record, the later wins. Returns the subjects' pseudonyms in event
    /// order.
    pub async fn ingest(&self, home: &str, events: &[Event]) -> Result<Vec<String>, Error> {
        for e in events {
            self.validate(e)?;
        }
        // One pseudonym per distinct user of the batch.
        let mut refs: HashMap<&str, String> = HashMap::new();
        for e in events {
            refs.entry(&e.user_id)
                .or_insert_with(|| self.subject_ref(&e.user_id));
        }
        let _writer = self.writer.lock().await;
        let mut sealers = self.data_keys(refs.values().cloned().collect()).await?;

        let mut latest: HashMap<(&str, &str, &str), usize> = HashMap::with_capacity(events.len());
        for (i, e) in events.iter().enumerate() {
            latest.insert((&e.user_id, &e.dataset, &e.record_id), i);
        }
        let mut sealed = Vec::with_capacity(latest.len());
        let mut aad = Vec::with_capacity(128);
        for (i, e) in events.iter().enumerate() {
            if latest.get(&(&*e.user_id, &*e.dataset, &*e.record_id)) != Some(&i) {
                continue;
            }
            let subject = &refs[e.user_id.as_str()];
            let sealer = sealers.get_mut(subject).ok_or(Error::UnknownSubject)?;
            let ds = self
                .catalog
                .datasets
                .get(&e.dataset)
                .ok_or_else(|| Error::Rejected(format!("unknown dataset {:?}", e.dataset)))?;
            let mut doc: BTreeMap<&str, String> = BTreeMap::new();
            for (name, value) in &e.fields {
                let level = ds.fields.get(name).map_or(Level::Protected, |f| f.level);
                let stored = if level == Level::Public {
                    format!("v:{value}")
                } else {
                    field_aad(&mut aad, subject, &e.dataset, &e.record_id, name);
                    let ct = sealer.seal(&aad, value.as_bytes())?;
                    let mut s = String::with_capacity(2 + ct.len().div_ceil(3) * 4);
                    s.push_str("e:");
                    STANDARD.encode_string(&ct, &mut s);
                    s
                };
                doc.insert(name, stored);
            }
            sealed.push(SealedRecord {
                subject: subject.clone(),
                dataset: e.dataset.clone(),
                record_id: e.record_id.clone(),
                time: e.time,
                fields: serde_json::to_string(&doc)
                    .map_err(|e| Error::Backend(format!("encoding a record: {e}")))?,
            });
        }
        self.backend.put_records(home.to_owned(), sealed).await?;
        Ok(events
            .iter()
            .map(|e| refs[e.user_id.as_str()].clone())
            .collect())
    }

    /// A subject's records of `dataset`, decrypted — only with a logged
    /// access that names this subject and dataset.
    pub async fn read(
        &self,
        access: &LoggedAccess,
        subject: &str,
        dataset: &str,
    ) -> Result<Vec<Record>, Error> {
        access.check(subject, dataset)?;
        let (s, wrapped) = self
            .backend
            .keys_of(vec![subject.to_owned()])
            .await?
            .pop()
            .ok_or(Error::UnknownSubject)?;
        let dek = self.keys.unwrap(&wrapped, s.as_bytes())?;
        let rows = self
            .backend
            .records(subject.to_owned(), dataset.to_owned())
            .await?;
        let mut aad = Vec::with_capacity(128);
        rows.into_iter()
            .map(|r| open_record(&dek, &mut aad, r))
            .collect()
    }

    /// The region a subject is homed in, if known here.
    pub async fn home(&self, subject: &str) -> Result<Option<String>, Error> {
        self.backend.home(subject.to_owned()).await
    }

    /// Records that log entry `log_index` touched `subject` (for "who
    /// accessed my data").
    pub async fn note_access(&self, subject: &str, log_index: u64) -> Result<(), Error> {
        self.backend
            .note_access(subject.to_owned(), log_index)
            .await
    }

    /// The log entries that touched `subject`, in log order.
    pub async fn accesses(&self, subject: &str) -> Result<Vec<u64>, Error> {
        self.backend.accesses(subject.to_owned()).await
    }

    /// Crypto-shreds a subject: destroys its data key (durably, first), then
    /// deletes its records. Returns whether the subject existed.
    pub async fn erase(&self, subject: &str) -> Result<bool, Error> {
        let _writer = self.writer.lock().await;
        self.backend.erase(subject.to_owned()).await
    }

    /// How many data keys are not yet wrapped by the current KEK.
    pub async fn keys_to_rewrap(&self) -> Result<u64, Error> {
        self.backend
            .count_keys_not_under(self.keys.current_kek_id())
            .await
    }

    /// Rewraps every data key not under the current KEK, `page` at a time
    /// (each page one transaction; records are not touched). Safe to stop
    /// at any point and run again: it picks up what is left. Calls
    /// `progress` with the running count after each page; returns the total.
    pub async fn rewrap(&self, page: usize, mut progress: impl FnMut(u64)) -> Result<u64, Error> {
        let current = self.keys.current_kek_id();
        let mut done = 0;
        loop {
            let _writer = self.writer.lock().await;
            let batch = self
                .backend
                .keys_not_under(current.clone(), page.max(1))
                .await?;
            if batch.is_empty() {
                return Ok(done);
            }
            let mut updates = Vec::with_capacity(batch.len());
            for (s, old) in batch {
                let dek = self.keys.unwrap(&old, s.as_bytes())?;
                let new = self.keys.wrap(&dek, s.as_bytes())?;
                updates.push((s, old, new));
            }
            let n = updates.len() as u64;
            self.backend.replace_keys(updates).await?;
            done += n;
            progress(done);
        }
    }

    /// Deletes records older than their dataset's retention at time `now`
    /// (seconds since the epoch). Returns (dataset, records deleted) for
    /// each dataset with a retention.
    pub async fn sweep(&self, now: i64) -> Result<Vec<(String, u64)>, Error> {
        let mut out = Vec::new();
        for (name, ds) in &self.catalog.datasets {
            if let Some(days) = ds.retention_days {
                let before = now.saturating_sub(i64::from(days) * 86_400);
                let n = self.backend.sweep(name.clone(), before).await?;
                out.push((name.clone(), n));
            }
        }
        Ok(out)
    }

    /// The sweeper: sweeps now and then every `every`, forever, handing each
    /// outcome to `report` (a failed sweep is retried at the next tick).
    pub async fn run_sweeper(
        &self,
        every: Duration,
        mut report: impl FnMut(Result<Vec<(String, u64)>, Error>),
    ) {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
            report(self.sweep(now).await);
        }
    }
}

fn open_record(dek: &[u8; 64], aad: &mut Vec<u8>, r: SealedRecord) -> Result<Record, Error> {
    let SealedRecord {
        subject,
        dataset,
        record_id,
        time,
        fields,
    } = r;
    let map: BTreeMap<String, String> =
        serde_json::from_str(&fields).map_err(|_| Error::Decrypt(format!("{dataset} record")))?;
    let mut out = BTreeMap::new();
    for (name, stored) in map {
        let what = || format!("{dataset}.{name}");
        let value = if let Some(v) = stored.strip_prefix("v:") {
            v.to_owned()
        } else if let Some(b64) = stored.strip_prefix("e:") {
            let ct = STANDARD.decode(b64).map_err(|_| Error::Decrypt(what()))?;
            field_aad(aad, &subject, &dataset, &record_id, &name);
            let pt = keys::open(dek, aad, &ct, &what())?;
            String::from_utf8(pt).map_err(|_| Error::Decrypt(what()))?
        } else {
            return Err(Error::Decrypt(what()));
        };
        out.insert(name, value);
    }
    Ok(Record {
        dataset,
        record_id,
        time,
        fields: out,
    })
}
