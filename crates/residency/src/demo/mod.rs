//! `residency demo`: shared/design/SCENARIO.md end to end on one machine —
//! three regions, a witness and a monitor, each a real process on
//! loopback with the embedded default (SQLite stores, log directories),
//! synthetic users, and the ten steps of the story.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;

mod cluster;
mod people;
mod story;

/// Arguments of `residency demo`.
#[derive(Args, Debug)]
pub(crate) struct DemoArgs {
    /// Where the regions' stores, logs, keys and the processes' output go
    /// (kept afterwards); by default a temporary directory, removed at the
    /// end. It must not hold an earlier demo.
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Stop once the story is told, instead of keeping the dashboard up;
    /// exit status 0 only if every step behaved as the scenario says.
    #[arg(long)]
    exit: bool,
    /// How many synthetic users to generate.
    #[arg(long, default_value_t = 3000, value_parser = clap::value_parser!(u32).range(100..=100_000))]
    users: u32,
    /// The monitor's dashboard address (default: a free port on loopback).
    #[arg(long)]
    dashboard: Option<SocketAddr>,
}

pub(crate) async fn run(args: DemoArgs) -> anyhow::Result<ExitCode> {
    let tmp;
    let dir = match &args.dir {
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
    let dashboard = match args.dashboard {
        Some(a) => a,
        None => std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?,
    };
    println!(
        "residency demo: three regions (eu-fr, eu-no, us-tx), a witness and an independent monitor, each its own process on loopback, in {}",
        dir.display()
    );
    let mut cluster = cluster::Cluster::start(&dir, dashboard).await?;
    let users = people::population(args.users as usize);
    let ok = story::Story::new(&mut cluster, users).tell().await;
    if !args.exit {
        println!();
        println!(
            "the monitor's dashboard: {}/ — the cluster keeps running (credentials and URLs: {}); Ctrl-C stops every process",
            cluster.dashboard,
            dir.join("credentials.env").display()
        );
        let _ = tokio::signal::ctrl_c().await;
    }
    cluster.stop_all().await;
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
