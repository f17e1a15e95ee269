//! Conformance against public test vectors: the transparency-dev Merkle
//! constants, the Go `sumdb/note` "PeterNeumann" example, the C2SP
//! signed-note verifier-key example and the tlog-tiles path examples.

use tlog::merkle::{MemoryTree, ProofPlan, verify_consistency, verify_inclusion};
use tlog::note::{Note, Signer, Verifier};
use tlog::{Error, Hash, leaf_hash};

fn h(hex: &str) -> Hash {
    let bytes: Vec<u8> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect();
    Hash::from_slice(&bytes).unwrap()
}

fn unhex(hex: &str) -> Vec<u8> {
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect()
}

/// transparency-dev/merkle testonly.LeafInputs().
fn leaf_inputs() -> Vec<Vec<u8>> {
    [
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    ]
    .iter()
    .map(|s| unhex(s))
    .collect()
}

/// transparency-dev/merkle testonly.RootHashes(), sizes 0 to 8.
const ROOTS: [&str; 9] = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
];

fn tree() -> MemoryTree {
    let mut t = MemoryTree::new();
    for e in leaf_inputs() {
        t.push(leaf_hash(&e));
    }
    t
}

#[test]
fn roots_of_sizes_0_to_8() {
    let t = tree();
    for (size, root) in ROOTS.iter().enumerate() {
        assert_eq!(t.root(size as u64), h(root), "size {size}");
        // And the same root through the subtree plan.
        let plan = ProofPlan::tree_hash(size as u64);
        if size > 0 {
            assert_eq!(t.run(&plan).unwrap(), vec![h(root)], "plan size {size}");
        }
    }
}

/// proof/verify_test.go inclusionProofs: (1-based leaf, size, proof).
fn inclusion_vectors() -> Vec<(u64, u64, Vec<Hash>)> {
    vec![
        (1, 1, vec![]),
        (
            1,
            8,
            vec![
                h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
                h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
                h("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
            ],
        ),
        (
            6,
            8,
            vec![
                h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
                h("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
                h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
            ],
        ),
        (
            3,
            3,
            vec![h(
                "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
            )],
        ),
        (
            2,
            5,
            vec![
                h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
                h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
                h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
            ],
        ),
    ]
}

/// proof/verify_test.go consistencyProofs: (size1, size2, proof).
fn consistency_vectors() -> Vec<(u64, u64, Vec<Hash>)> {
    vec![
        (1, 1, vec![]),
        (
            1,
            8,
            vec![
                h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
                h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
                h("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
            ],
        ),
        (
            6,
            8,
            vec![
                h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
                h("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
                h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
            ],
        ),
        (
            2,
            5,
            vec![
                h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
                h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
            ],
        ),
        (
            6,
            7,
            vec![
                h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
                h("b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f"),
                h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
            ],
        ),
    ]
}

const SOME_HASH: &str = "abacaba000000000000000000000000000000000000000000060061e00123456";

#[test]
fn inclusion_vectors_generate_and_verify() {
    let t = tree();
    let leaves = leaf_inputs();
    for (leaf, size, proof) in inclusion_vectors() {
        let index = leaf - 1;
        let got = t.run(&ProofPlan::inclusion(index, size).unwrap()).unwrap();
        assert_eq!(got, proof, "generated proof for leaf {leaf} size {size}");
        let lh = leaf_hash(&leaves[index as usize]);
        let root = h(ROOTS[size as usize]);
        verify_inclusion(&lh, index, size, &proof, &root).unwrap();

        // The corruptions of verify_test.go's corruptInclusionProof: each must fail.
        let mut probes: Vec<(u64, u64, Hash, Hash, Vec<Hash>, String)> = vec![
            (
                index.wrapping_sub(1),
                size,
                root,
                lh,
                proof.clone(),
                "index - 1".into(),
            ),
            (index + 1, size, root, lh, proof.clone(), "index + 1".into()),
            (index ^ 2, size, root, lh, proof.clone(), "index ^ 2".into()),
            (index, size * 2, root, lh, proof.clone(), "size * 2".into()),
            (index, size / 2, root, lh, proof.clone(), "size / 2".into()),
            (
                index,
                size,
                root,
                leaf_hash(b"WrongLeaf"),
                proof.clone(),
                "wrong leaf".into(),
            ),
            (
                index,
                size,
                h(ROOTS[0]),
                lh,
                proof.clone(),
                "empty root".into(),
            ),
            (
                index,
                size,
                h(SOME_HASH),
                lh,
                proof.clone(),
                "random root".into(),
            ),
            (
                index,
                size,
                root,
                lh,
                [proof.clone(), vec![root]].concat(),
                "trailing root".into(),
            ),
            (
                index,
                size,
                root,
                lh,
                [vec![root], proof.clone()].concat(),
                "preceding root".into(),
            ),
        ];
        for i in 0..proof.len() {
            let mut p = proof.clone();
            p[i].0[0] ^= 8;
            probes.push((index, size, root, lh, p, format!("modified proof[{i}]")));
        }
        if !proof.is_empty() {
            probes.push((
                index,
                size,
                root,
                lh,
                proof[..proof.len() - 1].to_vec(),
                "removed component".into(),
            ));
        }
        if proof.len() > 1 {
            let p = [vec![proof[0], h(SOME_HASH)], proof[1..].to_vec()].concat();
            probes.push((index, size, root, lh, p, "inserted component".into()));
        }
        for (i, s, r, l, p, desc) in probes {
            assert!(
                verify_inclusion(&l, i, s, &p, &r).is_err(),
                "leaf {leaf} size {size}: {desc} verified"
            );
        }
    }
}

#[test]
fn inclusion_edge_cases_are_errors() {
    let some = h(SOME_HASH);
    let empty = h(ROOTS[0]);
    for (index, size) in [(0, 0), (1, 0), (2, 1)] {
        assert!(verify_inclusion(&some, index, size, &[], &empty).is_err());
    }
    // A one-entry tree: the root is the leaf hash and the proof is empty.
    let lh = leaf_hash(b"data");
    verify_inclusion(&lh, 0, 1, &[], &lh).unwrap();
    assert!(verify_inclusion(&lh, 0, 1, &[], &some).is_err());
    assert!(matches!(
        ProofPlan::inclusion(0, 0),
        Err(Error::OutOfRange { .. })
    ));
}

#[test]
fn consistency_vectors_generate_and_verify() {
    let t = tree();
    for (m, n, proof) in consistency_vectors() {
        let got = t.run(&ProofPlan::consistency(m, n).unwrap()).unwrap();
        assert_eq!(got, proof, "generated proof {m} -> {n}");
        let (r1, r2) = (h(ROOTS[m as usize]), h(ROOTS[n as usize]));
        verify_consistency(m, n, &proof, &r1, &r2).unwrap();
        if proof.is_empty() {
            continue;
        }
        let wrong = leaf_hash(b"WrongRoot");
        let mut probes: Vec<(u64, u64, Hash, Hash, Vec<Hash>, String)> = vec![
            (m - 1, n, r1, r2, proof.clone(), "size1 - 1".into()),
            (m + 1, n, r1, r2, proof.clone(), "size1 + 1".into()),
            (m ^ 2, n, r1, r2, proof.clone(), "size1 ^ 2".into()),
            (m, n * 2, r1, r2, proof.clone(), "size2 * 2".into()),
            (m, n / 2, r1, r2, proof.clone(), "size2 / 2".into()),
            (m, n, wrong, r2, proof.clone(), "wrong root1".into()),
            (m, n, r1, wrong, proof.clone(), "wrong root2".into()),
            (m, n, r2, r1, proof.clone(), "swapped roots".into()),
            (m, n, r1, r2, vec![], "empty proof".into()),
            (
                m,
                n,
                r1,
                r2,
                [proof.clone(), vec![r1]].concat(),
                "trailing root1".into(),
            ),
            (
                m,
                n,
                r1,
                r2,
                [proof.clone(), vec![r2]].concat(),
                "trailing root2".into(),
            ),
            (
                m,
                n,
                r1,
                r2,
                [vec![r1], proof.clone()].concat(),
                "preceding root1".into(),
            ),
            (
                m,
                n,
                r1,
                r2,
                [vec![r2], proof.clone()].concat(),
                "preceding root2".into(),
            ),
            (
                m,
                n,
                r1,
                r2,
                [vec![proof[0]], proof.clone()].concat(),
                "preceding proof[0]".into(),
            ),
            (
                m,
                n,
                r1,
                r2,
                proof[..proof.len() - 1].to_vec(),
                "truncated proof".into(),
            ),
        ];
        for i in 0..proof.len() {
            let mut p = proof.clone();
            p[i].0[0] ^= 16;
            probes.push((m, n, r1, r2, p, format!("modified proof[{i}]")));
        }
        for (a, b, x, y, p, desc) in probes {
            assert!(
                verify_consistency(a, b, &p, &x, &y).is_err(),
                "{m} -> {n}: {desc} verified"
            );
        }
    }
}

#[test]
fn consistency_edge_cases() {
    let (r1, r2) = (leaf_hash(b"don't care 1"), leaf_hash(b"don't care 2"));
    let empty = h(ROOTS[0]);
    // Always consistent.
    verify_consistency(0, 0, &[], &r1, &r1).unwrap();
    verify_consistency(0, 1, &[], &r1, &r2).unwrap();
    verify_consistency(1, 1, &[], &r2, &r2).unwrap();
    // Errors.
    assert!(verify_consistency(0, 0, &[], &r1, &r2).is_err());
    assert!(verify_consistency(1, 1, &[], &r1, &r2).is_err());
    assert!(verify_consistency(1, 0, &[], &r1, &r2).is_err());
    assert!(verify_consistency(2, 1, &[], &r1, &r2).is_err());
    assert!(verify_consistency(1, 2, &[], &r1, &r2).is_err());
    assert!(verify_consistency(0, 0, &[empty], &empty, &empty).is_err());
    assert!(verify_consistency(0, 1, &[empty], &empty, &empty).is_err());
    assert!(verify_consistency(1, 1, &[empty], &empty, &empty).is_err());
}

// The example of golang.org/x/mod/sumdb/note.
const PETER_SKEY: &str =
    "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
const PETER_VKEY: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
const PETER_TEXT: &str = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n";
const PETER_NOTE: &str = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n\n\u{2014} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";

#[test]
fn peter_neumann_note_is_reproduced_byte_for_byte() {
    let signer = Signer::parse(PETER_SKEY).unwrap();
    assert_eq!(signer.key_id(), 0xc74f20a3);
    assert_eq!(signer.to_skey(), PETER_SKEY);
    assert_eq!(signer.verifier().to_vkey(), PETER_VKEY);
    let note = tlog::note::sign(PETER_TEXT, &signer).unwrap();
    assert_eq!(note.to_text(), PETER_NOTE);

    let verifier = Verifier::parse(PETER_VKEY).unwrap();
    let parsed = Note::parse(PETER_NOTE.as_bytes()).unwrap();
    assert_eq!(parsed.text, PETER_TEXT);
    assert_eq!(
        parsed
            .verify(std::slice::from_ref(&verifier))
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn peter_neumann_note_verification_rules() {
    let verifier = Verifier::parse(PETER_VKEY).unwrap();
    let other = Signer::generate("PeterNeumann", 1).unwrap();
    // An unknown key with the same name is ignored, not an error...
    let mut note = Note::parse(PETER_NOTE.as_bytes()).unwrap();
    note.signatures.insert(0, other.sign(PETER_TEXT.as_bytes()));
    assert_eq!(
        note.verify(std::slice::from_ref(&verifier)).unwrap().len(),
        1
    );
    // ...but a note signed only by unknown keys is rejected.
    assert!(note.verify(&[other.verifier()]).is_ok());
    let only_other = Note {
        text: PETER_TEXT.into(),
        signatures: vec![other.sign(PETER_TEXT.as_bytes())],
    };
    assert!(matches!(
        only_other.verify(std::slice::from_ref(&verifier)),
        Err(Error::Unverified(_))
    ));
    // A known key whose signature fails rejects the note.
    let mut tampered = Note::parse(PETER_NOTE.as_bytes()).unwrap();
    tampered.text = tampered.text.replace("cryptography", "cryptographY");
    assert!(matches!(
        tampered.verify(std::slice::from_ref(&verifier)),
        Err(Error::Unverified(_))
    ));
    // Sixteen signatures by unknown keys and one known: accepted.
    let mut many = Note::parse(PETER_NOTE.as_bytes()).unwrap();
    for i in 0..16 {
        let s = Signer::generate(&format!("witness{i}"), 1).unwrap();
        many.signatures.insert(0, s.sign(PETER_TEXT.as_bytes()));
    }
    let reparsed = Note::parse(many.to_text().as_bytes()).unwrap();
    assert_eq!(reparsed.signatures.len(), 17);
    assert_eq!(
        reparsed
            .verify(std::slice::from_ref(&verifier))
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn c2sp_signed_note_spec_example_verifies() {
    // From the C2SP signed-note specification, section "Verifier keys".
    let vkey = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k";
    let note = "This is an example message.\n\n\u{2014} example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n";
    let v = Verifier::parse(vkey).unwrap();
    assert_eq!(v.key_id, 0x530d903a);
    assert_eq!(v.to_vkey(), vkey);
    Note::parse(note.as_bytes()).unwrap().verify(&[v]).unwrap();
}

#[test]
fn malformed_keys_are_errors() {
    for bad in [
        "",
        "PeterNeumann",
        "PeterNeumann+c74f20a3",
        "PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        "PeterNeumann+C74F20A3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10",
        "PeterNeumann+c74f20a3+Bhpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        "Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
    ] {
        assert!(Verifier::parse(bad).is_err(), "{bad:?}");
    }
    assert!(
        Signer::parse(
            "PRIVATE+KEY+PeterNeumann+c74f20a4+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
        )
        .is_err()
    );
    assert!(Signer::parse(PETER_VKEY).is_err());
}

#[test]
fn malformed_notes_are_errors() {
    for bad in [
        "",
        "no newline",
        "text\n",
        "text\n\n",
        "text\n\n— name\n",
        "text\n\n- name AAAAAAAA\n",
        "text\n\n— name AAAA\n",
        "text\n\n— name !!!!\n",
        "text\x01\n\n— name AAAAAAAA\n",
        "text\n\n— na+me AAAAAAAA\n",
    ] {
        assert!(Note::parse(bad.as_bytes()).is_err(), "{bad:?}");
    }
    assert!(Note::parse(&[0xff, b'\n', b'\n']).is_err());
}
