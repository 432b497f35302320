//! The per-row dense kernels of a fit, hand-written (what alsflow uses) against
//! nalgebra and faer on the same data: `cargo bench -p alsflow-als --features
//! compare-dense --bench dense_kernels` (part of `make bench`). Also the interaction
//! matrix build against nalgebra-sparse. Figures and the choice: benches/README.md.
//!
//! - `build`: A = G + Σ_t (c_t−1)·y_t·y_tᵀ over n = 144 gathered rows (the Cholesky
//!   solver's per-row work; hand-written and faer fill the lower triangle only,
//!   nalgebra's `gemm_tr` the whole matrix).
//! - `cholesky`: factor the k × k system and solve one right-hand side.
//! - `cg_product`: A·v = G·v + Yᵀ·(c−1 ∘ Y·v) over the same 144 rows (one CG step's
//!   matrix-free product).

use alsflow_als::dense_bench as ours;
use alsflow_als::InteractionMatrix;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use faer::linalg::matmul::triangular::BlockStructure;
use faer::linalg::solvers::Solve;
use faer::{Accum, Par};
use std::hint::black_box;

mod synthetic;

const N: usize = 144;

/// Deterministic values in [-0.5, 0.5).
fn fill(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 40) as f32 / (1u64 << 24) as f32 - 0.5
        })
        .collect()
}

struct Case {
    /// Row-major n × k gathered factor rows and the (c−1)-weighted copy.
    y: Vec<f32>,
    w: Vec<f32>,
    cm1: Vec<f32>,
    /// Gram + λI (k × k, symmetric positive definite).
    g: Vec<f32>,
    v: Vec<f32>,
}

fn case(k: usize) -> Case {
    let y = fill(N * k, 1);
    let cm1: Vec<f32> = fill(N, 2).iter().map(|c| 40.0 * (c + 0.5)).collect();
    let w: Vec<f32> = y
        .chunks_exact(k)
        .zip(&cm1)
        .flat_map(|(r, c)| r.iter().map(move |v| v * c))
        .collect();
    let other = fill(4 * k * k, 3);
    let mut g = vec![0f32; k * k];
    for r in other.chunks_exact(k) {
        for i in 0..k {
            for j in 0..k {
                g[i * k + j] += r[i] * r[j];
            }
        }
    }
    for i in 0..k {
        g[i * k + i] += 0.1;
    }
    Case {
        y,
        w,
        cm1,
        g,
        v: fill(k, 4),
    }
}

fn bench(c: &mut Criterion) {
    for k in [32usize, 64, 128] {
        assert_eq!(ours::padded(k), k);
        let cs = case(k);
        let y_na = nalgebra::DMatrix::from_row_slice(N, k, &cs.y);
        let w_na = nalgebra::DMatrix::from_row_slice(N, k, &cs.w);
        let g_na = nalgebra::DMatrix::from_row_slice(k, k, &cs.g);
        let v_na = nalgebra::DVector::from_column_slice(&cs.v);
        let cm1_na = nalgebra::DVector::from_column_slice(&cs.cm1);
        let y_fa = faer::Mat::<f32>::from_fn(N, k, |i, j| cs.y[i * k + j]);
        let w_fa = faer::Mat::<f32>::from_fn(N, k, |i, j| cs.w[i * k + j]);
        let g_fa = faer::Mat::<f32>::from_fn(k, k, |i, j| cs.g[i * k + j]);
        let v_fa = faer::Mat::<f32>::from_fn(k, 1, |i, _| cs.v[i]);

        let mut grp = c.benchmark_group(format!("build_k{k}_n{N}"));
        grp.bench_function("hand-written", |b| {
            let mut a = cs.g.clone();
            b.iter(|| {
                a.copy_from_slice(&cs.g);
                ours::syrk_lower(&cs.w, &cs.y, N, k, &mut a);
                black_box(&a);
            })
        });
        grp.bench_function("nalgebra", |b| {
            let mut a = g_na.clone();
            b.iter(|| {
                a.copy_from(&g_na);
                a.gemm_tr(1.0, &w_na, &y_na, 1.0);
                black_box(&a);
            })
        });
        grp.bench_function("faer", |b| {
            let mut a = g_fa.clone();
            b.iter(|| {
                a.copy_from(&g_fa);
                faer::linalg::matmul::triangular::matmul(
                    a.as_mut(),
                    BlockStructure::TriangularLower,
                    Accum::Add,
                    w_fa.transpose(),
                    BlockStructure::Rectangular,
                    y_fa.as_ref(),
                    BlockStructure::Rectangular,
                    1.0,
                    Par::Seq,
                );
                black_box(&a);
            })
        });
        grp.finish();

        let mut grp = c.benchmark_group(format!("cholesky_k{k}"));
        grp.bench_function("hand-written", |b| {
            let (mut a, mut x) = (cs.g.clone(), cs.v.clone());
            b.iter(|| {
                a.copy_from_slice(&cs.g);
                x.copy_from_slice(&cs.v);
                ours::cholesky_solve(&mut a, k, k, &mut x).expect("SPD");
                black_box(&x);
            })
        });
        grp.bench_function("nalgebra", |b| {
            b.iter(|| {
                let ch = g_na.clone().cholesky().expect("SPD");
                black_box(ch.solve(&v_na));
            })
        });
        grp.bench_function("faer", |b| {
            b.iter(|| {
                let llt = g_fa.llt(faer::Side::Lower).expect("SPD");
                black_box(llt.solve(&v_fa));
            })
        });
        grp.finish();

        let mut grp = c.benchmark_group(format!("cg_product_k{k}_n{N}"));
        grp.bench_function("hand-written", |b| {
            let mut out = vec![0f32; k];
            b.iter(|| {
                ours::cg_product(&cs.g, &cs.y, k, &cs.cm1, &cs.v, &mut out);
                black_box(&out);
            })
        });
        grp.bench_function("nalgebra", |b| {
            let mut out = nalgebra::DVector::<f32>::zeros(k);
            let mut d = nalgebra::DVector::<f32>::zeros(N);
            b.iter(|| {
                out.gemv(1.0, &g_na, &v_na, 0.0);
                d.gemv(1.0, &y_na, &v_na, 0.0);
                d.component_mul_assign(&cm1_na);
                out.gemv_tr(1.0, &y_na, &d, 1.0);
                black_box(&out);
            })
        });
        grp.bench_function("faer", |b| {
            let mut out = faer::Mat::<f32>::zeros(k, 1);
            let mut d = faer::Mat::<f32>::zeros(N, 1);
            b.iter(|| {
                faer::linalg::matmul::matmul(&mut out, Accum::Replace, &g_fa, &v_fa, 1.0, Par::Seq);
                faer::linalg::matmul::matmul(&mut d, Accum::Replace, &y_fa, &v_fa, 1.0, Par::Seq);
                for i in 0..N {
                    d[(i, 0)] *= cs.cm1[i];
                }
                faer::linalg::matmul::matmul(
                    &mut out,
                    Accum::Add,
                    y_fa.transpose(),
                    &d,
                    1.0,
                    Par::Seq,
                );
                black_box(&out);
            })
        });
        grp.finish();
    }

    // The interaction matrix in both orientations, 1M interactions.
    let t = synthetic::ml20m_shaped(6_900, 1_350, 1_000_000, 1);
    let nnz = t.len();
    let (nu, ni) = (t.n_users as usize, t.n_items as usize);
    println!(
        "interaction matrix bytes for {nnz} interactions: alsflow (u32 indices) {}, \
         nalgebra-sparse CSR + CSC (usize indices) {}",
        2 * nnz * (4 + 4) + (nu + ni + 2) * 8,
        2 * nnz * (8 + 4) + (nu + ni + 2) * 8
    );
    let mut grp = c.benchmark_group("interaction_matrix_1M");
    grp.sample_size(10);
    grp.bench_function(BenchmarkId::new("build", "hand-written"), |b| {
        b.iter(|| black_box(InteractionMatrix::from_interactions(&t).expect("valid")))
    });
    grp.bench_function(BenchmarkId::new("build", "nalgebra-sparse"), |b| {
        b.iter(|| {
            let rows: Vec<usize> = t.user.iter().map(|&u| u as usize).collect();
            let cols: Vec<usize> = t.item.iter().map(|&i| i as usize).collect();
            let coo =
                nalgebra_sparse::CooMatrix::try_from_triplets(nu, ni, rows, cols, t.value.clone())
                    .expect("valid");
            let csr = nalgebra_sparse::CsrMatrix::from(&coo);
            let csc = nalgebra_sparse::CscMatrix::from(&coo);
            black_box((csr, csc))
        })
    });
    grp.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(30)
        .warm_up_time(std::time::Duration::from_millis(500))
        .measurement_time(std::time::Duration::from_secs(2));
    targets = bench
}
criterion_main!(benches);
