//! The custodian's own cost, on one thread (so per core): sealing and
//! opening a batch secret with each KEM; a release of one key (the whole
//! gate: checkpoint vouched, inclusion, membership, erasure list, replay,
//! open, derive) and of many keys under one entry; and, as the baseline
//! in the same run, the key-file path it replaces — unwrapping a subject's
//! data key with the region's KEK (`store::keys::FileKeyProvider`).
//!
//! `cargo bench -p custodian --bench release` (env: ROUNDS, default 2,000;
//! KEYS, keys in the bulk release, default 1,000).

use std::sync::Arc;
use std::time::Instant;

use custodian::keys::KeyFile;
use custodian::{CustodianConfig, Gate};
use custody::protocol::{
    Base64, HexHash, KeyAsk, LoggedEntry, Membership, ReleaseRequest, Salt, Wrapped,
};
use custody::{BatchSecret, CustodianKey, Suite};
use entry::{Entry, Kind, Opening, PrincipalRef, SubjectSet};
use policy::{Action, Bundle, DecisionRequest};
use store::keys::KeyProvider as _;
use tlog::merkle::{MemoryTree, ProofPlan};
use tlog::{Checkpoint, Signer};

const ORIGIN: &str = "eu-fr.residency.example";
const TIME: &str = "2026-11-25T04:00:00Z";
const NOW: u64 = 1_795_579_200 + 5;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn per_op(label: &str, n: usize, f: impl FnMut()) -> f64 {
    let mut f = f;
    let t = Instant::now();
    for _ in 0..n {
        f();
    }
    let us = t.elapsed().as_secs_f64() * 1e6 / n as f64;
    println!("{label:<58} {us:>10.1} µs");
    us
}

fn main() {
    let rounds = env("ROUNDS", 2_000);
    let bulk = env("KEYS", 1_000);
    println!("custodian release bench: {rounds} rounds, bulk of {bulk} keys, one thread");

    for suite in [Suite::XWing, Suite::X25519] {
        let key = CustodianKey::generate("c", suite).unwrap();
        let secret = BatchSecret::generate().unwrap();
        per_op(
            &format!("seal a batch secret ({})", suite.as_str()),
            rounds,
            || {
                secret.wrap(key.public(), "eu-fr").unwrap();
            },
        );
        let w = secret.wrap(key.public(), "eu-fr").unwrap();
        per_op(
            &format!("open a batch secret ({})", suite.as_str()),
            rounds,
            || {
                w.open(&key, "eu-fr").unwrap();
            },
        );
    }
    let secret = BatchSecret::generate().unwrap();
    per_op("derive a record key (HKDF-SHA-256)", rounds * 10, || {
        secret.record_key("t3.subject", "profile");
    });

    // Baseline: the key-file path, one unwrap per subject's key.
    let dir = tempfile::tempdir().unwrap();
    let kf = store::keys::FileKeyProvider::create(&dir.path().join("region.keys")).unwrap();
    let dek = [7u8; 32];
    let wrapped_dek = kf.wrap(&dek, b"slot").unwrap();
    let baseline = per_op(
        "baseline: unwrap a data key with the region's KEK",
        rounds * 10,
        || {
            kf.unwrap(&wrapped_dek, b"slot").unwrap();
        },
    );

    // The gate, over a real signed tree.
    let signer = Signer::generate(ORIGIN, tlog::note::TYPE_ED25519).unwrap();
    let token = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(b"t"));
    let cfg = CustodianConfig::parse(
        &format!(
            "state = \"state\"\nlisten = \"127.0.0.1:0\"\n[[logs]]\nregion = \"eu-fr\"\nkey = \"{}\"\ntoken_sha256 = \"{token}\"\n",
            signer.verifier().to_vkey()
        ),
        dir.path(),
    )
    .unwrap();
    let keys =
        Arc::new(KeyFile::create(&dir.path().join("custodian.key"), "c", Suite::XWing).unwrap());
    let gate = Gate::open(cfg, keys.clone(), keys.cosigner().clone()).unwrap();
    let b = Bundle::load(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/policy"),
    )
    .unwrap();
    let mut tree = MemoryTree::new();
    let mut entries: Vec<Vec<u8>> = Vec::new();
    let mut push = |bytes: Vec<u8>, tree: &mut MemoryTree| {
        tree.push(tlog::leaf_hash(&bytes));
        entries.push(bytes);
        tree.size() - 1
    };
    let mut be = Entry::new(Kind::PolicyBundle, "eu-fr", b.hash(), TIME.into());
    be.bundle_content = Some(serde_json::from_str(b.canonical()).unwrap());
    let bundle_index = push(be.to_canonical(), &mut tree);
    let mut access = |n: usize, tree: &mut MemoryTree| {
        let req = DecisionRequest {
            principal: "dpo".into(),
            action: Action::Read,
            region: "eu-fr".into(),
            fields: vec!["profile.address".parse().unwrap()],
            purpose: "support-ticket".into(),
            destination: None,
            legal_basis: None,
            subject_count: n,
        };
        let d = policy::decide(&b, &req, time::macros::date!(2026 - 11 - 25)).unwrap();
        let who = PrincipalRef {
            id: "dpo".into(),
            location: "FR".into(),
        };
        let mut e = Entry::decided(&b, TIME.into(), who, &req, &d);
        let openings: Vec<Opening> = (0..n)
            .map(|i| Opening {
                subject: format!("t3.s{i}"),
                salt: [(i % 251) as u8; 32],
            })
            .collect();
        let set = SubjectSet::of(&openings);
        e.commit_to(&set);
        (push(e.to_canonical(), tree), openings, set)
    };
    let one = access(1, &mut tree);
    let many = access(bulk, &mut tree);
    let entries = entries;
    let size = tree.size();
    let checkpoint = Checkpoint {
        origin: ORIGIN.into(),
        size,
        root: tree.root(size),
        extensions: vec![],
    }
    .sign(&signer)
    .unwrap()
    .to_text();
    let logged = |i: u64| LoggedEntry {
        index: i,
        bytes: Base64(entries[i as usize].clone()),
        inclusion: tree
            .run(&ProofPlan::inclusion(i, size).unwrap())
            .unwrap()
            .into_iter()
            .map(HexHash)
            .collect(),
    };
    let wrapped = secret.wrap(keys.current(), "eu-fr").unwrap();
    let request = |(index, openings, set): &(u64, Vec<Opening>, SubjectSet)| {
        let asks = openings
            .iter()
            .map(|o| {
                let (position, proof) = set.prove(&o.leaf()).unwrap();
                KeyAsk {
                    member: Membership {
                        subject: o.subject.clone(),
                        salt: Salt(o.salt),
                        position,
                        proof: proof.into_iter().map(HexHash).collect(),
                    },
                    dataset: "profile".into(),
                    wrapped: Wrapped(wrapped.clone()),
                }
            })
            .collect();
        let mut r = ReleaseRequest::new(
            checkpoint.clone(),
            Some(custody::protocol::Consistency {
                old_size: 0,
                proof: vec![],
            }),
            logged(*index),
            Some(logged(bundle_index)),
            asks,
        );
        // The log's entries, read once (later requests carry them too,
        // as concurrent ones do, and skip them).
        r.tail = Some(custody::protocol::Tail {
            from: 0,
            entries: entries.iter().cloned().map(Base64).collect(),
            proof: vec![],
        });
        r
    };
    let r1 = request(&one);
    gate.release("eu-fr", &r1, NOW).unwrap();
    let one_us = per_op(
        "release of 1 key (every check; its secret opened once, then cached)",
        rounds,
        || {
            gate.release("eu-fr", &r1, NOW).unwrap();
        },
    );
    let rn = request(&many);
    let bulk_us = per_op(
        &format!("release of {bulk} keys under one entry"),
        (rounds / 100).max(5),
        || {
            gate.release("eu-fr", &rn, NOW).unwrap();
        },
    );
    let per_key = bulk_us / bulk as f64;
    println!();
    println!(
        "one-key releases per second per core:        {:>10.0}",
        1e6 / one_us
    );
    println!(
        "keys per second per core, in bulk:            {:>10.0}",
        1e6 / per_key
    );
    println!(
        "verification and derivation per bulk key:    {per_key:>10.1} µs ({:.1}x the key-file unwrap)",
        per_key / baseline
    );
}
