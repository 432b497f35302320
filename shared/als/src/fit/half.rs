//! One half-iteration: every row of one side solved against the other side's
//! factors, in parallel over fixed chunks of rows.

use super::cg::solve_cg;
use super::exact::solve_exact;
use super::normal::GATHER_BLOCK;
use super::ROWS_PER_TASK;
use crate::kernels::{simd_dispatch, Simd};
use crate::matrix::Compressed;
use crate::{AlsError, AlsParams, SolveError, Solver};
use rayon::prelude::*;

/// One half-iteration's fixed inputs: solve the rows of `rows` against `other`.
pub(crate) struct Half<'a> {
    /// `user` or `item`, for error messages.
    pub(crate) side: &'static str,
    /// The rows to solve, by their nonzeros.
    pub(crate) rows: &'a Compressed,
    /// The other side's factors, padded rows of `kp`.
    pub(crate) other: &'a [f32],
    /// Their Gram matrix `otherᵀ·other` (`kp × kp`, full).
    pub(crate) gram: &'a [f32],
    /// The rank.
    pub(crate) k: usize,
    /// The padded row length (the rank rounded up to a multiple of the lanes).
    pub(crate) kp: usize,
    /// The fit's parameters (which solver, confidence, λ).
    pub(crate) p: &'a AlsParams,
}

/// Solve every row of `h.rows` into `f` (padded rows) in parallel. Each row depends
/// only on its own inputs, so scheduling cannot change a bit; on failure the error
/// of the lowest failing row is returned.
pub(crate) fn solve_half(h: &Half<'_>, f: &mut [f32]) -> Result<(), AlsError> {
    let results: Vec<Result<(), (usize, SolveError)>> = f
        .par_chunks_mut(ROWS_PER_TASK * h.kp)
        .enumerate()
        .map(|(t, chunk)| solve_rows(h, t * ROWS_PER_TASK, chunk))
        .collect();
    for r in results {
        if let Err((row, cause)) = r {
            return Err(AlsError::Numerical {
                side: h.side,
                row,
                cause,
            });
        }
    }
    Ok(())
}

simd_dispatch! {
    /// Solve rows `first..` of `h.rows` into `chunk` (padded rows, one per row), in
    /// order; the error names the first failing row.
    pub(crate) fn solve_rows(
        h: &Half<'_>,
        first: usize,
        chunk: &mut [f32],
    ) -> Result<(), (usize, SolveError)> => solve_rows_with;
}

/// Scratch buffers of one task.
pub(super) struct Scratch {
    /// Per nonzero of the current row: c − 1 and c·p.
    pub(super) cm1: Vec<f32>,
    pub(super) cp: Vec<f32>,
    /// The normal-equation matrix and right-hand side (exact solves).
    pub(super) a: Vec<f32>,
    pub(super) b: Vec<f32>,
    /// CG's residual, direction and A·direction.
    pub(super) r: Vec<f32>,
    pub(super) d: Vec<f32>,
    pub(super) ad: Vec<f32>,
    /// Gathered factor rows, and (exact solves) the same rows weighted by c − 1.
    pub(super) yu: Vec<f32>,
    pub(super) wu: Vec<f32>,
}

#[inline(always)]
pub(super) fn solve_rows_with<S: Simd>(
    h: &Half<'_>,
    first: usize,
    chunk: &mut [f32],
    simd: S,
) -> Result<(), (usize, SolveError)> {
    let kp = h.kp;
    let exact = h.p.nonnegative || h.p.solver == Solver::Cholesky;
    let mut s = Scratch {
        cm1: Vec::new(),
        cp: Vec::new(),
        a: if exact {
            vec![0f32; kp * kp]
        } else {
            Vec::new()
        },
        b: vec![0f32; kp],
        r: vec![0f32; kp],
        d: vec![0f32; kp],
        ad: vec![0f32; kp],
        yu: if exact {
            vec![0f32; GATHER_BLOCK * kp]
        } else {
            Vec::new()
        },
        wu: if exact {
            vec![0f32; GATHER_BLOCK * kp]
        } else {
            Vec::new()
        },
    };
    for (i, x) in chunk.chunks_exact_mut(kp).enumerate() {
        let row = first + i;
        let (idx, val) = h.rows.row(row);
        if idx.is_empty() {
            // Spark's convention: no data, zero factors (never NaN, never noise).
            x.fill(0.0);
            continue;
        }
        let res = if exact {
            solve_exact(h, idx, val, x, &mut s, simd)
        } else {
            solve_cg(h, idx, val, x, &mut s, simd)
        };
        res.map_err(|e| (row, e))?;
        if !x.iter().all(|v| v.is_finite()) {
            return Err((row, SolveError::NotFinite));
        }
    }
    Ok(())
}
