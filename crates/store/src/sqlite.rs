//! The embedded store: SQLite (bundled), WAL mode, one writer that commits
//! each ingest batch as one transaction, concurrent readers.
//!
//! Two files: `records.sqlite` (subjects' records, personal values
//! encrypted) and `keyring.sqlite` (the subjects' wrapped data keys). Erasure
//! deletes the data key first, so a copy of the records taken before the
//! erasure no longer decrypts.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use policy::catalog::{Catalog, Level};
use pseudo::token::TokenKey;
use rusqlite::{Connection, OptionalExtension, params};

use crate::access::LoggedAccess;
use crate::keys::{self, KeyProvider, WrappedKey};
use crate::{Error, Event, Record};

/// Largest value accepted for one field.
pub const MAX_VALUE_LEN: usize = 64 * 1024;

const RECORDS_SCHEMA: &str = "
PRAGMA journal_mode = WAL;
PRAGMA synchronous = FULL;
CREATE TABLE IF NOT EXISTS records (
    subject   TEXT NOT NULL,
    dataset   TEXT NOT NULL,
    record_id TEXT NOT NULL,
    time      INTEGER NOT NULL,
    fields    TEXT NOT NULL,
    PRIMARY KEY (subject, dataset, record_id)
);
CREATE TABLE IF NOT EXISTS subjects (
    subject TEXT PRIMARY KEY,
    home    TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS access_index (
    subject   TEXT NOT NULL,
    log_index INTEGER NOT NULL,
    PRIMARY KEY (subject, log_index)
);
";

const KEYRING_SCHEMA: &str = "
PRAGMA journal_mode = WAL;
PRAGMA synchronous = FULL;
CREATE TABLE IF NOT EXISTS deks (
    subject TEXT PRIMARY KEY,
    kek_id  TEXT NOT NULL,
    wrapped BLOB NOT NULL
);
";

/// The SQLite store of one region.
pub struct SqliteStore {
    records: Mutex<Connection>,
    keyring: Mutex<Connection>,
    keys: Arc<dyn KeyProvider>,
    pseudonyms: TokenKey,
    catalog: Arc<Catalog>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SqliteStore")
    }
}

fn lock(m: &Mutex<Connection>) -> std::sync::MutexGuard<'_, Connection> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Associated data binding a field's ciphertext to its place.
fn field_aad(subject: &str, dataset: &str, record_id: &str, field: &str) -> Vec<u8> {
    format!("residency/field\0{subject}\0{dataset}\0{record_id}\0{field}").into_bytes()
}

impl SqliteStore {
    /// Opens (creating if needed) the store in `dir`.
    pub fn open(
        dir: &Path,
        catalog: Arc<Catalog>,
        keys: Arc<dyn KeyProvider>,
    ) -> Result<Self, Error> {
        let records = Connection::open(dir.join("records.sqlite"))?;
        records.execute_batch(RECORDS_SCHEMA)?;
        let keyring = Connection::open(dir.join("keyring.sqlite"))?;
        keyring.execute_batch(KEYRING_SCHEMA)?;
        let pseudonyms = TokenKey::new(1, keys.pseudonym_secret());
        Ok(SqliteStore {
            records: Mutex::new(records),
            keyring: Mutex::new(keyring),
            keys,
            pseudonyms,
            catalog,
        })
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

    fn dek(&self, keyring: &Connection, subject: &str) -> Result<Option<[u8; 64]>, Error> {
        let row: Option<(String, Vec<u8>)> = keyring
            .query_row(
                "SELECT kek_id, wrapped FROM deks WHERE subject = ?1",
                params![subject],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        row.map(|(kek_id, bytes)| {
            self.keys
                .unwrap(&WrappedKey { kek_id, bytes }, subject.as_bytes())
        })
        .transpose()
    }

    /// Stores a batch of events for subjects homed in `home`: all or nothing.
    /// Every event is checked against the catalog before anything is
    /// written; personal and protected values are encrypted under the
    /// subject's data key, made on first sight. Returns the subjects'
    /// pseudonyms in event order.
    pub fn ingest(&self, home: &str, events: &[Event]) -> Result<Vec<String>, Error> {
        for e in events {
            self.validate(e)?;
        }
        let keyring = lock(&self.keyring);
        let mut records = lock(&self.records);
        let subjects: Vec<String> = events
            .iter()
            .map(|e| self.subject_ref(&e.user_id))
            .collect();
        // New data keys are made durable before any record that needs them.
        let mut deks: BTreeMap<&str, keys::Sealer> = BTreeMap::new();
        let ktx = keyring.unchecked_transaction()?;
        for subject in &subjects {
            if deks.contains_key(subject.as_str()) {
                continue;
            }
            let dek = match self.dek(&ktx, subject)? {
                Some(d) => d,
                None => {
                    let d: [u8; 64] = keys::random()?;
                    let w = self.keys.wrap(&d, subject.as_bytes())?;
                    ktx.execute(
                        "INSERT INTO deks (subject, kek_id, wrapped) VALUES (?1, ?2, ?3)",
                        params![subject, w.kek_id, w.bytes],
                    )?;
                    d
                }
            };
            deks.insert(subject, keys::Sealer::new(&dek)?);
        }
        ktx.commit()?;
        let tx = records.transaction()?;
        let mut refs = Vec::with_capacity(events.len());
        {
            let mut insert = tx.prepare_cached(
                "INSERT OR REPLACE INTO records (subject, dataset, record_id, time, fields) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?;
            let mut home_stmt = tx
                .prepare_cached("INSERT OR IGNORE INTO subjects (subject, home) VALUES (?1, ?2)")?;
            for (e, subject) in events.iter().zip(&subjects) {
                let sealer = deks
                    .get_mut(subject.as_str())
                    .ok_or(Error::UnknownSubject)?;
                let ds =
                    self.catalog.datasets.get(&e.dataset).ok_or_else(|| {
                        Error::Rejected(format!("unknown dataset {:?}", e.dataset))
                    })?;
                let mut doc = serde_json::Map::new();
                for (name, value) in &e.fields {
                    let level = ds.fields.get(name).map_or(Level::Protected, |f| f.level);
                    let stored = if level == Level::Public {
                        serde_json::Value::String(format!("v:{value}"))
                    } else {
                        let ct = sealer.seal(
                            &field_aad(subject, &e.dataset, &e.record_id, name),
                            value.as_bytes(),
                        )?;
                        serde_json::Value::String(format!("e:{}", STANDARD.encode(ct)))
                    };
                    doc.insert(name.clone(), stored);
                }
                insert.execute(params![
                    subject,
                    e.dataset,
                    e.record_id,
                    e.time,
                    serde_json::Value::Object(doc).to_string()
                ])?;
                home_stmt.execute(params![subject, home])?;
                refs.push(subject.clone());
            }
        }
        tx.commit()?;
        Ok(refs)
    }

    /// A subject's records of `dataset`, decrypted — only with a logged
    /// access that names this subject and dataset.
    pub fn read(
        &self,
        access: &LoggedAccess,
        subject: &str,
        dataset: &str,
    ) -> Result<Vec<Record>, Error> {
        access.check(subject, dataset)?;
        let dek = {
            let keyring = lock(&self.keyring);
            self.dek(&keyring, subject)?.ok_or(Error::UnknownSubject)?
        };
        let records = lock(&self.records);
        let mut stmt = records.prepare_cached(
            "SELECT record_id, time, fields FROM records WHERE subject = ?1 AND dataset = ?2 ORDER BY time, record_id",
        )?;
        let rows = stmt.query_map(params![subject, dataset], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, String>(2)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (record_id, time, doc) = row?;
            out.push(decrypt_record(
                &dek, subject, dataset, record_id, time, &doc,
            )?);
        }
        Ok(out)
    }

    /// Records that log entry `log_index` touched `subject` (for "who
    /// accessed my data").
    pub fn note_access(&self, subject: &str, log_index: u64) -> Result<(), Error> {
        let index = i64::try_from(log_index)
            .map_err(|_| Error::Rejected("log index out of range".into()))?;
        lock(&self.records).execute(
            "INSERT OR IGNORE INTO access_index (subject, log_index) VALUES (?1, ?2)",
            params![subject, index],
        )?;
        Ok(())
    }

    /// The log entries that touched `subject`, in log order.
    pub fn accesses(&self, subject: &str) -> Result<Vec<u64>, Error> {
        let records = lock(&self.records);
        let mut stmt = records.prepare_cached(
            "SELECT log_index FROM access_index WHERE subject = ?1 ORDER BY log_index",
        )?;
        let rows = stmt.query_map(params![subject], |r| r.get::<_, i64>(0))?;
        rows.map(|r| Ok(u64::try_from(r?).unwrap_or(0))).collect()
    }

    /// Crypto-shreds a subject: destroys its data key (durably, first), then
    /// deletes its records. Returns whether the subject existed.
    pub fn erase(&self, subject: &str) -> Result<bool, Error> {
        let existed = lock(&self.keyring)
            .execute("DELETE FROM deks WHERE subject = ?1", params![subject])?
            > 0;
        let records = lock(&self.records);
        records.execute("DELETE FROM records WHERE subject = ?1", params![subject])?;
        records.execute("DELETE FROM subjects WHERE subject = ?1", params![subject])?;
        Ok(existed)
    }

    /// Forces the WAL into the database files (for tests that scan them).
    pub fn checkpoint(&self) -> Result<(), Error> {
        lock(&self.records).execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")?;
        lock(&self.keyring).execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")?;
        Ok(())
    }
}

fn decrypt_record(
    dek: &[u8; 64],
    subject: &str,
    dataset: &str,
    record_id: String,
    time: i64,
    doc: &str,
) -> Result<Record, Error> {
    let what = || format!("{dataset} record");
    let map: BTreeMap<String, String> =
        serde_json::from_str(doc).map_err(|_| Error::Decrypt(what()))?;
    let mut fields = BTreeMap::new();
    for (name, stored) in map {
        let value = if let Some(v) = stored.strip_prefix("v:") {
            v.to_owned()
        } else if let Some(b64) = stored.strip_prefix("e:") {
            let ct = STANDARD
                .decode(b64)
                .map_err(|_| Error::Decrypt(format!("{dataset}.{name}")))?;
            let pt = keys::open(
                dek,
                &field_aad(subject, dataset, &record_id, &name),
                &ct,
                &format!("{dataset}.{name}"),
            )?;
            String::from_utf8(pt).map_err(|_| Error::Decrypt(format!("{dataset}.{name}")))?
        } else {
            return Err(Error::Decrypt(format!("{dataset}.{name}")));
        };
        fields.insert(name, value);
    }
    Ok(Record {
        dataset: dataset.to_owned(),
        record_id,
        time,
        fields,
    })
}
