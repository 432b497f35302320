//! The interaction matrix in both orientations (CSR by user, CSC by item).

use crate::AlsError;
use alsflow_core::table::Interactions;

/// Compressed rows: `indptr[r]..indptr[r + 1]` spans row `r` in `indices` / `values`.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Compressed {
    pub(crate) indptr: Vec<usize>,
    pub(crate) indices: Vec<u32>,
    pub(crate) values: Vec<f32>,
}

impl Compressed {
    pub(crate) fn rows(&self) -> usize {
        self.indptr.len() - 1
    }

    pub(crate) fn row(&self, r: usize) -> (&[u32], &[f32]) {
        let (a, b) = (self.indptr[r], self.indptr[r + 1]);
        (&self.indices[a..b], &self.values[a..b])
    }

    /// Counting-sort transpose: rows of the result come out with sorted indices
    /// because we walk the source rows in order.
    fn transpose(&self, n_cols: usize) -> Compressed {
        let mut indptr = vec![0usize; n_cols + 1];
        for &c in &self.indices {
            indptr[c as usize + 1] += 1;
        }
        for c in 0..n_cols {
            indptr[c + 1] += indptr[c];
        }
        let mut next = indptr.clone();
        let mut indices = vec![0u32; self.indices.len()];
        let mut values = vec![0f32; self.values.len()];
        for r in 0..self.rows() {
            let (idx, val) = self.row(r);
            for (&c, &v) in idx.iter().zip(val) {
                let slot = next[c as usize];
                indices[slot] = r as u32;
                values[slot] = v;
                next[c as usize] += 1;
            }
        }
        Compressed {
            indptr,
            indices,
            values,
        }
    }
}

/// User × item interactions, stored as CSR (by user) and CSC (by item).
///
/// Duplicate (user, item) pairs are summed (in table order, so the sum is
/// deterministic). Indices within a row or column are sorted ascending.
#[derive(Clone, Debug, PartialEq)]
pub struct InteractionMatrix {
    n_users: usize,
    n_items: usize,
    pub(crate) by_user: Compressed,
    pub(crate) by_item: Compressed,
}

impl InteractionMatrix {
    /// Build from a table (the `interactions` artifact of the pipeline); as
    /// [`InteractionMatrix::from_triplets`] with the table's dimensions and columns.
    pub fn from_interactions(t: &Interactions) -> Result<Self, AlsError> {
        Self::from_triplets(
            t.n_users as usize,
            t.n_items as usize,
            &t.user,
            &t.item,
            &t.value,
        )
    }

    /// Build from parallel columns: interaction `row` is (`users[row]`, `items[row]`,
    /// `values[row]`). Indices must lie in `0..n_users` / `0..n_items` and values must
    /// be finite; duplicate (user, item) pairs are summed in row order. The error
    /// names the first bad row (0-based).
    ///
    /// ```
    /// use alsflow_als::{AlsError, InteractionMatrix};
    ///
    /// // user 0 saw items 1 and 2 (item 2 twice: the values add up), user 2 saw item 0.
    /// let m = InteractionMatrix::from_triplets(3, 4, &[0, 2, 0, 0], &[2, 0, 1, 2], &[1.0, 5.0, 3.0, 1.0])?;
    /// assert_eq!((m.n_users(), m.n_items(), m.nnz()), (3, 4, 3));
    /// assert_eq!(m.user_row(0), (&[1, 2][..], &[3.0, 2.0][..]));
    /// assert_eq!(m.item_col(0), (&[2][..], &[5.0][..]));
    ///
    /// let bad = InteractionMatrix::from_triplets(3, 4, &[0, 1], &[2, 7], &[1.0, 1.0]);
    /// assert_eq!(bad.unwrap_err().to_string(), "interactions row 1: item index 7 is outside 0..4");
    /// # Ok::<(), AlsError>(())
    /// ```
    pub fn from_triplets(
        n_users: usize,
        n_items: usize,
        users: &[u32],
        items: &[u32],
        values: &[f32],
    ) -> Result<Self, AlsError> {
        let n = users.len();
        if items.len() != n || values.len() != n {
            return Err(AlsError::BadInput {
                row: n.min(items.len()).min(values.len()),
                message: format!(
                    "columns differ in length (user {n}, item {}, value {})",
                    items.len(),
                    values.len()
                ),
            });
        }
        let mut counts = vec![0usize; n_users + 1];
        for row in 0..n {
            let (u, i, v) = (users[row], items[row], values[row]);
            if u as usize >= n_users {
                return Err(AlsError::BadInput {
                    row,
                    message: format!("user index {u} is outside 0..{n_users}"),
                });
            }
            if i as usize >= n_items {
                return Err(AlsError::BadInput {
                    row,
                    message: format!("item index {i} is outside 0..{n_items}"),
                });
            }
            if !v.is_finite() {
                return Err(AlsError::BadInput {
                    row,
                    message: format!("value {v} is not finite"),
                });
            }
            counts[u as usize + 1] += 1;
        }
        for u in 0..n_users {
            counts[u + 1] += counts[u];
        }
        // Stable bucket by user, then a stable sort by item inside each row.
        let mut order = vec![0usize; n];
        let mut next = counts.clone();
        for row in 0..n {
            let u = users[row] as usize;
            order[next[u]] = row;
            next[u] += 1;
        }
        let mut indptr = Vec::with_capacity(n_users + 1);
        let mut indices = Vec::with_capacity(n);
        let mut merged = Vec::with_capacity(n);
        indptr.push(0);
        for u in 0..n_users {
            let rows = &mut order[counts[u]..counts[u + 1]];
            rows.sort_by_key(|&r| items[r]);
            for &r in rows.iter() {
                let i = items[r];
                if indices.len() > indptr[u] && indices.last() == Some(&i) {
                    if let Some(last) = merged.last_mut() {
                        *last += values[r];
                    }
                } else {
                    indices.push(i);
                    merged.push(values[r]);
                }
            }
            indptr.push(indices.len());
        }
        let by_user = Compressed {
            indptr,
            indices,
            values: merged,
        };
        // The row permutation is as large as the matrix: free it before the
        // transpose allocates the second orientation (it set the peak memory).
        drop(order);
        drop(next);
        let by_item = by_user.transpose(n_items);
        Ok(InteractionMatrix {
            n_users,
            n_items,
            by_user,
            by_item,
        })
    }

    /// Build from a `nalgebra_sparse` CSR matrix: rows are users, columns items,
    /// stored entries the interactions (an explicit zero is an interaction with
    /// value 0, as in [`InteractionMatrix::from_triplets`]). Converted once to the
    /// crate's own `u32` CSR/CSC, which the fit reads; values must be finite, and the
    /// error names the entry by its 0-based position in the CSR's value array.
    /// Needs the `nalgebra-sparse` feature.
    ///
    /// ```
    /// use alsflow_als::InteractionMatrix;
    /// use nalgebra_sparse::{CooMatrix, CsrMatrix};
    ///
    /// let mut coo = CooMatrix::new(2, 3);
    /// coo.push(0, 2, 1.0f32);
    /// coo.push(1, 0, 4.0);
    /// let m = InteractionMatrix::from_csr(&CsrMatrix::from(&coo))?;
    /// assert_eq!(m.item_col(0), (&[1][..], &[4.0][..]));
    /// # Ok::<(), alsflow_als::AlsError>(())
    /// ```
    #[cfg(feature = "nalgebra-sparse")]
    pub fn from_csr(csr: &nalgebra_sparse::CsrMatrix<f32>) -> Result<Self, AlsError> {
        // Every index must fit the u32 columns of both orientations.
        const MAX_DIM: usize = u32::MAX as usize + 1;
        let (n_users, n_items) = (csr.nrows(), csr.ncols());
        if n_users > MAX_DIM || n_items > MAX_DIM {
            return Err(AlsError::BadInput {
                row: 0,
                message: format!(
                    "a {n_users} × {n_items} matrix exceeds the supported {MAX_DIM} users or items"
                ),
            });
        }
        let indptr = csr.row_offsets().to_vec();
        let cols = csr.col_indices();
        let values = csr.values();
        if let Some(bad) = values.iter().position(|v| !v.is_finite()) {
            let user = indptr.partition_point(|&start| start <= bad) - 1;
            return Err(AlsError::BadInput {
                row: bad,
                message: format!(
                    "value {} at (user {user}, item {}) is not finite",
                    values[bad], cols[bad]
                ),
            });
        }
        // nalgebra-sparse keeps each row's column indices sorted and unique, the
        // invariant of `Compressed`: no sort, no merge.
        let by_user = Compressed {
            indptr,
            indices: cols.iter().map(|&c| c as u32).collect(),
            values: values.to_vec(),
        };
        let by_item = by_user.transpose(n_items);
        Ok(InteractionMatrix {
            n_users,
            n_items,
            by_user,
            by_item,
        })
    }

    /// Size of the user index space.
    pub fn n_users(&self) -> usize {
        self.n_users
    }

    /// Size of the item index space.
    pub fn n_items(&self) -> usize {
        self.n_items
    }

    /// Number of stored (user, item) pairs after merging duplicates.
    pub fn nnz(&self) -> usize {
        self.by_user.indices.len()
    }

    /// User `u`'s items (sorted ascending) and values. Panics if `u >= n_users()`.
    pub fn user_row(&self, u: usize) -> (&[u32], &[f32]) {
        self.by_user.row(u)
    }

    /// Item `i`'s users (sorted ascending) and values. Panics if `i >= n_items()`.
    pub fn item_col(&self, i: usize) -> (&[u32], &[f32]) {
        self.by_item.row(i)
    }
}
