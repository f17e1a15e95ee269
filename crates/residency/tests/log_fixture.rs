//! A log written before the entry types became enums and the release path
//! was split (the demo's eu-fr log at commit 85f3a59, `fixtures/log-85f3a59`,
//! its signing key left out) still verifies, every entry parses back to
//! its exact bytes, and every decision replays as it was logged.

use std::path::{Path, PathBuf};
use std::process::Command;

use entry::Entry;
use monitor::replay::Replayer;
use tlog::{FsStorage, LogReader, Verifier};

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/log-85f3a59")
}

#[test]
fn a_log_from_before_the_move_verifies_with_residency_log_verify() {
    let o = Command::new(env!("CARGO_BIN_EXE_residency"))
        .args(["log", "verify", "--dir"])
        .arg(fixture())
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
    let dir = fixture();
    let vkey = std::fs::read_to_string(dir.join("log.vkey")).unwrap();
    let verifier = Verifier::parse(vkey.trim()).unwrap();
    let reader = LogReader::new(FsStorage::open(&dir).unwrap());
    let size = reader.checkpoint(&verifier).await.unwrap().checkpoint.size;
    assert!(size > 10, "the fixture holds the demo's entries");

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
    for r in &replayed {
        assert!(r.findings.is_empty(), "{:?}", r.findings);
    }
}
