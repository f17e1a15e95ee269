//! Decision latency with 1,000 policies and realistic entities: goal
//! P99 ≤ 50 µs per decision, built-in rules and plan included.
//!
//! Side by side, the Cedar engine alone on the same policy set (one
//! authorization, the same request's first dataset), for the ratio.
//!
//! `cargo bench -p policy --bench decide` (env: DECISIONS, POLICIES).

use std::path::Path;
use std::time::{Duration, Instant};

use policy::{Action, Bundle, DecisionRequest, Sources, decide};
use time::macros::date;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn report(name: &str, mut v: Vec<Duration>) -> Duration {
    v.sort();
    let p = |q: f64| v[((v.len() as f64 - 1.0) * q).round() as usize];
    println!(
        "  {name:<34} p50 {:>8.1?}  p99 {:>8.1?}  max {:>8.1?}",
        p(0.5),
        p(0.99),
        v[v.len() - 1]
    );
    p(0.99)
}

fn main() {
    let quick = !std::env::args().any(|a| a == "--bench");
    let n = env("DECISIONS", if quick { 2_000 } else { 100_000 });
    let extra = env("POLICIES", 1_000);
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/policy");
    let read = |f: &str| std::fs::read_to_string(dir.join(f)).expect("demo policy file");

    // Realistic growth: one service principal per team, each with its own
    // permit (purpose, datasets, destination) and some forbids.
    let mut principals = read("principals.toml");
    let mut catalog = read("catalog.toml");
    let mut generated = String::new();
    let datasets = ["account", "device", "network", "profile", "social"];
    for i in 0..extra {
        principals.push_str(&format!(
            "\n[principals.team-{i}]\ncredential = \"env:T{i}\"\nlocation = \"{}\"\norganisation = \"Team {i}\"\nsector = \"commercial\"\nroles = [\"team-{i}\", \"analytics\"]\npurposes = [\"purpose-{i}\"]\ncertifications = [{}]\n",
            ["FR", "DE", "US", "IE", "NO"][i % 5],
            if i % 3 == 0 { "\"EU-US DPF\"" } else { "" }
        ));
        catalog.push_str(&format!(
            "\n[purposes.purpose-{i}]\ndescription = \"Team {i}'s\"\n"
        ));
        let ds = datasets[i % datasets.len()];
        if i % 10 == 9 {
            generated.push_str(&format!(
                "@id(\"team-{i}-no-protected\")\nforbid (principal == Residency::Principal::\"team-{i}\", action, resource)\nwhen {{ context.levels.contains(\"protected\") && context.is_transfer }};\n\n"
            ));
        } else {
            generated.push_str(&format!(
                "@id(\"team-{i}\")\npermit (principal == Residency::Principal::\"team-{i}\", action in [Residency::Action::\"read\", Residency::Action::\"transfer\", Residency::Action::\"aggregate\"], resource)\nwhen {{ context.datasets.contains(\"{ds}\") && context.purpose == \"purpose-{i}\" && principal.roles.contains(\"team-{i}\") && context.subject_count < 100000 }};\n\n"
            ));
        }
    }
    let start = Instant::now();
    let bundle = Bundle::from_sources(Sources {
        catalog,
        law: None,
        principals,
        regions: read("regions.toml"),
        policies: vec![
            (
                "policies/access.cedar".into(),
                read("policies/access.cedar"),
            ),
            (
                "policies/guardrails.cedar".into(),
                read("policies/guardrails.cedar"),
            ),
            ("policies/teams.cedar".into(), generated),
        ],
    })
    .expect("bundle");
    println!(
        "bundle with {} policies and {} principals loaded and validated in {:.1?}",
        bundle.policies.len(),
        bundle.principals.principals.len(),
        start.elapsed()
    );

    let requests = [
        DecisionRequest {
            principal: "svc-reco-us".into(),
            action: Action::Transfer,
            region: "eu-fr".into(),
            fields: [
                "account.user_id",
                "device.language",
                "device.os_version",
                "network.wifi_ssid",
                "social.friends",
                "social.contacts",
            ]
            .map(|f| f.parse().unwrap())
            .to_vec(),
            purpose: "reco-training".into(),
            destination: None,
            legal_basis: Some("adequacy:eu-us-dpf".into()),
            subject_count: 2000,
        },
        DecisionRequest {
            principal: "eng-beijing".into(),
            action: Action::Transfer,
            region: "eu-fr".into(),
            fields: vec![
                "profile.phone".parse().unwrap(),
                "social.contacts".parse().unwrap(),
            ],
            purpose: "debugging".into(),
            destination: None,
            legal_basis: None,
            subject_count: 500,
        },
        DecisionRequest {
            principal: "support-dublin".into(),
            action: Action::Read,
            region: "eu-fr".into(),
            fields: vec![
                "profile.address".parse().unwrap(),
                "profile.phone".parse().unwrap(),
            ],
            purpose: "support-ticket".into(),
            destination: None,
            legal_basis: None,
            subject_count: 1,
        },
        DecisionRequest {
            principal: "team-42".into(),
            action: Action::Read,
            region: "eu-no".into(),
            fields: vec!["social.friends".parse().unwrap()],
            purpose: "purpose-42".into(),
            destination: None,
            legal_basis: None,
            subject_count: 10,
        },
    ];
    let today = date!(2026 - 11 - 24);
    for r in &requests {
        decide(&bundle, r, today).expect("warm-up");
    }
    let mut full = Vec::with_capacity(n);
    for i in 0..n {
        let r = &requests[i % requests.len()];
        let t = Instant::now();
        std::hint::black_box(decide(&bundle, r, today).expect("decide"));
        full.push(t.elapsed());
    }
    let engine = policy::bench_support::engine_only(&bundle, n);
    println!(
        "decisions with {} policies, {n} decisions over 4 request shapes:",
        bundle.policies.len()
    );
    let p99 = report("decide (rules + Cedar + plan)", full);
    let e99 = report("Cedar engine alone, one request", engine);
    println!(
        "  ratio decide/engine at p99: {:.1}",
        p99.as_secs_f64() / e99.as_secs_f64()
    );
    println!("  goal: decide p99 <= 50µs");
}
