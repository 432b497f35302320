//! What `gc --keep-last N` keeps: a plan computed from the records alone, applied by
//! [`crate::Store::gc_with`].
//!
//! Kept, per dataset: every named pipeline run and the newest `N` others (by start
//! time). With a final stage (the runner's `evaluate`), only runs that completed it
//! count towards `N`, and a run that stopped before it is kept only while no finished
//! run of its dataset is newer (an attempt in progress, not an abandoned one). Then the stage runs those pipeline runs used, plus the runs the `latest`
//! pointers name (what `metrics`, `report` and `recommend` read, and the stages of a
//! run that was killed before it could record itself). Then, until nothing changes,
//! the producer of every produced input of a kept run that no kept run outputs, so
//! lineage stays complete down to the raw files. Everything else goes: the other
//! pipeline runs, their stage runs, and (in `gc`) the objects only those needed.
//!
//! An artifact that is kept but whose recorded producer goes (an older run produced
//! the same bytes) is re-pointed at the newest kept run that outputs it.

use crate::pipeline_runs::{PipelineRun, PipelineRunId};
use crate::records::{ArtifactRecord, RunRecord, StageKey};
use crate::ArtifactId;
use std::collections::{BTreeMap, BTreeSet};

/// The outcome of [`plan`].
#[derive(Debug, Default)]
pub(crate) struct RetentionPlan {
    /// Pipeline runs kept.
    pub(crate) kept_pipeline_runs: BTreeSet<PipelineRunId>,
    /// Pipeline runs to delete, oldest first.
    pub(crate) removed_pipeline_runs: Vec<PipelineRun>,
    /// Stage runs kept.
    pub(crate) kept_runs: BTreeSet<StageKey>,
    /// Stage runs to delete.
    pub(crate) removed_runs: BTreeSet<StageKey>,
    /// Kept artifacts whose producer must change: (artifact, new producer).
    pub(crate) producer_updates: Vec<(ArtifactId, Option<StageKey>)>,
}

/// What [`plan`] keeps.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Retention<'a> {
    /// Finished pipeline runs kept per dataset, besides the named ones.
    pub(crate) keep_last: usize,
    /// The stage a run must complete to count as finished; `None`: every run counts.
    pub(crate) final_stage: Option<&'a str>,
}

/// Plan `gc --keep-last` over the given records (see the module docs).
pub(crate) fn plan(
    retention: Retention<'_>,
    pipeline_runs: &[PipelineRun],
    runs: &[RunRecord],
    latest: &BTreeSet<StageKey>,
    artifacts: &[ArtifactRecord],
) -> RetentionPlan {
    let mut out = RetentionPlan::default();
    let mut by_dataset: BTreeMap<&str, Vec<&PipelineRun>> = BTreeMap::new();
    for p in pipeline_runs {
        by_dataset.entry(p.dataset.as_str()).or_default().push(p);
    }
    for list in by_dataset.values_mut() {
        // Newest first; the id breaks ties so the plan does not depend on input order.
        list.sort_by_key(|p| std::cmp::Reverse((p.started_ms, p.id)));
        let finished = |p: &PipelineRun| retention.final_stage.is_none_or(|s| p.completed(s));
        let mut newer_finished = 0;
        for p in list.iter() {
            let keep = if finished(p) {
                newer_finished += 1;
                newer_finished <= retention.keep_last
            } else {
                newer_finished == 0
            };
            if keep || p.name.is_some() {
                out.kept_pipeline_runs.insert(p.id);
            } else {
                out.removed_pipeline_runs.push((*p).clone());
            }
        }
    }
    out.removed_pipeline_runs
        .sort_by_key(|p| (p.started_ms, p.id));

    let by_key: BTreeMap<StageKey, &RunRecord> = runs.iter().map(|r| (r.key, r)).collect();
    let mut outputs_of: BTreeMap<ArtifactId, Vec<&RunRecord>> = BTreeMap::new();
    for r in runs {
        for id in r.outputs.values() {
            outputs_of.entry(*id).or_default().push(r);
        }
    }
    let producer: BTreeMap<ArtifactId, StageKey> = artifacts
        .iter()
        .filter_map(|a| a.producer.map(|k| (a.id, k)))
        .collect();

    let roots = pipeline_runs
        .iter()
        .filter(|p| out.kept_pipeline_runs.contains(&p.id))
        .flat_map(|p| p.stage_keys())
        .chain(latest.iter().copied());
    let mut work: Vec<StageKey> = Vec::new();
    for key in roots {
        if by_key.contains_key(&key) && out.kept_runs.insert(key) {
            work.push(key);
        }
    }
    while let Some(key) = work.pop() {
        for id in by_key[&key].inputs.values() {
            let candidates = outputs_of.get(id).map(Vec::as_slice).unwrap_or_default();
            if candidates.is_empty() || candidates.iter().any(|r| out.kept_runs.contains(&r.key)) {
                // A raw source, or already produced by a kept run.
                continue;
            }
            // The recorded producer if it still exists, else the newest run with it.
            let chosen = producer
                .get(id)
                .filter(|k| by_key.contains_key(k))
                .copied()
                .or_else(|| newest(candidates.iter().copied()));
            if let Some(k) = chosen {
                if out.kept_runs.insert(k) {
                    work.push(k);
                }
            }
        }
    }
    out.removed_runs = by_key
        .keys()
        .filter(|k| !out.kept_runs.contains(k))
        .copied()
        .collect();

    let needed: BTreeSet<ArtifactId> = out
        .kept_runs
        .iter()
        .flat_map(|k| by_key[k].inputs.values().chain(by_key[k].outputs.values()))
        .copied()
        .collect();
    for a in artifacts.iter().filter(|a| needed.contains(&a.id)) {
        let Some(old) = a.producer else { continue };
        if out.kept_runs.contains(&old) {
            continue;
        }
        let kept_producers = outputs_of
            .get(&a.id)
            .into_iter()
            .flatten()
            .filter(|r| out.kept_runs.contains(&r.key))
            .copied();
        out.producer_updates.push((a.id, newest(kept_producers)));
    }
    out
}

/// The key of the run that ended last (the key breaks ties).
fn newest<'a>(runs: impl Iterator<Item = &'a RunRecord>) -> Option<StageKey> {
    runs.max_by_key(|r| (r.ended_ms, r.key)).map(|r| r.key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline_runs::{StageOutcome, StageUse};
    use crate::Format;

    fn id(name: &str) -> ArtifactId {
        ArtifactId(*blake3::hash(name.as_bytes()).as_bytes())
    }

    fn run(stage: &str, salt: &str, ended: u64, inputs: &[&str], outputs: &[&str]) -> RunRecord {
        let map = |names: &[&str]| names.iter().map(|n| (n.to_string(), id(n))).collect();
        RunRecord {
            key: StageKey::of(format!("{stage}/{salt}").as_bytes()),
            stage: stage.into(),
            dataset: "d".into(),
            params_json: "{}".into(),
            inputs: map(inputs),
            outputs: map(outputs),
            code_fingerprint: "c".into(),
            started_ms: ended,
            ended_ms: ended,
            tool_version: "0".into(),
            summary: vec![],
        }
    }

    fn pipeline(
        dataset: &str,
        started: u64,
        name: Option<&str>,
        runs: &[&RunRecord],
    ) -> PipelineRun {
        PipelineRun {
            id: PipelineRunId::of(format!("{dataset}{started}").as_bytes()),
            dataset: dataset.into(),
            name: name.map(str::to_string),
            started_ms: started,
            ended_ms: started + 1,
            tool_version: "0".into(),
            stages: runs
                .iter()
                .map(|r| StageUse {
                    stage: r.stage.clone(),
                    outcome: StageOutcome::Ran,
                    key: Some(r.key),
                    params_json: "{}".into(),
                    error: None,
                })
                .collect(),
        }
    }

    fn artifacts(runs: &[&RunRecord]) -> Vec<ArtifactRecord> {
        let mut out: BTreeMap<ArtifactId, ArtifactRecord> = BTreeMap::new();
        for r in runs {
            for (name, i) in r.inputs.iter().chain(r.outputs.iter()) {
                let rec = out.entry(*i).or_insert(ArtifactRecord {
                    id: *i,
                    format: Format::Raw,
                    kind: name.clone(),
                    size: 1,
                    producer: None,
                    source: None,
                });
                if r.outputs.values().any(|o| o == i) {
                    rec.producer = Some(r.key);
                }
            }
        }
        out.into_values().collect()
    }

    #[test]
    fn keeps_named_and_newest_runs_with_their_upstream_and_drops_the_rest() {
        let pre = run("preprocess", "1", 1, &["raw"], &["inter"]);
        let old = run("train", "old", 2, &["inter"], &["model-old"]);
        let mid = run("train", "mid", 3, &["inter"], &["model-mid"]);
        let new = run("train", "new", 4, &["inter"], &["model-new"]);
        let all = [&pre, &old, &mid, &new];
        let p_old = pipeline("d", 10, Some("baseline"), &[&pre, &old]);
        let p_mid = pipeline("d", 20, None, &[&pre, &mid]);
        let p_new = pipeline("d", 30, None, &[&pre, &new]);
        let p_other = pipeline("e", 5, None, &[]);
        let plan = plan(
            Retention {
                keep_last: 1,
                final_stage: None,
            },
            &[p_mid.clone(), p_new.clone(), p_old.clone(), p_other.clone()],
            &all.map(|r| r.clone()),
            &BTreeSet::new(),
            &artifacts(&all),
        );
        let kept: BTreeSet<_> = [p_old.id, p_new.id, p_other.id].into();
        assert_eq!(plan.kept_pipeline_runs, kept);
        assert_eq!(plan.removed_pipeline_runs, vec![p_mid]);
        assert_eq!(plan.kept_runs, [pre.key, old.key, new.key].into());
        assert_eq!(plan.removed_runs, [mid.key].into());
        assert!(plan.producer_updates.is_empty());
    }

    #[test]
    fn with_a_final_stage_only_finished_runs_count_and_abandoned_attempts_go() {
        let r = run("evaluate", "1", 1, &["raw"], &["m"]);
        let with = |started: u64, outcome: StageOutcome| {
            let mut p = pipeline("d", started, None, &[&r]);
            p.stages[0].outcome = outcome;
            p
        };
        let (f1, u2, f3, u4) = (
            with(1, StageOutcome::Ran),
            with(2, StageOutcome::Failed),
            with(3, StageOutcome::Cached),
            with(4, StageOutcome::Skipped),
        );
        let plan = plan(
            Retention {
                keep_last: 1,
                final_stage: Some("evaluate"),
            },
            &[f1.clone(), u2.clone(), f3.clone(), u4.clone()],
            std::slice::from_ref(&r),
            &BTreeSet::new(),
            &artifacts(&[&r]),
        );
        // The newest finished run, and the attempt after it; not the failed one
        // between two finished runs.
        assert_eq!(plan.kept_pipeline_runs, [f3.id, u4.id].into());
        assert_eq!(plan.removed_pipeline_runs, vec![f1, u2]);
    }

    #[test]
    fn the_producer_of_a_kept_input_is_kept_and_latest_pointers_count() {
        // The kept pipeline run reused a split output whose producing run belongs to
        // a removed pipeline run only; a latest pointer names a run no pipeline names.
        let split = run("split", "1", 1, &["inter"], &["train-rows"]);
        let pre = run("preprocess", "1", 0, &["raw"], &["inter"]);
        let train = run("train", "1", 2, &["train-rows"], &["model"]);
        let stray = run("evaluate", "killed", 3, &["model"], &["metrics"]);
        let all = [&pre, &split, &train, &stray];
        let p_old = pipeline("d", 1, None, &[&pre, &split]);
        let p_new = pipeline("d", 2, None, &[&train]);
        let plan = plan(
            Retention {
                keep_last: 1,
                final_stage: None,
            },
            &[p_old, p_new],
            &all.map(|r| r.clone()),
            &[stray.key].into(),
            &artifacts(&all),
        );
        assert_eq!(
            plan.kept_runs,
            [pre.key, split.key, train.key, stray.key].into()
        );
        assert!(plan.removed_runs.is_empty());
    }

    #[test]
    fn a_kept_artifact_produced_by_a_removed_run_is_re_pointed() {
        // Two train runs produced the same model bytes (early cutoff); the artifact
        // names the older one, which goes.
        let older = run("train", "older", 1, &["rows"], &["model"]);
        let newer = run("train", "newer", 2, &["rows"], &["model"]);
        let mut arts = artifacts(&[&older, &newer]);
        for a in &mut arts {
            if a.id == id("model") {
                a.producer = Some(older.key);
            }
        }
        let plan = plan(
            Retention {
                keep_last: 1,
                final_stage: None,
            },
            &[
                pipeline("d", 1, None, &[&older]),
                pipeline("d", 2, None, &[&newer]),
            ],
            &[older.clone(), newer.clone()],
            &BTreeSet::new(),
            &arts,
        );
        assert_eq!(plan.removed_runs, [older.key].into());
        assert_eq!(plan.producer_updates, vec![(id("model"), Some(newer.key))]);
    }
}
