//! The synthetic generator plants structure that ALS recovers (ROEM well below 0.5).

use alsflow_als::{fit, AlsParams, InteractionMatrix};
use alsflow_metrics::{evaluate_factors, EvalSet, UserItems};
use alsflow_preprocess::{synthetic, SyntheticParams, SyntheticValues};

#[test]
fn als_recovers_the_planted_structure() {
    let sp = SyntheticParams {
        users: 400,
        items: 300,
        interactions: 20_000,
        rank: 6,
        popularity_skew: 0.9,
        values: SyntheticValues::Binary,
        seed: 3,
    };
    let t = synthetic::generate(&sp);
    // Every fifth row is held out; test rows of users/items absent from train are dropped.
    let train = t.filter_rows(|r| r % 5 != 0);
    let mut seen_u = vec![false; 400];
    let mut seen_i = vec![false; 300];
    for (&u, &i) in train.user.iter().zip(&train.item) {
        seen_u[u as usize] = true;
        seen_i[i as usize] = true;
    }
    let test =
        t.filter_rows(|r| r % 5 == 0 && seen_u[t.user[r] as usize] && seen_i[t.item[r] as usize]);
    let params = AlsParams {
        rank: 8,
        max_iter: 8,
        ..Default::default()
    };
    let model = fit(
        &InteractionMatrix::from_interactions(&train).unwrap(),
        &params,
    )
    .unwrap();
    let set = EvalSet::new(
        UserItems::from_triples("train", 400, 300, &train.user, &train.item, &train.value).unwrap(),
        UserItems::from_triples("test", 400, 300, &test.user, &test.item, &test.value).unwrap(),
    )
    .unwrap();
    let m = evaluate_factors(&set, &model.user_factors, &model.item_factors, 8, 10).unwrap();
    // Popularity alone (rank-1 factors: 1 per user, train count per item) as a baseline.
    let mut pop = vec![0f32; 300];
    for &i in &train.item {
        pop[i as usize] += 1.0;
    }
    let base = evaluate_factors(&set, &[1.0; 400], &pop, 1, 10).unwrap();
    eprintln!(
        "synthetic ROEM: ALS {:.4}, popularity {:.4}",
        m.roem, base.roem
    );
    assert!(
        m.roem < 0.25,
        "ROEM {} should be well below 0.5 (random)",
        m.roem
    );
    assert!(
        m.roem < base.roem - 0.03,
        "ALS {} must beat popularity {}: the structure is low-rank, not only popularity",
        m.roem,
        base.roem
    );
}
