//! Applying transforms to what the analyzer finds.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::Finding;
use crate::{Context, Error, Keys, Transform};

/// Which transform each entity type gets; entities not listed get
/// `default` (a `<ENTITY_TYPE>` label unless set otherwise).
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedactionPlan {
    /// Transform for entity types without their own.
    #[serde(default)]
    pub default: Option<Transform>,
    /// Transform per entity type, e.g. `EMAIL_ADDRESS`.
    #[serde(default)]
    pub entities: BTreeMap<String, Transform>,
}

impl RedactionPlan {
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
            .iter()
            .chain(self.entities.values())
            .any(Transform::needs_keys)
    }

    fn transform_for(&self, entity: &str) -> Option<&Transform> {
        self.entities.get(entity).or(self.default.as_ref())
    }
}

/// `text` with every finding transformed by the plan. A value a transform
/// cannot handle (e.g. FF1 on too few digits) is replaced by its label, so
/// nothing found is ever left in clear.
pub fn redact(text: &str, findings: &[Finding], plan: &RedactionPlan, keys: &Keys) -> String {
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for f in findings {
        if f.bytes.start < at {
            continue; // overlapping: the analyzer never returns these
        }
        out.push_str(&text[at..f.bytes.start]);
        let label = format!("<{}>", f.entity_type);
        let value = &text[f.bytes.clone()];
        let cx = Context {
            subject: None,
            label: Some(&label),
        };
        let replaced = match plan.transform_for(f.entity_type) {
            None => Some(label.clone()),
            Some(t) => t
                .apply(keys, value, cx)
                .unwrap_or_else(|_| Some(label.clone())),
        };
        if let Some(r) = replaced {
            out.push_str(&r);
        }
        at = f.bytes.end;
    }
    out.push_str(&text[at..]);
    out
}
