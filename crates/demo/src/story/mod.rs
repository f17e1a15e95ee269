//! The steps of shared/design/SCENARIO.md, told against a running
//! [`Cluster`] over HTTP. Each step checks that what happened is what the
//! scenario says, and prints one line of what was asked, what was decided
//! and why; the figures gathered on the way make the summary. Steps 9
//! and 11, what the monitor and the witness see, are in `monitored`;
//! step 10, the operator asking the key custodian itself, in `custodian`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use serde_json::{Value, json};

use cluster::{Cluster, REGIONS};

use crate::example::Example;
use crate::people::{self, User};

mod copy;
mod custodian;
mod monitored;
mod operator;
mod person;

/// The story's state: the cluster, its users, and what the steps found.
pub(crate) struct Story<'a> {
    c: &'a mut Cluster,
    example: &'a Example,
    users: Vec<User>,
    /// Events stored per home region.
    stored: BTreeMap<String, u64>,
    forwarded: u64,
    receipts: u64,
    /// The French user of steps 5, 7 and 8.
    subject: usize,
    /// Log indices, by what they record.
    fr_transfer: Option<u64>,
    beijing_view: Option<u64>,
    dublin_read: Option<u64>,
    /// The monitor's summary after the audit.
    audited: Option<Value>,
    tampering_caught: bool,
    forgery_caught: bool,
    /// The French user's own page (issue 20).
    page: Option<person::PersonPage>,
    /// Requests sent to each URL: a split region's gateways take them in
    /// turn.
    sent: std::cell::RefCell<BTreeMap<String, u64>>,
}

/// The steps' names, in the scenario's order.
const STEPS: [&str; 11] = [
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
];

/// `12,345`.
pub(crate) fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, ch) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

/// How many of `needles` occur in `haystack`.
fn found(haystack: &[u8], needles: &[&str]) -> anyhow::Result<usize> {
    let ac = aho_corasick::AhoCorasick::new(needles)?;
    let seen: BTreeSet<_> = ac
        .find_overlapping_iter(haystack)
        .map(|m| m.pattern())
        .collect();
    Ok(seen.len())
}

/// How many of `needles` occur anywhere in the files under `dir`, as
/// they are or hex-encoded (as `pg_dump` writes a `bytea`).
fn found_in(dir: &Path, needles: &[&str]) -> anyhow::Result<usize> {
    let hexed: Vec<String> = needles.iter().map(hex::encode).collect();
    let patterns = needles
        .iter()
        .copied()
        .chain(hexed.iter().map(String::as_str));
    let ac = aho_corasick::AhoCorasick::new(patterns)?;
    let mut seen = BTreeSet::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).with_context(|| format!("reading {}", d.display()))? {
            let p = e?.path();
            if p.is_dir() {
                stack.push(p);
            } else if let Ok(bytes) = std::fs::read(&p) {
                seen.extend(
                    ac.find_overlapping_iter(&bytes)
                        .map(|m| m.pattern().as_usize() % needles.len()),
                );
            }
        }
    }
    Ok(seen.len())
}

fn copy_dir(from: &Path, to: &Path) -> anyhow::Result<u64> {
    std::fs::create_dir_all(to)?;
    let mut bytes = 0;
    for e in std::fs::read_dir(from)? {
        let e = e?;
        let target = to.join(e.file_name());
        if e.file_type()?.is_dir() {
            bytes += copy_dir(&e.path(), &target)?;
        } else {
            bytes += std::fs::copy(e.path(), target)?;
        }
    }
    Ok(bytes)
}

/// The fields' transforms of a logged entry, grouped: `token: a, b; drop: c`.
fn transforms(entry: &Value) -> String {
    let mut by_op: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for (field, t) in entry["fields"].as_object().into_iter().flatten() {
        let op = t["op"].as_str().unwrap_or("?").to_owned();
        by_op.entry(op).or_default().push(field);
    }
    by_op
        .iter()
        .map(|(op, fields)| format!("{op} {}", fields.join(", ")))
        .collect::<Vec<_>>()
        .join("; ")
}

fn first_reason(problem: &Value) -> String {
    problem["reasons"][0]
        .as_str()
        .or(problem["detail"].as_str())
        .unwrap_or("no reason given")
        .to_owned()
}

impl<'a> Story<'a> {
    pub(crate) fn new(c: &'a mut Cluster, example: &'a Example, users: Vec<User>) -> Self {
        let subject = users
            .iter()
            .position(|u| u.country == "FR" && !u.travelling())
            .unwrap_or(0);
        Story {
            c,
            example,
            users,
            stored: BTreeMap::new(),
            forwarded: 0,
            receipts: 0,
            subject,
            fr_transfer: None,
            beijing_view: None,
            dublin_read: None,
            audited: None,
            tampering_caught: false,
            forgery_caught: false,
            page: None,
            sent: Default::default(),
        }
    }

    /// Tells every step; prints a line for each and the summary. True when
    /// every step behaved as the scenario says.
    pub(crate) async fn tell(&mut self) -> bool {
        let started = Instant::now();
        let mut failed = Vec::new();
        for (i, name) in STEPS.into_iter().enumerate() {
            let told = match i {
                0 => self.collect().await,
                1 => self.transfer().await,
                2 => self.blocked().await,
                3 => self.aggregate().await,
                4 => self.remote_view().await,
                5 => self.hidden_copy().await,
                6 => self.export().await,
                7 => self.erasure().await,
                8 => self.audit().await,
                9 => self.custodian().await,
                _ => self.tampering().await,
            };
            match told {
                Ok(line) => println!("{:>2}. {name:<12} {line}", i + 1),
                Err(e) => {
                    println!("{:>2}. {name:<12} FAILED: {e:#}", i + 1);
                    failed.push(name);
                }
            }
        }
        self.summary(started.elapsed(), &failed).await;
        failed.is_empty()
    }

    /// POSTs a JSON body as a principal; the status and the JSON answer.
    async fn post(
        &self,
        region: &str,
        path: &str,
        principal: &str,
        body: &Value,
    ) -> anyhow::Result<(u16, Value)> {
        let resp = self
            .c
            .http
            .post(format!("{}{path}", self.gateway(region)))
            .bearer_auth(self.example.token(principal))
            .json(body)
            .send()
            .await
            .with_context(|| format!("{region} {path}"))?;
        let status = resp.status().as_u16();
        let text = resp.text().await?;
        let value = serde_json::from_str(&text)
            .with_context(|| format!("{region} {path}: answer ({status}) is not JSON"))?;
        Ok((status, value))
    }

    /// Entry `index` of a tree of `size` leaves, as the region serves its
    /// log to anyone (`/log/tile/…`): what a person or a monitor reads.
    async fn public_entry(&self, region: &str, index: u64, size: u64) -> anyhow::Result<Vec<u8>> {
        let log = tlog::verify::HttpTiles::new(
            self.c.http.clone(),
            &format!("{}/log", self.gateway(region)),
        );
        log.entry(index, size)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))
    }

    /// The region's URL for the next request: a split region's gateways
    /// in turn, as a load balancer spreads them.
    fn gateway(&self, region: &str) -> String {
        let mut sent = self.sent.borrow_mut();
        let url = match self.c.gateways.get(region) {
            Some(g) if !g.is_empty() => {
                let n: u64 = g.iter().filter_map(|u| sent.get(u)).sum();
                g[n as usize % g.len()].clone()
            }
            _ => self.c.urls[region].clone(),
        };
        *sent.entry(url.clone()).or_default() += 1;
        url
    }

    /// The monitor's dashboard.
    fn dashboard(&self) -> &str {
        self.c.dashboard.as_deref().unwrap_or_default()
    }

    async fn get(&self, url: &str) -> anyhow::Result<String> {
        let resp = self.c.http.get(url).send().await?;
        ensure!(resp.status() == 200, "GET {url}: {}", resp.status());
        Ok(resp.text().await?)
    }

    /// Checks a receipt against the entry as returned and the log's key.
    fn verify(&mut self, region: &str, entry: &Value, receipt: &Value) -> anyhow::Result<()> {
        let receipt = tlog::Receipt::parse(receipt.as_str().context("no receipt")?)?;
        receipt
            .verify(&entry::canonical(entry), &self.c.log_keys[region], &[])
            .with_context(|| format!("the receipt of {region}'s entry does not verify"))?;
        self.receipts += 1;
        Ok(())
    }

    /// The region that homes a country, by the policy's residency rule.
    fn home_of(&self, country: &str) -> &str {
        self.example.homes.get(country).map_or("", String::as_str)
    }

    fn homed<'u>(&'u self, region: &'u str) -> impl Iterator<Item = &'u User> + 'u {
        self.users
            .iter()
            .filter(move |u| self.home_of(u.country) == region)
    }

    /// 1. Every user's events go to the nearest edge; each lands in its
    ///    home region and the edge keeps nothing of what it forwards.
    async fn collect(&mut self) -> anyhow::Result<String> {
        let mut by_edge: BTreeMap<&str, Vec<&Value>> = BTreeMap::new();
        let mut forwarded = 0;
        for u in &self.users {
            by_edge.entry(u.edge).or_default().extend(u.events());
            if u.edge != self.home_of(u.country) {
                forwarded += u.events().len() as u64;
            }
        }
        let mut stored: BTreeMap<String, u64> = BTreeMap::new();
        for (edge, events) in &by_edge {
            for batch in events.chunks(1000) {
                let (status, body) = self
                    .post(edge, "/v1/ingest", "app", &json!({ "events": batch }))
                    .await?;
                ensure!(status == 202, "ingest at {edge}: {status} {body}");
                for (region, n) in body["regions"].as_object().into_iter().flatten() {
                    *stored.entry(region.clone()).or_default() += n.as_u64().unwrap_or(0);
                }
            }
        }
        for r in REGIONS {
            let expected: u64 = self.homed(r).map(|u| u.events().len() as u64).sum();
            let got = stored.get(r).copied().unwrap_or(0);
            ensure!(
                got == expected,
                "{r} stored {got} events, expected {expected}"
            );
        }
        // What each edge forwarded is not in its files; what it homes is.
        for edge in REGIONS {
            let away: Vec<&str> = self
                .users
                .iter()
                .filter(|u| u.edge == edge && self.home_of(u.country) != edge)
                .flat_map(|u| u.record_ids.iter().map(String::as_str))
                .collect();
            if !away.is_empty() {
                let kept = self.found_in_store(edge, &away)?;
                ensure!(kept == 0, "{edge} kept {kept} records it forwarded");
            }
            let home: Vec<&str> = self
                .homed(edge)
                .flat_map(|u| u.record_ids.iter().map(String::as_str))
                .take(50)
                .collect();
            ensure!(
                self.found_in_store(edge, &home)? > 0,
                "the search of {edge}'s files finds none of the records it homes: it proves nothing"
            );
        }
        let total: u64 = stored.values().sum();
        let countries: BTreeSet<&str> = self.users.iter().map(|u| u.country).collect();
        let line = format!(
            "{} events of {} users from {} countries, each sent to the nearest edge → stored at home: {} ({} forwarded by an edge, which kept none of them)",
            thousands(total),
            thousands(self.users.len() as u64),
            countries.len(),
            stored
                .iter()
                .map(|(r, n)| format!("{r} {}", thousands(*n)))
                .collect::<Vec<_>>()
                .join(" · "),
            thousands(forwarded)
        );
        self.stored = stored;
        self.forwarded = forwarded;
        Ok(line)
    }

    /// 2. Recommendation training in the US gets pseudonymised training
    ///    data from both EEA regions under the EU-US adequacy decision.
    async fn transfer(&mut self) -> anyhow::Result<String> {
        let reco = json!({"fields": ["account.user_id", "device.language", "device.os_version",
                                     "network.wifi_ssid", "profile.about", "social.friends", "social.contacts"],
                          "purpose": "reco-training", "legal_basis": "adequacy:eu-us-dpf"});
        let mut parts = Vec::new();
        let mut plan = String::new();
        let mut fr_transfer = None;
        let mut scrubbed = String::new();
        for region in ["eu-fr", "eu-no"] {
            let (status, t) = self
                .post(region, "/v1/transfer", "svc-reco-us", &reco)
                .await?;
            ensure!(status == 200, "{region}: {status} {t}");
            let entry = &t["entry"];
            self.verify(region, entry, &t["receipt"])?;
            let homed: Vec<&User> = self.homed(region).collect();
            ensure!(
                entry["subject_count"] == homed.len(),
                "{region}: the entry covers {} subjects, {} are homed there",
                entry["subject_count"],
                homed.len()
            );
            let text = t["records"].to_string();
            let ids: Vec<&str> = homed.iter().map(|u| u.id.as_str()).collect();
            ensure!(
                found(text.as_bytes(), &ids)? == 0,
                "{region}: a user id left in clear"
            );
            let dropped: Vec<&str> = homed
                .iter()
                .flat_map(|u| [u.ssid.as_str(), &u.contact])
                .collect();
            ensure!(
                found(text.as_bytes(), &dropped)? == 0,
                "{region}: an SSID or a contact left"
            );
            // What people wrote about themselves leaves scrubbed: none of
            // the phone numbers, e-mail addresses and IBANs in it.
            let written: Vec<&str> = homed
                .iter()
                .flat_map(|u| {
                    [u.phone.as_str(), &u.email]
                        .into_iter()
                        .chain(u.iban.as_deref())
                })
                .collect();
            ensure!(
                found(text.as_bytes(), &written)? == 0,
                "{region}: a phone number, e-mail address or IBAN written in profile.about left in clear"
            );
            let records = t["records"].as_array().context("no records")?;
            let values = |ds: &str, field: &str| -> BTreeSet<String> {
                records
                    .iter()
                    .filter(|r| r["dataset"] == ds)
                    .filter_map(|r| r["fields"][field].as_str().map(str::to_owned))
                    .collect()
            };
            ensure!(
                values("device", "os_version")
                    .iter()
                    .all(|v| !v.contains('.')),
                "{region}: an OS version left with its minor version"
            );
            let people = values("account", "user_id");
            ensure!(
                !people.is_empty() && values("social", "friends").is_subset(&people),
                "{region}: friends do not carry the same tokens as the users they are"
            );
            plan = transforms(entry);
            parts.push(format!(
                "{region} {} subjects, {} records (#{})",
                thousands(homed.len() as u64),
                thousands(records.len() as u64),
                t["log_index"]
            ));
            if region == "eu-fr" {
                fr_transfer = t["log_index"].as_u64();
                let about = values("profile", "about");
                let lead = people::about_lead("FR");
                let sample = about
                    .iter()
                    .find(|a| a.starts_with(lead))
                    .context("no French profile.about left")?;
                ensure!(
                    about.len() == homed.len(),
                    "{region}: {} of {} people's profile.about left",
                    about.len(),
                    homed.len()
                );
                scrubbed = format!(
                    "; a French user's profile.about ({}) left as \"{sample}\"",
                    people::about_described("FR")
                );
            }
        }
        self.fr_transfer = fr_transfer;
        Ok(format!(
            "svc-reco-us (US, EU-US DPF certified) asks for training data: allowed under adequacy:eu-us-dpf — {}; {plan}; each answer's receipt verified{scrubbed}",
            parts.join(", ")
        ))
    }

    /// 3. Phone numbers and contacts to China, in clear: no transfer tool
    ///    covers it. Denied, and the denial is logged.
    async fn blocked(&mut self) -> anyhow::Result<String> {
        let ask = json!({"fields": ["profile.phone", "social.contacts"], "purpose": "analytics"});
        let mut indices = Vec::new();
        let mut reason = String::new();
        for region in ["eu-fr", "eu-no"] {
            let (status, p) = self
                .post(region, "/v1/transfer", "eng-beijing", &ask)
                .await?;
            ensure!(status == 403, "{region}: {status}, expected 403: {p}");
            let index = p["log_index"]
                .as_u64()
                .context("the denial names no entry")?;
            let phones: Vec<&str> = self.homed(region).map(|u| u.phone.as_str()).collect();
            ensure!(
                found(p.to_string().as_bytes(), &phones)? == 0,
                "a phone number in the denial"
            );
            indices.push(format!("{region} #{index}"));
            reason = first_reason(&p);
        }
        Ok(format!(
            "eng-beijing (CN) asks for EEA users' phone numbers and contacts in clear: denied — {reason} (logged: {})",
            indices.join(", ")
        ))
    }

    /// 4. How many users run each OS version: an aggregate, with groups
    ///    smaller than k suppressed; logged.
    async fn aggregate(&mut self) -> anyhow::Result<String> {
        let ask = json!({"group_by": ["device.os_version"], "purpose": "analytics"});
        let (status, a) = self
            .post("eu-fr", "/v1/aggregate", "eng-beijing", &ask)
            .await?;
        ensure!(status == 200, "{status} {a}");
        let k = a["k"].as_u64().unwrap_or(0);
        ensure!(k >= 5, "k = {k}");
        let mut groups = Vec::new();
        let mut counted = 0;
        for g in a["groups"].as_array().into_iter().flatten() {
            let n = g[1].as_u64().unwrap_or(0);
            ensure!(n >= k, "a group of {n} was reported with k = {k}");
            counted += n;
            groups.push(format!("{}: {n}", g[0][0].as_str().unwrap_or("?")));
        }
        let suppressed = a["suppressed_subjects"].as_u64().unwrap_or(0);
        let fr = self.homed("eu-fr").count() as u64;
        ensure!(
            counted + suppressed == fr,
            "{counted} counted + {suppressed} suppressed, {fr} users"
        );
        ensure!(suppressed > 0, "the rare OS version was not suppressed");
        Ok(format!(
            "eng-beijing asks eu-fr how many users run each OS version: allowed as an aggregate (#{}) — OS {}; {} group(s) of {suppressed} users below k = {k} suppressed",
            a["log_index"],
            groups.join(" · "),
            a["suppressed_groups"]
        ))
    }

    /// 5. Remote view is a transfer: Beijing may not open one French
    ///    user's profile; Dublin, in the same jurisdiction, may.
    async fn remote_view(&mut self) -> anyhow::Result<String> {
        let user = &self.users[self.subject];
        let view = json!({"user_id": user.id, "fields": ["profile.phone", "profile.address"],
                          "purpose": "support-ticket"});
        let phone = user.phone.clone();
        let (status, p) = self.post("eu-fr", "/v1/read", "eng-beijing", &view).await?;
        ensure!(status == 403, "Beijing's view: {status}, expected 403");
        self.beijing_view = p["log_index"].as_u64();
        let (status, r) = self
            .post("eu-fr", "/v1/read", "support-dublin", &view)
            .await?;
        ensure!(status == 200, "Dublin's view: {status} {r}");
        ensure!(
            r["entry"]["action"] == "read",
            "Dublin's view was logged as {}",
            r["entry"]["action"]
        );
        ensure!(
            r["records"][0]["fields"]["phone"] == phone.as_str(),
            "Dublin did not see the profile"
        );
        self.verify("eu-fr", &r["entry"], &r["receipt"])?;
        self.dublin_read = r["log_index"].as_u64();
        Ok(format!(
            "eng-beijing opens one French user's profile \"for a support ticket\": denied, logged as a transfer attempt (#{}: {}); support-dublin (IE, same jurisdiction) opens it: allowed, logged as a read (#{}), receipt verified",
            p["log_index"],
            first_reason(&p),
            r["log_index"]
        ))
    }

    /// 6. A rogue insider copies eu-fr's whole directory, key file
    ///    included: personal fields are ciphertext, and nothing in the copy
    ///    opens them (their keys are the custodian's).
    async fn hidden_copy(&mut self) -> anyhow::Result<String> {
        let copy = self.c.dir.join("hidden-copy-of-eu-fr");
        // The whole region directory — key file, log and its signing key —
        // and the store: records and keyring (in the directory, or dumped
        // from PostgreSQL).
        let split = self.c.gateways.contains_key("eu-fr");
        let mut bytes = copy_dir(&self.c.dir.join("eu-fr"), &copy)?;
        if split {
            bytes += self.copy_store("eu-fr", &copy)?;
        }
        let fr: Vec<&User> = self.homed("eu-fr").collect();
        let mut needles: Vec<&str> = Vec::new();
        for u in &fr {
            needles.extend([u.id.as_str(), &u.phone, &u.address, &u.ssid, &u.contact]);
        }
        let found = found_in(&copy, &needles)?;
        ensure!(
            found == 0,
            "{found} personal values found in clear in the copy"
        );
        let ids: Vec<&str> = fr
            .iter()
            .flat_map(|u| u.record_ids.iter().map(String::as_str))
            .collect();
        let control = found_in(&copy, &ids)?;
        ensure!(
            control > 0,
            "the search finds nothing at all: it proves nothing"
        );
        let opened = if self.c.custodian.is_some() {
            let users: Vec<&str> = fr.iter().map(|u| u.id.as_str()).collect();
            let store = self.region_config("eu-fr")?.store;
            let (tried, opened) =
                copy::try_open(&copy, &store, &self.c.dir.join("policy"), &users).await?;
            ensure!(
                tried > 0,
                "no user's records found in the copy: it proves nothing"
            );
            ensure!(
                opened == 0,
                "{opened} of {tried} users' records opened from the copy"
            );
            format!(
                "; opened with the key file found in it and an entry of a log of the copier's own making: 0 of {} users' records open — their keys are derived from batch secrets only the custodian can open",
                thousands(tried as u64)
            )
        } else {
            String::new()
        };
        let mb = bytes as f64 / 1e6;
        let what = if split {
            format!(
                "eu-fr's whole directory and a pg_dump of its database ({mb:.1} MB: records, keyring, key file, the log's signing key)"
            )
        } else {
            format!("eu-fr's whole directory ({mb:.1} MB: records, keyring, key file, log)")
        };
        Ok(format!(
            "a copy of {what}, searched for its {} users' ids, phones, addresses, SSIDs and contacts: none in clear, only AES-GCM-SIV ciphertext (the search does find {} of the record ids the app keeps in clear){opened}",
            thousands(fr.len() as u64),
            thousands(control as u64)
        ))
    }

    /// Checks that `accesses` (an export's or a history's) list the
    /// French user's accesses the story made: step 2's transfer, Beijing's
    /// refused view, Dublin's read. `where_` says where they were missing.
    fn lists_the_story(&self, accesses: &[Value], where_: &str) -> anyhow::Result<()> {
        let seen: Vec<u64> = accesses
            .iter()
            .filter_map(|a| a["log_index"].as_u64())
            .collect();
        for (what, index) in [
            ("step 2's transfer", self.fr_transfer),
            ("Beijing's refused view", self.beijing_view),
            ("Dublin's read", self.dublin_read),
        ] {
            let index = index.with_context(|| format!("{what} has no entry"))?;
            ensure!(seen.contains(&index), "{what} (#{index}) is not {where_}");
        }
        Ok(())
    }

    /// 7. Who touched my data: the French user's export, with every access
    ///    and a receipt for each.
    async fn export(&mut self) -> anyhow::Result<String> {
        let me = json!({"user_id": self.users[self.subject].id});
        let (status, x) = self
            .post("eu-fr", "/v1/subjects/export", "dpo", &me)
            .await?;
        ensure!(status == 200, "{status} {x}");
        let records = x["records"].as_array().map_or(0, Vec::len);
        ensure!(records == 5, "{records} records exported, 5 ingested");
        let accesses = x["accesses"].as_array().context("no accesses")?.clone();
        self.lists_the_story(&accesses, "listed")?;
        let mut proofs = 0;
        let mut listed = Vec::new();
        for a in &accesses {
            self.verify("eu-fr", &a["entry"], &a["receipt"])?;
            if let Some(p) = a.get("subject_proof") {
                verify_subject_proof(&a["entry"], p)?;
                proofs += 1;
            }
            let e = &a["entry"];
            let mut item = format!(
                "#{} {}",
                a["log_index"],
                e["action"].as_str().unwrap_or("?")
            );
            if e["action"] == "transfer" {
                let _ = write!(item, " to {}", e["destination"].as_str().unwrap_or("?"));
            }
            if e["decision"] == "deny" {
                let _ = write!(
                    item,
                    " by {} (refused)",
                    e["principal"]["id"].as_str().unwrap_or("?")
                );
            } else {
                let _ = write!(item, " by {}", e["principal"]["id"].as_str().unwrap_or("?"));
            }
            listed.push(item);
        }
        ensure!(
            proofs == accesses.len(),
            "{proofs} proofs that the subject is in an entry's set, for {} entries",
            accesses.len()
        );
        self.page = Some(self.person_page().await?);
        Ok(format!(
            "the French user's export: {records} records and {} logged accesses — {}; every receipt verifies against eu-fr's public key, and {proofs} proof(s) that the user is in the entry's salted subject set",
            accesses.len(),
            listed.join(", ")
        ))
    }

    /// 8. Erasure: the user's key is destroyed, and the log records it.
    async fn erasure(&mut self) -> anyhow::Result<String> {
        let me = json!({"user_id": self.users[self.subject].id});
        let (status, e) = self.post("eu-fr", "/v1/subjects/erase", "dpo", &me).await?;
        ensure!(status == 200 && e["existed"] == true, "{status} {e}");
        // The entry is in the log: its receipt verifies against the entry
        // read back from the public log.
        let index = e["log_index"].as_u64().context("no entry")?;
        let receipt = tlog::Receipt::parse(e["receipt"].as_str().context("no receipt")?)?;
        let size = receipt.checkpoint.lines().nth(1).unwrap_or("0").parse()?;
        let logged = self.public_entry("eu-fr", index, size).await?;
        receipt.verify(&logged, &self.c.log_keys["eu-fr"], &[])?;
        self.receipts += 1;
        let (status, _) = self
            .post("eu-fr", "/v1/subjects/export", "dpo", &me)
            .await?;
        ensure!(status == 404, "after erasure the export answers {status}");
        Ok(format!(
            "the user asks for erasure, logged as #{index} (receipt verified): the key custodian records it first — no key of theirs is released again, even for a backup restored — then their records are deleted; their export now answers 404; the tokens that left in step 2 are one-way (keyed HMAC): nothing reverses them"
        ))
    }

    async fn summary(&self, took: Duration, failed: &[&str]) {
        println!();
        println!("summary");
        println!(
            "  events ingested     {} ({} forwarded by an edge to their home)",
            self.stored
                .iter()
                .map(|(r, n)| format!("{r} {}", thousands(*n)))
                .collect::<Vec<_>>()
                .join(" · "),
            thousands(self.forwarded)
        );
        if let Some(s) = &self.audited {
            println!("  transfers           {}", transfer_groups(s));
            println!(
                "  denials             {} (each logged, with its reasons)",
                s["denial_count"]
            );
        }
        println!("  receipts verified   {}", self.receipts);
        for (region, gateways) in &self.c.gateways {
            let sent = self.sent.borrow();
            let each: Vec<String> = gateways
                .iter()
                .enumerate()
                .map(|(i, u)| format!("gw{i} {}", sent.get(u).copied().unwrap_or(0)))
                .collect();
            println!(
                "  {region} gateways      requests taken in turn: {}",
                each.join(" · ")
            );
        }
        if let Some(url) = &self.c.custodian {
            let metrics = match self.c.http.get(format!("{url}/metrics")).send().await {
                Ok(r) => r.text().await.unwrap_or_default(),
                Err(_) => String::new(),
            };
            let count = |name: &str| {
                metrics
                    .lines()
                    .find_map(|l| l.strip_prefix(name)?.trim().parse::<f64>().ok())
                    .map_or_else(|| "?".to_owned(), |n| thousands(n as u64))
            };
            println!(
                "  key custodian       {} record keys released to logged, lawful accesses; {} refused",
                count("custodian_keys_released_total "),
                count("custodian_keys_refused_total ")
            );
        }
        let verdict = match (&self.audited, self.forgery_caught, self.tampering_caught) {
            (Some(_), true, true) => {
                "clean (0 violations, 0 inconsistencies); then caught the forged entry (eu-no), the edited entry (eu-fr) and the split view (us-tx)"
            }
            (Some(_), _, true) => {
                "clean (0 violations, 0 inconsistencies); then caught the edited entry (eu-fr) and the split view (us-tx)"
            }
            (Some(_), true, false) => {
                "clean (0 violations, 0 inconsistencies); then caught the forged entry (eu-no)"
            }
            (Some(_), false, false) => "clean (0 violations, 0 inconsistencies)",
            (None, _, _) => "no verdict",
        };
        println!("  monitor             {verdict}");
        println!("  time                {:.1} s", took.as_secs_f64());
        if let Some(p) = &self.page {
            let url =
                page::browser::file_url(&p.path).unwrap_or_else(|_| p.path.display().to_string());
            match &p.browser {
                Some(v) => println!(
                    "  person's page       {url} — the French user's accesses; the page verified {} of {} receipts in headless Chromium against eu-fr's and the witness's pinned keys ({} cosigned by the witness, {} not yet), {} failed",
                    v.verified + v.unconfirmed,
                    p.accesses,
                    v.verified,
                    v.unconfirmed,
                    v.failed
                ),
                None => println!(
                    "  person's page       {url} — the French user's accesses; headless Chromium is not installed, so no browser verified it here: the Rust verifier checked its {} receipts (open it to check them in yours)",
                    p.accesses
                ),
            }
        }
        if failed.is_empty() {
            println!("  every step behaved as the scenario says");
        } else {
            println!("  FAILED steps: {}", failed.join(", "));
            println!(
                "  (each process's output is in {})",
                self.c.dir.join("*.out").display()
            );
        }
    }
}

/// `US under adequacy:eu-us-dpf for reco-training: 2 (2,280 subjects)`.
fn transfer_groups(s: &Value) -> String {
    let groups: Vec<String> = s["transfers"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|t| {
            format!(
                "{} under {} for {}: {} ({} subjects)",
                t["destination"].as_str().unwrap_or("?"),
                t["legal_basis"].as_str().unwrap_or("?"),
                t["purpose"].as_str().unwrap_or("?"),
                t["transfers"],
                thousands(t["subjects"].as_u64().unwrap_or(0))
            )
        })
        .collect();
    if groups.is_empty() {
        "none".into()
    } else {
        groups.join("; ")
    }
}

/// Checks that the subject is in the set an entry commits to by its
/// `subjects_root` (an RFC 6962 inclusion proof of its salted leaf).
fn verify_subject_proof(entry: &Value, p: &Value) -> anyhow::Result<()> {
    let root = tlog::Hash::from_hex(
        entry["subjects_root"]
            .as_str()
            .context("the entry has no subjects_root")?,
    )?;
    let p: node::region::SubjectProof =
        serde_json::from_value(p.clone()).context("a malformed subject-set proof")?;
    p.verify(&root)
        .context("the subject-set proof does not verify")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_are_separated() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(15_000), "15,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }

    #[test]
    fn transforms_are_grouped_by_operation() {
        let e = json!({"fields": {"a.x": {"op": "drop"}, "a.y": {"op": "token", "domain": "p"},
                                  "b.z": {"op": "drop"}}});
        assert_eq!(transforms(&e), "drop a.x, b.z; token a.y");
    }
}
