//! `residency demo`: the `demo` crate's story, told with this binary's
//! processes.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

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
    let told = demo::run(demo::Options {
        program: std::env::current_exe()?,
        dir: args.dir,
        users: args.users as usize,
        dashboard: args.dashboard,
        keep_running: !args.exit,
    })
    .await?;
    Ok(if told {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
