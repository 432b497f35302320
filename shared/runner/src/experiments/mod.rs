//! Experiments: every recorded pipeline run, listable and comparable.
//!
//! - [`summary`]: what one run came to — the final model's params (tuned ones
//!   included), its test metrics beside the baselines, the search's size, warnings —
//!   read from the stage runs it names (`alsflow runs`, the report's index and
//!   history).
//! - [`diff`]: what differs between two runs, stage by stage (params, input and
//!   output artifacts, code), then the metric deltas with their directions
//!   (`alsflow diff`).
//! - Here: listing runs newest first, and naming one by id, id prefix, run name, or
//!   `latest` / `previous` (the newest and second-newest run that reached evaluate).

pub mod diff;
pub mod summary;

use alsflow_store::{PipelineRun, Store, StoreError};
use std::collections::BTreeSet;

pub use diff::{diff, ArtifactChange, MetricDelta, ParamChange, RunDiff, StageDiff};
pub use summary::{summarize, RunSummary, SearchSize};

/// Words that name a run by position instead of by id or name.
pub const KEYWORDS: &[&str] = &["latest", "previous"];

/// The stage whose completion makes a run "finished" (it has test metrics).
pub const FINAL_STAGE: &str = "evaluate";

/// Why a run could not be found or compared.
#[derive(Debug, thiserror::Error)]
pub enum ExperimentError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// No run matches (`which` says what was asked).
    #[error("no recorded run {which}")]
    NotFound {
        /// What was asked, e.g. `"matches 'a1b2'"`.
        which: String,
    },
    /// An id prefix matches several runs.
    #[error("run id prefix '{prefix}' is ambiguous: {}", candidates.join(", "))]
    Ambiguous {
        /// The prefix given.
        prefix: String,
        /// Short ids of the matching runs.
        candidates: Vec<String>,
    },
    /// `latest` / `previous` without `--dataset` in a store with several datasets.
    #[error(
        "the store has runs of several datasets ({}): choose one with --dataset",
        datasets.join(", ")
    )]
    SeveralDatasets {
        /// The datasets with finished runs.
        datasets: Vec<String>,
    },
}

/// The pipeline runs of `dataset` (or all), newest first; only those that reached
/// evaluate unless `all`.
pub fn list(
    store: &Store,
    dataset: Option<&str>,
    all: bool,
) -> Result<Vec<PipelineRun>, StoreError> {
    let mut runs: Vec<PipelineRun> = store
        .pipeline_runs()?
        .into_iter()
        .filter(|r| dataset.is_none_or(|d| r.dataset == d))
        .filter(|r| all || r.completed(FINAL_STAGE))
        .collect();
    runs.reverse();
    Ok(runs)
}

/// The run `spec` names: `latest` or `previous` (among the finished runs of
/// `dataset`, which may be omitted when the store has one dataset), else a run name
/// (the newest run with that name), else an id or a unique id prefix (4+ hex digits).
pub fn resolve(
    store: &Store,
    spec: &str,
    dataset: Option<&str>,
) -> Result<PipelineRun, ExperimentError> {
    let wanted = spec.trim();
    if let Some(position) = KEYWORDS.iter().position(|k| *k == wanted) {
        let finished = list(store, dataset, false)?;
        let datasets: BTreeSet<&str> = finished.iter().map(|r| r.dataset.as_str()).collect();
        if dataset.is_none() && datasets.len() > 1 {
            return Err(ExperimentError::SeveralDatasets {
                datasets: datasets.into_iter().map(str::to_string).collect(),
            });
        }
        let of = dataset
            .map(|d| format!(" of dataset '{d}'"))
            .unwrap_or_default();
        let count = finished.len();
        return finished
            .into_iter()
            .nth(position)
            .ok_or_else(|| ExperimentError::NotFound {
                which: format!(
                    "is '{wanted}'{of}: {count} run{} reached evaluate",
                    if count == 1 { "" } else { "s" }
                ),
            });
    }
    let runs = list(store, dataset, true)?;
    if let Some(named) = runs.iter().find(|r| r.name.as_deref() == Some(wanted)) {
        return Ok(named.clone());
    }
    let hex = wanted.to_ascii_lowercase();
    if hex.len() < 4 || !alsflow_core::hex::is_hex(&hex) {
        return Err(ExperimentError::NotFound {
            which: format!(
                "is named '{wanted}' (give a run name, an id prefix of 4+ hex digits, \
                 latest or previous)"
            ),
        });
    }
    let found: Vec<&PipelineRun> = runs
        .iter()
        .filter(|r| r.id.to_hex().starts_with(&hex))
        .collect();
    match found.as_slice() {
        [] => Err(ExperimentError::NotFound {
            which: format!("has an id starting with '{wanted}'"),
        }),
        [one] => Ok((*one).clone()),
        many => Err(ExperimentError::Ambiguous {
            prefix: wanted.to_string(),
            candidates: many.iter().map(|r| r.id.short()).collect(),
        }),
    }
}

/// The run whose results `alsflow metrics` and `alsflow report` show for `dataset`:
/// the newest finished pipeline run whose evaluate stage run is the one the `latest`
/// pointer names. When no recorded run matches (a store written before pipeline runs
/// were recorded), one assembled from the `latest` pointers, with `false` beside it:
/// it has no id that `diff` would know. `None` when the dataset has no evaluate run.
pub fn latest_finished(
    store: &Store,
    dataset: &str,
) -> Result<Option<(PipelineRun, bool)>, StoreError> {
    let Some(evaluate_key) = store.latest(dataset, FINAL_STAGE)? else {
        return Ok(None);
    };
    let recorded = list(store, Some(dataset), false)?
        .into_iter()
        .find(|r| r.stage(FINAL_STAGE).and_then(|s| s.key) == Some(evaluate_key));
    if let Some(run) = recorded {
        return Ok(Some((run, true)));
    }
    let mut stages = Vec::new();
    let mut times = None;
    for stage in crate::registry::names() {
        let Some(key) = store.latest(dataset, stage)? else {
            continue;
        };
        let Some(rec) = store.run(&key)? else {
            continue;
        };
        if stage == FINAL_STAGE {
            times = Some((rec.started_ms, rec.ended_ms));
        }
        stages.push(alsflow_store::StageUse {
            stage: stage.to_string(),
            outcome: alsflow_store::StageOutcome::Cached,
            key: Some(key),
            params_json: rec.params_json,
            error: None,
        });
    }
    let Some((started_ms, ended_ms)) = times else {
        return Ok(None);
    };
    Ok(Some((
        PipelineRun {
            id: alsflow_store::PipelineRunId(evaluate_key.0),
            dataset: dataset.to_string(),
            name: None,
            started_ms,
            ended_ms,
            tool_version: crate::engine::TOOL_VERSION.to_string(),
            stages,
        },
        false,
    )))
}

/// `2025-05-01 12:34:56 UTC` for milliseconds since the Unix epoch.
pub fn format_utc(ms: u64) -> String {
    let (date, time) = civil(ms);
    format!("{date} {time} UTC")
}

/// `2025-05-01T12:34:56Z` (RFC 3339) for milliseconds since the Unix epoch.
pub fn format_rfc3339(ms: u64) -> String {
    let (date, time) = civil(ms);
    format!("{date}T{time}Z")
}

/// (`YYYY-MM-DD`, `hh:mm:ss`) in UTC.
fn civil(ms: u64) -> (String, String) {
    let secs = ms / 1000;
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Days since 1970-01-01 to a proleptic Gregorian date (Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (
        format!("{year:04}-{month:02}-{day:02}"),
        format!("{:02}:{:02}:{:02}", rem / 3600, rem % 3600 / 60, rem % 60),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    use alsflow_store::{Format, PipelineRunId, RunRecord, StageKey, StageOutcome, StageUse};
    use std::collections::BTreeMap;

    fn recorded(store: &Store, stage: &str, ended_ms: u64) -> RunRecord {
        let out = store
            .put(stage.as_bytes(), Format::Json, &format!("{stage}.out"))
            .unwrap();
        let rec = RunRecord {
            key: StageKey::of(stage.as_bytes()),
            stage: stage.into(),
            dataset: "d".into(),
            params_json: format!("{{\"of\":\"{stage}\"}}"),
            inputs: BTreeMap::new(),
            outputs: [("out".to_string(), out)].into(),
            code_fingerprint: "c".into(),
            started_ms: ended_ms - 1,
            ended_ms,
            tool_version: "0".into(),
            summary: vec![],
        };
        store.record_run(&rec).unwrap();
        store.set_latest("d", stage, &rec.key).unwrap();
        rec
    }

    #[test]
    fn the_latest_finished_run_is_the_recorded_one_else_assembled_from_latest_pointers() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), std::time::Duration::from_secs(5)).unwrap();
        assert!(latest_finished(&store, "d").unwrap().is_none());
        let train = recorded(&store, "train", 10);
        let evaluate = recorded(&store, FINAL_STAGE, 20);

        // A store written before pipeline runs were recorded.
        let (run, is_recorded) = latest_finished(&store, "d").unwrap().unwrap();
        assert!(!is_recorded);
        let stages: Vec<(&str, Option<StageKey>)> = run
            .stages
            .iter()
            .map(|s| (s.stage.as_str(), s.key))
            .collect();
        assert_eq!(
            stages,
            [
                ("train", Some(train.key)),
                (FINAL_STAGE, Some(evaluate.key))
            ]
        );
        assert_eq!((run.started_ms, run.ended_ms), (19, 20));
        assert_eq!(run.stages[1].params_json, evaluate.params_json);

        let use_of = |rec: &RunRecord| StageUse {
            stage: rec.stage.clone(),
            outcome: StageOutcome::Cached,
            key: Some(rec.key),
            params_json: rec.params_json.clone(),
            error: None,
        };
        let mine = PipelineRun {
            id: PipelineRunId::of(b"mine"),
            dataset: "d".into(),
            name: Some("first".into()),
            started_ms: 5,
            ended_ms: 21,
            tool_version: "0".into(),
            stages: vec![use_of(&train), use_of(&evaluate)],
        };
        store.record_pipeline_run(&mine).unwrap();
        assert_eq!(
            latest_finished(&store, "d").unwrap(),
            Some((mine.clone(), true))
        );
        // Named, prefixed and positional references find it; a second one is missing.
        assert_eq!(resolve(&store, "first", None).unwrap(), mine);
        assert_eq!(resolve(&store, &mine.id.to_hex()[..6], None).unwrap(), mine);
        assert_eq!(resolve(&store, "latest", Some("d")).unwrap(), mine);
        let e = resolve(&store, "previous", None).unwrap_err().to_string();
        assert!(e.contains("1 run reached evaluate"), "{e}");
        let e = resolve(&store, "ab", None).unwrap_err().to_string();
        assert!(e.contains("4+ hex digits"), "{e}");
    }

    #[test]
    fn utc_dates_match_known_instants() {
        assert_eq!(format_utc(0), "1970-01-01 00:00:00 UTC");
        // 2000-02-29 (a leap day of a century leap year) 12:00:01.
        assert_eq!(format_rfc3339(951_825_601_000), "2000-02-29T12:00:01Z");
        assert_eq!(format_rfc3339(1_735_689_599_999), "2024-12-31T23:59:59Z");
        assert_eq!(format_rfc3339(4_102_444_800_000), "2100-01-01T00:00:00Z");
    }
}
