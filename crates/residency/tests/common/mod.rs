//! Running the real `residency` binary from integration tests.

use std::io::Write as _;
use std::process::{Command, Output, Stdio};

/// Runs `residency ARGS` from the repository root with `stdin` as input.
pub(crate) fn residency(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_residency"))
        .args(args)
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the residency binary runs");
    child
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(stdin)
        .expect("stdin accepts input");
    child
        .wait_with_output()
        .expect("the residency binary finishes")
}
