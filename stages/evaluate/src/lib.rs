//! Stage evaluate: test metrics of the trained model and of two baselines
//! (popularity, seeded random), and one self-contained HTML report.
//!
//! - Inputs: `train.model` (bincode [`AlsModel`]), `split.train`, `split.test`,
//!   `preprocess.users`, `preprocess.items` ([`IdMap`], titles when known),
//!   `preprocess.interactions`, and optionally `tune.results` and `tune.search`.
//! - Outputs: `metrics` (Parquet, one row per system: `model`, `popularity`, `random`;
//!   a column per metric, see [`alsflow_metrics::metric_names`], plus
//!   `users_evaluated`), and `report` (HTML with inline SVGs, [`report`]).
//! - Both outputs are deterministic: no timestamps, the random baseline is a random
//!   order of each user's candidates drawn from (seed, user), so the same inputs give
//!   the same bytes on any thread count.
//!
//! Library functions for the CLI: [`write_report_dir`] / [`write_report_dir_with`]
//! (plus the [`history`] section and the [`index_page`] rendered at write time),
//! [`recommend_user`], [`write_recommend_all`] (streamed to a file),
//! [`recommend_all_parquet`], [`similar`].

pub mod history;
pub mod index_page;
pub mod recs;
pub mod report;
pub mod tuning;

pub use recs::{
    recommend_all_parquet, recommend_user, similar, write_recommend_all, ItemEntry, SimilarItems,
    UserRecommendations, RECOMMEND_BATCH_USERS,
};
pub use report::{write_report_dir, write_report_dir_with};

use alsflow_als::AlsModel;
use alsflow_core::catalog::{evaluate, preprocess, split, train, tune};
use alsflow_core::stage::{NoProgress, Progress};
use alsflow_core::table::{IdMap, Interactions, TableError};
use alsflow_core::{
    ArtifactName, InputSpec, Stage, StageContext, StageError, StageInputs, StageOutputs,
};
use alsflow_formats::metrics::write_metrics_sampled;
use alsflow_formats::results::TuneResults;
use alsflow_formats::search::SearchSummary;
use alsflow_metrics::{
    evaluate_factors_with_progress, evaluate_fixed_scores_with_progress,
    evaluate_random_with_progress, EvalSet, Metrics, UserItems,
};
use serde::{Deserialize, Serialize};

/// Errors of the library functions the CLI calls.
#[derive(Debug, thiserror::Error)]
pub enum EvaluateError {
    /// The raw user id is not in the users map.
    #[error("unknown user '{0}' (not in this dataset's users)")]
    UnknownUser(String),
    /// The raw item id is not in the items map.
    #[error("unknown item '{0}' (not in this dataset's items)")]
    UnknownItem(String),
    /// An artifact could not be decoded or does not fit the others.
    #[error("{what}: {message}")]
    Input {
        /// Which artifact or table.
        what: String,
        /// What is wrong.
        message: String,
    },
    /// A file could not be written.
    #[error("cannot write {path}: {cause}")]
    Io {
        /// The file.
        path: std::path::PathBuf,
        /// The OS error (formatted into the message, so not a `source()`).
        cause: std::io::Error,
    },
}

impl From<TableError> for EvaluateError {
    fn from(e: TableError) -> Self {
        EvaluateError::Input {
            what: "table".into(),
            message: e.to_string(),
        }
    }
}

/// Parameters of the `evaluate` stage (its `[evaluate]` section of `pipeline.toml`).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Params {
    /// Cut-off of the @k metrics and length of the report's recommendation lists.
    pub k: usize,
    /// Number of users whose history and recommendations the report shows.
    pub report_users: usize,
    /// Seed of the random baseline and of the user sample.
    pub seed: u64,
    /// Evaluate a seeded sample of this many users with test rows instead of all of
    /// them (the metrics table, `alsflow metrics --json` and the report then say
    /// "sampled" and over how many users). Absent: exact, over every user.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub users: Option<usize>,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            k: 10,
            report_users: 3,
            seed: 42,
            users: None,
        }
    }
}

/// The `evaluate` stage.
pub struct Evaluate;

/// The systems of the metrics table, in row order.
pub const SYSTEMS: &[&str] = &["model", "popularity", "random"];

fn input_err(label: &str, e: impl std::fmt::Display) -> StageError {
    StageError::BadInput {
        source_name: label.to_string(),
        line: None,
        message: e.to_string(),
    }
}

/// Test metrics of the model and both baselines, plus what the report needs.
pub struct Evaluation {
    /// (system, metrics) in [`SYSTEMS`] order.
    pub systems: Vec<(String, Metrics)>,
    /// Test rows dropped because they cannot be scored (item without training rows,
    /// or the user trained on it).
    pub dropped_test_rows: usize,
    /// The evaluation set (training and kept test rows).
    pub set: EvalSet,
}

/// Score `model` and the baselines on `test` with `train` as the training set, over
/// every user with test rows.
pub fn evaluate_all(
    model: &AlsModel,
    train: &Interactions,
    test: &Interactions,
    k: usize,
    seed: u64,
) -> Result<Evaluation, StageError> {
    let params = Params {
        k,
        seed,
        ..Params::default()
    };
    evaluate_with(model, train, test, &params, &NoProgress)
}

/// [`evaluate_all`] with the stage's params (`users` samples the users) and a
/// progress bar over the users of the three systems.
pub fn evaluate_with(
    model: &AlsModel,
    train: &Interactions,
    test: &Interactions,
    params: &Params,
    progress: &dyn Progress,
) -> Result<Evaluation, StageError> {
    let (k, seed) = (params.k, params.seed);
    if model.n_users != train.n_users as usize || model.n_items != train.n_items as usize {
        return Err(input_err(
            train::MODEL.qualified,
            format!(
                "model is {} users x {} items but {} is {} x {}",
                model.n_users,
                model.n_items,
                split::TRAIN,
                train.n_users,
                train.n_items
            ),
        ));
    }
    if test.n_users != train.n_users || test.n_items != train.n_items {
        return Err(input_err(
            split::TEST.qualified,
            format!(
                "index spaces {}x{} differ from {}'s {}x{}",
                test.n_users,
                test.n_items,
                split::TRAIN,
                train.n_users,
                train.n_items
            ),
        ));
    }
    let tr = UserItems::from_triples(
        "train",
        train.n_users,
        train.n_items,
        &train.user,
        &train.item,
        &train.value,
    )
    .map_err(|e| input_err(split::TRAIN.qualified, e))?;
    // Drop test rows the protocol cannot score (cold items, pairs also in train).
    let mut catalog = vec![false; train.n_items as usize];
    for &i in &train.item {
        catalog[i as usize] = true;
    }
    let kept = test.filter_rows(|r| {
        let (u, i) = (test.user[r], test.item[r]);
        catalog[i as usize] && tr.row(u).0.binary_search(&i).is_err()
    });
    let dropped_test_rows = test.len() - kept.len();
    let te = UserItems::from_triples(
        "test",
        kept.n_users,
        kept.n_items,
        &kept.user,
        &kept.item,
        &kept.value,
    )
    .map_err(|e| input_err(split::TEST.qualified, e))?;
    let mut set = EvalSet::new(tr, te).map_err(|e| input_err(split::TEST.qualified, e))?;
    if let Some(n) = params.users {
        if n == 0 {
            return Err(StageError::BadParam {
                param: "evaluate.users".into(),
                message: "must be at least 1 (leave it out to evaluate every user)".into(),
            });
        }
        set.sample_users(n, seed);
    }
    let err = |e: alsflow_metrics::MetricsError| StageError::other(format!("evaluate: {e}"));
    let n_users = set.evaluated_users().len();
    let tick = |system: &str| {
        progress.set_message(format!("{system}: {n_users} users"));
        move |n: usize| progress.inc(n as u64)
    };
    let m = evaluate_factors_with_progress(
        &set,
        &model.user_factors,
        &model.item_factors,
        model.rank,
        k,
        &tick("model"),
    )
    .map_err(err)?;
    let pop: Vec<f64> = set
        .train()
        .item_counts()
        .into_iter()
        .map(|c| c as f64)
        .collect();
    // The same scores for every user: ranked from one sorted catalog.
    let p = evaluate_fixed_scores_with_progress(&set, k, &pop, &tick("popularity")).map_err(err)?;
    // A seeded random order of each user's candidates, drawn per user (the same
    // whatever thread evaluates the user).
    let r = evaluate_random_with_progress(&set, k, seed, &tick("random")).map_err(err)?;
    progress.finish();
    Ok(Evaluation {
        systems: vec![
            ("model".into(), m),
            ("popularity".into(), p),
            ("random".into(), r),
        ],
        dropped_test_rows,
        set,
    })
}

impl Stage for Evaluate {
    const NAME: &'static str = "evaluate";
    const INPUTS: &'static [InputSpec] = &[
        InputSpec::needs(train::MODEL),
        InputSpec::needs(split::TRAIN),
        InputSpec::needs(split::TEST),
        InputSpec::needs(preprocess::USERS),
        InputSpec::needs(preprocess::ITEMS),
        InputSpec::needs(preprocess::INTERACTIONS),
        InputSpec::uses_if_present(tune::RESULTS),
        InputSpec::uses_if_present(tune::SEARCH),
    ];
    const OUTPUTS: &'static [ArtifactName] = evaluate::ALL;
    type Params = Params;

    fn run(
        params: &Params,
        inputs: &StageInputs,
        ctx: &dyn StageContext,
    ) -> Result<StageOutputs, StageError> {
        if params.k == 0 {
            return Err(StageError::BadParam {
                param: "evaluate.k".into(),
                message: "must be at least 1".into(),
            });
        }
        // The model's own decoder, not `inputs.value`: it also checks that the factor
        // lengths match the model's dimensions.
        let model_in = inputs.get(train::MODEL.qualified)?;
        let model = AlsModel::from_bytes(&model_in.bytes).map_err(|e| model_in.bad(e))?;
        let train: Interactions = inputs.table(split::TRAIN)?;
        let test: Interactions = inputs.table(split::TEST)?;
        let users: IdMap = inputs.table(preprocess::USERS)?;
        let items: IdMap = inputs.table(preprocess::ITEMS)?;
        let all: Interactions = inputs.table(preprocess::INTERACTIONS)?;
        let tune_rows = inputs
            .optional_table::<TuneResults>(tune::RESULTS)?
            .map(|t| t.rows);
        let tune_search = inputs
            .optional(tune::SEARCH.qualified)
            .map(|a| SearchSummary::from_json(&a.bytes).map_err(|e| a.bad(e)))
            .transpose()?;
        let n_users = {
            let mut with_test = vec![false; test.n_users as usize];
            for &u in &test.user {
                with_test[u as usize] = true;
            }
            with_test.iter().filter(|&&t| t).count()
        };
        let shown = params.users.map_or(n_users, |n| n.min(n_users));
        let progress = ctx.progress("evaluate", 3 * shown as u64);
        let ev = evaluate_with(&model, &train, &test, params, progress.as_ref())?;
        let table = write_metrics_sampled(&ev.systems, params.k, ev.set.sampled_from())?;
        let html = report::render(&report::ReportInputs {
            dataset: ctx.dataset(),
            params,
            model: &model,
            train: &train,
            test: &test,
            all: &all,
            users: &users,
            items: &items,
            eval: &ev,
            tune_rows: tune_rows.as_deref(),
            tune_search: tune_search.as_ref(),
        })?;
        let mut out = StageOutputs::new();
        out.put(evaluate::METRICS, table);
        out.put(evaluate::REPORT, html.into_bytes());
        for (name, m) in &ev.systems {
            out.note(format!(
                "{name}: ROEM {:.4}, P@{k} {:.4}, NDCG@{k} {:.4}, AUC {:.4}",
                m.roem,
                m.precision,
                m.ndcg,
                m.auc,
                k = params.k
            ));
        }
        if let Some(from) = ev.set.sampled_from() {
            out.note(format!(
                "sampled: metrics over {} of {from} users with test rows (evaluate.users)",
                ev.set.evaluated_users().len()
            ));
        }
        if ev.dropped_test_rows > 0 {
            out.note(format!(
                "{} test rows dropped (item without training rows, or user trained on it)",
                ev.dropped_test_rows
            ));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests;
