//! The one trait both databases implement. Backends move rows; they never
//! see a key or a plaintext value — sealing and opening happen in
//! [`crate::Store`], once, for both.
//!
//! A backend has two halves that must be stored apart, so that a copy of
//! the records taken before an erasure never meets the erased data key
//! again: the **keyring** (each subject's wrapped data key) and the
//! **records** (the subject directory, sealed records, the access index).

use std::future::Future;

use crate::Error;
use crate::keys::WrappedKey;

/// The keyring's two tables: subjects' data keys, by slot, wrapped by the
/// region's KEK; and batch secrets, by batch id, sealed to a custodian.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyTable {
    /// `deks`.
    DataKeys,
    /// `batch_keys`.
    BatchKeys,
}

impl KeyTable {
    /// The table's name and its id column (fixed names, never input).
    pub(crate) fn sql(self) -> (&'static str, &'static str) {
        match self {
            KeyTable::DataKeys => ("deks", "sid"),
            KeyTable::BatchKeys => ("batch_keys", "id"),
        }
    }
}

/// A subject number or log index as the databases store it (signed 64-bit).
pub(crate) fn int(n: u64) -> Result<i64, Error> {
    i64::try_from(n).map_err(|_| Error::Rejected(format!("number {n} out of range")))
}

/// A stored integer that must not be negative.
pub(crate) fn uint(n: i64) -> Result<u64, Error> {
    u64::try_from(n).map_err(|_| Error::Schema(format!("negative number {n} stored")))
}

/// A stored 32-byte hash or salt.
pub(crate) fn hash32(bytes: &[u8]) -> Result<[u8; 32], Error> {
    bytes
        .try_into()
        .map_err(|_| Error::Schema(format!("a stored hash of {} bytes", bytes.len())))
}

/// A record as stored: the subject as its number, public fields in
/// clear, the others sealed together under the subject's data key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SealedRecord {
    /// The subject's number (its directory entry and its key's slot).
    pub sid: u64,
    /// Dataset.
    pub dataset: String,
    /// Record id within the dataset.
    pub record_id: String,
    /// Time of the record (seconds since the epoch).
    pub time: i64,
    /// The public fields, a JSON object.
    pub public: String,
    /// Nonce and ciphertext of the other fields (a JSON object).
    pub sealed: Vec<u8>,
}

/// A record sealed anew: its place, and its sealed bytes before and after.
#[derive(Clone, Debug)]
pub struct Resealed {
    /// The subject's number.
    pub sid: u64,
    /// Dataset.
    pub dataset: String,
    /// Record id within the dataset.
    pub record_id: String,
    /// The sealed bytes it must still hold.
    pub old: Vec<u8>,
    /// The sealed bytes it gets.
    pub new: Vec<u8>,
}

/// What [`Backend::subject_records`] reads: a subject's directory entry
/// and records.
#[derive(Clone, Debug)]
pub struct SubjectRecords {
    /// The subject's number.
    pub sid: u64,
    /// The region the subject is homed in.
    pub home: String,
    /// The records asked for, in any order.
    pub rows: Vec<SealedRecord>,
}

/// The records of one batch, arriving in chunks as they are sealed, so a
/// backend writes one chunk while the next is sealed. A backend commits
/// only once every row announced has arrived: a batch whose sealing
/// stopped part way is rolled back.
#[derive(Debug)]
pub struct RecordStream {
    chunks: tokio::sync::mpsc::Receiver<Vec<SealedRecord>>,
    expected: usize,
    received: usize,
}

impl RecordStream {
    /// A stream of `expected` rows and the sender that feeds it, holding
    /// up to `depth` chunks not yet written.
    pub fn channel(
        expected: usize,
        depth: usize,
    ) -> (tokio::sync::mpsc::Sender<Vec<SealedRecord>>, RecordStream) {
        let (tx, chunks) = tokio::sync::mpsc::channel(depth.max(1));
        (
            tx,
            RecordStream {
                chunks,
                expected,
                received: 0,
            },
        )
    }

    /// A stream of rows all at hand.
    pub fn of(rows: Vec<SealedRecord>) -> RecordStream {
        let (tx, stream) = Self::channel(rows.len(), 1);
        // A fresh channel of depth one has room for one chunk.
        let _ = tx.try_send(rows);
        stream
    }

    /// The next chunk, waiting for it (from async code).
    pub async fn next(&mut self) -> Option<Vec<SealedRecord>> {
        let chunk = self.chunks.recv().await?;
        self.received += chunk.len();
        Some(chunk)
    }

    /// The next chunk, waiting for it (from a blocking thread).
    pub fn blocking_next(&mut self) -> Option<Vec<SealedRecord>> {
        let chunk = self.chunks.blocking_recv()?;
        self.received += chunk.len();
        Some(chunk)
    }

    /// Whether every row announced arrived; a backend checks this, after
    /// the last chunk, before it commits.
    pub fn complete(&self) -> Result<(), Error> {
        if self.received == self.expected {
            Ok(())
        } else {
            Err(Error::Backend(format!(
                "batch incomplete: {} of {} records arrived",
                self.received, self.expected
            )))
        }
    }
}

/// Storage for one region. Every method is one transaction.
///
/// Subjects are numbered: number `sid` is both the subject's directory
/// entry and the keyring slot of its data key. The keyring is filled ahead
/// with keys for numbers not yet given out, so taking on a new subject
/// writes only the records half — one durable commit per batch.
pub trait Backend: Send + Sync + 'static {
    /// Whether other processes may write the same database (a region's
    /// gateways on PostgreSQL): the store then reads where numbering stands
    /// before each batch, rather than trusting what it last wrote.
    fn shared(&self) -> bool {
        false
    }

    // --- The records half.

    /// The numbers of those of `subjects` the directory holds.
    fn subject_ids(
        &self,
        subjects: Vec<String>,
    ) -> impl Future<Output = Result<Vec<(String, u64)>, Error>> + Send;

    /// The sealed people (country and user id) of those of `subjects` the
    /// directory holds one for, as `(subject, sealed)`.
    fn user_refs(
        &self,
        subjects: Vec<String>,
    ) -> impl Future<Output = Result<Vec<(String, String)>, Error>> + Send;

    /// A counter of the region's own (a cursor: `notify_cursor`), 0 when
    /// never set.
    fn counter(&self, name: &'static str) -> impl Future<Output = Result<u64, Error>> + Send;

    /// Sets a counter, durably.
    fn set_counter(
        &self,
        name: &'static str,
        value: u64,
    ) -> impl Future<Output = Result<(), Error>> + Send;

    /// The lowest subject number never given out.
    fn next_sid(&self) -> impl Future<Output = Result<u64, Error>> + Send;

    /// Takes `n` subject numbers that no other writer of a [shared]
    /// database will give out, committed at once: the first of them.
    /// Numbers a batch took and did not use are never given out.
    ///
    /// [shared]: Backend::shared
    fn reserve_sids(&self, n: u64) -> impl Future<Output = Result<u64, Error>> + Send {
        let _ = n;
        std::future::ready(Err(Error::Backend(
            "this backend is not shared: it numbers subjects in the store".into(),
        )))
    }

    /// Writes a batch, all or nothing: adds `new_subjects` (pseudonym,
    /// number and sealed user id) to the directory
    /// (homed in `home`), records that numbers below `next_sid` are given
    /// out, and writes the records as they arrive — replacing any with the
    /// same subject, dataset and id (of two in the batch, the later wins).
    fn put_records(
        &self,
        home: String,
        new_subjects: Vec<(String, u64, Option<String>)>,
        next_sid: u64,
        records: RecordStream,
    ) -> impl Future<Output = Result<(), Error>> + Send;

    /// A subject's number, home and records of `datasets` (in any order),
    /// read together; `None` if the directory does not hold the subject.
    fn subject_records(
        &self,
        subject: String,
        datasets: Vec<String>,
    ) -> impl Future<Output = Result<Option<SubjectRecords>, Error>> + Send;

    /// The region a subject is homed in, if the directory knows it.
    fn home(&self, subject: String) -> impl Future<Output = Result<Option<String>, Error>> + Send;

    /// Records, in one transaction, which subjects each log entry touched
    /// (with each one's salt, for a salted entry) and the leaves of each
    /// entry's salted subject set.
    ///
    /// The commit is not flushed on the caller's path: when this returns,
    /// the rows must survive a crash of this process (they are in the
    /// database's write-ahead log, not in a buffer of ours) and be flushed
    /// by the database soon after — a release waits for one flush, the
    /// log's.
    fn note_access(&self, notes: AccessNotes) -> impl Future<Output = Result<(), Error>> + Send;

    /// The leaves of log entry `log_index`'s salted subject set, in any
    /// order.
    fn leaves_at(
        &self,
        log_index: u64,
    ) -> impl Future<Output = Result<Vec<[u8; 32]>, Error>> + Send;

    /// The subjects noted as touched by log entry `log_index`, in any order
    /// (for version 1 entries, which named their subjects unsalted).
    fn subjects_at(
        &self,
        log_index: u64,
    ) -> impl Future<Output = Result<Vec<String>, Error>> + Send;

    /// The subjects homed here with records in `dataset`, in any order.
    fn subjects_with(
        &self,
        dataset: String,
    ) -> impl Future<Output = Result<Vec<String>, Error>> + Send;

    /// Every record of `dataset` as `(subject, public fields)`, the public
    /// fields as stored (a JSON object), in any order.
    fn public_fields(
        &self,
        dataset: String,
    ) -> impl Future<Output = Result<Vec<(String, String)>, Error>> + Send;

    /// The log entries below index `below` that touched `subject`, newest
    /// first, at most `limit` of them, each with the subject's salt in it
    /// (salted entries). Bounds above `i64::MAX` mean no bound.
    fn accesses(
        &self,
        subject: String,
        below: u64,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<AccessRow>, Error>> + Send;

    /// Deletes the records of `dataset` older than `before`; returns how many.
    fn sweep(
        &self,
        dataset: String,
        before: i64,
    ) -> impl Future<Output = Result<u64, Error>> + Send;

    /// The subjects numbered `sids` that the directory holds, each with
    /// every record of theirs (for moving a store under a custodian).
    fn records_of(
        &self,
        sids: Vec<u64>,
    ) -> impl Future<Output = Result<Vec<(u64, String, Vec<SealedRecord>)>, Error>> + Send;

    /// Replaces records' sealed bytes in one transaction, each only if it
    /// still holds the `old` bytes; returns how many were replaced.
    fn reseal(&self, updates: Vec<Resealed>) -> impl Future<Output = Result<u64, Error>> + Send;

    // --- The keyring half.

    /// One past the highest slot the keyring holds (0 when empty).
    fn key_slots_end(&self) -> impl Future<Output = Result<u64, Error>> + Send;

    /// Adds wrapped keys in new slots, durably.
    fn add_keys(
        &self,
        keys: Vec<(u64, WrappedKey)>,
    ) -> impl Future<Output = Result<(), Error>> + Send;

    /// The wrapped keys in those of `slots` that hold one.
    fn keys_of(
        &self,
        slots: Vec<u64>,
    ) -> impl Future<Output = Result<Vec<(u64, WrappedKey)>, Error>> + Send;

    /// Up to `limit` keys of `table` not wrapped by key `kek_id`, by id.
    fn keys_not_under(
        &self,
        table: KeyTable,
        kek_id: String,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<(u64, WrappedKey)>, Error>> + Send;

    /// How many keys of `table` are not wrapped by key `kek_id`.
    fn count_keys_not_under(
        &self,
        table: KeyTable,
        kek_id: String,
    ) -> impl Future<Output = Result<u64, Error>> + Send;

    /// Replaces wrapped keys of `table`, each only if it is still the `old`
    /// one; returns how many were replaced.
    fn replace_keys(
        &self,
        table: KeyTable,
        updates: Vec<(u64, WrappedKey, WrappedKey)>,
    ) -> impl Future<Output = Result<u64, Error>> + Send;

    /// Stores a batch secret wrapped to the custodian, durably; returns
    /// its id (records sealed under it carry the id).
    fn add_batch_key(&self, key: WrappedKey) -> impl Future<Output = Result<u64, Error>> + Send;

    /// The wrapped batch secrets of those of `ids` that exist.
    fn batch_keys(
        &self,
        ids: Vec<u64>,
    ) -> impl Future<Output = Result<Vec<(u64, WrappedKey)>, Error>> + Send;

    /// Destroys the data keys in `slots`, durably (their records must
    /// already be sealed otherwise).
    fn drop_keys(&self, slots: Vec<u64>) -> impl Future<Output = Result<(), Error>> + Send;

    // --- Both.

    /// Destroys a subject's data key (committed first), then deletes its
    /// records and directory entry. Returns whether the subject was known.
    fn erase(&self, subject: String) -> impl Future<Output = Result<bool, Error>> + Send;
}

/// A log entry that touched a subject: its index, and the subject's salt in
/// it (salted entries).
pub type AccessRow = (u64, Option<[u8; 32]>);

/// Access-index rows to write together: the subjects each entry touched,
/// and the leaves of each entry's salted subject set (fillers included, so
/// the set can be rebuilt for a proof; a leaf alone links to no one).
#[derive(Clone, Debug, Default)]
pub struct AccessNotes {
    /// (subject, log index, the subject's salt in that entry).
    pub touched: Vec<(String, u64, Option<[u8; 32]>)>,
    /// (log index, leaf hash).
    pub leaves: Vec<(u64, [u8; 32])>,
}

impl AccessNotes {
    /// Appends `other`'s rows.
    pub fn extend(&mut self, other: AccessNotes) {
        self.touched.extend(other.touched);
        self.leaves.extend(other.leaves);
    }
}
