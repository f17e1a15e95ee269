//! Keyed-token throughput on one core: goal ≥ 1,000,000 tokens/s.
//!
//! `cargo bench -p pseudo --bench tokens`. Side by side: a raw HMAC-SHA-256
//! of the same inputs (the floor a keyed token can reach) and the ratio.

use std::hint::black_box;
use std::time::Instant;

use pseudo::token::{TokenKey, hmac_sha256};

fn main() {
    let quick = !std::env::args().any(|a| a == "--bench");
    let n: usize = if quick { 100_000 } else { 5_000_000 };
    let values: Vec<String> = (0..10_000)
        .map(|i| format!("user-{i:08}@example.com"))
        .collect();
    let key = TokenKey::new(1, [7; 32]);

    let mut out = String::with_capacity(32);
    let start = Instant::now();
    for i in 0..n {
        out.clear();
        key.token_into("reco-training", &values[i % values.len()], &mut out);
        black_box(&out);
    }
    let token_rate = n as f64 / start.elapsed().as_secs_f64();

    let start = Instant::now();
    for i in 0..n {
        black_box(hmac_sha256(&[7; 32], values[i % values.len()].as_bytes()));
    }
    let raw_rate = n as f64 / start.elapsed().as_secs_f64();

    println!("keyed tokens, one core, {n} values of ~25 bytes:");
    println!("  token (HMAC-SHA-256 + base64url): {token_rate:>12.0} tokens/s");
    println!("  raw HMAC-SHA-256 baseline       : {raw_rate:>12.0} MACs/s");
    println!(
        "  ratio token/raw                 : {:.2}",
        token_rate / raw_rate
    );
    println!("  goal: >= 1,000,000 tokens/s per core");
}
