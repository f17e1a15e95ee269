//! `custodian.toml`:
//!
//! ```toml
//! state = "custodian"              # directory: custodian.key, custodian.db, witness.db
//! listen = "127.0.0.1:7500"
//! law = "law.toml"                 # optional: the custodian's own law table
//! max_entry_age_secs = 300         # releases only this soon after logging
//! witnesses = ["witness.example+…"] # independent witnesses' keys
//! witness_quorum = 1               # cosignatures a checkpoint needs (default 0)
//!
//! [[logs]]
//! region = "eu-fr"
//! key = "eu-fr.residency.example+1234abcd+AAAA…"   # the region's log verifier key
//! token_sha256 = "…"               # SHA-256 of the region's bearer token, hex
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use policy::law::LawTable;
use serde::Deserialize;
use tlog::Verifier;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    state: PathBuf,
    listen: String,
    #[serde(default)]
    law: Option<PathBuf>,
    #[serde(default = "default_max_entry_age")]
    max_entry_age_secs: u64,
    #[serde(default)]
    witnesses: Vec<String>,
    #[serde(default)]
    witness_quorum: usize,
    logs: Vec<LogFile>,
}

fn default_max_entry_age() -> u64 {
    300
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LogFile {
    region: String,
    key: String,
    token_sha256: String,
}

/// One region's log the custodian serves.
#[derive(Clone, Debug)]
pub struct LogConfig {
    /// The region.
    pub region: String,
    /// The log's verifier key (its name is the log's origin).
    pub key: Verifier,
    /// SHA-256 of the region's bearer token.
    pub token_sha256: [u8; 32],
}

/// A custodian's configuration.
#[derive(Clone, Debug)]
pub struct CustodianConfig {
    /// The state directory.
    pub state: PathBuf,
    /// Listen address.
    pub listen: String,
    /// The law table legality is judged by.
    pub law: Arc<LawTable>,
    /// The logs served, by origin.
    pub logs: BTreeMap<String, LogConfig>,
    /// How long after its entry was logged a release may still be asked
    /// for: an old entry does not authorise keys to records sealed since.
    pub max_entry_age_secs: u64,
    /// The independent witnesses whose cosignatures count.
    pub witnesses: Vec<Verifier>,
    /// How many of them must have cosigned a checkpoint before anything is
    /// released against it: a fork shown to the custodian alone then
    /// releases nothing.
    pub witness_quorum: usize,
}

impl CustodianConfig {
    /// Reads `path`; relative paths in it are relative to its directory.
    pub fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let base = path.parent().unwrap_or(Path::new("."));
        Self::parse(&text, base).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Parses a configuration whose relative paths start at `base`.
    pub fn parse(text: &str, base: &Path) -> Result<Self, String> {
        let f: File = toml::from_str(text).map_err(|e| e.message().to_owned())?;
        let law = match &f.law {
            None => replay::reference_law(),
            Some(p) => {
                let p = base.join(p);
                let text = std::fs::read_to_string(&p)
                    .map_err(|e| format!("law: {}: {e}", p.display()))?;
                Arc::new(
                    LawTable::from_toml(&p.display().to_string(), &text)
                        .map_err(|e| format!("law: {e}"))?,
                )
            }
        };
        let mut logs = BTreeMap::new();
        for (i, l) in f.logs.into_iter().enumerate() {
            let key = Verifier::parse(l.key.trim())
                .map_err(|_| format!("logs[{i}].key: not a note verifier key"))?;
            let token_sha256 = <[u8; 32] as hex::FromHex>::from_hex(l.token_sha256.trim())
                .map_err(|_| format!("logs[{i}].token_sha256: not 64 hex digits"))?;
            let origin = key.name.clone();
            if logs
                .insert(
                    origin,
                    LogConfig {
                        region: l.region,
                        key,
                        token_sha256,
                    },
                )
                .is_some()
            {
                return Err(format!("logs[{i}]: a second log of the same origin"));
            }
        }
        let mut witnesses = Vec::new();
        for (i, w) in f.witnesses.iter().enumerate() {
            witnesses.push(
                Verifier::parse(w.trim())
                    .map_err(|_| format!("witnesses[{i}]: not a note verifier key"))?,
            );
        }
        if f.witness_quorum > witnesses.len() {
            return Err(format!(
                "witness_quorum {} is more than the {} witnesses named",
                f.witness_quorum,
                witnesses.len()
            ));
        }
        if logs.is_empty() {
            return Err("no [[logs]]: the custodian would serve no one".into());
        }
        Ok(CustodianConfig {
            state: base.join(f.state),
            listen: f.listen,
            law,
            logs,
            max_entry_age_secs: f.max_entry_age_secs,
            witnesses,
            witness_quorum: f.witness_quorum,
        })
    }
}
