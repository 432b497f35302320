//! `alsflow fetch NAME...`: download and unpack presets into the data home, then show
//! the licence terms and the citation their owners ask for.

use crate::commands::datasets::print_all;
use crate::Cli;
use alsflow_runner::config::{data_home, ConfigError};
use alsflow_runner::datalock::{lock_file_of, DataLock};
use alsflow_runner::download::http::HttpOptions;
use alsflow_runner::download::{ensure_source, FetchContext};
use alsflow_runner::{presets, sources};
use std::io::IsTerminal;
use std::process::ExitCode;

/// Arguments of `alsflow fetch`.
#[derive(clap::Args, Debug)]
pub struct FetchArgs {
    /// Presets to fetch (`alsflow datasets` lists them).
    #[arg(required = true, value_name = "NAME")]
    pub names: Vec<String>,
}

/// Fetch the presets.
pub fn exec(cli: &Cli, args: &FetchArgs) -> anyhow::Result<ExitCode> {
    let chosen = args
        .names
        .iter()
        .map(|n| presets::lookup(n).map_err(|m| ConfigError::Invalid(m).into()))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let home = data_home(cli.data.as_deref());
    // The data lock of the config in use, when there is one: a fetch records there what
    // the pipeline's run would, and is checked against it.
    let lock_file = cli.config.is_file().then(|| lock_file_of(&cli.config));
    let lock = match &lock_file {
        Some(p) => DataLock::load(p)?,
        None => DataLock::default(),
    };
    let http = HttpOptions {
        progress: std::io::stderr().is_terminal(),
        ..Default::default()
    };
    for preset in chosen {
        let mut src = sources::preset_source(preset, &home)?;
        lock.fill_expected(&mut src);
        let ctx = FetchContext {
            data_home: &home,
            lock_file: lock_file.as_deref(),
            dataset: preset.name,
            http: http.clone(),
        };
        let mut text = String::new();
        match ensure_source(&mut src, &ctx)? {
            None => text.push_str(&format!(
                "{}: already in the data home: {}\n",
                preset.name,
                src.path.display()
            )),
            Some(f) => {
                text.push_str(&format!(
                    "{}: downloaded {} ({} bytes{}, sha256 {})\n",
                    preset.name,
                    f.url,
                    f.size,
                    if f.resumed_from > 0 {
                        format!(", resumed after {} bytes", f.resumed_from)
                    } else {
                        String::new()
                    },
                    f.sha256
                ));
                for (member, path, sha) in &f.files {
                    text.push_str(&format!("  {member} → {} (sha256 {sha})\n", path.display()));
                }
                if let Some(p) = &lock_file {
                    text.push_str(&format!("  recorded in {}\n", p.display()));
                }
            }
        }
        text.push_str(&format!(
            "\nTerms of use of {} ({}):\n\n",
            preset.name, preset.title
        ));
        for line in preset.terms.lines() {
            text.push_str(&format!("    {line}\n"));
        }
        text.push_str(&format!(
            "\nPlease cite, when you publish results obtained with it:\n    {}\n\n",
            preset.citation
        ));
        print_all(&text)?;
    }
    Ok(ExitCode::SUCCESS)
}
