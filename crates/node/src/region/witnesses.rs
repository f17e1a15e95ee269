//! The witnesses' side of the log: every new checkpoint is pushed to them
//! (C2SP tlog-witness), their cosignatures are kept, and receipts are
//! proven against the newest checkpoint they cosigned.

use store::Backend;

use super::Region;
use crate::Error;

/// The witnesses' view of the log, as the node keeps it for serving and
/// for receipts.
#[derive(Clone, Debug, Default)]
pub(super) struct Cosigned {
    /// Size of the newest checkpoint the push to the witnesses has finished
    /// with, cosigned or not (`u64::MAX` when no witness is configured).
    tried: u64,
    /// The newest checkpoint a witness cosigned, its cosignatures attached.
    latest: Option<tlog::SignedCheckpoint>,
}

impl Cosigned {
    /// Nothing cosigned yet; without witnesses, nothing to wait for.
    pub(super) fn new(witnessed: bool) -> Self {
        Cosigned {
            tried: if witnessed { 0 } else { u64::MAX },
            latest: None,
        }
    }
}

/// How long a receipt waits for the witnesses to cosign a checkpoint that
/// covers its entry (a push takes one round trip per witness).
const COSIGN_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

impl<B: Backend> Region<B> {
    /// The latest checkpoint as served: with the witnesses' cosignatures
    /// when they have cosigned it.
    pub fn cosigned_checkpoint(&self) -> tlog::SignedCheckpoint {
        let cp = self.seq.checkpoint();
        match &self.cosigned.borrow().latest {
            Some(c) if c.checkpoint == cp.checkpoint => c.clone(),
            _ => (*cp).clone(),
        }
    }

    /// The newest checkpoint covering entry `index` that the witnesses
    /// cosigned, their cosignatures attached (waiting up to
    /// [`COSIGN_WAIT`] for the push); the log's own newest if none did
    /// (or none is configured).
    pub(super) async fn cosigned_covering(&self, index: u64) -> tlog::SignedCheckpoint {
        let mut rx = self.cosigned.subscribe();
        let _ = tokio::time::timeout(COSIGN_WAIT, rx.wait_for(|c| c.tried > index)).await;
        let latest = rx.borrow().latest.clone();
        match latest {
            Some(cp) if cp.checkpoint.size > index => cp,
            _ => self.seq.checkpoint().as_ref().clone(),
        }
    }

    /// A receipt for entry `index` proven against the newest checkpoint a
    /// witness cosigned, and whether it is cosigned. An entry newer than
    /// that checkpoint waits (up to [`COSIGN_WAIT`]) for the push of a
    /// checkpoint covering it; if no witness cosigns one in time (or none
    /// is configured), the receipt is proven against the log's own
    /// checkpoint and carries the log's signature only.
    pub async fn cosigned_receipt(&self, index: u64) -> Result<(String, bool), Error> {
        let mut rx = self.cosigned.subscribe();
        let _ = tokio::time::timeout(COSIGN_WAIT, rx.wait_for(|c| c.tried > index)).await;
        let latest = rx.borrow().latest.clone();
        Ok(match latest {
            Some(cp) if cp.checkpoint.size > index => {
                (self.reader.receipt(index, &cp).await?.to_text(), true)
            }
            _ => (
                self.reader
                    .receipt(index, &self.seq.checkpoint())
                    .await?
                    .to_text(),
                false,
            ),
        })
    }

    /// Pushes every new checkpoint to the witnesses and keeps their
    /// cosignatures; runs until the log stops. A witness that fails is
    /// retried with the next checkpoint.
    pub async fn push_to_witnesses(&self, witnesses: &[crate::config::WitnessConfig]) {
        if witnesses.is_empty() {
            return;
        }
        let clients: Vec<_> = witnesses
            .iter()
            .filter_map(|w| match tlog::witness::WitnessClient::new(&w.url) {
                Ok(c) => Some((c, w)),
                Err(e) => {
                    tracing::warn!(witness = %w.url, "witness client: {e}");
                    None
                }
            })
            .collect();
        let mut held = vec![0u64; clients.len()];
        let mut updates = self.seq.subscribe();
        loop {
            let cp = updates.borrow_and_update().clone();
            let mut sigs = Vec::new();
            for ((client, w), held) in clients.iter().zip(held.iter_mut()) {
                match client.submit(&self.reader, &cp, *held, &w.key).await {
                    Ok(s) if !s.is_empty() => {
                        *held = cp.checkpoint.size;
                        sigs.extend(s);
                    }
                    Ok(_) => {
                        tracing::warn!(witness = %w.url, "answered without a valid cosignature")
                    }
                    Err(tlog::Error::WitnessConflict { latest }) => *held = latest,
                    Err(e) => {
                        tracing::warn!(witness = %w.url, size = cp.checkpoint.size, "witness refused: {e}")
                    }
                }
            }
            // A round without cosignatures keeps the older cosigned
            // checkpoint: it still proves the entries it covers.
            self.cosigned.send_modify(|c| {
                c.tried = cp.checkpoint.size;
                if !sigs.is_empty() {
                    let mut signed = (*cp).clone();
                    tlog::witness::attach(&mut signed.note, sigs);
                    c.latest = Some(signed);
                }
            });
            if updates.changed().await.is_err() {
                return;
            }
        }
    }
}
