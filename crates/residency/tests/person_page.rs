//! The person's page (issue 20, part 3) over a real cluster: eu-fr's
//! history of one French user — a read from Dublin, a refused read from
//! Beijing, a transfer to the US, the DPO's export — rendered in English
//! and in French, every receipt verified by headless Chromium against the
//! log's and the witness's pinned keys; then tampered copies, marked
//! failed, with the banner.

mod cluster;

use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde_json::{Value, json};

use cluster::{Cluster, events};

const WHO: &str = "fr-user-0003";

fn artefacts() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .unwrap()
        .join("test-artefacts");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn flip_b64(b64: &str, byte: usize) -> String {
    let e = &base64::engine::general_purpose::STANDARD;
    let mut raw = e.decode(b64).unwrap();
    raw[byte] ^= 1;
    e.encode(raw)
}

/// The receipt with one byte of its first proof hash flipped.
fn flip_proof(receipt: &str) -> String {
    let mut lines: Vec<String> = receipt.split('\n').map(str::to_owned).collect();
    let at = lines.iter().position(|l| l.starts_with("index ")).unwrap() + 1;
    lines[at] = flip_b64(&lines[at], 3);
    lines.join("\n")
}

/// The receipt with one byte of the signature line starting `starts`
/// (the log's, or the witness's) flipped.
fn flip_signature(receipt: &str, starts: &str) -> String {
    let mut lines: Vec<String> = receipt.split('\n').map(str::to_owned).collect();
    let at = lines
        .iter()
        .position(|l| l.starts_with(&format!("\u{2014} {starts}")))
        .unwrap_or_else(|| panic!("no signature by {starts} in {receipt}"));
    let (name, b64) = lines[at].rsplit_once(' ').unwrap();
    lines[at] = format!("{name} {}", flip_b64(b64, 30));
    lines.join("\n")
}

/// The visible part of the page: what the person reads.
fn visible(dom: &str) -> &str {
    let start = dom.find("<main>").unwrap();
    let end = dom.find("</main>").unwrap();
    &dom[start..end]
}

fn render(c: &Cluster, lang: &str, history: &Value, file: &Path) {
    let html = page::render(&page::Page {
        lang: Some(lang.into()),
        log_key: c.log_key("eu-fr").to_vkey(),
        witness_keys: vec![c.witness.to_vkey()],
        history: history.clone(),
    });
    std::fs::write(file, html).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_shows_each_access_in_english_and_french_and_marks_tampered_receipts() {
    let c = Cluster::start(None).await;
    let (status, r) = c
        .post(
            "eu-fr",
            "/v1/ingest",
            Some("app"),
            &json!({"events": events("FR", 12)}),
        )
        .await;
    assert_eq!(status, 202, "{r}");
    let read = json!({"user_id": WHO, "fields": ["profile.phone"], "purpose": "support-ticket"});
    let (status, r) = c
        .post("eu-fr", "/v1/read", Some("support-dublin"), &read)
        .await;
    assert_eq!(status, 200, "{r}");
    let beijing = json!({"user_id": WHO, "fields": ["profile.phone"], "purpose": "debugging"});
    let (status, r) = c
        .post("eu-fr", "/v1/read", Some("eng-beijing"), &beijing)
        .await;
    assert_eq!(status, 403, "{r}");
    let transfer = json!({"user_ids": [WHO, "fr-user-0004"], "fields": ["device.language"],
        "purpose": "reco-training", "destination": "US", "legal_basis": "adequacy:eu-us-dpf"});
    let (status, r) = c
        .post("eu-fr", "/v1/transfer", Some("svc-reco-us"), &transfer)
        .await;
    assert_eq!(status, 200, "{r}");
    let (status, r) = c
        .post(
            "eu-fr",
            "/v1/subjects/export",
            Some("dpo"),
            &json!({"user_id": WHO}),
        )
        .await;
    assert_eq!(status, 200, "{r}");

    // The history, once the witness has cosigned a checkpoint covering it.
    let mut history = Value::Null;
    for _ in 0..30 {
        let (status, h) = c
            .post(
                "eu-fr",
                "/v1/subjects/accesses",
                Some("app"),
                &json!({"user_id": WHO}),
            )
            .await;
        assert_eq!(status, 200, "{h}");
        history = h;
        if history["accesses"]
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a["cosigned"] == true)
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    let accesses = history["accesses"].as_array().unwrap().clone();
    assert_eq!(accesses.len(), 4, "{history}");
    let actions: Vec<&str> = accesses
        .iter()
        .map(|a| a["entry"]["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        ["export", "transfer", "transfer", "read"],
        "{history}"
    );

    let dir = tempfile::tempdir().unwrap();
    let Some(chromium) = page::browser::chromium() else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI must have chromium (.ci/run installs it)"
        );
        eprintln!("chromium is not installed: the page's browser checks are skipped");
        return;
    };
    let pseudonyms: Vec<String> = accesses
        .iter()
        .filter_map(|a| a["subject_proof"]["subject"].as_str().map(str::to_owned))
        .chain(
            accesses
                .iter()
                .filter_map(|a| a["subject_proof"]["salt"].as_str().map(str::to_owned)),
        )
        .collect();
    assert!(!pseudonyms.is_empty(), "{history}");

    for (lang, words) in [
        (
            "en",
            &[
                "Who accessed my data",
                "Ireland",
                "China",
                "United States",
                "France",
                "support-dublin",
                "eng-beijing",
                "svc-reco-us",
                "dpo",
                "refused",
                "allowed",
                "Read",
                "Transfer abroad",
                "Export of your data",
                "answering a support ticket",
                "investigating a defect",
                "training recommendation models",
                "adequacy decision of the European Commission (eu-us-dpf)",
                "profile.phone",
                "device.language",
                "4 accesses: 4 verified.",
            ][..],
        ),
        (
            "fr",
            &[
                "Qui a accédé à mes données",
                "Irlande",
                "Chine",
                "États-Unis",
                "support-dublin",
                "refusé",
                "autorisé",
                "Consultation",
                "Transfert à l'étranger",
                "Export de vos données",
                "réponse à un ticket de support",
                "analyse d'un défaut",
                "entraînement des modèles de recommandation",
                "décision d'adéquation de la Commission européenne (eu-us-dpf)",
                "4 accès : 4 vérifiés.",
            ][..],
        ),
    ] {
        let file = dir.path().join(format!("page-{lang}.html"));
        render(&c, lang, &history, &file);
        let v = page::browser::verify_sized(
            &chromium,
            &file,
            page::browser::Clock::Virtual,
            Some((390, 844)),
        )
        .unwrap();
        assert_eq!((v.verified, v.unconfirmed, v.failed), (4, 0, 0), "{lang}");
        assert_eq!(v.overflow_x, 0, "{lang}: wider than a phone");
        let shown = visible(&v.dom);
        for w in words {
            assert!(shown.contains(w), "{lang}: {w:?} not on the page:\n{shown}");
        }
        for p in &pseudonyms {
            assert!(
                !shown.contains(p.as_str()),
                "{lang}: a subject or salt on screen"
            );
        }
        assert!(!shown.contains("role=\"alert\">"), "{lang}: a banner");
        let tags = page::browser::access_tags(&v.dom);
        assert_eq!(tags.len(), 4);
        for (t, a) in tags.iter().zip(&accesses) {
            assert_eq!(
                page::browser::attribute(t, "data-log-index").unwrap(),
                a["log_index"].to_string()
            );
            assert_eq!(
                page::browser::attribute(t, "data-status").as_deref(),
                Some("verified")
            );
        }
        let png = artefacts().join(format!("person-page-{lang}.png"));
        page::browser::screenshot(&chromium, &file, &png, (390, 844)).unwrap();
        println!("screenshot: {}", png.display());
    }

    // Tampered copies: a proof hash, the log's checkpoint signature, the
    // witness's cosignature.
    let mut tampered = history.clone();
    let receipt = |i: usize| accesses[i]["receipt"].as_str().unwrap().to_owned();
    let log_name = c.log_key("eu-fr").name.clone();
    let witness_name = c.witness.name.clone();
    tampered["accesses"][0]["receipt"] = json!(flip_proof(&receipt(0)));
    tampered["accesses"][1]["receipt"] = json!(flip_signature(&receipt(1), &log_name));
    tampered["accesses"][2]["receipt"] = json!(flip_signature(&receipt(2), &witness_name));
    for lang in ["en", "fr"] {
        let file = dir.path().join(format!("tampered-{lang}.html"));
        render(&c, lang, &tampered, &file);
        let v = page::browser::verify(&chromium, &file, page::browser::Clock::Virtual).unwrap();
        assert_eq!((v.verified, v.unconfirmed, v.failed), (1, 0, 3), "{lang}");
        let tags = page::browser::access_tags(&v.dom);
        let status: Vec<(String, String)> = tags
            .iter()
            .map(|t| {
                (
                    page::browser::attribute(t, "data-status").unwrap(),
                    page::browser::attribute(t, "data-reason").unwrap(),
                )
            })
            .collect();
        let s = |a: &str, b: &str| (a.to_owned(), b.to_owned());
        assert_eq!(
            status,
            [
                s("failed", "bad_inclusion"),
                s("failed", "bad_log_signature"),
                s("failed", "bad_cosignature"),
                s("verified", "ok"),
            ],
            "{lang}"
        );
        let shown = visible(&v.dom);
        let banner = if lang == "en" {
            "3 proofs FAILED"
        } else {
            "3 preuves INVALIDES"
        };
        assert!(shown.contains(banner), "{lang}: no banner:\n{shown}");
        assert!(
            shown.contains("<div id=\"banner\" role=\"alert\">"),
            "{shown}"
        );
        if lang == "en" {
            let png = artefacts().join("person-page-tampered-en.png");
            page::browser::screenshot(&chromium, &file, &png, (390, 844)).unwrap();
            println!("screenshot: {}", png.display());
        }
    }
}
