//! Everything a caller sends is a claim. Where the configuration knows the
//! truth — where a principal is, what the law table makes adequate — the
//! truth decides, against real region processes over HTTP:
//!
//! - the request found by the red team (a principal in Beijing declaring
//!   France as destination read French phone numbers in clear) is refused on
//!   every region;
//! - a property over principals × declared destinations × actions × fields:
//!   nothing protected leaves in clear toward a jurisdiction without
//!   adequacy, and nothing personal crosses without a valid tool;
//! - a log holding such a release (as the old gateway wrote it) is reported
//!   by `residency audit` as a violation, with the transfer recorded toward
//!   China, not as a mismatch.

use std::process::{Command, Stdio};

use policy::catalog::Level;
use policy::law::Recipient;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::{Value, json};

mod cluster;

use cluster::*;

fn bundle() -> policy::Bundle {
    policy::Bundle::load(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/policy"),
    )
    .unwrap()
}

/// Ingests `n` users of `country` into `region` (forwarded home if need be).
async fn ingest(c: &Cluster, region: &str, country: &str, n: usize) {
    let (status, body) = c
        .post(
            region,
            "/v1/ingest",
            Some("app"),
            &json!({"events": with_about(events(country, n))}),
        )
        .await;
    assert_eq!(status, 202, "{body}");
}

/// Each profile gains free text (`profile.about`, scrubbed on the way out)
/// that repeats the person's phone number, as people write it.
fn with_about(mut events: Vec<Value>) -> Vec<Value> {
    for (i, e) in events
        .iter_mut()
        .filter(|e| e["dataset"] == "profile")
        .enumerate()
    {
        e["fields"]["about"] = json!(format!("Rappelez-moi au {} le soir, merci.", phone(i)));
    }
    events
}

#[tokio::test(flavor = "multi_thread")]
async fn a_principal_in_beijing_declaring_the_datas_own_country_is_refused_on_every_region() {
    let c = Cluster::start(None).await;
    for (region, country) in [("eu-fr", "FR"), ("eu-no", "NO"), ("us-tx", "US")] {
        ingest(&c, region, country, 2).await;
        let user = format!("{}-user-0001", country.to_lowercase());
        for declared in [country, "FR", "IE", "DE"] {
            let (status, body) = c
                .post(
                    region,
                    "/v1/transfer",
                    Some("eng-beijing"),
                    &json!({"user_ids": [user], "fields": ["profile.phone", "profile.address"],
                            "purpose": "debugging", "destination": declared}),
                )
                .await;
            assert_eq!(status, 403, "{region} {declared}: {body}");
            let text = body.to_string();
            assert!(
                !text.contains(&phone(1)) && !text.contains(&address(1)),
                "{text}"
            );
        }
    }
}

/// The red team's channel: a destination of any two capital letters was
/// logged as declared, two letters of the caller's own per request in the
/// public log. Only a country of the law table is taken now; anything
/// else is refused before a decision, logged nowhere, and not echoed.
#[tokio::test(flavor = "multi_thread")]
async fn a_declared_destination_outside_the_law_table_is_refused_and_kept_out_of_the_log() {
    let c = Cluster::start(None).await;
    ingest(&c, "eu-fr", "FR", 1).await;
    let size = c.log_size("eu-fr").await;
    for principal in ["svc-reco-us", "eng-beijing"] {
        for declared in ["QQ", "XK", "ZZ"] {
            let (status, body) = c
                .post(
                    "eu-fr",
                    "/v1/transfer",
                    Some(principal),
                    &json!({"user_ids": ["fr-user-0000"], "fields": ["device.language"],
                            "purpose": "reco-training", "legal_basis": "adequacy:eu-us-dpf",
                            "destination": declared}),
                )
                .await;
            assert_eq!(status, 400, "{principal} {declared}: {body}");
            let text = body.to_string();
            assert!(text.contains("not a country of the law table"), "{text}");
            assert!(!text.contains(declared), "{text}");
        }
    }
    assert_eq!(
        c.log_size("eu-fr").await,
        size,
        "a refused claim was logged"
    );
    // A country the law table knows is still taken, and logged as declared.
    let (status, body) = c
        .post(
            "eu-fr",
            "/v1/transfer",
            Some("svc-reco-us"),
            &json!({"user_ids": ["fr-user-0000"], "fields": ["device.language"],
                    "purpose": "reco-training", "legal_basis": "adequacy:eu-us-dpf",
                    "destination": "US"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["entry"]["declared_destination"], "US");
}

/// What a 200 answer may hold, judged from the configuration: for every
/// jurisdiction the request reaches other than the data's, a valid tool
/// for personal fields, and no protected field in clear without adequacy.
fn check_release(
    bundle: &policy::Bundle,
    principal: &str,
    declared: Option<&str>,
    fields: &[&str],
    answer: &Value,
) -> Result<(), TestCaseError> {
    let p = &bundle.principals.principals[principal];
    let date = time::OffsetDateTime::now_utc().date();
    let recipient = Recipient {
        organisation: &p.organisation,
        group: p.group.as_deref(),
        sector: p.sector.as_deref(),
        certifications: &p.certifications,
        contracts: &p.contracts,
    };
    let mut reached = vec![bundle.law.jurisdiction_of(&p.location).unwrap()];
    reached.extend(declared.and_then(|d| bundle.law.jurisdiction_of(d)));
    let text = answer.to_string();
    let level = |f: &str| {
        let (d, n) = f.split_once('.').unwrap();
        bundle.catalog.field(d, n).map(|f| f.level)
    };
    for j in reached.into_iter().filter(|j| *j != "EEA") {
        prop_assert_eq!(
            answer["entry"]["action"].as_str(),
            Some("transfer"),
            "a release toward {} not logged as a transfer",
            j
        );
        if fields.iter().any(|f| level(f) >= Some(Level::Personal)) {
            let basis = answer["entry"]["legal_basis"].as_str();
            prop_assert!(basis.is_some(), "personal data toward {j} without a tool");
            prop_assert!(
                bundle
                    .law
                    .check_basis(basis.unwrap(), j, &recipient, 1, date)
                    .is_ok(),
                "{:?} is not valid toward {}",
                basis,
                j
            );
        }
        // A phone number never leaves the EEA in clear, even inside free
        // text (profile.about is scrubbed toward every other jurisdiction).
        for i in 0..4 {
            prop_assert!(
                !text.contains(&phone(i)),
                "a phone number in clear toward {}: {}",
                j,
                text
            );
        }
        if bundle.law.adequacy_for(j, &recipient, date).is_none() {
            for i in 0..4 {
                prop_assert!(
                    !text.contains(&phone(i)) && !text.contains(&address(i)),
                    "a protected value in clear toward {}: {}",
                    j,
                    text
                );
            }
        }
    }
    Ok(())
}

#[test]
fn no_declared_value_gets_protected_data_out_in_clear_or_personal_data_out_without_a_tool() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let c = rt.block_on(Cluster::start(None));
    rt.block_on(ingest(&c, "eu-fr", "FR", 4));
    let bundle = bundle();
    let principals = vec!["app", "svc-reco-us", "eng-beijing", "support-dublin", "dpo"];
    let declared = vec![
        "FR", "DE", "IE", "NO", "US", "CN", "GB", "JP", "ZZ", "fr", "EEA", " FR", "France", "",
    ];
    let fields = vec![
        "profile.phone",
        "profile.address",
        "profile.about",
        "social.contacts",
        "network.ip",
        "device.language",
        "account.user_id",
    ];
    let mut runner = TestRunner::new(Config {
        cases: 96,
        ..Config::default()
    });
    runner
        .run(
            &(
                prop::sample::select(principals),
                prop::option::of(prop::sample::select(declared)),
                prop::option::of(prop::sample::select(vec![
                    "scc-2021-module-1",
                    "adequacy:eu-us-dpf",
                    "adequacy:japan",
                ])),
                prop::sample::select(vec!["read", "transfer", "export"]),
                prop::sample::subsequence(fields, 1..6),
                prop::sample::select(vec!["reco-training", "support-ticket", "debugging"]),
                0..4usize,
            ),
            |(principal, declared, basis, action, fields, purpose, user)| {
                let user_id = format!("fr-user-{user:04}");
                let body = match action {
                    "read" => json!({"user_id": user_id, "fields": fields, "purpose": purpose,
                                     "legal_basis": basis}),
                    "transfer" => {
                        json!({"user_ids": [user_id], "fields": fields, "purpose": purpose,
                                         "legal_basis": basis, "destination": declared})
                    }
                    _ => json!({"user_id": user_id}),
                };
                let (status, answer) =
                    rt.block_on(c.post("eu-fr", &format!("/v1/{action}"), Some(principal), &body));
                prop_assert!(
                    [200, 400, 403, 404].contains(&status),
                    "{} {}: {}",
                    action,
                    status,
                    answer
                );
                if status == 200 {
                    let declared = if action == "transfer" { declared } else { None };
                    let fields = if action == "export" { vec![] } else { fields };
                    check_release(&bundle, principal, declared, &fields, &answer)?;
                }
                Ok(())
            },
        )
        .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_log_holding_a_release_abroad_under_a_declared_destination_audits_as_a_violation() {
    let mut c = Cluster::start(None).await;
    // The release as the gateway logged it before the fix (schema 1): a
    // principal in Beijing, "destination": "EEA", no legal basis, the
    // phone and address kept in clear.
    let fixture: Value =
        serde_json::from_str(include_str!("fixtures/beijing-declares-fr.json")).unwrap();
    c.stop("eu-fr");
    let first = std::fs::read(c.log_dir("eu-fr").join("tile/entries/000.p/1"));
    let bundle_hash = match first {
        Ok(bytes) => {
            let e = tlog::tile::parse_bundle(&bytes).unwrap();
            let e: Value = serde_json::from_slice(e[0]).unwrap();
            e["bundle"].as_str().unwrap().to_owned()
        }
        Err(_) => panic!("no entry bundle"),
    };
    let mut e = fixture;
    e["bundle"] = bundle_hash.into();
    e["time"] = time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .unwrap()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap()
        .into();
    let forged = c.dir.path().join("beijing.jsonl");
    std::fs::write(&forged, [entry::canonical(&e), b"\n".to_vec()].concat()).unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_residency"))
        .args(["log", "append", "--dir"])
        .arg(c.log_dir("eu-fr"))
        .arg(&forged)
        .stdout(Stdio::null())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    c.spawn("eu-fr").await;
    c.wait_healthy("eu-fr").await;

    let config = c.dir.path().join("audit.toml");
    std::fs::write(
        &config,
        format!(
            "state = \"audit-state\"\nca = \"tls/ca.pem\"\n[[logs]]\nregion = \"eu-fr\"\nurl = \"{}\"\nkey = \"eu-fr/log/log.vkey\"\n",
            c.urls["eu-fr"]
        ),
    )
    .unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_residency"))
        .args(["audit", "--config"])
        .arg(&config)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let out = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(
        out.contains("eu-fr #1: violation: logged allow, the replay decides deny"),
        "{out}"
    );
    assert!(
        out.contains("violation: protected field profile.phone left in clear for CN"),
        "{out}"
    );
    assert!(
        out.contains("violation: a transfer of personal data from EEA to CN with no legal basis"),
        "{out}"
    );
    assert!(!out.contains("mismatch: logged allow"), "{out}");
}

/// Regression: a denied caller told known users (403, logged, naming the
/// subject's pseudonym) from unknown ones (404, not logged), and learnt
/// the pseudonym, which then linked the person's whole access history in
/// the public log.
#[tokio::test(flavor = "multi_thread")]
async fn a_denied_caller_cannot_tell_known_users_from_unknown_ones_nor_learn_a_pseudonym() {
    let c = Cluster::start(None).await;
    ingest(&c, "eu-fr", "FR", 2).await;
    let pseudonym_like = |e: &Value| e.to_string().contains("t1.");
    for (path, body) in [
        (
            "/v1/read",
            json!({"fields": ["profile.phone"], "purpose": "support-ticket"}),
        ),
        ("/v1/subjects/export", json!({})),
        ("/v1/subjects/erase", json!({})),
        (
            "/v1/transfer",
            json!({"fields": ["profile.phone"], "purpose": "debugging"}),
        ),
    ] {
        let mut shapes = Vec::new();
        for user in ["fr-user-0001", "nobody-at-all"] {
            let mut body = body.clone();
            if path == "/v1/transfer" {
                body["user_ids"] = json!([user]);
            } else {
                body["user_id"] = json!(user);
            }
            let (status, p) = c.post("eu-fr", path, Some("eng-beijing"), &body).await;
            assert_eq!(status, 403, "{path} {user}: {p}");
            let mut e = c.log_entry("eu-fr", p["log_index"].as_u64().unwrap()).await;
            assert!(!pseudonym_like(&e), "{e}");
            assert_eq!(e["subject_count"], 1, "{e}");
            assert_eq!(e["subjects"], json!([]), "{e}");
            assert!(e["subjects_root"].is_string(), "{e}");
            for varying in ["subjects_root", "time"] {
                e.as_object_mut().unwrap().remove(varying);
            }
            let mut p = p.clone();
            p.as_object_mut().unwrap().remove("log_index");
            shapes.push((p, e));
        }
        assert_eq!(shapes[0], shapes[1], "{path}");
    }
}

/// Regression (red team): the payload digest was a plain hash of the
/// sealed records, the same for every access to one person's records and
/// the hash of nothing for an unknown one — linking entries to a person
/// and telling known users from unknown ones in the public log.
#[tokio::test(flavor = "multi_thread")]
async fn payload_digests_link_no_two_accesses_and_an_empty_release_looks_like_any_other() {
    let c = Cluster::start(None).await;
    ingest(&c, "eu-fr", "FR", 2).await;
    let read = json!({"user_id": "fr-user-0001", "fields": ["profile.phone"], "purpose": "support-ticket"});
    let mut digests = Vec::new();
    for _ in 0..2 {
        let (status, r) = c
            .post("eu-fr", "/v1/read", Some("support-dublin"), &read)
            .await;
        assert_eq!(status, 200, "{r}");
        digests.push(r["entry"]["payload_digest"].as_str().unwrap().to_owned());
    }
    assert_ne!(digests[0], digests[1]);
    let (status, t) = c
        .post(
            "eu-fr",
            "/v1/transfer",
            Some("svc-reco-us"),
            &json!({"user_ids": ["nobody-at-all"], "fields": ["device.language"],
                    "purpose": "reco-training", "legal_basis": "adequacy:eu-us-dpf"}),
        )
        .await;
    assert_eq!(status, 200, "{t}");
    assert!(t["records"].as_array().unwrap().is_empty());
    assert_ne!(
        t["entry"]["payload_digest"],
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
}

/// Regression (red team): an allowed read, export or erasure of a user not
/// homed here was decided and answered 404 with no entry — a decision the
/// log did not hold.
#[tokio::test(flavor = "multi_thread")]
async fn an_allowed_request_about_an_unknown_user_is_logged_too() {
    let c = Cluster::start(None).await;
    ingest(&c, "eu-fr", "FR", 1).await;
    for (principal, path, body) in [
        (
            "support-dublin",
            "/v1/read",
            json!({"user_id": "nobody-at-all", "fields": ["profile.phone"], "purpose": "support-ticket"}),
        ),
        (
            "dpo",
            "/v1/subjects/export",
            json!({"user_id": "nobody-at-all"}),
        ),
        (
            "dpo",
            "/v1/subjects/erase",
            json!({"user_id": "nobody-at-all"}),
        ),
    ] {
        let before = c.log_size("eu-fr").await;
        let (status, p) = c.post("eu-fr", path, Some(principal), &body).await;
        assert_eq!(status, 404, "{path}: {p}");
        assert_eq!(c.log_size("eu-fr").await, before + 1, "{path}: not logged");
        let e = c.log_entry("eu-fr", before).await;
        assert_eq!(e["decision"], "allow", "{e}");
        assert_eq!(e["subject_count"], 1, "{e}");
        assert!(e["subjects_root"].is_string(), "{e}");
    }
}

/// Free text leaves the EEA scrubbed whatever destination the caller
/// declares: the phone number written in `profile.about` never comes out
/// in clear, and the logged plan says `scrub`.
#[tokio::test(flavor = "multi_thread")]
async fn free_text_leaves_the_eea_scrubbed_whatever_destination_is_declared() {
    let c = Cluster::start(None).await;
    ingest(&c, "eu-fr", "FR", 4).await;
    for declared in [None, Some("FR"), Some("IE"), Some("NO"), Some("US")] {
        let users: Vec<String> = (0..4).map(|i| format!("fr-user-{i:04}")).collect();
        let (status, answer) = c
            .post(
                "eu-fr",
                "/v1/transfer",
                Some("svc-reco-us"),
                &json!({"user_ids": users, "fields": ["profile.about"], "purpose": "reco-training",
                        "legal_basis": "adequacy:eu-us-dpf", "destination": declared}),
            )
            .await;
        assert_eq!(status, 200, "{declared:?}: {answer}");
        let text = answer["records"].to_string();
        assert!(
            text.contains("Rappelez-moi au"),
            "{declared:?}: the text left"
        );
        for i in 0..4 {
            assert!(
                !text.contains(&phone(i)),
                "{declared:?}: a phone number in clear: {text}"
            );
        }
        assert_eq!(
            answer["entry"]["fields"]["profile.about"]["op"], "scrub",
            "{declared:?}: {}",
            answer["entry"]
        );
    }
}
