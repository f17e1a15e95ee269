//! What a region's operator holds, as the cluster file describes it: the
//! store's contents (a SQLite directory, or a PostgreSQL database read with
//! `pg_dump`) and the log's storage (a directory, or a bucket). The steps
//! that search a region's data at rest, or edit its log, go through here,
//! whatever shape the region has.

use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{Context, bail, ensure};
use node::config::{RegionConfig, StoreLocation};
use node::region::LogStorage;

use super::Story;

impl Story<'_> {
    /// Region `region`'s part of the cluster file.
    pub(super) fn region_config(&self, region: &str) -> anyhow::Result<RegionConfig> {
        let file = self.c.dir.join("cluster.toml");
        let config = node::ClusterConfig::load(&file)?;
        config
            .regions
            .get(region)
            .cloned()
            .with_context(|| format!("{region} is not in the cluster file"))
    }

    /// The region's log storage, opened as its operator would (with the
    /// bucket's credentials, for a log in a bucket).
    pub(super) fn log_storage(&self, region: &str) -> anyhow::Result<LogStorage> {
        let me = self.region_config(region)?;
        Ok(LogStorage::open(
            &self.c.dir.join("cluster.toml"),
            &me,
            false,
        )?)
    }

    /// Waits until the log directory `reader` reads holds a tree of at
    /// least `size` entries (10 s at most): a running node puts its log's
    /// files in place up to 50 ms after it serves them.
    pub(super) async fn on_disk<S: tlog::Storage>(
        reader: &tlog::LogReader<S>,
        key: &tlog::Verifier,
        size: u64,
    ) -> anyhow::Result<()> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while reader.checkpoint(key).await?.checkpoint.size < size {
            anyhow::ensure!(
                std::time::Instant::now() < deadline,
                "the log's files did not reach size {size} within 10 s"
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        Ok(())
    }

    /// Copies what the region's store holds at rest into `to`: its SQLite
    /// directory as files, or its PostgreSQL database as `pg_dump` writes
    /// it (`store.sql`). The bytes copied.
    pub(super) fn copy_store(&self, region: &str, to: &Path) -> anyhow::Result<u64> {
        match self.region_config(region)?.store {
            StoreLocation::Sqlite(dir) => super::copy_dir(&dir, &to.join("store")),
            StoreLocation::Postgres { records, keyring } => {
                std::fs::create_dir_all(to)?;
                let mut bytes = pg_dump(&records, &to.join("store.sql"))?;
                if keyring != records {
                    bytes += pg_dump(&keyring, &to.join("keyring.sql"))?;
                }
                Ok(bytes)
            }
        }
    }

    /// How many of `needles` the region's store holds at rest, in clear.
    pub(super) fn found_in_store(&self, region: &str, needles: &[&str]) -> anyhow::Result<usize> {
        let copy = tempfile::tempdir()?;
        self.copy_store(region, copy.path())?;
        super::found_in(copy.path(), needles)
    }
}

/// `pg_dump` of the database at `conninfo` into `file`: its size.
fn pg_dump(conninfo: &str, file: &Path) -> anyhow::Result<u64> {
    let out = Command::new("pg_dump")
        .arg("--no-owner")
        .arg("--file")
        .arg(file)
        .arg("--dbname")
        .arg(conninfo)
        .stdin(Stdio::null())
        .output()
        .context("running pg_dump (PostgreSQL's client tools)")?;
    if !out.status.success() {
        // pg_dump's message names the server, never the data.
        bail!("pg_dump: {}", String::from_utf8_lossy(&out.stderr).trim());
    }
    let size = std::fs::metadata(file)?.len();
    ensure!(size > 0, "pg_dump wrote nothing");
    Ok(size)
}
