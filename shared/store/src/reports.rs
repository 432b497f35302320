//! What [`crate::Store::verify`] and [`crate::Store::gc`] report. All serialise to JSON
//! with ids and keys as 64-digit hex strings (for `alsflow verify --json` and friends).

use crate::{ArtifactId, PipelineRun, PipelineRunId, StageKey};
use serde::{Serialize, Serializer};
use std::path::PathBuf;

/// The outcome of [`crate::Store::verify`].
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct VerifyReport {
    /// Object files hashed.
    pub objects_checked: u64,
    /// Bytes hashed.
    pub bytes_checked: u64,
    /// Every damaged, missing or stray object found.
    pub problems: Vec<VerifyProblem>,
    /// Run records deleted because they need a bad object.
    pub invalidated_runs: Vec<InvalidatedRun>,
}

impl VerifyReport {
    /// True when nothing was wrong (the CLI exits non-zero otherwise).
    pub fn is_clean(&self) -> bool {
        self.problems.is_empty() && self.invalidated_runs.is_empty()
    }
}

/// One bad object found by [`crate::Store::verify`].
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct VerifyProblem {
    /// The object's id; `None` for a stray file whose name is not an id.
    #[serde(serialize_with = "opt_id_hex")]
    pub id: Option<ArtifactId>,
    /// Where the object was (or should have been).
    pub path: PathBuf,
    /// What is wrong.
    pub kind: ProblemKind,
    /// `"dataset/stage"` of the run that produced it, when known.
    pub producer: Option<String>,
    /// Where the file was moved (under `root/corrupt/`), if it existed.
    pub moved_to: Option<PathBuf>,
}

/// What is wrong with an object.
#[derive(Clone, Debug, Serialize, PartialEq)]
#[serde(rename_all = "snake_case", tag = "problem")]
pub enum ProblemKind {
    /// The bytes hash to something other than the object's name (damaged or truncated).
    HashMismatch {
        /// What the bytes actually hash to.
        #[serde(serialize_with = "id_hex")]
        actual: ArtifactId,
        /// The file's size.
        size: u64,
        /// The size in the artifact record, if there is one.
        recorded_size: Option<u64>,
    },
    /// An artifact record exists but the object file does not.
    Missing,
    /// A file under `objects/` whose name is not an object id.
    Stray,
}

/// A run record deleted by [`crate::Store::verify`]; the next run re-executes it.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct InvalidatedRun {
    /// The run's cache key.
    #[serde(serialize_with = "key_hex")]
    pub key: StageKey,
    /// Its dataset.
    pub dataset: String,
    /// Its stage.
    pub stage: String,
    /// Why, e.g. `output model = 1a2b3c4d5e6f is damaged or missing`.
    pub reason: String,
}

/// The outcome of [`crate::Store::gc`] (counts of what was, or with `dry_run` would
/// be, deleted, and of what is kept).
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct GcReport {
    /// True when nothing was deleted.
    pub dry_run: bool,
    /// Object files deleted.
    pub objects_removed: u64,
    /// Their total size.
    pub bytes_removed: u64,
    /// Artifact records deleted.
    pub records_removed: u64,
    /// Leftover temp files deleted (debris of interrupted writes).
    pub temp_files_removed: u64,
    /// Their total size.
    pub temp_bytes_removed: u64,
    /// Quarantined files (moved aside by `verify`) deleted.
    pub quarantined_removed: u64,
    /// Their total size.
    pub quarantined_bytes_removed: u64,
    /// Object files kept because a run record needs them.
    pub objects_kept: u64,
    /// Their total size.
    pub bytes_kept: u64,
    /// The retention asked for (`gc --keep-last N`); `None` keeps every run.
    pub keep_last: Option<usize>,
    /// Pipeline runs kept (with `keep_last`).
    pub pipeline_runs_kept: u64,
    /// Pipeline runs deleted (with `keep_last`), oldest first.
    pub removed_pipeline_runs: Vec<RemovedPipelineRun>,
    /// Stage run records deleted (with `keep_last`).
    pub stage_runs_removed: u64,
    /// Memo records deleted with the runs they served.
    pub memo_records_removed: u64,
}

/// A pipeline run deleted by [`crate::Store::gc_with`].
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct RemovedPipelineRun {
    /// Its id.
    #[serde(serialize_with = "run_id_hex")]
    pub id: PipelineRunId,
    /// Its dataset.
    pub dataset: String,
    /// When it started, milliseconds since the Unix epoch.
    pub started_ms: u64,
}

impl RemovedPipelineRun {
    pub(crate) fn of(run: &PipelineRun) -> Self {
        RemovedPipelineRun {
            id: run.id,
            dataset: run.dataset.clone(),
            started_ms: run.started_ms,
        }
    }
}

fn id_hex<S: Serializer>(id: &ArtifactId, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&id.to_hex())
}

fn opt_id_hex<S: Serializer>(id: &Option<ArtifactId>, s: S) -> Result<S::Ok, S::Error> {
    match id {
        Some(id) => s.serialize_str(&id.to_hex()),
        None => s.serialize_none(),
    }
}

fn key_hex<S: Serializer>(key: &StageKey, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&key.to_hex())
}

fn run_id_hex<S: Serializer>(id: &PipelineRunId, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&id.to_hex())
}
