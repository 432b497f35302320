//! `make bench`: one ALS iteration (user half + item half) on ML-20M-shaped synthetic
//! data at 1/20 scale, CG and Cholesky, 64 factors; top-N for all users; fold-in of a
//! 100-item history at 64 factors.
//! The full-size figures come from `examples/ml20m_shape.rs` (see benches/README.md).

use alsflow_als::{fit, recommend_all, AlsParams, FoldIn, InteractionMatrix, Solver};
use criterion::{criterion_group, criterion_main, Criterion};
use std::hint::black_box;

mod synthetic;

fn bench(c: &mut Criterion) {
    let t = synthetic::ml20m_shaped(6_900, 1_350, 1_000_000, 1);
    let m = InteractionMatrix::from_interactions(&t).expect("synthetic data is valid");
    let mut g = c.benchmark_group("als_iteration_1M_nnz");
    g.sample_size(10);
    for (name, solver) in [("cg_64", Solver::Cg), ("cholesky_64", Solver::Cholesky)] {
        let p = AlsParams {
            rank: 64,
            max_iter: 1,
            solver,
            threads: 2,
            ..AlsParams::default()
        };
        g.bench_function(name, |b| b.iter(|| black_box(fit(&m, &p).expect("fit"))));
    }
    g.finish();
    let model = fit(
        &m,
        &AlsParams {
            rank: 64,
            max_iter: 1,
            threads: 2,
            ..AlsParams::default()
        },
    )
    .expect("fit");
    let mut g = c.benchmark_group("inference");
    g.sample_size(10);
    g.bench_function("recommend_all_top10_64", |b| {
        b.iter(|| black_box(recommend_all(&model, &m, 10, true)))
    });
    let fold_in = FoldIn::from_model(&model).expect("fold-in setup");
    // 100 distinct items spread over the catalogue, values 1..=3.
    let history: Vec<(u32, f32)> = (0..100u32)
        .map(|t| ((t * 13) % m.n_items() as u32, 1.0 + (t % 3) as f32))
        .collect();
    g.bench_function("fold_in_100_items_64", |b| {
        b.iter(|| black_box(fold_in.recalculate_user(&history).expect("fold-in")))
    });
    g.bench_function("fold_in_setup_64", |b| {
        b.iter(|| black_box(FoldIn::from_model(&model).expect("fold-in setup")))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
