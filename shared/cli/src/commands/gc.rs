//! `alsflow gc [--dry-run]`: delete objects no run record needs.

use crate::common::open_store;
use crate::Cli;
use std::process::ExitCode;

/// Arguments of `alsflow gc`.
#[derive(clap::Args, Debug)]
pub struct GcArgs {
    /// Only report what would be deleted.
    #[arg(long)]
    pub dry_run: bool,
    /// The report as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

/// Collect garbage.
pub fn exec(cli: &Cli, args: &GcArgs) -> anyhow::Result<ExitCode> {
    let store = open_store(cli)?;
    let r = store.gc(args.dry_run)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&r)?);
        return Ok(ExitCode::SUCCESS);
    }
    let verb = if r.dry_run { "would remove" } else { "removed" };
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
