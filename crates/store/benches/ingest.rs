//! Batch ingest of encrypted records, beside a raw insert of the same rows
//! without encryption, in one run, into SQLite and into PostgreSQL. Goals:
//! encrypted ≥ 50% of raw, and ≥ 100,000 records/s into SQLite in batches
//! of 1,000.
//!
//! The three run batch by batch in turn, each timed on its own, so drift in
//! the machine weighs on all alike.
//!
//! Raw goes through the same backend call (`Backend::put_records`, same
//! schema, same transactions and durability) with the user id and values
//! in clear, so the ratio is the cost of pseudonyms, data keys and sealing.
//! Every subject is new (10 records each), the costliest case for keys.
//!
//! `cargo bench -p store --bench ingest` (env: RECORDS, BATCH, and
//! RESIDENCY_BENCH_POSTGRES, a connection string, default the local
//! server's socket and database `test`; PostgreSQL is skipped, saying so,
//! if it cannot be reached).

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use policy::catalog::Catalog;
use store::backend::{RecordStream, SealedRecord};
use store::keys::FileKeyProvider;
use store::{Backend, Event, PgBackend, SqliteBackend, Store};

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A realistic mix: 10 records per subject over the profile and device datasets.
fn events(n: usize) -> Vec<Event> {
    (0..n)
        .map(|i| {
            let user_id = format!("user-{:08}", i / 10);
            let time = 1_700_000_000 + i as i64;
            if i % 2 == 0 {
                Event {
                    user_id,
                    country: "FR".into(),
                    dataset: "profile".into(),
                    record_id: format!("p{i}"),
                    time,
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
                    user_id,
                    country: "FR".into(),
                    dataset: "device".into(),
                    record_id: format!("d{i}"),
                    time,
                    fields: BTreeMap::from([
                        ("language".to_string(), "fr-FR".to_string()),
                        ("os_version".to_string(), format!("17.{}.{}", i % 7, i % 3)),
                    ]),
                }
            }
        })
        .collect()
}

/// The same rows, in clear: every value in the public column, subjects
/// (named by `subject`) numbered in order of first sight. Returns each
/// batch's new subjects, the numbering after it, and its rows.
type RawBatch = (Vec<(String, u64, Option<String>)>, u64, Vec<SealedRecord>);

/// How a raw baseline names subjects.
type Naming<'a> = &'a dyn Fn(&str) -> String;

fn clear_batches(events: &[Event], batch: usize, subject: Naming<'_>) -> Vec<RawBatch> {
    let mut sids: HashMap<&str, u64> = HashMap::new();
    events
        .chunks(batch)
        .map(|chunk| {
            let mut new = Vec::new();
            let rows = chunk
                .iter()
                .map(|e| {
                    let next = sids.len() as u64;
                    let sid = *sids.entry(&e.user_id).or_insert_with(|| {
                        new.push((subject(&e.user_id), next, None));
                        next
                    });
                    SealedRecord {
                        sid,
                        dataset: e.dataset.clone(),
                        record_id: e.record_id.clone(),
                        time: e.time,
                        public: serde_json::to_string(&e.fields).expect("json"),
                        sealed: Vec::new(),
                    }
                })
                .collect();
            (new, sids.len() as u64, rows)
        })
        .collect()
}

/// Records per second: encrypted through `store`; raw into `raw` with the
/// app's user ids; raw into `raw_pseudonymised` with the pseudonyms the
/// store keys subjects by (the rows exactly as stored, minus encryption).
async fn measure<B: Backend>(
    store: Store<B>,
    raw: B,
    raw_pseudonymised: B,
    events: &[Event],
    batch: usize,
) -> [f64; 3] {
    let app_ids = |u: &str| u.to_owned();
    let pseudonyms = |u: &str| store.subject_ref(u);
    // Rows are prepared outside the clock: raw pays for no work of its own.
    let raw_batches = clear_batches(events, batch, &app_ids);
    let raw_p_batches = clear_batches(events, batch, &pseudonyms);
    // The three run batch by batch in turn, so that drift in the machine's
    // state (page cache, disk, other load) weighs on each alike.
    let mut spent = [Duration::ZERO; 3];
    for ((chunk, raw_batch), raw_p_batch) in
        events.chunks(batch).zip(raw_batches).zip(raw_p_batches)
    {
        let start = Instant::now();
        store
            .ingest("eu-fr", chunk)
            .await
            .expect("encrypted ingest");
        spent[0] += start.elapsed();
        for (i, (backend, (new, next, rows))) in
            [(&raw, raw_batch), (&raw_pseudonymised, raw_p_batch)]
                .into_iter()
                .enumerate()
        {
            let start = Instant::now();
            backend
                .put_records("eu-fr".into(), new, next, RecordStream::of(rows))
                .await
                .expect("raw insert");
            spent[i + 1] += start.elapsed();
        }
    }
    spent.map(|d| events.len() as f64 / d.as_secs_f64())
}

fn report(what: &str, n: usize, batch: usize, [enc, raw, raw_p]: [f64; 3], floor: Option<f64>) {
    println!("{what}, {n} records in batches of {batch}:");
    println!("  encrypted (store)                 : {enc:>10.0} records/s");
    println!(
        "  raw, app user ids in clear        : {raw:>10.0} records/s   ratio {:.2}",
        enc / raw
    );
    println!(
        "  raw, pseudonymised ids (as stored): {raw_p:>10.0} records/s   ratio {:.2}",
        enc / raw_p
    );
    let floor = floor.map_or(String::new(), |f| {
        format!("; encrypted >= {f:.0} records/s")
    });
    println!("  goals: encrypted >= 0.50 of raw{floor}");
}

async fn postgres(
    url: &str,
    catalog: Arc<Catalog>,
    keys: Arc<FileKeyProvider>,
    events: &[Event],
    batch: usize,
) -> Result<[f64; 3], String> {
    let config: tokio_postgres::Config = url.parse().map_err(|e| format!("{e}"))?;
    let (admin, conn) = config
        .connect(tokio_postgres::NoTls)
        .await
        .map_err(|e| format!("{e}"))?;
    tokio::spawn(conn);
    let schema = format!("bench_{}", std::process::id());
    const HALVES: [&str; 6] = ["enc", "enc_keys", "raw", "raw_keys", "rawp", "rawp_keys"];
    let mut configs = Vec::new();
    for half in HALVES {
        admin
            .batch_execute(&format!(
                "DROP SCHEMA IF EXISTS {schema}_{half} CASCADE; CREATE SCHEMA {schema}_{half};"
            ))
            .await
            .map_err(|e| format!("{e}"))?;
        let mut c = config.clone();
        c.options(format!("-c search_path={schema}_{half}"));
        configs.push(c);
    }
    let enc = PgBackend::with_configs(&configs[0], &configs[1])
        .await
        .map_err(|e| e.to_string())?;
    let raw = PgBackend::with_configs(&configs[2], &configs[3])
        .await
        .map_err(|e| e.to_string())?;
    let raw_p = PgBackend::with_configs(&configs[4], &configs[5])
        .await
        .map_err(|e| e.to_string())?;
    let out = measure(Store::new(enc, catalog, keys), raw, raw_p, events, batch).await;
    for half in HALVES {
        let _ = admin
            .batch_execute(&format!("DROP SCHEMA {schema}_{half} CASCADE"))
            .await;
    }
    Ok(out)
}

#[tokio::main]
async fn main() {
    let quick = !std::env::args().any(|a| a == "--bench");
    let n = env("RECORDS", if quick { 20_000 } else { 500_000 });
    let batch = env("BATCH", 1_000);
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/policy/catalog.toml"),
    )
    .expect("catalog");
    let catalog = Arc::new(Catalog::from_toml("catalog.toml", &text).expect("catalog"));
    let events = events(n);
    let keys_dir = tempfile::tempdir().expect("temp dir");
    let keys =
        Arc::new(FileKeyProvider::create(&keys_dir.path().join("region.keys")).expect("keys"));

    let (enc_dir, raw_dir) = (
        tempfile::tempdir().expect("temp dir"),
        tempfile::tempdir().expect("temp dir"),
    );
    let store = Store::new(
        SqliteBackend::open(enc_dir.path()).expect("store"),
        catalog.clone(),
        keys.clone(),
    );
    let raw = SqliteBackend::open(raw_dir.path()).expect("raw store");
    let raw_p_dir = tempfile::tempdir().expect("temp dir");
    let raw_p = SqliteBackend::open(raw_p_dir.path()).expect("raw store");
    let sqlite = measure(store, raw, raw_p, &events, batch).await;
    report(
        "SQLite (WAL, synchronous=FULL)",
        n,
        batch,
        sqlite,
        Some(100_000.0),
    );

    let url = std::env::var("RESIDENCY_BENCH_POSTGRES")
        .unwrap_or_else(|_| "host=/var/run/postgresql dbname=test".into());
    match postgres(&url, catalog, keys, &events, batch).await {
        Ok(pg) => report("PostgreSQL (synchronous_commit=on)", n, batch, pg, None),
        Err(e) => println!("PostgreSQL: skipped, cannot use {url:?}: {e}"),
    }
}
