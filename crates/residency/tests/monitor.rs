//! The monitor against real processes: three `residency serve` regions and
//! their witness, then `residency audit` and `residency monitor` as a third
//! party runs them, with nothing but the logs' URLs and public keys. Each
//! way a log can lie — a flipped byte in a tile, an edited or truncated
//! entry bundle, a rolled-back checkpoint, a fork shown to a second
//! witness, an entry whose decision does not replay — must be reported
//! with the region, the index and what differs; a monitor killed mid-sync
//! must resume; the dashboard is rendered by headless Chromium.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

mod cluster;

use cluster::*;

/// Writes a monitor configuration for the cluster's logs.
fn monitor_config(
    c: &Cluster,
    name: &str,
    witnesses: &[(String, tlog::Verifier)],
    extra: &str,
) -> PathBuf {
    // The cluster's logs are served over TLS under its own CA.
    let mut text = format!("state = \"{name}-state\"\nca = \"tls/ca.pem\"\n{extra}\n");
    for r in ["eu-fr", "eu-no", "us-tx"] {
        text.push_str(&format!(
            "[[logs]]\nregion = \"{r}\"\nurl = \"{}\"\nkey = \"{}/log/log.vkey\"\n",
            c.urls[r], r
        ));
    }
    for (url, key) in witnesses {
        text.push_str(&format!(
            "[[witnesses]]\nurl = \"{url}\"\nkey = \"{}\"\n",
            key.to_vkey()
        ));
    }
    let path = c.dir.path().join(format!("{name}.toml"));
    std::fs::write(&path, text).unwrap();
    path
}

fn audit(config: &Path, extra: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_residency"))
        .arg("audit")
        .arg("--config")
        .arg(config)
        .args(extra)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Ingests a few users in France, transfers them to the US under the DPF,
/// and has Beijing denied their phones; returns the denial's index.
async fn activity(c: &Cluster) -> u64 {
    let (status, body) = c
        .post(
            "eu-fr",
            "/v1/ingest",
            Some("app"),
            &json!({"events": events("FR", 10)}),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let reco = json!({"fields": ["account.user_id", "device.language", "device.os_version"],
                      "purpose": "reco-training", "legal_basis": "adequacy:eu-us-dpf"});
    let (status, t) = c
        .post("eu-fr", "/v1/transfer", Some("svc-reco-us"), &reco)
        .await;
    assert_eq!(status, 200, "{t}");
    denial(c).await
}

async fn denial(c: &Cluster) -> u64 {
    let beijing = json!({"fields": ["profile.phone", "social.contacts"], "purpose": "analytics"});
    let (status, p) = c
        .post("eu-fr", "/v1/transfer", Some("eng-beijing"), &beijing)
        .await;
    assert_eq!(status, 403, "{p}");
    p["log_index"].as_u64().unwrap()
}

/// Entry `index` of a region's log, read from its directory.
async fn log_entry(c: &Cluster, region: &str, index: u64) -> Vec<u8> {
    let reader = tlog::LogReader::new(tlog::FsStorage::open(c.log_dir(region)).unwrap());
    let size = checkpoint_size_on_disk(&c.log_dir(region));
    reader.entry(index, size).await.unwrap()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn_monitor(config: &Path, out: &Path) -> Process {
    let out = std::fs::File::create(out).unwrap();
    Process(
        Command::new(env!("CARGO_BIN_EXE_residency"))
            .arg("monitor")
            .arg("--config")
            .arg(config)
            // The dashboard in plain HTTP: these tests read it so.
            .arg("--insecure-http")
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .stdin(Stdio::null())
            .spawn()
            .unwrap(),
    )
}

async fn wait_for(what: &str, mut ready: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !ready().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clean_cluster_audits_clean_and_the_dashboard_shows_its_figures() {
    let c = Cluster::start(None).await;
    activity(&c).await;
    let witnesses = vec![(c.witness_url.clone(), c.witness.clone())];
    let port = free_port();
    let config = monitor_config(
        &c,
        "m",
        &witnesses,
        &format!("listen = \"127.0.0.1:{port}\"\npoll_ms = 200"),
    );

    let o = audit(&config, &[]);
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    let fr_size = c.log_size("eu-fr").await;
    assert!(
        out.contains(&format!("eu-fr: {fr_size} entries verified")),
        "{out}"
    );
    assert!(out.contains("cosigned by witness.example"), "{out}");
    assert!(
        out.contains("transfers to US under adequacy:eu-us-dpf for reco-training: 1 (10 subjects)"),
        "{out}"
    );
    assert!(out.contains("denials: 1") && out.contains("CLEAN"), "{out}");

    // The same state, followed by the long-running monitor.
    let _m = spawn_monitor(&config, &c.dir.path().join("monitor.out"));
    let base = format!("http://127.0.0.1:{port}");
    let http = tls::client(None).unwrap().build().unwrap();
    let get = |path: &str| {
        let req = http.get(format!("{base}{path}"));
        async move { req.send().await.unwrap() }
    };
    let summary = || async {
        let r = http.get(format!("{base}/api/summary")).send().await.ok()?;
        r.json::<Value>().await.ok()
    };
    wait_for("the monitor", async || summary().await.is_some()).await;
    let s = summary().await.unwrap();
    assert_eq!(s["clean"], true, "{s}");
    let fr = s["logs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["region"] == "eu-fr")
        .unwrap();
    assert_eq!(fr["size"], fr_size);
    assert_eq!(fr["witnesses"]["witness.example"], true);

    // The Art. 30 record: one transfer, with the decision's reference.
    let csv = get("/api/art30.csv").await.text().await.unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 2, "{csv}");
    assert!(lines[0].starts_with("time,region,from_jurisdiction,to_jurisdiction,recipient"));
    assert!(
        lines[1].contains("eu-fr")
            && lines[1].contains("svc-reco-us")
            && lines[1].contains("adequacy:eu-us-dpf")
    );
    assert!(lines[1].contains("C(2023) 4745"), "{csv}");

    // An entry with a receipt that verifies against the log's key.
    let art30: Value = get("/api/art30.json").await.json().await.unwrap();
    let idx: u64 = art30[0]["log_entry"]
        .as_str()
        .unwrap()
        .split('#')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let e: Value = get(&format!("/api/entry/eu-fr/{idx}"))
        .await
        .json()
        .await
        .unwrap();
    c.verify("eu-fr", &e["entry"], &e["receipt"]);
    let missing = get("/api/entry/eu-fr/999999").await;
    assert_eq!(missing.status(), 404);

    // The dashboard, as a browser renders it.
    let Some(chromium) = chromium() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must have chromium (.ci/run installs it)"
        );
        eprintln!("chromium is not installed: the dashboard rendering check is skipped");
        return;
    };
    let profile = tempfile::tempdir().unwrap();
    let dom = Command::new(chromium)
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--dump-dom"])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!("{base}/"))
        .output()
        .unwrap();
    let dom = String::from_utf8_lossy(&dom.stdout);
    assert!(dom.contains(r#"<p id="verdict" class="ok">Clean"#), "{dom}");
    assert!(
        dom.contains(&format!(
            r#"<tr data-region="eu-fr"><td>eu-fr</td><td class="size">{fr_size}</td>"#
        )),
        "{dom}"
    );
    assert!(dom.contains(r#"<span id="denials">1</span>"#), "{dom}");
    assert!(dom.contains(r#"<span id="findings">0</span>"#), "{dom}");
    assert!(
        dom.contains("<svg") && dom.contains(r#"data-destination="US" data-count="1""#),
        "{dom}"
    );
    assert!(dom.contains(r#"<td class="count">1</td>"#), "{dom}");
}

fn chromium() -> Option<PathBuf> {
    ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flipped_tile_byte_an_edited_bundle_and_a_truncated_log_are_detected() {
    let mut c = Cluster::start(None).await;
    activity(&c).await;
    // A full tile and a full entry bundle: more than 256 entries.
    for _ in 0..14 {
        futures::future::join_all((0..20).map(|_| denial(&c))).await;
    }
    c.stop("eu-fr");
    let tile = c.log_dir("eu-fr").join("tile/0/000");
    let bundle = c.log_dir("eu-fr").join("tile/entries/000");
    let (tile_bytes, bundle_bytes) = (
        std::fs::read(&tile).unwrap(),
        std::fs::read(&bundle).unwrap(),
    );
    assert_eq!(tile_bytes.len(), 256 * 32);
    let witnesses = vec![(c.witness_url.clone(), c.witness.clone())];

    // Entry boundaries of the bundle: 2-byte big-endian lengths.
    let mut starts = Vec::new();
    let mut at = 0;
    while at < bundle_bytes.len() {
        starts.push(at);
        at += 2 + usize::from(u16::from_be_bytes([bundle_bytes[at], bundle_bytes[at + 1]]));
    }
    assert_eq!(starts.len(), 256);

    type Tamper<'a> = Box<dyn Fn() + 'a>;
    let cases: Vec<(&str, Tamper<'_>, String)> = vec![
        (
            "tile",
            Box::new(|| {
                let mut t = tile_bytes.clone();
                t[5 * 32 + 3] ^= 0x01;
                std::fs::write(&tile, t).unwrap();
            }),
            "eu-fr #5: inconsistency: tile tile/0/000 hash 5 (entries 5..=5) differs from the hash of the entries".into(),
        ),
        (
            "bundle",
            Box::new(|| {
                let mut b = bundle_bytes.clone();
                let entry = &mut b[starts[200]..starts[201]];
                let pos = entry.windows(4).position(|w| w == b"deny").unwrap();
                entry[pos..pos + 4].copy_from_slice(b"DENY");
                std::fs::write(&bundle, b).unwrap();
            }),
            "eu-fr #200: inconsistency: entry 200 is not the one the signed checkpoint commits to: its hash is not in the signed tree".into(),
        ),
        (
            "truncated",
            Box::new(|| std::fs::write(&bundle, &bundle_bytes[..starts[100]]).unwrap()),
            "eu-fr #100: inconsistency: entries 100..=255 are not the ones the signed checkpoint commits to: not served".into(),
        ),
    ];
    for (name, tamper, expected) in cases {
        tamper();
        c.spawn("eu-fr").await;
        c.wait_healthy("eu-fr").await;
        let o = audit(&monitor_config(&c, name, &witnesses, ""), &[]);
        let out = text(&o);
        assert_eq!(o.status.code(), Some(1), "{name}: {out}");
        assert!(
            out.contains(&expected),
            "{name}: expected {expected:?} in\n{out}"
        );
        assert!(
            out.contains("NOT CLEAN: 0 violations, 1 inconsistencies"),
            "{name}: {out}"
        );
        c.stop("eu-fr");
        std::fs::write(&tile, &tile_bytes).unwrap();
        std::fs::write(&bundle, &bundle_bytes).unwrap();
    }
    // Restored, the same log audits clean from scratch.
    c.spawn("eu-fr").await;
    c.wait_healthy("eu-fr").await;
    let o = audit(&monitor_config(&c, "restored", &witnesses, ""), &[]);
    assert!(o.status.success(), "{}", text(&o));
}

fn start_witness(dir: &Path, name: &str, port: u16, log_vkey: &Path) -> (Process, tlog::Verifier) {
    start_witness_with(dir, name, port, log_vkey, &[])
}

fn start_witness_with(
    dir: &Path,
    name: &str,
    port: u16,
    log_vkey: &Path,
    extra: &[&str],
) -> (Process, tlog::Verifier) {
    let signer = tlog::Signer::generate(name, tlog::note::TYPE_COSIGNATURE_V1).unwrap();
    let key = dir.join(format!("{name}.key"));
    std::fs::write(&key, signer.to_skey()).unwrap();
    let out = std::fs::File::create(dir.join(format!("{name}.out"))).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_residency"))
        .args(["witness", "--listen", &format!("127.0.0.1:{port}"), "--key"])
        .arg(&key)
        .arg("--state")
        .arg(dir.join(format!("{name}.sqlite")))
        .arg("--log")
        .arg(log_vkey)
        // The cluster's certificate: its processes trust its CA.
        .arg("--tls-cert")
        .arg(dir.join(::cluster::TLS_CERT))
        .arg("--tls-key")
        .arg(dir.join(::cluster::TLS_KEY))
        .args(extra)
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .spawn()
        .unwrap();
    (Process(child), signer.verifier())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fork_a_decision_that_does_not_replay_and_a_rollback_are_detected_and_alerted() {
    let mut c = Cluster::start(None).await;
    let denied = activity(&c).await;
    // A second witness, which eu-fr's nodes never push to.
    let w2_port = free_port();
    let (_w2, w2_key) = start_witness(
        c.dir.path(),
        "witness2.example",
        w2_port,
        &c.log_dir("eu-fr").join("log.vkey"),
    );
    let w2_url = format!("https://127.0.0.1:{w2_port}");
    let witnesses = vec![
        (c.witness_url.clone(), c.witness.clone()),
        (w2_url.clone(), w2_key),
    ];
    let config = monitor_config(&c, "m", &witnesses, "");
    let o = audit(&config, &[]);
    assert!(o.status.success(), "{}", text(&o));
    let backup = c.dir.path().join("eu-fr-log-backup");
    copy_dir(&c.log_dir("eu-fr"), &backup);
    let backup_size = c.log_size("eu-fr").await;

    // A fork: the operator, who holds the log's key, shows the second
    // witness a tree whose third entry differs.
    let signer = tlog::Signer::parse(
        std::fs::read_to_string(c.log_dir("eu-fr").join("log.key"))
            .unwrap()
            .trim(),
    )
    .unwrap();
    let mut tree = tlog::merkle::MemoryTree::new();
    for i in 0..2 {
        tree.push(tlog::leaf_hash(&log_entry(&c, "eu-fr", i).await));
    }
    tree.push(tlog::leaf_hash(b"{\"forged\":true}"));
    let forged = tlog::Checkpoint {
        origin: signer.name().to_owned(),
        size: 3,
        root: tree.root(3),
        extensions: Vec::new(),
    }
    .sign(&signer)
    .unwrap();
    let body = tlog::witness::AddCheckpoint {
        old_size: 0,
        proof: Vec::new(),
        checkpoint: forged.to_text(),
    }
    .to_body();
    let w1_latest = c
        .http
        .get(format!("{}/latest", c.witness_url))
        .query(&[("origin", signer.name())])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let w1_size: u64 = w1_latest.lines().nth(1).unwrap().parse().unwrap();
    // And the cluster's witness another root at the size it holds: it
    // refuses, and keeps both as evidence.
    let other = tlog::Checkpoint {
        origin: signer.name().to_owned(),
        size: w1_size,
        root: tree.root(3),
        extensions: Vec::new(),
    }
    .sign(&signer)
    .unwrap();
    let refused = tlog::witness::AddCheckpoint {
        old_size: w1_size,
        proof: Vec::new(),
        checkpoint: other.to_text(),
    }
    .to_body();
    let r = c
        .http
        .post(format!("{}/add-checkpoint", c.witness_url))
        .body(refused)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409);
    let r = c
        .http
        .post(format!("{w2_url}/add-checkpoint"))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        200,
        "the second witness, who saw nothing else, cosigns"
    );
    let o = audit(&config, &[]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(
        out.contains("eu-fr: inconsistency: split view: witness witness2.example was shown a checkpoint of size 3"),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "eu-fr: inconsistency: split view: witness witness.example refused a checkpoint of size {w1_size} signed by the log: two checkpoints of size {w1_size} with different roots"
        )),
        "{out}"
    );

    // An entry whose decision does not replay: Beijing's denial, logged
    // again as allowed with the phones in clear.
    c.stop("eu-fr");
    let mut e: Value = serde_json::from_slice(&log_entry(&c, "eu-fr", denied).await).unwrap();
    e["decision"] = "allow".into();
    e["reasons"] = json!([]);
    e["fields"] = json!({"profile.phone": {"op": "keep"}, "social.contacts": {"op": "keep"}});
    let forged = c.dir.path().join("forged.jsonl");
    std::fs::write(&forged, [entry::canonical(&e), b"\n".to_vec()].concat()).unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_residency"))
        .args(["log", "append", "--dir"])
        .arg(c.log_dir("eu-fr"))
        .arg(&forged)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let forged_index = checkpoint_size_on_disk(&c.log_dir("eu-fr")) - 1;
    c.spawn("eu-fr").await;
    c.wait_healthy("eu-fr").await;

    // The long-running monitor posts it to the webhook.
    let (hook_url, received) = webhook().await;
    let port = free_port();
    let live = monitor_config(
        &c,
        "live",
        &witnesses[..1],
        &format!("listen = \"127.0.0.1:{port}\"\npoll_ms = 100\nwebhook = \"{hook_url}\""),
    );
    let _m = spawn_monitor(&live, &c.dir.path().join("live.out"));
    let expected =
        format!("eu-fr #{forged_index}: violation: logged allow, the replay decides deny");
    // Each of the entry's findings is posted in turn: wait for the ones
    // checked below (waiting for the first alone raced the others).
    wait_for("the alerts", async || {
        let alerts = received.lock().unwrap();
        [
            "the replay decides deny",
            "left in clear for CN",
            "with no legal basis",
        ]
        .iter()
        .all(|m| {
            alerts.iter().any(|f: &Value| {
                f["kind"] == "violation"
                    && f["region"] == "eu-fr"
                    && f["index"] == forged_index
                    && f["message"].as_str().is_some_and(|s| s.contains(m))
            })
        })
    })
    .await;
    let alerts = received.lock().unwrap().clone();
    assert!(
        alerts.iter().any(|f| f["kind"] == "violation"
            && f["message"]
                .as_str()
                .unwrap()
                .contains("protected field profile.phone left in clear for CN")),
        "{alerts:?}"
    );
    assert!(
        alerts.iter().any(|f| f["kind"] == "violation"
            && f["message"]
                .as_str()
                .unwrap()
                .contains("with no legal basis")),
        "{alerts:?}"
    );
    let o = audit(&config, &[]);
    let out = text(&o);
    assert!(out.contains(&expected), "{out}");

    // A rollback: the region restored from an older backup.
    c.stop("eu-fr");
    std::fs::remove_dir_all(c.log_dir("eu-fr")).unwrap();
    copy_dir(&backup, &c.log_dir("eu-fr"));
    c.spawn("eu-fr").await;
    c.wait_healthy("eu-fr").await;
    let o = audit(&config, &[]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1));
    let verified = forged_index + 2; // the forged entry, then a restart's bundle
    assert!(
        out.contains(&format!(
            "eu-fr: inconsistency: checkpoint rolled back: the log serves size {}, the monitor verified size {verified}",
            backup_size + 1
        )),
        "{out}"
    );
    wait_for("the rollback alert", async || {
        received.lock().unwrap().iter().any(|f: &Value| {
            f["message"]
                .as_str()
                .is_some_and(|m| m.contains("rolled back"))
        })
    })
    .await;
}

fn checkpoint_size_on_disk(dir: &Path) -> u64 {
    let text = std::fs::read_to_string(dir.join("checkpoint")).unwrap();
    text.lines().nth(1).unwrap().parse().unwrap()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else if e.file_name() != ".lock" {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

type Received = std::sync::Arc<std::sync::Mutex<Vec<Value>>>;

/// A webhook receiver on loopback: its URL and what it received.
async fn webhook() -> (String, Received) {
    let received: Received = Default::default();
    let r = received.clone();
    let app = axum::Router::new().route(
        "/alerts",
        axum::routing::post(move |axum::Json(v): axum::Json<Value>| {
            let r = r.clone();
            async move {
                r.lock().unwrap().push(v);
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}/alerts"), received)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_monitor_killed_mid_sync_resumes_and_loses_or_repeats_nothing() {
    let mut c = Cluster::start(None).await;
    let denied = activity(&c).await;
    c.stop("eu-fr");
    // Many valid entries: copies of the denial, which replay as it does.
    let line = log_entry(&c, "eu-fr", denied).await;
    let copies = 60_000;
    let mut input = Vec::with_capacity((line.len() + 1) * copies);
    for _ in 0..copies {
        input.extend_from_slice(&line);
        input.push(b'\n');
    }
    let file = c.dir.path().join("copies.jsonl");
    std::fs::write(&file, input).unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_residency"))
        .args(["log", "append", "--dir"])
        .arg(c.log_dir("eu-fr"))
        .arg(&file)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    c.spawn("eu-fr").await;
    c.wait_healthy("eu-fr").await;
    let size = c.log_size("eu-fr").await;

    let port = free_port();
    let config = monitor_config(&c, "m", &[], &format!("listen = \"127.0.0.1:{port}\""));
    let db = c.dir.path().join("m-state/monitor.db");
    let mut m = spawn_monitor(&config, &c.dir.path().join("m.out"));
    // Killed once it has written rows for eu-fr but not committed its checkpoint.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let progress = rusqlite_count(&db);
        if let Some((rows, committed)) = progress {
            assert!(
                !committed,
                "the sync finished before it could be interrupted"
            );
            if rows > 0 {
                break;
            }
        }
        assert!(Instant::now() < deadline, "no progress");
        std::thread::sleep(Duration::from_millis(5));
    }
    m.0.kill().unwrap();
    m.0.wait().unwrap();

    let o = audit(&config, &["--json"]);
    assert!(o.status.success(), "{}", text(&o));
    let s: Value = serde_json::from_slice(&o.stdout).unwrap();
    let fr = s["logs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["region"] == "eu-fr")
        .unwrap();
    assert!(fr["size"].as_u64().unwrap() >= size);
    // Every access entry counted once: the transfer, the denial, its copies.
    assert_eq!(
        s["accesses_by_action"]["transfer"],
        copies as u64 + 2,
        "{}",
        s["accesses_by_action"]
    );
    assert_eq!(s["denial_count"], copies as u64 + 1);
}

/// (eu-fr access rows written, eu-fr checkpoint committed), read from the
/// monitor's state as another process sees it; `None` before it exists.
fn rusqlite_count(db: &Path) -> Option<(u64, bool)> {
    let conn =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .ok()?;
    let rows: i64 = conn
        .query_row(
            "SELECT count(*) FROM accesses WHERE region = 'eu-fr'",
            [],
            |r| r.get(0),
        )
        .ok()?;
    let committed: i64 = conn
        .query_row(
            "SELECT count(*) FROM logs WHERE region = 'eu-fr' AND size > 100",
            [],
            |r| r.get(0),
        )
        .ok()?;
    Some((u64::try_from(rows).unwrap_or(0), committed > 0))
}

/// Appends `lines` (entries) to a stopped region's log; returns the new size.
fn append_entries(c: &Cluster, region: &str, name: &str, lines: &[Vec<u8>]) -> u64 {
    let file = c.dir.path().join(name);
    let mut input = Vec::new();
    for l in lines {
        input.extend_from_slice(l);
        input.push(b'\n');
    }
    std::fs::write(&file, input).unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_residency"))
        .args(["log", "append", "--dir"])
        .arg(c.log_dir(region))
        .arg(&file)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    checkpoint_size_on_disk(&c.log_dir(region))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tampered_entry_is_reported_once_and_the_entries_after_it_are_still_replayed() {
    let mut c = Cluster::start(None).await;
    let denied = activity(&c).await;
    c.stop("eu-fr");
    // A full first entry bundle (the node checks only its partial one on
    // start), then entry 200 edited in place.
    let line = log_entry(&c, "eu-fr", denied).await;
    append_entries(&c, "eu-fr", "copies.jsonl", &vec![line.clone(); 300]);
    let bundle = c.log_dir("eu-fr").join("tile/entries/000");
    let mut b = std::fs::read(&bundle).unwrap();
    let mut at = 0;
    for _ in 0..200 {
        at += 2 + usize::from(u16::from_be_bytes([b[at], b[at + 1]]));
    }
    let len = usize::from(u16::from_be_bytes([b[at], b[at + 1]]));
    let entry = &mut b[at + 2..at + 2 + len];
    let pos = entry.windows(4).position(|w| w == b"deny").unwrap();
    entry[pos..pos + 4].copy_from_slice(b"DENY");
    std::fs::write(&bundle, b).unwrap();
    // After it, more entries, one of them a release the replay refuses:
    // Beijing's denial logged as allowed, the phones in clear.
    let mut e: Value = serde_json::from_slice(&line).unwrap();
    e["decision"] = "allow".into();
    e["reasons"] = json!([]);
    e["fields"] = json!({"profile.phone": {"op": "keep"}, "social.contacts": {"op": "keep"}});
    let size = append_entries(
        &c,
        "eu-fr",
        "later.jsonl",
        &[line.clone(), entry::canonical(&e), line.clone()],
    );
    let forged_index = size - 2;
    c.spawn("eu-fr").await;
    c.wait_healthy("eu-fr").await;

    let (hook_url, received) = webhook().await;
    let port = free_port();
    let witnesses = vec![(c.witness_url.clone(), c.witness.clone())];
    let live = monitor_config(
        &c,
        "live",
        &witnesses,
        &format!("listen = \"127.0.0.1:{port}\"\npoll_ms = 100\nwebhook = \"{hook_url}\""),
    );
    let out = c.dir.path().join("live.out");
    let _m = spawn_monitor(&live, &out);
    wait_for("the violation after the tampered entry", async || {
        received.lock().unwrap().iter().any(|f: &Value| {
            f["kind"] == "violation" && f["region"] == "eu-fr" && f["index"] == forged_index
        })
    })
    .await;
    // Many polls later, the tampered entry was still reported only once.
    tokio::time::sleep(Duration::from_millis(2000)).await;
    let tampered = "entry 200 is not the one the signed checkpoint commits to";
    let alerts = received.lock().unwrap().clone();
    let about = alerts
        .iter()
        .filter(|f| f["message"].as_str().unwrap().contains(tampered))
        .count();
    assert_eq!(about, 1, "{alerts:?}");
    let printed = std::fs::read_to_string(&out).unwrap();
    assert_eq!(printed.matches(tampered).count(), 1, "{printed}");
    let mut seen = std::collections::BTreeSet::new();
    for f in &alerts {
        assert!(seen.insert(f.to_string()), "alerted twice: {f}");
    }

    // The audit reports both: the tampered entry and the violation after it.
    let o = audit(&monitor_config(&c, "audit", &witnesses, ""), &[]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(
        out.contains(&format!(
            "eu-fr #200: inconsistency: {tampered}: its hash is not in the signed tree"
        )),
        "{out}"
    );
    assert!(
        out.contains(&format!("eu-fr #{forged_index}: violation:"))
            && out.contains("protected field profile.phone left in clear for CN"),
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_c2sp_only_witness_is_reported_with_the_checks_that_were_made_and_no_others() {
    let mut c = Cluster::start(None).await;
    let port = free_port();
    let (_w2, w2_key) = start_witness_with(
        c.dir.path(),
        "c2sp.example",
        port,
        &c.log_dir("eu-fr").join("log.vkey"),
        &["--c2sp-only"],
    );
    let w2_url = format!("https://127.0.0.1:{port}");
    wait_for("the C2SP-only witness", async || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    })
    .await;
    let r = c
        .http
        .get(format!("{w2_url}/evidence"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404, "a C2SP-only witness has no extensions");
    // eu-fr pushes its checkpoints to it too.
    c.stop("eu-fr");
    let file = c.dir.path().join("cluster.toml");
    let toml = std::fs::read_to_string(&file).unwrap();
    let at = toml.find("[regions.").unwrap();
    let toml = format!(
        "{}[[witnesses]]\nurl = \"{w2_url}\"\nvkey = \"{}\"\n{}",
        &toml[..at],
        w2_key.to_vkey(),
        &toml[at..]
    );
    std::fs::write(&file, toml).unwrap();
    c.spawn("eu-fr").await;
    c.wait_healthy("eu-fr").await;
    activity(&c).await;
    let size = c.log_size("eu-fr").await;
    wait_for("both cosignatures on eu-fr's checkpoint", async || {
        let raw = c
            .http
            .get(format!("{}/log/checkpoint", c.urls["eu-fr"]))
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        let cp = tlog::SignedCheckpoint::open(&raw, &c.log_key("eu-fr"), &[]).unwrap();
        cp.note
            .verify(&[c.witness.clone(), w2_key.clone()])
            .is_ok_and(|s| s.len() == 2)
    })
    .await;

    let witnesses = vec![
        (c.witness_url.clone(), c.witness.clone()),
        (w2_url.clone(), w2_key.clone()),
    ];
    let o = audit(&monitor_config(&c, "m", &witnesses, ""), &[]);
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert!(
        out.contains(&format!(
            "  witness c2sp.example: cosignature verified on checkpoint {size}; split-view check not available (C2SP-only: no /latest or /evidence)"
        )),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "  witness witness.example: cosignature verified on checkpoint {size}; split-view checked: its latest (size {size}) is in the verified tree; its refused split views read"
        )),
        "{out}"
    );
    // Another region, which never pushes to it: no cosignature is claimed.
    assert!(
        out.contains("  witness c2sp.example: no cosignature verified on a served checkpoint; split-view check not available"),
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bundle_that_weakens_protection_is_alerted_once_naming_each_change() {
    let policy = tempfile::tempdir().unwrap();
    copy_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/policy"),
        policy.path(),
    );
    let mut c = Cluster::with_policy(None, "body_bytes = 1000000", policy.path()).await;
    activity(&c).await;
    let (hook_url, received) = webhook().await;
    let port = free_port();
    let live = monitor_config(
        &c,
        "live",
        &[],
        &format!("listen = \"127.0.0.1:{port}\"\npoll_ms = 100\nwebhook = \"{hook_url}\""),
    );
    let _m = spawn_monitor(&live, &c.dir.path().join("live.out"));
    let base = format!("http://127.0.0.1:{port}");
    let size = c.log_size("eu-fr").await;
    let http = tls::client(None).unwrap().build().unwrap();
    let verified = async |at_least: u64| {
        let Ok(r) = http.get(format!("{base}/api/summary")).send().await else {
            return false;
        };
        let s: Value = r.json().await.unwrap_or_default();
        s["logs"].as_array().is_some_and(|ls| {
            ls.iter()
                .any(|l| l["region"] == "eu-fr" && l["size"].as_u64() >= Some(at_least))
        })
    };
    wait_for("the first sync", async || verified(size).await).await;

    // eu-fr restarts under a weaker policy: phones lowered to personal,
    // Beijing's engineer said to be in Ireland, an adequacy decision for
    // China written into the law table. Its start logs the new bundle.
    c.stop("eu-fr");
    let edit = |file: &str, from: &str, to: &str| {
        let path = policy.path().join(file);
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.matches(from).count(), 1, "{file}: {from}");
        std::fs::write(&path, text.replace(from, to)).unwrap();
    };
    edit(
        "catalog.toml",
        "level = \"protected\"\nformat = \"phone\"",
        "level = \"personal\"\nformat = \"phone\"",
    );
    edit("principals.toml", "location = \"CN\"", "location = \"IE\"");
    std::fs::write(
        policy.path().join("law.toml"),
        format!(
            "{}\n[adequacy.china]\nreference = \"none\"\ndestination = \"CN\"\nfrom = \"2026-01-01\"\n",
            policy::law::DEFAULT_LAW_TABLE
        ),
    )
    .unwrap();
    let stopped_at = checkpoint_size_on_disk(&c.log_dir("eu-fr"));
    c.spawn("eu-fr").await;
    c.wait_healthy("eu-fr").await;
    let after = c.log_size("eu-fr").await;
    let mut bundle_index = None;
    for i in stopped_at..after {
        if c.log_entry("eu-fr", i).await["kind"] == "policy_bundle" {
            bundle_index = Some(i);
            break;
        }
    }
    let bundle_index = bundle_index.expect("the restart logs its bundle");

    let expected = [
        "catalog: profile.phone level protected → personal",
        "principals: eng-beijing location CN → IE",
        "law: adequacy china added (CN)",
    ];
    let weakenings = || -> Vec<Value> {
        received
            .lock()
            .unwrap()
            .iter()
            .filter(|f| f["kind"] == "weakening")
            .cloned()
            .collect()
    };
    wait_for("the weakening alerts", async || {
        weakenings().len() >= expected.len()
    })
    .await;
    // Many polls later, each was posted once, at the bundle's entry.
    wait_for("the new bundle verified", async || verified(after).await).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let alerts = weakenings();
    let messages: Vec<&str> = alerts
        .iter()
        .map(|f| f["message"].as_str().unwrap())
        .collect();
    assert_eq!(messages, expected, "{alerts:?}");
    for f in &alerts {
        assert_eq!(
            (&f["region"], &f["index"]),
            (&json!("eu-fr"), &json!(bundle_index))
        );
    }

    // The dashboard shows the bundle history, weakening changes marked.
    let page = http.get(format!("{base}/")).send().await.unwrap();
    let page = page.text().await.unwrap();
    assert!(
        page.contains(&format!(
            r#"<tr data-region="eu-fr" data-index="{bundle_index}">"#
        )),
        "{page}"
    );
    for e in expected {
        assert!(
            page.contains(&format!(
                r#"<li class="warn weakens"><strong>weakens: </strong>{e}</li>"#
            )),
            "{e}: {page}"
        );
    }
    assert!(page.contains(r#"<span id="weakenings">3</span>"#), "{page}");

    // The audit prints them and stays clean: a policy may lawfully be
    // widened; the decisions under it are replayed and judged as ever.
    let o = audit(&monitor_config(&c, "audit", &[], ""), &[]);
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    for e in expected {
        assert!(
            out.contains(&format!("eu-fr #{bundle_index}: weakening: {e}")),
            "{out}"
        );
    }
}
