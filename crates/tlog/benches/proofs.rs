//! Inclusion and consistency proof generation from tiles on a log of
//! 1,000,000 entries, read from the local filesystem for every proof (no
//! cache), and proof verification. Prints P50/P99 per operation.
//!
//! `cargo bench -p tlog --bench proofs` (env: ENTRIES, PROOFS).

use std::time::{Duration, Instant};

use tlog::edge::Edge;
use tlog::merkle::{verify_consistency, verify_inclusion};
use tlog::{FsStorage, LogReader, Storage, leaf_hash};

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn report(name: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let p = |q: f64| samples[((samples.len() as f64 - 1.0) * q).round() as usize];
    println!(
        "  {name:<28} p50 {:>9.1?}  p99 {:>9.1?}  max {:>9.1?}",
        p(0.5),
        p(0.99),
        samples.last().unwrap()
    );
}

struct XorShift(u64);
impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn main() {
    let quick = !std::env::args().any(|a| a == "--bench");
    let n = env("ENTRIES", if quick { 70_000 } else { 1_000_000 });
    let proofs = env("PROOFS", if quick { 200 } else { 10_000 });
    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let storage = FsStorage::open(dir.path()).unwrap();
        let start = Instant::now();
        let mut edge = Edge::new();
        let mut files = Vec::new();
        let mut roots = Vec::new();
        let pad = "p".repeat(280);
        for i in 0..n {
            edge.push(format!("{i:012}{pad}").as_bytes(), &mut files)
                .unwrap();
            // Checkpoint-sized steps leave partial tiles behind, as a live log does.
            if (i + 1) % 65_537 == 0 || i + 1 == n {
                files.extend(edge.partial_tiles());
                storage
                    .write(files.drain(..).map(|(id, d)| (id.path(), d)).collect())
                    .await
                    .unwrap();
                roots.push((edge.size(), edge.root().unwrap()));
            }
        }
        println!("built a {n}-entry tiled log in {:.1?}", start.elapsed());
        let reader = LogReader::new(storage);
        let root = edge.root().unwrap();
        let mut rng = XorShift(0x9E3779B97F4A7C15);

        let (mut gen_inc, mut ver_inc, mut gen_con, mut ver_con) = (vec![], vec![], vec![], vec![]);
        for _ in 0..proofs {
            let index = rng.next() % n;
            let t = Instant::now();
            let proof = reader.inclusion_proof(index, n).await.unwrap();
            gen_inc.push(t.elapsed());
            let leaf = leaf_hash(format!("{index:012}{pad}").as_bytes());
            let t = Instant::now();
            verify_inclusion(&leaf, index, n, &proof, &root).unwrap();
            ver_inc.push(t.elapsed());

            let (m, m_root) = roots[(rng.next() % roots.len() as u64) as usize];
            let t = Instant::now();
            let proof = reader.consistency_proof(m, n).await.unwrap();
            gen_con.push(t.elapsed());
            let t = Instant::now();
            verify_consistency(m, n, &proof, &m_root, &root).unwrap();
            ver_con.push(t.elapsed());
        }
        println!("proofs on a log of {n} entries, {proofs} each, tiles read from disk every time:");
        report("inclusion proof from tiles", gen_inc);
        report("inclusion verification", ver_inc);
        report("consistency proof from tiles", gen_con);
        report("consistency verification", ver_con);
        println!("  goal: generation p99 < 1ms");
    });
}
