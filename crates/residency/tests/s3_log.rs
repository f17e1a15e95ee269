//! A region whose log is in an S3-compatible bucket (`log_bucket`, the
//! `s3` feature): moto's server on loopback (`RESIDENCY_TEST_MOTO`, set by
//! `.ci/run`), the node a real process. Ingest and a read are logged
//! there, the receipt verifies, the log verifies from the bucket's URL
//! alone, and a node killed with SIGKILL comes back on the same log.
#![cfg(feature = "s3")]

use std::process::Command;
use std::time::Duration;

use serde_json::json;

mod cluster;
mod moto;
mod pg;

use moto::{S3_ENV, moto, public_bucket};

use cluster::{Cluster, events, phone};

async fn read(c: &Cluster) -> (u16, serde_json::Value) {
    let body = json!({"user_id": "fr-user-0003", "fields": ["profile.phone"], "purpose": "support-ticket"});
    c.post("eu-fr", "/v1/read", Some("support-dublin"), &body)
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_region_keeps_its_log_in_a_bucket_and_survives_sigkill() {
    // This build has rustls without a provider (the `s3` feature): ring.
    tls::install_ring();
    let http = tls::client(None).unwrap().build().unwrap();
    let Some(m) = moto(&http).await else { return };
    let bucket = public_bucket(&http, &m).await;
    let mut c = Cluster::with_log_bucket("eu-fr", &bucket, &S3_ENV, None).await;

    let (status, r) = c
        .post(
            "eu-fr",
            "/v1/ingest",
            Some("app"),
            &json!({"events": events("FR", 12)}),
        )
        .await;
    assert_eq!(status, 202, "{r}");
    let (status, r) = read(&c).await;
    assert_eq!(status, 200, "{r}");
    assert_eq!(r["records"][0]["fields"]["phone"], phone(3));
    c.verify("eu-fr", &r["entry"], &r["receipt"]);
    let size = c.log_size("eu-fr").await;

    // The bucket holds the log: it verifies from its URL alone.
    let vkey = c.log_key("eu-fr").to_vkey();
    let url = format!("{}/logs/eu-fr/log", m.endpoint);
    let program = c.program().to_owned();
    let verify = |url: String, vkey: String| {
        let program = program.clone();
        tokio::task::spawn_blocking(move || {
            Command::new(program)
                .args(["log", "verify", "--url", &url, "--vkey", &vkey])
                .output()
                .unwrap()
        })
    };
    let out = verify(url.clone(), vkey.clone()).await.unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains(&format!("size {size}")),
        "{stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A monitor that knows only the bucket's URL and the log's key audits
    // it clean (it reads `{url}/log/…`: the prefix's parent).
    let state = tempfile::tempdir().unwrap();
    let monitor = state.path().join("monitor.toml");
    std::fs::write(
        &monitor,
        format!(
            "state = \"state\"\nlisten = \"127.0.0.1:0\"\n\n[[logs]]\nregion = \"eu-fr\"\nurl = \"{}/logs/eu-fr\"\nkey = \"{vkey}\"\n",
            m.endpoint
        ),
    )
    .unwrap();
    let audit = {
        let program = program.clone();
        tokio::task::spawn_blocking(move || {
            Command::new(program)
                .args(["audit", "--config"])
                .arg(&monitor)
                .output()
                .unwrap()
        })
        .await
        .unwrap()
    };
    let summary = String::from_utf8_lossy(&audit.stdout);
    assert!(
        audit.status.success() && summary.contains("eu-fr"),
        "{} {}",
        String::from_utf8_lossy(&audit.stdout),
        String::from_utf8_lossy(&audit.stderr)
    );

    // Nothing of the log in the region's directory but its key files.
    assert!(!c.log_dir("eu-fr").join("tile").exists());
    assert!(!c.log_dir("eu-fr").join("checkpoint").exists());

    // SIGKILL, and back on the same log: it grows from where it was.
    c.kill("eu-fr");
    c.spawn("eu-fr").await;
    c.wait_healthy("eu-fr").await;
    // Every entry kept; the start logged its policy bundle after them.
    assert_eq!(c.log_size("eu-fr").await, size + 1);
    let (status, r) = read(&c).await;
    assert_eq!(status, 200, "{r}");
    c.verify("eu-fr", &r["entry"], &r["receipt"]);
    assert_eq!(c.log_size("eu-fr").await, size + 2);
    let out = verify(url, vkey).await.unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// eu-fr with its log in a fresh public bucket and its store in a fresh
/// PostgreSQL schema (which a second process can open too), 12 French users
/// ingested; None where moto or PostgreSQL is not at hand.
async fn shared_region(name: &str) -> Option<(moto::Moto, pg::Schema, Cluster)> {
    tls::install_ring();
    let http = tls::client(None).unwrap().build().unwrap();
    let m = moto(&http).await?;
    let pg = pg::schema(name).await?;
    let bucket = public_bucket(&http, &m).await;
    let store = format!("postgres:{}", pg.conninfo);
    let c = Cluster::with_log_bucket("eu-fr", &bucket, &S3_ENV, Some(&store)).await;
    let (status, r) = c
        .post(
            "eu-fr",
            "/v1/ingest",
            Some("app"),
            &json!({"events": events("FR", 12)}),
        )
        .await;
    assert_eq!(status, 202, "{r}");
    Some((m, pg, c))
}

/// `serve --standby` for eu-fr in the cluster's directory, with `args`
/// more; its output in `eu-fr-standby.out` ([`standby_output`]).
fn spawn_standby(c: &Cluster, args: &[&str]) -> std::process::Child {
    let out = std::fs::File::create(c.dir.path().join("eu-fr-standby.out")).unwrap();
    Command::new(c.program())
        .args(["serve", "--config", "cluster.toml", "--region", "eu-fr"])
        .args(["--init", "--standby"])
        .args(args)
        .current_dir(c.dir.path())
        .envs(c.env().iter().map(|(k, v)| (k, v)))
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .spawn()
        .unwrap()
}

fn standby_output(c: &Cluster) -> String {
    std::fs::read_to_string(c.dir.path().join("eu-fr-standby.out")).unwrap_or_default()
}

/// A standby process for eu-fr (its store on PostgreSQL, shared, its log in
/// the bucket) waits while the active node holds the log's lease — and
/// serves nothing — then takes over when the active one is killed with
/// SIGKILL: nothing acknowledged is lost, the log grows on, and verifies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_standby_takes_over_the_log_when_the_active_node_dies() {
    let Some((m, pg, mut c)) = shared_region("standby").await else {
        return;
    };
    // The cluster speaks TLS under its own CA (moto, plain HTTP, too).
    let http = c.http.clone();
    let (status, r) = read(&c).await;
    assert_eq!(status, 200, "{r}");
    let size = c.log_size("eu-fr").await;

    let mut standby = spawn_standby(&c, &[]);
    // Well past the lease's length: still waiting, the active one serving.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert!(standby.try_wait().unwrap().is_none(), "the standby gave up");
    let (status, _) = read(&c).await;
    assert_eq!(status, 200);
    let size = size.max(c.log_size("eu-fr").await);

    c.kill("eu-fr"); // SIGKILL
    let started = std::time::Instant::now();
    let mut served = None;
    while started.elapsed() < Duration::from_secs(20) {
        if let Ok(r) = http
            .get(format!("{}/log/checkpoint", c.urls["eu-fr"]))
            .send()
            .await
            && r.status().is_success()
        {
            served = Some(started.elapsed());
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let took =
        served.unwrap_or_else(|| panic!("the standby never took over:\n{}", standby_output(&c)));
    eprintln!("the standby took over in {took:?}");
    // Every entry kept (and its start's bundle entry after them).
    assert!(c.log_size("eu-fr").await > size);
    let (status, r) = read(&c).await;
    assert_eq!(status, 200, "{r}");
    c.verify("eu-fr", &r["entry"], &r["receipt"]);
    let vkey = c.log_key("eu-fr").to_vkey();
    let url = format!("{}/logs/eu-fr/log", m.endpoint);
    let program = c.program().to_owned();
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
    standby.kill().unwrap();
    standby.wait().unwrap();
    drop(c);
    pg.drop().await;
}

/// Regression (red team): a node that is gateway and sequencer at once
/// (role `both`) kept serving after another writer had fenced it out of
/// its log. Paused (SIGSTOP) past its lease, it loses the log to the
/// standby; resumed, it releases nothing and exits, naming why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_fenced_out_of_its_log_releases_nothing_and_exits() {
    let Some((_m, pg, mut c)) = shared_region("fenced").await else {
        return;
    };
    let active = c.pid("eu-fr").unwrap().to_string();
    let signal = |sig: &str| {
        let ok = Command::new("kill").args([sig, &active]).status().unwrap();
        assert!(ok.success());
    };
    signal("-STOP");
    // The standby, on a port of its own (the paused node keeps its socket).
    let port = ::cluster::free_port().unwrap();
    let mut standby = spawn_standby(&c, &["--listen", &format!("127.0.0.1:{port}")]);
    let http = c.http.clone();
    let standby_url = format!("https://127.0.0.1:{port}");
    let mut serving = false;
    for _ in 0..200 {
        if let Ok(r) = http
            .get(format!("{standby_url}/log/checkpoint"))
            .send()
            .await
            && r.status().is_success()
        {
            serving = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        serving,
        "the standby never took the log over:\n{}",
        standby_output(&c)
    );
    let size = c.log_size_at(&standby_url).await;

    signal("-CONT");
    let (status, r) = read(&c).await;
    assert_eq!(status, 503, "the fenced node answered: {r}");
    assert!(r.get("records").is_none(), "{r}");
    let mut exited = None;
    for _ in 0..100 {
        exited = c.try_wait("eu-fr");
        if exited.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let status = exited.expect("the fenced node kept running");
    assert!(!status.success());
    let said = std::fs::read_to_string(c.output("eu-fr")).unwrap();
    assert!(said.contains("fenced it out"), "{said}");
    // The standby's log went on, nothing of the fenced node's in it.
    assert_eq!(c.log_size_at(&standby_url).await, size);
    standby.kill().unwrap();
    standby.wait().unwrap();
    drop(c);
    pg.drop().await;
}
