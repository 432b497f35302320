//! Cleaning the parsed rows: exact duplicate rows dropped and repeated (user, item)
//! pairs merged ([`dedupe`]), users and items with too few interactions filtered
//! out, to a k-core if asked ([`filter_counts`]), and the ids that keep rows
//! renumbered densely in their order ([`compact_ids`]).

use crate::bad_input;
use crate::fields::show;
use crate::interner::Interner;
use crate::params::Duplicates;
use crate::parse::Parsed;
use alsflow_core::StageError;
use rayon::prelude::*;

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
    let nu = p.users.len();
    // Rows grouped by user (counting sort, stable in row order).
    let mut start = vec![0usize; nu + 1];
    for &u in &p.user {
        start[u as usize + 1] += 1;
    }
    for u in 0..nu {
        start[u + 1] += start[u];
    }
    // Files grouped by user (both MovieLens and the Taste Profile are) already list
    // each user's rows together, in order: their order is the identity, not stored.
    let grouped = p.user.windows(2).all(|w| w[0] <= w[1]);
    let order: Option<Vec<u32>> = (!grouped).then(|| {
        let mut fill = start.clone();
        let mut order = vec![0u32; n];
        for (r, &u) in p.user.iter().enumerate() {
            order[fill[u as usize]] = r as u32;
            fill[u as usize] += 1;
        }
        order
    });
    let (item, value, ts, part) = (&p.item, &p.value, &p.timestamp, &p.partition);
    let per_user: Vec<(Vec<Edit>, u64, u64, u64)> = (0..nu)
        .into_par_iter()
        .map(|u| {
            let mut edits = Vec::new();
            let (mut exact, mut pairs, mut rows) = (0u64, 0u64, 0u64);
            let span = start[u]..start[u + 1];
            if span.len() < 2 {
                return (edits, 0, 0, 0);
            }
            let mut rs: Vec<u32> = match &order {
                Some(order) => order[span].to_vec(),
                None => span.map(|r| r as u32).collect(),
            };
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
            let mut by_value: Vec<(u32, u32)> = Vec::new();
            while g < rs.len() {
                let (gi, gp, _) = key(rs[g]);
                let mut e = g + 1;
                while e < rs.len() && key(rs[e]).0 == gi && key(rs[e]).1 == gp {
                    e += 1;
                }
                if e - g > 1 {
                    // Exact duplicates: sorted by (value bits, row), the first row of
                    // each run of equal values is kept, in O(g log g) for a group of g.
                    by_value.clear();
                    by_value.extend(rs[g..e].iter().map(|&r| (value[r as usize].to_bits(), r)));
                    by_value.sort_unstable();
                    kept.clear();
                    for (j, &(bits, r)) in by_value.iter().enumerate() {
                        if j > 0 && by_value[j - 1].0 == bits {
                            exact += 1;
                            edits.push(Edit::Drop(r));
                        } else {
                            kept.push(r);
                        }
                    }
                    // Merging below reads the distinct values in row order.
                    kept.sort_unstable();
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
    // Allocated at the first dropped row: most large files have none.
    let mut keep: Vec<bool> = Vec::new();
    let mut conflict: Option<(u32, u32)> = None;
    for (edits, e, pa, ro) in per_user {
        stats.exact += e;
        stats.pairs += pa;
        stats.rows += ro;
        for ed in edits {
            match ed {
                Edit::Drop(r) => {
                    if keep.is_empty() {
                        keep = vec![true; n];
                    }
                    keep[r as usize] = false
                }
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
        // Line numbers are recorded whenever duplicates = "error" (the layout's
        // keep_lines); without them the message still names the pair.
        let line = |r: usize| p.line.get(r).map(|&l| u64::from(l));
        return Err(bad_input(
            file(b),
            line(b),
            format!(
                "user {} and item {} repeat {} with another value, and duplicates = \"error\" (use sum, max or last to merge)",
                show(p.users.get(p.user[b])),
                show(p.items.get(p.item[b])),
                line(a).map_or("an earlier row".to_string(), |l| format!("line {l}"))
            ),
        ));
    }
    if !keep.is_empty() {
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
    if !p.line.is_empty() {
        f(&mut p.line, keep);
    }
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
        let mut cu = vec![0u32; p.users.len()];
        let mut ci = vec![0u32; p.items.len()];
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
    fn compact(ids: &mut [u32], keys: &mut Interner) {
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
        keys.retain(&used);
    }
    compact(&mut p.user, &mut p.users);
    compact(&mut p.item, &mut p.items);
}

#[cfg(test)]
mod tests {
    use super::*;
    use alsflow_core::rng::Xoshiro256;

    /// Rows of (user, item, value) with one user and item id per index.
    fn parsed(rows: &[(u32, u32, f32)]) -> Parsed {
        let mut p = Parsed::default();
        for (r, &(u, i, v)) in rows.iter().enumerate() {
            while p.users.len() <= u as usize {
                p.users.intern(format!("u{}", p.users.len()).as_bytes());
            }
            while p.items.len() <= i as usize {
                p.items.intern(format!("i{}", p.items.len()).as_bytes());
            }
            p.user.push(u);
            p.item.push(i);
            p.value.push(v);
            p.line.push(r as u32 + 1);
        }
        p
    }

    /// The definition, by brute force: a row is an exact duplicate when an earlier row
    /// of its pair has the same value; the other rows of a pair merge into its first.
    fn reference(rows: &[(u32, u32, f32)]) -> (Vec<(u32, u32, f32)>, u64, u64, u64) {
        let (mut exact, mut pairs, mut folded) = (0, 0, 0);
        let mut out = Vec::new();
        let mut seen = std::collections::BTreeSet::new();
        for (r, &(u, i, _)) in rows.iter().enumerate() {
            if !seen.insert((u, i)) {
                continue;
            }
            let mut distinct: Vec<f32> = Vec::new();
            for &(u2, i2, v2) in &rows[r..] {
                if (u2, i2) != (u, i) {
                    continue;
                }
                if distinct.iter().any(|d| d.to_bits() == v2.to_bits()) {
                    exact += 1;
                } else {
                    distinct.push(v2);
                }
            }
            if distinct.len() > 1 {
                pairs += 1;
                folded += distinct.len() as u64 - 1;
            }
            let sum = distinct.iter().map(|&v| f64::from(v)).sum::<f64>() as f32;
            out.push((r, (u, i, sum)));
        }
        out.sort_by_key(|&(r, _)| r);
        (
            out.into_iter().map(|(_, x)| x).collect(),
            exact,
            pairs,
            folded,
        )
    }

    fn rows_of(p: &Parsed) -> Vec<(u32, u32, f32)> {
        (0..p.user.len())
            .map(|r| (p.user[r], p.item[r], p.value[r]))
            .collect()
    }

    #[test]
    fn dedupe_matches_the_definition_on_random_rows() {
        let mut rng = Xoshiro256::new(7, 0);
        for round in 0..100 {
            let n = 1 + rng.below(200) as usize;
            let mut rows: Vec<(u32, u32, f32)> = (0..n)
                .map(|_| {
                    (
                        rng.below(6) as u32,
                        rng.below(5) as u32,
                        rng.below(4) as f32,
                    )
                })
                .collect();
            if round % 2 == 1 {
                // Grouped by user, in first-appearance order: the path that needs no
                // row order of its own.
                let mut first = std::collections::HashMap::new();
                for (r, row) in rows.iter().enumerate() {
                    first.entry(row.0).or_insert(r);
                }
                rows.sort_by_key(|row| first[&row.0]);
                let renumber: std::collections::HashMap<u32, u32> = rows
                    .iter()
                    .map(|row| row.0)
                    .fold(Vec::new(), |mut seen, u| {
                        if !seen.contains(&u) {
                            seen.push(u);
                        }
                        seen
                    })
                    .into_iter()
                    .zip(0..)
                    .collect();
                for row in rows.iter_mut() {
                    row.0 = renumber[&row.0];
                }
            }
            let mut p = parsed(&rows);
            let stats = dedupe(&mut p, Duplicates::Sum, &["f".into()]).unwrap();
            let (want, exact, pairs, folded) = reference(&rows);
            assert_eq!(rows_of(&p), want);
            assert_eq!(
                (stats.exact, stats.pairs, stats.rows),
                (exact, pairs, folded)
            );
        }
    }

    #[test]
    fn a_pair_repeated_a_hundred_thousand_times_is_merged_in_g_log_g() {
        // 100,000 rows of one pair: half repeat earlier values, half are new. A
        // quadratic scan for exact duplicates takes billions of comparisons here.
        let rows: Vec<(u32, u32, f32)> = (0..100_000u32)
            .map(|r| (0, 0, (r % 50_000) as f32))
            .collect();
        let mut p = parsed(&rows);
        let stats = dedupe(&mut p, Duplicates::Max, &["f".into()]).unwrap();
        assert_eq!((stats.exact, stats.pairs, stats.rows), (50_000, 1, 49_999));
        assert_eq!(rows_of(&p), vec![(0, 0, 49_999.0)]);
        let mut p = parsed(&rows);
        dedupe(&mut p, Duplicates::Last, &["f".into()]).unwrap();
        assert_eq!(
            rows_of(&p),
            vec![(0, 0, 49_999.0)],
            "last distinct value in row order"
        );
    }
}
