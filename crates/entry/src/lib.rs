//! Log entries: what a region's gateway writes to its log before it
//! releases anything, in canonical JSON. The schema is documented in
//! `docs/log-entries.md`; the gateway writes and the monitor reads entries
//! with this one type. No I/O.
//!
//! Canonical form: UTF-8 JSON with no insignificant white space, object
//! keys sorted, integers only (RFC 8785, JCS, for the ASCII keys and
//! integer numbers used here), so that one entry has one encoding and its
//! hash is stable.

#![deny(missing_docs)]

use std::collections::BTreeMap;

use pseudo::Transform;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// Version of the entry schema written today: 2, where every access entry
/// commits to its subjects by a salted set root ([`SubjectSet`]). Version 1
/// entries (pseudonyms listed, or an unsalted root) still parse, verify
/// and replay.
pub const SCHEMA_VERSION: u32 = 2;

/// In version 1 entries, above this many subjects the entry named them by
/// the root of a Merkle tree over their pseudonyms instead of listing them.
pub const MAX_LISTED_SUBJECTS: usize = 32;

/// What an entry records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// A decided request: read, transfer, aggregate, re-identification,
    /// export or erasure, allowed or denied.
    Access,
    /// The policy bundle in force from here on.
    PolicyBundle,
}

/// A decision's outcome, as an entry records it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Allowed: the entry is the release's proof.
    Allow,
    /// Denied: nothing was released.
    Deny,
}

impl Outcome {
    /// The outcome's name, as in entries and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Allow => "allow",
            Outcome::Deny => "deny",
        }
    }
}

/// Who asked, and from where.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrincipalRef {
    /// Principal id.
    pub id: String,
    /// Country the principal is located in.
    pub location: String,
}

/// One log entry.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// Schema version ([`SCHEMA_VERSION`]).
    pub v: u32,
    /// What the entry records.
    pub kind: Kind,
    /// When, RFC 3339 in UTC, to the second.
    pub time: String,
    /// The region whose log this is.
    pub region: String,
    /// Hash of the policy bundle the decision was made with (or, for a
    /// policy-bundle entry, of the bundle it carries).
    pub bundle: String,
    /// The bundle's canonical content (policy-bundle entries only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bundle_content: Option<Value>,
    /// Who asked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub principal: Option<PrincipalRef>,
    /// The action as decided: `read`, `transfer` (a read from outside the
    /// jurisdiction is one), `aggregate`, `reidentify`, `export`, `erase`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<policy::Action>,
    /// Purpose: an id of the bundle (declared in its catalog, or built in).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub purpose: String,
    /// Destination jurisdiction: the declared destination's, else the
    /// principal's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destination: Option<String>,
    /// The destination country as declared in the request (an ISO 3166-1
    /// alpha-2 code, checked at the gateway's edge), so that a monitor
    /// replays the very request; absent when none was declared.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub declared_destination: Option<String>,
    /// Every jurisdiction the request reaches, sorted: the principal's, from
    /// its configured location, and the declared destination's (version 2).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub destinations: Vec<String>,
    /// Legal basis (transfer tool) as checked, for an allowed transfer; as
    /// named, for a denied one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub legal_basis: Option<String>,
    /// Datasets covered.
    #[serde(default)]
    pub datasets: Vec<String>,
    /// Fields asked for (`dataset.field`) and, when allowed, the transform
    /// each leaves with; `null` when denied.
    #[serde(default)]
    pub fields: BTreeMap<String, Option<Transform>>,
    /// Version 1 only: subjects covered, as keyed pseudonyms (up to
    /// [`MAX_LISTED_SUBJECTS`]). Always empty in version 2.
    #[serde(default)]
    pub subjects: Vec<String>,
    /// Version 2: the root of the salted subject set ([`SubjectSet`]), hex.
    /// Version 1: for sets above [`MAX_LISTED_SUBJECTS`], the root over the
    /// pseudonyms ([`subject_set_root`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subjects_root: Option<String>,
    /// How many subjects are covered.
    #[serde(default)]
    pub subject_count: u64,
    /// SHA-256 (hex) of the sealed records the release opens, read before
    /// the entry is logged (see `docs/log-entries.md`): commits to exactly
    /// what leaves without decrypting anything first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload_digest: Option<String>,
    /// Keyed digest (HMAC-SHA-256 under the region's justification key, hex)
    /// of the justification given for a re-identification.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub justification_digest: Option<String>,
    /// `allow` or `deny`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision: Option<Outcome>,
    /// Why, in plain words (no personal data).
    #[serde(default)]
    pub reasons: Vec<String>,
    /// Ids of the policies that determined the outcome.
    #[serde(default)]
    pub policies: Vec<String>,
}

impl Entry {
    /// An entry of `kind` with only the common fields set.
    pub fn new(kind: Kind, region: &str, bundle: &str, time: String) -> Self {
        Entry {
            v: SCHEMA_VERSION,
            kind,
            time,
            region: region.to_owned(),
            bundle: bundle.to_owned(),
            bundle_content: None,
            principal: None,
            action: None,
            purpose: String::new(),
            destination: None,
            declared_destination: None,
            destinations: Vec::new(),
            legal_basis: None,
            datasets: Vec::new(),
            fields: BTreeMap::new(),
            subjects: Vec::new(),
            subjects_root: None,
            subject_count: 0,
            payload_digest: None,
            justification_digest: None,
            decision: None,
            reasons: Vec::new(),
            policies: Vec::new(),
        }
    }

    /// The entry for a decided request, before its subjects are named
    /// ([`Entry::cover`]): what a gateway logs and a monitor replays.
    pub fn decided(
        bundle: &policy::Bundle,
        time: String,
        principal: PrincipalRef,
        req: &policy::DecisionRequest,
        d: &policy::Decision,
    ) -> Self {
        let mut e = Entry::new(Kind::Access, &req.region, bundle.hash(), time);
        e.principal = Some(principal);
        // A read from outside the data's jurisdiction is a transfer.
        e.action = Some(match req.action {
            policy::Action::Read if d.transfer => policy::Action::Transfer,
            other => other,
        });
        e.purpose = req.purpose.clone();
        e.destination = Some(d.destination.clone()).filter(|s| !s.is_empty());
        e.declared_destination = req.destination.clone();
        e.destinations = d.destinations.clone();
        // As named (a law-table id), so that a monitor replays the request;
        // the bundle's law table gives its reference.
        e.legal_basis = req.legal_basis.clone();
        let mut datasets = std::collections::BTreeSet::new();
        for f in &req.fields {
            datasets.insert(f.dataset().to_owned());
            e.fields
                .insert(f.to_string(), d.plan.get(f.as_str()).cloned());
        }
        if req.fields.is_empty() {
            datasets.extend(bundle.catalog.datasets.keys().cloned());
        }
        e.datasets = datasets.into_iter().collect();
        e.decision = Some(if d.allow {
            Outcome::Allow
        } else {
            Outcome::Deny
        });
        e.reasons = d.reasons.clone();
        e.policies = d.policies.clone();
        e
    }

    /// Commits to a salted subject set: the entry carries its root and size
    /// only, so the public log holds no identifier of anyone.
    /// An empty set (a re-identification names no one) leaves no root.
    pub fn commit_to(&mut self, set: &SubjectSet) {
        self.subjects = Vec::new();
        self.subjects_root = (!set.is_empty()).then(|| set.root().to_hex());
        self.subject_count = set.len() as u64;
    }

    /// Whether this entry commits to its subjects by a salted set root
    /// (version 2 and later).
    pub fn salted(&self) -> bool {
        self.v >= 2
    }

    /// Version 1: names `subjects` (pseudonyms), listed when few, else by
    /// their root. Returns the sorted set, which a rooted entry needs to be
    /// opened. Kept to build version 1 entries in tests and fixtures.
    pub fn cover(&mut self, subjects: &[String]) -> Vec<String> {
        let (set, root) = subject_set_root(subjects);
        self.subject_count = set.len() as u64;
        if set.len() <= MAX_LISTED_SUBJECTS {
            self.subjects = set.clone();
            self.subjects_root = None;
        } else {
            self.subjects = Vec::new();
            self.subjects_root = Some(root.to_hex());
        }
        set
    }

    /// The canonical encoding.
    pub fn to_canonical(&self) -> Vec<u8> {
        // Serialising this type cannot fail: every map has string keys.
        let value = serde_json::to_value(self).unwrap_or(Value::Null);
        canonical(&value)
    }

    /// Parses an entry (outside input: errors, never panics).
    pub fn parse(bytes: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(bytes)
    }
}

/// The canonical encoding of a JSON value: keys sorted, no white space.
pub fn canonical(value: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    write_canonical(value, &mut out);
    out
}

fn write_canonical(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort_unstable();
            out.push(b'{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                // Writing a string into a Vec cannot fail.
                let _ = serde_json::to_writer(&mut *out, k);
                out.push(b':');
                write_canonical(&map[k], out);
            }
            out.push(b'}');
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(v, out);
            }
            out.push(b']');
        }
        scalar => write_scalar(scalar, out),
    }
}

fn write_scalar(value: &Value, out: &mut Vec<u8>) {
    // Writing a scalar into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, value);
}

/// The root committing to a set of subjects: the RFC 6962 Merkle tree hash
/// over the pseudonyms, sorted and without duplicates, each leaf the
/// pseudonym's bytes. Returns the sorted set with the root. One subject is
/// later shown to be covered by an inclusion proof in this tree.
pub fn subject_set_root(subjects: &[String]) -> (Vec<String>, tlog::Hash) {
    let mut set = subjects.to_vec();
    set.sort_unstable();
    set.dedup();
    let mut tree = tlog::merkle::MemoryTree::new();
    for s in &set {
        tree.push(tlog::leaf_hash(s.as_bytes()));
    }
    let root = tree.root(tree.size());
    (set, root)
}

/// One subject's opening of a salted commitment: the subject's pseudonym
/// and a random salt drawn for this entry alone. Kept in the region (and
/// deleted when the subject is erased); given to the subject, or to a party
/// acting for them, to prove they are in an entry's set.
#[derive(Clone, PartialEq, Eq)]
pub struct Opening {
    /// The subject's keyed pseudonym; empty for a filler leaf (a subject
    /// asked for but not known here, committed to like any other).
    pub subject: String,
    /// 32 random bytes, fresh for each subject of each entry.
    pub salt: [u8; 32],
}

impl std::fmt::Debug for Opening {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Neither half is printed: together they link an entry to a person.
        f.write_str("Opening(..)")
    }
}

impl Opening {
    /// The leaf: the RFC 6962 leaf hash of `salt || pseudonym`. Without the
    /// salt it links to no one, not even for someone who knows the
    /// pseudonym.
    pub fn leaf(&self) -> tlog::Hash {
        let mut bytes = Vec::with_capacity(32 + self.subject.len());
        bytes.extend_from_slice(&self.salt);
        bytes.extend_from_slice(self.subject.as_bytes());
        tlog::leaf_hash(&bytes)
    }
}

/// A salted subject set: the RFC 6962 tree whose leaves are the
/// [`Opening::leaf`] hashes, sorted by value (so a leaf's position says
/// nothing about who it is). An entry carries its root and size.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SubjectSet {
    leaves: Vec<tlog::Hash>,
}

impl SubjectSet {
    /// The set of these leaves (in any order; duplicates kept once).
    pub fn from_leaves(mut leaves: Vec<tlog::Hash>) -> Self {
        leaves.sort_unstable();
        leaves.dedup();
        SubjectSet { leaves }
    }

    /// The set of these openings.
    pub fn of(openings: &[Opening]) -> Self {
        Self::from_leaves(openings.iter().map(Opening::leaf).collect())
    }

    /// How many leaves.
    pub fn len(&self) -> usize {
        self.leaves.len()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.leaves.is_empty()
    }

    /// The leaves, sorted.
    pub fn leaves(&self) -> &[tlog::Hash] {
        &self.leaves
    }

    /// The root an entry commits to.
    pub fn root(&self) -> tlog::Hash {
        let mut tree = tlog::merkle::MemoryTree::new();
        for l in &self.leaves {
            tree.push(*l);
        }
        tree.root(tree.size())
    }

    /// A prover of many leaves: the set's complete subtrees hashed once,
    /// so each proof costs a few lookups (a transfer of thousands of
    /// subjects proves each of them).
    pub fn prover(&self) -> SetProver<'_> {
        let mut levels = vec![self.leaves.clone()];
        while let Some(last) = levels.last().filter(|l| l.len() > 1) {
            let next: Vec<tlog::Hash> = last
                .chunks_exact(2)
                .map(|p| tlog::node_hash(&p[0], &p[1]))
                .collect();
            levels.push(next);
        }
        SetProver { set: self, levels }
    }

    /// The inclusion proof of `leaf`: its position and the proof's hashes;
    /// `None` if the leaf is not in the set.
    pub fn prove(&self, leaf: &tlog::Hash) -> Option<(u64, Vec<tlog::Hash>)> {
        let position = self.leaves.binary_search(leaf).ok()? as u64;
        let mut tree = tlog::merkle::MemoryTree::new();
        for l in &self.leaves {
            tree.push(*l);
        }
        let size = tree.size();
        let plan = tlog::merkle::ProofPlan::inclusion(position, size).ok()?;
        Some((position, tree.run(&plan).ok()?))
    }
}

/// Proofs of a [`SubjectSet`]'s leaves from its complete subtrees, each
/// hashed once ([`SubjectSet::prover`]).
#[derive(Debug)]
pub struct SetProver<'a> {
    set: &'a SubjectSet,
    /// Level 0 the leaves; level k the complete subtrees of 2^k leaves.
    levels: Vec<Vec<tlog::Hash>>,
}

impl SetProver<'_> {
    /// Like [`SubjectSet::prove`].
    pub fn prove(&self, leaf: &tlog::Hash) -> Option<(u64, Vec<tlog::Hash>)> {
        let position = self.set.leaves.binary_search(leaf).ok()? as u64;
        let size = self.set.leaves.len() as u64;
        let plan = tlog::merkle::ProofPlan::inclusion(position, size).ok()?;
        let proof = plan
            .finish(|st| {
                self.levels
                    .get(usize::from(st.level))
                    .and_then(|l| l.get(usize::try_from(st.index).ok()?))
                    .copied()
                    .ok_or(tlog::Error::NotFound("a subtree of the set".into()))
            })
            .ok()?;
        Some((position, proof))
    }
}

/// SHA-256 of bytes, hex.
pub fn digest_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_prover_gives_the_same_proofs_as_the_tree() {
        for n in [1usize, 2, 3, 5, 8, 13, 64, 100] {
            let openings: Vec<Opening> = (0..n)
                .map(|i| Opening {
                    subject: format!("s{i}"),
                    salt: [i as u8; 32],
                })
                .collect();
            let set = SubjectSet::of(&openings);
            let prover = set.prover();
            for o in &openings {
                let leaf = o.leaf();
                assert_eq!(prover.prove(&leaf), set.prove(&leaf), "n = {n}");
                let (pos, proof) = prover.prove(&leaf).unwrap();
                tlog::merkle::verify_inclusion(&leaf, pos, n as u64, &proof, &set.root()).unwrap();
            }
            assert_eq!(prover.prove(&tlog::Hash::default()), None);
        }
    }

    #[test]
    fn canonical_json_sorts_keys_at_every_depth_and_has_no_white_space() {
        let v: Value = serde_json::from_str(r#"{"b": [ {"z":1, "a":"é\n"} ], "a": null}"#).unwrap();
        assert_eq!(
            String::from_utf8(canonical(&v)).unwrap(),
            r#"{"a":null,"b":[{"a":"é\n","z":1}]}"#
        );
    }

    #[test]
    fn entries_round_trip_through_their_canonical_form() {
        let mut e = Entry::new(Kind::Access, "eu-fr", "abc", "2026-11-25T00:00:00Z".into());
        e.action = Some(policy::Action::Transfer);
        e.fields
            .insert("profile.phone".into(), Some(Transform::Drop));
        e.fields.insert("device.language".into(), None);
        e.cover(&["t1.b".into(), "t1.a".into(), "t1.a".into()]);
        let bytes = e.to_canonical();
        let back = Entry::parse(&bytes).unwrap();
        assert_eq!(back, e);
        assert_eq!(back.to_canonical(), bytes);
        assert_eq!(back.subjects, vec!["t1.a", "t1.b"]);
        assert_eq!(back.subject_count, 2);
    }

    #[test]
    fn large_subject_sets_are_named_by_their_root_only() {
        let mut e = Entry::new(Kind::Access, "eu-fr", "abc", "t".into());
        let subjects: Vec<String> = (0..100).map(|i| format!("t1.s{i:03}")).collect();
        let set = e.cover(&subjects);
        assert_eq!(set.len(), 100);
        assert!(e.subjects.is_empty());
        let text = String::from_utf8(e.to_canonical()).unwrap();
        assert!(
            !text.contains("t1.s0"),
            "no pseudonym of a large set is listed"
        );
        assert_eq!(
            e.subjects_root.as_deref(),
            Some(subject_set_root(&subjects).1.to_hex().as_str())
        );
    }

    #[test]
    fn unknown_fields_are_rejected() {
        assert!(
            Entry::parse(
                br#"{"v":1,"kind":"access","time":"t","region":"r","bundle":"b","extra":1}"#
            )
            .is_err()
        );
    }
}
