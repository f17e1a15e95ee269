//! The browser's verifier (verify.js, in the real page) and the Rust
//! verifiers agree on a shared set of vectors, valid and tampered,
//! generated here: a log in memory, signed by a log key and cosigned by a
//! witness, access entries, receipts and subject-set proofs.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};
use tlog::cosignature::cosign;
use tlog::merkle::{MemoryTree, ProofPlan};
use tlog::note::{Note, Signer, TYPE_COSIGNATURE_V1, TYPE_ED25519};
use tlog::{Checkpoint, Receipt, Verifier, leaf_hash};

const ORIGIN: &str = "residency.example/eu-fr";
const WITNESS: &str = "witness.example/w1";

/// The Rust verdict: as the page decides, from the Rust verifiers, for
/// the page of the person whose pseudonym is `person`.
fn rust_verdict(a: &Value, log: &Verifier, witnesses: &[Verifier], person: &str) -> &'static str {
    if a["entry"]["kind"] != "access" {
        return "failed";
    }
    let Some(text) = a["receipt"].as_str() else {
        return "failed";
    };
    let Ok(r) = Receipt::parse(text) else {
        return "failed";
    };
    if a["log_index"].as_u64() != Some(r.index) {
        return "failed";
    }
    let Ok(cp) = r.verify(&entry::canonical(&a["entry"]), log, witnesses) else {
        return "failed";
    };
    match (a.get("subject_proof"), a["entry"]["subjects_root"].as_str()) {
        (Some(p), Some(root)) => {
            let Ok(p) = serde_json::from_value::<node::region::SubjectProof>(p.clone()) else {
                return "failed";
            };
            let Ok(root) = tlog::Hash::from_hex(root) else {
                return "failed";
            };
            if p.verify(&root).is_err() || p.subject != person {
                return "failed";
            }
        }
        _ => return "failed",
    }
    // At least one pinned witness's cosignature verifies (any invalid one
    // already failed the receipt).
    if cp.note.verify(witnesses).is_ok() {
        "verified"
    } else {
        "unconfirmed"
    }
}

struct Log {
    signer: Signer,
    witness: Signer,
    tree: MemoryTree,
    entries: Vec<Value>,
}

impl Log {
    fn checkpoint_text(&self) -> String {
        Checkpoint {
            origin: ORIGIN.into(),
            size: self.tree.size(),
            root: self.tree.root(self.tree.size()),
            extensions: vec![],
        }
        .to_text()
    }

    /// The signed checkpoint: the log's signature, then `cosigners`'.
    fn signed(&self, text: &str, cosigners: &[&Signer]) -> String {
        let mut signatures = vec![self.signer.sign(text.as_bytes())];
        for w in cosigners {
            signatures.push(cosign(w, text, 1_764_000_000).unwrap());
        }
        Note {
            text: text.into(),
            signatures,
        }
        .to_text()
    }

    fn receipt(&self, index: u64, checkpoint: &str) -> String {
        let plan = ProofPlan::inclusion(index, self.tree.size()).unwrap();
        Receipt {
            extra: None,
            index,
            proof: self.tree.run(&plan).unwrap(),
            checkpoint: checkpoint.into(),
        }
        .to_text()
    }
}

fn entry(i: usize, action: &str, who: (&str, &str), decision: &str, root: Option<String>) -> Value {
    let mut e = json!({
        "v": 2, "kind": "access", "time": format!("2025-11-2{}T10:0{}:00Z", i % 9, i % 10),
        "region": "eu-fr", "bundle": "b".repeat(64),
        "principal": {"id": who.0, "location": who.1},
        "action": action, "purpose": "support-ticket",
        "destinations": ["EEA"], "datasets": ["profile"],
        "fields": {"profile.phone": null}, "subjects": [], "subject_count": 1,
        "decision": decision, "reasons": [format!("reason {i}")], "policies": ["p"],
    });
    if let Some(r) = root {
        e["subjects_root"] = json!(r);
    }
    e
}

fn flip_b64(b64: &str, byte: usize) -> String {
    let mut raw = STANDARD.decode(b64).unwrap();
    raw[byte] ^= 1;
    STANDARD.encode(raw)
}

/// Flips one byte of the `line`-th signature line of a note (0: the log's).
fn flip_signature(note: &str, line: usize, byte: usize) -> String {
    let split = note.rfind("\n\n").unwrap() + 2;
    let (text, sigs) = note.split_at(split);
    let mut lines: Vec<String> = sigs.lines().map(str::to_owned).collect();
    let (name, b64) = lines[line].rsplit_once(' ').unwrap();
    lines[line] = format!("{name} {}", flip_b64(b64, byte));
    format!("{text}{}\n", lines.join("\n"))
}

#[test]
fn the_browser_and_rust_agree_on_every_vector() {
    let log = Signer::from_seed(ORIGIN, TYPE_ED25519, &[7; 32]).unwrap();
    let witness = Signer::from_seed(WITNESS, TYPE_COSIGNATURE_V1, &[9; 32]).unwrap();
    let stranger =
        Signer::from_seed("witness.example/other", TYPE_COSIGNATURE_V1, &[3; 32]).unwrap();
    let impostor = Signer::from_seed(ORIGIN, TYPE_ED25519, &[5; 32]).unwrap();
    let mut l = Log {
        signer: log,
        witness,
        tree: MemoryTree::new(),
        entries: vec![],
    };

    // A subject set of five, one of them ours.
    let openings: Vec<entry::Opening> = (0..5u8)
        .map(|i| entry::Opening {
            subject: format!("pseudonym-{i}"),
            salt: [i.wrapping_mul(31); 32],
        })
        .collect();
    let set = entry::SubjectSet::of(&openings);
    let (sp_index, sp_proof) = set.prove(&openings[2].leaf()).unwrap();
    let subject_proof = json!({
        "subject": openings[2].subject, "salt": hex::encode(openings[2].salt),
        "index": sp_index, "size": set.len(),
        "proof": sp_proof.iter().map(|h| h.to_base64()).collect::<Vec<_>>(),
    });
    let root = Some(set.root().to_hex());

    // The log: others' entries between ours.
    let ours = [
        entry(0, "read", ("support-dublin", "IE"), "allow", root.clone()),
        entry(1, "transfer", ("eng-beijing", "CN"), "deny", root.clone()),
        entry(2, "transfer", ("svc-reco-us", "US"), "allow", root.clone()),
        entry(3, "export", ("dpo", "FR"), "allow", root.clone()),
        // Strings that canonical JSON must escape exactly as serde_json:
        // control characters, quotes, backslashes, non-ASCII, U+2028, a
        // closing script tag; and keys whose order is by code point.
        {
            let mut e = entry(4, "read", ("support-dublin", "IE"), "allow", root.clone());
            e["reasons"] = json!([
                "tab\there, nl\n, cr\r, bs\u{8}, ff\u{c}, \u{1}\u{1f}\u{7f} \"q\" \\ / é ü 你好 😀 \u{2028}\u{2029} </script><!--"
            ]);
            e["fields"] = json!({"profile.phone": null, "profile.address": {"op": "drop"}, "Z.a": null, "a.é": null, "a.z": null});
            e
        },
        // Not an access: the policy bundle in force.
        json!({"v": 2, "kind": "policy_bundle", "time": "2025-11-20T09:00:00Z",
               "region": "eu-fr", "bundle": "b".repeat(64), "datasets": [], "fields": {},
               "subjects": [], "subject_count": 0, "reasons": [], "policies": []}),
    ];
    let mut index_of = Vec::new();
    for (i, e) in ours.iter().enumerate() {
        for k in 0..(i * 3 + 1) {
            l.tree.push(leaf_hash(
                format!("someone else's entry {i}.{k}").as_bytes(),
            ));
        }
        index_of.push(l.tree.size());
        l.tree.push(leaf_hash(&entry::canonical(e)));
        l.entries.push(e.clone());
    }
    l.tree.push(leaf_hash(b"a newer entry"));
    let text = l.checkpoint_text();
    let cosigned = l.signed(&text, &[&l.witness]);
    let log_only = l.signed(&text, &[]);
    let by_stranger = l.signed(&text, &[&stranger]);

    let record = |n: usize, checkpoint: &str| {
        let mut a = json!({
            "log_index": index_of[n], "entry": l.entries[n],
            "receipt": l.receipt(index_of[n], checkpoint), "cosigned": true,
        });
        if l.entries[n]["subjects_root"].is_string() {
            a["subject_proof"] = subject_proof.clone();
        }
        a
    };
    let with_receipt = |n: usize, f: &dyn Fn(Receipt) -> Receipt| {
        let mut a = record(n, &cosigned);
        let r = Receipt::parse(a["receipt"].as_str().unwrap()).unwrap();
        a["receipt"] = json!(f(r).to_text());
        a
    };

    // (name, record, expected verdict, expected reason)
    let mut vectors: Vec<(&str, Value, &str, &str)> = vec![
        ("read, cosigned", record(0, &cosigned), "verified", "ok"),
        (
            "refused transfer, cosigned",
            record(1, &cosigned),
            "verified",
            "ok",
        ),
        ("transfer, cosigned", record(2, &cosigned), "verified", "ok"),
        ("export, cosigned", record(3, &cosigned), "verified", "ok"),
        (
            "escaped strings, cosigned",
            record(4, &cosigned),
            "verified",
            "ok",
        ),
        (
            "log signature only",
            record(0, &log_only),
            "unconfirmed",
            "not_cosigned",
        ),
        (
            "cosigned by an unpinned witness",
            record(2, &by_stranger),
            "unconfirmed",
            "not_cosigned",
        ),
        (
            "inclusion proof: one byte",
            with_receipt(0, &|mut r| {
                r.proof[1].0[5] ^= 1;
                r
            }),
            "failed",
            "bad_inclusion",
        ),
        (
            "inclusion proof: one hash short",
            with_receipt(1, &|mut r| {
                r.proof.pop();
                r
            }),
            "failed",
            "bad_inclusion",
        ),
        (
            "checkpoint: the log's signature",
            record(2, &flip_signature(&cosigned, 0, 10)),
            "failed",
            "bad_log_signature",
        ),
        (
            "checkpoint: the cosignature",
            record(3, &flip_signature(&cosigned, 1, 40)),
            "failed",
            "bad_cosignature",
        ),
        (
            "checkpoint: the cosignature's time",
            record(3, &flip_signature(&cosigned, 1, 11)),
            "failed",
            "bad_cosignature",
        ),
        (
            "checkpoint: the root",
            record(
                0,
                &cosigned.replacen(
                    &l.tree.root(l.tree.size()).to_base64(),
                    &l.tree.root(l.tree.size() - 1).to_base64(),
                    1,
                ),
            ),
            "failed",
            "bad_log_signature",
        ),
        (
            "checkpoint: the size",
            record(
                1,
                &cosigned.replacen(
                    &format!("\n{}\n", l.tree.size()),
                    &format!("\n{}\n", l.tree.size() + 1),
                    1,
                ),
            ),
            "failed",
            "bad_log_signature",
        ),
        (
            "checkpoint: the origin line",
            record(2, &cosigned.replacen(ORIGIN, "residency.example/eu-no", 1)),
            "failed",
            "origin_mismatch",
        ),
        (
            "checkpoint: signed by another key of the same name",
            {
                let mut sigs = vec![impostor.sign(text.as_bytes())];
                sigs.push(cosign(&l.witness, &text, 1_764_000_000).unwrap());
                record(
                    0,
                    &Note {
                        text: text.clone(),
                        signatures: sigs,
                    }
                    .to_text(),
                )
            },
            "failed",
            "no_log_signature",
        ),
        (
            "entry: its content",
            {
                let mut a = record(1, &cosigned);
                a["entry"]["decision"] = json!("allow");
                a
            },
            "failed",
            "bad_inclusion",
        ),
        (
            "entry: another entry's receipt",
            {
                let mut a = record(2, &cosigned);
                a["receipt"] = record(3, &cosigned)["receipt"].clone();
                a["log_index"] = json!(index_of[3]);
                a
            },
            "failed",
            "bad_inclusion",
        ),
        (
            "entry: the index claimed",
            {
                let mut a = record(2, &cosigned);
                a["log_index"] = json!(index_of[3]);
                a
            },
            "failed",
            "index_mismatch",
        ),
        (
            "subject proof: one byte",
            {
                let mut a = record(3, &cosigned);
                let p = a["subject_proof"]["proof"][0].as_str().unwrap().to_owned();
                a["subject_proof"]["proof"][0] = json!(flip_b64(&p, 0));
                a
            },
            "failed",
            "bad_subject_proof",
        ),
        (
            "subject proof: another subject",
            {
                let mut a = record(0, &cosigned);
                a["subject_proof"]["subject"] = json!("pseudonym-3");
                a
            },
            "failed",
            "bad_subject_proof",
        ),
        (
            "subject proof: missing",
            {
                let mut a = record(1, &cosigned);
                a.as_object_mut().unwrap().remove("subject_proof");
                a
            },
            "failed",
            "no_subject_proof",
        ),
        (
            "receipt: not a receipt",
            {
                let mut a = record(0, &cosigned);
                a["receipt"] = json!("c2sp.org/tlog-proof@v1\nindex x\n\n");
                a
            },
            "failed",
            "malformed_receipt",
        ),
    ];
    // Regressions (red team): a log entry that is no access shown as one,
    // and another person's access slipped into this person's page.
    vectors.push((
        "a policy-bundle entry as an access",
        record(5, &cosigned),
        "failed",
        "not_an_access",
    ));
    vectors.push((
        "someone else's access",
        {
            let mut a = record(0, &cosigned);
            let (i, p) = set.prove(&openings[4].leaf()).unwrap();
            a["subject_proof"] = json!({
                "subject": openings[4].subject, "salt": hex::encode(openings[4].salt),
                "index": i, "size": set.len(),
                "proof": p.iter().map(|h| h.to_base64()).collect::<Vec<_>>(),
            });
            a
        },
        "failed",
        "other_subject",
    ));
    // A valid one after the tampered ones: nothing cached leaks.
    vectors.push((
        "read again, cosigned",
        record(0, &cosigned),
        "verified",
        "ok",
    ));

    let log_key = l.signer.verifier();
    let pinned = [l.witness.verifier()];
    for (name, a, expected, _) in &vectors {
        assert_eq!(
            rust_verdict(a, &log_key, &pinned, &openings[2].subject),
            *expected,
            "Rust, {name}"
        );
    }

    let history = json!({
        "subject": openings[2].subject,
        "accesses": vectors.iter().map(|v| v.1.clone()).collect::<Vec<_>>(),
    });
    let html = page::render(&page::Page {
        lang: Some("en".into()),
        log_key: log_key.to_vkey(),
        witness_keys: vec![pinned[0].to_vkey()],
        history,
    });
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("vectors.html");
    std::fs::write(&file, html).unwrap();

    let Some(chromium) = page::browser::chromium() else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI must have chromium (.ci/run installs it)"
        );
        eprintln!("chromium is not installed: the browser half of the vectors is skipped");
        return;
    };
    let v = page::browser::verify(&chromium, &file, page::browser::Clock::Virtual).unwrap();
    let tags = page::browser::access_tags(&v.dom);
    assert_eq!(tags.len(), vectors.len(), "{}", v.dom);
    let mut seen = vec![None; vectors.len()];
    for t in &tags {
        let attr = |n| page::browser::attribute(t, n).unwrap_or_default();
        let pos: usize = attr("data-position").parse().unwrap();
        seen[pos] = Some((attr("data-status"), attr("data-reason")));
    }
    for (i, (name, _, expected, reason)) in vectors.iter().enumerate() {
        let (status, why) = seen[i].clone().unwrap();
        assert_eq!(
            (status.as_str(), why.as_str()),
            (*expected, *reason),
            "the browser, {name}"
        );
    }
    let count = |s: &str| vectors.iter().filter(|v| v.2 == s).count() as u64;
    assert_eq!(
        (v.verified, v.unconfirmed, v.failed),
        (count("verified"), count("unconfirmed"), count("failed"))
    );
    assert!(
        v.dom.contains(r#"<div id="banner" role="alert">"#),
        "the banner shows"
    );
    assert!(v.dom.contains("proofs FAILED"), "{}", v.dom);
}
