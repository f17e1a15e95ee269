//! The backend for scale: PostgreSQL through `tokio-postgres`, in plain
//! SQL (no extensions, no stored procedures), so it also runs on
//! PostgreSQL-compatible distributed databases.
//!
//! The keyring and the records are two connections that may point at two
//! databases — and in production should, so that a backup of the records
//! never holds a data key. A batch of records is one transaction of a few
//! statements whatever its size: rows travel as arrays and are expanded
//! with `UNNEST`.

use std::collections::HashSet;

use tokio::sync::Mutex;
use tokio_postgres::{Client, Config, NoTls};

use crate::Error;
use crate::backend::{
    AccessNotes, AccessRow, Backend, KeyTable, RecordStream, Resealed, SealedRecord,
    SubjectRecords, hash32, int, uint,
};
use crate::keys::WrappedKey;

/// Schema migrations of the records database, applied in order and
/// recorded in `residency_records_schema`.
const RECORDS_MIGRATIONS: &[&str] = &[
    "
CREATE TABLE subjects (
    sid     BIGINT PRIMARY KEY,
    subject TEXT NOT NULL UNIQUE,
    home    TEXT NOT NULL
);
CREATE TABLE records (
    sid       BIGINT NOT NULL,
    dataset   TEXT NOT NULL,
    record_id TEXT NOT NULL,
    time      BIGINT NOT NULL,
    public    TEXT NOT NULL,
    sealed    BYTEA NOT NULL,
    PRIMARY KEY (sid, dataset, record_id)
);
CREATE INDEX records_by_age ON records (dataset, time);
CREATE TABLE access_index (
    subject   TEXT NOT NULL,
    log_index BIGINT NOT NULL,
    PRIMARY KEY (subject, log_index)
);
CREATE TABLE meta (
    name  TEXT PRIMARY KEY,
    value BIGINT NOT NULL
);
INSERT INTO meta (name, value) VALUES ('next_sid', 0);
",
    // 2: the subjects of a log entry, for proofs that a subject is in a set.
    "CREATE INDEX access_by_entry ON access_index (log_index);",
    // 3: salted subject sets: each subject's salt per entry, and each
    // entry's leaves (erasure deletes the salts; the leaves link to no one).
    "ALTER TABLE access_index ADD COLUMN salt BYTEA;
     CREATE TABLE entry_leaves (
         log_index BIGINT NOT NULL,
         leaf      BYTEA NOT NULL,
         PRIMARY KEY (log_index, leaf)
     );",
    // 4: each subject's country and user id, sealed (AES-SIV under a key
    // derived from the app's notification secret), when the region
    // notifies the app; erasure deletes it.
    "ALTER TABLE subjects ADD COLUMN user_ref TEXT;",
];

/// Schema migrations of the keyring database, recorded in
/// `residency_keyring_schema`.
const KEYRING_MIGRATIONS: &[&str] = &[
    "
CREATE TABLE deks (
    sid     BIGINT PRIMARY KEY,
    kek_id  TEXT NOT NULL,
    wrapped BYTEA NOT NULL
);
",
    // 2: batch secrets sealed to a key custodian (`kek_id` is its key's id).
    "CREATE TABLE batch_keys (
         id      BIGSERIAL PRIMARY KEY,
         kek_id  TEXT NOT NULL,
         wrapped BYTEA NOT NULL
     );",
];

fn ints(ns: &[u64]) -> Result<Vec<i64>, Error> {
    ns.iter().map(|n| int(*n)).collect()
}

async fn connect(config: &Config) -> Result<Client, Error> {
    let (client, connection) = config.connect(NoTls).await?;
    tokio::spawn(async move {
        // Ends when the client is dropped; a broken connection surfaces as
        // an error on the client's next call.
        let _ = connection.await;
    });
    Ok(client)
}

/// Brings `table`'s schema to the latest of `migrations`, in one
/// transaction under an advisory lock: processes starting together on one
/// database (a region's gateways) migrate it once, one after another.
async fn migrate(client: &mut Client, table: &str, migrations: &[&str]) -> Result<(), Error> {
    let tx = client.transaction().await?;
    tx.batch_execute(&format!(
        "SELECT pg_advisory_xact_lock(hashtext('residency/{table}'));
         CREATE TABLE IF NOT EXISTS {table} (version INTEGER PRIMARY KEY)"
    ))
    .await?;
    let row = tx
        .query_one(
            &format!("SELECT COALESCE(MAX(version), 0) FROM {table}"),
            &[],
        )
        .await?;
    let version = usize::try_from(row.get::<_, i32>(0)).unwrap_or(0);
    if version > migrations.len() {
        return Err(Error::Schema(format!(
            "{table} is at version {version}; this build knows up to {}",
            migrations.len()
        )));
    }
    for (i, step) in migrations.iter().enumerate().skip(version) {
        tx.batch_execute(step).await?;
        let v = i32::try_from(i + 1).unwrap_or(i32::MAX);
        tx.execute(&format!("INSERT INTO {table} (version) VALUES ($1)"), &[&v])
            .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// The PostgreSQL backend of one region's store.
pub struct PgBackend {
    /// Writes to the records database, one transaction at a time.
    writer: Mutex<Client>,
    /// Reads of the records database (queries pipeline on one connection).
    reader: Client,
    keyring: Mutex<Client>,
}

impl std::fmt::Debug for PgBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PgBackend")
    }
}

fn parse_url(what: &str, url: &str) -> Result<Config, Error> {
    url.parse::<Config>()
        .map_err(|e| Error::Schema(format!("{what} connection string: {e}")))
}

impl PgBackend {
    /// Connects to the records and keyring databases (connection strings in
    /// either the `postgresql://` or the `key=value` form) and migrates them.
    pub async fn connect(records: &str, keyring: &str) -> Result<Self, Error> {
        Self::with_configs(
            &parse_url("records", records)?,
            &parse_url("keyring", keyring)?,
        )
        .await
    }

    /// Checks a connection string without connecting.
    pub fn check_url(url: &str) -> Result<(), Error> {
        parse_url("PostgreSQL", url).map(drop)
    }

    /// Like [`PgBackend::connect`], from parsed configurations.
    pub async fn with_configs(records: &Config, keyring: &Config) -> Result<Self, Error> {
        let mut writer = connect(records).await?;
        migrate(&mut writer, "residency_records_schema", RECORDS_MIGRATIONS).await?;
        let mut keyring = connect(keyring).await?;
        migrate(&mut keyring, "residency_keyring_schema", KEYRING_MIGRATIONS).await?;
        Ok(PgBackend {
            writer: Mutex::new(writer),
            reader: connect(records).await?,
            keyring: Mutex::new(keyring),
        })
    }
}

fn wrapped(row: &tokio_postgres::Row) -> Result<(u64, WrappedKey), Error> {
    Ok((
        uint(row.get(0))?,
        WrappedKey {
            kek_id: row.get(1),
            bytes: row.get(2),
        },
    ))
}

impl Backend for PgBackend {
    async fn subject_ids(&self, subjects: Vec<String>) -> Result<Vec<(String, u64)>, Error> {
        self.reader
            .query(
                "SELECT subject, sid FROM subjects WHERE subject = ANY($1)",
                &[&subjects],
            )
            .await?
            .iter()
            .map(|r| Ok((r.get(0), uint(r.get(1))?)))
            .collect()
    }

    fn shared(&self) -> bool {
        true
    }

    async fn next_sid(&self) -> Result<u64, Error> {
        let row = self
            .writer
            .lock()
            .await
            .query_one("SELECT value FROM meta WHERE name = 'next_sid'", &[])
            .await?;
        uint(row.get(0))
    }

    async fn reserve_sids(&self, n: u64) -> Result<u64, Error> {
        let row = self
            .writer
            .lock()
            .await
            .query_one(
                "UPDATE meta SET value = value + $1 WHERE name = 'next_sid' RETURNING value - $1",
                &[&int(n)?],
            )
            .await?;
        uint(row.get(0))
    }

    async fn put_records(
        &self,
        home: String,
        new_subjects: Vec<(String, u64, Option<String>)>,
        next_sid: u64,
        mut records: RecordStream,
    ) -> Result<(), Error> {
        let mut names = Vec::with_capacity(new_subjects.len());
        let mut sids = Vec::with_capacity(new_subjects.len());
        let mut user_refs = Vec::with_capacity(new_subjects.len());
        for (name, sid, user_ref) in new_subjects {
            names.push(name);
            sids.push(sid);
            user_refs.push(user_ref);
        }
        let mut db = self.writer.lock().await;
        let tx = db.transaction().await?;
        tx.execute(
            "INSERT INTO subjects (sid, subject, home, user_ref)
             SELECT s.sid, s.subject, $3, s.user_ref
             FROM UNNEST($1::bigint[], $2::text[], $4::text[]) AS s (sid, subject, user_ref)",
            &[&ints(&sids)?, &names, &home, &user_refs],
        )
        .await?;
        tx.execute(
            "UPDATE meta SET value = GREATEST(value, $1) WHERE name = 'next_sid'",
            &[&int(next_sid)?],
        )
        .await?;
        let insert = tx
            .prepare(
                "INSERT INTO records (sid, dataset, record_id, time, public, sealed)
                 SELECT * FROM UNNEST($1::bigint[], $2::text[], $3::text[], $4::bigint[], $5::text[], $6::bytea[])
                 ON CONFLICT (sid, dataset, record_id)
                 DO UPDATE SET time = EXCLUDED.time, public = EXCLUDED.public, sealed = EXCLUDED.sealed",
            )
            .await?;
        while let Some(chunk) = records.next().await {
            // One statement cannot touch a row twice: of two records with
            // the same key, the later wins (across chunks, the later
            // statement wins).
            let mut seen = HashSet::with_capacity(chunk.len());
            let mut latest: Vec<&SealedRecord> = chunk
                .iter()
                .rev()
                .filter(|r| seen.insert((r.sid, r.dataset.as_str(), r.record_id.as_str())))
                .collect();
            latest.reverse();
            let n = latest.len();
            let (mut sid, mut dataset, mut record_id, mut time, mut public, mut sealed) = (
                Vec::with_capacity(n),
                Vec::with_capacity(n),
                Vec::with_capacity(n),
                Vec::with_capacity(n),
                Vec::with_capacity(n),
                Vec::with_capacity(n),
            );
            for r in latest {
                sid.push(int(r.sid)?);
                dataset.push(r.dataset.as_str());
                record_id.push(r.record_id.as_str());
                time.push(r.time);
                public.push(r.public.as_str());
                sealed.push(r.sealed.as_slice());
            }
            tx.execute(
                &insert,
                &[&sid, &dataset, &record_id, &time, &public, &sealed],
            )
            .await?;
        }
        records.complete()?;
        tx.commit().await?;
        Ok(())
    }

    async fn subject_records(
        &self,
        subject: String,
        datasets: Vec<String>,
    ) -> Result<Option<SubjectRecords>, Error> {
        // One statement: the entry and its records agree. A subject with
        // no records comes back as one row of NULLs beside its entry.
        let rows = self
            .reader
            .query(
                "SELECT s.sid, s.home, r.dataset, r.record_id, r.time, r.public, r.sealed
                 FROM subjects s
                 LEFT JOIN records r ON r.sid = s.sid AND r.dataset = ANY($2)
                 WHERE s.subject = $1",
                &[&subject, &datasets],
            )
            .await?;
        let Some(first) = rows.first() else {
            return Ok(None);
        };
        let sid = uint(first.get(0))?;
        let home: String = first.get(1);
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            let Some(dataset) = r.get::<_, Option<String>>(2) else {
                continue;
            };
            out.push(SealedRecord {
                sid,
                dataset,
                record_id: r.get(3),
                time: r.get(4),
                public: r.get(5),
                sealed: r.get(6),
            });
        }
        Ok(Some(SubjectRecords {
            sid,
            home,
            rows: out,
        }))
    }

    async fn home(&self, subject: String) -> Result<Option<String>, Error> {
        let row = self
            .reader
            .query_opt("SELECT home FROM subjects WHERE subject = $1", &[&subject])
            .await?;
        Ok(row.map(|r| r.get(0)))
    }

    async fn note_access(&self, notes: AccessNotes) -> Result<(), Error> {
        let mut subjects = Vec::with_capacity(notes.touched.len());
        let mut indices = Vec::with_capacity(notes.touched.len());
        let mut salts: Vec<Option<Vec<u8>>> = Vec::with_capacity(notes.touched.len());
        for (s, i, salt) in notes.touched {
            subjects.push(s);
            indices.push(int(i)?);
            salts.push(salt.map(|s| s.to_vec()));
        }
        let mut leaf_indices = Vec::with_capacity(notes.leaves.len());
        let mut leaves = Vec::with_capacity(notes.leaves.len());
        for (i, leaf) in notes.leaves {
            leaf_indices.push(int(i)?);
            leaves.push(leaf.to_vec());
        }
        let mut db = self.writer.lock().await;
        let tx = db.transaction().await?;
        // The server has the rows once this commits; its WAL writer
        // flushes them within a few hundred milliseconds, off our path.
        tx.batch_execute("SET LOCAL synchronous_commit TO OFF")
            .await?;
        tx.execute(
            "INSERT INTO access_index (subject, log_index, salt) \
             SELECT * FROM UNNEST($1::text[], $2::bigint[], $3::bytea[]) ON CONFLICT DO NOTHING",
            &[&subjects, &indices, &salts],
        )
        .await?;
        tx.execute(
            "INSERT INTO entry_leaves (log_index, leaf) \
             SELECT * FROM UNNEST($1::bigint[], $2::bytea[]) ON CONFLICT DO NOTHING",
            &[&leaf_indices, &leaves],
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn leaves_at(&self, log_index: u64) -> Result<Vec<[u8; 32]>, Error> {
        self.reader
            .query(
                "SELECT leaf FROM entry_leaves WHERE log_index = $1",
                &[&int(log_index)?],
            )
            .await?
            .iter()
            .map(|r| hash32(r.get::<_, &[u8]>(0)))
            .collect()
    }

    async fn subjects_at(&self, log_index: u64) -> Result<Vec<String>, Error> {
        let rows = self
            .reader
            .query(
                "SELECT subject FROM access_index WHERE log_index = $1",
                &[&int(log_index)?],
            )
            .await?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    async fn subjects_with(&self, dataset: String) -> Result<Vec<String>, Error> {
        let rows = self
            .reader
            .query(
                "SELECT s.subject FROM subjects s WHERE EXISTS \
                 (SELECT 1 FROM records r WHERE r.sid = s.sid AND r.dataset = $1)",
                &[&dataset],
            )
            .await?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    async fn public_fields(&self, dataset: String) -> Result<Vec<(String, String)>, Error> {
        let rows = self
            .reader
            .query(
                "SELECT s.subject, r.public FROM records r JOIN subjects s ON s.sid = r.sid \
                 WHERE r.dataset = $1",
                &[&dataset],
            )
            .await?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    async fn accesses(
        &self,
        subject: String,
        below: u64,
        limit: usize,
    ) -> Result<Vec<AccessRow>, Error> {
        let below = i64::try_from(below).unwrap_or(i64::MAX);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.reader
            .query(
                "SELECT log_index, salt FROM access_index WHERE subject = $1 AND log_index < $2
                 ORDER BY log_index DESC LIMIT $3",
                &[&subject, &below, &limit],
            )
            .await?
            .iter()
            .map(|r| {
                let salt: Option<&[u8]> = r.get(1);
                Ok((uint(r.get(0))?, salt.map(hash32).transpose()?))
            })
            .collect()
    }

    async fn sweep(&self, dataset: String, before: i64) -> Result<u64, Error> {
        Ok(self
            .writer
            .lock()
            .await
            .execute(
                "DELETE FROM records WHERE dataset = $1 AND time < $2",
                &[&dataset, &before],
            )
            .await?)
    }

    async fn key_slots_end(&self) -> Result<u64, Error> {
        let row = self
            .keyring
            .lock()
            .await
            .query_one("SELECT COALESCE(MAX(sid) + 1, 0) FROM deks", &[])
            .await?;
        uint(row.get(0))
    }

    async fn add_keys(&self, keys: Vec<(u64, WrappedKey)>) -> Result<(), Error> {
        let mut sids = Vec::with_capacity(keys.len());
        let mut kek_ids = Vec::with_capacity(keys.len());
        let mut bytes = Vec::with_capacity(keys.len());
        for (sid, k) in keys {
            sids.push(int(sid)?);
            kek_ids.push(k.kek_id);
            bytes.push(k.bytes);
        }
        self.keyring
            .lock()
            .await
            .execute(
                "INSERT INTO deks (sid, kek_id, wrapped)
                 SELECT * FROM UNNEST($1::bigint[], $2::text[], $3::bytea[])",
                &[&sids, &kek_ids, &bytes],
            )
            .await?;
        Ok(())
    }

    async fn add_batch_key(&self, key: WrappedKey) -> Result<u64, Error> {
        let row = self
            .keyring
            .lock()
            .await
            .query_one(
                "INSERT INTO batch_keys (kek_id, wrapped) VALUES ($1, $2) RETURNING id",
                &[&key.kek_id, &key.bytes],
            )
            .await?;
        uint(row.get(0))
    }

    async fn batch_keys(&self, ids: Vec<u64>) -> Result<Vec<(u64, WrappedKey)>, Error> {
        self.keyring
            .lock()
            .await
            .query(
                "SELECT id, kek_id, wrapped FROM batch_keys WHERE id = ANY($1)",
                &[&ints(&ids)?],
            )
            .await?
            .iter()
            .map(wrapped)
            .collect()
    }

    async fn keys_of(&self, slots: Vec<u64>) -> Result<Vec<(u64, WrappedKey)>, Error> {
        self.keyring
            .lock()
            .await
            .query(
                "SELECT sid, kek_id, wrapped FROM deks WHERE sid = ANY($1)",
                &[&ints(&slots)?],
            )
            .await?
            .iter()
            .map(wrapped)
            .collect()
    }

    async fn keys_not_under(
        &self,
        table: KeyTable,
        kek_id: String,
        limit: usize,
    ) -> Result<Vec<(u64, WrappedKey)>, Error> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let (t, id) = table.sql();
        self.keyring
            .lock()
            .await
            .query(
                &format!(
                    "SELECT {id}, kek_id, wrapped FROM {t} WHERE kek_id <> $1 ORDER BY {id} LIMIT $2"
                ),
                &[&kek_id, &limit],
            )
            .await?
            .iter()
            .map(wrapped)
            .collect()
    }

    async fn count_keys_not_under(&self, table: KeyTable, kek_id: String) -> Result<u64, Error> {
        let (t, _) = table.sql();
        let row = self
            .keyring
            .lock()
            .await
            .query_one(
                &format!("SELECT count(*) FROM {t} WHERE kek_id <> $1"),
                &[&kek_id],
            )
            .await?;
        uint(row.get(0))
    }

    async fn replace_keys(
        &self,
        table: KeyTable,
        updates: Vec<(u64, WrappedKey, WrappedKey)>,
    ) -> Result<u64, Error> {
        let (t, id) = table.sql();
        let mut db = self.keyring.lock().await;
        let tx = db.transaction().await?;
        let stmt = tx
            .prepare(&format!(
                "UPDATE {t} SET kek_id = $1, wrapped = $2 WHERE {id} = $3 AND kek_id = $4 AND wrapped = $5"
            ))
            .await?;
        let mut n = 0;
        for (sid, old, new) in &updates {
            n += tx
                .execute(
                    &stmt,
                    &[
                        &new.kek_id,
                        &new.bytes,
                        &int(*sid)?,
                        &old.kek_id,
                        &old.bytes,
                    ],
                )
                .await?;
        }
        tx.commit().await?;
        Ok(n)
    }

    async fn records_of(
        &self,
        sids: Vec<u64>,
    ) -> Result<Vec<(u64, String, Vec<SealedRecord>)>, Error> {
        let ids = sids
            .iter()
            .map(|s| int(*s))
            .collect::<Result<Vec<_>, _>>()?;
        // One statement: the entries and their records agree. A subject
        // with no records comes back as one row of NULLs beside its entry.
        let rows = self
            .reader
            .query(
                "SELECT s.sid, s.subject, r.dataset, r.record_id, r.time, r.public, r.sealed
                 FROM subjects s LEFT JOIN records r ON r.sid = s.sid
                 WHERE s.sid = ANY($1) ORDER BY s.sid",
                &[&ids],
            )
            .await?;
        let mut out: Vec<(u64, String, Vec<SealedRecord>)> = Vec::new();
        for r in &rows {
            let sid = uint(r.get(0))?;
            if out.last().is_none_or(|(s, _, _)| *s != sid) {
                out.push((sid, r.get(1), Vec::new()));
            }
            let Some(dataset) = r.get::<_, Option<String>>(2) else {
                continue;
            };
            if let Some((_, _, records)) = out.last_mut() {
                records.push(SealedRecord {
                    sid,
                    dataset,
                    record_id: r.get(3),
                    time: r.get(4),
                    public: r.get(5),
                    sealed: r.get(6),
                });
            }
        }
        Ok(out)
    }

    async fn reseal(&self, updates: Vec<Resealed>) -> Result<u64, Error> {
        let mut db = self.writer.lock().await;
        let tx = db.transaction().await?;
        let stmt = tx
            .prepare(
                "UPDATE records SET sealed = $1
                 WHERE sid = $2 AND dataset = $3 AND record_id = $4 AND sealed = $5",
            )
            .await?;
        let mut n = 0;
        for u in &updates {
            n += tx
                .execute(
                    &stmt,
                    &[&u.new, &int(u.sid)?, &u.dataset, &u.record_id, &u.old],
                )
                .await?;
        }
        tx.commit().await?;
        Ok(n)
    }

    async fn drop_keys(&self, slots: Vec<u64>) -> Result<(), Error> {
        let ids = slots
            .iter()
            .map(|s| int(*s))
            .collect::<Result<Vec<_>, _>>()?;
        self.keyring
            .lock()
            .await
            .execute("DELETE FROM deks WHERE sid = ANY($1)", &[&ids])
            .await?;
        Ok(())
    }

    async fn user_refs(&self, subjects: Vec<String>) -> Result<Vec<(String, String)>, Error> {
        Ok(self
            .reader
            .query(
                "SELECT subject, user_ref FROM subjects
                 WHERE subject = ANY($1) AND user_ref IS NOT NULL",
                &[&subjects],
            )
            .await?
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect())
    }

    async fn counter(&self, name: &'static str) -> Result<u64, Error> {
        let row = self
            .reader
            .query_opt("SELECT value FROM meta WHERE name = $1", &[&name])
            .await?;
        row.map_or(Ok(0), |r| uint(r.get(0)))
    }

    async fn set_counter(&self, name: &'static str, value: u64) -> Result<(), Error> {
        self.writer
            .lock()
            .await
            .execute(
                "INSERT INTO meta (name, value) VALUES ($1, $2)
                 ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value",
                &[&name, &int(value)?],
            )
            .await?;
        Ok(())
    }

    async fn erase(&self, subject: String) -> Result<bool, Error> {
        let mut db = self.writer.lock().await;
        let Some(row) = db
            .query_opt("SELECT sid FROM subjects WHERE subject = $1", &[&subject])
            .await?
        else {
            return Ok(false);
        };
        let sid: i64 = row.get(0);
        // Autocommit: the key is gone, durably, before the records go.
        self.keyring
            .lock()
            .await
            .execute("DELETE FROM deks WHERE sid = $1", &[&sid])
            .await?;
        let tx = db.transaction().await?;
        tx.execute("DELETE FROM records WHERE sid = $1", &[&sid])
            .await?;
        tx.execute("DELETE FROM subjects WHERE sid = $1", &[&sid])
            .await?;
        // Without its salts, the log's commitments link to no one.
        tx.execute("DELETE FROM access_index WHERE subject = $1", &[&subject])
            .await?;
        tx.commit().await?;
        Ok(true)
    }
}
