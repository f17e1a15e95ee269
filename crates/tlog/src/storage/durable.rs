//! Directories created and flushed so that what they name survives a
//! crash: shared by the files driver and its journal.

use std::path::Path;

use crate::Error;

/// Creates missing directories and makes each new entry durable.
pub(super) fn create_dirs(dir: &Path) -> Result<(), Error> {
    let mut missing = Vec::new();
    let mut cur = dir;
    while !cur.is_dir() {
        missing.push(cur.to_path_buf());
        cur = cur
            .parent()
            .ok_or_else(|| Error::NotFound(dir.display().to_string()))?;
    }
    for d in missing.iter().rev() {
        match std::fs::create_dir(d) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(Error::io(d.display().to_string(), e)),
        }
        if let Some(parent) = d.parent() {
            sync_dir(parent)?;
        }
    }
    Ok(())
}

/// Flushes a directory, making the names in it durable.
pub(super) fn sync_dir(dir: &Path) -> Result<(), Error> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io(dir.display().to_string(), e))
}
