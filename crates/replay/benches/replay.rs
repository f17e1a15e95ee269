//! Replay of logged decisions, as the monitor runs it on every access
//! entry: parse the entry, decide the request again under the logged
//! bundle (the example policy), compare, and check the law. A mix of
//! allowed transfers, denials, aggregates, reads and exports, made as the
//! gateway makes them — the same few requests over and over, as a log
//! repeats them — and, beside it, the worst case: every request distinct
//! (a purpose of its own), so no decision is made twice. Goal: ≥ 50,000
//! entries/s.
//!
//! `cargo bench -p replay --bench replay` (env: ENTRIES).

use std::time::Instant;

use entry::{Entry, Kind, PrincipalRef};
use policy::{Action, Bundle, DecisionRequest};
use replay::Replayer;

fn main() {
    let quick = !std::env::args().any(|a| a == "--bench");
    let n: usize = std::env::var("ENTRIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if quick { 5_000 } else { 500_000 });
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/policy");
    let b = Bundle::load(&dir).unwrap();
    let time = "2026-11-25T04:00:00Z";
    let req =
        |p: &str, action, fields: &[&str], purpose: &str, basis: Option<&str>| DecisionRequest {
            principal: p.into(),
            action,
            region: "eu-fr".into(),
            fields: fields.iter().map(|f| f.parse().unwrap()).collect(),
            purpose: purpose.into(),
            destination: None,
            legal_basis: basis.map(str::to_owned),
            subject_count: 1,
        };
    let kinds = [
        req(
            "svc-reco-us",
            Action::Transfer,
            &[
                "account.user_id",
                "device.language",
                "device.os_version",
                "social.contacts",
            ],
            "reco-training",
            Some("adequacy:eu-us-dpf"),
        ),
        req(
            "eng-beijing",
            Action::Transfer,
            &["profile.phone", "social.contacts"],
            "analytics",
            None,
        ),
        req(
            "eng-beijing",
            Action::Aggregate,
            &["device.os_version"],
            "analytics",
            None,
        ),
        req(
            "support-dublin",
            Action::Read,
            &["profile.phone", "profile.address"],
            "support-ticket",
            None,
        ),
        req("dpo", Action::Export, &[], "subject-request", None),
    ];
    let entries = log(&b, time, &kinds, n, false);
    let distinct = log(&b, time, &kinds, n, true);
    let bytes: usize = entries.iter().map(Vec::len).sum();

    // One entry at a time on one core, then in batches of 4096 on every
    // core, as the monitor runs it.
    let t = Instant::now();
    let mut r = Replayer::new("eu-fr");
    let mut findings = 0;
    for (i, e) in entries.iter().enumerate() {
        findings += r.replay(i as u64, e).findings.len();
    }
    let one = t.elapsed();
    assert_eq!(
        findings, 0,
        "entries made as the gateway makes them replay clean"
    );
    let took = batches(&entries);
    let took_distinct = batches(&distinct);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());

    let t = Instant::now();
    for e in &entries[1..] {
        std::hint::black_box(Entry::parse(e).unwrap());
    }
    let parse = t.elapsed();

    println!(
        "replay (parse, decide, compare, check the law) of {} entries ({} bytes on average):",
        n + 1,
        bytes / entries.len()
    );
    println!(
        "  one core, one by one          {:>8.2} s  {:>10.0} entries/s",
        one.as_secs_f64(),
        (n + 1) as f64 / one.as_secs_f64()
    );
    println!(
        "  {cores} cores, batches of 4096    {:>8.2} s  {:>10.0} entries/s  (x{:.2})",
        took.as_secs_f64(),
        (n + 1) as f64 / took.as_secs_f64(),
        one.as_secs_f64() / took.as_secs_f64()
    );
    println!(
        "  {cores} cores, every request distinct {:>5.2} s  {:>10.0} entries/s",
        took_distinct.as_secs_f64(),
        (n + 1) as f64 / took_distinct.as_secs_f64()
    );
    println!(
        "  parse only, one core          {:>8.2} s  {:>10.0} entries/s",
        parse.as_secs_f64(),
        n as f64 / parse.as_secs_f64()
    );
    println!("  goal: >= 50,000 entries/s");
}

/// A bundle entry, then `n` access entries cycling through `kinds`; with
/// `distinct`, each with a purpose of its own.
fn log(
    b: &Bundle,
    time: &str,
    kinds: &[DecisionRequest],
    n: usize,
    distinct: bool,
) -> Vec<Vec<u8>> {
    let mut entries = Vec::with_capacity(n + 1);
    let mut be = Entry::new(Kind::PolicyBundle, "eu-fr", b.hash(), time.into());
    be.bundle_content = Some(serde_json::from_str(b.canonical()).unwrap());
    entries.push(be.to_canonical());
    let date = time::macros::date!(2026 - 11 - 25);
    for i in 0..n {
        let mut r = kinds[i % kinds.len()].clone();
        if distinct {
            r.purpose = format!("{}-{i}", r.purpose);
        }
        let d = policy::decide(b, &r, date).unwrap();
        let who = PrincipalRef {
            id: r.principal.clone(),
            location: b.principals.principals[&r.principal].location.clone(),
        };
        let mut e = Entry::decided(b, time.into(), who, &r, &d);
        e.cover(&[format!("t1.{i:022}")]);
        entries.push(e.to_canonical());
    }
    entries
}

/// Replays `entries` in batches of 4096 on every core, as the monitor
/// runs it; every entry must replay clean.
fn batches(entries: &[Vec<u8>]) -> std::time::Duration {
    let t = Instant::now();
    let mut r = Replayer::new("eu-fr");
    let mut replayed = 0;
    for (i, batch) in entries.chunks(4096).enumerate() {
        for x in r.replay_all((i * 4096) as u64, batch) {
            assert!(x.findings.is_empty(), "{:?}", x.findings);
            replayed += 1;
        }
    }
    assert_eq!(replayed, entries.len());
    t.elapsed()
}
