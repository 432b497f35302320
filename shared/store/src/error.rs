//! [`StoreError`]: every failure of the store, each naming the object, path or stage involved.

use alsflow_core::ArtifactId;
use std::path::PathBuf;
use std::time::Duration;

/// A store operation failed. Every message says what was being done and to which
/// object, path or stage, so the CLI can print it as a one-line error.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// An object's bytes do not hash to its id: the object must not be used.
    ///
    /// `producer` is `"dataset/stage"` of the run that produced it, when known, so the
    /// user learns which stage will rebuild it.
    #[error(
        "object {id} at {} is corrupt (its bytes do not match its blake3 id){}; \
         run `alsflow verify` to move it aside so the next run rebuilds it",
        path.display(),
        producer.as_ref().map(|p| format!(", produced by stage {p}")).unwrap_or_default()
    )]
    Corrupt {
        /// The object's id (the hash its bytes should have).
        id: ArtifactId,
        /// Where the object file is.
        path: PathBuf,
        /// `"dataset/stage"` of the producing run, if any.
        producer: Option<String>,
    },

    /// Another process held the store lock for longer than the timeout.
    #[error(
        "the store at {} is locked by another alsflow process; gave up after {:.1} s \
         (wait for it to finish, or remove the lock holder)",
        path.display(),
        waited.as_secs_f64()
    )]
    Locked {
        /// The lock file.
        path: PathBuf,
        /// How long we waited before giving up.
        waited: Duration,
    },

    /// `gc` or `verify` must delete or move objects, but read-only handles (`alsflow
    /// status`, a model server) kept the store open for longer than the timeout.
    #[error(
        "cannot {action} at {}: the store is open read-only by another process or thread \
         (alsflow status, a model server); gave up after {:.1} s (close it and retry)",
        path.display(),
        waited.as_secs_f64()
    )]
    ReadersActive {
        /// What needed the readers gone (e.g. `"collect garbage"`).
        action: String,
        /// The readers' lock file (`root/readers.lock`).
        path: PathBuf,
        /// How long we waited before giving up.
        waited: Duration,
    },

    /// A write (or a read of writer-only records) was asked of a read-only handle.
    #[error(
        "cannot {action}: this store handle is read-only (Store::open_read_only); \
         open the store for writing to do that"
    )]
    ReadOnly {
        /// What was asked, e.g. `"record a run"`.
        action: String,
    },

    /// The read view (`root/view.bin`) is missing, damaged or of another format, so a
    /// read-only handle cannot use it.
    #[error(
        "the store's read view {} is unusable: {reason}; opening the store for writing \
         (alsflow run, verify or gc) republishes it",
        path.display()
    )]
    View {
        /// The view file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },

    /// The object file of `id` is not in the store.
    #[error("object {id} is missing from the store")]
    Missing {
        /// The missing object.
        id: ArtifactId,
    },

    /// No artifact record matches the id prefix.
    #[error("no artifact matches '{prefix}'")]
    NoArtifact {
        /// The prefix as given.
        prefix: String,
    },

    /// More than one artifact record matches the id prefix.
    #[error("artifact prefix '{prefix}' is ambiguous: {}", candidates.join(", "))]
    Ambiguous {
        /// The prefix as given.
        prefix: String,
        /// The matching ids (abbreviated), sorted.
        candidates: Vec<String>,
    },

    /// The text given as an artifact id is not a usable hex prefix.
    #[error("'{prefix}' is not an artifact id: {reason}")]
    BadPrefix {
        /// The text as given.
        prefix: String,
        /// Why it was rejected.
        reason: String,
    },

    /// A run record names an input or output that was never put into the store.
    #[error(
        "run {dataset}/{stage} lists {role} '{name}' = {id}, which has no artifact record \
         (put the object before recording the run)"
    )]
    UnrecordedArtifact {
        /// Dataset of the run.
        dataset: String,
        /// Stage of the run.
        stage: String,
        /// `"input"` or `"output"`.
        role: &'static str,
        /// The input or output name.
        name: String,
        /// The id that has no record.
        id: ArtifactId,
    },

    /// A raw source file does not have the sha256 the configuration expects.
    #[error("source file {} has sha256 {actual}, but {expected} was expected", path.display())]
    SourceChecksum {
        /// The source file.
        path: PathBuf,
        /// The configured sha256 (lowercase hex).
        expected: String,
        /// The sha256 of the file's bytes.
        actual: String,
    },

    /// A raw source file changed while it was being copied into the store, so the copy
    /// may mix old and new bytes; nothing was recorded.
    #[error("source file {} changed while it was being read; run again once it is complete", path.display())]
    SourceChanged {
        /// The source file.
        path: PathBuf,
    },

    /// A file-system operation failed.
    #[error("cannot {action} {}: {cause}", path.display())]
    Io {
        /// What was being done (e.g. "write object").
        action: String,
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying error (formatted into the message, so not a `source()`).
        cause: std::io::Error,
    },

    /// The sled database failed.
    #[error("store database at {} failed while trying to {action}: {message}", path.display())]
    Database {
        /// What was being done.
        action: String,
        /// The database directory.
        path: PathBuf,
        /// sled's message (sled types stay private to this crate).
        message: String,
    },

    /// A record in the database could not be decoded (or encoded).
    #[error("store record {what} '{key}' is unreadable: {cause}")]
    Record {
        /// The kind of record (artifact, run, ...).
        what: &'static str,
        /// Its key, in a printable form.
        key: String,
        /// The codec error (formatted into the message, so not a `source()`).
        cause: alsflow_core::codec::CodecError,
    },

    /// The store was written by an incompatible version of alsflow.
    #[error(
        "the store at {} has layout version {found}, this alsflow reads version {expected}; \
         use a fresh --store directory",
        path.display()
    )]
    Version {
        /// The store root.
        path: PathBuf,
        /// Version found on disk.
        found: u32,
        /// Version this build understands.
        expected: u32,
    },
}

impl StoreError {
    /// Shorthand for an [`StoreError::Io`] error.
    pub(crate) fn io(
        action: impl Into<String>,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Self {
        StoreError::Io {
            action: action.into(),
            path: path.into(),
            cause: source,
        }
    }
}
