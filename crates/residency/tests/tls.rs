//! TLS everywhere: every listener of the binary refuses to serve plain
//! HTTP unless told to, and a running cluster (its own CA, made at start)
//! answers only clients that trust that CA.

use std::process::{Command, Stdio};

mod cluster;

use cluster::Cluster;

fn residency(args: &[&str], dir: &std::path::Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_residency"))
        .args(args)
        .current_dir(dir)
        .env("NODE_TOKEN", "node-token-0123456789abcdef")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

#[test]
fn every_listener_refuses_plain_http_unless_asked() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("cluster.toml"),
        "policy = \"policy\"\n[regions.eu-fr]\nlisten = \"127.0.0.1:0\"\nurl = \"https://127.0.0.1:1\"\n\
         store = \"sqlite:store\"\nlog = \"log\"\nkeys = \"region.keys\"\ntoken = \"env:NODE_TOKEN\"\n\
         token_sha256 = \"3ac5905b96ee62a075a0ae1aacfcdc146cf859a94991fafd2871a5a69dd0555d\"\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("monitor.toml"),
        "state = \"m\"\nlisten = \"127.0.0.1:0\"\n[[logs]]\nregion = \"eu-fr\"\nurl = \"https://127.0.0.1:1\"\n\
         key = \"residency.example/eu-fr+00000000+AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"\n",
    )
    .unwrap();
    let log = "residency.example/eu-fr+00000000+AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    let refusals: [(&str, &[&str]); 4] = [
        (
            "serve",
            &["serve", "--config", "cluster.toml", "--region", "eu-fr"],
        ),
        (
            "witness",
            &[
                "witness",
                "--listen",
                "127.0.0.1:0",
                "--key",
                "w.key",
                "--init",
                "w.example",
                "--state",
                "w.sqlite",
                "--log",
                log,
            ],
        ),
        (
            "custodian",
            &[
                "custodian",
                "serve",
                "--config",
                "custodian.toml",
                "--key",
                "c.key",
            ],
        ),
        ("monitor", &["monitor", "--config", "monitor.toml"]),
    ];
    for (what, args) in refusals {
        let out = residency(args, dir.path());
        let said = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{what} served without TLS");
        assert!(said.contains("--insecure-http"), "{what}: {said}");
    }
    // Half a certificate is no certificate.
    let out = residency(
        &[
            "witness",
            "--listen",
            "127.0.0.1:0",
            "--key",
            "w.key",
            "--state",
            "w.sqlite",
            "--log",
            log,
            "--tls-cert",
            "cert.pem",
        ],
        dir.path(),
    );
    assert!(!out.status.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_answers_only_clients_that_trust_its_ca() {
    let c = Cluster::start(None).await;
    let stranger_ca = tempfile::tempdir().unwrap();
    tls::LocalCa::new(&["127.0.0.1"])
        .unwrap()
        .write(stranger_ca.path())
        .unwrap();
    let stranger = tls::client(Some(&stranger_ca.path().join("ca.pem")))
        .unwrap()
        .build()
        .unwrap();
    let platform = tls::client(None).unwrap().build().unwrap();
    let mut urls: Vec<String> = c.urls.values().cloned().collect();
    urls.push(c.witness_url.clone());
    for url in &urls {
        assert!(url.starts_with("https://"), "{url}");
        let checkpoint = format!("{url}/log/checkpoint");
        let path = if url == &c.witness_url {
            format!("{url}/latest")
        } else {
            checkpoint
        };
        // The cluster's own client: answered.
        let r = c.http.get(&path).send().await.unwrap();
        assert!(r.status().as_u16() < 500, "{path}: {}", r.status());
        // Another CA, the platform's roots, plain HTTP: no answer.
        assert!(stranger.get(&path).send().await.is_err(), "{path}");
        assert!(platform.get(&path).send().await.is_err(), "{path}");
        let plain = path.replacen("https://", "http://", 1);
        assert!(platform.get(&plain).send().await.is_err(), "{plain}");
    }

    // `log verify --url` over HTTPS: with the cluster's CA, verified;
    // without it, refused.
    let vkey = c.log_key("eu-fr").to_vkey();
    let url = format!("{}/log", c.urls["eu-fr"]);
    let ca = c.dir.path().join(::cluster::TLS_CA);
    let verify = |extra: Vec<String>| {
        let (url, vkey) = (url.clone(), vkey.clone());
        tokio::task::spawn_blocking(move || {
            Command::new(env!("CARGO_BIN_EXE_residency"))
                .args(["log", "verify", "--url", &url, "--vkey", &vkey])
                .args(extra)
                .output()
                .unwrap()
        })
    };
    let with_ca = verify(vec!["--ca".into(), ca.display().to_string()])
        .await
        .unwrap();
    assert!(
        with_ca.status.success(),
        "{}",
        String::from_utf8_lossy(&with_ca.stderr)
    );
    let without = verify(Vec::new()).await.unwrap();
    assert!(!without.status.success());
}
