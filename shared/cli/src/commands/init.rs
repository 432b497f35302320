//! `alsflow init [--preset NAME ...]`: write a commented `pipeline.toml` for those
//! dataset presets (never over an existing one), so `alsflow run` is the next step.

use crate::Cli;
use alsflow_runner::config::ConfigError;
use alsflow_runner::presets::{self, Preset};
use anyhow::bail;
use std::process::ExitCode;

/// The preset `init` uses when none is named: small, quick, and the seed's data.
pub const DEFAULT_PRESET: &str = "ml-latest-small";

/// Arguments of `alsflow init`.
#[derive(clap::Args, Debug)]
pub struct InitArgs {
    /// A dataset preset to include (repeatable; default ml-latest-small; `alsflow
    /// datasets` lists them).
    #[arg(long = "preset", value_name = "NAME")]
    pub presets: Vec<String>,
}

/// Write the config.
pub fn exec(cli: &Cli, args: &InitArgs) -> anyhow::Result<ExitCode> {
    let names: Vec<&str> = if args.presets.is_empty() {
        vec![DEFAULT_PRESET]
    } else {
        args.presets.iter().map(String::as_str).collect()
    };
    let mut chosen: Vec<&Preset> = Vec::new();
    for n in names {
        let p = presets::lookup(n).map_err(ConfigError::Invalid)?;
        if chosen.iter().any(|c| c.name == p.name) {
            bail!("--preset {n} is given twice");
        }
        chosen.push(p);
    }
    let path = &cli.config;
    if path.exists() {
        bail!(
            "{} already exists; refusing to overwrite it (edit it, or run `alsflow init` in \
             an empty directory)",
            path.display()
        );
    }
    crate::common::write_file_atomically(path, config_text(&chosen).as_bytes())?;
    let list: Vec<&str> = chosen.iter().map(|p| p.name).collect();
    println!("wrote {} for {}", path.display(), list.join(", "));
    println!(
        "next: `alsflow run` (a missing dataset is downloaded into the data home, --data DIR \
         or $ALSFLOW_DATA, else ./data); `alsflow fetch {}` shows the data's terms of use",
        list.join(" ")
    );
    Ok(ExitCode::SUCCESS)
}

/// The commented config for `presets`.
pub fn config_text(presets: &[&Preset]) -> String {
    let names: Vec<&str> = presets.iter().map(|p| p.name).collect();
    let mut t = format!(
        "# alsflow pipeline, written by `alsflow init` for {names}.\n\
         #\n\
         # One DAG branch per [[dataset]]: preprocess → split → (tune) → train → evaluate.\n\
         # `alsflow run` runs what is not cached yet, `alsflow status` says what is stale and\n\
         # why, `alsflow metrics` shows the results. Any value can be overridden on the\n\
         # command line by its dotted path: `alsflow run --set train.rank=20`.\n\
         #\n\
         # Data lives in the data home: --data DIR, else $ALSFLOW_DATA, else ./data. A preset's\n\
         # file is downloaded there when it is missing (`alsflow fetch NAME` does it ahead and\n\
         # shows the terms of use). The checksums of every download go into pipeline.lock\n\
         # beside this file: commit it with this file, and later downloads must match it.\n",
        names = names.join(", ")
    );
    // Comments start in one column, as in the rest of the file.
    let commented = |code: String, comment: &str| {
        let pad = 33usize.saturating_sub(code.chars().count()).max(1);
        format!("{code}{}# {comment}\n", " ".repeat(pad))
    };
    for p in presets {
        t.push_str("\n[[dataset]]\n");
        t.push_str(&commented(
            format!("name = \"{}\"", p.name),
            "branch name (letters, digits, - and _)",
        ));
        t.push_str(&commented(format!("preset = \"{}\"", p.name), p.title));
        t.push_str("# The preset sets these keys; any of them can be overridden here:\n");
        t.push_str(&commented(
            format!("# path = \"{}\"", p.path),
            "the file, relative to the data home",
        ));
        for line in p.preprocess.lines() {
            t.push_str(&format!("# {line}\n"));
        }
        t.push_str(&format!(
            "# Licence: {} (`alsflow fetch {}` shows the terms).\n",
            p.licence, p.name
        ));
    }
    t.push_str(
        "\n[split]\n\
         method = \"random\"        # random | per_user | time | predefined\n\
         test_fraction = 0.2      # share of interactions held out for the final test\n\
         folds = 3                # k-fold partition of the training set (used by tune)\n\
         seed = 42                # same seed ⇒ byte-identical splits\n\
         \n\
         [train]                  # ALS hyperparameters (Spark MLlib's names, implicit's conventions)\n\
         rank = 10                # latent factors\n\
         max_iter = 10            # alternating iterations\n\
         reg_param = 0.1          # regularisation λ\n\
         alpha = 40.0             # confidence scale: c = 1 + alpha·r\n\
         solver = \"cg\"            # cg (conjugate gradient) | cholesky (exact)\n\
         seed = 42                # factor initialisation seed\n\
         \n\
         [tune]                   # cross-validated grid search; train then uses the best point\n\
         enabled = false          # true: search [tune.grid] (12 points × 3 folds) before train\n\
         metric = \"roem\"          # selection metric: roem | precision@k | ndcg@k | …\n\
         k = 10                   # cut-off of the @k metrics\n\
         \n\
         [tune.grid]              # lists of [train] values, merged over [train]\n\
         rank = [10, 20]\n\
         reg_param = [0.05, 0.1, 0.15]\n\
         alpha = [20.0, 40.0]\n\
         \n\
         [evaluate]\n\
         k = 10                   # cut-off of precision@k, recall@k, MAP@k, NDCG@k\n",
    );
    t
}

#[cfg(test)]
mod tests {
    use super::*;
    use alsflow_runner::PipelineConfig;
    use std::path::{Path, PathBuf};

    #[test]
    fn the_config_of_every_preset_is_valid_and_uses_the_preset() {
        let all: Vec<&Preset> = presets::PRESETS.iter().collect();
        let text = config_text(&all);
        let cfg =
            PipelineConfig::parse(&text, Path::new("pipeline.toml"), &[], PathBuf::from("/d"))
                .unwrap_or_else(|e| panic!("{e}\n{text}"));
        assert_eq!(cfg.datasets.len(), all.len());
        for (d, p) in cfg.datasets.iter().zip(&all) {
            assert_eq!(d.name, p.name);
            let src = d.source.as_ref().expect("source");
            assert_eq!(src.path, Path::new("/d").join(p.path));
            assert_eq!(src.preset.as_deref(), Some(p.name));
            assert!(!d.tune_enabled);
        }
        // Uncommenting the preset's own keys changes nothing.
        let one = config_text(&[all[0]]);
        let uncommented = one
            .replace("\n# format", "\nformat")
            .replace("\n# feedback", "\nfeedback");
        let a =
            PipelineConfig::parse(&one, Path::new("p.toml"), &[], PathBuf::from("/d")).expect("a");
        let b = PipelineConfig::parse(&uncommented, Path::new("p.toml"), &[], PathBuf::from("/d"))
            .expect("b");
        assert_eq!(
            serde_json::to_string(&a.datasets[0].preprocess).expect("json"),
            serde_json::to_string(&b.datasets[0].preprocess).expect("json")
        );
        assert_ne!(one, uncommented);
        // Tuning can be switched on as the comment says.
        let tuned = PipelineConfig::parse(
            &one,
            Path::new("p.toml"),
            &["tune.enabled=true".to_string()],
            PathBuf::from("/d"),
        )
        .expect("tuned");
        assert!(tuned.datasets[0].tune_enabled);
    }
}
