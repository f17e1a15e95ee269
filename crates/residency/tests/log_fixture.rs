//! A log written before the entry types became enums and the release path
//! was split (the demo's eu-fr log at commit 85f3a59, `fixtures/log-85f3a59`,
//! its signing key left out) still verifies, every entry parses back to
//! its exact bytes, and every decision replays as it was logged.

use std::path::{Path, PathBuf};
use std::process::Command;

use entry::Entry;
use monitor::replay::{FindingKind, Replayer};
use tlog::{FsStorage, LogReader, Verifier};

/// A copy of the fixture (opening a log may add lock and scratch files).
fn fixture() -> (tempfile::TempDir, PathBuf) {
    let from = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/log-85f3a59");
    let tmp = tempfile::tempdir().unwrap();
    let to = tmp.path().join("log");
    for f in [
        "checkpoint",
        "log.vkey",
        "tile/0/000.p/10",
        "tile/entries/000.p/10",
    ] {
        std::fs::create_dir_all(to.join(f).parent().unwrap()).unwrap();
        std::fs::copy(from.join(f), to.join(f)).unwrap();
    }
    (tmp, to)
}

#[test]
fn a_log_from_before_the_move_verifies_with_residency_log_verify() {
    let (_tmp, dir) = fixture();
    let o = Command::new(env!("CARGO_BIN_EXE_residency"))
        .args(["log", "verify", "--dir"])
        .arg(dir)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}

#[tokio::test]
async fn a_log_from_before_the_move_keeps_its_bytes_and_replays_clean() {
    let (_tmp, dir) = fixture();
    let vkey = std::fs::read_to_string(dir.join("log.vkey")).unwrap();
    let verifier = Verifier::parse(vkey.trim()).unwrap();
    let reader = LogReader::new(FsStorage::open(&dir).unwrap());
    let size = reader.checkpoint(&verifier).await.unwrap().checkpoint.size;
    assert_eq!(size, 10, "the fixture holds the demo's ten eu-fr entries");

    let mut entries = Vec::new();
    for i in 0..size {
        let bytes = reader.entry(i, size).await.unwrap();
        let e = Entry::parse(&bytes).unwrap();
        assert_eq!(
            e.to_canonical(),
            bytes,
            "entry {i} does not serialise back to its logged bytes"
        );
        entries.push(bytes);
    }

    let mut replayer = Replayer::new("eu-fr");
    let replayed = replayer.replay_all(0, &entries);
    assert_eq!(replayed.len(), entries.len());
    // The demo's last step rewrites history: entry 4, Beijing's refused
    // view, re-signed to say the principal was in Dublin. The replay
    // catches it as it did before the move, and finds nothing else.
    let findings: Vec<_> = replayed
        .iter()
        .flat_map(|r| &r.findings)
        .map(|f| (f.index, f.kind, f.message.as_str()))
        .collect();
    assert_eq!(
        findings,
        [(
            Some(4),
            FindingKind::Mismatch,
            "principal eng-beijing is located in CN, the entry says IE"
        )]
    );
}
