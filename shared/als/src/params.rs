//! ALS hyperparameters: the `[train]` section of `pipeline.toml` (Spark's names).

use crate::AlsError;
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
/// [`AlsParams::default`]: 10 factors, 10 iterations, CG with 3 steps, λ = 0.1 (plain),
/// linear confidence with alpha = 40, seed 42, all cores.
///
/// ```
/// use alsflow_als::{AlsParams, Confidence, RegScaling, Solver};
///
/// // Spark-like: exact solves, λ scaled by each row's interaction count.
/// let p = AlsParams {
///     rank: 64,
///     max_iter: 15,
///     solver: Solver::Cholesky,
///     reg_scaling: RegScaling::PerInteraction,
///     confidence: Confidence::Linear,
///     ..AlsParams::default()
/// };
/// assert!(p.validate().is_ok());
/// ```
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

impl AlsParams {
    /// Check every parameter ([`crate::fit`] and [`crate::FoldIn::new`] do it first);
    /// the error names the first bad one by its `[train]` key.
    ///
    /// ```
    /// use alsflow_als::{AlsError, AlsParams};
    ///
    /// assert!(AlsParams::default().validate().is_ok());
    /// let bad = AlsParams { rank: 0, ..AlsParams::default() };
    /// assert!(matches!(bad.validate(), Err(AlsError::BadParam { param: "rank", .. })));
    /// ```
    pub fn validate(&self) -> Result<(), AlsError> {
        let p = self;
        let bad = |param: &'static str, message: String| Err(AlsError::BadParam { param, message });
        if p.rank == 0 {
            return bad("rank", "must be at least 1".into());
        }
        if p.rank > 4096 {
            return bad(
                "rank",
                format!("{} is larger than the supported 4096", p.rank),
            );
        }
        if !(p.reg_param.is_finite() && p.reg_param >= 0.0) {
            return bad(
                "reg_param",
                format!("{} must be a finite number ≥ 0", p.reg_param),
            );
        }
        if !(p.alpha.is_finite() && p.alpha >= 0.0) {
            return bad("alpha", format!("{} must be a finite number ≥ 0", p.alpha));
        }
        if p.confidence == Confidence::Log && !(p.eps.is_finite() && p.eps > 0.0) {
            return bad(
                "eps",
                format!(
                    "{} must be a finite number > 0 with confidence = \"log\"",
                    p.eps
                ),
            );
        }
        if p.solver == Solver::Cg && !p.nonnegative && p.cg_steps == 0 {
            return bad("cg_steps", "must be at least 1 with solver = \"cg\"".into());
        }
        Ok(())
    }
}

/// Confidence c and preference p of an interaction value.
#[inline(always)]
pub(crate) fn confidence(p: &AlsParams, r: f32) -> (f32, f32) {
    let a = r.abs();
    let c = match p.confidence {
        Confidence::Linear => 1.0 + p.alpha * a,
        Confidence::Log => 1.0 + p.alpha * (a / p.eps).ln_1p(),
    };
    (c, if r > 0.0 { 1.0 } else { 0.0 })
}

/// λ for a row with `nnz` interactions.
#[inline(always)]
pub(crate) fn row_lambda(p: &AlsParams, nnz: usize) -> f32 {
    match p.reg_scaling {
        RegScaling::Plain => p.reg_param,
        RegScaling::PerInteraction => p.reg_param * nnz as f32,
    }
}
