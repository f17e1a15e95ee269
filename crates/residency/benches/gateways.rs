//! A region split into gateways and one sequencer, under load, with 1, 2
//! and 3 gateways side by side in one run: eu-fr's gateways share a
//! PostgreSQL store and send their entries to one sequencer process,
//! whose log is in a bucket of an S3-compatible server — every one a real
//! process over TLS (the `cluster` crate's), the load generator on the
//! same machine.
//!
//! 1. Ingest: events in batches of 1,000 from 4 clients, the batches
//!    spread round-robin over the gateways.
//! 2. Transfers of one subject's records at a fixed rate, open loop,
//!    round-robin over the gateways.
//!
//! On 2 cores the machine bounds the absolute scaling, so beside each
//! figure the bench prints the busy cores (CPU time of every process of
//! the run — gateways, sequencer, PostgreSQL, moto, the load generator —
//! over the wall time) and the throughput per busy core, and where the
//! CPU went (CPU per request by process kind).
//!
//! Needs `RESIDENCY_TEST_POSTGRES` (a libpq connection string of a role
//! that may create databases) and `RESIDENCY_TEST_MOTO` (moto's
//! `moto_server`), as the tests do. moto is a Python mock: its speed is
//! not S3's.
//!
//! `cargo bench -p residency --features s3 --bench gateways` (env:
//! GATEWAYS, e.g. `1,3`; EVENTS, RATE, SECONDS).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

mod common;
use common::{cpu_seconds, env, percentile};

const APP: &str = "app-token-0123456789abcdef";
const RECO: &str = "reco-token-0123456789abcdef";

/// CPU seconds by kind of process: this run's gateways and sequencer
/// (their working directory is the cluster's), PostgreSQL's processes,
/// moto, and this load generator.
fn cpu_by_kind(cluster: &Path, moto: u32) -> BTreeMap<&'static str, f64> {
    let mut by = BTreeMap::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return by;
    };
    for e in dir.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        let cwd = std::fs::read_link(format!("/proc/{pid}/cwd")).unwrap_or_default();
        let kind = if pid == moto {
            "moto"
        } else if pid == std::process::id() {
            "load generator"
        } else if cmdline.starts_with("postgres") {
            "postgresql"
        } else if cwd == cluster && cmdline.contains("--role gateway") {
            "gateways"
        } else if cwd == cluster && cmdline.contains("--role sequencer") {
            "sequencer"
        } else if cwd == cluster {
            "other regions, witness"
        } else {
            continue;
        };
        *by.entry(kind).or_default() += cpu_seconds(pid).unwrap_or(0.0);
    }
    by
}

fn since(
    after: &BTreeMap<&'static str, f64>,
    before: &BTreeMap<&'static str, f64>,
) -> BTreeMap<&'static str, f64> {
    after
        .iter()
        .map(|(k, v)| (*k, v - before.get(k).copied().unwrap_or(0.0)))
        .collect()
}

/// A fresh database on the server `url` names: its connection string.
async fn database(url: &str, name: &str) -> String {
    let (admin, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("PostgreSQL");
    tokio::spawn(conn);
    admin
        .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .await
        .expect("drop");
    admin
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .expect("create");
    format!("{url} dbname={name}")
}

/// What one configuration measured.
struct Measured {
    gateways: usize,
    ingest: f64,
    ingest_cores: f64,
    rate: f64,
    p50: Duration,
    p99: Duration,
    failed: u64,
    transfer_cores: f64,
    /// CPU ms per transfer, by kind of process.
    per_transfer: BTreeMap<&'static str, f64>,
}

async fn run(gateways: usize, pg: &str, moto_bin: &str) -> Measured {
    let quick = !std::env::args().any(|a| a == "--bench");
    let events = env("EVENTS", if quick { 8_000 } else { 200_000 });
    let rate = env("RATE", 200);
    let seconds = env("SECONDS", if quick { 2 } else { 10 });

    let plain = tls::client(None)
        .expect("a client")
        .build()
        .expect("a client");
    let (moto, endpoint) = common::moto(&plain, moto_bin, "bench").await;
    let conninfo = database(pg, &format!("bench_gateways_{gateways}")).await;
    let dir = tempfile::tempdir().expect("a temporary directory");
    let policy = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/policy");
    let mut setup = cluster::Setup::new(env!("CARGO_BIN_EXE_residency"), dir.path(), policy);
    setup.stores.insert("eu-fr", format!("postgres:{conninfo}"));
    setup.log_buckets.insert(
        "eu-fr",
        format!(
            "{{ endpoint = \"{endpoint}\", bucket = \"bench\", prefix = \"eu-fr/log\", access_key_id = \"env:S3_KEY\", secret_access_key = \"env:S3_SECRET\", allow_http = true, lease_secs = 10 }}"
        ),
    );
    setup.split.insert(
        "eu-fr",
        cluster::Split {
            gateways,
            sequencers: 1,
        },
    );
    setup.limits = "requests_per_second = 1000000\nburst = 1000000\nbody_bytes = 16777216".into();
    setup.log_filter = Some("warn".into());
    setup.credentials = vec![
        ("RESIDENCY_TOKEN_APP".into(), APP.into()),
        ("RESIDENCY_TOKEN_RECO".into(), RECO.into()),
        ("S3_KEY".into(), "AKIABENCHKEY00000001".into()),
        (
            "S3_SECRET".into(),
            "bench-secret-access-key-000000000000001".into(),
        ),
    ];
    for r in cluster::REGIONS {
        setup.credentials.push((
            cluster::node_token_var(r),
            format!("node-token-of-{r}-0123456789"),
        ));
    }
    let cluster = cluster::Cluster::start(setup)
        .await
        .expect("the cluster starts");
    let urls = cluster.gateways["eu-fr"].clone();
    let http = cluster.http.clone();
    let moto_pid = moto.0.id();

    // Ingest, round-robin.
    let cpu = cpu_by_kind(dir.path(), moto_pid);
    let wall = common::ingest(&http, &urls, APP, common::ingest_bodies(events, 1000), 4)
        .await
        .as_secs_f64();
    let ingest = events as f64 / wall;
    let ingest_cores = since(&cpu_by_kind(dir.path(), moto_pid), &cpu)
        .values()
        .sum::<f64>()
        / wall;

    // Transfers at a fixed rate, round-robin.
    let cpu = cpu_by_kind(dir.path(), moto_pid);
    let started = Instant::now();
    let common::Transfers {
        latencies,
        failed,
        achieved,
    } = common::transfers(&http, &urls, RECO, rate, seconds, events / 4).await;
    let wall = started.elapsed().as_secs_f64();
    let used = since(&cpu_by_kind(dir.path(), moto_pid), &cpu);
    if failed > 0 {
        // Why: the last lines of the sequencer's output.
        let out = std::fs::read_to_string(cluster.output(&cluster::sequencer_name("eu-fr", 0)))
            .unwrap_or_default();
        let tail: Vec<&str> = out.lines().rev().take(5).collect();
        println!("  {failed} transfers failed; the sequencer's last words: {tail:?}");
    }
    drop(cluster);
    drop(moto);
    Measured {
        gateways,
        ingest,
        ingest_cores,
        rate: achieved,
        p50: percentile(&latencies, 0.5),
        p99: percentile(&latencies, 0.99),
        failed,
        transfer_cores: used.values().sum::<f64>() / wall,
        per_transfer: used
            .into_iter()
            .map(|(k, v)| (k, v * 1e3 / (rate * seconds) as f64))
            .collect(),
    }
}

#[tokio::main]
async fn main() {
    tls::install_ring();
    let (Ok(pg), Ok(moto_bin)) = (
        std::env::var("RESIDENCY_TEST_POSTGRES"),
        std::env::var("RESIDENCY_TEST_MOTO"),
    ) else {
        println!("RESIDENCY_TEST_POSTGRES and RESIDENCY_TEST_MOTO must be set: nothing measured");
        return;
    };
    let counts: Vec<usize> = std::env::var("GATEWAYS")
        .unwrap_or_else(|_| "1,2,3".into())
        .split(',')
        .filter_map(|n| n.trim().parse().ok())
        .collect();
    let mut measured = Vec::new();
    for g in counts {
        println!("== {g} gateway(s), one sequencer");
        measured.push(run(g, &pg, &moto_bin).await);
    }
    let Some(first) = measured.first() else {
        return;
    };
    let (base_ingest, base_core) = (first.ingest, first.ingest / first.ingest_cores);
    println!(
        "eu-fr as gateways on PostgreSQL and one sequencer on a bucket (moto), TLS, round-robin; load generator on the same machine:"
    );
    for m in &measured {
        println!(
            "  {} gateway(s): ingest {:>7.0} events/s ({:.2}x 1 gateway) on {:.2} busy cores = {:>6.0}/s per core ({:.2}x)   transfers {:.0}/s P50 {:.2} ms P99 {:.2} ms, {} failed, on {:.2} busy cores",
            m.gateways,
            m.ingest,
            m.ingest / base_ingest,
            m.ingest_cores,
            m.ingest / m.ingest_cores,
            m.ingest / m.ingest_cores / base_core,
            m.rate,
            m.p50.as_secs_f64() * 1e3,
            m.p99.as_secs_f64() * 1e3,
            m.failed,
            m.transfer_cores,
        );
        let cpu: Vec<String> = m
            .per_transfer
            .iter()
            .map(|(k, v)| format!("{k} {v:.2}"))
            .collect();
        println!("      CPU ms per transfer: {}", cpu.join(" · "));
    }
}
