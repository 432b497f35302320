//! Ranking metrics of implicit-feedback recommenders, exactly as
//! `../shared/bench/PROTOCOL.md` §4 defines them: ROEM (expected percentile rank with
//! SQL `PERCENT_RANK` ties), precision@k, recall@k, MAP@k, NDCG@k, the full per-user
//! AUC and catalog coverage@k.
//!
//! - Scores are f64 (`s_uj = x_u · y_j` summed in f64 from f32 factors, in factor order).
//! - Catalog = items with ≥ 1 training row; candidates `C_u` = catalog minus u's
//!   training items; evaluated users = users with ≥ 1 test row.
//! - Top-k lists are ordered by (score desc, item asc).
//!
//! Architecture invariant: users are scored one at a time into a scratch row of
//! `n_items` f64 per worker thread, so memory is bounded by the threads, never by
//! users × items. Users are processed in parallel (rayon) in fixed blocks; per-user
//! sums are combined in user order, so results do not depend on the thread count.
//!
//! Two entry points: [`evaluate_factors`] for a factor model and [`evaluate_scorer`]
//! for any per-user scoring function (baselines such as popularity or random).

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

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

    /// Users with ≥ 1 test row, ascending.
    pub fn evaluated_users(&self) -> &[u32] {
        &self.users
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

/// Users per parallel work unit: large enough to amortise scheduling, small enough
/// to balance two cores on a thousand users.
const BLOCK: usize = 64;

/// Evaluate a factor model: `user_factors` (`n_users × rank`) and `item_factors`
/// (`n_items × rank`), row-major f32; scores are summed in f64.
pub fn evaluate_factors(
    set: &EvalSet,
    user_factors: &[f32],
    item_factors: &[f32],
    rank: usize,
    k: usize,
) -> Result<Metrics, MetricsError> {
    let (nu, ni) = (set.train.n_users as usize, set.train.n_items as usize);
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
    // Converted and transposed once (catalog items only) so the scoring loop reads
    // f64 contiguously.
    let nc = set.catalog_items.len();
    let mut items_t = vec![0.0f64; nc * rank];
    for (c, &j) in set.catalog_items.iter().enumerate() {
        let row = &item_factors[j as usize * rank..(j as usize + 1) * rank];
        for (f, &v) in row.iter().enumerate() {
            items_t[f * nc + c] = v as f64;
        }
    }
    evaluate_compact(set, k, |u, scores| {
        let x: Vec<f64> = user_factors[u as usize * rank..(u as usize + 1) * rank]
            .iter()
            .map(|&v| v as f64)
            .collect();
        score_row(&x, &items_t, nc, scores);
    })
}

/// scores[j] = Σ_f x[f]·Y[j,f], summed in factor order (the order of a plain dot
/// product). `items_t` is the item factors transposed (`rank × n_items`), so eight
/// consecutive items are updated per factor with contiguous loads the compiler
/// vectorises; the summation order per item stays f = 0, 1, 2, …
fn score_row(x: &[f64], items_t: &[f64], n_items: usize, scores: &mut [f64]) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2, the only feature the copy is compiled for.
        unsafe { score_row_avx2(x, items_t, n_items, scores) };
        return;
    }
    score_row_impl(x, items_t, n_items, scores)
}

/// [`score_row_impl`] compiled with AVX2 (4 f64 lanes). No FMA: Rust never fuses a
/// multiply and an add, so the results equal the portable build's bit for bit.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn score_row_avx2(x: &[f64], items_t: &[f64], n_items: usize, scores: &mut [f64]) {
    score_row_impl(x, items_t, n_items, scores)
}

#[inline(always)]
fn score_row_impl(x: &[f64], items_t: &[f64], n_items: usize, scores: &mut [f64]) {
    const TILE: usize = 8;
    let full = n_items / TILE * TILE;
    for j0 in (0..full).step_by(TILE) {
        let mut acc = [0.0f64; TILE];
        for (f, &xf) in x.iter().enumerate() {
            let row = &items_t[f * n_items + j0..f * n_items + j0 + TILE];
            for t in 0..TILE {
                acc[t] += xf * row[t];
            }
        }
        scores[j0..j0 + TILE].copy_from_slice(&acc);
    }
    for (j, s) in scores.iter_mut().enumerate().take(n_items).skip(full) {
        let mut acc = 0.0f64;
        for (f, &xf) in x.iter().enumerate() {
            acc += xf * items_t[f * n_items + j];
        }
        *s = acc;
    }
}

/// Evaluate any scorer: `score(u, scores)` fills `scores` (length `n_items`) with user
/// `u`'s score of every item. It is called once per evaluated user, from several
/// threads, and must be deterministic in `u`.
pub fn evaluate_scorer<F>(set: &EvalSet, k: usize, score: F) -> Result<Metrics, MetricsError>
where
    F: Fn(u32, &mut [f64]) + Sync,
{
    let ni = set.train.n_items as usize;
    evaluate_compact(set, k, |u, compact| {
        thread_local! {
            static FULL: std::cell::RefCell<Vec<f64>> = const { std::cell::RefCell::new(Vec::new()) };
        }
        FULL.with_borrow_mut(|full| {
            full.resize(ni, 0.0);
            score(u, full);
            for (c, &j) in compact.iter_mut().zip(&set.catalog_items) {
                *c = full[j as usize];
            }
        })
    })
}

/// [`evaluate_scorer`] with `score(u, scores)` filling the catalog items' scores
/// only, in catalog order.
fn evaluate_compact<F>(set: &EvalSet, k: usize, score: F) -> Result<Metrics, MetricsError>
where
    F: Fn(u32, &mut [f64]) + Sync,
{
    if k == 0 {
        return Err(MetricsError::ZeroK);
    }
    let ni = set.train.n_items as usize;
    let nc = set.catalog_items.len();
    let per_block: Vec<Vec<(UserSums, Vec<u32>)>> = set
        .users
        .par_chunks(BLOCK)
        .map(|block| {
            let mut scratch = Scratch::new(nc);
            block
                .iter()
                .map(|&u| {
                    score(u, &mut scratch.scores);
                    user_metrics(set, u, k, &mut scratch)
                })
                .collect()
        })
        .collect();
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
    Ok(Metrics {
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
    })
}

/// (#{c > s}, #{c < s}) over `cand`.
fn count_above_below(cand: &[f64], s: f64) -> (u64, u64) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2, the only feature the copy is compiled for.
        return unsafe { count_above_below_avx2(cand, s) };
    }
    count_above_below_impl(cand, s)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn count_above_below_avx2(cand: &[f64], s: f64) -> (u64, u64) {
    count_above_below_impl(cand, s)
}

#[inline(always)]
fn count_above_below_impl(cand: &[f64], s: f64) -> (u64, u64) {
    let (mut above, mut below) = (0u64, 0u64);
    for &c in cand {
        above += u64::from(c > s);
        below += u64::from(c < s);
    }
    (above, below)
}

/// Up to this many test items per user, candidates are counted by linear passes
/// (2·|T_u|·|C_u| branch-free compares); above it, by sorting (|C_u| log |C_u|).
const LINEAR_COUNT_MAX: usize = 128;

/// Per-thread buffers: one score row plus small per-user vectors.
struct Scratch {
    /// Scores of the catalog items, in catalog order.
    scores: Vec<f64>,
    /// Test scores sorted ascending, with counts derived from them.
    test_sorted: Vec<f64>,
    /// Catalog positions of the user's training items, ascending.
    train_pos: Vec<u32>,
    /// Their scores, ascending.
    train_sorted: Vec<f64>,
    /// Candidate scores (only built, and sorted, for users with many test items).
    cand: Vec<f64>,
    /// Top-k (score, catalog position), best first.
    top: Vec<(f64, u32)>,
}

impl Scratch {
    fn new(n_catalog: usize) -> Self {
        Scratch {
            scores: vec![0.0; n_catalog],
            test_sorted: Vec::new(),
            train_pos: Vec::new(),
            train_sorted: Vec::new(),
            cand: Vec::new(),
            top: Vec::new(),
        }
    }
}

/// `a` ranks before `b` in a top-k list: higher score, then lower item index
/// (catalog positions are in item order).
fn before(a: (f64, u32), b: (f64, u32)) -> bool {
    a.0 > b.0 || (a.0 == b.0 && a.1 < b.1)
}

/// Offer candidate `(s, c)` to the top-`k` list `top` (best first). Candidates come
/// in catalog (= item) order, so a later one with an equal score never ranks
/// before an earlier one: once the list is full only a strictly higher score enters.
#[inline(always)]
fn offer(top: &mut Vec<(f64, u32)>, k: usize, s: f64, c: u32) {
    if top.len() < k || s > top[k - 1].0 {
        let cand = (s, c);
        let at = top.partition_point(|&t| before(t, cand));
        top.insert(at, cand);
        top.truncate(k);
    }
}

fn user_metrics(set: &EvalSet, u: u32, k: usize, sc: &mut Scratch) -> (UserSums, Vec<u32>) {
    let (train_items, _) = set.train.row(u);
    let (test_items, test_values) = set.test.row(u);
    let scores = &sc.scores;
    let nc = scores.len();
    let nt = test_items.len();
    let pos = |i: u32| set.catalog_pos[i as usize] as usize;
    // Every training item is in the catalog; candidates are the rest of it.
    sc.train_pos.clear();
    sc.train_pos
        .extend(train_items.iter().map(|&i| pos(i) as u32));
    let nt_train = train_items.len() as u64;
    let n_cand = nc as u64 - nt_train;

    // Test scores sorted ascending; for each, the candidates scored above and below.
    sc.test_sorted.clear();
    sc.test_sorted
        .extend(test_items.iter().map(|&i| scores[pos(i)]));
    sc.test_sorted.sort_by(|a, b| a.total_cmp(b));

    // Top-k over the candidates, scanning the runs between training items.
    sc.top.clear();
    let mut start = 0usize;
    for end in sc.train_pos.iter().map(|&q| q as usize).chain([nc]) {
        let run = &scores[start..end];
        // Blocks of eight are skipped with one branch-free test once the list is full.
        let mut blocks = run.chunks_exact(8);
        let mut at = start;
        for block in &mut blocks {
            let full = sc.top.len() == k;
            if !full
                || block
                    .iter()
                    .fold(false, |any, &s| any | (s > sc.top[k - 1].0))
            {
                for (c, &s) in (at..).zip(block) {
                    offer(&mut sc.top, k, s, c as u32);
                }
            }
            at += 8;
        }
        for (c, &s) in (at..).zip(blocks.remainder()) {
            offer(&mut sc.top, k, s, c as u32);
        }
        start = end + 1;
    }
    // The training items' scores, sorted, to take them out of the catalog counts.
    sc.train_sorted.clear();
    sc.train_sorted
        .extend(sc.train_pos.iter().map(|&q| scores[q as usize]));
    sc.train_sorted.sort_by(|a, b| a.total_cmp(b));

    let mut greater = vec![0u64; nt];
    let mut less = vec![0u64; nt];
    if nt <= LINEAR_COUNT_MAX {
        // Few test items: branch-free counting passes over the whole catalog (which
        // the compiler vectorises), less the training items' share.
        for p in 0..nt {
            let t = sc.test_sorted[p];
            let (g, l) = count_above_below(scores, t);
            let train_above = nt_train - sc.train_sorted.partition_point(|&s| s <= t) as u64;
            let train_below = sc.train_sorted.partition_point(|&s| s < t) as u64;
            (greater[p], less[p]) = (g - train_above, l - train_below);
        }
    } else {
        // Many test items: sort the candidates once and binary-search each test score.
        sc.cand.clear();
        let mut tr = sc.train_pos.iter().peekable();
        for (c, &s) in scores.iter().enumerate() {
            if tr.peek().is_some_and(|&&q| q as usize == c) {
                tr.next();
                continue;
            }
            sc.cand.push(s);
        }
        sc.cand.sort_unstable_by(|a, b| a.total_cmp(b));
        for p in 0..nt {
            let s = sc.test_sorted[p];
            greater[p] = n_cand - sc.cand.partition_point(|&c| c <= s) as u64;
            less[p] = sc.cand.partition_point(|&c| c < s) as u64;
        }
    }

    let mut out = UserSums {
        n_test: nt as u64,
        ..Default::default()
    };
    // ROEM: per test item in item order (value weights follow the item).
    for (&i, &r) in test_items.iter().zip(test_values) {
        let s = scores[pos(i)];
        let p = sc.test_sorted.partition_point(|&t| t < s);
        let rank = if n_cand > 1 {
            greater[p] as f64 / (n_cand - 1) as f64
        } else {
            0.0
        };
        out.roem_num += r * rank;
        out.roem_den += r;
    }
    // AUC against the non-test candidates: remove test items from the counts.
    let n_neg = n_cand - nt as u64;
    if n_neg > 0 {
        let mut sum = 0.0;
        for p in 0..nt {
            let s = sc.test_sorted[p];
            let test_below = sc.test_sorted.partition_point(|&t| t < s) as u64;
            let test_equal = sc.test_sorted.partition_point(|&t| t <= s) as u64 - test_below;
            let neg_below = less[p] - test_below;
            let all_equal = n_cand - less[p] - greater[p];
            let neg_equal = all_equal - test_equal;
            sum += (neg_below as f64 + 0.5 * neg_equal as f64) / n_neg as f64;
        }
        out.auc = sum / nt as f64;
        out.has_auc = true;
    }
    // Top-k metrics.
    let top: Vec<u32> = sc
        .top
        .iter()
        .map(|&(_, c)| set.catalog_items[c as usize])
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
