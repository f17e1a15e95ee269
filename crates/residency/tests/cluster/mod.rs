//! The integration tests' cluster: the `cluster` crate's, with this
//! crate's binary, fixed credentials and a temporary directory, and the
//! tests' helpers over it (they panic: a failure is the test's).
#![allow(dead_code)]

use std::ops::{Deref, DerefMut};
use std::path::Path;

pub(crate) use cluster::REGIONS;
use serde_json::{Value, json};

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

/// A node's own token, as the nodes' environment holds it.
/// Every principal's and region's credential, as environment variables.
pub(crate) fn credentials() -> Vec<(String, String)> {
    TOKENS
        .iter()
        .map(|(_, var, value)| (var.to_string(), value.to_string()))
        .chain(REGIONS.map(|r| (cluster::node_token_var(r), node_token(r))))
        .collect()
}

pub(crate) fn node_token(region: &str) -> String {
    format!("node-token-of-{region}-0123456789")
}

/// A running cluster in a temporary directory, removed once its processes
/// are killed.
pub(crate) struct Cluster {
    cluster: cluster::Cluster,
    pub(crate) dir: tempfile::TempDir,
}

impl Deref for Cluster {
    type Target = cluster::Cluster;

    fn deref(&self) -> &cluster::Cluster {
        &self.cluster
    }
}

impl DerefMut for Cluster {
    fn deref_mut(&mut self) -> &mut cluster::Cluster {
        &mut self.cluster
    }
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
        Self::build(eu_fr_store, limits, policy, false).await
    }

    /// The three regions, each sealing for a key custodian of its own
    /// process.
    pub(crate) async fn with_custodian() -> Cluster {
        let policy = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/policy");
        Self::build(None, "body_bytes = 1000000", &policy, true).await
    }

    async fn build(
        eu_fr_store: Option<&str>,
        limits: &str,
        policy: &Path,
        custodian: bool,
    ) -> Cluster {
        Self::build_with(eu_fr_store, limits, policy, custodian, |_| {}).await
    }

    /// The three regions, `region`'s log in the bucket `log_bucket` (a
    /// TOML inline table), with `env` added to every process's.
    pub(crate) async fn with_log_bucket(
        region: &'static str,
        log_bucket: &str,
        env: &[(&str, &str)],
        eu_fr_store: Option<&str>,
    ) -> Cluster {
        let policy = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/policy");
        Self::build_with(eu_fr_store, "", &policy, false, |setup| {
            setup.log_buckets.insert(region, log_bucket.to_owned());
            setup
                .credentials
                .extend(env.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        })
        .await
    }

    /// The three regions, `region` notifying the app at `notify` (a TOML
    /// inline table), with `env` added to every process's.
    pub(crate) async fn with_notify(
        region: &'static str,
        notify: &str,
        env: &[(&str, &str)],
    ) -> Cluster {
        let policy = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/policy");
        Self::build_with(None, "", &policy, false, |setup| {
            setup.notify.insert(region, notify.to_owned());
            setup
                .credentials
                .extend(env.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        })
        .await
    }

    /// The three regions, `region` split into gateways and sequencers
    /// (`split`), its log in the bucket `log_bucket`, its store `store`, a
    /// monitor watching, with `env` added to every process's.
    pub(crate) async fn split(
        region: &'static str,
        split: cluster::Split,
        log_bucket: &str,
        env: &[(&str, &str)],
        store: &str,
    ) -> Cluster {
        let policy = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/policy");
        let dashboard = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        Self::build_with(Some(store), "", &policy, false, |setup| {
            setup.log_buckets.insert(region, log_bucket.to_owned());
            setup.split.insert(region, split);
            setup.dashboard = Some(dashboard);
            setup
                .credentials
                .extend(env.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        })
        .await
    }

    async fn build_with(
        eu_fr_store: Option<&str>,
        limits: &str,
        policy: &Path,
        custodian: bool,
        tweak: impl FnOnce(&mut cluster::Setup),
    ) -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        let mut setup = cluster::Setup::new(env!("CARGO_BIN_EXE_residency"), dir.path(), policy);
        if let Some(pg) = eu_fr_store {
            setup.stores.insert("eu-fr", pg.to_owned());
        }
        setup.limits = limits.to_owned();
        setup.credentials = credentials();
        setup.log_filter = Some("debug".into());
        setup.custodian = custodian;
        tweak(&mut setup);
        let cluster = match cluster::Cluster::start(setup).await {
            Ok(c) => c,
            Err(cluster::Error::Stopped { name, output, .. }) => panic!(
                "{name} stopped:\n{}",
                std::fs::read_to_string(output).unwrap_or_default()
            ),
            Err(e) => panic!("{e}"),
        };
        Cluster { cluster, dir }
    }

    /// Restarts a region's node.
    pub(crate) async fn spawn(&mut self, region: &'static str) {
        self.cluster.spawn_region(region).await.unwrap();
    }

    /// Waits until a region answers its health check; panics with its
    /// output if it does not.
    pub(crate) async fn wait_healthy(&mut self, region: &str) {
        if let Err(e) = self.cluster.wait_healthy(region).await {
            panic!(
                "{e}:\n{}",
                std::fs::read_to_string(self.output(region)).unwrap_or_default()
            );
        }
    }

    /// The size of the checkpoint a region serves.
    pub(crate) async fn log_size(&self, region: &str) -> u64 {
        self.log_size_at(&self.urls[region]).await
    }

    /// The size of the log served at `url`.
    pub(crate) async fn log_size_at(&self, url: &str) -> u64 {
        let text = self.get_text(&format!("{url}/log/checkpoint")).await;
        text.lines().nth(1).unwrap().parse().unwrap()
    }

    /// The body of a GET of `url`, as text.
    pub(crate) async fn get_text(&self, url: &str) -> String {
        self.http
            .get(url)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    /// Entry `index` of a running region's log, as JSON, read from the log
    /// it serves (its files follow the journal by up to 50 ms).
    pub(crate) async fn log_entry(&self, region: &str, index: u64) -> Value {
        let size = self.log_size(region).await;
        let log =
            tlog::verify::HttpTiles::new(self.http.clone(), &format!("{}/log", self.urls[region]));
        serde_json::from_slice(&log.entry(index, size).await.unwrap()).unwrap()
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
        self.log_keys[region].clone()
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
