//! Three regions sealing for a key custodian, every one a real process:
//! reads pass through the custodian; killed with SIGKILL, nothing is
//! decrypted (503 naming it) while ingest carries on, and the regions
//! recover when it is back; a key rotation — a new custodian key, the
//! region's batch secrets rewrapped by `residency keys rewrap-batches`,
//! the old key retired — leaves every record readable; a region that
//! sealed under its key file moves under the custodian with one command
//! (`residency keys move-to-custodian`), after which its records open only
//! through the custodian.

mod cluster;

use std::process::Command;

use cluster::{Cluster, events, phone};
use serde_json::{Value, json};

async fn ingest(c: &Cluster, users: usize) {
    let (status, r) = c
        .post(
            "eu-fr",
            "/v1/ingest",
            Some("app"),
            &json!({"events": events("FR", users)}),
        )
        .await;
    assert_eq!(status, 202, "{r}");
}

async fn read(c: &Cluster, user: usize) -> (u16, Value) {
    let body = json!({"user_id": format!("fr-user-{user:04}"), "fields": ["profile.phone"], "purpose": "support-ticket"});
    c.post("eu-fr", "/v1/read", Some("support-dublin"), &body)
        .await
}

fn residency(c: &Cluster, args: &[&str]) -> String {
    let out = Command::new(c.program())
        .args(args)
        .current_dir(&c.dir)
        .envs(c.env().iter().map(|(k, v)| (k, v)))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "residency {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_custodian_killed_stops_releases_not_ingest_and_survives_a_key_rotation() {
    let mut c = Cluster::with_custodian().await;
    ingest(&c, 10).await;
    let (status, r) = read(&c, 3).await;
    assert_eq!(status, 200, "{r}");
    assert_eq!(r["records"][0]["fields"]["phone"], phone(3));

    // SIGKILL, several times, each under a read: nothing decrypted while
    // it is down; back, the region recovers.
    for round in 0..3 {
        c.kill("custodian");
        let (status, r) = read(&c, round).await;
        assert_eq!(status, 503, "{r}");
        assert!(r.to_string().contains("custodian"), "{r}");
        assert!(!r.to_string().contains("+33"), "{r}");
        let (status, _) = c
            .post(
                "eu-fr",
                "/v1/ingest",
                Some("app"),
                &json!({"events": events("FR", 12)}),
            )
            .await;
        assert_eq!(status, 202, "ingest needs no custodian");
        c.spawn_custodian().unwrap();
        c.wait_custodian().await.unwrap();
        let (status, r) = read(&c, round).await;
        assert_eq!(status, 200, "{r}");
        assert_eq!(r["records"][0]["fields"]["phone"], phone(round));
    }

    // A key rotation.
    let printed = residency(
        &c,
        &["custodian", "rotate", "--key", "custodian/custodian.key"],
    );
    let new = printed
        .lines()
        .filter_map(|l| l.strip_prefix("kem "))
        .next_back()
        .unwrap()
        .to_owned();
    let path = c.dir.path().join("cluster.toml");
    let old_text = std::fs::read_to_string(&path).unwrap();
    let mut text = String::new();
    for line in old_text.lines() {
        if let Some(at) = line.find("key = \"custodian.example+") {
            let end = line[at + 7..].find('"').unwrap() + at + 7;
            text.push_str(&format!("{}key = \"{new}{}\n", &line[..at], &line[end..]));
        } else {
            text.push_str(line);
            text.push('\n');
        }
    }
    std::fs::write(&path, text).unwrap();
    c.stop("custodian");
    c.spawn_custodian().unwrap();
    c.wait_custodian().await.unwrap();
    c.stop("eu-fr");
    let out = residency(
        &c,
        &[
            "keys",
            "rewrap-batches",
            "--config",
            "cluster.toml",
            "--region",
            "eu-fr",
            "--page",
            "2",
        ],
    );
    assert!(out.contains("rewrapped 4 batch secrets"), "{out}");
    residency(
        &c,
        &[
            "custodian",
            "rotate",
            "--key",
            "custodian/custodian.key",
            "--retire-old",
        ],
    );
    c.stop("custodian");
    c.spawn_custodian().unwrap();
    c.wait_custodian().await.unwrap();
    c.spawn("eu-fr");
    c.wait_healthy("eu-fr").await;
    for user in [0, 3, 9] {
        let (status, r) = read(&c, user).await;
        assert_eq!(status, 200, "after the rotation: {r}");
        assert_eq!(r["records"][0]["fields"]["phone"], phone(user));
    }
    // New batches are sealed to the new key.
    ingest(&c, 10).await;
    let (status, _) = read(&c, 5).await;
    assert_eq!(status, 200);
}

/// The cluster file with region `region`'s custodian line taken out (its
/// store then seals under the key file, as before custodians), or put back.
fn custodian_line(c: &Cluster, region: &str, keep: bool, saved: &mut Option<String>) {
    let path = c.dir.path().join("cluster.toml");
    if keep {
        std::fs::write(&path, saved.take().unwrap()).unwrap();
        return;
    }
    let text = std::fs::read_to_string(&path).unwrap();
    let mut out = String::new();
    let mut in_region = false;
    for line in text.lines() {
        if line.starts_with('[') {
            in_region = line.contains(&format!("regions.{region}]"));
        }
        if !(in_region && line.starts_with("custodian =")) {
            out.push_str(line);
            out.push('\n');
        }
    }
    assert_ne!(out.len(), text.len() + 1, "no custodian line for {region}");
    *saved = Some(text);
    std::fs::write(&path, out).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_region_sealed_under_its_key_file_moves_under_the_custodian_with_one_command() {
    let mut c = Cluster::with_custodian().await;
    let mut saved = None;
    c.stop("eu-fr");
    custodian_line(&c, "eu-fr", false, &mut saved);
    c.spawn("eu-fr");
    c.wait_healthy("eu-fr").await;
    ingest(&c, 10).await;
    // Sealed under the key file: it opens them without the custodian.
    c.kill("custodian");
    let (status, r) = read(&c, 3).await;
    assert_eq!(status, 200, "{r}");
    c.stop("eu-fr");
    custodian_line(&c, "eu-fr", true, &mut saved);

    let move_it = [
        "keys",
        "move-to-custodian",
        "--config",
        "cluster.toml",
        "--region",
        "eu-fr",
        "--page",
        "3",
    ];
    let out = residency(&c, &move_it);
    assert!(out.contains("resealed 50 records"), "{out}");
    assert!(out.contains("the key file now opens no record"), "{out}");
    let again = residency(&c, &move_it);
    assert!(again.contains("holds no data key"), "{again}");

    c.spawn("eu-fr");
    c.wait_healthy("eu-fr").await;
    let (status, r) = read(&c, 3).await;
    assert_eq!(status, 503, "without the custodian nothing opens now: {r}");
    assert!(!r.to_string().contains("+33"), "{r}");
    c.spawn_custodian().unwrap();
    c.wait_custodian().await.unwrap();
    for user in [0, 3, 9] {
        let (status, r) = read(&c, user).await;
        assert_eq!(status, 200, "after the move: {r}");
        assert_eq!(r["records"][0]["fields"]["phone"], phone(user));
    }
}
