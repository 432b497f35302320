//! Dense f32 kernels on rows padded to a multiple of [`LANES`].
//!
//! Every reduction runs over [`LANES`] explicit accumulators combined in a fixed
//! order, and every multiply-add is a fused `mul_add`, so the result is the same
//! bit pattern whether LLVM emits AVX2+FMA (the [`crate::fit`] entry points are
//! compiled twice and picked at run time) or the portable fallback: the maths does
//! not depend on the machine's vector width or on the thread count.

/// Width of the explicit accumulators; factor rows are padded to a multiple of it.
pub(crate) const LANES: usize = 8;

/// `rank` rounded up to a multiple of [`LANES`].
pub(crate) fn padded(rank: usize) -> usize {
    rank.div_ceil(LANES) * LANES
}

/// Whether this CPU runs the AVX2+FMA instantiations of the hot loops.
#[inline]
pub(crate) fn have_avx2_fma() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

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
fn pass8_by_parts<S: Simd>(
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

/// In-place Cholesky factorisation `A = L·Lᵀ` of the leading `n × n` block (lower
/// triangle read and overwritten). Fails when a pivot is not clearly positive:
/// below 16 ulp of the original diagonal entry the solve would carry no accurate
/// digits. The error says which pivot.
///
/// Column by column (left-looking): once `L[j][j]` is known, the entries below it,
/// `L[i][j] = (A[i][j] − L[i][..j]·L[j][..j]) / L[j][j]`, are independent of each
/// other and are computed eight rows at a time with [`Simd::dot8`].
#[inline(always)]
pub(crate) fn cholesky<S: Simd>(a: &mut [f32], ld: usize, n: usize, simd: S) -> Result<(), String> {
    for j in 0..n {
        let (head, below) = a.split_at_mut((j + 1) * ld);
        let lj = &mut head[j * ld..j * ld + ld];
        let orig = lj[j];
        let s = orig - simd.dot(&lj[..j], &lj[..j]);
        if !(s > 16.0 * f32::EPSILON * orig.abs()) || !s.is_finite() {
            return Err(format!(
                "the normal-equation matrix is not positive definite (pivot {j} is {s:e})"
            ));
        }
        lj[j] = s.sqrt();
        let (ljj, lj) = (lj[j], &lj[..j]);
        let rows = n - j - 1;
        let mut r = 0;
        while r + 8 <= rows {
            let block = &mut below[r * ld..(r + 8) * ld];
            let d = {
                let p = |q: usize| &block[q * ld..q * ld + j];
                simd.dot8([p(0), p(1), p(2), p(3), p(4), p(5), p(6), p(7)], lj)
            };
            for (q, dq) in d.iter().enumerate() {
                let e = &mut block[q * ld + j];
                *e = (*e - dq) / ljj;
            }
            r += 8;
        }
        for r in r..rows {
            let row = &mut below[r * ld..r * ld + ld];
            let d = simd.dot(&row[..j], lj);
            row[j] = (row[j] - d) / ljj;
        }
    }
    Ok(())
}

/// Solve `L·Lᵀ·x = b` with the factor from [`cholesky`]; `b` is overwritten by `x`.
#[inline(always)]
pub(crate) fn cholesky_solve<S: Simd>(l: &[f32], ld: usize, n: usize, b: &mut [f32], simd: S) {
    for i in 0..n {
        let s = b[i] - simd.dot(&l[i * ld..i * ld + i], &b[..i]);
        b[i] = s / l[i * ld + i];
    }
    for i in (0..n).rev() {
        let xi = b[i] / l[i * ld + i];
        b[i] = xi;
        let (head, _) = b.split_at_mut(i);
        simd.axpy(-xi, &l[i * ld..i * ld + i], head);
    }
}

/// Non-negative least squares on the normal equations: minimise ½xᵀAx − bᵀx subject
/// to x ≥ 0 for a symmetric positive-definite `A` (leading `n × n` block of `a`,
/// lower triangle used), by the Lawson–Hanson active-set method in f64. On return the
/// KKT conditions hold to rounding: x ≥ 0, (Ax − b)_j = 0 where x_j > 0 and ≥ 0
/// where x_j = 0.
pub(crate) fn nnls(a: &[f32], ld: usize, n: usize, b: &[f32], x: &mut [f32]) -> Result<(), String> {
    let at = |i: usize, j: usize| -> f64 {
        if j <= i {
            a[i * ld + j] as f64
        } else {
            a[j * ld + i] as f64
        }
    };
    let scale = (0..n)
        .map(|i| at(i, i).abs())
        .fold(0.0f64, f64::max)
        .max(f64::MIN_POSITIVE);
    let bmax = b[..n]
        .iter()
        .map(|v| (*v as f64).abs())
        .fold(0.0f64, f64::max);
    let tol = 1e-10 * scale.max(bmax).max(1.0);
    let mut xs = vec![0f64; n];
    let mut passive = vec![false; n];
    let mut z = vec![0f64; n];
    let mut sub = vec![0f64; n * n];
    let mut grad = vec![0f64; n];
    let max_outer = 3 * n + 10;
    for _ in 0..max_outer {
        for i in 0..n {
            grad[i] = b[i] as f64 - (0..n).map(|j| at(i, j) * xs[j]).sum::<f64>();
        }
        let mut best = None;
        for i in 0..n {
            if !passive[i] && grad[i] > tol && best.is_none_or(|(_, g)| grad[i] > g) {
                best = Some((i, grad[i]));
            }
        }
        let Some((enter, _)) = best else { break };
        passive[enter] = true;
        for _ in 0..=n {
            let set: Vec<usize> = (0..n).filter(|&i| passive[i]).collect();
            solve_subset(&at, &set, b, &mut sub, &mut z)?;
            if set.iter().all(|&i| z[i] > 0.0) {
                for i in 0..n {
                    xs[i] = if passive[i] { z[i] } else { 0.0 };
                }
                break;
            }
            // Move towards z until the first passive variable reaches zero; that one
            // (and any others at zero within rounding) becomes active again.
            let mut step = 1.0f64;
            let mut hit = None;
            for &i in &set {
                if z[i] <= 0.0 {
                    let s = xs[i] / (xs[i] - z[i]);
                    if s < step || hit.is_none() {
                        step = s.min(step);
                        hit = Some(i);
                    }
                }
            }
            let xmax = set.iter().map(|&i| xs[i].abs()).fold(0.0f64, f64::max);
            for &i in &set {
                xs[i] += step * (z[i] - xs[i]);
                if Some(i) == hit || xs[i] <= 1e-12 * xmax {
                    xs[i] = 0.0;
                    passive[i] = false;
                }
            }
            if !passive.iter().any(|&p| p) {
                break;
            }
        }
    }
    for i in 0..n {
        x[i] = xs[i] as f32;
    }
    Ok(())
}

/// Solve `A[set, set]·z[set] = b[set]` by Cholesky in f64.
fn solve_subset(
    at: &dyn Fn(usize, usize) -> f64,
    set: &[usize],
    b: &[f32],
    sub: &mut [f64],
    z: &mut [f64],
) -> Result<(), String> {
    let m = set.len();
    for (r, &i) in set.iter().enumerate() {
        for (c, &j) in set.iter().enumerate().take(r + 1) {
            let mut s = at(i, j);
            for k in 0..c {
                s -= sub[r * m + k] * sub[c * m + k];
            }
            if r == c {
                if !(s > 0.0) {
                    return Err(format!(
                        "the normal-equation matrix is not positive definite (NNLS pivot {i} is {s:e})"
                    ));
                }
                sub[r * m + r] = s.sqrt();
            } else {
                sub[r * m + c] = s / sub[c * m + c];
            }
        }
    }
    let mut y = vec![0f64; m];
    for r in 0..m {
        let mut s = b[set[r]] as f64;
        for c in 0..r {
            s -= sub[r * m + c] * y[c];
        }
        y[r] = s / sub[r * m + r];
    }
    for r in (0..m).rev() {
        let mut s = y[r];
        for c in r + 1..m {
            s -= sub[c * m + r] * y[c];
        }
        y[r] = s / sub[r * m + r];
    }
    for (r, &i) in set.iter().enumerate() {
        z[i] = y[r];
    }
    Ok(())
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

/// The vector kernels of the conjugate-gradient loops, as a type the hot loops are
/// generic over: [`Portable`] (the functions above) or [`Avx2`] (the same
/// arithmetic written with AVX2+FMA intrinsics, so LLVM cannot pick a poor
/// vectorisation). Both give the same bit patterns: every lane, fused multiply-add
/// and reduction step happens in the same order.
pub(crate) trait Simd: Copy {
    fn dot(self, a: &[f32], b: &[f32]) -> f32;
    fn dot4(self, a: [&[f32]; 4], b: &[f32]) -> [f32; 4];
    fn axpy(self, a: f32, x: &[f32], y: &mut [f32]);
    fn axpy4(self, w: [f32; 4], x: [&[f32]; 4], y: &mut [f32]);
    /// Eight [`dot`]s against the same `b` (bit-identical to eight calls).
    #[inline(always)]
    fn dot8(self, a: [&[f32]; 8], b: &[f32]) -> [f32; 8] {
        let lo = self.dot4([a[0], a[1], a[2], a[3]], b);
        let hi = self.dot4([a[4], a[5], a[6], a[7]], b);
        [lo[0], lo[1], lo[2], lo[3], hi[0], hi[1], hi[2], hi[3]]
    }
    /// Eight [`axpy`]s into the same `y`, in order (bit-identical to eight calls).
    #[inline(always)]
    fn axpy8(self, w: [f32; 8], x: [&[f32]; 8], y: &mut [f32]) {
        self.axpy4([w[0], w[1], w[2], w[3]], [x[0], x[1], x[2], x[3]], y);
        self.axpy4([w[4], w[5], w[6], w[7]], [x[4], x[5], x[6], x[7]], y);
    }
    /// One block of eight nonzeros of a CG pass: `d_q = x_q·v`, then
    /// `w_q = cp_q − cm1_q·d_q` (with `cp`) or `w_q = cm1_q·d_q`, then `y += Σ w_q·x_q`
    /// in order, each operation as the scalar code does it.
    #[inline(always)]
    fn pass8(
        self,
        x: [&[f32]; 8],
        v: &[f32],
        cm1: &[f32; 8],
        cp: Option<&[f32; 8]>,
        y: &mut [f32],
    ) {
        pass8_by_parts(self, x, v, cm1, cp, y)
    }
    /// Hint that `row` will be read soon (no effect on results).
    fn prefetch(self, _row: &[f32]) {}

    /// `out = m·x` for a full `n × n` matrix with row stride `ld` (`x`, `out` of
    /// length ≥ n), one [`dot`] per row.
    #[inline(always)]
    fn symv(self, m: &[f32], ld: usize, n: usize, x: &[f32], out: &mut [f32]) {
        let row = |i: usize| &m[i * ld..i * ld + n];
        let mut i = 0;
        while i + 8 <= n {
            let rows = [
                row(i),
                row(i + 1),
                row(i + 2),
                row(i + 3),
                row(i + 4),
                row(i + 5),
                row(i + 6),
                row(i + 7),
            ];
            let d = self.dot8(rows, &x[..n]);
            out[i..i + 8].copy_from_slice(&d);
            i += 8;
        }
        while i + 4 <= n {
            let d = self.dot4([row(i), row(i + 1), row(i + 2), row(i + 3)], &x[..n]);
            out[i..i + 4].copy_from_slice(&d);
            i += 4;
        }
        for i in i..n {
            out[i] = self.dot(row(i), &x[..n]);
        }
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

/// The AVX2+FMA kernels; a value exists only on a CPU that has both features.
#[cfg(target_arch = "x86_64")]
#[derive(Clone, Copy, Debug)]
pub(crate) struct Avx2(());

#[cfg(target_arch = "x86_64")]
impl Avx2 {
    /// The kernels, if this CPU runs them.
    pub(crate) fn detect() -> Option<Avx2> {
        have_avx2_fma().then_some(Avx2(()))
    }
}

#[cfg(target_arch = "x86_64")]
impl Simd for Avx2 {
    #[inline(always)]
    fn dot(self, a: &[f32], b: &[f32]) -> f32 {
        // SAFETY: an `Avx2` value proves the CPU has AVX2 and FMA.
        unsafe { x86::dot(a, b) }
    }
    #[inline(always)]
    fn dot4(self, a: [&[f32]; 4], b: &[f32]) -> [f32; 4] {
        // SAFETY: as in `dot`.
        unsafe { x86::dot4(a, b) }
    }
    #[inline(always)]
    fn axpy(self, a: f32, x: &[f32], y: &mut [f32]) {
        // SAFETY: as in `dot`.
        unsafe { x86::axpy(a, x, y) }
    }
    #[inline(always)]
    fn axpy4(self, w: [f32; 4], x: [&[f32]; 4], y: &mut [f32]) {
        // SAFETY: as in `dot`.
        unsafe { x86::axpy4(w, x, y) }
    }
    #[inline(always)]
    fn dot8(self, a: [&[f32]; 8], b: &[f32]) -> [f32; 8] {
        // SAFETY: as in `dot`.
        unsafe { x86::dot8(a, b) }
    }
    #[inline(always)]
    fn axpy8(self, w: [f32; 8], x: [&[f32]; 8], y: &mut [f32]) {
        // SAFETY: as in `dot`.
        unsafe { x86::axpy8(w, x, y) }
    }
    #[inline(always)]
    fn pass8(
        self,
        x: [&[f32]; 8],
        v: &[f32],
        cm1: &[f32; 8],
        cp: Option<&[f32; 8]>,
        y: &mut [f32],
    ) {
        if v.len().is_multiple_of(LANES) && v.len() == y.len() {
            // SAFETY: as in `dot`.
            unsafe { x86::pass8(x, v, cm1, cp, y) }
        } else {
            pass8_by_parts(self, x, v, cm1, cp, y)
        }
    }
    #[inline(always)]
    fn prefetch(self, row: &[f32]) {
        x86::prefetch(row)
    }
}

/// AVX2+FMA versions of [`dot`], [`dot4`], [`axpy`] and [`axpy4`], lane for lane
/// the same operations as the portable code.
#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::LANES;
    use std::arch::x86_64::*;

    /// The portable reduction `((s0+s4)+(s1+s5)) + ((s2+s6)+(s3+s7))`.
    #[inline(always)]
    unsafe fn hsum(v: __m256) -> f32 {
        let t = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v));
        let h = _mm_hadd_ps(t, t);
        _mm_cvtss_f32(h) + _mm_cvtss_f32(_mm_shuffle_ps::<1>(h, h))
    }

    /// Sums of two accumulators' halves side by side: `[lo(a)+hi(a) | lo(b)+hi(b)]`.
    #[inline(always)]
    unsafe fn fold_pair(a: __m256, b: __m256) -> __m256 {
        _mm256_add_ps(
            _mm256_permute2f128_ps::<0x20>(a, b),
            _mm256_permute2f128_ps::<0x31>(a, b),
        )
    }

    /// [`hsum`] of four accumulators at once, lane for lane the same additions.
    #[inline(always)]
    unsafe fn hsum4(s: [__m256; 4]) -> [f32; 4] {
        // [t(s0) | t(s1)] and [t(s2) | t(s3)], t = the four pair sums.
        let h = _mm256_hadd_ps(fold_pair(s[0], s[1]), fold_pair(s[2], s[3]));
        // Lanes: s0, s2, s0, s2 | s1, s3, s1, s3.
        let f = _mm256_hadd_ps(h, h);
        let mut o = [0f32; 8];
        _mm256_storeu_ps(o.as_mut_ptr(), f);
        [o[0], o[4], o[1], o[5]]
    }

    /// [`hsum`] of eight accumulators at once, lane for lane the same additions.
    #[inline(always)]
    unsafe fn hsum8(s: [__m256; 8]) -> [f32; 8] {
        let h0 = _mm256_hadd_ps(fold_pair(s[0], s[1]), fold_pair(s[2], s[3]));
        let h1 = _mm256_hadd_ps(fold_pair(s[4], s[5]), fold_pair(s[6], s[7]));
        // Lanes: s0, s2, s4, s6 | s1, s3, s5, s7.
        let f = _mm256_hadd_ps(h0, h1);
        let mut o = [0f32; 8];
        _mm256_storeu_ps(o.as_mut_ptr(), f);
        [o[0], o[4], o[1], o[5], o[2], o[6], o[3], o[7]]
    }

    #[inline(always)]
    pub(super) unsafe fn dot(a: &[f32], b: &[f32]) -> f32 {
        let n = a.len().min(b.len());
        let full = n / LANES * LANES;
        let mut acc = _mm256_setzero_ps();
        let mut c = 0;
        while c < full {
            // SAFETY: c + LANES ≤ full ≤ n ≤ both lengths.
            unsafe {
                let x = _mm256_loadu_ps(a.as_ptr().add(c));
                let y = _mm256_loadu_ps(b.as_ptr().add(c));
                acc = _mm256_fmadd_ps(x, y, acc);
            }
            c += LANES;
        }
        let mut tail = 0f32;
        for i in full..n {
            tail = a[i].mul_add(b[i], tail);
        }
        hsum(acc) + tail
    }

    /// The eight-lane accumulators of `R` dot products `a[r]·b` over the first
    /// `full` elements (a multiple of [`LANES`], at most every length).
    #[inline(always)]
    unsafe fn accumulate<const R: usize>(a: [&[f32]; R], b: &[f32], full: usize) -> [__m256; R] {
        assert!(full <= b.len() && a.iter().all(|r| full <= r.len()));
        let mut s = [_mm256_setzero_ps(); R];
        let mut c = 0;
        while c < full {
            let bv = _mm256_loadu_ps(b.as_ptr().add(c));
            for r in 0..R {
                s[r] = _mm256_fmadd_ps(_mm256_loadu_ps(a[r].as_ptr().add(c)), bv, s[r]);
            }
            c += LANES;
        }
        s
    }

    /// Add each row's scalar tail (elements `full..n`, as the portable code does,
    /// 0.0 when there are none) to its reduced sum.
    #[inline(always)]
    fn add_tails<const R: usize>(out: &mut [f32; R], a: [&[f32]; R], b: &[f32], full: usize) {
        for r in 0..R {
            let mut tail = 0f32;
            for i in full..b.len() {
                tail = a[r][i].mul_add(b[i], tail);
            }
            out[r] += tail;
        }
    }

    /// `y += Σ_r w_r·x_r` over the first `full` elements, each element taking the
    /// updates in order r = 0, 1, …
    #[inline(always)]
    unsafe fn update<const R: usize>(w: [__m256; R], x: [&[f32]; R], y: &mut [f32], full: usize) {
        assert!(full <= y.len() && x.iter().all(|r| full <= r.len()));
        let mut c = 0;
        while c < full {
            let yp = y.as_mut_ptr().add(c);
            let mut v = _mm256_loadu_ps(yp);
            for r in 0..R {
                v = _mm256_fmadd_ps(w[r], _mm256_loadu_ps(x[r].as_ptr().add(c)), v);
            }
            _mm256_storeu_ps(yp, v);
            c += LANES;
        }
    }

    /// The scalar elements `full..` of [`update`].
    #[inline(always)]
    fn update_tail<const R: usize>(w: [f32; R], x: [&[f32]; R], y: &mut [f32], full: usize) {
        for i in full..y.len() {
            let mut v = y[i];
            for r in 0..R {
                v = w[r].mul_add(x[r][i], v);
            }
            y[i] = v;
        }
    }

    #[inline(always)]
    pub(super) unsafe fn dot4(a: [&[f32]; 4], b: &[f32]) -> [f32; 4] {
        let full = b.len() / LANES * LANES;
        let mut out = hsum4(accumulate(a, b, full));
        add_tails(&mut out, a, b, full);
        out
    }

    #[inline(always)]
    pub(super) unsafe fn dot8(a: [&[f32]; 8], b: &[f32]) -> [f32; 8] {
        let full = b.len() / LANES * LANES;
        let mut out = hsum8(accumulate(a, b, full));
        add_tails(&mut out, a, b, full);
        out
    }

    #[inline(always)]
    pub(super) unsafe fn axpy(a: f32, x: &[f32], y: &mut [f32]) {
        let n = x.len().min(y.len());
        let full = n / LANES * LANES;
        update([_mm256_set1_ps(a)], [x], y, full);
        update_tail([a], [x], &mut y[..n], full);
    }

    #[inline(always)]
    pub(super) unsafe fn axpy4(w: [f32; 4], x: [&[f32]; 4], y: &mut [f32]) {
        let full = y.len() / LANES * LANES;
        update(w.map(|v| _mm256_set1_ps(v)), x, y, full);
        update_tail(w, x, y, full);
    }

    #[inline(always)]
    pub(super) unsafe fn axpy8(w: [f32; 8], x: [&[f32]; 8], y: &mut [f32]) {
        let full = y.len() / LANES * LANES;
        axpy8_full(w, x, y, full);
        update_tail(w, x, y, full);
    }

    /// [`Simd::pass8`] for `v` and `y` of the same length, a multiple of [`LANES`]:
    /// the dot products stay in one register, so the weights are computed eight
    /// at once.
    #[inline(always)]
    pub(super) unsafe fn pass8(
        x: [&[f32]; 8],
        v: &[f32],
        cm1: &[f32; 8],
        cp: Option<&[f32; 8]>,
        y: &mut [f32],
    ) {
        let n = y.len();
        debug_assert!(n.is_multiple_of(LANES) && v.len() == n);
        let s = accumulate(x, v, n);
        let h0 = _mm256_hadd_ps(fold_pair(s[0], s[1]), fold_pair(s[2], s[3]));
        let h1 = _mm256_hadd_ps(fold_pair(s[4], s[5]), fold_pair(s[6], s[7]));
        // Lanes s0, s2, s4, s6 | s1, s3, s5, s7 → s0 … s7; plus the empty tail's 0.0.
        let d = _mm256_permutevar8x32_ps(
            _mm256_hadd_ps(h0, h1),
            _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7),
        );
        let d = _mm256_add_ps(d, _mm256_setzero_ps());
        let cd = _mm256_mul_ps(_mm256_loadu_ps(cm1.as_ptr()), d);
        let w = match cp {
            Some(cp) => _mm256_sub_ps(_mm256_loadu_ps(cp.as_ptr()), cd),
            None => cd,
        };
        let mut wa = [0f32; 8];
        _mm256_storeu_ps(wa.as_mut_ptr(), w);
        axpy8_full(wa, x, y, n);
    }

    /// [`update`] with eight broadcast weights (`full` = the whole length).
    #[inline(always)]
    unsafe fn axpy8_full(w: [f32; 8], x: [&[f32]; 8], y: &mut [f32], full: usize) {
        let wv = [
            _mm256_set1_ps(w[0]),
            _mm256_set1_ps(w[1]),
            _mm256_set1_ps(w[2]),
            _mm256_set1_ps(w[3]),
            _mm256_set1_ps(w[4]),
            _mm256_set1_ps(w[5]),
            _mm256_set1_ps(w[6]),
            _mm256_set1_ps(w[7]),
        ];
        update(wv, x, y, full);
    }

    /// Ask for every cache line of `row` (a hint: no effect on results).
    #[inline(always)]
    pub(super) fn prefetch(row: &[f32]) {
        let p = row.as_ptr() as *const i8;
        let bytes = std::mem::size_of_val(row);
        let mut o = 0;
        while o < bytes {
            // SAFETY: prefetching never faults, and p + o stays inside `row`.
            unsafe { _mm_prefetch::<_MM_HINT_T0>(p.add(o)) };
            o += 64;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn vecs(n: usize, count: usize) -> impl Strategy<Value = Vec<Vec<f32>>> {
        proptest::collection::vec(proptest::collection::vec(-10.0f32..10.0, n), count)
    }

    fn bits(v: &[f32]) -> Vec<u32> {
        v.iter().map(|x| x.to_bits()).collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        /// The AVX2 kernels produce the portable kernels' bit patterns, for padded
        /// and unpadded lengths alike.
        #[test]
        fn avx2_kernels_match_the_portable_ones_bit_for_bit(
            (n, v) in (0usize..70).prop_flat_map(|n| (Just(n), vecs(n, 10))),
            w in proptest::array::uniform8(-3.0f32..3.0),
        ) {
            #[cfg(target_arch = "x86_64")]
            if let Some(avx) = Avx2::detect() {
                let rows: [&[f32]; 8] = std::array::from_fn(|r| &v[r][..]);
                let quad = [rows[0], rows[1], rows[2], rows[3]];
                let (b, y0) = (&v[8], &v[9]);
                prop_assert_eq!(Portable.dot(rows[0], b).to_bits(), avx.dot(rows[0], b).to_bits());
                prop_assert_eq!(bits(&Portable.dot4(quad, b)), bits(&avx.dot4(quad, b)));
                prop_assert_eq!(bits(&Portable.dot8(rows, b)), bits(&avx.dot8(rows, b)));
                let (mut p, mut a) = (y0.clone(), y0.clone());
                Portable.axpy(w[0], rows[0], &mut p);
                avx.axpy(w[0], rows[0], &mut a);
                prop_assert_eq!(bits(&p), bits(&a));
                let w4 = [w[0], w[1], w[2], w[3]];
                Portable.axpy4(w4, quad, &mut p);
                avx.axpy4(w4, quad, &mut a);
                prop_assert_eq!(bits(&p), bits(&a));
                Portable.axpy8(w, rows, &mut p);
                avx.axpy8(w, rows, &mut a);
                prop_assert_eq!(bits(&p), bits(&a));
                let (cm1, cp) = ([w[1], w[3], w[0], w[2], w[5], w[4], w[7], w[6]], w);
                for cp in [Some(&cp), None] {
                    let (mut p, mut a) = (y0.clone(), y0.clone());
                    Portable.pass8(rows, b, &cm1, cp, &mut p);
                    avx.pass8(rows, b, &cm1, cp, &mut a);
                    prop_assert_eq!(bits(&p), bits(&a));
                }
                // Cholesky factor and solve of an SPD matrix built from the rows.
                let k = n.min(9);
                let mut spd = vec![0f32; k * k];
                for r in v.iter() {
                    for i in 0..k {
                        for j in 0..k {
                            spd[i * k + j] += r[i] * r[j];
                        }
                    }
                }
                for i in 0..k {
                    spd[i * k + i] += 1.0;
                }
                let (mut lp, mut la) = (spd.clone(), spd);
                let (mut xp, mut xa) = (b[..k].to_vec(), b[..k].to_vec());
                cholesky(&mut lp, k, k, Portable).unwrap();
                cholesky(&mut la, k, k, avx).unwrap();
                cholesky_solve(&lp, k, k, &mut xp, Portable);
                cholesky_solve(&la, k, k, &mut xa, avx);
                prop_assert_eq!(bits(&lp), bits(&la));
                prop_assert_eq!(bits(&xp), bits(&xa));
                // The eight-at-once forms are the one-at-a-time loops.
                let singles: Vec<f32> = rows.iter().map(|r| dot(r, b)).collect();
                prop_assert_eq!(bits(&singles), bits(&avx.dot8(rows, b)));
                let mut one = y0.clone();
                for (wr, r) in w.iter().zip(rows) {
                    axpy(*wr, r, &mut one);
                }
                let mut eight = y0.clone();
                avx.axpy8(w, rows, &mut eight);
                prop_assert_eq!(bits(&one), bits(&eight));
            }
        }
    }
}
