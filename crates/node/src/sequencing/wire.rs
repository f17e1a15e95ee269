//! The sequencer's routes, as JSON. Both need the region's own node token.
//!
//! - `POST /v1/sequence` takes [`SequenceRequest`] (at most
//!   [`MAX_BATCH`] entries) and answers [`SequenceAnswer`] once every entry
//!   is durably sequenced: `503` with `Retry-After` when its queue cannot
//!   take the whole batch now (nothing of it is queued).
//! - `GET /v1/sequencer/state?size=N&tried=T` answers [`SequencerState`]
//!   as soon as the log has grown past `N` or the witnesses' push has gone
//!   past `T`, or after [`STATE_WAIT`] anyway: a gateway follows the log
//!   and its cosignatures with it.

use custody::protocol::{Base64, HexHash};
use serde::{Deserialize, Serialize};

/// Most entries in one `POST /v1/sequence`.
pub const MAX_BATCH: usize = 4096;

/// Longest a state request waits for news.
pub const STATE_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// Entries to sequence, in order.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SequenceRequest {
    /// Each entry's bytes.
    pub entries: Vec<Base64>,
}

/// Where each entry of a request was sequenced, proven.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SequenceAnswer {
    /// The signed checkpoint every proof leads to.
    pub checkpoint: String,
    /// One per entry of the request, in its order.
    pub sequenced: Vec<Proven>,
}

/// One entry's place in the log and its inclusion proof.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Proven {
    /// Its index.
    pub index: u64,
    /// Its inclusion proof in the answer's checkpoint.
    pub proof: Vec<HexHash>,
}

/// The log as its sequencer knows it.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SequencerState {
    /// The newest signed checkpoint.
    pub checkpoint: String,
    /// The newest checkpoint a witness cosigned, cosignatures attached.
    pub cosigned: Option<String>,
    /// Size of the newest checkpoint the push to the witnesses has
    /// finished with (`u64::MAX` when no witness is configured).
    pub tried: u64,
}

/// The query of `GET /v1/sequencer/state`.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct StateQuery {
    /// Answer once the log is larger than this.
    pub size: u64,
    /// Answer once the witnesses' push has gone past this.
    pub tried: u64,
}
