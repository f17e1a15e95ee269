//! The client side of C2SP tlog-witness `add-checkpoint`
//! (<https://c2sp.org/tlog-witness>): the request body, the answer, and an
//! HTTP client. The witness server is the monitor's.

use std::time::Duration;

use crate::Error;
use crate::checkpoint::SignedCheckpoint;
use crate::checkpoint::parse_size;
use crate::hash::Hash;
use crate::note::{Note, NoteSignature, Verifier};
use crate::reader::LogReader;
use crate::storage::Storage;

/// Witnesses accept at most this many consistency proof lines.
pub const MAX_PROOF_LINES: usize = 63;

/// Content type of a witness's `409 Conflict` body.
pub const SIZE_CONTENT_TYPE: &str = "text/x.tlog.size";

/// An `add-checkpoint` request: the size the witness last cosigned, a
/// consistency proof from it, and the new signed checkpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AddCheckpoint {
    /// Size of the previous checkpoint the witness holds (0 if none).
    pub old_size: u64,
    /// Consistency proof from `old_size` to the checkpoint's size.
    pub proof: Vec<Hash>,
    /// The signed checkpoint note.
    pub checkpoint: String,
}

impl AddCheckpoint {
    /// The request body.
    pub fn to_body(&self) -> String {
        let mut s = format!("old {}\n", self.old_size);
        for h in &self.proof {
            s.push_str(&h.to_base64());
            s.push('\n');
        }
        s.push('\n');
        s.push_str(&self.checkpoint);
        s
    }

    /// Parses a request body (for witness servers).
    pub fn parse(body: &[u8]) -> Result<Self, Error> {
        let bad = |why: String| Error::malformed("add-checkpoint request", why);
        let text = std::str::from_utf8(body).map_err(|_| bad("not UTF-8".into()))?;
        let (head, checkpoint) = text
            .split_once("\n\n")
            .ok_or_else(|| bad("no blank line before the checkpoint".into()))?;
        let mut lines = head.split('\n');
        let old_size = lines
            .next()
            .and_then(|l| l.strip_prefix("old "))
            .and_then(parse_size)
            .ok_or_else(|| bad("first line is not `old <decimal>`".into()))?;
        let proof =
            crate::hash::parse_proof_lines(lines, MAX_PROOF_LINES, "add-checkpoint request")?;
        Ok(AddCheckpoint {
            old_size,
            proof,
            checkpoint: checkpoint.to_owned(),
        })
    }
}

/// Parses a witness's `200` answer: one or more signature lines.
pub fn parse_cosignatures(body: &str) -> Result<Vec<NoteSignature>, Error> {
    let body = body
        .strip_suffix('\n')
        .ok_or_else(|| Error::malformed("witness response", "does not end with a newline"))?;
    if body.is_empty() {
        return Err(Error::malformed("witness response", "no signature lines"));
    }
    body.split('\n').map(NoteSignature::parse_line).collect()
}

/// Adds signature lines to a signed note, skipping ones already present.
pub fn attach(note: &mut Note, sigs: impl IntoIterator<Item = NoteSignature>) {
    for s in sigs {
        if !note.signatures.contains(&s) {
            note.signatures.push(s);
        }
    }
}

/// An HTTP client for one witness's `add-checkpoint` endpoint.
#[derive(Clone, Debug)]
pub struct WitnessClient {
    http: reqwest::Client,
    url: String,
}

impl WitnessClient {
    /// A client for the witness whose submission prefix is `prefix`
    /// (`<prefix>/add-checkpoint` is called), over `http` (whose TLS
    /// configuration says which witnesses it trusts); each request times
    /// out after ten seconds.
    pub fn new(http: reqwest::Client, prefix: &str) -> Self {
        WitnessClient {
            http,
            url: format!("{}/add-checkpoint", prefix.trim_end_matches('/')),
        }
    }

    /// Sends the request; returns the witness's cosignature lines. The
    /// caller verifies them against the witness key it trusts. A
    /// `409 Conflict` comes back as [`Error::WitnessConflict`] with the size
    /// the witness holds, from which the caller retries with a new proof.
    pub async fn add_checkpoint(&self, req: &AddCheckpoint) -> Result<Vec<NoteSignature>, Error> {
        let resp = self
            .http
            .post(&self.url)
            .timeout(Duration::from_secs(10))
            .body(req.to_body())
            .send()
            .await
            .map_err(|e| Error::Http(e.to_string()))?;
        let status = resp.status().as_u16();
        let body = resp.text().await.map_err(|e| Error::Http(e.to_string()))?;
        match status {
            200 => parse_cosignatures(&body),
            409 => match body.strip_suffix('\n').and_then(parse_size) {
                Some(latest) => Err(Error::WitnessConflict { latest }),
                // A 409 without a size: same size, different root.
                None => Err(Error::WitnessRefused {
                    status,
                    message: first_line(&body),
                }),
            },
            _ => Err(Error::WitnessRefused {
                status,
                message: first_line(&body),
            }),
        }
    }
}

impl WitnessClient {
    /// Pushes `cp` to the witness and returns its verified cosignatures and
    /// the size the witness now holds. `old_size` is the size the caller
    /// believes the witness holds (0 if unknown); on `409 Conflict` the
    /// request is retried once from the size the witness names, with a
    /// consistency proof read from `reader`. Lines that do not verify with
    /// `witness_key` are dropped.
    pub async fn submit<S: Storage>(
        &self,
        reader: &LogReader<S>,
        cp: &SignedCheckpoint,
        old_size: u64,
        witness_key: &Verifier,
    ) -> Result<Vec<NoteSignature>, Error> {
        let size = cp.checkpoint.size;
        let mut old = old_size.min(size);
        for attempt in 0..2 {
            let proof = if old == 0 {
                Vec::new()
            } else {
                reader.consistency_proof(old, size).await?
            };
            let req = AddCheckpoint {
                old_size: old,
                proof,
                checkpoint: cp.to_text(),
            };
            match self.add_checkpoint(&req).await {
                Ok(sigs) => {
                    let keys = std::slice::from_ref(witness_key);
                    return Ok(sigs
                        .into_iter()
                        .filter(|s| {
                            let note = Note {
                                text: cp.note.text.clone(),
                                signatures: vec![s.clone()],
                            };
                            note.verify(keys).is_ok()
                        })
                        .collect());
                }
                Err(Error::WitnessConflict { latest }) if attempt == 0 && latest <= size => {
                    old = latest
                }
                Err(e) => return Err(e),
            }
        }
        Err(Error::WitnessRefused {
            status: 409,
            message: "witness state kept changing".to_owned(),
        })
    }
}

fn first_line(body: &str) -> String {
    body.lines()
        .next()
        .unwrap_or("")
        .chars()
        .take(200)
        .collect()
}
