//! Three regions sealing for a key custodian, every one a real process:
//! reads pass through the custodian; killed with SIGKILL, nothing is
//! decrypted (503 naming it) while ingest carries on, and the regions
//! recover when it is back; a key rotation — a new custodian key, the
//! region's batch secrets rewrapped by `residency keys rewrap-batches`,
//! the old key retired — leaves every record readable; a region that
//! sealed under its key file moves under the custodian with one command
//! (`residency keys move-to-custodian`), after which its records open only
//! through the custodian; killed with SIGKILL many times under reads and
//! erasures, it forgets no erasure it acknowledged (a store restored from
//! before them opens none of those users' records); reads made at the
//! same moment go to the custodian in shared requests, each opening its
//! own subject's records.

mod cluster;

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

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

    // Regression: the erasure of a user not homed here is logged as an
    // allowed erasure of no one (a filler); the custodian reads it in the
    // log, so it is told of it too, and releases go on.
    let (status, _) = c
        .post(
            "eu-fr",
            "/v1/subjects/erase",
            Some("dpo"),
            &json!({"user_id": "fr-user-nobody"}),
        )
        .await;
    assert_eq!(status, 404);
    let (status, r) = read(&c, 3).await;
    assert_eq!(status, 200, "an erasure of no one halted releases: {r}");

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
    c.spawn("eu-fr").await;
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
    c.spawn("eu-fr").await;
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

    c.spawn("eu-fr").await;
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

/// A POST to a region as a principal, from a task of its own: the status.
async fn post_as(http: reqwest::Client, url: String, principal: &str, body: Value) -> u16 {
    http.post(url)
        .bearer_auth(cluster::token(principal))
        .json(&body)
        .send()
        .await
        .map_or(0, |r| r.status().as_u16())
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &to.join(e.file_name()));
        } else if e.file_name() != "store.lock" {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

/// The custodian killed with SIGKILL many times while reads and erasures
/// are in flight: every time it is back, the region recovers; and no
/// erasure it acknowledged is forgotten — with eu-fr's store and keyring
/// restored from a backup taken before any erasure, no erased user's
/// record opens, while the others' do.
#[tokio::test(flavor = "multi_thread")]
async fn a_custodian_killed_under_load_many_times_forgets_no_erasure_it_acknowledged() {
    const USERS: usize = 24;
    const ERASED: usize = 10;
    const ROUNDS: usize = 10;
    let mut c = Cluster::with_custodian().await;
    ingest(&c, USERS).await;
    c.stop("eu-fr");
    let backup = tempfile::tempdir().unwrap();
    copy_dir(&c.store_dir("eu-fr"), backup.path());
    c.spawn("eu-fr").await;
    c.wait_healthy("eu-fr").await;

    // Under load: four readers of the users never erased, and the
    // erasures of the first ERASED users one after another (one that meets
    // a dead custodian is asked again), while the custodian is killed.
    let base = c.urls["eu-fr"].clone();
    let stop = Arc::new(AtomicBool::new(false));
    let mut readers = Vec::new();
    for r in 0..4 {
        let (http, base, stop) = (c.http.clone(), base.clone(), stop.clone());
        readers.push(tokio::spawn(async move {
            let mut statuses = Vec::new();
            let mut n = r;
            while !stop.load(Ordering::Relaxed) {
                let who = ERASED + n % (USERS - ERASED);
                let body = json!({"user_id": format!("fr-user-{who:04}"), "fields": ["profile.phone"], "purpose": "support-ticket"});
                statuses.push(post_as(http.clone(), format!("{base}/v1/read"), "support-dublin", body).await);
                n += 4;
            }
            statuses
        }));
    }
    let erasures = {
        let (http, base) = (c.http.clone(), base.clone());
        tokio::spawn(async move {
            let mut statuses = Vec::new();
            for i in 0..ERASED {
                loop {
                    let body = json!({"user_id": format!("fr-user-{i:04}")});
                    let s = post_as(
                        http.clone(),
                        format!("{base}/v1/subjects/erase"),
                        "dpo",
                        body,
                    )
                    .await;
                    statuses.push(s);
                    if s != 503 {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            }
            statuses
        })
    };
    for round in 0..ROUNDS {
        tokio::time::sleep(Duration::from_millis(30 + 7 * round as u64)).await;
        c.kill("custodian");
        tokio::time::sleep(Duration::from_millis(10)).await;
        c.spawn_custodian().unwrap();
        c.wait_custodian().await.unwrap();
    }
    let erased = erasures.await.unwrap();
    stop.store(true, Ordering::Relaxed);
    let mut reads = Vec::new();
    for r in readers {
        reads.extend(r.await.unwrap());
    }
    assert!(
        reads.iter().chain(&erased).all(|s| [200, 503].contains(s)),
        "reads {reads:?}, erasures {erased:?}"
    );
    assert!(
        reads.contains(&200) && reads.contains(&503),
        "the custodian was not killed under load: {reads:?}"
    );
    assert_eq!(erased.iter().filter(|s| **s == 200).count(), ERASED);

    // The store and keyring from before any erasure.
    c.stop("eu-fr");
    let store = c.store_dir("eu-fr");
    std::fs::remove_dir_all(&store).unwrap();
    copy_dir(backup.path(), &store);
    c.spawn("eu-fr").await;
    c.wait_healthy("eu-fr").await;
    for i in 0..ERASED {
        let (status, r) = read(&c, i).await;
        assert_eq!(status, 403, "user {i} was erased, yet: {r}");
        assert!(
            r["type"]
                .as_str()
                .is_some_and(|t| t.ends_with("/custodian-refused")),
            "{r}"
        );
        assert!(!r.to_string().contains("+33"), "{r}");
    }
    for i in ERASED..USERS {
        let (status, r) = read(&c, i).await;
        assert_eq!(status, 200, "user {i} was never erased: {r}");
        assert_eq!(r["records"][0]["fields"]["phone"], phone(i));
    }
}

/// The value of an OpenMetrics counter, 0 when absent.
fn counter(metrics: &str, name: &str) -> u64 {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_reads_share_requests_to_the_custodian_and_each_opens_its_own_records() {
    const USERS: usize = 64;
    let c = Cluster::with_custodian().await;
    ingest(&c, USERS).await;
    let base = c.urls["eu-fr"].clone();
    let reads: Vec<_> = (0..USERS)
        .map(|i| {
            let (http, url) = (c.http.clone(), format!("{base}/v1/read"));
            tokio::spawn(async move {
                let body = json!({"user_id": format!("fr-user-{i:04}"), "fields": ["profile.phone"], "purpose": "support-ticket"});
                let r = http
                    .post(url)
                    .bearer_auth(cluster::token("support-dublin"))
                    .json(&body)
                    .send()
                    .await
                    .unwrap();
                (r.status().as_u16(), r.json::<Value>().await.unwrap())
            })
        })
        .collect();
    for (i, read) in reads.into_iter().enumerate() {
        let (status, r) = read.await.unwrap();
        assert_eq!(status, 200, "user {i}: {r}");
        assert_eq!(r["records"].as_array().map(Vec::len), Some(1), "{r}");
        assert_eq!(r["records"][0]["fields"]["phone"], phone(i), "user {i}");
    }
    let url = c.custodian.clone().expect("a custodian");
    let metrics = c.get_text(&format!("{url}/metrics")).await;
    let (released, requests) = (
        counter(&metrics, "custodian_batched_releases_total"),
        counter(&metrics, "custodian_release_batches_total"),
    );
    assert!(released >= USERS as u64, "{metrics}");
    assert!(
        requests < released,
        "{released} releases in {requests} requests: none shared one"
    );
}
