//! `alsflow-store`: the content-addressed artifact store — objects on disk, records in
//! sled, one writing process at a time and any number of read-only handles beside it.
//!
//! # On-disk layout
//!
//! ```text
//! <root>/                       (`--store DIR`, else $ALSFLOW_STORE, else ./artifacts)
//!   lock                        exclusive flock held by the writing process; holds its pid
//!   readers.lock                shared flock of every read-only handle; gc/verify take it exclusively
//!   view.bin                    the read view: the records readers see (published by the writer)
//!   objects/<2 hex>/<64 hex>    one file per object, named by the blake3 of its bytes
//!   tmp/<pid>-<n>.tmp           objects and views being written (leftovers are crash debris; `gc` removes them)
//!   corrupt/<64 hex>[.<n>]      objects `verify` found damaged, moved aside for inspection
//!   db/                         sled database: artifact, run, pipeline-run, memo, latest-run and source-stamp records
//! ```
//!
//! The sled trees and their key encodings are described in the `db` module, the read
//! view's format and publication in `view`, the raw sources' stat stamps in `sources`.
//!
//! # Locking
//!
//! - Writers ([`Store::open`]: `alsflow run`, `gc`, `verify`) take an exclusive flock on
//!   `root/lock` for their whole life (waiting with a message, then
//!   [`StoreError::Locked`]); sled itself admits only one process. Within a process the
//!   writer is `Send + Sync`; `verify` and `gc` exclude concurrent `put`s with an
//!   internal lock.
//! - Readers ([`Store::open_read_only`]: `alsflow status`, a server loading models)
//!   never open sled and never wait for a writer: they hold `root/readers.lock` shared
//!   and read `view.bin`, so many readers coexist with each other and with a run. A
//!   run only adds objects and records, which a reader cannot trip over.
//! - `gc` and `verify` delete or move objects, so before they remove anything they take
//!   `root/readers.lock` exclusively (waiting up to the writer's timeout with one line
//!   on stderr, then [`StoreError::ReadersActive`]). A reader opening meanwhile waits
//!   for them the same way. A dry run, a `gc` with nothing to collect and a clean
//!   `verify` leave readers alone.
//!
//! # Crash-safety argument
//!
//! The invariant: **every artifact record names an object whose complete bytes are
//! durable on disk; every run record names artifacts that have records; the same holds
//! for every record in the published view.** A crash may leave extra files (temp files,
//! unrecorded objects, a stale view), never a dangling record.
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
//! 3. The view is a copy of records that already exist, so by (1) and (2) everything it
//!    names is on disk. It is copied, sled is flushed, and only then is it written to a
//!    temp file, `fsync`ed and renamed over `view.bin` (then the root is `fsync`ed): a
//!    crash before the rename leaves readers on the previous view, which names only
//!    objects that still exist, because nothing is deleted before a new view is
//!    published (4). A view older than the database is republished when the writer
//!    next opens the store.
//! 4. Deleting goes the other way: [`Store::gc`] removes records, publishes the view
//!    without them, and only then deletes files; [`Store::verify`] removes the run and
//!    artifact records that need a bad object and publishes before moving it aside. A
//!    crash in the middle again leaves only orphans, in the database and in the view.
//!    With a retention policy ([`Store::gc_with`]), gc first re-points the producer of
//!    every kept artifact at a kept run, then removes pipeline runs, then stage runs,
//!    then artifact records, so a prefix of those steps never leaves a kept artifact
//!    naming a deleted producer or a kept run naming a deleted artifact.
//!
//! Pipeline runs (one per `alsflow run` and dataset) name stage runs by key but own
//! nothing: a stage run `verify` deleted leaves the key unresolved, which readers
//! report as "no longer in the store".
//! 5. Objects are immutable once named, and every [`Store::read`] re-hashes the bytes,
//!    so damage after the fact (disk errors, a stray editor) is caught, reported with
//!    the producing stage, and never used.
//!
//! # How the crash-safety claims are tested
//!
//! The unit tests re-run the test binary as a child process that aborts (after a
//! sled flush, the worst case) at each named write step of `put`, `put_source_file`,
//! `record_run`, `gc`, `verify` and view publication; the parent then checks, through
//! a read-only handle and then a writer, that every record names an intact object and
//! that `verify` + `gc` leave a clean store. One case aborts between writing the view's
//! temp file and renaming it, and checks that readers still see the previous view. A
//! second test SIGKILLs a child in the middle of a stream of 4 MiB puts. Moving the
//! artifact record before the object write makes the first test fail.
//!
//! Architecture invariant: sled stays behind this API — no sled type appears in a public
//! signature — and no other crate touches the files under the store root.

#![warn(missing_docs)]

mod db;
mod error;
mod fsutil;
mod locks;
mod maintenance;
mod mapped;
mod objects;
mod pipeline_runs;
mod records;
mod reports;
mod retention;
mod sources;
mod upgrade;
mod view;

pub use alsflow_core::{ArtifactId, Format};
pub use error::StoreError;
pub use maintenance::{GcOptions, MemoScopeFn};
pub use mapped::MAP_AT_LEAST;
pub use pipeline_runs::{PipelineRun, PipelineRunId, StageOutcome, StageUse};
pub use records::{ArtifactRecord, RunRecord, SourceInfo, SourceOrigin, StageKey};
pub use reports::{
    GcReport, InvalidatedRun, ProblemKind, RemovedPipelineRun, VerifyProblem, VerifyReport,
};

use db::{Db, Records};
use locks::{ProcessLock, ReadersLock};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;
use std::sync::{Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};
use view::{Published, Reader};

/// The artifact store at one root directory: a writer (holding the process lock) or a
/// read-only handle (reading the published view), see the module docs.
///
/// `Send + Sync`: the runner may `put` and `read` from several threads at once, and a
/// server may read from many threads while one of them calls [`Store::refresh`].
pub struct Store {
    root: PathBuf,
    objects_dir: PathBuf,
    handle: Handle,
}

enum Handle {
    // Boxed: a writer is several times larger than a reader.
    Write(Box<Writer>),
    Read {
        reader: Reader,
        // Dropped last: the view stays protected from gc until the handle is gone.
        _readers: ReadersLock,
    },
}

/// The writer's state: the database, the temp-file counter and the locks.
pub(crate) struct Writer {
    root: PathBuf,
    objects_dir: PathBuf,
    tmp_dir: PathBuf,
    corrupt_dir: PathBuf,
    // Field order matters: fields drop in declaration order, so the database closes
    // (and flushes) before `_lock` releases the flock for the next process.
    db: Db,
    /// Unique suffix for temp file names within this process.
    tmp_counter: AtomicU64,
    /// `put`s, `record_run` and `set_latest` take it shared; `verify` and `gc` take it
    /// exclusive, so they never delete a temp file, object or record a concurrent
    /// writer relies on, nor run between a view's copy and its rename.
    maintenance: RwLock<()>,
    /// The last published view.
    published: Mutex<Published>,
    /// How long `gc` and `verify` wait for readers (the timeout given to `open`).
    lock_timeout: Duration,
    readers: ReadersLock,
    _lock: ProcessLock,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let read_only = matches!(self.handle, Handle::Read { .. });
        f.debug_struct("Store")
            .field("root", &self.root)
            .field("read_only", &read_only)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Open (creating) the store at `root` for writing: objects in
    /// `root/objects/<2 hex>/<64 hex>`, the sled database in `root/db`.
    ///
    /// Takes an exclusive process lock (`root/lock`, an flock). If another process
    /// holds it, prints once to stderr `waiting for the store lock at PATH (held by pid
    /// N)…` and retries until `lock_timeout`, then fails with
    /// [`StoreError::Locked`]. Waiting never touches the store, so it cannot corrupt it.
    /// `gc` and `verify` wait up to the same timeout for read-only handles to close.
    /// Publishes the read view if it is missing or older than the database.
    pub fn open(root: &Path, lock_timeout: Duration) -> Result<Store, StoreError> {
        let start = Instant::now();
        fsutil::create_dir_durable(root)?;
        let lock = ProcessLock::acquire(&root.join("lock"), lock_timeout)?;
        let readers = ReadersLock::open(&root.join("readers.lock"))?;
        let objects_dir = root.join("objects");
        let tmp_dir = root.join("tmp");
        fsutil::create_dir_durable(&objects_dir)?;
        fsutil::create_dir_durable(&tmp_dir)?;
        let db_dir = root.join("db");
        let tmp_counter = AtomicU64::new(0);
        if !db_dir.exists() {
            // A new store (or one whose database was deleted): publish its empty view
            // before the database exists, so no reader finds a database without one.
            let generation = Published::found(root, 0).next_generation();
            let temp = objects::create_temp(&tmp_dir, &tmp_counter)?;
            view::publish_empty(root, generation, temp, || {
                crash_point("view:temp-written", None)
            })?;
        }
        let db = Db::open(&db_dir, root, lock_timeout.saturating_sub(start.elapsed()))?;
        let published = Published::found(root, db.view_generation()?);
        let writer = Writer {
            root: root.to_path_buf(),
            objects_dir: objects_dir.clone(),
            tmp_dir,
            corrupt_dir: root.join("corrupt"),
            db,
            tmp_counter,
            maintenance: RwLock::new(()),
            published: Mutex::new(published),
            lock_timeout,
            readers,
            _lock: lock,
        };
        // Compare the database with the view on disk; rewrite it only if they differ.
        writer.db.mark_changed();
        writer.publish_view()?;
        Ok(Store {
            root: root.to_path_buf(),
            objects_dir,
            handle: Handle::Write(Box::new(writer)),
        })
    }

    /// Open the store at `root` read-only: no sled, no wait for a writer (a run may be
    /// writing meanwhile). Holds `root/readers.lock` shared, waiting up to `timeout`
    /// only while a `gc` or `verify` deletes objects ([`StoreError::Locked`] after),
    /// and loads the read view `root/view.bin` ([`StoreError::View`] if it is
    /// unusable). A root that does not exist yet is created and reads as empty.
    ///
    /// Every read method works as on a writer, answering from the view loaded here or
    /// by the last [`Store::refresh`]; writes fail with [`StoreError::ReadOnly`].
    pub fn open_read_only(root: &Path, timeout: Duration) -> Result<Store, StoreError> {
        fsutil::create_dir_durable(root)?;
        let readers = ReadersLock::open(&root.join("readers.lock"))?
            .hold_shared(timeout, &root.join("lock"))?;
        let reader = Reader::load(root)?;
        Ok(Store {
            root: root.to_path_buf(),
            objects_dir: root.join("objects"),
            handle: Handle::Read {
                reader,
                _readers: readers,
            },
        })
    }

    /// On a read-only handle, load the newest published view if it is not the one held
    /// (cheap when nothing changed: one open and a 60-byte header read) and return
    /// whether it changed. Reads keep using the old view until the new one is loaded;
    /// on an error the old view stays. On a writer, which reads its live records,
    /// always `Ok(false)`.
    pub fn refresh(&self) -> Result<bool, StoreError> {
        match &self.handle {
            Handle::Read { reader, .. } => reader.refresh(),
            Handle::Write(_) => Ok(false),
        }
    }

    /// True for a handle from [`Store::open_read_only`].
    pub fn is_read_only(&self) -> bool {
        matches!(self.handle, Handle::Read { .. })
    }

    /// The store's root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The artifact record of `id`, if any.
    pub fn artifact(&self, id: &ArtifactId) -> Result<Option<ArtifactRecord>, StoreError> {
        self.with_records(|r| r.artifact(id))
    }

    /// Every artifact record, in id order.
    pub fn artifacts(&self) -> Result<Vec<ArtifactRecord>, StoreError> {
        self.with_records(|r| r.artifacts())
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
            .with_records(|r| r.artifact_ids_with_prefix(&key_prefix))?
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
    /// is durable before the caller reports success, and publish the read view.
    pub fn record_run(&self, run: &RunRecord) -> Result<(), StoreError> {
        let w = self.writer("record a run")?;
        // Shared with other writers, exclusive of verify/gc, which could otherwise delete
        // a record between this transaction's check and its commit being relied upon.
        let _shared = w.shared();
        w.db.record_run(run)?;
        w.crash_point("run:recorded");
        w.db.flush()?;
        w.publish_view()
    }

    /// The run record with `key`, if any.
    pub fn run(&self, key: &StageKey) -> Result<Option<RunRecord>, StoreError> {
        self.with_records(|r| r.run(key))
    }

    /// Every run record, oldest first (by start time, then key).
    pub fn runs(&self) -> Result<Vec<RunRecord>, StoreError> {
        let mut runs = self.with_records(|r| r.runs())?;
        runs.sort_by_key(|r| (r.started_ms, r.key));
        Ok(runs)
    }

    /// The run record whose outputs include `id` (its producer), if any. Prefers the
    /// producer named in the artifact record; otherwise the latest-ending run listing it.
    pub fn producer_of(&self, id: &ArtifactId) -> Result<Option<RunRecord>, StoreError> {
        self.with_records(|r| {
            if let Some(key) = r.artifact(id)?.and_then(|a| a.producer) {
                if let Some(run) = r.run(&key)? {
                    if run.outputs.values().any(|o| o == id) {
                        return Ok(Some(run));
                    }
                }
            }
            Ok(r.runs()?
                .into_iter()
                .filter(|run| run.outputs.values().any(|o| o == id))
                .max_by_key(|run| (run.ended_ms, run.key)))
        })
    }

    /// Set the "head" pointer of (`dataset`, `stage`) to the run `key`, publishing the
    /// read view when the pointer moved.
    pub fn set_latest(&self, dataset: &str, stage: &str, key: &StageKey) -> Result<(), StoreError> {
        let w = self.writer("set a latest-run pointer")?;
        let _shared = w.shared();
        if w.db.set_latest(dataset, stage, key)? {
            w.publish_view()?;
        }
        Ok(())
    }

    /// The "head" pointer of (`dataset`, `stage`): the latest run for the current
    /// config, as last set by [`Store::set_latest`].
    pub fn latest(&self, dataset: &str, stage: &str) -> Result<Option<StageKey>, StoreError> {
        self.with_records(|r| r.latest(dataset, stage))
    }

    /// A fine-grained memo value of a stage (e.g. one tune grid point on one fold).
    /// `scope` is chosen by the runner (typically the stage and its inputs). Memo
    /// records are not in the read view: on a read-only handle this is
    /// [`StoreError::ReadOnly`].
    pub fn memo_get(&self, scope: &[u8], key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        self.writer("read memo records (only the writer's database holds them)")?
            .db
            .memo_get(scope, key)
    }

    /// Store a memo value. Not flushed immediately: losing a memo to a crash only
    /// costs a recomputation (sled flushes within half a second and on close).
    pub fn memo_put(&self, scope: &[u8], key: &[u8], value: &[u8]) -> Result<(), StoreError> {
        self.writer("write a memo record")?
            .db
            .memo_put(scope, key, value)
    }

    /// Flush the database to disk (also done on drop).
    pub fn flush(&self) -> Result<(), StoreError> {
        self.writer("flush the database")?.db.flush()
    }

    // ---- internals -------------------------------------------------------------

    /// The writer behind this handle, or [`StoreError::ReadOnly`] naming `action`.
    fn writer(&self, action: &str) -> Result<&Writer, StoreError> {
        match &self.handle {
            Handle::Write(w) => Ok(w),
            Handle::Read { .. } => Err(StoreError::ReadOnly {
                action: action.to_string(),
            }),
        }
    }

    /// Answer from the live database (writer) or the current view (reader); one call
    /// sees one view.
    fn with_records<T>(
        &self,
        ask: impl FnOnce(&dyn Records) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        match &self.handle {
            Handle::Write(w) => ask(&w.db),
            Handle::Read { reader, .. } => ask(&*reader.current()),
        }
    }
}

impl Writer {
    fn crash_point(&self, step: &str) {
        crash_point(step, Some(&self.db));
    }

    fn shared(&self) -> RwLockReadGuard<'_, ()> {
        // A poisoned lock only means another thread panicked; the guarded state is ().
        self.maintenance.read().unwrap_or_else(|e| e.into_inner())
    }

    fn exclusive(&self) -> RwLockWriteGuard<'_, ()> {
        self.maintenance.write().unwrap_or_else(|e| e.into_inner())
    }
}

/// Test-only fault injection: when `ALSFLOW_STORE_CRASH_AT` names this step (`step`, or
/// `step#n` for its n-th time), make everything written so far durable (the worst
/// case: sled's background flusher just ran) and die without unwinding, like a power
/// cut or SIGKILL.
#[cfg(test)]
fn crash_point(step: &str, db: Option<&Db>) {
    use std::sync::atomic::{AtomicU32, Ordering};
    // Hits of the named step so far (one step is named per process).
    static HITS: AtomicU32 = AtomicU32::new(0);
    let Ok(wanted) = std::env::var("ALSFLOW_STORE_CRASH_AT") else {
        return;
    };
    let (name, nth) = match wanted.split_once('#') {
        Some((name, n)) => (name, n.parse::<u32>().expect("crash point count")),
        None => (wanted.as_str(), 1),
    };
    if name == step && HITS.fetch_add(1, Ordering::SeqCst) + 1 == nth {
        if let Some(db) = db {
            let _ = db.flush();
        }
        std::process::abort();
    }
}

#[cfg(not(test))]
#[inline(always)]
fn crash_point(_step: &str, _db: Option<&Db>) {}

#[cfg(test)]
mod tests;
