//! Cryptographic verification of a mirrored log, as `residency audit`
//! does it from its state directory: every entry hashed, every hash tile
//! recomputed and compared with the stored one, the root compared with a
//! checkpoint whose signature is checked. Goal: 10,000,000 entries in
//! ≤ 60 s on 2 cores. Beside it, the floor: reading the same bundles and
//! hashing the entries only (no tiles, no tree).
//!
//! `cargo bench -p monitor --bench verify` (env: ENTRIES, BENCH_DIR).

use std::time::Instant;

use tlog::edge::{Edge, TileData};
use tlog::tile::{TILE_WIDTH, TileId};
use tlog::verify::{self, Consumer};
use tlog::{Checkpoint, FsStorage, LogReader, SignedCheckpoint, Signer, Storage};

struct Count(u64);

impl Consumer for Count {
    fn entry(&mut self, _: u64, _: &[u8]) -> Result<(), String> {
        self.0 += 1;
        Ok(())
    }
    async fn tiles(&mut self, _: Vec<TileData>) -> Result<(), String> {
        Ok(())
    }
}

/// A log entry of realistic size (~520 bytes, like a transfer or a denial).
fn entry(i: u64) -> Vec<u8> {
    format!(
        r#"{{"action":"transfer","bundle":"4f0c2b0e9d1a7c3b5e6f8a9b0c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d","datasets":["account","device"],"decision":"allow","destination":"US","fields":{{"account.user_id":{{"domain":"people","op":"token"}},"device.language":{{"op":"keep"}},"device.os_version":{{"op":"truncate_version","parts":1}}}},"kind":"access","legal_basis":"adequacy:eu-us-dpf","payload_digest":"{i:064x}","policies":["reco-training-transfers"],"principal":{{"id":"svc-reco-us","location":"US"}},"purpose":"reco-training","reasons":[],"region":"eu-fr","subject_count":1,"subjects":["t1.{i:022}"],"time":"2026-11-25T04:00:00Z","v":1}}"#
    )
    .into_bytes()
}

fn main() {
    let quick = !std::env::args().any(|a| a == "--bench");
    let n: u64 = std::env::var("ENTRIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if quick { 20_000 } else { 10_000_000 });
    let dir = match std::env::var_os("BENCH_DIR") {
        Some(d) => tempfile::tempdir_in(d).unwrap(),
        None => tempfile::tempdir().unwrap(),
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let storage = FsStorage::open(dir.path()).unwrap();
        let signer = Signer::generate("bench.example/eu-fr", tlog::note::TYPE_ED25519).unwrap();
        let start = Instant::now();
        let mut edge = Edge::new();
        let mut files = Vec::new();
        let mut bytes = 0u64;
        for i in 0..n {
            let e = entry(i);
            bytes += e.len() as u64;
            edge.push(&e, &mut files).unwrap();
            if files.len() >= 2048 || i + 1 == n {
                if i + 1 == n {
                    files.extend(edge.partial_tiles());
                }
                let batch = files.drain(..).map(|(id, d)| (id.path(), d)).collect();
                storage.write(batch).await.unwrap();
            }
        }
        let cp = Checkpoint {
            origin: signer.name().to_owned(),
            size: n,
            root: edge.root().unwrap(),
            extensions: Vec::new(),
        }
        .sign(&signer)
        .unwrap();
        storage
            .write(vec![("checkpoint".into(), cp.to_text().into_bytes())])
            .await
            .unwrap();
        println!(
            "built a {n}-entry log ({:.2} GB of entries) in {:.1?}",
            bytes as f64 / 1e9,
            start.elapsed()
        );
        let reader = LogReader::new(storage);

        // The floor: read every bundle and hash its entries.
        let t = Instant::now();
        let mut hashed = 0u64;
        for b in 0..n.div_ceil(TILE_WIDTH) {
            let id = TileId::entries_at(b, n).unwrap();
            for e in reader.read_entries(id).await.unwrap() {
                std::hint::black_box(tlog::leaf_hash(&e));
                hashed += 1;
            }
        }
        let floor = t.elapsed();
        assert_eq!(hashed, n);

        // The verification.
        let t = Instant::now();
        let raw = reader.storage().read("checkpoint").await.unwrap().unwrap();
        let cp = SignedCheckpoint::open(&raw, &signer.verifier(), &[]).unwrap();
        let mut count = Count(0);
        verify::extend(&reader, &mut Edge::new(), &cp.checkpoint, &mut count)
            .await
            .unwrap();
        let took = t.elapsed();
        assert_eq!(count.0, n);

        let rate = n as f64 / took.as_secs_f64();
        println!("verification of {n} entries (files in the page cache):");
        println!(
            "  full verification   {:>8.2} s  {:>12.0} entries/s  ({:.0} s per 10M)",
            took.as_secs_f64(),
            rate,
            1e7 / rate
        );
        println!(
            "  read + hash only    {:>8.2} s  {:>12.0} entries/s",
            floor.as_secs_f64(),
            n as f64 / floor.as_secs_f64()
        );
        println!(
            "  ratio verification / floor: {:.2}",
            took.as_secs_f64() / floor.as_secs_f64()
        );
        println!("  goal: 10,000,000 entries in <= 60 s");
    });
}
