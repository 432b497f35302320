//! Pipeline runs: one record per `alsflow run` invocation and dataset, naming the stage
//! runs it used (ran or cached) with their params, so every experiment stays listable
//! and comparable after the `latest` pointers have moved on.
//!
//! A pipeline run names stage runs by key; it does not own them. Several pipeline runs
//! share the stage runs they have in common (a rerun that changed only `train.alpha`
//! names the same preprocess and split runs as the one before). `gc` keeps the stage
//! runs of the pipeline runs it keeps (see `retention`); `verify` may still delete a
//! stage run a pipeline run names (its object was damaged), so readers treat a key
//! without a run record as "no longer in the store".

use crate::records::StageKey;
use crate::{Store, StoreError};
use alsflow_core::hex;
use serde::{Deserialize, Serialize};
use std::fmt;

/// The id of a pipeline run: blake3 of what made it unique (dataset, start time,
/// process), chosen by the runner.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, Debug)]
pub struct PipelineRunId(pub [u8; 32]);

impl PipelineRunId {
    /// blake3 of `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        PipelineRunId(*blake3::hash(bytes).as_bytes())
    }

    /// The full 64-digit lowercase hex form.
    pub fn to_hex(&self) -> String {
        hex::encode(&self.0)
    }

    /// Parse the full 64-digit hex form; `None` if malformed.
    pub fn from_hex(s: &str) -> Option<Self> {
        hex::decode32(s).map(PipelineRunId)
    }

    /// The first 12 hex digits, for display.
    pub fn short(&self) -> String {
        self.to_hex()[..12].to_string()
    }
}

impl fmt::Display for PipelineRunId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

/// What happened to one stage in a pipeline run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum StageOutcome {
    /// The stage body executed and its run was recorded.
    Ran,
    /// A recorded run with present outputs was reused.
    Cached,
    /// The stage failed; nothing was recorded for it.
    Failed,
    /// The stage did not run because something it needs failed.
    Skipped,
}

impl StageOutcome {
    /// `ran`, `cached`, `failed` or `skipped`.
    pub fn as_str(&self) -> &'static str {
        match self {
            StageOutcome::Ran => "ran",
            StageOutcome::Cached => "cached",
            StageOutcome::Failed => "failed",
            StageOutcome::Skipped => "skipped",
        }
    }

    /// True for `ran` and `cached`: the stage's run record holds its outputs.
    pub fn completed(&self) -> bool {
        matches!(self, StageOutcome::Ran | StageOutcome::Cached)
    }
}

/// One stage of a pipeline run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StageUse {
    /// Stage name.
    pub stage: String,
    /// What happened to it.
    pub outcome: StageOutcome,
    /// The stage run it used (its run record's key); `None` when its inputs never
    /// became known (an upstream stage failed).
    pub key: Option<StageKey>,
    /// The canonical params JSON the config gave the stage (also in the run record,
    /// kept here for stages that failed before recording one).
    pub params_json: String,
    /// Why it failed or was skipped.
    pub error: Option<String>,
}

/// One `alsflow run` invocation on one dataset.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PipelineRun {
    /// Its id.
    pub id: PipelineRunId,
    /// The dataset (DAG branch).
    pub dataset: String,
    /// The human label given with `alsflow run --name` (never part of a cache key).
    pub name: Option<String>,
    /// When the invocation started, milliseconds since the Unix epoch.
    pub started_ms: u64,
    /// When this dataset's branch finished, milliseconds since the Unix epoch.
    pub ended_ms: u64,
    /// `alsflow` version that ran it.
    pub tool_version: String,
    /// The stages it brought up to date, in pipeline order.
    pub stages: Vec<StageUse>,
}

impl PipelineRun {
    /// The use of `stage`, if the run included it.
    pub fn stage(&self, stage: &str) -> Option<&StageUse> {
        self.stages.iter().find(|s| s.stage == stage)
    }

    /// The keys of the stage runs it used.
    pub fn stage_keys(&self) -> impl Iterator<Item = StageKey> + '_ {
        self.stages.iter().filter_map(|s| s.key)
    }

    /// True when `stage` is part of the run and completed (ran or cached).
    pub fn completed(&self, stage: &str) -> bool {
        self.stage(stage).is_some_and(|s| s.outcome.completed())
    }
}

impl Store {
    /// Record a pipeline run (replacing a record with the same id). Like [`Store::put`]
    /// it neither flushes nor publishes: readers see it with the next publication,
    /// which [`Store::publish`] forces (a run records one per dataset, then publishes
    /// once). The stage keys it names are not checked: a failed stage has none and a
    /// skipped one may name a key that was never recorded.
    pub fn record_pipeline_run(&self, run: &PipelineRun) -> Result<(), StoreError> {
        let w = self.writer("record a pipeline run")?;
        let _shared = w.shared();
        w.db.put_encoded(&w.db.pipeline_runs, "pipeline run", &run.id.0, run)
    }

    /// Make every record written so far durable and publish the read view if any
    /// record it holds changed since the last publication.
    pub fn publish(&self) -> Result<(), StoreError> {
        let w = self.writer("publish the read view")?;
        let _shared = w.shared();
        w.db.flush()?;
        w.publish_view()
    }

    /// The pipeline run with `id`, if any.
    pub fn pipeline_run(&self, id: &PipelineRunId) -> Result<Option<PipelineRun>, StoreError> {
        self.with_records(|r| r.pipeline_run(id))
    }

    /// Every pipeline run, oldest first (by start time, then dataset, then id).
    pub fn pipeline_runs(&self) -> Result<Vec<PipelineRun>, StoreError> {
        let mut runs = self.with_records(|r| r.pipeline_runs())?;
        runs.sort_by(|a, b| {
            (a.started_ms, &a.dataset, a.id).cmp(&(b.started_ms, &b.dataset, b.id))
        });
        Ok(runs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pipeline_run_id_hex_round_trips() {
        let id = PipelineRunId::of(b"synthetic 1700000000000");
        assert_eq!(PipelineRunId::from_hex(&id.to_hex()), Some(id));
        assert_eq!(id.short(), id.to_hex()[..12]);
        assert_eq!(PipelineRunId::from_hex("12ab"), None);
    }

    #[test]
    fn completed_means_ran_or_cached() {
        let with = |outcome| PipelineRun {
            id: PipelineRunId::of(b"x"),
            dataset: "d".into(),
            name: None,
            started_ms: 1,
            ended_ms: 2,
            tool_version: "0".into(),
            stages: vec![StageUse {
                stage: "evaluate".into(),
                outcome,
                key: None,
                params_json: "{}".into(),
                error: None,
            }],
        };
        assert!(with(StageOutcome::Ran).completed("evaluate"));
        assert!(with(StageOutcome::Cached).completed("evaluate"));
        assert!(!with(StageOutcome::Failed).completed("evaluate"));
        assert!(!with(StageOutcome::Skipped).completed("evaluate"));
        assert!(!with(StageOutcome::Ran).completed("train"));
    }
}
