//! Inference: top-N lists, similar items, pair scores.

use crate::kernels::{dot, simd_dispatch, Simd};
use crate::{AlsModel, InteractionMatrix};
use rayon::prelude::*;
use std::cmp::Ordering;

/// Users scored together in [`recommend_all`] (one block of the blocked product).
const USER_BLOCK: usize = 32;
/// Items per tile of the blocked product: a tile of item factors stays in L2 while
/// every user of the block is scored against it.
const ITEM_TILE: usize = 256;

/// Order: score descending, then item index ascending (the protocol's tie rule).
fn rank_order(a: &(u32, f32), b: &(u32, f32)) -> Ordering {
    b.1.total_cmp(&a.1).then(a.0.cmp(&b.0))
}

/// The first `n` of `cands` by [`rank_order`], by partial selection then a sort.
fn top_n(mut cands: Vec<(u32, f32)>, n: usize) -> Vec<(u32, f32)> {
    if n == 0 {
        return Vec::new();
    }
    if cands.len() > n {
        cands.select_nth_unstable_by(n - 1, rank_order);
        cands.truncate(n);
    }
    cands.sort_unstable_by(rank_order);
    cands
}

/// Items that can be recommended: those with at least one training interaction
/// (the protocol's catalog; the others only have zero factors).
fn catalog(model: &AlsModel, train: &InteractionMatrix) -> Vec<bool> {
    (0..model.n_items)
        .map(|i| i < train.n_items() && !train.item_col(i).0.is_empty())
        .collect()
}

/// Candidates with their scores: catalog items, minus `liked` (sorted ascending).
fn candidates(scores: &[f32], in_catalog: &[bool], liked: &[u32]) -> Vec<(u32, f32)> {
    let mut next_liked = liked.iter().peekable();
    let mut out = Vec::with_capacity(scores.len());
    for (i, &s) in scores.iter().enumerate() {
        // `liked` is sorted, so one forward walk excludes it.
        while next_liked.peek().is_some_and(|&&l| (l as usize) < i) {
            next_liked.next();
        }
        if next_liked.peek().is_some_and(|&&l| l as usize == i) {
            continue;
        }
        if in_catalog[i] {
            out.push((i as u32, s));
        }
    }
    out
}

/// `user`'s training items when `filter_liked` (the items to leave out), else none.
fn liked(train: &InteractionMatrix, user: usize, filter_liked: bool) -> &[u32] {
    if filter_liked && user < train.n_users() {
        train.user_row(user).0
    } else {
        &[]
    }
}

/// The top `n` items for `user` by x_u·y_i: items with training interactions only,
/// without the user's own training items when `filter_liked`; ties by item index.
/// Empty for a user outside the model.
///
/// ```
/// use alsflow_als::{fit, recommend, AlsParams, InteractionMatrix};
///
/// let train = InteractionMatrix::from_triplets(
///     3, 4, &[0, 0, 1, 1, 2, 2], &[0, 1, 1, 2, 2, 3], &[2.0, 1.0, 1.0, 3.0, 1.0, 1.0],
/// )?;
/// let model = fit(&train, &AlsParams { rank: 2, ..AlsParams::default() })?;
/// let top = recommend(&model, &train, 0, 10, true);
/// // Items 0 and 1 are user 0's own: only 2 and 3 are left, best first.
/// assert_eq!(top.len(), 2);
/// assert!(top[0].1 >= top[1].1);
/// assert_eq!(recommend(&model, &train, 0, 10, false).len(), 4);
/// # Ok::<(), alsflow_als::AlsError>(())
/// ```
pub fn recommend(
    model: &AlsModel,
    train: &InteractionMatrix,
    user: usize,
    n: usize,
    filter_liked: bool,
) -> Vec<(u32, f32)> {
    if user >= model.n_users {
        return Vec::new();
    }
    let mut scores = vec![0f32; model.n_items];
    score_block(model, user, 1, &mut scores);
    top_n(
        candidates(
            &scores,
            &catalog(model, train),
            liked(train, user, filter_liked),
        ),
        n,
    )
}

/// The top `n` items for a user given by their factors (`model.rank` values, e.g.
/// from [`crate::FoldIn::recalculate_user`]) rather than by index: items with
/// training interactions only, without the items in `exclude` (e.g. the user's
/// history; any order, duplicates and unknown items allowed); ties by item index.
/// Panics if `factors.len() != model.rank`.
///
/// ```
/// use alsflow_als::{fit, recommend_factors, AlsParams, FoldIn, InteractionMatrix};
///
/// let train = InteractionMatrix::from_triplets(
///     3, 4, &[0, 0, 1, 1, 2, 2], &[0, 1, 1, 2, 2, 3], &[1.0; 6],
/// )?;
/// let model = fit(&train, &AlsParams { rank: 2, ..AlsParams::default() })?;
/// let history = [(1, 1.0), (2, 1.0)];
/// let factors = FoldIn::from_model(&model)?.recalculate_user(&history)?;
/// let top = recommend_factors(&model, &train, &factors, 2, &[1, 2]);
/// assert_eq!(top.len(), 2);
/// assert!(top.iter().all(|&(item, _)| item == 0 || item == 3));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn recommend_factors(
    model: &AlsModel,
    train: &InteractionMatrix,
    factors: &[f32],
    n: usize,
    exclude: &[u32],
) -> Vec<(u32, f32)> {
    assert_eq!(
        factors.len(),
        model.rank,
        "recommend_factors: {} factors for a model of rank {}",
        factors.len(),
        model.rank
    );
    let scores: Vec<f32> = (0..model.n_items)
        .map(|i| dot(factors, model.item(i)))
        .collect();
    let mut excluded = exclude.to_vec();
    excluded.sort_unstable();
    top_n(candidates(&scores, &catalog(model, train), &excluded), n)
}

/// [`recommend`] for every user of the model (index = user), computed as a blocked
/// matrix product with partial selection, in parallel.
///
/// ```
/// use alsflow_als::{fit, recommend, recommend_all, AlsParams, InteractionMatrix};
///
/// let train = InteractionMatrix::from_triplets(
///     3, 4, &[0, 0, 1, 1, 2, 2], &[0, 1, 1, 2, 2, 3], &[2.0, 1.0, 1.0, 3.0, 1.0, 1.0],
/// )?;
/// let model = fit(&train, &AlsParams { rank: 2, ..AlsParams::default() })?;
/// let all = recommend_all(&model, &train, 2, true);
/// assert_eq!(all.len(), 3);
/// assert_eq!(all[1], recommend(&model, &train, 1, 2, true));
/// # Ok::<(), alsflow_als::AlsError>(())
/// ```
pub fn recommend_all(
    model: &AlsModel,
    train: &InteractionMatrix,
    n: usize,
    filter_liked: bool,
) -> Vec<Vec<(u32, f32)>> {
    let in_catalog = catalog(model, train);
    let blocks: Vec<Vec<Vec<(u32, f32)>>> = (0..model.n_users.div_ceil(USER_BLOCK))
        .into_par_iter()
        .map(|b| {
            let first = b * USER_BLOCK;
            let count = USER_BLOCK.min(model.n_users - first);
            let mut scores = vec![0f32; count * model.n_items];
            score_block(model, first, count, &mut scores);
            scores
                .chunks_exact(model.n_items.max(1))
                .take(count)
                .enumerate()
                .map(|(i, s)| {
                    top_n(
                        candidates(s, &in_catalog, liked(train, first + i, filter_liked)),
                        n,
                    )
                })
                .collect()
        })
        .collect();
    blocks.into_iter().flatten().collect()
}

simd_dispatch! {
    /// Scores of users `first..first + count` against every item, row-major.
    fn score_block(model: &AlsModel, first: usize, count: usize, out: &mut [f32]) => score_block_with;
}

#[inline(always)]
fn score_block_with<S: Simd>(
    model: &AlsModel,
    first: usize,
    count: usize,
    out: &mut [f32],
    simd: S,
) {
    let (k, ni) = (model.rank, model.n_items);
    for t0 in (0..ni).step_by(ITEM_TILE) {
        let t1 = (t0 + ITEM_TILE).min(ni);
        for u in 0..count {
            let xu = model.user(first + u);
            let row = &mut out[u * ni..(u + 1) * ni];
            for i in t0..t1 {
                // The explicit kernel, not the portable `dot`: left to itself, LLVM
                // may vectorise `dot`'s eight accumulators as 4-wide halves with
                // shuffles (it did, and recommend_all took 45% longer). Same bits.
                row[i] = simd.dot(xu, &model.item_factors[i * k..(i + 1) * k]);
            }
        }
    }
}

/// The `n` items most similar to `item` by cosine similarity of their factors, the
/// item itself excluded; items with zero factors score 0. Empty for an unknown item.
///
/// ```
/// use alsflow_als::{fit, similar_items, AlsParams, InteractionMatrix};
///
/// let train = InteractionMatrix::from_triplets(
///     3, 4, &[0, 0, 1, 1, 2, 2], &[0, 1, 1, 2, 2, 3], &[2.0, 1.0, 1.0, 3.0, 1.0, 1.0],
/// )?;
/// let model = fit(&train, &AlsParams { rank: 2, ..AlsParams::default() })?;
/// let similar = similar_items(&model, 1, 3);
/// assert_eq!(similar.len(), 3);
/// assert!(similar.iter().all(|&(item, cosine)| item != 1 && cosine.abs() <= 1.0 + 1e-6));
/// assert!(similar_items(&model, 9, 3).is_empty());
/// # Ok::<(), alsflow_als::AlsError>(())
/// ```
pub fn similar_items(model: &AlsModel, item: usize, n: usize) -> Vec<(u32, f32)> {
    if item >= model.n_items {
        return Vec::new();
    }
    let q = model.item(item);
    let qn = dot(q, q).sqrt();
    let cands: Vec<(u32, f32)> = (0..model.n_items)
        .filter(|&j| j != item)
        .map(|j| {
            let y = model.item(j);
            let norm = qn * dot(y, y).sqrt();
            let s = if norm > 0.0 { dot(q, y) / norm } else { 0.0 };
            (j as u32, s)
        })
        .collect();
    top_n(cands, n)
}

/// x_u·y_i for each (user, item) pair; a pair outside the model scores 0 (as a user
/// or item without data would).
///
/// ```
/// use alsflow_als::{fit, score_pairs, AlsParams, InteractionMatrix};
///
/// let train = InteractionMatrix::from_triplets(
///     3, 4, &[0, 0, 1, 1, 2, 2], &[0, 1, 1, 2, 2, 3], &[2.0, 1.0, 1.0, 3.0, 1.0, 1.0],
/// )?;
/// let model = fit(&train, &AlsParams { rank: 2, ..AlsParams::default() })?;
/// let scores = score_pairs(&model, &[(0, 1), (7, 1)]);
/// let x0y1: f32 = model.user(0).iter().zip(model.item(1)).map(|(x, y)| x * y).sum();
/// assert!((scores[0] - x0y1).abs() < 1e-6);
/// assert_eq!(scores[1], 0.0); // user 7 is not in the model
/// # Ok::<(), alsflow_als::AlsError>(())
/// ```
pub fn score_pairs(model: &AlsModel, pairs: &[(u32, u32)]) -> Vec<f32> {
    pairs
        .iter()
        .map(|&(u, i)| {
            let (u, i) = (u as usize, i as usize);
            if u < model.n_users && i < model.n_items {
                dot(model.user(u), model.item(i))
            } else {
                0.0
            }
        })
        .collect()
}
