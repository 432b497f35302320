//! `alsflow show <id>`: the artifact's record, its producer, and a preview.

use crate::common::{open_store_read_only, resolve};
use crate::Cli;
use alsflow_core::Format;
use std::process::ExitCode;

/// Arguments of `alsflow show`.
#[derive(clap::Args, Debug)]
pub struct ShowArgs {
    /// Artifact id or unique prefix.
    pub id: String,
    /// Rows of a table to preview.
    #[arg(long, default_value_t = 10)]
    pub rows: usize,
}

/// Print the artifact.
pub fn exec(cli: &Cli, args: &ShowArgs) -> anyhow::Result<ExitCode> {
    let store = open_store_read_only(cli)?;
    let id = resolve(&store, &args.id)?;
    let rec = store
        .artifact(&id)?
        .ok_or_else(|| anyhow::anyhow!("artifact {id} has no record"))?;
    println!("id:       {id}");
    println!("kind:     {}", rec.kind);
    println!("format:   {}", rec.format);
    println!("size:     {} bytes", rec.size);
    println!("object:   {}", store.object_path(&id).display());
    if let Some(s) = &rec.source {
        println!(
            "source:   {} ({} bytes, blake3 {})",
            s.path, s.size, s.blake3
        );
        if let Some(u) = &s.url {
            println!("url:      {u}");
        }
    }
    if let Some(k) = rec.producer {
        if let Some(run) = store.run(&k)? {
            println!(
                "producer: {}/{} (run {})",
                run.dataset,
                run.stage,
                k.short()
            );
            println!("params:   {}", run.params_json);
            for line in &run.summary {
                println!("summary:  {line}");
            }
        }
    }
    let bytes = store.read(&id)?;
    println!();
    print!("{}", preview(rec.format, &rec.kind, &bytes, args.rows)?);
    Ok(ExitCode::SUCCESS)
}

/// A human preview of an artifact's bytes.
pub fn preview(format: Format, kind: &str, bytes: &[u8], rows: usize) -> anyhow::Result<String> {
    Ok(match format {
        Format::Parquet => {
            let (batch, meta) = alsflow_core::table::read_batch(bytes)?;
            let mut s = format!(
                "{} rows × {} columns\n",
                batch.num_rows(),
                batch.num_columns()
            );
            // The embedded Arrow schema is noise to a reader; the table header shows it.
            for (k, v) in meta.iter().filter(|(k, _)| k.as_str() != "ARROW:schema") {
                s.push_str(&format!("meta {k} = {v}\n"));
            }
            let head = batch.slice(0, rows.min(batch.num_rows()));
            s.push_str(&arrow::util::pretty::pretty_format_batches(&[head])?.to_string());
            s.push('\n');
            s
        }
        Format::Bincode => match decode_bincode(kind, bytes) {
            Some(v) => format!("{}\n", serde_json::to_string_pretty(&v)?),
            None => format!(
                "bincode value of {} bytes (no decoder for kind {kind})\n",
                bytes.len()
            ),
        },
        Format::Json | Format::Markdown | Format::Html | Format::Svg | Format::Raw => {
            let text = String::from_utf8_lossy(bytes);
            let mut s: String = text.lines().take(40).collect::<Vec<_>>().join("\n");
            if text.lines().count() > 40 {
                s.push_str("\n…");
            }
            s.push('\n');
            s
        }
    })
}

/// Decode bincode values the CLI knows to JSON: a model as a summary (params, sizes,
/// loss; not the factors), ALS params (e.g. `tune.best_params`) in full.
pub fn decode_bincode(kind: &str, bytes: &[u8]) -> Option<serde_json::Value> {
    if kind.ends_with(".model") {
        let m = alsflow_als::AlsModel::from_bytes(bytes).ok()?;
        return Some(serde_json::json!({
            "params": serde_json::to_value(&m.params).ok()?,
            "n_users": m.n_users,
            "n_items": m.n_items,
            "rank": m.rank,
            "iterations": m.iterations,
            "loss": m.loss,
        }));
    }
    let p: alsflow_als::AlsParams = alsflow_core::codec::decode("ALS params", bytes).ok()?;
    serde_json::to_value(p).ok()
}
