//! Issue 20, part 4: the French user's own page — their accesses as the
//! app would show them, each receipt verified in a browser against the
//! pinned keys of eu-fr's log and of the witness.

use std::path::PathBuf;

use anyhow::{Context, ensure};
use serde_json::json;

use super::Story;

/// The French user's page, as the demo wrote and checked it.
pub(crate) struct PersonPage {
    /// Where it is.
    pub(crate) path: PathBuf,
    /// How many accesses it lists (each receipt checked by the Rust
    /// verifier, with the witness's cosignature).
    pub(crate) accesses: usize,
    /// What headless Chromium concluded, when it is installed.
    pub(crate) browser: Option<page::browser::Verdict>,
}

impl Story<'_> {
    /// Fetches the French user's history as the app, checks it with the
    /// Rust verifier, renders the page (in French) into `<dir>/page/`, and
    /// has headless Chromium verify it when installed. A receipt that
    /// fails in either is an error.
    pub(super) async fn person_page(&mut self) -> anyhow::Result<PersonPage> {
        let me = json!({"user_id": self.users[self.subject].id});
        let (status, history) = self
            .post("eu-fr", "/v1/subjects/accesses", "app", &me)
            .await?;
        ensure!(status == 200, "the history answers {status}: {history}");
        let accesses = history["accesses"].as_array().context("no accesses")?;
        self.lists_the_story(accesses, "on the page")?;
        let log = &self.c.log_keys["eu-fr"];
        let witnesses = [self.c.witness.clone()];
        for a in accesses {
            let r = tlog::Receipt::parse(a["receipt"].as_str().context("no receipt")?)?;
            r.verify(&entry::canonical(&a["entry"]), log, &witnesses)
                .context("a receipt of the person's history does not verify")?;
            if let Some(p) = a.get("subject_proof") {
                super::verify_subject_proof(&a["entry"], p)?;
            }
        }
        let html = page::render(&page::Page {
            lang: Some("fr".into()),
            log_key: log.to_vkey(),
            witness_keys: vec![self.c.witness.to_vkey()],
            history: history.clone(),
        });
        let dir = self.c.dir.join("page");
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        // Named for no one: a user id printed would be personal data.
        let path = dir.join("french-user.html");
        std::fs::write(&path, html).with_context(|| format!("writing {}", path.display()))?;
        let browser = match page::browser::chromium() {
            Some(chromium) => {
                let file = path.clone();
                let v = tokio::task::spawn_blocking(move || {
                    page::browser::verify(&chromium, &file, page::browser::Clock::Virtual)
                })
                .await?
                .context("headless Chromium on the person's page")?;
                ensure!(
                    v.failed == 0,
                    "the page marked {} receipt(s) failed",
                    v.failed
                );
                ensure!(
                    (v.verified + v.unconfirmed) as usize == accesses.len(),
                    "the page checked {} of {} receipts",
                    v.verified + v.unconfirmed,
                    accesses.len()
                );
                Some(v)
            }
            None => None,
        };
        Ok(PersonPage {
            path,
            accesses: accesses.len(),
            browser,
        })
    }
}
