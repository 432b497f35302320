//! A seeded generator of implicit-feedback data with planted low-rank structure.
//!
//! Each item belongs to one of `rank` taste groups and has a Zipf popularity
//! (`popularity_skew`, ~0.9 like MovieLens); each user prefers one group. A user's
//! interactions are drawn, without repeats, 80% from their group (by popularity)
//! and 20% from the whole catalogue (by popularity), so a rank-`rank` model
//! recovers most of the structure. User activity is 20 plus a log-normal tail
//! (like ML-20M), scaled to the requested total. Users are generated in parallel,
//! each from its own seeded stream, so the output does not depend on the thread count.
//!
//! Raw ids are `1..=users` and `1..=items` (see [`id_maps`]).

use crate::params::{SyntheticParams, SyntheticValues};
use alsflow_core::table::{IdMap, Interactions};
use alsflow_core::StageError;
use rayon::prelude::*;
use std::io::Write;
use std::path::Path;

/// Share of a user's interactions drawn from their own taste group.
const IN_GROUP: f64 = 0.8;
/// Minimum activity per user (when the total allows it), as in MovieLens.
const MIN_ACTIVITY: u64 = 20;

pub use alsflow_core::rng::{splitmix64, Xoshiro256};

/// Check the settings before generating.
pub fn validate(p: &SyntheticParams) -> Result<(), StageError> {
    let bad = |f: &str, m: String| StageError::BadParam {
        param: format!("synthetic.{f}"),
        message: m,
    };
    if p.users == 0 {
        return Err(bad("users", "must be at least 1".into()));
    }
    if p.items < 2 {
        return Err(bad("items", "must be at least 2".into()));
    }
    if p.rank == 0 || p.rank > p.items {
        return Err(bad(
            "rank",
            format!("must be between 1 and items ({})", p.items),
        ));
    }
    if !(p.popularity_skew.is_finite() && p.popularity_skew >= 0.0) {
        return Err(bad("popularity_skew", "must be a finite number ≥ 0".into()));
    }
    let cap = p.users as u64 * (p.items as u64 / 2);
    if p.interactions == 0 || p.interactions > cap {
        return Err(bad(
            "interactions",
            format!("must be between 1 and users × items / 2 = {cap} (each user at most half the items)"),
        ));
    }
    Ok(())
}

/// Raw-id maps of generated data: user `u` is `u+1`, item `i` is `i+1`.
pub fn id_maps(p: &SyntheticParams) -> (IdMap, IdMap) {
    let ids = |n: u32| IdMap {
        raw_ids: (1..=n).map(|i| i.to_string()).collect(),
        titles: None,
    };
    (ids(p.users), ids(p.items))
}

/// A cumulative distribution over a list of items.
struct Cdf {
    items: Vec<u32>,
    cum: Vec<f64>,
}

impl Cdf {
    fn new(items: Vec<u32>, weight: &[f64]) -> Self {
        let mut acc = 0.0;
        let cum = items
            .iter()
            .map(|&i| {
                acc += weight[i as usize];
                acc
            })
            .collect();
        Cdf { items, cum }
    }

    fn sample(&self, rng: &mut Xoshiro256) -> Option<u32> {
        let total = *self.cum.last()?;
        let x = rng.next_f64() * total;
        let k = self
            .cum
            .partition_point(|&c| c <= x)
            .min(self.items.len() - 1);
        Some(self.items[k])
    }
}

/// Per-user activity: `MIN_ACTIVITY` + a log-normal tail, summing to `interactions`,
/// each at most `items / 2`.
fn activities(p: &SyntheticParams) -> Vec<u64> {
    let n = p.users as u64;
    let cap = (p.items as u64 / 2).max(1);
    let base = MIN_ACTIVITY.min(p.interactions / n).min(cap);
    let mut rng = Xoshiro256::new(p.seed, u64::MAX - 1);
    let tail: Vec<f64> = (0..n).map(|_| (1.1 * rng.normal()).exp()).collect();
    let tail_sum: f64 = tail.iter().sum();
    let extra = p.interactions - base * n;
    let mut deg: Vec<u64> = tail
        .iter()
        .map(|t| (base + (extra as f64 * t / tail_sum).floor() as u64).min(cap))
        .collect();
    // Hand out what rounding and the cap left, round-robin over users with room.
    let mut left = p.interactions - deg.iter().sum::<u64>();
    while left > 0 {
        for d in deg.iter_mut() {
            if left == 0 {
                break;
            }
            if *d < cap {
                *d += 1;
                left -= 1;
            }
        }
    }
    deg
}

/// Generate the interactions (rows grouped by user, users in index order).
/// Call [`validate`] first: invalid settings give an empty table.
pub fn generate(p: &SyntheticParams) -> Interactions {
    if validate(p).is_err() {
        return Interactions::with_dims(p.users, p.items);
    }
    let n_items = p.items as usize;
    let rank = p.rank as usize;
    // Popularity: a seeded permutation gives each item its Zipf rank.
    let mut rng = Xoshiro256::new(p.seed, u64::MAX);
    let mut perm: Vec<u32> = (0..p.items).collect();
    for i in (1..n_items).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        perm.swap(i, j);
    }
    let mut weight = vec![0.0; n_items];
    for (pos, &item) in perm.iter().enumerate() {
        weight[item as usize] = (pos as f64 + 1.0).powf(-p.popularity_skew);
    }
    // Groups: item i belongs to group (i * rank / items) of a second permutation, so
    // every group gets a similar mix of popular and rare items.
    let mut gperm: Vec<u32> = (0..p.items).collect();
    for i in (1..n_items).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        gperm.swap(i, j);
    }
    let mut groups: Vec<Vec<u32>> = vec![Vec::new(); rank];
    for (pos, &item) in gperm.iter().enumerate() {
        groups[pos * rank / n_items].push(item);
    }
    let group_of: Vec<u32> = {
        let mut g = vec![0u32; n_items];
        for (k, items) in groups.iter().enumerate() {
            for &i in items {
                g[i as usize] = k as u32;
            }
        }
        g
    };
    let group_cdfs: Vec<Cdf> = groups
        .into_iter()
        .map(|items| Cdf::new(items, &weight))
        .collect();
    let global = Cdf::new((0..p.items).collect(), &weight);
    let deg = activities(p);
    let count_values = p.values == SyntheticValues::Count;
    let words = n_items.div_ceil(64);
    let per_user: Vec<(Vec<u32>, Vec<f32>)> = (0..p.users as usize)
        .into_par_iter()
        .map_init(
            || vec![0u64; words],
            |seen, u| {
                let mut rng = Xoshiro256::new(p.seed, u as u64);
                let g = rng.below(rank as u64) as usize;
                let d = deg[u] as usize;
                let mut items = Vec::with_capacity(d);
                let mut values = Vec::with_capacity(d);
                let mut attempts = 0usize;
                while items.len() < d {
                    attempts += 1;
                    let item = if attempts > 50 * d + 1000 {
                        // Saturated distributions: take any unseen item (terminates
                        // because d ≤ items / 2).
                        rng.below(n_items as u64) as u32
                    } else if rng.next_f64() < IN_GROUP {
                        match group_cdfs[g].sample(&mut rng) {
                            Some(i) => i,
                            None => continue,
                        }
                    } else {
                        match global.sample(&mut rng) {
                            Some(i) => i,
                            None => continue,
                        }
                    };
                    let (w, b) = (item as usize / 64, item as usize % 64);
                    if seen[w] >> b & 1 == 1 {
                        continue;
                    }
                    seen[w] |= 1 << b;
                    items.push(item);
                    values.push(if count_values {
                        // Play counts: heavier inside the user's group.
                        let mean = if group_of[item as usize] as usize == g {
                            4.0
                        } else {
                            0.7
                        };
                        (1.0 + (-(1.0 - rng.next_f64()).ln() * mean).floor()) as f32
                    } else {
                        1.0
                    });
                }
                for &i in &items {
                    seen[i as usize / 64] = 0;
                }
                (items, values)
            },
        )
        .collect();
    let total: usize = per_user.iter().map(|(i, _)| i.len()).sum();
    let mut t = Interactions::with_dims(p.users, p.items);
    t.user.reserve(total);
    t.item.reserve(total);
    t.value.reserve(total);
    for (u, (items, values)) in per_user.into_iter().enumerate() {
        t.user.extend(std::iter::repeat_n(u as u32, items.len()));
        t.item.extend_from_slice(&items);
        t.value.extend_from_slice(&values);
    }
    t
}

/// Write `user_idx \t item_idx \t value` lines (no header) for external tools.
pub fn write_tsv(path: &Path, t: &Interactions) -> std::io::Result<()> {
    let mut w = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(path)?);
    for r in 0..t.len() {
        writeln!(w, "{}\t{}\t{}", t.user[r], t.item[r], t.value[r])?;
    }
    w.flush()
}
