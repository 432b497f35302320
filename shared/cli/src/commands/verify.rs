//! `alsflow verify`: re-hash every object; report each mismatch, move the corrupt
//! object aside and drop the run records that need it; exit non-zero if any.

use crate::common::open_store;
use crate::Cli;
use alsflow_store::ProblemKind;
use std::process::ExitCode;

/// Arguments of `alsflow verify`.
#[derive(clap::Args, Debug)]
pub struct VerifyArgs {
    /// The report as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

/// Verify the store.
pub fn exec(cli: &Cli, args: &VerifyArgs) -> anyhow::Result<ExitCode> {
    let store = open_store(cli)?;
    let report = store.verify()?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!(
            "{} objects, {} bytes checked",
            report.objects_checked, report.bytes_checked
        );
        for p in &report.problems {
            let what = match &p.kind {
                ProblemKind::HashMismatch { actual, .. } => {
                    format!("corrupt (bytes hash to {})", actual.short())
                }
                ProblemKind::Missing => "missing".to_string(),
                ProblemKind::Stray => "stray file".to_string(),
            };
            println!(
                "object {} at {}: {what}{}{}",
                p.id.map(|i| i.to_hex()).unwrap_or_else(|| "?".into()),
                p.path.display(),
                p.producer
                    .as_ref()
                    .map(|s| format!(", produced by {s}"))
                    .unwrap_or_default(),
                p.moved_to
                    .as_ref()
                    .map(|m| format!(", moved to {}", m.display()))
                    .unwrap_or_default(),
            );
        }
        for r in &report.invalidated_runs {
            println!(
                "run {}/{} ({}) invalidated: {}; the next run rebuilds it",
                r.dataset,
                r.stage,
                r.key.short(),
                r.reason
            );
        }
        if report.is_clean() {
            println!("store is clean");
        }
    }
    if report.is_clean() {
        Ok(ExitCode::SUCCESS)
    } else {
        Ok(ExitCode::from(1))
    }
}
