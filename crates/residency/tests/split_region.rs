//! A region as a deployment runs it: eu-fr as three gateways in front of
//! an active and a standby sequencer, its store on PostgreSQL, its log in
//! an S3-compatible bucket (moto on loopback), a witness and a monitor
//! watching — every one a real process. Requests go round-robin over the
//! gateways while sequencers and a gateway are killed with SIGKILL.
#![cfg(feature = "s3")]

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

mod cluster;
mod moto;
mod pg;

use cluster::{Cluster, events, token};
use moto::{S3_ENV, moto, public_bucket};

const SPLIT: ::cluster::Split = ::cluster::Split {
    gateways: 3,
    sequencers: 2,
};

/// POSTs to the gateways in turn, moving on to the next when one does not
/// answer or answers 503, for a minute at most: what a client behind a
/// load balancer sees. The status and answer of the first other answer.
async fn post_any(
    http: &reqwest::Client,
    gateways: &[String],
    turn: &mut usize,
    path: &str,
    principal: &str,
    body: &Value,
) -> (u16, Value) {
    let started = Instant::now();
    loop {
        let url = format!("{}{path}", gateways[*turn % gateways.len()]);
        *turn += 1;
        let sent = http
            .post(&url)
            .bearer_auth(token(principal))
            .json(body)
            .send()
            .await;
        match sent {
            Ok(r) if r.status() != 503 => {
                let status = r.status().as_u16();
                return (status, r.json().await.unwrap_or(Value::Null));
            }
            _ => {
                assert!(
                    started.elapsed() < Duration::from_secs(60),
                    "no gateway answered {path} for a minute"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// Reads acknowledged under load: each read's entry and receipt.
type Acknowledged = Vec<(Value, Value)>;

/// Reads of French users' phones, round-robin, until `stop`.
async fn reader(
    http: reqwest::Client,
    gateways: Vec<String>,
    stop: Arc<AtomicBool>,
    first: usize,
) -> Acknowledged {
    let mut out = Vec::new();
    let mut turn = first;
    let mut user = first;
    while !stop.load(Ordering::Relaxed) {
        let body = json!({"user_id": format!("fr-user-{:04}", user % 12), "fields": ["profile.phone"], "purpose": "support-ticket"});
        user += 1;
        let (status, r) = post_any(
            &http,
            &gateways,
            &mut turn,
            "/v1/read",
            "support-dublin",
            &body,
        )
        .await;
        assert_eq!(status, 200, "{r}");
        out.push((r["entry"].clone(), r["receipt"].clone()));
    }
    out
}

/// Ingests batches of new French users, round-robin, until `stop`: the
/// users acknowledged.
async fn ingester(
    http: reqwest::Client,
    gateways: Vec<String>,
    stop: Arc<AtomicBool>,
) -> Vec<String> {
    let mut acknowledged = Vec::new();
    let mut turn = 1;
    let mut batch = 0;
    while !stop.load(Ordering::Relaxed) {
        let events: Vec<Value> = events("FR", 5)
            .into_iter()
            .map(|mut e| {
                let user = e["user_id"]
                    .as_str()
                    .unwrap()
                    .replace("fr-user", &format!("fr-load{batch}"));
                e["user_id"] = json!(user);
                e["record_id"] = json!(format!("{user}-{}", e["dataset"].as_str().unwrap()));
                e
            })
            .collect();
        let (status, r) = post_any(
            &http,
            &gateways,
            &mut turn,
            "/v1/ingest",
            "app",
            &json!({ "events": events }),
        )
        .await;
        assert_eq!(status, 202, "{r}");
        acknowledged.push(format!("fr-load{batch}-0003"));
        batch += 1;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    acknowledged
}

/// Waits until `url` answers 200: how long it took.
async fn answers(http: &reqwest::Client, url: &str, within: Duration) -> Duration {
    let started = Instant::now();
    loop {
        if let Ok(r) = http.get(url).send().await
            && r.status().is_success()
        {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < within,
            "{url} did not answer within {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_region_of_three_gateways_and_two_sequencers_loses_nothing_when_its_processes_die() {
    tls::install_ring();
    let http = tls::client(None).unwrap().build().unwrap();
    let Some(m) = moto(&http).await else { return };
    let Some(pg) = pg::schema("split").await else {
        return;
    };
    let bucket = public_bucket(&http, &m).await;
    let store = format!("postgres:{}", pg.conninfo);
    let mut c = Cluster::split("eu-fr", SPLIT, &bucket, &S3_ENV, &store).await;
    // The cluster speaks TLS under its own CA (moto, plain HTTP, too).
    let http = c.http.clone();
    let gateways = c.gateways["eu-fr"].clone();
    let sequencers = c.sequencers["eu-fr"].clone();
    assert_eq!((gateways.len(), sequencers.len()), (3, 2));

    let mut turn = 0;
    let (status, r) = post_any(
        &http,
        &gateways,
        &mut turn,
        "/v1/ingest",
        "app",
        &json!({"events": events("FR", 12)}),
    )
    .await;
    assert_eq!(status, 202, "{r}");

    // A second sequencer started by mistake beside the active one is
    // refused, saying why.
    let listen = format!("127.0.0.1:{}", ::cluster::free_port().unwrap());
    let program = c.program().to_owned();
    let (dir, env) = (c.dir.path().to_owned(), c.env().to_vec());
    let second = tokio::task::spawn_blocking(move || {
        Command::new(program)
            .args(["serve", "--config", "cluster.toml", "--region", "eu-fr"])
            .args(["--role", "sequencer", "--listen", &listen])
            .current_dir(dir)
            .envs(env)
            .output()
            .unwrap()
    });

    // Load: two readers and an ingester, round-robin over the gateways.
    let stop = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..2)
        .map(|i| tokio::spawn(reader(http.clone(), gateways.clone(), stop.clone(), i)))
        .collect();
    let ingest = tokio::spawn(ingester(http.clone(), gateways.clone(), stop.clone()));

    let second = second.await.unwrap();
    let said = String::from_utf8_lossy(&second.stderr);
    assert!(
        !second.status.success(),
        "a second sequencer ran beside the first"
    );
    assert!(said.contains("lease"), "{said}");

    // SIGKILL the active sequencer, three times: the standby takes over
    // within a bounded time, and the one killed comes back as the standby.
    let mut active = 0;
    for round in 0..3 {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        c.kill(&::cluster::sequencer_name("eu-fr", active));
        let standby = 1 - active;
        let took = answers(
            &http,
            &format!("{}/healthz", sequencers[standby]),
            Duration::from_secs(15),
        )
        .await;
        eprintln!("round {round}: sequencer {standby} took over in {took:?}");
        c.spawn_sequencer("eu-fr", active, true).unwrap();
        active = standby;
    }
    // SIGKILL a gateway: the clients move on to the others; it comes back.
    c.kill(&::cluster::gateway_name("eu-fr", 1));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    c.spawn_gateway("eu-fr", 1).unwrap();
    answers(
        &http,
        &format!("{}/log/checkpoint", gateways[1]),
        Duration::from_secs(30),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    stop.store(true, Ordering::Relaxed);
    let mut acknowledged = Vec::new();
    for r in readers {
        acknowledged.extend(r.await.unwrap());
    }
    let ingested = ingest.await.unwrap();
    assert!(
        acknowledged.len() > 20,
        "too little load: {}",
        acknowledged.len()
    );

    // Every acknowledged read is in the log at its index, as answered.
    let size = c.log_size("eu-fr").await;
    let key = c.log_key("eu-fr");
    let s3 = tlog::S3Storage::new(&tlog::S3Config {
        endpoint: m.endpoint.clone(),
        bucket: "logs".into(),
        prefix: "eu-fr/log".into(),
        region: "us-east-1".into(),
        access_key_id: S3_ENV[0].1.into(),
        secret_access_key: S3_ENV[1].1.into(),
        allow_http: true,
        lease: Duration::from_secs(1),
    })
    .unwrap();
    let log = tlog::LogReader::new(s3);
    let final_cp = log.checkpoint(&key).await.unwrap();
    assert!(final_cp.checkpoint.size >= size);
    let mut indices = std::collections::BTreeSet::new();
    for (entry, receipt) in &acknowledged {
        c.verify("eu-fr", entry, receipt);
        let index = tlog::Receipt::parse(receipt.as_str().unwrap())
            .unwrap()
            .index;
        assert!(indices.insert(index), "two reads acknowledged at {index}");
        let logged: Value =
            serde_json::from_slice(&log.entry(index, final_cp.checkpoint.size).await.unwrap())
                .unwrap();
        assert_eq!(&logged, entry, "entry {index} is not what was acknowledged");
    }
    // Every acknowledged ingest is readable, through any gateway.
    for user in ingested.iter().step_by(ingested.len().div_ceil(10).max(1)) {
        let body =
            json!({"user_id": user, "fields": ["profile.phone"], "purpose": "support-ticket"});
        let (status, r) = post_any(
            &http,
            &gateways,
            &mut turn,
            "/v1/read",
            "support-dublin",
            &body,
        )
        .await;
        assert_eq!(status, 200, "{user}: {r}");
    }

    // The whole log verifies from the bucket's URL.
    let (program, vkey) = (c.program().to_owned(), key.to_vkey());
    let url = format!("{}/logs/eu-fr/log", m.endpoint);
    let out = tokio::task::spawn_blocking(move || {
        Command::new(program)
            .args(["log", "verify", "--url", &url, "--vkey", &vkey])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // The monitor, following the first gateway, catches up and is clean;
    // no witness refused a checkpoint (it refuses one inconsistent with
    // what it cosigned before).
    let dashboard = c.dashboard.clone().unwrap();
    let started = Instant::now();
    let summary = loop {
        let s: Value = match http.get(format!("{dashboard}/api/summary")).send().await {
            Ok(r) => r.json().await.unwrap_or_default(),
            Err(_) => Value::Null,
        };
        let caught_up = s["logs"].as_array().is_some_and(|ls| {
            ls.iter().any(|l| {
                l["region"] == "eu-fr" && l["size"].as_u64() >= Some(final_cp.checkpoint.size)
            })
        });
        if caught_up || started.elapsed() > Duration::from_secs(60) {
            break s;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(summary["clean"], true, "{summary}");
    for i in 0..2 {
        let out = std::fs::read_to_string(c.output(&::cluster::sequencer_name("eu-fr", i)))
            .unwrap_or_default();
        assert!(!out.contains("witness refused with HTTP"), "{out}");
    }
    drop(c);
    pg.drop().await;
}

/// A relay between a gateway and its sequencer that lies as told: what a
/// compromised network or sequencer host could answer.
struct Liar {
    sequencer: String,
    http: reqwest::Client,
    /// 0: relay honestly; 1: bend a proof; 2: re-sign the checkpoint with
    /// another key of the same name; 3: claim other indices.
    mode: std::sync::atomic::AtomicU8,
}

async fn lie(
    axum::extract::State(liar): axum::extract::State<Arc<Liar>>,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> (axum::http::StatusCode, String) {
    let auth = headers["authorization"].to_str().unwrap().to_owned();
    let resp = liar
        .http
        .post(format!("{}/v1/sequence", liar.sequencer))
        .header("authorization", auth)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = axum::http::StatusCode::from_u16(resp.status().as_u16()).unwrap();
    let mut answer: Value = resp.json().await.unwrap();
    match liar.mode.load(Ordering::Relaxed) {
        1 => {
            for s in answer["sequenced"].as_array_mut().unwrap() {
                let proof = s["proof"].as_array_mut().unwrap();
                match proof.first_mut() {
                    Some(h) => {
                        let mut hex = h.as_str().unwrap().to_owned();
                        let flipped = if hex.starts_with('0') { "1" } else { "0" };
                        hex.replace_range(0..1, flipped);
                        *h = json!(hex);
                    }
                    None => proof.push(json!("00".repeat(32))),
                }
            }
        }
        2 => {
            let cp = tlog::SignedCheckpoint::parse_unverified(
                answer["checkpoint"].as_str().unwrap().as_bytes(),
            )
            .unwrap();
            let impostor =
                tlog::Signer::generate(&cp.checkpoint.origin, tlog::note::TYPE_ED25519).unwrap();
            answer["checkpoint"] = json!(cp.checkpoint.sign(&impostor).unwrap().to_text());
        }
        3 => {
            for s in answer["sequenced"].as_array_mut().unwrap() {
                s["index"] = json!(s["index"].as_u64().unwrap() + 1);
            }
        }
        _ => {}
    }
    (status, answer.to_string())
}

async fn relay_state(
    axum::extract::State(liar): axum::extract::State<Arc<Liar>>,
    headers: axum::http::HeaderMap,
    axum::extract::RawQuery(query): axum::extract::RawQuery,
) -> (axum::http::StatusCode, String) {
    let resp = liar
        .http
        .get(format!(
            "{}/v1/sequencer/state?{}",
            liar.sequencer,
            query.unwrap_or_default()
        ))
        .header("authorization", headers["authorization"].to_str().unwrap())
        .send()
        .await
        .unwrap();
    (
        axum::http::StatusCode::from_u16(resp.status().as_u16()).unwrap(),
        resp.text().await.unwrap(),
    )
}

/// A gateway opens nothing on a sequencer's word: an answer whose proof,
/// checkpoint signature or indices do not verify against the log's key is
/// "not logged" (503), and nothing of the record leaves; relayed honestly,
/// the same read is answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_releases_nothing_on_a_sequencer_answer_that_does_not_verify() {
    tls::install_ring();
    let http = tls::client(None).unwrap().build().unwrap();
    let Some(m) = moto(&http).await else { return };
    let Some(pg) = pg::schema("liar").await else {
        return;
    };
    let bucket = public_bucket(&http, &m).await;
    let store = format!("postgres:{}", pg.conninfo);
    let split = ::cluster::Split {
        gateways: 1,
        sequencers: 1,
    };
    let c = Cluster::split("eu-fr", split, &bucket, &S3_ENV, &store).await;
    // The cluster speaks TLS under its own CA (moto, plain HTTP, too).
    let http = c.http.clone();
    let (status, r) = c
        .post(
            "eu-fr",
            "/v1/ingest",
            Some("app"),
            &json!({"events": events("FR", 4)}),
        )
        .await;
    assert_eq!(status, 202, "{r}");

    // The sequencer takes only the region's own node token; a body it
    // cannot parse is refused without being echoed.
    let seq = &c.sequencers["eu-fr"][0];
    let body = json!({"entries": ["bm90IGFuIGVudHJ5"]});
    for bearer in [
        Some(token("app").to_owned()),
        Some(cluster::node_token("eu-no")),
        None,
    ] {
        let mut req = http.post(format!("{seq}/v1/sequence")).json(&body);
        if let Some(b) = bearer {
            req = req.bearer_auth(b);
        }
        assert_eq!(req.send().await.unwrap().status(), 401);
    }
    // Regression (red team, F1b): every process held every region's node
    // token, so a peer's operator could speak as eu-fr to its sequencer.
    // Now each holds its own region's alone; peers and the sequencer know
    // it by its hash.
    let environ = |name: &str| {
        let pid = c.pid(name).unwrap();
        std::fs::read(format!("/proc/{pid}/environ")).unwrap()
    };
    let holds =
        |env: &[u8], secret: &str| env.windows(secret.len()).any(|w| w == secret.as_bytes());
    for name in ["eu-fr-gw0", "eu-fr-seq0", "eu-no", "us-tx"] {
        let env = environ(name);
        for r in ["eu-fr", "eu-no", "us-tx"] {
            let own = name.starts_with(r);
            if !own || !name.contains("seq") {
                assert_eq!(
                    holds(&env, &cluster::node_token(r)),
                    own,
                    "{name}, {r}'s token"
                );
            }
        }
    }
    let logged = log_entry(&c).await;
    let size = c.log_size("eu-fr").await;
    let r = http
        .post(format!("{seq}/v1/sequence"))
        .bearer_auth(cluster::node_token("eu-fr"))
        .header("content-type", "application/json")
        .body(r#"{"entries": ["secret-looking value!"]}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(!r.text().await.unwrap().contains("secret-looking"));
    // The red team's insider (with the region's node token, which every
    // peer then held) wrote free text, then an entry with a field of its own, into the
    // public log: only log entries, canonical, are sequenced.
    let b64 = |b: &[u8]| serde_json::to_value(custody::protocol::Base64(b.to_vec())).unwrap();
    let mut extra = logged.clone();
    extra["note"] = json!("Jean Dupont +33 6 12 34 56 78");
    let mut spaced = serde_json::to_string_pretty(&logged).unwrap().into_bytes();
    spaced.push(b'\n');
    for (what, bytes) in [
        ("free text", b"Jean Dupont +33 6 12 34 56 78".to_vec()),
        (
            "a field beyond the schema",
            serde_json::to_vec(&extra).unwrap(),
        ),
        ("a non-canonical encoding", spaced),
    ] {
        let r = http
            .post(format!("{seq}/v1/sequence"))
            .bearer_auth(cluster::node_token("eu-fr"))
            .json(&json!({"entries": [b64(&entry::canonical(&logged)), b64(&bytes)]}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{what}");
        let said = r.text().await.unwrap();
        assert!(said.contains("entry 1 "), "{what}: {said}");
        assert!(!said.contains("Dupont"), "{what}: {said}");
    }
    assert_eq!(
        c.log_size("eu-fr").await,
        size,
        "a refused batch was logged"
    );

    let liar = Arc::new(Liar {
        sequencer: c.sequencers["eu-fr"][0].clone(),
        http: http.clone(),
        mode: std::sync::atomic::AtomicU8::new(0),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    // Over TLS with the cluster's own certificate: the cluster file,
    // having [tls], takes only https:// sequencers.
    let liar_url = format!("https://{}", listener.local_addr().unwrap());
    let app = axum::Router::new()
        .route("/v1/sequence", axum::routing::post(lie))
        .route("/v1/sequencer/state", axum::routing::get(relay_state))
        .with_state(liar.clone());
    let certified = tls::server_config(
        &c.dir.path().join(::cluster::TLS_CERT),
        &c.dir.path().join(::cluster::TLS_KEY),
    )
    .unwrap();
    tokio::spawn(tls::serve(
        listener,
        app,
        Some(certified),
        std::future::pending(),
    ));

    // A gateway of its own, told the liar is eu-fr's sequencer.
    let toml = std::fs::read_to_string(c.dir.path().join("cluster.toml")).unwrap();
    let honest = format!("sequencers = {:?}", c.sequencers["eu-fr"]);
    assert!(toml.contains(&honest));
    let lied = toml.replace(&honest, &format!("sequencers = [{liar_url:?}]"));
    std::fs::write(c.dir.path().join("cluster-lied.toml"), lied).unwrap();
    let port = ::cluster::free_port().unwrap();
    let out = std::fs::File::create(c.dir.path().join("lied-gateway.out")).unwrap();
    let mut gateway = Command::new(c.program())
        .args([
            "serve",
            "--config",
            "cluster-lied.toml",
            "--region",
            "eu-fr",
        ])
        .args([
            "--role",
            "gateway",
            "--listen",
            &format!("127.0.0.1:{port}"),
        ])
        .current_dir(c.dir.path())
        .envs(c.env().iter().map(|(k, v)| (k, v)))
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .spawn()
        .unwrap();
    let url = format!("https://127.0.0.1:{port}");
    answers(
        &http,
        &format!("{url}/log/checkpoint"),
        Duration::from_secs(30),
    )
    .await;

    let read = || async {
        let r = http
            .post(format!("{url}/v1/read"))
            .bearer_auth(token("support-dublin"))
            .json(&json!({"user_id": "fr-user-0002", "fields": ["profile.phone"], "purpose": "support-ticket"}))
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    };
    for mode in [1, 2, 3] {
        liar.mode.store(mode, Ordering::Relaxed);
        let (status, text) = read().await;
        assert_eq!(status, 503, "lie {mode}: {text}");
        assert!(text.contains("not-logged"), "lie {mode}: {text}");
        assert!(
            !text.contains(&cluster::phone(2)),
            "lie {mode} leaked: {text}"
        );
    }
    liar.mode.store(0, Ordering::Relaxed);
    let (status, text) = read().await;
    assert_eq!(status, 200, "{text}");
    assert!(text.contains(&cluster::phone(2)));
    let said = std::fs::read_to_string(c.dir.path().join("lied-gateway.out")).unwrap();
    assert!(said.contains("does not verify"), "{said}");
    assert!(!said.contains(&cluster::phone(2)));
    gateway.kill().unwrap();
    gateway.wait().unwrap();
    drop(c);
    pg.drop().await;
}

/// The entry of a read that eu-fr logs, as JSON.
async fn log_entry(c: &Cluster) -> Value {
    let r = c
        .post(
            "eu-fr",
            "/v1/read",
            Some("support-dublin"),
            &json!({"user_id": "fr-user-0001", "fields": ["profile.phone"], "purpose": "support-ticket"}),
        )
        .await;
    assert_eq!(r.0, 200, "{}", r.1);
    r.1["entry"].clone()
}
