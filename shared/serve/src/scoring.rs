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
//!
//! A scan is bound by the bytes it reads (6.8 MB of f32 factors for 26,744 items at
//! rank 64, more than a core's L2), so where the CPU has F16C the table also keeps a
//! half-precision copy and a scan reads that (half the bytes), then rescores exactly:
//! with e the largest distance between an f32 row and its f16 copy, every f16 score
//! is within |x|·e of the f32 score, so any item whose f16 score is below the n-th
//! best f16 score minus 2·|x|·e (plus a rounding margin) cannot be in the f32 top n.
//! The items above that line are kept in a small pool, rescored in f32, and the top
//! n taken from them: the same list as an f32 scan.

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
    /// The half-precision copy for the first pass (CPUs with AVX2, FMA and F16C).
    half: Option<HalfCopy>,
}

/// Rows in IEEE half precision, with how far they are from the f32 rows.
#[derive(Clone, Debug)]
struct HalfCopy {
    data: Vec<u16>,
    /// max over rows of |row − f16(row)|₂.
    max_error: f32,
    /// max over rows of |row|₂ (for the rounding margin).
    max_norm: f32,
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
        Self::from_padded(rank, rows, data)
    }

    /// A table over padded `data`, with its half-precision copy where the CPU can
    /// read one.
    fn from_padded(rank: usize, rows: usize, data: Vec<f32>) -> Self {
        let avx2 = avx2_available();
        let half = if avx2 && f16c_available() {
            Some(HalfCopy::of(&data, padded(rank)))
        } else {
            None
        };
        FactorTable {
            rank,
            row_len: padded(rank),
            rows,
            data,
            avx2,
            half,
        }
    }

    /// The same rows scaled to unit length (zero rows stay zero): cosine similarity
    /// becomes a dot product.
    pub fn normalized(&self) -> Self {
        let mut data = self.data.clone();
        for row in data.chunks_exact_mut(self.row_len) {
            let norm = row
                .iter()
                .map(|&v| f64::from(v) * f64::from(v))
                .sum::<f64>();
            if norm > 0.0 {
                let scale = (1.0 / norm.sqrt()) as f32;
                row.iter_mut().for_each(|v| *v *= scale);
            }
        }
        Self::from_padded(self.rank, self.rows, data)
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
        if n == 0 {
            return Vec::new();
        }
        if let Some(half) = &self.half {
            return self.top_n_via_half(half, query, n, skip);
        }
        let mut top = TopN::new(n);
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

    /// [`FactorTable::top_n`] reading the half-precision copy, then rescoring the
    /// items that can still be in the f32 top n (see the module docs).
    fn top_n_via_half(
        &self,
        half: &HalfCopy,
        query: &[f32],
        n: usize,
        skip: impl Fn(u32) -> bool,
    ) -> Vec<(u32, f32)> {
        let query_norm = query.iter().map(|v| v * v).sum::<f32>().sqrt();
        // Twice the f16 error bound, plus a margin for f32 rounding in both passes.
        let margin = 2.0 * query_norm * half.max_error
            + 4.0 * self.row_len as f32 * f32::EPSILON * query_norm * half.max_norm
            + f32::MIN_POSITIVE;
        let mut approx = TopN::new(n);
        let mut pool: Vec<(u32, f32)> = Vec::with_capacity(4 * n);
        let mut offer = |first: usize, scores: &[f32; LANES]| {
            for (lane, &s) in scores.iter().enumerate() {
                let i = first + lane;
                if i < self.rows && s >= approx.threshold() - margin && !skip(i as u32) {
                    pool.push((i as u32, s));
                    if approx.admits(s) {
                        approx.push(i as u32, s);
                    }
                }
            }
        };
        #[cfg(target_arch = "x86_64")]
        // SAFETY: a half copy exists only when the CPU reported AVX2, FMA and F16C
        // (`from_padded`); it holds whole blocks of LANES rows of `row_len` values,
        // and `query` has `row_len` floats (asserted by the caller).
        unsafe {
            x86::scan_half(query, &half.data, self.row_len, &mut offer)
        };
        // The pool was filled against a rising threshold: cut it at the final one,
        // rescore in f32, and keep the best n.
        let line = approx.threshold() - margin;
        let mut exact = TopN::new(n);
        for (i, approx_score) in pool {
            if approx_score >= line {
                let s = self.dot(query, self.row(i as usize));
                if exact.admits_any_order(i, s) {
                    exact.push(i, s);
                }
            }
        }
        exact.into_sorted()
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

    /// `a · b` for two padded rows, to the bit the score a scan gives the row
    /// (same lanes, same fused multiply-adds, same reduction order), so rescored and
    /// candidate lists rank exactly as a full scan would.
    pub fn dot(&self, a: &[f32], b: &[f32]) -> f32 {
        assert!(
            a.len() == self.row_len && b.len() == self.row_len,
            "rows are not padded"
        );
        #[cfg(target_arch = "x86_64")]
        if self.avx2 {
            // SAFETY: `avx2` is true only when the CPU reported AVX2 and FMA; both
            // rows have row_len floats, a multiple of LANES (asserted above).
            return unsafe { x86::dot(a, b) };
        }
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

/// True when the CPU converts half precision (F16C).
fn f16c_available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::is_x86_feature_detected!("f16c")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

impl HalfCopy {
    /// Convert padded f32 rows (needs F16C: checked by the caller).
    fn of(data: &[f32], row_len: usize) -> Self {
        let mut half = vec![0u16; data.len()];
        let mut back = vec![0f32; LANES];
        let (mut max_error, mut max_norm) = (0f32, 0f32);
        for (src, dst) in data
            .chunks_exact(row_len)
            .zip(half.chunks_exact_mut(row_len))
        {
            let mut error = 0f32;
            for (s8, d8) in src.chunks_exact(LANES).zip(dst.chunks_exact_mut(LANES)) {
                #[cfg(target_arch = "x86_64")]
                // SAFETY: called only when the CPU has F16C (`from_padded`); both
                // chunks hold exactly LANES values.
                unsafe {
                    x86::to_half(s8, d8, &mut back)
                };
                error += s8
                    .iter()
                    .zip(&back)
                    .map(|(a, b)| (a - b) * (a - b))
                    .sum::<f32>();
            }
            max_error = max_error.max(error.sqrt());
            max_norm = max_norm.max(src.iter().map(|v| v * v).sum::<f32>().sqrt());
        }
        // The f32 sums above round too: round the bound up a little.
        HalfCopy {
            data: half,
            max_error: max_error * (1.0 + 1e-4),
            max_norm,
        }
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

    /// One row's score exactly as [`scan`] computes it.
    ///
    /// # Safety
    /// The CPU must support AVX2 and FMA; `a.len() == b.len()`, a multiple of LANES.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn dot(a: &[f32], b: &[f32]) -> f32 {
        debug_assert!(a.len() == b.len() && a.len().is_multiple_of(LANES));
        let mut acc = _mm256_setzero_ps();
        for j in (0..a.len()).step_by(LANES) {
            // SAFETY: j + LANES <= len for both slices.
            unsafe {
                acc = _mm256_fmadd_ps(
                    _mm256_loadu_ps(a.as_ptr().add(j)),
                    _mm256_loadu_ps(b.as_ptr().add(j)),
                    acc,
                );
            }
        }
        let mut l = [0f32; LANES];
        // SAFETY: `l` holds one vector.
        unsafe { _mm256_storeu_ps(l.as_mut_ptr(), acc) };
        // `reduce8`'s order for one vector: pairs, then pairs of pairs, then halves.
        ((l[0] + l[1]) + (l[2] + l[3])) + ((l[4] + l[5]) + (l[6] + l[7]))
    }

    /// [`scan`] over half-precision rows, widened to f32 as they are loaded.
    ///
    /// # Safety
    /// The CPU must support AVX2, FMA and F16C; the shapes as for [`scan`].
    #[target_feature(enable = "avx2,fma,f16c")]
    pub(super) unsafe fn scan_half(
        query: &[f32],
        data: &[u16],
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
                // SAFETY: as in `scan`; each load reads 8 u16 (16 bytes) of one row.
                unsafe {
                    let x = _mm256_loadu_ps(q.add(j));
                    for (item, a) in acc.iter_mut().enumerate() {
                        let h = _mm_loadu_si128(r.add(item * row_len + j) as *const __m128i);
                        *a = _mm256_fmadd_ps(x, _mm256_cvtph_ps(h), *a);
                    }
                }
            }
            let sums = reduce8(&acc);
            // SAFETY: `scores` holds exactly one vector of LANES floats.
            unsafe { _mm256_storeu_ps(scores.as_mut_ptr(), sums) };
            offer(block * LANES, &scores);
        }
    }

    /// Eight floats to half precision (round to nearest) into `half`, and back
    /// into `back`, to measure the error.
    ///
    /// # Safety
    /// The CPU must support F16C; all three slices hold LANES values.
    #[target_feature(enable = "avx2,f16c")]
    pub(super) unsafe fn to_half(src: &[f32], half: &mut [u16], back: &mut [f32]) {
        debug_assert!(src.len() == LANES && half.len() == LANES && back.len() == LANES);
        // SAFETY: each pointer addresses LANES values (checked above).
        unsafe {
            let h = _mm256_cvtps_ph::<_MM_FROUND_TO_NEAREST_INT>(_mm256_loadu_ps(src.as_ptr()));
            _mm_storeu_si128(half.as_mut_ptr() as *mut __m128i, h);
            _mm256_storeu_ps(back.as_mut_ptr(), _mm256_cvtph_ps(h));
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

    /// The worst kept score when full (what a new entry must beat), else −∞.
    #[inline(always)]
    pub fn threshold(&self) -> f32 {
        match self.kept.last() {
            Some(w) if self.kept.len() == self.n => w.1,
            _ => f32::NEG_INFINITY,
        }
    }

    /// Whether an entry offered out of index order could enter.
    #[inline(always)]
    pub fn admits_any_order(&self, index: u32, score: f32) -> bool {
        self.kept.len() < self.n
            || self
                .kept
                .last()
                .is_some_and(|w| rank_order(&(index, score), w) == Ordering::Less)
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

    /// `kernel`: 0 portable f32, 1 AVX2 f32, 2 the half-precision pass (where the CPU
    /// has them; else the next one down).
    fn check_against_reference(rank: usize, factors: &[f32], x: &[f32], n: usize, kernel: u8) {
        let mut table = FactorTable::new(rank, factors);
        table.avx2 = kernel >= 1 && avx2_available();
        if kernel < 2 {
            table.half = None;
        }
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
            for kernel in 0..3 {
                check_against_reference(rank, &factors, &x, n, kernel);
            }
        }
    }

    #[test]
    fn the_half_precision_pass_gives_the_f32_list_even_among_near_ties() {
        if !(avx2_available() && f16c_available()) {
            eprintln!("skipped: this CPU has no F16C, so tables have no half copy");
            return;
        }
        let mut rng = alsflow_core::rng::Xoshiro256::new(7, 0);
        let rank = 64;
        // Groups of rows equal in f16 but ordered in f32 (perturbed by 1e-6).
        let mut factors = Vec::new();
        for _ in 0..300 {
            let base: Vec<f32> = (0..rank).map(|_| rng.next_f32() - 0.5).collect();
            for copy in 0..7 {
                factors.extend(
                    base.iter()
                        .map(|v| v + copy as f32 * 1e-6 * (rng.next_f32() - 0.5)),
                );
            }
        }
        let with_half = FactorTable::new(rank, &factors);
        assert!(with_half.half.is_some());
        let mut f32_only = with_half.clone();
        f32_only.half = None;
        for probe in 0..40 {
            let q = with_half.row(probe * 13).to_vec();
            for n in [1, 10, 50] {
                let skip = |i: u32| i % 11 == 4;
                let a = with_half.top_n(&q, n, skip);
                let b = f32_only.top_n(&q, n, skip);
                let (ai, bi): (Vec<u32>, Vec<u32>) = (
                    a.iter().map(|p| p.0).collect(),
                    b.iter().map(|p| p.0).collect(),
                );
                assert_eq!(ai, bi, "probe {probe}, n {n}");
                assert_eq!(a, b);
            }
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
