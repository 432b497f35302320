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
//!   db/                         sled database with the trees below
//! ```
//!
//! sled trees (values encoded with [`alsflow_core::codec`]):
//!
//! | tree        | key                               | value                          |
//! |-------------|-----------------------------------|--------------------------------|
//! | `artifacts` | artifact id (32 bytes)            | [`ArtifactRecord`]             |
//! | `runs`      | stage key (32 bytes)              | [`RunRecord`]                  |
//! | `latest`    | `dataset \0 stage`                | stage key of the latest run    |
//! | `memo`      | `len(scope) as u32 BE, scope, key`| opaque bytes from a stage      |
//! | `sources`   | canonical source path             | stat stamp → id (see below)    |
//! | `meta`      | `layout_version`                  | u32 LE                         |
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
//! # Raw sources
//!
//! [`Store::put_source_file`] streams a (possibly large) file into the store, hashing
//! while it copies. To keep fully cached runs cheap it remembers a stat stamp per
//! canonical path (size, mtime, ctime, inode): when the stamp is unchanged and the
//! object is present, the file is not read again. A stamp is only trusted when the
//! file's mtime was at least two seconds old when it was read, so a write within the
//! same timestamp tick cannot go unnoticed (git's "racy file" rule). A file whose stat
//! changes while it is being copied is refused ([`StoreError::SourceChanged`]) rather
//! than recorded as a torn copy. When [`Store::read`] finds a stored source copy
//! damaged, it drops the stamp, so the next import re-reads the file and repairs it.
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

mod error;
mod fsutil;
mod records;
mod reports;

pub use alsflow_core::{ArtifactId, Format};
pub use error::StoreError;
pub use records::{ArtifactRecord, RunRecord, SourceInfo, StageKey};
pub use reports::{GcReport, InvalidatedRun, ProblemKind, VerifyProblem, VerifyReport};

use alsflow_core::codec;
use fsutil::ProcessLock;
use serde::{Deserialize, Serialize};
use sha2::Digest;
use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The on-disk layout version this build reads and writes.
const LAYOUT_VERSION: u32 = 1;

/// A stat stamp is trusted only if the file was at least this old when hashed.
const RACY_WINDOW: Duration = Duration::from_secs(2);

/// The artifact store at one root directory, holding its process lock while alive.
///
/// `Send + Sync`: the runner may `put` and `read` from several threads at once.
pub struct Store {
    root: PathBuf,
    objects_dir: PathBuf,
    tmp_dir: PathBuf,
    corrupt_dir: PathBuf,
    db_dir: PathBuf,
    // Field order matters: fields drop in declaration order, so the trees and the
    // database close before `_lock` releases the flock for the next process.
    artifacts: sled::Tree,
    runs: sled::Tree,
    latest: sled::Tree,
    memo: sled::Tree,
    sources: sled::Tree,
    db: sled::Db,
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

/// What `put_source_file` remembers about a source path to skip re-reading it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
struct SourceStamp {
    size: u64,
    mtime: (i64, u32),
    ctime: (i64, u32),
    inode: u64,
    device: u64,
    id: ArtifactId,
    /// The sha256 checked when the stamp was taken, if one was requested.
    sha256: Option<String>,
}

impl Store {
    /// Open (creating) the store at `root`: objects in `root/objects/<2 hex>/<64 hex>`,
    /// the sled database in `root/db`.
    ///
    /// Takes an exclusive process lock (`root/lock`, an fs2 flock). If another process
    /// holds it, prints once to stderr `waiting for the store lock at PATH (held by pid
    /// N)…` and retries until `lock_timeout`, then fails with
    /// [`StoreError::Locked`]. Waiting never touches the store, so it cannot corrupt it.
    pub fn open(root: &Path, lock_timeout: Duration) -> Result<Store, StoreError> {
        let start = Instant::now();
        fsutil::create_dir_durable(root)?;
        let lock = ProcessLock::acquire(&root.join("lock"), lock_timeout)?;
        let objects_dir = root.join("objects");
        let tmp_dir = root.join("tmp");
        let corrupt_dir = root.join("corrupt");
        let db_dir = root.join("db");
        fsutil::create_dir_durable(&objects_dir)?;
        fsutil::create_dir_durable(&tmp_dir)?;

        let db = open_sled(&db_dir, lock_timeout.saturating_sub(start.elapsed()))?;
        let tree = |name: &str| {
            db.open_tree(name).map_err(|e| StoreError::Database {
                action: format!("open tree '{name}'"),
                path: db_dir.clone(),
                message: e.to_string(),
            })
        };
        let meta = tree("meta")?;
        let store = Store {
            artifacts: tree("artifacts")?,
            runs: tree("runs")?,
            latest: tree("latest")?,
            memo: tree("memo")?,
            sources: tree("sources")?,
            db: db.clone(),
            root: root.to_path_buf(),
            objects_dir,
            tmp_dir,
            corrupt_dir,
            db_dir,
            tmp_counter: AtomicU64::new(0),
            maintenance: RwLock::new(()),
            _lock: lock,
        };
        store.check_layout_version(&meta)?;
        Ok(store)
    }

    /// The store's root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where the object `id` lives (whether or not it exists).
    pub fn object_path(&self, id: &ArtifactId) -> PathBuf {
        let hex = id.to_hex();
        self.objects_dir.join(&hex[..2]).join(hex)
    }

    /// Write `bytes` as an object (temp file in `root/tmp` → fsync → rename → fsync
    /// dir), then record it in sled with `format` and `kind` (e.g. `"split.train"`).
    ///
    /// Idempotent: an existing valid object is not rewritten (a damaged one is
    /// replaced), and an existing record keeps its kind and producer.
    pub fn put(&self, bytes: &[u8], format: Format, kind: &str) -> Result<ArtifactId, StoreError> {
        let _shared = self.shared();
        let id = ArtifactId::of(bytes);
        let path = self.object_path(&id);
        let intact = match fs::metadata(&path) {
            Ok(m) if m.len() == bytes.len() as u64 => {
                matches!(fsutil::hash_file(&path)?, Some((h, _)) if *h.as_bytes() == id.0)
            }
            _ => false,
        };
        if !intact {
            let (tmp, mut file) = self.create_temp()?;
            let written = file.write_all(bytes).and_then(|_| {
                self.crash_point("put:temp-written");
                file.sync_all()
            });
            drop(file);
            if let Err(e) = written {
                let _ = fs::remove_file(&tmp);
                return Err(StoreError::io("write temp object", &tmp, e));
            }
            self.install_temp(&tmp, &id)?;
            self.crash_point("put:renamed");
        }
        let record = ArtifactRecord {
            id,
            format,
            kind: kind.to_string(),
            size: bytes.len() as u64,
            producer: None,
            source: None,
        };
        self.insert_artifact_if_absent(&record)?;
        self.crash_point("put:recorded");
        Ok(id)
    }

    /// Stream a (possibly large) raw file into the store, hashing while copying, and
    /// record it as a `"source"` artifact with its [`SourceInfo`] (`path` as given).
    ///
    /// When `sha256` is given, the file's sha256 is computed in the same pass and a
    /// mismatch is [`StoreError::SourceChecksum`] (nothing is recorded). An unchanged
    /// file (same stat stamp, object present) is not read again; see the module docs.
    pub fn put_source_file(
        &self,
        path: &Path,
        url: Option<&str>,
        sha256: Option<&str>,
    ) -> Result<ArtifactId, StoreError> {
        let _shared = self.shared();
        let expected_sha = sha256.map(|s| s.trim().to_ascii_lowercase());
        let canonical = path
            .canonicalize()
            .map_err(|e| StoreError::io("open source file", path, e))?;
        let stamp_key = canonical.to_string_lossy().into_owned().into_bytes();
        let meta =
            fs::metadata(&canonical).map_err(|e| StoreError::io("stat source file", path, e))?;

        // Fast path: the file is unchanged since we last imported it.
        if let Some(old) =
            self.get_decoded::<SourceStamp>(&self.sources, "source stamp", &stamp_key)?
        {
            let same_file = stamp_matches(&old, &meta);
            let sha_ok = expected_sha.is_none() || expected_sha == old.sha256;
            if same_file && sha_ok && self.object_present(&old.id) {
                self.record_source(&old.id, path, old.size, url, expected_sha.clone())?;
                return Ok(old.id);
            }
        }

        let read_started = SystemTime::now();
        let (tmp, mut out) = self.create_temp()?;
        let copied = copy_hashing(&canonical, &mut out, expected_sha.is_some());
        let (id, size, actual_sha) = match copied.and_then(|r| {
            out.sync_all()
                .map_err(|e| StoreError::io("fsync temp object", &tmp, e))?;
            Ok(r)
        }) {
            Ok(r) => r,
            Err(e) => {
                drop(out);
                let _ = fs::remove_file(&tmp);
                return Err(e);
            }
        };
        drop(out);
        #[cfg(test)]
        tests::AFTER_SOURCE_COPY.with(|hook| {
            if let Some(hook) = hook.borrow().as_ref() {
                hook(&canonical)
            }
        });
        // A file still being written (a download, an editor) would give a torn copy.
        let after =
            fs::metadata(&canonical).map_err(|e| StoreError::io("stat source file", path, e))?;
        if size != meta.len() || !stamp_matches(&stamp_of(&meta, id, None), &after) {
            let _ = fs::remove_file(&tmp);
            return Err(StoreError::SourceChanged {
                path: path.to_path_buf(),
            });
        }
        if let (Some(expected), Some(actual)) = (&expected_sha, &actual_sha) {
            if expected != actual {
                let _ = fs::remove_file(&tmp);
                return Err(StoreError::SourceChecksum {
                    path: path.to_path_buf(),
                    expected: expected.clone(),
                    actual: actual.clone(),
                });
            }
        }
        // The temp copy is complete and its hash known: renaming it over an existing
        // object is atomic and harmless, and repairs a damaged one.
        self.install_temp(&tmp, &id)?;
        self.crash_point("source:renamed");
        let record = ArtifactRecord {
            id,
            format: Format::Raw,
            kind: "source".to_string(),
            size,
            producer: None,
            source: None,
        };
        self.insert_artifact_if_absent(&record)?;
        self.record_source(&id, path, size, url, expected_sha.clone())?;

        // Remember the stamp only if the file cannot have changed unnoticed within one
        // mtime tick while we read it.
        let old_enough = meta
            .modified()
            .ok()
            .and_then(|m| read_started.duration_since(m).ok())
            .is_some_and(|age| age >= RACY_WINDOW);
        let stamp = stamp_of(&meta, id, expected_sha);
        if old_enough {
            self.put_encoded(&self.sources, "source stamp", &stamp_key, &stamp)?;
        } else {
            self.remove_key(&self.sources, &stamp_key)?;
        }
        Ok(id)
    }

    /// The id of the raw file at `path` if it was imported by [`Store::put_source_file`]
    /// and is unchanged since (same stat stamp) with its object present — without
    /// reading the file. `None` means "unknown": the caller must hash the file itself.
    /// For `status`, which must not import anything.
    pub fn known_source_id(&self, path: &Path) -> Result<Option<ArtifactId>, StoreError> {
        let Ok(canonical) = path.canonicalize() else {
            return Ok(None);
        };
        let Ok(meta) = fs::metadata(&canonical) else {
            return Ok(None);
        };
        let key = canonical.to_string_lossy().into_owned().into_bytes();
        Ok(self
            .get_decoded::<SourceStamp>(&self.sources, "source stamp", &key)?
            .filter(|stamp| stamp_matches(stamp, &meta) && self.object_present(&stamp.id))
            .map(|stamp| stamp.id))
    }

    /// Read an object, verifying its blake3: a mismatch is [`StoreError::Corrupt`]
    /// naming the object and its producing stage; a missing file is
    /// [`StoreError::Missing`].
    pub fn read(&self, id: &ArtifactId) -> Result<Vec<u8>, StoreError> {
        let path = self.object_path(id);
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(StoreError::Missing { id: *id })
            }
            Err(e) => return Err(StoreError::io("read object", &path, e)),
        };
        if ArtifactId::of(&bytes) != *id {
            return Err(self.corrupt(id, path));
        }
        Ok(bytes)
    }

    /// Verify an object's hash by streaming it (without holding it in memory) and
    /// return its path, for readers that stream large raw sources themselves.
    /// Errors as [`Store::read`].
    pub fn verified_path(&self, id: &ArtifactId) -> Result<PathBuf, StoreError> {
        let path = self.object_path(id);
        match fsutil::hash_file(&path)? {
            None => Err(StoreError::Missing { id: *id }),
            Some((h, _)) if *h.as_bytes() == id.0 => Ok(path),
            Some(_) => Err(self.corrupt(id, path)),
        }
    }

    /// True when the object file exists with the size in its artifact record (cheap:
    /// no hashing). False when there is no record.
    pub fn object_present(&self, id: &ArtifactId) -> bool {
        match self.artifact(id) {
            Ok(Some(rec)) => fs::metadata(self.object_path(id))
                .map(|m| m.is_file() && m.len() == rec.size)
                .unwrap_or(false),
            _ => false,
        }
    }

    /// The artifact record of `id`, if any.
    pub fn artifact(&self, id: &ArtifactId) -> Result<Option<ArtifactRecord>, StoreError> {
        self.get_decoded(&self.artifacts, "artifact", &id.0)
    }

    /// Every artifact record, in id order.
    pub fn artifacts(&self) -> Result<Vec<ArtifactRecord>, StoreError> {
        self.all_decoded(&self.artifacts, "artifact")
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
        if !wanted.bytes().all(|b| b.is_ascii_hexdigit()) {
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
        let key_prefix: Vec<u8> = (0..even.len())
            .step_by(2)
            .filter_map(|i| u8::from_str_radix(&even[i..i + 2], 16).ok())
            .collect();
        let mut found = Vec::new();
        for item in self.artifacts.scan_prefix(&key_prefix).keys() {
            let key = item.map_err(|e| self.db_error("scan artifact records", e))?;
            let Ok(bytes) = <[u8; 32]>::try_from(key.as_ref()) else {
                continue;
            };
            let id = ArtifactId(bytes);
            if id.to_hex().starts_with(&wanted) {
                found.push(id);
            }
        }
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
        use sled::transaction::{ConflictableTransactionError as Conflict, TransactionError};
        use sled::Transactional;
        // Shared with other writers, exclusive of verify/gc, which could otherwise delete
        // a record between this transaction's check and its commit being relied upon.
        let _shared = self.shared();
        let run_bytes = codec::encode("run record", run).map_err(|source| StoreError::Record {
            what: "run",
            key: run.label(),
            source,
        })?;
        let result = (&self.artifacts, &self.runs).transaction(|(arts, runs)| {
            for (role, map) in [("input", &run.inputs), ("output", &run.outputs)] {
                for (name, id) in map {
                    let Some(raw) = arts.get(id.0)? else {
                        return Err(Conflict::Abort(StoreError::UnrecordedArtifact {
                            dataset: run.dataset.clone(),
                            stage: run.stage.clone(),
                            role,
                            name: name.clone(),
                            id: *id,
                        }));
                    };
                    if role == "output" {
                        let mut rec: ArtifactRecord = codec::decode("artifact record", &raw)
                            .map_err(|source| {
                                Conflict::Abort(StoreError::Record {
                                    what: "artifact",
                                    key: id.to_hex(),
                                    source,
                                })
                            })?;
                        if rec.producer != Some(run.key) {
                            rec.producer = Some(run.key);
                            let bytes =
                                codec::encode("artifact record", &rec).map_err(|source| {
                                    Conflict::Abort(StoreError::Record {
                                        what: "artifact",
                                        key: id.to_hex(),
                                        source,
                                    })
                                })?;
                            arts.insert(&id.0, bytes)?;
                        }
                    }
                }
            }
            runs.insert(&run.key.0, run_bytes.as_slice())?;
            Ok(())
        });
        match result {
            Ok(()) => {}
            Err(TransactionError::Abort(e)) => return Err(e),
            Err(TransactionError::Storage(e)) => {
                return Err(self.db_error(
                    &format!("record run {} ({})", run.label(), run.key.short()),
                    e,
                ))
            }
        }
        self.crash_point("run:recorded");
        self.flush()
    }

    /// The run record with `key`, if any.
    pub fn run(&self, key: &StageKey) -> Result<Option<RunRecord>, StoreError> {
        self.get_decoded(&self.runs, "run", &key.0)
    }

    /// Every run record, oldest first (by start time, then key).
    pub fn runs(&self) -> Result<Vec<RunRecord>, StoreError> {
        let mut runs: Vec<RunRecord> = self.all_decoded(&self.runs, "run")?;
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
        let runs: Vec<RunRecord> = self.all_decoded(&self.runs, "run")?;
        Ok(runs
            .into_iter()
            .filter(|r| r.outputs.values().any(|o| o == id))
            .max_by_key(|r| (r.ended_ms, r.key)))
    }

    /// Set the "head" pointer of (`dataset`, `stage`) to the run `key`.
    pub fn set_latest(&self, dataset: &str, stage: &str, key: &StageKey) -> Result<(), StoreError> {
        self.latest
            .insert(latest_key(dataset, stage), &key.0)
            .map_err(|e| self.db_error(&format!("set latest run of {dataset}/{stage}"), e))?;
        Ok(())
    }

    /// The "head" pointer of (`dataset`, `stage`): the latest run for the current
    /// config, as last set by [`Store::set_latest`].
    pub fn latest(&self, dataset: &str, stage: &str) -> Result<Option<StageKey>, StoreError> {
        let raw = self
            .latest
            .get(latest_key(dataset, stage))
            .map_err(|e| self.db_error(&format!("read latest run of {dataset}/{stage}"), e))?;
        match raw {
            None => Ok(None),
            Some(v) => match <[u8; 32]>::try_from(v.as_ref()) {
                Ok(b) => Ok(Some(StageKey(b))),
                Err(_) => Err(StoreError::Database {
                    action: format!("read latest run of {dataset}/{stage}"),
                    path: self.db_dir.clone(),
                    message: format!("stored key has {} bytes, expected 32", v.len()),
                }),
            },
        }
    }

    /// A fine-grained memo value of a stage (e.g. one tune grid point on one fold).
    /// `scope` is chosen by the runner (typically the stage and its inputs).
    pub fn memo_get(&self, scope: &[u8], key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let v = self
            .memo
            .get(memo_key(scope, key))
            .map_err(|e| self.db_error("read memo record", e))?;
        Ok(v.map(|v| v.to_vec()))
    }

    /// Store a memo value. Not flushed immediately: losing a memo to a crash only
    /// costs a recomputation (sled flushes within half a second and on close).
    pub fn memo_put(&self, scope: &[u8], key: &[u8], value: &[u8]) -> Result<(), StoreError> {
        self.memo
            .insert(memo_key(scope, key), value)
            .map_err(|e| self.db_error("write memo record", e))?;
        Ok(())
    }

    /// Re-hash every object file and check every record.
    ///
    /// For each object whose bytes do not match its name, each stray file in
    /// `objects/`, and each recorded object that is missing: move the file aside to
    /// `root/corrupt/<id>`, delete its artifact record, and delete every run record
    /// that lists it as an input or output (or lists an id that has no record), so the
    /// next run rebuilds exactly those. The report says which objects and which runs.
    pub fn verify(&self) -> Result<VerifyReport, StoreError> {
        let _exclusive = self.exclusive();
        let records: BTreeMap<ArtifactId, ArtifactRecord> =
            self.artifacts()?.into_iter().map(|r| (r.id, r)).collect();
        let runs: Vec<RunRecord> = self.all_decoded(&self.runs, "run")?;
        let producer_label = |id: &ArtifactId| -> Option<String> {
            let key = records.get(id)?.producer?;
            runs.iter().find(|r| r.key == key).map(|r| r.label())
        };

        let mut report = VerifyReport::default();
        let mut seen = BTreeSet::new();
        let mut bad = BTreeSet::new();
        // (index into report.problems, file to move aside, name under corrupt/)
        let mut to_move: Vec<(usize, PathBuf, String)> = Vec::new();
        for file in self.object_files()? {
            let Some(id) = file.id else {
                to_move.push((report.problems.len(), file.path.clone(), file.name));
                report.problems.push(VerifyProblem {
                    id: None,
                    path: file.path,
                    kind: ProblemKind::Stray,
                    producer: None,
                    moved_to: None,
                });
                continue;
            };
            seen.insert(id);
            let Some((hash, size)) = fsutil::hash_file(&file.path)? else {
                continue;
            };
            report.objects_checked += 1;
            report.bytes_checked += size;
            if *hash.as_bytes() != id.0 {
                bad.insert(id);
                to_move.push((report.problems.len(), file.path.clone(), id.to_hex()));
                report.problems.push(VerifyProblem {
                    id: Some(id),
                    path: file.path,
                    kind: ProblemKind::HashMismatch {
                        actual: ArtifactId(*hash.as_bytes()),
                        size,
                        recorded_size: records.get(&id).map(|r| r.size),
                    },
                    producer: producer_label(&id),
                    moved_to: None,
                });
            }
        }
        for id in records.keys().filter(|id| !seen.contains(*id)) {
            bad.insert(*id);
            report.problems.push(VerifyProblem {
                id: Some(*id),
                path: self.object_path(id),
                kind: ProblemKind::Missing,
                producer: producer_label(id),
                moved_to: None,
            });
        }

        // Records go first — runs, then the artifact records they name — and are
        // flushed before any file moves, so a crash in between leaves at worst an
        // unrecorded bad file (found again by the next verify), never a dangling record.
        for run in &runs {
            let reason =
                run_invalid_reason(run, |id| bad.contains(id), |id| records.contains_key(id));
            if let Some(reason) = reason {
                self.remove_key(&self.runs, &run.key.0)?;
                report.invalidated_runs.push(InvalidatedRun {
                    key: run.key,
                    dataset: run.dataset.clone(),
                    stage: run.stage.clone(),
                    reason,
                });
            }
        }
        for id in &bad {
            if records.contains_key(id) {
                self.remove_key(&self.artifacts, &id.0)?;
            }
        }
        self.drop_stamps_of(&bad)?;
        self.flush()?;
        self.crash_point("verify:records-removed");
        for (index, from, name) in to_move {
            report.problems[index].moved_to =
                Some(fsutil::move_aside(&from, &self.corrupt_dir, &name)?);
        }
        Ok(report)
    }

    /// Delete what no run record needs: objects (and their records) that no run lists
    /// as an input or output — raw sources included, unless a run reads them — plus
    /// leftover temp files and quarantined (`corrupt/`) files. With `dry_run`, only
    /// count. Records are deleted before their files, so a crash leaves orphans only.
    pub fn gc(&self, dry_run: bool) -> Result<GcReport, StoreError> {
        let _exclusive = self.exclusive();
        let runs: Vec<RunRecord> = self.all_decoded(&self.runs, "run")?;
        let needed: BTreeSet<ArtifactId> = runs
            .iter()
            .flat_map(|r| r.inputs.values().chain(r.outputs.values()))
            .copied()
            .collect();
        let mut report = GcReport {
            dry_run,
            ..GcReport::default()
        };

        // Unneeded records go first (even those whose object is already gone).
        let mut removed_ids = BTreeSet::new();
        for rec in self.artifacts()? {
            if !needed.contains(&rec.id) {
                report.records_removed += 1;
                removed_ids.insert(rec.id);
                if !dry_run {
                    self.remove_key(&self.artifacts, &rec.id.0)?;
                }
            }
        }
        if !dry_run {
            self.drop_stamps_of(&removed_ids)?;
            self.flush()?;
            self.crash_point("gc:records-removed");
        }

        for file in self.object_files()? {
            let size = file_size(&file.path);
            if file.id.is_some_and(|id| needed.contains(&id)) {
                report.objects_kept += 1;
                report.bytes_kept += size;
                continue;
            }
            report.objects_removed += 1;
            report.bytes_removed += size;
            if !dry_run {
                fs::remove_file(&file.path)
                    .map_err(|e| StoreError::io("remove object", &file.path, e))?;
            }
        }
        for (dir, count, bytes) in [
            (
                &self.tmp_dir,
                &mut report.temp_files_removed,
                &mut report.temp_bytes_removed,
            ),
            (
                &self.corrupt_dir,
                &mut report.quarantined_removed,
                &mut report.quarantined_bytes_removed,
            ),
        ] {
            for path in list_files(dir)? {
                *count += 1;
                *bytes += file_size(&path);
                if !dry_run {
                    fs::remove_file(&path)
                        .map_err(|e| StoreError::io("remove leftover file", &path, e))?;
                }
            }
        }
        if !dry_run {
            self.remove_empty_fanout_dirs()?;
        }
        Ok(report)
    }

    /// Flush the database to disk (also done on drop).
    pub fn flush(&self) -> Result<(), StoreError> {
        self.db.flush().map_err(|e| self.db_error("flush", e))?;
        Ok(())
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

    fn check_layout_version(&self, meta: &sled::Tree) -> Result<(), StoreError> {
        let key = b"layout_version";
        let found = meta
            .get(key)
            .map_err(|e| self.db_error("read layout version", e))?;
        match found {
            None => {
                meta.insert(key, &LAYOUT_VERSION.to_le_bytes())
                    .map_err(|e| self.db_error("write layout version", e))?;
                self.flush()
            }
            Some(v) => {
                let found = <[u8; 4]>::try_from(v.as_ref())
                    .map(u32::from_le_bytes)
                    .unwrap_or(0);
                if found == LAYOUT_VERSION {
                    Ok(())
                } else {
                    Err(StoreError::Version {
                        path: self.root.clone(),
                        found,
                        expected: LAYOUT_VERSION,
                    })
                }
            }
        }
    }

    fn db_error(&self, action: &str, e: sled::Error) -> StoreError {
        StoreError::Database {
            action: action.to_string(),
            path: self.db_dir.clone(),
            message: e.to_string(),
        }
    }

    fn corrupt(&self, id: &ArtifactId, path: PathBuf) -> StoreError {
        // A damaged raw-source copy must not be vouched for by its stat stamp: dropping
        // the stamp makes the next `put_source_file` re-read the file and repair the
        // object. Failures here only lose that shortcut; the error is reported anyway.
        let _ = self.drop_stamps_of(&BTreeSet::from([*id]));
        let producer = self.producer_of(id).ok().flatten().map(|r| r.label());
        StoreError::Corrupt {
            id: *id,
            path,
            producer,
        }
    }

    /// A fresh, uniquely named temp file in `root/tmp`.
    fn create_temp(&self) -> Result<(PathBuf, File), StoreError> {
        loop {
            let n = self.tmp_counter.fetch_add(1, Ordering::Relaxed);
            let path = self.tmp_dir.join(format!("{}-{n}.tmp", std::process::id()));
            match OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(f) => return Ok((path, f)),
                // Left by an earlier process that had the same pid: pick the next name.
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(StoreError::io("create temp object", &path, e)),
            }
        }
    }

    /// Rename a complete, fsynced temp file to the object path of `id` and make the
    /// rename durable.
    fn install_temp(&self, tmp: &Path, id: &ArtifactId) -> Result<(), StoreError> {
        let path = self.object_path(id);
        let dir = path.parent().unwrap_or(&self.objects_dir).to_path_buf();
        let done = fsutil::create_dir_durable(&dir).and_then(|_| {
            fs::rename(tmp, &path).map_err(|e| StoreError::io("rename temp object to", &path, e))
        });
        if let Err(e) = done {
            let _ = fs::remove_file(tmp);
            return Err(e);
        }
        fsutil::sync_dir(&dir)
    }

    fn insert_artifact_if_absent(&self, record: &ArtifactRecord) -> Result<(), StoreError> {
        let bytes =
            codec::encode("artifact record", record).map_err(|source| StoreError::Record {
                what: "artifact",
                key: record.id.to_hex(),
                source,
            })?;
        // compare_and_swap keeps a concurrent or earlier record (its kind and producer).
        self.artifacts
            .compare_and_swap(record.id.0, None as Option<&[u8]>, Some(bytes))
            .map_err(|e| self.db_error(&format!("record artifact {}", record.id.short()), e))?
            .ok();
        Ok(())
    }

    /// Attach (or refresh) the source info of a raw source artifact.
    fn record_source(
        &self,
        id: &ArtifactId,
        path: &Path,
        size: u64,
        url: Option<&str>,
        sha256: Option<String>,
    ) -> Result<(), StoreError> {
        let Some(mut rec) = self.artifact(id)? else {
            return Err(StoreError::Missing { id: *id });
        };
        let info = SourceInfo {
            path: path.display().to_string(),
            size,
            blake3: id.to_hex(),
            url: url.map(str::to_string),
            sha256,
        };
        if rec.source.as_ref() != Some(&info) {
            rec.source = Some(info);
            self.put_encoded(&self.artifacts, "artifact", &id.0, &rec)?;
        }
        Ok(())
    }

    fn drop_stamps_of(&self, ids: &BTreeSet<ArtifactId>) -> Result<(), StoreError> {
        if ids.is_empty() {
            return Ok(());
        }
        for item in self.sources.iter() {
            let (k, v) = item.map_err(|e| self.db_error("scan source stamps", e))?;
            // An unreadable stamp is only a cache entry: drop it too.
            let drop = codec::decode::<SourceStamp>("source stamp", &v)
                .map_or(true, |s| ids.contains(&s.id));
            if drop {
                self.remove_key(&self.sources, &k)?;
            }
        }
        Ok(())
    }

    fn get_decoded<T: serde::de::DeserializeOwned>(
        &self,
        tree: &sled::Tree,
        what: &'static str,
        key: &[u8],
    ) -> Result<Option<T>, StoreError> {
        let raw = tree
            .get(key)
            .map_err(|e| self.db_error(&format!("read {what} record"), e))?;
        raw.map(|v| {
            codec::decode(what, &v).map_err(|source| StoreError::Record {
                what,
                key: printable_key(key),
                source,
            })
        })
        .transpose()
    }

    fn all_decoded<T: serde::de::DeserializeOwned>(
        &self,
        tree: &sled::Tree,
        what: &'static str,
    ) -> Result<Vec<T>, StoreError> {
        let mut out = Vec::new();
        for item in tree.iter() {
            let (k, v) = item.map_err(|e| self.db_error(&format!("scan {what} records"), e))?;
            out.push(
                codec::decode(what, &v).map_err(|source| StoreError::Record {
                    what,
                    key: printable_key(&k),
                    source,
                })?,
            );
        }
        Ok(out)
    }

    fn put_encoded<T: Serialize>(
        &self,
        tree: &sled::Tree,
        what: &'static str,
        key: &[u8],
        value: &T,
    ) -> Result<(), StoreError> {
        let bytes = codec::encode(what, value).map_err(|source| StoreError::Record {
            what,
            key: printable_key(key),
            source,
        })?;
        tree.insert(key, bytes)
            .map_err(|e| self.db_error(&format!("write {what} record"), e))?;
        Ok(())
    }

    fn remove_key(&self, tree: &sled::Tree, key: &[u8]) -> Result<(), StoreError> {
        tree.remove(key)
            .map_err(|e| self.db_error(&format!("delete record '{}'", printable_key(key)), e))?;
        Ok(())
    }

    /// Every file under `objects/`, with its id when the name is a well-formed id in the
    /// right fan-out directory.
    fn object_files(&self) -> Result<Vec<ObjectFile>, StoreError> {
        let mut out = Vec::new();
        let fanout = fs::read_dir(&self.objects_dir)
            .map_err(|e| StoreError::io("list objects in", &self.objects_dir, e))?;
        let mut dirs: Vec<PathBuf> = Vec::new();
        for entry in fanout {
            let entry =
                entry.map_err(|e| StoreError::io("list objects in", &self.objects_dir, e))?;
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else {
                let name = entry.file_name().to_string_lossy().into_owned();
                out.push(ObjectFile {
                    path,
                    name,
                    id: None,
                });
            }
        }
        dirs.sort();
        for dir in dirs {
            let dir_name = dir
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            for path in list_files(&dir)? {
                let name = path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                let id = records::parse_hex32(&name)
                    .filter(|_| {
                        name.len() == 64
                            && name == name.to_ascii_lowercase()
                            && name[..2] == dir_name
                    })
                    .map(ArtifactId);
                out.push(ObjectFile { path, name, id });
            }
        }
        Ok(out)
    }

    fn remove_empty_fanout_dirs(&self) -> Result<(), StoreError> {
        let entries = fs::read_dir(&self.objects_dir)
            .map_err(|e| StoreError::io("list objects in", &self.objects_dir, e))?;
        for entry in entries.flatten() {
            let path = entry.path();
            // remove_dir fails on a non-empty directory, which is exactly what we want.
            if path.is_dir()
                && fs::read_dir(&path)
                    .map(|mut d| d.next().is_none())
                    .unwrap_or(false)
            {
                let _ = fs::remove_dir(&path);
            }
        }
        Ok(())
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        // Make memo and latest pointers durable before the next process takes the lock.
        if let Err(e) = self.db.flush() {
            tracing::warn!(
                "flushing the store database at {} failed: {e}",
                self.db_dir.display()
            );
        }
    }
}

/// A file found under `objects/`.
struct ObjectFile {
    path: PathBuf,
    name: String,
    /// `None` for a stray file (not named like an object).
    id: Option<ArtifactId>,
}

/// Open sled, retrying while its own file lock is still held by a just-dropped handle
/// of this process (sled releases it when its background threads finish).
fn open_sled(db_dir: &Path, budget: Duration) -> Result<sled::Db, StoreError> {
    let start = Instant::now();
    let budget = budget.max(Duration::from_secs(2));
    loop {
        match sled::Config::new().path(db_dir).open() {
            Ok(db) => return Ok(db),
            Err(e)
                if e.to_string().contains("could not acquire lock") && start.elapsed() < budget =>
            {
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => {
                return Err(StoreError::Database {
                    action: "open the database".to_string(),
                    path: db_dir.to_path_buf(),
                    message: e.to_string(),
                })
            }
        }
    }
}

/// Why `run` must be deleted, if it must: it names a bad object or an unrecorded one.
fn run_invalid_reason(
    run: &RunRecord,
    is_bad: impl Fn(&ArtifactId) -> bool,
    has_record: impl Fn(&ArtifactId) -> bool,
) -> Option<String> {
    for (role, map) in [("input", &run.inputs), ("output", &run.outputs)] {
        for (name, id) in map {
            if is_bad(id) {
                return Some(format!(
                    "{role} {name} = {} is damaged or missing",
                    id.short()
                ));
            }
            if !has_record(id) {
                return Some(format!(
                    "{role} {name} = {} has no artifact record",
                    id.short()
                ));
            }
        }
    }
    None
}

fn latest_key(dataset: &str, stage: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(dataset.len() + stage.len() + 1);
    k.extend_from_slice(dataset.as_bytes());
    k.push(0);
    k.extend_from_slice(stage.as_bytes());
    k
}

fn memo_key(scope: &[u8], key: &[u8]) -> Vec<u8> {
    // Length-prefixing the scope keeps (scope, key) pairs from colliding.
    let mut k = Vec::with_capacity(4 + scope.len() + key.len());
    k.extend_from_slice(&(scope.len() as u32).to_be_bytes());
    k.extend_from_slice(scope);
    k.extend_from_slice(key);
    k
}

fn printable_key(key: &[u8]) -> String {
    match std::str::from_utf8(key) {
        Ok(s) if !s.chars().any(char::is_control) => s.to_string(),
        _ => records::hex(key),
    }
}

fn file_size(path: &Path) -> u64 {
    fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

/// Regular files directly inside `dir` (empty if `dir` does not exist), sorted.
fn list_files(dir: &Path) -> Result<Vec<PathBuf>, StoreError> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(StoreError::io("list files in", dir, e)),
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| StoreError::io("list files in", dir, e))?;
        if entry.file_type().map(|t| t.is_file()).unwrap_or(false) {
            out.push(entry.path());
        }
    }
    out.sort();
    Ok(out)
}

/// Copy `src` into `out` while hashing with blake3 (and sha256 when asked).
/// Returns (id, size, sha256 hex).
fn copy_hashing(
    src: &Path,
    out: &mut File,
    with_sha256: bool,
) -> Result<(ArtifactId, u64, Option<String>), StoreError> {
    let mut input = File::open(src).map_err(|e| StoreError::io("open source file", src, e))?;
    let mut blake = blake3::Hasher::new();
    let mut sha = with_sha256.then(sha2::Sha256::new);
    let mut buf = vec![0u8; fsutil::CHUNK];
    let mut size = 0u64;
    loop {
        let n = match input.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(StoreError::io("read source file", src, e)),
        };
        let chunk = &buf[..n];
        blake.update(chunk);
        if let Some(sha) = sha.as_mut() {
            sha.update(chunk);
        }
        out.write_all(chunk)
            .map_err(|e| StoreError::io("copy source file into the store from", src, e))?;
        size += n as u64;
    }
    let sha_hex = sha.map(|s| records::hex(&s.finalize()));
    Ok((ArtifactId(*blake.finalize().as_bytes()), size, sha_hex))
}

fn split_time(t: io::Result<SystemTime>) -> (i64, u32) {
    match t.ok().map(|t| t.duration_since(UNIX_EPOCH)) {
        Some(Ok(d)) => (d.as_secs() as i64, d.subsec_nanos()),
        Some(Err(e)) => (
            -(e.duration().as_secs() as i64),
            e.duration().subsec_nanos(),
        ),
        None => (0, 0),
    }
}

fn stamp_of(meta: &fs::Metadata, id: ArtifactId, sha256: Option<String>) -> SourceStamp {
    #[cfg(unix)]
    let (ctime, inode, device) = {
        use std::os::unix::fs::MetadataExt;
        (
            (meta.ctime(), meta.ctime_nsec() as u32),
            meta.ino(),
            meta.dev(),
        )
    };
    #[cfg(not(unix))]
    let (ctime, inode, device) = ((0, 0), 0, 0);
    SourceStamp {
        size: meta.len(),
        mtime: split_time(meta.modified()),
        ctime,
        inode,
        device,
        id,
        sha256,
    }
}

fn stamp_matches(stamp: &SourceStamp, meta: &fs::Metadata) -> bool {
    let now = stamp_of(meta, stamp.id, None);
    (now.size, now.mtime, now.ctime, now.inode, now.device)
        == (
            stamp.size,
            stamp.mtime,
            stamp.ctime,
            stamp.inode,
            stamp.device,
        )
}

#[cfg(test)]
mod tests;
