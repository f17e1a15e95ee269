//! Each policy bundle logged compared with the one logged before it: the
//! changes kept for display, the weakening ones findings.

use crate::{FindingKind, Replayed, Replayer};

impl Replayer {
    /// Names the bundle the log carried last (when resuming a log whose
    /// bundles were added out of log order, e.g. one logged again after
    /// another): the next bundle entry is compared with it.
    pub fn resume_after(&mut self, hash: &str) -> Result<(), String> {
        if !self.bundles.contains_key(hash) {
            return Err(format!("bundle {} was never added", crate::short(hash)));
        }
        self.latest = Some(hash.to_owned());
        Ok(())
    }

    /// Compares the bundle just logged at `index` (`hash`, already added)
    /// with the one logged before it (`previous`), if another.
    pub(crate) fn compare_bundles(
        &self,
        index: u64,
        previous: Option<String>,
        hash: &str,
        out: &mut Replayed,
    ) {
        let Some(previous) = previous.filter(|p| p != hash) else {
            return;
        };
        let (Some(old), Some(new)) = (self.bundles.get(&previous), self.bundles.get(hash)) else {
            return;
        };
        out.changes = policy::diff::diff(old, new);
        out.findings.extend(
            out.changes
                .iter()
                .filter(|c| c.weakens())
                .map(|c| self.finding(index, FindingKind::Weakening, c.to_string())),
        );
        out.previous = Some(previous);
    }
}
