//! A region and its router in this process — a request in, an answer out,
//! no spawned process — over a real SQLite store and a real log on disk.
//! The multi-process scenarios are the `residency` crate's tests; these
//! test a handler's change in milliseconds.

use std::path::Path;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use node::region::{IncomingEvent, ReadRequest, TransferRequest};
use node::{ClusterConfig, Region};
use policy::Bundle;
use store::SqliteBackend;
use store::keys::FileKeyProvider;
use tower::ServiceExt as _;

const APP_TOKEN: &str = "app-token-0123456789abcdef";
const BEIJING_TOKEN: &str = "beijing-token-0123456789abcdef";

/// A copy of the example policy in `dir`, its principals signing in with
/// tokens from files.
fn policy_dir(dir: &Path) -> std::path::PathBuf {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/policy");
    let policy = dir.join("policy");
    std::fs::create_dir_all(policy.join("policies")).unwrap();
    for f in ["catalog.toml", "regions.toml", "law.toml"] {
        if example.join(f).exists() {
            std::fs::copy(example.join(f), policy.join(f)).unwrap();
        }
    }
    for e in std::fs::read_dir(example.join("policies")).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), policy.join("policies").join(e.file_name())).unwrap();
    }
    let mut principals = std::fs::read_to_string(example.join("principals.toml")).unwrap();
    for (var, token) in [
        ("RESIDENCY_TOKEN_APP", APP_TOKEN),
        ("RESIDENCY_TOKEN_ENG_BEIJING", BEIJING_TOKEN),
    ] {
        let file = dir.join(var);
        std::fs::write(&file, token).unwrap();
        principals = principals.replace(&format!("env:{var}"), &format!("file:{}", file.display()));
    }
    std::fs::write(policy.join("principals.toml"), principals).unwrap();
    policy
}

/// Region `eu-fr` of a three-region cluster, started in `dir`.
async fn region(dir: &Path) -> Arc<Region<SqliteBackend>> {
    let token = dir.join("node.token");
    std::fs::write(&token, "node-token-0123456789abcdef").unwrap();
    let policy = policy_dir(dir);
    let mut file = format!("policy = {:?}\n", policy.display().to_string());
    for (i, r) in ["eu-fr", "eu-no", "us-tx"].into_iter().enumerate() {
        file.push_str(&format!(
            "[regions.{r}]\nlisten = \"127.0.0.1:{}\"\nurl = \"http://127.0.0.1:{}\"\n\
             store = \"sqlite:{r}/store\"\nlog = \"{r}/log\"\nkeys = \"{r}/region.keys\"\n\
             token = \"file:{}\"\ntoken_sha256 = \"3ac5905b96ee62a075a0ae1aacfcdc146cf859a94991fafd2871a5a69dd0555d\"\n",
            9 + i,
            9 + i,
            token.display()
        ));
    }
    let path = dir.join("cluster.toml");
    std::fs::write(&path, &file).unwrap();
    let cluster = ClusterConfig::load(&path).unwrap();
    let me = &cluster.regions["eu-fr"];
    let store = match &me.store {
        node::config::StoreLocation::Sqlite(d) => SqliteBackend::open(d).unwrap(),
        other => panic!("{other:?}"),
    };
    std::fs::create_dir_all(me.keys.parent().unwrap()).unwrap();
    let keys = Arc::new(FileKeyProvider::create(&me.keys).unwrap());
    let bundle = Bundle::load(&policy).unwrap();
    Arc::new(
        Region::start(
            &cluster,
            "eu-fr",
            bundle,
            store,
            keys,
            node::Start {
                init: true,
                standby: false,
            },
        )
        .await
        .unwrap(),
    )
}

fn event(user: &str, country: &str, dataset: &str, fields: &[(&str, &str)]) -> IncomingEvent {
    IncomingEvent {
        user_id: user.into(),
        country: country.into(),
        dataset: dataset.into(),
        record_id: format!("{user}-{dataset}"),
        time: 1_764_000_000,
        fields: fields
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
    }
}

async fn ingest_jeanne(r: &Region<SqliteBackend>) {
    let events = vec![
        event("jeanne", "FR", "device", &[("language", "fr")]),
        event(
            "jeanne",
            "FR",
            "profile",
            &[
                ("phone", "+33 6 12 34 56 78"),
                ("address", "1 rue de Rivoli"),
            ],
        ),
    ];
    let caller = node::auth::Caller::Principal("app".into());
    let out = r.ingest(&caller, None, events).await.unwrap();
    assert_eq!(out.accepted, 2);
}

#[tokio::test]
async fn a_read_in_region_is_logged_before_it_is_released() {
    let dir = tempfile::tempdir().unwrap();
    let r = region(dir.path()).await;
    ingest_jeanne(&r).await;
    let before = r.cosigned_checkpoint().checkpoint.size;
    let release = r
        .read(
            "support-dublin",
            ReadRequest {
                user_id: "jeanne".into(),
                fields: vec!["profile.phone".parse().unwrap()],
                purpose: "support-ticket".into(),
                legal_basis: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(release.log_index, before, "the release's own entry is next");
    assert_eq!(release.records.len(), 1);
    assert!(release.records[0].fields.contains_key("phone"));
    let entry: serde_json::Value = serde_json::from_str(release.entry.get()).unwrap();
    assert_eq!(entry["decision"], "allow");
    assert!(entry["payload_digest"].is_string());
}

/// The issue 16 regression, in process: a principal in Beijing declaring
/// a French destination gets nothing, and the denial is logged.
#[tokio::test]
async fn a_declared_destination_does_not_move_beijing_to_france() {
    let dir = tempfile::tempdir().unwrap();
    let r = region(dir.path()).await;
    ingest_jeanne(&r).await;
    let err = r
        .transfer(
            "eng-beijing",
            TransferRequest {
                user_ids: Some(vec!["jeanne".into()]),
                filter: None,
                fields: vec!["profile.phone".parse().unwrap()],
                purpose: "debugging".into(),
                destination: Some("FR".into()),
                legal_basis: None,
            },
        )
        .await
        .unwrap_err();
    match err {
        node::Error::Denied { log_index, .. } => assert!(log_index.is_some()),
        other => panic!("{other:?}"),
    }
}

async fn call(
    app: axum::Router,
    method: &str,
    uri: &str,
    token: Option<&str>,
    body: &str,
) -> (StatusCode, serde_json::Value) {
    let mut req = Request::builder()
        .method(method)
        .uri(uri)
        .header(header::CONTENT_TYPE, "application/json");
    if let Some(t) = token {
        req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
    }
    let resp = app
        .oneshot(req.body(Body::from(body.to_owned())).unwrap())
        .await
        .unwrap();
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20)
        .await
        .unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
    )
}

#[tokio::test]
async fn the_router_authenticates_then_parses_then_decides() {
    let dir = tempfile::tempdir().unwrap();
    let r = region(dir.path()).await;
    ingest_jeanne(&r).await;
    let cluster = ClusterConfig::load(&dir.path().join("cluster.toml")).unwrap();
    let app = node::http::router(r.clone(), &cluster.limits);

    let (status, _) = call(app.clone(), "GET", "/healthz", None, "").await;
    assert_eq!(status, StatusCode::OK);

    let read = r#"{"user_id":"jeanne","fields":["device.language"],"purpose":"support-ticket"}"#;
    let (status, p) = call(app.clone(), "POST", "/v1/read", None, read).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{p}");

    // A field reference is parsed at the edge: the place is named, the
    // text refused is not.
    let bad = r#"{"user_id":"jeanne","fields":["device.language","jeanne@example.com"],"purpose":"support-ticket"}"#;
    let (status, p) = call(app.clone(), "POST", "/v1/read", Some(APP_TOKEN), bad).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{p}");
    let detail = p["detail"].as_str().unwrap();
    assert!(
        detail.starts_with("fields[1]: not dataset.field"),
        "{detail}"
    );
    assert!(!detail.contains("example.com"), "{detail}");

    // A filter's field names are the caller's: refused without naming them.
    let bad = r#"{"filter":{"jeanne@example.com":"x"},"fields":["device.language"],"purpose":"support-ticket"}"#;
    let (status, p) = call(app.clone(), "POST", "/v1/transfer", Some(APP_TOKEN), bad).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{p}");
    let detail = p["detail"].as_str().unwrap();
    assert!(detail.contains("not dataset.field"), "{detail}");
    assert!(!detail.contains("jeanne"), "{detail}");

    // Beijing, declaring France, is refused with the index of its logged
    // denial.
    let transfer = r#"{"user_ids":["jeanne"],"fields":["profile.phone"],"purpose":"debugging","destination":"FR"}"#;
    let (status, p) = call(
        app.clone(),
        "POST",
        "/v1/transfer",
        Some(BEIJING_TOKEN),
        transfer,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{p}");
    assert!(!p.to_string().contains("+33"), "{p}");
}

/// A subject's export lists every access with a membership proof against
/// its entry; after the erasure, nothing of the subject is found.
#[tokio::test]
async fn an_export_proves_each_access_and_an_erasure_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let r = region(dir.path()).await;
    ingest_jeanne(&r).await;
    let read = r
        .read(
            "support-dublin",
            ReadRequest {
                user_id: "jeanne".into(),
                fields: vec!["profile.phone".parse().unwrap()],
                purpose: "support-ticket".into(),
                legal_basis: None,
            },
        )
        .await
        .unwrap();
    let me = || node::region::SubjectRequest {
        user_id: "jeanne".into(),
    };
    let export = r.export("dpo", me()).await.unwrap();
    assert_eq!(export.records.len(), 2, "both records, decrypted");
    let access = export
        .accesses
        .iter()
        .find(|a| a.log_index == read.log_index)
        .expect("the read is listed");
    let root = access.entry["subjects_root"].as_str().unwrap();
    let proof = access.subject_proof.as_ref().unwrap();
    proof.verify(&tlog::Hash::from_hex(root).unwrap()).unwrap();

    let erased = r.erase("dpo", me()).await.unwrap();
    assert!(erased.existed);
    match r.export("dpo", me()).await {
        Err(node::Error::NotFound(_)) => {}
        other => panic!("{other:?}"),
    }
}
