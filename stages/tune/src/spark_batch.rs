//! `backend = "spark"`: a batch of missing (point, fold) fits in one Spark application.
//!
//! Narrow by design: requests in (a grid point's params on one fold), factors out,
//! one [`FoldFactors`] per request as soon as Spark has written it. The search loop
//! scores them with the same code as native fits and fills the same memo records.
//! Spark cannot hand out intermediate iterations, so every `max_iter` of a point
//! group is a fit of its own (native fits share one fit through snapshots).

use crate::grid::GridPoint;
use crate::{FoldData, FoldsSource, Params};
use alsflow_als::AlsParams;
use alsflow_core::table::Interactions;
use alsflow_core::{codec, Progress, StageContext, StageError};
use alsflow_metrics::{evaluate_factors, Metrics};
use alsflow_spark::{run_fits, AppReport, SparkAls, SparkFit, SparkInput, SparkRun};
use std::collections::BTreeMap;
use std::time::Instant;

/// One fit the search needs: grid point `point`'s params on fold `fold`'s fit part
/// (the rows whose fold differs).
#[derive(Clone, Debug, PartialEq)]
pub struct FitRequest {
    /// Index of the grid point.
    pub point: usize,
    /// The fold left out.
    pub fold: u8,
    /// The point's params (`max_iter` is the snapshot wanted).
    pub params: AlsParams,
}

/// The factors of one requested fit.
#[derive(Clone, Debug, PartialEq)]
pub struct FoldFactors {
    /// Index of the grid point.
    pub point: usize,
    /// The fold left out.
    pub fold: u8,
    /// Factors per row.
    pub rank: usize,
    /// Row-major `n_users × rank`.
    pub user_factors: Vec<f32>,
    /// Row-major `n_items × rank`.
    pub item_factors: Vec<f32>,
    /// Seconds Spark spent on the fit.
    pub seconds: f64,
}

/// The backend's part of the memo keys: empty for native, the Spark binding's key view
/// for Spark.
pub(crate) fn memo_tag(params: &Params) -> Result<String, StageError> {
    match params.backend {
        alsflow_spark::Backend::Native => Ok(String::new()),
        alsflow_spark::Backend::Spark => {
            let view = alsflow_core::canonical::to_string("spark binding", &params.spark)
                .map_err(|e| StageError::other(e.to_string()))?;
            Ok(format!("\0backend=spark\0{view}"))
        }
    }
}

/// Check that Spark can fit every request; the error names the grid axis, or the
/// `[train]` key the grid inherits.
pub fn check_requests(requests: &[FitRequest], points: &[GridPoint]) -> Result<(), StageError> {
    for r in requests {
        let point = &points[r.point];
        if r.params.max_iter == 0 {
            return Err(StageError::BadParam {
                param: "tune.grid.max_iter".into(),
                message: "every max_iter must be at least 1".into(),
            });
        }
        r.params
            .validate()
            .map_err(|e| crate::als_error(e, point))?;
        if let Err(e) = SparkAls::from_params(&r.params) {
            let on_axis = point.values.iter().any(|(axis, _)| axis == e.param);
            return Err(StageError::BadParam {
                param: if on_axis {
                    format!("tune.grid.{} (point [{}])", e.param, point.label())
                } else {
                    format!("train.{} (the base of tune's grid)", e.param)
                },
                message: e.message,
            });
        }
    }
    Ok(())
}

/// Fit every request in one Spark application on `folds` (the split's folds table),
/// calling `on_factors` for each as Spark finishes it.
pub fn fit_batch(
    spark: &SparkRun,
    app_name: &str,
    folds: &SparkInput<'_>,
    requests: &[FitRequest],
    progress: &dyn Progress,
    on_factors: &mut dyn FnMut(FoldFactors) -> Result<(), StageError>,
) -> Result<AppReport, StageError> {
    let fits: Vec<SparkFit> = requests
        .iter()
        .map(|r| {
            SparkAls::from_params(&r.params)
                .map(|als| SparkFit {
                    als,
                    fold: Some(r.fold),
                })
                .map_err(|e| StageError::BadParam {
                    param: format!("tune.grid ({})", e.param),
                    message: e.message,
                })
        })
        .collect::<Result<_, _>>()?;
    run_fits(spark, app_name, folds, &fits, progress, &mut |f| {
        let r = &requests[f.index];
        on_factors(FoldFactors {
            point: r.point,
            fold: r.fold,
            rank: r.params.rank,
            user_factors: f.user_factors,
            item_factors: f.item_factors,
            seconds: f.seconds,
        })
    })
}

/// The search's Spark path: fit `requests` in one application, score each fit on its
/// fold's validation set as it arrives, memoise it under `memo_key` and add it to
/// `found`. Returns (seconds Spark spent on the fits plus scoring, of which scoring).
#[allow(clippy::too_many_arguments)]
pub(crate) fn fit_and_score(
    params: &Params,
    points: &[GridPoint],
    requests: &[FitRequest],
    fold_data: &BTreeMap<u8, FoldData>,
    (folds, source): (&Interactions, &FoldsSource<'_>),
    memo_key: &dyn Fn(&AlsParams, u8) -> Result<Vec<u8>, StageError>,
    found: &mut BTreeMap<(usize, u8), Metrics>,
    ctx: &dyn StageContext,
) -> Result<(f64, f64), StageError> {
    let spark = params.spark.as_ref().ok_or_else(|| {
        StageError::other(
            "tune.backend = \"spark\" but no [spark] settings were bound (a runner bug)",
        )
    })?;
    // Spark reads the split's artifact as stored; a library caller without the bytes
    // gets the same table encoded.
    let encoded;
    let parquet = match source.parquet {
        Some(bytes) => bytes,
        None => {
            encoded = folds.to_parquet()?;
            &encoded
        }
    };
    let progress = ctx.progress("spark", requests.len() as u64);
    let (mut fit_secs, mut eval_secs) = (0.0, 0.0);
    fit_batch(
        spark,
        &format!("{}-tune", ctx.dataset()),
        &SparkInput {
            parquet,
            label: source.label,
            n_users: folds.n_users as usize,
            n_items: folds.n_items as usize,
        },
        requests,
        progress.as_ref(),
        &mut |f| {
            let t = Instant::now();
            let m = evaluate_factors(
                &fold_data[&f.fold].eval,
                &f.user_factors,
                &f.item_factors,
                f.rank,
                params.k,
            )
            .map_err(|e| StageError::other(format!("fold {}: {e}", f.fold)))?;
            let scoring = t.elapsed().as_secs_f64();
            eval_secs += scoring;
            fit_secs += f.seconds + scoring;
            ctx.memo_put(
                &memo_key(&points[f.point].params, f.fold)?,
                &codec::encode("tune memo", &m)?,
            );
            found.insert((f.point, f.fold), m);
            Ok(())
        },
    )?;
    progress.finish();
    Ok((fit_secs, eval_secs))
}
