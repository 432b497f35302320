//! The portable kernels: plain Rust, written so every reduction has the same
//! [`LANES`] accumulators and fused multiply-adds as the intrinsics in `x86.rs`.
//! Functions without a [`Simd`] parameter (`syrk_lower`, `dot`) rely on being
//! inlined into a caller compiled for AVX2+FMA to be vectorised there.

use super::{Simd, LANES};

/// Dot product with [`LANES`] accumulators (deterministic order).
#[inline(always)]
pub(crate) fn dot(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0f32; LANES];
    let ca = a.chunks_exact(LANES);
    let cb = b.chunks_exact(LANES);
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for l in 0..LANES {
            acc[l] = x[l].mul_add(y[l], acc[l]);
        }
    }
    let mut tail = 0f32;
    for (x, y) in ra.iter().zip(rb) {
        tail = x.mul_add(*y, tail);
    }
    ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7])) + tail
}

/// `y += a·x`.
#[inline(always)]
pub(crate) fn axpy(a: f32, x: &[f32], y: &mut [f32]) {
    for (yv, xv) in y.iter_mut().zip(x) {
        *yv = a.mul_add(*xv, *yv);
    }
}

/// The CG weight of one nonzero from its dot product `d = y·v`: `cp − cm1·d` for the
/// residual pass (with `cp = c·p`), `cm1·d` for a product with A (`cm1 = c − 1`).
#[inline(always)]
pub(crate) fn cg_weight(cm1: f32, cp: Option<f32>, d: f32) -> f32 {
    match cp {
        Some(cp) => cp - cm1 * d,
        None => cm1 * d,
    }
}

/// [`Simd::pass8`] from [`Simd::dot8`], scalar weights and [`Simd::axpy8`].
#[inline(always)]
pub(super) fn pass8_by_parts<S: Simd>(
    simd: S,
    x: [&[f32]; 8],
    v: &[f32],
    cm1: &[f32; 8],
    cp: Option<&[f32; 8]>,
    y: &mut [f32],
) {
    let d = simd.dot8(x, v);
    let w = std::array::from_fn(|q| cg_weight(cm1[q], cp.map(|cp| cp[q]), d[q]));
    simd.axpy8(w, x, y);
}

/// Lower block triangle of `out += Wᵀ·Y` where `W`, `Y` are `n × ld` row-major and
/// `ld` is a multiple of [`LANES`]: every `LANES × LANES` tile whose column block
/// starts at or before its row block is updated (so the lower triangle, and a few
/// entries above the diagonal, are written). Register-blocked: each tile keeps its
/// 64 sums in registers while streaming over the `n` rows.
#[inline(always)]
pub(crate) fn syrk_lower(w: &[f32], y: &[f32], n: usize, ld: usize, out: &mut [f32]) {
    debug_assert!(ld.is_multiple_of(LANES));
    for j0 in (0..ld).step_by(LANES) {
        for l0 in (0..=j0).step_by(LANES) {
            let mut acc = [[0f32; LANES]; LANES];
            for t in 0..n {
                let wr = &w[t * ld + j0..t * ld + j0 + LANES];
                let yr = &y[t * ld + l0..t * ld + l0 + LANES];
                for r in 0..LANES {
                    for q in 0..LANES {
                        acc[r][q] = wr[r].mul_add(yr[q], acc[r][q]);
                    }
                }
            }
            for r in 0..LANES {
                let o = &mut out[(j0 + r) * ld + l0..(j0 + r) * ld + l0 + LANES];
                for q in 0..LANES {
                    o[q] += acc[r][q];
                }
            }
        }
    }
}

/// Copy the lower triangle of the leading `n × n` block onto the upper one.
pub(crate) fn mirror_lower(m: &mut [f32], ld: usize, n: usize) {
    for i in 0..n {
        for j in 0..i {
            m[j * ld + i] = m[i * ld + j];
        }
    }
}

/// Four [`dot`]s against the same `b` at once (bit-identical to four calls): four
/// independent dependency chains keep the FMA units busy.
#[inline(always)]
pub(crate) fn dot4(a: [&[f32]; 4], b: &[f32]) -> [f32; 4] {
    let n = b.len();
    let a = [&a[0][..n], &a[1][..n], &a[2][..n], &a[3][..n]];
    let mut acc = [[0f32; LANES]; 4];
    let full = n / LANES * LANES;
    for c in (0..full).step_by(LANES) {
        let bc = &b[c..c + LANES];
        for r in 0..4 {
            let ac = &a[r][c..c + LANES];
            for l in 0..LANES {
                acc[r][l] = ac[l].mul_add(bc[l], acc[r][l]);
            }
        }
    }
    let mut out = [0f32; 4];
    for r in 0..4 {
        let mut tail = 0f32;
        for i in full..n {
            tail = a[r][i].mul_add(b[i], tail);
        }
        let s = &acc[r];
        out[r] = ((s[0] + s[4]) + (s[1] + s[5])) + ((s[2] + s[6]) + (s[3] + s[7])) + tail;
    }
    out
}

/// Four [`axpy`]s into the same `y` in one sweep (bit-identical to calling them in
/// order: each element gets the four fused updates in the same sequence).
#[inline(always)]
pub(crate) fn axpy4(w: [f32; 4], x: [&[f32]; 4], y: &mut [f32]) {
    let n = y.len();
    let x = [&x[0][..n], &x[1][..n], &x[2][..n], &x[3][..n]];
    for i in 0..n {
        let mut v = y[i];
        v = w[0].mul_add(x[0][i], v);
        v = w[1].mul_add(x[1][i], v);
        v = w[2].mul_add(x[2][i], v);
        v = w[3].mul_add(x[3][i], v);
        y[i] = v;
    }
}

/// The portable kernels.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Portable;

impl Simd for Portable {
    #[inline(always)]
    fn dot(self, a: &[f32], b: &[f32]) -> f32 {
        dot(a, b)
    }
    #[inline(always)]
    fn dot4(self, a: [&[f32]; 4], b: &[f32]) -> [f32; 4] {
        dot4(a, b)
    }
    #[inline(always)]
    fn axpy(self, a: f32, x: &[f32], y: &mut [f32]) {
        axpy(a, x, y)
    }
    #[inline(always)]
    fn axpy4(self, w: [f32; 4], x: [&[f32]; 4], y: &mut [f32]) {
        axpy4(w, x, y)
    }
}
