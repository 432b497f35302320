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
    /// Build from a table; indices must lie in `0..n_users` / `0..n_items` and values
    /// must be finite. Duplicate pairs are summed.
    pub fn from_interactions(t: &Interactions) -> Result<Self, AlsError> {
        let (n_users, n_items) = (t.n_users as usize, t.n_items as usize);
        let n = t.len();
        if t.item.len() != n || t.value.len() != n {
            return Err(AlsError::BadInput {
                row: n.min(t.item.len()).min(t.value.len()),
                message: format!(
                    "columns differ in length (user {n}, item {}, value {})",
                    t.item.len(),
                    t.value.len()
                ),
            });
        }
        let mut counts = vec![0usize; n_users + 1];
        for row in 0..n {
            let (u, i, v) = (t.user[row], t.item[row], t.value[row]);
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
            let u = t.user[row] as usize;
            order[next[u]] = row;
            next[u] += 1;
        }
        let mut indptr = Vec::with_capacity(n_users + 1);
        let mut indices = Vec::with_capacity(n);
        let mut values = Vec::with_capacity(n);
        indptr.push(0);
        for u in 0..n_users {
            let rows = &mut order[counts[u]..counts[u + 1]];
            rows.sort_by_key(|&r| t.item[r]);
            for &r in rows.iter() {
                let i = t.item[r];
                if indices.len() > indptr[u] && indices.last() == Some(&i) {
                    if let Some(last) = values.last_mut() {
                        *last += t.value[r];
                    }
                } else {
                    indices.push(i);
                    values.push(t.value[r]);
                }
            }
            indptr.push(indices.len());
        }
        let by_user = Compressed {
            indptr,
            indices,
            values,
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
