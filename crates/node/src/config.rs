//! The cluster file: every region's deployment (listen address, public URL,
//! store, log directory, key file, node credential), the policy directory
//! and the limits. One file for the whole cluster, so every node knows its
//! peers; `residency serve --region ID` picks its own entry.
//!
//! Jurisdiction, location and the residency rule (country → region) are
//! not repeated here: they are the policy bundle's `regions.toml`, which is
//! logged, so a monitor replays decisions with the very rule in force. The
//! cluster file must name exactly the bundle's regions.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::Error;

/// The cluster file as written.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ClusterFile {
    policy: PathBuf,
    regions: BTreeMap<String, RegionFile>,
    #[serde(default)]
    limits: Limits,
    #[serde(default)]
    witnesses: Vec<WitnessFile>,
    #[serde(default)]
    tls: Option<TlsFile>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TlsFile {
    cert: PathBuf,
    key: PathBuf,
    #[serde(default)]
    ca: Option<PathBuf>,
}

/// The cluster's TLS files (`[tls]`): this process's certificate chain and
/// key (PEM), and the CA certificates its clients trust (peers, the
/// sequencer, the custodian, witnesses); without `ca`, the platform's
/// roots.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsFiles {
    /// The certificate chain, leaf first.
    pub cert: PathBuf,
    /// Its private key.
    pub key: PathBuf,
    /// The roots clients trust.
    pub ca: Option<PathBuf>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct WitnessFile {
    url: String,
    vkey: String,
}

/// A witness every node pushes its checkpoints to (C2SP tlog-witness).
#[derive(Clone, Debug)]
pub struct WitnessConfig {
    /// Submission prefix: `<url>/add-checkpoint` is called.
    pub url: String,
    /// The witness's public key (cosignature/v1).
    pub key: tlog::Verifier,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RegionFile {
    listen: SocketAddr,
    url: String,
    store: String,
    #[serde(default)]
    keyring: Option<String>,
    log: PathBuf,
    #[serde(default)]
    log_bucket: Option<BucketFile>,
    #[serde(default)]
    sequencers: Vec<String>,
    keys: PathBuf,
    token: String,
    token_sha256: String,
    #[serde(default)]
    custodian: Option<CustodianFile>,
    #[serde(default)]
    notify: Option<NotifyFile>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NotifyFile {
    url: String,
    secret: String,
    datasets: Vec<String>,
    #[serde(default)]
    allow_http: bool,
}

/// Where a region notifies the app of accesses to a person's data from
/// outside the person's country (`[regions.ID.notify]`).
#[derive(Clone, Debug)]
pub struct NotifyConfig {
    /// The app's webhook URL.
    pub url: String,
    /// Reference (`env:NAME` or `file:PATH`) to the signing secret, a
    /// Standard Webhooks secret (`whsec_` and base64).
    pub secret: String,
    /// The datasets whose accesses are notified (opt-in); `*` alone: the
    /// whole catalog.
    pub datasets: Vec<String>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BucketFile {
    endpoint: String,
    bucket: String,
    #[serde(default)]
    prefix: String,
    #[serde(default = "default_bucket_region")]
    region: String,
    access_key_id: String,
    secret_access_key: String,
    #[serde(default)]
    allow_http: bool,
    #[serde(default = "default_lease_secs")]
    lease_secs: u64,
}

fn default_lease_secs() -> u64 {
    10
}

fn default_bucket_region() -> String {
    "us-east-1".into()
}

/// An S3-compatible bucket a region keeps its log in (the signing key
/// stays in its `log` directory).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BucketConfig {
    /// The endpoint URL.
    pub endpoint: String,
    /// The bucket.
    pub bucket: String,
    /// The log's folder in it.
    pub prefix: String,
    /// The signing region.
    pub region: String,
    /// Reference (`env:NAME` or `file:PATH`) to the access key id.
    pub access_key_id: String,
    /// Reference to the secret access key.
    pub secret_access_key: String,
    /// Whether a plain `http://` endpoint is allowed.
    pub allow_http: bool,
    /// The sequencer's lease on the log, in seconds (default 10): a node
    /// started while another holds it is refused until it runs out.
    pub lease_secs: u64,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CustodianFile {
    url: String,
    key: String,
    token: String,
}

/// The key custodian a region's records are sealed for.
#[derive(Clone, Debug)]
pub struct CustodianConfig {
    /// Its base URL.
    pub url: String,
    /// Its current public key (`NAME+SUITE+BASE64`), new batches are sealed to.
    pub key: custody::CustodianPublicKey,
    /// Reference (`env:NAME` or `file:PATH`) to the bearer token this
    /// region's gateway presents to it.
    pub token: String,
}

/// Limits every node applies.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Largest request body, in bytes.
    pub body_bytes: usize,
    /// Requests per second each principal may make (sustained).
    pub requests_per_second: u32,
    /// Requests a principal may make in a burst.
    pub burst: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            body_bytes: 16 * 1024 * 1024,
            requests_per_second: 5_000,
            burst: 10_000,
        }
    }
}

/// Where a region keeps its records.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoreLocation {
    /// A SQLite store in this directory.
    Sqlite(PathBuf),
    /// PostgreSQL: the records' and the keyring's connection strings.
    Postgres {
        /// Records half.
        records: String,
        /// Keyring half (the records' database when not given apart).
        keyring: String,
    },
}

/// One region's deployment.
#[derive(Clone, Debug)]
pub struct RegionConfig {
    /// Region id, e.g. `eu-fr`.
    pub id: String,
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Base URL other nodes and clients reach it at.
    pub url: String,
    /// Its store.
    pub store: StoreLocation,
    /// Its log directory (tiles, checkpoint, `log.key`).
    pub log: PathBuf,
    /// The bucket its log is kept in instead of `log` (which then holds
    /// only the key files).
    pub log_bucket: Option<BucketConfig>,
    /// The base URLs of its sequencers, when they run apart from its
    /// gateways (`serve --role sequencer`): the active one and standbys,
    /// tried in this order. Empty: each node sequences its own log (the
    /// embedded default).
    pub sequencers: Vec<String>,
    /// Its key file (`residency keys init`).
    pub keys: PathBuf,
    /// Reference (`env:NAME` or `file:PATH`) to the credential the
    /// region's own processes present: its gateways when they forward to a
    /// peer or submit to its sequencer. Only they resolve it.
    pub token: String,
    /// The SHA-256 of that credential, by which peers and the region's
    /// sequencer recognise it: no process holds another region's secret,
    /// so no peer can speak as this region (to its sequencer above all).
    pub token_sha256: [u8; 32],
    /// The key custodian its records are sealed for, if any: without one
    /// the key file's KEK wraps the data keys.
    pub custodian: Option<CustodianConfig>,
    /// The app's webhook for notifications, if the app opted in.
    pub notify: Option<NotifyConfig>,
}

/// The loaded cluster file, paths resolved against its directory.
#[derive(Clone, Debug)]
pub struct ClusterConfig {
    /// The file it was read from.
    pub file: PathBuf,
    /// The policy directory.
    pub policy: PathBuf,
    /// Regions by id.
    pub regions: BTreeMap<String, RegionConfig>,
    /// Limits.
    pub limits: Limits,
    /// Witnesses.
    pub witnesses: Vec<WitnessConfig>,
    /// TLS: without it, nodes serve plain HTTP only when told to
    /// (`serve --insecure-http`).
    pub tls: Option<TlsFiles>,
}

impl ClusterConfig {
    /// Reads and checks a cluster file.
    pub fn load(path: &Path) -> Result<Self, Error> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::Config {
            file: path.display().to_string(),
            field: String::new(),
            why: e.to_string(),
        })?;
        Self::parse(path, &text)
    }

    /// Parses a cluster file's text; `path` names it in errors and anchors
    /// relative paths.
    pub fn parse(path: &Path, text: &str) -> Result<Self, Error> {
        let file = path.display().to_string();
        let bad = |field: String, why: String| Error::Config {
            file: file.clone(),
            field,
            why,
        };
        let raw: ClusterFile = toml::from_str(text)
            .map_err(|e| bad(String::new(), e.to_string().trim_end().replace('\n', " ")))?;
        let base = path.parent().unwrap_or(Path::new("."));
        let at = |p: &Path| base.join(p);
        if raw.regions.is_empty() {
            return Err(bad("regions".into(), "no region is configured".into()));
        }
        if raw.limits.body_bytes == 0 || raw.limits.requests_per_second == 0 {
            return Err(bad(
                "limits".into(),
                "body_bytes and requests_per_second must be above 0".into(),
            ));
        }
        let mut regions = BTreeMap::new();
        for (id, r) in raw.regions {
            let field = |name: &str| format!("regions.{id}.{name}");
            if !(r.url.starts_with("http://") || r.url.starts_with("https://")) {
                return Err(bad(
                    field("url"),
                    "must start with http:// or https://".into(),
                ));
            }
            let store = parse_store(&r.store, base).map_err(|why| bad(field("store"), why))?;
            let store = match (store, r.keyring) {
                (s @ StoreLocation::Sqlite(_), None) => s,
                (StoreLocation::Postgres { records, .. }, Some(k)) => {
                    let keyring = k.strip_prefix("postgres:").ok_or_else(|| {
                        bad(
                            field("keyring"),
                            "must be `postgres:<connection string>`".into(),
                        )
                    })?;
                    StoreLocation::Postgres {
                        records,
                        keyring: keyring.to_owned(),
                    }
                }
                (s @ StoreLocation::Postgres { .. }, None) => s,
                (StoreLocation::Sqlite(_), Some(_)) => {
                    return Err(bad(
                        field("keyring"),
                        "only a PostgreSQL store takes a separate keyring".into(),
                    ));
                }
            };
            if !r.token.starts_with("env:") && !r.token.starts_with("file:") {
                return Err(bad(
                    field("token"),
                    "must be a reference, `env:NAME` or `file:PATH`, never the secret".into(),
                ));
            }
            let token = match r.token.strip_prefix("file:") {
                Some(p) => format!("file:{}", at(Path::new(p)).display()),
                None => r.token,
            };
            let token_sha256 = hex::decode(r.token_sha256.trim())
                .ok()
                .and_then(|b| <[u8; 32]>::try_from(b).ok())
                .ok_or_else(|| {
                    bad(
                        field("token_sha256"),
                        "must be the SHA-256 of the region's token, 64 hex digits \
                         (`printf %s \"$TOKEN\" | sha256sum`)"
                            .into(),
                    )
                })?;
            for (i, u) in r.sequencers.iter().enumerate() {
                if !(u.starts_with("http://") || u.starts_with("https://")) {
                    return Err(bad(
                        format!("regions.{id}.sequencers[{i}]"),
                        "must start with http:// or https://".into(),
                    ));
                }
            }
            if !r.sequencers.is_empty() && r.log_bucket.is_none() {
                return Err(bad(
                    field("sequencers"),
                    "sequencers apart from the gateways need the log in a bucket (log_bucket): the gateways read what the sequencer writes there".into(),
                ));
            }
            let custodian = match r.custodian {
                None => None,
                Some(c) => {
                    if !(c.url.starts_with("http://") || c.url.starts_with("https://")) {
                        return Err(bad(
                            field("custodian.url"),
                            "must start with http:// or https://".into(),
                        ));
                    }
                    if !c.token.starts_with("env:") && !c.token.starts_with("file:") {
                        return Err(bad(
                            field("custodian.token"),
                            "must be a reference, `env:NAME` or `file:PATH`, never the secret"
                                .into(),
                        ));
                    }
                    let key = custody::CustodianPublicKey::parse(&c.key)
                        .map_err(|e| bad(field("custodian.key"), e.to_string()))?;
                    Some(CustodianConfig {
                        url: c.url.trim_end_matches('/').to_owned(),
                        key,
                        token: match c.token.strip_prefix("file:") {
                            Some(p) => format!("file:{}", at(Path::new(p)).display()),
                            None => c.token,
                        },
                    })
                }
            };
            let notify = match r.notify {
                None => None,
                Some(n) => {
                    let plain = n.allow_http && n.url.starts_with("http://");
                    if !(n.url.starts_with("https://") || plain) {
                        return Err(bad(
                            field("notify.url"),
                            "must start with https:// (http:// only with allow_http = true)".into(),
                        ));
                    }
                    if !n.secret.starts_with("env:") && !n.secret.starts_with("file:") {
                        return Err(bad(
                            field("notify.secret"),
                            "must be a reference, `env:NAME` or `file:PATH`, never the secret"
                                .into(),
                        ));
                    }
                    if n.datasets.is_empty() {
                        return Err(bad(
                            field("notify.datasets"),
                            "names the datasets whose accesses are notified, or \"*\" for the whole catalog".into(),
                        ));
                    }
                    Some(NotifyConfig {
                        url: n.url,
                        secret: match n.secret.strip_prefix("file:") {
                            Some(p) => format!("file:{}", at(Path::new(p)).display()),
                            None => n.secret,
                        },
                        datasets: n.datasets,
                    })
                }
            };
            regions.insert(
                id.clone(),
                RegionConfig {
                    url: r.url.trim_end_matches('/').to_owned(),
                    id,
                    listen: r.listen,
                    store,
                    log: at(&r.log),
                    log_bucket: r.log_bucket.map(|b| BucketConfig {
                        endpoint: b.endpoint,
                        bucket: b.bucket,
                        prefix: b.prefix,
                        region: b.region,
                        access_key_id: b.access_key_id,
                        secret_access_key: b.secret_access_key,
                        allow_http: b.allow_http,
                        lease_secs: b.lease_secs,
                    }),
                    sequencers: r
                        .sequencers
                        .iter()
                        .map(|u| u.trim_end_matches('/').to_owned())
                        .collect(),
                    keys: at(&r.keys),
                    token,
                    token_sha256,
                    custodian,
                    notify,
                },
            );
        }
        let mut witnesses = Vec::new();
        for (i, w) in raw.witnesses.into_iter().enumerate() {
            if !(w.url.starts_with("http://") || w.url.starts_with("https://")) {
                return Err(bad(
                    format!("witnesses[{i}].url"),
                    "must start with http:// or https://".into(),
                ));
            }
            let key = tlog::Verifier::parse(w.vkey.trim())
                .map_err(|e| bad(format!("witnesses[{i}].vkey"), e.to_string()))?;
            witnesses.push(WitnessConfig {
                url: w.url.trim_end_matches('/').to_owned(),
                key,
            });
        }
        let tls = raw.tls.map(|t| TlsFiles {
            cert: at(&t.cert),
            key: at(&t.key),
            ca: t.ca.map(|c| at(&c)),
        });
        // With TLS configured, a plain URL would carry a node's token in
        // clear: refused, naming the field.
        if tls.is_some() {
            for (id, r) in &regions {
                let mut urls = vec![(format!("regions.{id}.url"), &r.url)];
                for (i, u) in r.sequencers.iter().enumerate() {
                    urls.push((format!("regions.{id}.sequencers[{i}]"), u));
                }
                if let Some(c) = &r.custodian {
                    urls.push((format!("regions.{id}.custodian.url"), &c.url));
                }
                for (field, u) in urls {
                    if !u.starts_with("https://") {
                        return Err(bad(
                            field,
                            "must be https:// when the cluster has [tls]".into(),
                        ));
                    }
                }
            }
            for (i, w) in witnesses.iter().enumerate() {
                if !w.url.starts_with("https://") {
                    return Err(bad(
                        format!("witnesses[{i}].url"),
                        "must be https:// when the cluster has [tls]".into(),
                    ));
                }
            }
        }
        Ok(ClusterConfig {
            tls,
            witnesses,
            file: path.to_owned(),
            policy: at(&raw.policy),
            regions,
            limits: raw.limits,
        })
    }

    /// The HTTP client of a node of this cluster (to peers, its sequencer,
    /// its custodian, witnesses): trusting `[tls].ca` if given, requests
    /// timing out after `timeout`.
    pub fn http_client(&self, timeout: std::time::Duration) -> Result<reqwest::Client, Error> {
        let ca = self.tls.as_ref().and_then(|t| t.ca.as_deref());
        tls::client(ca)
            .and_then(|b| {
                b.timeout(timeout)
                    .build()
                    .map_err(|e| tls::Error::Config(e.to_string()))
            })
            .map_err(|e| Error::Config {
                file: self.file.display().to_string(),
                field: "tls.ca".into(),
                why: e.to_string(),
            })
    }

    /// Checks that the cluster names exactly the policy bundle's regions.
    pub fn check_against(&self, bundle: &policy::Bundle) -> Result<(), Error> {
        let ours: Vec<&String> = self.regions.keys().collect();
        let theirs: Vec<&String> = bundle.regions.regions.keys().collect();
        if ours != theirs {
            return Err(Error::Config {
                file: self.file.display().to_string(),
                field: "regions".into(),
                why: format!(
                    "the cluster has regions {ours:?} but the policy's regions.toml has {theirs:?}"
                ),
            });
        }
        Ok(())
    }
}

fn parse_store(spec: &str, base: &Path) -> Result<StoreLocation, String> {
    if let Some(dir) = spec.strip_prefix("sqlite:") {
        if dir.is_empty() {
            return Err("`sqlite:` needs a directory".into());
        }
        Ok(StoreLocation::Sqlite(base.join(dir)))
    } else if let Some(url) = spec.strip_prefix("postgres:") {
        store::PgBackend::check_url(url).map_err(|e| e.to_string())?;
        Ok(StoreLocation::Postgres {
            records: url.to_owned(),
            keyring: url.to_owned(),
        })
    } else {
        Err("must be `sqlite:<directory>` or `postgres:<connection string>`".into())
    }
}

impl RegionConfig {
    /// The region's own token, resolved, checked against its
    /// `token_sha256` (the hash its peers and sequencer know it by).
    pub fn own_token(&self, file: &Path) -> Result<String, Error> {
        use sha2::Digest as _;
        let bad = |why: String| Error::Config {
            file: file.display().to_string(),
            field: format!("regions.{}.token", self.id),
            why,
        };
        let token = resolve_secret(&self.token).map_err(bad)?;
        if <[u8; 32]>::from(sha2::Sha256::digest(token.as_bytes())) != self.token_sha256 {
            return Err(bad(
                "its SHA-256 is not the region's token_sha256: peers would refuse it".into(),
            ));
        }
        Ok(token)
    }
}

/// Resolves a credential reference (`env:NAME`, `file:PATH`) to the secret.
/// Errors name the reference, never a value.
pub fn resolve_secret(reference: &str) -> Result<String, String> {
    let secret = if let Some(name) = reference.strip_prefix("env:") {
        std::env::var(name).map_err(|_| format!("environment variable {name} is not set"))?
    } else if let Some(path) = reference.strip_prefix("file:") {
        std::fs::read_to_string(path).map_err(|e| format!("reading {path}: {e}"))?
    } else {
        return Err(format!(
            "{reference:?} is not a reference (`env:NAME` or `file:PATH`)"
        ));
    };
    let secret = secret.trim().to_owned();
    if secret.len() < 16 {
        return Err(format!("{reference} holds fewer than 16 characters"));
    }
    Ok(secret)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
policy = "policy"
[regions.eu-fr]
listen = "127.0.0.1:7101"
url = "http://127.0.0.1:7101/"
store = "sqlite:run/eu-fr"
log = "run/eu-fr/log"
keys = "run/eu-fr/region.keys"
token = "env:NODE_TOKEN"
token_sha256 = "3ac5905b96ee62a075a0ae1aacfcdc146cf859a94991fafd2871a5a69dd0555d"
[regions.us-tx]
listen = "127.0.0.1:7103"
url = "http://127.0.0.1:7103"
store = "postgres:host=/var/run/postgresql dbname=test"
keyring = "postgres:host=/var/run/postgresql dbname=keys"
log = "/var/lib/residency/us-tx/log"
keys = "us-tx.keys"
token = "file:secrets/us-tx"
token_sha256 = "3ac5905b96ee62a075a0ae1aacfcdc146cf859a94991fafd2871a5a69dd0555d"
"#;

    /// The token `GOOD`'s hashes are of.
    const TOKEN: &str = "node-token-0123456789abcdef";

    fn parse(text: &str) -> Result<ClusterConfig, Error> {
        ClusterConfig::parse(Path::new("/etc/residency/cluster.toml"), text)
    }

    #[test]
    fn paths_resolve_against_the_files_directory() {
        let c = parse(GOOD).unwrap();
        let fr = &c.regions["eu-fr"];
        assert_eq!(fr.url, "http://127.0.0.1:7101");
        assert_eq!(
            fr.store,
            StoreLocation::Sqlite("/etc/residency/run/eu-fr".into())
        );
        assert_eq!(c.policy, Path::new("/etc/residency/policy"));
        let us = &c.regions["us-tx"];
        assert_eq!(us.log, Path::new("/var/lib/residency/us-tx/log"));
        assert_eq!(us.token, "file:/etc/residency/secrets/us-tx");
        assert!(
            matches!(&us.store, StoreLocation::Postgres { keyring, .. } if keyring.ends_with("dbname=keys"))
        );
        assert_eq!(c.limits.body_bytes, Limits::default().body_bytes);
    }

    #[test]
    fn the_example_cluster_file_parses_and_speaks_tls() {
        let c = parse(include_str!("../../../examples/cluster.toml")).unwrap();
        let tls = c.tls.unwrap();
        assert_eq!(tls.cert, Path::new("/etc/residency/run/tls/cert.pem"));
        assert!(tls.ca.is_some());
        assert!(c.regions.values().all(|r| r.url.starts_with("https://")));
    }

    #[test]
    fn with_tls_every_url_must_be_https() {
        let tls = "[tls]\ncert = \"c.pem\"\nkey = \"k.pem\"\n";
        let with_tls = GOOD.replace(
            "policy = \"policy\"\n",
            &format!("policy = \"policy\"\n{tls}"),
        );
        let e = parse(&with_tls).unwrap_err().to_string();
        assert!(
            e.contains("regions.eu-fr.url") && e.contains("https://"),
            "{e}"
        );
        let all_https = with_tls.replace("url = \"http://", "url = \"https://");
        assert!(parse(&all_https).unwrap().tls.is_some());
        let plain_sequencer = all_https.replace(
            "token = \"env:NODE_TOKEN\"",
            "token = \"env:NODE_TOKEN\"\nlog_bucket = { endpoint = \"http://s3\", bucket = \"b\", access_key_id = \"env:K\", secret_access_key = \"env:S\" }\nsequencers = [\"http://127.0.0.1:7201\"]",
        );
        let e = parse(&plain_sequencer).unwrap_err().to_string();
        assert!(e.contains("regions.eu-fr.sequencers[0]"), "{e}");
    }

    #[test]
    fn errors_name_the_file_and_the_field() {
        let cases = [
            (
                GOOD.replace("sqlite:run/eu-fr", "mysql:x"),
                "regions.eu-fr.store",
            ),
            (
                GOOD.replace("env:NODE_TOKEN", "s3cr3t-in-the-file"),
                "regions.eu-fr.token",
            ),
            (
                GOOD.replacen(
                    &GOOD[GOOD.find("token_sha256").unwrap()..][16..80],
                    "00ff",
                    1,
                ),
                "regions.eu-fr.token_sha256",
            ),
            (GOOD.replace("token_sha256", "token_sha"), "token_sha256"),
            (
                GOOD.replace("http://127.0.0.1:7103", "127.0.0.1:7103"),
                "regions.us-tx.url",
            ),
            (
                GOOD.replace("listen = \"127.0.0.1:7101\"", "listn = \"x\""),
                "listn",
            ),
            (
                format!("{GOOD}\n[[witnesses]]\nurl = \"http://w\"\nvkey = \"nope\"\n"),
                "witnesses[0].vkey",
            ),
            (
                GOOD.replace(
                    "token = \"env:NODE_TOKEN\"",
                    "token = \"env:NODE_TOKEN\"\nsequencers = [\"http://127.0.0.1:7201\"]",
                ),
                "regions.eu-fr.sequencers",
            ),
            (
                GOOD.replace(
                    "token = \"env:NODE_TOKEN\"",
                    "token = \"env:NODE_TOKEN\"\nsequencers = [\"127.0.0.1:7201\"]",
                ),
                "regions.eu-fr.sequencers[0]",
            ),
        ];
        for (text, field) in cases {
            let e = parse(&text).unwrap_err().to_string();
            assert!(e.starts_with("/etc/residency/cluster.toml"), "{e}");
            assert!(e.contains(field), "{field} not in: {e}");
            assert!(!e.contains("s3cr3t"), "a secret in an error: {e}");
        }
    }

    #[test]
    fn a_region_takes_its_own_token_only_when_it_matches_the_hash_peers_know() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("us-tx");
        let c = parse(&GOOD.replace("secrets/us-tx", &file.display().to_string())).unwrap();
        let us = &c.regions["us-tx"];
        std::fs::write(&file, format!("{TOKEN}\n")).unwrap();
        assert_eq!(us.own_token(&c.file).unwrap(), TOKEN);
        std::fs::write(&file, "another-token-0123456789").unwrap();
        let e = us.own_token(&c.file).unwrap_err().to_string();
        assert!(
            e.contains("regions.us-tx.token") && e.contains("token_sha256"),
            "{e}"
        );
        assert!(!e.contains("another-token"), "a secret in an error: {e}");
    }
}
