//! `residency log …` end to end, through the real binary.

mod common;

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::process::Output;

fn residency(args: &[&str], stdin: Option<&[u8]>) -> Output {
    common::residency(args, stdin.unwrap_or_default())
}

fn ok(args: &[&str], stdin: Option<&[u8]>) -> String {
    let out = residency(args, stdin);
    assert!(
        out.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn err(args: &[&str]) -> String {
    let out = residency(args, None);
    assert!(!out.status.success(), "{args:?} should have failed");
    String::from_utf8(out.stderr).unwrap()
}

fn new_log(dir: &Path, entries: usize) -> String {
    let d = dir.to_str().unwrap();
    let vkey = ok(
        &["log", "init", "--dir", d, "--origin", "test.example/log"],
        None,
    );
    let input: String = (0..entries).map(|i| format!("entry {i}\n")).collect();
    ok(&["log", "append", "--dir", d], Some(input.as_bytes()));
    vkey.trim().to_owned()
}

#[test]
fn init_append_prove_and_verify_a_receipt() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("log");
    let d = dir.to_str().unwrap();
    let vkey = new_log(&dir, 700);
    assert!(vkey.starts_with("test.example/log+"));
    let mode = std::fs::metadata(dir.join("log.key"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "signing key must be private");

    let cp = ok(&["log", "checkpoint", "--dir", d], None);
    assert!(cp.starts_with("test.example/log\n700\n"), "{cp}");
    assert!(ok(&["log", "verify", "--dir", d, "--vkey", &vkey], None).starts_with("OK"));

    // Input order is index order.
    let receipt = ok(&["log", "prove", "--dir", d, "--index", "421"], None);
    assert!(receipt.starts_with("c2sp.org/tlog-proof@v1\nindex 421\n"));
    let rfile = tmp.path().join("r.tlog-proof");
    std::fs::write(&rfile, &receipt).unwrap();
    let efile = tmp.path().join("entry");
    std::fs::write(&efile, "entry 421").unwrap();
    let r = rfile.to_str().unwrap();
    let e = efile.to_str().unwrap();
    let out = ok(
        &["log", "verify-receipt", "--vkey", &vkey, "--entry", e, r],
        None,
    );
    assert!(
        out.starts_with("OK: entry 421 is in test.example/log at size 700"),
        "{out}"
    );

    // Another entry, another key, a required witness: all refused.
    std::fs::write(&efile, "entry 420").unwrap();
    assert!(
        err(&["log", "verify-receipt", "--vkey", &vkey, "--entry", e, r]).contains("invalid proof")
    );
    std::fs::write(&efile, "entry 421").unwrap();
    let other = ok(
        &[
            "log",
            "init",
            "--dir",
            tmp.path().join("other").to_str().unwrap(),
            "--origin",
            "test.example/log",
        ],
        None,
    );
    assert!(
        err(&[
            "log",
            "verify-receipt",
            "--vkey",
            other.trim(),
            "--entry",
            e,
            r
        ])
        .contains("signature")
    );
    let witness = ok(
        &[
            "log",
            "init",
            "--dir",
            tmp.path().join("w").to_str().unwrap(),
            "--origin",
            "witness.example",
        ],
        None,
    );
    assert!(
        err(&[
            "log",
            "verify-receipt",
            "--vkey",
            &vkey,
            "--witness",
            witness.trim(),
            "--entry",
            e,
            r
        ])
        .contains("witness")
    );

    // A receipt saved with a blank line after it (`jq -r`, an editor)
    // still verifies: the blank line is not part of the note.
    std::fs::write(&rfile, format!("{receipt}\n\n")).unwrap();
    assert!(
        ok(
            &["log", "verify-receipt", "--vkey", &vkey, "--entry", e, r],
            None
        )
        .starts_with("OK: entry 421")
    );

    // A garbled receipt is a clear error, not a panic.
    std::fs::write(&rfile, receipt.replace("index 421", "index 0421")).unwrap();
    assert!(
        err(&["log", "verify-receipt", "--vkey", &vkey, "--entry", e, r])
            .contains("malformed tlog-proof")
    );

    let proof = ok(&["log", "consistency", "--dir", d, "--from", "300"], None);
    assert!(proof.lines().count() > 1);
    assert!(err(&["log", "consistency", "--dir", d, "--from", "800"]).contains("larger"));
    assert!(
        err(&["log", "prove", "--dir", d, "--index", "700"]).contains("not in a tree of size 700")
    );
}

#[test]
fn init_refuses_to_overwrite_a_log() {
    let tmp = tempfile::tempdir().unwrap();
    new_log(tmp.path(), 3);
    let d = tmp.path().to_str().unwrap();
    assert!(
        err(&["log", "init", "--dir", d, "--origin", "x.example"]).contains("already holds a log")
    );
    assert!(
        err(&[
            "log",
            "init",
            "--dir",
            tmp.path().join("y").to_str().unwrap(),
            "--origin",
            "has space"
        ])
        .contains("origin")
    );
    // The log is untouched.
    assert!(ok(&["log", "verify", "--dir", d], None).contains("size 3"));
}

#[test]
fn verify_names_the_first_tampered_entry_tile() {
    let tmp = tempfile::tempdir().unwrap();
    new_log(tmp.path(), 600);
    let d = tmp.path().to_str().unwrap();
    // Edit one byte of entry 300 in its bundle: "entry 300" -> "entry 301".
    let path = tmp.path().join("tile/entries/001");
    let mut bundle = std::fs::read(&path).unwrap();
    let at = bundle.windows(9).position(|w| w == b"entry 300").unwrap();
    bundle[at + 8] = b'1';
    std::fs::write(&path, bundle).unwrap();
    let e = err(&["log", "verify", "--dir", d]);
    assert!(
        e.contains("tile/0/001 hash 44 (covering entries 300..300)"),
        "{e}"
    );
}

#[test]
fn verify_detects_a_forged_checkpoint() {
    let tmp = tempfile::tempdir().unwrap();
    new_log(tmp.path(), 10);
    let d = tmp.path().to_str().unwrap();
    let path = tmp.path().join("checkpoint");
    let cp = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, cp.replace("\n10\n", "\n9\n")).unwrap();
    assert!(err(&["log", "verify", "--dir", d]).contains("signature"));
}

#[test]
fn commands_on_a_missing_log_say_so() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("nothing");
    let d = d.to_str().unwrap();
    assert!(err(&["log", "checkpoint", "--dir", d]).contains("residency log init"));
    assert!(err(&["log", "append", "--dir", d]).contains("residency log init"));
}
