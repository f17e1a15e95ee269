//! The region's log as its gateways reach it: sequenced in the gateway's
//! own process (the embedded default), or by the region's one sequencer
//! over the network (`serve --role sequencer`), whose acknowledgement the
//! gateway proves before anything is opened.
//!
//! - [`wire`]: the JSON of the sequencer's two routes.
//! - `local`: opening the log for writing in this process, once its lease
//!   is free.
//! - `server`: the sequencer process: the log's one writer, its pushes to
//!   the witnesses, and its routes.
//! - `client`: a gateway's side ([`RemoteLog`]): batching, failover to a
//!   standby, pushback, and every acknowledgement checked against the
//!   log's key.
//! - `cosigned`: pushing checkpoints to the witnesses and keeping their
//!   cosignatures.
//!
//! Across processes, "no log entry, no plaintext" holds in the types as
//! within one: a [`tlog::Sequenced`] is made by the local sequencer or by
//! [`tlog::Sequenced::prove_all`] from a checkpoint signed by the log's key
//! and an inclusion proof, never from the sequencer's word alone.

mod client;
mod cosigned;
mod local;
mod server;
pub mod wire;

use std::sync::Arc;

use tlog::{Sequenced, Sequencer, SignedCheckpoint};

pub use client::RemoteLog;
pub(crate) use cosigned::{Cosigned, push_to_witnesses};
pub(crate) use local::open_local;
pub use server::SequencerNode;

use crate::region::LogStorage;

/// How a gateway appends to its region's log.
pub(crate) enum Appender {
    /// Its own sequencer; `writes` is the (journaled) storage it writes
    /// through, settled when stopping.
    Local { seq: Sequencer, writes: LogStorage },
    /// The region's sequencer, over the network.
    Remote(RemoteLog),
}

impl Appender {
    /// Appends an entry; resolves once it is durably sequenced (and, from
    /// a remote sequencer, proven). [`tlog::Error::Busy`] is the pushback
    /// of a saturated sequencer.
    pub(crate) async fn add(&self, entry: Vec<u8>) -> Result<Sequenced, tlog::Error> {
        match self {
            Appender::Local { seq, .. } => seq.add(entry).await,
            Appender::Remote(r) => r.add(entry).await,
        }
    }

    /// The newest signed checkpoint known here.
    pub(crate) fn checkpoint(&self) -> Arc<SignedCheckpoint> {
        match self {
            Appender::Local { seq, .. } => seq.checkpoint(),
            Appender::Remote(r) => r.checkpoint(),
        }
    }

    /// Makes what the journal holds durable in the files (nothing to do
    /// for a gateway, which writes no log).
    /// Returns once this process's own log writer has stopped for good
    /// (fenced out, or its storage failing); never for a remote log.
    pub(crate) async fn stopped(&self) {
        match self {
            Appender::Local { seq, .. } => seq.stopped().await,
            Appender::Remote(_) => std::future::pending().await,
        }
    }

    pub(crate) async fn settle(&self) -> Result<(), tlog::Error> {
        match self {
            Appender::Local { writes, .. } => writes.settle().await,
            Appender::Remote(_) => Ok(()),
        }
    }
}
