//! The cluster's files: the witness's key, `cluster.toml` (the regions and
//! the witness, for the nodes), `monitor.toml` (the logs' URLs and public
//! keys, nothing else) and `credentials.env` (for a shell exploring the
//! running cluster). Private files are mode 0600 from their creation.

use std::collections::BTreeMap;
use std::path::Path;

use crate::{Error, REGIONS, Setup, io, node_token_var};

/// Generates the witness's key into `witness.key`: its public key.
pub(crate) fn witness_key(dir: &Path) -> Result<tlog::Verifier, Error> {
    let witness = tlog::Signer::generate("witness.example", tlog::note::TYPE_COSIGNATURE_V1)
        .map_err(|e| Error::Key(format!("the witness's key: {e}")))?;
    let path = dir.join("witness.key");
    tlog::keyfile::create_private(&path, (witness.to_skey() + "\n").as_bytes())
        .map_err(io(format!("writing {}", path.display())))?;
    Ok(witness.verifier())
}

/// What the configuration files say.
pub(crate) struct Layout<'a> {
    pub(crate) setup: &'a Setup,
    pub(crate) witness_url: String,
    pub(crate) witness: tlog::Verifier,
    pub(crate) urls: &'a BTreeMap<&'static str, String>,
    /// The gateways' URLs of regions split into gateways and sequencers.
    pub(crate) gateways: &'a BTreeMap<&'static str, Vec<String>>,
    /// The sequencers' URLs of those regions.
    pub(crate) sequencers: &'a BTreeMap<&'static str, Vec<String>>,
    pub(crate) log_keys: &'a BTreeMap<&'static str, tlog::Verifier>,
    pub(crate) custodian: Option<&'a Custodian>,
}

/// The key custodian of the cluster: where it listens, its public key,
/// and each region's token.
pub(crate) struct Custodian {
    pub(crate) url: String,
    pub(crate) key: String,
    pub(crate) tokens: BTreeMap<&'static str, String>,
}

impl Layout<'_> {
    /// Writes `cluster.toml`, `monitor.toml` (if the cluster has a
    /// monitor) and `credentials.env`.
    pub(crate) fn write(&self) -> Result<(), Error> {
        let dir = &self.setup.dir;
        let write = |name: &str, text: String| {
            let path = dir.join(name);
            std::fs::write(&path, text).map_err(io(format!("writing {}", path.display())))
        };
        write("cluster.toml", self.cluster_toml())?;
        if let Some(monitor) = self.monitor_toml() {
            write("monitor.toml", monitor)?;
        }
        if let Some(custodian) = self.custodian_toml() {
            write("custodian.toml", custodian)?;
        }
        self.write_credentials()
    }

    fn cluster_toml(&self) -> String {
        let mut toml = format!(
            "# A cluster on loopback.\npolicy = {:?}\n\n\
             [tls]\ncert = \"{}\"\nkey = \"{}\"\nca = \"{}\"\n\n\
             [[witnesses]]\nurl = \"{}\"\nvkey = \"{}\"\n",
            self.setup.policy.display().to_string(),
            crate::TLS_CERT,
            crate::TLS_KEY,
            crate::TLS_CA,
            self.witness_url,
            self.witness.to_vkey()
        );
        for r in REGIONS {
            let url = &self.urls[r];
            let listen = url.trim_start_matches("https://");
            let store = self
                .setup
                .stores
                .get(r)
                .cloned()
                .unwrap_or_else(|| format!("sqlite:{r}/store"));
            toml.push_str(&format!(
                "\n[regions.{r}]\nlisten = \"{listen}\"\nurl = \"{url}\"\n\
                 store = {store:?}\nlog = \"{r}/log\"\nkeys = \"{r}/region.keys\"\n\
                 token = \"env:{}\"\ntoken_sha256 = \"{}\"\n",
                node_token_var(r),
                self.token_sha256(r)
            ));
            if let Some(bucket) = self.setup.log_buckets.get(r) {
                toml.push_str(&format!("log_bucket = {bucket}\n"));
            }
            if let Some(notify) = self.setup.notify.get(r) {
                toml.push_str(&format!("notify = {notify}\n"));
            }
            if let Some(urls) = self.sequencers.get(r) {
                toml.push_str(&format!("sequencers = {urls:?}\n"));
            }
            if let Some(c) = self.custodian {
                toml.push_str(&format!(
                    "custodian = {{ url = \"{}\", key = \"{}\", token = \"env:{}\" }}\n",
                    c.url,
                    c.key,
                    crate::custodian_token_var(r)
                ));
            }
        }
        toml.push_str(&format!("\n[limits]\n{}\n", self.setup.limits));
        toml
    }

    /// The SHA-256 of region `r`'s node token, by which its peers and its
    /// sequencer know it (they never hold the token itself).
    fn token_sha256(&self, r: &str) -> String {
        use sha2::Digest as _;
        let var = node_token_var(r);
        let token = self
            .setup
            .credentials
            .iter()
            .find(|(k, _)| *k == var)
            .map_or("", |(_, v)| v.as_str());
        hex::encode(sha2::Sha256::digest(token.as_bytes()))
    }

    fn monitor_toml(&self) -> Option<String> {
        let dashboard = self.setup.dashboard?;
        let mut toml = format!(
            "# The monitor: nothing but the logs' URLs and public keys.\n\
             state = \"monitor\"\nlisten = \"{dashboard}\"\npoll_ms = 200\nca = \"tls/ca.pem\"\n\n\
             [[witnesses]]\nurl = \"{}\"\nkey = \"{}\"\n",
            self.witness_url,
            self.witness.to_vkey()
        );
        for r in REGIONS {
            toml.push_str(&format!(
                "\n[[logs]]\nregion = \"{r}\"\nurl = \"{}\"\nkey = \"{}\"\n",
                self.urls[r],
                self.log_keys[r].to_vkey()
            ));
        }
        Some(toml)
    }

    /// `custodian.toml`: the logs it serves (their public keys) and the
    /// SHA-256 of each region's token.
    fn custodian_toml(&self) -> Option<String> {
        use sha2::Digest as _;
        let c = self.custodian?;
        let listen = c.url.trim_start_matches("https://");
        let mut toml = format!(
            "# The key custodian: the logs' public keys, the gateways' token hashes, and\n\
             # the witness whose cosignature every checkpoint it releases against needs.\n\
             state = \"custodian/state\"\nlisten = \"{listen}\"\n\
             witnesses = [\"{}\"]\nwitness_quorum = 1\n",
            self.witness.to_vkey()
        );
        for r in REGIONS {
            toml.push_str(&format!(
                "\n[[logs]]\nregion = \"{r}\"\nkey = \"{}\"\ntoken_sha256 = \"{}\"\n",
                self.log_keys[r].to_vkey(),
                hex::encode(sha2::Sha256::digest(c.tokens[r].as_bytes()))
            ));
        }
        Some(toml)
    }

    /// `credentials.env` (mode 0600): the credentials and the regions'
    /// URLs, for a shell (`source`).
    fn write_credentials(&self) -> Result<(), Error> {
        let path = self.setup.dir.join("credentials.env");
        let mut text = String::from("# The cluster's credentials and the regions' URLs.\n");
        for (k, v) in &self.setup.credentials {
            text.push_str(&format!("export {k}={v}\n"));
        }
        if let Some(c) = self.custodian {
            for (r, token) in &c.tokens {
                text.push_str(&format!(
                    "export {}={token}\n",
                    crate::custodian_token_var(r)
                ));
            }
        }
        for (r, url) in self.urls {
            let var = format!("RESIDENCY_{}", r.to_uppercase().replace('-', "_"));
            text.push_str(&format!("export {var}={url}\n"));
            if let Some(gateways) = self.gateways.get(r) {
                // Every gateway of a split region (the one above is the first).
                text.push_str(&format!(
                    "export {var}_GATEWAYS=\"{}\"\n",
                    gateways.join(" ")
                ));
            }
        }
        tlog::keyfile::create_private(&path, text.as_bytes())
            .map_err(io(format!("writing {}", path.display())))
    }
}
