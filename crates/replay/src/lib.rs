//! Replay of logged decisions: every access entry is decided again with
//! the `policy` crate, under the policy bundle the log says was in force,
//! on the entry's date, and compared with what the region logged. The law
//! is checked again on its own terms, whatever the policies say, and
//! against the checker's own law table ([`reference_law`] unless
//! [`Replayer::judging_by`] another), whatever the operator's logged table
//! says — a release that only a doctored table allows is a violation. The
//! monitor reports what it finds; the key custodian refuses to release
//! keys for an entry with any finding.
//!
//! - a transfer of personal data names a transfer tool that the law table
//!   accepts for that destination, recipient and date;
//! - a protected field never leaves in clear toward a jurisdiction without
//!   an adequacy decision covering the recipient;
//! - a re-identification carries a justification and happens in the
//!   data's jurisdiction;
//! - a bundle is logged before a decision uses it.
//!
//! Each policy bundle logged is also compared with the one logged before
//! it ([`policy::diff`]): every change that weakens protection is a
//! [`FindingKind::Weakening`] at the bundle's entry, an alert rather than a
//! fault (an operator may lawfully widen its policy, but a third party
//! should see it before any release under it); all its changes are kept
//! in [`Replayed::changes`] for display.
//!
//! Pure computation: entries and bundles come in as values.
#![deny(missing_docs)]
#![cfg_attr(
    not(test),
    warn(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use entry::{Entry, Kind};
use policy::catalog::Level;
use policy::law::{LawTable, Recipient};
use policy::{Action, Bundle, Decision, DecisionRequest};
use pseudo::Transform;
use serde::Serialize;

mod weakening;

/// What kind of problem a finding is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingKind {
    /// The log itself does not hold together: a bad signature, a tile or
    /// entry that does not hash as it should, a rollback, a fork.
    Inconsistency,
    /// An entry whose decision does not replay to what was logged, where
    /// the log is not more permissive than the replay (e.g. a denial the
    /// replay denies for another reason, other reasons or policies).
    Mismatch,
    /// A logged access the law does not allow, whatever the policies say;
    /// or a logged decision more permissive than its replay: something
    /// released that the replay would not release.
    Violation,
    /// A policy bundle logged that weakens protection against the one
    /// logged before it: a field's level lowered or egress widened, a
    /// principal relocated or given more, an adequacy decision or transfer
    /// tool added or widened, a Cedar policy added or changed. Not a
    /// fault of the log: an alert, naming the change.
    Weakening,
}

impl FindingKind {
    /// The kind's name.
    pub fn as_str(self) -> &'static str {
        match self {
            FindingKind::Inconsistency => "inconsistency",
            FindingKind::Mismatch => "mismatch",
            FindingKind::Violation => "violation",
            FindingKind::Weakening => "weakening",
        }
    }
}

/// A problem found in one region's log. Messages name the region, the
/// entry index and what differs, never personal data (logs carry none).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// The region whose log it is.
    pub region: String,
    /// The entry concerned, if one is.
    pub index: Option<u64>,
    /// What kind of problem.
    pub kind: FindingKind,
    /// What differs, in plain words.
    pub message: String,
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.index {
            Some(i) => write!(
                f,
                "{} #{i}: {}: {}",
                self.region,
                self.kind.as_str(),
                self.message
            ),
            None => write!(
                f,
                "{}: {}: {}",
                self.region,
                self.kind.as_str(),
                self.message
            ),
        }
    }
}

/// A logged access, as reports and the Art. 30 record need it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Access {
    /// Entry index.
    pub index: u64,
    /// When (RFC 3339).
    pub time: String,
    /// `read`, `transfer`, `aggregate`, `reidentify`, `export`, `erase`.
    pub action: String,
    /// Whether it was allowed.
    pub allowed: bool,
    /// Principal id.
    pub principal: String,
    /// The principal's organisation, from the bundle.
    pub organisation: String,
    /// Purpose.
    pub purpose: String,
    /// The data's jurisdiction.
    pub origin_jurisdiction: String,
    /// Destination jurisdiction.
    pub destination: String,
    /// Legal basis as named.
    pub legal_basis: Option<String>,
    /// Its legal reference, from the bundle's law table.
    pub legal_reference: Option<String>,
    /// Datasets covered.
    pub datasets: Vec<String>,
    /// Fields and what they left as (`dataset.field: op`).
    pub fields: Vec<String>,
    /// Subjects covered.
    pub subject_count: u64,
    /// Why (denials).
    pub reasons: Vec<String>,
}

/// What one entry amounts to.
#[derive(Debug, Default)]
pub struct Replayed {
    /// A policy bundle logged at this entry (its hash).
    pub bundle: Option<String>,
    /// For a bundle other than the one logged before it: that one's hash
    /// (none for the first bundle of a log, or one logged again unchanged).
    pub previous: Option<String>,
    /// Every change from `previous` to this bundle; the weakening ones are
    /// also findings.
    pub changes: Vec<policy::diff::Change>,
    /// An access decided at this entry.
    pub access: Option<Access>,
    /// Problems found.
    pub findings: Vec<Finding>,
}

/// The project's default law table, as a monitor's reference when its
/// configuration names none.
pub fn reference_law() -> Arc<LawTable> {
    static DEFAULT: std::sync::LazyLock<Arc<LawTable>> = std::sync::LazyLock::new(|| {
        // The shipped table parses: the policy crate's tests load it.
        Arc::new(
            LawTable::from_toml("law.toml", policy::law::DEFAULT_LAW_TABLE)
                .unwrap_or_else(|e| unreachable!("the default law table: {e}")),
        )
    });
    DEFAULT.clone()
}

/// Replays one region's log, entry by entry, in order.
#[derive(Debug)]
pub struct Replayer {
    region: String,
    /// The law table legality is judged against.
    law: Arc<LawTable>,
    bundles: HashMap<String, Arc<Bundle>>,
    /// The hash of the bundle logged last, in log order: what the next
    /// bundle entry is compared with.
    latest: Option<String>,
    decisions: Decisions,
}

/// Decisions made, by bundle, request and day. `policy::decide` is pure,
/// and a log repeats its requests (the same service asking the same thing
/// for other subjects, day after day), so each is decided once; what is
/// checked per entry — the comparison with what was logged, the law — is
/// not remembered. Each replaying thread keeps its own, so none waits on
/// another.
#[derive(Debug, Default)]
struct Decisions {
    /// Bundle hash → (request, day) → decision: a hit allocates nothing.
    by_bundle: HashMap<String, HashMap<(DecisionRequest, time::Date), Arc<Decision>>>,
    len: usize,
}

/// How many distinct requests are remembered before starting afresh.
const DECISIONS: usize = 4096;

impl Decisions {
    fn decide(
        &mut self,
        hash: &str,
        bundle: &Bundle,
        req: DecisionRequest,
        date: time::Date,
    ) -> Result<Arc<Decision>, policy::Error> {
        let key = (req, date);
        if let Some(d) = self.by_bundle.get(hash).and_then(|m| m.get(&key)) {
            return Ok(d.clone());
        }
        let d = Arc::new(policy::decide(bundle, &key.0, date)?);
        if self.len >= DECISIONS {
            self.by_bundle.clear();
            self.len = 0;
        }
        self.len += 1;
        self.by_bundle
            .entry(hash.to_owned())
            .or_default()
            .insert(key, d.clone());
        Ok(d)
    }
}

impl Replayer {
    /// A replayer for `region`'s log.
    pub fn new(region: &str) -> Self {
        Replayer {
            region: region.to_owned(),
            law: reference_law(),
            bundles: HashMap::new(),
            latest: None,
            decisions: Decisions::default(),
        }
    }

    /// Judges legality against `law` instead of the default table.
    pub fn judging_by(mut self, law: Arc<LawTable>) -> Self {
        self.law = law;
        self
    }

    /// Whether the bundle of this hash has been logged.
    pub fn knows(&self, hash: &str) -> bool {
        self.bundles.contains_key(hash)
    }

    /// Adds a bundle logged earlier (when resuming): its canonical content.
    /// It becomes the latest, which the next bundle entry replayed is
    /// compared with: add them in log order, or name the latest with
    /// [`Replayer::resume_after`].
    pub fn add_bundle(&mut self, hash: &str, content: &str) -> Result<(), String> {
        let b = Bundle::from_canonical(content).map_err(|e| e.to_string())?;
        if b.hash() != hash {
            return Err(format!(
                "the bundle content hashes to {}, the entry says {hash}",
                b.hash()
            ));
        }
        self.bundles.insert(hash.to_owned(), Arc::new(b));
        self.latest = Some(hash.to_owned());
        Ok(())
    }

    fn finding(&self, index: u64, kind: FindingKind, message: String) -> Finding {
        Finding {
            region: self.region.clone(),
            index: Some(index),
            kind,
            message,
        }
    }

    /// Replays the entry at `index`.
    pub fn replay(&mut self, index: u64, bytes: &[u8]) -> Replayed {
        self.replay_parsed(index, Entry::parse(bytes))
    }

    /// [`Replayer::replay`] of an entry the caller parsed already.
    pub fn replay_entry(&mut self, index: u64, e: Entry) -> Replayed {
        self.replay_parsed(index, Ok(e))
    }

    /// Replays consecutive entries, the first at index `first`, on every
    /// core: access entries depend only on the bundles logged before them,
    /// so each run of them between two bundles is split across threads.
    pub fn replay_all(&mut self, first: u64, entries: &[Vec<u8>]) -> Vec<Replayed> {
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        let chunk = entries.len().div_ceil(threads).max(64);
        let mut parsed: Vec<Result<Entry, serde_json::Error>> = Vec::with_capacity(entries.len());
        std::thread::scope(|s| {
            let parts: Vec<_> = entries
                .chunks(chunk)
                .map(|c| s.spawn(move || c.iter().map(|e| Entry::parse(e)).collect::<Vec<_>>()))
                .collect();
            for p in parts {
                parsed.extend(p.join().unwrap_or_default());
            }
        });
        let mut out = Vec::with_capacity(entries.len());
        let mut rest = parsed.into_iter().enumerate().peekable();
        while let Some((i, e)) = rest.next() {
            let index = first + i as u64;
            let access = matches!(&e, Ok(e) if e.kind == Kind::Access);
            if !access {
                out.push(self.replay_parsed(index, e));
                continue;
            }
            // A run of access entries.
            let mut run = vec![(index, e)];
            while let Some((j, next)) =
                rest.next_if(|(_, n)| matches!(n, Ok(n) if n.kind == Kind::Access))
            {
                run.push((first + j as u64, next));
            }
            let this = &*self;
            let chunk = run.len().div_ceil(threads).max(64);
            std::thread::scope(|s| {
                let parts: Vec<_> = run
                    .chunks(chunk)
                    .map(|c| {
                        s.spawn(move || {
                            c.iter()
                                .scan(Decisions::default(), |decisions, (index, e)| {
                                    Some(this.replay_checked(*index, e, decisions))
                                })
                                .collect::<Vec<_>>()
                        })
                    })
                    .collect();
                for p in parts {
                    out.extend(p.join().unwrap_or_default());
                }
            });
        }
        out
    }

    /// Replays a parsed access entry (no state changes).
    fn replay_checked(
        &self,
        index: u64,
        e: &Result<Entry, serde_json::Error>,
        decisions: &mut Decisions,
    ) -> Replayed {
        let mut out = Replayed::default();
        if let Ok(e) = e {
            self.check_region(index, e, &mut out);
            self.replay_access(index, e, &mut out, decisions);
        }
        out
    }

    fn check_region(&self, index: u64, e: &Entry, out: &mut Replayed) {
        if e.region != self.region {
            out.findings.push(self.finding(
                index,
                FindingKind::Inconsistency,
                format!("the entry names region {:?}", e.region),
            ));
        }
    }

    fn replay_parsed(&mut self, index: u64, e: Result<Entry, serde_json::Error>) -> Replayed {
        let mut out = Replayed::default();
        let e = match e {
            Ok(e) => e,
            Err(err) => {
                out.findings.push(self.finding(
                    index,
                    FindingKind::Inconsistency,
                    format!("not a log entry: {err}"),
                ));
                return out;
            }
        };
        self.check_region(index, &e, &mut out);
        match e.kind {
            Kind::PolicyBundle => {
                let content = e
                    .bundle_content
                    .as_ref()
                    .map(|v| String::from_utf8_lossy(&entry::canonical(v)).into_owned());
                let Some(content) = content else {
                    out.findings.push(self.finding(
                        index,
                        FindingKind::Inconsistency,
                        "a policy-bundle entry without the bundle".into(),
                    ));
                    return out;
                };
                let previous = self.latest.clone();
                if let Err(why) = self.add_bundle(&e.bundle, &content) {
                    // The next bundle is compared with the last good one.
                    self.latest = previous;
                    out.findings.push(self.finding(
                        index,
                        FindingKind::Inconsistency,
                        format!("policy bundle {}: {why}", short(&e.bundle)),
                    ));
                } else {
                    out.bundle = Some(e.bundle.clone());
                    self.compare_bundles(index, previous, &e.bundle, &mut out);
                }
            }
            Kind::Access => {
                let mut decisions = std::mem::take(&mut self.decisions);
                self.replay_access(index, &e, &mut out, &mut decisions);
                self.decisions = decisions;
            }
        }
        out
    }

    fn replay_access(&self, index: u64, e: &Entry, out: &mut Replayed, decisions: &mut Decisions) {
        let Some(bundle) = self.bundles.get(&e.bundle) else {
            out.findings.push(self.finding(
                index,
                FindingKind::Violation,
                format!(
                    "decided under policy bundle {}, which was never logged before",
                    short(&e.bundle)
                ),
            ));
            return;
        };
        let mut problems: Vec<(FindingKind, String)> = Vec::new();
        let access = access_of(index, e, bundle);
        match replay_decision(e, bundle, decisions) {
            Ok(differences) => problems.extend(differences),
            Err(why) => problems.push((FindingKind::Mismatch, why)),
        }
        if e.decision == Some(entry::Outcome::Allow) {
            problems.extend(
                law_violations(e, bundle, &self.law)
                    .into_iter()
                    .map(|v| (FindingKind::Violation, v)),
            );
        }
        out.findings
            .extend(problems.into_iter().map(|(k, m)| self.finding(index, k, m)));
        out.access = Some(access);
    }
}

fn short(hash: &str) -> &str {
    hash.get(..12).unwrap_or(hash)
}

/// The entry's date (the day the decision was made), if it has a valid time.
fn date_of(e: &Entry) -> Result<time::Date, String> {
    time::OffsetDateTime::parse(&e.time, &time::format_description::well_known::Rfc3339)
        .map(|t| t.date())
        .map_err(|err| format!("time {:?} is not RFC 3339: {err}", e.time))
}

fn access_of(index: u64, e: &Entry, bundle: &Bundle) -> Access {
    let principal = e
        .principal
        .as_ref()
        .map(|p| p.id.clone())
        .unwrap_or_default();
    let organisation = bundle
        .principals
        .principals
        .get(&principal)
        .map(|p| p.organisation.clone())
        .unwrap_or_default();
    let origin_jurisdiction = bundle
        .regions
        .regions
        .get(&e.region)
        .and_then(|r| bundle.law.jurisdiction_of(&r.country))
        .unwrap_or("unknown")
        .to_owned();
    let legal_reference =
        e.legal_basis
            .as_deref()
            .and_then(|b| match b.strip_prefix("adequacy:") {
                Some(id) => bundle.law.adequacy.get(id).map(|a| a.reference.clone()),
                None => bundle.law.tools.get(b).map(|t| t.reference.clone()),
            });
    let reached: Vec<String> = reached(e, bundle, &bundle.law)
        .into_iter()
        .filter(|j| *j != origin_jurisdiction)
        .collect();
    let destination = if reached.is_empty() {
        e.destination.clone().unwrap_or_default()
    } else {
        reached.join(", ")
    };
    Access {
        index,
        time: e.time.clone(),
        action: e.action.map(|a| a.as_str().to_owned()).unwrap_or_default(),
        allowed: e.decision == Some(entry::Outcome::Allow),
        principal,
        organisation,
        purpose: e.purpose.clone(),
        origin_jurisdiction,
        destination,
        legal_basis: e.legal_basis.clone(),
        legal_reference,
        datasets: e.datasets.clone(),
        fields: e
            .fields
            .iter()
            .map(|(f, t)| match t {
                Some(t) => format!("{f}: {}", op_name(t)),
                None => format!("{f}: denied"),
            })
            .collect(),
        subject_count: e.subject_count,
        reasons: e.reasons.clone(),
    }
}

/// The jurisdictions an access reached, judged from the configuration:
/// the principal's, from its location in the logged bundle (not the
/// entry's claim), and the declared destination's, each country placed by
/// `law`. Sorted, each once.
pub fn reached(e: &Entry, bundle: &Bundle, law: &LawTable) -> Vec<String> {
    let mut out = std::collections::BTreeSet::new();
    if let Some(j) = e
        .principal
        .as_ref()
        .and_then(|p| bundle.principals.principals.get(&p.id))
        .and_then(|p| law.jurisdiction_of(&p.location))
    {
        out.insert(j.to_owned());
    }
    // Version 2 logs the declared country; version 1, only the
    // jurisdiction (of the declared destination, else the principal's).
    let declared = match &e.declared_destination {
        Some(country) => law.jurisdiction_of(country).map(str::to_owned),
        None if !e.salted() => e.destination.clone(),
        None => None,
    };
    out.extend(declared);
    out.into_iter().collect()
}

/// Decides the entry's request again and lists what differs from the log,
/// each as a violation (the log is more permissive than the replay) or a
/// mismatch.
fn replay_decision(
    e: &Entry,
    bundle: &Bundle,
    decisions: &mut Decisions,
) -> Result<Vec<(FindingKind, String)>, String> {
    let principal = e
        .principal
        .as_ref()
        .ok_or("an access entry without a principal")?;
    let logged_action = e
        .action
        .map(policy::Action::as_str)
        .ok_or("an access entry without an action")?;
    let date = date_of(e)?;
    // Version 2 logs the country as declared. Version 1 logged only its
    // jurisdiction, and a decision depends on the jurisdiction only.
    let destination = match (&e.declared_destination, e.destination.as_deref()) {
        (Some(country), _) => Some(country.clone()),
        (None, Some(j)) if !e.salted() => Some(
            bundle
                .law
                .jurisdictions
                .get(j)
                .and_then(|j| j.countries.first().cloned())
                .ok_or_else(|| format!("destination {j:?} is not a jurisdiction of the bundle"))?,
        ),
        (None, _) => None,
    };
    let mut differences = Vec::new();
    if let Some(p) = bundle.principals.principals.get(&principal.id)
        && p.location != principal.location
    {
        differences.push((
            FindingKind::Mismatch,
            format!(
                "principal {} is located in {}, the entry says {}",
                principal.id, p.location, principal.location
            ),
        ));
    }
    // A read from outside the data's jurisdiction is logged as a transfer:
    // a `transfer` entry replays as either request.
    let candidates: &[Action] = match logged_action {
        "read" => &[Action::Read],
        "transfer" => &[Action::Transfer, Action::Read],
        "aggregate" => &[Action::Aggregate],
        "reidentify" => &[Action::Reidentify],
        "export" => &[Action::Export],
        "erase" => &[Action::Erase],
        other => return Err(format!("unknown action {other:?}")),
    };
    // Parsed once: a name that is not `dataset.field` cannot be replayed.
    let fields = e
        .fields
        .keys()
        .map(|f| f.parse::<policy::FieldRef>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| "a field the entry names is not dataset.field".to_owned())?;
    differences.extend(datasets_differ(e, &fields, bundle));
    let mut first: Option<Vec<(FindingKind, String)>> = None;
    for &action in candidates {
        let req = DecisionRequest {
            principal: principal.id.clone(),
            action,
            region: e.region.clone(),
            fields: fields.clone(),
            purpose: e.purpose.clone(),
            destination: destination.clone(),
            legal_basis: e.legal_basis.clone(),
            subject_count: usize::try_from(e.subject_count)
                .unwrap_or(usize::MAX)
                .max(1),
        };
        let d = decisions
            .decide(&e.bundle, bundle, req, date)
            .map_err(|err| format!("the request does not replay: {err}"))?;
        let diff = compare(e, logged_action, &d);
        if diff.is_empty() {
            return Ok(differences);
        }
        first.get_or_insert(diff);
    }
    differences.extend(first.unwrap_or_default());
    Ok(differences)
}

/// The datasets an entry names are those whose record keys a custodian
/// releases for it: they must be exactly those of its fields (every
/// dataset of the catalog for a request naming no field, an export), as
/// the gateway derives them. More, under an allow, is a violation — keys
/// to datasets the decision never covered. Names outside the catalog are
/// counted, not repeated (the entry's text is not trusted).
fn datasets_differ(
    e: &Entry,
    fields: &[policy::FieldRef],
    bundle: &Bundle,
) -> Option<(FindingKind, String)> {
    use std::collections::BTreeSet;
    let named: BTreeSet<&str> = e.datasets.iter().map(String::as_str).collect();
    let implied: BTreeSet<&str> = if fields.is_empty() {
        bundle.catalog.datasets.keys().map(String::as_str).collect()
    } else {
        fields.iter().map(policy::FieldRef::dataset).collect()
    };
    if named == implied {
        return None;
    }
    let describe = |set: Vec<&str>| {
        let (known, unknown): (Vec<&str>, Vec<&str>) = set
            .into_iter()
            .partition(|d| bundle.catalog.datasets.contains_key(*d));
        let mut words = known.join(", ");
        if !unknown.is_empty() {
            if !words.is_empty() {
                words.push_str(" and ");
            }
            words.push_str(&format!("{} not in the catalog", unknown.len()));
        }
        words
    };
    let extra: Vec<&str> = named.difference(&implied).copied().collect();
    let missing: Vec<&str> = implied.difference(&named).copied().collect();
    let mut why = Vec::new();
    if !extra.is_empty() {
        why.push(format!(
            "names datasets its fields do not: {}",
            describe(extra.clone())
        ));
    }
    if !missing.is_empty() {
        why.push(format!(
            "omits datasets of its fields: {}",
            describe(missing)
        ));
    }
    let kind = if !extra.is_empty() && e.decision == Some(entry::Outcome::Allow) {
        FindingKind::Violation
    } else {
        FindingKind::Mismatch
    };
    Some((kind, format!("the entry {}", why.join("; "))))
}

/// What differs between a logged entry and the replayed decision. Where
/// the log released something the replay would not — an allow the replay
/// denies, a field left in a form the replay does not give (other than
/// dropped), a transfer logged as a read — it is a violation; any other
/// difference is a mismatch.
fn compare(e: &Entry, logged_action: &str, d: &Decision) -> Vec<(FindingKind, String)> {
    let mut out = Vec::new();
    let replayed = if d.allow { "allow" } else { "deny" };
    let logged = e.decision.map_or("none", entry::Outcome::as_str);
    let released = logged == "allow";
    if logged != replayed {
        let why = if d.reasons.is_empty() {
            String::new()
        } else {
            format!(" ({})", d.reasons.join("; "))
        };
        let kind = if released {
            FindingKind::Violation
        } else {
            FindingKind::Mismatch
        };
        out.push((
            kind,
            format!("logged {logged}, the replay decides {replayed}{why}"),
        ));
        return out;
    }
    let action = match (logged_action, d.transfer) {
        ("read", true) => Some((FindingKind::Violation, "a transfer")),
        ("transfer", false) => Some((FindingKind::Mismatch, "not a transfer")),
        _ => None,
    };
    if let Some((kind, a)) = action {
        let kind = if released {
            kind
        } else {
            FindingKind::Mismatch
        };
        out.push((
            kind,
            format!("logged as {logged_action}, but the replay finds {a}"),
        ));
    }
    if d.destination != e.destination.clone().unwrap_or_default() {
        out.push((
            FindingKind::Mismatch,
            format!(
                "destination logged {:?}, the replay gives {:?}",
                e.destination, d.destination
            ),
        ));
    }
    if e.salted() && e.destinations != d.destinations {
        out.push((
            FindingKind::Mismatch,
            format!(
                "destinations logged {:?}, the replay gives {:?}",
                e.destinations, d.destinations
            ),
        ));
    }
    let expected: BTreeMap<&String, Option<&Transform>> = e
        .fields
        .keys()
        .map(|f| (f, if d.allow { d.plan.get(f) } else { None }))
        .collect();
    for (f, t) in &e.fields {
        let want = expected.get(f).copied().flatten();
        if t.as_ref() != want {
            let more = released && !matches!(t, None | Some(Transform::Drop));
            let kind = if more {
                FindingKind::Violation
            } else {
                FindingKind::Mismatch
            };
            out.push((
                kind,
                format!(
                    "{f} logged as {}, the replay gives {}",
                    op(t.as_ref()),
                    op(want)
                ),
            ));
        }
    }
    if e.policies != d.policies {
        out.push((
            FindingKind::Mismatch,
            format!(
                "policies logged {:?}, the replay gives {:?}",
                e.policies, d.policies
            ),
        ));
    }
    if e.reasons != d.reasons {
        out.push((
            FindingKind::Mismatch,
            format!(
                "reasons logged {:?}, the replay gives {:?}",
                e.reasons, d.reasons
            ),
        ));
    }
    out
}

/// A transform as the log writes it (`{"op":"token","domain":"people"}`).
fn op(t: Option<&Transform>) -> String {
    t.map_or_else(
        || "nothing (denied)".to_owned(),
        |t| serde_json::to_string(t).unwrap_or_default(),
    )
}

/// A transform's name (`token`, `drop`, …).
fn op_name(t: &Transform) -> String {
    serde_json::to_value(t)
        .ok()
        .and_then(|v| v.get("op")?.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// What the law forbids in an allowed entry, judged by `law` (the
/// monitor's own table): the bundle gives only who the principal is and
/// how the catalog classes each field.
fn law_violations(e: &Entry, bundle: &Bundle, law: &LawTable) -> Vec<String> {
    let mut out = Vec::new();
    let Ok(date) = date_of(e) else {
        return out;
    };
    let action = e.action.map_or("", policy::Action::as_str);
    let data_j = bundle
        .regions
        .regions
        .get(&e.region)
        .and_then(|r| law.jurisdiction_of(&r.country))
        .unwrap_or("unknown");
    let principal = e
        .principal
        .as_ref()
        .and_then(|p| bundle.principals.principals.get(&p.id));
    let recipient = principal.map(|p| Recipient {
        organisation: &p.organisation,
        group: p.group.as_deref(),
        sector: p.sector.as_deref(),
        certifications: &p.certifications,
        contracts: &p.contracts,
    });
    let level = |f: &str| {
        f.parse::<policy::FieldRef>()
            .ok()
            .and_then(|f| bundle.catalog.field(f.dataset(), f.field()))
            .map(|f| f.level)
    };
    // Every jurisdiction reached other than the data's, from the bundle's
    // truth about the principal's location and the declared destination.
    let targets: Vec<String> = reached(e, bundle, law)
        .into_iter()
        .filter(|j| j != data_j)
        .collect();
    let crosses = !targets.is_empty();
    let dest_j = targets.join(" and ");

    if action == "reidentify" {
        if e.justification_digest.is_none() {
            out.push("a re-identification without a justification".to_owned());
        }
        if crosses {
            out.push(format!(
                "a re-identification of {data_j} data from {dest_j}, outside the home jurisdiction"
            ));
        }
    }
    if !crosses || matches!(action, "erase") {
        return out;
    }
    let personal = e
        .fields
        .keys()
        .any(|f| level(f).is_some_and(|l| l >= Level::Personal));
    if personal && action != "aggregate" {
        match (e.legal_basis.as_deref(), &recipient) {
            (None, _) => out.push(format!(
                "a transfer of personal data from {data_j} to {dest_j} with no legal basis"
            )),
            (Some(basis), Some(r)) => {
                let count = usize::try_from(e.subject_count)
                    .unwrap_or(usize::MAX)
                    .max(1);
                for j in &targets {
                    if let Err(why) = law.check_basis(basis, j, r, count, date) {
                        out.push(format!("legal basis {basis} does not hold for {j}: {why}"));
                    }
                }
            }
            (Some(_), None) => out.push("a transfer to an unknown principal".to_owned()),
        }
    }
    for j in &targets {
        let adequate = recipient.is_some_and(|r| law.adequacy_for(j, &r, date).is_some());
        if adequate {
            continue;
        }
        for (f, t) in &e.fields {
            if t.as_ref() == Some(&Transform::Keep) && level(f) == Some(Level::Protected) {
                out.push(format!(
                    "protected field {f} left in clear for {j}, which has no adequacy decision for this recipient"
                ));
            }
        }
    }
    out
}
