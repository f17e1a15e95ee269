//! Recognisers for india (Presidio's `country_specific/india`).

use super::{Case, Recognizer};

pub(super) fn recognizers() -> Vec<Recognizer> {
    vec![]
}

pub(super) const CASES: &[Case] = &[];
