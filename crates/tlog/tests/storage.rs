//! One conformance suite every storage driver passes, unchanged: memory,
//! files, journaled files and — with the `s3` feature — an S3-compatible
//! server the test starts on loopback (`moto_server`, named by
//! `RESIDENCY_TEST_MOTO`; `.ci/run` installs it in a virtual environment).
//! Then, on S3 only, the fence: a second sequencer on the same log fences
//! the first out, and nothing either wrote is lost or forked.

use std::time::Duration;

use tlog::merkle::{verify_consistency, verify_inclusion};
use tlog::note::{Signer, TYPE_ED25519};
use tlog::sequencer::{self, SequencerConfig};
use tlog::{FsStorage, LogReader, MemStorage, Storage, leaf_hash};

fn signer() -> Signer {
    Signer::generate("test.example/log", TYPE_ED25519).unwrap()
}

fn config() -> SequencerConfig {
    SequencerConfig {
        batch_interval: Duration::from_millis(2),
        max_batch: 64,
        ..SequencerConfig::default()
    }
}

/// Opens the sequencer, waiting (3 s at most) while a writer that just
/// stopped still holds the log (a lease being given back).
async fn open_when_free<S: Storage + Clone>(
    s: &S,
    signer: &Signer,
) -> (tlog::Sequencer, tokio::task::JoinHandle<()>) {
    for _ in 0..30 {
        match sequencer::open(s.clone(), signer.clone(), config()).await {
            Err(tlog::Error::Locked(_)) => tokio::time::sleep(Duration::from_millis(100)).await,
            other => return other.unwrap(),
        }
    }
    panic!("the log stayed locked");
}

/// The objects contract: reads, whole writes, the same write again,
/// listing, deleting files and folders.
async fn objects<S: Storage>(s: &S) {
    assert_eq!(s.read("tile/0/000").await.unwrap(), None);
    s.write(vec![
        ("tile/0/000".into(), b"zero".to_vec()),
        ("tile/0/001.p/7".into(), b"partial".to_vec()),
        ("tile/entries/000".into(), b"bundle".to_vec()),
    ])
    .await
    .unwrap();
    assert_eq!(s.read("tile/0/000").await.unwrap().unwrap(), b"zero");
    // The same bytes again: a retried write.
    s.write(vec![("tile/0/000".into(), b"zero".to_vec())])
        .await
        .unwrap();
    assert_eq!(s.list("tile/0").await.unwrap(), vec!["000", "001.p"]);
    assert_eq!(s.list("tile").await.unwrap(), vec!["0", "entries"]);
    assert_eq!(s.list("tile/0/001.p").await.unwrap(), vec!["7"]);
    s.delete(vec!["tile/0/001.p".into(), "tile/9/missing".into()])
        .await
        .unwrap();
    assert_eq!(s.read("tile/0/001.p/7").await.unwrap(), None);
    assert_eq!(s.list("tile/0").await.unwrap(), vec!["000"]);
    s.write_then(
        vec![("tile/1/000".into(), b"one".to_vec())],
        vec![("tile/2/000".into(), b"two".to_vec())],
    )
    .await
    .unwrap();
    assert_eq!(s.read("tile/2/000").await.unwrap().unwrap(), b"two");
    s.delete(vec!["tile".into()]).await.unwrap();
    assert!(s.list("tile").await.unwrap().is_empty());
}

/// A log written by the sequencer in batches, reopened, grown again, and
/// read back: every entry in place, every proof verifying.
async fn log<S: Storage + Clone>(s: S) {
    let signer = signer();
    sequencer::create(&s, &signer).await.unwrap();
    assert!(
        sequencer::create(&s, &signer).await.is_err(),
        "created twice"
    );
    let mut sizes = Vec::new();
    for round in 0..2u32 {
        let (seq, task) = open_when_free(&s, &signer).await;
        let mut adds = Vec::new();
        for i in 0..300u32 {
            let seq = seq.clone();
            adds.push(tokio::spawn(async move {
                seq.add(format!("round {round} entry {i}").into_bytes())
                    .await
                    .unwrap()
            }));
        }
        for a in adds {
            a.await.unwrap();
        }
        sizes.push(seq.checkpoint().checkpoint.size);
        drop(seq);
        task.await.unwrap();
    }
    let reader = LogReader::new(s);
    let cp = reader.checkpoint(&signer.verifier()).await.unwrap();
    let n = cp.checkpoint.size;
    assert_eq!(n, 600);
    let entries = reader.entries(0, n, n).await.unwrap();
    let mut seen: Vec<String> = entries
        .iter()
        .map(|e| String::from_utf8(e.clone()).unwrap())
        .collect();
    seen.sort();
    let mut want: Vec<String> = (0..2)
        .flat_map(|r| (0..300).map(move |i| format!("round {r} entry {i}")))
        .collect();
    want.sort();
    assert_eq!(seen, want);
    for i in [0, 255, 256, 299, 300, 599] {
        let proof = reader.inclusion_proof(i, n).await.unwrap();
        verify_inclusion(
            &leaf_hash(&entries[i as usize]),
            i,
            n,
            &proof,
            &cp.checkpoint.root,
        )
        .unwrap();
    }
    let old = sizes[0];
    let proof = reader.consistency_proof(old, n).await.unwrap();
    verify_consistency(
        old,
        n,
        &proof,
        &reader.tree_hash(old).await.unwrap(),
        &cp.checkpoint.root,
    )
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_passes_the_storage_suite() {
    objects(&MemStorage::new()).await;
    log(MemStorage::new()).await;
}

/// Files in a new folder `name` of `dir`.
fn files(dir: &tempfile::TempDir, name: &str) -> FsStorage {
    let path = dir.path().join(name);
    std::fs::create_dir(&path).unwrap();
    FsStorage::open(path).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_pass_the_storage_suite() {
    let dir = tempfile::tempdir().unwrap();
    objects(&files(&dir, "a")).await;
    log(files(&dir, "b")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn journaled_files_pass_the_storage_suite() {
    let dir = tempfile::tempdir().unwrap();
    objects(&files(&dir, "a").journaled(1 << 16)).await;
    log(files(&dir, "b").journaled(1 << 16)).await;
}

#[cfg(feature = "s3")]
mod common;

#[cfg(feature = "s3")]
mod s3 {
    use super::common::moto;
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn s3_passes_the_storage_suite() {
        let Some(m) = moto().await else { return };
        objects(&m.storage("objects", "").await).await;
        log(m.storage("logs", "eu-fr/log").await).await;
    }

    struct Count(u64);

    impl tlog::verify::Consumer for Count {
        fn entry(&mut self, _: u64, _: &[u8]) -> Result<(), String> {
            self.0 += 1;
            Ok(())
        }
        async fn tiles(&mut self, _: Vec<tlog::edge::TileData>) -> Result<(), String> {
            Ok(())
        }
    }

    /// The bucket serves the log as a static site: a verifier that knows
    /// only its URL (no credentials) recomputes every tile and the root.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_log_in_a_bucket_verifies_from_its_url_alone() {
        let Some(m) = moto().await else { return };
        let s = m.storage("public", "eu-fr/log").await;
        // Anyone may read the bucket, as a static site.
        let policy = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::public/*"}]}"#;
        let r = super::common::http()
            .put(format!("{}/public?policy", m.endpoint))
            .body(policy)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{r:?}");
        let signer = signer();
        sequencer::create(&s, &signer).await.unwrap();
        let (seq, task) = sequencer::open(s, signer.clone(), config()).await.unwrap();
        let adds = (0..700u32).map(|i| seq.add(format!("entry {i}").into_bytes()));
        for added in futures::future::join_all(adds).await {
            added.unwrap();
        }
        drop(seq);
        task.await.unwrap();
        let src = tlog::verify::HttpTiles::new(
            super::common::http(),
            &format!("{}/public/eu-fr/log/", m.endpoint),
        );
        let raw = src.get("checkpoint").await.unwrap().unwrap();
        let cp = tlog::SignedCheckpoint::open(&raw, &signer.verifier(), &[])
            .unwrap()
            .checkpoint;
        assert_eq!(cp.size, 700);
        let mut edge = tlog::edge::Edge::new();
        let mut count = Count(0);
        tlog::verify::extend(&src, &mut edge, &cp, &mut count)
            .await
            .unwrap();
        assert_eq!((count.0, edge.root().unwrap()), (700, cp.root));
    }

    /// Two sequencers on one log: a second started by mistake is refused
    /// while the first holds the lease, saying for how long; once the
    /// first is gone and its lease has run out, the second takes over,
    /// and nothing the first acknowledged is lost.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_second_sequencer_is_refused_then_takes_over_and_nothing_forks() {
        let Some(m) = moto().await else { return };
        let s = m.storage("fence", "log").await;
        let signer = signer();
        sequencer::create(&s, &signer).await.unwrap();
        let (first, first_task) = sequencer::open(s.clone(), signer.clone(), config())
            .await
            .unwrap();
        let early = first.add(b"first".to_vec()).await.unwrap();
        // The lease is renewed: still refused well after its first end.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let refused =
            sequencer::open(m.storage("fence", "log").await, signer.clone(), config()).await;
        let why = refused.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(why.contains("holds the lease for"), "{why}");
        first.add(b"first, still".to_vec()).await.unwrap();
        drop(first);
        first_task.await.unwrap();
        // Gone: the standby takes over once the lease has run out.
        let started = std::time::Instant::now();
        let (second, second_task) = loop {
            match sequencer::open(m.storage("fence", "log").await, signer.clone(), config()).await {
                Err(tlog::Error::Locked(_)) => tokio::time::sleep(Duration::from_millis(100)).await,
                other => break other.unwrap(),
            }
        };
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{:?}",
            started.elapsed()
        );
        let late = second.add(b"second".to_vec()).await.unwrap();
        drop(second);
        second_task.await.unwrap();
        let reader = LogReader::new(s);
        let cp = reader.checkpoint(&signer.verifier()).await.unwrap();
        let n = cp.checkpoint.size;
        assert_eq!(n, 3);
        let entries = reader.entries(0, n, n).await.unwrap();
        assert_eq!(entries[early.index() as usize], b"first");
        assert_eq!(entries[late.index() as usize], b"second");
    }

    /// A writer that gave up its claim (its lease given back, or lapsed:
    /// a standby may hold the log) writes nothing more, and cannot claim
    /// the log again while the standby holds it.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_writer_that_gave_up_its_claim_writes_nothing_and_cannot_claim_it_back() {
        use tlog::Storage as _;
        let Some(m) = moto().await else { return };
        let a = m.storage("lapse", "log").await;
        let signer = signer();
        sequencer::create(&a, &signer).await.unwrap();
        let guard = a.claim_writer().await.unwrap();
        a.write(vec![("tile/0/000".into(), b"a".to_vec())])
            .await
            .unwrap();
        drop(guard); // no more renewals
        tokio::time::sleep(Duration::from_millis(1200)).await;
        let e = a
            .write(vec![("tile/0/001".into(), b"a".to_vec())])
            .await
            .unwrap_err();
        assert!(e.to_string().contains("lease"), "{e}");
        // B takes over and commits: A cannot claim the log back while B
        // holds the lease.
        let b = m.storage("lapse", "log").await;
        let _b_guard = b.claim_writer().await.unwrap();
        let cp = b.read("checkpoint").await.unwrap().unwrap();
        b.write(vec![("checkpoint".into(), cp.clone())])
            .await
            .unwrap();
        assert!(a.claim_writer().await.is_err(), "B holds the lease");
    }
}
