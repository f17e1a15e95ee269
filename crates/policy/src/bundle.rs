//! The policy bundle: everything a decision depends on — catalog, law
//! table, principals (without secrets), regions, policies and schema — with
//! a canonical serialisation and its SHA-256, so that a monitor can replay
//! every decision against the bundle that was in force.

use std::collections::BTreeMap;
use std::path::Path;

use cedar_policy::Entities;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::Error;
use crate::catalog::Catalog;
use crate::cedar::{self, Policies};
use crate::law::{DEFAULT_LAW_TABLE, LawTable};
use crate::principals::{Principals, Regions};

/// A loaded, validated policy bundle.
#[derive(Debug)]
pub struct Bundle {
    /// The catalog.
    pub catalog: Catalog,
    /// The law table.
    pub law: LawTable,
    /// The principals.
    pub principals: Principals,
    /// The regions.
    pub regions: Regions,
    /// The policies.
    pub policies: Policies,
    pub(crate) entities: Entities,
    policy_texts: BTreeMap<String, String>,
    law_is_default: bool,
    canonical: String,
    hash: String,
}

/// The bundle's files, as text: what [`Bundle::from_sources`] reads.
#[derive(Clone, Debug, Default)]
pub struct Sources {
    /// `catalog.toml`.
    pub catalog: String,
    /// `law.toml`, or `None` for the default law table.
    pub law: Option<String>,
    /// `principals.toml`.
    pub principals: String,
    /// `regions.toml`.
    pub regions: String,
    /// `policies/*.cedar`: file name and text.
    pub policies: Vec<(String, String)>,
}

#[derive(Serialize)]
struct Canonical<'a> {
    catalog: &'a Catalog,
    law: &'a LawTable,
    principals: &'a Principals,
    regions: &'a Regions,
    policies: &'a BTreeMap<String, String>,
    schema: &'a str,
}

impl Bundle {
    /// Loads a policy directory: `catalog.toml`, `principals.toml`,
    /// `regions.toml`, optional `law.toml`, and `policies/*.cedar`.
    pub fn load(dir: &Path) -> Result<Self, Error> {
        let read = |name: &str| {
            let p = dir.join(name);
            std::fs::read_to_string(&p).map_err(|source| Error::Io {
                path: p.display().to_string(),
                source,
            })
        };
        let catalog = read("catalog.toml")?;
        let principals = read("principals.toml")?;
        let regions = read("regions.toml")?;
        let law_path = dir.join("law.toml");
        let law = if law_path.exists() {
            Some(read("law.toml")?)
        } else {
            None
        };
        let pdir = dir.join("policies");
        let mut policies = Vec::new();
        let entries = std::fs::read_dir(&pdir).map_err(|source| Error::Io {
            path: pdir.display().to_string(),
            source,
        })?;
        for e in entries {
            let e = e.map_err(|source| Error::Io {
                path: pdir.display().to_string(),
                source,
            })?;
            let name = e.file_name().to_string_lossy().into_owned();
            if name.ends_with(".cedar") {
                let text = std::fs::read_to_string(e.path()).map_err(|source| Error::Io {
                    path: e.path().display().to_string(),
                    source,
                })?;
                policies.push((format!("policies/{name}"), text));
            }
        }
        policies.sort();
        Self::from_sources(Sources {
            catalog,
            law,
            principals,
            regions,
            policies,
        })
    }

    /// Builds a bundle from file contents (no I/O).
    pub fn from_sources(src: Sources) -> Result<Self, Error> {
        Self::build(src, cedar::SCHEMA)
    }

    /// Builds a bundle whose canonical form names `schema` — this build's,
    /// or for a logged bundle the earlier one it was logged under; its
    /// policies are validated against this build's, which extends it.
    fn build(src: Sources, schema: &str) -> Result<Self, Error> {
        let catalog = Catalog::from_toml("catalog.toml", &src.catalog)?;
        let law_is_default = src.law.is_none();
        let law = LawTable::from_toml("law.toml", src.law.as_deref().unwrap_or(DEFAULT_LAW_TABLE))?;
        let principals: Principals = crate::parse_toml("principals.toml", &src.principals)?;
        let regions: Regions = crate::parse_toml("regions.toml", &src.regions)?;
        check_references(&catalog, &law, &principals, &regions)?;
        let policies = Policies::load(&src.policies)?;
        let entities = cedar::entities(&catalog, &principals, &regions, &law, policies.schema())?;
        let policy_texts: BTreeMap<String, String> = src.policies.into_iter().collect();
        let canonical = serde_json::to_string(&Canonical {
            catalog: &catalog,
            law: &law,
            principals: &principals,
            regions: &regions,
            policies: &policy_texts,
            schema,
        })
        .map_err(|e| Error::Inconsistent(format!("serialising the bundle: {e}")))?;
        let hash = hex::encode(Sha256::digest(canonical.as_bytes()));
        Ok(Bundle {
            catalog,
            law,
            principals,
            regions,
            policies,
            entities,
            policy_texts,
            law_is_default,
            canonical,
            hash,
        })
    }

    /// Rebuilds a bundle from its canonical serialisation, as a log carries
    /// it, checking it as [`Bundle::from_sources`] does. The result hashes
    /// to the same value as the bundle that was serialised; a caller holding
    /// the logged hash compares the two.
    pub fn from_canonical(text: &str) -> Result<Self, Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Logged {
            catalog: Catalog,
            law: LawTable,
            principals: Principals,
            regions: Regions,
            policies: BTreeMap<String, String>,
            schema: String,
        }
        let l: Logged = serde_json::from_str(text)
            .map_err(|e| Error::Inconsistent(format!("logged bundle: {e}")))?;
        let known =
            l.schema == cedar::SCHEMA || cedar::EARLIER_SCHEMAS.contains(&l.schema.as_str());
        if !known {
            return Err(Error::Inconsistent(
                "logged bundle: made for another Cedar schema than this build's".into(),
            ));
        }
        // Back to the files' form, so that every check of a loaded bundle runs.
        Self::build(
            Sources {
                catalog: to_toml("catalog", &l.catalog)?,
                law: Some(to_toml("law", &l.law)?),
                principals: to_toml("principals", &l.principals)?,
                regions: to_toml("regions", &l.regions)?,
                policies: l.policies.into_iter().collect(),
            },
            &l.schema,
        )
    }

    /// The canonical serialisation (JSON, sorted keys): what is logged when
    /// the bundle changes.
    pub fn canonical(&self) -> &str {
        &self.canonical
    }

    /// SHA-256 of the canonical serialisation, hex.
    pub fn hash(&self) -> &str {
        &self.hash
    }

    /// Whether the law table is the default one shipped with residency.
    pub fn law_is_default(&self) -> bool {
        self.law_is_default
    }

    /// Policy files and their text.
    pub fn policy_texts(&self) -> &BTreeMap<String, String> {
        &self.policy_texts
    }

    /// Whether `purpose` is one the catalog declares (built-in purposes are
    /// the node's own, not a caller's: see [`crate::purpose`]).
    pub fn declares_purpose(&self, purpose: &str) -> bool {
        self.catalog.purposes.contains_key(purpose)
    }
}

fn to_toml<T: Serialize>(what: &str, value: &T) -> Result<String, Error> {
    toml::to_string(value).map_err(|e| Error::Inconsistent(format!("logged bundle: {what}: {e}")))
}

fn check_references(
    catalog: &Catalog,
    law: &LawTable,
    principals: &Principals,
    regions: &Regions,
) -> Result<(), Error> {
    for (id, p) in &principals.principals {
        if law.jurisdiction_of(&p.location).is_none() {
            return Err(Error::Inconsistent(format!(
                "principal {id} is located in {}, a country the law table does not know",
                p.location
            )));
        }
        for purpose in &p.purposes {
            if !catalog.purposes.contains_key(purpose) {
                return Err(Error::Inconsistent(format!(
                    "principals.toml: principal {id} names purpose {purpose}, which catalog.toml does not declare"
                )));
            }
        }
        for c in &p.contracts {
            if !law.tools.contains_key(c) {
                return Err(Error::Inconsistent(format!(
                    "principal {id} names contract {c}, which the law table does not have"
                )));
            }
        }
        if p.credential.is_empty()
            || !(p.credential.starts_with("env:") || p.credential.starts_with("file:"))
        {
            return Err(Error::Inconsistent(format!(
                "principal {id}: credential must be a reference (env:NAME or file:PATH), never the secret itself"
            )));
        }
    }
    for (id, r) in &regions.regions {
        if law.jurisdiction_of(&r.country).is_none() {
            return Err(Error::Inconsistent(format!(
                "region {id} is in {}, a country the law table does not know",
                r.country
            )));
        }
    }
    Ok(())
}
