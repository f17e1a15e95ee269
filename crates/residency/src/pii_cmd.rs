//! `residency pii …`: find personal data in text files and logs, and redact it.
//!
//! Both commands stream line by line (constant memory on large files) and
//! show a progress bar when standard error is a terminal.

use std::io::{BufRead, BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use clap::Subcommand;
use indicatif::{ProgressBar, ProgressStyle};
use pseudo::Keys;
use pseudo::pii::{Analyzer, Finding, RedactionPlan, redact};

#[derive(Subcommand, Debug)]
pub(crate) enum PiiCommand {
    /// Print each finding as a JSON line: entity_type, start, end, score
    /// (offsets in characters), and line (1-based) for multi-line input.
    Scan {
        /// Input file; `-` or nothing for standard input.
        file: Option<PathBuf>,
        /// Exit with status 1 if anything is found.
        #[arg(long)]
        fail_on_find: bool,
    },
    /// Write the text with every finding transformed as the plan says.
    Redact {
        /// Input file; `-` or nothing for standard input.
        file: Option<PathBuf>,
        /// Redaction plan (TOML, or JSON if the name ends in .json).
        #[arg(long)]
        plan: Option<PathBuf>,
        /// File holding the 32-byte secret (64 hex digits) keyed transforms
        /// derive their keys from.
        #[arg(long)]
        key: Option<PathBuf>,
    },
}

pub(crate) fn run(cmd: PiiCommand) -> anyhow::Result<std::process::ExitCode> {
    match cmd {
        PiiCommand::Scan { file, fail_on_find } => {
            let found = scan(file.as_deref())?;
            Ok(if fail_on_find && found > 0 {
                std::process::ExitCode::from(1)
            } else {
                std::process::ExitCode::SUCCESS
            })
        }
        PiiCommand::Redact { file, plan, key } => {
            redact_cmd(file.as_deref(), plan.as_deref(), key.as_deref())?;
            Ok(std::process::ExitCode::SUCCESS)
        }
    }
}

/// The input and a progress bar sized to it.
fn open(file: Option<&Path>) -> anyhow::Result<(Box<dyn BufRead>, ProgressBar)> {
    match file {
        Some(p) if p != Path::new("-") => {
            let f = std::fs::File::open(p).with_context(|| format!("opening {}", p.display()))?;
            let len = f.metadata().map(|m| m.len()).unwrap_or(0);
            let bar = ProgressBar::new(len);
            if let Ok(style) = ProgressStyle::with_template(
                "{bar:40} {bytes}/{total_bytes} ({bytes_per_sec}, {eta} left)",
            ) {
                bar.set_style(style);
            }
            Ok((Box::new(std::io::BufReader::with_capacity(1 << 16, f)), bar))
        }
        _ => {
            let bar = ProgressBar::new_spinner();
            if let Ok(style) = ProgressStyle::with_template("{spinner} {bytes} ({bytes_per_sec})") {
                bar.set_style(style);
            }
            Ok((Box::new(std::io::stdin().lock()), bar))
        }
    }
}

/// Reads lines (without their end) as UTF-8; a line that is not UTF-8 is an
/// error naming its number, not a panic.
fn lines(input: Box<dyn BufRead>) -> impl Iterator<Item = anyhow::Result<(String, usize)>> {
    input.split(b'\n').enumerate().map(|(i, r)| {
        let mut raw = r.with_context(|| format!("reading line {}", i + 1))?;
        let len = raw.len() + 1;
        if raw.last() == Some(&b'\r') {
            raw.pop();
        }
        let s = String::from_utf8(raw)
            .map_err(|_| anyhow::anyhow!("line {} is not valid UTF-8", i + 1))?;
        Ok((s, len))
    })
}

fn finding_json(f: &Finding, line: Option<usize>) -> String {
    let mut v = serde_json::json!({
        "entity_type": f.entity_type,
        "start": f.start,
        "end": f.end,
        "score": f.score,
    });
    if let Some(l) = line {
        v["line"] = l.into();
    }
    v.to_string()
}

fn scan(file: Option<&Path>) -> anyhow::Result<usize> {
    let analyzer = Analyzer::new();
    let (input, bar) = open(file)?;
    let mut out = BufWriter::new(std::io::stdout().lock());
    let mut total = 0;
    // The first line's findings wait until we know whether there is a second.
    let mut first: Option<Vec<Finding>> = None;
    for (n, item) in lines(input).enumerate() {
        let (line, len) = item?;
        bar.inc(len as u64);
        let findings = analyzer.analyze(&line);
        total += findings.len();
        if n == 0 {
            first = Some(findings);
            continue;
        }
        if let Some(held) = first.take() {
            for f in &held {
                writeln!(out, "{}", finding_json(f, Some(1)))?;
            }
        }
        for f in &findings {
            writeln!(out, "{}", finding_json(f, Some(n + 1)))?;
        }
    }
    for f in first.iter().flatten() {
        writeln!(out, "{}", finding_json(f, None))?;
    }
    bar.finish_and_clear();
    out.flush()?;
    Ok(total)
}

fn load_plan(path: Option<&Path>) -> anyhow::Result<RedactionPlan> {
    let Some(path) = path else {
        return Ok(RedactionPlan::default());
    };
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the plan {}", path.display()))?;
    let plan: RedactionPlan = if path.extension().is_some_and(|e| e == "json") {
        serde_json::from_str(&text).with_context(|| format!("plan {}", path.display()))?
    } else {
        toml::from_str(&text).with_context(|| format!("plan {}", path.display()))?
    };
    plan.check()?;
    Ok(plan)
}

fn load_keys(path: Option<&Path>, needed: bool) -> anyhow::Result<Keys> {
    let Some(path) = path else {
        if needed {
            bail!(
                "the plan uses keyed transforms (token, reversible, fpe, shift_date): pass --key FILE"
            );
        }
        return Ok(Keys::derive(0, &[0; 32])); // unused by keyless plans
    };
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the key {}", path.display()))?;
    let hex = text.trim();
    if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        bail!(
            "{} must hold 64 hex digits (a 32-byte secret)",
            path.display()
        );
    }
    let mut secret = [0u8; 32];
    for (i, b) in secret.iter_mut().enumerate() {
        *b = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16)?;
    }
    Ok(Keys::derive(1, &secret))
}

fn redact_cmd(file: Option<&Path>, plan: Option<&Path>, key: Option<&Path>) -> anyhow::Result<()> {
    let plan = load_plan(plan)?;
    let keys = load_keys(key, plan.needs_keys())?;
    let analyzer = Analyzer::new();
    let (input, bar) = open(file)?;
    let mut out = BufWriter::new(std::io::stdout().lock());
    for item in lines(input) {
        let (line, len) = item?;
        bar.inc(len as u64);
        let findings = analyzer.analyze(&line);
        writeln!(out, "{}", redact(&line, &findings, &plan, &keys))?;
    }
    bar.finish_and_clear();
    out.flush()?;
    Ok(())
}
