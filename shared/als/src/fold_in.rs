//! Fold-in: one user's factors from their history against a fitted model's item
//! factors, without refitting (`recalculate_user` in `implicit`).

use crate::fit::{gram, solve_rows, Half};
use crate::kernels::padded;
use crate::matrix::Compressed;
use crate::params::confidence;
use crate::{AlsError, AlsModel, AlsParams, FoldInError, Solver};

/// Solves a user's factor row from their history against fixed item factors: the
/// user half-step of training, done exactly.
///
/// For a history of (item, value) pairs it minimises the user's part of the training
/// objective, Σ_i c_i (p_i − x·y_i)² over *all* items i (c_i = 1, p_i = 0 for the
/// items not in the history) + λ_u·|x|², with the model's confidence function
/// (linear or log, `alpha`, `eps`) and λ scaling (plain or per interaction). The
/// normal equations (YᵀY + Σ (c_i − 1)·y_i·y_iᵀ + λ_u·I)·x = Σ c_i·p_i·y_i are built
/// and solved by Cholesky (by NNLS when the model is non-negative) with the same
/// code as a fit's Cholesky half-step; YᵀY, the part shared by every user, is
/// computed once by [`FoldIn::new`].
///
/// A `FoldIn` owns a copy of the item factors and is `Send + Sync`: build it once per
/// model and call [`FoldIn::recalculate_user`] from any number of threads. A call
/// allocates only its own scratch (4·kp² + 1024·kp bytes for kp = rank rounded up
/// to a multiple of 8: 80 KiB at rank 64).
///
/// ```
/// use alsflow_als::{fit, AlsParams, FoldIn, InteractionMatrix, Solver};
///
/// let m = InteractionMatrix::from_triplets(
///     3, 4, &[0, 0, 1, 1, 2, 2], &[0, 1, 1, 2, 2, 3], &[1.0, 2.0, 1.0, 1.0, 3.0, 1.0],
/// )?;
/// let params = AlsParams { rank: 2, max_iter: 5, solver: Solver::Cholesky, ..AlsParams::default() };
/// let model = fit(&m, &params)?;
/// let fold_in = FoldIn::from_model(&model)?;
///
/// // A new user who interacted with items 0 and 3.
/// let factors = fold_in.recalculate_user(&[(0, 1.0), (3, 2.0)])?;
/// assert_eq!(factors.len(), 2);
///
/// // Item 9 does not exist: the error names the history entry.
/// let err = fold_in.recalculate_user(&[(0, 1.0), (9, 1.0)]).unwrap_err();
/// assert_eq!(err.to_string(), "history entry 1: item index 9 is outside 0..4");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct FoldIn {
    /// The model's parameters with `solver = Cholesky` (the exact solve).
    params: AlsParams,
    n_items: usize,
    /// Padded row length (a multiple of the kernels' lane count).
    kp: usize,
    /// The item factors in padded rows, as a fit holds them.
    item_factors: Vec<f32>,
    /// YᵀY of the padded item factors (`kp × kp`).
    gram: Vec<f32>,
}

impl FoldIn {
    /// Prepare fold-ins against `item_factors` (row-major, `params.rank` values per
    /// item) with the model's `params`: checks the parameters, copies the factors
    /// into padded rows and computes YᵀY (in parallel on the current rayon pool;
    /// the bits do not depend on the thread count). `params.solver` and `cg_steps`
    /// are ignored: a fold-in always solves exactly.
    pub fn new(params: &AlsParams, item_factors: &[f32]) -> Result<Self, AlsError> {
        let params = AlsParams {
            solver: Solver::Cholesky,
            ..params.clone()
        };
        params.validate()?;
        let k = params.rank;
        if !item_factors.len().is_multiple_of(k) {
            return Err(AlsError::FactorShape {
                what: "item factors",
                len: item_factors.len(),
                rank: k,
            });
        }
        let (n_items, kp) = (item_factors.len() / k, padded(k));
        let mut padded_factors = vec![0f32; n_items * kp];
        for (dst, src) in padded_factors
            .chunks_exact_mut(kp)
            .zip(item_factors.chunks_exact(k))
        {
            dst[..k].copy_from_slice(src);
        }
        let gram = gram(&padded_factors, kp);
        Ok(FoldIn {
            params,
            n_items,
            kp,
            item_factors: padded_factors,
            gram,
        })
    }

    /// [`FoldIn::new`] with a fitted model's item factors and parameters.
    pub fn from_model(model: &AlsModel) -> Result<Self, AlsError> {
        Self::new(&model.params, &model.item_factors)
    }

    /// Number of factors per user row.
    pub fn rank(&self) -> usize {
        self.params.rank
    }

    /// Number of items (valid history indices are `0..n_items()`).
    pub fn n_items(&self) -> usize {
        self.n_items
    }

    /// The parameters fold-ins use (the model's, with `solver = Cholesky`).
    pub fn params(&self) -> &AlsParams {
        &self.params
    }

    /// The factor row (`rank()` values) of a user with `history`, (item index,
    /// value) pairs in any order. Values mean what they mean to a fit: preference 1
    /// when > 0, else 0, confidence from |value| (so a negative value is a confident
    /// zero); duplicate items are summed, as the matrix build does. Folding in a
    /// trained user's own history gives that user's row of one more Cholesky
    /// user half-step, so on a converged fit, (nearly) the trained row.
    ///
    /// Errors: an empty history, an item outside `0..n_items()`, a value that is
    /// NaN or infinite or whose confidence overflows, or a failed solve (λ too
    /// small); each names the history entry it is about.
    pub fn recalculate_user(&self, history: &[(u32, f32)]) -> Result<Vec<f32>, FoldInError> {
        if history.is_empty() {
            return Err(FoldInError::EmptyHistory);
        }
        for (position, &(item, value)) in history.iter().enumerate() {
            if item as usize >= self.n_items {
                return Err(FoldInError::ItemOutOfRange {
                    position,
                    item,
                    n_items: self.n_items,
                });
            }
            self.check_value(position, item, value)?;
        }
        // A stable sort by item, then duplicates summed in history order: the row
        // `InteractionMatrix::from_triplets` would build for this user.
        let mut order: Vec<usize> = (0..history.len()).collect();
        order.sort_by_key(|&t| history[t].0);
        let mut indices: Vec<u32> = Vec::with_capacity(history.len());
        let mut values: Vec<f32> = Vec::with_capacity(history.len());
        for &t in &order {
            let (item, value) = history[t];
            match (indices.last(), values.last_mut()) {
                (Some(&last), Some(sum)) if last == item => {
                    *sum += value;
                    self.check_value(t, item, *sum)?;
                }
                _ => {
                    indices.push(item);
                    values.push(value);
                }
            }
        }
        let row = Compressed {
            indptr: vec![0, indices.len()],
            indices,
            values,
        };
        let (k, kp) = (self.params.rank, self.kp);
        let half = Half {
            side: "user",
            rows: &row,
            other: &self.item_factors,
            gram: &self.gram,
            k,
            kp,
            p: &self.params,
        };
        let mut x = vec![0f32; kp];
        solve_rows(&half, 0, &mut x).map_err(|(_, cause)| FoldInError::Numerical(cause))?;
        x.truncate(k);
        Ok(x)
    }

    /// The value must be finite and give a finite confidence.
    fn check_value(&self, position: usize, item: u32, value: f32) -> Result<(), FoldInError> {
        let reason = if !value.is_finite() {
            "is not finite"
        } else if !confidence(&self.params, value).0.is_finite() {
            "is too large: its confidence 1 + alpha·f(|value|) is not finite"
        } else {
            return Ok(());
        };
        Err(FoldInError::InvalidValue {
            position,
            item,
            value,
            reason,
        })
    }
}
