//! tlog-proof: an offline-verifiable receipt that an entry is in the log
//! (<https://c2sp.org/tlog-proof>).
//!
//! ```text
//! c2sp.org/tlog-proof@v1
//! [extra <base64>]
//! index <n>
//! <base64 hash>...
//!
//! <signed checkpoint>
//! ```

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::Error;
use crate::checkpoint::{SignedCheckpoint, parse_size};
use crate::hash::{Hash, leaf_hash};
use crate::merkle::{MAX_PROOF_LEN, verify_inclusion};
use crate::note::Verifier;

const HEADER: &str = "c2sp.org/tlog-proof@v1";

/// A tlog-proof receipt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Receipt {
    /// Opaque, unauthenticated application data.
    pub extra: Option<Vec<u8>>,
    /// Index of the entry in the log.
    pub index: u64,
    /// Inclusion proof of the entry in the checkpoint's tree.
    pub proof: Vec<Hash>,
    /// The signed checkpoint, verbatim.
    pub checkpoint: String,
}

impl Receipt {
    /// Parses a receipt's syntax; [`Receipt::verify`] checks it.
    pub fn parse(text: &str) -> Result<Self, Error> {
        let bad = |why: String| Error::malformed("tlog-proof", why);
        let (head, checkpoint) = text
            .split_once("\n\n")
            .ok_or_else(|| bad("no blank line before the checkpoint".into()))?;
        let mut lines = head.split('\n');
        if lines.next() != Some(HEADER) {
            return Err(bad(format!("first line is not {HEADER}")));
        }
        let mut line = lines.next().ok_or_else(|| bad("no index line".into()))?;
        let mut extra = None;
        if let Some(b64) = line.strip_prefix("extra ") {
            extra = Some(
                STANDARD
                    .decode(b64)
                    .map_err(|e| bad(format!("extra is not base64: {e}")))?,
            );
            line = lines.next().ok_or_else(|| bad("no index line".into()))?;
        }
        let index = line
            .strip_prefix("index ")
            .and_then(parse_size)
            .ok_or_else(|| bad("index line is not `index <decimal>`".into()))?;
        let proof = crate::hash::parse_proof_lines(lines, MAX_PROOF_LEN, "tlog-proof")?;
        Ok(Receipt {
            extra,
            index,
            proof,
            checkpoint: checkpoint.to_owned(),
        })
    }

    /// Serializes the receipt.
    pub fn to_text(&self) -> String {
        let mut s = format!("{HEADER}\n");
        if let Some(extra) = &self.extra {
            s.push_str(&format!("extra {}\n", STANDARD.encode(extra)));
        }
        s.push_str(&format!("index {}\n", self.index));
        for h in &self.proof {
            s.push_str(&h.to_base64());
            s.push('\n');
        }
        s.push('\n');
        s.push_str(&self.checkpoint);
        s
    }

    /// Verifies that `entry` is included in the log, offline: the checkpoint
    /// is signed by `log_key` and the proof leads from the entry to its root.
    /// `witnesses` lists cosigners whose signatures are checked if present;
    /// the caller decides how many it requires from the returned checkpoint.
    pub fn verify(
        &self,
        entry: &[u8],
        log_key: &Verifier,
        witnesses: &[Verifier],
    ) -> Result<SignedCheckpoint, Error> {
        let cp = SignedCheckpoint::open(self.checkpoint.as_bytes(), log_key, witnesses)?;
        verify_inclusion(
            &leaf_hash(entry),
            self.index,
            cp.checkpoint.size,
            &self.proof,
            &cp.checkpoint.root,
        )?;
        Ok(cp)
    }
}
