//! The tlog-witness client against a minimal witness over real HTTP. The
//! witness here follows the spec's rules (404, 403, 409 with the size, 422,
//! 200 with cosignatures) just enough to exercise every answer the client
//! handles; the monitor brings the real witness.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use tlog::cosignature::cosign;
use tlog::merkle::verify_consistency;
use tlog::note::{Signer, TYPE_COSIGNATURE_V1, TYPE_ED25519, Verifier};
use tlog::sequencer::{self, SequencerConfig};
use tlog::witness::{AddCheckpoint, WitnessClient, attach};
use tlog::{Error, Hash, LogReader, MemStorage, SignedCheckpoint};

#[derive(Clone)]
struct Witness {
    log_key: Verifier,
    key: Signer,
    latest: Arc<Mutex<(u64, Hash)>>,
}

async fn add_checkpoint(State(w): State<Witness>, body: axum::body::Bytes) -> Response {
    let Ok(req) = AddCheckpoint::parse(&body) else {
        return (StatusCode::BAD_REQUEST, "malformed request\n").into_response();
    };
    let Ok(note) = tlog::Note::parse(req.checkpoint.as_bytes()) else {
        return (StatusCode::BAD_REQUEST, "malformed checkpoint\n").into_response();
    };
    let Ok(cp) = tlog::Checkpoint::parse(&note.text) else {
        return (StatusCode::BAD_REQUEST, "malformed checkpoint\n").into_response();
    };
    if cp.origin != w.log_key.name {
        return (StatusCode::NOT_FOUND, "unknown log\n").into_response();
    }
    if SignedCheckpoint::open(req.checkpoint.as_bytes(), &w.log_key, &[]).is_err() {
        return (StatusCode::FORBIDDEN, "bad signature\n").into_response();
    }
    let mut latest = w.latest.lock().unwrap();
    if req.old_size > cp.size {
        return (StatusCode::BAD_REQUEST, "old size beyond checkpoint\n").into_response();
    }
    if req.old_size != latest.0 {
        return (
            StatusCode::CONFLICT,
            [(header::CONTENT_TYPE, "text/x.tlog.size")],
            format!("{}\n", latest.0),
        )
            .into_response();
    }
    if verify_consistency(req.old_size, cp.size, &req.proof, &latest.1, &cp.root).is_err()
        && req.old_size > 0
    {
        return (StatusCode::UNPROCESSABLE_ENTITY, "inconsistent\n").into_response();
    }
    *latest = (cp.size, cp.root);
    let sig = cosign(&w.key, &note.text, 1_700_000_000).unwrap();
    sig.to_line().into_response()
}

async fn serve(w: Witness) -> String {
    let app = Router::new()
        .route("/add-checkpoint", post(add_checkpoint))
        .with_state(w);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

#[tokio::test]
async fn client_gets_cosignatures_and_handles_each_refusal() {
    let log_signer = Signer::generate("test.example/log", TYPE_ED25519).unwrap();
    let witness_key = Signer::generate("witness.example/w1", TYPE_COSIGNATURE_V1).unwrap();
    let witness = Witness {
        log_key: log_signer.verifier(),
        key: witness_key.clone(),
        latest: Arc::new(Mutex::new((0, Hash::default()))),
    };
    let url = serve(witness.clone()).await;
    let client = WitnessClient::new(http(), &url);

    let storage = MemStorage::new();
    sequencer::create(&storage, &log_signer).await.unwrap();
    let config = SequencerConfig {
        batch_interval: Duration::from_millis(1),
        ..Default::default()
    };
    let (seq, _task) = sequencer::open(storage.clone(), log_signer.clone(), config)
        .await
        .unwrap();
    let reader = LogReader::new(storage);
    for i in 0..300u32 {
        seq.add(i.to_be_bytes().to_vec()).await.unwrap();
    }
    let cp1 = seq.checkpoint();

    // First contact: old size 0, no proof.
    let req = AddCheckpoint {
        old_size: 0,
        proof: vec![],
        checkpoint: cp1.to_text(),
    };
    let sigs = client.add_checkpoint(&req).await.unwrap();
    let mut note = cp1.note.clone();
    attach(&mut note, sigs);
    // The cosigned checkpoint verifies with the log key and the witness key.
    let cosigned = SignedCheckpoint::open(
        note.to_text().as_bytes(),
        &log_signer.verifier(),
        &[witness_key.verifier()],
    )
    .unwrap();
    assert_eq!(
        cosigned
            .note
            .verify(&[witness_key.verifier()])
            .unwrap()
            .len(),
        1
    );

    for i in 300..500u32 {
        seq.add(i.to_be_bytes().to_vec()).await.unwrap();
    }
    let cp2 = seq.checkpoint();
    // A stale old size: 409 with the witness's size...
    let stale = AddCheckpoint {
        old_size: 0,
        proof: vec![],
        checkpoint: cp2.to_text(),
    };
    match client.add_checkpoint(&stale).await {
        Err(Error::WitnessConflict { latest }) => assert_eq!(latest, 300),
        other => panic!("expected a conflict, got {other:?}"),
    }
    // ...a bad proof: 422...
    let bad = AddCheckpoint {
        old_size: 300,
        proof: vec![Hash::default()],
        checkpoint: cp2.to_text(),
    };
    assert!(matches!(
        client.add_checkpoint(&bad).await,
        Err(Error::WitnessRefused { status: 422, .. })
    ));
    // ...and the right proof: cosigned.
    let proof = reader.consistency_proof(300, 500).await.unwrap();
    let good = AddCheckpoint {
        old_size: 300,
        proof,
        checkpoint: cp2.to_text(),
    };
    assert_eq!(client.add_checkpoint(&good).await.unwrap().len(), 1);

    // Another log's checkpoint: 404; a forged signature: 403.
    let other = Signer::generate("other.example/log", TYPE_ED25519).unwrap();
    let foreign = tlog::Checkpoint {
        origin: "other.example/log".into(),
        size: 1,
        root: Hash::default(),
        extensions: vec![],
    }
    .sign(&other)
    .unwrap();
    let req = AddCheckpoint {
        old_size: 0,
        proof: vec![],
        checkpoint: foreign.to_text(),
    };
    assert!(matches!(
        client.add_checkpoint(&req).await,
        Err(Error::WitnessRefused { status: 404, .. })
    ));
    let impostor = Signer::generate("test.example/log", TYPE_ED25519).unwrap();
    let forged = cp2.checkpoint.sign(&impostor).unwrap();
    let req = AddCheckpoint {
        old_size: 500,
        proof: vec![],
        checkpoint: forged.to_text(),
    };
    assert!(matches!(
        client.add_checkpoint(&req).await,
        Err(Error::WitnessRefused { status: 403, .. })
    ));

    // `submit` recovers from a stale size by itself and verifies what it gets.
    for i in 500..520u32 {
        seq.add(i.to_be_bytes().to_vec()).await.unwrap();
    }
    let cp3 = seq.checkpoint();
    let sigs = client
        .submit(&reader, &cp3, 0, &witness_key.verifier())
        .await
        .unwrap();
    assert_eq!(sigs.len(), 1);
    let stranger = Signer::generate("witness.example/w1", TYPE_COSIGNATURE_V1).unwrap();
    for i in 520..530u32 {
        seq.add(i.to_be_bytes().to_vec()).await.unwrap();
    }
    let cp4 = seq.checkpoint();
    let sigs = client
        .submit(&reader, &cp4, 520, &stranger.verifier())
        .await
        .unwrap();
    assert!(
        sigs.is_empty(),
        "cosignatures by an untrusted key must be dropped"
    );

    // An unreachable witness is a transport error.
    let gone = WitnessClient::new(http(), "http://127.0.0.1:9");
    assert!(matches!(
        gone.add_checkpoint(&good).await,
        Err(Error::Http(_))
    ));
}

#[test]
fn request_body_round_trips_and_rejects_garbage() {
    let req = AddCheckpoint {
        old_size: 20852014,
        proof: vec![tlog::leaf_hash(b"a"), tlog::leaf_hash(b"b")],
        checkpoint: "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\n\u{2014} example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n".into(),
    };
    let body = req.to_body();
    assert!(body.starts_with("old 20852014\n"));
    assert_eq!(AddCheckpoint::parse(body.as_bytes()).unwrap(), req);
    for bad in [
        "",
        "old 01\n\nx",
        "old x\n\nx",
        "old 1\nnotahash\n\nx",
        "new 1\n\nx",
    ] {
        assert!(AddCheckpoint::parse(bad.as_bytes()).is_err(), "{bad:?}");
    }
    let too_long = format!(
        "old 1\n{}\ncp",
        "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n".repeat(64)
    );
    assert!(AddCheckpoint::parse(too_long.as_bytes()).is_err());
}

/// An HTTP client, ring its TLS provider (reqwest is built without one).
fn http() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}
