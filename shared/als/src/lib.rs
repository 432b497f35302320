//! Implicit-feedback ALS (Hu, Koren, Volinsky): CG, Cholesky and NNLS solvers, inference.

pub mod params;

pub use params::{AlsParams, Confidence, RegScaling, Solver};
