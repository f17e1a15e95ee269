//! `residency demo`: shared/design/SCENARIO.md end to end on one machine —
//! three regions, a witness and a monitor, each a real process on
//! loopback with the embedded default (SQLite stores, log directories),
//! synthetic users, and the eleven steps of the story.
//!
//! - `example`: the example policy, built in, and fresh credentials for
//!   its principals.
//! - `people`: the synthetic users.
//! - `story`: the eleven steps, told and checked over HTTP.
//!
//! The processes are the `cluster` crate's; the story drives them only
//! through their public interfaces (HTTP, and files on disk an operator or
//! an attacker could touch), never through library shortcuts.
#![deny(missing_docs)]
#![cfg_attr(
    not(test),
    warn(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context, ensure};

mod example;
mod people;
mod story;

/// How to tell the demo.
#[derive(Clone, Debug)]
pub struct Options {
    /// The `residency` binary that every process of the cluster runs.
    pub program: PathBuf,
    /// Where the regions' stores, logs, keys and the processes' output go
    /// (kept afterwards); by default a temporary directory, removed at the
    /// end. It must not hold an earlier demo.
    pub dir: Option<PathBuf>,
    /// How many synthetic users to generate.
    pub users: usize,
    /// The monitor's dashboard address (default: a free port on loopback).
    pub dashboard: Option<SocketAddr>,
    /// Keep the cluster and its dashboard up once the story is told, until
    /// Ctrl-C.
    pub keep_running: bool,
    /// eu-fr as a deployment runs it, instead of one process on SQLite and
    /// files.
    pub split: Option<SplitRegion>,
}

/// eu-fr as a deployment runs it: [`SPLIT`]'s gateways and sequencers, its
/// store in PostgreSQL, its log in an S3-compatible bucket.
#[derive(Clone, Debug)]
pub struct SplitRegion {
    /// The database's connection string (libpq's form).
    pub postgres: String,
    /// The cluster file's `log_bucket` (an inline table).
    pub log_bucket: String,
}

/// The region [`SplitRegion`] applies to.
pub const SPLIT_REGION: &str = "eu-fr";

/// Three gateways, an active and a standby sequencer.
pub const SPLIT: cluster::Split = cluster::Split {
    gateways: 3,
    sequencers: 2,
};

/// Tells the story: true when every step behaved as the scenario says.
pub async fn run(options: Options) -> anyhow::Result<bool> {
    let tmp;
    let dir = match &options.dir {
        Some(d) => {
            std::fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
            d.canonicalize()?
        }
        None => {
            tmp = tempfile::Builder::new()
                .prefix("residency-demo-")
                .tempdir()?;
            tmp.path().to_owned()
        }
    };
    ensure!(
        !dir.join("cluster.toml").exists(),
        "{} already holds a demo cluster: remove it or give another --dir",
        dir.display()
    );
    let dashboard = match options.dashboard {
        Some(a) => a,
        None => std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?,
    };
    println!(
        "residency demo: three regions (eu-fr, eu-no, us-tx), a witness, an independent monitor and a key custodian, each its own process on loopback, in {}",
        dir.display()
    );
    if options.split.is_some() {
        println!(
            "  {SPLIT_REGION} as a deployment runs it: {} gateways (requests round-robin) in front of an active and a standby sequencer, its store in PostgreSQL, its log in an S3-compatible bucket",
            SPLIT.gateways
        );
    }
    let example = example::Example::write(&dir)?;
    let mut setup = cluster::Setup::new(options.program, &dir, "policy");
    setup.limits = "body_bytes = 16777216".into();
    setup.credentials = example.credentials.clone();
    setup.dashboard = Some(dashboard);
    setup.custodian = true;
    if let Some(split) = &options.split {
        setup
            .stores
            .insert(SPLIT_REGION, format!("postgres:{}", split.postgres));
        setup
            .log_buckets
            .insert(SPLIT_REGION, split.log_bucket.clone());
        setup.split.insert(SPLIT_REGION, SPLIT);
    }
    let mut cluster = cluster::Cluster::start(setup).await?;
    let users = people::population(options.users);
    let ok = story::Story::new(&mut cluster, &example, users)
        .tell()
        .await;
    if options.keep_running {
        println!();
        println!(
            "the monitor's dashboard: https://{dashboard}/ (its CA: tls/ca.pem) — the cluster keeps running (credentials and URLs: {}); Ctrl-C stops every process",
            dir.join("credentials.env").display()
        );
        let _ = tokio::signal::ctrl_c().await;
    }
    cluster.stop_all();
    Ok(ok)
}
