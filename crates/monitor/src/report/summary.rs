//! The summary of what the monitor verified, computed from its state:
//! each log's status, accesses by action, transfers grouped and over time,
//! denials, findings and each log's bundle history; and any verified
//! entry, with its receipt.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::replay::{Access, FindingKind};
use crate::state::{BundleLogged, StoredFinding};
use crate::{Error, Monitor};

/// How many denials the summary lists.
const RECENT: usize = 50;

/// One log's status.
#[derive(Clone, Debug, Serialize)]
pub struct LogStatus {
    /// The region.
    pub region: String,
    /// The log's origin.
    pub origin: String,
    /// Verified size.
    pub size: u64,
    /// Verified root (base64).
    pub root: String,
    /// When it was last verified.
    pub verified_at: String,
    /// Each configured witness, and whether it cosigned the checkpoint.
    pub witnesses: BTreeMap<String, bool>,
    /// Each configured witness checked in this process's last round: what
    /// could be checked and how (absent: not checked yet).
    pub witness_checks: BTreeMap<String, crate::WitnessCheck>,
}

/// Transfers grouped by destination, legal basis and purpose.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct TransferGroup {
    /// Destination jurisdiction.
    pub destination: String,
    /// Legal basis as named.
    pub legal_basis: String,
    /// Purpose.
    pub purpose: String,
    /// Allowed transfers.
    pub transfers: u64,
    /// Subjects covered, summed over the transfers.
    pub subjects: u64,
}

/// The summary the dashboard and `residency audit` show.
#[derive(Clone, Debug, Serialize)]
pub struct Summary {
    /// No violation, inconsistency or mismatch. Weakenings (a bundle that
    /// weakens protection against the one before it) are alerts to
    /// review, not faults of the log: they are counted in `findings`, not
    /// here.
    pub clean: bool,
    /// Per log.
    pub logs: Vec<LogStatus>,
    /// Access entries verified, by action.
    pub accesses_by_action: BTreeMap<String, u64>,
    /// Allowed transfers, grouped.
    pub transfers: Vec<TransferGroup>,
    /// Allowed transfers per time bucket and destination.
    pub transfers_over_time: Vec<(String, BTreeMap<String, u64>)>,
    /// Denied requests.
    pub denial_count: u64,
    /// The latest denials (up to 50), newest first, with their region.
    pub recent_denials: Vec<(String, Access)>,
    /// Findings, newest first.
    pub findings: Vec<StoredFinding>,
    /// Per region, its first policy bundle and each one that differs from
    /// the one logged before it, with the changes; by region and index.
    pub bundles: Vec<BundleLogged>,
}

impl Summary {
    /// Findings of one kind.
    pub fn count(&self, kind: FindingKind) -> usize {
        self.findings
            .iter()
            .filter(|f| f.finding.kind == kind)
            .count()
    }
}

impl Monitor {
    /// The summary of everything verified so far.
    pub fn summary(&self) -> Result<Summary, Error> {
        let accesses = self.state.accesses()?;
        let findings = self.state.findings()?;
        let bundles = self.state.bundle_history()?;
        let checks = self
            .witness_checks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        let mut logs = Vec::new();
        for v in self.state.logs()? {
            logs.push(LogStatus {
                witness_checks: checks
                    .iter()
                    .filter(|((region, _), _)| *region == v.region)
                    .map(|((_, w), c)| (w.clone(), c.clone()))
                    .collect(),
                region: v.region,
                origin: v.origin,
                size: v.size,
                root: v.root.to_base64(),
                verified_at: v.verified_at,
                witnesses: self
                    .config
                    .witnesses
                    .iter()
                    .map(|w| (w.key.name.clone(), v.cosigners.contains(&w.key.name)))
                    .collect(),
            });
        }
        let mut by_action = BTreeMap::new();
        let mut groups: BTreeMap<(String, String, String), (u64, u64)> = BTreeMap::new();
        let mut denials: Vec<(String, Access)> = Vec::new();
        let mut denial_count = 0;
        for (region, a) in &accesses {
            *by_action.entry(a.action.clone()).or_insert(0) += 1;
            if !a.allowed {
                denial_count += 1;
                denials.push((region.clone(), a.clone()));
                if denials.len() > 2 * RECENT {
                    denials.drain(..RECENT);
                }
            } else if a.action == "transfer" {
                let g = groups
                    .entry((
                        a.destination.clone(),
                        a.legal_basis.clone().unwrap_or_else(|| "none".into()),
                        a.purpose.clone(),
                    ))
                    .or_default();
                g.0 += 1;
                g.1 += a.subject_count;
            }
        }
        let transfers_over_time = over_time(
            accesses
                .iter()
                .filter(|(_, a)| a.allowed && a.action == "transfer")
                .map(|(_, a)| (a.time.as_str(), a.destination.as_str())),
        );
        Ok(Summary {
            clean: findings
                .iter()
                .all(|f| f.finding.kind == FindingKind::Weakening),
            logs,
            accesses_by_action: by_action,
            transfers: groups
                .into_iter()
                .map(
                    |((destination, legal_basis, purpose), (n, s))| TransferGroup {
                        destination,
                        legal_basis,
                        purpose,
                        transfers: n,
                        subjects: s,
                    },
                )
                .collect(),
            transfers_over_time,
            denial_count,
            recent_denials: denials.into_iter().rev().take(RECENT).collect(),
            findings,
            bundles,
        })
    }

    /// An entry of a verified log, with a tlog-proof receipt against the
    /// verified checkpoint.
    pub async fn entry(&self, region: &str, index: u64) -> Result<Option<(String, String)>, Error> {
        let Some(log) = self.logs.iter().find(|l| l.config.region == region) else {
            return Ok(None);
        };
        let Some(v) = self.state.verified(&log.config.key.name)? else {
            return Ok(None);
        };
        if index >= v.size {
            return Ok(None);
        }
        let cp = tlog::SignedCheckpoint::open(v.checkpoint.as_bytes(), &log.config.key, &[])
            .map_err(|e| Error::State(e.to_string()))?;
        let entry = log
            .mirror
            .entry(index, v.size)
            .await
            .map_err(|e| Error::State(e.to_string()))?;
        let receipt = log
            .mirror
            .receipt(index, &cp)
            .await
            .map_err(|e| Error::State(e.to_string()))?;
        Ok(Some((
            String::from_utf8_lossy(&entry).into_owned(),
            receipt.to_text(),
        )))
    }
}

/// Counts per time bucket and destination; the bucket (day, hour or
/// minute) is the coarsest that shows more than one bar.
fn over_time<'a>(
    items: impl Iterator<Item = (&'a str, &'a str)> + Clone,
) -> Vec<(String, BTreeMap<String, u64>)> {
    // RFC 3339: `2026-11-25T04:20:55Z`; prefixes are day, hour, minute.
    for len in [10, 13, 16] {
        let mut buckets: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
        for (time, dest) in items.clone() {
            let key = time.get(..len).unwrap_or(time).to_owned();
            *buckets
                .entry(key)
                .or_default()
                .entry(dest.to_owned())
                .or_insert(0) += 1;
        }
        if buckets.len() > 1 || len == 16 {
            return buckets.into_iter().collect();
        }
    }
    Vec::new()
}
