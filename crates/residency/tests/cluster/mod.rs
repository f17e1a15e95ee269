//! A cluster of real processes for integration tests: a witness and the
//! three regions of the example policy, each a `residency serve` process
//! on loopback, with their credentials in the environment.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

pub(crate) const REGIONS: [&str; 3] = ["eu-fr", "eu-no", "us-tx"];

/// Principals' credentials, as the example principals.toml references them.
pub(crate) const TOKENS: [(&str, &str, &str); 5] = [
    ("app", "RESIDENCY_TOKEN_APP", "app-token-0123456789abcdef"),
    (
        "svc-reco-us",
        "RESIDENCY_TOKEN_RECO",
        "reco-token-0123456789abcdef",
    ),
    (
        "eng-beijing",
        "RESIDENCY_TOKEN_ENG_BEIJING",
        "eng-token-0123456789abcdef",
    ),
    (
        "support-dublin",
        "RESIDENCY_TOKEN_SUPPORT",
        "support-token-0123456789abcdef",
    ),
    ("dpo", "RESIDENCY_TOKEN_DPO", "dpo-token-0123456789abcdef"),
];

pub(crate) fn token(principal: &str) -> &'static str {
    TOKENS
        .iter()
        .find(|t| t.0 == principal)
        .map(|t| t.2)
        .unwrap()
}

pub(crate) fn node_env(region: &str) -> String {
    format!(
        "RESIDENCY_NODE_TOKEN_{}",
        region.to_uppercase().replace('-', "_")
    )
}

pub(crate) struct Cluster {
    pub(crate) dir: tempfile::TempDir,
    pub(crate) witness: tlog::Verifier,
    pub(crate) witness_url: String,
    pub(crate) urls: BTreeMap<&'static str, String>,
    pub(crate) children: BTreeMap<&'static str, Child>,
    pub(crate) http: reqwest::Client,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for c in self.children.values_mut() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Cluster {
    /// Starts the three regions, eu-fr's store at `eu_fr_store` (a
    /// `postgres:` location) or, by default, in SQLite.
    pub(crate) async fn start(eu_fr_store: Option<&str>) -> Cluster {
        Self::with_limits(eu_fr_store, "body_bytes = 1000000").await
    }

    pub(crate) async fn with_limits(eu_fr_store: Option<&str>, limits: &str) -> Cluster {
        let policy = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/policy");
        Self::with_policy(eu_fr_store, limits, &policy).await
    }

    pub(crate) async fn with_policy(
        eu_fr_store: Option<&str>,
        limits: &str,
        policy: &Path,
    ) -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        let mut file = format!("policy = {:?}\n", policy.display().to_string());
        // The logs exist before the witness, which must know their keys.
        let mut witness_logs = Vec::new();
        for r in REGIONS {
            let log = dir.path().join(r).join("log");
            let status = Command::new(env!("CARGO_BIN_EXE_residency"))
                .args([
                    "log",
                    "init",
                    "--origin",
                    &format!("residency.example/{r}"),
                    "--dir",
                ])
                .arg(&log)
                .stdout(Stdio::null())
                .status()
                .unwrap();
            assert!(status.success());
            witness_logs.push("--log".into());
            witness_logs.push(log.join("log.vkey").into_os_string());
        }
        let witness =
            tlog::Signer::generate("witness.example", tlog::note::TYPE_COSIGNATURE_V1).unwrap();
        std::fs::write(dir.path().join("witness.key"), witness.to_skey()).unwrap();
        let witness_port = free_port();
        let witness_out = std::fs::File::create(dir.path().join("witness.out")).unwrap();
        let witness_child = Command::new(env!("CARGO_BIN_EXE_residency"))
            .args([
                "witness",
                "--listen",
                &format!("127.0.0.1:{witness_port}"),
                "--key",
            ])
            .arg(dir.path().join("witness.key"))
            .arg("--state")
            .arg(dir.path().join("witness.sqlite"))
            .args(&witness_logs)
            .stdout(witness_out.try_clone().unwrap())
            .stderr(witness_out)
            .spawn()
            .unwrap();
        file.push_str(&format!(
            "[[witnesses]]\nurl = \"http://127.0.0.1:{witness_port}\"\nvkey = \"{}\"\n",
            witness.verifier().to_vkey()
        ));
        let mut urls = BTreeMap::new();
        for r in REGIONS {
            let port = free_port();
            let url = format!("http://127.0.0.1:{port}");
            let store = match eu_fr_store {
                Some(pg) if r == "eu-fr" => pg.to_owned(),
                _ => format!("sqlite:{r}/store"),
            };
            file.push_str(&format!(
                "[regions.{r}]\nlisten = \"127.0.0.1:{port}\"\nurl = \"{url}\"\n\
                 store = {store:?}\nlog = \"{r}/log\"\nkeys = \"{r}/region.keys\"\n\
                 token = \"env:{}\"\n",
                node_env(r)
            ));
            urls.insert(r, url);
        }
        file.push_str(&format!("[limits]\n{limits}\n"));
        std::fs::write(dir.path().join("cluster.toml"), file).unwrap();
        let mut children = BTreeMap::new();
        children.insert("witness", witness_child);
        let mut cluster = Cluster {
            dir,
            witness: witness.verifier(),
            witness_url: format!("http://127.0.0.1:{witness_port}"),
            urls,
            children,
            http: reqwest::Client::new(),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", witness_port)).is_err() {
            assert!(Instant::now() < deadline, "the witness did not start");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        for r in REGIONS {
            cluster.spawn(r);
        }
        for r in REGIONS {
            cluster.wait_healthy(r).await;
        }
        cluster
    }

    /// Stops a region's process.
    /// Stops a region as an operator would (SIGINT): it settles its log's
    /// journal, so what a test then does to the log's files is what the
    /// next start finds. A region that does not stop in time is killed.
    pub(crate) fn stop(&mut self, region: &str) {
        let Some(mut c) = self.children.remove(region) else {
            return;
        };
        if let Some(pid) = i32::try_from(c.id())
            .ok()
            .and_then(rustix::process::Pid::from_raw)
        {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::INT);
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = c.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = c.kill();
        let _ = c.wait();
    }

    /// The size of the checkpoint a region serves.
    pub(crate) async fn log_size(&self, region: &str) -> u64 {
        let text = self
            .http
            .get(format!("{}/log/checkpoint", self.urls[region]))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        text.lines().nth(1).unwrap().parse().unwrap()
    }

    /// Entry `index` of a running region's log, as JSON.
    pub(crate) async fn log_entry(&self, region: &str, index: u64) -> Value {
        let reader = tlog::LogReader::new(tlog::FsStorage::open(self.log_dir(region)).unwrap());
        let size = self.log_size(region).await;
        serde_json::from_slice(&reader.entry(index, size).await.unwrap()).unwrap()
    }

    /// The directory of a region's log.
    pub(crate) fn log_dir(&self, region: &str) -> PathBuf {
        self.dir.path().join(region).join("log")
    }

    pub(crate) fn spawn(&mut self, region: &'static str) {
        let out = std::fs::File::create(self.output(region)).unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_residency"));
        cmd.args(["serve", "--config"])
            .arg(self.dir.path().join("cluster.toml"))
            .args(["--region", region, "--init"])
            .env("RESIDENCY_LOG", "debug")
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .stdin(Stdio::null());
        for (_, var, value) in TOKENS {
            cmd.env(var, value);
        }
        for r in REGIONS {
            cmd.env(node_env(r), format!("node-token-of-{r}-0123456789"));
        }
        self.children.insert(region, cmd.spawn().unwrap());
    }

    pub(crate) fn output(&self, region: &str) -> PathBuf {
        self.dir.path().join(format!("{region}.out"))
    }

    pub(crate) async fn wait_healthy(&self, region: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let health = self.http.get(format!("{}/healthz", self.urls[region]));
            if health.send().await.is_ok_and(|r| r.status() == 200) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{region} did not start: {}",
                std::fs::read_to_string(self.output(region)).unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub(crate) async fn post(
        &self,
        region: &str,
        path: &str,
        principal: Option<&str>,
        body: &Value,
    ) -> (u16, Value) {
        self.post_raw(
            region,
            path,
            principal,
            "application/json",
            body.to_string(),
        )
        .await
    }

    pub(crate) async fn post_raw(
        &self,
        region: &str,
        path: &str,
        principal: Option<&str>,
        content_type: &str,
        body: String,
    ) -> (u16, Value) {
        let bearer = principal.map(|p| {
            if p.starts_with("node-token") {
                p.to_owned()
            } else {
                token(p).to_owned()
            }
        });
        let mut req = self
            .http
            .post(format!("{}{path}", self.urls[region]))
            .header("content-type", content_type)
            .body(body);
        if let Some(b) = bearer {
            req = req.bearer_auth(b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let ct = resp
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        let text = resp.text().await.unwrap();
        if status >= 400 {
            assert_eq!(ct, "application/problem+json", "{status} {text}");
        }
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    pub(crate) fn log_key(&self, region: &str) -> tlog::Verifier {
        let text =
            std::fs::read_to_string(self.dir.path().join(region).join("log/log.vkey")).unwrap();
        tlog::Verifier::parse(text.trim()).unwrap()
    }

    /// Checks a receipt against the entry as returned and the log's key.
    pub(crate) fn verify(&self, region: &str, entry: &Value, receipt: &Value) {
        let bytes = entry::canonical(entry);
        let receipt = tlog::Receipt::parse(receipt.as_str().unwrap()).unwrap();
        receipt.verify(&bytes, &self.log_key(region), &[]).unwrap();
    }
}

pub(crate) fn phone(i: usize) -> String {
    format!(
        "+33 6 {:02} {:02} {:02} {:02}",
        10 + i % 89,
        20 + i % 79,
        30 + i % 69,
        40 + i % 59
    )
}

pub(crate) fn address(i: usize) -> String {
    format!("{} rue des Glycines, 75011 Paris", 100 + i)
}

/// Events for `n` users of `country`: device, network, profile, social, account.
pub(crate) fn events(country: &str, n: usize) -> Vec<Value> {
    let mut out = Vec::new();
    for i in 0..n {
        let user = format!("{}-user-{i:04}", country.to_lowercase());
        let rec = |ds: &str, fields: Value| {
            json!({"user_id": user, "country": country, "dataset": ds,
                   "record_id": format!("{user}-{ds}"), "time": 1_764_000_000 + i as i64, "fields": fields})
        };
        out.push(rec("account", json!({"user_id": user})));
        out.push(rec(
            "device",
            json!({"language": "fr-FR", "os_version": format!("{}.{}.1", 16 + i % 3, i % 5)}),
        ));
        out.push(rec(
            "network",
            json!({"wifi_ssid": format!("Livebox-{i:04}"), "ip": format!("192.0.2.{}", i % 250)}),
        ));
        out.push(rec(
            "profile",
            json!({"phone": phone(i), "address": address(i)}),
        ));
        out.push(rec(
            "social",
            json!({"friends": format!("{}-user-{:04}", country.to_lowercase(), (i + 1) % n),
                                       "contacts": format!("contact-{i}@example.org")}),
        ));
    }
    out
}
