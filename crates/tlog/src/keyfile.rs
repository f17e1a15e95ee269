//! A log's key files, kept in its directory beside the tiles: the signing
//! key `log.key` (readable by its owner only, never overwritten) and the
//! verifier key `log.vkey` that the log's readers are given.
//!
//! `residency log init` and a node started with `--init` both create a
//! log here, so that a log made by either opens in the other. A log kept
//! elsewhere (a bucket) keeps its key files here all the same.

use std::io::Write as _;
use std::path::Path;

use crate::note::{Signer, TYPE_ED25519, Verifier};
use crate::reader::CHECKPOINT_PATH;
use crate::{Error, FsStorage, Storage, sequencer};

/// The signing key's file name in a log directory.
pub const SIGNING_KEY_FILE: &str = "log.key";
/// The verifier key's file name in a log directory.
pub const VERIFIER_KEY_FILE: &str = "log.vkey";

/// Creates a log in `dir` (created if missing): a fresh Ed25519 signing key
/// named `origin`, its verifier key, and the first, empty checkpoint.
/// Refuses, changing nothing, if `dir` holds a log or a signing key
/// ([`Error::AlreadyInitialized`]).
pub async fn create(dir: &Path, origin: &str) -> Result<Signer, Error> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir.display().to_string(), e))?;
    create_in(dir, origin, &FsStorage::open(dir)?).await
}

/// As [`create`], the keys in `dir` and the log in `storage` (a bucket).
pub async fn create_in<S: Storage>(dir: &Path, origin: &str, storage: &S) -> Result<Signer, Error> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir.display().to_string(), e))?;
    if storage.read(CHECKPOINT_PATH).await?.is_some() {
        return Err(Error::AlreadyInitialized(format!(
            "{}: a log is already there",
            dir.display()
        )));
    }
    let signer = create_keys(dir, origin)?;
    sequencer::create(storage, &signer).await?;
    Ok(signer)
}

/// The key files alone, for a log whose storage is elsewhere (a bucket,
/// where the node that first sequences it creates it): a fresh Ed25519
/// signing key named `origin` and its verifier key, in `dir` (created if
/// missing). Refuses, changing nothing, if `dir` holds a signing key.
pub fn create_keys(dir: &Path, origin: &str) -> Result<Signer, Error> {
    let signer = Signer::generate(origin, TYPE_ED25519)?;
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir.display().to_string(), e))?;
    let key = dir.join(SIGNING_KEY_FILE);
    create_private(&key, format!("{}\n", signer.to_skey()).as_bytes()).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            Error::AlreadyInitialized(key.display().to_string())
        } else {
            Error::io(key.display().to_string(), e)
        }
    })?;
    let vkey = dir.join(VERIFIER_KEY_FILE);
    std::fs::write(&vkey, format!("{}\n", signer.verifier().to_vkey()))
        .map_err(|e| Error::io(vkey.display().to_string(), e))?;
    Ok(signer)
}

/// The signing key of the log in `dir`; [`Error::NotInitialized`] if it
/// has none.
pub fn open(dir: &Path) -> Result<Signer, Error> {
    let key = dir.join(SIGNING_KEY_FILE);
    let text = std::fs::read_to_string(&key).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            Error::NotInitialized(format!("no signing key at {}", key.display()))
        } else {
            Error::io(key.display().to_string(), e)
        }
    })?;
    Signer::parse(text.trim())
}

/// The verifier key of the log in `dir` (all a process that reads the log,
/// or checks what its sequencer says, needs); [`Error::NotInitialized`] if
/// it has none.
pub fn open_verifier(dir: &Path) -> Result<Verifier, Error> {
    let vkey = dir.join(VERIFIER_KEY_FILE);
    let text = std::fs::read_to_string(&vkey).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            Error::NotInitialized(format!("no verifier key at {}", vkey.display()))
        } else {
            Error::io(vkey.display().to_string(), e)
        }
    })?;
    Verifier::parse(text.trim())
}

/// The signing key of the log in `dir`, the log [created](create) first,
/// named `origin`, if `dir` has no signing key.
pub async fn open_or_create(dir: &Path, origin: &str) -> Result<Signer, Error> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir.display().to_string(), e))?;
    open_or_create_in(dir, origin, &FsStorage::open(dir)?).await
}

/// As [`open_or_create`], the keys in `dir` and the log in `storage`.
pub async fn open_or_create_in<S: Storage>(
    dir: &Path,
    origin: &str,
    storage: &S,
) -> Result<Signer, Error> {
    if dir.join(SIGNING_KEY_FILE).exists() {
        open(dir)
    } else {
        create_in(dir, origin, storage).await
    }
}

/// Writes `contents` to a new file at `path` that only its owner can read
/// (mode 0600), for secrets: never over an existing file (an error of kind
/// `AlreadyExists`), durable when this returns, and whole to anyone who
/// sees it at all — written aside, then linked into place, so processes
/// starting together read one key or none.
pub fn create_private(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut file = tempfile::Builder::new()
        .prefix(".new-")
        .permissions(std::fs::Permissions::from_mode(0o600))
        .tempfile_in(dir)?;
    file.write_all(contents)?;
    file.as_file().sync_all()?;
    file.persist_noclobber(path).map_err(|e| e.error)?;
    std::fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;

    use super::*;

    #[tokio::test]
    async fn a_created_log_opens_with_its_key_and_is_never_created_twice() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("log");
        let signer = create(&dir, "keys.example/log").await.unwrap();
        let mode = std::fs::metadata(dir.join(SIGNING_KEY_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let vkey = std::fs::read_to_string(dir.join(VERIFIER_KEY_FILE)).unwrap();
        assert_eq!(vkey, format!("{}\n", signer.verifier().to_vkey()));
        assert_eq!(open(&dir).unwrap().to_skey(), signer.to_skey());
        assert_eq!(
            open_or_create(&dir, "other.example/log")
                .await
                .unwrap()
                .to_skey(),
            signer.to_skey()
        );
        assert!(matches!(
            create(&dir, "keys.example/log").await,
            Err(Error::AlreadyInitialized(_))
        ));
        assert_eq!(open(&dir).unwrap().to_skey(), signer.to_skey());
    }

    #[tokio::test]
    async fn a_missing_key_is_not_initialized_and_a_key_without_a_log_is_kept() {
        let tmp = tempfile::tempdir().unwrap();
        assert!(matches!(open(tmp.path()), Err(Error::NotInitialized(_))));
        create_private(&tmp.path().join(SIGNING_KEY_FILE), b"kept\n").unwrap();
        assert!(matches!(
            create(tmp.path(), "keys.example/log").await,
            Err(Error::AlreadyInitialized(_))
        ));
        let kept = std::fs::read(tmp.path().join(SIGNING_KEY_FILE)).unwrap();
        assert_eq!(kept, b"kept\n");
        assert!(create(tmp.path(), "has space").await.is_err());
    }
}
