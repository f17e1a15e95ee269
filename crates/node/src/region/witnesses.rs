//! The witnesses' side of the log: every new checkpoint is pushed to them
//! (C2SP tlog-witness), their cosignatures are kept, and receipts are
//! proven against the newest checkpoint they cosigned.

use store::Backend;

use super::Region;
use crate::Error;
use crate::sequencing::{Appender, push_to_witnesses};

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
    /// cosignatures (when this process sequences the log), or follows the
    /// region's sequencer, which does (when it runs apart); runs until the
    /// log stops.
    pub async fn push_to_witnesses(&self, witnesses: &[crate::config::WitnessConfig]) {
        match &self.seq {
            Appender::Local { seq, .. } => {
                push_to_witnesses(
                    seq.subscribe(),
                    &self.reader,
                    &self.cosigned,
                    witnesses,
                    &self.http,
                )
                .await
            }
            Appender::Remote(r) => r.follow(&self.cosigned).await,
        }
    }
}
