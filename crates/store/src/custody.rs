//! Records sealed for a key custodian: under a record key derived from a
//! batch secret that only the custodian can open (`custody` crate). Ingest
//! seals without asking the custodian anything; opening takes the record
//! keys the custodian releases for a logged access.
//!
//! Such a record's sealed bytes start with [`BATCH_SEALED`] and the batch
//! id (8 bytes, big-endian), then the nonce, ciphertext and tag as for any
//! record. A record sealed under its subject's data key (a store from
//! before its migration) starts with its nonce's random 8-byte prefix,
//! which equals the marker with probability 2⁻⁶⁴.

use custody::{CustodianPublicKey, RecordKey, WrappedSecret};

use crate::Error;

/// The marker of a record sealed under a batch secret.
pub const BATCH_SEALED: [u8; 8] = *b"rsd/bk1\0";

/// Where a store seals new batches when a custodian holds its keys.
#[derive(Clone, Debug)]
pub struct Custody {
    /// The custodian's current public key.
    pub key: CustodianPublicKey,
    /// The region, bound into every wrapped secret.
    pub region: String,
}

/// A record key a custodian must release to open some rows: the batch,
/// the dataset, and the batch secret as wrapped.
#[derive(Clone, Debug)]
pub struct KeyNeed {
    /// The batch id.
    pub batch: u64,
    /// The dataset.
    pub dataset: String,
    /// The batch secret, sealed to the custodian.
    pub wrapped: WrappedSecret,
}

/// Record keys released by the custodian, by (batch, dataset).
pub type RecordKeys = std::collections::HashMap<(u64, String), RecordKey>;

/// The batch a sealed record is under, and the rest of its bytes; `None`
/// for a record sealed under its subject's data key.
pub(crate) fn batch_of(sealed: &[u8]) -> Option<(u64, &[u8])> {
    let rest = sealed.strip_prefix(&BATCH_SEALED)?;
    let (id, rest) = rest.split_first_chunk::<8>()?;
    Some((u64::from_be_bytes(*id), rest))
}

/// Prefixes sealed bytes with the batch marker and id.
pub(crate) fn mark(batch: u64, sealed: Vec<u8>) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + sealed.len());
    out.extend_from_slice(&BATCH_SEALED);
    out.extend_from_slice(&batch.to_be_bytes());
    out.extend_from_slice(&sealed);
    out
}

/// A stored wrapped secret, parsed.
pub(crate) fn parse_wrapped(batch: u64, bytes: &[u8]) -> Result<WrappedSecret, Error> {
    WrappedSecret::from_bytes(bytes).map_err(|_| {
        Error::Schema(format!(
            "the keyring's batch key {batch} is not a wrapped secret"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_marked_record_gives_back_its_batch_and_bytes() {
        let m = mark(42, vec![1, 2, 3]);
        assert_eq!(batch_of(&m), Some((42, &[1u8, 2, 3][..])));
        assert_eq!(batch_of(&[0u8; 40]), None);
        assert_eq!(batch_of(&BATCH_SEALED), None);
    }
}
