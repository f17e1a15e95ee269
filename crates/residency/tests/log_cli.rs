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

/// `log verify --url`: a log verified from where it is served alone (here
/// its files over plain HTTP, as a bucket serves them), and a served tile
/// that was changed is found.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_log_verifies_from_its_url_and_a_changed_served_tile_is_found() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("log");
    let vkey = new_log(&dir, 300);
    let root = dir.clone();
    let app = axum::Router::new().route(
        "/log/{*path}",
        axum::routing::get(
            move |axum::extract::Path(path): axum::extract::Path<String>| {
                let file = root.join(&path);
                async move {
                    match std::fs::read(file) {
                        Ok(bytes) => Ok(bytes),
                        Err(_) => Err(axum::http::StatusCode::NOT_FOUND),
                    }
                }
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/log", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let run = |args: Vec<String>| {
        tokio::task::spawn_blocking(move || {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            residency(&args, None)
        })
    };
    let args = |url: &str| -> Vec<String> {
        ["log", "verify", "--url", url, "--vkey", &vkey]
            .map(str::to_owned)
            .to_vec()
    };
    let out = run(args(&url)).await.unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.starts_with("OK") && stdout.contains("size 300"),
        "{stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A byte of a served entry bundle changed.
    let bundle = dir.join("tile/entries/000");
    let mut bytes = std::fs::read(&bundle).unwrap();
    bytes[10] ^= 1;
    std::fs::write(&bundle, bytes).unwrap();
    let out = run(args(&url)).await.unwrap();
    assert!(!out.status.success());
    // Nothing served there: a clear error, not a panic.
    let out = run(args("http://127.0.0.1:9/log")).await.unwrap();
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && !e.contains("panicked"), "{e}");
    // --url needs the key: nothing to trust otherwise.
    assert!(err(&["log", "verify", "--url", &url]).contains("--vkey"));
}
