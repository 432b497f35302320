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
        let axes = alsflow_tune::grid::AXES;
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
    let mut warn = |r: Result<(), String>| {
        if let Err(w) = r {
            warnings.push(w);
        }
    };

    let mut params = None;
    let mut params_from = None;
    if let Some(rec) = records.get("train") {
        warn((|| {
            let chosen = match rec.inputs.get(tune::BEST_PARAMS.qualified) {
                Some(id) => {
                    let bytes = store
                        .read(id)
                        .map_err(|e| format!("cannot read {}: {e}", tune::BEST_PARAMS))?;
                    let best: AlsParams = codec::decode("best params", &bytes)
                        .map_err(|e| format!("{}: {e}", tune::BEST_PARAMS))?;
                    params_from = Some(tune::BEST_PARAMS.qualified.to_string());
                    serde_json::to_value(best).map_err(|e| e.to_string())?
                }
                None => {
                    params_from = Some("[train]".to_string());
                    serde_json::from_str(&rec.params_json)
                        .map_err(|e| format!("the train run's params: {e}"))?
                }
            };
            if let Value::Object(mut m) = chosen {
                // How the model was computed, not what it is.
                m.remove("threads");
                m.remove("compute_loss");
                params = Some(m);
            }
            Ok(())
        })());
    }

    let tune_params = run
        .stage("tune")
        .and_then(|s| params_object(&s.params_json));
    let mut tuned = Vec::new();
    if let Some(grid) = tune_params
        .as_ref()
        .and_then(|t| t.get("grid")?.as_object())
    {
        let axes = alsflow_tune::grid::AXES;
        tuned = grid.keys().cloned().collect();
        tuned.sort_by_key(|a| axes.iter().position(|x| x == a).unwrap_or(axes.len()));
    }
    let mut search = None;
    if let (Some(rec), Some(tp)) = (records.get("tune"), &tune_params) {
        warn((|| {
            let bytes = read_output(store, rec, tune::RESULTS.output)?;
            let rows = alsflow_formats::results::read_results(&bytes)
                .map_err(|e| format!("{}: {e}", tune::RESULTS))?;
            let points: BTreeSet<u32> = rows.iter().map(|r| r.point).collect();
            let folds: BTreeSet<u8> = rows.iter().map(|r| r.fold).collect();
            let metric = tp
                .get("metric")
                .and_then(Value::as_str)
                .unwrap_or("roem")
                .to_string();
            let direction = match tp.get("direction").and_then(Value::as_str) {
                Some(d) => d.to_string(),
                None if alsflow_metrics::Metrics::higher_is_better(&metric) => "maximize".into(),
                None => "minimize".into(),
            };
            search = Some(SearchSize {
                points: points.len(),
                folds: folds.len(),
                metric,
                direction,
            });
            Ok(())
        })());
    }

    let mut metrics = None;
    let mut k = None;
    if let Some(rec) = records.get(FINAL_STAGE) {
        k = params_object(&rec.params_json)
            .and_then(|p| p.get("k")?.as_u64())
            .map(|k| k as usize);
        warn((|| {
            let bytes = read_output(store, rec, evaluate::METRICS.output)?;
            match alsflow_formats::metrics::metrics_json(&bytes) {
                Ok(Value::Object(m)) => metrics = Some(m),
                Ok(_) => return Err(format!("{} is not a table of systems", evaluate::METRICS)),
                Err(e) => return Err(format!("{}: {e}", evaluate::METRICS)),
            }
            Ok(())
        })());
    }

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
            if line.to_ascii_lowercase().starts_with("warning") {
                summary.warnings.push(format!("{}: {line}", rec.stage));
            }
        }
    }
    summary
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
