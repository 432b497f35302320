//! The sled side of the store: which trees exist, how their keys are encoded, and the
//! typed get/put helpers every record goes through.
//!
//! sled trees (values encoded with [`alsflow_core::codec`]):
//!
//! | tree            | key                               | value                          |
//! |-----------------|-----------------------------------|--------------------------------|
//! | `artifacts`     | artifact id (32 bytes)            | [`ArtifactRecord`]             |
//! | `runs`          | stage key (32 bytes)              | [`RunRecord`]                  |
//! | `pipeline_runs` | pipeline run id (32 bytes)        | [`PipelineRun`]                |
//! | `latest`        | `dataset \0 stage`                | stage key of the latest run    |
//! | `memo`          | `len(scope) as u32 BE, scope, key`| opaque bytes from a stage      |
//! | `sources`       | canonical source path             | stat stamp → id (see `sources`)|
//! | `meta`          | `layout_version`                  | u32 LE                         |
//! | `meta`          | `view_generation`                 | u64 LE, last published view    |
//!
//! sled allows one process per database, and sled types never leave this crate.
//! Readers never open it: they read a snapshot of `artifacts`, `runs`, `pipeline_runs`,
//! `latest` and `sources` that the writer publishes (the `view` module). Both answer the
//! same [`Records`] questions, so every read method of the store works on either.

use crate::pipeline_runs::{PipelineRun, PipelineRunId};
use crate::records::{ArtifactRecord, RunRecord, StageKey};
use crate::sources::SourceStamp;
use crate::view::ViewTrees;
use crate::StoreError;
use alsflow_core::{codec, hex, ArtifactId};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// The on-disk layout version this build reads and writes. Version 2 added the read
/// view and the readers' lock; version 3 added the archive hash and member to the
/// source info of raw-source artifact records. A version-1 or version-2 store is
/// upgraded in place on open: its artifact records are rewritten in the new shape
/// (`upgrade`), and the view, which a version-1 store lacks, is published on open.
/// Older builds refuse a newer version, so they never misread the new records.
const LAYOUT_VERSION: u32 = 3;

/// The record questions the read methods ask, answered from the live database by a
/// writer or from the published view by a reader.
pub(crate) trait Records {
    /// The artifact record of `id`.
    fn artifact(&self, id: &ArtifactId) -> Result<Option<ArtifactRecord>, StoreError>;
    /// Every artifact record, in id order.
    fn artifacts(&self) -> Result<Vec<ArtifactRecord>, StoreError>;
    /// The run record with `key`.
    fn run(&self, key: &StageKey) -> Result<Option<RunRecord>, StoreError>;
    /// Every run record, in key order.
    fn runs(&self) -> Result<Vec<RunRecord>, StoreError>;
    /// The pipeline run with `id`.
    fn pipeline_run(&self, id: &PipelineRunId) -> Result<Option<PipelineRun>, StoreError>;
    /// Every pipeline run, in id order.
    fn pipeline_runs(&self) -> Result<Vec<PipelineRun>, StoreError>;
    /// The latest-run pointer of (`dataset`, `stage`).
    fn latest(&self, dataset: &str, stage: &str) -> Result<Option<StageKey>, StoreError>;
    /// The stat stamp remembered for a canonical source path (see `sources`).
    fn source_stamp(&self, key: &[u8]) -> Result<Option<SourceStamp>, StoreError>;
    /// The ids of the artifact records whose key starts with `prefix`.
    fn artifact_ids_with_prefix(&self, prefix: &[u8]) -> Result<Vec<ArtifactId>, StoreError>;
}

/// The open sled database and its trees.
pub(crate) struct Db {
    dir: PathBuf,
    // Field order matters: fields drop in declaration order, so the trees close before
    // the database.
    pub(crate) artifacts: sled::Tree,
    pub(crate) runs: sled::Tree,
    pub(crate) pipeline_runs: sled::Tree,
    pub(crate) latest: sled::Tree,
    pub(crate) memo: sled::Tree,
    pub(crate) sources: sled::Tree,
    pub(crate) meta: sled::Tree,
    db: sled::Db,
    /// Set after any change to a tree the read view copies; cleared when a view is
    /// published, so publishing is skipped when nothing changed.
    changed: AtomicBool,
}

impl Db {
    /// Open (creating) the database in `dir` and check its layout version against this
    /// build's; `root` names the store in a version error.
    pub(crate) fn open(dir: &Path, root: &Path, budget: Duration) -> Result<Db, StoreError> {
        let db = open_sled(dir, budget)?;
        let tree = |name: &str| {
            db.open_tree(name).map_err(|e| StoreError::Database {
                action: format!("open tree '{name}'"),
                path: dir.to_path_buf(),
                message: e.to_string(),
            })
        };
        let opened = Db {
            dir: dir.to_path_buf(),
            artifacts: tree("artifacts")?,
            runs: tree("runs")?,
            pipeline_runs: tree("pipeline_runs")?,
            latest: tree("latest")?,
            memo: tree("memo")?,
            sources: tree("sources")?,
            meta: tree("meta")?,
            db: db.clone(),
            changed: AtomicBool::new(false),
        };
        opened.check_layout_version(root)?;
        Ok(opened)
    }

    /// A [`StoreError::Database`] naming this database and what was being done.
    pub(crate) fn error(&self, action: &str, e: sled::Error) -> StoreError {
        StoreError::Database {
            action: action.to_string(),
            path: self.dir.clone(),
            message: e.to_string(),
        }
    }

    /// Make every write so far durable.
    pub(crate) fn flush(&self) -> Result<(), StoreError> {
        self.db.flush().map_err(|e| self.error("flush", e))?;
        Ok(())
    }

    fn check_layout_version(&self, root: &Path) -> Result<(), StoreError> {
        let key = b"layout_version";
        let found = self
            .meta
            .get(key)
            .map_err(|e| self.error("read layout version", e))?;
        match found {
            None => {
                self.meta
                    .insert(key, &LAYOUT_VERSION.to_le_bytes())
                    .map_err(|e| self.error("write layout version", e))?;
                self.flush()
            }
            Some(v) => {
                let found = <[u8; 4]>::try_from(v.as_ref())
                    .map(u32::from_le_bytes)
                    .unwrap_or(0);
                if found == LAYOUT_VERSION {
                    Ok(())
                } else if found == 1 || found == 2 {
                    let rewritten = crate::upgrade::artifact_records_to_v3(self)?;
                    tracing::info!(
                        "upgraded the store at {} from layout {found} to {LAYOUT_VERSION} \
                         ({rewritten} artifact records rewritten)",
                        root.display()
                    );
                    self.meta
                        .insert(key, &LAYOUT_VERSION.to_le_bytes())
                        .map_err(|e| self.error("upgrade layout version", e))?;
                    self.flush()
                } else {
                    Err(StoreError::Version {
                        path: root.to_path_buf(),
                        found,
                        expected: LAYOUT_VERSION,
                    })
                }
            }
        }
    }

    /// Note a change to a tree the read view copies.
    pub(crate) fn mark_changed(&self) {
        self.changed.store(true, Ordering::SeqCst);
    }

    /// Whether a viewed tree changed since the last call, clearing the mark.
    pub(crate) fn take_changed(&self) -> bool {
        self.changed.swap(false, Ordering::SeqCst)
    }

    /// The generation of the last view this database's writer published (0 if none).
    pub(crate) fn view_generation(&self) -> Result<u64, StoreError> {
        let raw = self
            .meta
            .get(b"view_generation")
            .map_err(|e| self.error("read view generation", e))?;
        Ok(raw
            .and_then(|v| <[u8; 8]>::try_from(v.as_ref()).ok())
            .map_or(0, u64::from_le_bytes))
    }

    /// Remember the generation of a view just published (made durable by the next
    /// flush; the view file itself carries it too).
    pub(crate) fn set_view_generation(&self, generation: u64) -> Result<(), StoreError> {
        self.meta
            .insert(b"view_generation", &generation.to_le_bytes())
            .map_err(|e| self.error("write view generation", e))?;
        Ok(())
    }

    /// A copy of the trees the read view holds, raw. Scanned in dependency order —
    /// `pipeline_runs` and `latest`, then `runs`, `sources`, `artifacts` — so that while
    /// other threads add records, every run a copied pointer or pipeline run names, and
    /// every artifact a copied run or stamp names, is copied too (records are only removed under the exclusive
    /// maintenance lock, by `gc` and `verify`, which publish themselves).
    pub(crate) fn snapshot(&self) -> Result<ViewTrees, StoreError> {
        let copy = |tree: &sled::Tree, what: &str| {
            let mut out = BTreeMap::new();
            for item in tree.iter() {
                let (k, v) = item.map_err(|e| self.error(&format!("copy {what} records"), e))?;
                out.insert(k.to_vec(), v.to_vec());
            }
            Ok::<_, StoreError>(out)
        };
        let pipeline_runs = copy(&self.pipeline_runs, "pipeline run")?;
        let latest = copy(&self.latest, "latest")?;
        #[cfg(test)]
        crate::tests::AFTER_FIRST_TREE_COPY.with(|hook| {
            if let Some(hook) = hook.borrow_mut().take() {
                hook(self)
            }
        });
        let runs = copy(&self.runs, "run")?;
        let sources = copy(&self.sources, "source stamp")?;
        let artifacts = copy(&self.artifacts, "artifact")?;
        Ok(ViewTrees {
            artifacts,
            runs,
            latest,
            sources,
            pipeline_runs,
        })
    }

    /// The record at `key` in `tree`, decoded; `what` names it in errors.
    pub(crate) fn get_decoded<T: serde::de::DeserializeOwned>(
        &self,
        tree: &sled::Tree,
        what: &'static str,
        key: &[u8],
    ) -> Result<Option<T>, StoreError> {
        let raw = tree
            .get(key)
            .map_err(|e| self.error(&format!("read {what} record"), e))?;
        raw.map(|v| decode_record(what, key, &v)).transpose()
    }

    /// Every record of `tree`, decoded, in key order.
    pub(crate) fn all_decoded<T: serde::de::DeserializeOwned>(
        &self,
        tree: &sled::Tree,
        what: &'static str,
    ) -> Result<Vec<T>, StoreError> {
        let mut out = Vec::new();
        for item in tree.iter() {
            let (k, v) = item.map_err(|e| self.error(&format!("scan {what} records"), e))?;
            out.push(decode_record(what, &k, &v)?);
        }
        Ok(out)
    }

    /// Encode `value` and write it at `key` in `tree`.
    pub(crate) fn put_encoded<T: Serialize>(
        &self,
        tree: &sled::Tree,
        what: &'static str,
        key: &[u8],
        value: &T,
    ) -> Result<(), StoreError> {
        let bytes = codec::encode(what, value).map_err(|source| StoreError::Record {
            what,
            key: printable_key(key),
            cause: source,
        })?;
        let old = tree
            .insert(key, bytes.as_slice())
            .map_err(|e| self.error(&format!("write {what} record"), e))?;
        if old.as_deref() != Some(bytes.as_slice()) {
            self.mark_changed();
        }
        Ok(())
    }

    /// Delete `key` from `tree` (absent is fine).
    pub(crate) fn remove_key(&self, tree: &sled::Tree, key: &[u8]) -> Result<(), StoreError> {
        let old = tree
            .remove(key)
            .map_err(|e| self.error(&format!("delete record '{}'", printable_key(key)), e))?;
        if old.is_some() {
            self.mark_changed();
        }
        Ok(())
    }

    /// Insert an artifact record unless one exists: an earlier or concurrent record
    /// keeps its kind and producer.
    pub(crate) fn insert_artifact_if_absent(
        &self,
        record: &ArtifactRecord,
    ) -> Result<(), StoreError> {
        let bytes =
            codec::encode("artifact record", record).map_err(|source| StoreError::Record {
                what: "artifact",
                key: record.id.to_hex(),
                cause: source,
            })?;
        let swapped = self
            .artifacts
            .compare_and_swap(record.id.0, None as Option<&[u8]>, Some(bytes))
            .map_err(|e| self.error(&format!("record artifact {}", record.id.short()), e))?;
        if swapped.is_ok() {
            self.mark_changed();
        }
        Ok(())
    }

    /// In one transaction: check that every input and output of `run` has an artifact
    /// record, set each output's `producer` to the run, and store the run.
    pub(crate) fn record_run(&self, run: &RunRecord) -> Result<(), StoreError> {
        use sled::transaction::{ConflictableTransactionError as Conflict, TransactionError};
        use sled::Transactional;
        let run_bytes = codec::encode("run record", run).map_err(|source| StoreError::Record {
            what: "run",
            key: run.label(),
            cause: source,
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
                        let mut rec: ArtifactRecord =
                            decode_record("artifact", &id.0, &raw).map_err(Conflict::Abort)?;
                        if rec.producer != Some(run.key) {
                            rec.producer = Some(run.key);
                            let bytes =
                                codec::encode("artifact record", &rec).map_err(|source| {
                                    Conflict::Abort(StoreError::Record {
                                        what: "artifact",
                                        key: id.to_hex(),
                                        cause: source,
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
            Ok(()) => {
                self.mark_changed();
                Ok(())
            }
            Err(TransactionError::Abort(e)) => Err(e),
            Err(TransactionError::Storage(e)) => Err(self.error(
                &format!("record run {} ({})", run.label(), run.key.short()),
                e,
            )),
        }
    }

    /// Point (`dataset`, `stage`) at the run `key`; true when the pointer changed.
    pub(crate) fn set_latest(
        &self,
        dataset: &str,
        stage: &str,
        key: &StageKey,
    ) -> Result<bool, StoreError> {
        let old = self
            .latest
            .insert(latest_key(dataset, stage), &key.0)
            .map_err(|e| self.error(&format!("set latest run of {dataset}/{stage}"), e))?;
        let changed = old.as_deref() != Some(&key.0[..]);
        if changed {
            self.mark_changed();
        }
        Ok(changed)
    }

    /// The stage keys the `latest` pointers name (malformed values are skipped: they
    /// name no run).
    pub(crate) fn latest_keys(&self) -> Result<std::collections::BTreeSet<StageKey>, StoreError> {
        let mut out = std::collections::BTreeSet::new();
        for item in self.latest.iter() {
            let (_, v) = item.map_err(|e| self.error("scan latest-run pointers", e))?;
            if let Ok(bytes) = <[u8; 32]>::try_from(v.as_ref()) {
                out.insert(StageKey(bytes));
            }
        }
        Ok(out)
    }

    /// The memo value at (`scope`, `key`).
    pub(crate) fn memo_get(&self, scope: &[u8], key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let v = self
            .memo
            .get(memo_key(scope, key))
            .map_err(|e| self.error("read memo record", e))?;
        Ok(v.map(|v| v.to_vec()))
    }

    /// Store a memo value (not flushed: see [`crate::Store::memo_put`]).
    pub(crate) fn memo_put(
        &self,
        scope: &[u8],
        key: &[u8],
        value: &[u8],
    ) -> Result<(), StoreError> {
        self.memo
            .insert(memo_key(scope, key), value)
            .map_err(|e| self.error("write memo record", e))?;
        Ok(())
    }

    /// How many memo records `scope` holds.
    pub(crate) fn memo_count(&self, scope: &[u8]) -> Result<u64, StoreError> {
        let mut n = 0;
        for item in self.memo.scan_prefix(memo_key(scope, b"")).keys() {
            item.map_err(|e| self.error("scan memo records", e))?;
            n += 1;
        }
        Ok(n)
    }

    /// Delete every memo record of `scope`; returns how many there were.
    pub(crate) fn memo_remove_scope(&self, scope: &[u8]) -> Result<u64, StoreError> {
        let mut keys = Vec::new();
        for item in self.memo.scan_prefix(memo_key(scope, b"")).keys() {
            keys.push(item.map_err(|e| self.error("scan memo records", e))?);
        }
        for k in &keys {
            self.memo
                .remove(k)
                .map_err(|e| self.error("delete memo record", e))?;
        }
        Ok(keys.len() as u64)
    }
}

impl Records for Db {
    fn artifact(&self, id: &ArtifactId) -> Result<Option<ArtifactRecord>, StoreError> {
        self.get_decoded(&self.artifacts, "artifact", &id.0)
    }

    fn artifacts(&self) -> Result<Vec<ArtifactRecord>, StoreError> {
        self.all_decoded(&self.artifacts, "artifact")
    }

    fn run(&self, key: &StageKey) -> Result<Option<RunRecord>, StoreError> {
        self.get_decoded(&self.runs, "run", &key.0)
    }

    fn runs(&self) -> Result<Vec<RunRecord>, StoreError> {
        self.all_decoded(&self.runs, "run")
    }

    fn pipeline_run(&self, id: &PipelineRunId) -> Result<Option<PipelineRun>, StoreError> {
        self.get_decoded(&self.pipeline_runs, "pipeline run", &id.0)
    }

    fn pipeline_runs(&self) -> Result<Vec<PipelineRun>, StoreError> {
        self.all_decoded(&self.pipeline_runs, "pipeline run")
    }

    fn latest(&self, dataset: &str, stage: &str) -> Result<Option<StageKey>, StoreError> {
        let raw = self
            .latest
            .get(latest_key(dataset, stage))
            .map_err(|e| self.error(&format!("read latest run of {dataset}/{stage}"), e))?;
        raw.map(|v| decode_latest(dataset, stage, &v, &self.dir))
            .transpose()
    }

    fn source_stamp(&self, key: &[u8]) -> Result<Option<SourceStamp>, StoreError> {
        self.get_decoded(&self.sources, "source stamp", key)
    }

    fn artifact_ids_with_prefix(&self, prefix: &[u8]) -> Result<Vec<ArtifactId>, StoreError> {
        let mut found = Vec::new();
        for item in self.artifacts.scan_prefix(prefix).keys() {
            let key = item.map_err(|e| self.error("scan artifact records", e))?;
            if let Ok(bytes) = <[u8; 32]>::try_from(key.as_ref()) {
                found.push(ArtifactId(bytes));
            }
        }
        Ok(found)
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        // Make memo and latest pointers durable before the next process takes the lock.
        if let Err(e) = self.db.flush() {
            tracing::warn!(
                "flushing the store database at {} failed: {e}",
                self.dir.display()
            );
        }
    }
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

/// Decode a record's value; errors name the record by its (printable) key.
pub(crate) fn decode_record<T: serde::de::DeserializeOwned>(
    what: &'static str,
    key: &[u8],
    value: &[u8],
) -> Result<T, StoreError> {
    codec::decode(what, value).map_err(|source| StoreError::Record {
        what,
        key: printable_key(key),
        cause: source,
    })
}

/// Decode the value of a `latest` pointer (a 32-byte stage key).
pub(crate) fn decode_latest(
    dataset: &str,
    stage: &str,
    value: &[u8],
    where_: &Path,
) -> Result<StageKey, StoreError> {
    <[u8; 32]>::try_from(value)
        .map(StageKey)
        .map_err(|_| StoreError::Database {
            action: format!("read latest run of {dataset}/{stage}"),
            path: where_.to_path_buf(),
            message: format!("stored key has {} bytes, expected 32", value.len()),
        })
}

/// The key of the `latest` pointer of (`dataset`, `stage`).
pub(crate) fn latest_key(dataset: &str, stage: &str) -> Vec<u8> {
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

/// A key as text when it is printable, else as hex.
pub(crate) fn printable_key(key: &[u8]) -> String {
    match std::str::from_utf8(key) {
        Ok(s) if !s.chars().any(char::is_control) => s.to_string(),
        _ => hex::encode(key),
    }
}
