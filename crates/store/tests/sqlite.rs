//! The SQLite store: round trips under a logged access, nothing personal in
//! clear in the files, crypto-shredding, authenticated ciphertexts, and
//! bad input that changes nothing.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use policy::catalog::Catalog;
use store::keys::FileKeyProvider;
use store::{Error, Event, LoggedAccess, SqliteStore};
use tlog::note::{Signer, TYPE_ED25519};
use tlog::sequencer::{self, SequencerConfig};
use tlog::{MemStorage, Sequencer};

fn catalog() -> Arc<Catalog> {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/policy/catalog.toml"),
    )
    .unwrap();
    Arc::new(Catalog::from_toml("catalog.toml", &text).unwrap())
}

fn open(dir: &Path) -> SqliteStore {
    let keyfile = dir.join("region.keys");
    let keys = if keyfile.exists() {
        FileKeyProvider::open(&keyfile)
    } else {
        FileKeyProvider::create(&keyfile)
    }
    .unwrap();
    SqliteStore::open(dir, catalog(), Arc::new(keys)).unwrap()
}

async fn log() -> Sequencer {
    let storage = MemStorage::new();
    let signer = Signer::generate("test.example/log", TYPE_ED25519).unwrap();
    sequencer::create(&storage, &signer).await.unwrap();
    let config = SequencerConfig {
        batch_interval: std::time::Duration::from_millis(1),
        ..Default::default()
    };
    sequencer::open(storage, signer, config).await.unwrap().0
}

/// Logs an access entry naming `subjects` and `datasets` and returns its proof.
async fn logged(seq: &Sequencer, subjects: &[&str], datasets: &[&str]) -> LoggedAccess {
    let entry = serde_json::to_vec(
        &serde_json::json!({"kind": "read", "subjects": subjects, "datasets": datasets}),
    )
    .unwrap();
    let s = seq.add(entry.clone()).await.unwrap();
    LoggedAccess::new(&s, &entry).unwrap()
}

fn event(user: &str, dataset: &str, id: &str, fields: &[(&str, &str)]) -> Event {
    Event {
        user_id: user.into(),
        dataset: dataset.into(),
        record_id: id.into(),
        time: 1_700_000_000,
        fields: fields
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    }
}

const PHONE: &str = "+33 6 12 34 56 78";
const ADDRESS: &str = "12 rue des Lilas, 75011 Paris";

fn seed(store: &SqliteStore) -> String {
    let refs = store
        .ingest(
            "eu-fr",
            &[
                event(
                    "user-42@example.com",
                    "profile",
                    "p1",
                    &[("phone", PHONE), ("address", ADDRESS)],
                ),
                event(
                    "user-42@example.com",
                    "device",
                    "d1",
                    &[("language", "fr-FR"), ("os_version", "17.4.1")],
                ),
                event("user-7", "profile", "p1", &[("phone", "+47 412 34 567")]),
            ],
        )
        .unwrap();
    refs[0].clone()
}

#[tokio::test]
async fn round_trip_under_a_logged_access() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let subject = seed(&store);
    assert!(
        subject.starts_with("t1."),
        "user ids are stored as keyed pseudonyms"
    );
    assert_eq!(subject, store.subject_ref("user-42@example.com"));
    let seq = log().await;
    let access = logged(&seq, &[&subject], &["profile", "device"]).await;
    let profile = store.read(&access, &subject, "profile").unwrap();
    assert_eq!(profile.len(), 1);
    assert_eq!(profile[0].fields["phone"], PHONE);
    assert_eq!(profile[0].fields["address"], ADDRESS);
    let device = store.read(&access, &subject, "device").unwrap();
    assert_eq!(device[0].fields["os_version"], "17.4.1");
    store.note_access(&subject, access.index()).unwrap();
    assert_eq!(store.accesses(&subject).unwrap(), vec![access.index()]);
    // Reopening with the same keys reads the same data.
    drop(store);
    let store = open(dir.path());
    assert_eq!(store.read(&access, &subject, "profile").unwrap(), profile);
}

#[tokio::test]
async fn no_log_entry_no_plaintext() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let subject = seed(&store);
    let other = store.subject_ref("user-7");
    let seq = log().await;
    // An entry about someone else, or another dataset, does not open this one.
    let access = logged(&seq, &[&other], &["profile"]).await;
    assert!(matches!(
        store.read(&access, &subject, "profile"),
        Err(Error::NotLogged(_))
    ));
    let access = logged(&seq, &[&subject], &["device"]).await;
    assert!(matches!(
        store.read(&access, &subject, "profile"),
        Err(Error::NotLogged(_))
    ));
    // An acknowledgement shown with another entry than the one sequenced.
    let entry =
        serde_json::to_vec(&serde_json::json!({"subjects": [&other], "datasets": ["profile"]}))
            .unwrap();
    let s = seq.add(entry).await.unwrap();
    let forged =
        serde_json::to_vec(&serde_json::json!({"subjects": [&subject], "datasets": ["profile"]}))
            .unwrap();
    assert!(matches!(
        LoggedAccess::new(&s, &forged),
        Err(Error::NotLogged(_))
    ));
}

fn scan(dir: &Path, needles: &[&str]) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        for n in needles {
            assert!(
                !bytes.windows(n.len()).any(|w| w == n.as_bytes()),
                "{n:?} found in clear in {}",
                path.display()
            );
        }
    }
}

#[tokio::test]
async fn files_hold_no_personal_data_in_clear() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    seed(&store);
    let needles = [
        PHONE,
        ADDRESS,
        "+47 412 34 567",
        "user-42@example.com",
        "user-7",
        "fr-FR",
        "17.4.1",
    ];
    // Before a checkpoint the data sits in the WAL; after, in the database.
    scan(dir.path(), &needles);
    store.checkpoint().unwrap();
    scan(dir.path(), &needles);
}

#[tokio::test]
async fn erasure_destroys_the_key_even_for_an_earlier_copy() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let subject = seed(&store);
    store.checkpoint().unwrap();
    // A rogue copy of the records, taken before the erasure.
    let copy = tempfile::tempdir().unwrap();
    std::fs::copy(
        dir.path().join("records.sqlite"),
        copy.path().join("records.sqlite"),
    )
    .unwrap();
    assert!(store.erase(&subject).unwrap());
    let seq = log().await;
    let access = logged(&seq, &[&subject], &["profile"]).await;
    assert!(matches!(
        store.read(&access, &subject, "profile"),
        Err(Error::UnknownSubject)
    ));
    // The copy, next to the region's (current) keyring and keys, does not decrypt either.
    drop(store);
    std::fs::copy(
        copy.path().join("records.sqlite"),
        dir.path().join("records.sqlite"),
    )
    .unwrap();
    for wal in ["records.sqlite-wal", "records.sqlite-shm"] {
        let _ = std::fs::remove_file(dir.path().join(wal));
    }
    let store = open(dir.path());
    assert!(matches!(
        store.read(&access, &subject, "profile"),
        Err(Error::UnknownSubject)
    ));
    // Other subjects are untouched.
    let other = store.subject_ref("user-7");
    let access = logged(&seq, &[&other], &["profile"]).await;
    assert_eq!(
        store.read(&access, &other, "profile").unwrap()[0].fields["phone"],
        "+47 412 34 567"
    );
}

#[tokio::test]
async fn tampered_or_moved_ciphertexts_fail_authentication() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let subject = seed(&store);
    store
        .ingest(
            "eu-fr",
            &[event(
                "user-42@example.com",
                "profile",
                "p2",
                &[("phone", "+33 7 00 00 00 00")],
            )],
        )
        .unwrap();
    store.checkpoint().unwrap();
    let seq = log().await;
    let access = logged(&seq, &[&subject], &["profile"]).await;
    drop(store);
    let db = rusqlite::Connection::open(dir.path().join("records.sqlite")).unwrap();
    let doc = |id: &str| -> String {
        db.query_row("SELECT fields FROM records WHERE record_id = ?1 AND dataset = 'profile' AND subject = ?2", [id, &subject], |r| r.get(0)).unwrap()
    };
    let (p1, p2) = (doc("p1"), doc("p2"));
    // Move p2's phone ciphertext into p1.
    let p1_doc: BTreeMap<String, String> = serde_json::from_str(&p1).unwrap();
    let p2_doc: BTreeMap<String, String> = serde_json::from_str(&p2).unwrap();
    let mut moved = p1_doc.clone();
    moved.insert("phone".into(), p2_doc["phone"].clone());
    db.execute(
        "UPDATE records SET fields = ?1 WHERE record_id = 'p1' AND subject = ?2",
        [&serde_json::to_string(&moved).unwrap(), &subject],
    )
    .unwrap();
    drop(db);
    let store = open(dir.path());
    let err = store.read(&access, &subject, "profile").unwrap_err();
    assert!(
        matches!(err, Error::Decrypt(ref what) if what == "profile.phone"),
        "{err}"
    );
    assert!(!err.to_string().contains("+33"), "errors carry no values");
    drop(store);
    // Flip one bit of a ciphertext.
    let db = rusqlite::Connection::open(dir.path().join("records.sqlite")).unwrap();
    let mut tampered = p1_doc.clone();
    let mut ct = tampered["address"].clone().into_bytes();
    let last = ct.len() - 3;
    ct[last] = if ct[last] == b'A' { b'B' } else { b'A' };
    tampered.insert("address".into(), String::from_utf8(ct).unwrap());
    db.execute(
        "UPDATE records SET fields = ?1 WHERE record_id = 'p1' AND subject = ?2",
        [&serde_json::to_string(&tampered).unwrap(), &subject],
    )
    .unwrap();
    drop(db);
    let store = open(dir.path());
    assert!(matches!(
        store.read(&access, &subject, "profile"),
        Err(Error::Decrypt(_))
    ));
}

#[tokio::test]
async fn bad_input_is_rejected_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let subject = seed(&store);
    let big = "x".repeat(store::sqlite::MAX_VALUE_LEN + 1);
    for (events, want) in [
        (
            vec![event("u", "health", "h1", &[("pulse", "60")])],
            "unknown dataset \"health\"",
        ),
        (
            vec![event(
                "u",
                "profile",
                "p1",
                &[("phone", PHONE), ("shoe_size", "44")],
            )],
            "fields not in the catalog for profile: shoe_size",
        ),
        (
            vec![event("u", "profile", "p1", &[("address", &big)])],
            "profile.address is larger than",
        ),
        (
            vec![event("", "profile", "p1", &[("phone", PHONE)])],
            "needs a user id",
        ),
    ] {
        // A good event first: the whole batch must be refused.
        let mut batch = vec![event("user-99", "profile", "p9", &[("phone", PHONE)])];
        batch.extend(events);
        let err = store.ingest("eu-fr", &batch).unwrap_err();
        assert!(err.to_string().contains(want), "{err}");
        assert!(!err.to_string().contains(PHONE));
    }
    let seq = log().await;
    let nine = store.subject_ref("user-99");
    let access = logged(&seq, &[&nine], &["profile"]).await;
    assert!(
        matches!(
            store.read(&access, &nine, "profile"),
            Err(Error::UnknownSubject)
        ),
        "nothing of the refused batches was stored"
    );
    let access = logged(&seq, &[&subject], &["profile"]).await;
    assert_eq!(
        store.read(&access, &subject, "profile").unwrap()[0].fields["phone"],
        PHONE
    );
}

#[test]
fn key_files_are_private_and_refuse_to_be_overwritten() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("region.keys");
    FileKeyProvider::create(&path).unwrap();
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert!(FileKeyProvider::create(&path).is_err());
    std::fs::write(dir.path().join("bad.keys"), "kek k1 zz\n").unwrap();
    let err = FileKeyProvider::open(&dir.path().join("bad.keys"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("line 1: bad KEK"), "{err}");
}
