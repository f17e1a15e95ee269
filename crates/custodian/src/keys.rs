//! The custodian's keys: KEM keys that batch secrets are sealed to (the
//! last one current; older ones kept while a rotation rewraps what was
//! sealed to them) and the Ed25519 key it cosigns checkpoints with.
//!
//! The default [`KeyProvider`] is a key file, `custodian.key`, created
//! mode 0600 by `residency custodian init` and never overwritten in place
//! (a rotation writes a new file and renames it over):
//!
//! ```text
//! cosigner PRIVATE+KEY+…        (a note signing key, cosignature/v1)
//! kem NAME+xwing+SEEDHEX        (one line per KEM key, oldest first)
//! ```

use std::path::{Path, PathBuf};

use custody::{BatchSecret, CustodianKey, CustodianPublicKey, Suite, WrappedSecret};
use tlog::Signer;

/// Why the key file could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// Reading or writing the file failed.
    #[error("{path}: {why}")]
    Io {
        /// The file.
        path: String,
        /// What failed.
        why: String,
    },
    /// The file's contents are not a custodian key file.
    #[error("{path}: {why}")]
    Malformed {
        /// The file.
        path: String,
        /// What is wrong (never a key).
        why: String,
    },
}

/// Where the custodian's KEM keys live. Implementations never hand a
/// private key or a batch secret out: they open, derive and rewrap.
pub trait KeyProvider: Send + Sync {
    /// The public keys, oldest first; the last is current.
    fn public_keys(&self) -> Vec<CustodianPublicKey>;
    /// Opens a batch secret sealed to any of these keys, for `region`.
    fn open(&self, wrapped: &WrappedSecret, region: &str) -> Result<BatchSecret, custody::Error>;
    /// Seals the secret inside `wrapped` to the current key.
    fn rewrap(
        &self,
        wrapped: &WrappedSecret,
        region: &str,
    ) -> Result<WrappedSecret, custody::Error> {
        let current = self
            .public_keys()
            .pop()
            .ok_or_else(|| custody::Error::Malformed("no current key".into()))?;
        self.open(wrapped, region)?.wrap(&current, region)
    }
}

/// The default provider: a key file.
pub struct KeyFile {
    path: PathBuf,
    cosigner: Signer,
    kems: Vec<CustodianKey>,
}

impl std::fmt::Debug for KeyFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ids: Vec<&str> = self.kems.iter().map(|k| k.public().id()).collect();
        write!(f, "KeyFile({}, keys {ids:?})", self.path.display())
    }
}

impl KeyFile {
    /// Creates a key file at `path` (0600; refuses to overwrite) with a
    /// fresh cosigning key and one KEM key of `suite`, both named `name`.
    pub fn create(path: &Path, name: &str, suite: Suite) -> Result<Self, KeyError> {
        let malformed = |why: String| KeyError::Malformed {
            path: path.display().to_string(),
            why,
        };
        let cosigner = Signer::generate(name, tlog::note::TYPE_COSIGNATURE_V1)
            .map_err(|e| malformed(e.to_string()))?;
        let kem = CustodianKey::generate(name, suite).map_err(|e| malformed(e.to_string()))?;
        let file = KeyFile {
            path: path.to_owned(),
            cosigner,
            kems: vec![kem],
        };
        tlog::keyfile::create_private(path, file.render().as_bytes()).map_err(|e| {
            KeyError::Io {
                path: path.display().to_string(),
                why: e.to_string(),
            }
        })?;
        Ok(file)
    }

    /// Reads a key file.
    pub fn open(path: &Path) -> Result<Self, KeyError> {
        let malformed = |why: String| KeyError::Malformed {
            path: path.display().to_string(),
            why,
        };
        let text = std::fs::read_to_string(path).map_err(|e| KeyError::Io {
            path: path.display().to_string(),
            why: e.to_string(),
        })?;
        let mut cosigner = None;
        let mut kems = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            match line.split_once(' ') {
                Some(("cosigner", skey)) => {
                    cosigner = Some(Signer::parse(skey.trim()).map_err(|_| {
                        malformed(format!("line {}: not a note signing key", n + 1))
                    })?);
                }
                Some(("kem", key)) => kems.push(
                    CustodianKey::parse_private(key)
                        .map_err(|e| malformed(format!("line {}: {e}", n + 1)))?,
                ),
                _ => {
                    return Err(malformed(format!(
                        "line {}: expected cosigner or kem",
                        n + 1
                    )));
                }
            }
        }
        let cosigner = cosigner.ok_or_else(|| malformed("no cosigner line".into()))?;
        if cosigner.sig_type() != tlog::note::TYPE_COSIGNATURE_V1 {
            return Err(malformed(
                "the cosigner must be a cosignature/v1 key".into(),
            ));
        }
        if kems.is_empty() {
            return Err(malformed("no kem line".into()));
        }
        Ok(KeyFile {
            path: path.to_owned(),
            cosigner,
            kems,
        })
    }

    fn render(&self) -> String {
        let mut s = format!(
            "# residency custodian keys: keep secret\ncosigner {}\n",
            self.cosigner.to_skey()
        );
        for k in &self.kems {
            s.push_str(&format!("kem {}\n", k.to_private_text()));
        }
        s
    }

    /// Adds a fresh current KEM key of `suite` (the old ones stay valid
    /// until [`KeyFile::retire_old`]); written atomically.
    pub fn add_key(&mut self, suite: Suite) -> Result<&CustodianPublicKey, KeyError> {
        let name = self.cosigner.name().to_owned();
        let key = CustodianKey::generate(&name, suite).map_err(|e| KeyError::Malformed {
            path: self.path.display().to_string(),
            why: e.to_string(),
        })?;
        self.kems.push(key);
        self.write_back()?;
        Ok(self.current())
    }

    /// Drops every KEM key but the current one; written atomically.
    pub fn retire_old(&mut self) -> Result<usize, KeyError> {
        let n = self.kems.len().saturating_sub(1);
        self.kems.drain(..n);
        self.write_back()?;
        Ok(n)
    }

    fn write_back(&self) -> Result<(), KeyError> {
        let io = |e: std::io::Error| KeyError::Io {
            path: self.path.display().to_string(),
            why: e.to_string(),
        };
        let tmp = self.path.with_extension("key.new");
        let _ = std::fs::remove_file(&tmp);
        tlog::keyfile::create_private(&tmp, self.render().as_bytes()).map_err(io)?;
        std::fs::rename(&tmp, &self.path).map_err(io)?;
        if let Some(dir) = self.path.parent() {
            std::fs::File::open(dir)
                .and_then(|d| d.sync_all())
                .map_err(io)?;
        }
        Ok(())
    }

    /// The current KEM public key.
    pub fn current(&self) -> &CustodianPublicKey {
        // `open` and `create` refuse a file without a KEM key.
        self.kems[self.kems.len() - 1].public()
    }

    /// The cosigning key.
    pub fn cosigner(&self) -> &Signer {
        &self.cosigner
    }
}

impl KeyProvider for KeyFile {
    fn public_keys(&self) -> Vec<CustodianPublicKey> {
        self.kems.iter().map(|k| k.public().clone()).collect()
    }

    fn open(&self, wrapped: &WrappedSecret, region: &str) -> Result<BatchSecret, custody::Error> {
        let id = wrapped.key_id();
        let key = self
            .kems
            .iter()
            .find(|k| k.public().id() == id)
            .ok_or_else(|| custody::Error::DoesNotOpen(format!("no key {id} here")))?;
        wrapped.open(key, region)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_file_is_private_reopens_and_rotates() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("custodian.key");
        let mut f = KeyFile::create(&path, "custodian.example", Suite::X25519).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert!(KeyFile::create(&path, "custodian.example", Suite::X25519).is_err());
        let secret = BatchSecret::generate().unwrap();
        let old = secret.wrap(f.current(), "eu-fr").unwrap();
        f.add_key(Suite::XWing).unwrap();
        let again = KeyFile::open(&path).unwrap();
        assert_eq!(again.public_keys().len(), 2);
        assert!(again.open(&old, "eu-fr").is_ok());
        let new = again.rewrap(&old, "eu-fr").unwrap();
        assert_eq!(new.key_id(), again.current().id());
        f.retire_old().unwrap();
        let last = KeyFile::open(&path).unwrap();
        assert!(last.open(&old, "eu-fr").is_err());
        assert_eq!(
            last.open(&new, "eu-fr").unwrap().record_key("s", "d"),
            secret.record_key("s", "d")
        );
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
}
