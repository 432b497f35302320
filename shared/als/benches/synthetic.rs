//! ML-20M-shaped synthetic interactions for the benchmarks (seeded, deterministic):
//! heavy-tailed user activity (at least 20 per user, as MovieLens) and Zipf-like item
//! popularity, binary values. Shared by the criterion bench and the full-size example.

use alsflow_core::table::Interactions;

struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// About `target_nnz` interactions over `n_users × n_items` (duplicates are summed
/// by the matrix build, so the stored count is slightly lower).
pub fn ml20m_shaped(n_users: u32, n_items: u32, target_nnz: u64, seed: u64) -> Interactions {
    let mut rng = SplitMix(seed);
    // Item popularity ∝ 1 / (rank + 10)^0.9, a MovieLens-like long tail.
    let mut cdf = Vec::with_capacity(n_items as usize);
    let mut acc = 0f64;
    for i in 0..n_items {
        acc += 1.0 / (i as f64 + 10.0).powf(0.9);
        cdf.push(acc);
    }
    // User activity: 20 + Pareto tail, scaled to the target mean.
    let raw: Vec<f64> = (0..n_users)
        .map(|_| (1.0 - rng.unit()).powf(-1.0 / 1.3) - 1.0)
        .collect();
    // Scale the tail so the capped per-user counts add up to the target.
    let cap = n_items as f64 / 2.0;
    let total = |scale: f64| {
        raw.iter()
            .map(|r| (20.0 + r * scale).round().min(cap))
            .sum::<f64>()
    };
    let (mut lo, mut hi) = (0.0f64, 1.0f64);
    while total(hi) < target_nnz as f64 && hi < 1e12 {
        hi *= 2.0;
    }
    for _ in 0..60 {
        let mid = 0.5 * (lo + hi);
        if total(mid) < target_nnz as f64 {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    let scale = hi;
    let mut t = Interactions::with_dims(n_users, n_items);
    // Distinct items per user (MovieLens has no repeated pairs): rejection against a
    // bitset, with a bounded number of attempts for the heaviest users.
    let mut seen = vec![0u64; (n_items as usize).div_ceil(64)];
    for (u, r) in raw.iter().enumerate() {
        let n = (20.0 + r * scale).round().min(cap) as usize;
        seen.fill(0);
        let (mut got, mut tries) = (0, 0);
        while got < n && tries < 50 * n {
            tries += 1;
            let x = rng.unit() * acc;
            let item = cdf.partition_point(|&c| c < x).min(n_items as usize - 1);
            let (w, b) = (item / 64, 1u64 << (item % 64));
            if seen[w] & b != 0 {
                continue;
            }
            seen[w] |= b;
            got += 1;
            t.user.push(u as u32);
            t.item.push(item as u32);
            t.value.push(1.0);
        }
    }
    t
}
