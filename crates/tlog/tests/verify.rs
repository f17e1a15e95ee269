//! Properties of log verification on logs in memory: a log extended in any
//! steps verifies to the same tree and yields every entry once, in order;
//! any flipped byte in any tile or bundle is found.

use proptest::prelude::*;
use tlog::edge::{Edge, TileData};
use tlog::verify::{self, Consumer, Discrepancy, Stop};
use tlog::{Checkpoint, LogReader, MemStorage, Storage};

struct Collect(Vec<(u64, Vec<u8>)>);

impl Consumer for Collect {
    fn entry(&mut self, index: u64, bytes: &[u8]) -> Result<(), String> {
        self.0.push((index, bytes.to_vec()));
        Ok(())
    }
    async fn tiles(&mut self, _: Vec<TileData>) -> Result<(), String> {
        Ok(())
    }
}

fn entry(i: u64) -> Vec<u8> {
    format!("{{\"entry\":{i}}}").into_bytes()
}

/// A log of `n` entries in memory, with the partial tiles of every size in
/// `sizes` kept (as a live log keeps them), and its checkpoint at each.
async fn log(n: u64, sizes: &[u64]) -> (LogReader<MemStorage>, Vec<Checkpoint>) {
    let storage = MemStorage::new();
    let mut edge = Edge::new();
    let mut files = Vec::new();
    let mut cps = Vec::new();
    for i in 0..n {
        edge.push(&entry(i), &mut files).unwrap();
        if sizes.contains(&(i + 1)) || i + 1 == n {
            files.extend(edge.partial_tiles());
            cps.push(Checkpoint {
                origin: "example.org/log".into(),
                size: i + 1,
                root: edge.root().unwrap(),
                extensions: Vec::new(),
            });
        }
    }
    storage
        .write(files.into_iter().map(|(id, d)| (id.path(), d)).collect())
        .await
        .unwrap();
    (LogReader::new(storage), cps)
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn a_log_verified_in_any_steps_yields_every_entry_once(
        n in 1u64..1500,
        cuts in proptest::collection::vec(1u64..1500, 0..5),
    ) {
        rt().block_on(async {
            let mut sizes: Vec<u64> = cuts.into_iter().filter(|&c| c < n).collect();
            sizes.sort_unstable();
            sizes.dedup();
            let (reader, cps) = log(n, &sizes).await;
            let mut edge = Edge::new();
            let mut out = Collect(Vec::new());
            for cp in &cps {
                verify::extend(&reader, &mut edge, cp, &mut out).await.unwrap();
                prop_assert_eq!(edge.size(), cp.size);
            }
            prop_assert_eq!(out.0.len() as u64, n);
            for (i, (index, bytes)) in out.0.iter().enumerate() {
                prop_assert_eq!(*index, i as u64);
                prop_assert_eq!(bytes, &entry(i as u64));
            }
            Ok(())
        })?;
    }

    #[test]
    fn any_flipped_byte_in_any_tile_or_bundle_is_found(
        n in 2u64..1500,
        pick in any::<prop::sample::Index>(),
        offset in any::<prop::sample::Index>(),
        bit in 0u8..8,
    ) {
        rt().block_on(async {
            let (reader, cps) = log(n, &[]).await;
            let cp = cps.last().unwrap();
            let ids: Vec<_> = tlog::tile::tiles_of(n).collect();
            let id = ids[pick.index(ids.len())];
            let mut data = reader.read_tile(id).await.unwrap();
            let at = offset.index(data.len());
            data[at] ^= 1 << bit;
            reader.storage().write(vec![(id.path(), data)]).await.unwrap();
            let r = verify::extend(&reader, &mut Edge::new(), cp, &mut Collect(Vec::new())).await;
            prop_assert!(matches!(r, Err(Stop::Inconsistent(_))), "{} byte {} not found: {:?}", id.path(), at, r);
            Ok(())
        })?;
    }
}

#[tokio::test]
async fn a_checkpoint_with_another_root_is_refused_naming_both_roots() {
    let (reader, cps) = log(300, &[]).await;
    let mut cp = cps[0].clone();
    cp.root = tlog::hash::empty_root();
    let e = verify::extend(&reader, &mut Edge::new(), &cp, &mut Collect(Vec::new()))
        .await
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("the 300 entries hash to root "), "{e}");
    assert!(
        e.ends_with(&format!("the checkpoint says {}", cp.root.to_base64())),
        "{e}"
    );
}

#[tokio::test]
async fn a_missing_bundle_names_its_path() {
    let (reader, cps) = log(600, &[]).await;
    reader
        .storage()
        .delete(vec!["tile/entries/001".into()])
        .await
        .unwrap();
    let e = verify::extend(&reader, &mut Edge::new(), &cps[0], &mut Collect(Vec::new()))
        .await
        .unwrap_err();
    assert!(
        matches!(&e, Stop::Inconsistent(found @ Discrepancy::Missing { .. })
            if found.index() == Some(256) && found.to_string() == "tile/entries/001 is missing from the log"),
        "{e:?}"
    );
}

#[tokio::test]
async fn a_differing_tile_hash_names_the_entries_under_it_and_both_hashes() {
    let (reader, cps) = log(300, &[]).await;
    let id = tlog::tile::TileId::hashes_at(0, 0, 300).unwrap();
    let mut tile = reader.read_tile(id).await.unwrap();
    tile[5 * 32] ^= 1;
    reader
        .storage()
        .write(vec![(id.path(), tile.clone())])
        .await
        .unwrap();
    let e = verify::extend(&reader, &mut Edge::new(), &cps[0], &mut Collect(Vec::new()))
        .await
        .unwrap_err();
    let Stop::Inconsistent(
        found @ Discrepancy::TileHash {
            served, computed, ..
        },
    ) = &e
    else {
        panic!("{e:?}");
    };
    assert_eq!(found.index(), Some(5));
    assert_eq!(
        found.to_string(),
        "tile tile/0/000 hash 5 (entries 5..=5) differs from the hash of the entries"
    );
    assert_eq!(served.0[..], tile[5 * 32..6 * 32]);
    assert_eq!(*computed, tlog::leaf_hash(&entry(5)));
}
