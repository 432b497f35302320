//! alsflow's `[train]` parameters as Spark MLlib's ALS parameters.
//!
//! Spark's implicit ALS is one point of alsflow's parameter space: confidence
//! c = 1 + alpha·|r| (`confidence = "linear"`), λ scaled by each row's interaction
//! count (`reg_scaling = "per_interaction"`, ALS-WR), and an exact solve of each row
//! (`solver = "cholesky"`; NNLS when `nonnegative = true`). A setting outside that point
//! is an error naming the key, never silently changed.
//!
//! | alsflow `[train]` | Spark `ALS(...)` |
//! |---|---|
//! | `rank` | `rank` |
//! | `max_iter` | `maxIter` |
//! | `reg_param` (with `reg_scaling = "per_interaction"`) | `regParam` |
//! | `alpha` (with `confidence = "linear"`) | `alpha`, `implicitPrefs=True` |
//! | `nonnegative` | `nonnegative` |
//! | `seed` | `seed` |
//! | `solver = "cholesky"` | Spark's only solver (Cholesky, NNLS when nonnegative) |
//! | `[spark] num_blocks` | `numUserBlocks`, `numItemBlocks` |
//! | `[spark] checkpoint_interval` | `checkpointInterval` (with a checkpoint directory) |
//!
//! `eps` (log confidence only), `cg_steps` (CG only) and `threads` (Spark has its own
//! parallelism) do not apply and are not checked.

use alsflow_als::{AlsParams, Confidence, RegScaling, Solver};
use serde::Serialize;

/// The parameters of one `pyspark.ml.recommendation.ALS` fit.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SparkAls {
    /// `rank`.
    pub rank: usize,
    /// `maxIter`.
    pub max_iter: usize,
    /// `regParam` (Spark multiplies it by each row's interaction count).
    pub reg_param: f32,
    /// `alpha`.
    pub alpha: f32,
    /// `nonnegative`.
    pub nonnegative: bool,
    /// `seed` (a Java long).
    pub seed: i64,
}

/// A setting Spark's ALS cannot honour: the `[train]` key and what to do instead.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{param}: {message}")]
pub struct Unsupported {
    /// The `[train]` key (`solver`).
    pub param: &'static str,
    /// Why, and the setting that works.
    pub message: String,
}

impl SparkAls {
    /// Map `p` onto Spark's ALS, or name the first setting Spark cannot honour.
    /// `p` is assumed valid ([`AlsParams::validate`]).
    pub fn from_params(p: &AlsParams) -> Result<SparkAls, Unsupported> {
        let no = |param: &'static str, message: &str| {
            Err(Unsupported {
                param,
                message: format!("{message} (or use backend = \"native\")"),
            })
        };
        if p.confidence != Confidence::Linear {
            return no(
                "confidence",
                "Spark's ALS has linear confidence only (c = 1 + alpha·r): set confidence = \"linear\"",
            );
        }
        if p.reg_scaling != RegScaling::PerInteraction {
            return no(
                "reg_scaling",
                "Spark's ALS scales λ by each row's interaction count (ALS-WR): set \
                 reg_scaling = \"per_interaction\" and choose reg_param on that scale",
            );
        }
        if p.solver != Solver::Cholesky {
            return no(
                "solver",
                "Spark's ALS solves each row exactly (Cholesky, NNLS with nonnegative = true): \
                 set solver = \"cholesky\"",
            );
        }
        let Ok(seed) = i64::try_from(p.seed) else {
            return no(
                "seed",
                &format!(
                    "{} does not fit Spark's seed (a signed 64-bit integer)",
                    p.seed
                ),
            );
        };
        Ok(SparkAls {
            rank: p.rank,
            max_iter: p.max_iter,
            reg_param: p.reg_param,
            alpha: p.alpha,
            nonnegative: p.nonnegative,
            seed,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spark_like() -> AlsParams {
        AlsParams {
            rank: 8,
            max_iter: 5,
            reg_scaling: RegScaling::PerInteraction,
            solver: Solver::Cholesky,
            ..AlsParams::default()
        }
    }

    #[test]
    fn spark_conventions_map_one_to_one() {
        let s = SparkAls::from_params(&AlsParams {
            nonnegative: true,
            seed: 7,
            ..spark_like()
        })
        .unwrap();
        assert_eq!((s.rank, s.max_iter, s.seed, s.nonnegative), (8, 5, 7, true));
        assert_eq!((s.reg_param, s.alpha), (0.1, 40.0));
    }

    #[test]
    fn each_unsupported_setting_names_its_key() {
        let cases = [
            (
                AlsParams {
                    confidence: Confidence::Log,
                    ..spark_like()
                },
                "confidence",
            ),
            (
                AlsParams {
                    reg_scaling: RegScaling::Plain,
                    ..spark_like()
                },
                "reg_scaling",
            ),
            (
                AlsParams {
                    solver: Solver::Cg,
                    ..spark_like()
                },
                "solver",
            ),
            (
                AlsParams {
                    seed: u64::MAX,
                    ..spark_like()
                },
                "seed",
            ),
        ];
        for (p, key) in cases {
            let e = SparkAls::from_params(&p).unwrap_err();
            assert_eq!(e.param, key);
            assert!(e.to_string().contains("backend = \"native\""), "{e}");
        }
    }
}
