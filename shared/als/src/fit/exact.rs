//! The exact row solve: Cholesky, or NNLS when the factors must be non-negative.

use super::half::{Half, Scratch};
use super::normal::normal_equations;
use crate::kernels::{self, Simd};
use crate::SolveError;

/// Build A = G + Σ (c−1)·y·yᵀ + λI (lower triangle) and b = Σ c·p·y, then solve
/// exactly (Cholesky) or under x ≥ 0 (NNLS).
#[inline(always)]
pub(super) fn solve_exact<S: Simd>(
    h: &Half<'_>,
    idx: &[u32],
    val: &[f32],
    x: &mut [f32],
    s: &mut Scratch,
    simd: S,
) -> Result<(), SolveError> {
    let k = h.k;
    let kp = h.kp;
    normal_equations(h, idx, val, s);
    if h.p.nonnegative {
        kernels::nnls(&s.a, kp, k, &s.b, x)?;
    } else {
        kernels::cholesky(&mut s.a, kp, k, simd)?;
        kernels::cholesky_solve(&s.a, kp, k, &mut s.b, simd);
        x[..k].copy_from_slice(&s.b[..k]);
    }
    x[k..].fill(0.0);
    Ok(())
}
