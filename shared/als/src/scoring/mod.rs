//! Scores of many users against many items as a register- and cache-blocked matrix
//! product (`S = X · Yᵀ`), the shape of every large inference job: evaluation
//! metrics, `recommend_all`, similar items.
//!
//! The factors are packed once into the layouts the micro-kernel reads: item factors
//! into panels of [`ITEM_PANEL`] items ([`PackedItems`], factor-major inside a panel, so
//! one factor of 32 items is two 512-bit loads), user factors into groups of
//! [`USER_GROUP`] users ([`PackedUsers`], factor-major, so one factor of the group is
//! twelve broadcasts). [`score_tile`] then scores a group of users against a range of
//! panels into a caller-owned tile; callers walk the catalog in tiles that stay in
//! cache and consume each tile before the next one (memory is bounded by the tile,
//! never by users × items).
//!
//! Three micro-kernels compute the same bits (`kernels`): AVX-512F (12 users × 32
//! items, 24 accumulators), AVX2+FMA (6 × 16, four calls per 12 × 32 tile), and a
//! portable one. Each score is one fused multiply-add chain over the factors in
//! order, starting from +0.0, so it does not depend on the CPU, the block sizes or the
//! thread count. `shared/als/benches/README.md` has the throughput figures.
//!
//! The error against the f64 sum of the same products is bounded, which lets the
//! metrics rank exactly: [`score_error_bound`].

mod kernels;

use kernels::Isa;

/// Items per packed panel (the micro-kernel's width).
pub const ITEM_PANEL: usize = 32;
/// Users per packed group (the micro-kernel's height).
pub const USER_GROUP: usize = 12;

/// Item factors packed into panels of [`ITEM_PANEL`] items: panel `p` holds items
/// `32p .. 32p + 32` as `rank` rows of 32 values (zero-padded past the last item).
#[derive(Clone, Debug)]
pub struct PackedItems {
    rank: usize,
    len: usize,
    panels: Vec<f32>,
}

impl PackedItems {
    /// Pack every row of `factors` (row-major, `rank` values per item).
    pub fn new(factors: &[f32], rank: usize) -> Self {
        let n = factors.len().checked_div(rank).unwrap_or(0);
        Self::pack(factors, rank, n, |i| i)
    }

    /// Pack the rows `rows` of `factors`, in that order: packed item `c` is row
    /// `rows[c]` (e.g. the catalog items only). Panics if a row is out of range.
    pub fn from_rows(factors: &[f32], rank: usize, rows: &[u32]) -> Self {
        Self::pack(factors, rank, rows.len(), |c| rows[c] as usize)
    }

    fn pack(factors: &[f32], rank: usize, len: usize, row: impl Fn(usize) -> usize) -> Self {
        let n_panels = len.div_ceil(ITEM_PANEL);
        let mut panels = vec![0f32; n_panels * rank * ITEM_PANEL];
        for c in 0..len {
            let r = row(c);
            let src = &factors[r * rank..(r + 1) * rank];
            let base = (c / ITEM_PANEL) * rank * ITEM_PANEL + c % ITEM_PANEL;
            for (f, &v) in src.iter().enumerate() {
                panels[base + f * ITEM_PANEL] = v;
            }
        }
        PackedItems { rank, len, panels }
    }

    /// Number of items.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there are no items.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Factors per item.
    pub fn rank(&self) -> usize {
        self.rank
    }

    fn panel(&self, p: usize) -> &[f32] {
        let size = self.rank * ITEM_PANEL;
        &self.panels[p * size..(p + 1) * size]
    }
}

/// User factors packed into groups of [`USER_GROUP`] users: group `g` holds users
/// `12g .. 12g + 12` as `rank` rows of 12 values (zero-padded past the last user).
#[derive(Clone, Debug, Default)]
pub struct PackedUsers {
    rank: usize,
    len: usize,
    groups: Vec<f32>,
}

impl PackedUsers {
    /// An empty buffer for users of `rank` factors.
    pub fn new(rank: usize) -> Self {
        PackedUsers {
            rank,
            len: 0,
            groups: Vec::new(),
        }
    }

    /// Replace the contents with `rows` (each `rank` values), reusing the buffer.
    /// Panics if a row has another length.
    pub fn fill<'a>(&mut self, rows: impl IntoIterator<Item = &'a [f32]>) {
        self.len = 0;
        self.groups.clear();
        for row in rows {
            assert_eq!(row.len(), self.rank, "PackedUsers::fill: row length");
            let (g, r) = (self.len / USER_GROUP, self.len % USER_GROUP);
            if r == 0 {
                self.groups.resize((g + 1) * self.rank * USER_GROUP, 0.0);
            }
            let base = g * self.rank * USER_GROUP + r;
            for (f, &v) in row.iter().enumerate() {
                self.groups[base + f * USER_GROUP] = v;
            }
            self.len += 1;
        }
    }

    /// Number of users.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there are no users.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn group(&self, g: usize) -> &[f32] {
        let size = self.rank * USER_GROUP;
        &self.groups[g * size..(g + 1) * size]
    }
}

/// Score every user of `users` against items `first .. first + count` of `items`:
/// `out[u * stride + (j - first)] = x_u · y_j`. `first` must be a multiple of
/// [`ITEM_PANEL`]; `out` must hold `users.len()` rows of `stride ≥ count` values.
///
/// ```
/// use alsflow_als::scoring::{score_tile, PackedItems, PackedUsers};
///
/// // 2 users and 3 items of rank 2.
/// let items = PackedItems::new(&[1.0, 0.0, 0.0, 1.0, 1.0, 1.0], 2);
/// let mut users = PackedUsers::new(2);
/// users.fill([&[2.0f32, 3.0][..], &[1.0, -1.0][..]]);
/// let mut out = vec![0f32; 2 * 3];
/// score_tile(&users, &items, 0, 3, &mut out, 3);
/// assert_eq!(out, [2.0, 3.0, 5.0, 1.0, -1.0, 0.0]);
/// ```
pub fn score_tile(
    users: &PackedUsers,
    items: &PackedItems,
    first: usize,
    count: usize,
    out: &mut [f32],
    stride: usize,
) {
    score_tile_with(Isa::detect(), users, items, first, count, out, stride)
}

/// The names of the micro-kernels this CPU runs (`portable`, `avx2`, `avx512`), for
/// the benchmark that compares them.
#[doc(hidden)]
pub fn kernels_available() -> Vec<&'static str> {
    Isa::available().into_iter().map(Isa::name).collect()
}

/// [`score_tile`] with the named micro-kernel (one of [`kernels_available`]).
/// Panics on another name.
#[doc(hidden)]
pub fn score_tile_named(
    kernel: &str,
    users: &PackedUsers,
    items: &PackedItems,
    first: usize,
    count: usize,
    out: &mut [f32],
    stride: usize,
) {
    let isa = Isa::available()
        .into_iter()
        .find(|i| i.name() == kernel)
        .unwrap_or_else(|| panic!("no kernel '{kernel}' on this CPU"));
    score_tile_with(isa, users, items, first, count, out, stride)
}

fn score_tile_with(
    isa: Isa,
    users: &PackedUsers,
    items: &PackedItems,
    first: usize,
    count: usize,
    out: &mut [f32],
    stride: usize,
) {
    assert_eq!(users.rank, items.rank, "score_tile: ranks differ");
    assert_eq!(
        first % ITEM_PANEL,
        0,
        "score_tile: first is not a panel start"
    );
    assert!(first + count <= items.len, "score_tile: items out of range");
    assert!(count <= stride, "score_tile: stride shorter than the tile");
    if users.len == 0 || count == 0 {
        return;
    }
    assert!(
        out.len() >= (users.len - 1) * stride + count,
        "score_tile: output too short"
    );
    let rank = items.rank;
    let p0 = first / ITEM_PANEL;
    let p1 = (first + count).div_ceil(ITEM_PANEL);
    for p in p0..p1 {
        let b = items.panel(p);
        let col = p * ITEM_PANEL - first;
        let cols = ITEM_PANEL.min(first + count - p * ITEM_PANEL);
        for g in 0..users.len.div_ceil(USER_GROUP) {
            let rows = USER_GROUP.min(users.len - g * USER_GROUP);
            let c = &mut out[g * USER_GROUP * stride + col..];
            kernels::tile(isa, rank, users.group(g), b, c, stride, rows, cols);
        }
    }
}

/// A bound on |s32 − s64| for one score, where s32 is what [`score_tile`] computes and
/// s64 the f64 sum of the same f32 products in factor order: twice the classical
/// bound γ_(rank+2)·Σ|x_f·y_f| ≤ γ·‖x‖·‖y‖ (u = 2⁻²⁴ for the f32 chain, plus the f64
/// sum's own smaller error). `norm_product` is ‖x‖·‖y‖ (or an upper bound of it).
pub fn score_error_bound(rank: usize, norm_product: f64) -> f64 {
    let u = f64::from(f32::EPSILON) / 2.0;
    2.0 * (rank as f64 + 2.0) * u * norm_product
}

/// x·y summed in f64 in factor order from f32 factors: the reference score of the
/// evaluation protocol (products of two f32 values are exact in f64).
#[inline]
pub fn dot_f64(x: &[f32], y: &[f32]) -> f64 {
    let mut acc = 0.0f64;
    for (&a, &b) in x.iter().zip(y) {
        acc += a as f64 * b as f64;
    }
    acc
}

/// ‖x‖ in f64.
pub fn norm_f64(x: &[f32]) -> f64 {
    dot_f64(x, x).sqrt()
}

#[cfg(test)]
mod tests;
