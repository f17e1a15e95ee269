//! Applying transforms to what the analyzer finds.

use std::collections::{BTreeMap, HashMap};
use std::sync::LazyLock;

use serde::{Deserialize, Serialize};

use super::Finding;
use crate::{Context, Error, Keys, Transform};

/// Which transform each entity type gets; entities not listed get
/// `default` (a `<ENTITY_TYPE>` label unless set otherwise).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedactionPlan {
    /// Transform for entity types without their own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<Box<Transform>>,
    /// Transform per entity type, e.g. `EMAIL_ADDRESS`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub entities: BTreeMap<String, Transform>,
}

impl RedactionPlan {
    /// Checks a plan for [`Transform::Scrub`]: besides [`Self::check`],
    /// no entity type is kept in clear and no transform scrubs again.
    pub fn check_scrub(&self) -> Result<(), Error> {
        self.check()?;
        for (name, t) in self
            .default
            .iter()
            .map(|t| ("default", &**t))
            .chain(self.entities.iter().map(|(n, t)| (n.as_str(), t)))
        {
            if matches!(t, Transform::Keep | Transform::Scrub(_)) {
                return Err(Error::InvalidParameter(format!(
                    "scrub: {name} may not be keep or scrub (what the detector finds never leaves in clear)"
                )));
            }
        }
        Ok(())
    }

    /// Checks that every entity named is one the analyzer reports.
    pub fn check(&self) -> Result<(), Error> {
        for name in self.entities.keys() {
            if !super::ENTITIES.contains(&name.as_str()) {
                return Err(Error::InvalidParameter(format!(
                    "unknown entity type {name:?} in the plan (known: {})",
                    super::ENTITIES.join(", ")
                )));
            }
        }
        Ok(())
    }

    /// Whether any transform of the plan uses keys.
    pub fn needs_keys(&self) -> bool {
        self.default
            .as_deref()
            .into_iter()
            .chain(self.entities.values())
            .any(Transform::needs_keys)
    }

    /// The transform for `entity`; `None` means its `<ENTITY>` label.
    pub fn transform_for(&self, entity: &str) -> Option<&Transform> {
        self.entities.get(entity).or(self.default.as_deref())
    }
}

/// `text` with every finding transformed by the plan. A value a transform
/// cannot handle (e.g. FF1 on too few digits) is replaced by its label, so
/// nothing found is ever left in clear.
pub fn redact(text: &str, findings: &[Finding], plan: &RedactionPlan, keys: &Keys) -> String {
    redact_for(text, findings, plan, keys, None)
}

/// `<ENTITY>`, the default label of a redacted finding, for each entity
/// type (made once, not for every finding).
static LABELS: LazyLock<HashMap<&'static str, String>> = LazyLock::new(|| {
    super::ENTITIES
        .iter()
        .map(|e| (*e, format!("<{e}>")))
        .collect()
});

/// [`redact`] for a value of `subject` (whose date shifts are per subject).
pub(crate) fn redact_for(
    text: &str,
    findings: &[Finding],
    plan: &RedactionPlan,
    keys: &Keys,
    subject: Option<&str>,
) -> String {
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for f in findings {
        if f.bytes.start < at {
            continue; // overlapping: the analyzer never returns these
        }
        out.push_str(&text[at..f.bytes.start]);
        let value = &text[f.bytes.clone()];
        let owned;
        let label = match LABELS.get(f.entity_type) {
            Some(l) => l.as_str(),
            None => {
                owned = format!("<{}>", f.entity_type);
                &owned
            }
        };
        let cx = Context {
            subject,
            label: Some(label),
        };
        match plan.transform_for(f.entity_type) {
            None => out.push_str(label),
            Some(t) => {
                if t.apply_into(keys, value, cx, &mut out).is_err() {
                    out.push_str(label);
                }
            }
        }
        at = f.bytes.end;
    }
    out.push_str(&text[at..]);
    out
}
