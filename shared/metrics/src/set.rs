//! The evaluation data: interactions grouped by user ([`UserItems`]) and the pair of
//! training and test sets a model is scored on ([`EvalSet`]), with its catalog and
//! (optionally sampled) evaluated users.

use crate::MetricsError;

/// Interactions grouped by user (CSR): the items of user `u` are
/// `items[indptr[u]..indptr[u + 1]]`, sorted ascending, duplicates merged (values summed).
#[derive(Clone, Debug, PartialEq)]
pub struct UserItems {
    n_users: u32,
    n_items: u32,
    indptr: Vec<usize>,
    items: Vec<u32>,
    values: Vec<f64>,
}

impl UserItems {
    /// Group (user, item, value) triples by user. `table` names the input in errors.
    pub fn from_triples(
        table: &'static str,
        n_users: u32,
        n_items: u32,
        users: &[u32],
        items: &[u32],
        values: &[f32],
    ) -> Result<Self, MetricsError> {
        if users.len() != items.len() || users.len() != values.len() {
            return Err(MetricsError::Ragged {
                table,
                users: users.len(),
                items: items.len(),
                values: values.len(),
            });
        }
        let mut counts = vec![0usize; n_users as usize + 1];
        for (row, (&u, &i)) in users.iter().zip(items).enumerate() {
            if u >= n_users {
                return Err(MetricsError::OutOfRange {
                    table,
                    row,
                    what: "user",
                    index: u,
                    size: n_users,
                });
            }
            if i >= n_items {
                return Err(MetricsError::OutOfRange {
                    table,
                    row,
                    what: "item",
                    index: i,
                    size: n_items,
                });
            }
            counts[u as usize + 1] += 1;
        }
        for u in 0..n_users as usize {
            counts[u + 1] += counts[u];
        }
        let mut next = counts.clone();
        let mut pairs = vec![(0u32, 0f64); users.len()];
        for ((&u, &i), &v) in users.iter().zip(items).zip(values) {
            let slot = &mut next[u as usize];
            pairs[*slot] = (i, v as f64);
            *slot += 1;
        }
        let mut indptr = Vec::with_capacity(n_users as usize + 1);
        let mut out_items = Vec::with_capacity(pairs.len());
        let mut out_values = Vec::with_capacity(pairs.len());
        indptr.push(0);
        for u in 0..n_users as usize {
            let row = &mut pairs[counts[u]..counts[u + 1]];
            // Stable sort keeps file order among duplicates, so the sum is deterministic.
            row.sort_by_key(|p| p.0);
            for &(i, v) in row.iter() {
                if out_items.len() > indptr[u] && out_items.last() == Some(&i) {
                    if let Some(last) = out_values.last_mut() {
                        *last += v;
                    }
                } else {
                    out_items.push(i);
                    out_values.push(v);
                }
            }
            indptr.push(out_items.len());
        }
        Ok(UserItems {
            n_users,
            n_items,
            indptr,
            items: out_items,
            values: out_values,
        })
    }

    /// Size of the user index space.
    pub fn n_users(&self) -> u32 {
        self.n_users
    }

    /// Size of the item index space.
    pub fn n_items(&self) -> u32 {
        self.n_items
    }

    /// Number of distinct (user, item) pairs.
    pub fn nnz(&self) -> usize {
        self.items.len()
    }

    /// Items of user `u` (sorted) and their values.
    pub fn row(&self, u: u32) -> (&[u32], &[f64]) {
        let (a, b) = (self.indptr[u as usize], self.indptr[u as usize + 1]);
        (&self.items[a..b], &self.values[a..b])
    }

    /// Number of distinct users with at least one row per item (training popularity).
    pub fn item_counts(&self) -> Vec<u32> {
        let mut c = vec![0u32; self.n_items as usize];
        for &i in &self.items {
            c[i as usize] += 1;
        }
        c
    }
}

/// The training and test sets a model is evaluated on, grouped by user.
#[derive(Clone, Debug)]
pub struct EvalSet {
    train: UserItems,
    test: UserItems,
    /// The catalog's items, ascending; scores are kept in this (compact) order.
    catalog_items: Vec<u32>,
    /// Item → its position in `catalog_items` (`u32::MAX` outside the catalog).
    catalog_pos: Vec<u32>,
    users: Vec<u32>,
    /// When the users were sampled: how many users had test rows before.
    sampled_from: Option<usize>,
}

impl EvalSet {
    /// Pair a training set with a test set over the same index spaces. The catalog is
    /// the items with ≥ 1 training row. Fails if a test item is not a candidate.
    pub fn new(train: UserItems, test: UserItems) -> Result<Self, MetricsError> {
        if train.n_users != test.n_users || train.n_items != test.n_items {
            return Err(MetricsError::Factors(format!(
                "train is {}x{} but test is {}x{} (users x items)",
                train.n_users, train.n_items, test.n_users, test.n_items
            )));
        }
        let mut catalog = vec![false; train.n_items as usize];
        for &i in &train.items {
            catalog[i as usize] = true;
        }
        let catalog_items: Vec<u32> = (0..train.n_items)
            .filter(|&i| catalog[i as usize])
            .collect();
        let mut catalog_pos = vec![u32::MAX; train.n_items as usize];
        for (c, &i) in catalog_items.iter().enumerate() {
            catalog_pos[i as usize] = c as u32;
        }
        let mut users = Vec::new();
        for u in 0..test.n_users {
            let (te, _) = test.row(u);
            if te.is_empty() {
                continue;
            }
            let (tr, _) = train.row(u);
            for &i in te {
                if !catalog[i as usize] || tr.binary_search(&i).is_ok() {
                    return Err(MetricsError::NotCandidate { user: u, item: i });
                }
            }
            users.push(u);
        }
        Ok(EvalSet {
            train,
            test,
            catalog_items,
            catalog_pos,
            users,
            sampled_from: None,
        })
    }

    /// The training rows.
    pub fn train(&self) -> &UserItems {
        &self.train
    }

    /// The test rows.
    pub fn test(&self) -> &UserItems {
        &self.test
    }

    /// Items with ≥ 1 training row.
    pub fn catalog_size(&self) -> usize {
        self.catalog_items.len()
    }

    /// The users the metrics are computed over, ascending: every user with ≥ 1 test
    /// row, or the sample [`EvalSet::sample_users`] drew from them.
    pub fn evaluated_users(&self) -> &[u32] {
        &self.users
    }

    /// Keep a seeded uniform sample of `n` of the users with test rows (all of them
    /// when `n` is at least their number: the metrics stay exact). The same
    /// (set, `n`, `seed`) always gives the same sample; metrics over it estimate the
    /// exact ones, as large benchmarks do with a few ten thousand held-out users.
    ///
    /// ```
    /// use alsflow_metrics::{EvalSet, UserItems};
    ///
    /// // Every user trained on item 0, user 0 also on item 1; users 1–3 test item 1.
    /// let train = UserItems::from_triples("train", 4, 2, &[0, 1, 2, 3, 0], &[0, 0, 0, 0, 1], &[1.0; 5])?;
    /// let test = UserItems::from_triples("test", 4, 2, &[1, 2, 3], &[1, 1, 1], &[1.0; 3])?;
    /// let mut set = EvalSet::new(train, test)?;
    /// set.sample_users(2, 42);
    /// assert_eq!(set.evaluated_users().len(), 2);
    /// assert_eq!(set.sampled_from(), Some(3));
    /// # Ok::<(), alsflow_metrics::MetricsError>(())
    /// ```
    pub fn sample_users(&mut self, n: usize, seed: u64) {
        let all = self.sampled_from.unwrap_or(self.users.len());
        if n >= self.users.len() {
            return;
        }
        // A partial Fisher–Yates shuffle: the first n positions are a uniform sample.
        let mut rng = alsflow_core::rng::Xoshiro256::new(seed, SAMPLE_STREAM);
        let len = self.users.len();
        for i in 0..n {
            let j = i + rng.below((len - i) as u64) as usize;
            self.users.swap(i, j);
        }
        self.users.truncate(n);
        self.users.sort_unstable();
        self.sampled_from = Some(all);
    }

    /// `Some(number of users with test rows)` when the evaluated users are a sample.
    pub fn sampled_from(&self) -> Option<usize> {
        self.sampled_from
    }

    /// The catalog's items, ascending (scores are kept in this order).
    pub(crate) fn catalog_items(&self) -> &[u32] {
        &self.catalog_items
    }

    /// Item → position in the catalog.
    pub(crate) fn catalog_pos(&self, item: u32) -> u32 {
        self.catalog_pos[item as usize]
    }
}

/// The PRNG stream of the user sample (independent of other uses of the same seed).
const SAMPLE_STREAM: u64 = 0x5A3B_1E00;
