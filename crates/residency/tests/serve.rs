//! Three real `residency serve` processes on loopback, driven over HTTP
//! through the steps of shared/design/SCENARIO.md that the node covers
//! (collect, transfer, denial, aggregate, remote view, export, erasure),
//! plus the gateway's refusals: no credential, bad bodies, a region down.
//! Everything the processes print is searched for the seeded personal data.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

mod cluster;
mod pg;

use cluster::*;

fn scan(dir: &Path, needle: &[u8]) -> bool {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return false;
    };
    entries.flatten().any(|e| {
        let p = e.path();
        if p.is_dir() {
            scan(&p, needle)
        } else {
            std::fs::read(&p).is_ok_and(|b| b.windows(needle.len()).any(|w| w == needle))
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_regions_run_the_scenario_over_http() {
    scenario(Cluster::start(None).await, true).await;
}

/// The same with eu-fr's store on PostgreSQL (`RESIDENCY_TEST_POSTGRES`,
/// set by `.ci/run`), in a schema of its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scenario_runs_with_a_postgresql_store() {
    let Some(pg) = pg::schema("serve").await else {
        return;
    };
    let (admin, schema) = (&pg.admin, &pg.name);
    let store = format!("postgres:{}", pg.conninfo);
    scenario(Cluster::start(Some(&store)).await, false).await;
    // What eu-fr stored is in PostgreSQL: sealed, keyed by pseudonyms.
    let rows = admin
        .query(&format!("SELECT count(*) FROM {schema}.records"), &[])
        .await
        .unwrap();
    assert!(rows[0].get::<_, i64>(0) > 0);
    let dump = admin
        .query(&format!("SELECT r::text FROM {schema}.records r"), &[])
        .await
        .unwrap();
    for row in dump {
        let text: String = row.get(0);
        assert!(
            !text.contains("+33 6") && !text.contains("rue des Glycines"),
            "clear text at rest"
        );
    }
    pg.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_routes_and_limits_are_enforced() {
    let c = Cluster::with_limits(None, "requests_per_second = 1\nburst = 4").await;
    // Every route the OpenAPI document lists is served.
    let doc = c
        .http
        .get(format!("{}/openapi.json", c.urls["eu-fr"]))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let doc: Value = serde_json::from_str(&doc).unwrap();
    for (path, ops) in doc["paths"].as_object().unwrap() {
        let path = path.replace("{path}", "0/000");
        let url = format!("{}{path}", c.urls["eu-fr"]);
        let resp = if ops.get("post").is_some() {
            c.http.post(url).send().await.unwrap()
        } else {
            c.http.get(url).send().await.unwrap()
        };
        let status = resp.status().as_u16();
        let body = resp.text().await.unwrap();
        assert!(!body.contains("no such route"), "{path}: {status} {body}");
    }
    // A node's credential only forwards ingests, and only events homed at the receiver.
    let node_token = "node-token-of-eu-no-0123456789";
    let view = json!({"user_id": "x", "fields": ["profile.phone"], "purpose": "support-ticket"});
    let (status, p) = c.post("eu-fr", "/v1/read", Some(node_token), &view).await;
    assert_eq!(status, 403, "{p}");
    let (status, p) = c
        .post(
            "eu-fr",
            "/v1/ingest",
            Some(node_token),
            &json!({"events": events("US", 1)}),
        )
        .await;
    assert_eq!(status, 400, "{p}");
    assert!(p["detail"].as_str().unwrap().contains("us-tx"), "{p}");
    let (status, _) = c
        .post(
            "eu-fr",
            "/v1/ingest",
            Some("node-token-of-nowhere-0123456789"),
            &json!({"events": events("FR", 1)}),
        )
        .await;
    assert_eq!(status, 401);
    // A country no region homes: the event and the field are named, the
    // value is not repeated.
    let mut bad = events("FR", 1);
    bad[0]["country"] = json!("ZZ");
    let (status, p) = c
        .post("eu-fr", "/v1/ingest", Some("app"), &json!({"events": bad}))
        .await;
    assert_eq!(status, 400);
    let detail = p["detail"].as_str().unwrap();
    assert!(detail.contains("event 0: country"), "{p}");
    assert!(!detail.contains("ZZ"), "{p}");
    // Past its burst, a principal is told to slow down.
    let mut statuses = Vec::new();
    for _ in 0..6 {
        let (status, _) = c
            .post(
                "eu-no",
                "/v1/ingest",
                Some("app"),
                &json!({"events": events("DE", 1)}),
            )
            .await;
        statuses.push(status);
    }
    assert!(statuses.contains(&429), "{statuses:?}");
    assert_eq!(statuses[0], 202);
}

/// The scenario's steps; `sqlite_fr` when eu-fr's store is SQLite files
/// (then they are scanned too).
async fn scenario(mut c: Cluster, sqlite_fr: bool) {
    let fr = 40; // more than an entry lists: transfers name them by a root

    // 1. Collect: everything goes to eu-no, the edge nearest; each event
    //    lands in its home region and the edge keeps nothing of others.
    let mut batch = events("FR", fr);
    batch.extend(events("DE", 12));
    batch.extend(events("US", 8));
    let (status, body) = c
        .post(
            "eu-no",
            "/v1/ingest",
            Some("app"),
            &json!({"events": batch}),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["accepted"], batch.len());
    assert_eq!(body["regions"]["eu-fr"], fr * 5);
    assert_eq!(body["regions"]["eu-no"], 12 * 5);
    assert_eq!(body["regions"]["us-tx"], 8 * 5);
    // NDJSON is accepted for bulk too.
    let ndjson: String = events("FR", fr)[..10]
        .iter()
        .map(|e| format!("{e}\n"))
        .collect();
    let (status, body) = c
        .post_raw(
            "eu-fr",
            "/v1/ingest",
            Some("app"),
            "application/x-ndjson",
            ndjson,
        )
        .await;
    assert_eq!((status, body["accepted"].as_u64()), (202, Some(10)));
    let edge_store = c.dir.path().join("eu-no/store");
    assert!(
        !scan(&edge_store, b"fr-user-0003-profile"),
        "the edge kept a French record"
    );
    assert!(
        scan(&edge_store, b"de-user-0003-profile"),
        "the scan finds records the edge homes"
    );
    if sqlite_fr {
        let home = c.dir.path().join("eu-fr/store");
        assert!(scan(&home, b"fr-user-0003-profile"), "the home has it");
        assert!(!scan(&home, phone(3).as_bytes()) && !scan(&home, address(3).as_bytes()));
    }

    // 2. Lawful, pseudonymised transfer to the US under the DPF adequacy decision.
    let reco = json!({"fields": ["account.user_id", "device.language", "device.os_version",
                                 "network.wifi_ssid", "social.friends", "social.contacts"],
                      "purpose": "reco-training", "legal_basis": "adequacy:eu-us-dpf"});
    let (status, t) = c
        .post("eu-fr", "/v1/transfer", Some("svc-reco-us"), &reco)
        .await;
    assert_eq!(status, 200, "{t}");
    assert_eq!(t["entry"]["action"], "transfer");
    assert_eq!(t["entry"]["destination"], "US");
    assert_eq!(
        t["entry"]["subject_count"], fr,
        "the NDJSON batch updated two of them"
    );
    assert!(t["entry"]["subjects_root"].is_string() && t["entry"]["subjects"] == json!([]));
    c.verify("eu-fr", &t["entry"], &t["receipt"]);
    // The entry commits to the sealed records released, read before it.
    assert_eq!(t["entry"]["payload_digest"].as_str().unwrap().len(), 64);
    let records = t["records"].as_array().unwrap();
    assert!(!records.is_empty());
    let text = t.to_string();
    assert!(
        !text.contains("fr-user-0001"),
        "user ids leave only as tokens"
    );
    assert!(
        !text.contains("Livebox") && !text.contains("contact-1@"),
        "ssids and contacts are dropped"
    );
    for r in records.iter().filter(|r| r["dataset"] == "device") {
        let v = r["fields"]["os_version"].as_str().unwrap();
        assert!(!v.contains('.'), "OS versions leave as major versions: {v}");
    }
    // Friends get the same token as the friend's own user id: each user's
    // friend is another of the same users, so the two sets of tokens match.
    let tokens = |ds: &str, field: &str| {
        let mut v: Vec<String> = records
            .iter()
            .filter(|r| r["dataset"] == ds)
            .map(|r| r["fields"][field].as_str().unwrap().to_owned())
            .collect();
        v.sort();
        v
    };
    assert_eq!(tokens("social", "friends"), tokens("account", "user_id"));
    assert_eq!(tokens("account", "user_id").len(), fr);

    // 3. Blocked: phones and contacts of EEA users to China, in clear.
    let beijing = json!({"fields": ["profile.phone", "social.contacts"], "purpose": "analytics"});
    let (status, p) = c
        .post("eu-fr", "/v1/transfer", Some("eng-beijing"), &beijing)
        .await;
    assert_eq!(status, 403, "{p}");
    assert!(p["log_index"].is_u64() && !p["reasons"].as_array().unwrap().is_empty());
    assert!(!p.to_string().contains("+33"));

    // 4. Allowed aggregate, k-anonymous.
    let (status, a) = c
        .post(
            "eu-fr",
            "/v1/aggregate",
            Some("eng-beijing"),
            &json!({"group_by": ["device.os_version"], "purpose": "analytics"}),
        )
        .await;
    assert_eq!(status, 200, "{a}");
    assert!(a["k"].as_u64().unwrap() >= 5);
    let counted: u64 = a["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g[1].as_u64().unwrap())
        .sum();
    assert_eq!(
        counted + a["suppressed_subjects"].as_u64().unwrap(),
        fr as u64
    );

    // 5. Remote view is a transfer: denied from Beijing, allowed from Dublin.
    let view = json!({"user_id": "fr-user-0007", "fields": ["profile.phone", "profile.address"],
                      "purpose": "support-ticket"});
    let (status, p) = c
        .post("eu-fr", "/v1/read", Some("eng-beijing"), &view)
        .await;
    assert_eq!(status, 403, "{p}");
    let (status, r) = c
        .post("eu-fr", "/v1/read", Some("support-dublin"), &view)
        .await;
    assert_eq!(status, 200, "{r}");
    assert_eq!(r["entry"]["action"], "read");
    assert_eq!(r["records"][0]["fields"]["phone"], phone(7));
    c.verify("eu-fr", &r["entry"], &r["receipt"]);

    // 7. Who touched my data: the export lists the transfer and the read,
    //    each with a receipt that verifies.
    let me = json!({"user_id": "fr-user-0007"});
    let (status, x) = c
        .post("eu-fr", "/v1/subjects/export", Some("dpo"), &me)
        .await;
    assert_eq!(status, 200, "{x}");
    assert_eq!(x["records"].as_array().unwrap().len(), 5);
    let seen: Vec<u64> = x["accesses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["log_index"].as_u64().unwrap())
        .collect();
    assert!(seen.contains(&t["log_index"].as_u64().unwrap()), "{seen:?}");
    assert!(seen.contains(&r["log_index"].as_u64().unwrap()), "{seen:?}");
    for a in x["accesses"].as_array().unwrap() {
        c.verify("eu-fr", &a["entry"], &a["receipt"]);
    }
    // The transfer named its 40 subjects only by a root; the export proves
    // this subject is among them.
    let transfer = x["accesses"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["log_index"] == t["log_index"])
        .unwrap();
    let p = &transfer["subject_proof"];
    assert_eq!(p["subject"], x["records"][0]["subject"]);
    let root = tlog::Hash::from_hex(transfer["entry"]["subjects_root"].as_str().unwrap()).unwrap();
    let proof: node::region::SubjectProof = serde_json::from_value(p.clone()).unwrap();
    proof.verify(&root).unwrap();
    // Without its salt, the pseudonym alone proves nothing: the public log
    // links to no one.
    let unsalted = node::region::SubjectProof {
        salt: None,
        ..proof.clone()
    };
    assert!(unsalted.verify(&root).is_err());
    // Every access in the export comes with its proof.
    assert!(
        x["accesses"]
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a["subject_proof"].is_object()),
        "{x}"
    );

    // 8. Erasure: logged, and afterwards nothing of the subject is left.
    let (status, e) = c
        .post("eu-fr", "/v1/subjects/erase", Some("dpo"), &me)
        .await;
    assert_eq!((status, e["existed"].as_bool()), (200, Some(true)), "{e}");
    let (status, _) = c
        .post("eu-fr", "/v1/subjects/export", Some("dpo"), &me)
        .await;
    assert_eq!(status, 404);

    // The gateway's refusals, each a problem document.
    let (status, _) = c.post("eu-fr", "/v1/read", None, &view).await;
    assert_eq!(status, 401);
    let (status, p) = c
        .post_raw(
            "eu-fr",
            "/v1/read",
            Some("support-dublin"),
            "application/json",
            "{\"user_id\": 7".into(),
        )
        .await;
    assert_eq!(status, 400, "{p}");
    let (status, p) = c
        .post(
            "eu-fr",
            "/v1/read",
            Some("support-dublin"),
            &json!({"user_id": "+33 6 99", "fields": "x", "purpose": "p"}),
        )
        .await;
    assert_eq!(status, 400);
    assert!(
        !p.to_string().contains("+33 6 99"),
        "no input value is echoed: {p}"
    );
    let (status, _) = c
        .post_raw(
            "eu-fr",
            "/v1/ingest",
            Some("app"),
            "application/json",
            "x".repeat(1_100_000),
        )
        .await;
    assert_eq!(status, 413);
    let (status, p) = c.post("eu-fr", "/v1/transfer", Some("app"), &reco).await;
    assert_eq!(status, 403, "the app may only ingest: {p}");

    // A region down: its subjects' events get 503, the others are stored.
    c.kill("us-tx");
    let mut mixed = events("US", 1);
    mixed.extend(events("DE", 1));
    let (status, p) = c
        .post(
            "eu-fr",
            "/v1/ingest",
            Some("app"),
            &json!({"events": mixed}),
        )
        .await;
    assert_eq!(status, 503, "{p}");
    assert!(p["detail"].as_str().unwrap().contains("us-tx"));
    let (status, _) = c
        .post(
            "eu-no",
            "/v1/subjects/export",
            Some("dpo"),
            &json!({"user_id": "de-user-0000"}),
        )
        .await;
    assert_eq!(status, 200, "eu-no still serves");
    // Restarted, us-tx has lost nothing it acknowledged: its 8 users are
    // all counted (in groups too small to show, which are suppressed).
    // (The DPO, in France, may not export them: that would be a transfer.)
    c.spawn("us-tx").await;
    c.wait_healthy("us-tx").await;
    let (status, a) = c
        .post(
            "us-tx",
            "/v1/aggregate",
            Some("eng-beijing"),
            &json!({"group_by": ["device.language"], "purpose": "analytics"}),
        )
        .await;
    assert_eq!(status, 200, "{a}");
    let counted: u64 = a["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g[1].as_u64().unwrap())
        .sum();
    assert_eq!(counted + a["suppressed_subjects"].as_u64().unwrap(), 8);

    // The served checkpoint carries the witness's cosignature.
    let log_key = c.log_key("eu-fr");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = c
            .http
            .get(format!("{}/log/checkpoint", c.urls["eu-fr"]))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let note = tlog::Note::parse(text.as_bytes()).unwrap();
        let keys = [log_key.clone(), c.witness.clone()];
        let signed = note.verify(&keys).unwrap();
        if signed.len() == 2 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "never cosigned: {text}\n{}\n{}",
            std::fs::read_to_string(c.output("eu-fr"))
                .unwrap_or_default()
                .lines()
                .filter(|l| l.contains("witness"))
                .collect::<Vec<_>>()
                .join("\n"),
            std::fs::read_to_string(c.dir.path().join("witness.out")).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Metrics count what happened.
    let metrics = c
        .http
        .get(format!("{}/metrics", c.urls["eu-fr"]))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("residency_transfers_total{destination=\"US\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains("outcome=\"deny\""));

    // Nothing personal in anything the processes printed.
    for r in REGIONS {
        let out = std::fs::read_to_string(c.output(r)).unwrap();
        assert!(
            out.contains("policy bundle logged"),
            "{r} printed its start: {out}"
        );
        for i in 0..fr {
            for seeded in [
                phone(i),
                address(i),
                format!("fr-user-{i:04}"),
                format!("Livebox-{i:04}"),
            ] {
                assert!(
                    !out.contains(&seeded),
                    "{r} printed personal data: {}",
                    out.lines()
                        .find(|l| l.contains(&seeded))
                        .unwrap_or_default()
                );
            }
        }
    }
}

/// The example policy with `fields` added to its catalog.
fn policy_with(dir: &Path, fields: &str) -> PathBuf {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/policy");
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
    let catalog = std::fs::read_to_string(src.join("catalog.toml")).unwrap() + "\n" + fields;
    std::fs::write(dst.join("catalog.toml"), catalog).unwrap();
    dst
}

/// The example policy plus a field that leaves as a reversible token.
fn policy_with_a_reversible_field(dir: &Path) -> PathBuf {
    policy_with(
        dir,
        "[datasets.account.fields.support_ref]\ncategory = \"identifier\"\nlevel = \"personal\"\n\
         egress.same = { op = \"keep\" }\negress.adequate = { op = \"reversible\", domain = \"support\" }\n\
         egress.other = { op = \"drop\" }\n",
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transfer_filter_selects_subjects_by_public_fields_only() {
    let scratch = tempfile::tempdir().unwrap();
    let policy = policy_with(
        scratch.path(),
        "[datasets.device.fields.app_version]\ncategory = \"device\"\nlevel = \"public\"\n\
         egress.same = { op = \"keep\" }\negress.adequate = { op = \"keep\" }\negress.other = { op = \"keep\" }\n",
    );
    let c = Cluster::with_policy(None, "body_bytes = 1000000", &policy).await;
    let mut events = Vec::new();
    for (i, version) in [Some("4.2"), Some("4.2"), Some("4.1"), None]
        .into_iter()
        .enumerate()
    {
        let user = format!("fr-user-{i:04}");
        let mut device = json!({"language": "fr-FR"});
        if let Some(v) = version {
            device["app_version"] = json!(v);
        }
        for (ds, fields) in [("account", json!({"user_id": user})), ("device", device)] {
            events.push(json!({"user_id": user, "country": "FR", "dataset": ds,
                               "record_id": format!("{user}-{ds}"), "time": 1_764_000_000, "fields": fields}));
        }
    }
    let (status, _) = c
        .post(
            "eu-fr",
            "/v1/ingest",
            Some("app"),
            &json!({"events": events}),
        )
        .await;
    assert_eq!(status, 202);
    let transfer = |extra: Value| {
        let mut body = json!({"fields": ["account.user_id", "device.language"], "purpose": "reco-training",
                              "legal_basis": "adequacy:eu-us-dpf"});
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        body
    };
    let subjects = |t: &Value| t["entry"]["subject_count"].as_u64().unwrap();

    let (status, t) = c
        .post(
            "eu-fr",
            "/v1/transfer",
            Some("svc-reco-us"),
            &transfer(json!({"filter": {"device.app_version": "4.2"}})),
        )
        .await;
    assert_eq!(status, 200, "{t}");
    assert_eq!(subjects(&t), 2, "{t}");
    // A number selects the records holding its canonical JSON form (the
    // same transfer once logged and released nobody).
    let (status, n) = c
        .post(
            "eu-fr",
            "/v1/transfer",
            Some("svc-reco-us"),
            &transfer(json!({"filter": {"device.app_version": 4.2}})),
        )
        .await;
    assert_eq!(status, 200, "{n}");
    assert_eq!(subjects(&n), 2, "{n}");
    assert_eq!(n["records"].as_array().unwrap().len(), 4, "{n}");
    assert_eq!(
        t["records"].as_array().unwrap().len(),
        4,
        "two datasets of two users: {t}"
    );
    c.verify("eu-fr", &t["entry"], &t["receipt"]);

    // Within a list of users, and with conditions on two fields of one record.
    let (status, t) = c
        .post("eu-fr", "/v1/transfer", Some("svc-reco-us"),
              &transfer(json!({"user_ids": ["fr-user-0000", "fr-user-0002", "fr-user-0003"],
                               "filter": {"device.app_version": "4.1", "device.language": "fr-FR"}})))
        .await;
    assert_eq!(status, 400, "language is personal: {t}");
    let (status, t) = c
        .post(
            "eu-fr",
            "/v1/transfer",
            Some("svc-reco-us"),
            &transfer(
                json!({"user_ids": ["fr-user-0000", "fr-user-0002", "fr-user-0003"],
                               "filter": {"device.app_version": "4.1"}}),
            ),
        )
        .await;
    assert_eq!(status, 200, "{t}");
    // Counted as asked (a denial could not tell who exists); released:
    // the one the filter selects.
    assert_eq!(subjects(&t), 3, "{t}");
    let released: std::collections::BTreeSet<&str> = t["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["subject"].as_str().unwrap())
        .collect();
    assert_eq!(released.len(), 1, "{t}");

    // Refusals name what was wrong, and log nothing.
    for (filter, says) in [
        (json!({"device.language": "fr-FR"}), "not public"),
        (json!({"device.nope": "x"}), "not in the catalog"),
        (json!({"nowhere.app_version": "4.2"}), "not in the catalog"),
        (json!({"app_version": "4.2"}), "not dataset.field"),
        // Refused by its shape at the edge, before the catalog is asked.
        (
            json!({"device.jane@example.com": "4.2"}),
            "not dataset.field",
        ),
        (json!({"jane": "4.2"}), "not dataset.field"),
        (
            json!({"device.app_version": ["4.2"]}),
            "string, number or boolean",
        ),
        (json!({}), "at least one"),
    ] {
        let (status, p) = c
            .post(
                "eu-fr",
                "/v1/transfer",
                Some("svc-reco-us"),
                &transfer(json!({"filter": filter})),
            )
            .await;
        assert_eq!(status, 400, "{filter}: {p}");
        let detail = p["detail"].as_str().unwrap();
        assert!(detail.contains(says), "{filter}: {detail}");
        for echoed in ["nope", "nowhere", "jane"] {
            assert!(!detail.contains(echoed), "{filter}: {detail}");
        }
        assert!(p.get("log_index").is_none(), "{p}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reidentification_happens_only_at_home_with_a_justification() {
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
    let token = t["records"][0]["fields"]["support_ref"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(token.starts_with('r') && !token.contains("4711"), "{token}");
    let ask = |justification: &str| json!({"field": "account.support_ref", "token": token, "justification": justification});
    // Without a justification: refused before anything is decided.
    let (status, _) = c
        .post("eu-fr", "/v1/reidentify", Some("dpo"), &ask(" "))
        .await;
    assert_eq!(status, 400);
    // From outside the jurisdiction: denied, and logged.
    let (status, p) = c
        .post(
            "eu-fr",
            "/v1/reidentify",
            Some("eng-beijing"),
            &ask("ticket 4711"),
        )
        .await;
    assert_eq!(status, 403, "{p}");
    assert!(p["log_index"].is_u64());
    // At home, justified: the value, with a receipt of the logged entry.
    let (status, r) = c
        .post("eu-fr", "/v1/reidentify", Some("dpo"), &ask("ticket 4711"))
        .await;
    assert_eq!(status, 200, "{r}");
    assert_eq!(r["value"], "TICKET-4711");
    // Another region's key does not open it.
    let (status, _) = c
        .post("eu-no", "/v1/reidentify", Some("dpo"), &ask("ticket 4711"))
        .await;
    assert_eq!(status, 400);
}

/// Regression (red team): a peer's credential wrote records here with no
/// decision. A forwarded ingest names the principal it is for, and this
/// region decides that principal's ingest under its own policy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_forwards_ingest_only_for_a_principal_this_region_lets_ingest() {
    let c = Cluster::start(None).await;
    let node_token = cluster::node_token("eu-no");
    let forward = |on_behalf_of: Option<&str>, bearer: &str| {
        let mut req = c
            .http
            .post(format!("{}/v1/ingest", c.urls["eu-fr"]))
            .bearer_auth(bearer)
            .json(&json!({"events": events("FR", 1)}));
        if let Some(p) = on_behalf_of {
            req = req.header("residency-on-behalf-of", p);
        }
        async move {
            let r = req.send().await.unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }
    };
    let (status, said) = forward(None, &node_token).await;
    assert_eq!(status, 400, "{said}");
    assert!(said.contains("Residency-On-Behalf-Of"), "{said}");
    for nobody in ["nobody-known", &"x".repeat(4096), "App"] {
        let (status, said) = forward(Some(nobody), &node_token).await;
        assert_eq!(status, 400, "{said}");
        assert!(
            !said.contains("nobody-known") && !said.contains("xxxx"),
            "{said}"
        );
    }
    for not_an_ingester in ["dpo", "support-dublin", "eng-beijing"] {
        let (status, said) = forward(Some(not_an_ingester), &node_token).await;
        assert_eq!(status, 403, "{not_an_ingester}: {said}");
    }
    let (status, said) = forward(Some("app"), &node_token).await;
    assert_eq!(status, 202, "{said}");
    let (status, said) = forward(Some("app"), token("app")).await;
    assert_eq!(status, 400, "a principal acting for another: {said}");
}

#[test]
fn an_invalid_cluster_file_stops_the_start_naming_file_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("cluster.toml");
    std::fs::write(
        &file,
        "policy = \"p\"\n[regions.eu-fr]\nlisten = \"127.0.0.1:1\"\nurl = \"http://x\"\n\
         store = \"mongodb:x\"\nlog = \"l\"\nkeys = \"k\"\ntoken = \"env:T\"\n\
         token_sha256 = \"3ac5905b96ee62a075a0ae1aacfcdc146cf859a94991fafd2871a5a69dd0555d\"\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_residency"))
        .args(["serve", "--region", "eu-fr", "--config"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cluster.toml") && err.contains("regions.eu-fr.store"),
        "{err}"
    );
}

/// Sends `head` (a request line and headers, without the blank line) and
/// `body_part` over a raw connection and returns what the server answers
/// within `wait`, or None.
/// The connection is TLS, trusting the cluster's CA `ca`.
async fn raw_answer(
    url: &str,
    ca: &std::path::Path,
    head: &str,
    body_part: &[u8],
    wait: Duration,
) -> Option<String> {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let addr = url.trim_start_matches("https://");
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let config = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(tls::roots(ca).unwrap())
    .with_no_client_auth();
    let name = rustls_pki_types::ServerName::try_from("127.0.0.1").unwrap();
    let mut s = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config))
        .connect(name, tcp)
        .await
        .unwrap();
    s.write_all(format!("{head}\r\n\r\n").as_bytes())
        .await
        .unwrap();
    // The server may close before taking all of it: that is the point.
    let _ = s.write_all(body_part).await;
    let mut got = Vec::new();
    let read = async {
        let mut buf = [0u8; 4096];
        while let Ok(n) = s.read(&mut buf).await {
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
            if got.windows(4).any(|w| w == b"\r\n\r\n") {
                break;
            }
        }
    };
    tokio::time::timeout(wait, read).await.ok()?;
    Some(String::from_utf8_lossy(&got).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edge_refusals_are_problems_auth_comes_before_the_body_and_429_says_when() {
    let c = Cluster::with_limits(
        None,
        "body_bytes = 1000000\nrequests_per_second = 1\nburst = 5",
    )
    .await;
    let url = &c.urls["eu-fr"];
    let ca = c.dir.path().join(::cluster::TLS_CA);
    let problem = |r: &reqwest::Response| {
        r.headers()
            .get("content-type")
            .is_some_and(|v| v == "application/problem+json")
    };

    // An unauthenticated 10 MB body is refused with 401 before it is read:
    // the answer comes while most of the body is still unsent.
    for auth in ["", "authorization: Bearer not-a-token\r\n"] {
        let head = format!(
            "POST /v1/ingest HTTP/1.1\r\nhost: x\r\n{auth}content-type: application/json\r\ncontent-length: 10485760"
        );
        let answer = raw_answer(url, &ca, &head, &[b' '; 65_536], Duration::from_secs(5))
            .await
            .unwrap_or_else(|| panic!("no answer before the body ({auth:?})"));
        assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
        assert!(answer.contains("application/problem+json"), "{answer}");
    }

    // The auth scheme is case-insensitive (RFC 9110 §11.1).
    for scheme in ["bearer", "BEARER", "Bearer", "beArer"] {
        let r = c
            .http
            .post(format!("{url}/v1/ingest"))
            .header("authorization", format!("{scheme} {}", token("app")))
            .header("content-type", "application/json")
            .body(json!({"events": events("FR", 1)}).to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 202, "{scheme}");
    }

    // 405, 414 and 431 are problem documents like every other error.
    let r = c
        .http
        .get(format!("{url}/v1/ingest"))
        .bearer_auth(token("dpo"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 405);
    assert!(problem(&r) && r.headers().contains_key("allow"), "{r:?}");
    let r = c
        .http
        .post(format!("{url}/log/checkpoint"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 405);
    assert!(problem(&r), "{r:?}");
    let r = c
        .http
        .get(format!("{url}/log/tile/{}", "a".repeat(9_000)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 414);
    assert!(problem(&r), "{r:?}");
    let mut many = c.http.get(format!("{url}/healthz"));
    for i in 0..70 {
        many = many.header(format!("x-filler-{i}"), "1");
    }
    let r = many.send().await.unwrap();
    assert_eq!(r.status(), 431);
    assert!(problem(&r), "{r:?}");
    let r = c
        .http
        .get(format!("{url}/healthz"))
        .header("x-filler", "a".repeat(40_000))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 431);
    assert!(problem(&r), "{r:?}");

    // Past its burst, a caller is told when to come back.
    let mut limited = None;
    for _ in 0..10 {
        let r = c
            .http
            .post(format!("{url}/v1/subjects/export"))
            .bearer_auth(token("dpo"))
            .header("content-type", "application/json")
            .body(json!({"user_id": "fr-user-0000"}).to_string())
            .send()
            .await
            .unwrap();
        if r.status() == 429 {
            limited = Some(r);
            break;
        }
    }
    let r = limited.expect("no 429 past the burst");
    assert!(problem(&r), "{r:?}");
    let after: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&after), "Retry-After: {after}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mixed_region_ingest_is_checked_whole_and_the_answer_says_what_each_home_stored() {
    let mut c = Cluster::start(None).await;
    let edge_store = c.dir.path().join("eu-no/store");
    // eu-no homes DE and forwards FR to eu-fr.
    let mut batch = events("DE", 1);
    batch.extend(events("FR", 1));
    let bad = batch
        .iter()
        .position(|e| e["country"] == "FR" && e["dataset"] == "device")
        .unwrap();
    let mut refused = batch.clone();
    // A well-formed name the catalog does not know (a malformed one is
    // refused by the edge's bounds before the catalog is asked).
    refused[bad]["fields"]["nickname"] = json!("x");
    let (status, p) = c
        .post(
            "eu-no",
            "/v1/ingest",
            Some("app"),
            &json!({"events": refused}),
        )
        .await;
    assert_eq!(status, 400, "{p}");
    let detail = p["detail"].as_str().unwrap();
    assert!(detail.contains(&format!("event {bad}:")), "{p}");
    assert!(!detail.contains("nickname"), "{p}");
    assert!(
        !scan(&edge_store, b"de-user-0000-profile"),
        "the local part of a refused batch was stored"
    );

    // A home that cannot take its part: the others are stored, and the
    // answer says which part is where.
    c.stop("eu-fr");
    let (status, p) = c
        .post(
            "eu-no",
            "/v1/ingest",
            Some("app"),
            &json!({"events": batch}),
        )
        .await;
    assert_eq!(status, 503, "{p}");
    assert_eq!(p["ingest"]["accepted"], 5, "{p}");
    assert_eq!(p["ingest"]["regions"], json!({"eu-no": 5}), "{p}");
    let part = &p["ingest"]["not_stored"]["eu-fr"];
    assert_eq!(
        (part["events"].as_u64(), part["outcome"].as_str()),
        (Some(5), Some("unavailable")),
        "{p}"
    );
    assert!(
        p["detail"].as_str().unwrap().contains("eu-no stored 5"),
        "{p}"
    );
    assert!(
        scan(&edge_store, b"de-user-0000-profile"),
        "the local part is stored"
    );

    // Resending the whole batch once the home is back is safe.
    c.spawn("eu-fr").await;
    c.wait_healthy("eu-fr").await;
    let (status, body) = c
        .post(
            "eu-no",
            "/v1/ingest",
            Some("app"),
            &json!({"events": batch}),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["regions"], json!({"eu-fr": 5, "eu-no": 5}), "{body}");
    assert!(body.get("not_stored").is_none(), "{body}");
}
