//! The region's requests and answers, as the HTTP API carries them (JSON
//! field names are part of the API: see `openapi.json`).

use std::collections::BTreeMap;

use policy::FieldRef;
use serde::{Deserialize, Serialize};

/// One event as the app sends it: about a user resident in `country`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IncomingEvent {
    /// The app's user id.
    pub user_id: String,
    /// Country of residence (ISO 3166-1 alpha-2): decides the home region.
    pub country: String,
    /// Dataset of the catalog.
    pub dataset: String,
    /// Record id within the dataset.
    pub record_id: String,
    /// Time of the record, seconds since the epoch.
    pub time: i64,
    /// Field values.
    pub fields: BTreeMap<String, String>,
}

/// What an ingest did: events stored per home region, and the parts not
/// stored. Every part is checked against the catalog (which every region
/// shares) before any is stored; a part can still fail at its home (the
/// region is down, or refuses), and then the others stay stored: the answer
/// says exactly which.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IngestOutcome {
    /// Events accepted (stored durably in their home region).
    pub accepted: usize,
    /// Of which, per home region.
    pub regions: BTreeMap<String, usize>,
    /// The parts not stored, per home region.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub not_stored: BTreeMap<String, NotStored>,
}

/// A home region's part of an ingest that was not stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotStored {
    /// Events of the part.
    pub events: usize,
    /// `refused`: the home region refused them (resending the same events
    /// will not help); `unavailable`: the home region could not be reached
    /// or did not answer (sending them again is safe: an event for a
    /// record already stored replaces it).
    pub outcome: String,
    /// Why, as the home region said (field names, and event indices
    /// counted within the part sent there; no values).
    pub detail: String,
}

/// A read of one subject's data (in the region's jurisdiction a read;
/// from outside it, a transfer).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReadRequest {
    /// The app's user id.
    pub user_id: String,
    /// Fields as `dataset.field`.
    pub fields: Vec<FieldRef>,
    /// Purpose.
    pub purpose: String,
    /// Transfer tool, if the reader is outside the jurisdiction.
    #[serde(default)]
    pub legal_basis: Option<String>,
}

/// A transfer of data about several subjects.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransferRequest {
    /// The subjects, by the app's user ids; absent: every subject homed
    /// here with records in the datasets asked for.
    #[serde(default)]
    pub user_ids: Option<Vec<String>>,
    /// Only the subjects with a record whose public fields (stored in
    /// clear) equal these values: `dataset.field` to a JSON string, number
    /// or boolean. Conditions on one dataset hold in one record; all hold.
    #[serde(default)]
    pub filter: Option<BTreeMap<FieldRef, serde_json::Value>>,
    /// Fields as `dataset.field`.
    pub fields: Vec<FieldRef>,
    /// Purpose.
    pub purpose: String,
    /// Destination country (the principal's location when absent).
    #[serde(default)]
    pub destination: Option<String>,
    /// Transfer tool: `adequacy:<id>` or a tool id of the law table.
    #[serde(default)]
    pub legal_basis: Option<String>,
}

/// Counts of subjects grouped by fields of one dataset.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AggregateRequest {
    /// Fields to group by, as `dataset.field`, all of one dataset.
    pub group_by: Vec<FieldRef>,
    /// Purpose.
    pub purpose: String,
}

/// Reversal of a reversible token, in the home region only.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReidentifyRequest {
    /// The field the token was made from (`dataset.field`).
    pub field: FieldRef,
    /// The token.
    pub token: String,
    /// Why (a ticket reference; logged as a digest).
    pub justification: String,
}

/// A subject request (export or erasure), made on the subject's behalf.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubjectRequest {
    /// The app's user id.
    pub user_id: String,
}

/// The accesses to one person's data, asked by the app on that person's
/// behalf: newest first, a page at a time.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HistoryRequest {
    /// The app's user id.
    pub user_id: String,
    /// The person's country (ISO 3166-1 alpha-2), as in their events: a
    /// person homed by another region is answered from there (this
    /// region forwards the request home). Absent: the person is looked
    /// for here only.
    #[serde(default)]
    pub country: Option<String>,
    /// Only entries below this log index: the `next_before` of the page
    /// before (absent: from the newest).
    #[serde(default)]
    pub before: Option<u64>,
    /// Entries per page (default 50, at most 200).
    #[serde(default)]
    pub limit: Option<usize>,
}

/// A page of a person's accesses.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct History {
    /// The person's pseudonym in this region: every access's subject proof
    /// names it (the page checks that no access of someone else is among
    /// them).
    pub subject: String,
    /// Every logged access to the person's data below the cursor, newest
    /// first, each with its receipt and, for an entry that names its
    /// subjects by a root, the proof that this person is in the set.
    pub accesses: Vec<AccessRecord>,
    /// The cursor of the next (older) page, absent on the last: pages
    /// stay the same while the log grows, as they count down from a
    /// fixed index.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_before: Option<u64>,
}

/// A released record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReleasedRecord {
    /// The subject: in-region, its pseudonym; across a border, a token
    /// unlinkable across purposes.
    pub subject: String,
    /// Dataset.
    pub dataset: String,
    /// Record id.
    pub record_id: String,
    /// Time.
    pub time: i64,
    /// Fields after the plan.
    pub fields: BTreeMap<String, String>,
}

/// A release, with the proof it was logged first.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Release {
    /// Index of the log entry recording the release.
    pub log_index: u64,
    /// The entry, as logged (its very bytes, not parsed again).
    pub entry: Box<serde_json::value::RawValue>,
    /// A C2SP tlog-proof of the entry's inclusion.
    pub receipt: String,
    /// The records.
    pub records: Vec<ReleasedRecord>,
    /// Values left out because their transform could not take them.
    pub withheld: usize,
}

/// A k-anonymous count table, with its receipt.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AggregateAnswer {
    /// Index of the log entry.
    pub log_index: u64,
    /// A C2SP tlog-proof of the entry's inclusion.
    pub receipt: String,
    /// Fields grouped by.
    pub group_by: Vec<FieldRef>,
    /// The smallest group reported.
    pub k: usize,
    /// Groups: values (after the plan) and subject count.
    pub groups: Vec<(Vec<String>, usize)>,
    /// Groups suppressed for being smaller than k.
    pub suppressed_groups: usize,
    /// Subjects in them.
    pub suppressed_subjects: usize,
}

/// A logged entry that touched a subject, for the subject's export.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AccessRecord {
    /// Its index.
    pub log_index: u64,
    /// The entry.
    pub entry: serde_json::Value,
    /// A C2SP tlog-proof of its inclusion in the latest checkpoint a
    /// witness cosigned (see [`Region::cosigned_receipt`]).
    pub receipt: String,
    /// Whether the receipt's checkpoint carries a witness cosignature.
    #[serde(default)]
    pub cosigned: bool,
    /// For an entry that names its subjects by `subjects_root`: the proof
    /// that this subject is in the set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject_proof: Option<SubjectProof>,
}

/// Proof that a subject is in the set an entry's `subjects_root` commits
/// to: an RFC 6962 inclusion proof of its leaf. In a salted entry (schema
/// version 2) the leaf is the leaf hash of `salt || subject`; in a version
/// 1 entry, of the pseudonym alone.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SubjectProof {
    /// The subject's pseudonym.
    pub subject: String,
    /// The subject's salt in this entry, hex (salted entries only): with
    /// the pseudonym, the opening of the commitment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub salt: Option<String>,
    /// Its position in the sorted set.
    pub index: u64,
    /// The size of the set.
    pub size: u64,
    /// The inclusion proof, base64 hashes.
    pub proof: Vec<String>,
}

impl SubjectProof {
    /// The leaf proven: the leaf hash of `salt || subject` for a salted
    /// entry, of the pseudonym alone for a version 1 entry.
    pub fn leaf(&self) -> Result<tlog::Hash, tlog::Error> {
        Ok(match &self.salt {
            Some(salt) => entry::Opening {
                subject: self.subject.clone(),
                salt: tlog::Hash::from_hex(salt)?.0,
            }
            .leaf(),
            None => tlog::leaf_hash(self.subject.as_bytes()),
        })
    }

    /// Checks the proof against the `subjects_root` of an entry.
    pub fn verify(&self, root: &tlog::Hash) -> Result<(), tlog::Error> {
        let proof = self
            .proof
            .iter()
            .map(|h| tlog::Hash::from_base64(h))
            .collect::<Result<Vec<_>, _>>()?;
        tlog::merkle::verify_inclusion(&self.leaf()?, self.index, self.size, &proof, root)
    }
}

/// A subject's export.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Export {
    /// The export's own log entry.
    pub log_index: u64,
    /// Its receipt, cosigned when a witness cosigned in time (see
    /// [`Region::cosigned_receipt`]).
    pub receipt: String,
    /// Whether that receipt's checkpoint carries a witness cosignature.
    #[serde(default)]
    pub receipt_cosigned: bool,
    /// Every record, decrypted.
    pub records: Vec<ReleasedRecord>,
    /// Every logged access to the subject's data, with receipts.
    pub accesses: Vec<AccessRecord>,
}

/// A re-identified value.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Reidentified {
    /// Index of the log entry.
    pub log_index: u64,
    /// Its receipt.
    pub receipt: String,
    /// The value.
    pub value: String,
}

/// An erasure's outcome.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Erased {
    /// Index of the log entry.
    pub log_index: u64,
    /// Its receipt.
    pub receipt: String,
    /// Whether the subject was known here.
    pub existed: bool,
}
