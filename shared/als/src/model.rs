//! The fitted model and its serialisation.

use crate::{AlsError, AlsParams};
use serde::{Deserialize, Serialize};

/// A fitted implicit-ALS model: user and item factors, row-major.
///
/// ```
/// use alsflow_als::{fit, AlsModel, AlsParams, InteractionMatrix};
///
/// let train = InteractionMatrix::from_triplets(
///     3, 4, &[0, 0, 1, 1, 2, 2], &[0, 1, 1, 2, 2, 3], &[2.0, 1.0, 1.0, 3.0, 1.0, 1.0],
/// )?;
/// let model = fit(&train, &AlsParams { rank: 2, ..AlsParams::default() })?;
/// assert_eq!(model.user(2).len(), 2);
/// // Deterministic bytes, e.g. to store the model and serve it later.
/// let bytes = model.to_bytes()?;
/// assert_eq!(AlsModel::from_bytes(&bytes)?, model);
/// # Ok::<(), alsflow_als::AlsError>(())
/// ```
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct AlsModel {
    /// The parameters it was fitted with.
    pub params: AlsParams,
    /// Number of users (rows of `user_factors`).
    pub n_users: usize,
    /// Number of items (rows of `item_factors`).
    pub n_items: usize,
    /// Number of factors per row.
    pub rank: usize,
    /// Row-major `n_users × rank`; users without interactions have zero rows.
    pub user_factors: Vec<f32>,
    /// Row-major `n_items × rank`; items without interactions have zero rows.
    pub item_factors: Vec<f32>,
    /// Iterations run.
    pub iterations: usize,
    /// Training objective after each iteration (empty unless `params.compute_loss`).
    pub loss: Vec<f64>,
}

impl AlsModel {
    /// User `u`'s factors. Panics if `u >= n_users`.
    pub fn user(&self, u: usize) -> &[f32] {
        &self.user_factors[u * self.rank..(u + 1) * self.rank]
    }

    /// Item `i`'s factors. Panics if `i >= n_items`.
    pub fn item(&self, i: usize) -> &[f32] {
        &self.item_factors[i * self.rank..(i + 1) * self.rank]
    }

    /// Encode with the workspace codec (deterministic bytes).
    pub fn to_bytes(&self) -> Result<Vec<u8>, AlsError> {
        Ok(alsflow_core::codec::encode("ALS model", self)?)
    }

    /// Decode bytes written by [`AlsModel::to_bytes`], checking the dimensions agree.
    pub fn from_bytes(b: &[u8]) -> Result<Self, AlsError> {
        let m: AlsModel = alsflow_core::codec::decode("ALS model", b)?;
        if m.user_factors.len() != m.n_users * m.rank || m.item_factors.len() != m.n_items * m.rank
        {
            return Err(AlsError::Codec(alsflow_core::codec::CodecError::Decode {
                what: "ALS model",
                message: format!(
                    "factor lengths {} / {} do not match {} users, {} items, rank {}",
                    m.user_factors.len(),
                    m.item_factors.len(),
                    m.n_users,
                    m.n_items,
                    m.rank
                ),
            }));
        }
        Ok(m)
    }
}
