//! Implicit-feedback ALS (Hu, Koren, Volinsky): CG, Cholesky and NNLS solvers, inference,
//! fold-in of new users. Usable on its own, without the alsflow pipeline:
//!
//! ```
//! use alsflow_als::{fit, recommend, similar_items, AlsParams, FoldIn, InteractionMatrix};
//!
//! // (user, item, value) triplets, e.g. play counts: 3 users, 4 items.
//! let train = InteractionMatrix::from_triplets(
//!     3, 4, &[0, 0, 1, 1, 2, 2], &[0, 1, 1, 2, 2, 3], &[2.0, 1.0, 1.0, 3.0, 1.0, 1.0],
//! )?;
//! let model = fit(&train, &AlsParams { rank: 2, max_iter: 10, ..AlsParams::default() })?;
//!
//! let for_user_0 = recommend(&model, &train, 0, 2, true); // [(item, score)], best first
//! let like_item_1 = similar_items(&model, 1, 2);
//! assert!(for_user_0.iter().all(|&(item, _)| item >= 2)); // items 0 and 1 are user 0's own
//!
//! // A user not in `train`: solve their factors from their history, no refit.
//! let fold_in = FoldIn::from_model(&model)?; // once per model; Send + Sync
//! let new_user = fold_in.recalculate_user(&[(1, 1.0), (3, 2.0)])?;
//! assert_eq!(new_user.len(), 2);
//! # let _ = like_item_1;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! - [`InteractionMatrix`]: the training interactions as CSR (by user) and CSC (by
//!   item), from triplets ([`InteractionMatrix::from_triplets`]), from the pipeline's
//!   table, or (feature `nalgebra-sparse`) from a `nalgebra_sparse::CsrMatrix`.
//! - [`fit`] / [`fit_with`]: alternating least squares in f32 with the parameters of
//!   [`AlsParams`], parallel over rows with rayon, deterministic to the bit for any
//!   thread count and with or without AVX2.
//! - [`AlsModel`]: the factors, serialisable with the workspace codec.
//! - [`recommend`], [`recommend_all`], [`recommend_factors`], [`similar_items`],
//!   [`score_pairs`]: inference.
//! - [`FoldIn`]: a user's factors from their history against a model's item factors
//!   (the exact user half-step of training), for users the model has not seen.
//! - Errors: [`AlsError`] (fit, matrix, setup), [`FoldInError`] (one fold-in),
//!   [`SolveError`] (why a row's solve failed).
//!
//! `examples/quickstart.rs` runs all of it on a small catalogue.
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
pub mod scoring;

pub use error::{AlsError, FoldInError, SolveError};
pub use fit::{fit, fit_observing, fit_with};
pub use fold_in::FoldIn;
pub use matrix::InteractionMatrix;
pub use model::AlsModel;
pub use params::{AlsParams, Confidence, RegScaling, Solver};
pub use recommend::{
    recommend, recommend_all, recommend_all_with, recommend_factors, score_pairs, similar_items,
};
