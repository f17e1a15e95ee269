//! `residency`: the one binary of the residency platform.

use clap::{Parser, Subcommand};

/// mimalloc, not the system allocator: the release path allocates and frees
/// on every request, from many threads, and glibc's malloc took about a
/// sixth of the server's CPU there (issue 22's profiles).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod custodian_cmd;
mod demo_cmd;
mod keys_cmd;
mod listen;
mod log_cmd;
mod monitor_cmd;
mod pii_cmd;
mod policy_cmd;
mod progress;
mod serve_cmd;
mod witness_cmd;

/// An open data-residency platform: regional stores, one gateway per region,
/// and a transparency log of every access.
#[derive(Parser, Debug)]
#[command(name = "residency", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Tell the whole story on one machine: three regions, a witness and a
    /// monitor, synthetic users, every step of the scenario.
    Demo(demo_cmd::DemoArgs),
    /// Run the key custodian: the only holder of the keys that open a
    /// region's records, releasing them only for logged, lawful accesses.
    #[command(subcommand)]
    Custodian(custodian_cmd::CustodianCommand),
    /// Create a region's key file, or rotate its key-encryption key.
    #[command(subcommand)]
    Keys(keys_cmd::KeysCommand),
    /// Operate a transparency log: create, append, prove, verify.
    #[command(subcommand)]
    Log(log_cmd::LogCommand),
    /// Find personal data in text, or redact it.
    #[command(subcommand)]
    Pii(pii_cmd::PiiCommand),
    /// Check a policy directory, or decide a request against it.
    #[command(subcommand)]
    Policy(policy_cmd::PolicyCommand),
    /// Run one region's node: the gateway and its log.
    Serve(serve_cmd::ServeArgs),
    /// Run a witness (C2SP tlog-witness) for the regions' logs.
    Witness(witness_cmd::WitnessArgs),
    /// Follow the regions' logs: verify, replay, alert, serve a dashboard.
    Monitor(monitor_cmd::MonitorArgs),
    /// Verify the regions' logs once; exit 0 if clean, 1 otherwise.
    Audit(monitor_cmd::AuditArgs),
}

/// Tracing to standard error, filtered by `RESIDENCY_LOG` (default
/// `info`). Whatever the filter, the PostgreSQL driver's debug events are
/// dropped: they carry statement parameters, which are personal data.
fn init_tracing() {
    init_tracing_with("info");
}

/// Tracing for one-shot commands that print their own report: errors
/// only, unless `RESIDENCY_LOG` says otherwise.
fn init_tracing_quiet() {
    init_tracing_with("error");
}

fn init_tracing_with(default: &str) {
    use tracing_subscriber::prelude::*;
    let env = tracing_subscriber::EnvFilter::try_from_env("RESIDENCY_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let no_parameters = tracing_subscriber::filter::filter_fn(|meta| {
        !(meta.target().starts_with("tokio_postgres") && *meta.level() > tracing::Level::INFO)
    });
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_filter(no_parameters),
        )
        .with(env)
        .init();
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    // Every TLS client and server of the process uses ring, also those
    // built without a configuration of their own (the object store's).
    tls::install_ring();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Demo(args) => demo_cmd::run(args).await,
        Command::Log(cmd) => log_cmd::run(cmd)
            .await
            .map(|()| std::process::ExitCode::SUCCESS),
        Command::Pii(cmd) => pii_cmd::run(cmd),
        Command::Keys(cmd) => keys_cmd::run(cmd).await,
        Command::Policy(cmd) => policy_cmd::run(cmd),
        Command::Serve(args) => {
            init_tracing();
            serve_cmd::run(args)
                .await
                .map(|()| std::process::ExitCode::SUCCESS)
        }
        Command::Monitor(args) => {
            init_tracing();
            monitor_cmd::monitor(args).await
        }
        Command::Audit(args) => {
            init_tracing_quiet();
            monitor_cmd::audit(args).await
        }
        Command::Custodian(cmd) => {
            init_tracing();
            custodian_cmd::run(cmd)
                .await
                .map(|()| std::process::ExitCode::SUCCESS)
        }
        Command::Witness(args) => {
            init_tracing();
            witness_cmd::run(args)
                .await
                .map(|()| std::process::ExitCode::SUCCESS)
        }
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
