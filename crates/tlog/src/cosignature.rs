//! tlog-cosignature/v1: timestamped Ed25519 cosignatures by witnesses
//! (<https://c2sp.org/tlog-cosignature>).
//!
//! The signed message is `cosignature/v1\ntime <T>\n` followed by the
//! checkpoint's note text; the signature line carries
//! `key ID || uint64 timestamp || signature`.
//!
//! Cosignatures are note signatures of their own type: checking one is an
//! implementation of [`NoteVerifier`], here, so that [`note`](crate::note)
//! needs nothing of this module.

use ed25519_dalek::VerifyingKey;

use crate::Error;
use crate::note::{
    NoteSignature, NoteVerifier, Signer, TYPE_COSIGNATURE_V1, TYPE_ED25519, Verifier,
    verify_ed25519,
};

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

/// Checks a cosignature/v1 signature (`uint64 timestamp || Ed25519
/// signature` of the [signed message](signed_message)) of `text` by `key`.
fn verify_cosignature(key: &VerifyingKey, text: &[u8], sig: &[u8]) -> bool {
    let Some((ts, sig)) = sig.split_first_chunk::<8>() else {
        return false;
    };
    let Ok(sig) = ed25519_dalek::Signature::from_slice(sig) else {
        return false;
    };
    let timestamp = u64::from_be_bytes(*ts);
    if timestamp > i64::MAX as u64 {
        return false;
    }
    key.verify_strict(&signed_message(timestamp, text), &sig)
        .is_ok()
}

/// A vkey's key checks signatures of its type: Ed25519 note signatures
/// ([`note`](crate::note)) or cosignatures (this module).
impl NoteVerifier for Verifier {
    fn name(&self) -> &str {
        &self.name
    }

    fn key_id(&self) -> u32 {
        self.key_id
    }

    fn verify(&self, text: &[u8], sig: &[u8]) -> bool {
        match self.sig_type {
            TYPE_ED25519 => verify_ed25519(self.public_key(), text, sig),
            TYPE_COSIGNATURE_V1 => verify_cosignature(self.public_key(), text, sig),
            _ => false,
        }
    }
}

/// The timestamp of a cosignature line, if it is long enough to have one.
pub fn timestamp(sig: &NoteSignature) -> Option<u64> {
    sig.signature
        .first_chunk::<8>()
        .map(|b| u64::from_be_bytes(*b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::note::Note;

    const TEXT: &str =
        "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";

    #[test]
    fn cosignature_verifies_and_binds_its_timestamp() {
        let w = Signer::generate("witness.example/w1", TYPE_COSIGNATURE_V1).unwrap();
        let sig = cosign(&w, TEXT, 1_679_315_147).unwrap();
        assert_eq!(sig.signature.len(), 8 + 64);
        assert_eq!(timestamp(&sig), Some(1_679_315_147));
        let note = Note {
            text: TEXT.into(),
            signatures: vec![sig.clone()],
        };
        let parsed = Note::parse(note.to_text().as_bytes()).unwrap();
        parsed.verify(&[w.verifier()]).unwrap();
        // The vkey carries type 0x04 and round-trips.
        let vkey = w.verifier().to_vkey();
        assert_eq!(crate::note::Verifier::parse(&vkey).unwrap(), w.verifier());

        // Another timestamp, or the same key read as a plain Ed25519 note key: no.
        let mut moved = sig.clone();
        moved.signature[7] ^= 1;
        let n = Note {
            text: TEXT.into(),
            signatures: vec![moved],
        };
        assert!(n.verify(&[w.verifier()]).is_err());
        let plain = crate::note::Verifier::new(
            "witness.example/w1",
            TYPE_ED25519,
            *w.verifier().public_key(),
        )
        .unwrap();
        assert_ne!(
            plain.key_id,
            w.key_id(),
            "key IDs are domain-separated by type"
        );
        // A note key cannot cosign.
        let log = Signer::generate("log.example", TYPE_ED25519).unwrap();
        assert!(cosign(&log, TEXT, 1).is_err());
        assert!(cosign(&w, TEXT, u64::MAX).is_err());
    }
}
