//! Errors of the ALS crate.

use alsflow_core::codec::CodecError;

/// Why a fit, a matrix build, a fold-in's setup or a model decode failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AlsError {
    /// A parameter value that cannot work, named by its `[train]` key.
    #[error("invalid parameter {param}: {message}")]
    BadParam {
        /// The parameter's name, e.g. `rank`.
        param: &'static str,
        /// What is wrong with its value.
        message: String,
    },
    /// The interaction table cannot become a matrix (`row` is the 0-based table row).
    #[error("interactions row {row}: {message}")]
    BadInput {
        /// 0-based row of the interaction table.
        row: usize,
        /// What is wrong with it.
        message: String,
    },
    /// A per-row solve failed (e.g. the system is not positive definite).
    #[error(
        "numerical failure solving {side} {row}: {cause}; increase reg_param (λ) so every \
         per-row system is positive definite"
    )]
    Numerical {
        /// `user` or `item`.
        side: &'static str,
        /// The 0-based index of the failing user or item.
        row: usize,
        /// What went wrong.
        cause: SolveError,
    },
    /// Factors whose length is not a whole number of rows of the rank.
    #[error("{what}: {len} values are not a whole number of rows of rank {rank}")]
    FactorShape {
        /// Which factors, e.g. `item factors`.
        what: &'static str,
        /// Their length.
        len: usize,
        /// The rank (values per row).
        rank: usize,
    },
    /// Model bytes could not be encoded or decoded.
    #[error(transparent)]
    Codec(#[from] CodecError),
    /// The worker thread pool could not be created.
    #[error("cannot start {threads} worker threads: {message}")]
    ThreadPool {
        /// Requested thread count.
        threads: usize,
        /// The system's reason.
        message: String,
    },
}

/// Why one row's least-squares solve failed: the normal equations
/// (YᵀCY + λI)·x = YᵀCp were not (numerically) positive definite, almost always
/// because λ (`reg_param`) is 0 or tiny for a row with few interactions.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum SolveError {
    /// A Cholesky pivot was not clearly positive (below 16 ulp of its diagonal entry).
    #[error("the normal-equation matrix is not positive definite (pivot {pivot} is {value:e})")]
    NotPositiveDefinite {
        /// 0-based index of the pivot.
        pivot: usize,
        /// Its value before the square root.
        value: f32,
    },
    /// A pivot of the NNLS subproblem's Cholesky factorisation (in f64) was not positive.
    #[error(
        "the normal-equation matrix is not positive definite (NNLS pivot {pivot} is {value:e})"
    )]
    NnlsNotPositiveDefinite {
        /// 0-based index of the factor whose pivot failed.
        pivot: usize,
        /// Its value before the square root.
        value: f64,
    },
    /// Conjugate gradient found a direction d with dᵀAd ≤ 0 (or not finite).
    #[error(
        "conjugate gradient met a non-positive curvature dᵀAd = {curvature:e} (the system is singular)"
    )]
    NonPositiveCurvature {
        /// The value of dᵀAd.
        curvature: f32,
    },
    /// The solve finished but produced a NaN or infinite factor.
    #[error("the solution is not finite")]
    NotFinite,
}

/// Why [`crate::FoldIn::recalculate_user`] could not solve a user's factors. The
/// history entries are named by their 0-based position in the slice passed in.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum FoldInError {
    /// No interactions: there is nothing to solve (a fit gives such users zero factors).
    #[error("the history is empty: a user without interactions has no factors to solve")]
    EmptyHistory,
    /// An item index the model does not have.
    #[error("history entry {position}: item index {item} is outside 0..{n_items}")]
    ItemOutOfRange {
        /// 0-based position in the history.
        position: usize,
        /// The item index given.
        item: u32,
        /// The model's number of items.
        n_items: usize,
    },
    /// A value that gives no valid confidence: NaN or infinite, or so large that
    /// the confidence 1 + alpha·f(|r|) overflows (a sum of duplicates included).
    #[error("history entry {position} (item {item}): value {value} {reason}")]
    InvalidValue {
        /// 0-based position in the history (the last one of summed duplicates).
        position: usize,
        /// Its item index.
        item: u32,
        /// The value (the sum, for duplicates).
        value: f32,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The user's normal equations could not be solved (λ too small for the history).
    #[error(
        "solving the user's factors failed: {0}; the model's reg_param (λ) is too small \
         for this history"
    )]
    Numerical(SolveError),
}
