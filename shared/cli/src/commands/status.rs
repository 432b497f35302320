//! `alsflow status`: fresh / stale / missing per stage and dataset, and why.

use crate::common::{load_config, open_store_read_only};
use crate::Cli;
use alsflow_runner::build::build_dag;
use alsflow_runner::engine::Engine;
use std::process::ExitCode;

/// Arguments of `alsflow status`.
#[derive(clap::Args, Debug)]
pub struct StatusArgs {
    /// Override a config value (as `run --set`), to ask "what would rerun?".
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// A JSON array of {"stage","dataset","state","reasons","warnings"} on stdout.
    #[arg(long)]
    pub json: bool,
}

/// Print the status.
pub fn exec(cli: &Cli, args: &StatusArgs) -> anyhow::Result<ExitCode> {
    let cfg = load_config(cli, &args.set)?;
    let dag = build_dag(&cfg)?;
    let store = open_store_read_only(cli)?;
    let engine = Engine::new(store.clone(), dag)?;
    let st = alsflow_runner::status::status(&engine, &store);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&st)?);
        return Ok(ExitCode::SUCCESS);
    }
    for s in &st {
        let why = if s.reasons.is_empty() {
            String::new()
        } else {
            format!("  ({})", s.reasons.join("; "))
        };
        println!("{:<12} {:<10} {:<7}{why}", s.dataset, s.stage, s.state);
        for w in &s.warnings {
            println!("{:<12} {:<10} warning: {w}", "", "");
        }
    }
    Ok(ExitCode::SUCCESS)
}
