//! The demo's cluster on loopback: the example policy, three regions'
//! logs and configuration written into one directory, then a witness, the
//! three `residency serve` regions and a `residency monitor`, each a real
//! process of this same binary, with fresh credentials in its environment.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};

/// The regions of the example policy, in the scenario's order.
pub(crate) const REGIONS: [&str; 3] = ["eu-fr", "eu-no", "us-tx"];

/// The example policy (examples/policy), built into the binary so that the
/// demo needs no checkout.
const POLICY: [(&str, &str); 5] = [
    (
        "catalog.toml",
        include_str!("../../../../examples/policy/catalog.toml"),
    ),
    (
        "principals.toml",
        include_str!("../../../../examples/policy/principals.toml"),
    ),
    (
        "regions.toml",
        include_str!("../../../../examples/policy/regions.toml"),
    ),
    (
        "policies/access.cedar",
        include_str!("../../../../examples/policy/policies/access.cedar"),
    ),
    (
        "policies/guardrails.cedar",
        include_str!("../../../../examples/policy/policies/guardrails.cedar"),
    ),
];

/// A running cluster. Dropping it kills what is still running.
pub(crate) struct Cluster {
    pub(crate) dir: PathBuf,
    /// Base URL per region.
    pub(crate) urls: BTreeMap<&'static str, String>,
    pub(crate) witness_url: String,
    pub(crate) witness: tlog::Verifier,
    pub(crate) dashboard: String,
    /// Each log's public key.
    pub(crate) log_keys: BTreeMap<&'static str, tlog::Verifier>,
    /// The residency rule of the policy: country → home region.
    pub(crate) homes: BTreeMap<String, String>,
    /// Principal id → API token.
    tokens: BTreeMap<String, String>,
    /// Environment of every process: the credentials' variables.
    env: Vec<(String, String)>,
    children: Vec<(&'static str, Child)>,
    pub(crate) http: reqwest::Client,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for (_, c) in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A free TCP port on loopback.
fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// A fresh random credential.
fn secret() -> anyhow::Result<String> {
    let mut b = [0u8; 24];
    getrandom::fill(&mut b).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
    Ok(b.iter().map(|x| format!("{x:02x}")).collect())
}

fn env_name(region: &str) -> String {
    format!(
        "RESIDENCY_NODE_TOKEN_{}",
        region.to_uppercase().replace('-', "_")
    )
}

impl Cluster {
    /// Writes the cluster's files into `dir` (which must hold no earlier
    /// demo) and starts its processes; `dashboard` is the monitor's address.
    pub(crate) async fn start(dir: &Path, dashboard: std::net::SocketAddr) -> anyhow::Result<Self> {
        ensure!(
            !dir.join("cluster.toml").exists(),
            "{} already holds a demo cluster: remove it or give another --dir",
            dir.display()
        );
        for (name, text) in POLICY {
            let path = dir.join("policy").join(name);
            std::fs::create_dir_all(path.parent().context("policy path")?)?;
            std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
        }
        let bundle = policy::Bundle::load(&dir.join("policy"))?;
        let homes = bundle
            .regions
            .regions
            .iter()
            .flat_map(|(r, region)| region.homes.iter().map(move |c| (c.clone(), r.clone())))
            .collect();
        let mut tokens = BTreeMap::new();
        let mut env = Vec::new();
        for (id, p) in &bundle.principals.principals {
            let var = p
                .credential
                .strip_prefix("env:")
                .with_context(|| format!("principal {id}: the demo expects an env: credential"))?;
            let token = secret()?;
            env.push((var.to_owned(), token.clone()));
            tokens.insert(id.clone(), token);
        }
        for r in REGIONS {
            env.push((env_name(r), secret()?));
        }

        let mut log_keys = BTreeMap::new();
        for r in REGIONS {
            let vkey =
                crate::log_cmd::init(&dir.join(r).join("log"), &format!("residency.example/{r}"))
                    .await?;
            log_keys.insert(r, tlog::Verifier::parse(&vkey)?);
        }
        let witness = tlog::Signer::generate("witness.example", tlog::note::TYPE_COSIGNATURE_V1)?;
        write_private(&dir.join("witness.key"), &(witness.to_skey() + "\n"))?;
        let witness_port = free_port()?;
        let witness_url = format!("http://127.0.0.1:{witness_port}");

        let mut cluster_toml = format!(
            "# The demo's cluster (written by `residency demo`).\npolicy = \"policy\"\n\n\
             [[witnesses]]\nurl = \"{witness_url}\"\nvkey = \"{}\"\n",
            witness.verifier().to_vkey()
        );
        let mut monitor_toml = format!(
            "# The demo's monitor: nothing but the logs' URLs and public keys.\n\
             state = \"monitor\"\nlisten = \"{dashboard}\"\npoll_ms = 200\n\n\
             [[witnesses]]\nurl = \"{witness_url}\"\nkey = \"{}\"\n",
            witness.verifier().to_vkey()
        );
        let mut urls = BTreeMap::new();
        for r in REGIONS {
            let port = free_port()?;
            let url = format!("http://127.0.0.1:{port}");
            cluster_toml.push_str(&format!(
                "\n[regions.{r}]\nlisten = \"127.0.0.1:{port}\"\nurl = \"{url}\"\n\
                 store = \"sqlite:{r}/store\"\nlog = \"{r}/log\"\nkeys = \"{r}/region.keys\"\n\
                 token = \"env:{}\"\n",
                env_name(r)
            ));
            monitor_toml.push_str(&format!(
                "\n[[logs]]\nregion = \"{r}\"\nurl = \"{url}\"\nkey = \"{}\"\n",
                log_keys[r].to_vkey()
            ));
            urls.insert(r, url);
        }
        cluster_toml.push_str("\n[limits]\nbody_bytes = 16777216\n");
        std::fs::write(dir.join("cluster.toml"), cluster_toml)?;
        std::fs::write(dir.join("monitor.toml"), monitor_toml)?;
        write_credentials(&dir.join("credentials.env"), &env, &urls)?;

        let mut cluster = Cluster {
            dir: dir.to_owned(),
            urls,
            witness_url,
            witness: witness.verifier(),
            dashboard: format!("http://{dashboard}"),
            log_keys,
            homes,
            tokens,
            env,
            children: Vec::new(),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()?,
        };
        let mut args: Vec<String> = vec![
            "witness".into(),
            "--listen".into(),
            format!("127.0.0.1:{witness_port}"),
            "--key".into(),
            "witness.key".into(),
            "--state".into(),
            "witness.sqlite".into(),
        ];
        for r in REGIONS {
            args.extend(["--log".into(), format!("{r}/log/log.vkey")]);
        }
        cluster.spawn("witness", &args)?;
        cluster
            .wait_until("witness", || async {
                std::net::TcpStream::connect(("127.0.0.1", witness_port)).is_ok()
            })
            .await?;
        for r in REGIONS {
            cluster.spawn_region(r)?;
        }
        for r in REGIONS {
            cluster.wait_healthy(r).await?;
        }
        cluster.spawn("monitor", &["monitor", "--config", "monitor.toml"])?;
        let summary = format!("{}/api/summary", cluster.dashboard);
        let http = cluster.http.clone();
        cluster
            .wait_until("monitor", || {
                let req = http.get(&summary);
                async move { req.send().await.is_ok_and(|r| r.status() == 200) }
            })
            .await?;
        Ok(cluster)
    }

    /// Starts `residency ARGS…` in the cluster's directory, its output
    /// going to `NAME.out` there.
    fn spawn<S: AsRef<std::ffi::OsStr>>(
        &mut self,
        name: &'static str,
        args: &[S],
    ) -> anyhow::Result<()> {
        let out = std::fs::File::options()
            .create(true)
            .append(true)
            .open(self.output(name))?;
        let child = Command::new(std::env::current_exe()?)
            .args(args)
            .current_dir(&self.dir)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .env("NO_COLOR", "1") // the output goes to files
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .spawn()
            .with_context(|| format!("starting {name}"))?;
        self.children.push((name, child));
        Ok(())
    }

    /// Starts (or restarts) a region's node.
    pub(crate) fn spawn_region(&mut self, region: &'static str) -> anyhow::Result<()> {
        self.spawn(
            region,
            &[
                "serve",
                "--config",
                "cluster.toml",
                "--region",
                region,
                "--init",
            ],
        )
    }

    /// Where a process's output goes.
    pub(crate) fn output(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.out"))
    }

    async fn wait_until<F: Future<Output = bool>>(
        &mut self,
        name: &str,
        mut ready: impl FnMut() -> F,
    ) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !ready().await {
            if let Some((_, c)) = self.children.iter_mut().rev().find(|(n, _)| *n == name)
                && let Ok(Some(status)) = c.try_wait()
            {
                bail!(
                    "{name} stopped ({status}); its output is in {}",
                    self.output(name).display()
                );
            }
            ensure!(
                Instant::now() < deadline,
                "{name} did not start within 30 s; its output is in {}",
                self.output(name).display()
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        Ok(())
    }

    /// Waits until a region answers its health check.
    pub(crate) async fn wait_healthy(&mut self, region: &'static str) -> anyhow::Result<()> {
        let url = format!("{}/healthz", self.urls[region]);
        let http = self.http.clone();
        self.wait_until(region, || {
            let req = http.get(&url);
            async move { req.send().await.is_ok_and(|r| r.status() == 200) }
        })
        .await
    }

    /// Stops a process cleanly (SIGINT, as Ctrl-C would), or kills it if
    /// it has not stopped within five seconds.
    pub(crate) async fn stop(&mut self, name: &str) {
        while let Some(at) = self.children.iter().position(|(n, _)| *n == name) {
            let (_, child) = self.children.remove(at);
            stop(child).await;
        }
    }

    /// Stops every process, the monitor first.
    pub(crate) async fn stop_all(&mut self) {
        while let Some((_, child)) = self.children.pop() {
            stop(child).await;
        }
    }

    /// The API token of a principal.
    pub(crate) fn token(&self, principal: &str) -> &str {
        self.tokens.get(principal).map_or("", String::as_str)
    }

    /// The directory of a region's log.
    pub(crate) fn log_dir(&self, region: &str) -> PathBuf {
        self.dir.join(region).join("log")
    }

    /// The directory of a region's store.
    pub(crate) fn store_dir(&self, region: &str) -> PathBuf {
        self.dir.join(region).join("store")
    }
}

/// A new file readable by its owner only (mode 0600): for private keys.
fn create_private(path: &Path) -> anyhow::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt as _;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))
}

/// Writes `text` to a new private file (mode 0600), durably.
fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut f = create_private(path)?;
    f.write_all(text.as_bytes())?;
    f.sync_all()?;
    Ok(())
}

/// `credentials.env` (mode 0600): the demo's credentials and the regions'
/// URLs, for a shell (`source`) that explores the running cluster.
fn write_credentials(
    path: &Path,
    env: &[(String, String)],
    urls: &BTreeMap<&str, String>,
) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut f = create_private(path)?;
    writeln!(
        f,
        "# The demo's credentials (fresh each run) and the regions' URLs."
    )?;
    for (k, v) in env {
        writeln!(f, "export {k}={v}")?;
    }
    for (r, url) in urls {
        writeln!(
            f,
            "export RESIDENCY_{}={url}",
            r.to_uppercase().replace('-', "_")
        )?;
    }
    Ok(())
}

/// SIGINT, then up to five seconds to stop, then SIGKILL.
async fn stop(mut child: Child) {
    if let Ok(Some(_)) = child.try_wait() {
        return;
    }
    if let Some(pid) = i32::try_from(child.id())
        .ok()
        .and_then(rustix::process::Pid::from_raw)
    {
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::INT);
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
}
