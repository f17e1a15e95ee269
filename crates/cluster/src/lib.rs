//! A residency cluster on loopback, for `residency demo` and the
//! integration tests: the logs, keys and configuration of a witness, the
//! three regions of the example policy and, if asked, a monitor, written
//! into one directory; then each started as a real process, waited for
//! until it answers, and stopped as an operator would stop it.
//!
//! Every process runs the binary the caller names (the demo its own
//! executable, the tests `CARGO_BIN_EXE_residency`) and is driven only
//! through its command line, its files and HTTP, as an operator would
//! drive it: this crate links no part of the node, the witness or the
//! monitor. It knows nothing of the story told against the cluster.
#![deny(missing_docs)]
#![cfg_attr(
    not(test),
    warn(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

mod files;
mod process;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use process::Children;

/// The regions of the example policy, in the scenario's order.
pub const REGIONS: [&str; 3] = ["eu-fr", "eu-no", "us-tx"];

/// The variable that holds a region node's own token (in every process's
/// environment; `cluster.toml` refers to it).
pub fn node_token_var(region: &str) -> String {
    format!(
        "RESIDENCY_NODE_TOKEN_{}",
        region.to_uppercase().replace('-', "_")
    )
}

/// The variable that holds the token a region presents to the custodian.
pub fn custodian_token_var(region: &str) -> String {
    format!(
        "RESIDENCY_CUSTODIAN_TOKEN_{}",
        region.to_uppercase().replace('-', "_")
    )
}

/// 32 random bytes, hex: a fresh token.
fn random_token() -> Result<String, Error> {
    let mut b = [0u8; 32];
    getrandom::fill(&mut b).map_err(|e| Error::Key(format!("random source: {e}")))?;
    Ok(hex::encode(b))
}

/// A free TCP port on loopback.
pub fn free_port() -> std::io::Result<u16> {
    Ok(free_ports(1)?[0])
}

/// `n` distinct free TCP ports on loopback. The listeners are held until
/// all are chosen: one at a time, the kernel may hand out the same port
/// twice, and a region would then find its port taken by the custodian
/// (which answered the region's health check in its stead — a CI failure).
pub fn free_ports(n: usize) -> std::io::Result<Vec<u16>> {
    let listeners = (0..n)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0"))
        .collect::<std::io::Result<Vec<_>>>()?;
    listeners
        .iter()
        .map(|l| Ok(l.local_addr()?.port()))
        .collect()
}

/// Why a cluster could not be laid out or a process did not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The directory already holds a cluster; nothing was written.
    #[error("{} already holds a cluster", .0.display())]
    Occupied(PathBuf),
    /// A file could not be written, or a process not started.
    #[error("{what}")]
    Io {
        /// What was being done.
        what: String,
        /// Why it failed.
        #[source]
        source: std::io::Error,
    },
    /// A log or the witness's key could not be made.
    #[error("{0}")]
    Key(String),
    /// A process stopped before it answered.
    #[error("{name} stopped ({status}); its output is in {}", .output.display())]
    Stopped {
        /// The process.
        name: String,
        /// How it ended.
        status: std::process::ExitStatus,
        /// The file that holds its output.
        output: PathBuf,
    },
    /// A process did not answer in time.
    #[error("{name} did not start within 30 s; its output is in {}", .output.display())]
    Late {
        /// The process.
        name: String,
        /// The file that holds its output.
        output: PathBuf,
    },
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
    let what = what.into();
    move |source| Error::Io { what, source }
}

/// What a cluster is made of; [`Cluster::start`] lays it out and starts it.
#[derive(Clone, Debug)]
pub struct Setup {
    /// The `residency` binary every process runs.
    pub program: PathBuf,
    /// Where the logs, stores, keys, configuration and each process's
    /// output (`NAME.out`) go. It must not hold an earlier cluster.
    pub dir: PathBuf,
    /// The policy directory, as `cluster.toml` names it: absolute, or
    /// relative to `dir`.
    pub policy: PathBuf,
    /// A region's store other than its SQLite store in `REGION/store`
    /// (e.g. a `postgres:` location).
    pub stores: BTreeMap<&'static str, String>,
    /// A region's `log_bucket` (a TOML inline table): its log in a bucket,
    /// its key files still in `REGION/log`.
    pub log_buckets: BTreeMap<&'static str, String>,
    /// Regions' `notify` (the app's webhook), each a TOML inline table.
    pub notify: BTreeMap<&'static str, String>,
    /// The `[limits]` of `cluster.toml`, as TOML lines.
    pub limits: String,
    /// The credentials in every process's environment, also written to
    /// `credentials.env`: the principals' tokens under the variables the
    /// policy names, and each node's own under [`node_token_var`].
    pub credentials: Vec<(String, String)>,
    /// The processes' `RESIDENCY_LOG` filter (default: their own).
    pub log_filter: Option<String>,
    /// Where the monitor's dashboard listens; no monitor if `None`.
    pub dashboard: Option<SocketAddr>,
    /// Whether a key custodian holds the regions' keys (its own process,
    /// its own key file in `custodian/`): every region then seals for it.
    pub custodian: bool,
    /// Regions run as gateways and sequencers apart (each needs a
    /// `log_buckets` entry), rather than one process.
    pub split: BTreeMap<&'static str, Split>,
}

/// A region run as several processes: `gateways` gateways (processes
/// `REGION-gw0`, `REGION-gw1`, …) in front of `sequencers` sequencers
/// (`REGION-seq0`, the active one, then standbys).
#[derive(Clone, Copy, Debug)]
pub struct Split {
    /// Gateways, 1 at least.
    pub gateways: usize,
    /// Sequencers, 1 at least: the first active, the others standbys.
    pub sequencers: usize,
}

/// The cluster's CA certificate (what its clients trust), relative to its
/// directory.
pub const TLS_CA: &str = "tls/ca.pem";
/// The certificate every process of the cluster serves with.
pub const TLS_CERT: &str = "tls/cert.pem";
/// Its private key.
pub const TLS_KEY: &str = "tls/key.pem";

/// The process name of a region's gateway `i`.
pub fn gateway_name(region: &str, i: usize) -> String {
    format!("{region}-gw{i}")
}

/// The process name of a region's sequencer `i`.
pub fn sequencer_name(region: &str, i: usize) -> String {
    format!("{region}-seq{i}")
}

impl Setup {
    /// A cluster of `program`'s processes in `dir` under the policy
    /// directory `policy`: SQLite stores, no limits, no credentials, no
    /// monitor.
    pub fn new(program: impl Into<PathBuf>, dir: &Path, policy: impl Into<PathBuf>) -> Self {
        Setup {
            program: program.into(),
            dir: dir.to_owned(),
            policy: policy.into(),
            stores: BTreeMap::new(),
            log_buckets: BTreeMap::new(),
            notify: BTreeMap::new(),
            limits: String::new(),
            credentials: Vec::new(),
            log_filter: None,
            dashboard: None,
            custodian: false,
            split: BTreeMap::new(),
        }
    }
}

/// A running cluster. Dropping it kills what is still running.
#[derive(Debug)]
pub struct Cluster {
    /// The cluster's directory.
    pub dir: PathBuf,
    /// Each region's base URL (of a split region, its first gateway's).
    pub urls: BTreeMap<&'static str, String>,
    /// Each split region's gateways' base URLs.
    pub gateways: BTreeMap<&'static str, Vec<String>>,
    /// Each split region's sequencers' base URLs, the active one first.
    pub sequencers: BTreeMap<&'static str, Vec<String>>,
    /// Each region's log's public key.
    pub log_keys: BTreeMap<&'static str, tlog::Verifier>,
    /// The witness's submission prefix.
    pub witness_url: String,
    /// The witness's public key.
    pub witness: tlog::Verifier,
    /// The monitor's dashboard, if it runs one.
    pub dashboard: Option<String>,
    /// The key custodian's base URL, if the cluster has one.
    pub custodian: Option<String>,
    /// A client for the cluster's HTTP interfaces.
    pub http: reqwest::Client,
    program: PathBuf,
    env: Vec<(String, String)>,
    children: Children,
}

impl Cluster {
    /// Writes the cluster's logs, keys and configuration into
    /// `setup.dir`, then starts the witness, the regions and the monitor,
    /// each once the one before answers.
    pub async fn start(setup: Setup) -> Result<Self, Error> {
        let dir = setup.dir.clone();
        if dir.join("cluster.toml").exists() {
            return Err(Error::Occupied(dir));
        }
        let mut log_keys = BTreeMap::new();
        for r in REGIONS {
            let in_bucket = setup.log_buckets.contains_key(r);
            log_keys.insert(r, log_init(&setup.program, &dir, r, in_bucket)?);
        }
        let witness = files::witness_key(&dir)?;
        let extra: usize = setup
            .split
            .values()
            .map(|s| s.gateways + s.sequencers)
            .sum();
        let mut ports = free_ports(REGIONS.len() + 2 + extra)
            .map_err(io("choosing the processes' ports"))?
            .into_iter();
        let mut port = || ports.next().unwrap_or_default();
        let witness_port = port();
        let mut urls = BTreeMap::new();
        let (mut gateways, mut sequencers) = (BTreeMap::new(), BTreeMap::new());
        for r in REGIONS {
            match setup.split.get(r) {
                None => {
                    urls.insert(r, format!("https://127.0.0.1:{}", port()));
                }
                Some(split) => {
                    let g: Vec<String> = (0..split.gateways.max(1))
                        .map(|_| format!("https://127.0.0.1:{}", port()))
                        .collect();
                    let s: Vec<String> = (0..split.sequencers.max(1))
                        .map(|_| format!("https://127.0.0.1:{}", port()))
                        .collect();
                    urls.insert(r, g[0].clone());
                    gateways.insert(r, g);
                    sequencers.insert(r, s);
                }
            }
        }
        let custodian = if setup.custodian {
            let port = port();
            Some(files::Custodian {
                url: format!("https://127.0.0.1:{port}"),
                key: custodian_init(&setup.program, &dir)?,
                tokens: REGIONS
                    .iter()
                    .map(|r| Ok((*r, random_token()?)))
                    .collect::<Result<_, Error>>()?,
            })
        } else {
            None
        };
        // TLS everywhere: a CA made for this cluster, one certificate for
        // every process on loopback, in `tls/`.
        tls::LocalCa::new(&["127.0.0.1", "localhost"])
            .and_then(|ca| ca.write(&dir.join("tls")))
            .map_err(|e| Error::Key(format!("the cluster's TLS: {e}")))?;
        let layout = files::Layout {
            setup: &setup,
            witness_url: format!("https://127.0.0.1:{witness_port}"),
            witness: witness.clone(),
            urls: &urls,
            gateways: &gateways,
            sequencers: &sequencers,
            log_keys: &log_keys,
            custodian: custodian.as_ref(),
        };
        layout.write()?;

        let mut env = setup.credentials.clone();
        if let Some(c) = &custodian {
            for (r, token) in &c.tokens {
                env.push((custodian_token_var(r), token.clone()));
            }
        }
        env.push(("NO_COLOR".into(), "1".into())); // the output goes to files
        if let Some(filter) = &setup.log_filter {
            env.push(("RESIDENCY_LOG".into(), filter.clone()));
        }
        let mut cluster = Cluster {
            witness_url: layout.witness_url,
            dir,
            urls,
            gateways,
            sequencers,
            log_keys,
            witness,
            dashboard: setup.dashboard.map(|a| format!("https://{a}")),
            custodian: custodian.as_ref().map(|c| c.url.clone()),
            http: tls::client(Some(&setup.dir.join(TLS_CA)))
                .map_err(|e| Error::Key(format!("the cluster's TLS: {e}")))?
                .timeout(Duration::from_secs(60))
                .build()
                .map_err(std::io::Error::other)
                .map_err(io("building an HTTP client"))?,
            program: setup.program,
            env,
            children: Children::default(),
        };
        let mut args: Vec<String> = vec![
            "witness".into(),
            "--listen".into(),
            format!("127.0.0.1:{witness_port}"),
            "--key".into(),
            "witness.key".into(),
            "--state".into(),
            "witness.sqlite".into(),
            "--tls-cert".into(),
            TLS_CERT.into(),
            "--tls-key".into(),
            TLS_KEY.into(),
        ];
        for r in REGIONS {
            args.extend(["--log".into(), format!("{r}/log/log.vkey")]);
        }
        cluster.spawn("witness", None, &args)?;
        cluster
            .children
            .wait_until("witness", &cluster.dir, || async {
                std::net::TcpStream::connect(("127.0.0.1", witness_port)).is_ok()
            })
            .await?;
        if cluster.custodian.is_some() {
            cluster.spawn_custodian()?;
            cluster.wait_custodian().await?;
        }
        for r in REGIONS {
            cluster.spawn_region(r).await?;
        }
        for r in REGIONS {
            cluster.wait_healthy(r).await?;
        }
        if let Some(dashboard) = cluster.dashboard.clone() {
            cluster.spawn(
                "monitor",
                None,
                &[
                    "monitor",
                    "--config",
                    "monitor.toml",
                    "--tls-cert",
                    TLS_CERT,
                    "--tls-key",
                    TLS_KEY,
                ],
            )?;
            let summary = format!("{dashboard}/api/summary");
            cluster.wait_ok("monitor", &summary).await?;
        }
        Ok(cluster)
    }

    /// Starts `PROGRAM ARGS…` in the cluster's directory, its output
    /// appended to `NAME.out` there, with the principals' credentials and
    /// the node and custodian tokens of `region` alone: no process holds
    /// another region's secrets, as in a deployment where each region has
    /// its own operator.
    fn spawn<S: AsRef<std::ffi::OsStr>>(
        &mut self,
        name: &str,
        region: Option<&str>,
        args: &[S],
    ) -> Result<(), Error> {
        let others: Vec<String> = REGIONS
            .iter()
            .filter(|r| Some(**r) != region)
            .flat_map(|r| [node_token_var(r), custodian_token_var(r)])
            .collect();
        let env = self.env.iter().filter(|(k, _)| !others.contains(k));
        let output = self.output(name);
        let out = std::fs::File::options()
            .create(true)
            .append(true)
            .open(&output)
            .map_err(io(format!("creating {}", output.display())))?;
        let err = out
            .try_clone()
            .map_err(io(format!("opening {}", output.display())))?;
        let child = Command::new(&self.program)
            .args(args)
            .current_dir(&self.dir)
            .envs(env.map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(io(format!("starting {name}")))?;
        self.children.push(name, child);
        Ok(())
    }

    /// Starts (or restarts) the key custodian, if the cluster has one.
    pub fn spawn_custodian(&mut self) -> Result<(), Error> {
        if self.custodian.is_none() {
            return Ok(());
        }
        self.spawn(
            "custodian",
            None,
            &[
                "custodian",
                "serve",
                "--config",
                "custodian.toml",
                "--key",
                "custodian/custodian.key",
                "--tls-cert",
                TLS_CERT,
                "--tls-key",
                TLS_KEY,
            ],
        )
    }

    /// Waits until the key custodian answers (30 s at most).
    pub async fn wait_custodian(&mut self) -> Result<(), Error> {
        let Some(url) = self.custodian.clone() else {
            return Ok(());
        };
        self.wait_ok("custodian", &format!("{url}/healthz")).await
    }

    /// The environment every process of the cluster runs with (the
    /// credentials), for running `residency` commands against it.
    pub fn env(&self) -> &[(String, String)] {
        &self.env
    }

    /// The program every process runs.
    pub fn program(&self) -> &Path {
        &self.program
    }

    /// Starts (or restarts) a region's node — of a split region, its
    /// sequencers (waiting until the active one answers), then its
    /// gateways.
    pub async fn spawn_region(&mut self, region: &'static str) -> Result<(), Error> {
        let Some(sequencers) = self.sequencers.get(region).cloned() else {
            return self.spawn(
                region,
                Some(region),
                &[
                    "serve",
                    "--config",
                    "cluster.toml",
                    "--region",
                    region,
                    "--init",
                ],
            );
        };
        for i in 0..sequencers.len() {
            self.spawn_sequencer(region, i, i > 0)?;
            if i == 0 {
                let name = sequencer_name(region, 0);
                self.wait_checkpoint(&name, &sequencers[0], region).await?;
            }
        }
        for i in 0..self.gateways.get(region).map_or(0, Vec::len) {
            self.spawn_gateway(region, i)?;
        }
        Ok(())
    }

    /// Starts (or restarts) sequencer `i` of a split region, as a standby
    /// (waiting for the log's lease however long another holds it) or not.
    pub fn spawn_sequencer(&mut self, region: &str, i: usize, standby: bool) -> Result<(), Error> {
        let url = self.sequencers.get(region).and_then(|s| s.get(i)).cloned();
        let listen = url
            .unwrap_or_default()
            .trim_start_matches("https://")
            .to_owned();
        let mut args = vec![
            "serve",
            "--config",
            "cluster.toml",
            "--region",
            region,
            "--role",
            "sequencer",
            "--init",
            "--listen",
            &listen,
        ];
        if standby {
            args.push("--standby");
        }
        self.spawn(&sequencer_name(region, i), Some(region), &args)
    }

    /// Starts (or restarts) gateway `i` of a split region.
    pub fn spawn_gateway(&mut self, region: &str, i: usize) -> Result<(), Error> {
        let url = self.gateways.get(region).and_then(|s| s.get(i)).cloned();
        let listen = url
            .unwrap_or_default()
            .trim_start_matches("https://")
            .to_owned();
        self.spawn(
            &gateway_name(region, i),
            Some(region),
            &[
                "serve",
                "--config",
                "cluster.toml",
                "--region",
                region,
                "--role",
                "gateway",
                "--init",
                "--listen",
                &listen,
            ],
        )
    }

    /// Waits until a region answers its health check (30 s at most) — each
    /// gateway of a split region — or says why it did not: it stopped, or
    /// it was too slow.
    pub async fn wait_healthy(&mut self, region: &str) -> Result<(), Error> {
        match self.gateways.get(region).cloned() {
            None => {
                let url = self.urls.get(region).cloned().unwrap_or_default();
                self.wait_checkpoint(region, &url, region).await
            }
            Some(gateways) => {
                for (i, url) in gateways.iter().enumerate() {
                    self.wait_checkpoint(&gateway_name(region, i), url, region)
                        .await?;
                }
                Ok(())
            }
        }
    }

    /// Waits until process `name` serves `region`'s checkpoint at `base`.
    pub async fn wait_checkpoint(
        &mut self,
        name: &str,
        base: &str,
        region: &str,
    ) -> Result<(), Error> {
        // The region's own checkpoint, not just any 200: another process on
        // its port must not pass for it.
        let url = format!("{base}/log/checkpoint");
        let origin = format!("residency.example/{region}\n");
        let http = self.http.clone();
        self.children
            .wait_until(name, &self.dir, || {
                let req = http.get(&url);
                let origin = origin.clone();
                async move {
                    match req.send().await {
                        Ok(r) if r.status() == 200 => {
                            r.text().await.is_ok_and(|t| t.starts_with(&origin))
                        }
                        _ => false,
                    }
                }
            })
            .await
    }

    /// Waits until `url` answers 200, while process `name` runs.
    async fn wait_ok(&mut self, name: &str, url: &str) -> Result<(), Error> {
        let http = self.http.clone();
        self.children
            .wait_until(name, &self.dir, || {
                let req = http.get(url);
                async move { req.send().await.is_ok_and(|r| r.status() == 200) }
            })
            .await
    }

    /// Stops a process as an operator would (SIGINT, as Ctrl-C): a region
    /// settles its log's journal first. One that has not stopped within
    /// ten seconds is killed.
    pub fn stop(&mut self, name: &str) {
        self.children.stop(name);
    }

    /// Stops every process of a region as [`stop`](Self::stop) does: a
    /// split region's gateways, then its sequencers, standbys first.
    pub fn stop_region(&mut self, region: &str) {
        let Some(gateways) = self.gateways.get(region).map(Vec::len) else {
            return self.stop(region);
        };
        for i in 0..gateways {
            self.stop(&gateway_name(region, i));
        }
        for i in (0..self.sequencers.get(region).map_or(0, Vec::len)).rev() {
            self.stop(&sequencer_name(region, i));
        }
    }

    /// The process id of the process called `name` (the latest started).
    pub fn pid(&self, name: &str) -> Option<u32> {
        self.children.pid(name)
    }

    /// How the process called `name` (the latest started) exited, if it has.
    pub fn try_wait(&mut self, name: &str) -> Option<std::process::ExitStatus> {
        self.children.try_wait(name)
    }

    /// Kills a process at once, as a crash would.
    pub fn kill(&mut self, name: &str) {
        self.children.kill(name);
    }

    /// Stops every process, the last started first.
    pub fn stop_all(&mut self) {
        self.children.stop_all();
    }

    /// The file that holds a process's output.
    pub fn output(&self, name: &str) -> PathBuf {
        process::output(&self.dir, name)
    }

    /// The directory of a region's log.
    pub fn log_dir(&self, region: &str) -> PathBuf {
        self.dir.join(region).join("log")
    }

    /// The directory of a region's SQLite store.
    pub fn store_dir(&self, region: &str) -> PathBuf {
        self.dir.join(region).join("store")
    }
}

/// `residency log init` of a region's log, in `REGION/log` (the key files
/// alone for a log kept in a bucket): its public key.
fn log_init(
    program: &Path,
    dir: &Path,
    region: &str,
    keys_only: bool,
) -> Result<tlog::Verifier, Error> {
    let out = Command::new(program)
        .args(["log", "init", "--origin"])
        .arg(format!("residency.example/{region}"))
        .arg("--dir")
        .arg(Path::new(region).join("log"))
        .args(keys_only.then_some("--keys-only"))
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .map_err(io(format!("creating {region}'s log")))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(Error::Key(format!(
            "creating {region}'s log: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    tlog::Verifier::parse(stdout.trim())
        .map_err(|e| Error::Key(format!("{region}'s log key {:?}: {e}", stdout.trim())))
}

/// `residency custodian init` in `custodian/`: the custodian's current
/// public key.
fn custodian_init(program: &Path, dir: &Path) -> Result<String, Error> {
    std::fs::create_dir_all(dir.join("custodian"))
        .map_err(io("creating the custodian's directory"))?;
    let out = Command::new(program)
        .args([
            "custodian",
            "init",
            "--name",
            "custodian.example",
            "--key",
            "custodian/custodian.key",
        ])
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .map_err(io("creating the custodian's keys"))?;
    if !out.status.success() {
        return Err(Error::Key(format!(
            "creating the custodian's keys: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("kem "))
        .map(str::to_owned)
        .ok_or_else(|| Error::Key("the custodian printed no public key".into()))
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.children.kill_all();
    }
}
