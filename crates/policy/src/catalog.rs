//! The catalog: the datasets the app collects, their fields, how personal
//! each one is, and what each becomes on its way out.

use std::collections::BTreeMap;

use pseudo::Transform;
use serde::{Deserialize, Serialize};

use crate::Error;
use crate::purpose::{self, Purpose};

/// What kind of data a field holds (GDPR-relevant categories).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    /// Identifiers of the person or account.
    Identifier,
    /// Device data (language, OS version).
    Device,
    /// Network data (IP, Wi-Fi).
    Network,
    /// Contact data (address, phone, email).
    Contact,
    /// Location data.
    Location,
    /// The person's social graph.
    SocialGraph,
    /// The person's address book.
    Contacts,
    /// Content the person made.
    Content,
    /// Behaviour and usage.
    Behaviour,
    /// Special categories of Art. 9 GDPR.
    Special,
}

impl Category {
    /// The name used in catalogs and Cedar contexts.
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Identifier => "identifier",
            Category::Device => "device",
            Category::Network => "network",
            Category::Contact => "contact",
            Category::Location => "location",
            Category::SocialGraph => "social_graph",
            Category::Contacts => "contacts",
            Category::Content => "content",
            Category::Behaviour => "behaviour",
            Category::Special => "special",
        }
    }
}

/// How personal a field is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    /// Not personal data.
    Public,
    /// Personal data.
    Personal,
    /// Personal data whose disclosure harms most (contact details, graphs,
    /// special categories).
    Protected,
}

impl Level {
    /// The name used in Cedar contexts.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Public => "public",
            Level::Personal => "personal",
            Level::Protected => "protected",
        }
    }
}

/// Where the data goes, relative to where it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DestinationClass {
    /// Stays in the data's jurisdiction.
    Same,
    /// A jurisdiction with an adequacy decision covering the recipient.
    Adequate,
    /// Anywhere else.
    Other,
}

/// What a field becomes for each destination class.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Egress {
    /// Within the same jurisdiction.
    pub same: Transform,
    /// Toward an adequate jurisdiction.
    pub adequate: Transform,
    /// Toward any other jurisdiction.
    pub other: Transform,
}

impl Egress {
    /// The transform for a destination class.
    pub fn for_class(&self, class: DestinationClass) -> &Transform {
        match class {
            DestinationClass::Same => &self.same,
            DestinationClass::Adequate => &self.adequate,
            DestinationClass::Other => &self.other,
        }
    }
}

/// One field of a dataset.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Field {
    /// Category.
    pub category: Category,
    /// Level.
    pub level: Level,
    /// Optional format hint (`email`, `phone`, `ip`, `date`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    /// Transform per destination class.
    pub egress: Egress,
}

impl Field {
    /// Free text (`format = "text"`): the only kind a `scrub` transform
    /// takes, whose detector finds identifiers *inside* a value.
    pub fn is_text(&self) -> bool {
        self.format.as_deref() == Some("text")
    }

    /// A `scrub` egress only on a text field, with a plan that names
    /// known entity types and keeps none in clear.
    fn check_scrubs(&self) -> Result<(), String> {
        for (class, t) in [
            ("same", &self.egress.same),
            ("adequate", &self.egress.adequate),
            ("other", &self.egress.other),
        ] {
            if let Transform::Scrub(plan) = t {
                if !self.is_text() {
                    return Err(format!(
                        "egress.{class} is scrub, which needs format = \"text\""
                    ));
                }
                plan.check_scrub()
                    .map_err(|e| format!("egress.{class}: {e}"))?;
            }
        }
        Ok(())
    }
}

/// A dataset: named fields, and the k of its aggregates.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dataset {
    /// Smallest group an aggregate reports (never below 5; default 10).
    #[serde(default = "default_k")]
    pub min_group: usize,
    /// Days a record is kept after its time; the store's sweeper deletes
    /// older ones. None keeps records until the subject is erased.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention_days: Option<u32>,
    /// Fields by name.
    pub fields: BTreeMap<String, Field>,
}

fn default_k() -> usize {
    10
}

/// The catalog: datasets by name, and the purposes data may be used for.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Catalog {
    /// Datasets by name.
    pub datasets: BTreeMap<String, Dataset>,
    /// Purposes by id ([`crate::purpose`]). Left out of the canonical form
    /// when empty, so bundles written before purposes hash as they did.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub purposes: BTreeMap<String, Purpose>,
}

impl Catalog {
    /// Parses and checks a catalog (k never below [`pseudo::kanon::MIN_K`];
    /// purpose ids of the right shape, none built in).
    pub fn from_toml(file: &str, text: &str) -> Result<Self, Error> {
        let c: Catalog = crate::parse_toml(file, text)?;
        for id in c.purposes.keys() {
            let why = if !purpose::is_id(id) {
                "is not a purpose id (1 to 64 lowercase letters, digits and '-', starting with a letter)"
            } else if purpose::BUILT_IN.contains(&id.as_str()) {
                "is built in and may not be declared"
            } else {
                continue;
            };
            return Err(Error::Config {
                file: file.to_owned(),
                message: format!("purposes.{id} {why}"),
            });
        }
        for (name, d) in &c.datasets {
            if d.min_group < pseudo::kanon::MIN_K {
                return Err(Error::Config {
                    file: file.to_owned(),
                    message: format!(
                        "dataset {name}: min_group {} is below {}",
                        d.min_group,
                        pseudo::kanon::MIN_K
                    ),
                });
            }
            if d.fields.is_empty() {
                return Err(Error::Config {
                    file: file.to_owned(),
                    message: format!("dataset {name} has no fields"),
                });
            }
            for (fname, f) in &d.fields {
                f.check_scrubs().map_err(|why| Error::Config {
                    file: file.to_owned(),
                    message: format!("{name}.{fname}: {why}"),
                })?;
            }
        }
        Ok(c)
    }

    /// Looks up `dataset.field`.
    pub fn field(&self, dataset: &str, field: &str) -> Option<&Field> {
        self.datasets.get(dataset)?.fields.get(field)
    }

    /// Checks that every named field exists; the error gives the position
    /// of every unknown one.
    pub fn check_fields<'a>(
        &self,
        names: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<(), Error> {
        let unknown: Vec<usize> = names
            .into_iter()
            .enumerate()
            .filter(|(_, (d, f))| self.field(d, f).is_none())
            .map(|(i, _)| i)
            .collect();
        if unknown.is_empty() {
            Ok(())
        } else {
            Err(Error::UnknownFields(unknown))
        }
    }
}
