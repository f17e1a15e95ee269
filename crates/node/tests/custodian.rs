//! A region whose records are sealed for a key custodian, with the
//! custodian serving on a real socket: ingest needs nothing from it; a
//! logged read asks it once and releases; with the custodian down, a read
//! is a 503-kind error naming it and nothing is decrypted, while ingest
//! carries on; a copy of the region's directory opens nothing.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::sync::atomic::Ordering::SeqCst;
use std::time::Duration;

use custodian::keys::KeyFile;
use node::region::{IncomingEvent, ReadRequest};
use node::{ClusterConfig, Region};
use policy::Bundle;
use store::SqliteBackend;
use store::keys::FileKeyProvider;

const APP_TOKEN: &str = "app-token-0123456789abcdef";
const CUSTODIAN_TOKEN: &str = "custodian-token-0123456789abcdef";

fn policy_dir(dir: &Path) -> std::path::PathBuf {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/policy");
    let policy = dir.join("policy");
    std::fs::create_dir_all(policy.join("policies")).unwrap();
    for f in ["catalog.toml", "regions.toml"] {
        std::fs::copy(example.join(f), policy.join(f)).unwrap();
    }
    for e in std::fs::read_dir(example.join("policies")).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), policy.join("policies").join(e.file_name())).unwrap();
    }
    let file = dir.join("app.token");
    std::fs::write(&file, APP_TOKEN).unwrap();
    let principals = std::fs::read_to_string(example.join("principals.toml"))
        .unwrap()
        .replace(
            "env:RESIDENCY_TOKEN_APP",
            &format!("file:{}", file.display()),
        );
    std::fs::write(policy.join("principals.toml"), principals).unwrap();
    policy
}

struct Setup {
    region: Arc<Region<SqliteBackend>>,
    custodian: tokio::task::JoinHandle<()>,
    custodian_port: u16,
    /// The most requests the custodian held at once.
    custodian_busiest: Arc<AtomicUsize>,
}

/// Region `eu-fr` sealing for a custodian that serves on `port`.
async fn setup(dir: &Path) -> Setup {
    setup_far(dir, Duration::ZERO).await
}

/// [`setup`] with a custodian that answers each request `delay` late, as
/// one on another host would.
async fn setup_far(dir: &Path, delay: Duration) -> Setup {
    let log_dir = dir.join("eu-fr/log");
    let signer = tlog::keyfile::create(&log_dir, "residency.example/eu-fr")
        .await
        .unwrap();
    // The custodian: its own keys and state.
    let cdir = dir.join("custodian");
    std::fs::create_dir_all(&cdir).unwrap();
    let keys = Arc::new(
        KeyFile::create(
            &cdir.join("custodian.key"),
            "custodian.example",
            custody::Suite::XWing,
        )
        .unwrap(),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let token_sha = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(
        CUSTODIAN_TOKEN.as_bytes(),
    ));
    let cfg = custodian::CustodianConfig::parse(
        &format!(
            "state = \"state\"\nlisten = \"127.0.0.1:{port}\"\n[[logs]]\nregion = \"eu-fr\"\nkey = \"{}\"\ntoken_sha256 = \"{token_sha}\"\n",
            signer.verifier().to_vkey()
        ),
        &cdir,
    )
    .unwrap();
    let gate = custodian::Gate::open(cfg, keys.clone(), keys.cosigner().clone()).unwrap();
    let custodian_busiest = Arc::new(AtomicUsize::new(0));
    let (now, busiest) = (Arc::new(AtomicUsize::new(0)), custodian_busiest.clone());
    let custodian = tokio::spawn(async move {
        let far = axum::middleware::from_fn(move |req, next: axum::middleware::Next| {
            let (now, busiest) = (now.clone(), busiest.clone());
            async move {
                let n = now.fetch_add(1, SeqCst) + 1;
                busiest.fetch_max(n, SeqCst);
                tokio::time::sleep(delay).await;
                let answer = next.run(req).await;
                now.fetch_sub(1, SeqCst);
                answer
            }
        });
        axum::serve(listener, custodian::http::router(gate).layer(far))
            .await
            .unwrap();
    });
    // The region, sealing for it.
    let node_token = dir.join("node.token");
    std::fs::write(&node_token, "node-token-0123456789abcdef").unwrap();
    let ctoken = dir.join("custodian.token");
    std::fs::write(&ctoken, CUSTODIAN_TOKEN).unwrap();
    let policy = policy_dir(dir);
    let mut file = format!("policy = {:?}\n", policy.display().to_string());
    for (i, r) in ["eu-fr", "eu-no", "us-tx"].into_iter().enumerate() {
        file.push_str(&format!(
            "[regions.{r}]\nlisten = \"127.0.0.1:{}\"\nurl = \"http://127.0.0.1:{}\"\n\
             store = \"sqlite:{r}/store\"\nlog = \"{r}/log\"\nkeys = \"{r}/region.keys\"\n\
             token = \"file:{}\"\ntoken_sha256 = \"3ac5905b96ee62a075a0ae1aacfcdc146cf859a94991fafd2871a5a69dd0555d\"\n",
            9 + i,
            9 + i,
            node_token.display()
        ));
        if r == "eu-fr" {
            file.push_str(&format!(
                "custodian = {{ url = \"http://127.0.0.1:{port}\", key = \"{}\", token = \"file:{}\" }}\n",
                keys.current().to_text(),
                ctoken.display()
            ));
        }
    }
    let path = dir.join("cluster.toml");
    std::fs::write(&path, &file).unwrap();
    let cluster = ClusterConfig::load(&path).unwrap();
    let me = &cluster.regions["eu-fr"];
    let store = match &me.store {
        node::config::StoreLocation::Sqlite(d) => SqliteBackend::open(d).unwrap(),
        other => panic!("{other:?}"),
    };
    let region_keys = Arc::new(FileKeyProvider::create(&me.keys).unwrap());
    let bundle = Bundle::load(&policy).unwrap();
    let region = Arc::new(
        Region::start(
            &cluster,
            "eu-fr",
            bundle,
            store,
            region_keys,
            node::Start::default(),
        )
        .await
        .unwrap(),
    );
    Setup {
        region,
        custodian,
        custodian_port: port,
        custodian_busiest,
    }
}

fn event(user: &str, dataset: &str, fields: &[(&str, &str)]) -> IncomingEvent {
    IncomingEvent {
        user_id: user.into(),
        country: "FR".into(),
        dataset: dataset.into(),
        record_id: format!("{user}-{dataset}"),
        time: 1_764_000_000,
        fields: fields
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
    }
}

fn read_phone(user: &str) -> ReadRequest {
    ReadRequest {
        user_id: user.into(),
        fields: vec!["profile.phone".parse().unwrap()],
        purpose: "support-ticket".into(),
        legal_basis: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_region_under_a_custodian_releases_only_through_it() {
    let dir = tempfile::tempdir().unwrap();
    let s = setup(dir.path()).await;
    let app = node::auth::Caller::Principal("app".into());
    let phone = "+33 6 12 34 56 78";
    let out = s
        .region
        .ingest(
            &app,
            None,
            vec![event("jeanne", "profile", &[("phone", phone)])],
        )
        .await
        .unwrap();
    assert_eq!(out.accepted, 1);
    // A second batch for the same person: new records, no unwrap needed.
    let out = s
        .region
        .ingest(
            &app,
            None,
            vec![event("jeanne", "device", &[("language", "fr")])],
        )
        .await
        .unwrap();
    assert_eq!(out.accepted, 1);

    let release = s
        .region
        .read("support-dublin", read_phone("jeanne"))
        .await
        .unwrap();
    assert_eq!(release.records.len(), 1);
    assert_eq!(release.records[0].fields["phone"], phone);
    // Again: the custodian already holds the bundle and the checkpoint.
    let again = s
        .region
        .read("support-dublin", read_phone("jeanne"))
        .await
        .unwrap();
    assert_eq!(again.records[0].fields["phone"], phone);

    // Marie, ingested while the custodian is up.
    let marie = node::region::SubjectRequest {
        user_id: "marie".into(),
    };
    s.region
        .ingest(
            &app,
            None,
            vec![event("marie", "profile", &[("phone", "+33 7 00 00 00 00")])],
        )
        .await
        .unwrap();
    // An erasure: the custodian records it before it is acknowledged.
    let erased = s
        .region
        .erase(
            "dpo",
            node::region::SubjectRequest {
                user_id: "jeanne".into(),
            },
        )
        .await
        .unwrap();
    assert!(erased.existed);

    // The custodian down: a read is refused as unavailable, naming it,
    // and nothing is decrypted; ingest carries on; an erasure is logged
    // but not acknowledged until the custodian can record it.
    s.custodian.abort();
    let _ = s.custodian.await;
    match s.region.read("support-dublin", read_phone("marie")).await {
        Err(node::Error::Custodian {
            refused: false,
            why,
        }) => {
            assert!(!why.contains("+33"), "{why}");
        }
        other => panic!("{:?}", other.map(|r| r.records.len())),
    }
    let out = s
        .region
        .ingest(
            &app,
            None,
            vec![event("paul", "profile", &[("phone", "+33 7 11 11 11 11")])],
        )
        .await
        .unwrap();
    assert_eq!(out.accepted, 1);
    assert!(matches!(
        s.region.erase("dpo", marie).await,
        Err(node::Error::Custodian { refused: false, .. })
    ));
}

/// Regression: concurrent releases each showed the custodian the newest
/// checkpoint; each new one cost it a signature check, a durable write and
/// the tail of entries up to it, and one overtaken by another was refused
/// as stale and sent again — the custodian path saturated at 700
/// releases/s. One request at a time shows a new checkpoint; the others
/// wait for it and go out under it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_releases_show_the_custodian_one_new_checkpoint_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let s = setup_far(dir.path(), Duration::from_millis(20)).await;
    let app = node::auth::Caller::Principal("app".into());
    let people: u8 = 48;
    let events = (0..people)
        .map(|i| {
            event(
                &format!("p{i}"),
                "profile",
                &[("phone", &format!("+33 6 00 00 00 {i:02}"))],
            )
        })
        .collect();
    s.region.ingest(&app, None, events).await.unwrap();
    let reads = (0..people).map(|i| {
        let region = s.region.clone();
        tokio::spawn(async move {
            // Staggered, so that they are logged in many commits and
            // reach the custodian while others are on their way.
            tokio::time::sleep(Duration::from_millis(1) * u32::from(i)).await;
            region
                .read("support-dublin", read_phone(&format!("p{i}")))
                .await
        })
    });
    for (i, read) in futures::future::join_all(reads)
        .await
        .into_iter()
        .enumerate()
    {
        let release = read.unwrap().unwrap();
        assert_eq!(
            release.records[0].fields["phone"],
            format!("+33 6 00 00 00 {i:02}")
        );
    }
    let metrics = reqwest::Client::new()
        .get(format!("http://127.0.0.1:{}/metrics", s.custodian_port))
        .bearer_auth(CUSTODIAN_TOKEN)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let refused: Vec<&str> = metrics
        .lines()
        .filter(|l| l.contains("stale_checkpoint") && !l.starts_with('#') && !l.ends_with(" 0"))
        .collect();
    assert!(refused.is_empty(), "{refused:?}");
    // The checkpoints it was shown: far fewer than the releases.
    let witness =
        rusqlite::Connection::open(dir.path().join("custodian/state/witness.db")).unwrap();
    let shown: i64 = witness
        .query_row("SELECT count(*) FROM seen", [], |r| r.get(0))
        .unwrap();
    assert!(
        shown <= i64::from(people / 4),
        "{shown} checkpoints for {people} releases"
    );
}

/// Behind a custodian that answers late (here 3 s), releases waiting for
/// another's new checkpoint stop waiting after a bound and ask on their
/// own: they do not wait out each other's answers in turn.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn releases_behind_a_slow_custodian_do_not_wait_for_each_other_in_turn() {
    let dir = tempfile::tempdir().unwrap();
    let s = setup_far(dir.path(), Duration::from_secs(3)).await;
    let app = node::auth::Caller::Principal("app".into());
    let events = (0..3)
        .map(|i| {
            event(
                &format!("p{i}"),
                "profile",
                &[("phone", "+33 6 00 00 00 00")],
            )
        })
        .collect();
    s.region.ingest(&app, None, events).await.unwrap();
    let reads = (0..3).map(|i| {
        let region = s.region.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(50) * i).await;
            region
                .read("support-dublin", read_phone(&format!("p{i}")))
                .await
        })
    });
    for read in futures::future::join_all(reads).await {
        assert_eq!(read.unwrap().unwrap().records.len(), 1);
    }
    assert_eq!(s.custodian_busiest.load(SeqCst), 3, "all three at once");
}

/// A bulk release does not make the others wait for its answer (which
/// takes long): it shows the custodian its checkpoint on its own, and a
/// one-subject read logged meanwhile goes out beside it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bulk_release_does_not_hold_up_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let s = setup_far(dir.path(), Duration::from_millis(300)).await;
    let app = node::auth::Caller::Principal("app".into());
    let people: Vec<String> = (0..20).map(|i| format!("p{i}")).collect();
    let events = people
        .iter()
        .flat_map(|p| {
            [
                event(p, "profile", &[("phone", "+33 6 00 00 00 00")]),
                event(p, "device", &[("language", "fr-FR")]),
            ]
        })
        .collect();
    s.region.ingest(&app, None, events).await.unwrap();
    // The custodian holds the bundle and a checkpoint first.
    s.region
        .read("support-dublin", read_phone("p0"))
        .await
        .unwrap();
    let bulk = {
        let region = s.region.clone();
        let req = node::region::TransferRequest {
            user_ids: Some(people.clone()),
            filter: None,
            fields: vec!["device.language".parse().unwrap()],
            purpose: "reco-training".into(),
            destination: None,
            legal_basis: Some("adequacy:eu-us-dpf".into()),
        };
        tokio::spawn(async move { region.transfer("svc-reco-us", req).await })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    let one = s
        .region
        .read("support-dublin", read_phone("p1"))
        .await
        .unwrap();
    assert_eq!(one.records.len(), 1);
    assert_eq!(bulk.await.unwrap().unwrap().records.len(), people.len());
    assert_eq!(s.custodian_busiest.load(SeqCst), 2, "both at once");
}
