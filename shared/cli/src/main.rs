//! `alsflow`: the command-line tool. Every subcommand and flag is declared here;
//! each command's code lives in its own file under `commands/`.

mod commands;
mod common;

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

/// Implicit-feedback ALS recommenders as a reproducible, cached pipeline.
#[derive(Parser, Debug)]
#[command(name = "alsflow", version, about, propagate_version = true)]
pub struct Cli {
    /// The artifact store (default: $ALSFLOW_STORE, else ./artifacts).
    #[arg(long, global = true, value_name = "DIR")]
    pub store: Option<PathBuf>,
    /// The pipeline config.
    #[arg(
        long,
        global = true,
        value_name = "FILE",
        default_value = "pipeline.toml"
    )]
    pub config: PathBuf,
    /// The data home that relative data paths are resolved against
    /// (default: $ALSFLOW_DATA, else ./data).
    #[arg(long, global = true, value_name = "DIR")]
    pub data: Option<PathBuf>,
    /// Seconds to wait for another alsflow process to release the store (0 to 86400).
    #[arg(long, global = true, value_name = "SECS", default_value_t = 60.0,
          value_parser = parse_lock_timeout)]
    pub lock_timeout: f64,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the named stages (default: all) with what they need upstream.
    Run(commands::run::RunArgs),
    /// Each stage per dataset: fresh, stale or missing, and why.
    Status(commands::status::StatusArgs),
    /// Print the pipeline's DAG.
    Dag(commands::dag::DagArgs),
    /// Trace an artifact back to the raw files it came from.
    Lineage(commands::lineage::LineageArgs),
    /// Show an artifact's record and a preview of its content.
    Show(commands::show::ShowArgs),
    /// Write an artifact to a file (.parquet, .csv or .json by extension).
    Export(commands::export::ExportArgs),
    /// Re-hash every object; report and move aside the corrupt ones.
    Verify(commands::verify::VerifyArgs),
    /// Delete objects no run record needs (with --keep-last N, also older runs).
    Gc(commands::gc::GcArgs),
    /// Print the latest test metrics per dataset (model and baselines).
    Metrics(commands::results::MetricsArgs),
    /// Write the latest HTML reports into a folder.
    Report(commands::results::ReportArgs),
    /// A user's history and recommendations (or everyone's, to Parquet).
    Recommend(commands::results::RecommendArgs),
    /// The items most similar to an item.
    Similar(commands::results::SimilarArgs),
    /// List the dataset presets: size, rows, licence, citation.
    Datasets(commands::datasets::DatasetsArgs),
    /// Download and unpack dataset presets into the data home; show their terms of use.
    Fetch(commands::fetch::FetchArgs),
    /// Write a commented pipeline.toml for dataset presets (never over an existing one).
    Init(commands::init::InitArgs),
    /// Every recorded run, newest first: params, test metrics, search size.
    Runs(commands::runs::RunsArgs),
    /// What differs between two runs (params, artifacts, metric deltas).
    Diff(commands::diff::DiffArgs),
    /// Serve recommendations over HTTP from the latest models, with hot reload.
    Serve(commands::serve::ServeArgs),
}

/// `--lock-timeout`: a finite number of seconds, at most a day.
fn parse_lock_timeout(s: &str) -> Result<f64, String> {
    let v: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("'{s}' is not a number of seconds"))?;
    if !(0.0..=86_400.0).contains(&v) {
        return Err(format!("{s} is not between 0 and 86400 seconds"));
    }
    Ok(v)
}

fn main() -> ExitCode {
    common::install_panic_hook();
    let cli = Cli::parse();
    common::init_logging();
    let result = match &cli.command {
        Command::Run(a) => commands::run::exec(&cli, a),
        Command::Status(a) => commands::status::exec(&cli, a),
        Command::Dag(a) => commands::dag::exec(&cli, a),
        Command::Lineage(a) => commands::lineage::exec(&cli, a),
        Command::Show(a) => commands::show::exec(&cli, a),
        Command::Export(a) => commands::export::exec(&cli, a),
        Command::Verify(a) => commands::verify::exec(&cli, a),
        Command::Gc(a) => commands::gc::exec(&cli, a),
        Command::Metrics(a) => commands::results::metrics(&cli, a),
        Command::Report(a) => commands::results::report(&cli, a),
        Command::Recommend(a) => commands::results::recommend(&cli, a),
        Command::Similar(a) => commands::results::similar(&cli, a),
        Command::Datasets(a) => commands::datasets::exec(&cli, a),
        Command::Fetch(a) => commands::fetch::exec(&cli, a),
        Command::Init(a) => commands::init::exec(&cli, a),
        Command::Runs(a) => commands::runs::exec(&cli, a),
        Command::Diff(a) => commands::diff::exec(&cli, a),
        Command::Serve(a) => commands::serve::exec(&cli, a),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            let code = common::exit_code_of(&e);
            eprintln!("error: {}", common::one_line(&e));
            code
        }
    }
}
