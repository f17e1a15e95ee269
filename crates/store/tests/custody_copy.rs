//! A region under a custodian: ingest never asks its key provider to
//! unwrap anything, and a copy of the store's whole directory — records,
//! keyring and key file — tried with every key found on disk, opens no
//! record.

mod common;

use std::sync::Arc;

use common::{catalog, event, log, logged};
use store::custody::{Custody, RecordKeys};
use store::keys::{Dek, FileKeyProvider, KeyProvider, WrappedKey};
use store::{SqliteBackend, Store};

/// The region's key file, refusing every unwrap: under a custodian, ingest
/// must not need one.
struct NoUnwrap(FileKeyProvider);

impl KeyProvider for NoUnwrap {
    fn wrap(&self, dek: &Dek, context: &[u8]) -> Result<WrappedKey, store::Error> {
        self.0.wrap(dek, context)
    }
    fn unwrap(&self, _: &WrappedKey, _: &[u8]) -> Result<Dek, store::Error> {
        panic!("ingest asked for an unwrap under a custodian")
    }
    fn pseudonym_secret(&self) -> [u8; 32] {
        self.0.pseudonym_secret()
    }
    fn current_kek_id(&self) -> String {
        self.0.current_kek_id()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_copy_of_the_whole_directory_opens_nothing_with_any_key_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let custodian = custody::CustodianKey::generate("custodian", custody::Suite::XWing).unwrap();
    let keys = FileKeyProvider::create(&dir.path().join("region.keys")).unwrap();
    let store = Store::new(
        SqliteBackend::open(dir.path()).unwrap(),
        catalog(),
        Arc::new(NoUnwrap(keys)),
    )
    .sealing_to(Custody {
        key: custodian.public().clone(),
        region: "eu-fr".into(),
    });
    let phone = "+33 6 12 34 56 78";
    for round in 0..3 {
        let events: Vec<_> = (0..20)
            .map(|u| {
                event(
                    &format!("user-{u}"),
                    "profile",
                    &format!("p{round}"),
                    &[("phone", phone)],
                )
            })
            .collect();
        store.ingest("eu-fr", &events).await.unwrap();
    }
    let subject = store.subject_ref("user-3");
    let seq = log().await;
    let access = logged(&seq, &[&subject], &["profile"]).await;
    let sealed = store
        .sealed(&subject, &["profile".to_owned()])
        .await
        .unwrap();
    let needs = store.record_keys_needed(&sealed).await.unwrap();
    assert_eq!(needs.len(), 3);
    drop(store);

    // The copy: every file of the directory, opened by someone else with
    // the region's key file as found.
    let copy = tempfile::tempdir().unwrap();
    let mut on_disk = Vec::new();
    for f in std::fs::read_dir(dir.path()).unwrap() {
        let f = f.unwrap();
        if f.file_type().unwrap().is_file() {
            std::fs::copy(f.path(), copy.path().join(f.file_name())).unwrap();
            on_disk.push(std::fs::read(f.path()).unwrap());
        }
    }
    let thief = Store::new(
        SqliteBackend::open(copy.path()).unwrap(),
        catalog(),
        Arc::new(FileKeyProvider::open(&copy.path().join("region.keys")).unwrap()),
    );
    let sealed = thief
        .sealed(&subject, &["profile".to_owned()])
        .await
        .unwrap();
    assert!(thief.open(&access, sealed.clone()).await.is_err());
    // Every 32 bytes found on disk (at every offset, and every 64-hex-digit
    // run of the key file decoded), tried as every record key: none opens.
    let mut candidates: Vec<[u8; 32]> = Vec::new();
    for bytes in &on_disk {
        for w in bytes.windows(32).step_by(1) {
            candidates.push(w.try_into().unwrap());
        }
        let text = String::from_utf8_lossy(bytes);
        for word in text.split(|c: char| !c.is_ascii_hexdigit()) {
            for chunk in word.as_bytes().chunks_exact(64) {
                if let Ok(k) = <[u8; 32] as hex::FromHex>::from_hex(chunk) {
                    candidates.push(k);
                }
            }
        }
    }
    candidates.sort_unstable();
    candidates.dedup();
    assert!(candidates.len() > 1000);
    for k in &candidates {
        let tried: RecordKeys = needs
            .iter()
            .map(|n| ((n.batch, n.dataset.clone()), custody::RecordKey(*k)))
            .collect();
        assert!(
            thief
                .open_with(&access, sealed.clone(), &tried)
                .await
                .is_err()
        );
    }
    // Only the custodian's derivation opens them.
    let released: RecordKeys = needs
        .iter()
        .map(|n| {
            let s = n.wrapped.open(&custodian, "eu-fr").unwrap();
            (
                (n.batch, n.dataset.clone()),
                s.record_key(&subject, &n.dataset),
            )
        })
        .collect();
    let records = thief.open_with(&access, sealed, &released).await.unwrap();
    assert_eq!(records.len(), 3);
    assert!(records.iter().all(|r| r.fields["phone"] == phone));
}
