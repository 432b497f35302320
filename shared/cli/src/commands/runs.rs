//! `alsflow runs`: every recorded pipeline run, newest first, with its final model's
//! params, test metrics and search size.

use crate::common::open_store_read_only;
use crate::Cli;
use alsflow_runner::experiments::{self, format_utc, RunSummary};
use serde_json::Value;
use std::process::ExitCode;

/// Arguments of `alsflow runs`.
#[derive(clap::Args, Debug)]
pub struct RunsArgs {
    /// Only this dataset.
    #[arg(long, value_name = "NAME")]
    pub dataset: Option<String>,
    /// Also the runs that stopped before evaluate (failed, or asked for fewer stages).
    #[arg(long)]
    pub all: bool,
    /// A JSON array of runs on stdout (newest first).
    #[arg(long)]
    pub json: bool,
}

/// The model params shown as columns, with their headers.
pub const PARAM_COLUMNS: &[(&str, &str)] = &[
    ("rank", "rank"),
    ("max_iter", "iter"),
    ("reg_param", "reg"),
    ("alpha", "alpha"),
    ("confidence", "conf"),
];

/// List the runs.
pub fn exec(cli: &Cli, args: &RunsArgs) -> anyhow::Result<ExitCode> {
    let store = open_store_read_only(cli)?;
    let runs = experiments::list(&store, args.dataset.as_deref(), args.all)?;
    let summaries: Vec<RunSummary> = runs
        .iter()
        .map(|r| experiments::summarize(&store, r))
        .collect();
    if args.json {
        let all: Vec<Value> = summaries.iter().map(RunSummary::to_json).collect();
        println!("{}", serde_json::to_string_pretty(&all)?);
        return Ok(ExitCode::SUCCESS);
    }
    if summaries.is_empty() {
        let which = args
            .dataset
            .as_deref()
            .map(|d| format!(" of dataset '{d}'"))
            .unwrap_or_default();
        let finished = if args.all {
            ""
        } else {
            " that reached evaluate"
        };
        eprintln!(
            "no runs{which}{finished} in the store at {} (`alsflow run` records one per dataset{})",
            store.root().display(),
            if args.all {
                ""
            } else {
                "; --all lists unfinished runs"
            }
        );
        return Ok(ExitCode::SUCCESS);
    }
    print!("{}", table(&summaries));
    Ok(ExitCode::SUCCESS)
}

/// The text table, then one line per warning.
fn table(summaries: &[RunSummary]) -> String {
    let k = summaries.iter().find_map(|s| s.k).unwrap_or(10);
    let metric_cols = [
        "roem".to_string(),
        format!("precision@{k}"),
        format!("ndcg@{k}"),
        "auc".to_string(),
    ];
    let mut header: Vec<String> = ["id", "started (UTC)", "dataset", "name"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    header.extend(PARAM_COLUMNS.iter().map(|(_, h)| h.to_string()));
    header.push("search".into());
    header.extend(metric_cols.iter().map(|m| m.replace("precision", "p")));
    let mut rows: Vec<Vec<String>> = vec![header];
    for s in summaries {
        let mut row = vec![
            s.run.id.short(),
            format_utc(s.run.started_ms)
                .trim_end_matches(" UTC")
                .to_string(),
            s.run.dataset.clone(),
            s.run.name.clone().unwrap_or_else(|| "-".into()),
        ];
        for (key, _) in PARAM_COLUMNS {
            let value = s
                .params
                .as_ref()
                .and_then(|p| p.get(*key))
                .map_or_else(|| "-".to_string(), show_value);
            let tuned = if s.tuned.iter().any(|t| t == key) {
                "*"
            } else {
                ""
            };
            row.push(format!("{value}{tuned}"));
        }
        row.push(
            s.search
                .as_ref()
                .map_or_else(|| "-".into(), |x| format!("{}x{}", x.points, x.folds)),
        );
        for m in &metric_cols {
            row.push(
                s.metric("model", m)
                    .map_or_else(|| "-".into(), |v| format!("{v:.4}")),
            );
        }
        rows.push(row);
    }
    let widths: Vec<usize> = (0..rows[0].len())
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in &rows {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(c, (cell, w))| {
                // Text columns left, numbers right.
                if c < 4 {
                    format!("{cell:<w$}")
                } else {
                    format!("{cell:>w$}")
                }
            })
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out.push_str("(* = chosen by the tune search; metrics of the model on the test split)\n");
    for s in summaries {
        let status = s.status();
        if status != "complete" {
            out.push_str(&format!("{}: {status}\n", s.run.id.short()));
        }
        for w in &s.warnings {
            out.push_str(&format!("{}: warning: {w}\n", s.run.id.short()));
        }
    }
    out
}

/// A param value as a config file would write it (`40` for 40.0, strings bare).
pub fn show_value(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => match n.as_f64() {
            Some(f) if n.is_f64() && f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", f as i64),
            Some(f) if n.is_f64() => format!("{}", f as f32),
            _ => n.to_string(),
        },
        other => other.to_string(),
    }
}
