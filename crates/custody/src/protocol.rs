//! The custodian's request and answer bodies (JSON), parsed once into
//! types: hashes are 64 hex digits, entries and wrapped secrets base64,
//! salts 64 hex digits. A malformed body is refused naming the part, never
//! echoing it.
//!
//! `POST /v1/release` takes a [`ReleaseRequest`]: one log entry, the proof
//! that it is in the region's log, and the record keys asked for under it
//! (each with the subject's opening of the entry's salted set and its
//! membership proof), answered by a [`ReleaseAnswer`] — the keys in the
//! order asked, and the custodian's cosignature on the checkpoint.
//! `POST /v1/releases` takes a [`ReleasesRequest`]: several such
//! releases against one checkpoint, each decided on its own.
//! `POST /v1/erase` takes an [`EraseRequest`]: a logged erasure and the
//! openings of every leaf of its set; from its answer on, no key of an
//! erased subject is released again. Each may carry a [`Tail`] — the log's entries the
//! custodian has not read — and `POST /v1/scan` ([`ScanRequest`]) carries
//! only that, for catching up a page at a time.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};

use crate::{RecordKey, WrappedSecret};

/// An RFC 6962 hash, as 64 hex digits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct HexHash(pub tlog::Hash);

impl TryFrom<String> for HexHash {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        tlog::Hash::from_hex(&s)
            .map(HexHash)
            .map_err(|_| "not a hash (64 hex digits)".into())
    }
}

impl From<HexHash> for String {
    fn from(h: HexHash) -> String {
        h.0.to_hex()
    }
}

/// 32 bytes as 64 hex digits: an opening's salt.
#[derive(Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Salt(pub [u8; 32]);

impl std::fmt::Debug for Salt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Salt(..)")
    }
}

impl TryFrom<String> for Salt {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        <[u8; 32] as hex::FromHex>::from_hex(&s)
            .map(Salt)
            .map_err(|_| "not a salt (64 hex digits)".into())
    }
}

impl From<Salt> for String {
    fn from(s: Salt) -> String {
        hex::encode(s.0)
    }
}

/// Bytes as standard base64.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Base64(pub Vec<u8>);

impl std::fmt::Debug for Base64 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Base64({} bytes)", self.0.len())
    }
}

impl TryFrom<String> for Base64 {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        B64.decode(s).map(Base64).map_err(|_| "not base64".into())
    }
}

impl From<Base64> for String {
    fn from(b: Base64) -> String {
        B64.encode(b.0)
    }
}

/// A [`WrappedSecret`] in base64.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Wrapped(pub WrappedSecret);

impl TryFrom<String> for Wrapped {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        let bytes = B64.decode(s).map_err(|_| "not base64".to_owned())?;
        WrappedSecret::from_bytes(&bytes)
            .map(Wrapped)
            .map_err(|e| e.to_string())
    }
}

impl From<Wrapped> for String {
    fn from(w: Wrapped) -> String {
        B64.encode(w.0.to_bytes())
    }
}

/// A consistency proof from the checkpoint the region believes the
/// custodian holds to the one a request carries.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Consistency {
    /// The size the proof starts from.
    pub old_size: u64,
    /// The proof's hashes (RFC 6962 §2.1.4).
    pub proof: Vec<HexHash>,
}

/// The log's entries the custodian has not read yet, from its scanned
/// size: it hashes them onto the tree it has checked so far and needs the
/// result to lead to the request's checkpoint, so it has seen every entry
/// — every erasure — in the log it vouches for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tail {
    /// The index of the first entry.
    pub from: u64,
    /// The entries' bytes, in log order.
    pub entries: Vec<Base64>,
    /// When the entries stop short of the checkpoint: the consistency
    /// proof from the size they end at to the checkpoint's.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub proof: Vec<HexHash>,
}

impl Tail {
    /// The size the entries end at.
    pub fn end(&self) -> u64 {
        self.from.saturating_add(self.entries.len() as u64)
    }
}

/// One entry of the region's log and its inclusion proof to the request's
/// checkpoint.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoggedEntry {
    /// Its index in the log.
    pub index: u64,
    /// The entry's bytes, as logged.
    pub bytes: Base64,
    /// The inclusion proof's hashes (RFC 6962 §2.1.3).
    pub inclusion: Vec<HexHash>,
}

/// A subject's opening of an entry's salted subject set, and the proof
/// that its leaf is in the set.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Membership {
    /// The subject's pseudonym.
    pub subject: String,
    /// The subject's salt in this entry.
    pub salt: Salt,
    /// The leaf's position in the set.
    pub position: u64,
    /// The inclusion proof of the leaf in the set.
    pub proof: Vec<HexHash>,
}

/// One record key asked for, as a caller thinks of it; a
/// [`ReleaseRequest`] carries them compactly ([`ReleaseRequest::new`]):
/// each batch secret once, each subject's membership once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyAsk {
    /// The subject, as a member of the entry's set.
    pub member: Membership,
    /// The dataset.
    pub dataset: String,
    /// The batch secret the record was sealed under.
    pub wrapped: Wrapped,
}

/// A record key of a subject: which of the request's secrets, which
/// dataset.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyRef {
    /// Index into [`ReleaseRequest::secrets`].
    pub secret: u32,
    /// The dataset.
    pub dataset: String,
}

/// The record keys asked for one subject.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubjectKeys {
    /// The subject, as a member of the entry's set.
    pub member: Membership,
    /// Its record keys asked for.
    pub keys: Vec<KeyRef>,
}

/// `POST /v1/release`. The answer's keys follow `subjects`, and within
/// each its `keys`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReleaseRequest {
    /// The region's signed checkpoint (note text) the proofs are against.
    pub checkpoint: String,
    /// Needed when the checkpoint is newer than the custodian's latest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consistency: Option<Consistency>,
    /// The entry that describes the release.
    pub entry: LoggedEntry,
    /// The policy bundle's entry, when the custodian does not hold it yet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bundle: Option<LoggedEntry>,
    /// The entries the custodian has not read, when it is behind.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tail: Option<Tail>,
    /// The batch secrets the records were sealed under, each once.
    pub secrets: Vec<Wrapped>,
    /// The subjects and their record keys asked for.
    pub subjects: Vec<SubjectKeys>,
}

impl ReleaseRequest {
    /// A request for `asks`: subjects in order of first appearance, each
    /// with its keys in the order asked; each secret once. The answer's
    /// keys come in that grouped order (the same as `asks` when each
    /// subject's asks are together).
    pub fn new(
        checkpoint: String,
        consistency: Option<Consistency>,
        entry: LoggedEntry,
        bundle: Option<LoggedEntry>,
        asks: Vec<KeyAsk>,
    ) -> Self {
        use std::collections::HashMap;
        let mut secrets: Vec<Wrapped> = Vec::new();
        let mut secret_at: HashMap<Vec<u8>, usize> = HashMap::new();
        let mut subjects: Vec<SubjectKeys> = Vec::new();
        let mut subject_at: HashMap<String, usize> = HashMap::new();
        for a in asks {
            let secret = *secret_at.entry(a.wrapped.0.to_bytes()).or_insert_with(|| {
                secrets.push(a.wrapped.clone());
                secrets.len() - 1
            });
            let key = KeyRef {
                secret: u32::try_from(secret).unwrap_or(u32::MAX),
                dataset: a.dataset,
            };
            let at = *subject_at
                .entry(a.member.subject.clone())
                .or_insert_with(|| {
                    subjects.push(SubjectKeys {
                        member: a.member,
                        keys: Vec::new(),
                    });
                    subjects.len() - 1
                });
            subjects[at].keys.push(key);
        }
        ReleaseRequest {
            checkpoint,
            consistency,
            entry,
            bundle,
            tail: None,
            secrets,
            subjects,
        }
    }

    /// How many record keys are asked for.
    pub fn key_count(&self) -> usize {
        self.subjects.iter().map(|s| s.keys.len()).sum()
    }
}

/// The most releases one [`ReleasesRequest`] carries.
pub const MAX_RELEASES: usize = 64;

/// `POST /v1/releases`: several releases proven against one checkpoint,
/// sharing its consistency proof, the bundle's entry and the tail — what a
/// gateway's releases of one group commit have in common. Each release is
/// decided on its own, exactly as a [`ReleaseRequest`] carrying it would
/// be; the answer's outcomes follow `releases`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReleasesRequest {
    /// The region's signed checkpoint (note text) the proofs are against.
    pub checkpoint: String,
    /// Needed when the checkpoint is newer than the custodian's latest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consistency: Option<Consistency>,
    /// The policy bundle's entry, when the custodian does not hold it yet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bundle: Option<LoggedEntry>,
    /// The entries the custodian has not read, when it is behind.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tail: Option<Tail>,
    /// The releases, at most [`MAX_RELEASES`].
    pub releases: Vec<EntryKeys>,
}

impl ReleasesRequest {
    /// How many record keys are asked for, over every release.
    pub fn key_count(&self) -> usize {
        self.releases.iter().map(EntryKeys::key_count).sum()
    }
}

/// One release of a [`ReleasesRequest`]: the entry that describes it and
/// the record keys asked for under it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntryKeys {
    /// The entry that describes the release.
    pub entry: LoggedEntry,
    /// The batch secrets the records were sealed under, each once.
    pub secrets: Vec<Wrapped>,
    /// The subjects and their record keys asked for.
    pub subjects: Vec<SubjectKeys>,
}

impl EntryKeys {
    /// How many record keys are asked for.
    pub fn key_count(&self) -> usize {
        self.subjects.iter().map(|s| s.keys.len()).sum()
    }
}

/// The answer to a [`ReleasesRequest`].
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReleasesAnswer {
    /// The custodian's cosignature on the checkpoint.
    pub cosignature: String,
    /// One per release asked, in order.
    pub releases: Vec<ReleaseOutcome>,
}

/// What one release of a [`ReleasesRequest`] got: its keys, or the
/// refusal it would have got alone.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReleaseOutcome {
    /// The record keys, in the order asked, base64.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keys: Option<Vec<Base64>>,
    /// Why nothing was released.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refused: Option<Refused>,
}

/// A refusal of one release of a batch, as the problem document of a
/// refused [`ReleaseRequest`] would say it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Refused {
    /// The refusal's code (`erased`, `not_allowed`, ...).
    pub code: String,
    /// What was wrong, naming parts and positions, never a value.
    pub detail: String,
}

/// The answer to a release.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReleaseAnswer {
    /// The custodian's cosignature on the checkpoint (a note signature
    /// line, tlog-cosignature).
    pub cosignature: String,
    /// The record keys, in the order asked, base64.
    pub keys: Vec<Base64>,
}

impl ReleaseAnswer {
    /// The keys, checked to be 32 bytes each.
    pub fn record_keys(&self) -> Result<Vec<RecordKey>, crate::Error> {
        record_keys(&self.keys)
    }
}

/// Released keys, checked to be 32 bytes each.
pub fn record_keys(keys: &[Base64]) -> Result<Vec<RecordKey>, crate::Error> {
    keys.iter()
        .map(|k| {
            <[u8; 32]>::try_from(k.0.as_slice())
                .map(RecordKey)
                .map_err(|_| crate::Error::Malformed("record key (32 bytes)".into()))
        })
        .collect()
}

/// `POST /v1/erase`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EraseRequest {
    /// The region's signed checkpoint (note text) the proofs are against.
    pub checkpoint: String,
    /// Needed when the checkpoint is newer than the custodian's latest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consistency: Option<Consistency>,
    /// The logged erasure.
    pub entry: LoggedEntry,
    /// Every leaf of the entry's salted set, opened: the erased subjects
    /// and the fillers (an empty subject), one per position — so no
    /// subject the entry erases can be left off the custodian's list.
    pub members: Vec<Membership>,
    /// The entries the custodian has not read, when it is behind.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tail: Option<Tail>,
}

/// The answer to an erasure: from now on no key of the subject is
/// released.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EraseAnswer {
    /// The custodian's cosignature on the checkpoint.
    pub cosignature: String,
}

/// `POST /v1/scan`: entries the custodian has not read, with no release
/// (a gateway catching the custodian up, a page at a time).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScanRequest {
    /// The region's signed checkpoint (note text) the entries lead to.
    pub checkpoint: String,
    /// Needed when the checkpoint is newer than the custodian's latest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consistency: Option<Consistency>,
    /// The entries.
    pub tail: Tail,
}

/// The answer to a scan.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScanAnswer {
    /// How many of the log's entries the custodian has now read.
    pub scanned: u64,
    /// The custodian's cosignature on the checkpoint.
    pub cosignature: String,
}

/// `POST /v1/rewrap`: batch secrets to seal anew to the custodian's
/// current key (a key rotation). Nothing leaves the custodian but the new
/// wrappings, so no log entry is needed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RewrapRequest {
    /// The wrapped secrets, under any key the custodian holds.
    pub wrapped: Vec<Wrapped>,
}

/// The answer to a rewrap: the same secrets, in the same order, under the
/// current key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RewrapAnswer {
    /// The new wrappings.
    pub wrapped: Vec<Wrapped>,
}

/// Parses a JSON body, naming where it is malformed (a path such as
/// `keys[2].member.salt`) and never echoing a value.
pub fn parse<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, crate::Error> {
    // Tracking the path costs on every body; it is needed only to say
    // where a malformed one fails, so a body is parsed again for that.
    if let Ok(parsed) = serde_json::from_slice(body) {
        return Ok(parsed);
    }
    let de = &mut serde_json::Deserializer::from_slice(body);
    let parsed: T = serde_path_to_error::deserialize(&mut *de).map_err(|e| {
        // The path names fields and positions of these types only — but an
        // unknown field's own name is the caller's text: its parent is
        // named instead.
        let unknown = e.inner().to_string().contains("unknown field");
        let mut segments: Vec<String> = e.path().iter().map(|s| s.to_string()).collect();
        if unknown {
            segments.pop();
        }
        let path = if segments.is_empty() {
            ".".to_owned()
        } else {
            segments.join(".").replace(".[", "[")
        };
        let inner = e.into_inner();
        let why = if inner.is_data() {
            // serde's data errors quote values ("invalid value: string \"…\""):
            // keep only our own messages, which never quote.
            let msg = inner.to_string();
            [
                "not a hash",
                "not a salt",
                "not base64",
                "malformed wrapped",
                "missing field",
                "unknown field",
            ]
            .iter()
            .find(|m| msg.contains(*m))
            .map_or_else(|| "wrong type or value".to_owned(), |m| m.to_string())
        } else if inner.is_eof() {
            "truncated".into()
        } else {
            "not JSON".into()
        };
        crate::Error::Malformed(format!("request at {path}: {why}"))
    })?;
    // As strict as the first parse: nothing after the value.
    de.end().map_err(|_| {
        crate::Error::Malformed("request: trailing characters after the JSON value".into())
    })?;
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_with_anything_after_its_value_is_refused() {
        let body = br#"{"wrapped":[]} secret-0612345678"#;
        let e = parse::<RewrapRequest>(body).unwrap_err().to_string();
        assert!(
            e.contains("trailing characters") && !e.contains("0612345678"),
            "{e}"
        );
        assert!(parse::<RewrapRequest>(br#"{"wrapped":[]}"#).is_ok());
    }

    #[test]
    fn malformed_bodies_name_the_place_and_never_echo() {
        let secret = "0123456789secretvalue";
        let bodies = [
            format!(
                r#"{{"checkpoint":"x","entry":{{"index":1,"bytes":"{secret}!","inclusion":[]}},"secrets":[],"subjects":[]}}"#
            ),
            format!(
                r#"{{"checkpoint":"x","entry":{{"index":1,"bytes":"","inclusion":["{secret}"]}},"secrets":[],"subjects":[]}}"#
            ),
            format!(
                r#"{{"checkpoint":"x","entry":{{"index":-1,"bytes":"","inclusion":[]}},"secrets":[],"subjects":[],"{secret}":1}}"#
            ),
            format!(
                r#"{{"checkpoint":"x","entry":{{"index":1,"bytes":"","inclusion":[]}},"secrets":[],"subjects":[{{"member":{{"subject":"a","salt":"{secret}","position":0,"proof":[]}},"keys":[]}}]}}"#
            ),
        ];
        for b in &bodies {
            let e = parse::<ReleaseRequest>(b.as_bytes())
                .unwrap_err()
                .to_string();
            assert!(e.starts_with("malformed request at "), "{e}");
            assert!(!e.contains(secret), "{e}");
        }
        let e = parse::<ReleaseRequest>(bodies[3].as_bytes())
            .unwrap_err()
            .to_string();
        assert!(e.contains("subjects[0].member.salt"), "{e}");
        // An unknown field is named by where it is, not by its name.
        let body = format!(
            r#"{{"checkpoint":"x","entry":{{"index":1,"bytes":"","inclusion":[],"{secret}":0}},"secrets":[],"subjects":[]}}"#
        );
        let e = parse::<ReleaseRequest>(body.as_bytes())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("at entry: unknown field") && !e.contains(secret),
            "{e}"
        );
    }

    #[test]
    fn a_request_round_trips() {
        let key = crate::CustodianKey::generate("c", crate::Suite::X25519).unwrap();
        let w = crate::BatchSecret::generate()
            .unwrap()
            .wrap(key.public(), "r")
            .unwrap();
        let member = Membership {
            subject: "s".into(),
            salt: Salt([1; 32]),
            position: 0,
            proof: vec![],
        };
        let ask = |d: &str| KeyAsk {
            member: member.clone(),
            dataset: d.into(),
            wrapped: Wrapped(w.clone()),
        };
        let req = ReleaseRequest::new(
            "cp".into(),
            Some(Consistency {
                old_size: 3,
                proof: vec![HexHash(tlog::Hash::default())],
            }),
            LoggedEntry {
                index: 4,
                bytes: Base64(b"{}".to_vec()),
                inclusion: vec![],
            },
            None,
            vec![ask("profile"), ask("device")],
        );
        assert_eq!(
            (req.secrets.len(), req.subjects.len(), req.key_count()),
            (1, 1, 2)
        );
        let text = serde_json::to_vec(&req).unwrap();
        assert_eq!(parse::<ReleaseRequest>(&text).unwrap(), req);
    }

    proptest::proptest! {
        #[test]
        fn parsing_any_bytes_never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
            let _ = parse::<ReleaseRequest>(&bytes);
            let _ = parse::<EraseRequest>(&bytes);
            let _ = parse::<ScanRequest>(&bytes);
        }
    }
}
