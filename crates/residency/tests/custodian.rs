//! `residency custodian` as a process over real HTTP: keys made by `init`,
//! a release proven from a real signed tree answered with the right key;
//! refusals as problems that name the place and never echo a value; and
//! the erasure list, which a SIGKILL right after each acknowledgement
//! never loses; and an erasure kept from it, which it reads in the log and
//! which stops every release until it is told.

use futures::StreamExt as _;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use custody::protocol::{
    Base64, Consistency, EraseRequest, HexHash, KeyAsk, LoggedEntry, Membership, ReleaseRequest,
    Salt, Wrapped,
};
use custody::{BatchSecret, CustodianPublicKey};
use entry::{Entry, Kind, Opening, PrincipalRef, SubjectSet};
use policy::{Action, Bundle, DecisionRequest};
use tlog::merkle::{MemoryTree, ProofPlan};
use tlog::{Checkpoint, Signer};

const ORIGIN: &str = "eu-fr.residency.example";
const TOKEN: &str = "eu-fr-gateway-token";

struct Log {
    signer: Signer,
    tree: MemoryTree,
    entries: Vec<Vec<u8>>,
}

impl Log {
    fn append(&mut self, bytes: Vec<u8>) -> u64 {
        self.tree.push(tlog::leaf_hash(&bytes));
        self.entries.push(bytes);
        self.tree.size() - 1
    }
    fn checkpoint(&self) -> String {
        Checkpoint {
            origin: ORIGIN.into(),
            size: self.tree.size(),
            root: self.tree.root(self.tree.size()),
            extensions: vec![],
        }
        .sign(&self.signer)
        .unwrap()
        .to_text()
    }
    /// Every entry: the custodian reads those it has not.
    fn tail(&self) -> Option<custody::protocol::Tail> {
        Some(custody::protocol::Tail {
            from: 0,
            entries: self.entries.iter().cloned().map(Base64).collect(),
            proof: vec![],
        })
    }
    fn logged(&self, index: u64) -> LoggedEntry {
        let plan = ProofPlan::inclusion(index, self.tree.size()).unwrap();
        LoggedEntry {
            index,
            bytes: Base64(self.entries[index as usize].clone()),
            inclusion: self
                .tree
                .run(&plan)
                .unwrap()
                .into_iter()
                .map(HexHash)
                .collect(),
        }
    }
    fn consistency(&self, old: u64) -> Consistency {
        let size = self.tree.size();
        let proof = if old == 0 || old == size {
            vec![]
        } else {
            self.tree
                .run(&ProofPlan::consistency(old, size).unwrap())
                .unwrap()
        };
        Consistency {
            old_size: old,
            proof: proof.into_iter().map(HexHash).collect(),
        }
    }
}

/// Logs `principal`'s `action` over one subject as the gateway would.
fn log_access(
    log: &mut Log,
    b: &Bundle,
    principal: &str,
    action: Action,
    fields: &[&str],
    subject: &str,
) -> (u64, Membership) {
    let req = DecisionRequest {
        principal: principal.into(),
        action,
        region: "eu-fr".into(),
        fields: fields.iter().map(|f| f.parse().unwrap()).collect(),
        purpose: "support-ticket".into(),
        destination: None,
        legal_basis: None,
        subject_count: 1,
    };
    let now = time::OffsetDateTime::now_utc();
    let d = policy::decide(b, &req, now.date()).unwrap();
    let time = now
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let who = PrincipalRef {
        id: principal.into(),
        location: b.principals.principals[principal].location.clone(),
    };
    let mut e = Entry::decided(b, time, who, &req, &d);
    let opening = Opening {
        subject: subject.into(),
        salt: [subject.len() as u8; 32],
    };
    let set = SubjectSet::of(std::slice::from_ref(&opening));
    e.commit_to(&set);
    let (position, proof) = set.prove(&opening.leaf()).unwrap();
    let index = log.append(e.to_canonical());
    (
        index,
        Membership {
            subject: subject.into(),
            salt: Salt(opening.salt),
            position,
            proof: proof.into_iter().map(HexHash).collect(),
        },
    )
}

fn serve(bin: &str, dir: &Path) -> Child {
    Command::new(bin)
        .args(["custodian", "serve", "--config"])
        .arg(dir.join("custodian.toml"))
        .arg("--key")
        .arg(dir.join("custodian.key"))
        .arg("--insecure-http")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

async fn wait_up(http: &reqwest::Client, url: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while http.get(format!("{url}/healthz")).send().await.is_err() {
        assert!(Instant::now() < deadline, "the custodian did not start");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_custodian_process_releases_only_what_is_proven_and_never_forgets_an_erasure() {
    let bin = env!("CARGO_BIN_EXE_residency");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // Keys, made by the custodian itself.
    let out = Command::new(bin)
        .args([
            "custodian",
            "init",
            "--suite",
            "x25519",
            "--name",
            "custodian.example",
            "--key",
        ])
        .arg(d.join("custodian.key"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed = String::from_utf8(out.stdout).unwrap();
    let kem = printed
        .lines()
        .find_map(|l| l.strip_prefix("kem "))
        .unwrap();
    let public = CustodianPublicKey::parse(kem).unwrap();

    let mut log = Log {
        signer: Signer::generate(ORIGIN, tlog::note::TYPE_ED25519).unwrap(),
        tree: MemoryTree::new(),
        entries: vec![],
    };
    let port = cluster::free_port().unwrap();
    let url = format!("http://127.0.0.1:{port}");
    let token_sha = {
        use sha2::Digest as _;
        hex::encode(sha2::Sha256::digest(TOKEN.as_bytes()))
    };
    std::fs::write(
        d.join("custodian.toml"),
        format!(
            "state = \"state\"\nlisten = \"127.0.0.1:{port}\"\n[[logs]]\nregion = \"eu-fr\"\nkey = \"{}\"\ntoken_sha256 = \"{token_sha}\"\n",
            log.signer.verifier().to_vkey()
        ),
    )
    .unwrap();
    let mut child = serve(bin, d);
    let http = tls::client(None).unwrap().build().unwrap();
    wait_up(&http, &url).await;
    let keys = http
        .get(format!("{url}/v1/keys"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(keys.contains(&public.to_text()));

    let b =
        Bundle::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/policy")).unwrap();
    let now = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let mut be = Entry::new(Kind::PolicyBundle, "eu-fr", b.hash(), now);
    be.bundle_content = Some(serde_json::from_str(b.canonical()).unwrap());
    let bundle_index = log.append(be.to_canonical());
    let secret = BatchSecret::generate().unwrap();
    let wrapped = secret.wrap(&public, "eu-fr").unwrap();

    // Unauthenticated, then malformed: problems naming the place, no echo.
    let post = |path: &str, body: Vec<u8>, token: Option<&str>| {
        let mut r = http.post(format!("{url}{path}")).body(body);
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        r.send()
    };
    let r = post("/v1/release", b"{}".to_vec(), None).await.unwrap();
    assert_eq!(r.status(), 401);
    // The token is checked before the body is read: a body that never
    // ends, under a wrong token, is answered 401 at once; under the right
    // token, once it has run over the limit, a 413 problem. (The bodies
    // stall rather than end, so the answer does not race their sending.)
    let endless = |bytes: usize| {
        let chunks = (0..bytes.div_ceil(1 << 20))
            .map(move |i| Ok::<_, std::io::Error>(vec![b' '; (bytes - (i << 20)).min(1 << 20)]));
        reqwest::Body::wrap_stream(futures::stream::iter(chunks).chain(futures::stream::pending()))
    };
    let stalled = |path: &str, token: &str, bytes: usize| {
        http.post(format!("{url}{path}"))
            .bearer_auth(token)
            .body(endless(bytes))
            .timeout(Duration::from_secs(20))
            .send()
    };
    let r = stalled("/v1/release", "wrong", 1).await.unwrap();
    assert_eq!(r.status(), 401);
    let r = stalled("/v1/erase", TOKEN, custodian::http::MAX_BODY + 1)
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    let problem: serde_json::Value = r.json().await.unwrap();
    assert_eq!(problem["code"], "body", "{problem}");
    let secret_text = "0612345678-secret";
    let r = post(
        "/v1/release",
        format!(r#"{{"checkpoint":"x","entry":{{"index":1,"bytes":"{secret_text}","inclusion":[]}},"keys":[]}}"#).into_bytes(),
        Some(TOKEN),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 400);
    let text = r.text().await.unwrap();
    assert!(
        text.contains("entry.bytes") && !text.contains(secret_text),
        "{text}"
    );

    let mut seen = 0;
    let subjects: Vec<String> = (0..6).map(|i| format!("t3.subject{i}")).collect();
    let mut reads = Vec::new();
    for s in &subjects {
        reads.push(log_access(
            &mut log,
            &b,
            "dpo",
            Action::Read,
            &["profile.address"],
            s,
        ));
    }
    let release = |log: &Log, seen: u64, read: &(u64, Membership)| {
        let mut r = ReleaseRequest::new(
            log.checkpoint(),
            Some(log.consistency(seen)),
            log.logged(read.0),
            Some(log.logged(bundle_index)),
            vec![KeyAsk {
                member: read.1.clone(),
                dataset: "profile".into(),
                wrapped: Wrapped(wrapped.clone()),
            }],
        );
        r.tail = log.tail();
        r
    };
    let r = post(
        "/v1/release",
        serde_json::to_vec(&release(&log, seen, &reads[0])).unwrap(),
        Some(TOKEN),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 200);
    seen = log.tree.size();
    let answer: custody::ReleaseAnswer = r.json().await.unwrap();
    assert_eq!(
        answer.record_keys().unwrap()[0],
        secret.record_key(&subjects[0], "profile")
    );

    // Erase each subject in turn; kill the custodian with SIGKILL right
    // after each acknowledgement; after a restart, the subject's old read
    // is refused — and so is every subject erased before.
    for (i, s) in subjects.iter().enumerate() {
        let (index, member) = log_access(&mut log, &b, "dpo", Action::Erase, &[], s);
        let er = EraseRequest {
            checkpoint: log.checkpoint(),
            consistency: Some(log.consistency(seen)),
            entry: log.logged(index),
            members: vec![member],
            tail: log.tail(),
        };
        let r = post("/v1/erase", serde_json::to_vec(&er).unwrap(), Some(TOKEN))
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
        seen = log.tree.size();
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        child = serve(bin, d);
        wait_up(&http, &url).await;
        for read in &reads[..=i] {
            let r = post(
                "/v1/release",
                serde_json::to_vec(&release(&log, seen, read)).unwrap(),
                Some(TOKEN),
            )
            .await
            .unwrap();
            assert_eq!(r.status(), 410, "a key of an erased subject was released");
            let text = r.text().await.unwrap();
            assert!(
                text.contains("\"code\":\"erased\"") && !text.contains("t3.subject"),
                "{text}"
            );
        }
        if let Some(next) = reads.get(i + 1) {
            let r = post(
                "/v1/release",
                serde_json::to_vec(&release(&log, seen, next)).unwrap(),
                Some(TOKEN),
            )
            .await
            .unwrap();
            assert_eq!(r.status(), 200, "a subject not yet erased is still served");
        }
    }

    // A gateway that logs an erasure and keeps it from the custodian, then
    // asks for the subject's keys under a later logged read: the custodian
    // read the erasure in the log, and releases nothing to anyone until it
    // is told — across a SIGKILL too.
    let late = log_access(
        &mut log,
        &b,
        "dpo",
        Action::Read,
        &["profile.address"],
        "t3.late",
    );
    let (kept, kept_member) = log_access(&mut log, &b, "dpo", Action::Erase, &[], "t3.late");
    let again = log_access(
        &mut log,
        &b,
        "dpo",
        Action::Read,
        &["profile.address"],
        "t3.late",
    );
    for restart in [false, true] {
        if restart {
            child.kill().unwrap(); // SIGKILL
            child.wait().unwrap();
            child = serve(bin, d);
            wait_up(&http, &url).await;
        }
        for read in [&late, &again] {
            let r = post(
                "/v1/release",
                serde_json::to_vec(&release(&log, seen, read)).unwrap(),
                Some(TOKEN),
            )
            .await
            .unwrap();
            assert_eq!(r.status(), 409, "released with an erasure kept from it");
            let p: serde_json::Value = r.json().await.unwrap();
            assert_eq!(p["code"], "erasure_unnotified", "{p}");
            assert_eq!(p["index"], kept, "{p}");
        }
    }
    let er = EraseRequest {
        checkpoint: log.checkpoint(),
        consistency: Some(log.consistency(seen)),
        entry: log.logged(kept),
        members: vec![kept_member],
        tail: log.tail(),
    };
    let r = post("/v1/erase", serde_json::to_vec(&er).unwrap(), Some(TOKEN))
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    seen = log.tree.size();
    let r = post(
        "/v1/release",
        serde_json::to_vec(&release(&log, seen, &again)).unwrap(),
        Some(TOKEN),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 410, "{}", r.text().await.unwrap());

    let metrics = http
        .get(format!("{url}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("custodian_keys_refused_total"),
        "{metrics}"
    );
    child.kill().unwrap();
    child.wait().unwrap();
}
