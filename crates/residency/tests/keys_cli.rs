//! `residency keys init` through the real binary.

use std::os::unix::fs::PermissionsExt as _;
use std::process::Command;

#[test]
fn init_creates_a_private_key_file_once() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("eu-fr/region.keys");
    let run = || {
        Command::new(env!("CARGO_BIN_EXE_residency"))
            .args(["keys", "init", "--file", file.to_str().unwrap()])
            .output()
            .unwrap()
    };
    let out = run();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let before = std::fs::read(&file).unwrap();
    let out = run();
    assert!(
        !out.status.success(),
        "a second init must not overwrite the keys"
    );
    assert_eq!(std::fs::read(&file).unwrap(), before);
    // The secret is never printed.
    assert!(!String::from_utf8_lossy(&out.stdout).contains("kek "));
    store::keys::FileKeyProvider::open(&file).unwrap();
}
