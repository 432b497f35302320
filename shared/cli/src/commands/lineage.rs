//! `alsflow lineage <id>`: from an artifact back to the raw files.

use crate::common::{open_store_read_only, resolve};
use crate::Cli;
use alsflow_runner::lineage;
use std::process::ExitCode;

/// Arguments of `alsflow lineage`.
#[derive(clap::Args, Debug)]
pub struct LineageArgs {
    /// Artifact id or unique prefix.
    pub id: String,
    /// The tree as JSON.
    #[arg(long, conflicts_with = "dot")]
    pub json: bool,
    /// Graphviz dot.
    #[arg(long)]
    pub dot: bool,
}

/// Print the lineage.
pub fn exec(cli: &Cli, args: &LineageArgs) -> anyhow::Result<ExitCode> {
    let store = open_store_read_only(cli)?;
    let id = resolve(&store, &args.id)?;
    let tree = lineage::lineage(&store, &id)?;
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&lineage::to_json(&tree))?
        );
    } else if args.dot {
        print!("{}", lineage::to_dot(&tree));
    } else {
        print!("{}", lineage::to_text(&tree));
    }
    Ok(ExitCode::SUCCESS)
}
