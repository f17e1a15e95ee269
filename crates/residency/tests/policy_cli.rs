//! `residency policy …` end to end, through the real binary.

mod common;

fn residency(args: &[&str]) -> std::process::Output {
    common::residency(args, b"")
}

#[test]
fn check_prints_the_bundle_hash() {
    let out = residency(&["policy", "check", "examples/policy"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let hash = text
        .strip_prefix("OK: bundle ")
        .unwrap()
        .lines()
        .next()
        .unwrap();
    assert_eq!(hash.len(), 64);
    // Stable across runs.
    assert!(
        String::from_utf8(residency(&["policy", "check", "examples/policy"]).stdout)
            .unwrap()
            .contains(hash)
    );
}

#[test]
fn decide_prints_the_decision_and_exits_3_on_deny() {
    let out = residency(&[
        "policy",
        "decide",
        "examples/policy",
        "examples/policy/requests/reco-transfer.json",
        "--date",
        "2026-11-24",
    ]);
    assert!(out.status.success());
    let d: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(d["allow"], true);
    assert_eq!(d["plan"]["social.friends"]["op"], "token");
    let out = residency(&[
        "policy",
        "decide",
        "examples/policy",
        "examples/policy/requests/beijing-phones.json",
    ]);
    assert_eq!(out.status.code(), Some(3));
    let d: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(d["allow"], false);
    // Before the DPF existed, the reco transfer had no valid tool.
    let out = residency(&[
        "policy",
        "decide",
        "examples/policy",
        "examples/policy/requests/reco-transfer.json",
        "--date",
        "2022-01-01",
    ]);
    assert_eq!(out.status.code(), Some(3));
}

#[test]
fn bad_input_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let req = dir.path().join("r.json");
    std::fs::write(
        &req,
        r#"{"principal":"dpo","action":"fly","region":"eu-fr"}"#,
    )
    .unwrap();
    let out = residency(&["policy", "decide", "examples/policy", req.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown variant `fly`"));
    let out = residency(&["policy", "check", dir.path().to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("catalog.toml"));
}
