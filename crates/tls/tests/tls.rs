//! A real listener over TLS and real clients: one that trusts the CA is
//! answered, one that trusts another CA, and plain HTTP, are not; key
//! material never appears in an error.

use std::time::Duration;

async fn listening(ca: &tls::LocalCa, dir: &std::path::Path) -> String {
    ca.write(dir).unwrap();
    let config = tls::server_config(&dir.join("cert.pem"), &dir.join("key.pem")).unwrap();
    let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = tcp.local_addr().unwrap().port();
    let app = axum::Router::new().route("/", axum::routing::get(|| async { "ok" }));
    tokio::spawn(tls::serve(tcp, app, Some(config), std::future::pending()));
    format!("127.0.0.1:{port}")
}

#[tokio::test]
async fn only_a_client_that_trusts_the_ca_is_answered() {
    let dir = tempfile::tempdir().unwrap();
    let ca = tls::LocalCa::new(&["127.0.0.1", "localhost"]).unwrap();
    let addr = listening(&ca, dir.path()).await;

    let trusting = tls::client(Some(&dir.path().join("ca.pem")))
        .unwrap()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    for host in [addr.clone(), addr.replace("127.0.0.1", "localhost")] {
        let r = trusting
            .get(format!("https://{host}/"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.text().await.unwrap(), "ok");
    }

    // Another CA's client: the handshake fails.
    let other = tempfile::tempdir().unwrap();
    tls::LocalCa::new(&["127.0.0.1"])
        .unwrap()
        .write(other.path())
        .unwrap();
    let stranger = tls::client(Some(&other.path().join("ca.pem")))
        .unwrap()
        .build()
        .unwrap();
    let e = stranger
        .get(format!("https://{addr}/"))
        .send()
        .await
        .unwrap_err();
    assert!(e.is_connect(), "{e:?}");
    // The platform's roots do not know a local CA either.
    let platform = tls::client(None).unwrap().build().unwrap();
    assert!(
        platform
            .get(format!("https://{addr}/"))
            .send()
            .await
            .is_err()
    );
    // Plain HTTP gets no answer from a TLS listener.
    assert!(
        platform
            .get(format!("http://{addr}/"))
            .send()
            .await
            .is_err()
    );
    // And the listener still serves the client that trusts it.
    let r = trusting
        .get(format!("https://{addr}/"))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
}

#[tokio::test]
async fn a_client_that_never_finishes_its_handshake_holds_up_no_other() {
    let dir = tempfile::tempdir().unwrap();
    let ca = tls::LocalCa::new(&["127.0.0.1"]).unwrap();
    let addr = listening(&ca, dir.path()).await;
    // Ten connections that send nothing.
    let mut idle = Vec::new();
    for _ in 0..10 {
        idle.push(tokio::net::TcpStream::connect(&addr).await.unwrap());
    }
    let client = tls::client(Some(&dir.path().join("ca.pem")))
        .unwrap()
        .timeout(Duration::from_secs(2))
        .build()
        .unwrap();
    let r = client.get(format!("https://{addr}/")).send().await.unwrap();
    assert!(r.status().is_success());
}

#[test]
fn bad_files_are_named_and_their_contents_never_shown() {
    let dir = tempfile::tempdir().unwrap();
    let ca = tls::LocalCa::new(&["127.0.0.1"]).unwrap();
    ca.write(dir.path()).unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    // A key where the certificate should be, and the other way round.
    for (c, k) in [(&key, &key), (&cert, &cert)] {
        let e = tls::server_config(c, k).unwrap_err().to_string();
        assert!(e.contains(".pem"), "{e}");
        assert!(!e.contains("PRIVATE KEY") && !e.contains("BEGIN"), "{e}");
    }
    let missing = dir.path().join("missing.pem");
    let e = tls::server_config(&missing, &key).unwrap_err().to_string();
    assert!(e.contains("missing.pem"), "{e}");
    // Another CA's key with this certificate: refused.
    let other = tempfile::tempdir().unwrap();
    tls::LocalCa::new(&["127.0.0.1"])
        .unwrap()
        .write(other.path())
        .unwrap();
    assert!(tls::server_config(&cert, &other.path().join("key.pem")).is_err());
    // The CA writes nothing over an existing file, and keeps its key private.
    assert!(ca.write(dir.path()).is_err());
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(&key).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
}
