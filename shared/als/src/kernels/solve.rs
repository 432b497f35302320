//! Dense solvers of one row's normal equations: Cholesky (f32, generic over the
//! [`Simd`] kernels) and non-negative least squares (Lawson–Hanson, f64).

use super::Simd;
use crate::SolveError;

/// In-place Cholesky factorisation `A = L·Lᵀ` of the leading `n × n` block (lower
/// triangle read and overwritten). Fails when a pivot is not clearly positive:
/// below 16 ulp of the original diagonal entry the solve would carry no accurate
/// digits. The error says which pivot.
///
/// Column by column (left-looking): once `L[j][j]` is known, the entries below it,
/// `L[i][j] = (A[i][j] − L[i][..j]·L[j][..j]) / L[j][j]`, are independent of each
/// other and are computed eight rows at a time with [`Simd::dot8`].
#[inline(always)]
pub(crate) fn cholesky<S: Simd>(
    a: &mut [f32],
    ld: usize,
    n: usize,
    simd: S,
) -> Result<(), SolveError> {
    for j in 0..n {
        let (head, below) = a.split_at_mut((j + 1) * ld);
        let lj = &mut head[j * ld..j * ld + ld];
        let orig = lj[j];
        let s = orig - simd.dot(&lj[..j], &lj[..j]);
        if !(s > 16.0 * f32::EPSILON * orig.abs()) || !s.is_finite() {
            return Err(SolveError::NotPositiveDefinite { pivot: j, value: s });
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
pub(crate) fn nnls(
    a: &[f32],
    ld: usize,
    n: usize,
    b: &[f32],
    x: &mut [f32],
) -> Result<(), SolveError> {
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
) -> Result<(), SolveError> {
    let m = set.len();
    for (r, &i) in set.iter().enumerate() {
        for (c, &j) in set.iter().enumerate().take(r + 1) {
            let mut s = at(i, j);
            for k in 0..c {
                s -= sub[r * m + k] * sub[c * m + k];
            }
            if r == c {
                if !(s > 0.0) {
                    return Err(SolveError::NnlsNotPositiveDefinite { pivot: i, value: s });
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
