//! The log's one writer, three ways, side by side in one run: in this
//! process on journaled files (the embedded default), in this process on a
//! bucket of an S3-compatible server, and as its own process
//! (`serve --role sequencer`, TLS) on such a bucket, reached over the
//! network as a gateway reaches it (`node::sequencing::RemoteLog`:
//! batched, four requests in flight, every answer proven against the log's
//! key). Log entries of ~500 bytes from concurrent submitters; each `add` is
//! timed from the call to its return (a checkpoint covering it is durable,
//! and proven when remote). Prints throughput, add-to-checkpoint P50/P99,
//! and the ratios network / in-process and bucket / files.
//!
//! The S3-compatible server is moto's (`RESIDENCY_TEST_MOTO`, the path of
//! `moto_server`, as for the tests): a Python mock whose speed is not S3's
//! — its figures say what the code costs around it, not what S3 would.
//!
//! `cargo bench -p residency --features s3 --bench sequencer` (env:
//! ENTRIES, SUBMITTERS).

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use node::sequencing::RemoteLog;

mod common;
use common::{Process, env, percentile};
use tlog::note::{Signer, TYPE_ED25519};
use tlog::sequencer::{self, SequencerConfig};
use tlog::{FsStorage, S3Config, S3Storage, Sequencer};

const KEY: &str = "AKIABENCHKEY00000001";
const SECRET: &str = "bench-secret-access-key-000000000000001";
const NODE_TOKEN: &str = "node-token-0123456789abcdef";

/// The writer under test.
#[derive(Clone)]
enum Log {
    Local(Sequencer),
    Remote(Arc<RemoteLog>),
}

impl Log {
    async fn add(&self, entry: Vec<u8>) {
        match self {
            Log::Local(s) => s.add(entry).await.map(|_| ()),
            Log::Remote(r) => r.add(entry).await.map(|_| ()),
        }
        .expect("append failed");
    }
}

/// A logged aggregate (~500 bytes, canonical), its payload digest made
/// unique per entry: the sequencer takes only log entries.
const ENTRY: &str = r#"{"action":"aggregate","bundle":"60ab0b748d1ad98c3df0abce9bde94ad1d8a13db1fefcba8c1f2358800358e38","datasets":["device"],"decision":"allow","destination":"CN","destinations":["CN"],"fields":{"device.os_version":{"op":"truncate_version","parts":1}},"kind":"access","payload_digest":"DIGEST","policies":["engineering"],"principal":{"id":"eng-beijing","location":"CN"},"purpose":"analytics","reasons":[],"region":"eu-fr","subject_count":1200,"subjects":[],"subjects_root":"ba11f77479d9345b9f9d6bda32b482ad06afe8488562cdd78394a24346b92a58","time":"2026-12-06T05:02:11Z","v":2}"#;

async fn submitter(log: Log, next: Arc<AtomicU64>, total: u64) -> Vec<Duration> {
    let mut latencies = Vec::new();
    loop {
        let i = next.fetch_add(1, Ordering::Relaxed);
        if i >= total {
            return latencies;
        }
        let entry = ENTRY.replace("DIGEST", &format!("{i:064x}")).into_bytes();
        let start = Instant::now();
        log.add(entry).await;
        latencies.push(start.elapsed());
    }
}

/// Throughput (entries/s) and add latency P50, P99 of `total` entries
/// from `submitters` tasks.
async fn measure(log: Log, total: u64, submitters: u64) -> (f64, Duration, Duration) {
    let next = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let handles: Vec<_> = (0..submitters)
        .map(|_| tokio::spawn(submitter(log.clone(), next.clone(), total)))
        .collect();
    let mut latencies = Vec::new();
    for h in handles {
        latencies.extend(h.await.expect("submitter"));
    }
    let rate = total as f64 / start.elapsed().as_secs_f64();
    latencies.sort_unstable();
    (
        rate,
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
    )
}

fn s3_config(endpoint: &str, prefix: &str) -> S3Config {
    S3Config {
        endpoint: endpoint.to_owned(),
        bucket: "bench".into(),
        prefix: prefix.into(),
        region: "us-east-1".into(),
        access_key_id: KEY.into(),
        secret_access_key: SECRET.into(),
        allow_http: true,
        lease: Duration::from_secs(10),
    }
}

/// The node's settings: no batching window (group commit).
fn config() -> SequencerConfig {
    SequencerConfig {
        batch_interval: Duration::ZERO,
        ..SequencerConfig::default()
    }
}

/// A sequencer process for eu-fr's log in the bucket at `endpoint`
/// (prefix `net/log`), over TLS: it, its URL, and the client trusting it.
async fn sequencer_process(
    dir: &Path,
    endpoint: &str,
) -> (Process, String, reqwest::Client, tlog::Verifier) {
    tls::LocalCa::new(&["127.0.0.1"])
        .and_then(|ca| ca.write(&dir.join("tls")))
        .expect("a local CA");
    let policy = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/policy");
    let port = cluster::free_port().expect("a free port");
    let url = format!("https://127.0.0.1:{port}");
    let mut file = format!(
        "policy = {:?}\n[tls]\ncert = \"tls/cert.pem\"\nkey = \"tls/key.pem\"\nca = \"tls/ca.pem\"\n",
        policy.display().to_string()
    );
    for r in ["eu-fr", "eu-no", "us-tx"] {
        let p = cluster::free_port().expect("a free port");
        file.push_str(&format!(
            "[regions.{r}]\nlisten = \"127.0.0.1:{p}\"\nurl = \"https://127.0.0.1:{p}\"\n\
             store = \"sqlite:{r}/store\"\nlog = \"{r}/log\"\nkeys = \"{r}/region.keys\"\n\
             token = \"env:NODE_TOKEN\"\ntoken_sha256 = \"3ac5905b96ee62a075a0ae1aacfcdc146cf859a94991fafd2871a5a69dd0555d\"\n"
        ));
        if r == "eu-fr" {
            file.push_str(&format!(
                "log_bucket = {{ endpoint = \"{endpoint}\", bucket = \"bench\", prefix = \"net/log\", \
                 access_key_id = \"env:S3_KEY\", secret_access_key = \"env:S3_SECRET\", \
                 allow_http = true, lease_secs = 10 }}\nsequencers = [\"{url}\"]\n"
            ));
        }
    }
    std::fs::write(dir.join("cluster.toml"), file).expect("cluster file");
    let child = Command::new(env!("CARGO_BIN_EXE_residency"))
        .args(["serve", "--config", "cluster.toml", "--region", "eu-fr"])
        .args(["--role", "sequencer", "--init", "--listen"])
        .arg(format!("127.0.0.1:{port}"))
        .current_dir(dir)
        .env("RESIDENCY_LOG", "warn")
        .env("NODE_TOKEN", NODE_TOKEN)
        .env("S3_KEY", KEY)
        .env("S3_SECRET", SECRET)
        .stdin(Stdio::null())
        .spawn()
        .expect("residency serve --role sequencer starts");
    let process = Process(child);
    let http = tls::client(Some(&dir.join("tls/ca.pem")))
        .expect("a TLS client")
        .build()
        .expect("a client");
    let deadline = Instant::now() + Duration::from_secs(60);
    while !http
        .get(format!("{url}/healthz"))
        .send()
        .await
        .is_ok_and(|r| r.status() == 200)
    {
        assert!(Instant::now() < deadline, "the sequencer did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let vkey = std::fs::read_to_string(dir.join("eu-fr/log/log.vkey")).expect("log.vkey");
    let key = tlog::Verifier::parse(vkey.trim()).expect("the log's key");
    (process, url, http, key)
}

#[tokio::main]
async fn main() {
    tls::install_ring();
    // `cargo test --benches` runs benches with --bench absent: stay quick then.
    let quick = !std::env::args().any(|a| a == "--bench");
    let total = env("ENTRIES", if quick { 2_000 } else { 30_000 });
    let submitters = env("SUBMITTERS", 256);
    let plain = tls::client(None)
        .expect("a client")
        .build()
        .expect("a client");
    let Ok(bin) = std::env::var("RESIDENCY_TEST_MOTO") else {
        println!("RESIDENCY_TEST_MOTO (the path of moto_server) is not set: nothing measured");
        return;
    };
    let (_moto, endpoint) = common::moto(&plain, &bin, "bench").await;
    let dir = tempfile::tempdir().expect("a temporary directory");

    // In this process, journaled files.
    let files = {
        let root = dir.path().join("files");
        std::fs::create_dir_all(&root).expect("a log directory");
        let storage = FsStorage::open(&root).expect("a log directory");
        let signer = Signer::generate("bench.example/files", TYPE_ED25519).expect("a key");
        sequencer::create(&storage, &signer).await.expect("a log");
        let storage = storage.journaled(tlog::JOURNAL_SEGMENT_BYTES);
        let (seq, _task) = sequencer::open(storage, signer, config())
            .await
            .expect("a sequencer");
        measure(Log::Local(seq), total, submitters).await
    };

    // In this process, the bucket.
    let bucket = {
        let storage = S3Storage::new(&s3_config(&endpoint, "local/log")).expect("the bucket");
        let signer = Signer::generate("bench.example/bucket", TYPE_ED25519).expect("a key");
        sequencer::create(&storage, &signer).await.expect("a log");
        let (seq, _task) = sequencer::open(storage, signer, config())
            .await
            .expect("a sequencer");
        measure(Log::Local(seq), total, submitters).await
    };

    // A sequencer process on the bucket, over the network.
    let network = {
        let (_process, url, http, key) = sequencer_process(dir.path(), &endpoint).await;
        let storage = S3Storage::new(&s3_config(&endpoint, "net/log")).expect("the bucket");
        let latest = tlog::LogReader::new(storage)
            .checkpoint(&key)
            .await
            .expect("the log's checkpoint");
        let remote = RemoteLog::new(
            vec![url],
            NODE_TOKEN.into(),
            http,
            key,
            latest,
            Duration::from_secs(10),
        );
        measure(Log::Remote(Arc::new(remote)), total, submitters).await
    };

    println!(
        "sequencer: {total} log entries of ~500 bytes from {submitters} concurrent submitters, add-to-checkpoint latency:"
    );
    for (name, (rate, p50, p99)) in [
        ("in this process, journaled files", files),
        ("in this process, bucket (moto)", bucket),
        ("its own process over TLS, bucket (moto)", network),
    ] {
        println!(
            "  {name:<42} {rate:>8.0} entries/s   P50 {:>7.2} ms   P99 {:>7.2} ms",
            p50.as_secs_f64() * 1e3,
            p99.as_secs_f64() * 1e3
        );
    }
    println!(
        "  over the network / in this process (bucket): throughput {:.2}x   P99 {:.2}x",
        network.0 / bucket.0,
        network.2.as_secs_f64() / bucket.2.as_secs_f64()
    );
    println!(
        "  bucket / files (in this process): throughput {:.2}x   P99 {:.2}x   (moto is a Python mock: its speed is not S3's)",
        bucket.0 / files.0,
        bucket.2.as_secs_f64() / files.2.as_secs_f64()
    );
}
