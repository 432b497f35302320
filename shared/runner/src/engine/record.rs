//! The pipeline-run record of one branch: after a dataset's selected stages finish
//! (ran, cached, failed or skipped), one [`PipelineRun`] names the stage run each used,
//! with the params the config gave it, so the invocation stays listable and
//! comparable (`alsflow runs`, `alsflow diff`) after the `latest` pointers move on.

use super::dag::Dag;
use super::{now_ms, NodeReport, NodeStatus, TOOL_VERSION};
use alsflow_store::{PipelineRun, PipelineRunId, StageOutcome, StageUse, Store, StoreError};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU64, Ordering};

/// The outcome of recording one dataset's pipeline run.
#[derive(Debug)]
pub struct RecordedRun {
    /// The dataset.
    pub dataset: String,
    /// The record as stored, or why it could not be stored.
    pub result: Result<PipelineRun, StoreError>,
}

/// The memo scope of a stage's runs: its name, code fingerprint and dataset. Memo
/// records survive param and input changes (a grid with one more value reuses the
/// others) but not a code change; `gc --keep-last` deletes a scope when only deleted
/// runs had it.
pub fn memo_scope(stage: &str, fingerprint: &str, dataset: &str) -> String {
    format!("{stage}:{fingerprint}:{dataset}")
}

/// A fresh pipeline run id: unique per process, dataset and start time.
fn new_id(dataset: &str, started_ms: u64) -> PipelineRunId {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let preimage = format!(
        "alsflow-pipeline-run-v1\0{dataset}\0{started_ms}\0{nanos}\0{}\0{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    );
    PipelineRunId::of(preimage.as_bytes())
}

/// The pipeline run of dataset `ds`: its selected nodes in DAG order with their last
/// report (a producer rerun to repair an input reports twice). `None` when the run
/// selected none of its stages.
pub(super) fn pipeline_run(
    dag: &Dag,
    ds: &str,
    selected: &BTreeSet<usize>,
    reports: &[(usize, NodeReport)],
    started_ms: u64,
    name: Option<&str>,
) -> Option<PipelineRun> {
    let mut last: BTreeMap<usize, &NodeReport> = BTreeMap::new();
    for (i, r) in reports {
        last.insert(*i, r);
    }
    let mut stages = Vec::new();
    for (i, n) in dag.nodes.iter().enumerate() {
        if n.dataset != ds || !selected.contains(&i) {
            continue;
        }
        let (outcome, error, key) = match last.get(&i) {
            Some(r) => {
                let (outcome, error) = match &r.status {
                    NodeStatus::Ran => (StageOutcome::Ran, None),
                    NodeStatus::Cached => (StageOutcome::Cached, None),
                    NodeStatus::Failed(m) => (StageOutcome::Failed, Some(m.clone())),
                    NodeStatus::Skipped(m) => (StageOutcome::Skipped, Some(m.clone())),
                };
                (outcome, error, r.key)
            }
            None => (
                StageOutcome::Skipped,
                Some("the branch did not reach it".to_string()),
                None,
            ),
        };
        stages.push(StageUse {
            stage: n.stage.clone(),
            outcome,
            key,
            params_json: n.params_json.clone(),
            error,
        });
    }
    if stages.is_empty() {
        return None;
    }
    Some(PipelineRun {
        id: new_id(ds, started_ms),
        dataset: ds.to_string(),
        name: name.map(str::to_string),
        started_ms,
        ended_ms: now_ms(),
        tool_version: TOOL_VERSION.to_string(),
        stages,
    })
}

/// Record `run` in `store` (published by the engine once every branch is done),
/// logging the outcome.
pub(super) fn record(store: &Store, run: PipelineRun) -> RecordedRun {
    let dataset = run.dataset.clone();
    let result = store.record_pipeline_run(&run).map(|()| run);
    match &result {
        Ok(run) => tracing::debug!("{dataset}: recorded pipeline run {}", run.id.short()),
        Err(e) => tracing::error!("{dataset}: cannot record the pipeline run: {e}"),
    }
    RecordedRun { dataset, result }
}
