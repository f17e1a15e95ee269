//! A person's access history (issue 20) on a large log: the app asks
//! `POST /v1/subjects/accesses` for a person with 1,000 logged accesses,
//! on a region whose log holds 10 million entries. Goal: P99 ≤ 50 ms.
//!
//! The cluster is the `cluster` crate's (witness and three regions, real
//! `residency serve` processes of this build, TLS, SQLite stores). eu-fr's
//! log is grown in `PHASES` steps: its node is stopped as an operator stops
//! it, `LOG_ENTRIES / PHASES` filler entries are appended to its log
//! directory by the log's own sequencer (`tlog`, files storage, large
//! batches, under the key `residency log init` made), the node is started
//! again on the grown log, and a share of the accesses is made over HTTP —
//! reads by support-dublin, transfers to the US by svc-reco-us naming
//! several users, reads by eng-beijing refused — interleaved with other
//! people's. So the person's entries are spread over the whole log, as a
//! history of years would be, not packed at its end. The node parses only
//! the entries it is asked for, so filler entries serve for the bulk.
//!
//! The baseline, in the same run: the same accesses to a person homed in
//! eu-no, whose log holds only them (a few thousand entries).
//!
//! Measured one request at a time over HTTPS, `REQUESTS` each: the first
//! page of 50, the first page of 200, and every page of a walk through the
//! whole history by cursor (pages of 200).
//!
//! `cargo bench -p residency --bench history` (env: LOG_ENTRIES, default
//! 10,000,000; ACCESSES, 1,000; PHASES, 10; REQUESTS, 500; ENTRY_BYTES,
//! the filler entries' size, 300). Without `--bench` (as `cargo test
//! --benches` runs it), a quick version.

use std::collections::VecDeque;
use std::path::Path;
use std::time::{Duration, Instant};

use futures::StreamExt as _;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{Value, json};

mod common;
use common::{cpu_seconds, env, percentile};

/// The goal: P99 of a history request, ms.
const GOAL_MS: f64 = 50.0;

/// Principals' credentials, under the variables the example
/// principals.toml names.
const TOKENS: [(&str, &str, &str); 4] = [
    ("app", "RESIDENCY_TOKEN_APP", "app-token-0123456789abcdef"),
    (
        "svc-reco-us",
        "RESIDENCY_TOKEN_RECO",
        "reco-token-0123456789abcdef",
    ),
    (
        "eng-beijing",
        "RESIDENCY_TOKEN_ENG_BEIJING",
        "eng-token-0123456789abcdef",
    ),
    (
        "support-dublin",
        "RESIDENCY_TOKEN_SUPPORT",
        "support-token-0123456789abcdef",
    ),
];

fn token(principal: &str) -> &'static str {
    TOKENS
        .iter()
        .find(|t| t.0 == principal)
        .map(|t| t.2)
        .expect("a known principal")
}

/// A region measured: where, whom, and its people's ids.
struct Subject {
    region: &'static str,
    /// The person whose history is asked.
    person: String,
    /// The id of user `i` of the region's synthetic population.
    prefix: &'static str,
}

impl Subject {
    fn user(&self, i: u64) -> String {
        format!("{}{i:07}", self.prefix)
    }
}

/// `USERS` users' events (four each), as the node bench's, homed in
/// `country` under ids starting with `prefix`.
fn bodies(users: u64, country: &str, prefix: &str) -> Vec<String> {
    (0..users * 4)
        .step_by(1_000)
        .map(|from| {
            let evs: Vec<Value> = (from..(from + 1_000).min(users * 4))
                .map(|i| {
                    let mut e = common::event(i);
                    e["country"] = json!(country);
                    e["user_id"] = json!(format!("{prefix}{:07}", i / 4));
                    e
                })
                .collect();
            json!({ "events": evs }).to_string()
        })
        .collect()
}

#[tokio::main]
async fn main() {
    let quick = !std::env::args().any(|a| a == "--bench");
    let log_entries = env("LOG_ENTRIES", if quick { 100_000 } else { 10_000_000 });
    let accesses = env("ACCESSES", if quick { 100 } else { 1_000 });
    let phases = env("PHASES", if quick { 2 } else { 10 }).max(1);
    let requests = env("REQUESTS", if quick { 20 } else { 500 });
    let entry_bytes = env("ENTRY_BYTES", 300) as usize;
    let users = 1_000;

    let dir = tempfile::tempdir().expect("temp dir");
    let policy = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/policy");
    let mut setup = cluster::Setup::new(env!("CARGO_BIN_EXE_residency"), dir.path(), policy);
    setup.limits = "requests_per_second = 1000000\nburst = 1000000\nbody_bytes = 10000000".into();
    setup.credentials = TOKENS
        .iter()
        .map(|(_, var, value)| (var.to_string(), value.to_string()))
        .chain(cluster::REGIONS.map(|r| {
            (
                cluster::node_token_var(r),
                format!("node-token-of-{r}-0123456789"),
            )
        }))
        .collect();
    setup.log_filter = Some("warn".into());
    let mut c = match cluster::Cluster::start(setup).await {
        Ok(c) => c,
        Err(e) => panic!("the cluster did not start: {e}"),
    };

    let big = Subject {
        region: "eu-fr",
        person: "user-0000007".into(),
        prefix: "user-",
    };
    let small = Subject {
        region: "eu-no",
        person: "no-user-0000007".into(),
        prefix: "no-user-",
    };
    for (s, country) in [(&big, "FR"), (&small, "NO")] {
        let urls = [c.urls[s.region].clone()];
        common::ingest(
            &c.http,
            &urls,
            token("app"),
            bodies(users, country, s.prefix),
            2,
        )
        .await;
    }

    // The log grows in phases, the person's accesses made between them.
    println!(
        "growing {}'s log by {log_entries} filler entries of {entry_bytes} bytes in {phases} phases, {accesses} accesses to the person (and others') between them:",
        big.region
    );
    let bar = ProgressBar::new(log_entries).with_style(
        ProgressStyle::with_template(
            "{spinner} {msg} [{bar:40}] {human_pos}/{human_len} entries ({per_sec}, {eta})",
        )
        .expect("a progress template"),
    );
    bar.set_message("filler");
    let started = Instant::now();
    let (mut filler_time, mut restart_time) = (Duration::ZERO, Duration::ZERO);
    let mut made = 0;
    for phase in 0..phases {
        let n = log_entries / phases + u64::from(phase < log_entries % phases);
        c.stop_region(big.region);
        let t = Instant::now();
        let size = append_filler(&c.log_dir(big.region), n, entry_bytes, &bar).await;
        filler_time += t.elapsed();
        let t = Instant::now();
        if let Err(e) = c.spawn_region(big.region).await {
            panic!("{} did not restart on its grown log: {e}", big.region);
        }
        if let Err(e) = c.wait_healthy(big.region).await {
            panic!(
                "{} did not restart on its grown log: {e}:\n{}",
                big.region,
                std::fs::read_to_string(c.output(big.region)).unwrap_or_default()
            );
        }
        restart_time += t.elapsed();
        let share = accesses / phases + u64::from(phase < accesses % phases);
        for s in [&big, &small] {
            make_accesses(&c, s, made, share, users).await;
        }
        made += share;
        let line = format!(
            "  phase {}/{phases}: {}'s log at {size} entries, {made} accesses to each person made ({:.0} s)",
            phase + 1,
            big.region,
            started.elapsed().as_secs_f64()
        );
        // A hidden bar (output not a terminal) prints nothing.
        if bar.is_hidden() {
            println!("{line}");
        } else {
            bar.println(line);
        }
    }
    bar.finish_and_clear();
    println!(
        "  filler appended at {:.0} entries/s ({:.0} s); node restarts {:.1} s in all; {:.0} s for the whole",
        log_entries as f64 / filler_time.as_secs_f64(),
        filler_time.as_secs_f64(),
        restart_time.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
    let sizes = [
        log_size(&c, big.region).await,
        log_size(&c, small.region).await,
    ];

    // The history, each shape on the large log and then the small one.
    println!(
        "history of a person with {accesses} logged accesses, POST /v1/subjects/accesses over HTTPS as the app, {requests} requests each, one at a time:"
    );
    println!(
        "  {} log of {} entries; baseline {} log of {} entries",
        big.region, sizes[0], small.region, sizes[1]
    );
    let shapes: [(&str, u64, bool); 3] = [
        ("first page of 50", 50, false),
        ("first page of 200", 200, false),
        ("each page of a walk by cursor, pages of 200", 200, true),
    ];
    for (name, limit, walk) in shapes {
        let mut figures = Vec::new();
        for s in [&big, &small] {
            figures.push(measure(&c, s, limit, walk, requests, accesses).await);
        }
        let (b, s) = (&figures[0], &figures[1]);
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        println!("  {name}:");
        println!(
            "    {} (large log):  P50 {:.2} ms   P99 {:.2} ms   max {:.2} ms   goal P99 <= {GOAL_MS} ms   ({:.2}x the goal{})   {:.0} KiB   server CPU {:.2} ms a request",
            big.region,
            ms(b.p50),
            ms(b.p99),
            ms(b.max),
            ms(b.p99) / GOAL_MS,
            if ms(b.p99) <= GOAL_MS {
                ", met"
            } else {
                ", MISSED"
            },
            b.bytes / 1024.0,
            b.cpu_ms,
        );
        println!(
            "    {} (baseline):   P50 {:.2} ms   P99 {:.2} ms   max {:.2} ms   ({:.2}x the goal)   {:.0} KiB   server CPU {:.2} ms a request",
            small.region,
            ms(s.p50),
            ms(s.p99),
            ms(s.max),
            ms(s.p99) / GOAL_MS,
            s.bytes / 1024.0,
            s.cpu_ms,
        );
        println!(
            "    large / baseline:   P50 {:.2}x   P99 {:.2}x",
            b.p50.as_secs_f64() / s.p50.as_secs_f64(),
            b.p99.as_secs_f64() / s.p99.as_secs_f64()
        );
        if walk {
            println!(
                "    whole walk ({} pages): P50 {:.1} / {:.1} ms (large / baseline)",
                accesses.div_ceil(limit),
                ms(b.walk_p50),
                ms(s.walk_p50)
            );
        }
    }
    c.stop_all();
}

/// Appends `n` filler entries of `bytes` bytes to the stopped region's log
/// in `log`, with the log's own sequencer over its files; the log's size
/// after.
async fn append_filler(log: &Path, n: u64, bytes: usize, bar: &ProgressBar) -> u64 {
    let signer = tlog::keyfile::open(log).expect("the log's signing key");
    let storage = tlog::FsStorage::open(log).expect("the log's directory");
    let config = tlog::SequencerConfig {
        batch_interval: Duration::ZERO,
        max_batch: 65_536,
        queue: 262_144,
        ..Default::default()
    };
    let (seq, task) = tlog::sequencer::open(storage, signer, config)
        .await
        .expect("the log opens for writing");
    let mut pending = VecDeque::new();
    for i in 0..n {
        let mut e = format!("filler {i} ").into_bytes();
        e.resize(bytes.max(e.len()), b'.');
        pending.push_back(seq.submit(e).await.expect("queued"));
        while pending.len() > 200_000 {
            if let Some(p) = pending.pop_front() {
                p.wait().await.expect("sequenced");
                bar.inc(1);
            }
        }
    }
    while let Some(p) = pending.pop_front() {
        p.wait().await.expect("sequenced");
        bar.inc(1);
    }
    let size = seq.checkpoint().checkpoint.size;
    drop(seq);
    task.await.expect("the sequencer stops");
    size
}

/// `share` accesses naming `s.person` (the `from`-th on): of every ten,
/// six reads of their phone by support-dublin, two transfers to the US by
/// svc-reco-us naming them and three others, two reads by eng-beijing,
/// refused; each beside a read of someone else's phone. Four in flight.
async fn make_accesses(c: &cluster::Cluster, s: &Subject, from: u64, share: u64, users: u64) {
    let url = c.urls[s.region].clone();
    let mut requests = Vec::new();
    for n in from..from + share {
        let other = s.user(8 + n * 7 % (users - 8));
        let (principal, body) = match n % 10 {
            0..=5 => (
                "support-dublin",
                json!({"user_id": s.person, "fields": ["profile.phone"], "purpose": "support-ticket"}),
            ),
            6 | 7 => (
                "svc-reco-us",
                json!({"user_ids": [s.person, other, s.user(n % 5), s.user(5 + n % 2)],
                    "fields": ["device.language"], "purpose": "reco-training",
                    "destination": "US", "legal_basis": "adequacy:eu-us-dpf"}),
            ),
            _ => (
                "eng-beijing",
                json!({"user_id": s.person, "fields": ["profile.phone"], "purpose": "debugging"}),
            ),
        };
        let path = if principal == "svc-reco-us" {
            "/v1/transfer"
        } else {
            "/v1/read"
        };
        requests.push((principal, path, body, true));
        requests.push((
            "support-dublin",
            "/v1/read",
            json!({"user_id": other, "fields": ["profile.phone"], "purpose": "support-ticket"}),
            false,
        ));
    }
    let results: Vec<(u16, String, bool)> = futures::stream::iter(requests)
        .map(|(principal, path, body, theirs)| {
            let req = c
                .http
                .post(format!("{url}{path}"))
                .bearer_auth(token(principal))
                .json(&body);
            async move {
                let r = req.send().await.expect("an answer");
                let status = r.status().as_u16();
                (status, r.text().await.unwrap_or_default(), theirs)
            }
        })
        .buffer_unordered(4)
        .collect()
        .await;
    for (status, text, _) in &results {
        // Allowed (200) or refused (403), logged either way.
        let logged = serde_json::from_str::<Value>(text)
            .ok()
            .and_then(|v| v["log_index"].as_u64());
        assert!(
            matches!(status, 200 | 403) && logged.is_some(),
            "{}: {status} {text}",
            s.region
        );
    }
}

/// The size of the checkpoint `region` serves.
async fn log_size(c: &cluster::Cluster, region: &str) -> u64 {
    let text = c
        .http
        .get(format!("{}/log/checkpoint", c.urls[region]))
        .send()
        .await
        .expect("a checkpoint")
        .text()
        .await
        .expect("its text");
    text.lines()
        .nth(1)
        .and_then(|l| l.parse().ok())
        .expect("a size")
}

/// What one shape of request measured on one region.
struct Figures {
    p50: Duration,
    p99: Duration,
    max: Duration,
    /// Whole walks' P50 (walks only).
    walk_p50: Duration,
    /// Mean answer size, bytes.
    bytes: f64,
    /// The node's CPU per request, ms.
    cpu_ms: f64,
}

/// `requests` history requests for `s.person`, one at a time: each the
/// first page of `limit`, or (`walk`) the pages of walks through the whole
/// history by cursor, each walk checked to hold `accesses` entries.
async fn measure(
    c: &cluster::Cluster,
    s: &Subject,
    limit: u64,
    walk: bool,
    requests: u64,
    accesses: u64,
) -> Figures {
    let url = format!("{}/v1/subjects/accesses", c.urls[s.region]);
    let pid = c.pid(s.region).expect("the region's node runs");
    let cpu_before = cpu_seconds(pid).unwrap_or(0.0);
    let (mut latencies, mut walks, mut bytes) = (Vec::new(), Vec::new(), 0usize);
    let (mut seen, mut cursor, mut walk_start) = (0, None::<u64>, Instant::now());
    while (latencies.len() as u64) < requests {
        let mut body = json!({"user_id": s.person, "limit": limit});
        if let Some(before) = cursor {
            body["before"] = json!(before);
        }
        let t = Instant::now();
        let r = c
            .http
            .post(&url)
            .bearer_auth(token("app"))
            .json(&body)
            .send()
            .await
            .expect("an answer");
        let status = r.status();
        let answer = r.bytes().await.expect("a body");
        latencies.push(t.elapsed());
        bytes += answer.len();
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&answer));
        if !walk {
            continue;
        }
        let page: Value = serde_json::from_slice(&answer).expect("JSON");
        seen += page["accesses"].as_array().map_or(0, Vec::len) as u64;
        cursor = page["next_before"].as_u64();
        if cursor.is_none() {
            assert_eq!(seen, accesses, "{}: a walk saw every access", s.region);
            walks.push(walk_start.elapsed());
            seen = 0;
            walk_start = Instant::now();
        }
    }
    let cpu_ms =
        (cpu_seconds(pid).unwrap_or(0.0) - cpu_before) * 1e3 / latencies.len().max(1) as f64;
    latencies.sort_unstable();
    walks.sort_unstable();
    Figures {
        p50: percentile(&latencies, 0.5),
        p99: percentile(&latencies, 0.99),
        max: latencies.last().copied().unwrap_or_default(),
        walk_p50: if walks.is_empty() {
            Duration::ZERO
        } else {
            percentile(&walks, 0.5)
        },
        bytes: bytes as f64 / latencies.len().max(1) as f64,
        cpu_ms,
    }
}
