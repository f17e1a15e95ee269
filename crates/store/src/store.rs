//! [`Store`]: checks events against the catalog, seals and opens values,
//! manages data keys — the same code over every [`Backend`].

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use policy::catalog::{Catalog, Dataset, Level};
use pseudo::token::TokenKey;

use crate::access::LoggedAccess;
use crate::backend::{self, AccessNotes, Backend, KeyTable, RecordStream, SealedRecord};
use crate::custody::{self, Custody, KeyNeed, RecordKeys};
use crate::keys::{self, Dek, KeyProvider, Nonces, SealingKey};
use crate::{Error, Event, Record};

/// Largest value accepted for one field.
pub const MAX_VALUE_LEN: usize = 64 * 1024;

/// An event's time, in seconds since 1970 (UTC): from the year 1 to the
/// end of 9999, what a calendar date can show and every backend can order.
const EVENT_TIMES: std::ops::RangeInclusive<i64> = -62_135_596_800..=253_402_300_799;

/// Data keys made ahead at a time, so new subjects cost no keyring commit.
const KEY_RESERVE: u64 = 4096;

/// Times a batch is written again after another process sharing the
/// database took the same subject numbers first.
const WRITE_CONFLICT_RETRIES: u32 = 8;

/// Records sealed at a time while the backend writes the chunk before.
const SEAL_CHUNK: usize = 128;

/// Where subject numbering stands: numbers below `next` are given out;
/// the keyring holds keys for slots below `end`. `made` holds the keys
/// this process put in the keyring for slots from `next` on, in slot
/// order, so a new subject's key needs no keyring read or unwrap.
#[derive(Clone, Debug)]
struct Numbering {
    next: u64,
    end: u64,
    made: VecDeque<(u64, Dek)>,
}

/// A region's record store over backend `B`.
pub struct Store<B> {
    backend: B,
    keys: Arc<dyn KeyProvider>,
    /// When set, new batches are sealed for the custodian.
    custody: Option<Custody>,
    pseudonyms: TokenKey,
    /// When set, seals each new subject's country and user id, kept for
    /// notifications: a key derived from the app's notification secret,
    /// which is not in the region's key file or store, so a copy of both
    /// opens none.
    user_ids: Option<pseudo::token::SivKey>,
    catalog: Arc<Catalog>,
    /// One writer at a time: a batch, an erasure, a page of rewrapping
    /// never interleave. Holds the numbering, reloaded after any failure.
    writer: tokio::sync::Mutex<Option<Numbering>>,
    /// Access-index rows waiting for a commit.
    accesses: std::sync::Mutex<AccessQueue>,
    /// Held while access-index rows are committed.
    access_commit: tokio::sync::Mutex<()>,
}

/// Access-index rows queued for a group commit. Calls are numbered as
/// they queue; `committed` is the number of the last call written.
#[derive(Default)]
struct AccessQueue {
    pending: AccessNotes,
    queued: u64,
    committed: u64,
}

fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl<B> std::fmt::Debug for Store<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Store")
    }
}

/// A subject's records as stored, sealed: what [`Store::sealed`] reads and
/// [`Store::open`] opens.
#[derive(Clone, Debug)]
pub struct Sealed {
    subject: String,
    sid: u64,
    home: String,
    rows: Vec<SealedRecord>,
}

impl Sealed {
    /// The subject's pseudonym.
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// The region the subject is homed in.
    pub fn home(&self) -> &str {
        &self.home
    }

    /// The rows: identities, public fields, ciphertexts.
    pub fn rows(&self) -> &[SealedRecord] {
        &self.rows
    }
}

/// Associated data binding a record's ciphertext to its place.
fn record_aad(aad: &mut Vec<u8>, sid: u64, dataset: &str, record_id: &str) {
    aad.clear();
    aad.extend_from_slice(b"residency/record\0");
    aad.extend_from_slice(&sid.to_be_bytes());
    for part in [dataset, record_id] {
        aad.extend_from_slice(part.as_bytes());
        aad.push(0);
    }
}

/// What a data key is bound to when wrapped: its slot.
fn slot_context(sid: u64) -> [u8; 8] {
    sid.to_be_bytes()
}

impl<B: Backend> Store<B> {
    /// A store over `backend`, with the region's catalog and keys.
    pub fn new(backend: B, catalog: Arc<Catalog>, keys: Arc<dyn KeyProvider>) -> Self {
        let pseudonyms = TokenKey::new(1, keys.pseudonym_secret());
        Store {
            backend,
            keys,
            custody: None,
            pseudonyms,
            user_ids: None,
            catalog,
            writer: tokio::sync::Mutex::new(None),
            accesses: std::sync::Mutex::new(AccessQueue::default()),
            access_commit: tokio::sync::Mutex::new(()),
        }
    }

    /// Keeps each new subject's country and user id, sealed under a key
    /// derived from `secret` (the app's notification secret), so that a
    /// notification can name the person; without it none is kept.
    pub fn keep_user_ids(&mut self, secret: &[u8]) {
        let label = |l: &str| pseudo::token::hmac_sha256(secret, l.as_bytes());
        let mut siv = [0u8; 64];
        siv[..32].copy_from_slice(&label("residency/user-id/1"));
        siv[32..].copy_from_slice(&label("residency/user-id/2"));
        self.user_ids = Some(pseudo::token::SivKey::new(1, siv));
    }

    /// Seals every new batch for a key custodian: under record keys derived
    /// from a fresh batch secret sealed to `custody.key`, which this store
    /// never sees again. Ingest then unwraps nothing; opening those records
    /// takes the custodian's record keys ([`Store::open_with`]).
    pub fn sealing_to(mut self, custody: Custody) -> Self {
        self.seal_for(custody);
        self
    }

    /// Like [`Store::sealing_to`], on a store at hand.
    pub fn seal_for(&mut self, custody: Custody) {
        self.custody = Some(custody);
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

    /// A person's `(country, user id)` sealed for the directory, when
    /// user ids are kept.
    fn seal_person(&self, (country, user_id): (&str, &str)) -> Result<Option<String>, Error> {
        let Some(key) = &self.user_ids else {
            return Ok(None);
        };
        key.seal("user-id", &format!("{country}:{user_id}"))
            .map(Some)
            .map_err(|_| Error::Rejected("a user id is too long to seal".into()))
    }

    /// The `(country, user id)` of those of `subjects` stored with one
    /// (subjects stored while user ids were not kept, or under another
    /// notification secret, have none), by pseudonym: whom a notification
    /// names, and where they live.
    pub async fn people(
        &self,
        subjects: &[String],
    ) -> Result<BTreeMap<String, (String, String)>, Error> {
        let mut out = BTreeMap::new();
        let Some(key) = &self.user_ids else {
            return Ok(out);
        };
        for (subject, sealed) in self.backend.user_refs(subjects.to_vec()).await? {
            // Sealed under an earlier secret: this person is not named.
            let Ok(opened) = key.open("user-id", &sealed) else {
                continue;
            };
            if let Some((country, user_id)) = opened.split_once(':') {
                out.insert(subject, (country.to_owned(), user_id.to_owned()));
            }
        }
        Ok(out)
    }

    /// Whether the access index holds log entry `log_index`'s subject set
    /// (its leaves are noted with its subjects, in one commit).
    pub async fn noted(&self, log_index: u64) -> Result<bool, Error> {
        Ok(!self.backend.leaves_at(log_index).await?.is_empty())
    }

    /// A counter of the region's own, 0 when never set.
    pub async fn counter(&self, name: &'static str) -> Result<u64, Error> {
        self.backend.counter(name).await
    }

    /// Sets a counter of the region's own, durably.
    pub async fn set_counter(&self, name: &'static str, value: u64) -> Result<(), Error> {
        self.backend.set_counter(name, value).await
    }

    /// Checks event `i` against the catalog and the bounds of an event. Messages name the event's
    /// index and catalog names only: a name the catalog does not know is
    /// the caller's text, so it is counted, not repeated.
    fn validate(&self, i: usize, e: &Event) -> Result<&Dataset, Error> {
        let ds = self.catalog.datasets.get(&e.dataset).ok_or_else(|| {
            Error::Rejected(format!("event {i}: unknown dataset (not in the catalog)"))
        })?;
        let unknown = e
            .fields
            .keys()
            .filter(|f| !ds.fields.contains_key(*f))
            .count();
        if unknown > 0 {
            return Err(Error::Rejected(format!(
                "event {i}: {unknown} field(s) not in the catalog for {}",
                e.dataset
            )));
        }
        if let Some((f, _)) = e.fields.iter().find(|(_, v)| v.len() > MAX_VALUE_LEN) {
            return Err(Error::Rejected(format!(
                "event {i}: {}.{f} is larger than {MAX_VALUE_LEN} bytes",
                e.dataset
            )));
        }
        if !EVENT_TIMES.contains(&e.time) {
            return Err(Error::Rejected(format!(
                "event {i}: time is outside the years 1 to 9999 (seconds since 1970, UTC)"
            )));
        }
        if e.record_id.is_empty() || e.user_id.is_empty() {
            return Err(Error::Rejected(format!(
                "event {i}: an event needs a user id and a record id"
            )));
        }
        Ok(ds)
    }

    /// Checks a batch against the catalog, writing nothing: what
    /// [`Store::ingest`] would refuse, it refuses too (so a batch split
    /// across regions can be checked whole before any part is stored).
    pub fn check(&self, events: &[Event]) -> Result<(), Error> {
        for (i, e) in events.iter().enumerate() {
            self.validate(i, e)?;
        }
        Ok(())
    }

    /// Unwraps the keys in `slots` (those that hold one).
    async fn data_keys(&self, slots: Vec<u64>) -> Result<HashMap<u64, SealingKey>, Error> {
        let mut out = HashMap::with_capacity(slots.len());
        self.unwrap_into(self.backend.keys_of(slots).await?, &mut out)?;
        Ok(out)
    }

    fn unwrap_into(
        &self,
        wrapped: Vec<(u64, keys::WrappedKey)>,
        out: &mut HashMap<u64, SealingKey>,
    ) -> Result<(), Error> {
        for (sid, w) in wrapped {
            let dek = self.keys.unwrap(&w, &slot_context(sid))?;
            out.insert(sid, SealingKey::new(&dek));
        }
        Ok(())
    }

    /// Makes `n` data keys in fresh slots from `from`, durably; returns them.
    async fn make_keys(&self, from: u64, n: u64) -> Result<Vec<(u64, Dek)>, Error> {
        let mut made = Vec::with_capacity(n as usize);
        let mut wrapped = Vec::with_capacity(n as usize);
        for sid in from..from + n {
            let dek: Dek = keys::random()?;
            wrapped.push((sid, self.keys.wrap(&dek, &slot_context(sid))?));
            made.push((sid, dek));
        }
        self.backend.add_keys(wrapped).await?;
        Ok(made)
    }

    /// Numbers for `count` new subjects: the next slots that hold a key (a
    /// slot may have lost its key if the records were restored from a
    /// backup older than an erasure). Returns them with their keys, and
    /// the numbering after.
    async fn allocate(
        &self,
        count: usize,
        mut at: Numbering,
    ) -> Result<(Vec<(u64, Dek)>, Numbering), Error> {
        let mut out = Vec::with_capacity(count);
        while out.len() < count {
            let want = (count - out.len()) as u64;
            if at.end < at.next + want {
                let from = at.end.max(at.next);
                let n = want.max(KEY_RESERVE);
                at.made.extend(self.make_keys(from, n).await?);
                at.end = from + n;
            }
            while at.made.front().is_some_and(|(sid, _)| *sid < at.next) {
                at.made.pop_front();
            }
            // Keys this process made: at hand.
            while out.len() < count && at.made.front().is_some_and(|(sid, _)| *sid == at.next) {
                out.extend(at.made.pop_front());
                at.next += 1;
            }
            // Keys made before: read from the keyring.
            let want = (count - out.len()) as u64;
            if want > 0 {
                let held = self
                    .backend
                    .keys_of((at.next..at.next + want).collect())
                    .await?;
                for (sid, w) in held {
                    out.push((sid, self.keys.unwrap(&w, &slot_context(sid))?));
                }
                at.next += want;
            }
        }
        Ok((out, at))
    }

    /// A fresh batch secret sealed to the custodian and stored (durably,
    /// before any record that needs it); the record key of each (subject,
    /// dataset) of the batch, by the subject's position. The secret itself
    /// is dropped when this returns.
    async fn batch_keys<'e>(
        &self,
        custody: &Custody,
        subjects: &[String],
        of_event: &[usize],
        events: &'e [Event],
    ) -> Result<(u64, HashMap<(usize, &'e str), SealingKey>), Error> {
        let (id, secret) = self.new_batch(custody).await?;
        let mut out = HashMap::new();
        for (e, &i) in events.iter().zip(of_event) {
            out.entry((i, e.dataset.as_str()))
                .or_insert_with(|| SealingKey::new(&secret.record_key(&subjects[i], &e.dataset).0));
        }
        Ok((id, out))
    }

    /// A fresh batch secret, sealed to the custodian and stored durably
    /// (before any record that needs it): its id, and the secret, for the
    /// caller to derive record keys from and drop.
    async fn new_batch(&self, custody: &Custody) -> Result<(u64, ::custody::BatchSecret), Error> {
        let fail = |e: ::custody::Error| Error::Keys {
            path: "batch secret".into(),
            why: e.to_string(),
        };
        let secret = ::custody::BatchSecret::generate().map_err(fail)?;
        let wrapped = secret.wrap(&custody.key, &custody.region).map_err(fail)?;
        let id = self
            .backend
            .add_batch_key(keys::WrappedKey {
                kek_id: custody.key.id().to_owned(),
                bytes: wrapped.to_bytes(),
            })
            .await?;
        Ok((id, secret))
    }

    /// The record keys a custodian must release to open `sealed`: each
    /// (batch, dataset) of its rows sealed under a batch secret, once, with
    /// the secret as wrapped.
    pub async fn record_keys_needed(&self, sealed: &Sealed) -> Result<Vec<KeyNeed>, Error> {
        let mut pairs: Vec<(u64, &str)> = sealed
            .rows
            .iter()
            .filter_map(|r| Some((custody::batch_of(&r.sealed)?.0, r.dataset.as_str())))
            .collect();
        pairs.sort_unstable();
        pairs.dedup();
        let mut ids: Vec<u64> = pairs.iter().map(|(b, _)| *b).collect();
        ids.dedup();
        let wrapped: HashMap<u64, keys::WrappedKey> =
            self.backend.batch_keys(ids).await?.into_iter().collect();
        pairs
            .into_iter()
            .map(|(batch, dataset)| {
                let w = wrapped.get(&batch).ok_or_else(|| {
                    Error::Decrypt(format!(
                        "{dataset} record: its batch key {batch} is missing"
                    ))
                })?;
                Ok(KeyNeed {
                    batch,
                    dataset: dataset.to_owned(),
                    wrapped: custody::parse_wrapped(batch, &w.bytes)?,
                })
            })
            .collect()
    }

    /// Opens sealed records with the record keys a custodian released —
    /// only with a logged access that names their subject and every
    /// dataset among them. Rows sealed under the subject's data key (from
    /// before the store moved under a custodian) are opened with it.
    pub async fn open_with(
        &self,
        access: &LoggedAccess,
        sealed: Sealed,
        record_keys: &RecordKeys,
    ) -> Result<Vec<Record>, Error> {
        for r in &sealed.rows {
            access.check(&sealed.subject, &r.dataset)?;
        }
        access.check_subject(&sealed.subject)?;
        let legacy = sealed
            .rows
            .iter()
            .any(|r| custody::batch_of(&r.sealed).is_none());
        let subject_key = if legacy {
            self.data_keys(vec![sealed.sid]).await?.remove(&sealed.sid)
        } else {
            None
        };
        let mut aad = Vec::with_capacity(128);
        let mut out = Vec::with_capacity(sealed.rows.len());
        for mut r in sealed.rows {
            let released;
            let key = match custody::batch_of(&r.sealed) {
                Some((batch, rest)) => {
                    let k = record_keys
                        .get(&(batch, r.dataset.clone()))
                        .ok_or_else(|| {
                            Error::Decrypt(format!(
                                "{} record: no record key released for it",
                                r.dataset
                            ))
                        })?;
                    r.sealed = rest.to_vec();
                    released = SealingKey::new(&k.0);
                    &released
                }
                None => subject_key.as_ref().ok_or(Error::UnknownSubject)?,
            };
            out.push(open_record(key, &mut aad, r)?);
        }
        Ok(out)
    }

    /// Stores a batch of events for subjects homed in `home`: all or nothing.
    /// Every event is checked against the catalog before anything is
    /// written; personal and protected values are sealed together under the
    /// subject's data key (public ones stay in clear). Of two events for
    /// the same record, the later wins. Returns the subjects' pseudonyms in
    /// event order.
    ///
    /// Processes sharing one database (a region's gateways on PostgreSQL)
    /// number new subjects each from what it last saw: a batch that another
    /// process beat to a number (or to a new subject) fails whole on the
    /// database's uniqueness, and is sealed and written again from the
    /// numbering the database holds, a few times at most.
    pub async fn ingest(&self, home: &str, events: &[Event]) -> Result<Vec<String>, Error> {
        let mut tries = 0;
        loop {
            match self.ingest_once(home, events).await {
                Err(e) if e.is_write_conflict() && tries < WRITE_CONFLICT_RETRIES => {
                    tries += 1;
                }
                other => return other,
            }
        }
    }

    async fn ingest_once(&self, home: &str, events: &[Event]) -> Result<Vec<String>, Error> {
        let datasets = events
            .iter()
            .enumerate()
            .map(|(i, e)| self.validate(i, e))
            .collect::<Result<Vec<_>, _>>()?;
        // One pseudonym per distinct user of the batch; each event names
        // its user by position, so the per-event work does no hashing.
        let mut subjects: Vec<String> = Vec::new();
        let mut people: Vec<(&str, &str)> = Vec::new();
        let of_event: Vec<usize> = {
            let mut seen: HashMap<&str, usize> = HashMap::new();
            events
                .iter()
                .map(|e| {
                    *seen.entry(&e.user_id).or_insert_with(|| {
                        subjects.push(self.subject_ref(&e.user_id));
                        people.push((&e.country, &e.user_id));
                        subjects.len() - 1
                    })
                })
                .collect()
        };
        let mut writer = self.writer.lock().await;
        let at = match writer.take() {
            Some(at) if !self.backend.shared() => at,
            // Another process may have numbered subjects since: keys this
            // one made stay usable (they are in the keyring), the numbers
            // are read again.
            Some(at) => Numbering {
                next: self.backend.next_sid().await?,
                end: self.backend.key_slots_end().await?,
                made: at.made,
            },
            None => Numbering {
                next: self.backend.next_sid().await?,
                end: self.backend.key_slots_end().await?,
                made: VecDeque::new(),
            },
        };
        // `*writer` stays empty unless the batch lands: the numbering is
        // then reloaded from the backend.
        let mut sids: Vec<Option<u64>> = vec![None; subjects.len()];
        {
            let position: HashMap<&str, usize> = subjects
                .iter()
                .enumerate()
                .map(|(i, s)| (s.as_str(), i))
                .collect();
            for (s, sid) in self.backend.subject_ids(subjects.clone()).await? {
                if let Some(&i) = position.get(s.as_str()) {
                    sids[i] = Some(sid);
                }
            }
        }
        let mut keys: Vec<Option<SealingKey>> = (0..subjects.len()).map(|_| None).collect();
        let known: Vec<(usize, u64)> = sids
            .iter()
            .enumerate()
            .filter_map(|(i, sid)| Some((i, (*sid)?)))
            .collect();
        if !known.is_empty() && self.custody.is_none() {
            let mut unwrapped = self
                .data_keys(known.iter().map(|(_, sid)| *sid).collect())
                .await?;
            for (i, sid) in known {
                keys[i] = unwrapped.remove(&sid);
            }
        }
        // New subjects are numbered in pseudonym order.
        let mut new: Vec<usize> = (0..subjects.len()).filter(|i| sids[*i].is_none()).collect();
        new.sort_unstable_by(|a, b| subjects[*a].cmp(&subjects[*b]));
        let mut new_subjects = Vec::with_capacity(new.len());
        let mut at = at;
        if self.backend.shared() && !new.is_empty() {
            // Numbers no other process will give out: a batch that fails
            // leaves a gap, never a number given twice.
            at.next = self.backend.reserve_sids(new.len() as u64).await?;
        }
        let (batch, at) = match &self.custody {
            None => {
                let (fresh, at) = self.allocate(new.len(), at).await?;
                for (i, (sid, dek)) in new.into_iter().zip(fresh) {
                    sids[i] = Some(sid);
                    keys[i] = Some(SealingKey::new(&dek));
                    new_subjects.push((subjects[i].clone(), sid, self.seal_person(people[i])?));
                }
                (None, at)
            }
            Some(custody) => {
                // New subjects need a number, not a key.
                let mut at = at;
                for i in new {
                    sids[i] = Some(at.next);
                    new_subjects.push((subjects[i].clone(), at.next, self.seal_person(people[i])?));
                    at.next += 1;
                }
                (
                    Some(
                        self.batch_keys(custody, &subjects, &of_event, events)
                            .await?,
                    ),
                    at,
                )
            }
        };

        // Sealing and writing overlap: the backend writes each chunk while
        // the next is sealed, and commits once the last has arrived.
        let (chunks, stream) = RecordStream::channel(events.len(), 2);
        let write = self
            .backend
            .put_records(home.to_owned(), new_subjects, at.next, stream);
        let seal = async {
            // Owned here, so the stream ends when sealing does.
            let chunks = chunks;
            let mut nonces = Nonces::new()?;
            let mut buf = SealBuffers::default();
            let rows = events.iter().zip(datasets).zip(&of_event);
            let mut rows = rows.peekable();
            while rows.peek().is_some() {
                let mut chunk = Vec::with_capacity(SEAL_CHUNK);
                for ((e, ds), &i) in rows.by_ref().take(SEAL_CHUNK) {
                    let Some(sid) = sids[i] else {
                        return Err(Error::UnknownSubject);
                    };
                    let record = match &batch {
                        None => {
                            let key = keys[i].as_ref().ok_or(Error::UnknownSubject)?;
                            seal_record(e, ds, sid, key, &mut nonces, &mut buf)?
                        }
                        Some((id, record_keys)) => {
                            let key = record_keys
                                .get(&(i, e.dataset.as_str()))
                                .ok_or(Error::UnknownSubject)?;
                            let mut r = seal_record(e, ds, sid, key, &mut nonces, &mut buf)?;
                            r.sealed = custody::mark(*id, r.sealed);
                            r
                        }
                    };
                    chunk.push(record);
                }
                if chunks.send(chunk).await.is_err() {
                    // The writer stopped: its error is the one to report.
                    break;
                }
            }
            Ok(())
        };
        // Keys are made ahead while the batch is written (the keyring is
        // stored apart), once fewer than half a reserve are left.
        let (next, end) = (at.next, at.end);
        let refill = async {
            if self.custody.is_some() || end.saturating_sub(next) >= KEY_RESERVE / 2 {
                return None;
            }
            let from = end.max(next);
            Some(self.make_keys(from, KEY_RESERVE).await)
        };
        let (written, sealed, refilled) = tokio::join!(write, seal, refill);
        sealed?;
        written?;
        let mut at = at;
        // A refill that failed is made again when keys run short.
        if let Some(Ok(made)) = refilled {
            at.end = made.last().map_or(at.end, |(sid, _)| sid + 1);
            at.made.extend(made);
        }
        *writer = Some(at);
        Ok(of_event.into_iter().map(|i| subjects[i].clone()).collect())
    }

    /// A subject's records of `dataset`, decrypted — only with a logged
    /// access that names this subject and dataset.
    pub async fn read(
        &self,
        access: &LoggedAccess,
        subject: &str,
        dataset: &str,
    ) -> Result<Vec<Record>, Error> {
        self.read_datasets(access, subject, &[dataset.to_owned()])
            .await
    }

    /// A subject's records of several datasets, decrypted, dataset by
    /// dataset, each by time then id — only with a logged access that
    /// names this subject and every one of the datasets. The subject is
    /// looked up and its key unwrapped once.
    pub async fn read_datasets(
        &self,
        access: &LoggedAccess,
        subject: &str,
        datasets: &[String],
    ) -> Result<Vec<Record>, Error> {
        for dataset in datasets {
            access.check(subject, dataset)?;
        }
        let sealed = self.sealed(subject, datasets).await?;
        self.open(access, sealed).await
    }

    /// A subject's records of several datasets as stored — sealed, so no
    /// log entry is needed — for a caller that must commit to exactly what
    /// it will release (a digest in the log entry) before opening them
    /// with [`Store::open`].
    pub async fn sealed(&self, subject: &str, datasets: &[String]) -> Result<Sealed, Error> {
        let found = self
            .backend
            .subject_records(subject.to_owned(), datasets.to_vec())
            .await?
            .ok_or(Error::UnknownSubject)?;
        // Dataset by dataset as asked, each by time then id.
        let mut rows = found.rows;
        let asked = |r: &SealedRecord| datasets.iter().position(|d| *d == r.dataset);
        rows.sort_unstable_by(|a, b| {
            (asked(a), a.time, &a.record_id).cmp(&(asked(b), b.time, &b.record_id))
        });
        Ok(Sealed {
            subject: subject.to_owned(),
            sid: found.sid,
            home: found.home,
            rows,
        })
    }

    /// Opens sealed records — only with a logged access that names their
    /// subject and every dataset among them.
    pub async fn open(&self, access: &LoggedAccess, sealed: Sealed) -> Result<Vec<Record>, Error> {
        for r in &sealed.rows {
            access.check(&sealed.subject, &r.dataset)?;
        }
        access.check_subject(&sealed.subject)?;
        let key = self
            .data_keys(vec![sealed.sid])
            .await?
            .remove(&sealed.sid)
            .ok_or(Error::UnknownSubject)?;
        let mut aad = Vec::with_capacity(128);
        sealed
            .rows
            .into_iter()
            .map(|r| open_record(&key, &mut aad, r))
            .collect()
    }

    /// The region a subject is homed in, if known here.
    pub async fn home(&self, subject: &str) -> Result<Option<String>, Error> {
        self.backend.home(subject.to_owned()).await
    }

    /// Records that log entry `log_index` touched the subjects of
    /// `openings` (for "who accessed my data"), with each one's salt and
    /// every leaf of the entry's salted set (fillers too): on return a
    /// crash of this process loses none of it, and the database flushes it
    /// soon after, not on the caller's path (see
    /// [`Backend::note_access`]). Concurrent calls are committed together:
    /// while one commit runs, later calls queue, and the next caller to get
    /// the commit lock writes everything queued in one transaction.
    pub async fn note_access(
        &self,
        log_index: u64,
        openings: &[entry::Opening],
    ) -> Result<(), Error> {
        // A set of fillers only (nobody asked for is known here) will never
        // be proven to anyone: nothing to keep.
        if openings.iter().all(|o| o.subject.is_empty()) {
            return Ok(());
        }
        let notes = AccessNotes {
            touched: openings
                .iter()
                .filter(|o| !o.subject.is_empty())
                .map(|o| (o.subject.clone(), log_index, Some(o.salt)))
                .collect(),
            leaves: openings.iter().map(|o| (log_index, o.leaf().0)).collect(),
        };
        self.queue_access(notes).await
    }

    /// Records, as [`Store::note_access`] does, that version 1 log entry `log_index` (subjects
    /// listed or under an unsalted root) touched `subjects`.
    pub async fn note_listed_access(
        &self,
        subjects: &[String],
        log_index: u64,
    ) -> Result<(), Error> {
        let notes = AccessNotes {
            touched: subjects
                .iter()
                .map(|s| (s.clone(), log_index, None))
                .collect(),
            leaves: Vec::new(),
        };
        self.queue_access(notes).await
    }

    async fn queue_access(&self, notes: AccessNotes) -> Result<(), Error> {
        let mine = {
            let mut q = lock(&self.accesses);
            q.pending.extend(notes);
            q.queued += 1;
            q.queued
        };
        // Releases sequenced by one commit of the log are woken together:
        // let the others queue their notes first, so that one commit of the
        // index takes them all.
        tokio::task::yield_now().await;
        let _commit = self.access_commit.lock().await;
        let (batch, upto) = {
            let mut q = lock(&self.accesses);
            if q.committed >= mine {
                return Ok(());
            }
            (std::mem::take(&mut q.pending), q.queued)
        };
        match self.backend.note_access(batch.clone()).await {
            Ok(()) => {
                lock(&self.accesses).committed = upto;
                Ok(())
            }
            Err(e) => {
                // Put the batch back for the next commit to retry.
                lock(&self.accesses).pending.extend(batch);
                Err(e)
            }
        }
    }

    /// The subjects noted as touched by log entry `log_index`, in
    /// pseudonym order (the set a `subjects_root` commits to).
    pub async fn subjects_at(&self, log_index: u64) -> Result<Vec<String>, Error> {
        let mut subjects = self.backend.subjects_at(log_index).await?;
        // Byte order, whatever the database's collation.
        subjects.sort_unstable();
        Ok(subjects)
    }

    /// The subjects homed here with records in `dataset`, in pseudonym order.
    pub async fn subjects_with(&self, dataset: &str) -> Result<Vec<String>, Error> {
        let mut subjects = self.backend.subjects_with(dataset.to_owned()).await?;
        subjects.sort_unstable();
        Ok(subjects)
    }

    /// The subjects homed here with a record in `dataset` whose public
    /// fields hold every `(field, value)` of `equal`, in pseudonym order.
    ///
    /// Public fields are stored in clear, so this opens nothing; a field
    /// that is not public is refused, as matching it would mean decrypting
    /// before any access is logged. Values are stored as the strings events
    /// carry, so a number or boolean matches the string of its canonical
    /// JSON form (`4.2` matches `"4.2"`, `42` matches `"42"`, `true` matches
    /// `"true"`); any other JSON type is refused, naming the field.
    pub async fn subjects_where(
        &self,
        dataset: &str,
        equal: &[(String, serde_json::Value)],
    ) -> Result<Vec<String>, Error> {
        // Names the catalog does not know are the caller's text: not repeated.
        let ds = self
            .catalog
            .datasets
            .get(dataset)
            .ok_or_else(|| Error::Rejected("unknown dataset (not in the catalog)".into()))?;
        let mut wanted = Vec::with_capacity(equal.len());
        for (field, value) in equal {
            match ds.fields.get(field) {
                None => {
                    return Err(Error::Rejected(format!(
                        "a field named for {dataset} is not in the catalog"
                    )));
                }
                Some(f) if f.level != Level::Public => {
                    return Err(Error::Rejected(format!(
                        "{dataset}.{field} is {}, not public: only public fields, stored in clear, can select subjects",
                        f.level.as_str()
                    )));
                }
                Some(_) => {}
            }
            let text = match value {
                serde_json::Value::String(s) => s.clone(),
                serde_json::Value::Number(n) => n.to_string(),
                serde_json::Value::Bool(b) => b.to_string(),
                _ => {
                    return Err(Error::Rejected(format!(
                        "{dataset}.{field}: the value must be a string, number or boolean"
                    )));
                }
            };
            wanted.push((field.as_str(), text));
        }
        let mut subjects = BTreeSet::new();
        for (subject, public) in self.backend.public_fields(dataset.to_owned()).await? {
            let fields: BTreeMap<String, String> = serde_json::from_str(&public).map_err(|_| {
                Error::Backend(format!(
                    "the public fields of a {dataset} record are not a JSON object of strings"
                ))
            })?;
            if wanted
                .iter()
                .all(|(f, v)| fields.get(*f).is_some_and(|have| have == v))
            {
                subjects.insert(subject);
            }
        }
        Ok(subjects.into_iter().collect())
    }

    /// The log entries that touched `subject`, in log order, each with the
    /// subject's opening for a salted entry.
    pub async fn accesses(
        &self,
        subject: &str,
    ) -> Result<Vec<(u64, Option<entry::Opening>)>, Error> {
        let mut all = self.accesses_below(subject, u64::MAX, usize::MAX).await?;
        all.reverse();
        Ok(all)
    }

    /// A page of the log entries that touched `subject`: those below index
    /// `below`, newest first, at most `limit`, each with the subject's
    /// opening for a salted entry. Read from the index's order, so a page
    /// costs the same however many accesses a subject has.
    pub async fn accesses_below(
        &self,
        subject: &str,
        below: u64,
        limit: usize,
    ) -> Result<Vec<(u64, Option<entry::Opening>)>, Error> {
        Ok(self
            .backend
            .accesses(subject.to_owned(), below, limit)
            .await?
            .into_iter()
            .map(|(i, salt)| {
                let opening = salt.map(|salt| entry::Opening {
                    subject: subject.to_owned(),
                    salt,
                });
                (i, opening)
            })
            .collect())
    }

    /// The salted subject set of log entry `log_index`, rebuilt from the
    /// leaves noted with it.
    pub async fn subject_set_at(&self, log_index: u64) -> Result<entry::SubjectSet, Error> {
        let leaves = self.backend.leaves_at(log_index).await?;
        Ok(entry::SubjectSet::from_leaves(
            leaves.into_iter().map(tlog::Hash).collect(),
        ))
    }

    /// Crypto-shreds a subject: destroys its data key (durably, first), then
    /// deletes its records and its openings of the log's salted
    /// commitments (which then link to no one). Returns whether the
    /// subject existed.
    pub async fn erase(&self, subject: &str) -> Result<bool, Error> {
        let _writer = self.writer.lock().await;
        self.backend.erase(subject.to_owned()).await
    }

    /// How many data keys are not yet wrapped by the current KEK.
    pub async fn keys_to_rewrap(&self) -> Result<u64, Error> {
        self.backend
            .count_keys_not_under(KeyTable::DataKeys, self.keys.current_kek_id())
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
                .keys_not_under(KeyTable::DataKeys, current.clone(), page.max(1))
                .await?;
            if batch.is_empty() {
                return Ok(done);
            }
            let mut updates = Vec::with_capacity(batch.len());
            for (sid, old) in batch {
                let dek = self.keys.unwrap(&old, &slot_context(sid))?;
                let new = self.keys.wrap(&dek, &slot_context(sid))?;
                updates.push((sid, old, new));
            }
            let n = updates.len() as u64;
            self.backend
                .replace_keys(KeyTable::DataKeys, updates)
                .await?;
            done += n;
            progress(done);
        }
    }

    /// How many data keys the keyring holds (subjects' and spare ones):
    /// none once the store is wholly under a custodian.
    pub async fn data_keys_left(&self) -> Result<u64, Error> {
        // No key is wrapped by a KEK with an empty id: this counts them all.
        self.backend
            .count_keys_not_under(KeyTable::DataKeys, String::new())
            .await
    }

    /// Moves a store from the key file to the custodian it seals for
    /// ([`Store::sealing_to`]): every record still sealed under its
    /// subject's data key is opened with it and sealed anew under a record
    /// key of a fresh batch secret sealed to the custodian, then the data
    /// keys are destroyed — the key file then opens nothing. `page` data
    /// keys at a time: the page's records are resealed in one transaction
    /// (each only if unchanged since it was read), then its keys dropped,
    /// so it is safe to stop at any point and run again. A record whose
    /// subject's key is gone already (erased, restored from a backup) stays
    /// as it is: nothing can open it. Calls `progress` with the data keys
    /// dropped so far; returns (keys dropped, records resealed).
    pub async fn move_under_custody(
        &self,
        page: usize,
        mut progress: impl FnMut(u64),
    ) -> Result<(u64, u64), Error> {
        let custody = self.custody.as_ref().ok_or_else(|| Error::Keys {
            path: "custodian".into(),
            why: "the store seals for no custodian".into(),
        })?;
        let (mut dropped, mut resealed) = (0, 0);
        loop {
            let _writer = self.writer.lock().await;
            let wrapped = self
                .backend
                .keys_not_under(KeyTable::DataKeys, String::new(), page.max(1))
                .await?;
            if wrapped.is_empty() {
                return Ok((dropped, resealed));
            }
            let slots: Vec<u64> = wrapped.iter().map(|(sid, _)| *sid).collect();
            let subjects = self.backend.records_of(slots.clone()).await?;
            let legacy = |r: &SealedRecord| custody::batch_of(&r.sealed).is_none();
            if subjects.iter().any(|(_, _, rows)| rows.iter().any(legacy)) {
                let mut deks = HashMap::with_capacity(wrapped.len());
                self.unwrap_into(wrapped, &mut deks)?;
                let (batch, secret) = self.new_batch(custody).await?;
                let mut nonces = Nonces::new()?;
                let mut aad = Vec::with_capacity(128);
                let mut updates = Vec::new();
                for (sid, subject, rows) in subjects {
                    let dek = deks.get(&sid).ok_or(Error::UnknownSubject)?;
                    for r in rows.into_iter().filter(legacy) {
                        let what = format!("{} record", r.dataset);
                        record_aad(&mut aad, sid, &r.dataset, &r.record_id);
                        let plain = dek.open(&aad, &r.sealed, &what)?;
                        let key = SealingKey::new(&secret.record_key(&subject, &r.dataset).0);
                        let new = custody::mark(batch, key.seal(&mut nonces, &aad, &plain)?);
                        updates.push(backend::Resealed {
                            sid,
                            dataset: r.dataset,
                            record_id: r.record_id,
                            old: r.sealed,
                            new,
                        });
                    }
                }
                resealed += self.backend.reseal(updates).await?;
            }
            dropped += slots.len() as u64;
            self.backend.drop_keys(slots).await?;
            progress(dropped);
        }
    }

    /// How many batch secrets are not sealed to custodian key `key_id`.
    pub async fn batch_keys_to_rewrap(&self, key_id: &str) -> Result<u64, Error> {
        self.backend
            .count_keys_not_under(KeyTable::BatchKeys, key_id.to_owned())
            .await
    }

    /// Has every batch secret not sealed to custodian key `key_id` sealed
    /// to it anew by `rewrap` (the custodian: the secrets never leave it),
    /// `page` at a time, each page one transaction; a page whose answer is
    /// not all under `key_id` is refused, changing nothing. Safe to stop
    /// and run again. Calls `progress` with the running count; returns
    /// the total.
    pub async fn rewrap_batch_keys<F, Fut>(
        &self,
        key_id: &str,
        page: usize,
        mut rewrap: F,
        mut progress: impl FnMut(u64),
    ) -> Result<u64, Error>
    where
        F: FnMut(Vec<::custody::WrappedSecret>) -> Fut,
        Fut: std::future::Future<Output = Result<Vec<::custody::WrappedSecret>, Error>>,
    {
        let mut done = 0;
        loop {
            let batch = self
                .backend
                .keys_not_under(KeyTable::BatchKeys, key_id.to_owned(), page.max(1))
                .await?;
            if batch.is_empty() {
                return Ok(done);
            }
            let old: Vec<::custody::WrappedSecret> = batch
                .iter()
                .map(|(id, w)| custody::parse_wrapped(*id, &w.bytes))
                .collect::<Result<_, _>>()?;
            let new = rewrap(old).await?;
            if new.len() != batch.len() || new.iter().any(|w| w.key_id() != key_id) {
                return Err(Error::Keys {
                    path: "custodian".into(),
                    why: format!(
                        "the rewrapped secrets are not all under key {key_id}: is it the custodian's current key?"
                    ),
                });
            }
            let updates: Vec<_> = batch
                .into_iter()
                .zip(new)
                .map(|((id, old), new)| {
                    let bytes = new.to_bytes();
                    (
                        id,
                        old,
                        keys::WrappedKey {
                            kek_id: key_id.to_owned(),
                            bytes,
                        },
                    )
                })
                .collect();
            let n = updates.len() as u64;
            self.backend
                .replace_keys(KeyTable::BatchKeys, updates)
                .await?;
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

fn encoding(e: serde_json::Error) -> Error {
    Error::Backend(format!("encoding a record: {e}"))
}

/// Scratch space reused across a batch's records.
#[derive(Default)]
struct SealBuffers {
    aad: Vec<u8>,
    plain: Vec<u8>,
}

/// An event as stored: public fields in clear, the others sealed together
/// under the subject's key, bound to the record's place.
fn seal_record(
    e: &Event,
    ds: &Dataset,
    sid: u64,
    key: &SealingKey,
    nonces: &mut Nonces,
    buf: &mut SealBuffers,
) -> Result<SealedRecord, Error> {
    // A field the catalog does not know counts as personal (validation
    // has refused such events already).
    let public = |name: &String| {
        ds.fields
            .get(name)
            .is_some_and(|f| f.level == Level::Public)
    };
    record_aad(&mut buf.aad, sid, &e.dataset, &e.record_id);
    buf.plain.clear();
    json_object(&mut buf.plain, e.fields.iter().filter(|(n, _)| !public(n)))?;
    let mut public_json = Vec::new();
    json_object(&mut public_json, e.fields.iter().filter(|(n, _)| public(n)))?;
    Ok(SealedRecord {
        sid,
        dataset: e.dataset.clone(),
        record_id: e.record_id.clone(),
        time: e.time,
        public: String::from_utf8(public_json)
            .map_err(|_| Error::Backend("encoding a record: not UTF-8".into()))?,
        sealed: key.seal(nonces, &buf.aad, &buf.plain)?,
    })
}

/// Writes `fields` (in the order given) into `out` as a JSON object.
fn json_object<'a>(
    out: &mut Vec<u8>,
    fields: impl Iterator<Item = (&'a String, &'a String)>,
) -> Result<(), Error> {
    use serde::Serializer as _;
    (&mut serde_json::Serializer::new(out))
        .collect_map(fields)
        .map_err(encoding)
}

fn open_record(key: &SealingKey, aad: &mut Vec<u8>, r: SealedRecord) -> Result<Record, Error> {
    let what = || format!("{} record", r.dataset);
    record_aad(aad, r.sid, &r.dataset, &r.record_id);
    let plain = key.open(aad, &r.sealed, &what())?;
    let mut fields: BTreeMap<String, String> =
        serde_json::from_slice(&plain).map_err(|_| Error::Decrypt(what()))?;
    let public: BTreeMap<String, String> =
        serde_json::from_str(&r.public).map_err(|_| Error::Decrypt(what()))?;
    fields.extend(public);
    Ok(Record {
        dataset: r.dataset,
        record_id: r.record_id,
        time: r.time,
        fields,
    })
}
