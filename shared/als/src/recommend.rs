//! Inference: top-N lists, similar items, pair scores.
//!
//! Every list is scored with the blocked product of [`crate::scoring`]: users in
//! blocks of [`USER_BLOCK`] against tiles of [`ITEM_TILE`] catalog items, each tile
//! consumed (its candidates offered to each user's top-N list) while it is in cache,
//! so memory is bounded by a block, never users × items. Each score is the same f32
//! fused multiply-add chain on every CPU and in every call, so [`recommend_all`]
//! equals [`recommend`] user for user.

use crate::kernels::dot;
use crate::scoring::{score_tile, PackedItems, PackedUsers, ITEM_PANEL, USER_GROUP};
use crate::{AlsModel, InteractionMatrix};
use rayon::prelude::*;
use std::cmp::Ordering;

/// Users scored together (a multiple of the product's user group).
pub const USER_BLOCK: usize = 4 * USER_GROUP;
/// Catalog items per tile: `USER_BLOCK × ITEM_TILE` f32 scores (384 KiB) stay in L2.
pub const ITEM_TILE: usize = 64 * ITEM_PANEL;

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

/// The catalog (items with at least one training interaction: the others only have
/// zero factors), packed for the blocked product.
pub(crate) struct Catalog {
    /// Catalog position → item index, ascending.
    items: Vec<u32>,
    /// Item index → catalog position (`u32::MAX` outside the catalog).
    pos: Vec<u32>,
    packed: PackedItems,
}

impl Catalog {
    pub(crate) fn new(model: &AlsModel, train: &InteractionMatrix) -> Self {
        let items: Vec<u32> = (0..model.n_items)
            .filter(|&i| i < train.n_items() && !train.item_col(i).0.is_empty())
            .map(|i| i as u32)
            .collect();
        let mut pos = vec![u32::MAX; model.n_items];
        for (c, &i) in items.iter().enumerate() {
            pos[i as usize] = c as u32;
        }
        let packed = PackedItems::from_rows(&model.item_factors, model.rank, &items);
        Catalog { items, pos, packed }
    }

    /// Catalog positions of `items` (any order, unknown items allowed), ascending.
    fn positions(&self, items: &[u32]) -> Vec<u32> {
        let mut p: Vec<u32> = items
            .iter()
            .filter_map(|&i| self.pos.get(i as usize).copied())
            .filter(|&p| p != u32::MAX)
            .collect();
        p.sort_unstable();
        p.dedup();
        p
    }

    /// The top `n` catalog items of each user row of `rows` (`rank` values each),
    /// without the catalog positions `exclude[r]` (ascending): (item, score), best
    /// first, ties by item index.
    pub(crate) fn top_n(
        &self,
        rows: &[&[f32]],
        exclude: &[Vec<u32>],
        n: usize,
    ) -> Vec<Vec<(u32, f32)>> {
        let rank = self.packed.rank();
        let nc = self.items.len();
        let mut users = PackedUsers::new(rank);
        let mut tile = vec![0f32; USER_BLOCK.min(rows.len()) * ITEM_TILE];
        let mut out = Vec::with_capacity(rows.len());
        for (block, excl) in rows.chunks(USER_BLOCK).zip(exclude.chunks(USER_BLOCK)) {
            users.fill(block.iter().copied());
            let mut lists: Vec<TopList> = (0..block.len()).map(|_| TopList::new(n)).collect();
            let mut next_excluded = vec![0usize; block.len()];
            for first in (0..nc).step_by(ITEM_TILE) {
                let count = ITEM_TILE.min(nc - first);
                score_tile(&users, &self.packed, first, count, &mut tile, ITEM_TILE);
                for (r, list) in lists.iter_mut().enumerate() {
                    let row = &mut tile[r * ITEM_TILE..r * ITEM_TILE + count];
                    // Excluded items score below every candidate.
                    let ex = &excl[r];
                    while let Some(&p) = ex.get(next_excluded[r]) {
                        if p as usize >= first + count {
                            break;
                        }
                        row[p as usize - first] = f32::NEG_INFINITY;
                        next_excluded[r] += 1;
                    }
                    list.offer_row(row, first as u32);
                }
            }
            for list in lists {
                out.push(list.finish(&self.items));
            }
        }
        out
    }
}

/// A top-`n` list filled in catalog order.
struct TopList {
    n: usize,
    /// (score, catalog position), best first.
    top: Vec<(f32, u32)>,
}

impl TopList {
    fn new(n: usize) -> Self {
        TopList {
            n,
            top: Vec::with_capacity(n + 1),
        }
    }

    /// Offer the scores of positions `first ..` (later positions lose ties, so once
    /// the list is full only a strictly higher score enters). Excluded items carry
    /// −∞ and never enter.
    fn offer_row(&mut self, row: &[f32], first: u32) {
        if self.n == 0 {
            return;
        }
        let mut blocks = row.chunks_exact(16);
        let mut at = first;
        for block in &mut blocks {
            // One branch-free test rejects a block once the list is full.
            let bar = if self.top.len() == self.n {
                self.top[self.n - 1].0
            } else {
                f32::NEG_INFINITY
            };
            if block.iter().fold(false, |any, &s| any | (s > bar)) {
                for (c, &s) in (at..).zip(block) {
                    self.offer(s, c);
                }
            }
            at += 16;
        }
        for (c, &s) in (at..).zip(blocks.remainder()) {
            self.offer(s, c);
        }
    }

    #[inline]
    fn offer(&mut self, s: f32, c: u32) {
        if s == f32::NEG_INFINITY {
            return;
        }
        if self.top.len() < self.n || s > self.top[self.n - 1].0 {
            let at = self
                .top
                .partition_point(|&(t, p)| t > s || (t == s && p < c));
            self.top.insert(at, (s, c));
            self.top.truncate(self.n);
        }
    }

    fn finish(self, items: &[u32]) -> Vec<(u32, f32)> {
        self.top
            .into_iter()
            .map(|(s, c)| (items[c as usize], s))
            .collect()
    }
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
    let catalog = Catalog::new(model, train);
    let exclude = catalog.positions(liked(train, user, filter_liked));
    catalog
        .top_n(&[model.user(user)], &[exclude], n)
        .pop()
        .unwrap_or_default()
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
    let catalog = Catalog::new(model, train);
    let excluded = catalog.positions(exclude);
    catalog
        .top_n(&[factors], &[excluded], n)
        .pop()
        .unwrap_or_default()
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
    let mut all = Vec::with_capacity(model.n_users);
    recommend_all_with(
        model,
        train,
        n,
        filter_liked,
        model.n_users.max(1),
        |_, lists| {
            all.extend(lists);
            Ok::<(), std::convert::Infallible>(())
        },
    )
    .unwrap_or_else(|never| match never {});
    all
}

/// [`recommend_all`] streamed: users are scored `batch` at a time (in parallel, in
/// blocks of [`USER_BLOCK`]) and each batch's lists are handed to `sink(first_user,
/// lists)` in user order before the next batch is scored, so memory is bounded by
/// the batch. Stops at the first error of `sink`.
///
/// ```
/// use alsflow_als::{fit, recommend_all, recommend_all_with, AlsParams, InteractionMatrix};
///
/// let train = InteractionMatrix::from_triplets(
///     3, 4, &[0, 0, 1, 1, 2, 2], &[0, 1, 1, 2, 2, 3], &[2.0, 1.0, 1.0, 3.0, 1.0, 1.0],
/// )?;
/// let model = fit(&train, &AlsParams { rank: 2, ..AlsParams::default() })?;
/// let mut streamed = Vec::new();
/// recommend_all_with(&model, &train, 2, true, 2, |first, lists| {
///     assert_eq!(first, streamed.len());
///     streamed.extend(lists);
///     Ok::<(), String>(())
/// })
/// .unwrap();
/// assert_eq!(streamed, recommend_all(&model, &train, 2, true));
/// # Ok::<(), alsflow_als::AlsError>(())
/// ```
pub fn recommend_all_with<E>(
    model: &AlsModel,
    train: &InteractionMatrix,
    n: usize,
    filter_liked: bool,
    batch: usize,
    mut sink: impl FnMut(usize, Vec<Vec<(u32, f32)>>) -> Result<(), E>,
) -> Result<(), E> {
    let catalog = Catalog::new(model, train);
    let batch = batch.max(1);
    for first in (0..model.n_users).step_by(batch) {
        let end = (first + batch).min(model.n_users);
        let users: Vec<usize> = (first..end).collect();
        let lists: Vec<Vec<(u32, f32)>> = users
            .par_chunks(USER_BLOCK)
            .flat_map_iter(|block| {
                let rows: Vec<&[f32]> = block.iter().map(|&u| model.user(u)).collect();
                let exclude: Vec<Vec<u32>> = block
                    .iter()
                    .map(|&u| catalog.positions(liked(train, u, filter_liked)))
                    .collect();
                catalog.top_n(&rows, &exclude, n)
            })
            .collect();
        sink(first, lists)?;
    }
    Ok(())
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
    // q·y_j for every item with the blocked product (one row), then cosines.
    let packed = PackedItems::new(&model.item_factors, model.rank);
    let mut query = PackedUsers::new(model.rank);
    query.fill([q]);
    let mut dots = vec![0f32; model.n_items];
    if model.n_items > 0 {
        score_tile(&query, &packed, 0, model.n_items, &mut dots, model.n_items);
    }
    let cands: Vec<(u32, f32)> = (0..model.n_items)
        .filter(|&j| j != item)
        .map(|j| {
            let y = model.item(j);
            let norm = qn * dot(y, y).sqrt();
            let s = if norm > 0.0 { dots[j] / norm } else { 0.0 };
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
