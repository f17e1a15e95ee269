//! A real S3-compatible server for the storage tests: moto's, started on
//! a free loopback port from `RESIDENCY_TEST_MOTO` (`.ci/run` installs it
//! in a virtual environment).
#![allow(dead_code, unreachable_pub)]

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use tlog::{S3Config, S3Storage};

/// A moto S3 server on a free loopback port, killed when dropped.
pub struct Moto {
    child: Child,
    pub endpoint: String,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the server, or `None` when `RESIDENCY_TEST_MOTO` is unset
/// (outside CI: under `CI=true` that is a failure).
pub async fn moto() -> Option<Moto> {
    let Ok(bin) = std::env::var("RESIDENCY_TEST_MOTO") else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI must set RESIDENCY_TEST_MOTO (.ci/run installs moto)"
        );
        eprintln!("RESIDENCY_TEST_MOTO is not set: the S3 driver's tests are skipped");
        return None;
    };
    // The feature brings rustls without a provider: ring, as the
    // driver installs it, before this test's own client.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let moto = Moto {
        child: Command::new(bin)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start moto_server"),
        endpoint: format!("http://127.0.0.1:{port}"),
    };
    let http = http();
    for _ in 0..300 {
        if http.get(&moto.endpoint).send().await.is_ok() {
            return Some(moto);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let endpoint = moto.endpoint.clone();
    panic!("moto_server did not answer on {endpoint}");
}

impl Moto {
    /// A fresh bucket, and a storage in it under `prefix`.
    pub async fn storage(&self, bucket: &str, prefix: &str) -> S3Storage {
        let r = http()
            .put(format!("{}/{bucket}", self.endpoint))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success() || r.status() == 409, "{r:?}");
        connect(&self.endpoint, bucket, prefix)
    }
}

/// A storage in `bucket` (which must exist) under `prefix` at `endpoint`,
/// with a lease of 1 s.
pub fn connect(endpoint: &str, bucket: &str, prefix: &str) -> S3Storage {
    S3Storage::new(&S3Config {
        endpoint: endpoint.into(),
        bucket: bucket.into(),
        prefix: prefix.into(),
        region: "us-east-1".into(),
        access_key_id: "test".into(),
        secret_access_key: "test".into(),
        allow_http: true,
        lease: Duration::from_secs(1),
    })
    .unwrap()
}

/// An HTTP client, ring its TLS provider (reqwest is built without one).
pub fn http() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}
