//! Steps 9 and 11: what the monitor and the witness see — every log
//! verified and every decision replayed, then an edited entry and a split
//! view caught.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use cluster::REGIONS;
use serde_json::Value;

use super::{Story, transfer_groups};

impl Story<'_> {
    /// The monitor's summary once it has verified every log up to the
    /// checkpoint each region serves now, cosigned by the witness.
    async fn caught_up(&self) -> anyhow::Result<Value> {
        let mut sizes = BTreeMap::new();
        for r in REGIONS {
            let cp = self
                .get(&format!("{}/log/checkpoint", self.c.urls[r]))
                .await?;
            sizes.insert(r, cp.lines().nth(1).unwrap_or("0").parse::<u64>()?);
        }
        self.watch_monitor("verify every log", |s| {
            let done = REGIONS.iter().all(|r| {
                s["logs"].as_array().into_iter().flatten().any(|l| {
                    l["region"] == *r
                        && l["size"].as_u64() >= Some(sizes[r])
                        && l["witnesses"]["witness.example"] == true
                })
            });
            done.then(|| s.clone())
        })
        .await
    }

    /// Polls the monitor's summary until `ready` finds what it waits for
    /// in it (30 s at most).
    async fn watch_monitor<T>(
        &self,
        what: &str,
        ready: impl Fn(&Value) -> Option<T>,
    ) -> anyhow::Result<T> {
        let url = format!("{}/api/summary", self.dashboard());
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let s: Value = serde_json::from_str(&self.get(&url).await?)?;
            if let Some(found) = ready(&s) {
                return Ok(found);
            }
            ensure!(
                Instant::now() < deadline,
                "the monitor did not {what} within 30 s"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// 9. The monitor has mirrored, verified, cosigned and replayed
    ///    everything, and reports.
    pub(super) async fn audit(&mut self) -> anyhow::Result<String> {
        let s = self.caught_up().await?;
        // Each region serves its checkpoint with the witness's cosignature.
        for r in REGIONS {
            let cp = self
                .get(&format!("{}/log/checkpoint", self.c.urls[r]))
                .await?;
            tlog::SignedCheckpoint::open(
                cp.as_bytes(),
                &self.c.log_keys[r],
                std::slice::from_ref(&self.c.witness),
            )
            .with_context(|| format!("{r}'s checkpoint is not cosigned by the witness"))?;
        }
        ensure!(
            s["clean"] == true,
            "the monitor reports findings: {}",
            s["findings"]
        );
        let sizes: Vec<String> = s["logs"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|l| format!("{} {}", l["region"].as_str().unwrap_or("?"), l["size"]))
            .collect();
        let replayed: u64 = s["accesses_by_action"]
            .as_object()
            .into_iter()
            .flatten()
            .filter_map(|(_, n)| n.as_u64())
            .sum();
        let art30 = self
            .get(&format!("{}/api/art30.csv", self.dashboard()))
            .await?;
        let line = format!(
            "the monitor mirrored and verified every log (entries: {}; every entry hashed, every tile recomputed, checkpoints cosigned by witness.example), replayed {replayed} decisions against the logged policy bundle: {}; denials {}; Art. 30 record: {} transfers; violations 0",
            sizes.join(" · "),
            transfer_groups(&s),
            s["denial_count"],
            art30.lines().count().saturating_sub(1)
        );
        self.audited = Some(s);
        Ok(line)
    }

    /// Waits until the monitor reports a finding about `region` that
    /// satisfies `matches`; its message.
    pub(super) async fn finding(
        &self,
        region: &str,
        matches: impl Fn(&Value) -> bool,
    ) -> anyhow::Result<String> {
        self.watch_monitor("report it", |s| {
            s["findings"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|f| f["region"] == region && matches(f))
                .map(|f| f["message"].as_str().unwrap_or("").to_owned())
        })
        .await
    }

    /// 11. An edited log entry is caught by the monitor, and a forked log
    ///     by the witness.
    pub(super) async fn tampering(&mut self) -> anyhow::Result<String> {
        let edited = self.edit_entry().await?;
        let forked = self.fork().await?;
        self.tampering_caught = true;
        Ok(format!("{edited}; {forked}"))
    }

    /// eu-fr's operator rewrites Beijing's attempt of step 5 in the log's
    /// files so that it seems to come from Ireland. The node refuses to
    /// start on the edited files; rewritten with their tiles and a
    /// checkpoint signed anew with the log's key, it starts, and the
    /// monitor, which verified the original, flags the difference.
    async fn edit_entry(&mut self) -> anyhow::Result<String> {
        use tlog::Storage as _;
        let index = self.beijing_view.context("step 5 logged no attempt")?;
        self.c.stop_region("eu-fr");
        let dir = self.c.log_dir("eu-fr");
        let storage = self.log_storage("eu-fr")?;
        let reader = tlog::LogReader::new(storage.clone());
        let key = self.c.log_keys["eu-fr"].clone();
        let size = reader.checkpoint(&key).await?.checkpoint.size;
        let mut entries = Vec::new();
        for i in 0..size {
            entries.push(reader.entry(i, size).await?);
        }
        let original = String::from_utf8(entries[index as usize].clone())?;
        ensure!(
            original.contains(r#""location":"CN""#),
            "entry #{index} is not Beijing's"
        );
        entries[index as usize] = original
            .replace(r#""location":"CN""#, r#""location":"IE""#)
            .into_bytes();
        let mut edge = tlog::edge::Edge::new();
        let mut tiles = Vec::new();
        for e in &entries {
            edge.push(e, &mut tiles)?;
        }
        tiles.extend(edge.partial_tiles());
        let bundle: Vec<(String, Vec<u8>)> = tiles
            .iter()
            .filter(|(id, _)| id.kind == tlog::tile::TileKind::Entries)
            .map(|(id, data)| (id.path(), data.clone()))
            .collect();
        // The entry alone: the node's own check refuses its log. (Deleted
        // first: a bucket's objects are written only where none is.)
        storage
            .delete(bundle.iter().map(|(p, _)| p.clone()).collect())
            .await?;
        storage.write(bundle).await?;
        let refused = match self.restart("eu-fr").await {
            Ok(()) => bail!("eu-fr started on an edited log"),
            Err(e) => e.to_string(),
        };
        ensure!(refused.contains("stopped"), "{refused}");
        // Every tile, and the checkpoint signed anew.
        let signer = tlog::Signer::parse(std::fs::read_to_string(dir.join("log.key"))?.trim())?;
        let checkpoint = tlog::Checkpoint {
            origin: key.name.clone(),
            size,
            root: edge.root()?,
            extensions: Vec::new(),
        }
        .sign(&signer)?;
        let mut files: Vec<(String, Vec<u8>)> = tiles
            .into_iter()
            .map(|(id, data)| (id.path(), data))
            .collect();
        files.push(("checkpoint".into(), checkpoint.to_text().into_bytes()));
        storage
            .delete(files.iter().map(|(p, _)| p.clone()).collect())
            .await?;
        storage.write(files).await?;
        self.restart("eu-fr").await?;
        // The monitor's own check, not the witness's refusal of the new
        // checkpoints (which it reports too).
        let message = self
            .finding("eu-fr", |f| {
                f["index"].as_u64() == Some(index)
                    || f["message"].as_str().is_some_and(|m| m.starts_with("fork"))
            })
            .await?;
        Ok(format!(
            "eu-fr's operator rewrites entry #{index} so that Beijing's attempt seems to come from Ireland: eu-fr refuses to start on the edited files; with the tiles rewritten and the checkpoint signed anew it starts, and the monitor flags \"{message}\""
        ))
    }

    /// Starts a region's processes again and waits until it answers.
    async fn restart(&mut self, region: &'static str) -> anyhow::Result<()> {
        self.c.spawn_region(region).await?;
        Ok(self.c.wait_healthy(region).await?)
    }

    /// us-tx's operator, who holds its log key, signs a second checkpoint
    /// of the size the witness holds, with another root, and offers it.
    async fn fork(&mut self) -> anyhow::Result<String> {
        let origin = self.c.log_keys["us-tx"].name.clone();
        let held = self
            .c
            .http
            .get(format!("{}/latest", self.c.witness_url))
            .query(&[("origin", &origin)])
            .send()
            .await?
            .text()
            .await?;
        let size: u64 = held.lines().nth(1).unwrap_or("0").parse()?;
        ensure!(size > 0, "the witness holds no checkpoint of us-tx");
        let dir = self.c.log_dir("us-tx");
        let signer = tlog::Signer::parse(std::fs::read_to_string(dir.join("log.key"))?.trim())?;
        let reader = tlog::LogReader::new(tlog::FsStorage::open(&dir)?);
        Self::on_disk(&reader, &self.c.log_keys["us-tx"], size).await?;
        let mut tree = tlog::merkle::MemoryTree::new();
        for i in 0..size - 1 {
            tree.push(tlog::leaf_hash(&reader.entry(i, size).await?));
        }
        tree.push(tlog::leaf_hash(br#"{"forged":true}"#));
        let forged = tlog::Checkpoint {
            origin: origin.clone(),
            size,
            root: tree.root(size),
            extensions: Vec::new(),
        }
        .sign(&signer)?;
        let body = tlog::witness::AddCheckpoint {
            old_size: size,
            proof: Vec::new(),
            checkpoint: forged.to_text(),
        }
        .to_body();
        let r = self
            .c
            .http
            .post(format!("{}/add-checkpoint", self.c.witness_url))
            .body(body)
            .send()
            .await?;
        ensure!(r.status() == 409, "the witness answered {}", r.status());
        // Both signed checkpoints are kept, and anyone with the log's
        // public key can check them.
        let evidence: Vec<witness::Evidence> = serde_json::from_str(
            &self
                .get(&format!("{}/evidence", self.c.witness_url))
                .await?,
        )?;
        let ev = evidence
            .iter()
            .find(|e| e.origin == origin)
            .context("the witness kept no evidence")?;
        let key = &self.c.log_keys["us-tx"];
        let (a, b) = (
            tlog::SignedCheckpoint::open(ev.held.as_bytes(), key, &[])?,
            tlog::SignedCheckpoint::open(ev.offered.as_bytes(), key, &[])?,
        );
        ensure!(
            a.checkpoint.size == b.checkpoint.size && a.checkpoint.root != b.checkpoint.root,
            "the evidence is not a split view"
        );
        let message = self
            .finding("us-tx", |f| {
                f["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("split view"))
            })
            .await?;
        Ok(format!(
            "us-tx's operator signs a second checkpoint of size {size} with another root and offers it to the witness: refused (409), both signed checkpoints kept as evidence that verify with us-tx's public key, and the monitor reports \"{message}\""
        ))
    }
}
