//! `residency monitor` (follow the regions' logs and serve the dashboard)
//! and `residency audit` (verify everything once and say whether it is
//! clean).

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

use anyhow::Context;
use clap::Args;
use indicatif::{MultiProgress, ProgressBar};
use monitor::{FindingKind, Monitor, MonitorConfig};

use crate::progress::progress;

/// Arguments of `residency monitor`.
#[derive(Args, Debug)]
pub(crate) struct MonitorArgs {
    /// The monitor's configuration (logs, witnesses, state, listen address).
    #[arg(long)]
    config: PathBuf,
    /// The dashboard's TLS.
    #[command(flatten)]
    tls: crate::listen::ListenTls,
}

/// Arguments of `residency audit`.
#[derive(Args, Debug)]
pub(crate) struct AuditArgs {
    /// The monitor's configuration (logs, witnesses, state directory).
    #[arg(long)]
    config: PathBuf,
    /// Check only the state directory's mirror; fetch nothing.
    #[arg(long)]
    offline: bool,
    /// Print the summary as JSON instead of text.
    #[arg(long)]
    json: bool,
}

pub(crate) async fn monitor(args: MonitorArgs) -> anyhow::Result<ExitCode> {
    let tls = args.tls.config("the monitor's dashboard")?;
    let config = MonitorConfig::load(&args.config)?;
    let listen = config.listen.with_context(|| {
        format!(
            "{}: listen: an address for the dashboard is needed",
            args.config.display()
        )
    })?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    let m = Arc::new(Monitor::open(config).await?);
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("listening on {listen}"))?;
    tracing::info!(%listen, "monitor serving its dashboard");
    println!("dashboard: {scheme}://{listen}/");
    let (tx, rx) = tokio::sync::watch::channel(false);
    let follow = tokio::spawn(m.clone().run(async move {
        let mut rx = rx;
        let _ = rx.wait_for(|stop| *stop).await;
    }));
    tls::serve(
        listener,
        monitor::report::router(m),
        tls,
        crate::listen::ctrl_c(),
    )
    .await?;
    let _ = tx.send(true);
    let _ = follow.await;
    Ok(ExitCode::SUCCESS)
}

/// One progress bar per region, made on first report.
fn bars() -> impl Fn(&str, u64, u64) + Sync {
    let multi = MultiProgress::new();
    let bars: Mutex<HashMap<String, ProgressBar>> = Mutex::new(HashMap::new());
    move |region: &str, done: u64, total: u64| {
        let mut bars = bars
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let bar = bars
            .entry(region.to_owned())
            .or_insert_with(|| multi.add(progress(total, region)));
        bar.set_length(total);
        bar.set_position(done);
        if done >= total {
            bar.finish_and_clear();
        }
    }
}

pub(crate) async fn audit(args: AuditArgs) -> anyhow::Result<ExitCode> {
    let config = MonitorConfig::load(&args.config)?;
    let started = std::time::Instant::now();
    let m = Monitor::open(config).await?;
    let bars = bars();
    // What the state already holds is verified again from scratch, then
    // the logs are followed to their current checkpoints.
    m.reverify(&bars).await?;
    let mut unreachable = Vec::new();
    if !args.offline {
        for o in m.sync(&bars).await? {
            if let Some(why) = o.unreachable {
                unreachable.push(format!("{}: {why}", o.region));
            }
        }
    }
    let s = m.summary()?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&s)?);
    } else {
        for l in &s.logs {
            let cosigned: Vec<&str> = l
                .witnesses
                .iter()
                .filter(|(_, ok)| **ok)
                .map(|(w, _)| w.as_str())
                .collect();
            println!(
                "{}: {} entries verified, root {}, cosigned by {}",
                l.region,
                l.size,
                l.root,
                if cosigned.is_empty() {
                    "no witness".to_owned()
                } else {
                    cosigned.join(", ")
                }
            );
            for (w, c) in &l.witness_checks {
                println!("  witness {w}: {c}");
            }
        }
        let actions: Vec<String> = s
            .accesses_by_action
            .iter()
            .map(|(a, n)| format!("{a} {n}"))
            .collect();
        println!("accesses: {}", actions.join(", "));
        for t in &s.transfers {
            println!(
                "transfers to {} under {} for {}: {} ({} subjects)",
                t.destination, t.legal_basis, t.purpose, t.transfers, t.subjects
            );
        }
        println!("denials: {}", s.denial_count);
        for f in s.findings.iter().rev() {
            println!("{}", f.finding);
        }
    }
    for u in &unreachable {
        eprintln!("unreachable: {u}");
    }
    let (v, i, mm) = (
        s.count(FindingKind::Violation),
        s.count(FindingKind::Inconsistency),
        s.count(FindingKind::Mismatch),
    );
    let verdict = if s.clean && unreachable.is_empty() {
        "CLEAN".to_owned()
    } else {
        format!(
            "NOT CLEAN: {v} violations, {i} inconsistencies, {mm} mismatches, {} logs unreachable",
            unreachable.len()
        )
    };
    eprintln!("{verdict} ({:.1} s)", started.elapsed().as_secs_f64());
    Ok(if s.clean && unreachable.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
