//! k-anonymity for aggregates: rows grouped by their quasi-identifiers,
//! groups smaller than `k` suppressed and reported.

use std::collections::BTreeMap;

use crate::Error;

/// The smallest k the platform accepts, whatever a policy says.
pub const MIN_K: usize = 5;

/// A k-anonymous count table.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct KAnonymous {
    /// The k applied.
    pub k: usize,
    /// Groups of at least k rows: quasi-identifier values and row count.
    pub groups: Vec<(Vec<String>, usize)>,
    /// How many groups were suppressed.
    pub suppressed_groups: usize,
    /// How many rows those groups held.
    pub suppressed_rows: usize,
}

/// Counts rows by their quasi-identifier values and suppresses every group
/// of fewer than `k` rows. `k` below [`MIN_K`] is refused.
pub fn count_groups<I, R>(rows: I, k: usize) -> Result<KAnonymous, Error>
where
    I: IntoIterator<Item = R>,
    R: Into<Vec<String>>,
{
    if k < MIN_K {
        return Err(Error::InvalidParameter(format!(
            "k must be at least {MIN_K}, got {k}"
        )));
    }
    let mut counts: BTreeMap<Vec<String>, usize> = BTreeMap::new();
    for r in rows {
        *counts.entry(r.into()).or_default() += 1;
    }
    let (mut groups, mut suppressed_groups, mut suppressed_rows) = (Vec::new(), 0, 0);
    for (key, n) in counts {
        if n >= k {
            groups.push((key, n));
        } else {
            suppressed_groups += 1;
            suppressed_rows += n;
        }
    }
    Ok(KAnonymous {
        k,
        groups,
        suppressed_groups,
        suppressed_rows,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_groups_are_suppressed_and_reported() {
        let mut rows = Vec::new();
        for _ in 0..12 {
            rows.push(vec!["17".to_string()]);
        }
        for _ in 0..4 {
            rows.push(vec!["16".to_string()]);
        }
        rows.push(vec!["9".to_string()]);
        let t = count_groups(rows, 5).unwrap();
        assert_eq!(t.groups, vec![(vec!["17".to_string()], 12)]);
        assert_eq!((t.suppressed_groups, t.suppressed_rows), (2, 5));
        assert!(count_groups(Vec::<Vec<String>>::new(), 4).is_err());
    }
}
