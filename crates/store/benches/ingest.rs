//! Batch ingest of encrypted records into SQLite, beside a raw insert of
//! the same rows without encryption, in one run: goal encrypted ≥ 50% of
//! raw, and ≥ 100,000 records/s in batches of 1,000.
//!
//! `cargo bench -p store --bench ingest` (env: RECORDS, BATCH).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use policy::catalog::Catalog;
use store::keys::FileKeyProvider;
use store::{Event, SqliteStore};

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let quick = !std::env::args().any(|a| a == "--bench");
    let n = env("RECORDS", if quick { 20_000 } else { 500_000 });
    let batch = env("BATCH", 1_000);
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/policy/catalog.toml"),
    )
    .expect("catalog");
    let catalog = Arc::new(Catalog::from_toml("catalog.toml", &text).expect("catalog"));
    // Realistic mix: 10 records per subject over the profile and device datasets.
    let events: Vec<Event> = (0..n)
        .map(|i| {
            let user = format!("user-{:08}", i / 10);
            if i % 2 == 0 {
                Event {
                    user_id: user,
                    dataset: "profile".into(),
                    record_id: format!("p{i}"),
                    time: 1_700_000_000 + i as i64,
                    fields: BTreeMap::from([
                        (
                            "phone".to_string(),
                            format!(
                                "+33 6 {:02} {:02} {:02} {:02}",
                                i % 97,
                                i % 89,
                                i % 83,
                                i % 79
                            ),
                        ),
                        (
                            "address".to_string(),
                            format!("{} rue des Lilas, 75011 Paris", i % 300),
                        ),
                    ]),
                }
            } else {
                Event {
                    user_id: user,
                    dataset: "device".into(),
                    record_id: format!("d{i}"),
                    time: 1_700_000_000 + i as i64,
                    fields: BTreeMap::from([
                        ("language".to_string(), "fr-FR".to_string()),
                        ("os_version".to_string(), format!("17.{}.{}", i % 7, i % 3)),
                    ]),
                }
            }
        })
        .collect();

    // Encrypted, through the store.
    let dir = tempfile::tempdir().expect("temp dir");
    let keys = Arc::new(FileKeyProvider::create(&dir.path().join("region.keys")).expect("keys"));
    let store = SqliteStore::open(dir.path(), catalog, keys).expect("store");
    let start = Instant::now();
    for chunk in events.chunks(batch) {
        store.ingest("eu-fr", chunk).expect("ingest");
    }
    let enc = n as f64 / start.elapsed().as_secs_f64();

    // Raw: the same rows, same schema and durability settings, values in clear.
    let raw_dir = tempfile::tempdir().expect("temp dir");
    let db = rusqlite::Connection::open(raw_dir.path().join("raw.sqlite")).expect("raw db");
    db.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;
         CREATE TABLE records (subject TEXT NOT NULL, dataset TEXT NOT NULL, record_id TEXT NOT NULL, time INTEGER NOT NULL,
                               fields TEXT NOT NULL, PRIMARY KEY (subject, dataset, record_id));
         CREATE TABLE subjects (subject TEXT PRIMARY KEY, home TEXT NOT NULL);",
    )
    .expect("raw schema");
    let start = Instant::now();
    for chunk in events.chunks(batch) {
        let tx = db.unchecked_transaction().expect("tx");
        {
            let mut ins = tx
                .prepare_cached("INSERT OR REPLACE INTO records VALUES (?1, ?2, ?3, ?4, ?5)")
                .expect("stmt");
            let mut subj = tx
                .prepare_cached("INSERT OR IGNORE INTO subjects VALUES (?1, ?2)")
                .expect("stmt");
            for e in chunk {
                let doc = serde_json::to_string(&e.fields).expect("json");
                ins.execute(rusqlite::params![
                    e.user_id,
                    e.dataset,
                    e.record_id,
                    e.time,
                    doc
                ])
                .expect("insert");
                subj.execute(rusqlite::params![e.user_id, "eu-fr"])
                    .expect("insert");
            }
        }
        tx.commit().expect("commit");
    }
    let raw = n as f64 / start.elapsed().as_secs_f64();
    println!("SQLite batch ingest, {n} records in batches of {batch}, WAL, synchronous=FULL:");
    println!("  encrypted (store): {enc:>10.0} records/s");
    println!("  raw, same rows   : {raw:>10.0} records/s");
    println!(
        "  ratio            : {:.2}   (goals: >= 0.50 of raw, >= 100000 records/s)",
        enc / raw
    );
}
