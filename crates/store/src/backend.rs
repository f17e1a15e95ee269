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

/// A record as stored: personal values already sealed, subject as its
/// keyed pseudonym.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SealedRecord {
    /// The subject's pseudonym.
    pub subject: String,
    /// Dataset.
    pub dataset: String,
    /// Record id within the dataset.
    pub record_id: String,
    /// Time of the record (seconds since the epoch).
    pub time: i64,
    /// The fields as a JSON object of sealed (`e:`) or public (`v:`) values.
    pub fields: String,
}

/// Storage for one region. Every method is one transaction.
pub trait Backend: Send + Sync + 'static {
    /// The wrapped data keys of those of `subjects` that have one.
    fn keys_of(
        &self,
        subjects: Vec<String>,
    ) -> impl Future<Output = Result<Vec<(String, WrappedKey)>, Error>> + Send;

    /// Stores data keys for subjects that have none yet, durably, and
    /// returns the key now stored for each subject given (a concurrent
    /// writer's key wins over ours).
    fn ensure_keys(
        &self,
        keys: Vec<(String, WrappedKey)>,
    ) -> impl Future<Output = Result<Vec<(String, WrappedKey)>, Error>> + Send;

    /// Writes a batch of records, all or nothing, adding their subjects to
    /// the directory (homed in `home`) on first sight. A record with the
    /// same subject, dataset and id replaces the stored one.
    fn put_records(
        &self,
        home: String,
        records: Vec<SealedRecord>,
    ) -> impl Future<Output = Result<(), Error>> + Send;

    /// A subject's records of one dataset, by time then id.
    fn records(
        &self,
        subject: String,
        dataset: String,
    ) -> impl Future<Output = Result<Vec<SealedRecord>, Error>> + Send;

    /// The region a subject is homed in, if the directory knows it.
    fn home(&self, subject: String) -> impl Future<Output = Result<Option<String>, Error>> + Send;

    /// Destroys a subject's data key (committed first), then deletes its
    /// records and directory entry. Returns whether a key existed.
    fn erase(&self, subject: String) -> impl Future<Output = Result<bool, Error>> + Send;

    /// Records that log entry `log_index` touched `subject`.
    fn note_access(
        &self,
        subject: String,
        log_index: u64,
    ) -> impl Future<Output = Result<(), Error>> + Send;

    /// The log entries that touched `subject`, in log order.
    fn accesses(&self, subject: String) -> impl Future<Output = Result<Vec<u64>, Error>> + Send;

    /// Up to `limit` data keys not wrapped by KEK `kek_id`, by subject.
    fn keys_not_under(
        &self,
        kek_id: String,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<(String, WrappedKey)>, Error>> + Send;

    /// How many data keys are not wrapped by KEK `kek_id`.
    fn count_keys_not_under(
        &self,
        kek_id: String,
    ) -> impl Future<Output = Result<u64, Error>> + Send;

    /// Replaces wrapped keys, each only if it is still the `old` one; returns
    /// how many were replaced.
    fn replace_keys(
        &self,
        updates: Vec<(String, WrappedKey, WrappedKey)>,
    ) -> impl Future<Output = Result<u64, Error>> + Send;

    /// Deletes the records of `dataset` older than `before`; returns how many.
    fn sweep(
        &self,
        dataset: String,
        before: i64,
    ) -> impl Future<Output = Result<u64, Error>> + Send;
}
