//! Region keys: key-encryption keys (KEKs) from a [`KeyProvider`], and the
//! per-subject data keys (DEKs) they wrap.
//!
//! The default provider is a key file (`residency keys init`, mode 0600)
//! holding the region's KEKs — the last one current — and the secret that
//! subject pseudonyms are derived from. The trait admits an external KMS or
//! HSM: the store only asks it to wrap and unwrap.

use std::path::{Path, PathBuf};

use aes_gcm_siv::Aes256GcmSiv;
use aes_gcm_siv::aead::AeadInOut;
use aes_gcm_siv::aead::KeyInit;
use hex::FromHex as _;
use tlog::keyfile::create_private;

use crate::Error;

/// A subject's data key: an AES-256-GCM-SIV key.
pub type Dek = [u8; 32];

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
    fn wrap(&self, dek: &Dek, context: &[u8]) -> Result<WrappedKey, Error>;
    /// Unwraps a data key wrapped by any KEK this provider holds.
    fn unwrap(&self, wrapped: &WrappedKey, context: &[u8]) -> Result<Dek, Error>;
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

/// Length of a record nonce (RFC 8452: 96 bits).
const NONCE_LEN: usize = 12;
/// Length of an AES-GCM-SIV tag.
const TAG_LEN: usize = 16;

/// Nonces for one batch: a random 64-bit prefix, then a 32-bit counter;
/// a fresh prefix is drawn if the counter runs out. AES-GCM-SIV stays
/// safe even if a nonce ever repeated (RFC 8452 §9: it is
/// misuse-resistant, a repeat only shows that two equal plaintexts are
/// equal); the nonce is what hides equal values.
pub(crate) struct Nonces {
    prefix: [u8; 8],
    counter: u32,
}

impl Nonces {
    pub(crate) fn new() -> Result<Self, Error> {
        Ok(Nonces {
            prefix: random()?,
            counter: 0,
        })
    }

    fn next(&mut self) -> Result<[u8; NONCE_LEN], Error> {
        if self.counter == u32::MAX {
            *self = Nonces::new()?;
        }
        let mut nonce = [0u8; NONCE_LEN];
        nonce[..8].copy_from_slice(&self.prefix);
        nonce[8..].copy_from_slice(&self.counter.to_be_bytes());
        self.counter += 1;
        Ok(nonce)
    }
}

/// A key set up for AES-256-GCM-SIV (RFC 8452), the one cipher of the
/// store: records are sealed under their subject's data key, data keys
/// under a KEK. Sealed bytes are the nonce, the ciphertext, then the tag.
pub(crate) struct SealingKey(Aes256GcmSiv);

impl SealingKey {
    pub(crate) fn new(key: &[u8; 32]) -> Self {
        SealingKey(Aes256GcmSiv::new(key.into()))
    }

    /// Seals `msg` with the next of `nonces`.
    pub(crate) fn seal(
        &self,
        nonces: &mut Nonces,
        aad: &[u8],
        msg: &[u8],
    ) -> Result<Vec<u8>, Error> {
        self.seal_with(nonces.next()?, aad, msg)
    }

    fn seal_with(&self, nonce: [u8; NONCE_LEN], aad: &[u8], msg: &[u8]) -> Result<Vec<u8>, Error> {
        let mut out = Vec::with_capacity(NONCE_LEN + msg.len() + TAG_LEN);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(msg);
        let tag = self
            .0
            .encrypt_inout_detached((&nonce).into(), aad, out[NONCE_LEN..].as_mut().into())
            .map_err(|_| Error::Rejected("value too large to encrypt".into()))?;
        out.extend_from_slice(&tag);
        Ok(out)
    }

    /// Inverse of [`SealingKey::seal`]; `what` names the value in the
    /// error (never its content).
    pub(crate) fn open(&self, aad: &[u8], sealed: &[u8], what: &str) -> Result<Vec<u8>, Error> {
        let fail = || Error::Decrypt(what.into());
        let (nonce, rest) = sealed.split_first_chunk::<NONCE_LEN>().ok_or_else(fail)?;
        let (ct, tag) = rest.split_last_chunk::<TAG_LEN>().ok_or_else(fail)?;
        let mut plain = ct.to_vec();
        self.0
            .decrypt_inout_detached(nonce.into(), aad, plain.as_mut_slice().into(), tag.into())
            .map_err(|_| fail())?;
        Ok(plain)
    }

    /// Seals a data key under this KEK, with a fresh random nonce.
    fn wrap(&self, aad: &[u8], dek: &Dek) -> Result<Vec<u8>, Error> {
        self.seal_with(random()?, aad, dek)
    }

    /// Inverse of [`SealingKey::wrap`].
    fn unwrap(&self, aad: &[u8], wrapped: &[u8]) -> Result<Dek, Error> {
        let dek = self.open(aad, wrapped, "data key")?;
        dek.try_into()
            .map_err(|_| Error::Decrypt("data key".into()))
    }
}

/// The default provider: a key file.
pub struct FileKeyProvider {
    path: PathBuf,
    /// Oldest first; the last is current. Never empty.
    keks: Vec<KekEntry>,
    pseudonym: [u8; 32],
}

/// One KEK of a key file: its id, its bytes (to write the file back), and
/// its cipher, set up once.
struct KekEntry {
    id: String,
    key: [u8; 32],
    cipher: SealingKey,
}

impl KekEntry {
    fn new(id: String, key: [u8; 32]) -> Self {
        KekEntry {
            id,
            cipher: SealingKey::new(&key),
            key,
        }
    }
}

impl std::fmt::Debug for FileKeyProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ids: Vec<&str> = self.keks.iter().map(|k| k.id.as_str()).collect();
        write!(f, "FileKeyProvider({}, keks {ids:?})", self.path.display())
    }
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
            keks: vec![KekEntry::new("kek-1".into(), random()?)],
            pseudonym: random()?,
        };
        create_private(path, p.render().as_bytes()).map_err(|e| err(e.to_string()))?;
        Ok(p)
    }

    /// Opens the key file at `path`, creating it first if there is none:
    /// created once however many processes start on it together (the
    /// gateways of a region), each of which then holds the same keys.
    pub fn open_or_create(path: &Path) -> Result<Self, Error> {
        match Self::create(path) {
            Err(Error::Keys { .. }) if path.exists() => Self::open(path),
            created => created,
        }
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
                    if keks.iter().any(|k: &KekEntry| k.id == *id) {
                        return Err(err(format!("line {}: KEK {id} listed twice", n + 1)));
                    }
                    keks.push(KekEntry::new(
                        (*id).to_owned(),
                        <[u8; 32]>::from_hex(key)
                            .map_err(|_| err(format!("line {}: bad KEK", n + 1)))?,
                    ))
                }
                ["pseudonym", _] if pseudonym.is_some() => {
                    return Err(err(format!("line {}: a second pseudonym secret", n + 1)));
                }
                ["pseudonym", key] => {
                    pseudonym = Some(
                        <[u8; 32]>::from_hex(key)
                            .map_err(|_| err(format!("line {}: bad pseudonym secret", n + 1)))?,
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
            .filter_map(|k| k.id.strip_prefix("kek-")?.parse::<u64>().ok())
            .max()
            .unwrap_or(0)
            + 1;
        let id = format!("kek-{next}");
        self.keks.push(KekEntry::new(id.clone(), random()?));
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
        Ok(old.into_iter().map(|k| k.id).collect())
    }

    /// Ids of the KEKs in the file, the current one last.
    pub fn kek_ids(&self) -> Vec<&str> {
        self.keks.iter().map(|k| k.id.as_str()).collect()
    }

    /// Writes the file anew: a temporary file (0600, synced; one a crash
    /// left is replaced), renamed over the old one, then the directory
    /// synced — never a half-written file.
    fn save(&self) -> Result<(), Error> {
        let err = |e: std::io::Error| Error::Keys {
            path: self.path.display().to_string(),
            why: e.to_string(),
        };
        let tmp = self.path.with_extension("tmp");
        if let Err(e) = std::fs::remove_file(&tmp)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            return Err(err(e));
        }
        create_private(&tmp, self.render().as_bytes()).map_err(err)?;
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
        s.push_str(&format!("pseudonym {}\n", hex::encode(self.pseudonym)));
        for k in &self.keks {
            s.push_str(&format!("kek {} {}\n", k.id, hex::encode(k.key)));
        }
        s
    }

    fn current(&self) -> &KekEntry {
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
    fn wrap(&self, dek: &Dek, context: &[u8]) -> Result<WrappedKey, Error> {
        let kek = self.current();
        Ok(WrappedKey {
            kek_id: kek.id.clone(),
            bytes: kek.cipher.wrap(&kek_aad(&kek.id, context), dek)?,
        })
    }

    fn unwrap(&self, wrapped: &WrappedKey, context: &[u8]) -> Result<Dek, Error> {
        let kek = self
            .keks
            .iter()
            .find(|k| k.id == wrapped.kek_id)
            .ok_or_else(|| Error::Keys {
                path: self.path.display().to_string(),
                why: format!("no KEK {}", wrapped.kek_id),
            })?;
        kek.cipher
            .unwrap(&kek_aad(&kek.id, context), &wrapped.bytes)
    }

    fn pseudonym_secret(&self) -> [u8; 32] {
        self.pseudonym
    }

    fn current_kek_id(&self) -> String {
        self.current().id.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(hex: &str) -> Vec<u8> {
        (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"))
            .collect()
    }

    /// RFC 8452 Appendix C.2 (AEAD_AES_256_GCM_SIV), read through our
    /// layout: nonce, ciphertext, tag.
    #[test]
    fn data_keys_open_the_rfc_8452_vectors() {
        let mut key = [0u8; 32];
        key[0] = 1;
        let key = SealingKey::new(&key);
        for (plain, ct, tag) in [
            ("", "", "07f5f4169bbf55a8400cd47ea6fd400f"),
            (
                "0100000000000000",
                "c2ef328e5c71c83b",
                "843122130f7364b761e0b97427e3df28",
            ),
            (
                "0100000000000000000000000000000002000000000000000000000000000000",
                "4a6a9db4c8c6549201b9edb53006cba821ec9cf850948a7c86c68ac7539d027f",
                "e819e63abcd020b006a976397632eb5d",
            ),
        ] {
            let sealed = bytes(&format!("030000000000000000000000{ct}{tag}"));
            assert_eq!(
                key.open(b"", &sealed, "vector").expect("opens"),
                bytes(plain)
            );
            let mut tampered = sealed.clone();
            let last = tampered.len() - 1;
            tampered[last] ^= 1;
            assert!(key.open(b"", &tampered, "vector").is_err());
        }
    }

    #[test]
    fn a_sealed_value_opens_only_with_its_associated_data() {
        let key = SealingKey::new(&[7; 32]);
        let mut nonces = Nonces::new().expect("random");
        let sealed = key.seal(&mut nonces, b"here", b"value").expect("seals");
        assert_eq!(sealed.len(), NONCE_LEN + 5 + TAG_LEN);
        assert_eq!(key.open(b"here", &sealed, "v").expect("opens"), b"value");
        assert!(key.open(b"there", &sealed, "v").is_err());
        assert!(
            key.open(b"here", &sealed[..NONCE_LEN + TAG_LEN - 1], "v")
                .is_err()
        );
        // Equal values under one key seal differently: the nonce moves on.
        assert_ne!(
            sealed,
            key.seal(&mut nonces, b"here", b"value").expect("seals")
        );
    }

    #[test]
    fn a_wrapped_data_key_unwraps_only_in_its_context() {
        let kek = SealingKey::new(&[9; 32]);
        let wrapped = kek.wrap(b"slot 1", &[3; 32]).expect("wraps");
        assert_eq!(kek.unwrap(b"slot 1", &wrapped).expect("unwraps"), [3; 32]);
        assert!(kek.unwrap(b"slot 2", &wrapped).is_err());
    }

    /// Three gateways started together with `--init` on a fresh region:
    /// one failed with "File exists", and one could have read the file
    /// half written.
    #[test]
    fn processes_creating_one_key_file_together_all_hold_the_same_keys() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("region.keys");
        let barrier = std::sync::Barrier::new(8);
        let secrets: Vec<[u8; 32]> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|_| {
                    s.spawn(|| {
                        barrier.wait();
                        FileKeyProvider::open_or_create(&path)
                            .expect("opens or creates")
                            .pseudonym_secret()
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("joins"))
                .collect()
        });
        assert!(secrets.iter().all(|s| *s == secrets[0]));
        let opened = FileKeyProvider::open(&path).expect("opens");
        assert_eq!(opened.pseudonym_secret(), secrets[0]);
        let mode = std::fs::metadata(&path)
            .expect("metadata")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let files = std::fs::read_dir(dir.path()).expect("reads").count();
        assert_eq!(files, 1, "files written aside were left behind");
    }
}
