//! Stage tune: cross-validated search over ALS hyperparameters, with a memoised
//! record per (point, fold).
//!
//! - Inputs: `split.folds` (the training rows with `fold` and `cold` columns; fold j's
//!   fit part = rows with fold ≠ j, its validation = rows with fold = j and not cold),
//!   the only input: the folds table holds every training row.
//! - Grid ([`grid`]): a table axis → values over the `[train]` params
//!   ([`Params::base`], set by the runner); any `[train]` key that changes the model
//!   is an axis ([`axes`]); the default is the seed's 192 points.
//! - Search ([`search`], `tune.search`): `grid` scores every point (the seed's
//!   behaviour); `extend` starts from the grid and moves beyond its edges and around
//!   the best point until it is surrounded by points tried; `halving` runs successive
//!   halving over the grid with folds as the budget.
//! - Edge detection ([`edges`]), whatever the strategy: an ordered axis on which the
//!   best point takes the smallest or largest value tried becomes a warning (in the
//!   summary and in the `search` artifact, read by `alsflow status`, `alsflow
//!   metrics` and the report).
//! - Work sharing: points that differ only in `max_iter` come from one fit, with
//!   [`alsflow_als::fit_with`] snapshots at each requested iteration count (identical
//!   to separate fits by the ALS crate's contract).
//! - Memoisation ([`trials`]): every (point, fold) result is stored with
//!   [`StageContext::memo_put`] under a key made of the point's canonical params, the
//!   fold, `k` and the folds artifact id, so a grid with one more value (or a wider
//!   limit) fits only the new points and an unchanged search fits nothing.
//! - Fitting ([`fitter`]): each round hands one batch of (group, fold) fits to a
//!   [`fitter::FitBackend`]; the local one runs jobs concurrently with one thread per
//!   fit when the data is small, else one at a time with all threads inside the fit.
//! - Backends (`[tune] backend`): `native` fits with [`fitter::LocalFitter`]; `spark`
//!   hands each round's batch to one Spark application ([`spark_batch`]) and scores
//!   the factors here, filling the same memo records (keyed by the Spark binding too,
//!   so native and Spark results never mix).
//! - Outputs: `results` (Parquet, [`results`]), `best_params` (bincode `AlsParams`),
//!   `heatmap` and `roem_vs_iter` (SVG, [`plots`]), `search` (JSON,
//!   [`alsflow_formats::search`]). Timings and memo counts go only to the summary so
//!   the artifacts are byte-identical across reruns.

pub mod axes;
pub mod edges;
pub mod fitter;
pub mod grid;
pub mod search;
pub mod spark_batch;
pub mod trials;

use alsflow_als::AlsParams;
use alsflow_core::catalog::{split, tune};
use alsflow_core::table::Interactions;
use alsflow_core::{codec, Stage, StageContext, StageError, StageInputs, StageOutputs};
use alsflow_core::{ArtifactName, InputSpec};
use alsflow_formats::plots;
use alsflow_formats::results::{self, ResultRow};
use alsflow_formats::search::SearchSummary;
use alsflow_metrics::Metrics;
use alsflow_spark::{Backend, SparkRun};
use axes::Limit;
use grid::GridPoint;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

pub use fitter::PARALLEL_JOBS_MAX_NNZ;
pub use search::{run_search, run_search_from, FoldsSource};

/// Whether the selection metric is minimised or maximised.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Lower is better (ROEM).
    Minimize,
    /// Higher is better (precision, NDCG, AUC, ...).
    Maximize,
}

/// How the points are chosen (`tune.search`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Search {
    /// Every grid point on every fold (exhaustive and exact).
    #[default]
    Grid,
    /// The grid, then rounds beyond its edges and around the best point.
    Extend,
    /// Successive halving over the grid, folds as the budget.
    Halving,
}

impl Search {
    /// The config spelling.
    pub fn name(self) -> &'static str {
        match self {
            Search::Grid => "grid",
            Search::Extend => "extend",
            Search::Halving => "halving",
        }
    }
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
    /// Axis → values. Axes are `[train]` fields (see [`axes::AXIS_INFO`]).
    pub grid: BTreeMap<String, Vec<Value>>,
    /// The strategy: `grid` (default), `extend` or `halving`.
    pub search: Search,
    /// `extend` stops after a round that improves the mean CV metric by less than this.
    pub min_gain: f64,
    /// `extend` never needs more (point group, fold) fits than this, memoised or not.
    pub max_fits: usize,
    /// `extend`'s range per ordered axis: `rank = 256` (a maximum) or
    /// `reg_param = { min = 0.001, max = 1000 }`; defaults in [`axes::AXIS_INFO`].
    pub limits: BTreeMap<String, Limit>,
    /// `halving` keeps the best 1/eta of the groups at each rung.
    pub eta: usize,
    /// `halving` scores every group on this many folds at the first rung.
    pub min_folds: usize,
    /// (point group, fold) jobs run at once; 0 = auto (all cores, one thread per
    /// fit, when a fold has fewer than [`PARALLEL_JOBS_MAX_NNZ`] interactions).
    pub parallel_points: usize,
    /// Validate each fit on a seeded sample of this many users of the fold (seed:
    /// the `[train]` seed) instead of all of them; absent: every user.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub validation_users: Option<usize>,
    /// The `[train]` params the grid points are merged over (set by the runner).
    #[serde(skip_deserializing, default)]
    pub base: AlsParams,
    /// Which implementation fits the search's models (absent from the key when native,
    /// so native keys are as before backends existed).
    #[serde(skip_serializing_if = "is_native")]
    pub backend: Backend,
    /// How to reach Spark, set by the runner when `backend = "spark"`; serialised as
    /// the cache key's view of it.
    #[serde(skip_deserializing, skip_serializing_if = "Option::is_none")]
    pub spark: Option<SparkRun>,
}

fn is_native(b: &Backend) -> bool {
    *b == Backend::Native
}

impl Default for Params {
    fn default() -> Self {
        Params {
            enabled: true,
            metric: "roem".into(),
            direction: None,
            k: 10,
            grid: grid::default_grid(),
            search: Search::Grid,
            min_gain: 0.0,
            max_fits: 2000,
            limits: BTreeMap::new(),
            eta: 3,
            min_folds: 1,
            parallel_points: 0,
            validation_users: None,
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

/// The `tune` stage.
pub struct Tune;

impl Stage for Tune {
    const NAME: &'static str = "tune";
    const INPUTS: &'static [InputSpec] = &[InputSpec::needs(split::FOLDS)];
    const OUTPUTS: &'static [ArtifactName] = tune::ALL;
    type Params = Params;

    /// Threads, the loss trace, how many fits run at once and the knobs of the
    /// strategies not chosen do not change any result; on Spark, what can change
    /// Spark's results is kept (see `alsflow_spark::SparkRun`).
    fn key_params(params: &Params) -> Params {
        let defaults = Params::default();
        let (extend, halving) = match params.search {
            Search::Grid => (false, false),
            Search::Extend => (true, false),
            Search::Halving => (false, true),
        };
        Params {
            parallel_points: 0,
            base: AlsParams {
                threads: 0,
                compute_loss: false,
                ..params.base.clone()
            },
            min_gain: if extend {
                params.min_gain
            } else {
                defaults.min_gain
            },
            max_fits: if extend {
                params.max_fits
            } else {
                defaults.max_fits
            },
            limits: if extend {
                params.limits.clone()
            } else {
                defaults.limits
            },
            eta: if halving { params.eta } else { defaults.eta },
            min_folds: if halving {
                params.min_folds
            } else {
                defaults.min_folds
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
        let outcome = run_search_from(params, &folds, &source, ctx)?;
        outcome.into_outputs(params)
    }
}

/// What a search produced.
#[derive(Clone, Debug)]
pub struct TuneOutcome {
    /// Every point tried, in the order the search added them (grid order first).
    pub points: Vec<GridPoint>,
    /// One row per scored (point, fold), point-major.
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
    /// The search's account (the `search` artifact).
    pub search: SearchSummary,
    /// Lines for the summary from the fit backend (the Spark applications run).
    pub notes: Vec<String>,
}

impl TuneOutcome {
    /// The selected params: the base merged with the best point.
    pub fn best_params(&self) -> &AlsParams {
        &self.points[self.best].params
    }

    /// Encode the stage's artifacts and summary lines.
    pub fn into_outputs(self, params: &Params) -> Result<StageOutputs, StageError> {
        let mut out = StageOutputs::new();
        let table = results::write_results(&self.rows, params.k)?;
        let plot_err = |e: plots::PlotError| StageError::other(e.to_string());
        let heat = plots::heatmap_svg(
            &self.rows,
            &params.metric,
            params.direction() == Direction::Minimize,
            Some(self.best as u32),
        )
        .map_err(plot_err)?;
        let curve = plots::metric_vs_iter_svg(&self.rows, "roem").map_err(plot_err)?;
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
        out.put(
            tune::SEARCH,
            self.search
                .to_json()
                .map_err(|e| StageError::other(e.to_string()))?,
        );
        let total = self.rows.len();
        let s = &self.search;
        match params.search {
            Search::Grid => out.note(format!(
                "{} grid points x {} folds: {} fits run, {} of {} results memoised, {:.2} s (jobs {:.2} s, of which validation {:.2} s)",
                self.points.len(),
                total / self.points.len().max(1),
                self.fits_run,
                self.results_memoised,
                total,
                self.seconds,
                self.fit_seconds,
                self.eval_seconds
            )),
            strategy => out.note(format!(
                "{}: {} rounds, {} points tried, {} fits (the grid alone: {}): {} fits run, {} of {} results memoised, {:.2} s (jobs {:.2} s, of which validation {:.2} s)",
                strategy.name(),
                s.rounds.len(),
                s.points_tried,
                s.fits,
                s.grid_fits,
                self.fits_run,
                self.results_memoised,
                total,
                self.seconds,
                self.fit_seconds,
                self.eval_seconds
            )),
        };
        if params.search != Search::Grid {
            out.note(format!("stopped: {}", s.stopped));
        }
        out.note(format!(
            "best: {} (mean CV {} = {:.6}, fold spread ± {:.6})",
            self.points[self.best].label(),
            params.metric,
            self.best_value,
            s.best.std
        ));
        for n in &self.notes {
            out.note(n);
        }
        for w in &s.warnings {
            out.warn(w);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod search_tests;
#[cfg(test)]
mod tests;
