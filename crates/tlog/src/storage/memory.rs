//! The memory driver: a log that lives as long as the process.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use super::{Storage, WriterGuard};
use crate::Error;

/// A log held in memory: for tests, and a model of what an object store
/// backend must do. Nothing survives the process.
#[derive(Clone, Debug, Default)]
pub struct MemStorage {
    objects: Arc<Mutex<BTreeMap<String, Vec<u8>>>>,
}

impl MemStorage {
    /// Empty storage.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<String, Vec<u8>>> {
        // A panic while holding the lock cannot leave the map half-updated.
        self.objects.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Storage for MemStorage {
    async fn claim_writer(&self) -> Result<WriterGuard, Error> {
        Ok(WriterGuard::none())
    }

    async fn read(&self, path: &str) -> Result<Option<Vec<u8>>, Error> {
        Ok(self.lock().get(path).cloned())
    }

    async fn write(&self, files: Vec<(String, Vec<u8>)>) -> Result<(), Error> {
        let mut map = self.lock();
        for (p, d) in files {
            map.insert(p, d);
        }
        Ok(())
    }

    async fn delete(&self, paths: Vec<String>) -> Result<(), Error> {
        let mut map = self.lock();
        for p in paths {
            let prefix = format!("{p}/");
            map.retain(|k, _| *k != p && !k.starts_with(&prefix));
        }
        Ok(())
    }

    async fn list(&self, dir: &str) -> Result<Vec<String>, Error> {
        let prefix = format!("{}/", dir.trim_end_matches('/'));
        let map = self.lock();
        let names: BTreeSet<String> = map
            .range(prefix.clone()..)
            .take_while(|(k, _)| k.starts_with(&prefix))
            .filter_map(|(k, _)| k[prefix.len()..].split('/').next().map(str::to_owned))
            .collect();
        Ok(names.into_iter().collect())
    }
}
