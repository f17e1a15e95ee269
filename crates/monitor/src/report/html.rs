//! The dashboard page, rendered on the server (maud): tables and an inline
//! SVG chart, no JavaScript.

use std::collections::BTreeMap;

use maud::{DOCTYPE, Markup, PreEscaped, html};

use super::Summary;
use crate::replay::FindingKind;

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

/// Per region, each policy bundle that differs from the one logged before
/// it: its entry, short hash and changes, weakening ones marked.
fn bundle_history(s: &Summary) -> Markup {
    html! {
        h2 { "Policy bundles" }
        table id="bundles" {
            tr { th { "region" } th { "entry" } th { "bundle" } th { "changes against the bundle before" } }
            @for b in &s.bundles {
                tr data-region=(b.region) data-index=(b.index) {
                    td { (b.region) }
                    td { a href=(format!("/api/entry/{}/{}", b.region, b.index)) { "#" (b.index) } }
                    td { code title=(b.hash) { (b.hash.get(..12).unwrap_or(&b.hash)) } }
                    td {
                        @if b.previous.is_none() {
                            "the log's first bundle"
                        } @else if b.changes.is_empty() {
                            "no change in substance (the same content, reordered)"
                        } @else {
                            ul class="changes" {
                                @for c in &b.changes {
                                    @if c.weakens() {
                                        li class="warn weakens" { strong { "weakens: " } (c.to_string()) }
                                    } @else {
                                        li class=(c.effect.as_str()) { (c.effect.as_str()) ": " (c.to_string()) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The dashboard page.
pub fn dashboard(s: &Summary) -> Markup {
    let violations = s.count(FindingKind::Violation);
    let inconsistencies = s.count(FindingKind::Inconsistency);
    let mismatches = s.count(FindingKind::Mismatch);
    let weakenings = s.count(FindingKind::Weakening);
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                title { "residency monitor" }
                style { (PreEscaped("body{font-family:sans-serif;margin:2em;max-width:60em}table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left}.bad{color:#b00}.ok{color:#070}.warn{color:#a60}ul.changes{margin:0;padding-left:1.2em}")) }
            }
            body {
                h1 { "residency monitor" }
                p id="verdict" class=(if s.clean { "ok" } else { "bad" }) {
                    @if s.clean { "Clean: every entry verified, every decision replayed, no violation." }
                    @else { (violations) " violations, " (inconsistencies) " inconsistencies, " (mismatches) " mismatches." }
                }
                @if weakenings > 0 {
                    p class="warn" {
                        span id="weakenings" { (weakenings) } " policy changes weaken protection: see the bundle history and the findings."
                    }
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
                (bundle_history(s))
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
                        tr class=(if f.finding.kind == FindingKind::Weakening { "warn" } else { "bad" }) data-kind=(f.finding.kind.as_str()) {
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
