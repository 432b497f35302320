//! Implicit-feedback ALS (Hu, Koren, Volinsky): CG, Cholesky and NNLS solvers, inference.
//!
//! - [`InteractionMatrix`]: the training interactions as CSR (by user) and CSC (by item).
//! - [`fit`] / [`fit_with`]: alternating least squares in f32, parallel over rows with
//!   rayon, deterministic to the bit for any thread count.
//! - [`AlsModel`]: the factors, serialisable with the workspace codec.
//! - [`recommend`], [`recommend_all`], [`similar_items`], [`score_pairs`]: inference.
//!
//! Architecture invariant: no I/O here; stages read and write artifacts and call in.

// Index loops are deliberate in the kernels (fixed-width lanes the compiler vectorises),
// and `!(x > 0.0)` deliberately also catches NaN.
#![allow(clippy::needless_range_loop, clippy::neg_cmp_op_on_partial_ord)]

mod error;
mod fit;
mod kernels;
mod matrix;
mod model;
pub mod params;
mod recommend;

pub use error::AlsError;
pub use fit::{fit, fit_with};
pub use matrix::InteractionMatrix;
pub use model::AlsModel;
pub use params::{AlsParams, Confidence, RegScaling, Solver};
pub use recommend::{recommend, recommend_all, score_pairs, similar_items};
