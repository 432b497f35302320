//! `FoldIn`: a user's factors from their history against fixed item factors.

use alsflow_als::*;

/// A small deterministic generator for test data (splitmix64).
struct Gen(u64);
impl Gen {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn unit(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 24) as f32
    }
}

/// Random interactions of `n_users` users over `n_items` items, values 1..=4.
fn random_matrix(n_users: u32, n_items: u32, per_user: u64, seed: u64) -> InteractionMatrix {
    let mut g = Gen(seed);
    let (mut users, mut items, mut values) = (Vec::new(), Vec::new(), Vec::new());
    for u in 0..n_users {
        for _ in 0..2 + g.below(per_user) {
            users.push(u);
            items.push(g.below(n_items as u64) as u32);
            values.push(1.0 + g.below(4) as f32);
        }
    }
    InteractionMatrix::from_triplets(n_users as usize, n_items as usize, &users, &items, &values)
        .unwrap()
}

/// The slow, obvious reference in f64: the minimiser of the user's objective
/// Σ_i c_i (p_i − x·y_i)² + λ_u |x|² over every item i, from the dense normal
/// equations, solved by Gaussian elimination with partial pivoting.
fn dense_fold_in(p: &AlsParams, item_factors: &[f32], history: &[(u32, f32)]) -> Vec<f64> {
    let k = p.rank;
    let n_items = item_factors.len() / k;
    // The history as a fit sees it: duplicates summed.
    let mut value = vec![None::<f64>; n_items];
    for &(i, v) in history {
        *value[i as usize].get_or_insert(0.0) += v as f64;
    }
    let (alpha, eps) = (p.alpha as f64, p.eps as f64);
    let mut a = vec![0f64; k * k];
    let mut b = vec![0f64; k];
    for (i, r) in value.iter().enumerate() {
        let y: Vec<f64> = item_factors[i * k..(i + 1) * k]
            .iter()
            .map(|v| *v as f64)
            .collect();
        let (c, pref) = match r {
            None => (1.0, 0.0),
            Some(r) => {
                let c = match p.confidence {
                    Confidence::Linear => 1.0 + alpha * r.abs(),
                    Confidence::Log => 1.0 + alpha * (r.abs() / eps).ln_1p(),
                };
                (c, if *r > 0.0 { 1.0 } else { 0.0 })
            }
        };
        for s in 0..k {
            b[s] += c * pref * y[s];
            for t in 0..k {
                a[s * k + t] += c * y[s] * y[t];
            }
        }
    }
    let n_observed = value.iter().filter(|v| v.is_some()).count();
    let lambda = match p.reg_scaling {
        RegScaling::Plain => p.reg_param as f64,
        RegScaling::PerInteraction => p.reg_param as f64 * n_observed as f64,
    };
    for s in 0..k {
        a[s * k + s] += lambda;
    }
    for c in 0..k {
        let piv = (c..k)
            .max_by(|&i, &j| a[i * k + c].abs().total_cmp(&a[j * k + c].abs()))
            .unwrap();
        for j in 0..k {
            a.swap(c * k + j, piv * k + j);
        }
        b.swap(c, piv);
        for r in c + 1..k {
            let f = a[r * k + c] / a[c * k + c];
            for j in c..k {
                a[r * k + j] -= f * a[c * k + j];
            }
            b[r] -= f * b[c];
        }
    }
    let mut x = vec![0f64; k];
    for r in (0..k).rev() {
        let s: f64 = (r + 1..k).map(|j| a[r * k + j] * x[j]).sum();
        x[r] = (b[r] - s) / a[r * k + r];
    }
    x
}

/// Largest |got − want| relative to max(1, max |want|).
fn max_rel_error(got: &[f32], want: &[f64]) -> f64 {
    let scale = want.iter().fold(1f64, |m, v| m.max(v.abs()));
    got.iter()
        .zip(want)
        .map(|(g, w)| (*g as f64 - w).abs() / scale)
        .fold(0.0, f64::max)
}

#[test]
fn fold_in_is_the_exact_minimiser_of_the_users_objective() {
    let mut g = Gen(11);
    let mut worst = 0f64;
    for (case, rank) in [3usize, 8, 13, 20, 64].into_iter().enumerate() {
        for (confidence, reg_scaling) in [
            (Confidence::Linear, RegScaling::Plain),
            (Confidence::Log, RegScaling::PerInteraction),
        ] {
            let n_items = 200;
            let item_factors: Vec<f32> = (0..n_items * rank).map(|_| g.unit() - 0.5).collect();
            let p = AlsParams {
                rank,
                reg_param: 0.5,
                alpha: 5.0,
                confidence,
                eps: 0.5,
                reg_scaling,
                ..AlsParams::default()
            };
            // Duplicates (item 7), a zero and a negative value (confident zeros).
            let mut history: Vec<(u32, f32)> = vec![(7, 1.0), (3, 0.0), (12, -2.0), (7, 2.5)];
            for _ in 0..10 + case * 5 {
                history.push((g.below(n_items as u64) as u32, 1.0 + 3.0 * g.unit()));
            }
            let got = FoldIn::new(&p, &item_factors)
                .unwrap()
                .recalculate_user(&history)
                .unwrap();
            let want = dense_fold_in(&p, &item_factors, &history);
            let err = max_rel_error(&got, &want);
            worst = worst.max(err);
            assert!(
                err <= 1e-5,
                "rank {rank} {confidence:?} {reg_scaling:?}: error {err:e}\ngot  {got:?}\nwant {want:?}"
            );
        }
    }
    eprintln!("largest relative error against the f64 reference: {worst:e}");
}

/// The model after iteration `it` of a fit, and the one after `it + 1`.
fn consecutive_snapshots(m: &InteractionMatrix, p: &AlsParams, it: usize) -> (AlsModel, AlsModel) {
    let mut snaps = Vec::new();
    fit_with(
        m,
        &AlsParams {
            max_iter: it + 1,
            ..p.clone()
        },
        &mut |_, model| snaps.push(model.clone()),
    )
    .unwrap();
    let next = snaps.pop().unwrap();
    (snaps.pop().unwrap(), next)
}

#[test]
fn fold_in_is_bit_for_bit_the_fits_cholesky_user_half_step() {
    let m = random_matrix(90, 50, 10, 3);
    for (nonnegative, reg_scaling) in [
        (false, RegScaling::Plain),
        (true, RegScaling::PerInteraction),
    ] {
        let p = AlsParams {
            rank: 12,
            solver: Solver::Cholesky,
            nonnegative,
            reg_scaling,
            threads: 2,
            ..AlsParams::default()
        };
        // Iteration 4's user half-step solves against iteration 3's item factors.
        let (before, after) = consecutive_snapshots(&m, &p, 3);
        let fold_in = FoldIn::from_model(&before).unwrap();
        for u in 0..m.n_users() {
            let (items, values) = m.user_row(u);
            let history: Vec<(u32, f32)> =
                items.iter().copied().zip(values.iter().copied()).collect();
            let row = fold_in.recalculate_user(&history).unwrap();
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(
                bits(&row),
                bits(after.user(u)),
                "user {u}, nonnegative {nonnegative}"
            );
        }
    }
}

#[test]
fn folding_in_a_trained_users_history_gives_their_trained_row_on_a_converged_fit() {
    let m = random_matrix(120, 70, 12, 4);
    // Implicit ALS converges slowly at large alpha; with alpha 1, 300 iterations
    // bring the user rows to a fixed point within a few 1e-5.
    let p = AlsParams {
        rank: 8,
        max_iter: 300,
        reg_param: 1.0,
        alpha: 1.0,
        solver: Solver::Cholesky,
        threads: 2,
        ..AlsParams::default()
    };
    let model = fit(&m, &p).unwrap();
    let fold_in = FoldIn::from_model(&model).unwrap();
    let mut worst = 0f64;
    for u in 0..m.n_users() {
        let (items, values) = m.user_row(u);
        // In reverse order, to show the order of the history does not matter.
        let history: Vec<(u32, f32)> = items
            .iter()
            .copied()
            .zip(values.iter().copied())
            .rev()
            .collect();
        let row = fold_in.recalculate_user(&history).unwrap();
        let trained: Vec<f64> = model.user(u).iter().map(|v| *v as f64).collect();
        let err = max_rel_error(&row, &trained);
        worst = worst.max(err);
        assert!(
            err <= 1e-4,
            "user {u}: error {err:e}\nfold-in {row:?}\ntrained {trained:?}"
        );
    }
    eprintln!("largest relative difference from the trained rows: {worst:e}");
}

#[test]
fn bad_histories_are_typed_errors_naming_the_entry() {
    let p = AlsParams {
        rank: 2,
        alpha: 40.0,
        ..AlsParams::default()
    };
    let fold_in = FoldIn::new(&p, &[0.1, 0.2, 0.3, 0.4, 0.5, 0.6]).unwrap();
    assert_eq!(fold_in.n_items(), 3);
    assert_eq!(
        fold_in.recalculate_user(&[]),
        Err(FoldInError::EmptyHistory)
    );
    assert_eq!(
        fold_in.recalculate_user(&[(0, 1.0), (3, 1.0)]),
        Err(FoldInError::ItemOutOfRange {
            position: 1,
            item: 3,
            n_items: 3
        })
    );
    // With alpha 0.5, 3e38 has a finite confidence but the sum of two does not.
    let small_alpha = FoldIn::new(
        &AlsParams {
            alpha: 0.5,
            ..p.clone()
        },
        &[0.1, 0.2, 0.3, 0.4, 0.5, 0.6],
    )
    .unwrap();
    for (fold_in, history, position, item) in [
        (&fold_in, vec![(1, f32::NAN)], 0, 1),
        (&fold_in, vec![(0, 1.0), (2, f32::NEG_INFINITY)], 1, 2),
        // 40 · 1e38 overflows the confidence.
        (&fold_in, vec![(2, 1e38)], 0, 2),
        (&small_alpha, vec![(1, 3e38), (0, 1.0), (1, 3e38)], 2, 1),
    ] {
        let e = fold_in.recalculate_user(&history).unwrap_err();
        assert!(
            matches!(e, FoldInError::InvalidValue { position: p, item: i, .. } if (p, i) == (position, item)),
            "{history:?}: {e:?}"
        );
        let named = format!("history entry {position} (item {item}): value ");
        assert!(e.to_string().starts_with(&named), "{e}");
    }
    // Negative values are confident zeros, as in a fit.
    assert!(fold_in.recalculate_user(&[(0, -1.0), (1, 2.0)]).is_ok());
}

#[test]
fn a_singular_system_is_a_numerical_error_not_nan() {
    // λ = 0 and item factors of rank 1: YᵀY + Σ (c−1)·y·yᵀ is singular in rank 2.
    let p = AlsParams {
        rank: 2,
        reg_param: 0.0,
        ..AlsParams::default()
    };
    let fold_in = FoldIn::new(&p, &[1.0, 0.0, 2.0, 0.0]).unwrap();
    match fold_in.recalculate_user(&[(0, 1.0)]) {
        Err(e @ FoldInError::Numerical(_)) => assert!(e.to_string().contains("reg_param"), "{e}"),
        other => panic!("expected a numerical error, got {other:?}"),
    }
}

#[test]
fn setup_errors_name_the_problem() {
    let p = AlsParams {
        rank: 4,
        ..AlsParams::default()
    };
    match FoldIn::new(&p, &[0.0; 10]) {
        Err(
            e @ AlsError::FactorShape {
                len: 10, rank: 4, ..
            },
        ) => {
            assert_eq!(
                e.to_string(),
                "item factors: 10 values are not a whole number of rows of rank 4"
            )
        }
        other => panic!("{other:?}"),
    }
    let bad = AlsParams {
        reg_param: -1.0,
        ..p
    };
    assert!(matches!(
        FoldIn::new(&bad, &[0.0; 8]),
        Err(AlsError::BadParam {
            param: "reg_param",
            ..
        })
    ));
}

#[test]
fn one_fold_in_serves_many_threads_at_once() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<FoldIn>();
    let m = random_matrix(60, 40, 8, 5);
    let model = fit(
        &m,
        &AlsParams {
            rank: 16,
            threads: 1,
            ..AlsParams::default()
        },
    )
    .unwrap();
    let fold_in = FoldIn::from_model(&model).unwrap();
    let history = |u: usize| -> Vec<(u32, f32)> {
        let (i, v) = m.user_row(u);
        i.iter().copied().zip(v.iter().copied()).collect()
    };
    let alone: Vec<Vec<f32>> = (0..m.n_users())
        .map(|u| fold_in.recalculate_user(&history(u)).unwrap())
        .collect();
    let together: Vec<Vec<Vec<f32>>> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..4)
            .map(|_| {
                s.spawn(|| {
                    (0..m.n_users())
                        .map(|u| fold_in.recalculate_user(&history(u)).unwrap())
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).collect()
    });
    for rows in together {
        assert_eq!(rows, alone);
    }
}
