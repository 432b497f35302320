//! Behaviour of the public API on small synthetic problems.

use alsflow_als::*;
use alsflow_core::table::Interactions;

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
}

/// Random interactions; users `n_users - 1` and item `n_items - 1` stay empty.
fn random_table(n_users: u32, n_items: u32, per_user: u64, seed: u64) -> Interactions {
    let mut g = Gen(seed);
    let mut t = Interactions::with_dims(n_users, n_items);
    for u in 0..n_users - 1 {
        for _ in 0..1 + g.below(per_user) {
            t.user.push(u);
            t.item.push(g.below(n_items as u64 - 1) as u32);
            t.value.push(1.0 + g.below(4) as f32);
        }
    }
    t
}

fn params(solver: Solver) -> AlsParams {
    AlsParams {
        rank: 6,
        max_iter: 5,
        solver,
        threads: 1,
        ..AlsParams::default()
    }
}

fn hash(m: &AlsModel) -> Vec<u32> {
    m.user_factors
        .iter()
        .chain(&m.item_factors)
        .map(|v| v.to_bits())
        .collect()
}

#[test]
fn factors_are_bit_identical_for_one_and_two_threads() {
    // Enough rows for several parallel tasks per half-iteration.
    let m = InteractionMatrix::from_interactions(&random_table(300, 120, 12, 1)).unwrap();
    for solver in [Solver::Cg, Solver::Cholesky] {
        for nonnegative in [false, true] {
            let p = AlsParams {
                nonnegative,
                compute_loss: true,
                ..params(solver)
            };
            let one = fit(&m, &p).unwrap();
            let two = fit(
                &m,
                &AlsParams {
                    threads: 2,
                    ..p.clone()
                },
            )
            .unwrap();
            assert_eq!(
                hash(&one),
                hash(&two),
                "{solver:?} nonnegative={nonnegative}"
            );
            assert_eq!(one.loss, two.loss);
            let again = fit(&m, &p).unwrap();
            assert_eq!(one, again, "same inputs, same model");
        }
    }
}

#[test]
fn objective_decreases_monotonically_with_cholesky() {
    let m = InteractionMatrix::from_interactions(&random_table(120, 80, 10, 2)).unwrap();
    for reg_scaling in [RegScaling::Plain, RegScaling::PerInteraction] {
        let p = AlsParams {
            max_iter: 10,
            compute_loss: true,
            reg_scaling,
            ..params(Solver::Cholesky)
        };
        let model = fit(&m, &p).unwrap();
        assert_eq!(model.loss.len(), 10);
        for w in model.loss.windows(2) {
            assert!(
                w[1] <= w[0] * (1.0 + 1e-5),
                "{reg_scaling:?}: loss rose: {:?}",
                model.loss
            );
        }
        assert!(model.loss[9] < model.loss[0]);
    }
}

#[test]
fn rows_without_interactions_get_zero_factors_and_nothing_is_nan() {
    let t = random_table(50, 30, 5, 3);
    let m = InteractionMatrix::from_interactions(&t).unwrap();
    for solver in [Solver::Cg, Solver::Cholesky] {
        let model = fit(&m, &params(solver)).unwrap();
        assert!(model.user(49).iter().all(|v| *v == 0.0));
        assert!(model.item(29).iter().all(|v| *v == 0.0));
        assert!(model
            .user_factors
            .iter()
            .chain(&model.item_factors)
            .all(|v| v.is_finite()));
        assert!(model.user(0).iter().any(|v| *v != 0.0));
    }
}

#[test]
fn nonnegative_factors_are_nonnegative() {
    let m = InteractionMatrix::from_interactions(&random_table(60, 40, 8, 4)).unwrap();
    let model = fit(
        &m,
        &AlsParams {
            nonnegative: true,
            ..params(Solver::Cholesky)
        },
    )
    .unwrap();
    assert!(model
        .user_factors
        .iter()
        .chain(&model.item_factors)
        .all(|v| *v >= 0.0));
}

#[test]
fn fit_with_snapshots_equal_shorter_fits() {
    let m = InteractionMatrix::from_interactions(&random_table(80, 50, 8, 5)).unwrap();
    let p = AlsParams {
        max_iter: 4,
        compute_loss: true,
        ..params(Solver::Cg)
    };
    let mut snaps = Vec::new();
    let full = fit_with(&m, &p, &mut |it, model| snaps.push((it, model.clone()))).unwrap();
    assert_eq!(
        snaps.iter().map(|s| s.0).collect::<Vec<_>>(),
        vec![1, 2, 3, 4]
    );
    for (it, snap) in &snaps {
        assert_eq!(
            *snap,
            fit(
                &m,
                &AlsParams {
                    max_iter: *it,
                    ..p.clone()
                }
            )
            .unwrap(),
            "iteration {it}"
        );
    }
    assert_eq!(snaps[3].1, full);
}

#[test]
fn bad_params_name_the_param() {
    let m = InteractionMatrix::from_interactions(&random_table(10, 10, 3, 6)).unwrap();
    let cases = [
        (
            AlsParams {
                rank: 0,
                ..AlsParams::default()
            },
            "rank",
        ),
        (
            AlsParams {
                reg_param: -1.0,
                ..AlsParams::default()
            },
            "reg_param",
        ),
        (
            AlsParams {
                alpha: f32::NAN,
                ..AlsParams::default()
            },
            "alpha",
        ),
        (
            AlsParams {
                cg_steps: 0,
                ..AlsParams::default()
            },
            "cg_steps",
        ),
        (
            AlsParams {
                confidence: Confidence::Log,
                eps: 0.0,
                ..AlsParams::default()
            },
            "eps",
        ),
    ];
    for (p, name) in cases {
        match fit(&m, &p) {
            Err(AlsError::BadParam { param, .. }) => assert_eq!(param, name),
            other => panic!("{name}: {other:?}"),
        }
    }
}

#[test]
fn matrix_sums_duplicates_sorts_and_rejects_bad_rows() {
    let mut t = Interactions::with_dims(2, 4);
    for (u, i, v) in [(1, 3, 1.0), (0, 2, 1.0), (1, 0, 2.0), (1, 3, 0.5)] {
        t.user.push(u);
        t.item.push(i);
        t.value.push(v);
    }
    let m = InteractionMatrix::from_interactions(&t).unwrap();
    assert_eq!((m.n_users(), m.n_items(), m.nnz()), (2, 4, 3));
    assert_eq!(m.user_row(1), (&[0u32, 3][..], &[2.0f32, 1.5][..]));
    assert_eq!(m.item_col(3), (&[1u32][..], &[1.5f32][..]));
    assert_eq!(m.item_col(1).0.len(), 0);
    t.item.push(4);
    t.user.push(0);
    t.value.push(1.0);
    match InteractionMatrix::from_interactions(&t) {
        Err(e @ AlsError::BadInput { row: 4, .. }) => {
            assert!(e.to_string().contains("item index 4"), "{e}")
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn from_triplets_equals_from_interactions_and_names_the_bad_row() {
    let t = random_table(40, 30, 6, 9);
    let from_table = InteractionMatrix::from_interactions(&t).unwrap();
    let from_columns = InteractionMatrix::from_triplets(40, 30, &t.user, &t.item, &t.value);
    assert_eq!(from_columns.unwrap(), from_table);
    let cases = [
        (
            vec![0, 2],
            vec![0, 1],
            vec![1.0, 1.0],
            "interactions row 1: user index 2 is outside 0..2",
        ),
        (
            vec![0, 1, 1],
            vec![0, 1, 2],
            vec![1.0, 1.0, f32::INFINITY],
            "interactions row 2: value inf is not finite",
        ),
        (
            vec![0, 1],
            vec![0],
            vec![1.0, 1.0],
            "interactions row 1: columns differ in length (user 2, item 1, value 2)",
        ),
    ];
    for (users, items, values, message) in cases {
        match InteractionMatrix::from_triplets(2, 3, &users, &items, &values) {
            Err(e @ AlsError::BadInput { .. }) => assert_eq!(e.to_string(), message),
            other => panic!("{message}: {other:?}"),
        }
    }
}

/// Mean percentile rank of held-out items (0 = top, 0.5 = random), brute force.
fn mean_percentile_rank(model: &AlsModel, train: &InteractionMatrix, held: &[(u32, u32)]) -> f64 {
    let mut total = 0.0;
    for &(u, i) in held {
        let s = |j: usize| -> f32 {
            model
                .user(u as usize)
                .iter()
                .zip(model.item(j))
                .map(|(a, b)| a * b)
                .sum()
        };
        let liked = train.user_row(u as usize).0;
        let cands: Vec<usize> = (0..model.n_items)
            .filter(|j| liked.binary_search(&(*j as u32)).is_err())
            .collect();
        let above = cands.iter().filter(|&&j| s(j) > s(i as usize)).count();
        total += above as f64 / (cands.len() - 1) as f64;
    }
    total / held.len() as f64
}

#[test]
fn planted_block_structure_is_recovered() {
    // 4 user groups; each group interacts only with its own quarter of the items.
    let (n_users, n_items, groups) = (120u32, 80u32, 4u32);
    let mut g = Gen(7);
    let mut t = Interactions::with_dims(n_users, n_items);
    let mut held = Vec::new();
    let per = n_items / groups;
    for u in 0..n_users {
        let base = (u % groups) * per;
        let mut items: Vec<u32> = (0..per)
            .filter(|_| g.below(3) == 0)
            .map(|j| base + j)
            .collect();
        if items.len() < 3 {
            items.extend([base, base + 1, base + 2]);
            items.sort();
            items.dedup();
        }
        // Hold out a random one (not always the last: that would starve high items).
        let pick = g.below(items.len() as u64) as usize;
        held.push((u, items.remove(pick)));
        for i in items {
            t.user.push(u);
            t.item.push(i);
            t.value.push(1.0);
        }
    }
    let m = InteractionMatrix::from_interactions(&t).unwrap();
    for solver in [Solver::Cg, Solver::Cholesky] {
        let model = fit(
            &m,
            &AlsParams {
                rank: 8,
                max_iter: 10,
                ..params(solver)
            },
        )
        .unwrap();
        let mpr = mean_percentile_rank(&model, &m, &held);
        eprintln!("{solver:?}: planted mean percentile rank {mpr:.3}");
        assert!(mpr < 0.2, "{solver:?}: mean percentile rank {mpr}");
    }
}

fn tiny_model() -> (AlsModel, InteractionMatrix) {
    let mut t = Interactions::with_dims(2, 5);
    for (u, i) in [(0, 0), (1, 1), (1, 2), (0, 3)] {
        t.user.push(u);
        t.item.push(i);
        t.value.push(1.0);
    }
    let m = InteractionMatrix::from_interactions(&t).unwrap();
    let model = AlsModel {
        params: AlsParams {
            rank: 2,
            ..AlsParams::default()
        },
        n_users: 2,
        n_items: 5,
        rank: 2,
        user_factors: vec![1.0, 0.0, 0.0, 1.0],
        // items 0, 1, 2 tie for user 0; item 4 has no training data.
        item_factors: vec![0.5, 0.0, 0.5, 1.0, 0.5, -1.0, 2.0, 0.0, 9.0, 9.0],
        iterations: 0,
        loss: vec![],
    };
    (model, m)
}

#[test]
fn recommend_orders_ties_by_index_and_filters_liked_and_unknown_items() {
    let (model, m) = tiny_model();
    assert_eq!(
        recommend(&model, &m, 0, 10, false),
        vec![(3, 2.0), (0, 0.5), (1, 0.5), (2, 0.5)]
    );
    assert_eq!(recommend(&model, &m, 0, 2, true), vec![(1, 0.5), (2, 0.5)]);
    assert_eq!(recommend(&model, &m, 1, 1, true), vec![(0, 0.0)]);
    assert!(recommend(&model, &m, 7, 3, true).is_empty());
    let all = recommend_all(&model, &m, 2, true);
    assert_eq!(
        all,
        (0..2)
            .map(|u| recommend(&model, &m, u, 2, true))
            .collect::<Vec<_>>()
    );
}

#[test]
fn recommend_all_agrees_with_recommend_on_a_fitted_model() {
    let m = InteractionMatrix::from_interactions(&random_table(70, 300, 20, 8)).unwrap();
    let model = fit(&m, &params(Solver::Cg)).unwrap();
    let all = recommend_all(&model, &m, 7, true);
    assert_eq!(all.len(), 70);
    for (u, list) in all.iter().enumerate() {
        assert_eq!(*list, recommend(&model, &m, u, 7, true), "user {u}");
    }
}

#[test]
fn similar_items_is_cosine_without_the_item_itself() {
    let (model, _) = tiny_model();
    let sim = similar_items(&model, 0, 2);
    assert_eq!(sim[0], (3, 1.0));
    assert_eq!(sim[1].0, 4);
    assert!((sim[1].1 - std::f32::consts::FRAC_1_SQRT_2).abs() < 1e-6);
    assert!(similar_items(&model, 0, 10).iter().all(|s| s.0 != 0));
}

#[test]
fn score_pairs_and_byte_round_trip() {
    let (model, _) = tiny_model();
    assert_eq!(
        score_pairs(&model, &[(0, 3), (1, 2), (5, 0)]),
        vec![2.0, -1.0, 0.0]
    );
    let bytes = model.to_bytes().unwrap();
    assert_eq!(AlsModel::from_bytes(&bytes).unwrap(), model);
    assert!(AlsModel::from_bytes(&bytes[..bytes.len() - 1]).is_err());
}

#[test]
fn recommend_factors_of_a_trained_users_row_is_recommend() {
    let m = InteractionMatrix::from_interactions(&random_table(50, 200, 15, 10)).unwrap();
    let model = fit(&m, &params(Solver::Cholesky)).unwrap();
    for u in 0..50 {
        let liked = m.user_row(u).0;
        assert_eq!(
            recommend_factors(&model, &m, model.user(u), 6, liked),
            recommend(&model, &m, u, 6, true),
            "user {u}"
        );
    }
    // Excluded items may come in any order and repeat; unknown ones are ignored.
    let (model, m) = tiny_model();
    assert_eq!(
        recommend_factors(&model, &m, &[1.0, 0.0], 10, &[9, 2, 0, 2]),
        vec![(3, 2.0), (1, 0.5)]
    );
}
