//! The baselines' rankings without a pass over the catalog per user: scores shared
//! by every user (popularity), ranked from one sorted catalog, and a seeded random
//! order of each user's candidates (random).

use crate::rank::{Counts, Ranked};
use crate::{
    combine, test_positions, train_positions, user_metrics, EvalSet, Metrics, MetricsError,
    UserSums, SCORER_BLOCK,
};
use rayon::prelude::*;

/// [`evaluate_scorer`] for a scorer that gives every user the same scores (`scores`,
/// one per item; e.g. the popularity baseline), without a pass over the catalog per
/// user: the catalog is sorted once, and each user's counts and top-k come from it
/// minus their training items, O((test + train) · log(catalog) + k) per user. The
/// answers are those of [`evaluate_scorer`], ties included.
pub fn evaluate_fixed_scores_with_progress(
    set: &EvalSet,
    k: usize,
    scores: &[f64],
    progress: &(dyn Fn(usize) + Sync),
) -> Result<Metrics, MetricsError> {
    if k == 0 {
        return Err(MetricsError::ZeroK);
    }
    let catalog = set.catalog_items();
    let nc = catalog.len();
    let row: Vec<f64> = catalog.iter().map(|&j| scores[j as usize]).collect();
    let mut ascending = row.clone();
    ascending.sort_by(f64::total_cmp);
    // Best first: score descending, catalog position ascending (the top-k order).
    let mut order: Vec<u32> = (0..nc as u32).collect();
    order.sort_by(|&a, &b| row[b as usize].total_cmp(&row[a as usize]).then(a.cmp(&b)));
    Ok(per_user(set, k, progress, |u| {
        rank_fixed(set, u, k, &row, &ascending, &order)
    }))
}

/// The metrics when each user's ranking comes from `rank(u)` alone (no per-block
/// scratch), users in blocks over the threads, `progress` per block.
fn per_user(
    set: &EvalSet,
    k: usize,
    progress: &(dyn Fn(usize) + Sync),
    rank: impl Fn(u32) -> Ranked + Sync,
) -> Metrics {
    let per_block: Vec<Vec<(UserSums, Vec<u32>)>> = set
        .evaluated_users()
        .par_chunks(SCORER_BLOCK)
        .map(|block| {
            let out = block
                .iter()
                .map(|&u| user_metrics(set, u, k, &rank(u)))
                .collect();
            progress(block.len());
            out
        })
        .collect();
    combine(set, k, per_block)
}

/// User `u`'s ranking under fixed catalog scores `row` (sorted copies: `ascending`
/// scores, `order` positions best first).
fn rank_fixed(
    set: &EvalSet,
    u: u32,
    k: usize,
    row: &[f64],
    ascending: &[f64],
    order: &[u32],
) -> Ranked {
    let tests: Vec<f64> = test_positions(set, u).map(|p| row[p as usize]).collect();
    let train = train_positions(set, u);
    let mut train_scores: Vec<f64> = train.iter().map(|&p| row[p as usize]).collect();
    train_scores.sort_by(f64::total_cmp);
    let mut distinct = tests.clone();
    distinct.sort_by(f64::total_cmp);
    distinct.dedup();
    // Candidates (catalog minus training items) below and equal to score `d`.
    let below = |sorted: &[f64], d: f64| sorted.partition_point(|&s| s < d) as u64;
    let up_to = |sorted: &[f64], d: f64| sorted.partition_point(|&s| s <= d) as u64;
    let n_cand = (row.len() - train.len()) as u64;
    let counts = distinct
        .iter()
        .map(|&d| {
            let less = below(ascending, d) - below(&train_scores, d);
            let equal = up_to(ascending, d) - up_to(&train_scores, d) - less;
            Counts {
                less,
                equal,
                greater: n_cand - less - equal,
            }
        })
        .collect();
    let top = order
        .iter()
        .filter(|p| train.binary_search(p).is_err())
        .take(k)
        .map(|&p| (row[p as usize], p))
        .collect();
    Ranked {
        test_scores: tests,
        distinct,
        counts,
        n_cand,
        top,
    }
}

/// The metrics of a uniformly random ranking of each user's candidates (the random
/// baseline), seeded by `seed` and the user, without scoring the catalog: under a
/// random order the test items' positions among the `m` candidates are a uniformly
/// random subset of `0..m` in random order, and the other top-k slots hold uniformly
/// random other candidates, so O(test + train + k) per user. The same distribution as
/// scoring every (user, item) with an independent uniform draw.
pub fn evaluate_random_with_progress(
    set: &EvalSet,
    k: usize,
    seed: u64,
    progress: &(dyn Fn(usize) + Sync),
) -> Result<Metrics, MetricsError> {
    if k == 0 {
        return Err(MetricsError::ZeroK);
    }
    Ok(per_user(set, k, progress, |u| rank_random(set, u, k, seed)))
}

/// The random stream of the random baseline (see [`alsflow_core::rng::Xoshiro256::new`]).
const RANDOM_BASELINE_STREAM: u64 = 0x7261_6e64;

/// User `u`'s ranking under a random order of their candidates: position 0 is the
/// best; a candidate at position `r` gets the score `m − r`.
pub(crate) fn rank_random(set: &EvalSet, u: u32, k: usize, seed: u64) -> Ranked {
    let nc = set.catalog_size() as u64;
    let tests: Vec<u32> = test_positions(set, u).collect();
    let train = train_positions(set, u);
    let m = nc - train.len() as u64;
    let t = tests.len() as u64;
    let mut rng = alsflow_core::rng::Xoshiro256::new(
        alsflow_core::rng::mix64(seed ^ alsflow_core::rng::mix64(u as u64)),
        RANDOM_BASELINE_STREAM,
    );
    // A uniformly random t-subset of 0..m (Floyd), then a random order over it.
    let mut taken = std::collections::HashSet::with_capacity(tests.len());
    let mut ranks: Vec<u64> = Vec::with_capacity(tests.len());
    for j in (m - t)..m {
        let r = rng.below(j + 1);
        let r = if taken.insert(r) { r } else { j };
        taken.insert(r);
        ranks.push(r);
    }
    for i in (1..ranks.len()).rev() {
        ranks.swap(i, rng.below(i as u64 + 1) as usize);
    }
    let score = |r: u64| (m - r) as f64;
    let test_scores: Vec<f64> = ranks.iter().map(|&r| score(r)).collect();
    let mut distinct = test_scores.clone();
    distinct.sort_by(f64::total_cmp);
    let counts = distinct
        .iter()
        .map(|&d| {
            let r = m - d as u64;
            Counts {
                less: m - 1 - r,
                equal: 1,
                greater: r,
            }
        })
        .collect();
    // Top k: the test items placed there, and random other candidates in between.
    let slots = (k as u64).min(m) as usize;
    let mut top: Vec<Option<u32>> = vec![None; slots];
    for (&r, &p) in ranks.iter().zip(&tests) {
        if (r as usize) < slots {
            top[r as usize] = Some(p);
        }
    }
    let mut sorted_tests = tests.clone();
    sorted_tests.sort_unstable();
    let is_other =
        |p: u32| train.binary_search(&p).is_err() && sorted_tests.binary_search(&p).is_err();
    let open = top.iter().filter(|s| s.is_none()).count();
    let mut fill: Vec<u32> = Vec::with_capacity(open);
    if open > 0 {
        let others = m - t;
        if others <= 4 * open as u64 + 64 {
            // Few others: draw from their list (a partial Fisher–Yates).
            let mut list: Vec<u32> = (0..nc as u32).filter(|&p| is_other(p)).collect();
            for i in 0..open {
                let j = i + rng.below((list.len() - i) as u64) as usize;
                list.swap(i, j);
                fill.push(list[i]);
            }
        } else {
            // Many: draw catalog positions, rejecting training, test and drawn ones.
            let mut drawn = std::collections::HashSet::with_capacity(open);
            while fill.len() < open {
                let p = rng.below(nc) as u32;
                if is_other(p) && drawn.insert(p) {
                    fill.push(p);
                }
            }
        }
    }
    let mut fill = fill.into_iter();
    let top = top
        .into_iter()
        .enumerate()
        .map(|(r, s)| {
            let p = s.or_else(|| fill.next()).unwrap_or_default();
            (score(r as u64), p)
        })
        .collect();
    Ranked {
        test_scores,
        distinct,
        counts,
        n_cand: m,
        top,
    }
}
