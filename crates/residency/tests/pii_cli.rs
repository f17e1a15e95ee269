//! `residency pii …` end to end, through the real binary.

mod common;

use std::process::Output;

use common::residency;

fn json_lines(out: &Output) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn scan_reports_presidio_shaped_findings_with_lines() {
    let out = residency(
        &["pii", "scan"],
        "Écrivez à jean@exemple.fr\nrien\ncarte 4111 1111 1111 1111\n".as_bytes(),
    );
    assert!(out.status.success());
    let f = json_lines(&out);
    assert_eq!(f.len(), 2);
    assert_eq!(f[0]["entity_type"], "EMAIL_ADDRESS");
    assert_eq!(
        (
            f[0]["start"].as_u64(),
            f[0]["end"].as_u64(),
            f[0]["line"].as_u64()
        ),
        (Some(10), Some(25), Some(1))
    );
    assert_eq!(f[1]["entity_type"], "CREDIT_CARD");
    assert_eq!(
        (f[1]["start"].as_u64(), f[1]["line"].as_u64()),
        (Some(6), Some(3))
    );
    // Single-line input: no line numbers.
    let out = residency(&["pii", "scan"], b"jean@exemple.fr");
    assert!(json_lines(&out)[0].get("line").is_none());
}

#[test]
fn fail_on_find_sets_the_exit_status() {
    assert_eq!(
        residency(&["pii", "scan", "--fail-on-find"], b"jean@exemple.fr\n")
            .status
            .code(),
        Some(1)
    );
    assert_eq!(
        residency(&["pii", "scan", "--fail-on-find"], b"nothing here\n")
            .status
            .code(),
        Some(0)
    );
}

#[test]
fn redact_applies_a_toml_plan_with_keys() {
    let dir = tempfile::tempdir().unwrap();
    let plan = dir.path().join("plan.toml");
    std::fs::write(&plan, "default = { op = \"redact\" }\n[entities]\nEMAIL_ADDRESS = { op = \"token\", domain = \"support\" }\nPHONE_NUMBER = { op = \"mask\", last = 2 }\n").unwrap();
    let key = dir.path().join("key");
    std::fs::write(&key, "00".repeat(32)).unwrap();
    let input =
        b"mail jean@exemple.fr tel +33 6 12 34 56 78 iban FR76 3000 6000 0112 3456 7890 189\n";
    let args = [
        "pii",
        "redact",
        "--plan",
        plan.to_str().unwrap(),
        "--key",
        key.to_str().unwrap(),
    ];
    let out = residency(&args, input);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.starts_with("mail t1."), "{text}");
    assert!(
        text.contains("tel ***************78 iban <IBAN_CODE>"),
        "{text}"
    );
    assert!(!text.contains("jean@"));
    // Same key, same token.
    assert_eq!(
        String::from_utf8(residency(&args, input).stdout).unwrap(),
        text
    );
    // Keyed plan without a key: refused, nothing written.
    let out = residency(&["pii", "redact", "--plan", plan.to_str().unwrap()], input);
    assert!(!out.status.success() && out.stdout.is_empty());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--key"));
}

#[test]
fn bad_input_gets_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let plan = dir.path().join("plan.toml");
    std::fs::write(&plan, "[entities]\nEMAIL = { op = \"drop\" }\n").unwrap();
    let out = residency(&["pii", "redact", "--plan", plan.to_str().unwrap()], b"x\n");
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown entity type \"EMAIL\""));
    let out = residency(&["pii", "scan"], b"ok\n\xff\xfe\n");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("line 2 is not valid UTF-8"), "{err}");
}
