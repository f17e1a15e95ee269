//! The monitor's configuration: which logs to follow and whose witness
//! cosignatures to look for. It holds only public things — log URLs and
//! public keys — because a monitor needs nothing else from an operator.
//!
//! ```toml
//! state = "monitor-state"          # mirror and state (relative to this file)
//! listen = "127.0.0.1:7400"        # dashboard and JSON API
//! poll_ms = 1000                   # how often the logs are fetched
//! webhook = "http://127.0.0.1:9000/alerts"   # optional: POST each finding
//! law = "law.toml"                 # optional: the monitor's own law table
//!
//! [[logs]]
//! region = "eu-fr"
//! url = "http://127.0.0.1:7101"
//! key = "logs/eu-fr/log.vkey"      # a vkey, or a file holding one
//!
//! [[witnesses]]
//! url = "http://127.0.0.1:7300"
//! key = "witness.vkey"
//! ```

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use tlog::Verifier;

use crate::Error;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    state: PathBuf,
    #[serde(default)]
    listen: Option<SocketAddr>,
    #[serde(default = "default_poll")]
    poll_ms: u64,
    #[serde(default)]
    webhook: Option<String>,
    #[serde(default)]
    law: Option<PathBuf>,
    #[serde(default)]
    ca: Option<PathBuf>,
    logs: Vec<LogFile>,
    #[serde(default)]
    witnesses: Vec<WitnessFile>,
}

fn default_poll() -> u64 {
    1000
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LogFile {
    region: String,
    url: String,
    key: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WitnessFile {
    url: String,
    key: String,
}

/// A log the monitor follows.
#[derive(Clone, Debug)]
pub struct LogConfig {
    /// The region whose log it is.
    pub region: String,
    /// Base URL of the region's node (the log is under `/log/`).
    pub url: String,
    /// The log's public key; its name is the log's origin.
    pub key: Verifier,
}

/// A witness whose cosignatures and views the monitor checks.
#[derive(Clone, Debug)]
pub struct WitnessConfig {
    /// Base URL (the submission prefix).
    pub url: String,
    /// The witness's public key (cosignature/v1).
    pub key: Verifier,
}

/// A loaded monitor configuration.
#[derive(Clone, Debug)]
pub struct MonitorConfig {
    /// Directory of the mirror and the state database.
    pub state: PathBuf,
    /// Where the dashboard and JSON API listen.
    pub listen: Option<SocketAddr>,
    /// Poll interval, milliseconds.
    pub poll_ms: u64,
    /// Webhook for alerts.
    pub webhook: Option<String>,
    /// The monitor's own law table, which legality is judged against.
    pub law: std::sync::Arc<policy::law::LawTable>,
    /// Logs followed.
    pub logs: Vec<LogConfig>,
    /// Witnesses checked.
    pub witnesses: Vec<WitnessConfig>,
    /// The CA certificates (PEM) its HTTPS requests trust instead of the
    /// platform's roots (a cluster's own CA).
    pub ca: Option<PathBuf>,
}

impl MonitorConfig {
    /// Loads a configuration file; relative paths resolve against its
    /// directory. Errors name the file and the field.
    pub fn load(path: &Path) -> Result<Self, Error> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::Config {
            file: path.display().to_string(),
            message: e.to_string(),
        })?;
        Self::parse(path, &text)
    }

    /// Parses the text of the file at `path`.
    pub fn parse(path: &Path, text: &str) -> Result<Self, Error> {
        let file_name = path.display().to_string();
        let err = |message: String| Error::Config {
            file: file_name.clone(),
            message,
        };
        let f: File = toml::from_str(text).map_err(|e| err(e.to_string()))?;
        let base = path.parent().unwrap_or(Path::new("."));
        let key = |field: String, value: &str| -> Result<Verifier, Error> {
            let p = base.join(value);
            let text = if !value.contains('+') && p.is_file() {
                std::fs::read_to_string(&p).map_err(|e| err(format!("{field}: {e}")))?
            } else {
                value.to_owned()
            };
            Verifier::parse(text.trim()).map_err(|e| {
                err(format!(
                    "{field}: not a verifier key or a file holding one: {e}"
                ))
            })
        };
        let url = |field: String, value: &str| -> Result<String, Error> {
            if value.starts_with("http://") || value.starts_with("https://") {
                Ok(value.trim_end_matches('/').to_owned())
            } else {
                Err(err(format!("{field}: {value:?} is not an http(s) URL")))
            }
        };
        if f.logs.is_empty() {
            return Err(err("logs: at least one log to follow".into()));
        }
        if f.poll_ms == 0 {
            return Err(err("poll_ms: must be above 0".into()));
        }
        let mut logs: Vec<LogConfig> = Vec::new();
        for (i, l) in f.logs.iter().enumerate() {
            if l.region.is_empty() || logs.iter().any(|o| o.region == l.region) {
                return Err(err(format!(
                    "logs[{i}].region: {:?} is empty or repeated",
                    l.region
                )));
            }
            logs.push(LogConfig {
                region: l.region.clone(),
                url: url(format!("logs[{i}].url"), &l.url)?,
                key: key(format!("logs[{i}].key"), &l.key)?,
            });
        }
        let mut witnesses = Vec::new();
        for (i, w) in f.witnesses.iter().enumerate() {
            witnesses.push(WitnessConfig {
                url: url(format!("witnesses[{i}].url"), &w.url)?,
                key: key(format!("witnesses[{i}].key"), &w.key)?,
            });
        }
        if let Some(w) = &f.webhook {
            url("webhook".into(), w)?;
        }
        let law = match &f.law {
            None => crate::replay::reference_law(),
            Some(p) => {
                let p = base.join(p);
                let text = std::fs::read_to_string(&p)
                    .map_err(|e| err(format!("law: {}: {e}", p.display())))?;
                let table = policy::law::LawTable::from_toml(&p.display().to_string(), &text)
                    .map_err(|e| err(format!("law: {e}")))?;
                std::sync::Arc::new(table)
            }
        };
        Ok(MonitorConfig {
            state: base.join(&f.state),
            listen: f.listen,
            poll_ms: f.poll_ms,
            webhook: f.webhook,
            law,
            logs,
            witnesses,
            ca: f.ca.map(|c| base.join(c)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vkey() -> String {
        tlog::Signer::generate("example.org/eu-fr", tlog::note::TYPE_ED25519)
            .unwrap()
            .verifier()
            .to_vkey()
    }

    #[test]
    fn a_configuration_loads_with_paths_relative_to_its_file() {
        let text = format!(
            "state = \"st\"\n[[logs]]\nregion = \"eu-fr\"\nurl = \"http://127.0.0.1:1/\"\nkey = \"{}\"\n",
            vkey()
        );
        let c = MonitorConfig::parse(Path::new("/etc/m/monitor.toml"), &text).unwrap();
        assert_eq!(c.state, Path::new("/etc/m/st"));
        assert_eq!(c.logs[0].url, "http://127.0.0.1:1");
        assert_eq!(c.logs[0].key.name, "example.org/eu-fr");
        assert_eq!(c.poll_ms, 1000);
    }

    #[test]
    fn errors_name_the_file_and_the_field() {
        let text = "state = \"st\"\n[[logs]]\nregion = \"eu-fr\"\nurl = \"ftp://x\"\nkey = \"k\"\n";
        let e = MonitorConfig::parse(Path::new("m.toml"), text)
            .unwrap_err()
            .to_string();
        assert!(e.contains("m.toml") && e.contains("logs[0].url"), "{e}");
        let text = format!(
            "state = \"st\"\n[[logs]]\nregion = \"eu-fr\"\nurl = \"http://x\"\nkey = \"{}\"\n[[logs]]\nregion = \"eu-fr\"\nurl = \"http://y\"\nkey = \"{}\"\n",
            vkey(),
            vkey()
        );
        let e = MonitorConfig::parse(Path::new("m.toml"), &text)
            .unwrap_err()
            .to_string();
        assert!(e.contains("logs[1].region"), "{e}");
        let e = MonitorConfig::parse(Path::new("m.toml"), "state = 1")
            .unwrap_err()
            .to_string();
        assert!(e.contains("m.toml") && e.contains("state"), "{e}");
    }
}
