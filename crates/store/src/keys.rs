//! Region keys: key-encryption keys (KEKs) from a [`KeyProvider`], and the
//! per-subject data keys (DEKs) they wrap.
//!
//! The default provider is a key file (`residency keys init`, mode 0600)
//! holding the region's KEKs — the last one current — and the secret that
//! subject pseudonyms are derived from. The trait admits an external KMS or
//! HSM: the store only asks it to wrap and unwrap.

use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

use aes_siv::Aes256SivAead;
use aes_siv::aead::{Aead, KeyInit, Payload};

use crate::Error;

/// A wrapped data key: which KEK wrapped it, and the ciphertext.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WrappedKey {
    /// Id of the KEK.
    pub kek_id: String,
    /// Nonce and ciphertext.
    pub bytes: Vec<u8>,
}

/// Where KEKs live. Implementations never hand the KEK out.
pub trait KeyProvider: Send + Sync {
    /// Wraps a data key under the current KEK; `context` is bound in.
    fn wrap(&self, dek: &[u8; 64], context: &[u8]) -> Result<WrappedKey, Error>;
    /// Unwraps a data key wrapped by any KEK this provider holds.
    fn unwrap(&self, wrapped: &WrappedKey, context: &[u8]) -> Result<[u8; 64], Error>;
    /// The secret subject pseudonyms are derived from (stable across KEK rotation).
    fn pseudonym_secret(&self) -> [u8; 32];
    /// Id of the KEK that [`KeyProvider::wrap`] uses.
    fn current_kek_id(&self) -> String;
}

/// Fresh random bytes from the operating system.
pub(crate) fn random<const N: usize>() -> Result<[u8; N], Error> {
    let mut b = [0u8; N];
    getrandom::fill(&mut b).map_err(|e| Error::Keys {
        path: "random source".into(),
        why: e.to_string(),
    })?;
    Ok(b)
}

/// AES-256-SIV with a fresh random nonce: the nonce, then the ciphertext.
pub(crate) fn seal(key: &[u8; 64], aad: &[u8], msg: &[u8]) -> Result<Vec<u8>, Error> {
    DataKey::new(key).seal(&mut Nonces::new()?, aad, msg)
}

/// Nonces for one batch: a random 64-bit prefix drawn once, then a counter
/// (AES-SIV stays safe even if a nonce ever repeated: it is
/// misuse-resistant; the nonce only hides equal plaintexts).
pub(crate) struct Nonces {
    prefix: [u8; 8],
    counter: u64,
}

impl Nonces {
    pub(crate) fn new() -> Result<Self, Error> {
        Ok(Nonces {
            prefix: random()?,
            counter: 0,
        })
    }

    fn next(&mut self) -> [u8; 16] {
        let mut nonce = [0u8; 16];
        nonce[..8].copy_from_slice(&self.prefix);
        nonce[8..].copy_from_slice(&self.counter.to_be_bytes());
        self.counter += 1;
        nonce
    }
}

/// A key set up for AES-256-SIV, sealing many values.
pub(crate) struct DataKey(Aes256SivAead);

impl DataKey {
    pub(crate) fn new(key: &[u8; 64]) -> Self {
        DataKey(Aes256SivAead::new(key.into()))
    }

    /// The nonce, then the ciphertext.
    pub(crate) fn seal(
        &self,
        nonces: &mut Nonces,
        aad: &[u8],
        msg: &[u8],
    ) -> Result<Vec<u8>, Error> {
        let nonce = nonces.next();
        let ct = self
            .0
            .encrypt((&nonce).into(), Payload { msg, aad })
            .map_err(|_| Error::Rejected("value too large to encrypt".into()))?;
        let mut out = Vec::with_capacity(16 + ct.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        Ok(out)
    }

    /// Inverse of [`DataKey::seal`]; `what` names the value in the error
    /// (never its content).
    pub(crate) fn open(&self, aad: &[u8], sealed: &[u8], what: &str) -> Result<Vec<u8>, Error> {
        let (nonce, ct) = sealed
            .split_first_chunk::<16>()
            .ok_or_else(|| Error::Decrypt(what.into()))?;
        self.0
            .decrypt(nonce.into(), Payload { msg: ct, aad })
            .map_err(|_| Error::Decrypt(what.into()))
    }
}

/// Inverse of [`seal`].
pub(crate) fn open(
    key: &[u8; 64],
    aad: &[u8],
    sealed: &[u8],
    what: &str,
) -> Result<Vec<u8>, Error> {
    DataKey::new(key).open(aad, sealed, what)
}

/// The default provider: a key file.
pub struct FileKeyProvider {
    path: PathBuf,
    keks: Vec<(String, [u8; 64])>,
    pseudonym: [u8; 32],
}

impl std::fmt::Debug for FileKeyProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ids: Vec<&str> = self.keks.iter().map(|(id, _)| id.as_str()).collect();
        write!(f, "FileKeyProvider({}, keks {ids:?})", self.path.display())
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn unhex<const N: usize>(s: &str) -> Option<[u8; N]> {
    // from_str_radix alone would take a sign ("+f").
    if s.len() != 2 * N || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let mut out = [0u8; N];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

impl FileKeyProvider {
    /// Creates a new key file (mode 0600) with one KEK and a pseudonym secret.
    /// Refuses to overwrite an existing file.
    pub fn create(path: &Path) -> Result<Self, Error> {
        let err = |why: String| Error::Keys {
            path: path.display().to_string(),
            why,
        };
        let p = FileKeyProvider {
            path: path.to_owned(),
            keks: vec![("kek-1".into(), random()?)],
            pseudonym: random()?,
        };
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .map_err(|e| err(e.to_string()))?;
        f.write_all(p.render().as_bytes())
            .map_err(|e| err(e.to_string()))?;
        f.sync_all().map_err(|e| err(e.to_string()))?;
        Ok(p)
    }

    /// Reads a key file.
    pub fn open(path: &Path) -> Result<Self, Error> {
        let err = |why: String| Error::Keys {
            path: path.display().to_string(),
            why,
        };
        let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
        Self::parse(path, &text)
    }

    /// Parses the text of a key file; `path` names it in errors (which
    /// never quote a key).
    pub fn parse(path: &Path, text: &str) -> Result<Self, Error> {
        let err = |why: String| Error::Keys {
            path: path.display().to_string(),
            why,
        };
        let (mut keks, mut pseudonym) = (Vec::new(), None);
        for (n, line) in text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty() && !l.starts_with('#'))
        {
            let parts: Vec<&str> = line.split_whitespace().collect();
            match parts.as_slice() {
                ["kek", id, key] => {
                    if keks.iter().any(|(k, _)| k == id) {
                        return Err(err(format!("line {}: KEK {id} listed twice", n + 1)));
                    }
                    keks.push((
                        (*id).to_owned(),
                        unhex(key).ok_or_else(|| err(format!("line {}: bad KEK", n + 1)))?,
                    ))
                }
                ["pseudonym", _] if pseudonym.is_some() => {
                    return Err(err(format!("line {}: a second pseudonym secret", n + 1)));
                }
                ["pseudonym", key] => {
                    pseudonym = Some(
                        unhex(key)
                            .ok_or_else(|| err(format!("line {}: bad pseudonym secret", n + 1)))?,
                    )
                }
                _ => {
                    return Err(err(format!(
                        "line {}: expected `kek <id> <hex>` or `pseudonym <hex>`",
                        n + 1
                    )));
                }
            }
        }
        let pseudonym = pseudonym.ok_or_else(|| err("no pseudonym secret".into()))?;
        if keks.is_empty() {
            return Err(err("no KEK".into()));
        }
        Ok(FileKeyProvider {
            path: path.to_owned(),
            keks,
            pseudonym,
        })
    }

    /// Adds a fresh KEK and makes it current, rewriting the file
    /// atomically; returns its id. Older KEKs stay until
    /// [`FileKeyProvider::retire_old`], so data keys they wrap still open.
    pub fn add_kek(&mut self) -> Result<String, Error> {
        let next = self
            .keks
            .iter()
            .filter_map(|(id, _)| id.strip_prefix("kek-")?.parse::<u64>().ok())
            .max()
            .unwrap_or(0)
            + 1;
        let id = format!("kek-{next}");
        self.keks.push((id.clone(), random()?));
        self.save()?;
        Ok(id)
    }

    /// Drops every KEK but the current one, rewriting the file atomically;
    /// returns the ids dropped. Only once no data key is wrapped by them
    /// (after [`crate::Store::rewrap`]).
    pub fn retire_old(&mut self) -> Result<Vec<String>, Error> {
        let current = self.keks.split_off(self.keks.len() - 1);
        let old = std::mem::replace(&mut self.keks, current);
        self.save()?;
        Ok(old.into_iter().map(|(id, _)| id).collect())
    }

    /// Ids of the KEKs in the file, the current one last.
    pub fn kek_ids(&self) -> Vec<&str> {
        self.keks.iter().map(|(id, _)| id.as_str()).collect()
    }

    /// Writes the file anew: a temporary file (0600, synced), renamed over
    /// the old one, then the directory synced — never a half-written file.
    fn save(&self) -> Result<(), Error> {
        let err = |e: std::io::Error| Error::Keys {
            path: self.path.display().to_string(),
            why: e.to_string(),
        };
        let tmp = self.path.with_extension("tmp");
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(err)?;
        f.write_all(self.render().as_bytes()).map_err(err)?;
        f.sync_all().map_err(err)?;
        std::fs::rename(&tmp, &self.path).map_err(err)?;
        let dir = match self.path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(err)
    }

    fn render(&self) -> String {
        let mut s =
            String::from("# residency region keys: keep secret, never copy out of the region\n");
        s.push_str(&format!("pseudonym {}\n", hex(&self.pseudonym)));
        for (id, k) in &self.keks {
            s.push_str(&format!("kek {id} {}\n", hex(k)));
        }
        s
    }

    fn current(&self) -> &(String, [u8; 64]) {
        // Non-empty by construction.
        &self.keks[self.keks.len() - 1]
    }
}

fn kek_aad(kek_id: &str, context: &[u8]) -> Vec<u8> {
    let mut aad = format!("residency/dek/{kek_id}\0").into_bytes();
    aad.extend_from_slice(context);
    aad
}

impl KeyProvider for FileKeyProvider {
    fn wrap(&self, dek: &[u8; 64], context: &[u8]) -> Result<WrappedKey, Error> {
        let (id, kek) = self.current();
        Ok(WrappedKey {
            kek_id: id.clone(),
            bytes: seal(kek, &kek_aad(id, context), dek)?,
        })
    }

    fn unwrap(&self, wrapped: &WrappedKey, context: &[u8]) -> Result<[u8; 64], Error> {
        let (id, kek) = self
            .keks
            .iter()
            .find(|(id, _)| *id == wrapped.kek_id)
            .ok_or_else(|| Error::Keys {
                path: self.path.display().to_string(),
                why: format!("no KEK {}", wrapped.kek_id),
            })?;
        let dek = open(kek, &kek_aad(id, context), &wrapped.bytes, "data key")?;
        dek.try_into()
            .map_err(|_| Error::Decrypt("data key".into()))
    }

    fn pseudonym_secret(&self) -> [u8; 32] {
        self.pseudonym
    }

    fn current_kek_id(&self) -> String {
        self.current().0.clone()
    }
}
