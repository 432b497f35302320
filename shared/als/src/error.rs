//! Errors of the ALS crate.

use alsflow_core::codec::CodecError;

/// Why a fit, a matrix build or a model decode failed.
#[derive(Debug, thiserror::Error)]
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
        "numerical failure solving {side} {row}: {message}; increase reg_param (λ) so every \
         per-row system is positive definite"
    )]
    Numerical {
        /// `user` or `item`.
        side: &'static str,
        /// The 0-based index of the failing user or item.
        row: usize,
        /// What went wrong.
        message: String,
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
