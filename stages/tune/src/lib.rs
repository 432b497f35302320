//! Stage tune: cross-validated grid search over ALS hyperparameters, with a
//! memoised record per (grid point, fold).
//!
//! - Inputs: `split.folds` (the training rows with `fold` and `cold` columns; fold j's
//!   fit part = rows with fold ≠ j, its validation = rows with fold = j and not cold),
//!   the only input: the folds table holds every training row.
//! - Grid ([`grid`]): a table axis → values over the `[train]` params
//!   ([`Params::base`], set by the runner); the default is the seed's 192 points.
//! - Work sharing: points that differ only in `max_iter` come from one fit, with
//!   [`alsflow_als::fit_with`] snapshots at each requested iteration count (identical
//!   to separate fits by the ALS crate's contract).
//! - Memoisation: every (point, fold) result is stored with
//!   [`StageContext::memo_put`] under a key made of the point's canonical params, the
//!   fold, `k` and the folds artifact id, so a grid with one more value fits only
//!   the new points and an unchanged grid fits nothing.
//! - Parallelism: (point group, fold) jobs run concurrently with one thread per fit
//!   when the data is small (measured: on ml-100k, two single-threaded fits at once
//!   beat one two-threaded fit), else one job at a time with all threads inside the fit.
//! - Backends (`[tune] backend`): `native` runs the jobs above in process; `spark`
//!   fits every missing (point, fold) in one Spark application ([`spark_batch`]) and
//!   scores the factors here, filling the same memo records (keyed by the Spark
//!   binding too, so native and Spark results never mix).
//! - Outputs: `results` (Parquet, [`results`]), `best_params` (bincode `AlsParams`),
//!   `heatmap` and `roem_vs_iter` (SVG, [`plots`]). Timings go only to the summary so
//!   the artifacts are byte-identical across reruns.

pub mod grid;
pub mod spark_batch;

use alsflow_als::{fit_with, AlsModel, AlsParams, InteractionMatrix};
use alsflow_core::catalog::{split, tune};
use alsflow_core::table::Interactions;
use alsflow_core::{codec, ArtifactId, Stage, StageContext, StageError, StageInputs, StageOutputs};
use alsflow_core::{ArtifactName, InputSpec};
use alsflow_formats::plots;
use alsflow_formats::results::{self, ResultRow};
use alsflow_metrics::{evaluate_factors, EvalSet, Metrics, UserItems};
use alsflow_spark::{Backend, SparkRun};
use grid::{canonical_params, GridPoint, PointGroup};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Instant;

/// Whether the selection metric is minimised or maximised.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Lower is better (ROEM).
    Minimize,
    /// Higher is better (precision, NDCG, AUC, ...).
    Maximize,
}

/// Parameters of the `tune` stage (its `[tune]` section of `pipeline.toml`).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Params {
    /// Whether the runner runs tune at all (else train uses `[train]` as is).
    pub enabled: bool,
    /// Selection metric: `roem`, `precision@k`, `recall@k`, `map@k`, `ndcg@k`, `auc`, `coverage@k`.
    pub metric: String,
    /// Minimise or maximise `metric`; default: minimise ROEM, maximise the others.
    pub direction: Option<Direction>,
    /// Cut-off of the @k metrics.
    pub k: usize,
    /// Axis → values. Axes are `[train]` fields (see [`grid::AXES`]).
    pub grid: BTreeMap<String, Vec<Value>>,
    /// (point group, fold) jobs run at once; 0 = auto (all cores, one thread per
    /// fit, when a fold has fewer than [`PARALLEL_JOBS_MAX_NNZ`] interactions).
    pub parallel_points: usize,
    /// The `[train]` params the grid points are merged over (set by the runner).
    #[serde(skip_deserializing, default)]
    pub base: AlsParams,
    /// Which implementation fits the grid's models.
    pub backend: Backend,
    /// How to reach Spark, set by the runner when `backend = "spark"`; serialised as
    /// the cache key's view of it.
    #[serde(skip_deserializing, skip_serializing_if = "Option::is_none")]
    pub spark: Option<SparkRun>,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            enabled: true,
            metric: "roem".into(),
            direction: None,
            k: 10,
            grid: grid::default_grid(),
            parallel_points: 0,
            base: AlsParams::default(),
            backend: Backend::Native,
            spark: None,
        }
    }
}

impl Params {
    /// The effective direction of the selection metric.
    pub fn direction(&self) -> Direction {
        self.direction
            .unwrap_or(if Metrics::higher_is_better(&self.metric) {
                Direction::Maximize
            } else {
                Direction::Minimize
            })
    }
}

/// Above this many fit interactions per fold, jobs run one at a time with every
/// thread inside the fit (the per-fit working set no longer fits the caches twice).
pub const PARALLEL_JOBS_MAX_NNZ: usize = 2_000_000;

/// The `tune` stage.
pub struct Tune;

impl Stage for Tune {
    const NAME: &'static str = "tune";
    const INPUTS: &'static [InputSpec] = &[InputSpec::needs(split::FOLDS)];
    const OUTPUTS: &'static [ArtifactName] = tune::ALL;
    type Params = Params;

    /// Threads, the loss trace and how many fits run at once do not change any result;
    /// on Spark, what can change Spark's results is kept (see `alsflow_spark::SparkRun`).
    fn key_params(params: &Params) -> Params {
        Params {
            parallel_points: 0,
            base: AlsParams {
                threads: 0,
                compute_loss: false,
                ..params.base.clone()
            },
            spark: match params.backend {
                Backend::Spark => params.spark.clone(),
                Backend::Native => None,
            },
            ..params.clone()
        }
    }

    fn run(
        params: &Params,
        inputs: &StageInputs,
        ctx: &dyn StageContext,
    ) -> Result<StageOutputs, StageError> {
        let folds_in = inputs.get(split::FOLDS.qualified)?;
        let folds: Interactions = folds_in.table()?;
        let source = FoldsSource {
            label: &folds_in.label,
            id: folds_in.id,
            parquet: Some(&folds_in.bytes),
        };
        let outcome = search(params, &folds, &source, ctx)?;
        outcome.into_outputs(params)
    }
}

/// What a grid search produced.
#[derive(Clone, Debug)]
pub struct TuneOutcome {
    /// The grid points in grid order.
    pub points: Vec<GridPoint>,
    /// One row per (point, fold), point-major.
    pub rows: Vec<ResultRow>,
    /// Index of the selected point.
    pub best: usize,
    /// Mean validation metric of the selected point.
    pub best_value: f64,
    /// (point group, fold) fits run in this call.
    pub fits_run: usize,
    /// (point, fold) results taken from the memo.
    pub results_memoised: usize,
    /// Wall seconds spent fitting and validating.
    pub seconds: f64,
    /// Sum of the per-job wall seconds, validation included (more than `seconds`
    /// when jobs overlap).
    pub fit_seconds: f64,
    /// Of `fit_seconds`, the time spent computing validation metrics.
    pub eval_seconds: f64,
}

impl TuneOutcome {
    /// The selected params: the base merged with the best point.
    pub fn best_params(&self) -> &AlsParams {
        &self.points[self.best].params
    }

    /// Encode the stage's four artifacts and summary lines.
    pub fn into_outputs(self, params: &Params) -> Result<StageOutputs, StageError> {
        let mut out = StageOutputs::new();
        let table = results::write_results(&self.rows, params.k)?;
        let heat =
            plots::heatmap_svg(&self.rows, "roem").map_err(|e| StageError::other(e.to_string()))?;
        let curve = plots::metric_vs_iter_svg(&self.rows, "roem")
            .map_err(|e| StageError::other(e.to_string()))?;
        out.put(tune::RESULTS, table);
        // The thread count is an execution setting, not a choice of the search:
        // leaving it out keeps best_params (and train downstream) identical across
        // machines and `threads` values.
        let best = AlsParams {
            threads: 0,
            ..self.best_params().clone()
        };
        out.put(tune::BEST_PARAMS, codec::encode("best params", &best)?);
        out.put(tune::HEATMAP, heat.into_bytes());
        out.put(tune::ROEM_VS_ITER, curve.into_bytes());
        let total = self.rows.len();
        out.note(format!(
            "{} grid points x {} folds: {} fits run, {} of {} results memoised, {:.2} s (jobs {:.2} s, of which validation {:.2} s)",
            self.points.len(),
            total / self.points.len().max(1),
            self.fits_run,
            self.results_memoised,
            total,
            self.seconds,
            self.fit_seconds,
            self.eval_seconds
        ));
        out.note(format!(
            "best: {} (mean CV {} = {:.6})",
            self.points[self.best].label(),
            params.metric,
            self.best_value
        ));
        Ok(out)
    }
}

/// One fold's fit matrix and validation set.
struct FoldData {
    matrix: InteractionMatrix,
    eval: EvalSet,
}

fn build_fold(folds: &Interactions, fold: u8, label: &str) -> Result<FoldData, StageError> {
    let bad = |message: String| StageError::BadInput {
        source_name: label.to_string(),
        line: None,
        message,
    };
    let (Some(f), Some(cold)) = (&folds.fold, &folds.cold) else {
        return Err(bad("the folds table needs 'fold' and 'cold' columns".into()));
    };
    let fit = folds.filter_rows(|r| f[r] != fold);
    let valid = folds.filter_rows(|r| f[r] == fold && !cold[r]);
    let matrix =
        InteractionMatrix::from_interactions(&fit).map_err(|e| bad(format!("fold {fold}: {e}")))?;
    let train = UserItems::from_triples(
        "train",
        fit.n_users,
        fit.n_items,
        &fit.user,
        &fit.item,
        &fit.value,
    )
    .map_err(|e| bad(format!("fold {fold} fit part: {e}")))?;
    let test = UserItems::from_triples(
        "test",
        valid.n_users,
        valid.n_items,
        &valid.user,
        &valid.item,
        &valid.value,
    )
    .map_err(|e| bad(format!("fold {fold} validation part: {e}")))?;
    let eval = EvalSet::new(train, test)
        .map_err(|e| bad(format!("fold {fold}: {e} (is the 'cold' column right?)")))?;
    Ok(FoldData { matrix, eval })
}

/// The memo key of one (point, fold) result. `backend` is empty for native fits (their
/// keys are as before backends existed) and names the Spark binding otherwise.
fn memo_key(
    point: &AlsParams,
    fold: u8,
    k: usize,
    folds_id: ArtifactId,
    backend: &str,
) -> Result<Vec<u8>, StageError> {
    Ok(format!(
        "tune/v2\0folds={folds_id}\0fold={fold}\0k={k}\0{}{backend}",
        canonical_params(point)?
    )
    .into_bytes())
}

/// Where the folds table came from: its label and id for messages and memo keys, and
/// its Parquet bytes when the caller has them (Spark reads those as they are).
struct FoldsSource<'a> {
    label: &'a str,
    id: ArtifactId,
    parquet: Option<&'a [u8]>,
}

/// The fold data of every fold some job needs (only those are built).
fn build_needed_folds(
    folds: &Interactions,
    jobs: &[Job],
    label: &str,
) -> Result<BTreeMap<u8, FoldData>, StageError> {
    let mut needed: Vec<u8> = jobs.iter().map(|j| j.fold).collect();
    needed.sort_unstable();
    needed.dedup();
    needed
        .iter()
        .map(|&f| build_fold(folds, f, label).map(|d| (f, d)))
        .collect()
}

/// A (point group, fold) unit of work: the points of the group still to compute.
struct Job {
    group: usize,
    fold: u8,
    missing: Vec<usize>,
}

/// Run the grid search over `folds` (memoising through `ctx`), without encoding outputs.
pub fn run_grid(
    params: &Params,
    folds: &Interactions,
    folds_label: &str,
    folds_id: ArtifactId,
    ctx: &dyn StageContext,
) -> Result<TuneOutcome, StageError> {
    let source = FoldsSource {
        label: folds_label,
        id: folds_id,
        parquet: None,
    };
    search(params, folds, &source, ctx)
}

fn search(
    params: &Params,
    folds: &Interactions,
    source: &FoldsSource<'_>,
    ctx: &dyn StageContext,
) -> Result<TuneOutcome, StageError> {
    let (folds_label, folds_id) = (source.label, source.id);
    let backend = spark_batch::memo_tag(params)?;
    let started = Instant::now();
    if params.k == 0 {
        return Err(StageError::BadParam {
            param: "tune.k".into(),
            message: "must be at least 1".into(),
        });
    }
    let probe = Metrics {
        k: params.k,
        roem: 0.0,
        precision: 0.0,
        recall: 0.0,
        map: 0.0,
        ndcg: 0.0,
        auc: 0.0,
        coverage: 0.0,
        users_evaluated: 0,
        test_interactions: 0,
    };
    if probe.get(&params.metric).is_none() {
        return Err(StageError::BadParam {
            param: "tune.metric".into(),
            message: format!(
                "unknown metric '{}'; use one of {}",
                params.metric,
                alsflow_metrics::metric_names(params.k).join(", ")
            ),
        });
    }
    let fold_col = folds.fold.as_ref().ok_or_else(|| StageError::BadInput {
        source_name: folds_label.to_string(),
        line: None,
        message: "the folds table has no 'fold' column: set split.folds to 2 or more, \
                  or tune.enabled = false"
            .into(),
    })?;
    let n_folds = fold_col.iter().copied().max().map_or(0, |m| m as usize + 1);
    if n_folds < 2 {
        return Err(StageError::BadInput {
            source_name: folds_label.to_string(),
            line: None,
            message: format!("cross-validation needs at least 2 folds, found {n_folds}"),
        });
    }
    let points = grid::expand(&params.base, &params.grid)?;
    let groups = grid::group_by_max_iter(&points);

    // Memo look-ups first: only the missing (point, fold) results need a fit.
    let mut found: BTreeMap<(usize, u8), Metrics> = BTreeMap::new();
    let mut jobs = Vec::new();
    for (g, group) in groups.iter().enumerate() {
        for fold in 0..n_folds as u8 {
            let mut missing = Vec::new();
            for &p in &group.points {
                let key = memo_key(&points[p].params, fold, params.k, folds_id, &backend)?;
                match ctx
                    .memo_get(&key)
                    .and_then(|v| codec::decode::<Metrics>("tune memo", &v).ok())
                {
                    Some(m) => {
                        found.insert((p, fold), m);
                    }
                    None => missing.push(p),
                }
            }
            if !missing.is_empty() {
                jobs.push(Job {
                    group: g,
                    fold,
                    missing,
                });
            }
        }
    }
    let results_memoised = found.len();

    let fit_seconds = Mutex::new(0.0f64);
    let eval_seconds = Mutex::new(0.0f64);
    let mut fits_run = jobs.len();
    if !jobs.is_empty() && params.backend == Backend::Spark {
        let fold_data = build_needed_folds(folds, &jobs, folds_label)?;
        // The search's plug point for any batch fitter: the missing (point, fold)
        // results in, their factors out, scored and memoised here.
        let requests: Vec<spark_batch::FitRequest> = jobs
            .iter()
            .flat_map(|j| {
                j.missing.iter().map(|&p| spark_batch::FitRequest {
                    point: p,
                    fold: j.fold,
                    params: points[p].params.clone(),
                })
            })
            .collect();
        spark_batch::check_requests(&requests, &points)?;
        let memo_key = |p: &AlsParams, fold: u8| memo_key(p, fold, params.k, folds_id, &backend);
        let (fit_secs, eval_secs) = spark_batch::fit_and_score(
            params,
            &points,
            &requests,
            &fold_data,
            (folds, source),
            &memo_key,
            &mut found,
            ctx,
        )?;
        fits_run = requests.len();
        if let (Ok(mut f), Ok(mut e)) = (fit_seconds.lock(), eval_seconds.lock()) {
            *f += fit_secs;
            *e += eval_secs;
        }
    }
    if !jobs.is_empty() && params.backend == Backend::Native {
        let fold_data = build_needed_folds(folds, &jobs, folds_label)?;
        let max_nnz = fold_data
            .values()
            .map(|d| d.matrix.nnz())
            .max()
            .unwrap_or(0);
        let concurrent = match params.parallel_points {
            0 if max_nnz < PARALLEL_JOBS_MAX_NNZ => rayon::current_num_threads(),
            0 => 1,
            n => n,
        }
        .min(jobs.len())
        .max(1);
        let progress = ctx.progress("tune", jobs.len() as u64);
        let run_job = |job: &Job,
                       threads: usize|
         -> Result<Vec<(usize, u8, Metrics)>, StageError> {
            let t0 = Instant::now();
            let data = &fold_data[&job.fold];
            let group: &PointGroup = &groups[job.group];
            let last = *job.missing.last().unwrap_or(&group.points[0]);
            let mut p = points[last].params.clone();
            p.threads = threads;
            let wanted: Vec<(usize, usize)> = job
                .missing
                .iter()
                .map(|&i| (points[i].params.max_iter, i))
                .collect();
            let mut got: Vec<(usize, u8, Metrics)> = Vec::new();
            let mut failure: Option<StageError> = None;
            let mut on_iter = |iter: usize, model: &AlsModel| {
                for &(it, point) in &wanted {
                    if it == iter {
                        let t = Instant::now();
                        let result = evaluate_factors(
                            &data.eval,
                            &model.user_factors,
                            &model.item_factors,
                            model.rank,
                            params.k,
                        );
                        if let Ok(mut e) = eval_seconds.lock() {
                            *e += t.elapsed().as_secs_f64();
                        }
                        match result {
                            Ok(m) => got.push((point, job.fold, m)),
                            Err(e) => {
                                failure = Some(StageError::other(format!("fold {}: {e}", job.fold)))
                            }
                        }
                    }
                }
            };
            fit_with(&data.matrix, &p, &mut on_iter).map_err(|e| als_error(e, &points[last]))?;
            if let Some(e) = failure {
                return Err(e);
            }
            // max_iter = 0 points get no callback: evaluate the initial factors is not
            // meaningful, so reject them explicitly.
            if got.len() != wanted.len() {
                return Err(StageError::BadParam {
                    param: "tune.grid.max_iter".into(),
                    message: "every max_iter must be at least 1".into(),
                });
            }
            for (point, fold, m) in &got {
                let key = memo_key(&points[*point].params, *fold, params.k, folds_id, &backend)?;
                ctx.memo_put(&key, &codec::encode("tune memo", m)?);
            }
            if let Ok(mut s) = fit_seconds.lock() {
                *s += t0.elapsed().as_secs_f64();
            }
            progress.set_message(format!("{} fold {}", points[last].label(), job.fold));
            progress.inc(1);
            Ok(got)
        };
        type JobResult = Result<Vec<(usize, u8, Metrics)>, StageError>;
        let computed: Vec<JobResult> = if concurrent > 1 {
            // Plain threads, not a rayon pool: the ALS fit installs its own pool, and a
            // rayon worker waiting on another pool steals more jobs onto its stack, which
            // oversubscribes the cores and nests the jobs.
            let mut order: Vec<usize> = (0..jobs.len()).collect();
            // Largest fits first so the tail of the schedule is short.
            order.sort_by_key(|&j| {
                let p = &points[*jobs[j].missing.last().unwrap_or(&0)].params;
                std::cmp::Reverse(p.rank * p.rank * p.max_iter)
            });
            let next = std::sync::atomic::AtomicUsize::new(0);
            let slots: Vec<Mutex<Option<JobResult>>> =
                (0..jobs.len()).map(|_| Mutex::new(None)).collect();
            std::thread::scope(|scope| {
                for _ in 0..concurrent {
                    scope.spawn(|| loop {
                        let n = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(&j) = order.get(n) else { break };
                        let r = run_job(&jobs[j], 1);
                        let failed = r.is_err();
                        if let Ok(mut slot) = slots[j].lock() {
                            *slot = Some(r);
                        }
                        if failed {
                            // Stop handing out work; the error is reported below.
                            next.store(order.len(), std::sync::atomic::Ordering::Relaxed);
                        }
                    });
                }
            });
            slots
                .into_iter()
                .filter_map(|m| m.into_inner().ok().flatten())
                .collect()
        } else {
            jobs.iter()
                .map(|j| run_job(j, params.base.threads))
                .collect()
        };
        progress.finish();
        for r in computed {
            for (p, f, m) in r? {
                found.insert((p, f), m);
            }
        }
    }

    // Assemble point-major rows and select by the mean over folds.
    let minimize = params.direction() == Direction::Minimize;
    let mut rows = Vec::with_capacity(points.len() * n_folds);
    let mut best: Option<(usize, f64)> = None;
    for p in &points {
        let mut sum = 0.0;
        for fold in 0..n_folds as u8 {
            let m = found.get(&(p.index, fold)).ok_or_else(|| {
                StageError::other(format!(
                    "internal: no result for point {} fold {fold}",
                    p.index
                ))
            })?;
            sum += m.get(&params.metric).unwrap_or(f64::NAN);
            rows.push(ResultRow {
                point: p.index as u32,
                fold,
                params: p.params.clone(),
                metrics: m.clone(),
            });
        }
        let mean = sum / n_folds as f64;
        let wins = match best {
            None => true,
            Some((_, b)) => {
                !mean.is_nan() && (b.is_nan() || if minimize { mean < b } else { mean > b })
            }
        };
        if wins {
            best = Some((p.index, mean));
        }
    }
    let (best, best_value) = best.ok_or_else(|| StageError::BadParam {
        param: "tune.grid".into(),
        message: "the grid has no points".into(),
    })?;
    let fit_seconds = fit_seconds.into_inner().unwrap_or(0.0);
    let eval_seconds = eval_seconds.into_inner().unwrap_or(0.0);
    Ok(TuneOutcome {
        fits_run,
        points,
        rows,
        best,
        best_value,
        results_memoised,
        seconds: started.elapsed().as_secs_f64(),
        fit_seconds,
        eval_seconds,
    })
}

fn als_error(e: alsflow_als::AlsError, point: &GridPoint) -> StageError {
    match e {
        alsflow_als::AlsError::BadParam { param, message } => StageError::BadParam {
            param: format!("tune.grid point [{}]: {param}", point.label()),
            message,
        },
        other => StageError::other(format!("fit of grid point [{}]: {other}", point.label())),
    }
}

#[cfg(test)]
mod tests;
