//! Single-user scoring: x·y_i for every item (a GEMV) fused with a bounded top-n
//! selection, so a request touches the item factors once and allocates only its
//! n-entry result.
//!
//! The item factors are held in rows padded to a multiple of eight floats, with the
//! item count padded to a multiple of eight by zero rows. The AVX2 kernel scores
//! eight items at a time: the query's eight-float chunk is loaded once and multiplied
//! into eight independent accumulators (one per item, so the fused multiply-adds do
//! not wait on each other), and the eight accumulators are reduced together with a
//! tree of horizontal adds into one vector of eight scores. The portable kernel does
//! the same sums in plain Rust for CPUs without AVX2+FMA. Scores agree with an exact
//! dot product to float rounding, not to the bit of `alsflow_als::recommend` (the
//! summation order differs), which serving does not need.

use std::cmp::Ordering;

/// Lanes of one AVX2 vector of f32 (and the padding unit of rows and items).
pub const LANES: usize = 8;

/// `k` rounded up to a multiple of [`LANES`].
pub fn padded(k: usize) -> usize {
    k.div_ceil(LANES) * LANES
}

/// Row-major factors (items, or users) in rows of [`padded`] length, zero-padded,
/// with the row count padded to a multiple of [`LANES`].
#[derive(Clone, Debug)]
pub struct FactorTable {
    rank: usize,
    row_len: usize,
    rows: usize,
    data: Vec<f32>,
    avx2: bool,
}

impl FactorTable {
    /// Copy `factors` (`rank` values per row, row-major) into padded rows.
    /// Panics if `factors.len()` is not a multiple of `rank` or `rank` is 0.
    pub fn new(rank: usize, factors: &[f32]) -> Self {
        assert!(
            rank > 0 && factors.len().is_multiple_of(rank),
            "bad factor shape"
        );
        let rows = factors.len() / rank;
        let row_len = padded(rank);
        let mut data = vec![0f32; padded(rows) * row_len];
        for (dst, src) in data
            .chunks_exact_mut(row_len)
            .zip(factors.chunks_exact(rank))
        {
            dst[..rank].copy_from_slice(src);
        }
        FactorTable {
            rank,
            row_len,
            rows,
            data,
            avx2: avx2_available(),
        }
    }

    /// The same rows scaled to unit length (zero rows stay zero): cosine similarity
    /// becomes a dot product.
    pub fn normalized(&self) -> Self {
        let mut out = self.clone();
        for row in out.data.chunks_exact_mut(out.row_len) {
            let norm = row
                .iter()
                .map(|&v| f64::from(v) * f64::from(v))
                .sum::<f64>();
            if norm > 0.0 {
                let scale = (1.0 / norm.sqrt()) as f32;
                row.iter_mut().for_each(|v| *v *= scale);
            }
        }
        out
    }

    /// Number of rows (without padding).
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Factors per row (without padding).
    pub fn rank(&self) -> usize {
        self.rank
    }

    /// Row `i` with its padding (`padded(rank)` values). Panics if out of range.
    pub fn row(&self, i: usize) -> &[f32] {
        assert!(i < self.rows, "row {i} of {}", self.rows);
        &self.data[i * self.row_len..(i + 1) * self.row_len]
    }

    /// A query vector in this table's padded layout: `x` (`rank` values) then zeros.
    pub fn query(&self, x: &[f32]) -> Vec<f32> {
        assert_eq!(
            x.len(),
            self.rank,
            "query of {} values for rank {}",
            x.len(),
            self.rank
        );
        let mut q = vec![0f32; self.row_len];
        q[..self.rank].copy_from_slice(x);
        q
    }

    /// The `n` best rows by `query · row` among all rows whose index `skip` rejects
    /// not, best first, ties by index. `query` must be padded (a [`FactorTable::row`]
    /// or from [`FactorTable::query`]). `skip` is only asked about rows that would
    /// enter the current top n, so an expensive test (a binary search) costs little.
    pub fn top_n(&self, query: &[f32], n: usize, skip: impl Fn(u32) -> bool) -> Vec<(u32, f32)> {
        assert_eq!(query.len(), self.row_len, "query is not padded");
        let mut top = TopN::new(n);
        if n == 0 {
            return top.into_sorted();
        }
        let mut offer = |first: usize, scores: &[f32; LANES]| {
            for (lane, &s) in scores.iter().enumerate() {
                let i = first + lane;
                if i < self.rows && top.admits(s) && !skip(i as u32) {
                    top.push(i as u32, s);
                }
            }
        };
        #[cfg(target_arch = "x86_64")]
        if self.avx2 {
            // SAFETY: `avx2` is true only when the CPU reported AVX2 and FMA
            // (`avx2_available`); `data` holds whole blocks of LANES rows of
            // `row_len` floats and `query` has `row_len` floats (asserted above).
            unsafe { x86::scan(query, &self.data, self.row_len, &mut offer) };
            return top.into_sorted();
        }
        portable_scan(query, &self.data, self.row_len, &mut offer);
        top.into_sorted()
    }

    /// The `n` best of `candidates` (row indices, any order, duplicates and indices
    /// out of range ignored) by `query · row`, skipping what `skip` rejects.
    pub fn top_n_among(
        &self,
        query: &[f32],
        candidates: &[u32],
        n: usize,
        skip: impl Fn(u32) -> bool,
    ) -> Vec<(u32, f32)> {
        assert_eq!(query.len(), self.row_len, "query is not padded");
        let mut top = TopN::new(n);
        let mut sorted: Vec<u32> = candidates
            .iter()
            .copied()
            .filter(|&c| (c as usize) < self.rows)
            .collect();
        sorted.sort_unstable();
        sorted.dedup();
        for c in sorted {
            let s = self.dot(query, self.row(c as usize));
            if top.admits(s) && !skip(c) {
                top.push(c, s);
            }
        }
        top.into_sorted()
    }

    /// `a · b` for two padded rows.
    pub fn dot(&self, a: &[f32], b: &[f32]) -> f32 {
        debug_assert_eq!(a.len(), b.len());
        a.iter().zip(b).map(|(x, y)| x * y).sum()
    }
}

/// True when the CPU has AVX2 and FMA (checked once per table).
fn avx2_available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Scores of every block of LANES rows, handed to `offer(first row, scores)`.
fn portable_scan(
    query: &[f32],
    data: &[f32],
    row_len: usize,
    offer: &mut impl FnMut(usize, &[f32; LANES]),
) {
    for (block, rows) in data.chunks_exact(row_len * LANES).enumerate() {
        let mut scores = [0f32; LANES];
        for (s, row) in scores.iter_mut().zip(rows.chunks_exact(row_len)) {
            *s = query.iter().zip(row).map(|(x, y)| x * y).sum();
        }
        offer(block * LANES, &scores);
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::LANES;
    use std::arch::x86_64::*;

    /// [`super::portable_scan`] with AVX2 and FMA, eight rows per step.
    ///
    /// # Safety
    /// The CPU must support AVX2 and FMA; `row_len` must be a multiple of LANES,
    /// `query.len() == row_len` and `data.len()` a multiple of `row_len * LANES`.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn scan(
        query: &[f32],
        data: &[f32],
        row_len: usize,
        offer: &mut impl FnMut(usize, &[f32; LANES]),
    ) {
        debug_assert!(row_len.is_multiple_of(LANES) && query.len() == row_len);
        debug_assert!(data.len().is_multiple_of(row_len * LANES));
        let q = query.as_ptr();
        let mut scores = [0f32; LANES];
        for (block, rows) in data.chunks_exact(row_len * LANES).enumerate() {
            let r = rows.as_ptr();
            let mut acc = [_mm256_setzero_ps(); LANES];
            for j in (0..row_len).step_by(LANES) {
                // SAFETY: j + LANES <= row_len = query.len(), and every row of the
                // block has row_len floats, so each 8-float load is in bounds.
                unsafe {
                    let x = _mm256_loadu_ps(q.add(j));
                    for (item, a) in acc.iter_mut().enumerate() {
                        let y = _mm256_loadu_ps(r.add(item * row_len + j));
                        *a = _mm256_fmadd_ps(x, y, *a);
                    }
                }
            }
            let sums = reduce8(&acc);
            // SAFETY: `scores` holds exactly one vector of LANES floats.
            unsafe { _mm256_storeu_ps(scores.as_mut_ptr(), sums) };
            offer(block * LANES, &scores);
        }
    }

    /// The horizontal sums of eight vectors, as one vector (lane i = sum of acc[i]).
    #[target_feature(enable = "avx2,fma")]
    fn reduce8(acc: &[__m256; LANES]) -> __m256 {
        // hadd works within 128-bit halves: after two rounds lane i of the low half
        // holds acc[i]'s low-half sum (i < 4) and the high half its high-half sum.
        let t0 = _mm256_hadd_ps(acc[0], acc[1]);
        let t1 = _mm256_hadd_ps(acc[2], acc[3]);
        let t2 = _mm256_hadd_ps(acc[4], acc[5]);
        let t3 = _mm256_hadd_ps(acc[6], acc[7]);
        let u0 = _mm256_hadd_ps(t0, t1);
        let u1 = _mm256_hadd_ps(t2, t3);
        let lo = _mm256_permute2f128_ps(u0, u1, 0x20);
        let hi = _mm256_permute2f128_ps(u0, u1, 0x31);
        _mm256_add_ps(lo, hi)
    }
}

/// Order: score descending, then index ascending (the protocol's tie rule).
fn rank_order(a: &(u32, f32), b: &(u32, f32)) -> Ordering {
    b.1.total_cmp(&a.1).then(a.0.cmp(&b.0))
}

/// The best `n` (index, score) pairs seen so far, kept sorted (best first) in an
/// array of at most `n` entries: a scan offers rows in index order, so a row that
/// only ties the worst kept one ranks after it and is rejected by one comparison.
#[derive(Debug)]
pub struct TopN {
    n: usize,
    kept: Vec<(u32, f32)>,
}

impl TopN {
    /// An empty selection of at most `n` entries.
    pub fn new(n: usize) -> Self {
        TopN {
            n,
            kept: Vec::with_capacity(n.min(4096)),
        }
    }

    /// Whether a score could enter (offered in increasing index order).
    #[inline(always)]
    pub fn admits(&self, score: f32) -> bool {
        self.kept.len() < self.n || self.kept.last().is_some_and(|w| score > w.1)
    }

    /// Insert an entry that [`TopN::admits`] (any index order is kept correct).
    pub fn push(&mut self, index: u32, score: f32) {
        let entry = (index, score);
        let at = self
            .kept
            .partition_point(|k| rank_order(k, &entry) == Ordering::Less);
        if at >= self.n {
            return;
        }
        if self.kept.len() == self.n {
            self.kept.pop();
        }
        self.kept.insert(at, entry);
    }

    /// The kept entries, best first.
    pub fn into_sorted(self) -> Vec<(u32, f32)> {
        self.kept
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The obvious version: every score in f64, sorted, filtered, cut.
    fn reference(
        rank: usize,
        factors: &[f32],
        x: &[f32],
        n: usize,
        skip: impl Fn(u32) -> bool,
    ) -> Vec<(u32, f64)> {
        let mut all: Vec<(u32, f64)> = factors
            .chunks_exact(rank)
            .enumerate()
            .filter(|(i, _)| !skip(*i as u32))
            .map(|(i, y)| {
                let s = x
                    .iter()
                    .zip(y)
                    .map(|(a, b)| f64::from(*a) * f64::from(*b))
                    .sum();
                (i as u32, s)
            })
            .collect();
        all.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        all.truncate(n);
        all
    }

    fn check_against_reference(rank: usize, factors: &[f32], x: &[f32], n: usize, avx2: bool) {
        let mut table = FactorTable::new(rank, factors);
        table.avx2 = avx2 && avx2_available();
        let skip = |i: u32| i % 7 == 3;
        let got = table.top_n(&table.query(x), n, skip);
        let want = reference(rank, factors, x, n, skip);
        assert_eq!(got.len(), want.len());
        for ((gi, gs), (wi, ws)) in got.iter().zip(&want) {
            assert!((f64::from(*gs) - ws).abs() < 1e-4, "score {gs} vs {ws}");
            // Indices may only differ where the reference scores (nearly) tie.
            if gi != wi {
                let other = want.iter().find(|w| w.0 == *gi).map(|w| w.1);
                assert!(
                    other.is_some_and(|o| (o - ws).abs() < 1e-4),
                    "item {gi} in place of {wi}"
                );
            }
        }
    }

    proptest! {
        #[test]
        fn top_n_matches_the_reference(
            rank in 1usize..40,
            rows in 0usize..70,
            n in 0usize..12,
            seed in any::<u64>(),
        ) {
            let mut rng = alsflow_core::rng::Xoshiro256::new(seed, 0);
            let factors: Vec<f32> = (0..rows * rank).map(|_| rng.next_f32() - 0.5).collect();
            let x: Vec<f32> = (0..rank).map(|_| rng.next_f32() - 0.5).collect();
            check_against_reference(rank, &factors, &x, n, true);
            check_against_reference(rank, &factors, &x, n, false);
        }
    }

    #[test]
    fn ties_rank_by_index_and_candidates_are_deduplicated() {
        let table = FactorTable::new(2, &[1.0, 0.0, 1.0, 0.0, 2.0, 0.0, 0.0, 1.0]);
        let q = table.query(&[1.0, 0.0]);
        assert_eq!(
            table.top_n(&q, 3, |_| false),
            vec![(2, 2.0), (0, 1.0), (1, 1.0)]
        );
        assert_eq!(table.top_n(&q, 2, |i| i == 2), vec![(0, 1.0), (1, 1.0)]);
        assert_eq!(
            table.top_n_among(&q, &[3, 1, 1, 9, 0], 5, |_| false),
            vec![(0, 1.0), (1, 1.0), (3, 0.0)]
        );
    }

    #[test]
    fn normalized_rows_give_cosines() {
        let table = FactorTable::new(2, &[3.0, 4.0, 0.0, 0.0]).normalized();
        assert_eq!(table.row(0)[..2], [0.6, 0.8]);
        assert_eq!(table.row(1)[..2], [0.0, 0.0]);
    }
}
