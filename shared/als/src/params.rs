//! ALS hyperparameters: the `[train]` section of `pipeline.toml` (Spark's names).

use serde::{Deserialize, Serialize};

/// How an interaction value r becomes a confidence c.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Confidence {
    /// c = 1 + alpha·r (Hu, Koren, Volinsky; Spark; `implicit` with data = 1 + alpha·r).
    #[default]
    Linear,
    /// c = 1 + alpha·ln(1 + r/eps).
    Log,
}

/// How the regularisation weight λ is applied per row.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum RegScaling {
    /// λ for every row (as `implicit` does).
    #[default]
    Plain,
    /// λ·n_u for a row with n_u observed entries (Spark MLlib's ALS-WR).
    PerInteraction,
}

/// The per-row least-squares solver.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Solver {
    /// A few warm-started conjugate-gradient steps (`cg_steps`), as `implicit` does by default.
    #[default]
    Cg,
    /// The exact solve by Cholesky factorisation.
    Cholesky,
}

/// Parameters of one ALS fit. Names follow Spark MLlib (`rank`, `max_iter`, `reg_param`, `alpha`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlsParams {
    /// Number of latent factors.
    pub rank: usize,
    /// Number of alternating iterations (one user half + one item half each).
    pub max_iter: usize,
    /// Regularisation weight λ.
    pub reg_param: f32,
    /// Confidence scale alpha.
    pub alpha: f32,
    /// Confidence function.
    pub confidence: Confidence,
    /// eps of the log confidence (ignored for linear).
    pub eps: f32,
    /// λ scaling per row.
    pub reg_scaling: RegScaling,
    /// Row solver.
    pub solver: Solver,
    /// CG steps per row per half-iteration (solver = cg).
    pub cg_steps: usize,
    /// Solve non-negative least squares (factors ≥ 0), as Spark's `nonnegative=True`.
    pub nonnegative: bool,
    /// Seed of the factor initialisation.
    pub seed: u64,
    /// Worker threads (0 = all cores). Results do not depend on it.
    pub threads: usize,
    /// Compute and keep the training objective after every iteration.
    pub compute_loss: bool,
}

impl Default for AlsParams {
    fn default() -> Self {
        AlsParams {
            rank: 10,
            max_iter: 10,
            reg_param: 0.1,
            alpha: 40.0,
            confidence: Confidence::Linear,
            eps: 1.0,
            reg_scaling: RegScaling::Plain,
            solver: Solver::Cg,
            cg_steps: 3,
            nonnegative: false,
            seed: 42,
            threads: 0,
            compute_loss: false,
        }
    }
}
