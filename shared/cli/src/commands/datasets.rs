//! `alsflow datasets`: the dataset presets, with size, rows, licence and citation, and
//! whether each is already in the data home.

use crate::Cli;
use alsflow_runner::config::data_home;
use alsflow_runner::presets::{Preset, PRESETS};
use std::process::ExitCode;

/// Arguments of `alsflow datasets`.
#[derive(clap::Args, Debug)]
pub struct DatasetsArgs {
    /// One JSON array on stdout.
    #[arg(long)]
    pub json: bool,
}

/// Thousands separators for a count.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn rows(p: &Preset) -> String {
    match p.rows {
        Some(r) => format!("{} rows", thousands(r)),
        None => "rows change between releases".to_string(),
    }
}

/// List the presets.
pub fn exec(cli: &Cli, args: &DatasetsArgs) -> anyhow::Result<ExitCode> {
    let home = data_home(cli.data.as_deref());
    if args.json {
        let all: Vec<serde_json::Value> = PRESETS
            .iter()
            .map(|p| {
                serde_json::json!({
                    "name": p.name, "title": p.title, "url": p.url, "member": p.member,
                    "path": p.path, "size": p.size, "rows": p.rows, "users_items": p.users_items,
                    "licence": p.licence, "citation": p.citation, "homepage": p.homepage,
                    "sha256": p.sha256, "member_sha256": p.member_sha256,
                    "present": home.join(p.path).is_file(),
                })
            })
            .collect();
        print_all(&format!("{}\n", serde_json::Value::Array(all)))?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut text = format!(
        "Dataset presets (use one with `preset = \"NAME\"` in a [[dataset]] table, \
         `alsflow fetch NAME` or `alsflow init --preset NAME`); data home {}:\n\n",
        home.display()
    );
    for p in PRESETS {
        let present = if home.join(p.path).is_file() {
            format!("in the data home ({})", p.path)
        } else {
            "not downloaded".to_string()
        };
        text.push_str(&format!("{:<18} {}\n", p.name, p.title));
        text.push_str(&format!(
            "{:<18} {}, {} ({}); {present}\n",
            "",
            p.size,
            rows(p),
            p.users_items
        ));
        text.push_str(&format!("{:<18} licence: {}\n", "", p.licence));
        text.push_str(&format!("{:<18} cite: {}\n", "", p.citation));
        text.push_str(&format!("{:<18} {}\n\n", "", p.homepage));
    }
    print_all(&text)?;
    Ok(ExitCode::SUCCESS)
}

/// Write `text` to stdout; a reader that stopped early (`| head`) is not an error.
pub fn print_all(text: &str) -> std::io::Result<()> {
    use std::io::Write;
    match std::io::stdout().lock().write_all(text.as_bytes()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn thousands_are_separated() {
        assert_eq!(super::thousands(0), "0");
        assert_eq!(super::thousands(999), "999");
        assert_eq!(super::thousands(100_836), "100,836");
        assert_eq!(super::thousands(1_000_209), "1,000,209");
    }
}
