//! The conjugate-gradient row solve: a few warm-started steps on the normal
//! equations without forming them, eight nonzeros at a time.

use super::half::{Half, Scratch};
use crate::kernels::{cg_weight, Simd};
use crate::params::{confidence, row_lambda};
use crate::SolveError;

/// `out = (G + λI)·v + Σ (c−1)·(y·v)·y` without forming the matrix.
#[inline(always)]
fn apply_a<S: Simd, R: RowSource>(
    h: &Half<'_>,
    rows: &R,
    cm1: &[f32],
    lambda: f32,
    v: &[f32],
    out: &mut [f32],
    simd: S,
) {
    let kp = h.kp;
    simd.symv(h.gram, kp, kp, v, out);
    simd.axpy(lambda, v, out);
    nonzero_pass(rows, cm1, None, v, out, simd);
}

/// How many rows ahead the gather prefetches.
const PREFETCH_ROWS: usize = 8;

/// Factor matrices smaller than this (1 MiB) stay in cache: CG reads their rows
/// in place instead of gathering a copy.
const GATHER_MIN_FLOATS: usize = 1 << 18;

/// Largest gathered copy (floats) of a row's factor rows kept for the CG passes.
const CG_GATHER_CAP: usize = 1 << 20;

/// The factor rows of one row's nonzeros, by position `t` in the row.
trait RowSource {
    fn get(&self, t: usize) -> &[f32];
    /// Hint that rows `t..t + 8` come next.
    fn prefetch<S: Simd>(&self, _t: usize, _simd: S) {}
}

/// A contiguous gathered copy: read at random once, then sequentially by every pass.
struct Gathered<'r> {
    buf: &'r [f32],
    kp: usize,
}

impl RowSource for Gathered<'_> {
    #[inline(always)]
    fn get(&self, t: usize) -> &[f32] {
        &self.buf[t * self.kp..(t + 1) * self.kp]
    }
}

/// The rows read in place: small (cache-resident) factor matrices, or huge rows.
struct Indexed<'r> {
    other: &'r [f32],
    idx: &'r [u32],
    kp: usize,
    /// Whether to prefetch ahead (the matrix is too large to stay in cache).
    scattered: bool,
}

impl RowSource for Indexed<'_> {
    #[inline(always)]
    fn get(&self, t: usize) -> &[f32] {
        let j = self.idx[t] as usize;
        &self.other[j * self.kp..(j + 1) * self.kp]
    }

    #[inline(always)]
    fn prefetch<S: Simd>(&self, t: usize, simd: S) {
        if self.scattered {
            for ahead in t + PREFETCH_ROWS..(t + PREFETCH_ROWS + 8).min(self.idx.len()) {
                simd.prefetch(self.get(ahead));
            }
        }
    }
}

/// `out += Σ_t w_t·y_t` over the row's nonzeros with `w_t = cp_t − cm1_t·(y_t·v)`
/// (given `cp`) or `cm1_t·(y_t·v)`, eight at a time (eight independent dot
/// products in flight, enough to hide the latency of the fused multiply-adds, and
/// one sweep over `out` per eight rows); the result equals the one-at-a-time loop
/// bit for bit.
#[inline(always)]
fn nonzero_pass<S: Simd, R: RowSource>(
    rows: &R,
    cm1: &[f32],
    cp: Option<&[f32]>,
    v: &[f32],
    out: &mut [f32],
    simd: S,
) {
    let n = cm1.len();
    let weight = |t: usize, d: f32| cg_weight(cm1[t], cp.map(|cp| cp[t]), d);
    let mut t = 0;
    while t + 8 <= n {
        rows.prefetch(t, simd);
        // Spelled out: `array::from_fn` is not always inlined here.
        let ys = [
            rows.get(t),
            rows.get(t + 1),
            rows.get(t + 2),
            rows.get(t + 3),
            rows.get(t + 4),
            rows.get(t + 5),
            rows.get(t + 6),
            rows.get(t + 7),
        ];
        let c8: &[f32; 8] = cm1[t..t + 8].try_into().expect("eight weights");
        let p8: Option<&[f32; 8]> = cp.map(|cp| cp[t..t + 8].try_into().expect("eight weights"));
        simd.pass8(ys, v, c8, p8, out);
        t += 8;
    }
    if n - t >= 4 {
        let ys = [
            rows.get(t),
            rows.get(t + 1),
            rows.get(t + 2),
            rows.get(t + 3),
        ];
        let d = simd.dot4(ys, v);
        let w = [
            weight(t, d[0]),
            weight(t + 1, d[1]),
            weight(t + 2, d[2]),
            weight(t + 3, d[3]),
        ];
        simd.axpy4(w, ys, out);
        t += 4;
    }
    for t in t..n {
        let yj = rows.get(t);
        simd.axpy(weight(t, simd.dot(yj, v)), yj, out);
    }
}

/// `cg_steps` warm-started conjugate-gradient steps (Takács et al. 2011; `implicit`'s
/// `least_squares_cg`), starting from the row's current factors.
#[inline(always)]
pub(super) fn solve_cg<S: Simd>(
    h: &Half<'_>,
    idx: &[u32],
    val: &[f32],
    x: &mut [f32],
    s: &mut Scratch,
    simd: S,
) -> Result<(), SolveError> {
    let kp = h.kp;
    let n = idx.len();
    s.cm1.clear();
    s.cp.clear();
    for &r in val {
        let (c, pref) = confidence(h.p, r);
        s.cm1.push(c - 1.0);
        s.cp.push(c * pref);
    }
    let big = h.other.len() >= GATHER_MIN_FLOATS;
    if big && n * kp <= CG_GATHER_CAP {
        if s.yu.len() < n * kp {
            s.yu.resize(n * kp, 0.0);
        }
        let row = |j: u32| &h.other[j as usize * kp..(j as usize + 1) * kp];
        for (t, &j) in idx.iter().enumerate() {
            // The rows are scattered over a large matrix: ask for the ones a few
            // steps ahead so their cache misses overlap.
            if let Some(&ahead) = idx.get(t + PREFETCH_ROWS) {
                simd.prefetch(row(ahead));
            }
            s.yu[t * kp..(t + 1) * kp].copy_from_slice(row(j));
        }
        let Scratch {
            cm1,
            cp,
            r,
            d,
            ad,
            yu,
            ..
        } = s;
        let rows = Gathered {
            buf: &yu[..n * kp],
            kp,
        };
        cg_steps(h, &rows, cm1, cp, x, r, d, ad, simd)
    } else {
        let rows = Indexed {
            other: h.other,
            idx,
            kp,
            scattered: big,
        };
        cg_steps(
            h, &rows, &s.cm1, &s.cp, x, &mut s.r, &mut s.d, &mut s.ad, simd,
        )
    }
}

/// The CG iterations of [`solve_cg`] over the row's factor rows `rows`.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn cg_steps<S: Simd, R: RowSource>(
    h: &Half<'_>,
    rows: &R,
    cm1: &[f32],
    cp: &[f32],
    x: &mut [f32],
    r: &mut [f32],
    d: &mut [f32],
    ad: &mut [f32],
    simd: S,
) -> Result<(), SolveError> {
    let kp = h.kp;
    let lambda = row_lambda(h.p, cm1.len());
    // r = b − A·x, in one pass over the row's nonzeros.
    simd.symv(h.gram, kp, kp, x, r);
    for v in r.iter_mut() {
        *v = -*v;
    }
    simd.axpy(-lambda, x, r);
    nonzero_pass(rows, cm1, Some(cp), x, r, simd);
    d.copy_from_slice(r);
    let mut rs_old = simd.dot(r, r);
    if rs_old < 1e-20 {
        return Ok(());
    }
    for _ in 0..h.p.cg_steps {
        apply_a(h, rows, cm1, lambda, d, ad, simd);
        let dad = simd.dot(d, ad);
        if !(dad > 0.0) || !dad.is_finite() {
            return Err(SolveError::NonPositiveCurvature { curvature: dad });
        }
        let step = rs_old / dad;
        simd.axpy(step, d, x);
        simd.axpy(-step, ad, r);
        let rs_new = simd.dot(r, r);
        if rs_new < 1e-20 {
            break;
        }
        let beta = rs_new / rs_old;
        for (dv, rv) in d.iter_mut().zip(r.iter()) {
            *dv = beta.mul_add(*dv, *rv);
        }
        rs_old = rs_new;
    }
    Ok(())
}
