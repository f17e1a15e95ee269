//! The demo's policy directory, for the policy crate's tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use policy::Sources;

/// `examples/policy`.
pub(crate) fn demo_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/policy")
}

/// The demo's sources, with the default law table.
pub(crate) fn demo_sources() -> Sources {
    let read = |f: &str| std::fs::read_to_string(demo_dir().join(f)).unwrap();
    Sources {
        catalog: read("catalog.toml"),
        law: None,
        principals: read("principals.toml"),
        regions: read("regions.toml"),
        policies: vec![
            (
                "policies/access.cedar".into(),
                read("policies/access.cedar"),
            ),
            (
                "policies/guardrails.cedar".into(),
                read("policies/guardrails.cedar"),
            ),
        ],
    }
}
