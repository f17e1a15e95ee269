//! Pushing every new checkpoint to the witnesses (C2SP tlog-witness) and
//! keeping their cosignatures: done by whichever process sequences the
//! log, and followed by the gateways that do not.

use std::sync::Arc;

use tlog::{LogReader, SignedCheckpoint, Storage};
use tokio::sync::watch;

use crate::config::WitnessConfig;

/// The witnesses' view of the log, as a node keeps it for serving and
/// for receipts.
#[derive(Clone, Debug, Default)]
pub(crate) struct Cosigned {
    /// Size of the newest checkpoint the push to the witnesses has finished
    /// with, cosigned or not (`u64::MAX` when no witness is configured).
    pub(crate) tried: u64,
    /// The newest checkpoint a witness cosigned, its cosignatures attached.
    pub(crate) latest: Option<SignedCheckpoint>,
}

impl Cosigned {
    /// Nothing cosigned yet; without witnesses, nothing to wait for.
    pub(crate) fn new(witnessed: bool) -> Self {
        Cosigned {
            tried: if witnessed { 0 } else { u64::MAX },
            latest: None,
        }
    }
}

/// Pushes every checkpoint `updates` sees to the witnesses and keeps their
/// cosignatures in `cosigned`; runs until the log stops. A witness that
/// fails is retried with the next checkpoint.
pub(crate) async fn push_to_witnesses<S: Storage>(
    mut updates: watch::Receiver<Arc<SignedCheckpoint>>,
    reader: &LogReader<S>,
    cosigned: &watch::Sender<Cosigned>,
    witnesses: &[WitnessConfig],
    http: &reqwest::Client,
) {
    if witnesses.is_empty() {
        return;
    }
    let clients: Vec<_> = witnesses
        .iter()
        .map(|w| (tlog::witness::WitnessClient::new(http.clone(), &w.url), w))
        .collect();
    let mut held = vec![0u64; clients.len()];
    loop {
        let cp = updates.borrow_and_update().clone();
        let mut sigs = Vec::new();
        for ((client, w), held) in clients.iter().zip(held.iter_mut()) {
            match client.submit(reader, &cp, *held, &w.key).await {
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
        cosigned.send_modify(|c| {
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
