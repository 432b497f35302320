//! Gram matrices and the normal equations of one row.

use super::half::{Half, Scratch};
use crate::kernels::{axpy, mirror_lower, simd_dispatch, syrk_lower, Simd};
use crate::params::{confidence, row_lambda};
use rayon::prelude::*;

/// Rows per partial sum of a Gram matrix; partial sums are added in chunk order.
const GRAM_CHUNK: usize = 4096;
/// Nonzeros gathered at once when building a row's normal equations (keeps the
/// gathered block in L1/L2).
pub(super) const GATHER_BLOCK: usize = 128;

/// Full symmetric `FᵀF` (`kp × kp`) of padded factors `f`, summed in fixed chunks.
pub(crate) fn gram(f: &[f32], kp: usize) -> Vec<f32> {
    let parts: Vec<Vec<f32>> = f
        .par_chunks(GRAM_CHUNK * kp)
        .map(|chunk| {
            let mut g = vec![0f32; kp * kp];
            gram_chunk(chunk, kp, &mut g);
            g
        })
        .collect();
    let mut g = vec![0f32; kp * kp];
    for part in &parts {
        for (a, b) in g.iter_mut().zip(part) {
            *a += *b;
        }
    }
    mirror_lower(&mut g, kp, kp);
    g
}

simd_dispatch! {
    /// `g +=` the lower block triangle of `chunkᵀ·chunk` (padded rows).
    fn gram_chunk(chunk: &[f32], kp: usize, g: &mut [f32]) => gram_chunk_with;
}

#[inline(always)]
fn gram_chunk_with<S: Simd>(chunk: &[f32], kp: usize, g: &mut [f32], _simd: S) {
    syrk_lower(chunk, chunk, chunk.len() / kp, kp, g);
}

/// Build the row's normal equations into the scratch: `s.a` = G + Σ (c−1)·y·yᵀ + λI
/// (lower triangle) and `s.b` = Σ c·p·y over the row's nonzeros `idx`, `val`.
#[inline(always)]
pub(super) fn normal_equations(h: &Half<'_>, idx: &[u32], val: &[f32], s: &mut Scratch) {
    let (k, kp) = (h.k, h.kp);
    s.a.copy_from_slice(h.gram);
    s.b.fill(0.0);
    for (bi, bv) in idx.chunks(GATHER_BLOCK).zip(val.chunks(GATHER_BLOCK)) {
        for (t, (&j, &r)) in bi.iter().zip(bv).enumerate() {
            let yj = &h.other[j as usize * kp..(j as usize + 1) * kp];
            let (c, pref) = confidence(h.p, r);
            let yu = &mut s.yu[t * kp..(t + 1) * kp];
            yu.copy_from_slice(yj);
            let wu = &mut s.wu[t * kp..(t + 1) * kp];
            for (w, yv) in wu.iter_mut().zip(yj) {
                *w = (c - 1.0) * *yv;
            }
            if pref > 0.0 {
                axpy(c * pref, yj, &mut s.b);
            }
        }
        syrk_lower(&s.wu, &s.yu, bi.len(), kp, &mut s.a);
    }
    let lambda = row_lambda(h.p, idx.len());
    for j in 0..k {
        s.a[j * kp + j] += lambda;
    }
}
