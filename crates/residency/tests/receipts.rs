//! Receipts a witness has cosigned: a person's export, made through a real
//! `residency serve` whose log is pushed to a real `residency witness`,
//! hands out receipts that `residency log verify-receipt --witness` accepts.

use std::process::Command;

use serde_json::json;

mod cluster;

use cluster::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_receipt_of_an_export_verifies_with_the_witness_cosignature() {
    let c = Cluster::start(None).await;
    let (status, body) = c
        .post(
            "eu-fr",
            "/v1/ingest",
            Some("app"),
            &json!({"events": events("FR", 10)}),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let reco = json!({"fields": ["account.user_id", "device.language"],
                      "purpose": "reco-training", "legal_basis": "adequacy:eu-us-dpf"});
    let (status, t) = c
        .post("eu-fr", "/v1/transfer", Some("svc-reco-us"), &reco)
        .await;
    assert_eq!(status, 200, "{t}");

    let me = json!({"user_id": "fr-user-0007"});
    let (status, x) = c
        .post("eu-fr", "/v1/subjects/export", Some("dpo"), &me)
        .await;
    assert_eq!(status, 200, "{x}");
    assert_eq!(x["receipt_cosigned"], true, "{x}");
    let accesses = x["accesses"].as_array().unwrap();
    assert!(accesses.len() >= 2, "the transfer and the export: {x}");
    let vkey = c.log_dir("eu-fr").join("log.vkey");
    let witness = c.witness.to_vkey();
    for (i, a) in accesses.iter().enumerate() {
        assert_eq!(a["cosigned"], true, "{a}");
        let entry = c.dir.path().join(format!("entry-{i}"));
        let receipt = c.dir.path().join(format!("receipt-{i}"));
        std::fs::write(&entry, entry::canonical(&a["entry"])).unwrap();
        std::fs::write(&receipt, a["receipt"].as_str().unwrap()).unwrap();
        let o = Command::new(env!("CARGO_BIN_EXE_residency"))
            .args(["log", "verify-receipt", "--vkey"])
            .arg(&vkey)
            .args(["--witness", &witness, "--entry"])
            .arg(&entry)
            .arg(&receipt)
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "entry {}: {}{}",
            a["log_index"],
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(
            String::from_utf8_lossy(&o.stdout).contains("cosigned by witness.example"),
            "{}",
            String::from_utf8_lossy(&o.stdout)
        );
    }
}
