//! `alsflow run [STAGE ...]`: bring stages up to date.

use crate::common::{load_config, open_store};
use crate::Cli;
use alsflow_runner::build::build_dag;
use alsflow_runner::download::http::HttpOptions;
use alsflow_runner::download::{ensure_source, FetchContext};
use alsflow_runner::engine::{Engine, NodeReport, NodeStatus, RunOptions};
use alsflow_runner::registry;
use anyhow::bail;
use std::collections::BTreeSet;
use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

/// Arguments of `alsflow run`.
#[derive(clap::Args, Debug)]
pub struct RunArgs {
    /// Stages to run (preprocess, split, tune, train, evaluate); default: all.
    pub stages: Vec<String>,
    /// Only this dataset (repeatable).
    #[arg(long = "dataset", value_name = "NAME")]
    pub datasets: Vec<String>,
    /// Override a config value by its dotted path, e.g. train.alpha=60 or
    /// dataset.movielens.feedback=count (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Rerun the named stages (all, if none is named) even when cached; not their upstream.
    #[arg(long)]
    pub force: bool,
    /// One JSON object per stage per dataset on stdout.
    #[arg(long)]
    pub json: bool,
    /// A label kept on the run's record (`alsflow runs`, `alsflow diff NAME …`);
    /// never part of a cache key.
    #[arg(long, value_name = "NAME", value_parser = parse_run_name)]
    pub name: Option<String>,
}

/// `--name`: a short one-line label that cannot be mistaken for a keyword of `diff`.
fn parse_run_name(s: &str) -> Result<String, String> {
    let name = s.trim();
    if name.is_empty() {
        return Err("a run name cannot be empty".into());
    }
    if name.chars().count() > 80 {
        return Err(format!("'{name}' is longer than 80 characters"));
    }
    if name.chars().any(char::is_control) {
        return Err("a run name must be one line of printable text".into());
    }
    if alsflow_runner::experiments::KEYWORDS.contains(&name) {
        return Err(format!(
            "'{name}' is a keyword of `alsflow diff` (it names a run by position); choose another name"
        ));
    }
    Ok(name.to_string())
}

/// The `--json` line of one stage.
pub fn report_json(r: &NodeReport) -> serde_json::Value {
    let outputs: serde_json::Map<String, serde_json::Value> = r
        .outputs
        .iter()
        .map(|(k, v)| (k.clone(), v.to_hex().into()))
        .collect();
    let mut v = serde_json::json!({
        "stage": r.stage,
        "dataset": r.dataset,
        "status": r.status.as_str(),
        "seconds": (r.seconds * 1000.0).round() / 1000.0,
        "outputs": outputs,
    });
    if let NodeStatus::Failed(m) | NodeStatus::Skipped(m) = &r.status {
        v["error"] = m.clone().into();
    }
    v
}

/// Run the pipeline.
pub fn exec(cli: &Cli, args: &RunArgs) -> anyhow::Result<ExitCode> {
    let mut cfg = load_config(cli, &args.set)?;
    for s in &args.stages {
        if registry::find(s).is_none() {
            let all: Vec<&str> = registry::names().collect();
            bail!("unknown stage '{s}' (stages: {})", all.join(", "));
        }
    }
    if !args.datasets.is_empty() {
        for d in &args.datasets {
            cfg.dataset(d)?;
        }
        cfg.datasets.retain(|d| args.datasets.contains(&d.name));
    }
    // Missing data files are downloaded first (the sources learn the downloads' hashes,
    // which lineage records).
    let http = HttpOptions {
        progress: !args.json && std::io::stderr().is_terminal(),
        ..Default::default()
    };
    let (home, lock_file) = (cfg.data_home.clone(), cfg.lock_file.clone());
    for d in &mut cfg.datasets {
        let ctx = FetchContext {
            data_home: &home,
            lock_file: lock_file.as_deref(),
            dataset: &d.name,
            http: http.clone(),
        };
        for src in d.source.iter_mut().chain(d.test_source.iter_mut()) {
            ensure_source(src, &ctx)?;
        }
    }
    let dag = build_dag(&cfg)?;
    let store = open_store(cli)?;
    let mut targets = BTreeSet::new();
    for s in &args.stages {
        let mut found = false;
        for d in &cfg.datasets {
            if let Some(i) = dag.find(&d.name, s) {
                targets.insert(i);
                found = true;
            }
        }
        if !found {
            bail!(
                "stage '{s}' is not part of the pipeline (is [tune] enabled = true in {}?)",
                cfg.file.display()
            );
        }
    }
    let all: BTreeSet<usize> = (0..dag.nodes.len()).collect();
    let opts = RunOptions {
        force: if args.force {
            if args.stages.is_empty() {
                all
            } else {
                targets.clone()
            }
        } else {
            BTreeSet::new()
        },
        targets: if args.stages.is_empty() {
            None
        } else {
            Some(targets)
        },
        progress: !args.json && std::io::stderr().is_terminal(),
        name: args.name.clone(),
    };
    let mut engine = Engine::new(store, dag)?;
    let json = args.json;
    let out = Arc::new(Mutex::new(std::io::stdout()));
    let reports = engine.run(
        &opts,
        Arc::new(move |r: &NodeReport| {
            if json {
                if let Ok(mut o) = out.lock() {
                    let _ = writeln!(o, "{}", report_json(r));
                    let _ = o.flush();
                }
            }
        }),
    );
    let mut unrecorded: Vec<String> = Vec::new();
    for recorded in engine.take_recorded() {
        match recorded.result {
            Ok(run) => tracing::info!(
                "{}: recorded as run {}{}",
                recorded.dataset,
                run.id.short(),
                run.name
                    .as_deref()
                    .map(|n| format!(" ({n})"))
                    .unwrap_or_default()
            ),
            Err(e) => unrecorded.push(format!(
                "{}: cannot record the pipeline run: {e}",
                recorded.dataset
            )),
        }
    }
    let failed: Vec<String> = reports
        .iter()
        .filter_map(|r| match &r.status {
            NodeStatus::Failed(m) => Some(format!("{}/{}: {m}", r.dataset, r.stage)),
            _ => None,
        })
        .collect();
    let mut problems = Vec::new();
    if !failed.is_empty() {
        problems.push(format!(
            "{} stage(s) failed: {}",
            failed.len(),
            failed.join("; ")
        ));
    }
    problems.extend(unrecorded);
    if !problems.is_empty() {
        bail!("{}", problems.join("; "));
    }
    if !json {
        let ran = reports
            .iter()
            .filter(|r| r.status == NodeStatus::Ran)
            .count();
        let cached = reports
            .iter()
            .filter(|r| r.status == NodeStatus::Cached)
            .count();
        tracing::info!("done: {ran} ran, {cached} cached");
    }
    Ok(ExitCode::SUCCESS)
}
