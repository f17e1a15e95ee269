//! Recognisers for south africa (Presidio's `country_specific/south_africa`).

use super::{Case, Recognizer};

pub(super) fn recognizers() -> Vec<Recognizer> {
    vec![]
}

pub(super) const CASES: &[Case] = &[];
