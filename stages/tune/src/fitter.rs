//! Running the fits a search round asks for.
//!
//! A round hands one batch of [`FitRequest`]s (a parameter group on one fold, scored
//! at several `max_iter` snapshots) to a [`FitBackend`]. [`LocalFitter`] runs them on
//! this machine: (group, fold) jobs run concurrently with one thread per fit when the
//! data is small (measured: on ml-100k, two single-threaded fits at once beat one
//! two-threaded fit), else one job at a time with all threads inside the fit. Another
//! backend (a cluster) implements the same trait and receives the same batches.

use alsflow_als::{fit_with, AlsModel, AlsParams, InteractionMatrix};
use alsflow_core::table::Interactions;
use alsflow_core::{StageContext, StageError};
use alsflow_metrics::{evaluate_factors, EvalSet, Metrics, UserItems};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Above this many fit interactions per fold, jobs run one at a time with every
/// thread inside the fit (the per-fit working set no longer fits the caches twice).
pub const PARALLEL_JOBS_MAX_NNZ: usize = 2_000_000;

/// One point scored by a fit: the model after `max_iter` iterations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Snapshot {
    /// The iteration count (the point's `max_iter`).
    pub max_iter: usize,
    /// The point's index in the search.
    pub point: usize,
}

/// One fit: a parameter group on one fold, scored at each snapshot.
#[derive(Clone, Debug, PartialEq)]
pub struct FitRequest {
    /// The fit's params; `max_iter` is the largest snapshot's.
    pub params: AlsParams,
    /// The validation fold (the fit uses the other folds).
    pub fold: u8,
    /// The points to score, by ascending `max_iter`.
    pub snapshots: Vec<Snapshot>,
    /// The largest snapshot's point label, for progress and errors.
    pub label: String,
}

/// The validation metrics of one point on one fold.
#[derive(Clone, Debug, PartialEq)]
pub struct Scored {
    /// The point's index.
    pub point: usize,
    /// The validation fold.
    pub fold: u8,
    /// Its validation metrics.
    pub metrics: Metrics,
}

/// Called once per finished request with its scores (the search memoises them
/// there, so an interrupted batch keeps what finished).
pub type DoneFn<'a> = dyn Fn(&FitRequest, &[Scored]) -> Result<(), StageError> + Sync + 'a;

/// Something that fits a batch of requests and scores their snapshots.
pub trait FitBackend: Sync {
    /// Fit every request of `batch` (in any order, concurrently if it likes) and call
    /// `done` for each as soon as its scores are known. `label` names the round for
    /// progress reports.
    fn fit_batch(
        &self,
        label: &str,
        batch: &[FitRequest],
        done: &DoneFn<'_>,
    ) -> Result<(), StageError>;
}

/// One fold's fit matrix and validation set.
pub(crate) struct FoldData {
    pub(crate) matrix: InteractionMatrix,
    pub(crate) eval: EvalSet,
}

/// `sample`: validate on a seeded sample of (this many users, seed) instead of all.
fn build_fold(
    folds: &Interactions,
    fold: u8,
    label: &str,
    sample: Option<(usize, u64)>,
) -> Result<FoldData, StageError> {
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
    let mut eval = EvalSet::new(train, test)
        .map_err(|e| bad(format!("fold {fold}: {e} (is the 'cold' column right?)")))?;
    if let Some((n, seed)) = sample {
        eval.sample_users(n, seed);
    }
    Ok(FoldData { matrix, eval })
}

/// Wall-clock accounting of the fits (for the summary line only: never in artifacts).
#[derive(Debug, Default)]
pub struct FitTimes {
    /// Sum of the per-job wall seconds, validation included.
    pub job_seconds: f64,
    /// Of those, seconds spent computing validation metrics.
    pub eval_seconds: f64,
}

/// Fits on this machine with the ALS crate (see the module docs).
pub struct LocalFitter<'a> {
    folds: &'a Interactions,
    folds_label: &'a str,
    k: usize,
    parallel_points: usize,
    threads: usize,
    validation_sample: Option<(usize, u64)>,
    ctx: &'a dyn StageContext,
    built: Mutex<BTreeMap<u8, Arc<FoldData>>>,
    times: Mutex<FitTimes>,
}

impl<'a> LocalFitter<'a> {
    /// A fitter over the folds table `folds` (labelled `folds_label` in errors),
    /// scoring the @k metrics at `k`. `parallel_points` as in `tune.parallel_points`;
    /// `threads` is the fit's thread count when jobs run one at a time.
    pub fn new(
        folds: &'a Interactions,
        folds_label: &'a str,
        k: usize,
        parallel_points: usize,
        threads: usize,
        ctx: &'a dyn StageContext,
    ) -> Self {
        LocalFitter {
            folds,
            folds_label,
            k,
            parallel_points,
            threads,
            validation_sample: None,
            ctx,
            built: Mutex::new(BTreeMap::new()),
            times: Mutex::new(FitTimes::default()),
        }
    }

    /// Validate each fit on a seeded sample of `users` users of the fold
    /// (`tune.validation_users`; the seed is the `[train]` seed) instead of all.
    pub fn with_validation_sample(mut self, users: Option<usize>, seed: u64) -> Self {
        self.validation_sample = users.map(|n| (n, seed));
        self
    }

    /// Add another backend's job and validation seconds to the account.
    pub(crate) fn add_times(&self, job_seconds: f64, eval_seconds: f64) {
        if let Ok(mut t) = self.times.lock() {
            t.job_seconds += job_seconds;
            t.eval_seconds += eval_seconds;
        }
    }

    /// Seconds spent so far (summed over jobs, and of that in validation).
    pub fn times(&self) -> (f64, f64) {
        self.times
            .lock()
            .map(|t| (t.job_seconds, t.eval_seconds))
            .unwrap_or((0.0, 0.0))
    }

    /// The fold data for `fold`, built on first use and kept for later rounds.
    fn fold(&self, fold: u8) -> Result<Arc<FoldData>, StageError> {
        let mut built = self
            .built
            .lock()
            .map_err(|_| StageError::other("fold cache poisoned"))?;
        if let Some(d) = built.get(&fold) {
            return Ok(d.clone());
        }
        let d = Arc::new(build_fold(
            self.folds,
            fold,
            self.folds_label,
            self.validation_sample,
        )?);
        built.insert(fold, d.clone());
        Ok(d)
    }

    /// The fold data of every fold some request of `batch` needs (only those are
    /// built).
    pub(crate) fn folds_of(
        &self,
        batch: &[FitRequest],
    ) -> Result<BTreeMap<u8, Arc<FoldData>>, StageError> {
        let mut data = BTreeMap::new();
        for r in batch {
            if let std::collections::btree_map::Entry::Vacant(slot) = data.entry(r.fold) {
                slot.insert(self.fold(r.fold)?);
            }
        }
        Ok(data)
    }

    /// Fit one request with `threads` threads and score its snapshots.
    fn run_one(
        &self,
        request: &FitRequest,
        data: &FoldData,
        threads: usize,
    ) -> Result<Vec<Scored>, StageError> {
        let t0 = Instant::now();
        let mut p = request.params.clone();
        p.threads = threads;
        let mut got: Vec<Scored> = Vec::with_capacity(request.snapshots.len());
        let mut failure: Option<StageError> = None;
        let mut eval_seconds = 0.0;
        let mut on_iter = |iter: usize, model: &AlsModel| {
            for s in request.snapshots.iter().filter(|s| s.max_iter == iter) {
                let t = Instant::now();
                // The one place validation is scored.
                let result = evaluate_factors(
                    &data.eval,
                    &model.user_factors,
                    &model.item_factors,
                    model.rank,
                    self.k,
                );
                eval_seconds += t.elapsed().as_secs_f64();
                match result {
                    Ok(metrics) => got.push(Scored {
                        point: s.point,
                        fold: request.fold,
                        metrics,
                    }),
                    Err(e) => {
                        failure = Some(StageError::other(format!("fold {}: {e}", request.fold)))
                    }
                }
            }
        };
        fit_with(&data.matrix, &p, &mut on_iter).map_err(|e| als_error(e, &request.label))?;
        if let Some(e) = failure {
            return Err(e);
        }
        // max_iter = 0 gets no callback: scoring the initial factors is not meaningful,
        // so such points are rejected explicitly.
        if got.len() != request.snapshots.len() {
            return Err(StageError::BadParam {
                param: "tune.grid.max_iter".into(),
                message: "every max_iter must be at least 1".into(),
            });
        }
        if let Ok(mut t) = self.times.lock() {
            t.job_seconds += t0.elapsed().as_secs_f64();
            t.eval_seconds += eval_seconds;
        }
        Ok(got)
    }
}

impl FitBackend for LocalFitter<'_> {
    fn fit_batch(
        &self,
        label: &str,
        batch: &[FitRequest],
        done: &DoneFn<'_>,
    ) -> Result<(), StageError> {
        if batch.is_empty() {
            return Ok(());
        }
        let data = self.folds_of(batch)?;
        let max_nnz = data.values().map(|d| d.matrix.nnz()).max().unwrap_or(0);
        let concurrent = match self.parallel_points {
            0 if max_nnz < PARALLEL_JOBS_MAX_NNZ => rayon::current_num_threads(),
            0 => 1,
            n => n,
        }
        .min(batch.len())
        .max(1);
        let progress = self.ctx.progress(label, batch.len() as u64);
        let job = |r: &FitRequest, threads: usize| -> Result<(), StageError> {
            let scored = self.run_one(r, &data[&r.fold], threads)?;
            done(r, &scored)?;
            progress.set_message(format!("{} fold {}", r.label, r.fold));
            progress.inc(1);
            Ok(())
        };
        let result = if concurrent > 1 {
            // Plain threads, not a rayon pool: the ALS fit installs its own pool, and a
            // rayon worker waiting on another pool steals more jobs onto its stack, which
            // oversubscribes the cores and nests the jobs.
            let mut order: Vec<usize> = (0..batch.len()).collect();
            // Largest fits first so the tail of the schedule is short.
            order.sort_by_key(|&j| {
                let p = &batch[j].params;
                std::cmp::Reverse(p.rank * p.rank * p.max_iter)
            });
            let next = AtomicUsize::new(0);
            let first_error: Mutex<Option<StageError>> = Mutex::new(None);
            std::thread::scope(|scope| {
                for _ in 0..concurrent {
                    scope.spawn(|| loop {
                        let n = next.fetch_add(1, Ordering::Relaxed);
                        let Some(&j) = order.get(n) else { break };
                        if let Err(e) = job(&batch[j], 1) {
                            if let Ok(mut slot) = first_error.lock() {
                                slot.get_or_insert(e);
                            }
                            // Stop handing out work; the error is reported below.
                            next.store(order.len(), Ordering::Relaxed);
                        }
                    });
                }
            });
            match first_error.into_inner() {
                Ok(Some(e)) => Err(e),
                Ok(None) => Ok(()),
                Err(_) => Err(StageError::other("a tune job panicked")),
            }
        } else {
            batch.iter().try_for_each(|r| job(r, self.threads))
        };
        progress.finish();
        result
    }
}

pub(crate) fn als_error(e: alsflow_als::AlsError, label: &str) -> StageError {
    match e {
        alsflow_als::AlsError::BadParam { param, message } => StageError::BadParam {
            param: format!("tune.grid point [{label}]: {param}"),
            message,
        },
        other => StageError::other(format!("fit of grid point [{label}]: {other}")),
    }
}
