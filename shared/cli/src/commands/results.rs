//! The commands that show results of the latest run: `metrics`, `report`,
//! `recommend`, `similar`. They read the latest run record of each dataset's
//! stage (the runner updates it on every run, cached or not) and call the
//! evaluate crate's library functions.

use crate::common::open_store_read_only;
use crate::Cli;
use alsflow_als::AlsModel;
use alsflow_core::table::{IdMap, Interactions};
use alsflow_core::ArtifactId;
use alsflow_store::{RunRecord, Store};
use anyhow::{anyhow, bail, Context};
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::ExitCode;

/// Datasets that have a recorded run of `stage`, sorted.
fn datasets_with(store: &Store, stage: &str) -> anyhow::Result<Vec<String>> {
    let mut names = BTreeSet::new();
    for run in store.runs()? {
        if run.stage == stage && store.latest(&run.dataset, stage)?.is_some() {
            names.insert(run.dataset);
        }
    }
    Ok(names.into_iter().collect())
}

/// `--dataset` if given, else every dataset with a `stage` run (an error if none).
fn chosen_or_all(store: &Store, stage: &str, arg: Option<&str>) -> anyhow::Result<Vec<String>> {
    if let Some(d) = arg {
        return Ok(vec![d.to_string()]);
    }
    let all = datasets_with(store, stage)?;
    if all.is_empty() {
        bail!(
            "no {stage} run in the store at {}: run `alsflow run` first",
            store.root().display()
        );
    }
    Ok(all)
}

/// The dataset to show: `--dataset`, else the only one with a `stage` run.
fn pick_dataset(store: &Store, stage: &str, arg: Option<&str>) -> anyhow::Result<String> {
    if let Some(d) = arg {
        return Ok(d.to_string());
    }
    let all = datasets_with(store, stage)?;
    match all.len() {
        0 => bail!(
            "no {stage} run in the store at {}: run `alsflow run` first",
            store.root().display()
        ),
        1 => Ok(all[0].clone()),
        _ => bail!(
            "the store has several datasets ({}): choose one with --dataset",
            all.join(", ")
        ),
    }
}

/// The latest run record of (dataset, stage).
fn latest_run(store: &Store, dataset: &str, stage: &str) -> anyhow::Result<RunRecord> {
    let key = store.latest(dataset, stage)?.ok_or_else(|| {
        anyhow!(
            "no {stage} run for dataset '{dataset}' in the store at {}: run `alsflow run` first",
            store.root().display()
        )
    })?;
    store.run(&key)?.ok_or_else(|| {
        anyhow!(
            "the latest {stage} run of '{dataset}' ({}) has no record; run `alsflow run`",
            key.short()
        )
    })
}

fn named(run: &RunRecord, map_name: &str, name: &str) -> anyhow::Result<ArtifactId> {
    let map = if map_name == "output" {
        &run.outputs
    } else {
        &run.inputs
    };
    map.get(name).copied().ok_or_else(|| {
        anyhow!(
            "the {} run of '{}' has no {map_name} '{name}'",
            run.stage,
            run.dataset
        )
    })
}

/// What `recommend` and `similar` need: the model and its tables.
struct Trained {
    model: AlsModel,
    train: Interactions,
    users: IdMap,
    items: IdMap,
}

fn load_trained(store: &Store, dataset: &str) -> anyhow::Result<Trained> {
    let run = latest_run(store, dataset, "train")?;
    let model = AlsModel::from_bytes(&store.read(&named(&run, "output", "model")?)?)?;
    let train = Interactions::from_parquet(&store.read(&named(&run, "input", "split.train")?)?)?;
    let users = IdMap::from_parquet(&store.read(&named(&run, "input", "preprocess.users")?)?)?;
    let items = IdMap::from_parquet(&store.read(&named(&run, "input", "preprocess.items")?)?)?;
    Ok(Trained {
        model,
        train,
        users,
        items,
    })
}

/// Arguments of `alsflow metrics`.
#[derive(clap::Args, Debug)]
pub struct MetricsArgs {
    /// Only this dataset.
    #[arg(long)]
    pub dataset: Option<String>,
    /// Print `{"<dataset>": {"model": {...}, "popularity": {...}, "random": {...},
    /// "warnings": [...]}}`.
    #[arg(long)]
    pub json: bool,
}

/// The warnings of the search that chose the evaluated model: those of the
/// `tune.search` the latest evaluate run read (none when tune is off).
fn evaluate_warnings(store: &Store, run: &RunRecord) -> anyhow::Result<Vec<String>> {
    let search = alsflow_core::catalog::tune::SEARCH;
    let Some(id) = run.inputs.get(search.qualified) else {
        return Ok(Vec::new());
    };
    let bytes = store.read(id)?;
    alsflow_formats::search::warnings(&bytes)
        .with_context(|| format!("the {} read by {}", search, run.label()))
}

/// Print the latest test metrics of every dataset (or one).
pub fn metrics(cli: &Cli, args: &MetricsArgs) -> anyhow::Result<ExitCode> {
    let store = open_store_read_only(cli)?;
    let datasets = chosen_or_all(&store, "evaluate", args.dataset.as_deref())?;
    let mut all = serde_json::Map::new();
    for d in &datasets {
        let run = latest_run(&store, d, "evaluate")?;
        let bytes = store.read(&named(&run, "output", "metrics")?)?;
        let mut entry = alsflow_formats::metrics::metrics_json(&bytes)?;
        let warnings = evaluate_warnings(&store, &run)?;
        if let Some(map) = entry.as_object_mut() {
            map.insert("warnings".into(), serde_json::Value::from(warnings));
        }
        all.insert(d.clone(), entry);
    }
    if args.json {
        println!("{}", serde_json::Value::Object(all));
        return Ok(ExitCode::SUCCESS);
    }
    for (d, systems) in &all {
        println!("{d}");
        let Some(entry) = systems.as_object() else {
            continue;
        };
        let warnings: Vec<&str> = entry
            .get("warnings")
            .and_then(|w| w.as_array())
            .map(|w| w.iter().filter_map(|x| x.as_str()).collect())
            .unwrap_or_default();
        let systems: serde_json::Map<String, serde_json::Value> = entry
            .iter()
            .filter(|(k, _)| *k != "warnings")
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let mut columns: Vec<String> = Vec::new();
        for m in systems.values().filter_map(|v| v.as_object()) {
            for k in m.keys() {
                if !columns.contains(k) {
                    columns.push(k.clone());
                }
            }
        }
        print!("  {:<12}", "system");
        for c in &columns {
            print!(" {c:>15}");
        }
        println!();
        for (system, m) in &systems {
            print!("  {system:<12}");
            for c in &columns {
                match m.get(c) {
                    Some(serde_json::Value::Number(n)) if n.is_f64() => {
                        print!(" {:>15.4}", n.as_f64().unwrap_or(f64::NAN))
                    }
                    Some(v) if !v.is_null() => print!(" {:>15}", v.to_string()),
                    _ => print!(" {:>15}", "-"),
                }
            }
            println!();
        }
        for w in warnings {
            println!("  warning: {w}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Arguments of `alsflow report`.
#[derive(clap::Args, Debug)]
pub struct ReportArgs {
    /// Output folder: `<DIR>/<dataset>/index.html` (+ SVGs) per dataset and `<DIR>/index.html`.
    #[arg(long, value_name = "DIR", default_value = "report")]
    pub out: PathBuf,
    /// Only this dataset.
    #[arg(long)]
    pub dataset: Option<String>,
}

/// Write the latest HTML report of every dataset (or one) into a folder, each with
/// its History section, and the index page summarising them.
pub fn report(cli: &Cli, args: &ReportArgs) -> anyhow::Result<ExitCode> {
    let store = open_store_read_only(cli)?;
    let datasets = chosen_or_all(&store, "evaluate", args.dataset.as_deref())?;
    let latest = |d: &str| latest_run(&store, d, "evaluate");
    for page in super::report_pages::write_reports(&store, &datasets, latest, &args.out)? {
        eprintln!("wrote {}", page.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// What `recommend` and `similar` share: list length, dataset and output format.
#[derive(clap::Args, Debug)]
pub struct ViewArgs {
    /// Length of the list.
    #[arg(short = 'n', long, default_value_t = 10)]
    pub n: usize,
    /// The dataset (needed when the store has several).
    #[arg(long)]
    pub dataset: Option<String>,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

impl ViewArgs {
    /// Print `value` as one JSON line or as text.
    fn print<T: serde::Serialize + std::fmt::Display>(&self, value: &T) -> anyhow::Result<()> {
        if self.json {
            println!("{}", serde_json::to_string(value)?);
        } else {
            print!("{value}");
        }
        Ok(())
    }
}

/// Arguments of `alsflow recommend`.
#[derive(clap::Args, Debug)]
pub struct RecommendArgs {
    /// The user's raw id (as in the source data).
    #[arg(long, value_name = "RAW_ID", required_unless_present_any = ["all", "history"])]
    pub user: Option<String>,
    /// Fold in a history the model has not seen (FILE, or - for stdin): the user's
    /// factors are solved against the latest model; with --user, on top of that
    /// user's training history. JSON (`[{"item": ID, "value": V}]`) or lines `ITEM[,VALUE]`.
    #[arg(long, value_name = "FILE|-", conflicts_with = "all")]
    pub history: Option<String>,
    /// Recommendations for every user, written to `--out FILE.parquet`.
    #[arg(long, requires = "out", conflicts_with = "user")]
    pub all: bool,
    /// Output Parquet file for `--all`.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Number of recommendations, dataset, output format.
    #[command(flatten)]
    pub view: ViewArgs,
}

/// Show a user's history and recommendations, or write everyone's to Parquet.
pub fn recommend(cli: &Cli, args: &RecommendArgs) -> anyhow::Result<ExitCode> {
    if let Some(history) = &args.history {
        return super::history::recommend_history(cli, args, history);
    }
    let store = open_store_read_only(cli)?;
    let dataset = pick_dataset(&store, "train", args.view.dataset.as_deref())?;
    let t = load_trained(&store, &dataset)?;
    if args.all {
        let out = args
            .out
            .as_ref()
            .ok_or_else(|| anyhow!("--all needs --out FILE.parquet"))?;
        let started = std::time::Instant::now();
        let progress = UserProgress::new("recommend --all", t.model.n_users as u64);
        let rows = alsflow_evaluate::write_recommend_all(
            &t.model,
            &t.train,
            &t.users,
            &t.items,
            args.view.n,
            out,
            &|n| progress.inc(n as u64),
        )
        .with_context(|| format!("dataset '{dataset}'"))?;
        progress.finish();
        eprintln!(
            "wrote {} ({} users × up to {} recommendations: {rows} rows) in {:.1} s",
            out.display(),
            t.users.len(),
            args.view.n,
            started.elapsed().as_secs_f64()
        );
        return Ok(ExitCode::SUCCESS);
    }
    let user = args
        .user
        .as_deref()
        .ok_or_else(|| anyhow!("give --user RAW_ID or --all"))?;
    let recs =
        alsflow_evaluate::recommend_user(&t.model, &t.train, &t.users, &t.items, user, args.view.n)
            .with_context(|| format!("dataset '{dataset}'"))?;
    args.view.print(&recs)?;
    Ok(ExitCode::SUCCESS)
}

/// Arguments of `alsflow similar`.
#[derive(clap::Args, Debug)]
pub struct SimilarArgs {
    /// The item's raw id (as in the source data).
    #[arg(long, value_name = "RAW_ID")]
    pub item: String,
    /// Number of similar items, dataset, output format.
    #[command(flatten)]
    pub view: ViewArgs,
}

/// Show the items most similar to one item (cosine of the item factors).
pub fn similar(cli: &Cli, args: &SimilarArgs) -> anyhow::Result<ExitCode> {
    let store = open_store_read_only(cli)?;
    let dataset = pick_dataset(&store, "train", args.view.dataset.as_deref())?;
    let t = load_trained(&store, &dataset)?;
    let sim = alsflow_evaluate::similar(&t.model, &t.items, &args.item, args.view.n)
        .with_context(|| format!("dataset '{dataset}'"))?;
    args.view.print(&sim)?;
    Ok(ExitCode::SUCCESS)
}

/// Progress of a long command over users: a bar on a terminal, else a line on
/// stderr every tenth of the work.
struct UserProgress {
    bar: Option<indicatif::ProgressBar>,
    label: &'static str,
    total: u64,
    done: std::sync::atomic::AtomicU64,
}

impl UserProgress {
    fn new(label: &'static str, total: u64) -> Self {
        use std::io::IsTerminal;
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = indicatif::ProgressBar::new(total);
            let style = indicatif::ProgressStyle::with_template(
                "{prefix} {bar:30} {pos}/{len} users [{elapsed_precise}, eta {eta}]",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
            bar.set_style(style);
            bar.set_prefix(label);
            bar
        });
        UserProgress {
            bar,
            label,
            total,
            done: std::sync::atomic::AtomicU64::new(0),
        }
    }

    fn inc(&self, n: u64) {
        let before = self.done.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
        let after = before + n;
        match &self.bar {
            Some(bar) => bar.inc(n),
            None => {
                let tenth = |v: u64| v * 10 / self.total.max(1);
                if tenth(after) > tenth(before) {
                    eprintln!("{}: {after}/{} users", self.label, self.total);
                }
            }
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
