//! A person's own view (issue 20): the app asks a region for the accesses
//! to one of its users — every logged entry naming that person, newest
//! first, a page at a time, each with a receipt that verifies — and
//! nobody else's.

mod cluster;

use serde_json::{Value, json};

use cluster::{Cluster, events, node_token};

const WHO: &str = "fr-user-0003";

async fn history(c: &Cluster, bearer: &str, body: Value) -> (u16, Value) {
    c.post("eu-fr", "/v1/subjects/accesses", Some(bearer), &body)
        .await
}

/// The log index a request was logged at (an answer's or a denial's).
fn logged(status: u16, answer: &Value) -> u64 {
    answer["log_index"]
        .as_u64()
        .unwrap_or_else(|| panic!("not logged: {status} {answer}"))
}

fn indices(page: &Value) -> Vec<u64> {
    page["accesses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["log_index"].as_u64().unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_sees_every_access_to_their_data_and_nobody_elses() {
    let c = Cluster::start(None).await;
    let (status, r) = c
        .post(
            "eu-fr",
            "/v1/ingest",
            Some("app"),
            &json!({"events": events("FR", 12)}),
        )
        .await;
    assert_eq!(status, 202, "{r}");

    // Every kind of access that names the person: a read in the
    // jurisdiction, a refused read from Beijing, a transfer of two
    // subjects to the US (named by a root), the DPO's export.
    let read = json!({"user_id": WHO, "fields": ["profile.phone"], "purpose": "support-ticket"});
    let (status, r) = c
        .post("eu-fr", "/v1/read", Some("support-dublin"), &read)
        .await;
    let support = logged(status, &r);
    let beijing = json!({"user_id": WHO, "fields": ["profile.phone"], "purpose": "debugging"});
    let (status, r) = c
        .post("eu-fr", "/v1/read", Some("eng-beijing"), &beijing)
        .await;
    assert_eq!(status, 403, "{r}");
    let refused = logged(status, &r);
    let transfer = json!({"user_ids": [WHO, "fr-user-0004"], "fields": ["device.language"],
        "purpose": "reco-training", "destination": "US", "legal_basis": "adequacy:eu-us-dpf"});
    let (status, r) = c
        .post("eu-fr", "/v1/transfer", Some("svc-reco-us"), &transfer)
        .await;
    let to_us = logged(status, &r);
    let (status, r) = c
        .post(
            "eu-fr",
            "/v1/subjects/export",
            Some("dpo"),
            &json!({"user_id": WHO}),
        )
        .await;
    let export = logged(status, &r);
    // Someone else's read.
    let other = json!({"user_id": "fr-user-0005", "fields": ["profile.phone"], "purpose": "support-ticket"});
    let (status, r) = c
        .post("eu-fr", "/v1/read", Some("support-dublin"), &other)
        .await;
    let not_theirs = logged(status, &r);

    let (status, page) = history(&c, "app", json!({"user_id": WHO})).await;
    assert_eq!(status, 200, "{page}");
    let seen = indices(&page);
    assert_eq!(
        seen,
        [export, to_us, refused, support],
        "newest first, theirs only"
    );
    assert!(!seen.contains(&not_theirs));
    assert!(page.get("next_before").is_none(), "{page}");
    for a in page["accesses"].as_array().unwrap() {
        c.verify("eu-fr", &a["entry"], &a["receipt"]);
        // The text holds no personal value of theirs.
        let text = a["entry"].to_string();
        assert!(!text.contains(WHO) && !text.contains("+33"), "{text}");
    }
    let transfer_entry = &page["accesses"][1];
    assert_eq!(transfer_entry["entry"]["action"], "transfer");
    assert!(
        transfer_entry["subject_proof"].is_object(),
        "{transfer_entry}"
    );
    assert_eq!(page["accesses"][2]["entry"]["decision"], "deny");

    // Pages of one, stable while the log grows between them.
    let (status, first) = history(&c, "app", json!({"user_id": WHO, "limit": 1})).await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(indices(&first), [export]);
    let (status, r) = c
        .post("eu-fr", "/v1/read", Some("support-dublin"), &read)
        .await;
    let newer = logged(status, &r);
    let mut cursor = first["next_before"].as_u64().unwrap();
    let mut rest = Vec::new();
    loop {
        let (status, p) = history(
            &c,
            "app",
            json!({"user_id": WHO, "limit": 1, "before": cursor}),
        )
        .await;
        assert_eq!(status, 200, "{p}");
        rest.extend(indices(&p));
        match p["next_before"].as_u64() {
            Some(next) => cursor = next,
            None => break,
        }
    }
    assert_eq!(rest, [to_us, refused, support]);
    let (_, now) = history(&c, "app", json!({"user_id": WHO})).await;
    assert_eq!(indices(&now)[0], newer);

    // Only the app asks; a node's token, another principal, a bad page
    // size or an unknown person are refused, and nothing is echoed.
    for principal in ["support-dublin", "dpo", "eng-beijing", "svc-reco-us"] {
        let (status, p) = history(&c, principal, json!({"user_id": WHO})).await;
        assert_eq!(status, 403, "{principal}: {p}");
    }
    // A node's token acts only on a principal's behalf.
    let (status, p) = history(&c, &node_token("eu-no"), json!({"user_id": WHO})).await;
    assert_eq!(status, 400, "{p}");
    let (status, p) = history(&c, "app", json!({"user_id": WHO, "limit": 0})).await;
    assert_eq!(status, 400, "{p}");
    let (status, p) = history(&c, "app", json!({"user_id": "fr-user-9999-jean"})).await;
    assert_eq!(status, 404, "{p}");
    assert!(!p.to_string().contains("jean"), "{p}");
}

/// A person homed elsewhere is answered by their home region: the app may
/// ask any region, naming the person's country as in their events. The
/// home decides the same principal's request under its own policy, and a
/// peer's credential is no licence of its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_homed_elsewhere_is_answered_through_their_home_region() {
    let c = Cluster::start(None).await;
    let (status, r) = c
        .post(
            "eu-fr",
            "/v1/ingest",
            Some("app"),
            &json!({"events": events("FR", 4)}),
        )
        .await;
    assert_eq!(status, 202, "{r}");
    let read = json!({"user_id": WHO, "fields": ["profile.phone"], "purpose": "support-ticket"});
    let (status, r) = c
        .post("eu-fr", "/v1/read", Some("support-dublin"), &read)
        .await;
    let support = logged(status, &r);

    let ask = json!({"user_id": WHO, "country": "FR"});
    let (status, home) = history(&c, "app", ask.clone()).await;
    assert_eq!(status, 200, "{home}");
    assert_eq!(indices(&home), [support]);
    for elsewhere in ["eu-no", "us-tx"] {
        let (status, page) = c
            .post(elsewhere, "/v1/subjects/accesses", Some("app"), &ask)
            .await;
        assert_eq!(status, 200, "{elsewhere}: {page}");
        assert_eq!(page, home, "{elsewhere} answers what the home answers");
        // Only the app, wherever it asks.
        let (status, p) = c
            .post(
                elsewhere,
                "/v1/subjects/accesses",
                Some("support-dublin"),
                &ask,
            )
            .await;
        assert_eq!(status, 403, "{elsewhere}: {p}");
    }
    // Without the country the person is looked for there only.
    let (status, p) = c
        .post(
            "eu-no",
            "/v1/subjects/accesses",
            Some("app"),
            &json!({"user_id": WHO}),
        )
        .await;
    assert_eq!(status, 404, "{p}");
    let (status, p) = c
        .post(
            "eu-no",
            "/v1/subjects/accesses",
            Some("app"),
            &json!({"user_id": WHO, "country": "ZZ"}),
        )
        .await;
    assert_eq!(status, 400, "{p}");
    let (status, p) = c
        .post(
            "eu-no",
            "/v1/subjects/accesses",
            Some("app"),
            &json!({"user_id": WHO, "country": "fr"}),
        )
        .await;
    assert_eq!(status, 400, "{p}");

    // A peer forwards for a principal of the home's policy, for a person
    // homed there, and only for whom the home's policy lets ask.
    let peer = node_token("eu-no");
    let forward = |on_behalf_of: &str, body: Value| {
        let req = c
            .http
            .post(format!("{}/v1/subjects/accesses", c.urls["eu-fr"]))
            .bearer_auth(&peer)
            .header("residency-on-behalf-of", on_behalf_of)
            .json(&body);
        async move {
            let r = req.send().await.unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }
    };
    let (status, said) = forward("app", ask.clone()).await;
    assert_eq!(status, 200, "{said}");
    for not_the_app in ["support-dublin", "dpo"] {
        let (status, said) = forward(not_the_app, ask.clone()).await;
        assert_eq!(status, 403, "{not_the_app}: {said}");
    }
    let (status, said) = forward("nobody-known", ask.clone()).await;
    assert_eq!(status, 400, "{said}");
    assert!(!said.contains("nobody-known"), "{said}");
    let (status, said) = forward("app", json!({"user_id": "us-user-0001", "country": "US"})).await;
    assert_eq!(
        status, 400,
        "a peer forwards only what is homed here: {said}"
    );
}

/// Every access a person's history pages through, oldest last.
async fn all_indices(c: &Cluster, user: &str) -> Vec<u64> {
    let mut out = Vec::new();
    let mut body = json!({"user_id": user});
    loop {
        let (status, page) = history(c, "app", body.clone()).await;
        assert_eq!(status, 200, "{page}");
        out.extend(indices(&page));
        match page["next_before"].as_u64() {
            Some(next) => body = json!({"user_id": user, "before": next}),
            None => return out,
        }
    }
}

/// The access index is written without a flush of its own: a release
/// waits for one flush, the log's (issue 22). A node killed with SIGKILL
/// in the middle of answering loses none of it: after a restart every
/// read it answered is in its person's history.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_answered_access_is_in_the_history_after_a_sigkill() {
    let mut c = Cluster::start(None).await;
    let (status, r) = c
        .post(
            "eu-fr",
            "/v1/ingest",
            Some("app"),
            &json!({"events": events("FR", 12)}),
        )
        .await;
    assert_eq!(status, 202, "{r}");
    let url = format!("{}/v1/read", c.urls["eu-fr"]);
    let readers: Vec<_> = (0..4)
        .map(|i| {
            let (http, url) = (c.http.clone(), url.clone());
            tokio::spawn(async move {
                let mut answered = Vec::new();
                for n in 0.. {
                    let user = format!("fr-user-{:04}", (i + 4 * n) % 12);
                    let body = json!({"user_id": user, "fields": ["profile.phone"], "purpose": "support-ticket"});
                    let sent = http
                        .post(&url)
                        .bearer_auth(cluster::token("support-dublin"))
                        .json(&body)
                        .send()
                        .await;
                    // Killed: what it answered so far is what counts.
                    let Ok(r) = sent else { return answered };
                    let Ok(answer) = r.json::<Value>().await else {
                        return answered;
                    };
                    answered.push((user, logged(200, &answer)));
                }
                answered
            })
        })
        .collect();
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    c.kill("eu-fr");
    let mut answered = Vec::new();
    for r in readers {
        answered.extend(r.await.unwrap());
    }
    assert!(answered.len() > 20, "too little load: {}", answered.len());

    c.spawn_region("eu-fr").await.unwrap();
    c.wait_healthy("eu-fr").await;
    let mut seen = std::collections::BTreeMap::new();
    for (user, index) in &answered {
        if !seen.contains_key(user) {
            seen.insert(user.clone(), all_indices(&c, user).await);
        }
        assert!(
            seen[user].contains(index),
            "{user}'s read at {index} was answered, and is not in their history"
        );
    }
}
