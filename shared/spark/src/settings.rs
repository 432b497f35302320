//! The `[spark]` section of `pipeline.toml`: how to reach Spark, and the two Spark
//! parameters of its ALS that alsflow's own `[train]` keys do not cover.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

/// Which implementation fits the models of a stage (`[train] backend`, `[tune] backend`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// alsflow's own ALS kernels, in process.
    #[default]
    Native,
    /// Spark MLlib's ALS, through `spark-submit` (see the `[spark]` section).
    Spark,
}

/// Where Spark runs the driver program (`spark-submit --deploy-mode`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeployMode {
    /// The driver runs here, beside alsflow (the only mode for Python on a standalone
    /// cluster).
    #[default]
    Client,
    /// The driver runs on the cluster (YARN, Kubernetes); the staging directory must
    /// then be shared with the cluster.
    Cluster,
}

impl DeployMode {
    /// The word `spark-submit` takes.
    pub fn as_str(&self) -> &'static str {
        match self {
            DeployMode::Client => "client",
            DeployMode::Cluster => "cluster",
        }
    }
}

/// One `conf` value: TOML strings, numbers and booleans are all handed to Spark as text.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ConfValue {
    /// `"4g"`.
    Text(String),
    /// `8`.
    Integer(i64),
    /// `0.6`.
    Float(f64),
    /// `true`.
    Bool(bool),
}

impl fmt::Display for ConfValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfValue::Text(s) => f.write_str(s),
            ConfValue::Integer(i) => write!(f, "{i}"),
            ConfValue::Float(x) => write!(f, "{x}"),
            ConfValue::Bool(b) => write!(f, "{b}"),
        }
    }
}

/// The `[spark]` section (per-dataset overrides in `[dataset.spark]`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SparkSettings {
    /// The `spark-submit` program: a name on `PATH` or a path.
    pub submit: String,
    /// Spark's master URL: `local[*]`, `spark://host:7077`, `yarn`, `k8s://…`.
    pub master: String,
    /// `client` (default) or `cluster`.
    pub deploy_mode: DeployMode,
    /// Further `--conf` settings (`"spark.executor.memory" = "4g"`).
    pub conf: BTreeMap<String, ConfValue>,
    /// Where the job's files are staged (inputs, the driver, checkpoints, factors); on
    /// a cluster, a path every executor can read and write. Default: the system's
    /// temporary directory.
    pub staging_dir: Option<PathBuf>,
    /// The Python that runs the driver and Spark's Python workers
    /// (`PYSPARK_PYTHON`). Default: the `python` beside `submit` when there is one
    /// (a virtualenv made by `make spark-env`), else Spark's own choice.
    pub python: Option<String>,
    /// Spark ALS's `numUserBlocks` and `numItemBlocks`.
    pub num_blocks: usize,
    /// Spark ALS's `checkpointInterval` (iterations between checkpoints of the factors'
    /// lineage, in the staging directory).
    pub checkpoint_interval: usize,
}

impl Default for SparkSettings {
    fn default() -> Self {
        SparkSettings {
            submit: "spark-submit".into(),
            master: "local[*]".into(),
            deploy_mode: DeployMode::Client,
            conf: BTreeMap::new(),
            staging_dir: None,
            python: None,
            // Spark's own defaults for both.
            num_blocks: 10,
            checkpoint_interval: 10,
        }
    }
}

/// `conf` keys that decide where and how fast Spark computes, not what: they stay out
/// of the cache key, like the master URL. Any other key is kept in it (a key alsflow
/// does not know might change results, so it reruns rather than reuses).
const NOT_RESULT_CONF: &[&str] = &[
    "memory",
    "memoryOverhead",
    "cores",
    "spark.executor.instances",
    "spark.dynamicAllocation.",
    "spark.ui.",
    "spark.eventLog.",
    "spark.app.name",
    "spark.driver.host",
    "spark.driver.bindAddress",
    "spark.driver.port",
    "spark.blockManager.port",
    "spark.port.maxRetries",
    "spark.local.dir",
    "spark.network.",
    "spark.rpc.",
    "spark.yarn.queue",
    "spark.scheduler.",
    "spark.task.cpus",
    "spark.log",
    "extraJavaOptions",
];

/// Whether conf key `key` can change a fit's factors (see [`NOT_RESULT_CONF`]).
pub fn conf_changes_results(key: &str) -> bool {
    !NOT_RESULT_CONF.iter().any(|pat| {
        if pat.starts_with("spark.") {
            key.starts_with(pat)
        } else {
            // A word of the key: `spark.executor.memory`, `spark.driver.cores`.
            key.split('.').any(|part| part == *pat)
        }
    })
}

impl SparkSettings {
    /// Check the settings; the error names the key (`spark.num_blocks`).
    pub fn validate(&self) -> Result<(), (String, String)> {
        let bad = |key: &str, message: &str| Err((format!("spark.{key}"), message.to_string()));
        if self.submit.trim().is_empty() {
            return bad("submit", "must name the spark-submit program");
        }
        if self.master.trim().is_empty() {
            return bad("master", "must be a master URL such as \"local[*]\"");
        }
        if self.num_blocks == 0 {
            return bad("num_blocks", "must be at least 1");
        }
        if self.checkpoint_interval == 0 {
            return bad(
                "checkpoint_interval",
                "must be at least 1 (without checkpoints Spark's lineage overflows the stack after ~30 iterations)",
            );
        }
        if self.python.as_deref().is_some_and(|p| p.trim().is_empty()) {
            return bad("python", "must name a Python program (or be left out)");
        }
        for key in self.conf.keys() {
            if !key.starts_with("spark.") {
                return Err((
                    format!("spark.conf.\"{key}\""),
                    "Spark settings start with \"spark.\"".into(),
                ));
            }
            if key == "spark.master" || key == "spark.submit.deployMode" {
                return Err((
                    format!("spark.conf.\"{key}\""),
                    "set spark.master / spark.deploy_mode instead".into(),
                ));
            }
        }
        Ok(())
    }

    /// The conf entries that can change results (they enter the cache key).
    pub fn result_conf(&self) -> BTreeMap<String, String> {
        self.conf
            .iter()
            .filter(|(k, _)| conf_changes_results(k))
            .map(|(k, v)| (k.clone(), v.to_string()))
            .collect()
    }

    /// Whether the master runs everything on this machine (`local`, `local[4]`, …).
    pub fn is_local(&self) -> bool {
        self.master == "local" || self.master.starts_with("local[")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_cores_and_addresses_stay_out_of_the_key_other_conf_stays_in() {
        for k in [
            "spark.executor.memory",
            "spark.driver.memory",
            "spark.executor.memoryOverhead",
            "spark.memory.fraction",
            "spark.executor.cores",
            "spark.cores.max",
            "spark.ui.enabled",
            "spark.driver.host",
            "spark.local.dir",
            "spark.executor.extraJavaOptions",
        ] {
            assert!(!conf_changes_results(k), "{k}");
        }
        for k in [
            "spark.sql.shuffle.partitions",
            "spark.default.parallelism",
            "spark.kryo.registrationRequired",
            "spark.sql.adaptive.enabled",
        ] {
            assert!(conf_changes_results(k), "{k}");
        }
    }

    #[test]
    fn bad_settings_name_their_key() {
        let s = SparkSettings {
            num_blocks: 0,
            ..SparkSettings::default()
        };
        assert_eq!(s.validate().unwrap_err().0, "spark.num_blocks");
        let mut s = SparkSettings::default();
        s.conf
            .insert("executor.memory".into(), ConfValue::Text("4g".into()));
        assert_eq!(
            s.validate().unwrap_err().0,
            "spark.conf.\"executor.memory\""
        );
        assert!(SparkSettings::default().validate().is_ok());
        assert!(SparkSettings::default().is_local());
    }
}
