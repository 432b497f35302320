//! The per-row dense kernels, exposed only for the `dense_kernels` benchmark that
//! measures them against nalgebra and faer (feature `compare-dense`). Each function
//! runs the kernel exactly as a fit does: the AVX2+FMA instantiation when the CPU
//! has it, on rows padded to a multiple of 8.

use crate::kernels::{self, simd_dispatch, Simd};
use crate::SolveError;

/// `rank` rounded up to the padded row length the kernels work on.
pub fn padded(rank: usize) -> usize {
    kernels::padded(rank)
}

simd_dispatch! {
    /// `a += Wᵀ·Y` (lower block triangle), `W`, `Y` `n × ld` row-major: the Cholesky
    /// solver's build of Σ (c−1)·y·yᵀ over a block of gathered rows.
    pub fn syrk_lower(w: &[f32], y: &[f32], n: usize, ld: usize, a: &mut [f32]) => syrk_with;
}

#[inline(always)]
fn syrk_with<S: Simd>(w: &[f32], y: &[f32], n: usize, ld: usize, a: &mut [f32], _simd: S) {
    kernels::syrk_lower(w, y, n, ld, a)
}

simd_dispatch! {
    /// Factor the leading `k × k` block of `a` (lower triangle, row stride `ld`) and
    /// solve for `b` in place, as the Cholesky solver does per row.
    pub fn cholesky_solve(
        a: &mut [f32],
        ld: usize,
        k: usize,
        b: &mut [f32],
    ) -> Result<(), SolveError> => cholesky_solve_with;
}

#[inline(always)]
fn cholesky_solve_with<S: Simd>(
    a: &mut [f32],
    ld: usize,
    k: usize,
    b: &mut [f32],
    simd: S,
) -> Result<(), SolveError> {
    kernels::cholesky(a, ld, k, simd)?;
    kernels::cholesky_solve(a, ld, k, b, simd);
    Ok(())
}

simd_dispatch! {
    /// One CG product `out = G·v + Σ_t cm1_t·(y_t·v)·y_t` over `n` gathered rows `y`
    /// (`n × kp`): the matrix-free `A·v` of every CG step.
    pub fn cg_product(
        g: &[f32],
        y: &[f32],
        kp: usize,
        cm1: &[f32],
        v: &[f32],
        out: &mut [f32],
    ) => cg_product_with;
}

#[inline(always)]
fn cg_product_with<S: Simd>(
    g: &[f32],
    y: &[f32],
    kp: usize,
    cm1: &[f32],
    v: &[f32],
    out: &mut [f32],
    simd: S,
) {
    simd.symv(g, kp, kp, v, out);
    let rows: Vec<&[f32]> = y.chunks_exact(kp).collect();
    for (r8, c8) in rows.chunks_exact(8).zip(cm1.chunks_exact(8)) {
        let x = [r8[0], r8[1], r8[2], r8[3], r8[4], r8[5], r8[6], r8[7]];
        let c: &[f32; 8] = c8.try_into().expect("eight weights");
        simd.pass8(x, v, c, None, out);
    }
}
