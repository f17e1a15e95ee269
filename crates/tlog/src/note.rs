//! C2SP signed notes with Ed25519 keys (<https://c2sp.org/signed-note>), and
//! the verifier and signer key encodings of the Go `sumdb/note` package.
//!
//! A note is text followed by a blank line and signature lines
//! `— <name> base64(key ID || signature)`. Parsing ([`Note::parse`]) checks
//! syntax only; [`Note::verify`] checks signatures against trusted keys
//! ([`NoteVerifier`]s), ignoring unknown ones, as the spec requires.
//!
//! This module knows Ed25519 note signatures (type 0x01) only; the
//! timestamped cosignatures of witnesses (type 0x04) are checked in
//! [`cosignature`](crate::cosignature), which builds on this one.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{Signer as _, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

use crate::Error;

/// Signature type byte of Ed25519 note signatures.
pub const TYPE_ED25519: u8 = 0x01;
/// Signature type byte of tlog-cosignature/v1 Ed25519 cosignatures.
pub const TYPE_COSIGNATURE_V1: u8 = 0x04;

/// Notes with more signatures are rejected; the spec asks for at least 16.
pub const MAX_SIGNATURES: usize = 100;
/// Notes larger than this are rejected before parsing.
pub const MAX_NOTE_LEN: usize = 1 << 20;

const SIG_PREFIX: &str = "\u{2014} ";

/// A key ID: the first four bytes of `SHA-256(name || 0x0A || type || key)`.
pub fn key_id(name: &str, sig_type: u8, public_key: &[u8]) -> u32 {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update([b'\n', sig_type]);
    h.update(public_key);
    let d = h.finalize();
    u32::from_be_bytes([d[0], d[1], d[2], d[3]])
}

/// Key names must be non-empty, without Unicode spaces or `+`.
pub fn check_key_name(name: &str) -> Result<(), Error> {
    if name.is_empty() {
        return Err(Error::malformed("key name", "empty"));
    }
    if name
        .chars()
        .any(|c| c.is_whitespace() || c == '+' || c.is_control())
    {
        return Err(Error::malformed(
            "key name",
            "contains a space, a control character or '+'",
        ));
    }
    Ok(())
}

/// One signature line of a note.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NoteSignature {
    /// Key name.
    pub name: String,
    /// Key ID, the first four bytes of the decoded signature.
    pub key_id: u32,
    /// The signature bytes after the key ID.
    pub signature: Vec<u8>,
}

impl NoteSignature {
    /// The line as it appears in a note, with its final newline.
    pub fn to_line(&self) -> String {
        let mut raw = self.key_id.to_be_bytes().to_vec();
        raw.extend_from_slice(&self.signature);
        format!("{SIG_PREFIX}{} {}\n", self.name, STANDARD.encode(raw))
    }

    /// Parses one signature line, without its newline.
    pub fn parse_line(line: &str) -> Result<Self, Error> {
        let rest = line.strip_prefix(SIG_PREFIX).ok_or_else(|| {
            Error::malformed(
                "note signature",
                "line does not start with an em dash and a space",
            )
        })?;
        let (name, b64) = rest.split_once(' ').ok_or_else(|| {
            Error::malformed("note signature", "no space between key name and signature")
        })?;
        check_key_name(name)?;
        let raw = STANDARD
            .decode(b64)
            .map_err(|e| Error::malformed("note signature", format!("bad base64: {e}")))?;
        if raw.len() < 5 {
            return Err(Error::malformed(
                "note signature",
                "shorter than a key ID and a signature",
            ));
        }
        let (id, sig) = raw.split_at(4);
        Ok(NoteSignature {
            name: name.to_owned(),
            key_id: u32::from_be_bytes([id[0], id[1], id[2], id[3]]),
            signature: sig.to_vec(),
        })
    }
}

/// A parsed, not yet verified, signed note.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Note {
    /// The text, ending in a newline.
    pub text: String,
    /// The signatures, in order.
    pub signatures: Vec<NoteSignature>,
}

impl Note {
    /// Parses a signed note's syntax. Signatures are not checked.
    pub fn parse(msg: &[u8]) -> Result<Self, Error> {
        if msg.len() > MAX_NOTE_LEN {
            return Err(Error::malformed("note", "larger than 1 MiB"));
        }
        let msg = std::str::from_utf8(msg).map_err(|_| Error::malformed("note", "not UTF-8"))?;
        if msg.chars().any(|c| (c as u32) < 0x20 && c != '\n') {
            return Err(Error::malformed(
                "note",
                "contains a control character other than newline",
            ));
        }
        if !msg.ends_with('\n') {
            return Err(Error::malformed("note", "does not end with a newline"));
        }
        // The text is separated from the signatures by the last blank line.
        let split = msg
            .rfind("\n\n")
            .ok_or_else(|| Error::malformed("note", "no blank line before the signatures"))?;
        let text = &msg[..split + 1];
        let sigs = &msg[split + 2..];
        if sigs.is_empty() {
            return Err(Error::malformed("note", "no signatures"));
        }
        let signatures = sigs
            .strip_suffix('\n')
            .unwrap_or(sigs)
            .split('\n')
            .map(NoteSignature::parse_line)
            .collect::<Result<Vec<_>, _>>()?;
        if signatures.len() > MAX_SIGNATURES {
            return Err(Error::malformed(
                "note",
                format!("more than {MAX_SIGNATURES} signatures"),
            ));
        }
        Ok(Note {
            text: text.to_owned(),
            signatures,
        })
    }

    /// Serializes the note: text, blank line, signature lines.
    pub fn to_text(&self) -> String {
        let mut s = self.text.clone();
        s.push('\n');
        for sig in &self.signatures {
            s.push_str(&sig.to_line());
        }
        s
    }

    /// Verifies the note against trusted keys. Signatures by unknown keys
    /// (name and key ID not both matching) are ignored; a signature by a
    /// known key that fails rejects the whole note; at least one must verify.
    /// Returns the verifiers that signed, in the order given.
    pub fn verify<'v, V: NoteVerifier>(&self, verifiers: &'v [V]) -> Result<Vec<&'v V>, Error> {
        let mut ok: Vec<&V> = Vec::new();
        for sig in &self.signatures {
            let Some(v) = verifiers
                .iter()
                .find(|v| v.name() == sig.name && v.key_id() == sig.key_id)
            else {
                continue;
            };
            if !v.verify(self.text.as_bytes(), &sig.signature) {
                return Err(Error::Unverified(format!(
                    "signature by {} does not verify",
                    sig.name
                )));
            }
            if !ok.iter().any(|o| std::ptr::eq(*o, v)) {
                ok.push(v);
            }
        }
        if ok.is_empty() {
            return Err(Error::Unverified(
                "no signature by a trusted key".to_owned(),
            ));
        }
        Ok(ok)
    }
}

/// A trusted key that checks note signatures, one implementation per
/// signature type (as in the Go `note.Verifier`, and azul's `NoteVerifier`).
/// [`Verifier`], a key of either type read from a vkey, implements it in
/// [`cosignature`](crate::cosignature), which knows both types.
pub trait NoteVerifier {
    /// The key's name.
    fn name(&self) -> &str;
    /// The key's ID.
    fn key_id(&self) -> u32;
    /// Whether `sig` (a signature line's bytes after the key ID) is this
    /// key's valid signature of the note `text`.
    fn verify(&self, text: &[u8], sig: &[u8]) -> bool;
}

/// Checks an Ed25519 note signature (type 0x01) of `text` by `key`.
pub(crate) fn verify_ed25519(key: &VerifyingKey, text: &[u8], sig: &[u8]) -> bool {
    let Ok(sig) = ed25519_dalek::Signature::from_slice(sig) else {
        return false;
    };
    key.verify_strict(text, &sig).is_ok()
}

/// Signs note text and makes a note with one signature.
pub fn sign(text: &str, signer: &Signer) -> Result<Note, Error> {
    check_text(text)?;
    Ok(Note {
        text: text.to_owned(),
        signatures: vec![signer.sign(text.as_bytes())],
    })
}

fn check_text(text: &str) -> Result<(), Error> {
    if !text.ends_with('\n') {
        return Err(Error::malformed("note text", "does not end with a newline"));
    }
    if text.chars().any(|c| (c as u32) < 0x20 && c != '\n') {
        return Err(Error::malformed(
            "note text",
            "contains a control character other than newline",
        ));
    }
    Ok(())
}

/// A trusted public key: an Ed25519 note key (type 0x01) or a
/// tlog-cosignature/v1 key (type 0x04). It checks signatures as a
/// [`NoteVerifier`], by its type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verifier {
    /// Key name.
    pub name: String,
    /// Key ID.
    pub key_id: u32,
    /// Signature type byte.
    pub sig_type: u8,
    key: VerifyingKey,
}

impl Verifier {
    /// Makes a verifier from a name, a type and an Ed25519 public key.
    pub fn new(name: &str, sig_type: u8, key: VerifyingKey) -> Result<Self, Error> {
        check_key_name(name)?;
        if sig_type != TYPE_ED25519 && sig_type != TYPE_COSIGNATURE_V1 {
            return Err(Error::malformed(
                "verifier key",
                format!("unsupported signature type {sig_type:#04x}"),
            ));
        }
        Ok(Verifier {
            name: name.to_owned(),
            key_id: key_id(name, sig_type, key.as_bytes()),
            sig_type,
            key,
        })
    }

    /// Parses a verifier key, `<name>+<hex key ID>+<base64(type || key)>`,
    /// and checks that the key ID matches the key.
    pub fn parse(vkey: &str) -> Result<Self, Error> {
        let what = "verifier key";
        let (name, id, sig_type, key) = parse_key(vkey.trim_end_matches('\n'), what)?;
        let key = VerifyingKey::from_bytes(&key)
            .map_err(|_| Error::malformed(what, "not an Ed25519 public key"))?;
        let v = Verifier::new(name, sig_type, key)?;
        if v.key_id != id {
            return Err(Error::malformed(what, "key ID does not match the key"));
        }
        Ok(v)
    }

    /// The verifier key string, as [`Verifier::parse`] reads it.
    pub fn to_vkey(&self) -> String {
        let mut raw = vec![self.sig_type];
        raw.extend_from_slice(self.key.as_bytes());
        format!("{}+{:08x}+{}", self.name, self.key_id, STANDARD.encode(raw))
    }

    /// The Ed25519 public key.
    pub fn public_key(&self) -> &VerifyingKey {
        &self.key
    }
}

/// Splits `<name>+<hex key ID>+<base64(type || 32 bytes)>`. The base64 may
/// itself contain `+`, the name may not.
fn parse_key<'a>(text: &'a str, what: &'static str) -> Result<(&'a str, u32, u8, [u8; 32]), Error> {
    let mut parts = text.splitn(3, '+');
    let (Some(name), Some(id_hex), Some(b64)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(Error::malformed(what, "expected name+keyid+key"));
    };
    let id = parse_key_id(id_hex)?;
    let raw = STANDARD
        .decode(b64)
        .map_err(|_| Error::malformed(what, "key is not base64"))?;
    let (&sig_type, key) = raw
        .split_first()
        .ok_or_else(|| Error::malformed(what, "empty key"))?;
    let key: [u8; 32] = key
        .try_into()
        .map_err(|_| Error::malformed(what, format!("{}-byte key, expected 32", key.len())))?;
    Ok((name, id, sig_type, key))
}

fn parse_key_id(hex: &str) -> Result<u32, Error> {
    if hex.len() != 8
        || !hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return Err(Error::malformed(
            "key",
            "key ID is not 8 lowercase hex digits",
        ));
    }
    u32::from_str_radix(hex, 16).map_err(|_| Error::malformed("key", "bad key ID"))
}

/// An Ed25519 note signing key with its name.
#[derive(Clone)]
pub struct Signer {
    name: String,
    key_id: u32,
    sig_type: u8,
    key: SigningKey,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the private key.
        write!(f, "Signer({}+{:08x})", self.name, self.key_id)
    }
}

impl Signer {
    /// Makes a signer from a name, a type and a 32-byte Ed25519 seed.
    pub fn from_seed(name: &str, sig_type: u8, seed: &[u8; 32]) -> Result<Self, Error> {
        check_key_name(name)?;
        let key = SigningKey::from_bytes(seed);
        Ok(Signer {
            name: name.to_owned(),
            key_id: key_id(name, sig_type, key.verifying_key().as_bytes()),
            sig_type,
            key,
        })
    }

    /// Generates a fresh key from the operating system's random source.
    pub fn generate(name: &str, sig_type: u8) -> Result<Self, Error> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed)
            .map_err(|e| Error::io("random source", std::io::Error::other(e.to_string())))?;
        Self::from_seed(name, sig_type, &seed)
    }

    /// Parses a signer key, `PRIVATE+KEY+<name>+<hex key ID>+<base64(type || seed)>`.
    pub fn parse(skey: &str) -> Result<Self, Error> {
        let what = "signer key";
        let body = skey
            .trim_end_matches('\n')
            .strip_prefix("PRIVATE+KEY+")
            .ok_or_else(|| Error::malformed(what, "does not start with PRIVATE+KEY+"))?;
        let (name, id, sig_type, seed) = parse_key(body, what)?;
        if sig_type != TYPE_ED25519 && sig_type != TYPE_COSIGNATURE_V1 {
            return Err(Error::malformed(what, "unsupported signature type"));
        }
        let s = Signer::from_seed(name, sig_type, &seed)?;
        if s.key_id != id {
            return Err(Error::malformed(what, "key ID does not match the key"));
        }
        Ok(s)
    }

    /// The signer key string, as [`Signer::parse`] reads it. Secret.
    pub fn to_skey(&self) -> String {
        let mut raw = vec![self.sig_type];
        raw.extend_from_slice(self.key.as_bytes());
        format!(
            "PRIVATE+KEY+{}+{:08x}+{}",
            self.name,
            self.key_id,
            STANDARD.encode(raw)
        )
    }

    /// The matching verifier.
    pub fn verifier(&self) -> Verifier {
        Verifier {
            name: self.name.clone(),
            key_id: self.key_id,
            sig_type: self.sig_type,
            key: self.key.verifying_key(),
        }
    }

    /// Key name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Signature type byte.
    pub fn sig_type(&self) -> u8 {
        self.sig_type
    }

    /// Signs `text` as a note signature of this key's type. Cosigners use
    /// [`crate::cosignature::cosign`] instead, which needs a timestamp.
    pub fn sign(&self, text: &[u8]) -> NoteSignature {
        NoteSignature {
            name: self.name.clone(),
            key_id: self.key_id,
            signature: self.key.sign(text).to_bytes().to_vec(),
        }
    }

    /// Signs an arbitrary message with the raw key (for cosignatures).
    pub(crate) fn sign_raw(&self, msg: &[u8]) -> [u8; 64] {
        self.key.sign(msg).to_bytes()
    }

    /// Key ID.
    pub fn key_id(&self) -> u32 {
        self.key_id
    }
}
