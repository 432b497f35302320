//! The per-row dense kernels, exposed only for the `dense_kernels` benchmark that
//! measures them against nalgebra and faer (feature `compare-dense`). Each function
//! runs the kernel exactly as a fit does: the AVX2+FMA instantiation when the CPU
//! has it, on rows padded to a multiple of 8.

use crate::kernels::{self, Portable, Simd};

/// `rank` rounded up to the padded row length the kernels work on.
pub fn padded(rank: usize) -> usize {
    kernels::padded(rank)
}

/// `a += Wᵀ·Y` (lower block triangle), `W`, `Y` `n × ld` row-major: the Cholesky
/// solver's build of Σ (c−1)·y·yᵀ over a block of gathered rows.
pub fn syrk_lower(w: &[f32], y: &[f32], n: usize, ld: usize, a: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if kernels::have_avx2_fma() {
        // SAFETY: the CPU has the features.
        return unsafe { syrk_avx2(w, y, n, ld, a) };
    }
    kernels::syrk_lower(w, y, n, ld, a)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn syrk_avx2(w: &[f32], y: &[f32], n: usize, ld: usize, a: &mut [f32]) {
    kernels::syrk_lower(w, y, n, ld, a)
}

/// Factor the leading `k × k` block of `a` (lower triangle, row stride `ld`) and
/// solve for `b` in place, as the Cholesky solver does per row.
pub fn cholesky_solve(a: &mut [f32], ld: usize, k: usize, b: &mut [f32]) -> Result<(), String> {
    #[cfg(target_arch = "x86_64")]
    if let Some(simd) = kernels::Avx2::detect() {
        // SAFETY: the CPU has the features.
        return unsafe { chol_avx2(a, ld, k, b, simd) };
    }
    kernels::cholesky(a, ld, k, Portable)?;
    kernels::cholesky_solve(a, ld, k, b, Portable);
    Ok(())
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn chol_avx2(
    a: &mut [f32],
    ld: usize,
    k: usize,
    b: &mut [f32],
    simd: kernels::Avx2,
) -> Result<(), String> {
    kernels::cholesky(a, ld, k, simd)?;
    kernels::cholesky_solve(a, ld, k, b, simd);
    Ok(())
}

/// One CG product `out = G·v + Σ_t cm1_t·(y_t·v)·y_t` over `n` gathered rows `y`
/// (`n × kp`): the matrix-free `A·v` of every CG step.
pub fn cg_product(g: &[f32], y: &[f32], kp: usize, cm1: &[f32], v: &[f32], out: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if let Some(simd) = kernels::Avx2::detect() {
        // SAFETY: the CPU has the features.
        return unsafe { cg_product_avx2(g, y, kp, cm1, v, out, simd) };
    }
    cg_product_impl(g, y, kp, cm1, v, out, Portable)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn cg_product_avx2(
    g: &[f32],
    y: &[f32],
    kp: usize,
    cm1: &[f32],
    v: &[f32],
    out: &mut [f32],
    simd: kernels::Avx2,
) {
    cg_product_impl(g, y, kp, cm1, v, out, simd)
}

#[inline(always)]
fn cg_product_impl<S: Simd>(
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
