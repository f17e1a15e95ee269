//! Recognisers for philippines (Presidio's `country_specific/philippines`).

use super::{Case, Recognizer};

pub(super) fn recognizers() -> Vec<Recognizer> {
    vec![]
}

pub(super) const CASES: &[Case] = &[];
