//! `residency policy …`: for operators writing catalogs and policies.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::Subcommand;
use policy::{Bundle, DecisionRequest, decide};

#[derive(Subcommand, Debug)]
pub(crate) enum PolicyCommand {
    /// Validate a policy directory and print its bundle hash.
    Check {
        /// The directory: catalog.toml, principals.toml, regions.toml,
        /// optional law.toml, policies/*.cedar.
        dir: PathBuf,
    },
    /// Decide a request (JSON) and print the decision, its reasons and plan.
    Decide {
        /// The policy directory.
        dir: PathBuf,
        /// The request, a JSON file (`-` for standard input).
        request: PathBuf,
        /// The date to decide at (YYYY-MM-DD); default today (UTC).
        #[arg(long)]
        date: Option<String>,
    },
}

pub(crate) fn run(cmd: PolicyCommand) -> anyhow::Result<std::process::ExitCode> {
    match cmd {
        PolicyCommand::Check { dir } => {
            let b = Bundle::load(&dir)
                .with_context(|| format!("policy directory {}", dir.display()))?;
            let fields: usize = b.catalog.datasets.values().map(|d| d.fields.len()).sum();
            println!(
                "OK: bundle {}\n  {} datasets, {fields} fields; {} principals; {} regions; {} policies in {} files; law table: {}",
                b.hash(),
                b.catalog.datasets.len(),
                b.principals.principals.len(),
                b.regions.regions.len(),
                b.policies.len(),
                b.policy_texts().len(),
                if b.law_is_default() {
                    "the default shipped with residency"
                } else {
                    "law.toml"
                },
            );
            Ok(std::process::ExitCode::SUCCESS)
        }
        PolicyCommand::Decide { dir, request, date } => {
            let b = Bundle::load(&dir)
                .with_context(|| format!("policy directory {}", dir.display()))?;
            let text = if request.as_os_str() == "-" {
                std::io::read_to_string(std::io::stdin())?
            } else {
                std::fs::read_to_string(&request)
                    .with_context(|| format!("reading {}", request.display()))?
            };
            let req: DecisionRequest = serde_json::from_str(&text)
                .with_context(|| format!("request {}", request.display()))?;
            let date = match date {
                Some(d) => time::Date::parse(
                    &d,
                    time::macros::format_description!("[year]-[month]-[day]"),
                )
                .with_context(|| format!("--date {d:?} is not YYYY-MM-DD"))?,
                None => time::OffsetDateTime::now_utc().date(),
            };
            let d = decide(&b, &req, date)?;
            println!("{}", serde_json::to_string_pretty(&d)?);
            Ok(if d.allow {
                std::process::ExitCode::SUCCESS
            } else {
                std::process::ExitCode::from(3)
            })
        }
    }
}
