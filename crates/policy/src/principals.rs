//! Principals (who asks) and regions (where data is kept).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A person or service that asks the gateway for data.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Principal {
    /// Where the API credential comes from (`env:NAME`, `file:PATH`): a
    /// reference, never the secret.
    pub credential: String,
    /// Country the principal is located in (ISO 3166-1 alpha-2).
    pub location: String,
    /// Organisation.
    pub organisation: String,
    /// Organisation group bound by binding corporate rules, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// Kind of organisation (`commercial`, `private`, `public`), for
    /// adequacy decisions limited to a sector.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sector: Option<String>,
    /// Roles.
    #[serde(default)]
    pub roles: Vec<String>,
    /// Certifications (e.g. `EU-US DPF`).
    #[serde(default)]
    pub certifications: Vec<String>,
    /// Transfer contracts signed (ids of SCC tools in the law table).
    #[serde(default)]
    pub contracts: Vec<String>,
    /// Purposes it may use (ids declared in the catalog). Left out of the
    /// canonical form when empty, so older bundles hash as they did.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub purposes: Vec<String>,
}

/// The principals file: principals by id.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Principals {
    /// Principals by id.
    pub principals: BTreeMap<String, Principal>,
}

/// A region of the cluster.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Region {
    /// Country the region's data centre is in.
    pub country: String,
    /// Countries of residence whose people are homed here (the residency rule).
    #[serde(default)]
    pub homes: Vec<String>,
}

/// The regions file: regions by id.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Regions {
    /// Regions by id (e.g. `eu-fr`).
    pub regions: BTreeMap<String, Region>,
}
