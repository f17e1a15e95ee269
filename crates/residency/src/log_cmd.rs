//! `residency log …`: the operator's commands for a log directory.
//!
//! A log directory holds the public log (`checkpoint`, `tile/…`) and, beside
//! it, the signing key `log.key` (mode 0600) and the verifier key `log.vkey`.

use std::collections::VecDeque;
use std::io::{BufRead, Read as _};
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use crate::progress::progress;
use anyhow::{Context as _, anyhow, bail, ensure};
use clap::Subcommand;
use indicatif::ProgressBar;
use tlog::edge::{Edge, TileData};
use tlog::keyfile::{self, SIGNING_KEY_FILE, VERIFIER_KEY_FILE};
use tlog::note::{Signer, Verifier};
use tlog::reader::CHECKPOINT_PATH;
use tlog::sequencer::{self, SequencerConfig};
use tlog::tile::TileKind;
use tlog::verify::{self, Consumer, Discrepancy, Stop};
use tlog::{FsStorage, LogReader, Receipt, SignedCheckpoint, Storage};

#[derive(Subcommand, Debug)]
pub(crate) enum LogCommand {
    /// Create a log and its signing key; print the verifier key.
    Init {
        /// Directory of the log (created if missing).
        #[arg(long)]
        dir: PathBuf,
        /// The log's origin, e.g. `residency.example/eu-fr` (no spaces or `+`).
        #[arg(long)]
        origin: String,
        /// Only the key files: for a log kept in a bucket (`log_bucket`),
        /// which `serve --init` creates there.
        #[arg(long)]
        keys_only: bool,
    },
    /// Append each line of FILE (or standard input) as an entry; print the
    /// new checkpoint.
    Append {
        /// Directory of the log.
        #[arg(long)]
        dir: PathBuf,
        /// Input file, one entry per line; `-` or nothing for standard input.
        file: Option<PathBuf>,
    },
    /// Print the signed checkpoint.
    Checkpoint {
        /// Directory of the log.
        #[arg(long)]
        dir: PathBuf,
    },
    /// Recompute every tile and the root from the entries and check the
    /// checkpoint's signature; report the first discrepancy.
    #[command(group(clap::ArgGroup::new("log").required(true).args(["dir", "url"])))]
    Verify {
        /// Directory of the log.
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Or the URL the log is served at (`{url}/checkpoint`,
        /// `{url}/tile/…`): a node's `/log`, or a bucket holding it.
        #[arg(long, requires = "vkey")]
        url: Option<String>,
        /// Verifier key (or a file holding it); default: the log's log.vkey.
        #[arg(long)]
        vkey: Option<String>,
        /// With --url over HTTPS: the CA certificates (PEM) to trust
        /// instead of the platform's roots.
        #[arg(long, requires = "url")]
        ca: Option<PathBuf>,
    },
    /// Print a tlog-proof receipt for the entry at INDEX.
    Prove {
        /// Directory of the log.
        #[arg(long)]
        dir: PathBuf,
        /// Index of the entry.
        #[arg(long)]
        index: u64,
        /// Tree size to prove against; default the checkpoint's. Other sizes
        /// print the bare inclusion proof (no checkpoint of that size is kept).
        #[arg(long)]
        size: Option<u64>,
    },
    /// Print the consistency proof between two tree sizes, one base64 hash a line.
    Consistency {
        /// Directory of the log.
        #[arg(long)]
        dir: PathBuf,
        /// The older size.
        #[arg(long)]
        from: u64,
        /// The newer size; default the checkpoint's.
        #[arg(long)]
        to: Option<u64>,
    },
    /// Verify a tlog-proof receipt offline: the entry is in the log.
    VerifyReceipt {
        /// The log's verifier key (or a file holding it).
        #[arg(long)]
        vkey: String,
        /// A witness verifier key whose cosignature is required; repeatable.
        #[arg(long = "witness")]
        witnesses: Vec<String>,
        /// File holding the entry, byte for byte.
        #[arg(long)]
        entry: PathBuf,
        /// The receipt file; `-` for standard input.
        receipt: PathBuf,
    },
}

pub(crate) async fn run(cmd: LogCommand) -> anyhow::Result<()> {
    match cmd {
        LogCommand::Init {
            dir,
            origin,
            keys_only,
        } => {
            println!("{}", init(&dir, &origin, keys_only).await?);
            Ok(())
        }
        LogCommand::Append { dir, file } => append(&dir, file.as_deref()).await,
        LogCommand::Checkpoint { dir } => {
            let raw = std::fs::read_to_string(dir.join(CHECKPOINT_PATH)).with_context(|| {
                format!(
                    "no log in {}: run `residency log init` first",
                    dir.display()
                )
            })?;
            print!("{raw}");
            Ok(())
        }
        LogCommand::Verify { dir, url, vkey, ca } => match (dir, url) {
            (Some(dir), _) => verify_dir(&dir, vkey.as_deref()).await,
            (None, Some(url)) => {
                verify_url(&url, vkey.as_deref().unwrap_or_default(), ca.as_deref()).await
            }
            (None, None) => Err(anyhow!("name the log: --dir or --url")),
        },
        LogCommand::Prove { dir, index, size } => prove(&dir, index, size).await,
        LogCommand::Consistency { dir, from, to } => consistency(&dir, from, to).await,
        LogCommand::VerifyReceipt {
            vkey,
            witnesses,
            entry,
            receipt,
        } => verify_receipt(&vkey, &witnesses, &entry, &receipt),
    }
}

/// Creates a log in `dir` (its signing key, verifier key and first
/// checkpoint; only the keys with `keys_only`); returns the verifier key.
pub(crate) async fn init(dir: &Path, origin: &str, keys_only: bool) -> anyhow::Result<String> {
    tlog::note::check_key_name(origin).context("invalid origin")?;
    let signer = if keys_only {
        keyfile::create_keys(dir, origin)
    } else {
        keyfile::create(dir, origin).await
    };
    let signer = signer.map_err(|e| match e {
        tlog::Error::AlreadyInitialized(_) => anyhow!(
            "{} already holds a log; refusing to overwrite it",
            dir.display()
        ),
        e => anyhow::Error::new(e).context(format!("creating a log in {}", dir.display())),
    })?;
    Ok(signer.verifier().to_vkey())
}

fn load_signer(dir: &Path) -> anyhow::Result<Signer> {
    let path = dir.join(SIGNING_KEY_FILE);
    let meta = std::fs::metadata(&path).with_context(|| {
        format!(
            "no signing key at {}: run `residency log init` first",
            path.display()
        )
    })?;
    if meta.permissions().mode() & 0o077 != 0 {
        eprintln!(
            "warning: {} is readable by other users; chmod 600 it",
            path.display()
        );
    }
    keyfile::open(dir).with_context(|| format!("reading the signing key {}", path.display()))
}

/// A verifier key given inline or as a file path.
fn load_vkey(arg: &str) -> anyhow::Result<Verifier> {
    let text = if Path::new(arg).is_file() {
        std::fs::read_to_string(arg).with_context(|| format!("reading {arg}"))?
    } else {
        arg.to_owned()
    };
    Verifier::parse(text.trim()).context("invalid verifier key")
}

fn log_vkey(dir: &Path) -> anyhow::Result<Verifier> {
    let path = dir.join(VERIFIER_KEY_FILE);
    load_vkey(
        &std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?,
    )
}

async fn append(dir: &Path, file: Option<&Path>) -> anyhow::Result<()> {
    let signer = load_signer(dir)?;
    let storage = FsStorage::open(dir)?;
    let (seq, task) = sequencer::open(storage, signer, SequencerConfig::default()).await?;
    let input: Box<dyn BufRead> = match file {
        None => Box::new(std::io::stdin().lock()),
        Some(p) if p == Path::new("-") => Box::new(std::io::stdin().lock()),
        Some(p) => Box::new(std::io::BufReader::new(
            std::fs::File::open(p).with_context(|| format!("opening {}", p.display()))?,
        )),
    };
    let bar = progress(0, "appending");
    let mut pending = VecDeque::new();
    let (mut first, mut last) = (None, None);
    let mut record = |s: tlog::Sequenced| {
        first.get_or_insert(s.index());
        last = Some(s.index());
    };
    for (n, line) in input.split(b'\n').enumerate() {
        let mut line = line.context("reading input")?;
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        let p = seq
            .submit(line)
            .await
            .with_context(|| format!("input line {}", n + 1))?;
        pending.push_back(p);
        bar.inc_length(1);
        // Keep a bounded number in flight; indices follow input order.
        while pending.len() > 100_000 {
            if let Some(p) = pending.pop_front() {
                record(p.wait().await?);
                bar.inc(1);
            }
        }
    }
    while let Some(p) = pending.pop_front() {
        record(p.wait().await?);
        bar.inc(1);
    }
    bar.finish_and_clear();
    let cp = seq.checkpoint();
    drop(seq);
    task.await?;
    match (first, last) {
        (Some(a), Some(b)) => eprintln!("appended {} entries at indices {a}..={b}", b - a + 1),
        _ => eprintln!("no input lines; nothing appended"),
    }
    print!("{}", cp.to_text());
    Ok(())
}

async fn verify_dir(dir: &Path, vkey: Option<&str>) -> anyhow::Result<()> {
    let vkey = match vkey {
        Some(v) => load_vkey(v)?,
        None => log_vkey(dir)?,
    };
    let storage = FsStorage::open(dir)?;
    let raw = storage
        .read(CHECKPOINT_PATH)
        .await?
        .with_context(|| format!("no checkpoint in {}", dir.display()))?;
    verify(&LogReader::new(storage), &raw, &vkey).await
}

/// Verifies the log served at `url` (only its public resources).
async fn verify_url(url: &str, vkey: &str, ca: Option<&Path>) -> anyhow::Result<()> {
    let vkey = load_vkey(vkey)?;
    let http = tls::client(ca)?.build()?;
    let src = verify::HttpTiles::new(http, url);
    let raw = src
        .get(CHECKPOINT_PATH)
        .await?
        .context("no checkpoint served at that URL")?;
    verify(&src, &raw, &vkey).await
}

/// Recomputes every tile and the root of the log `src` serves from its
/// entries, against its checkpoint `raw`, signed by `vkey`.
async fn verify<S: verify::TileSource>(
    src: &S,
    raw: &[u8],
    vkey: &tlog::Verifier,
) -> anyhow::Result<()> {
    let cp = SignedCheckpoint::open(raw, vkey, &[])
        .context("checkpoint")?
        .checkpoint;
    let n = cp.size;

    let mut tally = Tally {
        bar: progress(n, "verifying"),
        entries: 0,
        hash_tiles: 0,
    };
    let mut edge = Edge::new();
    let verified = verify::extend(src, &mut edge, &cp, &mut tally).await;
    tally.bar.finish_and_clear();
    verified.map_err(|stop| match stop {
        Stop::Inconsistent(found) => anyhow!(describe(&found)),
        other => anyhow!(other),
    })?;
    let partial = edge.partial_tiles().into_iter();
    let tiles_checked = tally.hash_tiles
        + partial
            .filter(|(id, _)| id.kind != TileKind::Entries)
            .count() as u64;
    println!(
        "OK: {} at size {n}, root {}: entries {n}, tiles {tiles_checked}, all recomputed; checkpoint signed by {}",
        cp.origin,
        cp.root.to_base64(),
        vkey.to_vkey()
    );
    Ok(())
}

/// What `log verify` has seen so far: entries for its progress bar, and
/// the hash tiles compared.
struct Tally {
    bar: ProgressBar,
    entries: u64,
    hash_tiles: u64,
}

impl Consumer for Tally {
    fn entry(&mut self, _: u64, _: &[u8]) -> Result<(), String> {
        self.entries += 1;
        Ok(())
    }

    async fn tiles(&mut self, tiles: Vec<TileData>) -> Result<(), String> {
        let hash_tiles = tiles.iter().filter(|(id, _)| id.kind != TileKind::Entries);
        self.hash_tiles += hash_tiles.count() as u64;
        self.bar.set_position(self.entries);
        Ok(())
    }
}

/// A discrepancy as this command words it: a differing tile hash and a
/// differing root name both values.
fn describe(found: &Discrepancy) -> String {
    match found {
        Discrepancy::TileHash {
            id,
            hash,
            first,
            span,
            served,
            computed,
        } => format!(
            "{} hash {hash} (covering entries {first}..{}) is {}, but the entries give {}",
            id.path(),
            first + span - 1,
            served.to_base64(),
            computed.to_base64()
        ),
        Discrepancy::Root {
            size,
            computed,
            signed,
        } => format!(
            "the root recomputed from the {size} entries is {}, the checkpoint says {}",
            computed.to_base64(),
            signed.to_base64()
        ),
        other => other.to_string(),
    }
}

async fn prove(dir: &Path, index: u64, size: Option<u64>) -> anyhow::Result<()> {
    let vkey = log_vkey(dir)?;
    let reader = LogReader::new(FsStorage::open(dir)?);
    let cp = reader.checkpoint(&vkey).await?;
    let size = size.unwrap_or(cp.checkpoint.size);
    ensure!(
        size <= cp.checkpoint.size,
        "size {size} is beyond the checkpoint's {}",
        cp.checkpoint.size
    );
    ensure!(
        index < size,
        "index {index} is not in a tree of size {size}"
    );
    if size == cp.checkpoint.size {
        print!("{}", reader.receipt(index, &cp).await?.to_text());
    } else {
        eprintln!("no signed checkpoint of size {size} is kept: printing the bare inclusion proof");
        for h in reader.inclusion_proof(index, size).await? {
            println!("{}", h.to_base64());
        }
    }
    Ok(())
}

async fn consistency(dir: &Path, from: u64, to: Option<u64>) -> anyhow::Result<()> {
    let vkey = log_vkey(dir)?;
    let reader = LogReader::new(FsStorage::open(dir)?);
    let cp = reader.checkpoint(&vkey).await?;
    let to = to.unwrap_or(cp.checkpoint.size);
    ensure!(
        to <= cp.checkpoint.size,
        "size {to} is beyond the checkpoint's {}",
        cp.checkpoint.size
    );
    ensure!(from <= to, "--from {from} is larger than --to {to}");
    for h in reader.consistency_proof(from, to).await? {
        println!("{}", h.to_base64());
    }
    Ok(())
}

fn verify_receipt(
    vkey: &str,
    witnesses: &[String],
    entry: &Path,
    receipt: &Path,
) -> anyhow::Result<()> {
    let vkey = load_vkey(vkey)?;
    let witness_keys = witnesses
        .iter()
        .map(|w| load_vkey(w))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let entry_bytes =
        std::fs::read(entry).with_context(|| format!("reading {}", entry.display()))?;
    let mut text = String::new();
    if receipt == Path::new("-") {
        std::io::stdin().read_to_string(&mut text)?;
    } else {
        text = std::fs::read_to_string(receipt)
            .with_context(|| format!("reading {}", receipt.display()))?;
    }
    // Blank lines after the note (from `jq -r`, an editor) are not part of it.
    let text = format!("{}\n", text.trim_end_matches('\n'));
    let r = Receipt::parse(&text)?;
    let cp = match r.verify(&entry_bytes, &vkey, &witness_keys) {
        Ok(cp) => cp,
        Err(e) if entry_bytes.ends_with(b"\n") => bail!(
            "{e} (the entry file ends with a newline; `log append` entries do not include it)"
        ),
        Err(e) => return Err(e.into()),
    };
    let signed = cp.note.verify(&witness_keys).unwrap_or_default();
    for w in &witness_keys {
        ensure!(
            signed.contains(&w),
            "no cosignature by the required witness {}",
            w.name
        );
    }
    println!(
        "OK: entry {} is in {} at size {} (root {}){}",
        r.index,
        cp.checkpoint.origin,
        cp.checkpoint.size,
        cp.checkpoint.root.to_base64(),
        if witness_keys.is_empty() {
            String::new()
        } else {
            format!(
                ", cosigned by {}",
                witness_keys
                    .iter()
                    .map(|w| w.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        }
    );
    Ok(())
}
