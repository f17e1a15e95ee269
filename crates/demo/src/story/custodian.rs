//! Step 10: the operator asks the key custodian itself. eu-no's operator
//! holds everything on the region's disk — the store with its wrapped batch
//! secrets, the key file, the log's signing key — and the gateway's token
//! for the custodian. It writes an entry of its own making (Beijing's
//! denied request of step 3, rewritten as allowed, in clear) into the log
//! and asks for one Norwegian user's record keys: shown to the custodian
//! before any witness saw it, refused; once the witness has cosigned it,
//! refused again, because the decision does not replay. The monitor flags
//! the entry too.

use anyhow::{Context, bail, ensure};
use custody::protocol::{
    Base64, Consistency, HexHash, KeyAsk, LoggedEntry, Membership, ReleaseRequest, Salt, Tail,
    Wrapped,
};
use serde_json::{Value, json};

use super::Story;

/// The region whose operator tries.
const REGION: &str = "eu-no";

/// What the custodian answered: status, refusal code and detail.
struct Answer {
    status: u16,
    code: String,
    detail: String,
    latest: Option<u64>,
}

impl Story<'_> {
    pub(super) async fn custodian(&mut self) -> anyhow::Result<String> {
        let url = self
            .c
            .custodian
            .clone()
            .context("the demo runs no custodian")?;
        let var = cluster::custodian_token_var(REGION);
        let token = self
            .c
            .env()
            .iter()
            .find(|(k, _)| *k == var)
            .map(|(_, v)| v.clone())
            .context("the gateway's custodian token")?;
        let user = self
            .homed(REGION)
            .next()
            .context("no user homed in eu-no")?
            .id
            .clone();

        // The gateway stopped, its disk in the operator's hands.
        self.c.stop(REGION);
        let dir = self.c.log_dir(REGION);
        let key = self.c.log_keys[REGION].clone();
        let storage = tlog::FsStorage::open(&dir)?;
        let reader = tlog::LogReader::new(storage.clone());
        let size = reader.checkpoint(&key).await?.checkpoint.size;
        let mut denied = None;
        for i in 0..size {
            let e: Value = serde_json::from_slice(&reader.entry(i, size).await?)?;
            if e["principal"]["id"] == "eng-beijing" && e["decision"] == "deny" {
                denied = Some(e);
            }
        }
        let denied = denied.context("eu-no logged no denial of Beijing's request (step 3)")?;
        let datasets: Vec<String> = denied["datasets"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|d| d.as_str().map(str::to_owned))
            .collect();
        let (subject, needs) = self.wrapped_secrets(&user, &datasets).await?;

        // The entry of its own making: the same request, allowed, in clear,
        // for one subject of a set it salts itself.
        let opening = entry::Opening {
            subject: subject.clone(),
            salt: random()?,
        };
        let set = entry::SubjectSet::of(std::slice::from_ref(&opening));
        let (position, proof) = set
            .prover()
            .prove(&opening.leaf())
            .context("the subject is not in its own set")?;
        let mut forged = denied.clone();
        forged["decision"] = json!("allow");
        forged["reasons"] = json!([]);
        forged["subjects_root"] = json!(set.root().to_hex());
        forged["subject_count"] = json!(1);
        forged["payload_digest"] = json!(tlog::Hash(random()?).to_hex());
        forged["time"] = json!(now()?);
        if let Some(fields) = forged["fields"].as_object_mut() {
            for t in fields.values_mut() {
                *t = json!({"op": "keep"});
            }
        }
        let bytes = entry::canonical(&forged);
        let signer = tlog::Signer::parse(std::fs::read_to_string(dir.join("log.key"))?.trim())?;
        let (seq, task) =
            tlog::sequencer::open(storage, signer, tlog::SequencerConfig::default()).await?;
        let index = seq.add(bytes.clone()).await?.index();
        drop(seq);
        task.await?;

        let member = Membership {
            subject,
            salt: Salt(opening.salt),
            position,
            proof: proof.into_iter().map(HexHash).collect(),
        };
        let asks: Vec<KeyAsk> = needs
            .into_iter()
            .map(|n| KeyAsk {
                member: member.clone(),
                dataset: n.dataset,
                wrapped: Wrapped(n.wrapped),
            })
            .collect();
        let keys = asks.len();
        let ask = |checkpoint: tlog::SignedCheckpoint, consistency: Option<Consistency>| {
            let size = checkpoint.checkpoint.size;
            let reader = &reader;
            let asks = asks.clone();
            let bytes = bytes.clone();
            async move {
                let entry = LoggedEntry {
                    index,
                    bytes: Base64(bytes),
                    inclusion: reader
                        .inclusion_proof(index, size)
                        .await?
                        .into_iter()
                        .map(HexHash)
                        .collect(),
                };
                let mut req =
                    ReleaseRequest::new(checkpoint.to_text(), consistency, entry, None, asks);
                // The whole log: the custodian reads what it has not (here,
                // the forged entry), as it must before releasing anything.
                req.tail = Some(Tail {
                    from: 0,
                    entries: reader
                        .entries(0, size, size)
                        .await?
                        .into_iter()
                        .map(Base64)
                        .collect(),
                    proof: Vec::new(),
                });
                anyhow::Ok(req)
            }
        };

        // Shown to the custodian before any witness saw it.
        let own = reader.checkpoint(&key).await?;
        let first = self.release(&url, &token, &ask(own, None).await?).await?;
        ensure!(
            first.status == 403 && first.code == "not_signed",
            "the custodian answered {} ({}) to an unwitnessed checkpoint",
            first.status,
            first.code
        );

        // The gateway back: it serves the log, the witness cosigns it.
        self.c.spawn_region(REGION).await?;
        self.c.wait_healthy(REGION).await?;
        let cosigned = self.cosigned_checkpoint(index + 1).await?;
        Self::on_disk(&reader, &key, cosigned.checkpoint.size).await?;
        let mut answer = self
            .release(&url, &token, &ask(cosigned.clone(), None).await?)
            .await?;
        if answer.code == "stale_checkpoint" {
            let old = answer.latest.unwrap_or(0);
            let proof = if old == 0 {
                Vec::new()
            } else {
                reader
                    .consistency_proof(old, cosigned.checkpoint.size)
                    .await?
            };
            let consistency = Consistency {
                old_size: old,
                proof: proof.into_iter().map(HexHash).collect(),
            };
            answer = self
                .release(&url, &token, &ask(cosigned, Some(consistency)).await?)
                .await?;
        }
        ensure!(
            answer.status == 403 && answer.code == "does_not_replay",
            "the custodian answered {} ({}: {}) to an entry that does not replay",
            answer.status,
            answer.code,
            answer.detail
        );
        let flagged = self
            .finding(REGION, |f| f["index"].as_u64() == Some(index))
            .await?;
        self.forgery_caught = true;
        Ok(format!(
            "eu-no's operator, with the log's signing key, the store and the gateway's custodian token in hand, writes entry #{index} of its own making — step 3's request by eng-beijing, allowed, phones and contacts in clear, for one Norwegian user — and asks the custodian for that user's {keys} record keys: before any witness cosigned the log, refused ({}: {}); cosigned by the witness, refused again ({}: the custodian's replay under the logged bundle denies it); nothing released, and the monitor flags \"{flagged}\"",
            first.code, first.detail, answer.code
        ))
    }

    /// Step 6's view of a copy of the store: a user's pseudonym and the
    /// wrapped batch secrets of their records in `datasets`.
    async fn wrapped_secrets(
        &self,
        user: &str,
        datasets: &[String],
    ) -> anyhow::Result<(String, Vec<store::custody::KeyNeed>)> {
        let copy = tempfile::tempdir()?;
        super::copy_dir(&self.c.store_dir(REGION), copy.path())?;
        let keys =
            store::keys::FileKeyProvider::open(&self.c.dir.join(REGION).join("region.keys"))?;
        let store = store::Store::new(
            store::SqliteBackend::open(copy.path())?,
            std::sync::Arc::new(policy::catalog::Catalog::default()),
            std::sync::Arc::new(keys),
        );
        let subject = store.subject_ref(user);
        let sealed = store.sealed(&subject, datasets).await?;
        let needs = store.record_keys_needed(&sealed).await?;
        if needs.is_empty() {
            bail!("the user's records are not sealed for the custodian");
        }
        Ok((subject, needs))
    }

    /// The region's checkpoint as it serves it, once it covers `size`
    /// entries and carries the witness's cosignature.
    async fn cosigned_checkpoint(&self, size: u64) -> anyhow::Result<tlog::SignedCheckpoint> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let text = self
                .get(&format!("{}/log/checkpoint", self.c.urls[REGION]))
                .await?;
            if let Ok(cp) = tlog::SignedCheckpoint::open(
                text.as_bytes(),
                &self.c.log_keys[REGION],
                std::slice::from_ref(&self.c.witness),
            ) && cp.checkpoint.size >= size
                && cp
                    .note
                    .verify(std::slice::from_ref(&self.c.witness))
                    .is_ok()
            {
                return Ok(cp);
            }
            ensure!(
                std::time::Instant::now() < deadline,
                "the witness did not cosign eu-no's checkpoint within 10 s"
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    /// Posts a release request to the custodian as the gateway would.
    async fn release(
        &self,
        url: &str,
        token: &str,
        req: &ReleaseRequest,
    ) -> anyhow::Result<Answer> {
        let r = self
            .c
            .http
            .post(format!("{url}/v1/release"))
            .bearer_auth(token)
            .json(req)
            .send()
            .await
            .context("the custodian")?;
        let status = r.status().as_u16();
        let body: Value = r.json().await.unwrap_or_default();
        if status == 200 {
            bail!("the custodian released keys to the operator");
        }
        Ok(Answer {
            status,
            code: body["code"].as_str().unwrap_or("").to_owned(),
            detail: body["detail"].as_str().unwrap_or("").to_owned(),
            latest: body["latest"].as_u64(),
        })
    }
}

fn random() -> anyhow::Result<[u8; 32]> {
    let mut b = [0u8; 32];
    getrandom::fill(&mut b).map_err(|e| anyhow::anyhow!("random source: {e}"))?;
    Ok(b)
}

/// Now, RFC 3339 in UTC to the second, as entries carry it.
fn now() -> anyhow::Result<String> {
    let t = time::OffsetDateTime::now_utc().replace_nanosecond(0)?;
    Ok(t.format(&time::format_description::well_known::Rfc3339)?)
}
