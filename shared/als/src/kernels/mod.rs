//! Dense f32 kernels on rows padded to a multiple of [`LANES`].
//!
//! Every reduction runs over [`LANES`] explicit accumulators combined in a fixed
//! order, and every multiply-add is a fused `mul_add`, so the result is the same
//! bit pattern whether LLVM emits AVX2+FMA (the hot loops are compiled twice by
//! [`simd_dispatch!`] and picked at run time) or the portable fallback: the maths
//! does not depend on the machine's vector width or on the thread count.
//!
//! - `portable.rs`: the plain-Rust kernels and [`Portable`];
//! - `x86.rs`: the same kernels with AVX2+FMA intrinsics, [`Avx2`] (x86-64 only);
//! - `solve.rs`: the dense Cholesky and NNLS solvers of one row's normal equations.

mod portable;
mod solve;
#[cfg(target_arch = "x86_64")]
mod x86;

use portable::pass8_by_parts;
pub(crate) use portable::{axpy, cg_weight, dot, mirror_lower, syrk_lower, Portable};
pub(crate) use solve::{cholesky, cholesky_solve, nnls};
#[cfg(target_arch = "x86_64")]
pub(crate) use x86::Avx2;

/// Width of the explicit accumulators; factor rows are padded to a multiple of it.
pub(crate) const LANES: usize = 8;

/// `rank` rounded up to a multiple of [`LANES`].
pub(crate) fn padded(rank: usize) -> usize {
    rank.div_ceil(LANES) * LANES
}

/// Whether this CPU runs the AVX2+FMA instantiations of the hot loops.
#[cfg(target_arch = "x86_64")]
#[inline]
fn have_avx2_fma() -> bool {
    std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
}

/// Defines `fn name(args) -> ret` that runs `imp(args, simd)`, an `#[inline(always)]`
/// function generic over [`Simd`], with the fastest kernels this CPU has: on x86-64
/// with AVX2 and FMA, a copy of `imp` compiled with those features enabled (so the
/// generic body and the portable helpers it inlines are vectorised for them) and
/// [`Avx2`]; else `imp` with [`Portable`]. Both give the same bits. Inside `imp`,
/// prefer the `simd` kernels to the portable helpers where speed matters: how LLVM
/// vectorises a portable helper may change with its surroundings (recommend's
/// scoring once lost 45% that way), the intrinsics do not.
///
/// ```text
/// simd_dispatch! {
///     /// Docs of the entry point.
///     pub(crate) fn gram_chunk(chunk: &[f32], kp: usize, g: &mut [f32]) => gram_chunk_with;
/// }
/// ```
macro_rules! simd_dispatch {
    (
        $(#[$attr:meta])*
        $vis:vis fn $name:ident($($arg:ident: $ty:ty),* $(,)?) $(-> $ret:ty)? => $imp:path;
    ) => {
        $(#[$attr])*
        $vis fn $name($($arg: $ty),*) $(-> $ret)? {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx2,fma")]
                fn with_avx2($($arg: $ty,)* simd: $crate::kernels::Avx2) $(-> $ret)? {
                    $imp($($arg,)* simd)
                }
                if let Some(simd) = $crate::kernels::Avx2::detect() {
                    // SAFETY: an `Avx2` value exists only on a CPU with AVX2 and FMA,
                    // the features `with_avx2` is compiled for.
                    return unsafe { with_avx2($($arg,)* simd) };
                }
            }
            $imp($($arg,)* $crate::kernels::Portable)
        }
    };
}
pub(crate) use simd_dispatch;

/// The vector kernels of the conjugate-gradient loops, as a type the hot loops are
/// generic over: [`Portable`] (plain Rust) or [`Avx2`] (the same
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

/// The AVX2 kernels for a test that compares them with the portable ones, or `None`
/// after saying on stderr that the test is skipped (it would compare the portable
/// kernels with themselves).
#[cfg(all(test, target_arch = "x86_64"))]
pub(crate) fn avx2_or_skip(test: &str) -> Option<Avx2> {
    let avx = Avx2::detect();
    if avx.is_none() {
        eprintln!("SKIP {test}: this CPU has no AVX2+FMA");
    }
    avx
}

#[cfg(test)]
mod tests;
