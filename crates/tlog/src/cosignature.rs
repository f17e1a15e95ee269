//! tlog-cosignature/v1: timestamped Ed25519 cosignatures by witnesses
//! (<https://c2sp.org/tlog-cosignature>).
//!
//! The signed message is `cosignature/v1\ntime <T>\n` followed by the
//! checkpoint's note text; the signature line carries
//! `key ID || uint64 timestamp || signature`.

use crate::Error;
use crate::note::{NoteSignature, Signer, TYPE_COSIGNATURE_V1};

/// The message a cosigner signs for checkpoint `text` at `timestamp`.
pub fn signed_message(timestamp: u64, text: &[u8]) -> Vec<u8> {
    let mut msg = format!("cosignature/v1\ntime {timestamp}\n").into_bytes();
    msg.extend_from_slice(text);
    msg
}

/// Cosigns checkpoint `text` at `timestamp` (seconds since the epoch).
pub fn cosign(cosigner: &Signer, text: &str, timestamp: u64) -> Result<NoteSignature, Error> {
    if cosigner.sig_type() != TYPE_COSIGNATURE_V1 {
        return Err(Error::malformed(
            "cosigner key",
            "not a cosignature/v1 key (type 0x04)",
        ));
    }
    if timestamp > i64::MAX as u64 {
        return Err(Error::malformed("cosignature", "timestamp above 2^63-1"));
    }
    let sig = cosigner.sign_raw(&signed_message(timestamp, text.as_bytes()));
    let mut bytes = timestamp.to_be_bytes().to_vec();
    bytes.extend_from_slice(&sig);
    Ok(NoteSignature {
        name: cosigner.name().to_owned(),
        key_id: cosigner.key_id(),
        signature: bytes,
    })
}

/// The timestamp of a cosignature line, if it is long enough to have one.
pub fn timestamp(sig: &NoteSignature) -> Option<u64> {
    sig.signature
        .first_chunk::<8>()
        .map(|b| u64::from_be_bytes(*b))
}
