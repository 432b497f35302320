//! The training objective (`compute_loss`).

use super::ROWS_PER_TASK;
use crate::kernels::{dot, Portable, Simd};
use crate::params::{confidence, row_lambda};
use crate::{AlsParams, InteractionMatrix};
use rayon::prelude::*;

/// The objective Σ_ui c_ui (p_ui − x_u·y_i)² + Σ_u λ_u |x_u|² + Σ_i λ_i |y_i|²,
/// using Σ_i (x_u·y_i)² = x_uᵀ·(YᵀY)·x_u for the unobserved pairs. Summed in f64
/// over fixed chunks in order.
pub(crate) fn objective(
    m: &InteractionMatrix,
    p: &AlsParams,
    x: &[f32],
    y: &[f32],
    gy: &[f32],
    kp: usize,
) -> f64 {
    let users: Vec<f64> = x
        .par_chunks(ROWS_PER_TASK * kp)
        .enumerate()
        .map(|(t, chunk)| {
            let mut gx = vec![0f32; kp];
            let mut total = 0f64;
            for (i, xu) in chunk.chunks_exact(kp).enumerate() {
                let u = t * ROWS_PER_TASK + i;
                let (idx, val) = m.by_user.row(u);
                Portable.symv(gy, kp, kp, xu, &mut gx);
                let mut row = dot(xu, &gx) as f64;
                for (&j, &r) in idx.iter().zip(val) {
                    let (c, pref) = confidence(p, r);
                    let sc = dot(xu, &y[j as usize * kp..(j as usize + 1) * kp]) as f64;
                    let (c, pref) = (c as f64, pref as f64);
                    row += c * (pref - sc) * (pref - sc) - sc * sc;
                }
                row += row_lambda(p, idx.len()) as f64 * dot(xu, xu) as f64;
                total += row;
            }
            total
        })
        .collect();
    let items: Vec<f64> = y
        .par_chunks(ROWS_PER_TASK * kp)
        .enumerate()
        .map(|(t, chunk)| {
            chunk
                .chunks_exact(kp)
                .enumerate()
                .map(|(i, yi)| {
                    let n = m.by_item.row(t * ROWS_PER_TASK + i).0.len();
                    row_lambda(p, n) as f64 * dot(yi, yi) as f64
                })
                .sum::<f64>()
        })
        .collect();
    users.iter().sum::<f64>() + items.iter().sum::<f64>()
}
