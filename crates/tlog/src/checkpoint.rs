//! tlog-checkpoint: the signed tree head of a log
//! (<https://c2sp.org/tlog-checkpoint>).

use crate::Error;
use crate::hash::Hash;
use crate::note::{Note, Signer, Verifier};

/// The note text of a checkpoint: origin, tree size, root hash, and
/// optional extension lines.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    /// The log's identity, e.g. `residency.example/eu-fr`.
    pub origin: String,
    /// Number of leaves.
    pub size: u64,
    /// RFC 6962 root hash of the tree.
    pub root: Hash,
    /// Opaque extension lines (not recommended, kept verbatim).
    pub extensions: Vec<String>,
}

impl Checkpoint {
    /// Parses checkpoint note text (not a signed note: see [`SignedCheckpoint`]).
    pub fn parse(text: &str) -> Result<Self, Error> {
        let bad = |why: &str| Error::malformed("checkpoint", why.to_owned());
        let body = text
            .strip_suffix('\n')
            .ok_or_else(|| bad("does not end with a newline"))?;
        let mut lines = body.split('\n');
        let origin = lines
            .next()
            .filter(|l| !l.is_empty())
            .ok_or_else(|| bad("empty origin line"))?;
        let size = lines.next().ok_or_else(|| bad("no tree size line"))?;
        let size = parse_size(size)
            .ok_or_else(|| bad("tree size is not a decimal without leading zeros"))?;
        let root = lines.next().ok_or_else(|| bad("no root hash line"))?;
        let root =
            Hash::from_base64(root).map_err(|_| bad("root hash is not 32 bytes of base64"))?;
        let extensions: Vec<String> = lines.map(str::to_owned).collect();
        if extensions.iter().any(String::is_empty) {
            return Err(bad("empty extension line"));
        }
        Ok(Checkpoint {
            origin: origin.to_owned(),
            size,
            root,
            extensions,
        })
    }

    /// The note text.
    pub fn to_text(&self) -> String {
        let mut s = format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            self.root.to_base64()
        );
        for e in &self.extensions {
            s.push_str(e);
            s.push('\n');
        }
        s
    }

    /// Signs the checkpoint as a note.
    pub fn sign(&self, signer: &Signer) -> Result<SignedCheckpoint, Error> {
        let note = crate::note::sign(&self.to_text(), signer)?;
        Ok(SignedCheckpoint {
            checkpoint: self.clone(),
            note,
        })
    }
}

/// Decimal, no leading zeros unless `0`, fits in u64.
pub(crate) fn parse_size(s: &str) -> Option<u64> {
    if s.is_empty()
        || s.len() > 20
        || !s.bytes().all(|b| b.is_ascii_digit())
        || (s.len() > 1 && s.starts_with('0'))
    {
        return None;
    }
    s.parse().ok()
}

/// A checkpoint with its signatures (the log's and any cosignatures).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedCheckpoint {
    /// The parsed checkpoint.
    pub checkpoint: Checkpoint,
    /// The note it came from, with every signature line.
    pub note: Note,
}

impl SignedCheckpoint {
    /// Parses a signed checkpoint and verifies it: the log's signature must
    /// verify with `log_key`, whose name must be the origin. Signatures by
    /// keys not in `log_key` or `others` (witnesses) are ignored.
    pub fn open(msg: &[u8], log_key: &Verifier, others: &[Verifier]) -> Result<Self, Error> {
        let note = Note::parse(msg)?;
        let checkpoint = Checkpoint::parse(&note.text)?;
        if checkpoint.origin != log_key.name {
            return Err(Error::OriginMismatch {
                expected: log_key.name.clone(),
                found: checkpoint.origin,
            });
        }
        let mut keys = vec![log_key.clone()];
        keys.extend(others.iter().cloned());
        let signed = note.verify(&keys)?;
        if !signed.contains(&log_key) {
            return Err(Error::Unverified(format!(
                "no signature by the log key {}",
                log_key.name
            )));
        }
        Ok(SignedCheckpoint { checkpoint, note })
    }

    /// Parses without verifying. Only for tools that report on untrusted
    /// input; everything else uses [`SignedCheckpoint::open`].
    pub fn parse_unverified(msg: &[u8]) -> Result<Self, Error> {
        let note = Note::parse(msg)?;
        let checkpoint = Checkpoint::parse(&note.text)?;
        Ok(SignedCheckpoint { checkpoint, note })
    }

    /// The signed note text.
    pub fn to_text(&self) -> String {
        self.note.to_text()
    }
}
