//! Cleaning the parsed rows: exact duplicate rows dropped and repeated (user, item)
//! pairs merged ([`dedupe`]), users and items with too few interactions filtered
//! out, to a k-core if asked ([`filter_counts`]), and the ids that keep rows
//! renumbered densely in their order ([`compact_ids`]).

use crate::bad_input;
use crate::fields::show;
use crate::params::Duplicates;
use crate::parse::Parsed;
use alsflow_core::StageError;
use rayon::prelude::*;
use std::borrow::Cow;

/// Counts of [`dedupe`].
pub(crate) struct DedupeStats {
    /// Exact duplicate rows dropped.
    pub exact: u64,
    /// Repeated (user, item) pairs merged.
    pub pairs: u64,
    /// Rows folded into the first occurrence of their pair.
    pub rows: u64,
}

/// What one user's pass of [`dedupe`] decides for a row; the passes run in
/// parallel and their edits are applied afterwards, in user order.
enum Edit {
    /// Drop the row.
    Drop(u32),
    /// Give the row (a pair's first occurrence) its merged value and timestamp.
    Set(u32, f32, Option<i64>),
    /// Two rows of a pair disagree and `duplicates = "error"`.
    Conflict(u32, u32),
}

/// Drop exact duplicate rows, then merge repeated (user, item) pairs within each
/// partition into their first occurrence.
pub(crate) fn dedupe(
    p: &mut Parsed,
    policy: Duplicates,
    labels: &[String],
) -> Result<DedupeStats, StageError> {
    let n = p.user.len();
    let nu = p.user_keys.len();
    // Rows grouped by user (counting sort, stable in row order).
    let mut start = vec![0usize; nu + 1];
    for &u in &p.user {
        start[u as usize + 1] += 1;
    }
    for u in 0..nu {
        start[u + 1] += start[u];
    }
    let mut fill = start.clone();
    let mut order = vec![0u32; n];
    for (r, &u) in p.user.iter().enumerate() {
        order[fill[u as usize]] = r as u32;
        fill[u as usize] += 1;
    }
    let (item, value, ts, part) = (&p.item, &p.value, &p.timestamp, &p.partition);
    let per_user: Vec<(Vec<Edit>, u64, u64, u64)> = (0..nu)
        .into_par_iter()
        .map(|u| {
            let mut edits = Vec::new();
            let (mut exact, mut pairs, mut rows) = (0u64, 0u64, 0u64);
            let slice = &order[start[u]..start[u + 1]];
            if slice.len() < 2 {
                return (edits, 0, 0, 0);
            }
            let mut rs = slice.to_vec();
            let key = |r: u32| {
                (
                    item[r as usize],
                    part.as_ref().map_or(0, |pp| pp[r as usize]),
                    r,
                )
            };
            rs.sort_unstable_by_key(|&r| key(r));
            let mut g = 0;
            let mut kept: Vec<u32> = Vec::new();
            while g < rs.len() {
                let (gi, gp, _) = key(rs[g]);
                let mut e = g + 1;
                while e < rs.len() && key(rs[e]).0 == gi && key(rs[e]).1 == gp {
                    e += 1;
                }
                if e - g > 1 {
                    kept.clear();
                    for &r in &rs[g..e] {
                        if kept
                            .iter()
                            .any(|&k| value[k as usize].to_bits() == value[r as usize].to_bits())
                        {
                            exact += 1;
                            edits.push(Edit::Drop(r));
                        } else {
                            kept.push(r);
                        }
                    }
                    if kept.len() > 1 {
                        pairs += 1;
                        rows += kept.len() as u64 - 1;
                        let vals = kept.iter().map(|&k| value[k as usize]);
                        let merged = match policy {
                            Duplicates::Sum => vals.map(f64::from).sum::<f64>() as f32,
                            Duplicates::Max => vals.fold(f32::NEG_INFINITY, f32::max),
                            Duplicates::Last => value[kept[kept.len() - 1] as usize],
                            Duplicates::Error => {
                                edits.push(Edit::Conflict(kept[0], kept[1]));
                                0.0
                            }
                        };
                        let t = ts
                            .as_ref()
                            .map(|t| kept.iter().map(|&k| t[k as usize]).max().unwrap_or(0));
                        edits.push(Edit::Set(kept[0], merged, t));
                        edits.extend(kept[1..].iter().map(|&k| Edit::Drop(k)));
                    }
                }
                g = e;
            }
            (edits, exact, pairs, rows)
        })
        .collect();
    let mut stats = DedupeStats {
        exact: 0,
        pairs: 0,
        rows: 0,
    };
    let mut keep = vec![true; n];
    let mut conflict: Option<(u32, u32)> = None;
    for (edits, e, pa, ro) in per_user {
        stats.exact += e;
        stats.pairs += pa;
        stats.rows += ro;
        for ed in edits {
            match ed {
                Edit::Drop(r) => keep[r as usize] = false,
                Edit::Set(r, v, t) => {
                    p.value[r as usize] = v;
                    if let (Some(ts), Some(t)) = (p.timestamp.as_mut(), t) {
                        ts[r as usize] = t;
                    }
                }
                Edit::Conflict(a, b) => {
                    if conflict.is_none_or(|(_, cb)| b < cb) {
                        conflict = Some((a, b));
                    }
                }
            }
        }
    }
    if let Some((a, b)) = conflict {
        let (a, b) = (a as usize, b as usize);
        let file = |r: usize| -> &str {
            let i = p.partition.as_ref().map_or(0, |pp| pp[r] as usize);
            labels.get(i).map(String::as_str).unwrap_or("input")
        };
        return Err(bad_input(
            file(b),
            Some(p.line[b] as u64),
            format!(
                "user {} and item {} repeat line {} with another value, and duplicates = \"error\" (use sum, max or last to merge)",
                show(&p.user_keys[p.user[b] as usize]),
                show(&p.item_keys[p.item[b] as usize]),
                p.line[a]
            ),
        ));
    }
    if keep.iter().any(|k| !k) {
        retain_rows(p, &keep);
    }
    Ok(stats)
}

fn retain_rows(p: &mut Parsed, keep: &[bool]) {
    fn f<T: Copy>(v: &mut Vec<T>, keep: &[bool]) {
        let mut i = 0;
        v.retain(|_| {
            i += 1;
            keep[i - 1]
        });
    }
    f(&mut p.user, keep);
    f(&mut p.item, keep);
    f(&mut p.value, keep);
    f(&mut p.line, keep);
    if let Some(t) = p.timestamp.as_mut() {
        f(t, keep);
    }
    if let Some(t) = p.partition.as_mut() {
        f(t, keep);
    }
}

/// Drop users/items with too few interactions (repeated to a fixed point for a k-core).
pub(crate) fn filter_counts(p: &mut Parsed, min_user: u32, min_item: u32, k_core: bool) -> u64 {
    let before = p.user.len() as u64;
    loop {
        let mut cu = vec![0u32; p.user_keys.len()];
        let mut ci = vec![0u32; p.item_keys.len()];
        for (&u, &i) in p.user.iter().zip(&p.item) {
            cu[u as usize] += 1;
            ci[i as usize] += 1;
        }
        let keep: Vec<bool> = p
            .user
            .iter()
            .zip(&p.item)
            .map(|(&u, &i)| cu[u as usize] >= min_user && ci[i as usize] >= min_item)
            .collect();
        if keep.iter().all(|&k| k) {
            break;
        }
        retain_rows(p, &keep);
        if !k_core {
            break;
        }
    }
    before - p.user.len() as u64
}

/// Renumber users and items that still have rows, keeping their order.
pub(crate) fn compact_ids(p: &mut Parsed) {
    fn compact(ids: &mut [u32], keys: &mut Vec<Cow<'_, [u8]>>) {
        let mut used = vec![false; keys.len()];
        for &i in ids.iter() {
            used[i as usize] = true;
        }
        if used.iter().all(|&u| u) {
            return;
        }
        let mut map = vec![u32::MAX; keys.len()];
        let mut next = 0u32;
        for (i, &u) in used.iter().enumerate() {
            if u {
                map[i] = next;
                next += 1;
            }
        }
        for i in ids.iter_mut() {
            *i = map[*i as usize];
        }
        let mut k = 0;
        keys.retain(|_| {
            k += 1;
            used[k - 1]
        });
    }
    compact(&mut p.user, &mut p.user_keys);
    compact(&mut p.item, &mut p.item_keys);
}
