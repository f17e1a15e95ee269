//! One suite, both backends: round trips under a logged access, nothing
//! personal in clear at rest, crypto-shredding that holds against a backup,
//! authenticated ciphertexts, bad input that changes nothing, resumable KEK
//! rotation, and retention sweeps. The PostgreSQL run needs
//! `RESIDENCY_TEST_POSTGRES` (set by `.ci/run`).

mod common;

use common::{Fixture, event, log, logged};
use store::{Backend as _, Error, Store};

const PHONE: &str = "+33 6 12 34 56 78";
const ADDRESS: &str = "12 rue des Lilas, 75011 Paris";
const EMAIL: &str = "user-42@example.com";

async fn seed<B: store::Backend>(store: &Store<B>) -> String {
    let refs = store
        .ingest(
            "eu-fr",
            &[
                event(
                    EMAIL,
                    "profile",
                    "p1",
                    &[("phone", PHONE), ("address", ADDRESS)],
                ),
                event(
                    EMAIL,
                    "device",
                    "d1",
                    &[("language", "fr-FR"), ("os_version", "17.4.1")],
                ),
                event("user-7", "profile", "p1", &[("phone", "+47 412 34 567")]),
            ],
        )
        .await
        .unwrap();
    refs[0].clone()
}

macro_rules! on_both_backends {
    ($($test:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    let f = <super::common::SqliteFixture as super::Fixture>::new().await.unwrap();
                    super::$test(f).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    if let Some(f) = <super::common::PgFixture as super::Fixture>::new().await {
                        super::$test(f).await;
                    }
                }
            )*
        }
    };
}

on_both_backends!(
    round_trip_under_a_logged_access,
    no_log_entry_no_plaintext,
    nothing_personal_in_clear_at_rest,
    erasure_holds_against_a_backup_taken_before,
    new_subjects_after_restoring_an_older_backup_get_live_keys,
    tampered_or_moved_ciphertexts_fail_authentication,
    bad_input_is_rejected_and_changes_nothing,
    later_event_for_the_same_record_wins_within_a_batch,
    later_event_for_the_same_record_wins_across_sealing_chunks,
    a_batch_whose_rows_stop_short_is_rolled_back,
    kek_rotation_is_resumable_and_leaves_records_alone,
    sweep_deletes_only_records_past_their_dataset_retention,
    the_sweeper_sweeps_on_its_own,
    subjects_are_listed_by_dataset,
    subjects_are_selected_by_public_fields_only,
    a_number_or_boolean_filter_matches_the_stored_string_of_its_canonical_form,
    an_access_logged_by_subject_set_root_reads_only_that_set,
    concurrent_access_notes_are_all_committed,
    a_subjects_accesses_page_newest_first_below_a_cursor,
    a_subjects_user_id_is_kept_sealed_until_erasure,
    sealed_records_open_only_under_an_access_naming_them,
    a_salted_entry_opens_only_with_its_openings,
    a_denied_entry_opens_nothing,
    erasure_deletes_the_openings_and_keeps_the_leaves,
    records_sealed_for_a_custodian_open_only_with_its_record_keys,
    a_custodian_key_rotation_rewraps_batch_keys_resumably,
    moving_a_store_under_a_custodian_reseals_every_record_resumably,
);

fn opening(subject: &str, salt: u8) -> entry::Opening {
    entry::Opening {
        subject: subject.to_owned(),
        salt: [salt; 32],
    }
}

fn indices(accesses: Vec<(u64, Option<entry::Opening>)>) -> Vec<u64> {
    accesses.into_iter().map(|(i, _)| i).collect()
}

async fn a_salted_entry_opens_only_with_its_openings<F: Fixture>(f: F) {
    let subject = seed(f.store()).await;
    let other = f.store().subject_ref("user-7");
    let openings = vec![opening(&subject, 1), opening("", 2)];
    let set = entry::SubjectSet::of(&openings);
    let entry = serde_json::to_vec(&serde_json::json!({
        "kind": "access", "decision": "allow", "subjects": [], "subjects_root": set.root().to_hex(),
        "subject_count": 2, "datasets": ["profile"],
    }))
    .unwrap();
    let seq = log().await;
    let s = seq.add(entry.clone()).await.unwrap();
    // Another salt, or the pseudonym alone, is not the opening.
    for wrong in [
        vec![opening(&subject, 3), opening("", 2)],
        vec![opening(&subject, 1)],
        vec![opening(&subject, 1), opening(&other, 2)],
    ] {
        assert!(matches!(
            store::LoggedAccess::with_openings(&s, &entry, &wrong),
            Err(Error::NotLogged(_))
        ));
    }
    assert!(matches!(
        store::LoggedAccess::with_subjects(&s, &entry, std::slice::from_ref(&subject)),
        Err(Error::NotLogged(_))
    ));
    let access = store::LoggedAccess::with_openings(&s, &entry, &openings).unwrap();
    let profile = f.store().read(&access, &subject, "profile").await.unwrap();
    assert_eq!(profile[0].fields["phone"], PHONE);
    assert!(matches!(
        f.store().read(&access, &other, "profile").await,
        Err(Error::NotLogged(_))
    ));
    // The region keeps the openings; the proof is rebuilt from the leaves.
    f.store().note_access(s.index(), &openings).await.unwrap();
    let accesses = f.store().accesses(&subject).await.unwrap();
    assert_eq!(accesses.len(), 1);
    let (index, mine) = accesses[0].clone();
    assert_eq!(index, s.index());
    let mine = mine.expect("a salted entry's opening");
    assert_eq!(mine, openings[0]);
    let rebuilt = f.store().subject_set_at(index).await.unwrap();
    assert_eq!(rebuilt, set);
    let (position, proof) = rebuilt.prove(&mine.leaf()).unwrap();
    tlog::merkle::verify_inclusion(&mine.leaf(), position, 2, &proof, &set.root()).unwrap();
}

/// Regression: `LoggedAccess` accepted a denial's entry.
async fn a_denied_entry_opens_nothing<F: Fixture>(f: F) {
    let subject = seed(f.store()).await;
    let seq = log().await;
    for decision in [Some("deny"), None, Some("Allow")] {
        let entry = serde_json::to_vec(&serde_json::json!({
            "kind": "access", "decision": decision, "subjects": [&subject], "datasets": ["profile"],
        }))
        .unwrap();
        let s = seq.add(entry.clone()).await.unwrap();
        assert!(
            matches!(
                store::LoggedAccess::new(&s, &entry),
                Err(Error::NotLogged(_))
            ),
            "{decision:?}"
        );
    }
    f.finish().await;
}

async fn erasure_deletes_the_openings_and_keeps_the_leaves<F: Fixture>(f: F) {
    let subject = seed(f.store()).await;
    let other = f.store().subject_ref("user-7");
    let openings = vec![opening(&subject, 1), opening(&other, 2)];
    f.store().note_access(7, &openings).await.unwrap();
    assert!(f.store().erase(&subject).await.unwrap());
    assert!(f.store().accesses(&subject).await.unwrap().is_empty());
    // Nor is the erased salt anywhere the backend keeps (overwritten, and
    // gone from SQLite's write-ahead log).
    for (where_, bytes) in f.stored_bytes().await {
        assert!(
            !bytes.windows(32).any(|w| w == [1u8; 32]),
            "an erased salt in {where_}"
        );
    }
    // The other subject can still prove membership: the erased one's leaf
    // stays, without anything that links it to anyone.
    let set = f.store().subject_set_at(7).await.unwrap();
    assert_eq!(set, entry::SubjectSet::of(&openings));
    let (_, theirs) = f.store().accesses(&other).await.unwrap().remove(0);
    assert!(set.prove(&theirs.unwrap().leaf()).is_some());
    f.finish().await;
}

async fn sealed_records_open_only_under_an_access_naming_them<F: Fixture>(f: F) {
    let subject = seed(f.store()).await;
    let datasets = vec!["profile".to_string(), "device".to_string()];
    let sealed = f.store().sealed(&subject, &datasets).await.unwrap();
    assert_eq!(sealed.rows().len(), 2);
    for r in sealed.rows() {
        let bytes = String::from_utf8_lossy(&r.sealed);
        assert!(!bytes.contains(PHONE) && !r.public.contains(PHONE));
    }
    let seq = log().await;
    let profile_only = logged(&seq, &[&subject], &["profile"]).await;
    assert!(matches!(
        f.store().open(&profile_only, sealed.clone()).await,
        Err(Error::NotLogged(_))
    ));
    let other = logged(&seq, &["t1.someone-else"], &["profile", "device"]).await;
    assert!(matches!(
        f.store().open(&other, sealed.clone()).await,
        Err(Error::NotLogged(_))
    ));
    let both = logged(&seq, &[&subject], &["profile", "device"]).await;
    let records = f.store().open(&both, sealed).await.unwrap();
    assert_eq!(records[0].fields["phone"], PHONE);
    assert_eq!(records[1].fields["os_version"], "17.4.1");
}

async fn a_subjects_accesses_page_newest_first_below_a_cursor<F: Fixture>(f: F) {
    let subject = seed(f.store()).await;
    let other = f.store().subject_ref("user-7");
    for i in [3u64, 5, 8, 13, 21] {
        f.store()
            .note_access(i, &[opening(&subject, i as u8)])
            .await
            .unwrap();
        f.store()
            .note_access(i + 1, &[opening(&other, 1)])
            .await
            .unwrap();
    }
    let page = |below, limit| f.store().accesses_below(&subject, below, limit);
    assert_eq!(indices(page(u64::MAX, 2).await.unwrap()), [21, 13]);
    assert_eq!(indices(page(13, 2).await.unwrap()), [8, 5]);
    assert_eq!(indices(page(5, 10).await.unwrap()), [3]);
    assert!(page(3, 10).await.unwrap().is_empty());
    assert_eq!(
        indices(page(u64::MAX, usize::MAX).await.unwrap()),
        [21, 13, 8, 5, 3]
    );
    // Each with this subject's own opening in that entry.
    let (_, opening_at_8) = page(9, 1).await.unwrap().remove(0);
    assert_eq!(opening_at_8.unwrap().salt, opening(&subject, 8).salt);
    // The export's order: the log's.
    assert_eq!(
        indices(f.store().accesses(&subject).await.unwrap()),
        [3, 5, 8, 13, 21]
    );
}

async fn a_subjects_user_id_is_kept_sealed_until_erasure<F: Fixture>(mut f: F) {
    // Not kept unless the region notifies the app.
    let before = seed(f.store()).await;
    f.store_mut()
        .keep_user_ids(b"the app's notification secret, 32+");
    let ids = f
        .store()
        .people(std::slice::from_ref(&before))
        .await
        .unwrap();
    assert!(ids.is_empty(), "stored before user ids were kept");
    let stored = f
        .store()
        .ingest(
            "eu-fr",
            &[event("user-8", "profile", "p7", &[("phone", PHONE)])],
        )
        .await
        .unwrap();
    let subject = stored[0].clone();
    let stranger = f.store().subject_ref("never-ingested");
    let ids = f
        .store()
        .people(&[subject.clone(), stranger.clone(), before])
        .await
        .unwrap();
    assert_eq!(ids.len(), 1, "only the subject stored since");
    assert_eq!(ids[&subject], ("FR".to_owned(), "user-8".to_owned()));
    // Sealed: not in clear anywhere the backend keeps.
    for (where_, bytes) in f.stored_bytes().await {
        assert!(
            !bytes.windows(6).any(|w| w == b"user-8"),
            "a user id in clear in {where_}"
        );
    }
    // Another secret opens none.
    f.store_mut()
        .keep_user_ids(b"another secret, at least 24 bytes");
    assert!(
        f.store()
            .people(std::slice::from_ref(&subject))
            .await
            .unwrap()
            .is_empty()
    );
    f.store_mut()
        .keep_user_ids(b"the app's notification secret, 32+");
    // A counter of the region's own starts at 0 and keeps what is set.
    assert_eq!(f.store().counter("notify_cursor").await.unwrap(), 0);
    f.store().set_counter("notify_cursor", 41).await.unwrap();
    f.store().set_counter("notify_cursor", 42).await.unwrap();
    assert_eq!(f.store().counter("notify_cursor").await.unwrap(), 42);
    assert!(f.store().erase(&subject).await.unwrap());
    assert!(f.store().people(&[subject]).await.unwrap().is_empty());
}

async fn concurrent_access_notes_are_all_committed<F: Fixture>(f: F) {
    let subject = seed(f.store()).await;
    let other = f.store().subject_ref("user-7");
    let both = [subject.clone(), other.clone()];
    let openings: Vec<entry::Opening> = both.iter().map(|s| opening(s, 9)).collect();
    let notes = (0..64u64).map(|i| {
        let who = if i % 2 == 0 {
            &openings[..]
        } else {
            &openings[..1]
        };
        f.store().note_access(i, who)
    });
    for r in futures::future::join_all(notes).await {
        r.unwrap();
    }
    assert_eq!(
        indices(f.store().accesses(&subject).await.unwrap()),
        (0..64).collect::<Vec<_>>()
    );
    assert_eq!(
        indices(f.store().accesses(&other).await.unwrap()),
        (0..64).step_by(2).collect::<Vec<_>>()
    );
    let mut sorted = both.to_vec();
    sorted.sort();
    assert_eq!(f.store().subjects_at(10).await.unwrap(), sorted);
    assert_eq!(f.store().subjects_at(11).await.unwrap(), vec![subject]);
    assert!(f.store().subjects_at(64).await.unwrap().is_empty());
}

async fn subjects_are_listed_by_dataset<F: Fixture>(f: F) {
    let subject = seed(f.store()).await;
    let other = f.store().subject_ref("user-7");
    let mut both = vec![subject.clone(), other];
    both.sort();
    assert_eq!(f.store().subjects_with("profile").await.unwrap(), both);
    assert_eq!(
        f.store().subjects_with("device").await.unwrap(),
        vec![subject]
    );
    assert!(f.store().subjects_with("social").await.unwrap().is_empty());
}

async fn subjects_are_selected_by_public_fields_only<F: Fixture>(f: F) {
    let store = f.store();
    store
        .ingest(
            "eu-fr",
            &[
                event(
                    EMAIL,
                    "device",
                    "d1",
                    &[("language", "fr-FR"), ("app_version", "4.2")],
                ),
                event(
                    "user-7",
                    "device",
                    "d7",
                    &[("language", "nb-NO"), ("app_version", "4.1")],
                ),
                event("user-8", "device", "d8", &[("language", "fr-FR")]),
            ],
        )
        .await
        .unwrap();
    let version = |v: &str| vec![("app_version".to_owned(), serde_json::json!(v))];
    assert_eq!(
        store
            .subjects_where("device", &version("4.2"))
            .await
            .unwrap(),
        vec![store.subject_ref(EMAIL)]
    );
    assert!(
        store
            .subjects_where("device", &version("5.0"))
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .subjects_where("profile", &[])
            .await
            .unwrap()
            .is_empty()
    );
    // A personal field would have to be decrypted to match: refused.
    let language = vec![("language".to_owned(), serde_json::json!("fr-FR"))];
    match store.subjects_where("device", &language).await {
        Err(Error::Rejected(why)) => assert!(why.contains("not public"), "{why}"),
        other => panic!("a personal field selected subjects: {other:?}"),
    }
    assert!(matches!(
        store.subjects_where("nowhere", &version("4.2")).await,
        Err(Error::Rejected(_))
    ));
    f.finish().await;
}

async fn a_number_or_boolean_filter_matches_the_stored_string_of_its_canonical_form<F: Fixture>(
    f: F,
) {
    let store = f.store();
    store
        .ingest(
            "eu-fr",
            &[
                event("user-1", "device", "d1", &[("app_version", "4.2")]),
                event("user-2", "device", "d2", &[("app_version", "42")]),
                event("user-3", "device", "d3", &[("app_version", "true")]),
            ],
        )
        .await
        .unwrap();
    let select = |v: serde_json::Value| async move {
        store
            .subjects_where("device", &[("app_version".to_owned(), v)])
            .await
    };
    let one = |user: &str| vec![store.subject_ref(user)];
    assert_eq!(select(serde_json::json!(4.2)).await.unwrap(), one("user-1"));
    assert_eq!(
        select(serde_json::json!("4.2")).await.unwrap(),
        one("user-1")
    );
    assert_eq!(select(serde_json::json!(42)).await.unwrap(), one("user-2"));
    assert_eq!(
        select(serde_json::json!(true)).await.unwrap(),
        one("user-3")
    );
    // The canonical form of 42.0 is "42.0", which no record holds.
    assert!(select(serde_json::json!(42.0)).await.unwrap().is_empty());
    assert!(select(serde_json::json!(false)).await.unwrap().is_empty());
    for v in [
        serde_json::json!(null),
        serde_json::json!(["4.2"]),
        serde_json::json!({"v": "4.2"}),
    ] {
        match select(v).await {
            Err(Error::Rejected(why)) => {
                assert!(why.contains("device.app_version"), "{why}");
                assert!(why.contains("string, number or boolean"), "{why}");
            }
            other => panic!("a filter of another JSON type was taken: {other:?}"),
        }
    }
    // Names the catalog does not know are not repeated.
    for (ds, field) in [
        ("jane.roe@example.com", "app_version"),
        ("device", "jane.roe@example.com"),
    ] {
        match store
            .subjects_where(ds, &[(field.to_owned(), serde_json::json!("x"))])
            .await
        {
            Err(Error::Rejected(why)) => assert!(!why.contains("jane"), "{why}"),
            other => panic!("an unknown name was taken: {other:?}"),
        }
    }
    f.finish().await;
}

async fn an_access_logged_by_subject_set_root_reads_only_that_set<F: Fixture>(f: F) {
    let subject = seed(f.store()).await;
    let other = f.store().subject_ref("user-7");
    let set = vec![subject.clone(), "t1.someone-else".to_string()];
    let (_, root) = store::subject_set_root(&set);
    let entry = serde_json::to_vec(&serde_json::json!({
        "kind": "transfer", "decision": "allow", "subjects_root": root.to_hex(), "subject_count": 2, "datasets": ["profile"],
    }))
    .unwrap();
    let seq = log().await;
    let s = seq.add(entry.clone()).await.unwrap();
    assert!(
        matches!(
            store::LoggedAccess::new(&s, &entry),
            Err(Error::NotLogged(_))
        ),
        "a rooted entry needs its set"
    );
    let wrong = vec![subject.clone(), other.clone()];
    assert!(matches!(
        store::LoggedAccess::with_subjects(&s, &entry, &wrong),
        Err(Error::NotLogged(_))
    ));
    // Order and duplicates do not matter: the root is over the sorted set.
    let given = vec![set[1].clone(), subject.clone(), subject.clone()];
    let access = store::LoggedAccess::with_subjects(&s, &entry, &given).unwrap();
    let profile = f.store().read(&access, &subject, "profile").await.unwrap();
    assert_eq!(profile[0].fields["phone"], PHONE);
    assert!(matches!(
        f.store().read(&access, &other, "profile").await,
        Err(Error::NotLogged(_))
    ));
}

async fn round_trip_under_a_logged_access<F: Fixture>(mut f: F) {
    let subject = seed(f.store()).await;
    assert!(
        subject.starts_with("t1."),
        "user ids are stored as keyed pseudonyms"
    );
    assert_eq!(subject, f.store().subject_ref(EMAIL));
    assert_eq!(
        f.store().home(&subject).await.unwrap().as_deref(),
        Some("eu-fr")
    );
    let seq = log().await;
    let access = logged(&seq, &[&subject], &["profile", "device"]).await;
    let profile = f.store().read(&access, &subject, "profile").await.unwrap();
    assert_eq!(profile.len(), 1);
    assert_eq!(profile[0].fields["phone"], PHONE);
    assert_eq!(profile[0].fields["address"], ADDRESS);
    let device = f.store().read(&access, &subject, "device").await.unwrap();
    assert_eq!(device[0].fields["os_version"], "17.4.1");
    let later = logged(&seq, &[&subject], &["profile"]).await;
    f.store()
        .note_listed_access(std::slice::from_ref(&subject), later.index())
        .await
        .unwrap();
    f.store()
        .note_listed_access(std::slice::from_ref(&subject), access.index())
        .await
        .unwrap();
    f.store()
        .note_access(access.index(), &[opening(&subject, 4)])
        .await
        .unwrap();
    assert_eq!(
        indices(f.store().accesses(&subject).await.unwrap()),
        vec![access.index(), later.index()],
        "in log order, each once"
    );
    // Reopening with the same keys reads the same data.
    f.reopen().await;
    assert_eq!(
        f.store().read(&access, &subject, "profile").await.unwrap(),
        profile
    );
    f.finish().await;
}

async fn no_log_entry_no_plaintext<F: Fixture>(f: F) {
    let store = f.store();
    let subject = seed(store).await;
    let other = store.subject_ref("user-7");
    let seq = log().await;
    // An entry about someone else, or another dataset, does not open this one.
    let access = logged(&seq, &[&other], &["profile"]).await;
    assert!(matches!(
        store.read(&access, &subject, "profile").await,
        Err(Error::NotLogged(_))
    ));
    let access = logged(&seq, &[&subject], &["device"]).await;
    assert!(matches!(
        store.read(&access, &subject, "profile").await,
        Err(Error::NotLogged(_))
    ));
    // An acknowledgement shown with another entry than the one sequenced.
    let entry = serde_json::to_vec(
        &serde_json::json!({"decision": "allow", "subjects": [&other], "datasets": ["profile"]}),
    )
    .unwrap();
    let s = seq.add(entry).await.unwrap();
    let forged = serde_json::to_vec(
        &serde_json::json!({"decision": "allow", "subjects": [&subject], "datasets": ["profile"]}),
    )
    .unwrap();
    assert!(matches!(
        store::LoggedAccess::new(&s, &forged),
        Err(Error::NotLogged(_))
    ));
    f.finish().await;
}

async fn nothing_personal_in_clear_at_rest<F: Fixture>(mut f: F) {
    seed(f.store()).await;
    let needles = [
        PHONE,
        ADDRESS,
        "+47 412 34 567",
        EMAIL,
        "user-7",
        "fr-FR",
        "17.4.1",
    ];
    let scan = |held: Vec<(String, Vec<u8>)>| {
        assert!(held.iter().any(|(_, b)| !b.is_empty()), "nothing stored?");
        for (place, bytes) in held {
            for n in needles {
                assert!(
                    !bytes.windows(n.len()).any(|w| w == n.as_bytes()),
                    "{n:?} found in clear in {place}"
                );
            }
        }
    };
    // SQLite: before a checkpoint the data sits in the WAL; after, in the
    // database files.
    scan(f.stored_bytes().await);
    f.backup_records().await;
    scan(f.stored_bytes().await);
    f.finish().await;
}

async fn erasure_holds_against_a_backup_taken_before<F: Fixture>(mut f: F) {
    let subject = seed(f.store()).await;
    let other = f.store().subject_ref("user-7");
    f.backup_records().await;
    assert!(f.store().erase(&subject).await.unwrap());
    assert!(!f.store().erase(&subject).await.unwrap(), "already gone");
    let seq = log().await;
    let access = logged(&seq, &[&subject], &["profile"]).await;
    assert!(matches!(
        f.store().read(&access, &subject, "profile").await,
        Err(Error::UnknownSubject)
    ));
    assert_eq!(f.store().home(&subject).await.unwrap(), None);
    // The records restored from the backup, beside the region's (current)
    // keyring and keys, do not decrypt either.
    f.restore_records().await;
    assert!(matches!(
        f.store().read(&access, &subject, "profile").await,
        Err(Error::UnknownSubject)
    ));
    // Other subjects are untouched.
    let access = logged(&seq, &[&other], &["profile"]).await;
    assert_eq!(
        f.store().read(&access, &other, "profile").await.unwrap()[0].fields["phone"],
        "+47 412 34 567"
    );
    f.finish().await;
}

async fn new_subjects_after_restoring_an_older_backup_get_live_keys<F: Fixture>(mut f: F) {
    seed(f.store()).await;
    f.backup_records().await;
    // A subject taken on and erased after the backup: its number's key is gone.
    let gone = f
        .store()
        .ingest(
            "eu-fr",
            &[event("user-8", "profile", "p1", &[("phone", PHONE)])],
        )
        .await
        .unwrap()
        .remove(0);
    assert!(f.store().erase(&gone).await.unwrap());
    f.restore_records().await;
    // The restored numbering would give that number out again; it is skipped.
    let refs = f
        .store()
        .ingest(
            "eu-fr",
            &[
                event("user-9", "profile", "p1", &[("phone", "+33 6 99 99 99 99")]),
                event(
                    "user-10",
                    "profile",
                    "p1",
                    &[("phone", "+33 6 10 10 10 10")],
                ),
            ],
        )
        .await
        .unwrap();
    let seq = log().await;
    let access = logged(&seq, &[&refs[0], &refs[1]], &["profile"]).await;
    assert_eq!(
        f.store().read(&access, &refs[0], "profile").await.unwrap()[0].fields["phone"],
        "+33 6 99 99 99 99"
    );
    assert_eq!(
        f.store().read(&access, &refs[1], "profile").await.unwrap()[0].fields["phone"],
        "+33 6 10 10 10 10"
    );
    f.finish().await;
}

async fn tampered_or_moved_ciphertexts_fail_authentication<F: Fixture>(f: F) {
    let subject = seed(f.store()).await;
    f.store()
        .ingest(
            "eu-fr",
            &[event(
                EMAIL,
                "profile",
                "p2",
                &[("phone", "+33 7 00 00 00 00")],
            )],
        )
        .await
        .unwrap();
    let seq = log().await;
    let access = logged(&seq, &[&subject], &["profile"]).await;
    let p1 = f.doc(&subject, "profile", "p1").await;
    let p2 = f.doc(&subject, "profile", "p2").await;
    // Move p2's ciphertext into p1: bound to p2's place, it fails there.
    f.set_doc(&subject, "profile", "p1", &p2).await;
    let err = f
        .store()
        .read(&access, &subject, "profile")
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Decrypt(ref what) if what == "profile record"),
        "{err}"
    );
    assert!(!err.to_string().contains("+33"), "errors carry no values");
    // Flip one bit of a ciphertext, anywhere: nonce, tag or body.
    for at in [0, 20, p1.len() - 1] {
        let mut tampered = p1.clone();
        tampered[at] ^= 0x01;
        f.set_doc(&subject, "profile", "p1", &tampered).await;
        assert!(
            matches!(
                f.store().read(&access, &subject, "profile").await,
                Err(Error::Decrypt(_))
            ),
            "bit flipped at byte {at} went unnoticed"
        );
    }
    // Cut short, it fails too, and says so without a panic.
    f.set_doc(&subject, "profile", "p1", &p1[..10]).await;
    assert!(matches!(
        f.store().read(&access, &subject, "profile").await,
        Err(Error::Decrypt(_))
    ));
    // Restored, it reads again: the failures were the tampering's.
    f.set_doc(&subject, "profile", "p1", &p1).await;
    assert_eq!(
        f.store().read(&access, &subject, "profile").await.unwrap()[0].fields["address"],
        ADDRESS
    );
    f.finish().await;
}

async fn bad_input_is_rejected_and_changes_nothing<F: Fixture>(f: F) {
    let store = f.store();
    let subject = seed(store).await;
    let big = "x".repeat(store::MAX_VALUE_LEN + 1);
    for (events, want) in [
        (
            vec![event("u", "health", "h1", &[("pulse", "60")])],
            "event 1: unknown dataset (not in the catalog)",
        ),
        (
            vec![event(
                "u",
                "profile",
                "p1",
                &[("phone", PHONE), ("shoe_size", "44")],
            )],
            "event 1: 1 field(s) not in the catalog for profile",
        ),
        (
            vec![event("u", "profile", "p1", &[("address", &big)])],
            "event 1: profile.address is larger than",
        ),
        (
            vec![event("", "profile", "p1", &[("phone", PHONE)])],
            "needs a user id",
        ),
        (
            vec![store::Event {
                time: i64::MIN,
                ..event("u", "profile", "p1", &[("phone", PHONE)])
            }],
            "event 1: time is outside the years 1 to 9999",
        ),
    ] {
        // A good event first: the whole batch must be refused.
        let mut batch = vec![event("user-99", "profile", "p9", &[("phone", PHONE)])];
        batch.extend(events);
        let err = store.ingest("eu-fr", &batch).await.unwrap_err();
        assert!(err.to_string().contains(want), "{err}");
        assert!(!err.to_string().contains(PHONE));
        for echoed in ["health", "shoe_size", "pulse"] {
            assert!(!err.to_string().contains(echoed), "{err}");
        }
    }
    let seq = log().await;
    let nine = store.subject_ref("user-99");
    let access = logged(&seq, &[&nine], &["profile"]).await;
    assert!(
        matches!(
            store.read(&access, &nine, "profile").await,
            Err(Error::UnknownSubject)
        ),
        "nothing of the refused batches was stored"
    );
    let access = logged(&seq, &[&subject], &["profile"]).await;
    assert_eq!(
        store.read(&access, &subject, "profile").await.unwrap()[0].fields["phone"],
        PHONE
    );
    f.finish().await;
}

async fn later_event_for_the_same_record_wins_within_a_batch<F: Fixture>(f: F) {
    let store = f.store();
    let refs = store
        .ingest(
            "eu-fr",
            &[
                event("u1", "profile", "p1", &[("phone", "+33 1 00 00 00 01")]),
                event("u2", "profile", "p1", &[("phone", "+33 1 00 00 00 02")]),
                event("u1", "profile", "p1", &[("phone", "+33 1 00 00 00 03")]),
            ],
        )
        .await
        .unwrap();
    assert_eq!(refs.len(), 3);
    assert_eq!(refs[0], refs[2]);
    let seq = log().await;
    let access = logged(&seq, &[&refs[0], &refs[1]], &["profile"]).await;
    let one = store.read(&access, &refs[0], "profile").await.unwrap();
    assert_eq!(one.len(), 1);
    assert_eq!(one[0].fields["phone"], "+33 1 00 00 00 03");
    let two = store.read(&access, &refs[1], "profile").await.unwrap();
    assert_eq!(two[0].fields["phone"], "+33 1 00 00 00 02");
    f.finish().await;
}

/// Regression: a batch is sealed and written in chunks; a record repeated
/// in a later chunk must still replace the earlier one.
async fn later_event_for_the_same_record_wins_across_sealing_chunks<F: Fixture>(f: F) {
    let store = f.store();
    let phones: Vec<String> = (0..600).map(|i| format!("+33 1 00 00 {i:04}")).collect();
    let events: Vec<_> = phones
        .iter()
        .enumerate()
        .map(|(i, phone)| {
            // Events 0 and 599 are the same record of the same user.
            let (user, id) = if i == 599 {
                (0, "p0".to_string())
            } else {
                (i % 7, format!("p{i}"))
            };
            event(&format!("u{user}"), "profile", &id, &[("phone", phone)])
        })
        .collect();
    let refs = store.ingest("eu-fr", &events).await.unwrap();
    assert_eq!(refs[0], refs[599]);
    let seq = log().await;
    let access = logged(&seq, &[&refs[0]], &["profile"]).await;
    let records = store.read(&access, &refs[0], "profile").await.unwrap();
    let p0: Vec<_> = records.iter().filter(|r| r.record_id == "p0").collect();
    assert_eq!(p0.len(), 1);
    assert_eq!(p0[0].fields["phone"], phones[599]);
    // u0 holds events 0, 7, …, 595, and 599 replaced the first.
    assert_eq!(records.len(), 86);
    f.finish().await;
}

/// A backend commits a batch only once every row announced has arrived:
/// if sealing stops part way, nothing of the batch is written.
async fn a_batch_whose_rows_stop_short_is_rolled_back<F: Fixture>(f: F) {
    use store::backend::{Backend as _, RecordStream, SealedRecord};
    let backend = f.store().backend();
    let (chunks, stream) = RecordStream::channel(2, 2);
    let row = SealedRecord {
        sid: 900,
        dataset: "profile".into(),
        record_id: "p1".into(),
        time: 1,
        public: "{}".into(),
        sealed: vec![1, 2, 3],
    };
    chunks.send(vec![row]).await.unwrap();
    drop(chunks);
    let err = backend
        .put_records(
            "eu-fr".into(),
            vec![("t1.short".into(), 900, None)],
            901,
            stream,
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("1 of 2 records"), "{err}");
    assert!(
        backend
            .subject_ids(vec!["t1.short".into()])
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        backend
            .subject_records("t1.short".into(), vec!["profile".into()])
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(backend.next_sid().await.unwrap(), 0);
    f.finish().await;
}

async fn kek_rotation_is_resumable_and_leaves_records_alone<F: Fixture>(mut f: F) {
    let events: Vec<_> = (0..25)
        .map(|i| {
            event(
                &format!("user-{i}"),
                "profile",
                "p1",
                &[("phone", &format!("+33 6 00 00 00 {i:02}"))],
            )
        })
        .collect();
    let subjects = f.store().ingest("eu-fr", &events).await.unwrap();
    let sealed_before = f.doc(&subjects[3], "profile", "p1").await;
    f.add_kek().await;
    // Every key: the subjects' and those made ahead for subjects to come.
    let all = f.store().keys_to_rewrap().await.unwrap();
    assert!(all >= 25, "{all}");

    // Interrupted after its first page: dropped mid-run, as a crash would.
    let (tx, rx) = tokio::sync::oneshot::channel();
    let mut tx = Some(tx);
    tokio::select! {
        biased;
        _ = rx => {}
        _ = f.store().rewrap(1000, |done| {
            if let Some(tx) = tx.take() {
                assert_eq!(done, 1000);
                let _ = tx.send(());
            }
        }) => panic!("the rotation was not interrupted"),
    }
    f.reopen().await;
    let left = f.store().keys_to_rewrap().await.unwrap();
    assert!(
        (all - 2000..=all - 1000).contains(&left),
        "{left} of {all} left after one page"
    );
    // Halfway, every record still reads (keys under both KEKs).
    let seq = log().await;
    let refs: Vec<&str> = subjects.iter().map(String::as_str).collect();
    let access = logged(&seq, &refs, &["profile"]).await;
    for (i, s) in subjects.iter().enumerate() {
        let r = f.store().read(&access, s, "profile").await.unwrap();
        assert_eq!(r[0].fields["phone"], format!("+33 6 00 00 00 {i:02}"));
    }
    // Resumed: it does only what is left, and then nothing.
    let mut seen = Vec::new();
    let done = f.store().rewrap(1000, |n| seen.push(n)).await.unwrap();
    assert_eq!(done, left);
    assert_eq!(seen.last(), Some(&left));
    assert_eq!(f.store().keys_to_rewrap().await.unwrap(), 0);
    assert_eq!(f.store().rewrap(10, |_| {}).await.unwrap(), 0);
    // Records were not rewritten; with the old KEK gone, all still read.
    assert_eq!(f.doc(&subjects[3], "profile", "p1").await, sealed_before);
    f.retire_old_keks().await;
    for (i, s) in subjects.iter().enumerate() {
        let r = f.store().read(&access, s, "profile").await.unwrap();
        assert_eq!(r[0].fields["phone"], format!("+33 6 00 00 00 {i:02}"));
    }
    f.finish().await;
}

async fn sweep_deletes_only_records_past_their_dataset_retention<F: Fixture>(f: F) {
    const DAY: i64 = 86_400;
    let now = 1_800_000_000;
    let at = |mut e: store::Event, t: i64| {
        e.time = t;
        e
    };
    let store = f.store();
    // `network` keeps 90 days (examples/policy/catalog.toml); `profile` has no retention.
    let refs = store
        .ingest(
            "eu-fr",
            &[
                at(
                    event("u1", "network", "old", &[("ip", "192.0.2.1")]),
                    now - 91 * DAY,
                ),
                at(
                    event("u1", "network", "edge", &[("ip", "192.0.2.2")]),
                    now - 90 * DAY,
                ),
                at(
                    event("u1", "network", "new", &[("ip", "192.0.2.3")]),
                    now - DAY,
                ),
                at(event("u1", "profile", "ancient", &[("phone", PHONE)]), 0),
            ],
        )
        .await
        .unwrap();
    let swept = store.sweep(now).await.unwrap();
    assert_eq!(swept, vec![("network".to_string(), 1)]);
    let seq = log().await;
    let access = logged(&seq, &[&refs[0]], &["network", "profile"]).await;
    let ids = |rs: Vec<store::Record>| rs.into_iter().map(|r| r.record_id).collect::<Vec<_>>();
    assert_eq!(
        ids(store.read(&access, &refs[0], "network").await.unwrap()),
        ["edge", "new"]
    );
    assert_eq!(
        ids(store.read(&access, &refs[0], "profile").await.unwrap()),
        ["ancient"]
    );
    assert_eq!(
        store.sweep(now).await.unwrap(),
        vec![("network".to_string(), 0)]
    );
    f.finish().await;
}

async fn the_sweeper_sweeps_on_its_own<F: Fixture>(f: F) {
    let store = f.store();
    let mut old = event("u1", "network", "old", &[("ip", "192.0.2.1")]);
    old.time = 0; // 1970: long past the network dataset's 90 days.
    let refs = store
        .ingest(
            "eu-fr",
            &[old, event("u1", "profile", "p1", &[("phone", PHONE)])],
        )
        .await
        .unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let sweeper = store.run_sweeper(std::time::Duration::from_millis(20), |r| {
        let _ = tx.send(r.map_err(|e| e.to_string()));
    });
    let reports = async {
        let mut reports = Vec::new();
        while reports.len() < 3 {
            reports.push(rx.recv().await.unwrap().unwrap());
        }
        reports
    };
    let reports = tokio::select! {
        r = reports => r,
        () = sweeper => unreachable!("the sweeper runs forever"),
    };
    assert_eq!(reports[0], vec![("network".to_string(), 1)]);
    assert_eq!(reports[2], vec![("network".to_string(), 0)]);
    let seq = log().await;
    let access = logged(&seq, &[&refs[0]], &["network", "profile"]).await;
    assert!(
        store
            .read(&access, &refs[0], "network")
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store
            .read(&access, &refs[0], "profile")
            .await
            .unwrap()
            .len(),
        1
    );
    f.finish().await;
}

#[test]
fn key_files_are_private_and_refuse_to_be_overwritten() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("region.keys");
    let mut keys = store::keys::FileKeyProvider::create(&path).unwrap();
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert!(store::keys::FileKeyProvider::create(&path).is_err());
    // Rotation rewrites the file, still private, with the new KEK current.
    assert_eq!(keys.add_kek().unwrap(), "kek-2");
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let reread = store::keys::FileKeyProvider::open(&path).unwrap();
    assert_eq!(reread.kek_ids(), ["kek-1", "kek-2"]);
    std::fs::write(dir.path().join("bad.keys"), "kek k1 zz\n").unwrap();
    let err = store::keys::FileKeyProvider::open(&dir.path().join("bad.keys"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("line 1: bad KEK"), "{err}");
}

#[tokio::test]
async fn a_second_process_cannot_open_the_same_sqlite_store() {
    let dir = tempfile::tempdir().unwrap();
    let _first = store::SqliteBackend::open(dir.path()).unwrap();
    let err = store::SqliteBackend::open(dir.path()).unwrap_err();
    assert!(err.to_string().contains("open in another process"), "{err}");
}

#[test]
fn key_files_are_parsed_strictly() {
    let key = "00".repeat(32);
    let secret = "11".repeat(32);
    let path = std::path::Path::new("region.keys");
    let parse = |text: &str| store::keys::FileKeyProvider::parse(path, text).map(|_| ());
    assert!(parse(&format!("pseudonym {secret}\nkek kek-1 {key}\n")).is_ok());
    for (text, want) in [
        (format!("pseudonym {secret}\n"), "no KEK"),
        (format!("kek kek-1 {key}\n"), "no pseudonym secret"),
        (
            format!("pseudonym {secret}\nkek kek-1 +{}\n", &key[1..]),
            "line 2: bad KEK",
        ),
        (
            format!("pseudonym {secret}\nkek kek-1 {key}\nkek kek-1 {key}\n"),
            "KEK kek-1 listed twice",
        ),
        (
            format!("pseudonym {secret}\npseudonym {secret}\nkek kek-1 {key}\n"),
            "a second pseudonym secret",
        ),
        (
            format!("pseudonym {secret}\nkek {key}\n"),
            "line 2: expected",
        ),
    ] {
        let err = parse(&text).unwrap_err().to_string();
        assert!(err.contains(want), "{err}");
        assert!(!err.contains(&key) && !err.contains(&secret), "{err}");
    }
}

/// Under a custodian, every batch is sealed under keys derived from a
/// batch secret sealed to the custodian: the store's own keys open none of
/// it; the record keys the custodian derives for exactly the subject and
/// dataset open it; a key of another dataset or subject does not.
async fn records_sealed_for_a_custodian_open_only_with_its_record_keys<F: Fixture>(mut f: F) {
    use store::custody::{Custody, RecordKeys};
    let custodian = custody::CustodianKey::generate("custodian", custody::Suite::X25519).unwrap();
    f.store_mut().seal_for(Custody {
        key: custodian.public().clone(),
        region: "eu-fr".into(),
    });
    let subject = seed(f.store()).await;
    // A later batch of the same subject: sealed without any unwrap.
    f.store()
        .ingest(
            "eu-fr",
            &[event(EMAIL, "profile", "p2", &[("phone", PHONE)])],
        )
        .await
        .unwrap();
    let seq = log().await;
    let access = logged(&seq, &[&subject], &["profile", "device"]).await;
    let datasets = ["profile".to_owned(), "device".to_owned()];
    let sealed = f.store().sealed(&subject, &datasets).await.unwrap();
    assert_eq!(sealed.rows().len(), 3);
    assert!(
        f.store().open(&access, sealed.clone()).await.is_err(),
        "the region's own keys opened a record sealed for the custodian"
    );
    let needs = f.store().record_keys_needed(&sealed).await.unwrap();
    let mut pairs: Vec<(u64, &str)> = needs
        .iter()
        .map(|n| (n.batch, n.dataset.as_str()))
        .collect();
    pairs.sort();
    assert_eq!(
        pairs.len(),
        3,
        "two batches of profile, one of device: {pairs:?}"
    );
    // What the custodian releases: derived per (subject, dataset).
    let released: RecordKeys = needs
        .iter()
        .map(|n| {
            let secret = n.wrapped.open(&custodian, "eu-fr").unwrap();
            (
                (n.batch, n.dataset.clone()),
                secret.record_key(&subject, &n.dataset),
            )
        })
        .collect();
    let records = f
        .store()
        .open_with(&access, sealed.clone(), &released)
        .await
        .unwrap();
    assert_eq!(records.len(), 3);
    assert!(
        records
            .iter()
            .filter(|r| r.dataset == "profile")
            .all(|r| r.fields["phone"] == PHONE)
    );
    // Another dataset's key, or another subject's, opens nothing.
    let swapped: RecordKeys = needs
        .iter()
        .map(|n| {
            let secret = n.wrapped.open(&custodian, "eu-fr").unwrap();
            let other = if n.dataset == "profile" {
                "device"
            } else {
                "profile"
            };
            (
                (n.batch, n.dataset.clone()),
                secret.record_key(&subject, other),
            )
        })
        .collect();
    assert!(matches!(
        f.store().open_with(&access, sealed.clone(), &swapped).await,
        Err(Error::Decrypt(_))
    ));
    let someone_else: RecordKeys = needs
        .iter()
        .map(|n| {
            let secret = n.wrapped.open(&custodian, "eu-fr").unwrap();
            (
                (n.batch, n.dataset.clone()),
                secret.record_key("t1.someone-else", &n.dataset),
            )
        })
        .collect();
    assert!(
        f.store()
            .open_with(&access, sealed.clone(), &someone_else)
            .await
            .is_err()
    );
    // And nothing opens without a logged access naming the subject.
    let other_access = logged(&seq, &["t1.someone-else"], &["profile", "device"]).await;
    assert!(matches!(
        f.store().open_with(&other_access, sealed, &released).await,
        Err(Error::NotLogged(_))
    ));
    f.finish().await;
}

/// A custodian key rotation: every batch secret sealed anew to the new
/// key, a page per transaction, resumable after a failure, an answer not
/// under the new key refused; records keep opening, with the new key only.
async fn a_custodian_key_rotation_rewraps_batch_keys_resumably<F: Fixture>(mut f: F) {
    use store::custody::{Custody, RecordKeys};
    let old = custody::CustodianKey::generate("custodian", custody::Suite::X25519).unwrap();
    let new = custody::CustodianKey::generate("custodian", custody::Suite::XWing).unwrap();
    f.store_mut().seal_for(Custody {
        key: old.public().clone(),
        region: "eu-fr".into(),
    });
    let subject = seed(f.store()).await;
    for i in 0..4 {
        f.store()
            .ingest(
                "eu-fr",
                &[event(
                    EMAIL,
                    "profile",
                    &format!("p{}", i + 2),
                    &[("phone", PHONE)],
                )],
            )
            .await
            .unwrap();
    }
    let to = new.public().id().to_owned();
    assert_eq!(f.store().batch_keys_to_rewrap(&to).await.unwrap(), 5);
    // What the custodian does: open with whichever key, seal to the new.
    let rewrap = |ws: Vec<custody::WrappedSecret>| {
        let (old, new) = (&old, &new);
        async move {
            Ok(ws
                .iter()
                .map(|w| {
                    w.open(old, "eu-fr")
                        .unwrap()
                        .wrap(new.public(), "eu-fr")
                        .unwrap()
                })
                .collect())
        }
    };
    // An answer under another key changes nothing.
    let wrong = |ws: Vec<custody::WrappedSecret>| {
        let old = &old;
        async move {
            Ok(ws
                .iter()
                .map(|w| {
                    w.open(old, "eu-fr")
                        .unwrap()
                        .wrap(old.public(), "eu-fr")
                        .unwrap()
                })
                .collect())
        }
    };
    assert!(
        f.store()
            .rewrap_batch_keys(&to, 2, wrong, |_| ())
            .await
            .is_err()
    );
    assert_eq!(f.store().batch_keys_to_rewrap(&to).await.unwrap(), 5);
    // Stopped after the first page, then resumed.
    let mut calls = 0;
    let stop_after_one = |ws: Vec<custody::WrappedSecret>| {
        calls += 1;
        let fail = calls > 1;
        let (old, new) = (&old, &new);
        async move {
            if fail {
                return Err(store::Error::Keys {
                    path: "custodian".into(),
                    why: "down".into(),
                });
            }
            Ok(ws
                .iter()
                .map(|w| {
                    w.open(old, "eu-fr")
                        .unwrap()
                        .wrap(new.public(), "eu-fr")
                        .unwrap()
                })
                .collect())
        }
    };
    assert!(
        f.store()
            .rewrap_batch_keys(&to, 2, stop_after_one, |_| ())
            .await
            .is_err()
    );
    assert_eq!(f.store().batch_keys_to_rewrap(&to).await.unwrap(), 3);
    let mut seen = Vec::new();
    let done = f
        .store()
        .rewrap_batch_keys(&to, 2, rewrap, |n| seen.push(n))
        .await
        .unwrap();
    assert_eq!((done, seen), (3, vec![2, 3]));
    assert_eq!(f.store().batch_keys_to_rewrap(&to).await.unwrap(), 0);
    // The records open with keys derived under the new wrapping only.
    let seq = log().await;
    let access = logged(&seq, &[&subject], &["profile"]).await;
    let sealed = f
        .store()
        .sealed(&subject, &["profile".to_owned()])
        .await
        .unwrap();
    let needs = f.store().record_keys_needed(&sealed).await.unwrap();
    assert!(needs.iter().all(|n| n.wrapped.key_id() == to));
    assert!(needs.iter().all(|n| n.wrapped.open(&old, "eu-fr").is_err()));
    let released: RecordKeys = needs
        .iter()
        .map(|n| {
            let s = n.wrapped.open(&new, "eu-fr").unwrap();
            (
                (n.batch, n.dataset.clone()),
                s.record_key(&subject, &n.dataset),
            )
        })
        .collect();
    let records = f
        .store()
        .open_with(&access, sealed, &released)
        .await
        .unwrap();
    assert_eq!(records.len(), 5);
    f.finish().await;
}

/// Moving a store from its key file to a custodian: every record sealed
/// under a data key is sealed anew for the custodian and every data key
/// destroyed, a page at a time — stopped after the first page and run
/// again, it finishes; the key file then opens nothing, the custodian's
/// record keys open everything, and ingest carries on.
async fn moving_a_store_under_a_custodian_reseals_every_record_resumably<F: Fixture>(mut f: F) {
    use store::custody::{Custody, RecordKeys};
    let subject = seed(f.store()).await;
    let other = f.store().subject_ref("user-7");
    f.store()
        .ingest(
            "eu-fr",
            &[event("user-9", "profile", "p1", &[("phone", PHONE)])],
        )
        .await
        .unwrap();
    assert!(
        f.store()
            .erase(&f.store().subject_ref("user-9"))
            .await
            .unwrap()
    );
    let custodian = custody::CustodianKey::generate("custodian", custody::Suite::X25519).unwrap();
    let keys_before = f.store().data_keys_left().await.unwrap();
    assert!(keys_before > 2, "the subjects' keys and the spare ones");
    assert!(
        f.store().move_under_custody(10, |_| ()).await.is_err(),
        "a store that seals for no custodian cannot be moved under one"
    );
    f.store_mut().seal_for(Custody {
        key: custodian.public().clone(),
        region: "eu-fr".into(),
    });
    // Stopped as soon as the first page is done (as by Ctrl-C).
    let (tx, rx) = tokio::sync::oneshot::channel();
    let mut tx = Some(tx);
    tokio::select! {
        r = f.store().move_under_custody(1, |_| { if let Some(t) = tx.take() { let _ = t.send(()); } }) => {
            panic!("the move finished in one page: {r:?}")
        }
        _ = rx => {}
    }
    let left = f.store().data_keys_left().await.unwrap();
    assert!(left < keys_before && left > 0, "{left} of {keys_before}");
    let mut seen = Vec::new();
    let (dropped, resealed) = f
        .store()
        .move_under_custody(1000, |n| seen.push(n))
        .await
        .unwrap();
    assert_eq!(dropped, left);
    assert_eq!(seen.last(), Some(&left));
    assert!(resealed <= 3, "{resealed}");
    assert_eq!(f.store().data_keys_left().await.unwrap(), 0);
    // Run again: nothing left to do.
    assert_eq!(
        f.store().move_under_custody(1000, |_| ()).await.unwrap(),
        (0, 0)
    );

    let seq = log().await;
    let datasets = ["profile".to_owned(), "device".to_owned()];
    for (who, count, phone) in [(&subject, 2, PHONE), (&other, 1, "+47 412 34 567")] {
        let access = logged(&seq, &[who.as_str()], &["profile", "device"]).await;
        let sealed = f.store().sealed(who, &datasets).await.unwrap();
        assert_eq!(sealed.rows().len(), count);
        assert!(
            f.store().open(&access, sealed.clone()).await.is_err(),
            "the key file still opens a record after the move"
        );
        let needs = f.store().record_keys_needed(&sealed).await.unwrap();
        assert_eq!(
            needs.len(),
            count,
            "every record is sealed for the custodian"
        );
        let released: RecordKeys = needs
            .iter()
            .map(|n| {
                let secret = n.wrapped.open(&custodian, "eu-fr").unwrap();
                (
                    (n.batch, n.dataset.clone()),
                    secret.record_key(who, &n.dataset),
                )
            })
            .collect();
        let records = f
            .store()
            .open_with(&access, sealed, &released)
            .await
            .unwrap();
        assert!(
            records
                .iter()
                .filter(|r| r.dataset == "profile")
                .all(|r| r.fields["phone"] == phone)
        );
    }
    // Ingest carries on, for a known subject and a new one, with no key file
    // key made.
    f.store()
        .ingest(
            "eu-fr",
            &[
                event(EMAIL, "profile", "p2", &[("phone", PHONE)]),
                event("user-10", "profile", "p1", &[("phone", PHONE)]),
            ],
        )
        .await
        .unwrap();
    assert_eq!(f.store().data_keys_left().await.unwrap(), 0);
    f.finish().await;
}

/// Regression: a region's gateways started together on a fresh database
/// each created the schema at once, and all but one failed on PostgreSQL's
/// catalog (`duplicate key … pg_type_typname_nsp_index`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backends_starting_together_on_a_fresh_database_migrate_it_once() {
    let Some(f) = <common::PgFixture as Fixture>::new().await else {
        return;
    };
    let schema = format!("{}_fresh", f.schema);
    f.admin
        .batch_execute(&format!(
            "CREATE SCHEMA {schema}_records; CREATE SCHEMA {schema}_keyring;"
        ))
        .await
        .unwrap();
    let url = std::env::var(common::PG_ENV).unwrap();
    let (records, keyring) = common::pg_configs(&url, &schema);
    let starts = (0..6).map(|_| {
        let (records, keyring) = (records.clone(), keyring.clone());
        tokio::spawn(async move { store::PgBackend::with_configs(&records, &keyring).await })
    });
    for started in futures::future::join_all(starts).await {
        assert!(started.unwrap().is_ok());
    }
    f.admin
        .batch_execute(&format!(
            "DROP SCHEMA {schema}_records CASCADE; DROP SCHEMA {schema}_keyring CASCADE;"
        ))
        .await
        .unwrap();
}

/// Regression: two processes on one PostgreSQL database (a region's
/// gateways) each numbered new subjects from what it last saw, so the
/// second batch failed on the directory's uniqueness. Batches ingested
/// through two stores at once all land, every subject once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_stores_sharing_a_database_ingest_new_subjects_at_once() {
    let Some(f) = <common::PgFixture as Fixture>::new().await else {
        return;
    };
    let other = std::sync::Arc::new(f.open().await);
    let mine = std::sync::Arc::new(f.open().await);
    let batch = |store: usize, n: usize| -> Vec<store::Event> {
        (0..4)
            .map(|u| {
                let user = format!("s{store}-b{n}-u{u}");
                event(&user, "profile", "p", &[("phone", PHONE)])
            })
            .collect()
    };
    let runs = [mine.clone(), other].into_iter().enumerate().map(|(i, s)| {
        let batches: Vec<_> = (0..20).map(|n| batch(i, n)).collect();
        tokio::spawn(async move {
            for b in batches {
                s.ingest("eu-fr", &b).await.unwrap();
            }
        })
    });
    for r in futures::future::join_all(runs).await {
        r.unwrap();
    }
    // Every subject is known, under one number each.
    let subjects: Vec<String> = (0..2)
        .flat_map(|i| (0..20).flat_map(move |n| (0..4).map(move |u| format!("s{i}-b{n}-u{u}"))))
        .map(|u| mine.subject_ref(&u))
        .collect();
    for (s, _) in mine.backend().subject_ids(subjects.clone()).await.unwrap() {
        assert!(subjects.contains(&s));
    }
    assert_eq!(
        mine.backend()
            .subject_ids(subjects.clone())
            .await
            .unwrap()
            .len(),
        subjects.len()
    );
    let numbered = f
        .admin
        .query_one(
            &format!(
                "SELECT COUNT(DISTINCT sid), COUNT(*) FROM {}_records.subjects",
                f.schema
            ),
            &[],
        )
        .await
        .unwrap();
    assert_eq!(numbered.get::<_, i64>(0), numbered.get::<_, i64>(1));
    assert!(numbered.get::<_, i64>(1) >= subjects.len() as i64);
}
