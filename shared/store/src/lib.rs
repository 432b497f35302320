//! `alsflow-store`: the content-addressed artifact store — objects on disk, records in
//! sled, one process at a time.
//!
//! # On-disk layout
//!
//! ```text
//! <root>/                       (`--store DIR`, else $ALSFLOW_STORE, else ./artifacts)
//!   lock                        exclusive flock held by the process using the store; holds its pid
//!   objects/<2 hex>/<64 hex>    one file per object, named by the blake3 of its bytes
//!   tmp/<pid>-<n>.tmp           objects being written (leftovers are crash debris; `gc` removes them)
//!   corrupt/<64 hex>[.<n>]      objects `verify` found damaged, moved aside for inspection
//!   db/                         sled database: artifact, run, memo, latest-run and source-stamp records
//! ```
//!
//! The sled trees and their key encodings are described in the `db` module; the raw
//! sources' stat stamps in the `sources` module.
//!
//! # Crash-safety argument
//!
//! The invariant: **every artifact record names an object whose complete bytes are
//! durable on disk; every run record names artifacts that have records.** A crash may
//! leave extra files (temp files, unrecorded objects), never a dangling record.
//!
//! 1. An object is written to `tmp/`, `fsync`ed, renamed to its final name (rename is
//!    atomic on POSIX, so the final name never shows a partial file), then its directory
//!    is `fsync`ed so the rename itself is durable. Only after that is the artifact
//!    record inserted into sled. A crash before the record leaves at worst an orphan
//!    object or temp file, which `gc` removes.
//! 2. [`Store::record_run`] writes the run record and the outputs' `producer` in one
//!    sled transaction, after checking that every input and output has a record, then
//!    flushes sled. sled recovers a prefix of its operations after a crash, so a durable
//!    run record implies its (earlier) artifact records are durable too.
//! 3. Deleting goes the other way: [`Store::gc`] removes a record before its file, and
//!    [`Store::verify`] removes the run records that need a bad object, so a crash in
//!    the middle again leaves only orphans.
//! 4. Objects are immutable once named, and every [`Store::read`] re-hashes the bytes,
//!    so damage after the fact (disk errors, a stray editor) is caught, reported with
//!    the producing stage, and never used.
//! 5. One process at a time: [`Store::open`] takes an exclusive flock on `root/lock`
//!    (waiting with a message, then [`StoreError::Locked`]). Within a process the store
//!    is `Send + Sync`; `verify` and `gc` exclude concurrent `put`s with an internal lock.
//!
//! # How the crash-safety claims are tested
//!
//! The unit tests re-run the test binary as a child process that aborts (after a
//! sled flush, the worst case) at each named write step of `put`, `put_source_file`,
//! `record_run`, `gc` and `verify`; the parent then checks that every record names
//! an intact object and that `verify` + `gc` leave a clean store. A second test
//! SIGKILLs a child in the middle of a stream of 4 MiB puts. Moving the artifact
//! record before the object write makes the first test fail.
//!
//! Architecture invariant: sled stays behind this API — no sled type appears in a public
//! signature — and no other crate touches the files under the store root.

#![warn(missing_docs)]

mod db;
mod error;
mod fsutil;
mod locks;
mod maintenance;
mod objects;
mod records;
mod reports;
mod sources;

pub use alsflow_core::{ArtifactId, Format};
pub use error::StoreError;
pub use records::{ArtifactRecord, RunRecord, SourceInfo, StageKey};
pub use reports::{GcReport, InvalidatedRun, ProblemKind, VerifyProblem, VerifyReport};

use db::Db;
use locks::ProcessLock;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

/// The artifact store at one root directory, holding its process lock while alive.
///
/// `Send + Sync`: the runner may `put` and `read` from several threads at once.
pub struct Store {
    root: PathBuf,
    objects_dir: PathBuf,
    tmp_dir: PathBuf,
    corrupt_dir: PathBuf,
    // Field order matters: fields drop in declaration order, so the database closes
    // (and flushes) before `_lock` releases the flock for the next process.
    db: Db,
    /// Unique suffix for temp file names within this process.
    tmp_counter: AtomicU64,
    /// `put`s and `record_run` take it shared; `verify` and `gc` take it exclusive, so
    /// they never delete a temp file, object or record a concurrent writer relies on.
    maintenance: RwLock<()>,
    _lock: ProcessLock,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("root", &self.root)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Open (creating) the store at `root`: objects in `root/objects/<2 hex>/<64 hex>`,
    /// the sled database in `root/db`.
    ///
    /// Takes an exclusive process lock (`root/lock`, an flock). If another process
    /// holds it, prints once to stderr `waiting for the store lock at PATH (held by pid
    /// N)…` and retries until `lock_timeout`, then fails with
    /// [`StoreError::Locked`]. Waiting never touches the store, so it cannot corrupt it.
    pub fn open(root: &Path, lock_timeout: Duration) -> Result<Store, StoreError> {
        let start = Instant::now();
        fsutil::create_dir_durable(root)?;
        let lock = ProcessLock::acquire(&root.join("lock"), lock_timeout)?;
        let objects_dir = root.join("objects");
        let tmp_dir = root.join("tmp");
        fsutil::create_dir_durable(&objects_dir)?;
        fsutil::create_dir_durable(&tmp_dir)?;
        let db = Db::open(
            &root.join("db"),
            root,
            lock_timeout.saturating_sub(start.elapsed()),
        )?;
        Ok(Store {
            root: root.to_path_buf(),
            objects_dir,
            tmp_dir,
            corrupt_dir: root.join("corrupt"),
            db,
            tmp_counter: AtomicU64::new(0),
            maintenance: RwLock::new(()),
            _lock: lock,
        })
    }

    /// The store's root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The artifact record of `id`, if any.
    pub fn artifact(&self, id: &ArtifactId) -> Result<Option<ArtifactRecord>, StoreError> {
        self.db.get_decoded(&self.db.artifacts, "artifact", &id.0)
    }

    /// Every artifact record, in id order.
    pub fn artifacts(&self) -> Result<Vec<ArtifactRecord>, StoreError> {
        self.db.all_decoded(&self.db.artifacts, "artifact")
    }

    /// Resolve a full id or a unique hex prefix (at least 4 digits, either case) over
    /// the artifact records. Errors: [`StoreError::BadPrefix`],
    /// [`StoreError::NoArtifact`], [`StoreError::Ambiguous`] (listing the candidates).
    pub fn resolve_prefix(&self, prefix: &str) -> Result<ArtifactId, StoreError> {
        let wanted = prefix.trim().to_ascii_lowercase();
        let bad = |reason: &str| StoreError::BadPrefix {
            prefix: prefix.to_string(),
            reason: reason.to_string(),
        };
        if !alsflow_core::hex::is_hex(&wanted) {
            return Err(bad("not hexadecimal"));
        }
        if wanted.len() < 4 {
            return Err(bad("give at least 4 hex digits"));
        }
        if wanted.len() > 64 {
            return Err(bad("longer than an id (64 hex digits)"));
        }
        // Scan by the whole bytes of the prefix, then filter on the odd last digit.
        let even = &wanted[..wanted.len() / 2 * 2];
        let key_prefix = alsflow_core::hex::decode(even).ok_or_else(|| bad("not hexadecimal"))?;
        let found: Vec<ArtifactId> = self
            .db
            .artifact_ids_with_prefix(&key_prefix)?
            .into_iter()
            .filter(|id| id.to_hex().starts_with(&wanted))
            .collect();
        match found.len() {
            0 => Err(StoreError::NoArtifact {
                prefix: prefix.to_string(),
            }),
            1 => Ok(found[0]),
            n => {
                let width = (wanted.len() + 4).clamp(12, 64);
                let mut candidates: Vec<String> = found
                    .iter()
                    .take(10)
                    .map(|id| id.to_hex()[..width].to_string())
                    .collect();
                if n > 10 {
                    candidates.push(format!("… {} more", n - 10));
                }
                Err(StoreError::Ambiguous {
                    prefix: prefix.to_string(),
                    candidates,
                })
            }
        }
    }

    /// Record a finished run: in one transaction, check that every input and output has
    /// an artifact record ([`StoreError::UnrecordedArtifact`] otherwise), set each
    /// output's `producer` to the run, and store the run; then flush sled so the record
    /// is durable before the caller reports success.
    pub fn record_run(&self, run: &RunRecord) -> Result<(), StoreError> {
        // Shared with other writers, exclusive of verify/gc, which could otherwise delete
        // a record between this transaction's check and its commit being relied upon.
        let _shared = self.shared();
        self.db.record_run(run)?;
        self.crash_point("run:recorded");
        self.db.flush()
    }

    /// The run record with `key`, if any.
    pub fn run(&self, key: &StageKey) -> Result<Option<RunRecord>, StoreError> {
        self.db.get_decoded(&self.db.runs, "run", &key.0)
    }

    /// Every run record, oldest first (by start time, then key).
    pub fn runs(&self) -> Result<Vec<RunRecord>, StoreError> {
        let mut runs: Vec<RunRecord> = self.db.all_decoded(&self.db.runs, "run")?;
        runs.sort_by_key(|r| (r.started_ms, r.key));
        Ok(runs)
    }

    /// The run record whose outputs include `id` (its producer), if any. Prefers the
    /// producer named in the artifact record; otherwise the latest-ending run listing it.
    pub fn producer_of(&self, id: &ArtifactId) -> Result<Option<RunRecord>, StoreError> {
        if let Some(key) = self.artifact(id)?.and_then(|r| r.producer) {
            if let Some(run) = self.run(&key)? {
                if run.outputs.values().any(|o| o == id) {
                    return Ok(Some(run));
                }
            }
        }
        let runs: Vec<RunRecord> = self.db.all_decoded(&self.db.runs, "run")?;
        Ok(runs
            .into_iter()
            .filter(|r| r.outputs.values().any(|o| o == id))
            .max_by_key(|r| (r.ended_ms, r.key)))
    }

    /// Set the "head" pointer of (`dataset`, `stage`) to the run `key`.
    pub fn set_latest(&self, dataset: &str, stage: &str, key: &StageKey) -> Result<(), StoreError> {
        self.db.set_latest(dataset, stage, key)
    }

    /// The "head" pointer of (`dataset`, `stage`): the latest run for the current
    /// config, as last set by [`Store::set_latest`].
    pub fn latest(&self, dataset: &str, stage: &str) -> Result<Option<StageKey>, StoreError> {
        self.db.latest(dataset, stage)
    }

    /// A fine-grained memo value of a stage (e.g. one tune grid point on one fold).
    /// `scope` is chosen by the runner (typically the stage and its inputs).
    pub fn memo_get(&self, scope: &[u8], key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        self.db.memo_get(scope, key)
    }

    /// Store a memo value. Not flushed immediately: losing a memo to a crash only
    /// costs a recomputation (sled flushes within half a second and on close).
    pub fn memo_put(&self, scope: &[u8], key: &[u8], value: &[u8]) -> Result<(), StoreError> {
        self.db.memo_put(scope, key, value)
    }

    /// Flush the database to disk (also done on drop).
    pub fn flush(&self) -> Result<(), StoreError> {
        self.db.flush()
    }

    // ---- internals -------------------------------------------------------------

    /// Test-only fault injection: when `ALSFLOW_STORE_CRASH_AT` names this step, make
    /// everything written so far durable (the worst case: sled's background flusher
    /// just ran) and die without unwinding, like a power cut or SIGKILL.
    #[cfg(test)]
    fn crash_point(&self, step: &str) {
        if std::env::var("ALSFLOW_STORE_CRASH_AT").is_ok_and(|s| s == step) {
            let _ = self.db.flush();
            std::process::abort();
        }
    }

    #[cfg(not(test))]
    #[inline(always)]
    fn crash_point(&self, _step: &str) {}

    fn shared(&self) -> RwLockReadGuard<'_, ()> {
        // A poisoned lock only means another thread panicked; the guarded state is ().
        self.maintenance.read().unwrap_or_else(|e| e.into_inner())
    }

    fn exclusive(&self) -> RwLockWriteGuard<'_, ()> {
        self.maintenance.write().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests;
