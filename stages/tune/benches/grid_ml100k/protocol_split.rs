//! The benchmark's end-to-end run: tune (the seed's 192-point × 5-fold grid), the
//! final fit of the best point on the whole training split, and its test metrics,
//! on a predefined split directory (`train.tsv`, `test.tsv`, `meta.json` as written by
//! `../shared/bench/protocol.py`). The folds are those the `split` stage makes of
//! `train.tsv` with `folds = 5`, `seed = 42` ([`alsflow_split::seeded_folds`]).

use alsflow_als::{fit, AlsParams, Confidence, InteractionMatrix, RegScaling, Solver};
use alsflow_core::stage::LocalContext;
use alsflow_core::table::Interactions;
use alsflow_core::{ArtifactId, StageError};
use alsflow_metrics::{evaluate_factors, EvalSet, Metrics, UserItems};
use alsflow_tune::{run_search, Params};
use std::path::Path;
use std::time::Instant;

/// `implicit`'s conventions: plain λ, CG with 3 steps, linear confidence, no NNLS.
pub fn implicit_conventions() -> AlsParams {
    AlsParams {
        reg_scaling: RegScaling::Plain,
        solver: Solver::Cg,
        cg_steps: 3,
        confidence: Confidence::Linear,
        nonnegative: false,
        ..AlsParams::default()
    }
}

/// Read `user<TAB>item<TAB>value` rows (dense indices) into a table.
fn read_tsv(path: &Path, n_users: u32, n_items: u32) -> Result<Interactions, StageError> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| StageError::BadInput {
        source_name: name.clone(),
        line: None,
        message: e.to_string(),
    })?;
    let mut t = Interactions::with_dims(n_users, n_items);
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let bad = |m: &str| StageError::BadInput {
            source_name: name.clone(),
            line: Some(n as u64 + 1),
            message: m.into(),
        };
        let mut f = line.split('\t');
        let u: u32 = f
            .next()
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| bad("bad user index"))?;
        let i: u32 = f
            .next()
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| bad("bad item index"))?;
        let v: f32 = f
            .next()
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| bad("bad value"))?;
        if u >= n_users || i >= n_items {
            return Err(bad("index outside meta.json's n_users / n_items"));
        }
        t.user.push(u);
        t.item.push(i);
        t.value.push(v);
    }
    Ok(t)
}

/// Figures of one end-to-end run.
#[derive(Clone, Debug)]
pub struct BenchReport {
    /// Wall seconds of the grid search.
    pub tune_seconds: f64,
    /// Wall seconds of the final fit.
    pub train_seconds: f64,
    /// Wall seconds of the test evaluation.
    pub evaluate_seconds: f64,
    /// Summed job seconds in tune (fit + validation) and of those, validation.
    pub job_seconds: (f64, f64),
    /// (point group, fold) fits run.
    pub fits_run: usize,
    /// The selected point.
    pub best: String,
    /// Its mean CV metric.
    pub best_cv: f64,
    /// Test metrics of the final model.
    pub test: Metrics,
}

/// Tune `grid` (default: the seed's 192 points) on seeded 5-fold CV of
/// `split_dir/train.tsv` with `base` params, fit the best on all of train.tsv and
/// score it on test.tsv. `parallel_points` as in [`Params`].
pub fn run_split(
    split_dir: &Path,
    base: AlsParams,
    grid: Option<std::collections::BTreeMap<String, Vec<serde_json::Value>>>,
    parallel_points: usize,
) -> Result<BenchReport, StageError> {
    let meta_path = split_dir.join("meta.json");
    let meta: serde_json::Value = std::fs::read_to_string(&meta_path)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .ok_or_else(|| StageError::BadInput {
            source_name: meta_path.display().to_string(),
            line: None,
            message: "cannot read n_users / n_items".into(),
        })?;
    let dim = |k: &str| meta[k].as_u64().unwrap_or(0) as u32;
    let (nu, ni) = (dim("n_users"), dim("n_items"));
    let train = read_tsv(&split_dir.join("train.tsv"), nu, ni)?;
    let test = read_tsv(&split_dir.join("test.tsv"), nu, ni)?;

    let t0 = Instant::now();
    let folds = alsflow_split::seeded_folds(&train, 5, 42);
    let mut params = Params {
        base,
        parallel_points,
        ..Params::default()
    };
    if let Some(g) = grid {
        params.grid = g;
    }
    let ctx = LocalContext::new("bench");
    let id = ArtifactId::of(&folds.to_parquet()?);
    let outcome = run_search(&params, &folds, "folds", id, &ctx)?;
    let tune_seconds = t0.elapsed().as_secs_f64();

    let t1 = Instant::now();
    let best = outcome.best_params().clone();
    let matrix = InteractionMatrix::from_interactions(&train)
        .map_err(|e| StageError::other(e.to_string()))?;
    let model = fit(&matrix, &best).map_err(|e| StageError::other(e.to_string()))?;
    let train_seconds = t1.elapsed().as_secs_f64();

    let t2 = Instant::now();
    let err = |e: alsflow_metrics::MetricsError| StageError::other(e.to_string());
    let set = EvalSet::new(
        UserItems::from_triples("train", nu, ni, &train.user, &train.item, &train.value)
            .map_err(err)?,
        UserItems::from_triples("test", nu, ni, &test.user, &test.item, &test.value)
            .map_err(err)?,
    )
    .map_err(err)?;
    let metrics = evaluate_factors(
        &set,
        &model.user_factors,
        &model.item_factors,
        model.rank,
        10,
    )
    .map_err(err)?;
    Ok(BenchReport {
        tune_seconds,
        train_seconds,
        evaluate_seconds: t2.elapsed().as_secs_f64(),
        fits_run: outcome.fits_run,
        job_seconds: (outcome.fit_seconds, outcome.eval_seconds),
        best: outcome.points[outcome.best].label(),
        best_cv: outcome.best_value,
        test: metrics,
    })
}
