//! `backend = "spark"`: the model fitted by Spark MLlib's ALS in one Spark application
//! (see `alsflow_spark`), returned as the same [`AlsModel`] a native fit gives.

use alsflow_als::{AlsModel, AlsParams};
use alsflow_core::{InputArtifact, StageContext, StageError};
use alsflow_spark::{run_fits, SparkAls, SparkFit, SparkInput, SparkRun};

/// Fit `p` on the interactions of `train_in` (`n_users × n_items`) with Spark.
/// `origin` says where `p` came from (`[train]` or `tune.best_params`) for messages.
/// Returns the model (params as the cache key sees them, no loss trace) and summary
/// lines.
pub(crate) fn fit(
    spark: Option<&SparkRun>,
    p: &AlsParams,
    origin: &str,
    train_in: &InputArtifact,
    (n_users, n_items): (usize, usize),
    ctx: &dyn StageContext,
) -> Result<(AlsModel, Vec<String>), StageError> {
    let Some(spark) = spark else {
        return Err(StageError::other(
            "train.backend = \"spark\" but no [spark] settings were bound (a runner bug)",
        ));
    };
    p.validate()
        .map_err(|e| crate::stage_error(e, &train_in.label))?;
    let unsupported = |param: &str, message: String| {
        let from = if origin == "[train]" {
            String::new()
        } else {
            format!(" (the value comes from {origin}: tune with backend = \"spark\" too)")
        };
        StageError::BadParam {
            param: format!("train.{param}"),
            message: format!("{message}{from}"),
        }
    };
    if p.compute_loss {
        return Err(unsupported(
            "compute_loss",
            "Spark's ALS does not report the training loss: set compute_loss = false (or use \
             backend = \"native\")"
                .into(),
        ));
    }
    let als = SparkAls::from_params(p).map_err(|e| unsupported(e.param, e.message))?;
    let progress = ctx.progress("spark", 1);
    let mut factors = None;
    let report = run_fits(
        spark,
        &format!("{}-train", ctx.dataset()),
        &SparkInput {
            parquet: &train_in.bytes,
            label: &train_in.label,
            n_users,
            n_items,
        },
        &[SparkFit { als, fold: None }],
        progress.as_ref(),
        &mut |f| {
            factors = Some(f);
            Ok(())
        },
    )?;
    progress.finish();
    let Some(f) = factors else {
        return Err(StageError::other(
            "the Spark application returned no factors",
        ));
    };
    let model = AlsModel {
        params: AlsParams {
            threads: 0,
            compute_loss: false,
            ..p.clone()
        },
        n_users,
        n_items,
        rank: p.rank,
        user_factors: f.user_factors,
        item_factors: f.item_factors,
        iterations: p.max_iter,
        loss: Vec::new(),
    };
    let summary = vec![format!(
        "Spark {} application {} on {}: JVM and session {:.1} s, fit and factors {:.1} s, {:.1} s in all",
        report.spark_version,
        report.app_id,
        spark.settings.master,
        report.startup_seconds,
        f.seconds,
        report.seconds
    )];
    Ok((model, summary))
}
