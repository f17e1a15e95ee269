//! `residency keys …`: a region's key file.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::Subcommand;
use store::keys::FileKeyProvider;

#[derive(Subcommand, Debug)]
pub(crate) enum KeysCommand {
    /// Create a region's key file (mode 0600): its first key-encryption key
    /// and the secret subject pseudonyms derive from. Never overwrites.
    Init {
        /// Where to write it, e.g. `data/eu-fr/region.keys`.
        #[arg(long)]
        file: PathBuf,
    },
}

pub(crate) fn run(cmd: KeysCommand) -> anyhow::Result<std::process::ExitCode> {
    match cmd {
        KeysCommand::Init { file } => {
            if let Some(parent) = file.parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::create_dir_all(parent)
                    .with_context(|| format!("creating {}", parent.display()))?;
            }
            FileKeyProvider::create(&file)?;
            println!(
                "created {} (mode 0600); keep it in the region and back it up securely",
                file.display()
            );
            Ok(std::process::ExitCode::SUCCESS)
        }
    }
}
