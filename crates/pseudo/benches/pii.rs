//! PII detect + redact (tokenise every finding) over a corpus of short mixed
//! records generated with a fixed seed, on one core: records/s, MB/s, and
//! precision and recall per entity type against the generator's labels.
//!
//! With `PRESIDIO_PYTHON` set to a Python that has `presidio-analyzer`
//! (bench/pii.sh makes one), the same records go through Microsoft
//! Presidio's analyzer in the same run and both are printed side by side.
//!
//! `cargo bench -p pseudo --bench pii` (env: RECORDS, PRESIDIO_RECORDS).

#[path = "pii/corpus.rs"]
mod corpus;

use std::collections::BTreeMap;
use std::io::Write as _;
use std::time::Instant;

use pseudo::Keys;
use pseudo::Transform;
use pseudo::pii::{Analyzer, RedactionPlan, redact};

use corpus::{Label, Record};

/// (entity, start, end) in characters.
type Span = (String, usize, usize);

#[derive(Default, Clone, Copy)]
struct Counts {
    tp: usize,
    fp: usize,
    fn_: usize,
}

/// Precision and recall per entity type: a finding is a true positive when
/// a label of the same type overlaps it.
fn score(records: &[Record], found: &[Vec<Span>], entities: &[&str]) -> BTreeMap<String, Counts> {
    let mut m: BTreeMap<String, Counts> = entities
        .iter()
        .map(|e| (e.to_string(), Counts::default()))
        .collect();
    for (r, f) in records.iter().zip(found) {
        for (e, s, t) in f {
            let Some(c) = m.get_mut(e) else { continue };
            if r.labels
                .iter()
                .any(|l| &l.entity == e && l.start < *t && *s < l.end)
            {
                c.tp += 1;
            } else {
                c.fp += 1;
            }
        }
        for Label { entity, start, end } in &r.labels {
            let Some(c) = m.get_mut(entity) else { continue };
            if !f
                .iter()
                .any(|(e, s, t)| e == entity && *s < *end && *start < *t)
            {
                c.fn_ += 1;
            }
        }
    }
    m
}

fn pr(c: Counts) -> (f64, f64) {
    let p = if c.tp + c.fp == 0 {
        1.0
    } else {
        c.tp as f64 / (c.tp + c.fp) as f64
    };
    let r = if c.tp + c.fn_ == 0 {
        1.0
    } else {
        c.tp as f64 / (c.tp + c.fn_) as f64
    };
    (p, r)
}

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let quick = !std::env::args().any(|a| a == "--bench");
    let n = env("RECORDS", if quick { 2_000 } else { 200_000 });
    let records = corpus::generate(n, 0x5EED);
    let avg_chars = records
        .iter()
        .map(|r| r.text.chars().count())
        .sum::<usize>() as f64
        / n as f64;

    let analyzer = Analyzer::new();
    let keys = Keys::derive(1, &[9; 32]);
    let plan = RedactionPlan {
        default: Some(Box::new(Transform::Token {
            domain: "bench".into(),
        })),
        ..Default::default()
    };
    // This machine kind's speed varies by several per cent from run to
    // run: the figure is the median of three runs, each over records not
    // seen before (the lazy automata keep building states on new text),
    // after a warm-up over as many others (lazy statics, phone metadata,
    // the automata's common states: a running node has them).
    // Each run's (seconds, bytes), as the corpora differ slightly in size.
    let tokenise = |records: &[Record]| {
        let start = Instant::now();
        for r in records {
            let f = analyzer.analyze(&r.text);
            std::hint::black_box(redact(&r.text, &f, &plan, &keys));
        }
        let bytes: usize = records.iter().map(|r| r.text.len()).sum();
        (start.elapsed().as_secs_f64(), bytes)
    };
    tokenise(&corpus::generate(n, 0x3A53));
    let mut runs = vec![tokenise(&records)];
    for seed in [0x5EED + 1, 0x5EED + 2] {
        runs.push(tokenise(&corpus::generate(n, seed)));
    }
    runs.sort_by(|a, b| a.0.total_cmp(&b.0));
    let (secs, run_bytes) = runs[1];
    let ours_rate = n as f64 / secs;
    println!("PII detect + tokenise, {n} records (avg {avg_chars:.0} characters), one core:");
    println!(
        "  residency: {ours_rate:>10.0} records/s  {:>6.1} MB/s   (median of {})",
        run_bytes as f64 / secs / 1e6,
        runs.iter()
            .map(|(s, _)| format!("{:.0}", n as f64 / s))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let found: Vec<Vec<Span>> = records
        .iter()
        .map(|r| {
            analyzer
                .analyze(&r.text)
                .into_iter()
                .map(|f| (f.entity_type.to_string(), f.start, f.end))
                .collect()
        })
        .collect();

    sparse(&analyzer, quick);

    let ours = score(&records, &found, &pseudo::pii::ENTITIES);
    let presidio = std::env::var("PRESIDIO_PYTHON").ok().map(|python| {
        let m = env("PRESIDIO_RECORDS", 2_000).min(n);
        run_presidio(&python, &records[..m])
    });

    let mut shared = Vec::new();
    if let Some((rate, pfound, m)) = &presidio {
        println!(
            "  presidio : {rate:>10.0} records/s  (median of 3 passes over the first {m} records; analyzer only, {} entity types enabled)",
            pseudo::pii::ENTITIES.len()
        );
        println!(
            "  ratio residency/presidio: {:.0}x   ({:.2} of the goal, >= 500x)",
            ours_rate / rate,
            ours_rate / rate / 500.0
        );
        let ours_m = score(&records[..*m], &found[..*m], &pseudo::pii::ENTITIES);
        let theirs = score(&records[..*m], pfound, &pseudo::pii::ENTITIES);
        println!(
            "\n  {:<16} {:>22} {:>22}",
            "entity", "residency P / R", "presidio P / R"
        );
        for e in pseudo::pii::ENTITIES.iter() {
            let (a, b) = (ours_m[*e], theirs[*e]);
            if a.tp + a.fn_ == 0 {
                continue;
            }
            let (p1, r1) = pr(a);
            let (p2, r2) = pr(b);
            let supported = b.tp + b.fp > 0;
            if supported {
                shared.push((*e, p1 >= p2, r1 >= r2));
            }
            println!(
                "  {e:<16} {:>10.3} / {:<9.3} {:>10} {}",
                p1,
                r1,
                if supported {
                    format!("{p2:.3} / {r2:.3}")
                } else {
                    "not found".into()
                },
                if supported && (p1 < p2 || r1 < r2) {
                    " <- below presidio"
                } else {
                    ""
                }
            );
        }
        let ok = shared.iter().all(|(_, p, r)| *p && *r);
        println!(
            "  equal or better precision and recall on every shared type: {}",
            if ok { "yes" } else { "no" }
        );
    } else {
        println!(
            "\n  {:<16} {:>10} {:>10} (set PRESIDIO_PYTHON to compare; see bench/pii.sh)",
            "entity", "precision", "recall"
        );
        for (e, c) in &ours {
            if c.tp + c.fn_ == 0 {
                continue;
            }
            let (p, r) = pr(*c);
            println!("  {e:<16} {p:>10.3} {r:>10.3}");
        }
    }
}

/// PII-sparse text: documents of 2 KB of prose with one identifier each,
/// analysed one by one on one core; beside it, one plain pass over the
/// same bytes (counting digits) for the machine's scale.
fn sparse(analyzer: &Analyzer, quick: bool) {
    let n = if quick { 500 } else { 20_000 };
    // As for the dense corpus: a warm-up, then the median of three runs
    // over documents not seen before.
    let scan = |docs: &[Record]| {
        let start = Instant::now();
        let mut found = 0;
        let mut missed = 0;
        for d in docs {
            let f = analyzer.analyze(&d.text);
            found += f.len();
            missed += d
                .labels
                .iter()
                .filter(|l| !f.iter().any(|x| x.start < l.end && l.start < x.end))
                .count();
        }
        (start.elapsed().as_secs_f64(), found, missed)
    };
    scan(&corpus::sparse(n / 4, 2048, 0x3A53));
    let docs = corpus::sparse(n, 2048, 0x5BA25E);
    let bytes: usize = docs.iter().map(|d| d.text.len()).sum();
    let (first, found, missed) = scan(&docs);
    let mut runs = vec![first];
    for seed in [0x5BA25E + 1, 0x5BA25E + 2] {
        let other = corpus::sparse(n, 2048, seed);
        let other_bytes: usize = other.iter().map(|d| d.text.len()).sum();
        // Scaled to the first corpus's size (they differ by a few bytes).
        runs.push(scan(&other).0 * bytes as f64 / other_bytes as f64);
    }
    runs.sort_by(f64::total_cmp);
    let secs = runs[1];
    let start = Instant::now();
    let digits: usize = docs
        .iter()
        .map(|d| d.text.bytes().filter(u8::is_ascii_digit).count())
        .sum();
    std::hint::black_box(digits);
    let plain = start.elapsed().as_secs_f64();
    let rate = bytes as f64 / secs / 1e6;
    println!(
        "\nPII-sparse prose, {} documents of ~2 KB with one identifier each ({:.1} MB), one core:",
        docs.len(),
        bytes as f64 / 1e6
    );
    println!(
        "  residency: {rate:>8.1} MB/s   ({:.2} of the goal, >= 200 MB/s; median of {} MB/s; {found} findings, {missed} labelled identifiers missed)",
        rate / 200.0,
        runs.iter()
            .map(|s| format!("{:.0}", bytes as f64 / s / 1e6))
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!(
        "  one plain pass over the bytes (digits counted): {:.0} MB/s",
        bytes as f64 / plain / 1e6
    );
}

/// Runs bench/presidio_bench.py over `records`; returns records/s, findings, count.
fn run_presidio(python: &str, records: &[Record]) -> (f64, Vec<Vec<Span>>, usize) {
    let dir = tempfile_dir();
    let input = dir.join("corpus.jsonl");
    let mut f = std::fs::File::create(&input).expect("corpus file");
    for r in records {
        writeln!(f, "{}", serde_json::json!({ "text": r.text })).expect("write corpus");
    }
    drop(f);
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../bench/presidio_bench.py");
    let out = std::process::Command::new(python)
        .arg(script)
        .arg(&input)
        .arg(pseudo::pii::ENTITIES.join(","))
        .output()
        .expect("run presidio");
    assert!(
        out.status.success(),
        "presidio failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("presidio output");
    let rate = v["records_per_sec"].as_f64().unwrap_or(0.0);
    let found = v["findings"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|rec| {
                    rec.as_array()
                        .map(|fs| {
                            fs.iter()
                                .map(|x| {
                                    (
                                        x[0].as_str().unwrap_or("").to_string(),
                                        x[1].as_u64().unwrap_or(0) as usize,
                                        x[2].as_u64().unwrap_or(0) as usize,
                                    )
                                })
                                .collect()
                        })
                        .unwrap_or_default()
                })
                .collect()
        })
        .unwrap_or_default();
    (rate, found, records.len())
}

fn tempfile_dir() -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("residency-pii-bench-{}", std::process::id()));
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}
