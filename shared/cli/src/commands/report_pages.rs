//! What `alsflow report` writes: each dataset's stored report with its History section
//! added, and the index page summarising every dataset. The pages are rendered by the
//! evaluate crate from the run summaries the runner's `experiments` module gives.

use crate::commands::runs::{show_value, PARAM_COLUMNS};
use crate::common::write_file_atomically;
use alsflow_evaluate::history::{self, History, HistoryRun};
use alsflow_evaluate::index_page::{index_page, DatasetSummary};
use alsflow_runner::experiments::{self, format_utc, RunSummary};
use alsflow_store::{RunRecord, Store};
use anyhow::Context;
use std::path::{Path, PathBuf};

/// The systems of the metrics table, in row order.
const SYSTEMS: &[&str] = &["model", "popularity", "random"];

/// Write `<out>/<dataset>/index.html` (+ SVGs) for each dataset from its latest
/// evaluate run, then `<out>/index.html`; returns the pages written, index last.
pub fn write_reports(
    store: &Store,
    datasets: &[String],
    latest_evaluate: impl Fn(&str) -> anyhow::Result<RunRecord>,
    out: &Path,
) -> anyhow::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let mut written = Vec::new();
    let mut summaries = Vec::new();
    for d in datasets {
        let run = latest_evaluate(d)?;
        let report = run
            .outputs
            .get(alsflow_core::catalog::evaluate::REPORT.output)
            .with_context(|| format!("the evaluate run of '{d}' has no report output"))?;
        let bytes = store.read(report)?;
        let shown = experiments::latest_finished(store, d)?
            .map(|(run, recorded)| (experiments::summarize(store, &run), recorded));
        let history = history_of(store, d, shown.as_ref())?;
        let section = match &history {
            Some(h) => history::history_section(h)?,
            None => String::new(),
        };
        let page = alsflow_evaluate::write_report_dir_with(&bytes, &out.join(d), &section)?;
        written.push(page);
        summaries.push(dataset_summary(d, &run, shown.as_ref()));
    }
    let index = out.join("index.html");
    write_file_atomically(&index, index_page(&summaries).as_bytes())?;
    written.push(index);
    Ok(written)
}

/// The History of `dataset`: its finished runs, newest first (`None` if none was
/// recorded).
fn history_of(
    store: &Store,
    dataset: &str,
    shown: Option<&(RunSummary, bool)>,
) -> anyhow::Result<Option<History>> {
    let runs = experiments::list(store, Some(dataset), false)?;
    if runs.is_empty() {
        return Ok(None);
    }
    let current = shown
        .filter(|(_, recorded)| *recorded)
        .map(|(s, _)| s.run.id);
    let summaries: Vec<RunSummary> = runs
        .iter()
        .take(history::PLOTTED_RUNS)
        .map(|r| experiments::summarize(store, r))
        .collect();
    let newest = &summaries[0];
    let k = newest.k.unwrap_or(10);
    let selection_metric =
        shown.map_or_else(|| newest.selection_metric(), |(s, _)| s.selection_metric());
    let runs = summaries
        .iter()
        .map(|s| HistoryRun {
            id: s.run.id.short(),
            name: s.run.name.clone(),
            started: format_utc(s.run.started_ms),
            params: compact_params(s),
            metrics: model_metrics(s, "model"),
            current: Some(s.run.id) == current,
        })
        .collect();
    Ok(Some(History {
        runs,
        selection_metric,
        k,
    }))
}

/// `rank 8*, iter 8*, reg 0.05*, alpha 40, conf linear` (* = tuned).
fn compact_params(s: &RunSummary) -> String {
    let Some(params) = &s.params else {
        return "-".into();
    };
    PARAM_COLUMNS
        .iter()
        .filter_map(|(key, label)| {
            let v = params.get(*key)?;
            let tuned = if s.tuned.iter().any(|t| t == key) {
                "*"
            } else {
                ""
            };
            Some(format!("{label} {}{tuned}", show_value(v)))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The metrics of `system` in table order (`users_evaluated` is a count, left out).
fn model_metrics(s: &RunSummary, system: &str) -> Vec<(String, f64)> {
    let Some(m) = s
        .metrics
        .as_ref()
        .and_then(|m| m.get(system)?.as_object().cloned())
    else {
        return Vec::new();
    };
    let order = alsflow_metrics::metric_names(s.k.unwrap_or(10));
    let mut out: Vec<(String, f64)> = m
        .iter()
        .filter(|(name, _)| *name != "users_evaluated")
        .map(|(name, v)| (name.clone(), v.as_f64().unwrap_or(f64::NAN)))
        .collect();
    out.sort_by_key(|(name, _)| order.iter().position(|o| o == name).unwrap_or(order.len()));
    out
}

fn dataset_summary(
    dataset: &str,
    evaluate: &RunRecord,
    shown: Option<&(RunSummary, bool)>,
) -> DatasetSummary {
    let link = format!("{dataset}/index.html");
    let Some((s, recorded)) = shown else {
        return DatasetSummary {
            dataset: dataset.to_string(),
            link,
            ran: format!("evaluated {}", format_utc(evaluate.ended_ms)),
            systems: Vec::new(),
            params: Vec::new(),
            params_from: None,
            warnings: vec!["no summary of this run could be read".into()],
        };
    };
    let ran = if *recorded {
        let name = s
            .run
            .name
            .as_deref()
            .map(|n| format!(" \"{n}\""))
            .unwrap_or_default();
        format!(
            "ran {} (run {}{name}, {:.1} s)",
            format_utc(s.run.started_ms),
            s.run.id.short(),
            s.run.ended_ms.saturating_sub(s.run.started_ms) as f64 / 1000.0
        )
    } else {
        format!("evaluated {}", format_utc(s.run.ended_ms))
    };
    DatasetSummary {
        dataset: dataset.to_string(),
        link,
        ran,
        systems: SYSTEMS
            .iter()
            .map(|sys| (sys.to_string(), model_metrics(s, sys)))
            .filter(|(_, m)| !m.is_empty())
            .collect(),
        params: s
            .ordered_params()
            .into_iter()
            .map(|(k, v, tuned)| (k, show_value(&v), tuned))
            .collect(),
        params_from: s.params_from.clone(),
        warnings: s.warnings.clone(),
    }
}
