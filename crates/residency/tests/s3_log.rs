//! A region whose log is in an S3-compatible bucket (`log_bucket`, the
//! `s3` feature): moto's server on loopback (`RESIDENCY_TEST_MOTO`, set by
//! `.ci/run`), the node a real process. Ingest and a read are logged
//! there, the receipt verifies, the log verifies from the bucket's URL
//! alone, and a node killed with SIGKILL comes back on the same log.
#![cfg(feature = "s3")]

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::json;

mod cluster;

use cluster::{Cluster, events, phone};

/// moto's S3 server on a free port, killed when dropped.
struct Moto {
    child: Child,
    endpoint: String,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn moto(http: &reqwest::Client) -> Option<Moto> {
    let Ok(bin) = std::env::var("RESIDENCY_TEST_MOTO") else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI must set RESIDENCY_TEST_MOTO (.ci/run installs moto)"
        );
        eprintln!("RESIDENCY_TEST_MOTO is not set: skipped");
        return None;
    };
    let port = ::cluster::free_port().unwrap();
    let moto = Moto {
        child: Command::new(bin)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start moto_server"),
        endpoint: format!("http://127.0.0.1:{port}"),
    };
    for _ in 0..300 {
        if http.get(&moto.endpoint).send().await.is_ok() {
            return Some(moto);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("moto_server did not answer");
}

async fn read(c: &Cluster) -> (u16, serde_json::Value) {
    let body = json!({"user_id": "fr-user-0003", "fields": ["profile.phone"], "purpose": "support-ticket"});
    c.post("eu-fr", "/v1/read", Some("support-dublin"), &body)
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_region_keeps_its_log_in_a_bucket_and_survives_sigkill() {
    // This build has rustls without a provider (the `s3` feature): ring.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::new();
    let Some(m) = moto(&http).await else { return };
    // A bucket anyone may read, as a static site; only the node writes.
    assert!(
        http.put(format!("{}/logs", m.endpoint))
            .send()
            .await
            .unwrap()
            .status()
            .is_success()
    );
    let policy = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::logs/*"}]}"#;
    let r = http
        .put(format!("{}/logs?policy", m.endpoint))
        .body(policy)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{r:?}");
    let bucket = format!(
        "{{ endpoint = \"{}\", bucket = \"logs\", prefix = \"eu-fr/log\", access_key_id = \"env:S3_KEY\", secret_access_key = \"env:S3_SECRET\", allow_http = true, lease_secs = 1 }}",
        m.endpoint
    );
    let mut c = Cluster::with_log_bucket(
        "eu-fr",
        &bucket,
        &[
            ("S3_KEY", "AKIATESTKEY000000001"),
            ("S3_SECRET", "test-secret-access-key-0000000000000001"),
        ],
    )
    .await;

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

    // SIGKILL, and back on the same log: it grows from where it was.
    c.kill("eu-fr");
    c.spawn("eu-fr");
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
