//! What the benches against running processes share: settings from the
//! environment, child processes, synthetic events, and the two loads —
//! ingest from a few clients, one-subject transfers at a fixed rate —
//! spread round-robin over the URLs given.
#![allow(dead_code)] // each bench uses its own part

use std::process::Child;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;

/// `name` from the environment, or `default`.
pub(crate) fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The `p` quantile of sorted durations.
pub(crate) fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// CPU seconds (user + system) of process `pid`, from `/proc`.
pub(crate) fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name's closing parenthesis; utime and
    // stime are the 14th and 15th fields of the line.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    // `/proc` counts in USER_HZ, 100 on Linux whatever the kernel's HZ.
    Some(ticks / 100.0)
}

/// moto's S3 server (`bin`) on a free port of loopback, with bucket
/// `bucket` made: it, and its endpoint.
pub(crate) async fn moto(http: &reqwest::Client, bin: &str, bucket: &str) -> (Process, String) {
    let port = cluster::free_port().expect("a free port");
    let child = std::process::Command::new(bin)
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("moto_server starts");
    let moto = Process(child);
    let endpoint = format!("http://127.0.0.1:{port}");
    // Making the bucket is the readiness check.
    for _ in 0..300 {
        if let Ok(r) = http.put(format!("{endpoint}/{bucket}")).send().await
            && r.status().is_success()
        {
            return (moto, endpoint);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("moto_server did not answer");
}

/// A child process, killed when dropped.
pub(crate) struct Process(pub(crate) Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Event `i` of the synthetic French users (four per user: device,
/// profile, social, account).
pub(crate) fn event(i: u64) -> serde_json::Value {
    let user = format!("user-{:07}", i / 4);
    match i % 4 {
        0 => {
            json!({"user_id": user, "country": "FR", "dataset": "device", "record_id": format!("d{i}"),
                    "time": 1_764_000_000 + i, "fields": {"language": "fr-FR", "os_version": "17.4.1"}})
        }
        1 => {
            json!({"user_id": user, "country": "FR", "dataset": "profile", "record_id": format!("p{i}"),
                    "time": 1_764_000_000 + i, "fields": {"phone": format!("+33 6 {:08}", i), "address": "12 rue des Lilas, 75011 Paris",
                    "about": format!("Bonjour ! Joignable au +33 6 1{:07} ou sur user{i}@example.fr, le soir de préférence. Remboursements : FR76 3000 6000 0112 3456 7890 189. Merci.", i % 10_000_000)}})
        }
        2 => {
            json!({"user_id": user, "country": "FR", "dataset": "social", "record_id": format!("s{i}"),
                    "time": 1_764_000_000 + i, "fields": {"friends": format!("user-{:07}", i / 4 + 1), "contacts": "c@example.org"}})
        }
        _ => {
            json!({"user_id": user, "country": "FR", "dataset": "account", "record_id": format!("a{i}"),
                    "time": 1_764_000_000 + i, "fields": {"user_id": user}})
        }
    }
}

/// Events `0..events` as ingest bodies of `batch` events, made before
/// any clock starts.
pub(crate) fn ingest_bodies(events: u64, batch: u64) -> Vec<String> {
    (0..events)
        .step_by(batch as usize)
        .map(|from| {
            let evs: Vec<_> = (from..(from + batch).min(events)).map(event).collect();
            json!({ "events": evs }).to_string()
        })
        .collect()
}

/// Posts every body to `/v1/ingest` from `clients` concurrent clients,
/// each taking the URLs in turn; panics on any answer but 202. The wall
/// time it took.
pub(crate) async fn ingest(
    http: &reqwest::Client,
    urls: &[String],
    token: &str,
    bodies: Vec<String>,
    clients: u64,
) -> Duration {
    let bodies = Arc::new(Mutex::new(bodies));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for client in 0..clients as usize {
        let (http, urls, bodies) = (http.clone(), urls.to_vec(), bodies.clone());
        let token = token.to_owned();
        tasks.push(tokio::spawn(async move {
            let mut turn = client;
            loop {
                let Some(body) = bodies.lock().expect("bodies").pop() else {
                    break;
                };
                let url = &urls[turn % urls.len()];
                turn += 1;
                let r = http
                    .post(format!("{url}/v1/ingest"))
                    .bearer_auth(&token)
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .await
                    .expect("ingest");
                assert_eq!(r.status(), 202, "{}", r.text().await.unwrap_or_default());
            }
        }));
    }
    for t in tasks {
        t.await.expect("a client");
    }
    start.elapsed()
}

/// What a run of one-subject transfers measured.
pub(crate) struct Transfers {
    /// Each request's latency from its scheduled start, sorted.
    pub(crate) latencies: Vec<Duration>,
    /// Requests not answered 200 (or not answered).
    pub(crate) failed: u64,
    /// Requests per second achieved.
    pub(crate) achieved: f64,
}

/// Transfers of one subject's records (of `subjects` users) at `rate`
/// requests/s for `seconds`, open loop (latency counted from each
/// request's scheduled start, so a slow server cannot hide its queue),
/// taking the URLs in turn.
pub(crate) async fn transfers(
    http: &reqwest::Client,
    urls: &[String],
    token: &str,
    rate: u64,
    seconds: u64,
    subjects: u64,
) -> Transfers {
    let total = rate * seconds;
    let interval = Duration::from_secs_f64(1.0 / rate as f64);
    let begin = Instant::now() + Duration::from_millis(100);
    // Paced by a thread of its own, not by tokio's timer: that fires on
    // millisecond ticks, starting each request up to 1 ms after its
    // scheduled time — latency counted from the schedule would charge it
    // to the server. A thread's sleep overshoots by tens of µs.
    let runtime = tokio::runtime::Handle::current();
    let (http, urls, token) = (http.clone(), urls.to_vec(), token.to_owned());
    let pacer = std::thread::spawn(move || {
        let mut handles = Vec::with_capacity(total as usize);
        for n in 0..total {
            let scheduled = begin + interval * n as u32;
            if let Some(wait) = scheduled.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
            let http = http.clone();
            let url = urls[n as usize % urls.len()].clone();
            let token = token.clone();
            let body = json!({
                "user_ids": [format!("user-{:07}", (n * 7919) % subjects)],
                "fields": ["device.language", "device.os_version", "social.friends", "account.user_id"],
                "purpose": "reco-training", "legal_basis": "adequacy:eu-us-dpf",
            })
            .to_string();
            handles.push(runtime.spawn(async move {
                let sent = http
                    .post(format!("{url}/v1/transfer"))
                    .bearer_auth(token)
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .await;
                let ok = match sent {
                    Ok(r) => {
                        let ok = r.status() == 200;
                        let _ = r.bytes().await;
                        ok
                    }
                    Err(_) => false,
                };
                (scheduled.elapsed(), ok)
            }));
        }
        handles
    });
    let handles = tokio::task::spawn_blocking(move || pacer.join().expect("the pacer"))
        .await
        .expect("the pacer");
    let mut latencies = Vec::with_capacity(handles.len());
    let mut failed = 0;
    for h in handles {
        let (d, ok) = h.await.expect("a request");
        latencies.push(d);
        failed += u64::from(!ok);
    }
    let achieved = total as f64 / begin.elapsed().as_secs_f64();
    latencies.sort_unstable();
    Transfers {
        latencies,
        failed,
        achieved,
    }
}
