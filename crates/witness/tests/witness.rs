//! The witness: cosigns a growing log, remembers across restarts, refuses
//! and keeps the evidence of a fork, and answers each bad request with the
//! status tlog-witness gives it.

use tlog::merkle::{MemoryTree, ProofPlan};
use tlog::note::{TYPE_COSIGNATURE_V1, TYPE_ED25519};
use tlog::witness::AddCheckpoint;
use tlog::{Checkpoint, Note, Signer};
use witness::{Refusal, Witness};

struct Log {
    signer: Signer,
    tree: MemoryTree,
}

impl Log {
    fn new(seed: u8) -> Log {
        Log {
            signer: Signer::from_seed("example.org/eu-fr", TYPE_ED25519, &[seed; 32]).unwrap(),
            tree: MemoryTree::new(),
        }
    }

    fn grow(&mut self, entries: &[&str]) {
        for e in entries {
            self.tree.push(tlog::leaf_hash(e.as_bytes()));
        }
    }

    fn checkpoint(&self) -> String {
        let size = self.tree.size();
        Checkpoint {
            origin: self.signer.name().to_owned(),
            size,
            root: self.tree.root(size),
            extensions: Vec::new(),
        }
        .sign(&self.signer)
        .unwrap()
        .to_text()
    }

    fn request(&self, old: u64) -> Vec<u8> {
        let proof = if old == 0 || old == self.tree.size() {
            Vec::new()
        } else {
            self.tree
                .run(&ProofPlan::consistency(old, self.tree.size()).unwrap())
                .unwrap()
        };
        AddCheckpoint {
            old_size: old,
            proof,
            checkpoint: self.checkpoint(),
        }
        .to_body()
        .into_bytes()
    }
}

fn witness(dir: &std::path::Path, log: &Log) -> Witness {
    let signer = Signer::from_seed("witness.example", TYPE_COSIGNATURE_V1, &[9; 32]).unwrap();
    Witness::open(
        &dir.join("witness.sqlite"),
        signer,
        vec![log.signer.verifier()],
    )
    .unwrap()
}

#[test]
fn cosigns_a_growing_log_and_remembers_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = Log::new(1);
    let w = witness(dir.path(), &log);
    log.grow(&["a", "b", "c"]);
    let sig = w.add_checkpoint(&log.request(0), 1_764_000_000).unwrap();
    // The cosignature verifies with the witness key over the checkpoint.
    let mut note = Note::parse(log.checkpoint().as_bytes()).unwrap();
    note.signatures = vec![sig];
    note.verify(&[w.verifier()]).unwrap();
    log.grow(&["d", "e"]);
    w.add_checkpoint(&log.request(3), 1_764_000_001).unwrap();
    // The same checkpoint again is cosigned again (idempotent).
    w.add_checkpoint(&log.request(5), 1_764_000_002).unwrap();
    drop(w);
    let w = witness(dir.path(), &log);
    assert_eq!(w.latest_size("example.org/eu-fr").unwrap(), 5);
    log.grow(&["f"]);
    match w.add_checkpoint(&log.request(3), 1_764_000_003) {
        Err(Refusal::Conflict { latest: 5 }) => {}
        other => panic!("expected a conflict at 5, got {other:?}"),
    }
    w.add_checkpoint(&log.request(5), 1_764_000_004).unwrap();
    assert!(w.evidence().unwrap().is_empty());
}

#[test]
fn a_forked_log_is_refused_and_both_checkpoints_are_kept() {
    let dir = tempfile::tempdir().unwrap();
    let mut honest = Log::new(1);
    let w = witness(dir.path(), &honest);
    honest.grow(&["a", "b", "c"]);
    w.add_checkpoint(&honest.request(0), 1).unwrap();
    // The same key signs another history of the same size...
    let mut fork = Log::new(1);
    fork.grow(&["a", "b", "X"]);
    let r = w.add_checkpoint(&fork.request(3), 2).unwrap_err();
    assert_eq!(r.status(), 409, "{r}");
    // ...and a longer one that does not extend what was cosigned.
    fork.grow(&["d"]);
    let r = w.add_checkpoint(&fork.request(3), 3).unwrap_err();
    assert_eq!(r.status(), 422, "{r}");
    let evidence = w.evidence().unwrap();
    assert_eq!(evidence.len(), 2);
    // The evidence is two notes the log signed: anyone can check them.
    for e in &evidence {
        let key = honest.signer.verifier();
        tlog::SignedCheckpoint::open(e.held.as_bytes(), &key, &[]).unwrap();
        tlog::SignedCheckpoint::open(e.offered.as_bytes(), &key, &[]).unwrap();
    }
    // The honest log goes on.
    honest.grow(&["d"]);
    w.add_checkpoint(&honest.request(3), 4).unwrap();
}

#[test]
fn bad_requests_get_their_tlog_witness_statuses() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = Log::new(1);
    let w = witness(dir.path(), &log);
    log.grow(&["a", "b"]);
    assert_eq!(
        w.add_checkpoint(b"not a request", 1).unwrap_err().status(),
        400
    );
    let stranger = Log {
        signer: Signer::from_seed("example.org/elsewhere", TYPE_ED25519, &[2; 32]).unwrap(),
        tree: MemoryTree::new(),
    };
    assert_eq!(
        w.add_checkpoint(&stranger.request(0), 1)
            .unwrap_err()
            .status(),
        404
    );
    let impostor = Log {
        signer: Signer::from_seed("example.org/eu-fr", TYPE_ED25519, &[3; 32]).unwrap(),
        tree: MemoryTree::new(),
    };
    assert_eq!(
        w.add_checkpoint(&impostor.request(0), 1)
            .unwrap_err()
            .status(),
        403
    );
    let mut req = AddCheckpoint::parse(&log.request(0)).unwrap();
    req.old_size = 7;
    assert_eq!(
        w.add_checkpoint(req.to_body().as_bytes(), 1)
            .unwrap_err()
            .status(),
        400
    );
    assert_eq!(
        w.latest_size("example.org/eu-fr").unwrap(),
        0,
        "nothing was cosigned"
    );
}

/// Vouching for the checkpoint last vouched for is answered from memory
/// (every release a checkpoint covers shows it again): the answer is the
/// one a fresh check gives, re-cosigned when the time moved, and a fork
/// of that size shown meanwhile is still refused and kept.
#[test]
fn a_checkpoint_vouched_for_again_gets_the_same_answer_and_forks_still_fail() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = Log::new(1);
    let w = witness(dir.path(), &log);
    log.grow(&["a", "b", "c"]);
    let cp = log.checkpoint();
    let (first, sig) = w.vouch(&cp, Some((0, Vec::new())), 10).unwrap();
    let (again, same) = w.vouch(&cp, None, 10).unwrap();
    assert_eq!((&first, &sig), (&again, &same));
    let (_, later) = w.vouch(&cp, None, 11).unwrap();
    assert_ne!(later, sig, "a later time is cosigned anew");
    let mut note = Note::parse(cp.as_bytes()).unwrap();
    note.signatures = vec![later];
    note.verify(&[w.verifier()]).unwrap();

    let mut fork = Log::new(1);
    fork.grow(&["a", "b", "X"]);
    match w.vouch(&fork.checkpoint(), None, 12) {
        Err(Refusal::SplitView { .. }) => {}
        other => panic!("expected a split view, got {other:?}"),
    }
    assert_eq!(w.evidence().unwrap().len(), 1);
    // A checkpoint altered by a byte is checked afresh, not matched.
    let altered = cp.replacen("\n3\n", "\n4\n", 1);
    assert!(matches!(
        w.vouch(&altered, None, 12),
        Err(Refusal::NotSigned(_))
    ));
    w.vouch(&cp, None, 12).unwrap();
}
