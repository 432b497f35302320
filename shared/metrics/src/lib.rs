//! Ranking metrics of implicit-feedback recommenders, exactly as
//! `../shared/bench/PROTOCOL.md` §4 defines them: ROEM (expected percentile rank with
//! SQL `PERCENT_RANK` ties), precision@k, recall@k, MAP@k, NDCG@k, the full per-user
//! AUC and catalog coverage@k.
//!
//! - Scores are f64 (`s_uj = x_u · y_j` summed in f64 from f32 factors, in factor order):
//!   the answers are those of these scores, ties and near-ties included.
//! - Catalog = items with ≥ 1 training row; candidates `C_u` = catalog minus u's
//!   training items; evaluated users = users with ≥ 1 test row.
//! - Top-k lists are ordered by (score desc, item asc).
//!
//! How (fast): a factor model is scored by the blocked f32 product of
//! [`alsflow_als::scoring`] — blocks of [`USER_BLOCK`] users against tiles of
//! [`ITEM_TILE`] catalog items, each tile consumed while it is in cache — and each
//! user is ranked in one pass over the catalog ([`rank`]'s placement among the sorted
//! test scores), recomputing in f64 only the scores within the f32 product's error
//! bound of a test score or of the k-th best. Any other scorer fills f64 rows.
//!
//! Architecture invariant: memory is bounded by a block of users (one tile of scores
//! per worker thread), never users × items. Blocks run in parallel (rayon); per-user
//! sums are combined in user order, so results do not depend on the thread count.
//!
//! Entry points: [`evaluate_factors`] (and [`evaluate_factors_with_progress`]) for a
//! factor model, [`evaluate_scorer`] for any per-user scoring function (baselines such
//! as popularity or random). [`EvalSet::sample_users`] restricts either to a seeded
//! sample of users.

mod baselines;
mod rank;
mod set;

use alsflow_als::scoring::{
    dot_f64, norm_f64, score_error_bound, score_tile, PackedItems, PackedUsers, ITEM_PANEL,
    USER_GROUP,
};
pub use baselines::{evaluate_fixed_scores_with_progress, evaluate_random_with_progress};
use rank::{Ranked, Ranker};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
pub use set::{EvalSet, UserItems};

/// Metric computation failed: inconsistent inputs, named precisely.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum MetricsError {
    /// A row's user or item index lies outside the declared index space.
    #[error("{table} row {row}: {what} index {index} is out of range (size {size})")]
    OutOfRange {
        /// `train` or `test`.
        table: &'static str,
        /// 0-based row number in the input triples.
        row: usize,
        /// `user` or `item`.
        what: &'static str,
        /// The offending index.
        index: u32,
        /// The size of the index space.
        size: u32,
    },
    /// Columns of one table have different lengths.
    #[error(
        "{table}: columns have different lengths (users {users}, items {items}, values {values})"
    )]
    Ragged {
        /// `train` or `test`.
        table: &'static str,
        /// Length of the user column.
        users: usize,
        /// Length of the item column.
        items: usize,
        /// Length of the value column.
        values: usize,
    },
    /// A test item is not a candidate for its user (absent from the catalog, or in
    /// the user's training rows): the split is inconsistent.
    #[error("user {user}: test item {item} is not a candidate (it has no training row, or the user trained on it)")]
    NotCandidate {
        /// Dense user index.
        user: u32,
        /// Dense item index.
        item: u32,
    },
    /// The factor arrays do not match the declared dimensions.
    #[error("factors: {0}")]
    Factors(String),
    /// `k` must be at least 1.
    #[error("k must be at least 1")]
    ZeroK,
}

/// The metric values of one model on one (train, test) pair.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    /// The cut-off of the @k metrics.
    pub k: usize,
    /// Expected percentile rank, value-weighted over test interactions (lower is better).
    pub roem: f64,
    /// Mean over evaluated users of hits / k.
    pub precision: f64,
    /// Mean over evaluated users of hits / |T_u|.
    pub recall: f64,
    /// Mean average precision at k (denominator min(k, |T_u|)).
    pub map: f64,
    /// Mean binary-gain NDCG at k.
    pub ndcg: f64,
    /// Mean full per-user ROC AUC (users with ≥ 1 non-test candidate); NaN if none.
    pub auc: f64,
    /// Distinct items in the evaluated users' top-k lists / catalog size.
    pub coverage: f64,
    /// Users with at least one test row.
    pub users_evaluated: u64,
    /// Test interactions scored.
    pub test_interactions: u64,
}

/// Names of the metric columns, in table order, for cut-off `k`
/// (`roem`, `precision@k`, `recall@k`, `map@k`, `ndcg@k`, `auc`, `coverage@k`).
pub fn metric_names(k: usize) -> Vec<String> {
    vec![
        "roem".to_string(),
        format!("precision@{k}"),
        format!("recall@{k}"),
        format!("map@{k}"),
        format!("ndcg@{k}"),
        "auc".to_string(),
        format!("coverage@{k}"),
    ]
}

impl Metrics {
    /// (name, value) pairs in the order of [`metric_names`].
    pub fn named(&self) -> Vec<(String, f64)> {
        let v = [
            self.roem,
            self.precision,
            self.recall,
            self.map,
            self.ndcg,
            self.auc,
            self.coverage,
        ];
        metric_names(self.k).into_iter().zip(v).collect()
    }

    /// A metric by name: `roem`, `auc`, or `precision`/`recall`/`map`/`ndcg`/`coverage`
    /// with or without the `@k` suffix (the suffix must equal `k`).
    pub fn get(&self, name: &str) -> Option<f64> {
        let (base, at) = match name.split_once('@') {
            Some((b, k)) => (b, Some(k)),
            None => (name, None),
        };
        if let Some(k) = at {
            if k.parse::<usize>().ok() != Some(self.k) {
                return None;
            }
        }
        Some(match base {
            "roem" if at.is_none() => self.roem,
            "auc" if at.is_none() => self.auc,
            "precision" => self.precision,
            "recall" => self.recall,
            "map" => self.map,
            "ndcg" => self.ndcg,
            "coverage" => self.coverage,
            _ => return None,
        })
    }

    /// Whether a larger value of metric `name` is better (`roem` is the one where lower is).
    pub fn higher_is_better(name: &str) -> bool {
        !name.starts_with("roem")
    }
}

/// Per-user sums, combined in user order.
#[derive(Default, Clone, Copy)]
struct UserSums {
    roem_num: f64,
    roem_den: f64,
    precision: f64,
    recall: f64,
    ap: f64,
    ndcg: f64,
    auc: f64,
    has_auc: bool,
    n_test: u64,
}

/// Users scored together (a multiple of the product's user group): the tile of
/// scores is `USER_BLOCK × ITEM_TILE` f32 (384 KiB), which stays in L2 with the
/// item panels it is computed from.
pub const USER_BLOCK: usize = 4 * USER_GROUP;
/// Catalog items per tile (a multiple of the product's item panel).
pub const ITEM_TILE: usize = 64 * ITEM_PANEL;
/// Users per work unit of a per-user scorer (fixed, for thread-count independence).
const SCORER_BLOCK: usize = 64;

/// Evaluate a factor model: `user_factors` (`n_users × rank`) and `item_factors`
/// (`n_items × rank`), row-major f32; the metrics are those of the f64 scores.
pub fn evaluate_factors(
    set: &EvalSet,
    user_factors: &[f32],
    item_factors: &[f32],
    rank: usize,
    k: usize,
) -> Result<Metrics, MetricsError> {
    evaluate_factors_with_progress(set, user_factors, item_factors, rank, k, &|_| {})
}

/// [`evaluate_factors`], calling `progress(users)` as each block of users is done
/// (from worker threads, `users` = the block's size).
pub fn evaluate_factors_with_progress(
    set: &EvalSet,
    user_factors: &[f32],
    item_factors: &[f32],
    rank: usize,
    k: usize,
    progress: &(dyn Fn(usize) + Sync),
) -> Result<Metrics, MetricsError> {
    let (nu, ni) = (
        set.train().n_users() as usize,
        set.train().n_items() as usize,
    );
    if user_factors.len() != nu * rank {
        return Err(MetricsError::Factors(format!(
            "user factors have {} values, expected {nu} users x rank {rank}",
            user_factors.len()
        )));
    }
    if item_factors.len() != ni * rank {
        return Err(MetricsError::Factors(format!(
            "item factors have {} values, expected {ni} items x rank {rank}",
            item_factors.len()
        )));
    }
    if k == 0 {
        return Err(MetricsError::ZeroK);
    }
    let catalog = set.catalog_items();
    let nc = catalog.len();
    let items = PackedItems::from_rows(item_factors, rank, catalog);
    let item_row = |p: u32| {
        let j = catalog[p as usize] as usize;
        &item_factors[j * rank..(j + 1) * rank]
    };
    let max_item_norm = catalog
        .iter()
        .map(|&j| norm_f64(&item_factors[j as usize * rank..(j as usize + 1) * rank]))
        .fold(0.0f64, f64::max);
    let per_block: Vec<Vec<(UserSums, Vec<u32>)>> = set
        .evaluated_users()
        .par_chunks(USER_BLOCK)
        .map(|block| {
            let x = |u: u32| &user_factors[u as usize * rank..(u as usize + 1) * rank];
            let mut users = PackedUsers::new(rank);
            users.fill(block.iter().map(|&u| x(u)));
            let mut rankers: Vec<Ranker<f32>> = block
                .iter()
                .map(|&u| {
                    let eps = score_error_bound(rank, norm_f64(x(u)) * max_item_norm);
                    let tests: Vec<f64> = test_positions(set, u)
                        .map(|p| dot_f64(x(u), item_row(p)))
                        .collect();
                    Ranker::new(&tests, eps, k)
                })
                .collect();
            let trains: Vec<Vec<u32>> = block.iter().map(|&u| train_positions(set, u)).collect();
            let mut tile = vec![0f32; block.len() * ITEM_TILE];
            for first in (0..nc).step_by(ITEM_TILE) {
                let count = ITEM_TILE.min(nc - first);
                score_tile(&users, &items, first, count, &mut tile, ITEM_TILE);
                for (r, ranker) in rankers.iter_mut().enumerate() {
                    let row = &mut tile[r * ITEM_TILE..r * ITEM_TILE + count];
                    ranker.consume(row, first, &trains[r]);
                }
            }
            let out = block
                .iter()
                .zip(rankers)
                .zip(&trains)
                .map(|((&u, ranker), train)| {
                    let ranked = ranker.finish(train, nc, |p| dot_f64(x(u), item_row(p)));
                    user_metrics(set, u, k, &ranked)
                })
                .collect();
            progress(block.len());
            out
        })
        .collect();
    Ok(combine(set, k, per_block))
}

/// Catalog positions of user `u`'s test items, in item order.
fn test_positions(set: &EvalSet, u: u32) -> impl Iterator<Item = u32> + '_ {
    set.test().row(u).0.iter().map(|&i| set.catalog_pos(i))
}

/// Catalog positions of user `u`'s training items, ascending.
fn train_positions(set: &EvalSet, u: u32) -> Vec<u32> {
    set.train()
        .row(u)
        .0
        .iter()
        .map(|&i| set.catalog_pos(i))
        .collect()
}

/// Evaluate any scorer: `score(u, scores)` fills `scores` (length `n_items`) with user
/// `u`'s score of every item. It is called once per evaluated user, from several
/// threads, and must be deterministic in `u`.
pub fn evaluate_scorer<F>(set: &EvalSet, k: usize, score: F) -> Result<Metrics, MetricsError>
where
    F: Fn(u32, &mut [f64]) + Sync,
{
    evaluate_scorer_with_progress(set, k, score, &|_| {})
}

/// [`evaluate_scorer`], calling `progress(users)` as each block of users is done.
pub fn evaluate_scorer_with_progress<F>(
    set: &EvalSet,
    k: usize,
    score: F,
    progress: &(dyn Fn(usize) + Sync),
) -> Result<Metrics, MetricsError>
where
    F: Fn(u32, &mut [f64]) + Sync,
{
    if k == 0 {
        return Err(MetricsError::ZeroK);
    }
    let ni = set.train().n_items() as usize;
    let catalog = set.catalog_items();
    let nc = catalog.len();
    let per_block: Vec<Vec<(UserSums, Vec<u32>)>> = set
        .evaluated_users()
        .par_chunks(SCORER_BLOCK)
        .map(|block| {
            let mut full = vec![0f64; ni];
            let mut row = vec![0f64; nc];
            let mut scratch = vec![0f64; nc];
            let out = block
                .iter()
                .map(|&u| {
                    score(u, &mut full);
                    for (c, &j) in row.iter_mut().zip(catalog) {
                        *c = full[j as usize];
                    }
                    let tests: Vec<f64> = test_positions(set, u).map(|p| row[p as usize]).collect();
                    let train = train_positions(set, u);
                    let mut ranker = Ranker::<f64>::new(&tests, 0.0, k);
                    scratch.copy_from_slice(&row);
                    ranker.consume(&mut scratch, 0, &train);
                    let ranked = ranker.finish(&train, nc, |p| row[p as usize]);
                    user_metrics(set, u, k, &ranked)
                })
                .collect();
            progress(block.len());
            out
        })
        .collect();
    Ok(combine(set, k, per_block))
}

/// Sum the per-user results in user order.
fn combine(set: &EvalSet, k: usize, per_block: Vec<Vec<(UserSums, Vec<u32>)>>) -> Metrics {
    let ni = set.train().n_items() as usize;
    let nc = set.catalog_size();
    let mut total = UserSums::default();
    let mut n_auc = 0u64;
    let mut covered = vec![false; ni];
    let mut n_users = 0u64;
    for (s, top) in per_block.into_iter().flatten() {
        total.roem_num += s.roem_num;
        total.roem_den += s.roem_den;
        total.precision += s.precision;
        total.recall += s.recall;
        total.ap += s.ap;
        total.ndcg += s.ndcg;
        if s.has_auc {
            total.auc += s.auc;
            n_auc += 1;
        }
        total.n_test += s.n_test;
        n_users += 1;
        for i in top {
            covered[i as usize] = true;
        }
    }
    let nf = n_users as f64;
    let mean = |x: f64| if n_users == 0 { f64::NAN } else { x / nf };
    Metrics {
        k,
        roem: if total.roem_den != 0.0 {
            total.roem_num / total.roem_den
        } else {
            f64::NAN
        },
        precision: mean(total.precision),
        recall: mean(total.recall),
        map: mean(total.ap),
        ndcg: mean(total.ndcg),
        auc: if n_auc == 0 {
            f64::NAN
        } else {
            total.auc / n_auc as f64
        },
        coverage: if nc == 0 {
            f64::NAN
        } else {
            covered.iter().filter(|&&c| c).count() as f64 / nc as f64
        },
        users_evaluated: n_users,
        test_interactions: total.n_test,
    }
}

/// The metrics of user `u` from their ranking, and their top-k items.
fn user_metrics(set: &EvalSet, u: u32, k: usize, ranked: &Ranked) -> (UserSums, Vec<u32>) {
    let (test_items, test_values) = set.test().row(u);
    let nt = test_items.len();
    let n_cand = ranked.n_cand;
    let mut out = UserSums {
        n_test: nt as u64,
        ..Default::default()
    };
    // ROEM (value-weighted, item order) and AUC against the non-test candidates.
    let n_neg = n_cand - nt as u64;
    let mut auc_sum = 0.0;
    let test_scores = &ranked.test_scores;
    let mut sorted: Vec<f64> = test_scores.clone();
    sorted.sort_by(f64::total_cmp);
    debug_assert_eq!(sorted.len(), nt);
    for (&s, &r) in test_scores.iter().zip(test_values) {
        let c = ranked.counts_of(s);
        let rank = if n_cand > 1 {
            c.greater as f64 / (n_cand - 1) as f64
        } else {
            0.0
        };
        out.roem_num += r * rank;
        out.roem_den += r;
        if n_neg > 0 {
            let test_below = sorted.partition_point(|&t| t < s) as u64;
            let test_equal = sorted.partition_point(|&t| t <= s) as u64 - test_below;
            let neg_below = c.less - test_below;
            let neg_equal = c.equal - test_equal;
            auc_sum += (neg_below as f64 + 0.5 * neg_equal as f64) / n_neg as f64;
        }
    }
    if n_neg > 0 {
        out.auc = auc_sum / nt as f64;
        out.has_auc = true;
    }
    // Top-k metrics.
    let catalog = set.catalog_items();
    let top: Vec<u32> = ranked
        .top
        .iter()
        .map(|&(_, p)| catalog[p as usize])
        .collect();
    let mut hits = 0.0;
    let mut dcg = 0.0;
    for (n, j) in top.iter().enumerate() {
        if test_items.binary_search(j).is_ok() {
            hits += 1.0;
            out.ap += hits / (n + 1) as f64;
            dcg += 1.0 / ((n + 2) as f64).log2();
        }
    }
    let m = k.min(nt);
    out.precision = hits / k as f64;
    out.recall = hits / nt as f64;
    out.ap /= m as f64;
    let idcg: f64 = (1..=m).map(|n| 1.0 / ((n + 1) as f64).log2()).sum();
    out.ndcg = dcg / idcg;
    (out, top)
}

#[cfg(test)]
mod tests;
