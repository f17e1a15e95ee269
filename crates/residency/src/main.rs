//! `residency`: the one binary of the residency platform.

use clap::{Parser, Subcommand};

mod log_cmd;

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
    /// Operate a transparency log: create, append, prove, verify.
    #[command(subcommand)]
    Log(log_cmd::LogCommand),
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Log(cmd) => log_cmd::run(cmd).await,
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
