//! `alsflow-spark`: the Spark backend of the train and tune stages.
//!
//! With `backend = "spark"`, a stage hands its split's Parquet artifact to Spark MLlib's
//! ALS and reads the factors back; everything downstream (evaluate, report, recommend,
//! serve) sees the same tables as for alsflow's own fits.
//!
//! - [`settings`]: the `[spark]` section ([`SparkSettings`]) and the [`Backend`] switch.
//! - [`mapping`]: `[train]` parameters as Spark's ALS parameters ([`SparkAls`]); a
//!   setting Spark cannot honour is an error naming the key.
//! - [`run_fits`]: one Spark application (one `spark-submit` of the driver script
//!   `spark/alsflow_spark.py`, embedded in this crate) fits every requested model and
//!   hands each fit's factors to the caller as soon as Spark has written them.
//! - [`SparkRun`]: the settings plus what was asked of Spark (its version); its
//!   serialised form is what a stage's cache key hashes: the driver script's id,
//!   Spark's version, the blocks, the checkpoint interval and the `conf` entries that
//!   can change results; not the master URL, the deploy mode, paths or memory.
//!
//! Files: the job is staged in a fresh directory under `[spark] staging_dir` (the
//! input Parquet, the driver, the job description, Spark's checkpoints and factor
//! output), removed when the call returns, whether it succeeded or not. For a cluster
//! that directory must be on a file system every executor reads and writes at the
//! same path.
//!
//! Architecture invariant: like a stage, this crate knows nothing of the store, the
//! runner or the CLI; it starts Spark only as a process.

mod app;
pub mod factors;
pub mod mapping;
mod probe;
pub mod settings;
mod staging;

pub use mapping::{SparkAls, Unsupported};
pub use probe::{python_for, spark_version};
pub use settings::{Backend, ConfValue, DeployMode, SparkSettings};

use alsflow_core::{ArtifactId, Progress, StageError};
use app::Event;
use serde::{Serialize, Serializer};
use staging::Staging;
use std::collections::BTreeMap;
use std::time::Instant;

/// The driver program Spark runs (`spark/alsflow_spark.py`), built into alsflow so an
/// installed binary and its driver never disagree.
pub const DRIVER_SCRIPT: &str = include_str!("../../../spark/alsflow_spark.py");

/// The driver script's content id (part of every Spark-backed cache key).
pub fn driver_id() -> ArtifactId {
    ArtifactId::of(DRIVER_SCRIPT.as_bytes())
}

/// A stage's Spark binding: the settings to run with and Spark's version as asked of
/// Spark (set by the runner when the stage's backend is `spark`).
///
/// Serialises as the cache key's view (see the crate docs), not as the settings.
#[derive(Clone, Debug, PartialEq)]
pub struct SparkRun {
    /// The `[spark]` settings of the dataset.
    pub settings: SparkSettings,
    /// `spark-submit --version`'s answer, or the one-line reason it could not be had
    /// (the stage then fails with it).
    pub version: Result<String, String>,
}

impl SparkRun {
    /// Bind `settings`, asking Spark its version (once per process and program).
    pub fn resolve(settings: &SparkSettings) -> SparkRun {
        SparkRun {
            settings: settings.clone(),
            version: spark_version(settings),
        }
    }
}

/// What of a [`SparkRun`] can change a fit's factors.
#[derive(Serialize)]
struct KeyView<'a> {
    driver: String,
    spark_version: &'a str,
    num_blocks: usize,
    checkpoint_interval: usize,
    conf: BTreeMap<String, String>,
}

impl Serialize for SparkRun {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        KeyView {
            driver: driver_id().to_hex(),
            spark_version: self.version.as_deref().unwrap_or("unavailable"),
            num_blocks: self.settings.num_blocks,
            checkpoint_interval: self.settings.checkpoint_interval,
            conf: self.settings.result_conf(),
        }
        .serialize(s)
    }
}

/// One ALS fit of a Spark application.
#[derive(Clone, Debug, PartialEq)]
pub struct SparkFit {
    /// Spark's ALS parameters.
    pub als: SparkAls,
    /// Fit on the rows whose `fold` differs from this one (tune); `None`: every row.
    pub fold: Option<u8>,
}

/// The factors of one finished fit, in alsflow's layout.
#[derive(Clone, Debug, PartialEq)]
pub struct FitFactors {
    /// Index of the fit in the request.
    pub index: usize,
    /// Row-major `n_users × rank`; zero rows for users without interactions.
    pub user_factors: Vec<f32>,
    /// Row-major `n_items × rank`; zero rows for items without interactions.
    pub item_factors: Vec<f32>,
    /// Seconds Spark spent on this fit (fit and factor output).
    pub seconds: f64,
}

/// What one Spark application did, for the stage's summary.
#[derive(Clone, Debug, PartialEq)]
pub struct AppReport {
    /// Spark's application id (`local-…`, `app-…`).
    pub app_id: String,
    /// Spark's version as the running application reported it.
    pub spark_version: String,
    /// Seconds from `spark-submit` to the Spark session being up (the JVM start).
    pub startup_seconds: f64,
    /// Seconds of the whole application.
    pub seconds: f64,
}

/// The data a Spark application fits on.
pub struct SparkInput<'a> {
    /// Parquet bytes of an `Interactions` table (`user_idx`, `item_idx`, `value`, and
    /// `fold` when a fit names one): a split artifact as stored.
    pub parquet: &'a [u8],
    /// What to call it in messages (`split.train`).
    pub label: &'a str,
    /// Users in the index space (rows of the user factors).
    pub n_users: usize,
    /// Items in the index space.
    pub n_items: usize,
}

/// Fit every one of `fits` in one Spark application named `app_name`, calling
/// `on_fit` with each fit's factors as soon as Spark has written them (in any order).
///
/// Errors are one line and leave nothing behind: Spark is missing or unreachable, a
/// parameter Spark cannot take, the application failed (with the end of Spark's
/// stderr), or `on_fit` failed (the application is then stopped).
pub fn run_fits(
    run: &SparkRun,
    app_name: &str,
    input: &SparkInput<'_>,
    fits: &[SparkFit],
    progress: &dyn Progress,
    on_fit: &mut dyn FnMut(FitFactors) -> Result<(), StageError>,
) -> Result<AppReport, StageError> {
    let fail = StageError::Other;
    let version = run.version.clone().map_err(fail)?;
    for (n, id) in [(input.n_users, "user"), (input.n_items, "item")] {
        if i32::try_from(n).is_err() {
            return Err(input.bad_index(id, n));
        }
    }
    app::check_master_reachable(&run.settings.master).map_err(fail)?;
    let staging = Staging::create(&run.settings, app_name).map_err(fail)?;
    let job = staging
        .write_job(input, fits, &run.settings)
        .map_err(fail)?;

    let started = Instant::now();
    let mut report = AppReport {
        app_id: String::new(),
        spark_version: String::new(),
        startup_seconds: 0.0,
        seconds: 0.0,
    };
    let mut handed_over = vec![false; fits.len()];
    // An error of `on_fit` is kept whole (it may name a parameter) and wins over
    // the generic one the stopped application then reports.
    let mut callback_error: Option<StageError> = None;
    let outcome = app::run_application(
        &run.settings,
        &staging.dir.path().join("alsflow_spark.py"),
        &job,
        app_name,
        &mut |event| match event {
            Event::Started {
                spark_version,
                app_id,
            } => {
                report.startup_seconds = started.elapsed().as_secs_f64();
                if spark_version != version {
                    return Err(format!(
                        "the Spark application runs Spark {spark_version}, but `{} --version` said \
                         {version}: spark.submit and the cluster must be one Spark",
                        run.settings.submit
                    ));
                }
                progress.set_message(format!("Spark {spark_version} up ({app_id})"));
                report.app_id = app_id;
                report.spark_version = spark_version;
                Ok(())
            }
            Event::Progress {
                stage,
                name,
                tasks_done,
                tasks,
            } => {
                progress.set_message(format!(
                    "Spark stage {stage} ({name}): {tasks_done}/{tasks} tasks"
                ));
                Ok(())
            }
            Event::FitDone { index, seconds } => {
                let Some(fit) = fits.get(index) else {
                    return Err(format!("the Spark driver reported an unknown fit #{index}"));
                };
                if std::mem::replace(&mut handed_over[index], true) {
                    return Err(format!("the Spark driver reported fit #{index} twice"));
                }
                let out = staging.fit_dir(index);
                let rank = fit.als.rank;
                let read = |side: &str, n: usize| {
                    factors::read_factor_dir(&out.join(format!("{side}_factors")), n, rank)
                };
                let factors = FitFactors {
                    index,
                    user_factors: read("user", input.n_users)?,
                    item_factors: read("item", input.n_items)?,
                    seconds,
                };
                progress.inc(1);
                on_fit(factors).map_err(|e| {
                    let line = e.to_string();
                    callback_error = Some(e);
                    line
                })
            }
            Event::Done => Ok(()),
        },
    );
    if let Some(e) = callback_error {
        return Err(e);
    }
    outcome.map_err(fail)?;
    if let Some(missing) = handed_over.iter().position(|h| !h) {
        return Err(fail(format!(
            "the Spark application finished without fit #{missing}"
        )));
    }
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

impl SparkInput<'_> {
    fn bad_index(&self, what: &str, n: usize) -> StageError {
        StageError::BadInput {
            source_name: self.label.to_string(),
            line: None,
            message: format!("{n} {what}s: Spark's ALS takes ids below 2^31"),
        }
    }
}
