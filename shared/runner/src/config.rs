//! `pipeline.toml`: loading, `--set` overrides, per-dataset merging and validation.
//!
//! Merging happens on `toml::Value`s (global stage section, then the dataset's
//! override table on top, key-wise and recursively); only then is each section
//! deserialised into the stage's typed `Params`, so unknown keys and wrong types
//! are reported by the stage's own serde definition, with the key's path.

use alsflow_core::Stage;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use toml::{Table, Value};

pub use crate::sources::{SourceSpec, SOURCE_KEYS};

/// The top-level section that configures the Spark backend (`[spark]`, overridable
/// per dataset with `[dataset.spark]`); not a stage, so not in the registry.
pub const SPARK_SECTION: &str = "spark";

/// `train.threads` may ask for at most this many threads per core: more only adds
/// contention, and a typo (`threads = 2000`) would otherwise spawn them all.
pub const MAX_THREADS_PER_CORE: usize = 4;

/// A configuration error: one line saying what and where.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file is not valid TOML or a key/value is wrong.
    #[error("{0}")]
    Invalid(String),
    /// A data file is missing and cannot be downloaded (the CLI exits with code 3).
    #[error("{0}")]
    DataMissing(String),
    /// A download arrived but failed its checks (checksum, size cap, archive contents);
    /// nothing of it was kept.
    #[error("{0}")]
    Download(String),
}

/// Typed `[train]` parameters as the train stage reads them.
pub type TrainParams = <alsflow_train::Train as Stage>::Params;

/// One dataset (one DAG branch), with every stage's effective parameters.
#[derive(Clone, Debug)]
pub struct DatasetConfig {
    /// The dataset's name (unique).
    pub name: String,
    /// The raw file (`None` for `format = "synthetic"`).
    pub source: Option<SourceSpec>,
    /// The predefined test file (`test_path`), if any.
    pub test_source: Option<SourceSpec>,
    /// Effective preprocess params.
    pub preprocess: alsflow_preprocess::Params,
    /// Effective split params.
    pub split: alsflow_split::Params,
    /// Effective train params (tune merges its grid points over them).
    pub train: TrainParams,
    /// Whether the tune stage is part of this branch (`[tune] enabled`).
    pub tune_enabled: bool,
    /// Effective tune params (`base` is set by the DAG builder).
    pub tune: alsflow_tune::Params,
    /// Effective evaluate params.
    pub evaluate: alsflow_evaluate::Params,
    /// Effective `[spark]` settings (used by stages whose backend is `spark`).
    pub spark: alsflow_spark::SparkSettings,
}

/// A loaded, validated pipeline.
#[derive(Clone, Debug)]
pub struct PipelineConfig {
    /// The config file it came from (for messages).
    pub file: PathBuf,
    /// The data home that relative paths are resolved against.
    pub data_home: PathBuf,
    /// The data lock beside the config (`pipeline.lock` for `pipeline.toml`): the
    /// checksums of earlier downloads, which later ones must match. `None` for a config
    /// that did not come from a file.
    pub lock_file: Option<PathBuf>,
    /// The datasets, in file order.
    pub datasets: Vec<DatasetConfig>,
}

/// The data home: `--data DIR`, else `$ALSFLOW_DATA`, else `./data`.
pub fn data_home(flag: Option<&Path>) -> PathBuf {
    if let Some(p) = flag {
        return p.to_path_buf();
    }
    match std::env::var_os("ALSFLOW_DATA") {
        Some(v) if !v.is_empty() => PathBuf::from(v),
        _ => PathBuf::from("data"),
    }
}

impl PipelineConfig {
    /// Read `file`, apply `overrides` (`KEY=VALUE`, dotted keys) and validate.
    pub fn load(
        file: &Path,
        overrides: &[String],
        data_home: PathBuf,
    ) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(file).map_err(|e| {
            ConfigError::Invalid(format!("cannot read config {}: {e}", file.display()))
        })?;
        let mut cfg = Self::parse(&text, file, overrides, data_home)?;
        let lock_file = crate::datalock::lock_file_of(file);
        let lock = crate::datalock::DataLock::load(&lock_file)?;
        for d in &mut cfg.datasets {
            for src in d.source.iter_mut().chain(d.test_source.iter_mut()) {
                lock.fill_expected(src);
            }
        }
        cfg.lock_file = Some(lock_file);
        Ok(cfg)
    }

    /// Parse config `text` (named `file` in messages).
    pub fn parse(
        text: &str,
        file: &Path,
        overrides: &[String],
        data_home: PathBuf,
    ) -> Result<Self, ConfigError> {
        let fname = file.display().to_string();
        let mut root: Table = toml::from_str(text).map_err(|e| {
            // toml's message spans several lines; keep the first one plus the position.
            let msg = e.message().to_string();
            let pos = e
                .span()
                .map(|s| {
                    let line = text[..s.start.min(text.len())].matches('\n').count() + 1;
                    format!(":{line}")
                })
                .unwrap_or_default();
            ConfigError::Invalid(format!("{fname}{pos}: {}", msg.trim()))
        })?;
        for o in overrides {
            apply_override(&mut root, o)
                .map_err(|m| ConfigError::Invalid(format!("--set {o}: {m}")))?;
        }
        let err = |m: String| ConfigError::Invalid(format!("{fname}: {m}"));
        for key in root.keys() {
            if key != "dataset" && !is_section(key) {
                let sections: Vec<String> = crate::registry::names()
                    .chain([SPARK_SECTION])
                    .map(|s| format!("[{s}]"))
                    .collect();
                return Err(err(format!(
                    "unknown key '{key}' (expected [[dataset]], {})",
                    sections.join(", ")
                )));
            }
        }
        let section = |name: &str| -> Result<Table, ConfigError> {
            match root.get(name) {
                None => Ok(Table::new()),
                Some(Value::Table(t)) => Ok(t.clone()),
                Some(_) => Err(err(format!("'{name}' must be a table ([{name}])"))),
            }
        };
        let globals: Vec<(&str, Table)> = crate::registry::names()
            .chain([SPARK_SECTION])
            .map(|s| section(s).map(|t| (s, t)))
            .collect::<Result<_, _>>()?;
        let global = |name: &str| -> Table {
            globals
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, t)| t.clone())
                .unwrap_or_default()
        };
        let datasets = match root.get("dataset") {
            None => return Err(err("no [[dataset]] declared".into())),
            Some(Value::Array(a)) => a.clone(),
            Some(_) => {
                return Err(err(
                    "'dataset' must be an array of tables ([[dataset]])".into()
                ))
            }
        };
        if datasets.is_empty() {
            return Err(err("no [[dataset]] declared".into()));
        }
        let mut seen = BTreeSet::new();
        let mut out = Vec::new();
        for (i, d) in datasets.iter().enumerate() {
            let Value::Table(d) = d else {
                return Err(err(format!("dataset #{} must be a table", i + 1)));
            };
            let name = match d.get("name") {
                Some(Value::String(s)) if !s.is_empty() => s.clone(),
                Some(_) => {
                    return Err(err(format!(
                        "dataset #{}: 'name' must be a non-empty string",
                        i + 1
                    )))
                }
                None => return Err(err(format!("dataset #{}: missing key 'name'", i + 1))),
            };
            if !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                return Err(err(format!(
                    "dataset \"{name}\": name may contain only letters, digits, '-' and '_'"
                )));
            }
            if !seen.insert(name.clone()) {
                return Err(err(format!("duplicate dataset name \"{name}\"")));
            }
            let derr =
                |m: String| ConfigError::Invalid(format!("{fname}: dataset \"{name}\": {m}"));
            // Split the dataset table into source keys, override tables, preprocess keys.
            // A preset's preprocess keys sit between the global section and the table's own.
            let preset = crate::sources::preset_of(d, &derr)?;
            let mut pre = global("preprocess");
            if let Some(p) = preset {
                merge(&mut pre, &p.preprocess_table());
            }
            let mut overrides_of: Vec<(String, Table)> = Vec::new();
            let mut own_pre = Table::new();
            for (k, v) in d {
                if k == "name" || SOURCE_KEYS.contains(&k.as_str()) {
                    continue;
                }
                if is_section(k) {
                    match v {
                        Value::Table(t) => overrides_of.push((k.clone(), t.clone())),
                        _ => return Err(derr(format!("'{k}' must be a table ([dataset.{k}])"))),
                    }
                } else {
                    own_pre.insert(k.clone(), v.clone());
                }
            }
            merge(&mut pre, &own_pre);
            let effective = |stage: &str| -> Table {
                let mut t = if stage == "preprocess" {
                    pre.clone()
                } else {
                    global(stage)
                };
                for (s, o) in &overrides_of {
                    if s == stage {
                        merge(&mut t, o);
                    }
                }
                t
            };
            let pre_t = effective("preprocess");
            let is_synthetic =
                matches!(pre_t.get("format"), Some(Value::String(f)) if f == "synthetic");
            let (source, test_source) =
                crate::sources::resolve(d, preset, &data_home, is_synthetic, &derr)?;

            let preprocess: alsflow_preprocess::Params = typed(pre_t, "", &derr)?;
            let split: alsflow_split::Params = typed(effective("split"), "split.", &derr)?;
            let train: TrainParams = typed(effective("train"), "train.", &derr)?;
            let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
            if train.als.threads > MAX_THREADS_PER_CORE * cores {
                return Err(derr(format!(
                    "train.threads = {}: more than {MAX_THREADS_PER_CORE} × the {cores} cores of \
                     this machine (0 = all cores)",
                    train.als.threads
                )));
            }
            let mut tune_t = effective("tune");
            // Tuning is opt-in: without `enabled = true` the branch has no tune stage.
            match tune_t.get("enabled") {
                None => {
                    tune_t.insert("enabled".into(), Value::Boolean(false));
                }
                Some(Value::Boolean(_)) => {}
                Some(v) => {
                    return Err(derr(format!(
                        "tune.enabled: expected a boolean, found {}",
                        v.type_str()
                    )))
                }
            }
            let tune: alsflow_tune::Params = typed(tune_t, "tune.", &derr)?;
            let tune_enabled = tune.enabled;
            let evaluate: alsflow_evaluate::Params =
                typed(effective("evaluate"), "evaluate.", &derr)?;
            let spark: alsflow_spark::SparkSettings =
                typed(effective(SPARK_SECTION), "spark.", &derr)?;
            spark
                .validate()
                .map_err(|(key, message)| derr(format!("{key}: {message}")))?;
            out.push(DatasetConfig {
                name: name.clone(),
                source,
                test_source,
                preprocess,
                split,
                train,
                tune_enabled,
                tune,
                evaluate,
                spark,
            });
        }
        Ok(PipelineConfig {
            file: file.to_path_buf(),
            data_home,
            lock_file: None,
            datasets: out,
        })
    }

    /// The dataset called `name`, or an error listing the known ones.
    pub fn dataset(&self, name: &str) -> Result<&DatasetConfig, ConfigError> {
        self.datasets
            .iter()
            .find(|d| d.name == name)
            .ok_or_else(|| {
                let known: Vec<&str> = self.datasets.iter().map(|d| d.name.as_str()).collect();
                ConfigError::Invalid(format!(
                    "{}: no dataset named \"{name}\" (known: {})",
                    self.file.display(),
                    known.join(", ")
                ))
            })
    }
}

/// Whether `key` names a section (a stage's, or `[spark]`), globally or in a dataset.
fn is_section(key: &str) -> bool {
    key == SPARK_SECTION || crate::registry::find(key).is_some()
}

/// Deserialise a merged section into `T`, naming the offending key on error.
fn typed<T: serde::de::DeserializeOwned>(
    t: Table,
    prefix: &str,
    derr: &dyn Fn(String) -> ConfigError,
) -> Result<T, ConfigError> {
    let v = Value::Table(t);
    serde_path_to_error::deserialize(v).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner().to_string();
        // serde says "unknown field `x`, expected one of ..."; users think in keys.
        if let Some(rest) = inner.strip_prefix("unknown field `") {
            let key = rest.split('`').next().unwrap_or(rest);
            // The error's path already ends with the unknown key itself.
            let parent = if path == "." || path.is_empty() || path == key {
                String::new()
            } else if let Some(p) = path.strip_suffix(&format!(".{key}")) {
                format!("{p}.")
            } else {
                format!("{path}.")
            };
            let full = format!("{prefix}{parent}{key}");
            let expected = rest
                .split_once(", ")
                .map(|(_, e)| format!(" ({e})"))
                .unwrap_or_default();
            return derr(format!("unknown key '{full}'{expected}"));
        }
        let at = if path == "." || path.is_empty() {
            prefix.trim_end_matches('.').to_string()
        } else {
            format!("{prefix}{path}")
        };
        let at = if at.is_empty() {
            "preprocess".to_string()
        } else {
            at
        };
        derr(format!("{at}: {inner}"))
    })
}

/// Merge `over` into `base` key-wise; nested tables merge recursively, other values replace.
pub fn merge(base: &mut Table, over: &Table) {
    for (k, v) in over {
        match (base.get_mut(k), v) {
            (Some(Value::Table(b)), Value::Table(o)) => merge(b, o),
            _ => {
                base.insert(k.clone(), v.clone());
            }
        }
    }
}

/// Parse a `--set` value: TOML if it parses as a value, else a plain string.
fn parse_value(raw: &str) -> Value {
    let doc = format!("v = {raw}");
    match toml::from_str::<Table>(&doc) {
        Ok(mut t) => t
            .remove("v")
            .unwrap_or_else(|| Value::String(raw.to_string())),
        Err(_) => Value::String(raw.to_string()),
    }
}

/// The segments of a dotted key; a segment in double quotes may contain dots, as in
/// TOML (`spark.conf."spark.executor.memory"`).
fn dotted_key(key: &str) -> Vec<String> {
    let mut parts = vec![String::new()];
    let mut quoted = false;
    for c in key.chars() {
        match c {
            '"' => quoted = !quoted,
            '.' if !quoted => parts.push(String::new()),
            c => parts.last_mut().expect("one part at least").push(c),
        }
    }
    parts
}

/// Apply one `KEY=VALUE` override (`train.alpha=60`, `dataset.movielens.feedback=count`).
pub fn apply_override(root: &mut Table, spec: &str) -> Result<(), String> {
    let (key, raw) = spec
        .split_once('=')
        .ok_or_else(|| "expected KEY=VALUE (e.g. train.alpha=60)".to_string())?;
    let parts = dotted_key(key.trim());
    let parts: Vec<&str> = parts.iter().map(String::as_str).collect();
    if parts.iter().any(|p| p.is_empty()) || parts.len() < 2 {
        return Err(format!(
            "bad key '{key}': expected a dotted path like train.alpha"
        ));
    }
    let value = parse_value(raw.trim());
    let (mut table, rest): (&mut Table, &[&str]) = if parts[0] == "dataset" {
        if parts.len() < 3 {
            return Err(format!("bad key '{key}': expected dataset.NAME.KEY"));
        }
        let name = parts[1];
        let arr = match root.get_mut("dataset") {
            Some(Value::Array(a)) => a,
            _ => return Err("the config declares no [[dataset]]".into()),
        };
        let ds = arr
            .iter_mut()
            .filter_map(|d| match d {
                Value::Table(t) => Some(t),
                _ => None,
            })
            .find(|t| matches!(t.get("name"), Some(Value::String(n)) if n == name))
            .ok_or_else(|| format!("no dataset named \"{name}\""))?;
        (ds, &parts[2..])
    } else {
        (root, &parts[..])
    };
    for (i, p) in rest.iter().enumerate() {
        if i + 1 == rest.len() {
            table.insert((*p).to_string(), value);
            return Ok(());
        }
        let entry = table
            .entry((*p).to_string())
            .or_insert_with(|| Value::Table(Table::new()));
        table = match entry {
            Value::Table(t) => t,
            _ => return Err(format!("'{}' is not a table", rest[..=i].join("."))),
        };
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = r#"
[[dataset]]
name = "a"
path = "a/ratings.csv"
format = "delimited"
feedback = "count"

[[dataset]]
name = "b"
path = "/abs/b.csv"
format = "movielens"
[dataset.train]
alpha = 5.0

[train]
alpha = 40.0
rank = 8

[tune]
enabled = false
"#;

    fn parse(text: &str, sets: &[&str]) -> Result<PipelineConfig, ConfigError> {
        let sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
        PipelineConfig::parse(
            text,
            Path::new("pipeline.toml"),
            &sets,
            PathBuf::from("/home"),
        )
    }

    fn err(text: &str, sets: &[&str]) -> String {
        parse(text, sets).expect_err("must fail").to_string()
    }

    #[test]
    fn dataset_tables_override_global_sections_and_paths_resolve_against_the_data_home() {
        let c = parse(BASE, &[]).expect("valid");
        assert_eq!(c.datasets[0].train.als.alpha, 40.0);
        assert_eq!(c.datasets[1].train.als.alpha, 5.0);
        assert_eq!(
            c.datasets[1].train.als.rank, 8,
            "other [train] keys still apply"
        );
        assert_eq!(
            c.datasets[0].source.as_ref().map(|s| s.path.clone()),
            Some(PathBuf::from("/home/a/ratings.csv"))
        );
        assert_eq!(
            c.datasets[1].source.as_ref().map(|s| s.path.clone()),
            Some(PathBuf::from("/abs/b.csv"))
        );
        assert!(!c.datasets[0].tune_enabled);
    }

    #[test]
    fn set_overrides_by_dotted_path_before_validation() {
        let c = parse(
            BASE,
            &[
                "train.alpha=60",
                "dataset.b.train.rank=3",
                "tune.enabled=true",
            ],
        )
        .expect("valid");
        assert_eq!(c.datasets[0].train.als.alpha, 60.0);
        assert_eq!(
            c.datasets[1].train.als.alpha, 5.0,
            "the dataset's own table still wins"
        );
        assert_eq!(c.datasets[1].train.als.rank, 3);
        assert!(c.datasets[0].tune_enabled);
        let c = parse(BASE, &["dataset.a.feedback=binary"]).expect("valid");
        let json = serde_json::to_string(&c.datasets[0].preprocess).expect("json");
        assert!(json.contains("\"binary\""), "{json}");
        assert!(err(BASE, &["train.alpha=\"x\""]).contains("train.alpha"));
        assert!(err(BASE, &["dataset.zz.feedback=count"]).contains("no dataset named \"zz\""));
        assert!(err(BASE, &["alpha"]).contains("KEY=VALUE"));
        let c = parse(BASE, &["spark.conf.\"spark.executor.memory\"=8g"]).expect("valid");
        assert_eq!(
            c.datasets[0].spark.conf["spark.executor.memory"].to_string(),
            "8g"
        );
    }

    #[test]
    fn tuning_is_off_unless_enabled() {
        let text = BASE.replace("[tune]\nenabled = false\n", "");
        assert!(!parse(&text, &[]).expect("valid").datasets[0].tune_enabled);
    }

    #[test]
    fn errors_name_the_key_and_the_dataset() {
        let e = err(
            &BASE.replace("feedback = \"count\"", "feedbak = \"count\""),
            &[],
        );
        assert!(
            e.starts_with("pipeline.toml: dataset \"a\": unknown key 'feedbak'"),
            "{e}"
        );
        let e = err(&BASE.replace("rank = 8", "rank = \"eight\""), &[]);
        assert!(e.contains("dataset \"a\": train.rank: invalid type"), "{e}");
        let e = err(&BASE.replace("rank = 8", "rnak = 8"), &[]);
        assert!(e.contains("unknown key 'train.rnak'"), "{e}");
        let e = err(&format!("{BASE}\n[trian]\nx = 1\n"), &[]);
        assert!(e.contains("unknown key 'trian'"), "{e}");
        let e = err(&BASE.replace("name = \"b\"", "name = \"a\""), &[]);
        assert!(e.contains("duplicate dataset name \"a\""), "{e}");
        let e = err(&BASE.replace("path = \"a/ratings.csv\"\n", ""), &[]);
        assert!(e.contains("dataset \"a\": missing key 'path'"), "{e}");
        let e = err("[[dataset]]\nname = \"x\"\npath = 3\n", &[]);
        assert!(e.contains("key 'path' must be a string"), "{e}");
        let e = err("[[dataset]\n", &[]);
        assert!(e.starts_with("pipeline.toml:1:"), "{e}");
    }

    #[test]
    fn thread_counts_are_bounded_by_the_machine() {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let ok = format!("train.threads={}", MAX_THREADS_PER_CORE * cores);
        assert!(parse(BASE, &[&ok]).is_ok());
        let too_many = format!("train.threads={}", MAX_THREADS_PER_CORE * cores + 1);
        let e = err(BASE, &[&too_many]);
        assert!(e.contains("train.threads") && e.contains("cores"), "{e}");
    }

    #[test]
    fn a_preset_gives_the_params_of_its_explicit_keys_and_the_table_overrides_it() {
        let explicit = parse(
            "[[dataset]]\nname = \"m\"\npath = \"ml-latest-small/ratings.csv\"\n\
             format = \"movielens\"\nfeedback = \"binary\"\n",
            &[],
        )
        .expect("valid");
        let preset = parse(
            "[[dataset]]\nname = \"m\"\npreset = \"ml-latest-small\"\n",
            &[],
        )
        .expect("valid");
        let json =
            |c: &PipelineConfig| serde_json::to_string(&c.datasets[0].preprocess).expect("json");
        assert_eq!(json(&explicit), json(&preset));
        let (e, p) = (
            explicit.datasets[0].source.as_ref().expect("source"),
            preset.datasets[0].source.as_ref().expect("source"),
        );
        assert_eq!(e.path, p.path);
        assert_eq!(p.preset.as_deref(), Some("ml-latest-small"));
        // The table's keys, a global [preprocess] section and --set: the preset's keys
        // win over the global section only.
        let text = "[preprocess]\nformat = \"delimited\"\nmin_user_interactions = 2\n\
                    [[dataset]]\nname = \"m\"\npreset = \"ml-latest-small\"\n\
                    feedback = \"count\"\n";
        let c = parse(
            text,
            &["dataset.m.threshold=4.0", "dataset.m.feedback=binary"],
        )
        .expect("valid");
        let pre = &c.datasets[0].preprocess;
        assert_eq!(pre.format, alsflow_preprocess::SourceFormat::Movielens);
        assert_eq!(pre.feedback, Some(alsflow_preprocess::Feedback::Binary));
        assert_eq!((pre.threshold, pre.min_user_interactions), (Some(4.0), 2));
        let e = err("[[dataset]]\nname = \"m\"\npreset = \"ml-99m\"\n", &[]);
        assert!(
            e.contains("dataset \"m\": preset: unknown preset \"ml-99m\""),
            "{e}"
        );
    }

    #[test]
    fn synthetic_datasets_need_no_path() {
        let c = parse("[[dataset]]\nname = \"s\"\nformat = \"synthetic\"\n", &[]).expect("valid");
        assert!(c.datasets[0].source.is_none());
    }
}
