//! The backend for scale: PostgreSQL through `tokio-postgres`, in plain
//! SQL (no extensions, no stored procedures), so it also runs on
//! PostgreSQL-compatible distributed databases.
//!
//! The keyring and the records are two connections that may point at two
//! databases — and in production should, so that a backup of the records
//! never holds a data key. A batch of records is one transaction of a few
//! statements whatever its size: rows travel as arrays and are expanded
//! with `UNNEST`.

use std::collections::HashMap;

use tokio::sync::Mutex;
use tokio_postgres::{Client, Config, NoTls};

use crate::Error;
use crate::backend::{Backend, SealedRecord};
use crate::keys::WrappedKey;

/// Schema migrations of the records database, applied in order and
/// recorded in `residency_records_schema`.
const RECORDS_MIGRATIONS: &[&str] = &["
CREATE TABLE subjects (
    sid     BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    subject TEXT NOT NULL UNIQUE,
    home    TEXT NOT NULL
);
CREATE TABLE records (
    sid       BIGINT NOT NULL,
    dataset   TEXT NOT NULL,
    record_id TEXT NOT NULL,
    time      BIGINT NOT NULL,
    fields    TEXT NOT NULL,
    PRIMARY KEY (sid, dataset, record_id)
);
CREATE INDEX records_by_age ON records (dataset, time);
CREATE TABLE access_index (
    subject   TEXT NOT NULL,
    log_index BIGINT NOT NULL,
    PRIMARY KEY (subject, log_index)
);
"];

/// Schema migrations of the keyring database, recorded in
/// `residency_keyring_schema`.
const KEYRING_MIGRATIONS: &[&str] = &["
CREATE TABLE deks (
    subject TEXT PRIMARY KEY,
    kek_id  TEXT NOT NULL,
    wrapped BYTEA NOT NULL
);
"];

async fn connect(config: &Config) -> Result<Client, Error> {
    let (client, connection) = config.connect(NoTls).await?;
    tokio::spawn(async move {
        // Ends when the client is dropped; a broken connection surfaces as
        // an error on the client's next call.
        let _ = connection.await;
    });
    Ok(client)
}

async fn migrate(client: &mut Client, table: &str, migrations: &[&str]) -> Result<(), Error> {
    client
        .batch_execute(&format!(
            "CREATE TABLE IF NOT EXISTS {table} (version INTEGER PRIMARY KEY)"
        ))
        .await?;
    let row = client
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
        let tx = client.transaction().await?;
        tx.batch_execute(step).await?;
        let v = i32::try_from(i + 1).unwrap_or(i32::MAX);
        tx.execute(&format!("INSERT INTO {table} (version) VALUES ($1)"), &[&v])
            .await?;
        tx.commit().await?;
    }
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

impl PgBackend {
    /// Connects to the records and keyring databases (connection strings in
    /// either the `postgresql://` or the `key=value` form) and migrates them.
    pub async fn connect(records: &str, keyring: &str) -> Result<Self, Error> {
        let parse = |what: &str, s: &str| {
            s.parse::<Config>()
                .map_err(|e| Error::Schema(format!("{what} connection string: {e}")))
        };
        Self::with_configs(&parse("records", records)?, &parse("keyring", keyring)?).await
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

fn wrapped(row: &tokio_postgres::Row) -> (String, WrappedKey) {
    (
        row.get(0),
        WrappedKey {
            kek_id: row.get(1),
            bytes: row.get(2),
        },
    )
}

fn log_index(i: i64) -> Result<u64, Error> {
    u64::try_from(i).map_err(|_| Error::Schema("negative log index".into()))
}

impl Backend for PgBackend {
    async fn keys_of(&self, subjects: Vec<String>) -> Result<Vec<(String, WrappedKey)>, Error> {
        let rows = self
            .keyring
            .lock()
            .await
            .query(
                "SELECT subject, kek_id, wrapped FROM deks WHERE subject = ANY($1)",
                &[&subjects],
            )
            .await?;
        Ok(rows.iter().map(wrapped).collect())
    }

    async fn ensure_keys(
        &self,
        keys: Vec<(String, WrappedKey)>,
    ) -> Result<Vec<(String, WrappedKey)>, Error> {
        let mut subjects = Vec::with_capacity(keys.len());
        let mut kek_ids = Vec::with_capacity(keys.len());
        let mut bytes = Vec::with_capacity(keys.len());
        for (s, k) in keys {
            subjects.push(s);
            kek_ids.push(k.kek_id);
            bytes.push(k.bytes);
        }
        let mut db = self.keyring.lock().await;
        let tx = db.transaction().await?;
        tx.execute(
            "INSERT INTO deks (subject, kek_id, wrapped)
             SELECT * FROM UNNEST($1::text[], $2::text[], $3::bytea[])
             ON CONFLICT (subject) DO NOTHING",
            &[&subjects, &kek_ids, &bytes],
        )
        .await?;
        let rows = tx
            .query(
                "SELECT subject, kek_id, wrapped FROM deks WHERE subject = ANY($1)",
                &[&subjects],
            )
            .await?;
        tx.commit().await?;
        Ok(rows.iter().map(wrapped).collect())
    }

    async fn put_records(&self, home: String, records: Vec<SealedRecord>) -> Result<(), Error> {
        let mut subjects: Vec<&str> = records.iter().map(|r| r.subject.as_str()).collect();
        subjects.sort_unstable();
        subjects.dedup();
        let mut db = self.writer.lock().await;
        let tx = db.transaction().await?;
        tx.execute(
            "INSERT INTO subjects (subject, home) SELECT s, $2 FROM UNNEST($1::text[]) AS s
             ON CONFLICT (subject) DO NOTHING",
            &[&subjects, &home],
        )
        .await?;
        let sids: HashMap<String, i64> = tx
            .query(
                "SELECT subject, sid FROM subjects WHERE subject = ANY($1)",
                &[&subjects],
            )
            .await?
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect();
        let n = records.len();
        let (mut sid, mut dataset, mut record_id, mut time, mut fields) = (
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
        );
        for r in &records {
            sid.push(
                *sids
                    .get(&r.subject)
                    .ok_or_else(|| Error::Backend("subject vanished during ingest".into()))?,
            );
            dataset.push(r.dataset.as_str());
            record_id.push(r.record_id.as_str());
            time.push(r.time);
            fields.push(r.fields.as_str());
        }
        tx.execute(
            "INSERT INTO records (sid, dataset, record_id, time, fields)
             SELECT * FROM UNNEST($1::bigint[], $2::text[], $3::text[], $4::bigint[], $5::text[])
             ON CONFLICT (sid, dataset, record_id) DO UPDATE SET time = EXCLUDED.time, fields = EXCLUDED.fields",
            &[&sid, &dataset, &record_id, &time, &fields],
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn records(&self, subject: String, dataset: String) -> Result<Vec<SealedRecord>, Error> {
        let rows = self
            .reader
            .query(
                "SELECT r.record_id, r.time, r.fields FROM records r JOIN subjects s ON s.sid = r.sid
                 WHERE s.subject = $1 AND r.dataset = $2 ORDER BY r.time, r.record_id",
                &[&subject, &dataset],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| SealedRecord {
                subject: subject.clone(),
                dataset: dataset.clone(),
                record_id: r.get(0),
                time: r.get(1),
                fields: r.get(2),
            })
            .collect())
    }

    async fn home(&self, subject: String) -> Result<Option<String>, Error> {
        let row = self
            .reader
            .query_opt("SELECT home FROM subjects WHERE subject = $1", &[&subject])
            .await?;
        Ok(row.map(|r| r.get(0)))
    }

    async fn erase(&self, subject: String) -> Result<bool, Error> {
        // Autocommit: the key is gone, durably, before the records go.
        let existed = self
            .keyring
            .lock()
            .await
            .execute("DELETE FROM deks WHERE subject = $1", &[&subject])
            .await?
            > 0;
        let mut db = self.writer.lock().await;
        let tx = db.transaction().await?;
        tx.execute(
            "DELETE FROM records WHERE sid IN (SELECT sid FROM subjects WHERE subject = $1)",
            &[&subject],
        )
        .await?;
        tx.execute("DELETE FROM subjects WHERE subject = $1", &[&subject])
            .await?;
        tx.commit().await?;
        Ok(existed)
    }

    async fn note_access(&self, subject: String, log_index: u64) -> Result<(), Error> {
        let index = i64::try_from(log_index)
            .map_err(|_| Error::Rejected("log index out of range".into()))?;
        self.writer
            .lock()
            .await
            .execute(
                "INSERT INTO access_index (subject, log_index) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                &[&subject, &index],
            )
            .await?;
        Ok(())
    }

    async fn accesses(&self, subject: String) -> Result<Vec<u64>, Error> {
        self.reader
            .query(
                "SELECT log_index FROM access_index WHERE subject = $1 ORDER BY log_index",
                &[&subject],
            )
            .await?
            .iter()
            .map(|r| log_index(r.get(0)))
            .collect()
    }

    async fn keys_not_under(
        &self,
        kek_id: String,
        limit: usize,
    ) -> Result<Vec<(String, WrappedKey)>, Error> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = self
            .keyring
            .lock()
            .await
            .query(
                "SELECT subject, kek_id, wrapped FROM deks WHERE kek_id <> $1 ORDER BY subject LIMIT $2",
                &[&kek_id, &limit],
            )
            .await?;
        Ok(rows.iter().map(wrapped).collect())
    }

    async fn count_keys_not_under(&self, kek_id: String) -> Result<u64, Error> {
        let row = self
            .keyring
            .lock()
            .await
            .query_one("SELECT count(*) FROM deks WHERE kek_id <> $1", &[&kek_id])
            .await?;
        Ok(row.get::<_, i64>(0).unsigned_abs())
    }

    async fn replace_keys(
        &self,
        updates: Vec<(String, WrappedKey, WrappedKey)>,
    ) -> Result<u64, Error> {
        let mut db = self.keyring.lock().await;
        let tx = db.transaction().await?;
        let stmt = tx
            .prepare(
                "UPDATE deks SET kek_id = $1, wrapped = $2 WHERE subject = $3 AND kek_id = $4 AND wrapped = $5",
            )
            .await?;
        let mut n = 0;
        for (subject, old, new) in &updates {
            n += tx
                .execute(
                    &stmt,
                    &[&new.kek_id, &new.bytes, subject, &old.kek_id, &old.bytes],
                )
                .await?;
        }
        tx.commit().await?;
        Ok(n)
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
}
