//! `residency demo --exit` tells the whole scenario with real processes and
//! says whether every step behaved; nothing it or its processes print holds
//! the synthetic users' personal data; and the README's two commands are
//! the ones `.ci/run` runs.

use std::path::Path;
use std::process::{Command, Output, Stdio};

const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");

#[cfg(feature = "s3")]
mod moto;
#[cfg(feature = "s3")]
mod pg;

/// Pieces of the synthetic users' personal data: every generated phone
/// number, address, SSID, contact and user id contains one of these.
const SEEDED: [&str; 14] = [
    "+33 6 ",
    "+49 151",
    "+1 512 555",
    "rue des Glycines",
    "Lindenstraße",
    "Congress Avenue",
    "Harcourt Street",
    "Livebox-",
    "FRITZ!Box-",
    "NETGEAR-",
    "friend.",
    "u-fr-0",
    "u-de-0",
    "u-us-0",
];

/// One demo at a time: two clusters at once on two cores would slow
/// each other's every step.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// `residency demo --exit --dir DIR`.
fn demo(dir: &Path) -> Output {
    demo_with(dir, &[], &[])
}

/// `residency demo --exit --dir DIR ARGS…` with `env` added.
fn demo_with(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    Command::new(env!("CARGO_BIN_EXE_residency"))
        .args(["demo", "--exit", "--dir"])
        .arg(dir)
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

#[test]
fn the_demo_tells_every_step_of_the_scenario_and_prints_no_personal_data() {
    let dir = tempfile::tempdir().unwrap();
    let out = demo(dir.path());
    every_step_behaved_and_nothing_personal_was_printed(dir.path(), &out);
    every_private_key_the_demo_wrote_is_readable_by_its_owner_only(dir.path());
}

/// The whole story with eu-fr as a deployment runs it: three gateways
/// taking the requests in turn, an active and a standby sequencer, its
/// store in PostgreSQL and its log in a bucket of an S3-compatible server.
#[cfg(feature = "s3")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_tells_every_step_with_eu_fr_split_over_postgresql_and_a_bucket() {
    tls::install_ring();
    let http = tls::client(None).unwrap().build().unwrap();
    let Some(m) = moto::moto(&http).await else {
        return;
    };
    let Some(db) = pg::database("demo_split").await else {
        return;
    };
    moto::public_bucket(&http, &m).await;
    let dir = tempfile::tempdir().unwrap();
    let bucket = format!("{}/logs", m.endpoint);
    let (path, conninfo) = (dir.path().to_owned(), db.conninfo.clone());
    let out = tokio::task::spawn_blocking(move || {
        demo_with(
            &path,
            &["--split", "--postgres", &conninfo, "--log-bucket", &bucket],
            &[
                ("AWS_ACCESS_KEY_ID", moto::S3_ENV[0].1),
                ("AWS_SECRET_ACCESS_KEY", moto::S3_ENV[1].1),
            ],
        )
    })
    .await
    .unwrap();
    every_step_behaved_and_nothing_personal_was_printed(dir.path(), &out);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("eu-fr as a deployment runs it: 3 gateways"),
        "{stdout}"
    );
    assert!(stdout.contains("a pg_dump of its database"), "{stdout}");
    // Each gateway took requests, and the log is in the bucket, not on
    // disk.
    let line = stdout
        .lines()
        .find(|l| l.contains("eu-fr gateways"))
        .unwrap_or_else(|| panic!("no gateways' line in\n{stdout}"));
    for i in 0..3 {
        let taken: u64 = line
            .split(&format!("gw{i} "))
            .nth(1)
            .and_then(|t| t.split(' ').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        assert!(taken >= 5, "eu-fr-gw{i} took {taken} requests: {line}");
    }
    let checkpoint = http
        .get(format!("{}/logs/eu-fr/log/checkpoint", m.endpoint))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let size: u64 = checkpoint.lines().nth(1).unwrap().parse().unwrap();
    assert!(size >= 11, "the bucket's log holds {size} entries");
    db.drop().await;
}

#[test]
fn a_split_demo_without_its_database_or_with_a_bad_bucket_is_refused_before_it_starts() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_residency"))
            .args(["demo", "--exit", "--dir"])
            .arg(dir.path().join("d"))
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(!out.status.success());
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let said = run(&["--split", "--log-bucket", "http://127.0.0.1:9/logs"]);
    assert!(said.contains("--postgres"), "{said}");
    for (bucket, expected) in [
        ("http://s3.example/logs", "http:// only on loopback"),
        (
            "https://key:s3cret@s3.example/logs",
            "must not carry credentials",
        ),
        ("https://s3.example/", "names no bucket"),
        ("https://s3.example/Logs\"", "bucket name"),
        ("not a url", "--log-bucket is not a URL"),
    ] {
        let said = run(&["--split", "--postgres", "dbname=x", "--log-bucket", bucket]);
        assert!(said.contains(expected), "{bucket}: {said}");
        assert!(!said.contains("s3cret"), "{said}");
    }
    assert!(
        !dir.path().join("d").exists(),
        "a refused demo made its directory"
    );
}

/// The story's every step has its line and behaved; what the demo and its
/// processes printed carries none of the users' data.
fn every_step_behaved_and_nothing_personal_was_printed(dir: &Path, out: &Output) {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    for (i, step) in [
        "collect",
        "transfer",
        "blocked",
        "aggregate",
        "remote view",
        "hidden copy",
        "export",
        "erasure",
        "audit",
        "custodian",
        "tampering",
    ]
    .iter()
    .enumerate()
    {
        let prefix = format!("{:>2}. {step:<12} ", i + 1);
        assert!(
            stdout.lines().any(|l| l.starts_with(&prefix)),
            "no line for step {step}:\n{stdout}"
        );
    }
    assert!(!stdout.contains("FAILED"), "{stdout}");
    for expected in [
        "stored at home: eu-fr 6,000 · eu-no 6,450 · us-tx 2,550",
        "allowed under adequacy:eu-us-dpf",
        "token account.user_id, social.friends",
        "denied — a transfer of personal data from EEA to CN must name its transfer tool",
        "below k = 10 suppressed",
        "logged as a read",
        "none in clear",
        "every receipt verifies against eu-fr's public key",
        "their export now answers 404",
        "violations 0",
        "the checkpoint carries 0 of the 1 witness cosignatures required",
        "refused again (does_not_replay",
        "caught the forged entry (eu-no)",
        "the monitor flags \"entry",
        "two checkpoints of size",
        "every step behaved as the scenario says",
        "person's page       file://",
    ] {
        assert!(stdout.contains(expected), "{expected:?} not in\n{stdout}");
    }
    // The French user's page (issue 20): written, and verified by the
    // browser when there is one.
    assert!(dir.join("page/french-user.html").exists());
    if page::browser::chromium().is_some() {
        let line = stdout
            .lines()
            .find(|l| l.contains("person's page"))
            .unwrap();
        assert!(
            line.contains("receipts in headless Chromium") && line.ends_with(", 0 failed"),
            "{line}"
        );
    } else {
        assert!(
            stdout.contains("headless Chromium is not installed"),
            "{stdout}"
        );
    }
    // The regions, the witness and the monitor were stopped, and what they
    // and the demo printed carries none of the users' data.
    let mut printed = format!("{stdout}{stderr}");
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "out") {
            printed.push_str(&std::fs::read_to_string(&p).unwrap());
        }
    }
    assert!(printed.contains("eu-fr"), "the processes' output was read");
    for s in SEEDED {
        assert!(!printed.contains(s), "{s:?} printed");
    }
}

/// The witness's, the logs' and the regions' keys and the credentials:
/// mode 0600 (the demo wrote `witness.key` 0644 once).
fn every_private_key_the_demo_wrote_is_readable_by_its_owner_only(dir: &Path) {
    use std::os::unix::fs::PermissionsExt as _;
    let mut found = Vec::new();
    let mut dirs = vec![dir.to_owned()];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                dirs.push(p);
                continue;
            }
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            if name.ends_with(".key") || name.ends_with(".keys") || name == "credentials.env" {
                let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
                assert_eq!(mode, 0o600, "{} has mode {mode:o}", p.display());
                found.push(name);
            }
        }
    }
    for name in ["witness.key", "log.key", "region.keys", "credentials.env"] {
        assert!(found.iter().any(|f| f == name), "no {name} in {found:?}");
    }
}

#[test]
fn a_directory_that_holds_a_demo_is_refused_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = dir.path().join("cluster.toml");
    std::fs::write(&cluster, "# an earlier demo\n").unwrap();
    let out = demo(dir.path());
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("already holds a demo cluster"), "{stderr}");
    assert_eq!(
        std::fs::read_to_string(&cluster).unwrap(),
        "# an earlier demo\n"
    );
}

/// The commands of the README's quick start, without their comments.
fn quick_start() -> Vec<String> {
    let readme = std::fs::read_to_string(Path::new(ROOT).join("README.md")).unwrap();
    let section = readme
        .split("## Quick start")
        .nth(1)
        .expect("the README has a quick start");
    let block = section
        .split("```sh\n")
        .nth(1)
        .and_then(|b| b.split("```").next())
        .expect("the quick start has a sh block");
    block
        .lines()
        .map(|l| l.split(" #").next().unwrap_or("").trim().to_owned())
        .filter(|l| !l.is_empty())
        .collect()
}

#[test]
fn the_readme_quick_start_is_the_demo_and_the_tests_that_ci_runs() {
    let commands = quick_start();
    assert_eq!(commands.len(), 2, "exactly two commands: {commands:?}");
    let (demo, tests) = (&commands[0], &commands[1]);
    assert!(demo.ends_with("-- demo"), "the first runs the demo: {demo}");
    let ci = std::fs::read_to_string(Path::new(ROOT).join(".ci/run")).unwrap();
    let ci: Vec<&str> = ci.lines().map(str::trim).collect();
    assert!(
        ci.contains(&format!("{demo} --exit").as_str()),
        ".ci/run does not run `{demo} --exit`"
    );
    assert!(
        ci.contains(&tests.as_str()),
        ".ci/run does not run `{tests}`"
    );
}
