//! Property tests: proofs generated for random trees verify and any flipped
//! bit breaks them; tile-based reads agree with an in-memory reference tree.

use proptest::prelude::*;
use tlog::edge::Edge;
use tlog::merkle::{Frontier, MemoryTree, ProofPlan, verify_consistency, verify_inclusion};
use tlog::{Hash, LogReader, MemStorage, Storage, leaf_hash};

fn reference(n: u64) -> MemoryTree {
    let mut t = MemoryTree::new();
    for i in 0..n {
        t.push(leaf_hash(&i.to_le_bytes()));
    }
    t
}

fn flip(proof: &[Hash], bit: usize) -> Vec<Hash> {
    let mut p = proof.to_vec();
    let (i, b) = (bit / 256 % p.len(), bit % 256);
    p[i].0[b / 8] ^= 1 << (b % 8);
    p
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn inclusion_proofs_verify_and_any_flipped_bit_fails(n in 1u64..700, index_seed: u64, bit: usize) {
        let t = reference(n);
        let index = index_seed % n;
        let proof = t.run(&ProofPlan::inclusion(index, n).unwrap()).unwrap();
        let root = t.root(n);
        let leaf = leaf_hash(&index.to_le_bytes());
        prop_assert!(verify_inclusion(&leaf, index, n, &proof, &root).is_ok());
        if !proof.is_empty() {
            prop_assert!(verify_inclusion(&leaf, index, n, &flip(&proof, bit), &root).is_err());
        }
        let mut bad_leaf = leaf;
        bad_leaf.0[bit % 32] ^= 1 << (bit % 8);
        prop_assert!(verify_inclusion(&bad_leaf, index, n, &proof, &root).is_err());
        let mut bad_root = root;
        bad_root.0[bit % 32] ^= 1 << (bit % 8);
        prop_assert!(verify_inclusion(&leaf, index, n, &proof, &bad_root).is_err());
    }

    #[test]
    fn consistency_proofs_verify_and_any_flipped_bit_fails(n in 1u64..700, m_seed: u64, bit: usize) {
        let t = reference(n);
        let m = m_seed % (n + 1);
        let proof = t.run(&ProofPlan::consistency(m, n).unwrap()).unwrap();
        let (r1, r2) = (t.root(m), t.root(n));
        prop_assert!(verify_consistency(m, n, &proof, &r1, &r2).is_ok());
        if !proof.is_empty() {
            prop_assert!(verify_consistency(m, n, &flip(&proof, bit), &r1, &r2).is_err());
        }
        if m > 0 && m < n {
            let mut bad = r1;
            bad.0[bit % 32] ^= 1 << (bit % 8);
            prop_assert!(verify_consistency(m, n, &proof, &bad, &r2).is_err());
            let mut bad = r2;
            bad.0[bit % 32] ^= 1 << (bit % 8);
            prop_assert!(verify_consistency(m, n, &proof, &r1, &bad).is_err());
        }
    }

    #[test]
    fn a_frontier_has_the_reference_root_at_every_size_and_round_trips(n in 0u64..700, cut: [u8; 2]) {
        let t = reference(n);
        let mut f = Frontier::new();
        prop_assert_eq!(f.root(), t.root(0));
        for i in 0..n {
            f.push(leaf_hash(&i.to_le_bytes()));
            prop_assert_eq!(f.root(), t.root(i + 1));
        }
        prop_assert_eq!(f.size(), n);
        let bytes = f.to_bytes();
        prop_assert_eq!(Frontier::from_bytes(&bytes).unwrap(), f);
        // Any shorter or longer encoding is refused, never misread.
        let k = usize::from(u16::from_le_bytes(cut)) % bytes.len();
        prop_assert!(Frontier::from_bytes(&bytes[..k]).is_err());
        let mut longer = bytes.clone();
        longer.push(cut[0]);
        prop_assert!(Frontier::from_bytes(&longer).is_err());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// The edge's inner nodes: every subtree lying in a partial tile is
    /// looked up as the reference tree hashes it, and an edge rebuilt from
    /// its stored parts (as at recovery) looks up the same.
    #[test]
    fn edge_subtrees_in_partial_tiles_match_the_reference(n in 0u64..1_500) {
        let t = reference(n);
        let mut edge = Edge::new();
        let mut done = Vec::new();
        for i in 0..n {
            edge.push(&i.to_le_bytes(), &mut done).unwrap();
        }
        let mut bundle = Vec::new();
        let mut tiles = Vec::new();
        for (id, bytes) in edge.partial_tiles() {
            match id.level() {
                None => bundle = bytes,
                Some(l) => {
                    tiles.resize(usize::from(l) + 1, Vec::new());
                    tiles[usize::from(l)] = tlog::tile::parse_hashes(&id, &bytes).unwrap();
                }
            }
        }
        let rebuilt = Edge::from_parts(n, bundle, tiles).unwrap();
        for level in 0u8..12 {
            for index in 0..(n >> level) {
                let st = tlog::merkle::Subtree { level, index };
                let (id, _) = tlog::tile::locate(st, n).unwrap();
                let got = edge.subtree(st).unwrap();
                prop_assert_eq!(got, (!id.is_full()).then(|| t.subtree(st).unwrap()), "{:?} of {}", st, n);
                prop_assert_eq!(rebuilt.subtree(st).unwrap(), got);
            }
        }
        prop_assert_eq!(edge.root().unwrap(), t.root(n));
    }
}

/// Appends `batches` of entries, storing tiles as the sequencer does, and
/// returns the storage and the sizes at which tiles were written.
async fn tiled_log(batches: &[u64]) -> (MemStorage, Vec<u64>) {
    let storage = MemStorage::new();
    let mut edge = Edge::new();
    let mut sizes = Vec::new();
    let mut i = 0u64;
    for &b in batches {
        let mut files = Vec::new();
        for _ in 0..b {
            edge.push(&i.to_le_bytes(), &mut files).unwrap();
            i += 1;
        }
        files.extend(edge.partial_tiles());
        storage
            .write(files.into_iter().map(|(id, d)| (id.path(), d)).collect())
            .await
            .unwrap();
        sizes.push(edge.size());
    }
    (storage, sizes)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn tile_reads_agree_with_reference(batches in prop::collection::vec(1u64..400, 1..12), picks in prop::collection::vec(any::<u64>(), 8)) {
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        rt.block_on(async {
            let (storage, sizes) = tiled_log(&batches).await;
            let n = *sizes.last().unwrap();
            let t = reference(n);
            let reader = LogReader::new(storage);
            for &s in &sizes {
                assert_eq!(reader.tree_hash(s).await.unwrap(), t.root(s), "root at {s}");
            }
            for (k, &p) in picks.iter().enumerate() {
                // Any checkpointed size (its partial tiles exist) against any index or older size.
                let s = sizes[k % sizes.len()];
                let index = p % s;
                let got = reader.inclusion_proof(index, s).await.unwrap();
                assert_eq!(got, t.run(&ProofPlan::inclusion(index, s).unwrap()).unwrap());
                let m = sizes[(p as usize / 7) % sizes.len()].min(s);
                let got = reader.consistency_proof(m, s).await.unwrap();
                assert_eq!(got, t.run(&ProofPlan::consistency(m, s).unwrap()).unwrap());
                assert_eq!(reader.entry(index, s).await.unwrap(), index.to_le_bytes());
                // Any range, across bundles.
                let to = index + (p >> 40) % (s - index + 1);
                let range = reader.entries(index, to, s).await.unwrap();
                let want: Vec<Vec<u8>> = (index..to).map(|i| i.to_le_bytes().to_vec()).collect();
                assert_eq!(range, want, "entries [{index}, {to}) at {s}");
            }
            assert!(reader.entries(0, n + 1, n).await.is_err());
        });
    }
}

#[test]
fn proofs_from_tiles_across_three_tile_levels() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(async {
        // Batches that land on and around tile boundaries up to level 2.
        let (storage, sizes) = tiled_log(&[255, 1, 65_280, 1, 4_463]).await;
        assert_eq!(sizes, vec![255, 256, 65_536, 65_537, 70_000]);
        let reader = LogReader::new(storage);
        let t = reference(70_000);
        for &s in &sizes {
            assert_eq!(reader.tree_hash(s).await.unwrap(), t.root(s));
        }
        for (index, s) in [
            (0, 70_000),
            (65_535, 65_537),
            (65_536, 70_000),
            (69_999, 70_000),
            (255, 256),
        ] {
            let p = reader.inclusion_proof(index, s).await.unwrap();
            verify_inclusion(&leaf_hash(&index.to_le_bytes()), index, s, &p, &t.root(s)).unwrap();
        }
        for (m, s) in [
            (255, 70_000),
            (256, 65_537),
            (65_536, 70_000),
            (65_537, 70_000),
        ] {
            let p = reader.consistency_proof(m, s).await.unwrap();
            verify_consistency(m, s, &p, &t.root(m), &t.root(s)).unwrap();
        }
    });
}

mod parsers {
    use proptest::prelude::*;
    use tlog::tile::{TileId, TileKind, parse_bundle, push_entry};
    use tlog::witness::AddCheckpoint;
    use tlog::{Checkpoint, Hash, Note, Receipt};

    fn hash() -> impl Strategy<Value = Hash> {
        any::<[u8; 32]>().prop_map(Hash)
    }

    proptest! {
        #[test]
        fn tile_paths_round_trip(level in 0u8..=63, index: u64, width in 1u16..=256, entries: bool) {
            let kind = if entries { TileKind::Entries } else { TileKind::Hashes(level) };
            let id = TileId { kind, index, width };
            prop_assert_eq!(TileId::parse_path(&id.path()).unwrap(), id);
        }

        #[test]
        fn bundles_round_trip(entries in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..600), 0..40)) {
            let mut b = Vec::new();
            for e in &entries {
                push_entry(&mut b, e).unwrap();
            }
            let parsed: Vec<Vec<u8>> = parse_bundle(&b).unwrap().into_iter().map(<[u8]>::to_vec).collect();
            prop_assert_eq!(parsed, entries);
            if !b.is_empty() {
                prop_assert!(parse_bundle(&b[..b.len() - 1]).is_err());
            }
        }

        #[test]
        fn checkpoints_round_trip(origin in "[a-z./]{1,30}", size: u64, root in hash(), ext in prop::collection::vec("[a-z ]{1,10}", 0..3)) {
            let cp = Checkpoint { origin, size, root, extensions: ext };
            prop_assert_eq!(Checkpoint::parse(&cp.to_text()).unwrap(), cp);
        }

        #[test]
        fn receipts_round_trip(index: u64, proof in prop::collection::vec(hash(), 0..64), extra in prop::option::of(prop::collection::vec(any::<u8>(), 0..40)), cp in "[a-z\n]{0,80}") {
            let r = Receipt { extra, index, proof, checkpoint: cp };
            prop_assert_eq!(Receipt::parse(&r.to_text()).unwrap(), r);
        }

        #[test]
        fn witness_requests_round_trip(old_size: u64, proof in prop::collection::vec(hash(), 0..63), cp in "[a-z\n]{0,80}") {
            let req = AddCheckpoint { old_size, proof, checkpoint: cp };
            prop_assert_eq!(AddCheckpoint::parse(req.to_body().as_bytes()).unwrap(), req);
        }

        #[test]
        fn parsers_never_panic_on_arbitrary_input(data in prop::collection::vec(any::<u8>(), 0..300)) {
            let _ = Note::parse(&data);
            let _ = parse_bundle(&data);
            let _ = AddCheckpoint::parse(&data);
            if let Ok(s) = std::str::from_utf8(&data) {
                let _ = Checkpoint::parse(s);
                let _ = Receipt::parse(s);
                let _ = TileId::parse_path(s);
                let _ = tlog::Verifier::parse(s);
                let _ = tlog::Signer::parse(s);
            }
        }

        #[test]
        fn parsers_never_panic_on_near_valid_text(s in "(— |c2sp.org/tlog-proof@v1\n|index |old |tile/|x00|\\.p/|[0-9]{1,3}|[A-Za-z0-9+/=]{4,44}|\n|\n\n| ){0,30}") {
            let _ = Note::parse(s.as_bytes());
            let _ = Checkpoint::parse(&s);
            let _ = Receipt::parse(&s);
            let _ = TileId::parse_path(&s);
            let _ = AddCheckpoint::parse(s.as_bytes());
        }
    }
}
