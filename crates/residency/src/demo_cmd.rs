//! `residency demo`: the `demo` crate's story, told with this binary's
//! processes.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
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
    /// Run eu-fr as a deployment would: three gateways in front of an
    /// active and a standby sequencer, its store in PostgreSQL
    /// (--postgres) and its log in an S3-compatible bucket (--log-bucket).
    #[arg(long, requires_all = ["postgres", "log_bucket"])]
    split: bool,
    /// With --split: eu-fr's database (a libpq connection string; a fresh
    /// database, which the demo fills).
    #[arg(long, value_name = "CONNINFO", requires = "split")]
    postgres: Option<String>,
    /// With --split: the bucket for eu-fr's log, as `URL/BUCKET` (e.g.
    /// `http://127.0.0.1:5000/logs`; plain http only on loopback), with
    /// credentials from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY. The
    /// bucket must exist and be empty under `eu-fr/log/`.
    #[arg(long, value_name = "URL", requires = "split")]
    log_bucket: Option<String>,
}

pub(crate) async fn run(args: DemoArgs) -> anyhow::Result<ExitCode> {
    let split = match (args.split, args.postgres, args.log_bucket) {
        (true, Some(postgres), Some(bucket)) => Some(demo::SplitRegion {
            postgres,
            log_bucket: bucket_spec(&bucket)?,
        }),
        _ => None,
    };
    anyhow::ensure!(
        split.is_none() || cfg!(feature = "s3"),
        "--split keeps eu-fr's log in a bucket: it needs a build with `--features s3`"
    );
    let told = demo::run(demo::Options {
        program: std::env::current_exe()?,
        dir: args.dir,
        users: args.users as usize,
        dashboard: args.dashboard,
        keep_running: !args.exit,
        split,
    })
    .await?;
    Ok(if told {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// The cluster file's `log_bucket` for `URL/BUCKET`.
fn bucket_spec(url: &str) -> anyhow::Result<String> {
    let parsed = reqwest::Url::parse(url).context("--log-bucket is not a URL")?;
    let loopback = parsed.host_str().is_some_and(|h| {
        h == "localhost"
            || h.trim_matches(['[', ']'])
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback())
    });
    anyhow::ensure!(
        parsed.scheme() == "https" || (parsed.scheme() == "http" && loopback),
        "--log-bucket must be an https:// URL (http:// only on loopback)"
    );
    anyhow::ensure!(
        parsed.username().is_empty() && parsed.password().is_none(),
        "--log-bucket must not carry credentials (they come from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)"
    );
    let bucket = parsed
        .path_segments()
        .and_then(|mut s| s.next())
        .filter(|b| !b.is_empty())
        .context("--log-bucket names no bucket (URL/BUCKET)")?;
    anyhow::ensure!(
        bucket
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.'),
        "--log-bucket's bucket name must be lowercase letters, digits, '-' and '.'"
    );
    let endpoint = format!("{}://{}", parsed.scheme(), parsed.authority());
    Ok(format!(
        "{{ endpoint = \"{endpoint}\", bucket = \"{bucket}\", prefix = \"eu-fr/log\", access_key_id = \"env:AWS_ACCESS_KEY_ID\", secret_access_key = \"env:AWS_SECRET_ACCESS_KEY\", allow_http = {}, lease_secs = 2 }}",
        parsed.scheme() == "http"
    ))
}
