//! The search strategies (`tune.search`): `grid` (exhaustive, the seed's behaviour),
//! [`extend`] (the grid, then rounds beyond its edges and around the best point) and
//! [`halving`] (successive halving over the grid's parameter groups, with folds as
//! the budget). All of them score points only through [`Trials::score`], one batch
//! per round, and end with the same account: the rows, the best point, the rounds
//! and the edge warnings.

pub mod extend;
pub mod halving;

use crate::axes::Ranges;
use crate::edges;
use crate::fitter::{FitBackend, LocalFitter};
use crate::grid::{self, GridPoint};
use crate::spark_batch::{self, SparkFitter};
use crate::trials::{Trials, TrialsSetup};
use crate::{Direction, Params, Search, TuneOutcome};
use alsflow_core::table::Interactions;
use alsflow_core::{ArtifactId, StageContext, StageError};
use alsflow_formats::search::{BestPoint, SearchRound, SearchSummary};
use alsflow_metrics::Metrics;
use alsflow_spark::Backend;
use serde_json::Value;
use std::time::Instant;

/// What every strategy works with.
pub struct SearchState<'t, 'a> {
    /// The tried points and their scores.
    pub trials: &'t mut Trials<'a>,
    /// The grid's axes in grid order, with their values.
    pub grid_axes: Vec<(&'static str, Vec<Value>)>,
    /// Axes with at least two values in the grid: the ones searched.
    pub searched: Vec<&'static str>,
    /// The rounds so far.
    pub rounds: Vec<SearchRound>,
}

impl SearchState<'_, '_> {
    /// Record a round that scored `scored` (of which `new` for the first time) on
    /// `folds`, needing `fits`; its best is the overall best on every fold.
    pub fn record(&mut self, round: RoundRecord) {
        let (best_point, best_value) = round
            .best
            .or_else(|| self.trials.best())
            .map_or((0, f64::NAN), |(p, v)| (p as u32, v));
        self.rounds.push(SearchRound {
            round: self.rounds.len(),
            kind: round.kind.to_string(),
            reason: round.reason,
            new_points: round.new.iter().map(|&p| p as u32).collect(),
            scored_points: round.scored.iter().map(|&p| p as u32).collect(),
            folds: round.folds,
            fits: round.fits,
            best_point,
            best_label: self.trials.points[best_point as usize].label(),
            best_value,
            extensions: round.extensions,
        });
    }

    /// The grid itself as the first round: every point on every fold.
    pub fn grid_round(&mut self, points: &[usize]) -> Result<(), StageError> {
        let folds = self.trials.all_folds();
        let fits = self.trials.score(points, &folds, "tune")?;
        self.record(RoundRecord {
            kind: "grid",
            reason: format!("the grid: {} points x {} folds", points.len(), folds.len()),
            new: points.to_vec(),
            scored: points.to_vec(),
            folds,
            fits,
            best: None,
            extensions: Vec::new(),
        });
        Ok(())
    }
}

/// What a strategy tells [`SearchState::record`] about a round.
pub struct RoundRecord {
    /// `grid`, `extend`, `refine` or `rung`.
    pub kind: &'static str,
    /// Why it ran and what it tried.
    pub reason: String,
    /// Points scored for the first time.
    pub new: Vec<usize>,
    /// Points scored in the round.
    pub scored: Vec<usize>,
    /// Folds scored.
    pub folds: Vec<u8>,
    /// Fits needed.
    pub fits: usize,
    /// The round's best when it is not the overall best on every fold (a rung).
    pub best: Option<(usize, f64)>,
    /// Values added beyond an edge.
    pub extensions: Vec<alsflow_formats::search::Extension>,
}

fn bad_param(param: &str, message: impl Into<String>) -> StageError {
    StageError::BadParam {
        param: param.into(),
        message: message.into(),
    }
}

/// Check the params a search needs before any work.
fn validate(params: &Params) -> Result<Ranges, StageError> {
    if params.k == 0 {
        return Err(bad_param("tune.k", "must be at least 1"));
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
        return Err(bad_param(
            "tune.metric",
            format!(
                "unknown metric '{}'; use one of {}",
                params.metric,
                alsflow_metrics::metric_names(params.k).join(", ")
            ),
        ));
    }
    if !(params.min_gain.is_finite() && params.min_gain >= 0.0) {
        return Err(bad_param(
            "tune.min_gain",
            format!("{} must be a finite number ≥ 0", params.min_gain),
        ));
    }
    if params.eta < 2 {
        return Err(bad_param(
            "tune.eta",
            format!(
                "{} must be at least 2 (keep the best 1/eta each rung)",
                params.eta
            ),
        ));
    }
    if params.validation_users == Some(0) {
        return Err(bad_param(
            "tune.validation_users",
            "must be at least 1 (leave it out to validate on every user)",
        ));
    }
    if params.min_folds == 0 {
        return Err(bad_param("tune.min_folds", "must be at least 1"));
    }
    if params.max_fits == 0 {
        return Err(bad_param("tune.max_fits", "must be at least 1"));
    }
    grid::check_axes(&params.grid)?;
    Ranges::new(&params.limits)
}

/// Where the folds table came from: its label and id for messages and memo keys, and
/// its Parquet bytes when the caller has them (Spark reads those as they are).
pub struct FoldsSource<'a> {
    /// The artifact's label (`split.folds` of a dataset), for errors.
    pub label: &'a str,
    /// The folds artifact (part of every memo key).
    pub id: ArtifactId,
    /// The artifact's Parquet bytes, when at hand.
    pub parquet: Option<&'a [u8]>,
}

/// Run the configured search over `folds` (memoising through `ctx`), without
/// encoding outputs.
pub fn run_search(
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
    run_search_from(params, folds, &source, ctx)
}

/// [`run_search`] with the folds' source (the stage passes the artifact's bytes).
pub fn run_search_from(
    params: &Params,
    folds: &Interactions,
    source: &FoldsSource<'_>,
    ctx: &dyn StageContext,
) -> Result<TuneOutcome, StageError> {
    let (folds_label, folds_id) = (source.label, source.id);
    let started = Instant::now();
    let ranges = validate(params)?;
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
    if params.search == Search::Halving && params.min_folds > n_folds {
        return Err(bad_param(
            "tune.min_folds",
            format!("{} is more than the {n_folds} folds", params.min_folds),
        ));
    }
    let grid_points = grid::expand(&params.base, &params.grid)?;
    if grid_points.is_empty() {
        return Err(bad_param("tune.grid", "the grid has no points"));
    }
    let fitter = LocalFitter::new(
        folds,
        folds_label,
        params.k,
        params.parallel_points,
        params.base.threads,
        ctx,
    )
    .with_validation_sample(params.validation_users, params.base.seed);
    let spark = match params.backend {
        Backend::Native => None,
        Backend::Spark => Some(SparkFitter::new(params, folds, source, &fitter, ctx)?),
    };
    let backend: &dyn FitBackend = match &spark {
        Some(s) => s,
        None => &fitter,
    };
    let mut trials = Trials::new(
        TrialsSetup {
            base: &params.base,
            n_folds,
            k: params.k,
            validation_users: params.validation_users,
            backend_tag: spark_batch::memo_tag(params)?,
            folds_id,
            metric: &params.metric,
            minimize: params.direction() == Direction::Minimize,
        },
        ctx,
        backend,
    );
    let mut indices = Vec::with_capacity(grid_points.len());
    for p in &grid_points {
        indices.push(trials.add(p.values.clone())?.0);
    }
    let grid_fits = trials.fits_needed(&indices, &trials.all_folds())?;
    let grid_axes: Vec<(&'static str, Vec<Value>)> = grid::ordered_axes(&params.grid)
        .into_iter()
        .map(|(a, v)| (a, v.clone()))
        .collect();
    let searched = grid_axes
        .iter()
        .filter(|(_, v)| v.len() >= 2)
        .map(|(a, _)| *a)
        .collect();
    let mut state = SearchState {
        trials: &mut trials,
        grid_axes,
        searched,
        rounds: Vec::new(),
    };
    let (stopped, hint, limits) = match params.search {
        Search::Grid => {
            state.grid_round(&indices)?;
            (
                "the grid was searched exhaustively".to_string(),
                "search = \"extend\" tries them",
                None,
            )
        }
        Search::Extend => {
            let stopped = extend::run(&mut state, &indices, params, &ranges)?;
            (stopped, "", Some(&ranges))
        }
        Search::Halving => {
            halving::run(&mut state, &indices, params)?;
            (
                format!(
                    "successive halving ended with {} of the grid's {grid_fits} fits",
                    state.trials.fits
                ),
                "search = \"extend\" tries them",
                None,
            )
        }
    };
    let rounds = std::mem::take(&mut state.rounds);
    let searched = state.searched.clone();
    let (best, best_value) = trials
        .best()
        .ok_or_else(|| StageError::other("internal: no point was scored on every fold"))?;
    let edges = edges::find(&trials, best, &searched, limits);
    let mut warnings: Vec<String> = edges.iter().map(|e| edges::warning(e, hint)).collect();
    // An edge with no limit behind it means the search stopped before leaving it.
    if params.search == Search::Extend && edges.iter().any(|e| e.limit.is_none()) {
        warnings.push(format!(
            "the search stopped with the best point on an edge: {stopped}"
        ));
    }
    let fold_values: Vec<f64> = trials
        .all_folds()
        .iter()
        .map(|&f| trials.value(best, f).unwrap_or(f64::NAN))
        .collect();
    let summary = SearchSummary {
        strategy: params.search.name().to_string(),
        metric: params.metric.clone(),
        direction: match params.direction() {
            Direction::Minimize => "minimize",
            Direction::Maximize => "maximize",
        }
        .to_string(),
        folds: n_folds,
        axes: params_axes(&params.grid),
        rounds,
        points_tried: trials.tried(),
        fits: trials.fits,
        grid_fits,
        stopped,
        best: BestPoint {
            point: best as u32,
            label: trials.points[best].label(),
            mean: best_value,
            std: sample_std(&fold_values),
            fold_values,
        },
        edges,
        warnings,
    };
    let (fit_seconds, eval_seconds) = fitter.times();
    let points: Vec<GridPoint> = trials.points.clone();
    Ok(TuneOutcome {
        rows: trials.rows(),
        points,
        best,
        best_value,
        fits_run: trials.fits_run,
        results_memoised: trials.results_memoised,
        seconds: started.elapsed().as_secs_f64(),
        fit_seconds,
        eval_seconds,
        search: summary,
        notes: spark.map(|s| s.app_notes()).unwrap_or_default(),
    })
}

fn params_axes(grid: &std::collections::BTreeMap<String, Vec<Value>>) -> Vec<String> {
    grid::ordered_axes(grid)
        .into_iter()
        .map(|(a, _)| a.to_string())
        .collect()
}

/// Sample standard deviation (n − 1); 0 for fewer than two values.
fn sample_std(values: &[f64]) -> f64 {
    if values.len() < 2 {
        return 0.0;
    }
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    (values.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / (n - 1.0)).sqrt()
}
