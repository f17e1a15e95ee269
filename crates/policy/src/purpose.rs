//! Purposes: ids declared in the catalog (`[purposes.<id>]`), granted to
//! principals (`purposes = [...]` in principals.toml), and two built in for
//! the node's own requests. A request's purpose is an id, never free text,
//! so it can go into the public log.

use serde::{Deserialize, Serialize};

use crate::bundle::Bundle;
use crate::decision::Action;
use crate::principals::Principal;

/// The purpose the node gives subject requests (export, erasure).
pub const SUBJECT_REQUEST: &str = "subject-request";

/// The purpose the node gives re-identifications.
pub const REIDENTIFICATION: &str = "reidentification";

/// Built-in purposes: never declared (declaring one is an error), usable by
/// any principal the action's policies permit, and only for their actions.
pub const BUILT_IN: [&str; 2] = [SUBJECT_REQUEST, REIDENTIFICATION];

/// Longest purpose id, in bytes.
pub const MAX_ID_BYTES: usize = 64;

/// A declared purpose.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Purpose {
    /// What it is for, in plain words (for people reading the bundle).
    pub description: String,
}

/// Whether `id` has the shape of a purpose id: 1 to [`MAX_ID_BYTES`]
/// bytes of lowercase ASCII letters, digits and `-`, starting with a
/// letter.
pub fn is_id(id: &str) -> bool {
    id.len() <= MAX_ID_BYTES
        && id.starts_with(|c: char| c.is_ascii_lowercase())
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// The actions a built-in purpose serves.
fn built_in_for(purpose: &str, action: Action) -> Option<bool> {
    match purpose {
        SUBJECT_REQUEST => Some(matches!(
            action,
            Action::Export | Action::Erase | Action::History
        )),
        REIDENTIFICATION => Some(action == Action::Reidentify),
        _ => None,
    }
}

/// Whether principal `id` may ask for `action` with `purpose`; the error
/// is the reason of a denial. It names the purpose only once it is known
/// to be a declared id. A bundle that declares no purposes (written before
/// purposes were declared) leaves purposes to its policies, as it did then,
/// so that logs made under it replay the same.
pub fn check(
    bundle: &Bundle,
    id: &str,
    principal: &Principal,
    action: Action,
    purpose: &str,
) -> Result<(), String> {
    if bundle.catalog.purposes.is_empty() || matches!(action, Action::Ingest | Action::Admin) {
        return Ok(());
    }
    if let Some(fits) = built_in_for(purpose, action) {
        return if fits {
            Ok(())
        } else {
            Err(format!(
                "purpose {purpose} is built in for other actions than {}",
                action.as_str()
            ))
        };
    }
    if !bundle.catalog.purposes.contains_key(purpose) {
        return Err("the purpose is not declared in the bundle's catalog".into());
    }
    if !principal.purposes.iter().any(|p| p == purpose) {
        return Err(format!("principal {id} may not use purpose {purpose}"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn purpose_ids_are_short_lowercase_words() {
        for ok in ["reco-training", "a", "art15", &"a".repeat(MAX_ID_BYTES)] {
            assert!(is_id(ok), "{ok}");
        }
        for bad in [
            "",
            "Reco",
            "-x",
            "1x",
            "call jane.roe@example.com",
            "x_y",
            &"a".repeat(MAX_ID_BYTES + 1),
        ] {
            assert!(!is_id(bad), "{bad}");
        }
    }
}
