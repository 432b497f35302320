//! Brute-force reference (PROTOCOL.md §4 read literally) against the blocked
//! implementation, plus the shared test vectors.

use super::*;
use crate::baselines::rank_random;
use proptest::prelude::*;
use std::path::Path;

/// The obvious O(|C|²) implementation of every metric, straight from the protocol.
fn brute(
    train: &UserItems,
    test: &UserItems,
    x: &[f32],
    y: &[f32],
    rank: usize,
    k: usize,
) -> Metrics {
    let ni = train.n_items() as usize;
    let catalog: Vec<bool> = (0..ni)
        .map(|j| (0..train.n_users()).any(|u| train.row(u).0.contains(&(j as u32))))
        .collect();
    let score = |u: usize, j: usize| -> f64 {
        (0..rank)
            .map(|f| x[u * rank + f] as f64 * y[j * rank + f] as f64)
            .sum()
    };
    let (mut num, mut den, mut p, mut r, mut ap, mut nd, mut auc) =
        (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0);
    let (mut nu, mut na, mut nt_all) = (0u64, 0u64, 0u64);
    let mut covered = std::collections::BTreeSet::new();
    for u in 0..train.n_users() {
        let (te, tv) = test.row(u);
        if te.is_empty() {
            continue;
        }
        let tr = train.row(u).0;
        let cand: Vec<usize> = (0..ni)
            .filter(|&j| catalog[j] && !tr.contains(&(j as u32)))
            .collect();
        let s: Vec<f64> = (0..ni).map(|j| score(u as usize, j)).collect();
        for (&i, &v) in te.iter().zip(tv) {
            let greater = cand.iter().filter(|&&j| s[j] > s[i as usize]).count();
            num += v * if cand.len() > 1 {
                greater as f64 / (cand.len() - 1) as f64
            } else {
                0.0
            };
            den += v;
        }
        let mut ranked = cand.clone();
        ranked.sort_by(|&a, &b| s[b].partial_cmp(&s[a]).unwrap().then(a.cmp(&b)));
        ranked.truncate(k);
        covered.extend(ranked.iter().copied());
        let rel: Vec<f64> = ranked
            .iter()
            .map(|&j| if te.contains(&(j as u32)) { 1.0 } else { 0.0 })
            .collect();
        let h: f64 = rel.iter().sum();
        p += h / k as f64;
        r += h / te.len() as f64;
        let (mut c, mut a) = (0.0, 0.0);
        for (n, &x) in rel.iter().enumerate() {
            if x > 0.0 {
                c += 1.0;
                a += c / (n + 1) as f64;
            }
        }
        ap += a / k.min(te.len()) as f64;
        let dcg: f64 = rel
            .iter()
            .enumerate()
            .map(|(n, &x)| x / ((n + 2) as f64).log2())
            .sum();
        let idcg: f64 = (1..=k.min(te.len()))
            .map(|n| 1.0 / ((n + 1) as f64).log2())
            .sum();
        nd += dcg / idcg;
        let negs: Vec<usize> = cand
            .iter()
            .copied()
            .filter(|&j| !te.contains(&(j as u32)))
            .collect();
        if !negs.is_empty() {
            let mut a = 0.0;
            for &i in te {
                let si = s[i as usize];
                a += negs
                    .iter()
                    .map(|&j| {
                        if si > s[j] {
                            1.0
                        } else if si == s[j] {
                            0.5
                        } else {
                            0.0
                        }
                    })
                    .sum::<f64>()
                    / negs.len() as f64;
            }
            auc += a / te.len() as f64;
            na += 1;
        }
        nu += 1;
        nt_all += te.len() as u64;
    }
    let n_cat = catalog.iter().filter(|&&c| c).count();
    Metrics {
        k,
        roem: num / den,
        precision: p / nu as f64,
        recall: r / nu as f64,
        map: ap / nu as f64,
        ndcg: nd / nu as f64,
        auc: if na == 0 { f64::NAN } else { auc / na as f64 },
        coverage: covered.len() as f64 / n_cat as f64,
        users_evaluated: nu,
        test_interactions: nt_all,
    }
}

fn close(a: f64, b: f64, tol: f64) -> bool {
    (a.is_nan() && b.is_nan()) || (a - b).abs() <= tol
}

fn assert_metrics_close(got: &Metrics, want: &Metrics, tol: f64) {
    assert_eq!(got.users_evaluated, want.users_evaluated);
    assert_eq!(got.test_interactions, want.test_interactions);
    for ((name, g), (_, w)) in got.named().into_iter().zip(want.named()) {
        assert!(close(g, w, tol), "{name}: got {g}, want {w}");
    }
}

/// A random case: interactions split into train/test, factors on a coarse grid
/// (multiples of 0.5 in [-1, 1]) so score ties are frequent.
fn case() -> impl Strategy<Value = (UserItems, UserItems, Vec<f32>, Vec<f32>, usize, usize)> {
    (1u32..7, 1u32..12, 1usize..4, 1usize..5).prop_flat_map(|(nu, ni, rank, k)| {
        let cells = (nu * ni) as usize;
        (
            proptest::collection::vec(0u8..4, cells),
            proptest::collection::vec(-2i8..=2, nu as usize * rank),
            proptest::collection::vec(-2i8..=2, ni as usize * rank),
            1u8..4,
        )
            .prop_map(move |(cell, xu, yi, w)| {
                // cell: 0 = none, 1 = train, 2 = train, 3 = test (test needs a catalog item: fixed below).
                let (mut tu, mut ti, mut tv) = (vec![], vec![], vec![]);
                let (mut su, mut si, mut sv) = (vec![], vec![], vec![]);
                let mut in_train = vec![false; ni as usize];
                for u in 0..nu {
                    for i in 0..ni {
                        if matches!(cell[(u * ni + i) as usize], 1 | 2) {
                            tu.push(u);
                            ti.push(i);
                            tv.push(1.0);
                            in_train[i as usize] = true;
                        }
                    }
                }
                for u in 0..nu {
                    for i in 0..ni {
                        if cell[(u * ni + i) as usize] == 3 && in_train[i as usize] {
                            su.push(u);
                            si.push(i);
                            sv.push((1 + (u + i) % w as u32) as f32);
                        }
                    }
                }
                let train = UserItems::from_triples("train", nu, ni, &tu, &ti, &tv).unwrap();
                let test = UserItems::from_triples("test", nu, ni, &su, &si, &sv).unwrap();
                let x = xu.iter().map(|&v| v as f32 * 0.5).collect();
                let y = yi.iter().map(|&v| v as f32 * 0.5).collect();
                (train, test, x, y, rank, k)
            })
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]
    #[test]
    fn blocked_metrics_equal_brute_force((train, test, x, y, rank, k) in case()) {
        prop_assume!(test.nnz() > 0);
        let set = EvalSet::new(train.clone(), test.clone()).unwrap();
        let got = evaluate_factors(&set, &x, &y, rank, k).unwrap();
        let want = brute(&train, &test, &x, &y, rank, k);
        assert_metrics_close(&got, &want, 1e-12);
    }
}

#[test]
fn results_do_not_depend_on_thread_count() {
    // 300 users span several blocks.
    let (nu, ni, rank) = (300u32, 40u32, 3usize);
    let (mut tu, mut ti, mut su, mut si) = (vec![], vec![], vec![], vec![]);
    for u in 0..nu {
        for i in 0..ni {
            match (u * 7 + i * 13) % 9 {
                0 | 1 => {
                    tu.push(u);
                    ti.push(i);
                }
                2 => {
                    su.push(u);
                    si.push(i);
                }
                _ => {}
            }
        }
    }
    let tv = vec![1.0; tu.len()];
    let sv = vec![1.0; su.len()];
    let train = UserItems::from_triples("train", nu, ni, &tu, &ti, &tv).unwrap();
    let test = UserItems::from_triples("test", nu, ni, &su, &si, &sv).unwrap();
    let set = EvalSet::new(train, test).unwrap();
    let x: Vec<f32> = (0..nu as usize * rank)
        .map(|v| ((v * 37 % 11) as f32 - 5.0) / 3.0)
        .collect();
    let y: Vec<f32> = (0..ni as usize * rank)
        .map(|v| ((v * 17 % 13) as f32 - 6.0) / 7.0)
        .collect();
    let one = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    let four = rayon::ThreadPoolBuilder::new()
        .num_threads(4)
        .build()
        .unwrap();
    let a = one.install(|| evaluate_factors(&set, &x, &y, rank, 10).unwrap());
    let b = four.install(|| evaluate_factors(&set, &x, &y, rank, 10).unwrap());
    assert_eq!(format!("{a:?}"), format!("{b:?}"));
}

#[test]
fn a_test_item_the_user_trained_on_is_an_error() {
    let train = UserItems::from_triples("train", 1, 3, &[0, 0], &[0, 1], &[1.0, 1.0]).unwrap();
    let test = UserItems::from_triples("test", 1, 3, &[0], &[1], &[1.0]).unwrap();
    assert_eq!(
        EvalSet::new(train, test).unwrap_err(),
        MetricsError::NotCandidate { user: 0, item: 1 }
    );
    let err = UserItems::from_triples("test", 1, 3, &[0], &[5], &[1.0]).unwrap_err();
    assert!(err.to_string().contains("row 0: item index 5"), "{err}");
}

#[test]
fn metric_lookup_by_name() {
    let m = Metrics {
        k: 10,
        roem: 0.1,
        precision: 0.2,
        recall: 0.3,
        map: 0.4,
        ndcg: 0.5,
        auc: 0.6,
        coverage: 0.7,
        users_evaluated: 1,
        test_interactions: 1,
    };
    assert_eq!(m.get("roem"), Some(0.1));
    assert_eq!(m.get("precision@10"), Some(0.2));
    assert_eq!(m.get("ndcg"), Some(0.5));
    assert_eq!(m.get("precision@5"), None);
    assert_eq!(m.get("bogus"), None);
    assert!(!Metrics::higher_is_better("roem"));
    assert!(Metrics::higher_is_better("auc"));
}

// ---- shared vectors -------------------------------------------------------------

fn read_triples(path: &Path) -> (Vec<u32>, Vec<u32>, Vec<f32>) {
    let text = std::fs::read_to_string(path).unwrap();
    let (mut u, mut i, mut v) = (vec![], vec![], vec![]);
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let p: Vec<&str> = line.split('\t').collect();
        u.push(p[0].parse().unwrap());
        i.push(p[1].parse().unwrap());
        v.push(p[2].parse().unwrap());
    }
    (u, i, v)
}

/// `idx<TAB>f1<TAB>f2...`; missing rows are zero vectors.
fn read_factors(path: &Path, n: usize) -> (Vec<f32>, usize) {
    let text = std::fs::read_to_string(path).unwrap();
    let rows: Vec<Vec<&str>> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.split('\t').collect())
        .collect();
    let rank = rows[0].len() - 1;
    let mut out = vec![0.0f32; n * rank];
    for r in rows {
        let idx: usize = r[0].parse().unwrap();
        for f in 0..rank {
            // Factors were written from float32 values; parse via f64 then narrow exactly.
            out[idx * rank + f] = r[f + 1].parse::<f64>().unwrap() as f32;
        }
    }
    (out, rank)
}

fn check_vector(dir: &Path, split: &Path, n_users: u32, n_items: u32) {
    let expected: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("expected.json")).unwrap()).unwrap();
    let k = expected["k"].as_u64().unwrap() as usize;
    let (a, b, c) = read_triples(&split.join("train.tsv"));
    let train = UserItems::from_triples("train", n_users, n_items, &a, &b, &c).unwrap();
    let (a, b, c) = read_triples(&split.join("test.tsv"));
    let test = UserItems::from_triples("test", n_users, n_items, &a, &b, &c).unwrap();
    let (x, rank) = read_factors(&dir.join("user_factors.tsv"), n_users as usize);
    let (y, _) = read_factors(&dir.join("item_factors.tsv"), n_items as usize);
    let set = EvalSet::new(train, test).unwrap();
    let m = evaluate_factors(&set, &x, &y, rank, k).unwrap();
    let exp = &expected["expected"];
    assert_eq!(m.users_evaluated, exp["n_users_eval"].as_u64().unwrap());
    assert_eq!(
        m.test_interactions,
        exp["n_test_interactions_eval"].as_u64().unwrap()
    );
    for (name, got) in m.named() {
        if let Some(want) = exp[&name].as_f64() {
            assert!(
                (got - want).abs() <= 1e-6,
                "{}: {name} = {got}, expected {want}",
                dir.display()
            );
        } else {
            assert!(name.starts_with("coverage"), "expected.json lacks {name}");
        }
    }
}

#[test]
fn tiny_ties_vector_reproduces() {
    let Some(bench) = alsflow_core::test_support::shared_bench() else {
        eprintln!("SKIP tiny_ties_vector_reproduces: ../shared/bench is not present");
        return;
    };
    let dir = bench.join("vectors/tiny-ties");
    check_vector(&dir, &dir, 3, 6);
}

#[test]
fn ml_100k_rank10_vector_reproduces() {
    let Some(data) =
        alsflow_core::test_support::shared_data_or_skip("ml_100k_rank10_vector_reproduces")
    else {
        return;
    };
    let Some(bench) = alsflow_core::test_support::shared_bench() else {
        return;
    };
    let split = data.join("splits/ml-100k");
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(split.join("meta.json")).unwrap()).unwrap();
    let nu = meta["n_users"].as_u64().unwrap() as u32;
    let ni = meta["n_items"].as_u64().unwrap() as u32;
    check_vector(&bench.join("vectors/ml-100k-rank10"), &split, nu, ni);
}

#[test]
fn users_with_many_test_items_match_brute_force() {
    // Hundreds of test items per user (many groups, a large bucket table); coarse
    // factors make ties common.
    let (nu, ni, rank) = (5u32, 400u32, 2usize);
    let (mut tu, mut ti, mut su, mut si, mut sv) = (vec![], vec![], vec![], vec![], vec![]);
    for u in 0..nu {
        for i in 0..ni {
            if (u + i) % 4 == 0 || i < 3 {
                tu.push(u);
                ti.push(i);
            } else if (u * 3 + i) % 3 != 0 {
                su.push(u);
                si.push(i);
                sv.push(1.0 + (i % 3) as f32);
            }
        }
    }
    let tv = vec![1.0; tu.len()];
    let train = UserItems::from_triples("train", nu, ni, &tu, &ti, &tv).unwrap();
    let test = UserItems::from_triples("test", nu, ni, &su, &si, &sv).unwrap();
    let x: Vec<f32> = (0..nu as usize * rank)
        .map(|v| ((v * 5 % 7) as f32 - 3.0) * 0.5)
        .collect();
    let y: Vec<f32> = (0..ni as usize * rank)
        .map(|v| ((v * 3 % 5) as f32 - 2.0) * 0.5)
        .collect();
    let set = EvalSet::new(train.clone(), test.clone()).unwrap();
    assert!(set
        .evaluated_users()
        .iter()
        .all(|&u| test.row(u).0.len() > 128));
    let got = evaluate_factors(&set, &x, &y, rank, 10).unwrap();
    assert_metrics_close(&got, &brute(&train, &test, &x, &y, rank, 10), 1e-12);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(40))]
    /// Full-precision random factors (the f32 product's rounding is real), with
    /// duplicated item rows so exact f64 ties occur between items whose f32 scores
    /// could differ: the answers must still be the f64 ones.
    #[test]
    fn random_factors_with_tied_items_equal_brute_force(
        nu in 1u32..30, ni in 2u32..120, rank in 1usize..24, seed in 0u64..10_000, k in 1usize..12
    ) {
        let mut rng = alsflow_core::rng::Xoshiro256::new(seed, 3);
        let x: Vec<f32> = (0..nu as usize * rank).map(|_| rng.next_f32() * 2.0 - 0.7).collect();
        let mut y: Vec<f32> = (0..ni as usize * rank).map(|_| rng.next_f32() * 2.0 - 0.7).collect();
        for j in (1..ni as usize).step_by(3) {
            let (a, b) = y.split_at_mut(j * rank);
            b[..rank].copy_from_slice(&a[(j - 1) * rank..j * rank]);
        }
        let (mut tu, mut ti, mut su, mut si, mut sv) = (vec![], vec![], vec![], vec![], vec![]);
        for u in 0..nu {
            for i in 0..ni {
                match rng.below(5) {
                    0 | 1 => { tu.push(u); ti.push(i); }
                    2 => { su.push(u); si.push(i); sv.push(1.0 + rng.below(3) as f32); }
                    _ => {}
                }
            }
        }
        // Every test item needs a training row somewhere: give item i one (user 0)
        // and drop user 0's test rows.
        let mut in_train = vec![false; ni as usize];
        for &i in &ti { in_train[i as usize] = true; }
        let keep: Vec<usize> = (0..su.len()).filter(|&r| in_train[si[r] as usize]).collect();
        let su: Vec<u32> = keep.iter().map(|&r| su[r]).collect();
        let si: Vec<u32> = keep.iter().map(|&r| si[r]).collect();
        let sv: Vec<f32> = keep.iter().map(|&r| sv[r]).collect();
        prop_assume!(!su.is_empty());
        let tv = vec![1.0; tu.len()];
        let train = UserItems::from_triples("train", nu, ni, &tu, &ti, &tv).unwrap();
        let test = UserItems::from_triples("test", nu, ni, &su, &si, &sv).unwrap();
        let set = EvalSet::new(train.clone(), test.clone()).unwrap();
        let got = evaluate_factors(&set, &x, &y, rank, k).unwrap();
        let want = brute(&train, &test, &x, &y, rank, k);
        assert_metrics_close(&got, &want, 1e-12);
    }
}

#[test]
fn a_sample_of_users_is_seeded_and_evaluates_only_them() {
    let (nu, ni) = (200u32, 30u32);
    let (mut tu, mut ti, mut su, mut si) = (vec![], vec![], vec![], vec![]);
    for u in 0..nu {
        for i in 0..ni {
            match (u * 7 + i * 11) % 6 {
                0 | 1 => {
                    tu.push(u);
                    ti.push(i);
                }
                2 => {
                    su.push(u);
                    si.push(i);
                }
                _ => {}
            }
        }
    }
    let tv = vec![1.0; tu.len()];
    let sv = vec![1.0; su.len()];
    let train = UserItems::from_triples("train", nu, ni, &tu, &ti, &tv).unwrap();
    let test = UserItems::from_triples("test", nu, ni, &su, &si, &sv).unwrap();
    let full = EvalSet::new(train, test).unwrap();
    let n_all = full.evaluated_users().len();
    let sample = |n: usize, seed: u64| {
        let mut s = full.clone();
        s.sample_users(n, seed);
        s
    };
    let a = sample(50, 1);
    assert_eq!(a.evaluated_users().len(), 50);
    assert_eq!(a.sampled_from(), Some(n_all));
    assert!(a.evaluated_users().windows(2).all(|w| w[0] < w[1]));
    assert!(a
        .evaluated_users()
        .iter()
        .all(|u| full.evaluated_users().contains(u)));
    assert_eq!(a.evaluated_users(), sample(50, 1).evaluated_users());
    assert_ne!(a.evaluated_users(), sample(50, 2).evaluated_users());
    // A sample as large as the users is the exact evaluation.
    let all = sample(n_all, 1);
    assert_eq!(all.sampled_from(), None);
    assert_eq!(all.evaluated_users(), full.evaluated_users());
    // The metrics are those of the sampled users only.
    let rank = 2;
    let x: Vec<f32> = (0..nu as usize * rank)
        .map(|v| (v % 7) as f32 * 0.25 - 0.5)
        .collect();
    let y: Vec<f32> = (0..ni as usize * rank)
        .map(|v| (v % 5) as f32 * 0.5 - 1.0)
        .collect();
    let m = evaluate_factors(&a, &x, &y, rank, 5).unwrap();
    assert_eq!(m.users_evaluated, 50);
    let n_test: usize = a
        .evaluated_users()
        .iter()
        .map(|&u| a.test().row(u).0.len())
        .sum();
    assert_eq!(m.test_interactions, n_test as u64);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]
    /// Scores shared by every user (popularity-like, with many ties) through the
    /// sorted-catalog path give what the per-user scorer path gives.
    #[test]
    fn fixed_scores_equal_the_scorer_path((train, test, _x, y, rank, k) in case()) {
        prop_assume!(test.nnz() > 0);
        let set = EvalSet::new(train, test).unwrap();
        let ni = set.train().n_items() as usize;
        // A few distinct values (ties), from the item factors' first column.
        let scores: Vec<f64> = (0..ni).map(|j| y[j * rank] as f64).collect();
        let want = evaluate_scorer(&set, k, |_, s| s.copy_from_slice(&scores)).unwrap();
        let got = evaluate_fixed_scores_with_progress(&set, k, &scores, &|_| {}).unwrap();
        assert_metrics_close(&got, &want, 0.0);
        let counts: Vec<f64> = set.train().item_counts().into_iter().map(|c| c as f64).collect();
        let want = evaluate_scorer(&set, k, |_, s| s.copy_from_slice(&counts)).unwrap();
        let got = evaluate_fixed_scores_with_progress(&set, k, &counts, &|_| {}).unwrap();
        assert_metrics_close(&got, &want, 0.0);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]
    /// A random ranking is a ranking: the top k holds min(k, candidates) distinct
    /// candidates (no training item), test items sit where their counts put them,
    /// and the counts add up; the same seed gives the same ranking.
    #[test]
    fn a_random_ranking_is_consistent((train, test, _x, _y, _rank, k) in case(), seed in 0u64..1000) {
        prop_assume!(test.nnz() > 0);
        let set = EvalSet::new(train, test).unwrap();
        for &u in set.evaluated_users() {
            let r = rank_random(&set, u, k, seed);
            let train_pos = train_positions(&set, u);
            let m = (set.catalog_size() - train_pos.len()) as u64;
            prop_assert_eq!(r.n_cand, m);
            prop_assert_eq!(r.top.len() as u64, (k as u64).min(m));
            let mut seen: Vec<u32> = r.top.iter().map(|&(_, p)| p).collect();
            prop_assert!(seen.iter().all(|p| train_pos.binary_search(p).is_err()));
            seen.sort_unstable();
            seen.dedup();
            prop_assert_eq!(seen.len(), r.top.len());
            for (&s, p) in r.test_scores.iter().zip(test_positions(&set, u)) {
                let c = r.counts_of(s);
                prop_assert_eq!(c.less + c.equal + c.greater, m);
                prop_assert_eq!(c.equal, 1);
                // At rank c.greater: in the top list exactly when that rank is < k.
                let at = r.top.iter().position(|&(_, q)| q == p);
                prop_assert_eq!(at, ((c.greater as usize) < r.top.len()).then_some(c.greater as usize));
            }
            let again = rank_random(&set, u, k, seed);
            prop_assert_eq!(&again.top, &r.top);
            prop_assert_eq!(&again.test_scores, &r.test_scores);
        }
    }
}

/// Over many users the random baseline has the metrics of chance: ROEM and AUC near
/// 0.5, precision@k near the share of test items among the candidates.
#[test]
fn the_random_baseline_scores_like_chance() {
    let (nu, ni) = (2000u32, 300u32);
    let mut rng = alsflow_core::rng::Xoshiro256::new(11, 0);
    let (mut tu, mut ti, mut su, mut si) = (vec![], vec![], vec![], vec![]);
    for u in 0..nu {
        for i in 0..ni {
            match rng.below(10) {
                0 => {
                    tu.push(u);
                    ti.push(i);
                }
                1 => {
                    su.push(u);
                    si.push(i);
                }
                _ => {}
            }
        }
    }
    // Every item trained by someone (so test rows are catalog items).
    for i in 0..ni {
        tu.push(nu - 1);
        ti.push(i);
    }
    let keep: Vec<usize> = (0..su.len()).filter(|&r| su[r] != nu - 1).collect();
    let su: Vec<u32> = keep.iter().map(|&r| su[r]).collect();
    let si: Vec<u32> = keep.iter().map(|&r| si[r]).collect();
    let train = UserItems::from_triples("train", nu, ni, &tu, &ti, &vec![1.0; tu.len()]).unwrap();
    let test = UserItems::from_triples("test", nu, ni, &su, &si, &vec![1.0; su.len()]).unwrap();
    let set = EvalSet::new(train, test).unwrap();
    let k = 10;
    let m = evaluate_random_with_progress(&set, k, 3, &|_| {}).unwrap();
    assert!((m.roem - 0.5).abs() < 0.01, "{m:?}");
    assert!((m.auc - 0.5).abs() < 0.01, "{m:?}");
    let share: f64 = set
        .evaluated_users()
        .iter()
        .map(|&u| {
            let t = set.test().row(u).0.len() as f64;
            t / (set.catalog_size() - train_positions(&set, u).len()) as f64
        })
        .sum::<f64>()
        / set.evaluated_users().len() as f64;
    assert!(
        (m.precision - share).abs() < 0.01,
        "{} vs {share}",
        m.precision
    );
    assert_eq!(
        m.coverage, 1.0,
        "2000 users × 10 random slots cover 300 items"
    );
    // Deterministic in the seed, and the seed matters.
    assert_eq!(
        evaluate_random_with_progress(&set, k, 3, &|_| {}).unwrap(),
        m
    );
    assert_ne!(
        evaluate_random_with_progress(&set, k, 4, &|_| {}).unwrap(),
        m
    );
}
