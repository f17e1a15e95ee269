//! Masking and redaction.

/// Keeps the first `first` and last `last` characters and replaces the rest
/// with `mask`: `0612345678` with (2, 2, '*') gives `06******78`. A value too
/// short to hide anything is masked whole.
pub fn mask(value: &str, first: usize, last: usize, mask: char) -> String {
    let n = value.chars().count();
    if first + last >= n {
        return std::iter::repeat_n(mask, n).collect();
    }
    value
        .chars()
        .enumerate()
        .map(|(i, c)| if i < first || i >= n - last { c } else { mask })
        .collect()
}

/// Replaces the value with a fixed label, e.g. `<PHONE_NUMBER>`.
pub fn redact(label: &str) -> String {
    label.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mask_keeps_ends_and_counts_characters_not_bytes() {
        assert_eq!(mask("0612345678", 2, 2, '*'), "06******78");
        assert_eq!(mask("Åsa-Léa", 1, 1, '•'), "Å•••••a");
        assert_eq!(mask("abc", 2, 2, '*'), "***");
        assert_eq!(mask("", 0, 0, '*'), "");
    }
}
