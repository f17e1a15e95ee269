//! moto's S3 server for the tests (`RESIDENCY_TEST_MOTO`, installed by
//! `.ci/run`), and a public bucket on it for a region's log.
#![allow(dead_code)]

use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// moto's S3 server on a free port, killed when dropped.
pub(crate) struct Moto {
    child: Child,
    pub(crate) endpoint: String,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) async fn moto(http: &reqwest::Client) -> Option<Moto> {
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

/// A bucket anyone may read, as a static site (only the node writes), and
/// the `log_bucket` naming it for eu-fr, with a lease of 1 s.
pub(crate) async fn public_bucket(http: &reqwest::Client, m: &Moto) -> String {
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
    format!(
        "{{ endpoint = \"{}\", bucket = \"logs\", prefix = \"eu-fr/log\", access_key_id = \"env:S3_KEY\", secret_access_key = \"env:S3_SECRET\", allow_http = true, lease_secs = 1 }}",
        m.endpoint
    )
}

pub(crate) const S3_ENV: [(&str, &str); 2] = [
    ("S3_KEY", "AKIATESTKEY000000001"),
    ("S3_SECRET", "test-secret-access-key-0000000000000001"),
];
