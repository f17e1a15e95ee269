//! The example policy (examples/policy), built in so that the demo needs
//! no checkout, and fresh credentials for its principals and the nodes.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context;

/// The example policy's files.
const POLICY: [(&str, &str); 5] = [
    (
        "catalog.toml",
        include_str!("../../../examples/policy/catalog.toml"),
    ),
    (
        "principals.toml",
        include_str!("../../../examples/policy/principals.toml"),
    ),
    (
        "regions.toml",
        include_str!("../../../examples/policy/regions.toml"),
    ),
    (
        "policies/access.cedar",
        include_str!("../../../examples/policy/policies/access.cedar"),
    ),
    (
        "policies/guardrails.cedar",
        include_str!("../../../examples/policy/policies/guardrails.cedar"),
    ),
];

/// What the story needs of the example policy.
#[derive(Debug)]
pub(crate) struct Example {
    /// The residency rule of the policy: country → home region.
    pub(crate) homes: BTreeMap<String, String>,
    /// Principal id → API token.
    tokens: BTreeMap<String, String>,
    /// Every process's credentials: each principal's token under the
    /// variable the policy names, and each node's own.
    pub(crate) credentials: Vec<(String, String)>,
}

impl Example {
    /// Writes the example policy into `dir/policy` and draws fresh
    /// credentials for its principals and the nodes.
    pub(crate) fn write(dir: &Path) -> anyhow::Result<Self> {
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
        let mut credentials = Vec::new();
        for (id, p) in &bundle.principals.principals {
            let var = p
                .credential
                .strip_prefix("env:")
                .with_context(|| format!("principal {id}: the demo expects an env: credential"))?;
            let token = secret()?;
            credentials.push((var.to_owned(), token.clone()));
            tokens.insert(id.clone(), token);
        }
        for r in cluster::REGIONS {
            credentials.push((cluster::node_token_var(r), secret()?));
        }
        Ok(Example {
            homes,
            tokens,
            credentials,
        })
    }

    /// The API token of a principal.
    pub(crate) fn token(&self, principal: &str) -> &str {
        self.tokens.get(principal).map_or("", String::as_str)
    }
}

/// A fresh random credential.
fn secret() -> anyhow::Result<String> {
    let mut b = [0u8; 24];
    getrandom::fill(&mut b).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
    Ok(hex::encode(b))
}
