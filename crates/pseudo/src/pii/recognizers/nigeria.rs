//! Recognisers for nigeria (Presidio's `country_specific/nigeria`).

use super::{Case, Recognizer};

pub(super) fn recognizers() -> Vec<Recognizer> {
    vec![]
}

pub(super) const CASES: &[Case] = &[];
