//! `backend = "spark"`: each search round's batch of fits in one Spark application.
//!
//! [`SparkFitter`] is a [`FitBackend`]: the search hands it the same batches it hands
//! the local fitter (a parameter group on one fold, scored at several `max_iter`
//! snapshots), it asks Spark for the factors, and scores them here with the same code
//! as native fits, so the memo records and the search path are the same. Spark cannot
//! hand out intermediate iterations, so every snapshot is a fit of its own (native
//! fits share one fit through snapshots).

use crate::fitter::{als_error, DoneFn, FitBackend, FitRequest, LocalFitter, Scored};
use crate::search::FoldsSource;
use crate::Params;
use alsflow_als::AlsParams;
use alsflow_core::table::Interactions;
use alsflow_core::{Progress, StageContext, StageError};
use alsflow_metrics::evaluate_factors;
use alsflow_spark::{run_fits, AppReport, SparkAls, SparkFit, SparkInput, SparkRun};
use std::collections::BTreeMap;
use std::time::Instant;

/// One Spark fit: grid point `point`'s params on fold `fold`'s fit part (the rows
/// whose fold differs).
#[derive(Clone, Debug, PartialEq)]
pub struct PointFit {
    /// Index of the point in the search.
    pub point: usize,
    /// The fold left out.
    pub fold: u8,
    /// The point's params (`max_iter` is the snapshot wanted).
    pub params: AlsParams,
}

/// The factors of one requested fit.
#[derive(Clone, Debug, PartialEq)]
pub struct FoldFactors {
    /// Index of the point.
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

/// Fits a search's batches on Spark; the validation sets come from the local fitter's
/// fold cache.
pub struct SparkFitter<'a> {
    params: &'a Params,
    spark: &'a SparkRun,
    folds: &'a Interactions,
    label: &'a str,
    parquet: std::borrow::Cow<'a, [u8]>,
    local: &'a LocalFitter<'a>,
    ctx: &'a dyn StageContext,
    /// The applications run so far, with their fit counts.
    apps: std::sync::Mutex<Vec<(AppReport, usize)>>,
}

impl<'a> SparkFitter<'a> {
    /// A fitter for `params` (whose `spark` binding the runner set) over `folds`.
    pub fn new(
        params: &'a Params,
        folds: &'a Interactions,
        source: &FoldsSource<'a>,
        local: &'a LocalFitter<'a>,
        ctx: &'a dyn StageContext,
    ) -> Result<Self, StageError> {
        let spark = params.spark.as_ref().ok_or_else(|| {
            StageError::other(
                "tune.backend = \"spark\" but no [spark] settings were bound (a runner bug)",
            )
        })?;
        // Spark reads the split's artifact as stored; a library caller without the
        // bytes gets the same table encoded.
        let parquet = match source.parquet {
            Some(bytes) => std::borrow::Cow::Borrowed(bytes),
            None => std::borrow::Cow::Owned(folds.to_parquet()?),
        };
        Ok(SparkFitter {
            params,
            spark,
            folds,
            label: source.label,
            parquet,
            local,
            ctx,
            apps: std::sync::Mutex::new(Vec::new()),
        })
    }
}

impl SparkFitter<'_> {
    /// One summary line per Spark application run (one per search round).
    pub fn app_notes(&self) -> Vec<String> {
        let apps = self.apps.lock().map(|a| a.clone()).unwrap_or_default();
        apps.iter()
            .map(|(r, fits)| {
                format!(
                    "Spark {} application {} on {}: {fits} fits; JVM and session {:.1} s, {:.1} s in all",
                    r.spark_version, r.app_id, self.spark.settings.master, r.startup_seconds, r.seconds
                )
            })
            .collect()
    }
}

impl FitBackend for SparkFitter<'_> {
    fn fit_batch(
        &self,
        label: &str,
        batch: &[FitRequest],
        done: &DoneFn<'_>,
    ) -> Result<(), StageError> {
        if batch.is_empty() {
            return Ok(());
        }
        // One Spark fit per snapshot; `owner[i]` is the batch request fit `i` serves.
        let mut fits = Vec::new();
        let mut owner = Vec::new();
        for (r, request) in batch.iter().enumerate() {
            for s in &request.snapshots {
                fits.push(PointFit {
                    point: s.point,
                    fold: request.fold,
                    params: AlsParams {
                        max_iter: s.max_iter,
                        ..request.params.clone()
                    },
                });
                owner.push(r);
            }
        }
        let labels: Vec<&str> = owner.iter().map(|&r| batch[r].label.as_str()).collect();
        check_requests(&fits, &labels, &self.params.grid)?;
        let data = self.local.folds_of(batch)?;
        let progress = self.ctx.progress(label, fits.len() as u64);
        let mut scored: Vec<Vec<Scored>> = vec![Vec::new(); batch.len()];
        let index_of: BTreeMap<(usize, u8), usize> = fits
            .iter()
            .enumerate()
            .map(|(i, f)| ((f.point, f.fold), i))
            .collect();
        let (mut job_secs, mut eval_secs) = (0.0, 0.0);
        let report = fit_batch(
            self.spark,
            &format!("{}-tune", self.ctx.dataset()),
            &SparkInput {
                parquet: &self.parquet,
                label: self.label,
                n_users: self.folds.n_users as usize,
                n_items: self.folds.n_items as usize,
            },
            &fits,
            progress.as_ref(),
            &mut |f| {
                let t = Instant::now();
                let metrics = evaluate_factors(
                    &data[&f.fold].eval,
                    &f.user_factors,
                    &f.item_factors,
                    f.rank,
                    self.params.k,
                )
                .map_err(|e| StageError::other(format!("fold {}: {e}", f.fold)))?;
                let scoring = t.elapsed().as_secs_f64();
                eval_secs += scoring;
                job_secs += f.seconds + scoring;
                let r = owner[index_of[&(f.point, f.fold)]];
                scored[r].push(Scored {
                    point: f.point,
                    fold: f.fold,
                    metrics,
                });
                // A request is done when all its snapshots are scored (the search
                // memoises it then, so an interrupted application keeps what finished).
                if scored[r].len() == batch[r].snapshots.len() {
                    scored[r].sort_by_key(|s| s.point);
                    done(&batch[r], &scored[r])?;
                }
                Ok(())
            },
        )?;
        progress.finish();
        self.local.add_times(job_secs, eval_secs);
        if let Ok(mut apps) = self.apps.lock() {
            apps.push((report, fits.len()));
        }
        Ok(())
    }
}

/// Check that Spark can fit every request; the error names the grid axis, or the
/// `[train]` key the grid inherits.
/// `labels[i]` names `fits[i]`'s point.
pub fn check_requests(
    fits: &[PointFit],
    labels: &[&str],
    grid: &BTreeMap<String, Vec<serde_json::Value>>,
) -> Result<(), StageError> {
    for (f, label) in fits.iter().zip(labels) {
        if f.params.max_iter == 0 {
            return Err(StageError::BadParam {
                param: "tune.grid.max_iter".into(),
                message: "every max_iter must be at least 1".into(),
            });
        }
        f.params.validate().map_err(|e| als_error(e, label))?;
        if let Err(e) = SparkAls::from_params(&f.params) {
            return Err(StageError::BadParam {
                param: if grid.contains_key(e.param) {
                    format!("tune.grid.{} (point [{label}])", e.param)
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
    requests: &[PointFit],
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
