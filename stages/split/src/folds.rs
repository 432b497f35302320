//! k-fold assignment of a training table: which rows validate which fold, and which
//! of them are cold (cannot be scored because their user or item has no row in the
//! fold's fit part).
//!
//! The `split` stage writes the result as its `folds` artifact; tune's tests and its
//! `grid_ml100k` benchmark call [`seeded_folds`] to get the same assignment from a
//! table they build themselves.

use alsflow_core::rng::Xoshiro256;
use alsflow_core::table::Interactions;

/// A copy of `table` with the k-fold columns set: the rows taken in `order` (a
/// permutation of `0..table.len()`) are cut into `k` near-equal consecutive parts,
/// larger parts first (as `numpy.array_split`), giving each row its `fold`; `cold`
/// marks rows whose user or item has no row outside their fold. `k = 0` counts as 1.
///
/// # Panics
/// If `order` is not as long as the table (a caller's bug, not a data error).
pub fn assign_folds(table: &Interactions, order: &[u32], k: u8) -> Interactions {
    assign_folds_owned(table.clone(), order, k)
}

/// [`assign_folds`] on a table the caller gives up (no copy of its rows).
fn assign_folds_owned(table: Interactions, order: &[u32], k: u8) -> Interactions {
    let n = table.len();
    assert_eq!(
        order.len(),
        n,
        "assign_folds: the order must list every row of the table once"
    );
    let k = usize::from(k.max(1));
    let mut fold = vec![0u8; n];
    let (q, rem) = (n / k, n % k);
    let mut pos = 0;
    for f in 0..k {
        let size = q + usize::from(f < rem);
        for &r in &order[pos..pos + size] {
            fold[r as usize] = f as u8;
        }
        pos += size;
    }
    // A row is cold when its user (or item) has all of its rows in the row's fold:
    // compare each id's total count with its count inside each fold.
    let (nu, ni) = (table.n_users as usize, table.n_items as usize);
    let mut user_total = vec![0u32; nu];
    let mut item_total = vec![0u32; ni];
    let mut user_in = vec![0u32; nu * k];
    let mut item_in = vec![0u32; ni * k];
    for ((&u, &i), &f) in table.user.iter().zip(&table.item).zip(&fold) {
        let (u, i, f) = (u as usize, i as usize, f as usize);
        user_total[u] += 1;
        item_total[i] += 1;
        user_in[u * k + f] += 1;
        item_in[i * k + f] += 1;
    }
    let cold = (0..n)
        .map(|r| {
            let (u, i, f) = (
                table.user[r] as usize,
                table.item[r] as usize,
                fold[r] as usize,
            );
            user_total[u] == user_in[u * k + f] || item_total[i] == item_in[i * k + f]
        })
        .collect();
    Interactions {
        fold: Some(fold),
        cold: Some(cold),
        ..table
    }
}

/// The `split` stage's fold assignment of `train` for `seed`: [`assign_folds`] over a
/// permutation drawn from stream 2 of the workspace PRNG (stream 1 draws the
/// train/test split), so a table equal to the stage's train rows gets the stage's
/// `folds` artifact.
pub fn seeded_folds(train: &Interactions, k: u8, seed: u64) -> Interactions {
    seeded_folds_owned(train.clone(), k, seed)
}

/// [`seeded_folds`] on a table the caller gives up (no copy of its rows).
pub(crate) fn seeded_folds_owned(train: Interactions, k: u8, seed: u64) -> Interactions {
    let order = permutation(train.len(), &mut Xoshiro256::new(seed, 2));
    assign_folds_owned(train, &order, k)
}

/// A seeded permutation of `0..n` (Fisher–Yates from the top).
pub(crate) fn permutation(n: usize, rng: &mut Xoshiro256) -> Vec<u32> {
    let mut p: Vec<u32> = (0..n as u32).collect();
    shuffle(&mut p, rng);
    p
}

/// Shuffle `v` in place (Fisher–Yates from the top).
pub(crate) fn shuffle(v: &mut [u32], rng: &mut Xoshiro256) {
    for i in (1..v.len()).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        v.swap(i, j);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests::table;

    #[test]
    fn parts_follow_the_order_larger_parts_first() {
        // 7 rows in 3 folds: sizes 3, 2, 2 taken from the order in turn.
        let t = table(
            7,
            7,
            &[(0, 0), (1, 1), (2, 2), (3, 3), (4, 4), (5, 5), (6, 6)],
        );
        let f = assign_folds(&t, &[6, 0, 5, 1, 4, 2, 3], 3);
        assert_eq!(f.fold, Some(vec![0, 1, 2, 2, 1, 0, 0]));
        assert_eq!(
            (f.user, f.item, f.value),
            (t.user, t.item, t.value),
            "rows and their order are kept"
        );
    }

    #[test]
    fn cold_marks_rows_whose_user_or_item_lives_only_in_their_fold() {
        // Order = row order, 5 rows in 2 folds: rows 0-2 are fold 0, rows 3-4 fold 1.
        // User 0 and items 0 and 1 have rows in both folds; user 1 (row 1), user 2
        // (row 4) and item 2 (row 2) have one row each, cold in its fold.
        let t = table(3, 3, &[(0, 0), (1, 1), (0, 2), (0, 0), (2, 1)]);
        let f = assign_folds(&t, &[0, 1, 2, 3, 4], 2);
        assert_eq!(f.fold, Some(vec![0, 0, 0, 1, 1]));
        assert_eq!(f.cold, Some(vec![false, true, true, false, true]));
    }

    #[test]
    fn zero_folds_is_one_fold_where_every_row_is_cold() {
        let t = table(2, 2, &[(0, 0), (1, 1), (0, 1)]);
        let f = assign_folds(&t, &[2, 1, 0], 0);
        assert_eq!(f.fold, Some(vec![0, 0, 0]));
        assert_eq!(f.cold, Some(vec![true, true, true]));
    }

    #[test]
    fn seeded_folds_depend_on_the_seed_only() {
        let rows: Vec<(u32, u32)> = (0..60).map(|r| (r % 7, r % 11)).collect();
        let t = table(7, 11, &rows);
        assert_eq!(seeded_folds(&t, 4, 9), seeded_folds(&t, 4, 9));
        assert_ne!(seeded_folds(&t, 4, 9).fold, seeded_folds(&t, 4, 10).fold);
    }
}
