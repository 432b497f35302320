//! What one pipeline run came to, read from the stage runs it names: the final
//! model's params (from `tune.best_params` when it tuned, else `[train]`), the test
//! metrics of the model and the baselines, the tune search's size and selection
//! metric, and warnings. Reading never fails as a whole: what cannot be read becomes
//! a warning, so one damaged run does not hide the others.

use super::{format_rfc3339, FINAL_STAGE};
use alsflow_als::AlsParams;
use alsflow_core::catalog::{evaluate, tune};
use alsflow_core::codec;
use alsflow_store::{PipelineRun, RunRecord, Store};
use serde::Serialize;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};

/// The size of a run's tune search.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SearchSize {
    /// Parameter points evaluated.
    pub points: usize,
    /// Cross-validation folds per point.
    pub folds: usize,
    /// The selection metric (`roem`, `precision@10`, …).
    pub metric: String,
    /// `minimize` or `maximize`.
    pub direction: String,
}

/// One pipeline run and what it came to.
#[derive(Clone, Debug)]
pub struct RunSummary {
    /// The record.
    pub run: PipelineRun,
    /// The final model's params (execution settings such as `threads` left out).
    pub params: Option<Map<String, Value>>,
    /// Where they came from: `tune.best_params` or `[train]`.
    pub params_from: Option<String>,
    /// The params the tune search varied (its grid axes), in grid order.
    pub tuned: Vec<String>,
    /// Test metrics per system (`model`, `popularity`, `random`), as in
    /// `alsflow metrics --json`.
    pub metrics: Option<Map<String, Value>>,
    /// The `@k` cut-off of the metrics.
    pub k: Option<usize>,
    /// The tune search, when the run tuned.
    pub search: Option<SearchSize>,
    /// What a reader should know: a model that does not beat the popularity
    /// baseline, stages' own warnings, records missing from the store.
    pub warnings: Vec<String>,
}

impl RunSummary {
    /// True when the run's evaluate stage completed.
    pub fn finished(&self) -> bool {
        self.run.completed(FINAL_STAGE)
    }

    /// `metric` of `system` (`model`, `popularity`, `random`).
    pub fn metric(&self, system: &str, metric: &str) -> Option<f64> {
        self.metrics.as_ref()?.get(system)?.get(metric)?.as_f64()
    }

    /// The final model's params in grid-axis order (`rank`, `max_iter`, `reg_param`,
    /// `alpha`, …), each with whether the tune search chose it.
    pub fn ordered_params(&self) -> Vec<(String, Value, bool)> {
        let Some(params) = &self.params else {
            return Vec::new();
        };
        let axes: Vec<&str> = alsflow_tune::grid::axis_names().collect();
        let mut out: Vec<(String, Value, bool)> = params
            .iter()
            .map(|(k, v)| (k.clone(), v.clone(), self.tuned.contains(k)))
            .collect();
        out.sort_by_key(|(k, _, _)| axes.iter().position(|a| a == k).unwrap_or(axes.len()));
        out
    }

    /// The metric the run's tune search selected by, else `roem`.
    pub fn selection_metric(&self) -> String {
        self.search
            .as_ref()
            .map_or_else(|| "roem".to_string(), |s| s.metric.clone())
    }

    /// `complete`, or where and why the run stopped.
    pub fn status(&self) -> String {
        match self.run.stages.iter().find(|s| !s.outcome.completed()) {
            None if self.finished() => "complete".into(),
            None => {
                let last = self.run.stages.last().map_or("", |s| s.stage.as_str());
                format!("stopped after {last} (not asked to go further)")
            }
            Some(s) => format!(
                "stopped at {} ({}{})",
                s.stage,
                s.outcome.as_str(),
                s.error
                    .as_deref()
                    .map(|e| format!(": {e}"))
                    .unwrap_or_default()
            ),
        }
    }

    /// The `alsflow runs --json` object of this run.
    pub fn to_json(&self) -> Value {
        let stages: Vec<Value> = self
            .run
            .stages
            .iter()
            .map(|s| {
                serde_json::json!({
                    "stage": s.stage,
                    "status": s.outcome.as_str(),
                    "key": s.key.map(|k| k.to_hex()),
                })
            })
            .collect();
        serde_json::json!({
            "id": self.run.id.to_hex(),
            "dataset": self.run.dataset,
            "name": self.run.name,
            "started": format_rfc3339(self.run.started_ms),
            "started_ms": self.run.started_ms,
            "ended_ms": self.run.ended_ms,
            "status": self.status(),
            "finished": self.finished(),
            "params": self.params,
            "params_from": self.params_from,
            "tuned": self.tuned,
            "metrics": self.metrics,
            "k": self.k,
            "search": self.search,
            "warnings": self.warnings,
            "stages": stages,
        })
    }
}

/// The stage runs a pipeline run names that are still recorded, by stage.
pub(super) fn stage_records(
    store: &Store,
    run: &PipelineRun,
    warnings: &mut Vec<String>,
) -> BTreeMap<String, RunRecord> {
    let mut out = BTreeMap::new();
    for s in &run.stages {
        let Some(key) = s.key else { continue };
        match store.run(&key) {
            Ok(Some(rec)) => {
                out.insert(s.stage.clone(), rec);
            }
            Ok(None) if s.outcome.completed() => warnings.push(format!(
                "the {} run {} is no longer in the store (removed by verify or gc)",
                s.stage,
                key.short()
            )),
            Ok(None) => {}
            Err(e) => warnings.push(format!("cannot read the {} run: {e}", s.stage)),
        }
    }
    out
}

/// Read output `name` of `rec`, as a warning on failure.
fn read_output(store: &Store, rec: &RunRecord, name: &str) -> Result<Vec<u8>, String> {
    let id = rec
        .outputs
        .get(name)
        .ok_or_else(|| format!("the {} run has no output '{name}'", rec.stage))?;
    store
        .read(id)
        .map_err(|e| format!("cannot read {}.{name}: {e}", rec.stage))
}

/// Parse a params JSON object; `None` when it is not one.
fn params_object(json: &str) -> Option<Map<String, Value>> {
    match serde_json::from_str(json) {
        Ok(Value::Object(m)) => Some(m),
        _ => None,
    }
}

/// Summarise `run` (see the module docs).
pub fn summarize(store: &Store, run: &PipelineRun) -> RunSummary {
    // A failed or skipped stage is the run's status (`RunSummary::status`), not a
    // warning.
    let mut warnings = Vec::new();
    let records = stage_records(store, run, &mut warnings);
    let (params, params_from) = match records.get("train") {
        Some(rec) => noted(final_params(store, rec), &mut warnings).unzip(),
        None => (None, None),
    };
    let tune_params = run
        .stage("tune")
        .and_then(|s| params_object(&s.params_json));
    let tuned = tune_params.as_ref().map(tuned_axes).unwrap_or_default();
    let search = match (records.get("tune"), &tune_params) {
        (Some(rec), Some(tp)) => noted(search_size(store, rec, tp), &mut warnings),
        _ => None,
    };
    let evaluated = records.get(FINAL_STAGE);
    let k = evaluated
        .and_then(|rec| params_object(&rec.params_json)?.get("k")?.as_u64())
        .map(|k| k as usize);
    let metrics = evaluated.and_then(|rec| noted(test_metrics(store, rec), &mut warnings));

    let mut summary = RunSummary {
        run: run.clone(),
        params,
        params_from,
        tuned,
        metrics,
        k,
        search,
        warnings,
    };
    baseline_warnings(&mut summary);
    for rec in records.values() {
        for line in &rec.summary {
            // "warning: …" lines (StageOutputs::warn): the stage names it here.
            let lower = line.to_ascii_lowercase();
            if lower.starts_with("warning") {
                let text = line
                    .strip_prefix(alsflow_core::stage::WARNING_PREFIX)
                    .unwrap_or(line);
                summary.warnings.push(format!("{}: {text}", rec.stage));
            }
        }
    }
    summary
}

/// The value, or `None` with the error noted among `warnings`.
fn noted<T>(result: Result<T, String>, warnings: &mut Vec<String>) -> Option<T> {
    result.map_err(|w| warnings.push(w)).ok()
}

/// The final model's params and where they came from: `tune.best_params` when the
/// train run read it, else the train run's own `[train]` params.
fn final_params(store: &Store, train: &RunRecord) -> Result<(Map<String, Value>, String), String> {
    let (chosen, from) = match train.inputs.get(tune::BEST_PARAMS.qualified) {
        Some(id) => {
            let bytes = store
                .read(id)
                .map_err(|e| format!("cannot read {}: {e}", tune::BEST_PARAMS))?;
            let best: AlsParams = codec::decode("best params", &bytes)
                .map_err(|e| format!("{}: {e}", tune::BEST_PARAMS))?;
            let value = serde_json::to_value(best).map_err(|e| e.to_string())?;
            (value, tune::BEST_PARAMS.qualified)
        }
        None => {
            let value = serde_json::from_str(&train.params_json)
                .map_err(|e| format!("the train run's params: {e}"))?;
            (value, "[train]")
        }
    };
    let Value::Object(mut params) = chosen else {
        return Err(format!("the params from {from} are not an object"));
    };
    // How the model was computed, not what it is.
    params.remove("threads");
    params.remove("compute_loss");
    Ok((params, from.to_string()))
}

/// The tune params' grid axes, in grid order.
fn tuned_axes(tune_params: &Map<String, Value>) -> Vec<String> {
    let Some(grid) = tune_params.get("grid").and_then(Value::as_object) else {
        return Vec::new();
    };
    let axes: Vec<&str> = alsflow_tune::grid::axis_names().collect();
    let mut tuned: Vec<String> = grid.keys().cloned().collect();
    tuned.sort_by_key(|a| axes.iter().position(|x| x == a).unwrap_or(axes.len()));
    tuned
}

/// The search's points and folds (from its results table) and selection metric.
fn search_size(
    store: &Store,
    tune_run: &RunRecord,
    tune_params: &Map<String, Value>,
) -> Result<SearchSize, String> {
    let bytes = read_output(store, tune_run, tune::RESULTS.output)?;
    let rows = alsflow_formats::results::read_results(&bytes)
        .map_err(|e| format!("{}: {e}", tune::RESULTS))?;
    let points: BTreeSet<u32> = rows.iter().map(|r| r.point).collect();
    let folds: BTreeSet<u8> = rows.iter().map(|r| r.fold).collect();
    let metric = tune_params
        .get("metric")
        .and_then(Value::as_str)
        .unwrap_or("roem")
        .to_string();
    let direction = match tune_params.get("direction").and_then(Value::as_str) {
        Some(d) => d.to_string(),
        None if alsflow_metrics::Metrics::higher_is_better(&metric) => "maximize".into(),
        None => "minimize".into(),
    };
    Ok(SearchSize {
        points: points.len(),
        folds: folds.len(),
        metric,
        direction,
    })
}

/// The evaluate run's metrics table as `{system: {metric: value}}`.
fn test_metrics(store: &Store, evaluate_run: &RunRecord) -> Result<Map<String, Value>, String> {
    let bytes = read_output(store, evaluate_run, evaluate::METRICS.output)?;
    match alsflow_formats::metrics::metrics_json(&bytes) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(format!("{} is not a table of systems", evaluate::METRICS)),
        Err(e) => Err(format!("{}: {e}", evaluate::METRICS)),
    }
}

/// Warn when the model does not beat the popularity baseline on ROEM or P@k.
fn baseline_warnings(s: &mut RunSummary) {
    let Some(k) = s.k else { return };
    for metric in ["roem".to_string(), format!("precision@{k}")] {
        let (Some(model), Some(popular)) =
            (s.metric("model", &metric), s.metric("popularity", &metric))
        else {
            continue;
        };
        let higher = alsflow_metrics::Metrics::higher_is_better(&metric);
        let beaten = if higher {
            model > popular
        } else {
            model < popular
        };
        if !beaten {
            s.warnings.push(format!(
                "the model does not beat the popularity baseline on {metric} \
                 ({model:.4} vs {popular:.4}, {} is better)",
                if higher { "higher" } else { "lower" }
            ));
        }
    }
}
