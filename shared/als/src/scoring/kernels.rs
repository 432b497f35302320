//! The micro-kernels of [`super::score_tile`]: one 12-user × 32-item tile from a
//! packed user group (`a`: `rank` rows of 12) and a packed item panel (`b`: `rank`
//! rows of 32). Every output is `acc = fma(a_f, b_f, acc)` for f = 0, 1, … from +0.0,
//! in all three versions, so they agree bit for bit (the tests check it).
//!
//! The `unsafe fn`s require the CPU features they are compiled for; an [`Isa`] value
//! other than `Portable` is only made by [`Isa::detect`] after checking them, and the
//! slices are checked (asserted) before any pointer is read or written.

use super::{ITEM_PANEL, USER_GROUP};

/// The instruction set a tile is computed with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Isa {
    /// AVX-512F: 12 × 32 in 24 registers.
    #[cfg(target_arch = "x86_64")]
    Avx512,
    /// AVX2 + FMA: four 6 × 16 blocks of 12 registers.
    #[cfg(target_arch = "x86_64")]
    Avx2,
    /// Plain Rust (`f32::mul_add`).
    Portable,
}

impl Isa {
    /// The fastest kernel this CPU runs.
    pub(crate) fn detect() -> Isa {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx512f") {
                return Isa::Avx512;
            }
            if std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma")
            {
                return Isa::Avx2;
            }
        }
        Isa::Portable
    }

    /// The kernel's name in benchmark output.
    pub(crate) fn name(self) -> &'static str {
        match self {
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => "avx512",
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => "avx2",
            Isa::Portable => "portable",
        }
    }

    /// Every kernel this CPU runs (for the tests and the benchmark).
    pub(crate) fn available() -> Vec<Isa> {
        let mut out = vec![Isa::Portable];
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma")
            {
                out.push(Isa::Avx2);
            }
            if std::arch::is_x86_feature_detected!("avx512f") {
                out.push(Isa::Avx512);
            }
        }
        out
    }
}

/// One tile: `c[r * ldc + j] = Σ_f a[f * 12 + r] · b[f * 32 + j]` for `r < rows`,
/// `j < cols` (the other entries of `c` are left alone).
#[allow(clippy::too_many_arguments)]
pub(crate) fn tile(
    isa: Isa,
    rank: usize,
    a: &[f32],
    b: &[f32],
    c: &mut [f32],
    ldc: usize,
    rows: usize,
    cols: usize,
) {
    assert!(a.len() >= rank * USER_GROUP && b.len() >= rank * ITEM_PANEL);
    assert!((1..=USER_GROUP).contains(&rows) && (1..=ITEM_PANEL).contains(&cols));
    assert!(c.len() >= (rows - 1) * ldc + cols);
    if rows == USER_GROUP && cols == ITEM_PANEL {
        full_tile(isa, rank, a, b, c, ldc);
    } else {
        // Partial tiles are computed whole into a local buffer, then copied.
        let mut local = [0f32; USER_GROUP * ITEM_PANEL];
        full_tile(isa, rank, a, b, &mut local, ITEM_PANEL);
        for r in 0..rows {
            c[r * ldc..r * ldc + cols]
                .copy_from_slice(&local[r * ITEM_PANEL..r * ITEM_PANEL + cols]);
        }
    }
}

/// A whole 12 × 32 tile into `c` (which holds `11 × ldc + 32` values).
#[inline(always)]
fn full_tile(isa: Isa, rank: usize, a: &[f32], b: &[f32], c: &mut [f32], ldc: usize) {
    debug_assert!(c.len() >= (USER_GROUP - 1) * ldc + ITEM_PANEL);
    match isa {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `Isa::Avx512` is only made after detecting AVX-512F; the caller's
        // asserts bound every read of `a` and `b` and every write of `c`.
        Isa::Avx512 => unsafe { x86::tile_avx512(rank, a, b, c, ldc) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `Isa::Avx2` is only made after detecting AVX2 and FMA; bounds as above.
        Isa::Avx2 => unsafe { x86::tile_avx2(rank, a, b, c, ldc) },
        Isa::Portable => tile_portable(rank, a, b, c, ldc),
    }
}

/// The reference kernel: the same fused multiply-add chain per output.
fn tile_portable(rank: usize, a: &[f32], b: &[f32], c: &mut [f32], ldc: usize) {
    let mut acc = [[0f32; ITEM_PANEL]; USER_GROUP];
    for f in 0..rank {
        let af = &a[f * USER_GROUP..(f + 1) * USER_GROUP];
        let bf = &b[f * ITEM_PANEL..(f + 1) * ITEM_PANEL];
        for (row, &x) in acc.iter_mut().zip(af) {
            for (s, &y) in row.iter_mut().zip(bf) {
                *s = x.mul_add(y, *s);
            }
        }
    }
    for (r, row) in acc.iter().enumerate() {
        c[r * ldc..r * ldc + ITEM_PANEL].copy_from_slice(row);
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{ITEM_PANEL, USER_GROUP};
    use std::arch::x86_64::*;

    /// 12 × 32 with AVX-512F: per factor two loads of the panel row, twelve
    /// broadcasts of the group row, 24 fused multiply-adds.
    ///
    /// # Safety
    /// The CPU must support AVX-512F; `a` must hold `rank × 12`, `b` `rank × 32` and
    /// `c` `11 × ldc + 32` values (checked by the caller).
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn tile_avx512(rank: usize, a: &[f32], b: &[f32], c: &mut [f32], ldc: usize) {
        let (pa, pb, pc) = (a.as_ptr(), b.as_ptr(), c.as_mut_ptr());
        let mut lo = [_mm512_setzero_ps(); USER_GROUP];
        let mut hi = [_mm512_setzero_ps(); USER_GROUP];
        for f in 0..rank {
            // SAFETY: f < rank, so the panel row f (32 values) and the group row f
            // (12 values) lie inside `b` and `a`.
            unsafe {
                let b0 = _mm512_loadu_ps(pb.add(f * ITEM_PANEL));
                let b1 = _mm512_loadu_ps(pb.add(f * ITEM_PANEL + 16));
                let af = pa.add(f * USER_GROUP);
                for r in 0..USER_GROUP {
                    let x = _mm512_set1_ps(*af.add(r));
                    lo[r] = _mm512_fmadd_ps(x, b0, lo[r]);
                    hi[r] = _mm512_fmadd_ps(x, b1, hi[r]);
                }
            }
        }
        for r in 0..USER_GROUP {
            // SAFETY: row r < 12 of `c` has 32 values from r × ldc (caller's bound).
            unsafe {
                _mm512_storeu_ps(pc.add(r * ldc), lo[r]);
                _mm512_storeu_ps(pc.add(r * ldc + 16), hi[r]);
            }
        }
    }

    /// 12 × 32 with AVX2+FMA as four 6 × 16 blocks (12 accumulators each).
    ///
    /// # Safety
    /// The CPU must support AVX2 and FMA; bounds as in [`tile_avx512`].
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn tile_avx2(rank: usize, a: &[f32], b: &[f32], c: &mut [f32], ldc: usize) {
        let (pa, pb, pc) = (a.as_ptr(), b.as_ptr(), c.as_mut_ptr());
        for r0 in [0, 6] {
            for j0 in [0, 16] {
                let mut lo = [_mm256_setzero_ps(); 6];
                let mut hi = [_mm256_setzero_ps(); 6];
                for f in 0..rank {
                    // SAFETY: f < rank and r0 + 6 ≤ 12, j0 + 16 ≤ 32: inside `a`, `b`.
                    unsafe {
                        let b0 = _mm256_loadu_ps(pb.add(f * ITEM_PANEL + j0));
                        let b1 = _mm256_loadu_ps(pb.add(f * ITEM_PANEL + j0 + 8));
                        let af = pa.add(f * USER_GROUP + r0);
                        for r in 0..6 {
                            let x = _mm256_set1_ps(*af.add(r));
                            lo[r] = _mm256_fmadd_ps(x, b0, lo[r]);
                            hi[r] = _mm256_fmadd_ps(x, b1, hi[r]);
                        }
                    }
                }
                for r in 0..6 {
                    // SAFETY: row r0 + r < 12, columns j0 .. j0 + 16 ≤ 32 of `c`.
                    unsafe {
                        _mm256_storeu_ps(pc.add((r0 + r) * ldc + j0), lo[r]);
                        _mm256_storeu_ps(pc.add((r0 + r) * ldc + j0 + 8), hi[r]);
                    }
                }
            }
        }
    }
}
