//! `alsflow export <id> --out FILE`: .parquet, .csv or .json by extension.

use crate::common::{open_store_read_only, resolve, write_file_atomically};
use crate::Cli;
use alsflow_core::Format;
use anyhow::bail;
use std::path::PathBuf;
use std::process::ExitCode;

/// Arguments of `alsflow export`.
#[derive(clap::Args, Debug)]
pub struct ExportArgs {
    /// Artifact id or unique prefix.
    pub id: String,
    /// Output file; its extension picks the format (.parquet, .csv, .json).
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
}

/// Export the artifact.
pub fn exec(cli: &Cli, args: &ExportArgs) -> anyhow::Result<ExitCode> {
    let store = open_store_read_only(cli)?;
    let id = resolve(&store, &args.id)?;
    let rec = store
        .artifact(&id)?
        .ok_or_else(|| anyhow::anyhow!("artifact {id} has no record"))?;
    let bytes = store.read(&id)?;
    let ext = args
        .out
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    let data: Vec<u8> = match (ext.as_str(), rec.format) {
        ("parquet", Format::Parquet) => bytes,
        ("csv", Format::Parquet) => {
            let (batch, _) = alsflow_core::table::read_batch(&bytes)?;
            let mut out = Vec::new();
            {
                let mut w = arrow::csv::Writer::new(&mut out);
                w.write(&batch)?;
            }
            out
        }
        ("json", Format::Parquet) => {
            let (batch, _) = alsflow_core::table::read_batch(&bytes)?;
            let mut w = arrow::json::ArrayWriter::new(Vec::new());
            w.write(&batch)?;
            w.finish()?;
            w.into_inner()
        }
        ("json", Format::Json) => bytes,
        ("json", Format::Bincode) => {
            let v = super::show::decode_bincode(&rec.kind, &bytes).ok_or_else(|| {
                anyhow::anyhow!("no JSON decoder for bincode artifact kind {}", rec.kind)
            })?;
            serde_json::to_vec_pretty(&v)?
        }
        (e, f) if !e.is_empty() && f.extension() == e => bytes,
        (e, f) => bail!(
            "cannot export {} ({f}) as '.{e}' to {} (tables export to .parquet/.csv/.json)",
            rec.kind,
            args.out.display()
        ),
    };
    write_file_atomically(&args.out, &data)?;
    eprintln!("wrote {} ({} bytes)", args.out.display(), data.len());
    Ok(ExitCode::SUCCESS)
}
