//! Notifications to the app (issue 20): an access from outside a person's
//! country that touches them is notified to the app's webhook — once per
//! access and person (at least once, under a stable id), signed, retried
//! with back-off while the app is down, kept across a crash of the node —
//! and nothing personal but the app's own user id is in it.

mod cluster;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use base64::Engine as _;
use serde_json::{Value, json};

use cluster::{Cluster, events, phone};

const WHO: &str = "fr-user-0001";
const OTHER: &str = "fr-user-0002";
/// 32 bytes, base64: a Standard Webhooks secret.
const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw6bPq4Knw2eY=";

/// What the app's receiver got: each delivery's headers and body.
#[derive(Default)]
struct Received {
    deliveries: Vec<(HeaderMap, Bytes)>,
    /// Deliveries to refuse (503) before accepting.
    refuse: usize,
}

type Inbox = Arc<Mutex<Received>>;

/// The app's webhook receiver on `addr`.
async fn receiver(addr: SocketAddr, inbox: Inbox) -> tokio::task::JoinHandle<()> {
    let app = axum::Router::new().route(
        "/hooks",
        axum::routing::post(move |headers: HeaderMap, body: Bytes| {
            let inbox = inbox.clone();
            async move {
                let mut r = inbox.lock().unwrap();
                r.deliveries.push((headers, body));
                if r.refuse > 0 {
                    r.refuse -= 1;
                    StatusCode::SERVICE_UNAVAILABLE
                } else {
                    StatusCode::NO_CONTENT
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() })
}

/// The key of [`SECRET`].
fn key() -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(SECRET.trim_start_matches("whsec_"))
        .unwrap()
}

/// Every notification received, checked: each delivery's signature
/// verifies, and the body parses. By id, with how often it came.
fn notifications(inbox: &Inbox) -> BTreeMap<String, (Value, usize)> {
    let r = inbox.lock().unwrap();
    let mut out: BTreeMap<String, (Value, usize)> = BTreeMap::new();
    for (headers, body) in &r.deliveries {
        let h = |name: &str| headers.get(name).unwrap().to_str().unwrap().to_owned();
        let (id, timestamp) = (h("webhook-id"), h("webhook-timestamp"));
        let expected =
            node::region::webhook_signature(&key(), &id, timestamp.parse().unwrap(), body);
        assert_eq!(h("webhook-signature"), expected, "signed with the secret");
        let wrong = node::region::webhook_signature(b"another secret of 24 byte", &id, 0, body);
        assert_ne!(h("webhook-signature"), wrong);
        let batch: Value = serde_json::from_slice(body).unwrap();
        for n in batch["notifications"].as_array().unwrap() {
            let id = n["id"].as_str().unwrap().to_owned();
            let seen = out.entry(id).or_insert((n.clone(), 0));
            assert_eq!(&seen.0, n, "a redelivery is the same notification");
            seen.1 += 1;
        }
    }
    out
}

async fn wait_until(what: &str, secs: u64, mut done: impl FnMut() -> bool) {
    for _ in 0..secs * 10 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting for {what}");
}

fn logged(status: u16, r: &Value) -> u64 {
    r["log_index"]
        .as_u64()
        .unwrap_or_else(|| panic!("not logged: {status} {r}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accesses_from_abroad_are_notified_signed_once_each_and_survive_a_crash() {
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let notify = format!(
        "{{ url = \"http://{addr}/hooks\", secret = \"env:RESIDENCY_EU_FR_WEBHOOK_SECRET\", datasets = [\"profile\"], allow_http = true }}"
    );
    let mut c = Cluster::with_notify(
        "eu-fr",
        &notify,
        &[("RESIDENCY_EU_FR_WEBHOOK_SECRET", SECRET)],
    )
    .await;
    let (status, r) = c
        .post(
            "eu-fr",
            "/v1/ingest",
            Some("app"),
            &json!({"events": events("FR", 4)}),
        )
        .await;
    assert_eq!(status, 202, "{r}");

    // The app is down. Notified: a view from Dublin, a refused attempt
    // from Beijing, a transfer of both people's (tokenised) phones to the
    // US.
    // Not notified: the French DPO's export (from within), a transfer of
    // a dataset the app did not opt in to (device).
    let read = |who: &str| json!({"user_id": who, "fields": ["profile.phone"], "purpose": "support-ticket"});
    let (status, r) = c
        .post("eu-fr", "/v1/read", Some("support-dublin"), &read(WHO))
        .await;
    let dublin = logged(status, &r);
    let (status, r) = c
        .post("eu-fr", "/v1/read", Some("eng-beijing"), &read(WHO))
        .await;
    assert_eq!(status, 403, "{r}");
    let beijing = logged(status, &r);
    let to_us = |fields: Value| {
        json!({"user_ids": [WHO, OTHER], "fields": fields,
        "purpose": "reco-training", "destination": "US", "legal_basis": "adequacy:eu-us-dpf"})
    };
    let (status, r) = c
        .post(
            "eu-fr",
            "/v1/transfer",
            Some("svc-reco-us"),
            &to_us(json!(["profile.phone"])),
        )
        .await;
    assert_eq!(status, 200, "{r}");
    let phones_to_us = logged(status, &r);
    let (status, r) = c
        .post(
            "eu-fr",
            "/v1/transfer",
            Some("svc-reco-us"),
            &to_us(json!(["device.language"])),
        )
        .await;
    let languages_to_us = logged(status, &r);
    let (status, r) = c
        .post(
            "eu-fr",
            "/v1/subjects/export",
            Some("dpo"),
            &json!({"user_id": WHO}),
        )
        .await;
    let export = logged(status, &r);

    // Deliveries fail while the app is down (and are counted)...
    let metrics = || async {
        c.http
            .get(format!("{}/metrics", c.urls["eu-fr"]))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    };
    let mut failed = false;
    for _ in 0..100 {
        let m = metrics().await;
        if m.lines()
            .any(|l| l.starts_with("residency_notify_failures_total ") && !l.ends_with(" 0"))
        {
            failed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(failed, "no failed delivery counted while the app was down");

    // ...and nothing is lost when the node crashes meanwhile.
    c.kill("eu-fr");
    c.spawn("eu-fr").await;

    // The app comes up, refuses the first delivery, then takes them.
    let inbox: Inbox = Arc::new(Mutex::new(Received {
        refuse: 1,
        ..Received::default()
    }));
    let _server = receiver(addr, inbox.clone()).await;
    let expected = [
        (dublin, WHO),
        (beijing, WHO),
        (phones_to_us, WHO),
        (phones_to_us, OTHER),
    ];
    wait_until("every notification", 90, || {
        notifications(&inbox).len() >= expected.len()
    })
    .await;
    // A little longer, to see that nothing else comes.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let got = notifications(&inbox);
    let mut seen: Vec<(u64, String)> = got
        .values()
        .map(|(n, _)| {
            (
                n["log_index"].as_u64().unwrap(),
                n["user_id"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    seen.sort();
    let mut want: Vec<(u64, String)> = expected.iter().map(|(i, u)| (*i, u.to_string())).collect();
    want.sort();
    assert_eq!(seen, want, "exactly the accesses from abroad, per person");
    assert!(
        !seen
            .iter()
            .any(|(i, _)| *i == languages_to_us || *i == export)
    );
    // The refused delivery came again, with the same ids.
    assert!(got.values().all(|(_, n)| *n >= 1));
    assert!(
        inbox.lock().unwrap().deliveries.len() >= 2,
        "the refused batch was retried"
    );

    // What each says, and nothing personal.
    let by_index = |i: u64| {
        got.values()
            .find(|(n, _)| n["log_index"] == i)
            .map(|(n, _)| n.clone())
            .unwrap()
    };
    let d = by_index(dublin);
    assert_eq!(d["principal"], "support-dublin");
    assert_eq!(d["from"], "IE");
    assert_eq!(d["decision"], "allow");
    assert_eq!(d["purpose"], "support-ticket");
    assert_eq!(d["fields"], json!(["profile.phone"]));
    assert_eq!(d["region"], "eu-fr");
    let b = by_index(beijing);
    assert_eq!(
        (b["from"].as_str(), b["decision"].as_str()),
        (Some("CN"), Some("deny"))
    );
    let all = format!("{:?}", inbox.lock().unwrap().deliveries);
    for i in 0..4 {
        assert!(!all.contains(&phone(i)), "a phone number was notified");
    }
    assert!(!all.contains("+33") && !all.contains("Livebox"), "{all}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_notify_secret_that_is_not_a_webhook_secret_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let policy = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/policy");
    let mut setup = ::cluster::Setup::new(env!("CARGO_BIN_EXE_residency"), dir.path(), &policy);
    setup.credentials = cluster::credentials();
    setup.credentials.push((
        "RESIDENCY_EU_FR_WEBHOOK_SECRET".into(),
        "hunter2-not-a-secret".into(),
    ));
    setup.notify.insert(
        "eu-fr",
        "{ url = \"https://127.0.0.1:9/hooks\", secret = \"env:RESIDENCY_EU_FR_WEBHOOK_SECRET\", datasets = [\"profile\"] }".into(),
    );
    match ::cluster::Cluster::start(setup).await {
        Err(::cluster::Error::Stopped { name, output, .. }) => {
            assert_eq!(name, "eu-fr");
            let said = std::fs::read_to_string(output).unwrap();
            assert!(
                said.contains("notify.secret") && said.contains("whsec_"),
                "{said}"
            );
            assert!(
                !said.contains("hunter2"),
                "the secret is not echoed: {said}"
            );
        }
        Ok(_) => panic!("started with a bad secret"),
        Err(e) => panic!("{e}"),
    }
}
