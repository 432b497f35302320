//! `alsflow gc [--dry-run] [--keep-last [N]]`: delete objects no run record needs, and
//! with `--keep-last` the runs retention does not keep.

use crate::common::open_store;
use crate::Cli;
use alsflow_runner::engine::memo_scope;
use alsflow_runner::experiments::{self, format_utc};
use alsflow_store::{GcOptions, RunRecord};
use std::process::ExitCode;

/// Arguments of `alsflow gc`.
#[derive(clap::Args, Debug)]
pub struct GcArgs {
    /// Only report what would be deleted (and how many bytes that frees).
    #[arg(long)]
    pub dry_run: bool,
    /// Keep named runs and the newest N runs per dataset that reached evaluate (10
    /// when N is omitted), with what they need and what the latest results use;
    /// delete every other run and the objects only those needed. Without it, every
    /// run is kept.
    #[arg(long, value_name = "N", num_args = 0..=1, default_missing_value = "10")]
    pub keep_last: Option<usize>,
    /// The report as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

/// Collect garbage.
pub fn exec(cli: &Cli, args: &GcArgs) -> anyhow::Result<ExitCode> {
    let store = open_store(cli)?;
    let scope = |r: &RunRecord| memo_scope(&r.stage, &r.code_fingerprint, &r.dataset).into_bytes();
    let r = store.gc_with(&GcOptions {
        dry_run: args.dry_run,
        keep_last: args.keep_last,
        final_stage: Some(experiments::FINAL_STAGE),
        memo_scope: Some(&scope),
    })?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&r)?);
        return Ok(ExitCode::SUCCESS);
    }
    let verb = if r.dry_run { "would remove" } else { "removed" };
    if let Some(n) = r.keep_last {
        for p in &r.removed_pipeline_runs {
            println!(
                "{verb} run {} ({}, started {})",
                p.id.short(),
                p.dataset,
                format_utc(p.started_ms)
            );
        }
        println!(
            "keeping named runs and the newest {n} per dataset: kept {}; {verb} {} ({} and {})",
            count(r.pipeline_runs_kept, "run"),
            count(r.removed_pipeline_runs.len() as u64, "run"),
            count(r.stage_runs_removed, "stage run"),
            count(r.memo_records_removed, "memo record")
        );
    }
    println!(
        "{verb} {} objects ({} bytes), {} records, {} temp files ({} bytes), {} quarantined files ({} bytes); kept {} objects ({} bytes)",
        r.objects_removed,
        r.bytes_removed,
        r.records_removed,
        r.temp_files_removed,
        r.temp_bytes_removed,
        r.quarantined_removed,
        r.quarantined_bytes_removed,
        r.objects_kept,
        r.bytes_kept
    );
    Ok(ExitCode::SUCCESS)
}

/// `1 run`, `3 runs`.
fn count(n: u64, what: &str) -> String {
    format!("{n} {what}{}", if n == 1 { "" } else { "s" })
}
