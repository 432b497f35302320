//! Implicit-feedback ALS (Hu, Koren, Volinsky): CG, Cholesky and NNLS solvers, inference.
//!
//! - [`InteractionMatrix`]: the training interactions as CSR (by user) and CSC (by item).
//! - [`fit`] / [`fit_with`]: alternating least squares in f32, parallel over rows with
//!   rayon, deterministic to the bit for any thread count.
//! - [`AlsModel`]: the factors, serialisable with the workspace codec.
//! - [`recommend`], [`recommend_all`], [`recommend_factors`], [`similar_items`],
//!   [`score_pairs`]: inference.
//! - [`FoldIn`]: a user's factors from their history against a model's item factors
//!   (the exact user half-step of training), for users the model has not seen.
//!
//! Conventions: preference p = 1 when r > 0, else 0; confidence uses |r| (so negative
//! values are confident zeros, as in `implicit`). `nonnegative = true` always builds the
//! full normal equations and solves them by NNLS (Lawson–Hanson), whatever `solver` says.
//! Initial factors are uniform in [0, 0.01) from xoshiro256** seeded by `seed`; rows
//! without interactions are zero from the start and stay zero.
//!
//! Architecture invariant: no I/O here; stages read and write artifacts and call in.

// Index loops are deliberate in the kernels (fixed-width lanes the compiler vectorises),
// and `!(x > 0.0)` deliberately also catches NaN.
#![allow(clippy::needless_range_loop, clippy::neg_cmp_op_on_partial_ord)]

#[cfg(feature = "compare-dense")]
#[doc(hidden)]
pub mod dense_bench;
mod error;
mod fit;
mod fold_in;
mod kernels;
mod matrix;
mod model;
pub mod params;
mod recommend;

pub use error::{AlsError, FoldInError, SolveError};
pub use fit::{fit, fit_with};
pub use fold_in::FoldIn;
pub use matrix::InteractionMatrix;
pub use model::AlsModel;
pub use params::{AlsParams, Confidence, RegScaling, Solver};
pub use recommend::{recommend, recommend_all, recommend_factors, score_pairs, similar_items};
