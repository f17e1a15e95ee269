//! The custodian's gate against a real signed tree of real entries, made
//! as the gateway makes them under the example policy: it releases only
//! what a logged, allowed, replaying, lawful entry names, and refuses
//! everything else with a clear reason, releasing nothing.

use std::sync::Arc;

use custodian::keys::{KeyFile, KeyProvider as _};
use custodian::{CustodianConfig, Gate, Refusal};
use custody::protocol::{
    Base64, Consistency, EntryKeys, EraseRequest, HexHash, KeyAsk, LoggedEntry, MAX_RELEASES,
    Membership, ReleaseRequest, ReleasesRequest, Salt, Tail, Wrapped,
};
use custody::{BatchSecret, Suite};
use entry::{Entry, Kind, Opening, PrincipalRef, SubjectSet};
use policy::{Action, Bundle, DecisionRequest};
use tlog::merkle::{MemoryTree, ProofPlan};
use tlog::{Checkpoint, Signer};

const TIME: &str = "2026-11-25T04:00:00Z";
/// A few seconds after [`TIME`].
const NOW: u64 = 1_795_579_200 + 5;
const ORIGIN: &str = "eu-fr.residency.example";
const TOKEN: &str = "eu-fr-gateway-token";

fn policy_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/policy")
}

/// A region's log: a real RFC 6962 tree and signed checkpoints.
struct Log {
    signer: Signer,
    tree: MemoryTree,
    entries: Vec<Vec<u8>>,
}

impl Log {
    fn new() -> Self {
        Log {
            signer: Signer::generate(ORIGIN, tlog::note::TYPE_ED25519).unwrap(),
            tree: MemoryTree::new(),
            entries: Vec::new(),
        }
    }
    fn append(&mut self, bytes: Vec<u8>) -> u64 {
        self.tree.push(tlog::leaf_hash(&bytes));
        self.entries.push(bytes);
        self.tree.size() - 1
    }
    fn size(&self) -> u64 {
        self.tree.size()
    }
    fn checkpoint_at(&self, size: u64, signer: &Signer) -> String {
        Checkpoint {
            origin: ORIGIN.into(),
            size,
            root: self.tree.root(size),
            extensions: vec![],
        }
        .sign(signer)
        .unwrap()
        .to_text()
    }
    fn checkpoint(&self) -> String {
        self.checkpoint_at(self.size(), &self.signer)
    }
    fn logged(&self, index: u64, size: u64) -> LoggedEntry {
        let proof = self
            .tree
            .run(&ProofPlan::inclusion(index, size).unwrap())
            .unwrap();
        LoggedEntry {
            index,
            bytes: Base64(self.entries[index as usize].clone()),
            inclusion: proof.into_iter().map(HexHash).collect(),
        }
    }
    /// Every entry: the custodian reads those it has not.
    fn tail(&self) -> Option<Tail> {
        Some(Tail {
            from: 0,
            entries: self.entries.iter().cloned().map(Base64).collect(),
            proof: vec![],
        })
    }
    fn consistency(&self, old: u64) -> Consistency {
        let proof = if old == 0 || old == self.size() {
            vec![]
        } else {
            self.tree
                .run(&ProofPlan::consistency(old, self.size()).unwrap())
                .unwrap()
        };
        Consistency {
            old_size: old,
            proof: proof.into_iter().map(HexHash).collect(),
        }
    }
}

struct World {
    _dir: tempfile::TempDir,
    gate: Gate,
    keys: Arc<KeyFile>,
    log: Log,
    bundle: Bundle,
    bundle_index: u64,
    /// The custodian's latest size, as the region tracks it.
    seen: u64,
}

fn bundle_entry(b: &Bundle) -> Vec<u8> {
    let mut e = Entry::new(Kind::PolicyBundle, "eu-fr", b.hash(), TIME.into());
    e.bundle_content = Some(serde_json::from_str(b.canonical()).unwrap());
    e.to_canonical()
}

fn world_with(bundle: Bundle) -> World {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::new();
    let token = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(TOKEN.as_bytes()));
    let cfg = CustodianConfig::parse(
        &format!(
            "state = \"state\"\nlisten = \"127.0.0.1:0\"\n[[logs]]\nregion = \"eu-fr\"\nkey = \"{}\"\ntoken_sha256 = \"{token}\"\n",
            log.signer.verifier().to_vkey()
        ),
        dir.path(),
    )
    .unwrap();
    let keys = Arc::new(
        KeyFile::create(
            &dir.path().join("custodian.key"),
            "custodian.example",
            Suite::X25519,
        )
        .unwrap(),
    );
    let gate = Gate::open(cfg, keys.clone(), keys.cosigner().clone()).unwrap();
    let mut log = log;
    let bundle_index = log.append(bundle_entry(&bundle));
    World {
        _dir: dir,
        gate,
        keys,
        log,
        bundle_index,
        bundle,
        seen: 0,
    }
}

fn world() -> World {
    world_with(Bundle::load(&policy_dir()).unwrap())
}

struct Logged {
    index: u64,
    openings: Vec<Opening>,
    set: SubjectSet,
}

impl World {
    /// Logs the entry the gateway makes for `req` over `subjects`.
    fn log_access(&mut self, req: &DecisionRequest, subjects: &[&str]) -> Logged {
        let mut req = req.clone();
        req.subject_count = subjects.len() as _;
        let req = &req;
        let d = policy::decide(&self.bundle, req, time::macros::date!(2026 - 11 - 25)).unwrap();
        let location = self.bundle.principals.principals[&req.principal]
            .location
            .clone();
        let who = PrincipalRef {
            id: req.principal.clone(),
            location,
        };
        let e = Entry::decided(&self.bundle, TIME.into(), who, req, &d);
        self.log_entry(e, subjects)
    }

    /// Logs `e` (as the gateway made it, or doctored) committing to
    /// `subjects`.
    fn log_entry(&mut self, mut e: Entry, subjects: &[&str]) -> Logged {
        let openings: Vec<Opening> = subjects
            .iter()
            .map(|s| Opening {
                subject: s.to_string(),
                salt: rand_salt(),
            })
            .collect();
        let set = SubjectSet::of(&openings);
        e.commit_to(&set);
        let index = self.log.append(e.to_canonical());
        Logged {
            index,
            openings,
            set,
        }
    }

    fn member(&self, l: &Logged, subject: &str) -> Membership {
        let o = l.openings.iter().find(|o| o.subject == subject).unwrap();
        let (position, proof) = l.set.prove(&o.leaf()).unwrap();
        Membership {
            subject: subject.into(),
            salt: Salt(o.salt),
            position,
            proof: proof.into_iter().map(HexHash).collect(),
        }
    }

    fn ask(
        &self,
        l: &Logged,
        subject: &str,
        dataset: &str,
        wrapped: &custody::WrappedSecret,
    ) -> KeyAsk {
        KeyAsk {
            member: self.member(l, subject),
            dataset: dataset.into(),
            wrapped: Wrapped(wrapped.clone()),
        }
    }

    fn request(&self, l: &Logged, keys: Vec<KeyAsk>, with_bundle: bool) -> ReleaseRequest {
        let mut r = ReleaseRequest::new(
            self.log.checkpoint(),
            Some(self.log.consistency(self.seen)),
            self.log.logged(l.index, self.log.size()),
            with_bundle.then(|| self.log.logged(self.bundle_index, self.log.size())),
            keys,
        );
        r.tail = self.log.tail();
        r
    }

    fn release(&mut self, req: &ReleaseRequest) -> Result<Vec<[u8; 32]>, Refusal> {
        let out = self.gate.release("eu-fr", req, NOW)?;
        self.seen = self.seen.max(self.log.size());
        Ok(out
            .record_keys()
            .unwrap()
            .into_iter()
            .map(|k| k.0)
            .collect())
    }
}

fn rand_salt() -> [u8; 32] {
    let mut s = [0u8; 32];
    getrandom::fill(&mut s).unwrap();
    s
}

fn req(
    principal: &str,
    action: Action,
    fields: &[&str],
    purpose: &str,
    basis: Option<&str>,
) -> DecisionRequest {
    DecisionRequest {
        principal: principal.into(),
        action,
        region: "eu-fr".into(),
        fields: fields.iter().map(|f| f.parse().unwrap()).collect(),
        purpose: purpose.into(),
        destination: None,
        legal_basis: basis.map(str::to_owned),
        subject_count: 2,
    }
}

/// Support in Dublin reads one French user's e-mail address for a ticket.
fn support_read() -> DecisionRequest {
    req(
        "support-dublin",
        Action::Read,
        &["profile.address"],
        "support-ticket",
        None,
    )
}

/// The DPO in Paris reads several users' profiles.
fn dpo_read() -> DecisionRequest {
    req(
        "dpo",
        Action::Read,
        &["profile.address"],
        "support-ticket",
        None,
    )
}

#[test]
fn a_logged_allowed_read_releases_exactly_the_keys_asked_for() {
    let mut w = world();
    let secret = BatchSecret::generate().unwrap();
    let wrapped = secret.wrap(w.keys.current(), "eu-fr").unwrap();
    let l = w.log_access(&dpo_read(), &["t3.alice", "t3.bob"]);
    let keys = vec![
        w.ask(&l, "t3.alice", "profile", &wrapped),
        w.ask(&l, "t3.bob", "profile", &wrapped),
    ];
    let r = w.request(&l, keys, true);
    let got = w.release(&r).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(got[0], secret.record_key("t3.alice", "profile").0);
    assert_eq!(got[1], secret.record_key("t3.bob", "profile").0);
    // The bundle is now held: the next release need not carry it.
    let l2 = w.log_access(&support_read(), &["t3.alice"]);
    let r2 = w.request(
        &l2,
        vec![w.ask(&l2, "t3.alice", "profile", &wrapped)],
        false,
    );
    assert!(w.release(&r2).is_ok());
}

fn refused(w: &mut World, r: &ReleaseRequest) -> Refusal {
    match w.gate.release("eu-fr", r, NOW) {
        Ok(_) => panic!("released"),
        Err(e) => e,
    }
}

#[test]
fn a_dataset_or_subject_the_entry_does_not_name_is_refused() {
    let mut w = world();
    let wrapped = BatchSecret::generate()
        .unwrap()
        .wrap(w.keys.current(), "eu-fr")
        .unwrap();
    let l = w.log_access(&support_read(), &["t3.alice"]);
    let other = w.log_access(&support_read(), &["t3.mallory"]);
    // Another dataset than the entry's.
    let r = w.request(&l, vec![w.ask(&l, "t3.alice", "network", &wrapped)], true);
    assert!(matches!(refused(&mut w, &r), Refusal::NotAllowed(m) if m.contains("dataset")));
    // A subject of another entry, with its own valid opening.
    let mut ask = w.ask(&other, "t3.mallory", "profile", &wrapped);
    let r = w.request(&l, vec![ask.clone()], true);
    assert!(matches!(refused(&mut w, &r), Refusal::NotAllowed(m) if m.contains("not in entry")));
    // A subject renamed under a valid salt.
    ask = w.ask(&l, "t3.alice", "profile", &wrapped);
    ask.member.subject = "t3.mallory".into();
    let r = w.request(&l, vec![ask], true);
    assert!(matches!(refused(&mut w, &r), Refusal::NotAllowed(_)));
    // None of the refusals names a subject.
    let r = w.request(
        &l,
        vec![w.ask(&other, "t3.mallory", "profile", &wrapped)],
        true,
    );
    assert!(!refused(&mut w, &r).to_string().contains("mallory"));
}

#[test]
fn an_entry_not_in_the_log_or_under_a_foreign_checkpoint_is_refused() {
    let mut w = world();
    let wrapped = BatchSecret::generate()
        .unwrap()
        .wrap(w.keys.current(), "eu-fr")
        .unwrap();
    let l = w.log_access(&support_read(), &["t3.alice"]);
    // The entry's bytes changed after logging (another dataset claimed).
    let mut r = w.request(&l, vec![w.ask(&l, "t3.alice", "profile", &wrapped)], true);
    let mut e = Entry::parse(&r.entry.bytes.0).unwrap();
    e.datasets.push("network".into());
    r.entry.bytes = Base64(e.to_canonical());
    assert!(matches!(refused(&mut w, &r), Refusal::NotLogged(_)));
    // A checkpoint signed by another key under the region's name.
    let mut r = w.request(&l, vec![w.ask(&l, "t3.alice", "profile", &wrapped)], true);
    let rogue = Signer::generate(ORIGIN, tlog::note::TYPE_ED25519).unwrap();
    r.checkpoint = w.log.checkpoint_at(w.log.size(), &rogue);
    assert!(matches!(refused(&mut w, &r), Refusal::NotSigned(_)));
    // The wrong token's region.
    let r = w.request(&l, vec![w.ask(&l, "t3.alice", "profile", &wrapped)], true);
    assert!(matches!(
        w.gate.release("us", &r, NOW),
        Err(Refusal::Unauthenticated(_))
    ));
}

#[test]
fn a_rollback_or_fork_is_refused_and_kept_as_evidence() {
    let mut w = world();
    let wrapped = BatchSecret::generate()
        .unwrap()
        .wrap(w.keys.current(), "eu-fr")
        .unwrap();
    let l = w.log_access(&support_read(), &["t3.alice"]);
    let r = w.request(&l, vec![w.ask(&l, "t3.alice", "profile", &wrapped)], true);
    w.release(&r).unwrap();
    let held = w.log.size();
    // The log grows; the custodian sees the newer checkpoint.
    let l2 = w.log_access(&support_read(), &["t3.bob"]);
    let r2 = w.request(&l2, vec![w.ask(&l2, "t3.bob", "profile", &wrapped)], false);
    w.release(&r2).unwrap();
    // An older checkpoint it never saw: stale, naming the size it holds.
    let mut stale = w.request(&l, vec![w.ask(&l, "t3.alice", "profile", &wrapped)], false);
    stale.checkpoint = w.log.checkpoint_at(held, &w.log.signer);
    stale.entry = w.log.logged(l.index, held);
    stale.consistency = None;
    stale.tail = None;
    // `held` was seen (and read beyond): fine.
    assert!(w.gate.release("eu-fr", &stale, NOW).is_ok());
    // A fork: a different tree at the size held.
    let mut forked = Log {
        signer: w.log.signer.clone(),
        tree: MemoryTree::new(),
        entries: vec![],
    };
    for e in &w.log.entries {
        forked.append(e.clone());
    }
    forked.entries[0] = b"rewritten".to_vec();
    let mut t = MemoryTree::new();
    for e in &forked.entries {
        t.push(tlog::leaf_hash(e));
    }
    forked.tree = t;
    let l3 = Logged {
        index: l2.index,
        openings: l2.openings.clone(),
        set: l2.set.clone(),
    };
    let mut r = ReleaseRequest::new(
        forked.checkpoint(),
        None,
        forked.logged(l3.index, forked.size()),
        None,
        vec![w.ask(&l3, "t3.bob", "profile", &wrapped)],
    );
    assert!(matches!(refused(&mut w, &r), Refusal::SplitView(_)));
    assert_eq!(w.gate.witness().evidence().unwrap().len(), 1);
    r.consistency = Some(forked.consistency(0));
    assert!(matches!(refused(&mut w, &r), Refusal::SplitView(_)));
}

#[test]
fn a_denied_entry_or_one_that_opens_nothing_is_refused() {
    let mut w = world();
    let wrapped = BatchSecret::generate()
        .unwrap()
        .wrap(w.keys.current(), "eu-fr")
        .unwrap();
    // Beijing asking for phone numbers: denied, and logged as denied.
    let l = w.log_access(
        &req(
            "eng-beijing",
            Action::Transfer,
            &["profile.phone"],
            "debugging",
            None,
        ),
        &["t3.alice"],
    );
    let r = w.request(&l, vec![w.ask(&l, "t3.alice", "profile", &wrapped)], true);
    assert!(matches!(refused(&mut w, &r), Refusal::NotAllowed(m) if m.contains("not an allowed")));
}

#[test]
fn an_entry_whose_decision_does_not_replay_is_refused() {
    let mut w = world();
    let wrapped = BatchSecret::generate()
        .unwrap()
        .wrap(w.keys.current(), "eu-fr")
        .unwrap();
    // The gateway logs Beijing's denied request as an allow.
    let d = policy::decide(
        &w.bundle,
        &req(
            "eng-beijing",
            Action::Transfer,
            &["profile.phone"],
            "debugging",
            None,
        ),
        time::macros::date!(2026 - 11 - 25),
    )
    .unwrap();
    assert!(!d.allow);
    let r0 = req(
        "eng-beijing",
        Action::Transfer,
        &["profile.phone"],
        "debugging",
        None,
    );
    let who = PrincipalRef {
        id: r0.principal.clone(),
        location: "CN".into(),
    };
    let mut e = Entry::decided(&w.bundle, TIME.into(), who, &r0, &d);
    e.decision = Some(entry::Outcome::Allow);
    e.reasons.clear();
    let l = w.log_entry(e, &["t3.alice"]);
    let r = w.request(&l, vec![w.ask(&l, "t3.alice", "profile", &wrapped)], true);
    assert!(matches!(refused(&mut w, &r), Refusal::DoesNotReplay(_)));
}

#[test]
fn a_release_only_a_doctored_law_table_allows_is_refused() {
    let dir = policy_dir();
    let mut sources = policy::Sources {
        catalog: std::fs::read_to_string(dir.join("catalog.toml")).unwrap(),
        law: Some(format!(
            "{}\n[adequacy.china]\nreference = \"the operator's own\"\ndestination = \"CN\"\nfrom = \"2000-01-01\"\n",
            policy::law::DEFAULT_LAW_TABLE
        )),
        principals: std::fs::read_to_string(dir.join("principals.toml")).unwrap(),
        regions: std::fs::read_to_string(dir.join("regions.toml")).unwrap(),
        policies: Vec::new(),
    };
    for f in ["access.cedar", "guardrails.cedar"] {
        let text = std::fs::read_to_string(dir.join("policies").join(f)).unwrap();
        sources.policies.push((format!("policies/{f}"), text));
    }
    let mut w = world_with(Bundle::from_sources(sources).unwrap());
    let wrapped = BatchSecret::generate()
        .unwrap()
        .wrap(w.keys.current(), "eu-fr")
        .unwrap();
    let l = w.log_access(
        &req(
            "eng-beijing",
            Action::Transfer,
            &["profile.phone"],
            "debugging",
            Some("adequacy:china"),
        ),
        &["t3.alice"],
    );
    let r = w.request(&l, vec![w.ask(&l, "t3.alice", "profile", &wrapped)], true);
    match refused(&mut w, &r) {
        Refusal::DoesNotReplay(m) => {
            assert!(m.contains("adequacy:china does not hold for CN"), "{m}")
        }
        other => panic!("{other}"),
    }
}

#[test]
fn after_a_logged_erasure_no_key_of_the_subject_is_released_again() {
    let mut w = world();
    let secret = BatchSecret::generate().unwrap();
    let wrapped = secret.wrap(w.keys.current(), "eu-fr").unwrap();
    // A read logged before the erasure: replayed later, as from a backup.
    let before = w.log_access(&dpo_read(), &["t3.alice", "t3.bob"]);
    let old = w.request(
        &before,
        vec![w.ask(&before, "t3.alice", "profile", &wrapped)],
        true,
    );
    let erase_req = req("dpo", Action::Erase, &[], "support-ticket", None);
    let erased = w.log_access(&erase_req, &["t3.alice"]);
    let er = EraseRequest {
        checkpoint: w.log.checkpoint(),
        consistency: Some(w.log.consistency(w.seen)),
        entry: w.log.logged(erased.index, w.log.size()),
        members: vec![w.member(&erased, "t3.alice")],
        tail: w.log.tail(),
    };
    let e = w.gate.erase("eu-fr", &er, NOW);
    assert!(e.is_ok(), "{:?}", e.err().map(|e| e.to_string()));
    w.seen = w.log.size();
    // The old request, replayed: refused.
    let mut old = old;
    old.checkpoint = w.log.checkpoint();
    old.consistency = None;
    old.entry = w.log.logged(before.index, w.log.size());
    old.bundle = None;
    match refused(&mut w, &old) {
        Refusal::Erased(0, i) => assert_eq!(i, erased.index),
        other => panic!("{other}"),
    }
    // A new logged read of the erased subject: refused too; Bob's is fine.
    let after = w.log_access(&dpo_read(), &["t3.alice", "t3.bob"]);
    let r = w.request(
        &after,
        vec![w.ask(&after, "t3.alice", "profile", &wrapped)],
        false,
    );
    assert!(matches!(refused(&mut w, &r), Refusal::Erased(..)));
    let r = w.request(
        &after,
        vec![w.ask(&after, "t3.bob", "profile", &wrapped)],
        true,
    );
    assert_eq!(
        w.release(&r).unwrap()[0],
        secret.record_key("t3.bob", "profile").0
    );
    // An erasure entry that erases someone else does not count for Alice,
    // and a read entry is not an erasure.
    let er2 = EraseRequest {
        checkpoint: w.log.checkpoint(),
        consistency: None,
        entry: w.log.logged(after.index, w.log.size()),
        members: vec![w.member(&after, "t3.alice"), w.member(&after, "t3.bob")],
        tail: w.log.tail(),
    };
    assert!(matches!(
        w.gate.erase("eu-fr", &er2, NOW),
        Err(Refusal::NotAllowed(_))
    ));
    // The erasure list survives a restart of the custodian.
    let cfg = w.gate.config().clone();
    let keys = w.keys.clone();
    drop(std::mem::replace(
        &mut w.gate,
        Gate::open(cfg, keys.clone(), keys.cosigner().clone()).unwrap(),
    ));
    assert!(matches!(refused(&mut w, &old), Refusal::Erased(..)));
    let _ = keys.public_keys();
}

#[test]
fn an_entry_logged_long_ago_or_in_the_future_authorises_nothing() {
    let mut w = world();
    let wrapped = BatchSecret::generate()
        .unwrap()
        .wrap(w.keys.current(), "eu-fr")
        .unwrap();
    let l = w.log_access(&support_read(), &["t3.alice"]);
    let r = w.request(&l, vec![w.ask(&l, "t3.alice", "profile", &wrapped)], true);
    for now in [NOW + 3_600, NOW - 3_600] {
        match w.gate.release("eu-fr", &r, now) {
            Err(Refusal::NotAllowed(m)) => assert!(m.contains("within the last 300 s"), "{m}"),
            other => panic!("{:?}", other.map(|_| ())),
        }
    }
    assert!(w.gate.release("eu-fr", &r, NOW + 200).is_ok());
}

#[test]
fn a_rotation_rewraps_under_the_new_key_without_releasing_anything() {
    use custodian::keys::KeyProvider as _;
    let w = world();
    let secret = BatchSecret::generate().unwrap();
    let old = secret.wrap(w.keys.current(), "eu-fr").unwrap();
    // A second key, current: the custodian now holds both.
    let path = w
        .gate
        .config()
        .state
        .parent()
        .unwrap()
        .join("custodian.key");
    let mut file = KeyFile::open(&path).unwrap();
    file.add_key(Suite::XWing).unwrap();
    let both = Arc::new(KeyFile::open(&path).unwrap());
    let gate = Gate::open(
        w.gate.config().clone(),
        both.clone(),
        both.cosigner().clone(),
    )
    .unwrap();
    let req = custody::protocol::RewrapRequest {
        wrapped: vec![Wrapped(old.clone())],
    };
    let answer = gate.rewrap("eu-fr", &req).unwrap();
    let new = &answer.wrapped[0].0;
    assert_eq!(new.key_id(), both.current().id());
    assert_ne!(new.key_id(), old.key_id());
    assert_eq!(
        both.open(new, "eu-fr").unwrap().record_key("s", "d"),
        secret.record_key("s", "d")
    );
    // A secret of another region, or altered, is refused by its position.
    let foreign = secret.wrap(both.current(), "eu-de").unwrap();
    let req = custody::protocol::RewrapRequest {
        wrapped: vec![Wrapped(old), Wrapped(foreign)],
    };
    assert!(matches!(
        gate.rewrap("eu-fr", &req),
        Err(Refusal::DoesNotOpen(1, _))
    ));
}

/// Found by the red team: another region's gateway could learn (and
/// with a valid proof move) this log's witness state before the region
/// check. The region is now checked first.
#[test]
fn another_regions_gateway_neither_learns_nor_moves_this_logs_state() {
    let mut w = world();
    let wrapped = BatchSecret::generate()
        .unwrap()
        .wrap(w.keys.current(), "eu-fr")
        .unwrap();
    let l = w.log_access(&support_read(), &["t3.alice"]);
    let r = w.request(&l, vec![w.ask(&l, "t3.alice", "profile", &wrapped)], true);
    match w.gate.release("eu-no", &r, NOW) {
        Err(Refusal::Unauthenticated(m)) => assert!(!m.contains("size"), "{m}"),
        other => panic!("{:?}", other.map(|_| ())),
    }
    assert_eq!(w.gate.witness().latest_size(ORIGIN).unwrap(), 0);
}

/// Found by the red team: an operator holding the log's signing key could
/// show the custodian alone a fork with a forged entry. With a witness
/// quorum, a checkpoint the independent witness did not cosign releases
/// nothing; the same checkpoint cosigned does.
#[test]
fn with_a_witness_quorum_a_checkpoint_no_witness_cosigned_releases_nothing() {
    let mut w = world();
    let witness = Signer::generate("witness.example", tlog::note::TYPE_COSIGNATURE_V1).unwrap();
    let token = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(TOKEN.as_bytes()));
    let dir = w.gate.config().state.parent().unwrap().join("quorum");
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = CustodianConfig::parse(
        &format!(
            "state = \"state\"\nlisten = \"127.0.0.1:0\"\nwitnesses = [\"{}\"]\nwitness_quorum = 1\n[[logs]]\nregion = \"eu-fr\"\nkey = \"{}\"\ntoken_sha256 = \"{token}\"\n",
            witness.verifier().to_vkey(),
            w.log.signer.verifier().to_vkey()
        ),
        &dir,
    )
    .unwrap();
    w.gate = Gate::open(cfg, w.keys.clone(), w.keys.cosigner().clone()).unwrap();
    let wrapped = BatchSecret::generate()
        .unwrap()
        .wrap(w.keys.current(), "eu-fr")
        .unwrap();
    let l = w.log_access(&support_read(), &["t3.alice"]);
    let mut r = w.request(&l, vec![w.ask(&l, "t3.alice", "profile", &wrapped)], true);
    match refused(&mut w, &r) {
        Refusal::NotSigned(m) => assert!(m.contains("0 of the 1 witness cosignatures"), "{m}"),
        other => panic!("{other}"),
    }
    // Cosigned by the witness: released.
    let mut note = tlog::Note::parse(r.checkpoint.as_bytes()).unwrap();
    let sig = tlog::cosignature::cosign(&witness, &note.text, 1_795_579_200).unwrap();
    tlog::witness::attach(&mut note, [sig]);
    let bare = std::mem::replace(&mut r.checkpoint, note.to_text());
    assert!(w.gate.release("eu-fr", &r, NOW).is_ok());
    assert!(w.gate.release("eu-fr", &r, NOW).is_ok());
    // The same checkpoint without the cosignature, after the quorum was
    // met by the cosigned one: still refused.
    r.checkpoint = bare;
    match refused(&mut w, &r) {
        Refusal::NotSigned(m) => assert!(m.contains("0 of the 1 witness cosignatures"), "{m}"),
        other => panic!("{other}"),
    }
}

/// The red team's release: an allowed entry for one field of `device`
/// whose `datasets` list was widened to every dataset — keys to profile,
/// network and social must not come of it (the replay derives an entry's
/// datasets from its fields).
#[test]
fn an_entry_whose_datasets_outrun_its_fields_releases_nothing() {
    let mut w = world();
    let wrapped = BatchSecret::generate()
        .unwrap()
        .wrap(w.keys.current(), "eu-fr")
        .unwrap();
    let mut r0 = support_read();
    r0.subject_count = 1;
    let d = policy::decide(&w.bundle, &r0, time::macros::date!(2026 - 11 - 25)).unwrap();
    assert!(d.allow, "{:?}", d.reasons);
    let who = PrincipalRef {
        id: r0.principal.clone(),
        location: "IE".into(),
    };
    let mut e = Entry::decided(&w.bundle, TIME.into(), who, &r0, &d);
    assert_eq!(e.datasets, ["profile"]);
    e.datasets = w.bundle.catalog.datasets.keys().cloned().collect();
    let l = w.log_entry(e, &["t3.alice"]);
    for dataset in ["social", "profile"] {
        let r = w.request(&l, vec![w.ask(&l, "t3.alice", dataset, &wrapped)], true);
        assert!(
            matches!(refused(&mut w, &r), Refusal::DoesNotReplay(m) if m.contains("names datasets its fields do not")),
            "{dataset}"
        );
    }
}

/// An operator logs an erasure and never tells the custodian, hoping to
/// obtain the erased subject's keys later under a logged access: the
/// custodian reads the erasure in the log and releases nothing, for
/// anyone, until it is told whose it is.
#[test]
fn an_erasure_kept_from_the_custodian_stops_every_release_until_notified() {
    let mut w = world();
    let secret = BatchSecret::generate().unwrap();
    let wrapped = secret.wrap(w.keys.current(), "eu-fr").unwrap();
    let before = w.log_access(&dpo_read(), &["t3.alice", "t3.bob"]);
    let old = w.request(
        &before,
        vec![w.ask(&before, "t3.alice", "profile", &wrapped)],
        true,
    );
    w.release(&old).unwrap();
    let held = w.log.size();
    let erase_req = req("dpo", Action::Erase, &[], "support-ticket", None);
    let erased = w.log_access(&erase_req, &["t3.alice"]);
    let after = w.log_access(&dpo_read(), &["t3.alice", "t3.bob"]);
    let alice = w.request(
        &after,
        vec![w.ask(&after, "t3.alice", "profile", &wrapped)],
        false,
    );
    let bob = w.request(
        &after,
        vec![w.ask(&after, "t3.bob", "profile", &wrapped)],
        false,
    );
    for r in [&alice, &bob] {
        match refused(&mut w, r) {
            Refusal::ErasureUnnotified(i) => assert_eq!(i, erased.index),
            other => panic!("{other}"),
        }
    }
    // Nor under the checkpoint from before the erasure, read already.
    let mut replayed = old.clone();
    replayed.checkpoint = w.log.checkpoint_at(held, &w.log.signer);
    replayed.tail = None;
    replayed.consistency = None;
    replayed.bundle = None;
    assert!(matches!(
        refused(&mut w, &replayed),
        Refusal::ErasureUnnotified(_)
    ));
    // Nor after a restart, which forgets what it read past the frontier.
    let cfg = w.gate.config().clone();
    let keys = w.keys.clone();
    drop(std::mem::replace(
        &mut w.gate,
        Gate::open(cfg, keys.clone(), keys.cosigner().clone()).unwrap(),
    ));
    let mut bare = bob.clone();
    bare.tail = None;
    assert!(matches!(
        refused(&mut w, &bare),
        Refusal::Unscanned { scanned } if scanned == erased.index
    ));
    assert!(matches!(
        refused(&mut w, &bob),
        Refusal::ErasureUnnotified(_)
    ));
    // Told of it: Bob's keys again, never Alice's.
    let er = EraseRequest {
        checkpoint: w.log.checkpoint(),
        consistency: None,
        entry: w.log.logged(erased.index, w.log.size()),
        members: vec![w.member(&erased, "t3.alice")],
        tail: None,
    };
    w.gate.erase("eu-fr", &er, NOW).unwrap();
    assert_eq!(
        w.release(&bob).unwrap()[0],
        secret.record_key("t3.bob", "profile").0
    );
    assert!(matches!(refused(&mut w, &alice), Refusal::Erased(0, i) if i == erased.index));
}

/// The entries a gateway sends must be the log's: one left out, changed
/// or added does not lead to the signed root, and nothing is read.
#[test]
fn entries_that_do_not_lead_to_the_checkpoint_are_not_read() {
    let mut w = world();
    let wrapped = BatchSecret::generate()
        .unwrap()
        .wrap(w.keys.current(), "eu-fr")
        .unwrap();
    let l = w.log_access(&dpo_read(), &["t3.alice"]);
    let erase_req = req("dpo", Action::Erase, &[], "support-ticket", None);
    w.log_access(&erase_req, &["t3.carol"]);
    let l2 = w.log_access(&dpo_read(), &["t3.bob"]);
    let good = w.request(&l2, vec![w.ask(&l2, "t3.bob", "profile", &wrapped)], true);
    let tail = good.tail.clone().unwrap();
    let mut doctored = Vec::new();
    // The erasure left out (the rest shifted).
    let mut t = tail.clone();
    t.entries.remove(2);
    t.entries.push(t.entries[0].clone());
    doctored.push(t);
    // The erasure rewritten as a read.
    let mut t = tail.clone();
    t.entries[2] = t.entries[1].clone();
    doctored.push(t);
    // Stopping short, with no consistency proof.
    let mut t = tail.clone();
    t.entries.pop();
    doctored.push(t);
    for t in doctored {
        let mut r = good.clone();
        r.tail = Some(t);
        assert!(matches!(refused(&mut w, &r), Refusal::NotLogged(m) if m.contains("tail")));
    }
    // Beyond the checkpoint: malformed. Starting past what was read: say
    // where to start.
    let mut r = good.clone();
    r.tail
        .as_mut()
        .unwrap()
        .entries
        .push(Base64(b"{}".to_vec()));
    assert!(matches!(refused(&mut w, &r), Refusal::Malformed(_)));
    let mut r = good.clone();
    let t = r.tail.as_mut().unwrap();
    t.from = 1;
    t.entries.remove(0);
    assert!(matches!(
        refused(&mut w, &r),
        Refusal::Unscanned { scanned: 0 }
    ));
    // A page, with the consistency proof to the checkpoint: read up to
    // the erasure, which stops it (the custodian was not told).
    let size = w.log.size();
    let page = Tail {
        from: 0,
        entries: tail.entries[..2].to_vec(),
        proof: w
            .log
            .tree
            .run(&ProofPlan::consistency(2, size).unwrap())
            .unwrap()
            .into_iter()
            .map(HexHash)
            .collect(),
    };
    let scan = custody::protocol::ScanRequest {
        checkpoint: w.log.checkpoint(),
        consistency: None,
        tail: page,
    };
    assert_eq!(w.gate.scan("eu-fr", &scan, NOW).unwrap().scanned, 2);
    let whole = custody::protocol::ScanRequest { tail, ..scan };
    assert_eq!(w.gate.scan("eu-fr", &whole, NOW).unwrap().scanned, 2);
    let r = w.request(&l, vec![w.ask(&l, "t3.alice", "profile", &wrapped)], false);
    assert!(matches!(refused(&mut w, &r), Refusal::ErasureUnnotified(2)));
}

/// Regression (red team, issue 18): an operator logged an erasure of two
/// subjects — its victim and a made-up one — and notified only the
/// made-up one; the custodian marked the entry notified and released the
/// victim's keys. Every leaf must now be opened, and every subject is
/// recorded.
#[test]
fn an_erasure_of_several_subjects_is_notified_for_all_of_them_or_refused() {
    let mut w = world();
    let secret = BatchSecret::generate().unwrap();
    let wrapped = secret.wrap(w.keys.current(), "eu-fr").unwrap();
    let erase_req = req("dpo", Action::Erase, &[], "support-ticket", None);
    let erased = w.log_access(&erase_req, &["t3.victim", "t3.made-up"]);
    let after = w.log_access(&dpo_read(), &["t3.victim"]);
    let notify = |w: &World, members: Vec<Membership>| EraseRequest {
        checkpoint: w.log.checkpoint(),
        consistency: Some(w.log.consistency(0)),
        entry: w.log.logged(erased.index, w.log.size()),
        members,
        tail: w.log.tail(),
    };
    let partial = notify(&w, vec![w.member(&erased, "t3.made-up")]);
    assert!(matches!(
        w.gate.erase("eu-fr", &partial, NOW),
        Err(Refusal::NotAllowed(m)) if m.contains("open every one")
    ));
    let twice = notify(
        &w,
        vec![
            w.member(&erased, "t3.made-up"),
            w.member(&erased, "t3.made-up"),
        ],
    );
    assert!(matches!(
        w.gate.erase("eu-fr", &twice, NOW),
        Err(Refusal::NotAllowed(m)) if m.contains("twice")
    ));
    let r = w.request(
        &after,
        vec![w.ask(&after, "t3.victim", "profile", &wrapped)],
        true,
    );
    assert!(matches!(
        refused(&mut w, &r),
        Refusal::ErasureUnnotified(i) if i == erased.index
    ));
    let whole = notify(
        &w,
        vec![
            w.member(&erased, "t3.victim"),
            w.member(&erased, "t3.made-up"),
        ],
    );
    w.gate.erase("eu-fr", &whole, NOW).unwrap();
    assert!(matches!(refused(&mut w, &r), Refusal::Erased(0, i) if i == erased.index));
}

/// One request carrying `releases`, with the first one's checkpoint,
/// consistency proof, tail and bundle.
fn batch(releases: &[ReleaseRequest]) -> ReleasesRequest {
    let first = &releases[0];
    ReleasesRequest {
        checkpoint: first.checkpoint.clone(),
        consistency: first.consistency.clone(),
        bundle: first.bundle.clone(),
        tail: first.tail.clone(),
        releases: releases
            .iter()
            .map(|r| EntryKeys {
                entry: r.entry.clone(),
                secrets: r.secrets.clone(),
                subjects: r.subjects.clone(),
            })
            .collect(),
    }
}

#[test]
fn a_batch_decides_each_release_on_its_own_and_none_lends_another_its_entry() {
    let mut w = world();
    let secret = BatchSecret::generate().unwrap();
    let wrapped = secret.wrap(w.keys.current(), "eu-fr").unwrap();
    let alice = w.log_access(&support_read(), &["t3.alice"]);
    let bob = w.log_access(&dpo_read(), &["t3.bob"]);
    let carol = w.log_access(&support_read(), &["t3.carol"]);
    let releases = [
        // As a release alone would be: released.
        w.request(
            &alice,
            vec![w.ask(&alice, "t3.alice", "profile", &wrapped)],
            true,
        ),
        // Bob's opening under Alice's entry: Bob is not in it.
        w.request(
            &alice,
            vec![w.ask(&bob, "t3.bob", "profile", &wrapped)],
            true,
        ),
        // A dataset Carol's entry does not name.
        w.request(
            &carol,
            vec![w.ask(&carol, "t3.carol", "network", &wrapped)],
            true,
        ),
        // Bob's own entry, after the refusals: released.
        w.request(&bob, vec![w.ask(&bob, "t3.bob", "profile", &wrapped)], true),
    ];
    let answer = w
        .gate
        .release_batch("eu-fr", &batch(&releases), NOW)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(answer.releases.len(), 4);
    let keys = |n: usize| {
        custody::protocol::record_keys(answer.releases[n].keys.as_ref().unwrap()).unwrap()[0].0
    };
    assert_eq!(keys(0), secret.record_key("t3.alice", "profile").0);
    assert_eq!(keys(3), secret.record_key("t3.bob", "profile").0);
    for (n, why) in [(1, "not in entry"), (2, "dataset")] {
        let refused = answer.releases[n].refused.as_ref().unwrap();
        assert!(answer.releases[n].keys.is_none());
        assert_eq!(refused.code, "not_allowed");
        assert!(refused.detail.contains(why), "{}", refused.detail);
        assert!(!refused.detail.contains("t3."), "{}", refused.detail);
    }
    // An empty batch, or one over the limit, is refused whole.
    let mut empty = batch(&releases);
    empty.releases.clear();
    assert!(matches!(
        w.gate.release_batch("eu-fr", &empty, NOW),
        Err(Refusal::Malformed(_))
    ));
    let mut over = batch(&releases);
    over.releases = std::iter::repeat_n(over.releases[0].clone(), MAX_RELEASES + 1).collect();
    assert!(matches!(
        w.gate.release_batch("eu-fr", &over, NOW),
        Err(Refusal::Malformed(_))
    ));
    // Another region's gateway is refused whole, learning nothing.
    assert!(
        w.gate
            .release_batch("us-tx", &batch(&releases), NOW)
            .is_err()
    );
}
