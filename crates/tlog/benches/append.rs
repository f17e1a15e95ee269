//! Durable append throughput and add-to-checkpoint latency with concurrent
//! submitters, entries of ~300 bytes, on the local filesystem.
//!
//! Side by side: the log on plain file storage (a flush per file and
//! directory) and journaled (one flush of one journal record per write),
//! and a raw baseline: the same bytes appended to one file with one
//! `fdatasync` per batch of the same size — the least any durable log must
//! do. Prints all three and the ratios.
//!
//! `cargo bench -p tlog --bench append` (env: ENTRIES, SUBMITTERS, INTERVAL_MS).

use std::io::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tlog::note::{Signer, TYPE_ED25519};
use tlog::sequencer::{self, SequencerConfig};
use tlog::{FsStorage, Sequencer};

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

async fn submitter(seq: Sequencer, next: Arc<AtomicU64>, total: u64) -> Vec<Duration> {
    let mut latencies = Vec::new();
    let pad = "p".repeat(280);
    loop {
        let i = next.fetch_add(1, Ordering::Relaxed);
        if i >= total {
            return latencies;
        }
        let entry = format!("{{\"n\":{i:012},\"pad\":\"{pad}\"}}").into_bytes();
        let start = Instant::now();
        seq.add(entry).await.expect("append failed");
        latencies.push(start.elapsed());
    }
}

fn main() {
    // `cargo test --benches` runs benches with --bench absent: stay quick then.
    let quick = !std::env::args().any(|a| a == "--bench");
    let total = env("ENTRIES", if quick { 20_000 } else { 1_000_000 });
    let submitters = env("SUBMITTERS", 4096);
    let interval = Duration::from_millis(env("INTERVAL_MS", 10));
    let dir = tempfile::tempdir_in(
        std::env::var("BENCH_DIR").unwrap_or_else(|_| std::env::temp_dir().display().to_string()),
    )
    .unwrap();

    let rt = tokio::runtime::Runtime::new().unwrap();
    let run = |journaled: bool| {
        let dir = tempfile::tempdir_in(dir.path()).unwrap();
        rt.block_on(async {
            let storage = FsStorage::open(dir.path()).unwrap();
            let signer = Signer::generate("bench.example/log", TYPE_ED25519).unwrap();
            sequencer::create(&storage, &signer).await.unwrap();
            let storage = if journaled {
                storage.journaled(tlog::JOURNAL_SEGMENT_BYTES)
            } else {
                storage
            };
            let config = SequencerConfig {
                batch_interval: interval,
                ..SequencerConfig::default()
            };
            let (seq, task) = sequencer::open(storage, signer, config).await.unwrap();
            let next = Arc::new(AtomicU64::new(0));
            let start = Instant::now();
            let handles: Vec<_> = (0..submitters)
                .map(|_| tokio::spawn(submitter(seq.clone(), next.clone(), total)))
                .collect();
            let mut latencies = Vec::new();
            for h in handles {
                latencies.extend(h.await.unwrap());
            }
            let elapsed = start.elapsed();
            assert_eq!(seq.checkpoint().checkpoint.size, total);
            drop(seq);
            task.await.unwrap();
            latencies.sort();
            (total as f64 / elapsed.as_secs_f64(), latencies)
        })
    };
    let (rate, latencies) = run(false);
    let (journaled_rate, journaled_latencies) = run(true);
    let batches_estimate = (rate * interval.as_secs_f64()).max(1.0) as usize;

    // Raw baseline: same bytes, one file, one fdatasync per batch.
    let raw_path = dir.path().join("raw");
    let mut f = std::fs::File::create(&raw_path).unwrap();
    let entry = vec![b'p'; 300];
    let start = Instant::now();
    let mut written = 0u64;
    while written < total {
        let n = (batches_estimate as u64).min(total - written);
        let mut buf = Vec::with_capacity(n as usize * 302);
        for _ in 0..n {
            buf.extend_from_slice(&(entry.len() as u16).to_be_bytes());
            buf.extend_from_slice(&entry);
        }
        f.write_all(&buf).unwrap();
        f.sync_data().unwrap();
        written += n;
    }
    let raw_rate = total as f64 / start.elapsed().as_secs_f64();

    println!(
        "durable append, {total} entries of ~300 bytes, {submitters} concurrent submitters, batch interval {interval:?}"
    );
    let line = |name: &str, rate: f64, latencies: &[Duration]| {
        println!(
            "  {name} : {rate:>10.0} entries/s   add-to-checkpoint latency p50 {:?}  p99 {:?}  max {:?}",
            percentile(latencies, 0.50),
            percentile(latencies, 0.99),
            latencies.last().unwrap()
        );
    };
    line("tlog, plain files", rate, &latencies);
    line("tlog, journaled  ", journaled_rate, &journaled_latencies);
    println!(
        "  raw file+fsync   : {raw_rate:>10.0} entries/s   (batches of {batches_estimate}, no tiles, no signature)"
    );
    println!(
        "  ratio plain/raw {:.2}   journaled/raw {:.2}   journaled/plain {:.2} (throughput), {:.2} (p99 latency)",
        rate / raw_rate,
        journaled_rate / raw_rate,
        journaled_rate / rate,
        percentile(&journaled_latencies, 0.99).as_secs_f64()
            / percentile(&latencies, 0.99).as_secs_f64()
    );
    println!("  goals: >= 50000 entries/s, p99 <= 100ms");
}
