//! The AVX2+FMA kernels: [`Avx2`], and the intrinsics versions of [`super::dot`],
//! [`super::dot4`], [`super::axpy`] and [`super::axpy4`] it runs, lane for lane the
//! same operations as the portable code.
//!
//! Every `unsafe fn` here has one requirement, that the CPU supports AVX2 and FMA;
//! bounds are checked (asserted) before any pointer is read or written. An [`Avx2`]
//! value is the proof of the CPU requirement: its field is private to this module
//! and [`Avx2::detect`] is its only constructor.

use super::{have_avx2_fma, pass8_by_parts, Simd, LANES};
use std::arch::x86_64::*;

/// The AVX2+FMA kernels; a value exists only on a CPU that has both features.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Avx2(());

impl Avx2 {
    /// The kernels, if this CPU runs them.
    pub(crate) fn detect() -> Option<Avx2> {
        have_avx2_fma().then_some(Avx2(()))
    }
}

impl Simd for Avx2 {
    #[inline(always)]
    fn dot(self, a: &[f32], b: &[f32]) -> f32 {
        // SAFETY: an `Avx2` value proves the CPU has AVX2 and FMA.
        unsafe { dot(a, b) }
    }
    #[inline(always)]
    fn dot4(self, a: [&[f32]; 4], b: &[f32]) -> [f32; 4] {
        // SAFETY: as in `dot`.
        unsafe { dot4(a, b) }
    }
    #[inline(always)]
    fn axpy(self, a: f32, x: &[f32], y: &mut [f32]) {
        // SAFETY: as in `dot`.
        unsafe { axpy(a, x, y) }
    }
    #[inline(always)]
    fn axpy4(self, w: [f32; 4], x: [&[f32]; 4], y: &mut [f32]) {
        // SAFETY: as in `dot`.
        unsafe { axpy4(w, x, y) }
    }
    #[inline(always)]
    fn dot8(self, a: [&[f32]; 8], b: &[f32]) -> [f32; 8] {
        // SAFETY: as in `dot`.
        unsafe { dot8(a, b) }
    }
    #[inline(always)]
    fn axpy8(self, w: [f32; 8], x: [&[f32]; 8], y: &mut [f32]) {
        // SAFETY: as in `dot`.
        unsafe { axpy8(w, x, y) }
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
            unsafe { pass8(x, v, cm1, cp, y) }
        } else {
            pass8_by_parts(self, x, v, cm1, cp, y)
        }
    }
    #[inline(always)]
    fn prefetch(self, row: &[f32]) {
        prefetch(row)
    }
}

/// The portable reduction `((s0+s4)+(s1+s5)) + ((s2+s6)+(s3+s7))`.
///
/// # Safety
/// The CPU must support AVX2 and FMA.
#[inline(always)]
unsafe fn hsum(v: __m256) -> f32 {
    // SAFETY: register-only intrinsics; the caller guarantees the CPU features.
    unsafe {
        let t = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v));
        let h = _mm_hadd_ps(t, t);
        _mm_cvtss_f32(h) + _mm_cvtss_f32(_mm_shuffle_ps::<1>(h, h))
    }
}

/// Sums of two accumulators' halves side by side: `[lo(a)+hi(a) | lo(b)+hi(b)]`.
///
/// # Safety
/// The CPU must support AVX2 and FMA.
#[inline(always)]
unsafe fn fold_pair(a: __m256, b: __m256) -> __m256 {
    // SAFETY: register-only intrinsics; the caller guarantees the CPU features.
    unsafe {
        _mm256_add_ps(
            _mm256_permute2f128_ps::<0x20>(a, b),
            _mm256_permute2f128_ps::<0x31>(a, b),
        )
    }
}

/// [`hsum`] of four accumulators at once, lane for lane the same additions.
///
/// # Safety
/// The CPU must support AVX2 and FMA.
#[inline(always)]
unsafe fn hsum4(s: [__m256; 4]) -> [f32; 4] {
    let mut o = [0f32; 8];
    // SAFETY: the caller guarantees the CPU features; the one store writes the eight
    // floats of `o`.
    unsafe {
        // [t(s0) | t(s1)] and [t(s2) | t(s3)], t = the four pair sums.
        let h = _mm256_hadd_ps(fold_pair(s[0], s[1]), fold_pair(s[2], s[3]));
        // Lanes: s0, s2, s0, s2 | s1, s3, s1, s3.
        let f = _mm256_hadd_ps(h, h);
        _mm256_storeu_ps(o.as_mut_ptr(), f);
    }
    [o[0], o[4], o[1], o[5]]
}

/// [`hsum`] of eight accumulators at once, lane for lane the same additions.
///
/// # Safety
/// The CPU must support AVX2 and FMA.
#[inline(always)]
unsafe fn hsum8(s: [__m256; 8]) -> [f32; 8] {
    let mut o = [0f32; 8];
    // SAFETY: the caller guarantees the CPU features; the one store writes the eight
    // floats of `o`.
    unsafe {
        let h0 = _mm256_hadd_ps(fold_pair(s[0], s[1]), fold_pair(s[2], s[3]));
        let h1 = _mm256_hadd_ps(fold_pair(s[4], s[5]), fold_pair(s[6], s[7]));
        // Lanes: s0, s2, s4, s6 | s1, s3, s5, s7.
        let f = _mm256_hadd_ps(h0, h1);
        _mm256_storeu_ps(o.as_mut_ptr(), f);
    }
    [o[0], o[4], o[1], o[5], o[2], o[6], o[3], o[7]]
}

/// [`super::dot`] with intrinsics.
///
/// # Safety
/// The CPU must support AVX2 and FMA.
#[inline(always)]
unsafe fn dot(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let full = n / LANES * LANES;
    // SAFETY: the caller guarantees the CPU features.
    let mut acc = unsafe { _mm256_setzero_ps() };
    let mut c = 0;
    while c < full {
        // SAFETY: c + LANES ≤ full ≤ n ≤ both lengths; the caller guarantees the
        // CPU features.
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
    // SAFETY: the caller guarantees the CPU features.
    unsafe { hsum(acc) + tail }
}

/// The eight-lane accumulators of `R` dot products `a[r]·b` over the first
/// `full` elements (a multiple of [`LANES`], at most every length).
///
/// # Safety
/// The CPU must support AVX2 and FMA.
#[inline(always)]
unsafe fn accumulate<const R: usize>(a: [&[f32]; R], b: &[f32], full: usize) -> [__m256; R] {
    assert!(full <= b.len() && a.iter().all(|r| full <= r.len()));
    // SAFETY: the caller guarantees the CPU features; every load reads LANES floats
    // at c with c + LANES ≤ full, inside every slice (asserted above).
    unsafe {
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
///
/// # Safety
/// The CPU must support AVX2 and FMA.
#[inline(always)]
unsafe fn update<const R: usize>(w: [__m256; R], x: [&[f32]; R], y: &mut [f32], full: usize) {
    assert!(full <= y.len() && x.iter().all(|r| full <= r.len()));
    let mut c = 0;
    while c < full {
        // SAFETY: the caller guarantees the CPU features; every load and the store
        // touch LANES floats at c with c + LANES ≤ full, inside every slice (asserted
        // above).
        unsafe {
            let yp = y.as_mut_ptr().add(c);
            let mut v = _mm256_loadu_ps(yp);
            for r in 0..R {
                v = _mm256_fmadd_ps(w[r], _mm256_loadu_ps(x[r].as_ptr().add(c)), v);
            }
            _mm256_storeu_ps(yp, v);
        }
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

/// [`super::dot4`] with intrinsics.
///
/// # Safety
/// The CPU must support AVX2 and FMA.
#[inline(always)]
unsafe fn dot4(a: [&[f32]; 4], b: &[f32]) -> [f32; 4] {
    let full = b.len() / LANES * LANES;
    // SAFETY: the caller guarantees the CPU features; `accumulate` checks the bounds.
    let mut out = unsafe { hsum4(accumulate(a, b, full)) };
    add_tails(&mut out, a, b, full);
    out
}

/// Eight [`super::dot`]s against the same `b` with intrinsics.
///
/// # Safety
/// The CPU must support AVX2 and FMA.
#[inline(always)]
unsafe fn dot8(a: [&[f32]; 8], b: &[f32]) -> [f32; 8] {
    let full = b.len() / LANES * LANES;
    // SAFETY: the caller guarantees the CPU features; `accumulate` checks the bounds.
    let mut out = unsafe { hsum8(accumulate(a, b, full)) };
    add_tails(&mut out, a, b, full);
    out
}

/// [`super::axpy`] with intrinsics.
///
/// # Safety
/// The CPU must support AVX2 and FMA.
#[inline(always)]
unsafe fn axpy(a: f32, x: &[f32], y: &mut [f32]) {
    let n = x.len().min(y.len());
    let full = n / LANES * LANES;
    // SAFETY: the caller guarantees the CPU features; `update` checks the bounds.
    unsafe { update([_mm256_set1_ps(a)], [x], y, full) };
    update_tail([a], [x], &mut y[..n], full);
}

/// [`super::axpy4`] with intrinsics.
///
/// # Safety
/// The CPU must support AVX2 and FMA.
#[inline(always)]
unsafe fn axpy4(w: [f32; 4], x: [&[f32]; 4], y: &mut [f32]) {
    let full = y.len() / LANES * LANES;
    // SAFETY: the caller guarantees the CPU features; `update` checks the bounds.
    unsafe { update(w.map(|v| _mm256_set1_ps(v)), x, y, full) };
    update_tail(w, x, y, full);
}

/// Eight [`super::axpy`]s into the same `y` with intrinsics.
///
/// # Safety
/// The CPU must support AVX2 and FMA.
#[inline(always)]
unsafe fn axpy8(w: [f32; 8], x: [&[f32]; 8], y: &mut [f32]) {
    let full = y.len() / LANES * LANES;
    // SAFETY: the caller guarantees the CPU features; `update` checks the bounds.
    unsafe { axpy8_full(w, x, y, full) };
    update_tail(w, x, y, full);
}

/// [`Simd::pass8`] for `v` and `y` of the same length, a multiple of [`LANES`]:
/// the dot products stay in one register, so the weights are computed eight
/// at once.
///
/// # Safety
/// The CPU must support AVX2 and FMA.
#[inline(always)]
unsafe fn pass8(x: [&[f32]; 8], v: &[f32], cm1: &[f32; 8], cp: Option<&[f32; 8]>, y: &mut [f32]) {
    let n = y.len();
    debug_assert!(n.is_multiple_of(LANES) && v.len() == n);
    let mut wa = [0f32; 8];
    // SAFETY: the caller guarantees the CPU features; `accumulate` checks its
    // bounds, and the other loads and the store touch exactly the eight floats of
    // `cm1`, `cp` and `wa`.
    unsafe {
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
        _mm256_storeu_ps(wa.as_mut_ptr(), w);
        axpy8_full(wa, x, y, n);
    }
}

/// [`update`] with eight broadcast weights (`full` = the whole length).
///
/// # Safety
/// The CPU must support AVX2 and FMA.
#[inline(always)]
unsafe fn axpy8_full(w: [f32; 8], x: [&[f32]; 8], y: &mut [f32], full: usize) {
    // SAFETY: the caller guarantees the CPU features; `update` checks the bounds.
    unsafe {
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
}

/// Ask for every cache line of `row` (a hint: no effect on results).
#[inline(always)]
fn prefetch(row: &[f32]) {
    let p = row.as_ptr() as *const i8;
    let bytes = std::mem::size_of_val(row);
    let mut o = 0;
    while o < bytes {
        // SAFETY: prefetching never faults, and p + o stays inside `row`.
        unsafe { _mm_prefetch::<_MM_HINT_T0>(p.add(o)) };
        o += 64;
    }
}
