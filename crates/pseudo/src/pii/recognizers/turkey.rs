//! Recognisers for turkey (Presidio's `country_specific/turkey`).

use super::{Case, Recognizer};

pub(super) fn recognizers() -> Vec<Recognizer> {
    vec![]
}

pub(super) const CASES: &[Case] = &[];
