//! `alsflow dag [--dot]`: the pipeline's stages and how their artifacts flow.

use crate::common::load_config;
use crate::Cli;
use alsflow_runner::build::build_dag;
use alsflow_runner::engine::InputSource;
use std::process::ExitCode;

/// Arguments of `alsflow dag`.
#[derive(clap::Args, Debug)]
pub struct DagArgs {
    /// Graphviz dot instead of text.
    #[arg(long)]
    pub dot: bool,
}

/// Print the DAG.
pub fn exec(cli: &Cli, args: &DagArgs) -> anyhow::Result<ExitCode> {
    let cfg = load_config(cli, &[])?;
    let dag = build_dag(&cfg)?;
    dag.validate()?;
    if args.dot {
        println!("digraph pipeline {{\n  rankdir=LR;");
        for (i, n) in dag.nodes.iter().enumerate() {
            println!("  n{i} [label=\"{}/{}\"];", n.dataset, n.stage);
            for (name, src) in &n.inputs {
                match src {
                    InputSource::Raw { path, .. } => {
                        let p = path.display().to_string().replace('"', "'");
                        println!("  \"{p}\" [shape=box];\n  \"{p}\" -> n{i} [label=\"{name}\"];");
                    }
                    InputSource::Produced { node, output } => {
                        println!("  n{node} -> n{i} [label=\"{output}\"];");
                    }
                }
            }
        }
        println!("}}");
        return Ok(ExitCode::SUCCESS);
    }
    for ds in dag.datasets() {
        let chain: Vec<&str> = dag
            .nodes
            .iter()
            .filter(|n| n.dataset == ds)
            .map(|n| n.stage.as_str())
            .collect();
        println!("{ds}: {}", chain.join(" → "));
        for n in dag.nodes.iter().filter(|n| n.dataset == ds) {
            let ins: Vec<String> = n
                .inputs
                .iter()
                .map(|(name, src)| match src {
                    InputSource::Raw { path, .. } => format!("{name} = {}", path.display()),
                    InputSource::Produced { .. } => name.clone(),
                })
                .collect();
            println!(
                "  {:<10} in: {}  out: {}",
                n.stage,
                ins.join(", "),
                n.outputs.join(", ")
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
