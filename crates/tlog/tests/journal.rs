//! The journaled file storage: a write is durable once its journal record
//! is, and claiming the log as its writer repairs files a crash lost.
//! (A process cannot drop its own page cache, so these tests lose files by
//! deleting or truncating them, as a power cut may.)

use std::path::Path;

use tlog::note::{Signer, TYPE_ED25519};
use tlog::sequencer::{self, SequencerConfig};
use tlog::storage::journal::{Part, Record};
use tlog::{Error, FsStorage, LogReader, Storage};

/// One record of whole files, encoded.
fn record(list: &[(&str, &str)], out: &mut Vec<u8>) {
    let parts: Vec<(&str, Part<'_>)> = list
        .iter()
        .map(|(p, d)| (*p, Part::Whole(d.as_bytes())))
        .collect();
    Record::encode(&parts, out).unwrap();
}

fn files(list: &[(&str, &str)]) -> Vec<(String, Vec<u8>)> {
    list.iter()
        .map(|(p, d)| (p.to_string(), d.as_bytes().to_vec()))
        .collect()
}

fn segments(root: &Path) -> Vec<(String, u64)> {
    let mut s: Vec<_> = std::fs::read_dir(root.join(".journal"))
        .map(|d| {
            d.map(|e| {
                let e = e.unwrap();
                let name = e.file_name().into_string().unwrap();
                (name, e.metadata().unwrap().len())
            })
            .collect()
        })
        .unwrap_or_default();
    s.sort();
    s
}

async fn read(storage: &FsStorage, path: &str) -> Option<String> {
    storage
        .read(path)
        .await
        .unwrap()
        .map(|d| String::from_utf8(d).unwrap())
}

#[tokio::test]
async fn a_journaled_write_is_restored_when_its_files_are_lost() {
    let dir = tempfile::tempdir().unwrap();
    let storage = FsStorage::open(dir.path()).unwrap().journaled(1 << 20);
    let claim = storage.claim_writer().await.unwrap();
    storage
        .write(files(&[
            ("tile/0/000.p/1", "one"),
            ("checkpoint", "size 1"),
        ]))
        .await
        .unwrap();
    storage
        .write(files(&[("checkpoint", "size 2")]))
        .await
        .unwrap();
    assert_eq!(read(&storage, "checkpoint").await.unwrap(), "size 2");
    assert!(
        storage.read(".journal/00000000000000000000").await.is_err(),
        "the journal is not a log path"
    );
    drop(claim);
    drop(storage);

    // What a power cut may leave of files written but never flushed (or
    // never put in place: that happens lazily).
    let _ = std::fs::remove_file(dir.path().join("tile/0/000.p/1"));
    std::fs::write(dir.path().join("checkpoint"), "").unwrap();

    let storage = FsStorage::open(dir.path()).unwrap();
    let _claim = storage.claim_writer().await.unwrap();
    assert_eq!(read(&storage, "tile/0/000.p/1").await.unwrap(), "one");
    assert_eq!(read(&storage, "checkpoint").await.unwrap(), "size 2");
    assert!(
        segments(dir.path()).is_empty(),
        "replayed segments are deleted"
    );
}

/// One write may hold several versions of a tile, each journaled as what
/// it adds to the version before the write; all come back after a loss.
#[tokio::test]
async fn versions_of_one_tile_in_one_write_are_restored() {
    let dir = tempfile::tempdir().unwrap();
    let storage = FsStorage::open(dir.path()).unwrap().journaled(1 << 20);
    let claim = storage.claim_writer().await.unwrap();
    storage
        .write(files(&[("tile/0/000.p/1", "a")]))
        .await
        .unwrap();
    storage
        .write(files(&[
            ("tile/0/000.p/2", "ab"),
            ("tile/0/000.p/3", "abc"),
            ("tile/0/000", "abcd"),
        ]))
        .await
        .unwrap();
    storage
        .write(files(&[("tile/0/001.p/1", "e"), ("checkpoint", "5")]))
        .await
        .unwrap();
    drop(claim);
    drop(storage);
    std::fs::remove_dir_all(dir.path().join("tile")).unwrap();

    let storage = FsStorage::open(dir.path()).unwrap();
    let _claim = storage.claim_writer().await.unwrap();
    for (path, want) in [
        ("tile/0/000.p/1", "a"),
        ("tile/0/000.p/2", "ab"),
        ("tile/0/000.p/3", "abc"),
        ("tile/0/000", "abcd"),
        ("tile/0/001.p/1", "e"),
        ("checkpoint", "5"),
    ] {
        assert_eq!(read(&storage, path).await.as_deref(), Some(want), "{path}");
    }
}

/// A record whose file extends one the segment never wrote is damage: the
/// claim stops before applying anything, even the whole records before it.
#[tokio::test]
async fn an_extension_without_its_base_stops_the_claim_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("checkpoint"), "on disk").unwrap();
    let mut segment = Vec::new();
    record(&[("checkpoint", "journaled")], &mut segment);
    Record::encode(
        &[(
            "tile/0/000.p/2",
            Part::Extends {
                base: "tile/0/000.p/1",
                kept: 1,
                suffix: b"b",
            },
        )],
        &mut segment,
    )
    .unwrap();
    std::fs::create_dir_all(dir.path().join(".journal")).unwrap();
    std::fs::write(
        dir.path().join(".journal").join(format!("{:020}", 0)),
        &segment,
    )
    .unwrap();
    let storage = FsStorage::open(dir.path()).unwrap();
    let err = storage.claim_writer().await.unwrap_err();
    assert!(matches!(err, Error::Corrupt(_)), "{err}");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("checkpoint")).unwrap(),
        "on disk"
    );
}

#[tokio::test]
async fn an_append_cut_short_by_a_crash_is_ignored_and_earlier_writes_kept() {
    let dir = tempfile::tempdir().unwrap();
    let storage = FsStorage::open(dir.path()).unwrap().journaled(1 << 20);
    let claim = storage.claim_writer().await.unwrap();
    storage
        .write(files(&[("checkpoint", "kept")]))
        .await
        .unwrap();
    drop(claim);
    drop(storage);
    // A second record, cut in the middle: its write never returned.
    let mut torn = Vec::new();
    record(&[("checkpoint", "never acknowledged")], &mut torn);
    let [(name, _)] = segments(dir.path()).try_into().unwrap();
    let segment = dir.path().join(".journal").join(name);
    let mut bytes = std::fs::read(&segment).unwrap();
    bytes.extend_from_slice(&torn[..torn.len() / 2]);
    std::fs::write(&segment, bytes).unwrap();
    let _ = std::fs::remove_file(dir.path().join("checkpoint"));

    let storage = FsStorage::open(dir.path()).unwrap();
    let _claim = storage.claim_writer().await.unwrap();
    assert_eq!(read(&storage, "checkpoint").await.unwrap(), "kept");
}

#[tokio::test]
async fn damage_before_the_newest_segment_stops_the_claim_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join(".journal");
    std::fs::create_dir(&journal).unwrap();
    let mut older = Vec::new();
    record(&[("checkpoint", "older")], &mut older);
    record(&[("tile/0/000", "older")], &mut older);
    let last = older.len() - 1;
    older[last] ^= 0x20;
    let mut oldest = Vec::new();
    record(&[("checkpoint", "oldest")], &mut oldest);
    let mut newer = Vec::new();
    record(&[("checkpoint", "newer")], &mut newer);
    // A whole segment, a damaged one, the newest: none is applied.
    std::fs::write(journal.join(format!("{:020}", 0)), &oldest).unwrap();
    std::fs::write(journal.join(format!("{:020}", 1)), &older).unwrap();
    std::fs::write(journal.join(format!("{:020}", 2)), &newer).unwrap();
    std::fs::write(dir.path().join("checkpoint"), "as it was").unwrap();

    let storage = FsStorage::open(dir.path()).unwrap();
    let err = storage.claim_writer().await.unwrap_err();
    assert!(matches!(err, Error::Corrupt(_)), "{err}");
    assert!(err.to_string().contains("journal segment"), "{err}");
    assert_eq!(read(&storage, "checkpoint").await.unwrap(), "as it was");
    assert!(err.to_string().contains("00000000000000000001"), "{err}");
    assert_eq!(
        segments(dir.path()).len(),
        3,
        "the journal is kept for repair"
    );
}

#[tokio::test]
async fn full_segments_are_retired_and_settle_empties_the_journal() {
    let dir = tempfile::tempdir().unwrap();
    // A segment fills with every write.
    let storage = FsStorage::open(dir.path()).unwrap().journaled(1);
    let _claim = storage.claim_writer().await.unwrap();
    for i in 0..50 {
        storage
            .write(files(&[
                (&format!("tile/0/{i:03}"), "x"),
                ("checkpoint", &i.to_string()),
            ]))
            .await
            .unwrap();
        // The current segment and at most the one being retired.
        assert!(segments(dir.path()).len() <= 2);
    }
    storage.settle().await.unwrap();
    let left = segments(dir.path());
    assert_eq!(left.len(), 1, "{left:?}");
    assert_eq!(left[0].1, 0, "the one segment left is the new, empty one");
    assert_eq!(read(&storage, "checkpoint").await.unwrap(), "49");
    assert_eq!(read(&storage, "tile/0/017").await.unwrap(), "x");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_journaled_log_whose_tiles_were_lost_opens_whole() {
    tiles_lost_then_opened(1 << 20, true).await;
}

/// Segments of 2 KiB hold a few commits each: the segments a crash leaves
/// (the ones before were retired) replay on their own, although their
/// records journal what partial tiles add to earlier versions.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_segments_left_after_retired_ones_replay_on_their_own() {
    tiles_lost_then_opened(2 << 10, false).await;
}

/// 300 commits of one entry; then, with `lose`, every tile and bundle
/// deleted (as if none had reached the disk); then the log opened again.
async fn tiles_lost_then_opened(segment_bytes: u64, lose: bool) {
    let dir = tempfile::tempdir().unwrap();
    let signer = new_log(dir.path()).await;
    {
        let storage = FsStorage::open(dir.path())
            .unwrap()
            .journaled(segment_bytes);
        let (seq, task) = sequencer::open(storage, signer.clone(), SequencerConfig::default())
            .await
            .unwrap();
        for i in 0..300u32 {
            seq.add(format!("entry {i}").into_bytes()).await.unwrap();
        }
        drop(seq);
        task.await.unwrap();
    }
    if lose {
        std::fs::remove_dir_all(dir.path().join("tile")).unwrap();
    } else {
        assert!(!segments(dir.path()).is_empty(), "a journal to replay");
    }
    opens_whole(dir.path(), &signer, 300).await;
}

/// Each commit journals the entries it adds, not the whole partial bundle
/// again: 200 commits of one 1,000-byte entry each journal about 200 kB
/// (entries, hashes, checkpoints), where whole bundles would be ~20 MB.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_journals_what_it_adds_to_the_partial_tiles() {
    let dir = tempfile::tempdir().unwrap();
    let signer = new_log(dir.path()).await;
    {
        let storage = FsStorage::open(dir.path()).unwrap().journaled(64 << 20);
        let (seq, task) = sequencer::open(storage, signer.clone(), SequencerConfig::default())
            .await
            .unwrap();
        for i in 0..200u32 {
            let mut entry = vec![b'.'; 1000];
            entry[..4].copy_from_slice(&i.to_be_bytes());
            seq.add(entry).await.unwrap();
        }
        let journaled: u64 = segments(dir.path()).iter().map(|(_, len)| len).sum();
        assert!(journaled < 400_000, "{journaled} bytes journaled");
        drop(seq);
        task.await.unwrap();
    }
    // And what it journaled is the whole log: lost files come back.
    std::fs::remove_dir_all(dir.path().join("tile")).unwrap();
    opens_whole(dir.path(), &signer, 200).await;
}

/// A new, empty log in `dir`; its signer.
async fn new_log(dir: &Path) -> Signer {
    let signer = Signer::generate("test.example/journal", TYPE_ED25519).unwrap();
    sequencer::create(&FsStorage::open(dir).unwrap(), &signer)
        .await
        .unwrap();
    signer
}

/// Opens the log in `dir` (claiming it replays the journal) and checks it
/// is whole: `size` entries under its signed root, the next at `size`.
async fn opens_whole(dir: &Path, signer: &Signer, size: u64) {
    let storage = FsStorage::open(dir).unwrap();
    let (seq, task) = sequencer::open(storage.clone(), signer.clone(), SequencerConfig::default())
        .await
        .unwrap();
    let reader = LogReader::new(storage);
    let cp = reader.checkpoint(&signer.verifier()).await.unwrap();
    assert_eq!(cp.checkpoint.size, size);
    assert_eq!(reader.tree_hash(size).await.unwrap(), cp.checkpoint.root);
    assert_eq!(seq.add(b"after".to_vec()).await.unwrap().index(), size);
    drop(seq);
    task.await.unwrap();
}

#[tokio::test]
async fn a_checkpoint_written_after_its_tiles_shares_their_one_record() {
    let dir = tempfile::tempdir().unwrap();
    let storage = FsStorage::open(dir.path()).unwrap().journaled(1 << 20);
    let _claim = storage.claim_writer().await.unwrap();
    storage
        .write_then(
            files(&[
                ("tile/0/000.p/2", "hashes"),
                ("tile/entries/000.p/2", "entries"),
            ]),
            files(&[("checkpoint", "size 2")]),
        )
        .await
        .unwrap();
    let [(name, _)] = segments(dir.path()).try_into().unwrap();
    let bytes = std::fs::read(dir.path().join(".journal").join(name)).unwrap();
    let segment = tlog::storage::journal::Segment::decode(&bytes).unwrap();
    let [record] = segment.records.try_into().unwrap();
    let paths: Vec<&str> = record.files.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(
        paths,
        ["tile/0/000.p/2", "tile/entries/000.p/2", "checkpoint"],
        "one record, the checkpoint last"
    );
    assert_eq!(read(&storage, "checkpoint").await.unwrap(), "size 2");
}

/// Files go in place lazily: the journaled storage serves and lists them
/// at once, a plain reader of the directory sees them within a few
/// placements, the checkpoint never ahead of its tiles.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_go_in_place_lazily_and_the_journaled_storage_serves_them_meanwhile() {
    let dir = tempfile::tempdir().unwrap();
    let storage = FsStorage::open(dir.path()).unwrap().journaled(1 << 20);
    let _claim = storage.claim_writer().await.unwrap();
    let plain = FsStorage::open(dir.path()).unwrap();
    for (width, hashes) in [(1, "a"), (2, "ab")] {
        storage
            .write_then(
                files(&[(&format!("tile/0/000.p/{width}"), hashes)]),
                files(&[("checkpoint", &format!("size {width}"))]),
            )
            .await
            .unwrap();
    }
    assert_eq!(read(&storage, "checkpoint").await.unwrap(), "size 2");
    assert_eq!(read(&storage, "tile/0/000.p/1").await.unwrap(), "a");
    assert_eq!(storage.list("tile/0/000.p").await.unwrap(), ["1", "2"]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let on_disk = read(&plain, "checkpoint").await;
        if let Some(cp) = &on_disk {
            let width = cp.trim_start_matches("size ");
            assert!(
                read(&plain, &format!("tile/0/000.p/{width}"))
                    .await
                    .is_some(),
                "a checkpoint in place before its tiles"
            );
        }
        if on_disk.as_deref() == Some("size 2") {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "never placed");
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    assert_eq!(read(&plain, "tile/0/000.p/2").await.unwrap(), "ab");
}
