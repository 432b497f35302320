//! One user's ranking in one pass over the catalog, without a pass per test item.
//!
//! The metrics need, per test item, how many candidates score above and below it
//! (ROEM, AUC), and the top-k candidates (precision … NDCG, coverage). The user's few
//! test scores are sorted once; every catalog score is then *placed* among them: a
//! lookup table over equal-width buckets of the test scores' range gives the gap
//! between two test scores a catalog score falls in, so each score costs a few
//! instructions whatever the number of test items, and the counts follow from a
//! histogram of gaps by prefix sums.
//!
//! Scores may be approximate ([`Ranker::eps`] > 0: the f32 blocked product), with the
//! protocol's f64 scores as the reference. A score farther than `eps` from every test
//! score is on the same side of each as its exact value, so only the few within `eps`
//! ("ambiguous") are recomputed exactly and placed by comparison, ties included. The
//! top-k list is found the same way: every candidate within `2·eps` of the k-th
//! approximate score is kept, rescored exactly and sorted by (score desc, item asc).
//! The answers are those of the exact scores, ties and near-ties included.

/// A score type the ranker reads: f32 (the blocked product) or f64 (any scorer).
pub(crate) trait Score: Copy + PartialOrd + Send + Sync + 'static {
    /// Written over a training item's score so it sorts below every candidate.
    const EXCLUDED: Self;
    /// The value as f64.
    fn to_f64(self) -> f64;
    /// The largest value ≤ `v`.
    fn down(v: f64) -> Self;
    /// The smallest value ≥ `v`.
    fn up(v: f64) -> Self;
    /// From a bucket computation in f64 (rounded to nearest).
    fn from_f64(v: f64) -> Self;
    /// `min(max((self − base) · inv_w, 0), top)` as an index (`top` ≥ 0, finite).
    fn bucket(self, base: Self, inv_w: Self, top: Self) -> usize;
    /// Half the distance to the next representable value above |v| (the rounding
    /// unit at `v`).
    fn half_ulp(v: f64) -> f64;
}

impl Score for f32 {
    const EXCLUDED: Self = f32::MIN;
    #[inline(always)]
    fn to_f64(self) -> f64 {
        self as f64
    }
    fn down(v: f64) -> Self {
        let r = v as f32;
        if r as f64 > v {
            r.next_down()
        } else {
            r
        }
    }
    fn up(v: f64) -> Self {
        let r = v as f32;
        if (r as f64) < v {
            r.next_up()
        } else {
            r
        }
    }
    fn from_f64(v: f64) -> Self {
        v as f32
    }
    #[inline(always)]
    fn bucket(self, base: Self, inv_w: Self, top: Self) -> usize {
        // `max` ignores NaN, so the index is always in 0..=top.
        ((self - base) * inv_w).max(0.0).min(top) as usize
    }
    fn half_ulp(v: f64) -> f64 {
        (v.abs() as f32).max(f32::MIN_POSITIVE) as f64 * f32::EPSILON as f64
    }
}

impl Score for f64 {
    const EXCLUDED: Self = f64::NEG_INFINITY;
    #[inline(always)]
    fn to_f64(self) -> f64 {
        self
    }
    fn down(v: f64) -> Self {
        v
    }
    fn up(v: f64) -> Self {
        v
    }
    fn from_f64(v: f64) -> Self {
        v
    }
    #[inline(always)]
    fn bucket(self, base: Self, inv_w: Self, top: Self) -> usize {
        ((self - base) * inv_w).max(0.0).min(top) as usize
    }
    fn half_ulp(v: f64) -> f64 {
        v.abs().max(f64::MIN_POSITIVE) * f64::EPSILON
    }
}

/// Table entry: the bucket holds (or may hold) a group edge; compare exactly.
const SEARCH: u16 = u16::MAX;
/// Histogram copies, so consecutive scores landing in one gap do not wait on each
/// other's increments.
const COPIES: usize = 4;
/// Buckets per group of test scores (more buckets: fewer searches, a larger table).
const BUCKETS_PER_GROUP: usize = 64;
/// Upper limit of the bucket table (entries of 2 bytes).
const MAX_BUCKETS: usize = 4096;

/// What the placement of one score found.
enum Place {
    /// Strictly between two test scores: below group `g` and above group `g − 1`.
    Gap(usize),
    /// Within `eps` of a test score: needs the exact score.
    Ambiguous,
}

/// Per-user ranking state across the tiles of the catalog.
pub(crate) struct Ranker<T: Score> {
    /// Exact test scores, in the order given.
    test_scores: Vec<f64>,
    /// Bound on |approximate − exact| for every score of this user.
    eps: f64,
    k: usize,
    /// Distinct exact test scores, ascending.
    distinct: Vec<f64>,
    /// Groups of test scores whose `eps`-intervals overlap: edges in `T`, and the
    /// index in `distinct` of each group's first value (plus `distinct.len()`).
    group_lo: Vec<T>,
    group_hi: Vec<T>,
    group_first: Vec<usize>,
    /// Bucket table over [lowest edge, highest edge].
    base: T,
    inv_w: T,
    top: T,
    table: Vec<u16>,
    /// `COPIES` histograms of gap indices (0 ..= groups).
    hist: Vec<u32>,
    /// Catalog positions within `eps` of a test score.
    ambiguous: Vec<u32>,
    /// Candidates for the top k: approximate score ≥ `threshold`.
    near: Vec<(T, u32)>,
    threshold: T,
    near_cap: usize,
    /// Next training item to exclude (index into the user's sorted positions).
    next_train: usize,
}

impl<T: Score> Ranker<T> {
    /// A ranker for a user whose exact test scores are `test_scores` (any order,
    /// at least one), with approximate scores within `eps` of the exact ones.
    pub(crate) fn new(test_scores: &[f64], eps: f64, k: usize) -> Self {
        let mut distinct: Vec<f64> = test_scores.to_vec();
        distinct.sort_by(f64::total_cmp);
        distinct.dedup();
        let (mut group_lo, mut group_hi, mut group_first) = (Vec::new(), Vec::new(), Vec::new());
        let (mut lo_f, mut hi_f): (Vec<f64>, Vec<f64>) = (Vec::new(), Vec::new());
        for (i, &d) in distinct.iter().enumerate() {
            let (lo, hi) = (d - eps, d + eps);
            match hi_f.last_mut() {
                Some(last) if lo <= *last => *last = hi,
                _ => {
                    lo_f.push(lo);
                    hi_f.push(hi);
                    group_first.push(i);
                }
            }
        }
        group_first.push(distinct.len());
        for (&lo, &hi) in lo_f.iter().zip(&hi_f) {
            group_lo.push(T::down(lo));
            group_hi.push(T::up(hi));
        }
        let groups = group_lo.len();
        let (lo, hi) = (group_lo[0].to_f64(), group_hi[groups - 1].to_f64());
        // Buckets must be wide against the rounding of `(c − base) · inv_w` in `T`
        // (a few units in the last place of the range's magnitude), so a computed
        // index is off by at most one; tables mark a bucket pure only if its
        // neighbours are too.
        let unit = 4.0 * T::half_ulp(lo.abs().max(hi.abs())) * 2.0;
        let mut nb = (BUCKETS_PER_GROUP * groups).min(MAX_BUCKETS);
        if hi - lo < unit * nb as f64 {
            nb = ((hi - lo) / unit) as usize;
        }
        let mut table = vec![SEARCH; nb + 2];
        let (base, inv_w, top);
        if nb >= 4 {
            let w = (hi - lo) / nb as f64;
            // Bucket b ≥ 1 covers [lo + (b−1)w, lo + b·w); bucket 0 is below lo and
            // nb + 1 above hi (both resolved by comparison, see `place`).
            let mut g = 0usize;
            for (b, slot) in table.iter_mut().enumerate().take(nb + 1).skip(1) {
                // The bucket with its neighbours: [lo + (b−2)w, lo + (b+1)w).
                let from = lo + (b as f64 - 2.0) * w;
                let to = lo + (b as f64 + 1.0) * w;
                while g < groups && hi_f_edge(&group_hi, g) < from {
                    g += 1;
                }
                // Gap g lies below group g; pure if group g starts at or after `to`.
                if g == groups || group_lo[g].to_f64() >= to {
                    *slot = g as u16;
                }
            }
            base = T::from_f64(lo - w);
            inv_w = T::from_f64(1.0 / w);
            top = T::from_f64((nb + 1) as f64);
        } else {
            table.truncate(1);
            base = group_lo[0];
            inv_w = T::from_f64(0.0);
            top = T::from_f64(0.0);
        }
        Ranker {
            test_scores: test_scores.to_vec(),
            eps,
            k,
            distinct,
            hist: vec![0; COPIES * (groups + 1)],
            group_lo,
            group_hi,
            group_first,
            base,
            inv_w,
            top,
            table,
            ambiguous: Vec::new(),
            near: Vec::new(),
            threshold: T::down(f64::NEG_INFINITY),
            near_cap: 4 * k + 64,
            next_train: 0,
        }
    }

    /// The exact placement of `c` among the groups (binary search).
    fn search(&self, c: T) -> Place {
        let g = self.group_hi.partition_point(|&h| h < c);
        if g < self.group_lo.len() && self.group_lo[g] <= c {
            Place::Ambiguous
        } else {
            Place::Gap(g)
        }
    }

    /// Take in the scores of catalog positions `first .. first + scores.len()`.
    /// `train` is the user's training positions, ascending; their scores are
    /// overwritten (they are not candidates). Call with consecutive ranges.
    pub(crate) fn consume(&mut self, scores: &mut [T], first: usize, train: &[u32]) {
        let end = first + scores.len();
        while let Some(&p) = train.get(self.next_train) {
            let p = p as usize;
            if p >= end {
                break;
            }
            scores[p - first] = T::EXCLUDED;
            self.next_train += 1;
        }
        let groups = self.group_lo.len();
        let stride = groups + 1;
        let (lo, hi) = (self.group_lo[0], self.group_hi[groups - 1]);
        let (base, inv_w, top) = (self.base, self.inv_w, self.top);
        for (n, &c) in scores.iter().enumerate() {
            let b = c.bucket(base, inv_w, top);
            let mut g = self.table[b];
            // Outside every group: decided by one comparison (compiled to selects).
            g = if c < lo { 0 } else { g };
            g = if c > hi { groups as u16 } else { g };
            if g != SEARCH {
                self.hist[(n % COPIES) * stride + g as usize] += 1;
            } else {
                match self.search(c) {
                    Place::Gap(g) => self.hist[g] += 1,
                    Place::Ambiguous => self.ambiguous.push((first + n) as u32),
                }
            }
            if c >= self.threshold {
                self.near.push((c, (first + n) as u32));
                if self.near.len() >= self.near_cap {
                    self.prune_near();
                }
            }
        }
    }

    /// Drop top-k candidates that can no longer make the list: below the k-th
    /// approximate score by more than `2·eps`.
    fn prune_near(&mut self) {
        let k = self.k;
        if self.near.len() >= k {
            let (_, kth, _) = self.near.select_nth_unstable_by(k - 1, |a, b| {
                b.0.partial_cmp(&a.0).unwrap_or(std::cmp::Ordering::Equal)
            });
            let threshold = T::down(kth.0.to_f64() - 2.0 * self.eps);
            self.threshold = threshold;
            self.near.retain(|&(c, _)| c >= threshold);
        }
        if self.near.len() * 2 >= self.near_cap {
            // Many near-ties: grow, so pruning stays amortised O(1) per push.
            self.near_cap *= 2;
        }
    }

    /// Finish: per distinct test score (ascending) the candidates above, equal and
    /// below, and the top-k candidates by (exact score desc, position asc).
    /// `exact(p)` is the exact score of catalog position `p`; `train` as in
    /// [`Ranker::consume`]; `n_catalog` the number of catalog positions.
    pub(crate) fn finish(
        mut self,
        train: &[u32],
        n_catalog: usize,
        exact: impl Fn(u32) -> f64,
    ) -> Ranked {
        let is_train = |p: u32| train.binary_search(&p).is_ok();
        // Slots: 2i = strictly between distinct[i-1] and distinct[i]; 2i+1 = equal.
        let q = self.distinct.len();
        let mut slots = vec![0u64; 2 * q + 1];
        let groups = self.group_lo.len();
        let stride = groups + 1;
        for g in 0..=groups {
            let count: u64 = (0..COPIES).map(|c| self.hist[c * stride + g] as u64).sum();
            slots[2 * self.group_first[g]] += count;
        }
        // Training items were placed as `EXCLUDED`: take them out where it went.
        let n_train = train.len() as u64;
        if n_train > 0 {
            match self.search(T::EXCLUDED) {
                Place::Gap(g) => slots[2 * self.group_first[g]] -= n_train,
                Place::Ambiguous => {}
            }
        }
        for &p in &self.ambiguous {
            if is_train(p) {
                continue;
            }
            let s = exact(p);
            let i = self.distinct.partition_point(|&d| d < s);
            if i < q && self.distinct[i] == s {
                slots[2 * i + 1] += 1;
            } else {
                slots[2 * i] += 1;
            }
        }
        let n_cand = (n_catalog - train.len()) as u64;
        debug_assert_eq!(slots.iter().sum::<u64>(), n_cand);
        let mut counts = Vec::with_capacity(q);
        let mut below = 0u64;
        for i in 0..q {
            below += slots[2 * i];
            let equal = slots[2 * i + 1];
            counts.push(Counts {
                less: below,
                equal,
                greater: n_cand - below - equal,
            });
            below += equal;
        }
        // Top k: exact scores of the near candidates.
        self.near.retain(|&(_, p)| !is_train(p));
        if self.near.len() >= self.k {
            self.prune_near();
        }
        let mut top: Vec<(f64, u32)> = self.near.iter().map(|&(_, p)| (exact(p), p)).collect();
        top.sort_unstable_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        top.truncate(self.k);
        Ranked {
            test_scores: self.test_scores,
            distinct: self.distinct,
            counts,
            n_cand,
            top,
        }
    }
}

fn hi_f_edge<T: Score>(group_hi: &[T], g: usize) -> f64 {
    group_hi[g].to_f64()
}

/// Candidates above, equal to and below one distinct test score.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Counts {
    pub less: u64,
    pub equal: u64,
    pub greater: u64,
}

/// A user's ranking: counts per distinct test score, and the top-k list.
pub(crate) struct Ranked {
    /// Exact test scores, in the order given to [`Ranker::new`].
    pub test_scores: Vec<f64>,
    /// Distinct exact test scores, ascending.
    pub distinct: Vec<f64>,
    /// Per distinct score.
    pub counts: Vec<Counts>,
    /// Number of candidates (catalog minus training items).
    pub n_cand: u64,
    /// Top-k (exact score, catalog position), best first.
    pub top: Vec<(f64, u32)>,
}

impl Ranked {
    /// The counts of exact test score `s` (one of the user's test scores).
    pub(crate) fn counts_of(&self, s: f64) -> Counts {
        let i = self.distinct.partition_point(|&d| d < s);
        self.counts[i]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]
        /// Approximate scores off by up to `eps` (adversarially: ties and near-ties
        /// everywhere, on a grid finer than `eps`), fed in tiles: the counts and the
        /// top k are those of the exact scores.
        #[test]
        fn noisy_scores_rank_like_exact_ones(
            n in 2usize..300, grid in 1u32..40, eps_steps in 0u32..4, k in 1usize..15,
            tile in 1usize..70, seed in 0u64..100_000,
        ) {
            let mut rng = alsflow_core::rng::Xoshiro256::new(seed, 9);
            let step = 0.01f64;
            let eps = eps_steps as f64 * step;
            let exact: Vec<f64> = (0..n).map(|_| rng.below(grid as u64) as f64 * step - 0.1).collect();
            let noisy: Vec<f32> = exact
                .iter()
                .map(|&e| {
                    let v = (e + (rng.next_f64() * 2.0 - 1.0) * eps) as f32;
                    // Stay within eps after rounding to f32.
                    if (v as f64 - e).abs() > eps { e as f32 } else { v }
                })
                .collect();
            let train: Vec<u32> = (0..n as u32).filter(|_| rng.below(4) == 0).collect();
            let tests: Vec<u32> = (0..n as u32).filter(|p| train.binary_search(p).is_err() && rng.below(3) == 0).collect();
            prop_assume!(!tests.is_empty());
            let test_scores: Vec<f64> = tests.iter().map(|&p| exact[p as usize]).collect();
            let mut ranker = Ranker::<f32>::new(&test_scores, eps, k);
            let mut scores = noisy.clone();
            for first in (0..n).step_by(tile) {
                let end = (first + tile).min(n);
                ranker.consume(&mut scores[first..end], first, &train);
            }
            let ranked = ranker.finish(&train, n, |p| exact[p as usize]);
            let cand: Vec<usize> = (0..n).filter(|&p| train.binary_search(&(p as u32)).is_err()).collect();
            prop_assert_eq!(ranked.n_cand, cand.len() as u64);
            for &s in &test_scores {
                let c = ranked.counts_of(s);
                let count = |f: &dyn Fn(f64) -> bool| cand.iter().filter(|&&p| f(exact[p])).count() as u64;
                prop_assert_eq!(c.greater, count(&|e| e > s));
                prop_assert_eq!(c.less, count(&|e| e < s));
                prop_assert_eq!(c.equal, count(&|e| e == s));
            }
            let mut want: Vec<(f64, u32)> = cand.iter().map(|&p| (exact[p], p as u32)).collect();
            want.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
            want.truncate(k);
            prop_assert_eq!(ranked.top, want);
        }
    }
}
