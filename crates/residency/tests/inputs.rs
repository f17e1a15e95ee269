//! What a caller sends is bounded and, where the policy bundle knows the
//! ids, one of them: through real `residency serve` processes, a purpose
//! or legal basis that is not an id of the bundle, or an input out of its
//! bounds, is refused with a 400 naming the field (and its limit), never
//! echoing the value, before anything is decided — the log does not grow
//! and nothing of the value reaches it. A declared purpose the principal
//! may not use is a denial, logged with ids only.

use serde_json::{Value, json};

mod cluster;

use cluster::*;

/// Every file under a directory, concatenated.
fn files(dir: &std::path::Path) -> Vec<u8> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files(&p));
        } else {
            out.extend(std::fs::read(&p).unwrap_or_default());
        }
    }
    out
}

fn contains(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

fn with(base: &Value, key: &str, value: Value) -> Value {
    let mut v = base.clone();
    v[key] = value;
    v
}

/// Posts `body` and checks a 400 that names `says` (each part), does not
/// contain `secret`, and left the log as it was.
async fn refused(
    c: &Cluster,
    path: &str,
    principal: &str,
    body: &Value,
    says: &[&str],
    secret: &str,
) {
    let before = c.log_size("eu-fr").await;
    let (status, p) = c.post("eu-fr", path, Some(principal), body).await;
    assert_eq!(status, 400, "{path}: {p}");
    let detail = p["detail"].as_str().unwrap();
    for s in says {
        assert!(detail.contains(s), "{path}: {detail:?} should say {s:?}");
    }
    assert!(
        !p.to_string().contains(secret),
        "{path}: the value is echoed: {p}"
    );
    assert!(p.get("log_index").is_none(), "{p}");
    assert_eq!(c.log_size("eu-fr").await, before, "{path}: the log grew");
}

const PERSONAL: &str = "call jane.roe@example.com at +33 6 99 88 77 66";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn purposes_and_legal_bases_that_are_not_ids_of_the_bundle_are_refused_without_echo() {
    let c = Cluster::start(None).await;
    let (status, _) = c
        .post(
            "eu-fr",
            "/v1/ingest",
            Some("app"),
            &json!({"events": events("FR", 2)}),
        )
        .await;
    assert_eq!(status, 202);
    let transfer = json!({"fields": ["account.user_id", "device.language"], "purpose": "reco-training",
                          "legal_basis": "adequacy:eu-us-dpf"});
    let read = json!({"user_id": "fr-user-0001", "fields": ["profile.phone"], "purpose": "support-ticket"});
    let aggregate = json!({"group_by": ["device.language"], "purpose": "analytics"});

    // An undeclared purpose, on every route that takes one, with personal
    // data in it: 400 naming `purpose`, nothing logged.
    for (path, who, body) in [
        ("/v1/transfer", "svc-reco-us", &transfer),
        ("/v1/read", "support-dublin", &read),
        ("/v1/aggregate", "eng-beijing", &aggregate),
    ] {
        for purpose in [PERSONAL, "ads", "", "subject-request"] {
            refused(
                &c,
                path,
                who,
                &with(body, "purpose", json!(purpose)),
                &["purpose", "declares"],
                if purpose.is_empty() {
                    PERSONAL
                } else {
                    purpose
                },
            )
            .await;
        }
        // ~70 KB: named with its limit.
        refused(
            &c,
            path,
            who,
            &with(body, "purpose", json!(PERSONAL.repeat(1_600))),
            &["purpose", "64 bytes"],
            PERSONAL,
        )
        .await;
    }
    // A legal basis that is not an id of the law table.
    for (path, who, body) in [
        ("/v1/transfer", "svc-reco-us", &transfer),
        ("/v1/read", "support-dublin", &read),
    ] {
        for basis in [
            "adequacy:jane.roe@example.com".to_owned(),
            "scc-2021-module-1 or so, ask +33 6 99 88 77 66".to_owned(),
            "adequacy:".to_owned(),
        ] {
            refused(
                &c,
                path,
                who,
                &with(body, "legal_basis", json!(basis)),
                &["legal_basis", "law table"],
                // The answer names the form `adequacy:<id>` itself.
                if basis == "adequacy:" {
                    PERSONAL
                } else {
                    &basis
                },
            )
            .await;
        }
        refused(
            &c,
            path,
            who,
            &with(body, "legal_basis", json!(PERSONAL.repeat(1_600))),
            &["legal_basis", "128 bytes"],
            PERSONAL,
        )
        .await;
    }
    // Nothing of any of it is in the log's files.
    let log = files(&c.log_dir("eu-fr"));
    for secret in ["jane.roe", "+33 6 99 88 77 66", "ads"] {
        assert!(
            !contains(&log, &format!("\"{secret}")),
            "{secret} in the log"
        );
    }
    assert!(!contains(&log, "jane.roe"));

    // The same requests with ids of the bundle are decided.
    let (status, t) = c
        .post("eu-fr", "/v1/transfer", Some("svc-reco-us"), &transfer)
        .await;
    assert_eq!(status, 200, "{t}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_declared_purpose_the_principal_may_not_use_is_a_logged_denial_of_ids_only() {
    let c = Cluster::start(None).await;
    let (status, _) = c
        .post(
            "eu-fr",
            "/v1/ingest",
            Some("app"),
            &json!({"events": events("FR", 2)}),
        )
        .await;
    assert_eq!(status, 202);
    // support-ticket is declared; svc-reco-us may not use it.
    let before = c.log_size("eu-fr").await;
    let ask = json!({"fields": ["account.user_id", "device.language"], "purpose": "support-ticket",
                     "legal_basis": "adequacy:eu-us-dpf", "destination": "US"});
    let (status, p) = c
        .post("eu-fr", "/v1/transfer", Some("svc-reco-us"), &ask)
        .await;
    assert_eq!(status, 403, "{p}");
    let index = p["log_index"].as_u64().unwrap();
    assert!(index >= before, "the denial is logged");
    let e = c.log_entry("eu-fr", index).await;
    assert_eq!(e["decision"], "deny", "{e}");
    assert_eq!(e["purpose"], "support-ticket");
    assert_eq!(e["legal_basis"], "adequacy:eu-us-dpf");
    assert_eq!(
        e["reasons"],
        json!(["principal svc-reco-us may not use purpose support-ticket"]),
        "{e}"
    );
    let policy = policy::Bundle::load(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/policy"),
    )
    .unwrap();
    assert!(policy.declares_purpose(e["purpose"].as_str().unwrap()));
    assert!(policy.law.knows_basis(e["legal_basis"].as_str().unwrap()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inputs_out_of_bounds_are_refused_naming_the_field_and_limit() {
    let c = Cluster::start(None).await;
    let transfer = json!({"fields": ["account.user_id"], "purpose": "reco-training",
                          "legal_basis": "adequacy:eu-us-dpf"});
    let secret = "jane.roe@example.com";
    let long = |n: usize| format!("{secret}{}", "x".repeat(n));
    // The destination must look like a country code.
    for d in ["fr", "France", "F", "FRA", " FR", secret] {
        refused(
            &c,
            "/v1/transfer",
            "svc-reco-us",
            &with(&transfer, "destination", json!(d)),
            &["destination", "two uppercase letters"],
            if d.len() > 3 { d } else { secret },
        )
        .await;
    }
    let ids: Vec<String> = (0..10_001).map(|i| format!("u{i}")).collect();
    let cases = [
        (
            "/v1/transfer",
            with(&transfer, "user_ids", json!(ids)),
            vec!["user_ids", "10000 items"],
        ),
        (
            "/v1/transfer",
            with(&transfer, "user_ids", json!([long(300)])),
            vec!["user_ids[0]", "256 bytes"],
        ),
        (
            "/v1/transfer",
            with(&transfer, "fields", json!(vec!["account.user_id"; 65])),
            vec!["fields", "64 items"],
        ),
        (
            "/v1/transfer",
            with(
                &transfer,
                "fields",
                json!([format!("account.{}", long(200))]),
            ),
            vec!["fields[0]", "128 bytes"],
        ),
        (
            "/v1/transfer",
            with(&transfer, "fields", json!([secret])),
            vec!["fields[0]", "not dataset.field"],
        ),
        (
            "/v1/transfer",
            with(
                &transfer,
                "filter",
                json!({"device.app_version": long(2_000)}),
            ),
            vec!["filter", "1024 bytes"],
        ),
        (
            "/v1/transfer",
            with(
                &transfer,
                "filter",
                json!(
                    (0..17)
                        .map(|i| (format!("device.f{i}"), json!("1")))
                        .collect::<serde_json::Map<_, _>>()
                ),
            ),
            vec!["filter", "16 conditions"],
        ),
        (
            "/v1/read",
            json!({"user_id": long(300), "fields": ["profile.phone"], "purpose": "support-ticket"}),
            vec!["user_id", "256 bytes"],
        ),
        (
            "/v1/aggregate",
            json!({"group_by": [secret], "purpose": "analytics"}),
            vec!["group_by[0]", "not dataset.field"],
        ),
        (
            "/v1/reidentify",
            json!({"field": "account.user_id", "token": "r1.x", "justification": long(2_000)}),
            vec!["justification", "1024 bytes"],
        ),
        (
            "/v1/reidentify",
            json!({"field": "account.user_id", "token": long(100_000), "justification": "ticket 4711"}),
            vec!["token", "bytes"],
        ),
        (
            "/v1/reidentify",
            json!({"field": secret, "token": "r1.x", "justification": "ticket 4711"}),
            vec!["field", "not dataset.field"],
        ),
        (
            "/v1/subjects/export",
            json!({"user_id": long(300)}),
            vec!["user_id", "256 bytes"],
        ),
        (
            "/v1/subjects/export",
            json!({"user_id": "u", secret: 1}),
            vec!["a field this request does not take"],
        ),
        (
            "/v1/transfer",
            with(&transfer, "filter", json!({secret: "4.2"})),
            vec!["filter", "not dataset.field"],
        ),
    ];
    for (path, body, says) in &cases {
        let who = match *path {
            "/v1/transfer" => "svc-reco-us",
            "/v1/read" => "support-dublin",
            "/v1/aggregate" => "eng-beijing",
            _ => "dpo",
        };
        refused(&c, path, who, body, says, secret).await;
    }
    // Events: a country must look like a code; names and ids are bounded.
    let mut ev = events("FR", 1);
    ev[0]["country"] = json!(secret);
    refused(
        &c,
        "/v1/ingest",
        "app",
        &json!({"events": ev}),
        &["events[0].country", "two uppercase letters"],
        secret,
    )
    .await;
    let mut ev = events("FR", 1);
    ev[0]["fields"][secret] = json!("x");
    refused(
        &c,
        "/v1/ingest",
        "app",
        &json!({"events": ev}),
        &["events[0].fields", "not a catalog name"],
        secret,
    )
    .await;
    let mut ev = events("FR", 1);
    ev[0]["record_id"] = json!(long(300));
    refused(
        &c,
        "/v1/ingest",
        "app",
        &json!({"events": ev}),
        &["events[0].record_id", "256 bytes"],
        secret,
    )
    .await;
}

/// The example policy plus a field that leaves as a reversible token.
fn policy_with_a_reversible_field(dir: &std::path::Path) -> std::path::PathBuf {
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/policy");
    let dst = dir.join("policy");
    std::fs::create_dir_all(dst.join("policies")).unwrap();
    for f in [
        "principals.toml",
        "regions.toml",
        "policies/access.cedar",
        "policies/guardrails.cedar",
    ] {
        std::fs::copy(src.join(f), dst.join(f)).unwrap();
    }
    let catalog = std::fs::read_to_string(src.join("catalog.toml")).unwrap()
        + "\n[datasets.account.fields.support_ref]\ncategory = \"identifier\"\nlevel = \"personal\"\n\
           egress.same = { op = \"keep\" }\negress.adequate = { op = \"reversible\", domain = \"support\" }\n\
           egress.other = { op = \"drop\" }\n";
    std::fs::write(dst.join("catalog.toml"), catalog).unwrap();
    dst
}

/// A short justification cannot be found again from the log by hashing
/// guesses: its digest is keyed by the region.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_justification_is_logged_as_a_keyed_digest_that_guesses_do_not_find() {
    let scratch = tempfile::tempdir().unwrap();
    let policy = policy_with_a_reversible_field(scratch.path());
    let c = Cluster::with_policy(None, "body_bytes = 1000000", &policy).await;
    let ev = json!({"user_id": "fr-user-0001", "country": "FR", "dataset": "account", "record_id": "a1",
                    "time": 1_764_000_000, "fields": {"user_id": "fr-user-0001", "support_ref": "TICKET-4711"}});
    let (status, _) = c
        .post("eu-fr", "/v1/ingest", Some("app"), &json!({"events": [ev]}))
        .await;
    assert_eq!(status, 202);
    let (status, t) = c
        .post("eu-fr", "/v1/transfer", Some("svc-reco-us"),
              &json!({"fields": ["account.support_ref"], "purpose": "reco-training", "legal_basis": "adequacy:eu-us-dpf"}))
        .await;
    assert_eq!(status, 200, "{t}");
    let token = t["records"][0]["fields"]["support_ref"].as_str().unwrap();
    let justification = "ticket 4711";
    let (status, r) = c
        .post(
            "eu-fr",
            "/v1/reidentify",
            Some("dpo"),
            &json!({"field": "account.support_ref", "token": token, "justification": justification}),
        )
        .await;
    assert_eq!(status, 200, "{r}");
    let e = c.log_entry("eu-fr", r["log_index"].as_u64().unwrap()).await;
    let digest = e["justification_digest"].as_str().unwrap();
    assert_eq!(digest.len(), 64);
    assert_ne!(digest, entry::digest_hex(justification.as_bytes()));
    assert!(!e.to_string().contains(justification));
    // The same text gives the same digest in this region, so the region can
    // show a justification matches.
    let (_, again) = c
        .post(
            "eu-fr",
            "/v1/reidentify",
            Some("dpo"),
            &json!({"field": "account.support_ref", "token": token, "justification": justification}),
        )
        .await;
    let e2 = c
        .log_entry("eu-fr", again["log_index"].as_u64().unwrap())
        .await;
    assert_eq!(e2["justification_digest"], e["justification_digest"]);
}
