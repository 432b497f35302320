//! Alternating least squares: the driver of the iterations, and the rooms it calls.
//!
//! - `half.rs`: one half-iteration, every row of one side solved in parallel;
//! - `normal.rs`: Gram matrices and the normal equations of one row;
//! - `exact.rs`: the exact row solve (Cholesky, or NNLS for non-negative factors);
//! - `cg.rs`: the conjugate-gradient row solve;
//! - `objective.rs`: the training loss.

mod cg;
mod exact;
mod half;
mod normal;
mod objective;

pub(crate) use half::{solve_rows, Half};
pub(crate) use normal::gram;

use crate::kernels::padded;
use crate::matrix::Compressed;
use crate::{AlsError, AlsModel, AlsParams, InteractionMatrix};
use alsflow_core::rng::Xoshiro256;
use half::solve_half;
use objective::objective;

/// Rows solved per parallel task: fixed, so the partition (and with it every
/// per-chunk reduction) does not depend on the thread count.
const ROWS_PER_TASK: usize = 32;
/// Initial factors are uniform in [0, INIT_SCALE), as `implicit` does.
const INIT_SCALE: f32 = 0.01;

/// Fit a model on `m` with `p`: `p.max_iter` alternating iterations (all users, then
/// all items), starting from seeded random factors. The error names a bad parameter,
/// or the side and row of a solve that failed (see [`AlsError`]).
///
/// ```
/// use alsflow_als::{fit, AlsParams, InteractionMatrix, Solver};
///
/// let train = InteractionMatrix::from_triplets(
///     3, 4, &[0, 0, 1, 1, 2, 2], &[0, 1, 1, 2, 2, 3], &[2.0, 1.0, 1.0, 3.0, 1.0, 1.0],
/// )?;
/// let p = AlsParams { rank: 2, max_iter: 8, solver: Solver::Cholesky, ..AlsParams::default() };
/// let model = fit(&train, &p)?;
/// assert_eq!((model.n_users, model.n_items, model.rank), (3, 4, 2));
/// // The same bits with any number of threads.
/// let one_thread = fit(&train, &AlsParams { threads: 1, ..p })?;
/// assert_eq!(model.user_factors, one_thread.user_factors);
/// # Ok::<(), alsflow_als::AlsError>(())
/// ```
pub fn fit(m: &InteractionMatrix, p: &AlsParams) -> Result<AlsModel, AlsError> {
    fit_impl(m, p, Observer::Nothing)
}

/// Like [`fit`], calling `on_iteration(iter, &model)` (1-based `iter`) after every
/// iteration. The model passed at iteration k is bit-identical to `fit` with
/// `max_iter = k` (apart from `params.max_iter`): one fit gives the models of every
/// iteration count up to `max_iter`.
///
/// ```
/// use alsflow_als::{fit_with, AlsParams, InteractionMatrix};
///
/// let train = InteractionMatrix::from_triplets(
///     3, 4, &[0, 0, 1, 1, 2, 2], &[0, 1, 1, 2, 2, 3], &[2.0, 1.0, 1.0, 3.0, 1.0, 1.0],
/// )?;
/// let p = AlsParams { rank: 2, max_iter: 5, compute_loss: true, ..AlsParams::default() };
/// let mut losses = Vec::new();
/// let model = fit_with(&train, &p, &mut |iter, snapshot| {
///     losses.push((iter, snapshot.loss[iter - 1]));
/// })?;
/// assert_eq!(losses.len(), 5);
/// assert_eq!(model.loss.len(), 5);
/// # Ok::<(), alsflow_als::AlsError>(())
/// ```
pub fn fit_with(
    m: &InteractionMatrix,
    p: &AlsParams,
    on_iteration: &mut dyn FnMut(usize, &AlsModel),
) -> Result<AlsModel, AlsError> {
    fit_impl(m, p, Observer::Snapshots(on_iteration))
}

/// Like [`fit`], calling `on_iteration(iter, loss)` (1-based `iter`; the loss when
/// `compute_loss` is on) after every iteration, for progress reports. Unlike
/// [`fit_with`] it builds no model snapshot per iteration, which at a million users
/// would copy every factor matrix once per iteration.
///
/// ```
/// use alsflow_als::{fit_observing, AlsParams, InteractionMatrix};
///
/// let train = InteractionMatrix::from_triplets(3, 4, &[0, 1, 2], &[0, 1, 3], &[1.0; 3])?;
/// let p = AlsParams { rank: 2, max_iter: 3, ..AlsParams::default() };
/// let mut seen = Vec::new();
/// fit_observing(&train, &p, &mut |iter, loss| seen.push((iter, loss)))?;
/// assert_eq!(seen, vec![(1, None), (2, None), (3, None)]);
/// # Ok::<(), alsflow_als::AlsError>(())
/// ```
pub fn fit_observing(
    m: &InteractionMatrix,
    p: &AlsParams,
    on_iteration: &mut dyn FnMut(usize, Option<f64>),
) -> Result<AlsModel, AlsError> {
    fit_impl(m, p, Observer::Progress(on_iteration))
}

/// Initial factors (padded rows): uniform [0, 0.01) for rows with interactions, zero
/// otherwise. Generated sequentially from one stream, so independent of threads.
fn init_factors(rng: &mut Xoshiro256, rows: &Compressed, k: usize, kp: usize) -> Vec<f32> {
    let n = rows.rows();
    let mut f = vec![0f32; n * kp];
    for r in 0..n {
        let empty = rows.indptr[r] == rows.indptr[r + 1];
        for j in 0..k {
            let v = rng.next_f32() * INIT_SCALE;
            if !empty {
                f[r * kp + j] = v;
            }
        }
    }
    f
}

/// Who watches the iterations: nobody ([`fit`]), a model snapshot per iteration
/// ([`fit_with`]), or the iteration number and loss ([`fit_observing`]).
enum Observer<'a> {
    Nothing,
    Snapshots(&'a mut dyn FnMut(usize, &AlsModel)),
    Progress(&'a mut dyn FnMut(usize, Option<f64>)),
}

fn fit_impl(
    m: &InteractionMatrix,
    p: &AlsParams,
    mut on_iteration: Observer<'_>,
) -> Result<AlsModel, AlsError> {
    p.validate()?;
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(p.threads)
        .build()
        .map_err(|e| AlsError::ThreadPool {
            threads: p.threads,
            message: e.to_string(),
        })?;
    let (k, kp) = (p.rank, padded(p.rank));
    let mut rng = Xoshiro256::new(p.seed, 0);
    let mut x = init_factors(&mut rng, &m.by_user, k, kp);
    let mut y = init_factors(&mut rng, &m.by_item, k, kp);
    let mut loss = Vec::new();
    // Gram of the item factors carried from the end of one iteration (where the
    // loss needs it) to the user half of the next. The callback runs outside the
    // pool (it need not be Send).
    let mut gram_y: Option<Vec<f32>> = None;
    for iter in 1..=p.max_iter {
        pool.install(|| -> Result<(), AlsError> {
            let gy = match gram_y.take() {
                Some(g) => g,
                None => gram(&y, kp),
            };
            solve_half(
                &Half {
                    side: "user",
                    rows: &m.by_user,
                    other: &y,
                    gram: &gy,
                    k,
                    kp,
                    p,
                },
                &mut x,
            )?;
            let gx = gram(&x, kp);
            solve_half(
                &Half {
                    side: "item",
                    rows: &m.by_item,
                    other: &x,
                    gram: &gx,
                    k,
                    kp,
                    p,
                },
                &mut y,
            )?;
            if p.compute_loss {
                let gy = gram(&y, kp);
                loss.push(objective(m, p, &x, &y, &gy, kp));
                gram_y = Some(gy);
            }
            Ok(())
        })?;
        if let Some(l) = loss.last() {
            tracing::debug!(iter, loss = l, "ALS iteration");
        }
        match &mut on_iteration {
            Observer::Nothing => {}
            Observer::Snapshots(cb) => {
                let mut params = p.clone();
                params.max_iter = iter;
                cb(iter, &export(m, &params, &x, &y, k, kp, iter, &loss));
            }
            Observer::Progress(cb) => cb(iter, loss.last().copied()),
        }
    }
    Ok(export(m, p, &x, &y, k, kp, p.max_iter, &loss))
}

/// Build the public model from the padded factors.
#[allow(clippy::too_many_arguments)]
fn export(
    m: &InteractionMatrix,
    p: &AlsParams,
    x: &[f32],
    y: &[f32],
    k: usize,
    kp: usize,
    iterations: usize,
    loss: &[f64],
) -> AlsModel {
    let unpad = |f: &[f32]| -> Vec<f32> {
        if k == kp {
            f.to_vec()
        } else {
            f.chunks_exact(kp)
                .flat_map(|r| r[..k].iter().copied())
                .collect()
        }
    };
    AlsModel {
        params: p.clone(),
        n_users: m.n_users(),
        n_items: m.n_items(),
        rank: k,
        user_factors: unpad(x),
        item_factors: unpad(y),
        iterations,
        loss: loss.to_vec(),
    }
}

#[cfg(test)]
mod tests;
