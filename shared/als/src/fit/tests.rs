//! Row solves against slow dense references, and the AVX2 instantiation against
//! the portable one.

use super::half::{solve_half, Half};
use super::normal::gram;
use crate::kernels::padded;
use crate::matrix::Compressed;
use crate::params::{confidence, row_lambda};
use crate::{AlsError, AlsParams, Confidence, RegScaling, Solver};
use alsflow_core::rng::Xoshiro256;
use proptest::prelude::*;

/// A one-row problem: the row's (index, value) pairs against `n_other` factor rows.
#[derive(Debug)]
struct Problem {
    rows: Compressed,
    other: Vec<f32>,
    k: usize,
    kp: usize,
}

fn problem(k: usize, other: Vec<f32>, entries: Vec<(u32, f32)>) -> Problem {
    let kp = padded(k);
    let n_other = other.len() / k;
    let mut padded_other = vec![0f32; n_other * kp];
    for i in 0..n_other {
        padded_other[i * kp..i * kp + k].copy_from_slice(&other[i * k..(i + 1) * k]);
    }
    let rows = Compressed {
        indptr: vec![0, entries.len()],
        indices: entries.iter().map(|e| e.0).collect(),
        values: entries.iter().map(|e| e.1).collect(),
    };
    Problem {
        rows,
        other: padded_other,
        k,
        kp,
    }
}

/// Solve the problem's single row with `p`, starting from `x0`.
fn solve(pr: &Problem, p: &AlsParams, x0: &[f32]) -> Result<Vec<f32>, AlsError> {
    let g = gram(&pr.other, pr.kp);
    let mut x = vec![0f32; pr.kp];
    x[..pr.k].copy_from_slice(x0);
    let h = Half {
        side: "user",
        rows: &pr.rows,
        other: &pr.other,
        gram: &g,
        k: pr.k,
        kp: pr.kp,
        p,
    };
    solve_half(&h, &mut x)?;
    assert!(
        x[pr.k..].iter().all(|v| *v == 0.0),
        "padding must stay zero"
    );
    x.truncate(pr.k);
    Ok(x)
}

/// The slow, obvious reference: dense A = Σ_all c·y·yᵀ + λI and b = Σ c·p·y in f64.
fn dense_normal_equations(pr: &Problem, p: &AlsParams) -> (Vec<f64>, Vec<f64>) {
    let (k, kp) = (pr.k, pr.kp);
    let n_other = pr.other.len() / kp;
    let mut a = vec![0f64; k * k];
    let mut b = vec![0f64; k];
    for i in 0..n_other {
        let y = &pr.other[i * kp..i * kp + k];
        let (mut c, mut pref) = (1f64, 0f64);
        if let Some(t) = pr.rows.indices.iter().position(|&j| j as usize == i) {
            let (cc, pp) = confidence(p, pr.rows.values[t]);
            c = cc as f64;
            pref = pp as f64;
        }
        for r in 0..k {
            b[r] += c * pref * y[r] as f64;
            for s in 0..k {
                a[r * k + s] += c * y[r] as f64 * y[s] as f64;
            }
        }
    }
    let lambda = row_lambda(p, pr.rows.indices.len()) as f64;
    for r in 0..k {
        a[r * k + r] += lambda;
    }
    (a, b)
}

/// Gaussian elimination with partial pivoting.
fn dense_solve(mut a: Vec<f64>, mut b: Vec<f64>) -> Vec<f64> {
    let n = b.len();
    for c in 0..n {
        let piv = (c..n)
            .max_by(|&i, &j| a[i * n + c].abs().total_cmp(&a[j * n + c].abs()))
            .unwrap();
        for j in 0..n {
            a.swap(c * n + j, piv * n + j);
        }
        b.swap(c, piv);
        for r in c + 1..n {
            let f = a[r * n + c] / a[c * n + c];
            for j in c..n {
                a[r * n + j] -= f * a[c * n + j];
            }
            b[r] -= f * b[c];
        }
    }
    let mut x = vec![0f64; n];
    for r in (0..n).rev() {
        let s: f64 = (r + 1..n).map(|j| a[r * n + j] * x[j]).sum();
        x[r] = (b[r] - s) / a[r * n + r];
    }
    x
}

fn close(got: &[f32], want: &[f64], tol: f64) -> Result<(), TestCaseError> {
    let scale = want.iter().fold(1f64, |m, v| m.max(v.abs()));
    for (g, w) in got.iter().zip(want) {
        prop_assert!(
            (*g as f64 - w).abs() <= tol * scale,
            "got {got:?}, want {want:?}"
        );
    }
    Ok(())
}

fn arb_problem() -> impl Strategy<Value = (Problem, AlsParams)> {
    (
        1usize..12,
        3usize..25,
        any::<u64>(),
        0.05f32..2.0,
        0.0f32..50.0,
        any::<bool>(),
        any::<bool>(),
    )
        .prop_flat_map(|(k, n_other, seed, reg, alpha, log, per)| {
            let entries =
                proptest::collection::btree_map(0..n_other as u32, 0.1f32..5.0, 1..n_other.min(12));
            let other = proptest::collection::vec(-1.0f32..1.0, n_other * k);
            (entries, other).prop_map(move |(entries, other)| {
                let p = AlsParams {
                    rank: k,
                    reg_param: reg,
                    alpha,
                    confidence: if log {
                        Confidence::Log
                    } else {
                        Confidence::Linear
                    },
                    reg_scaling: if per {
                        RegScaling::PerInteraction
                    } else {
                        RegScaling::Plain
                    },
                    seed,
                    threads: 1,
                    ..AlsParams::default()
                };
                (problem(k, other, entries.into_iter().collect()), p)
            })
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn cholesky_row_solve_matches_dense_reference((pr, p) in arb_problem()) {
        let p = AlsParams { solver: Solver::Cholesky, ..p };
        let (a, b) = dense_normal_equations(&pr, &p);
        let want = dense_solve(a, b);
        close(&solve(&pr, &p, &vec![0.0; pr.k]).unwrap(), &want, 2e-3)?;
    }

    #[test]
    fn cg_with_many_steps_reaches_the_cholesky_solution((pr, p) in arb_problem()) {
        let exact = solve(&pr, &AlsParams { solver: Solver::Cholesky, ..p.clone() }, &vec![0.0; pr.k]).unwrap();
        let x0: Vec<f32> = (0..pr.k).map(|i| 0.01 * (i as f32 + 1.0)).collect();
        let cg = solve(&pr, &AlsParams { solver: Solver::Cg, cg_steps: 4 * pr.k + 10, ..p }, &x0).unwrap();
        let exact: Vec<f64> = exact.iter().map(|v| *v as f64).collect();
        close(&cg, &exact, 5e-3)?;
    }

    #[test]
    fn nnls_is_nonnegative_and_satisfies_kkt((pr, p) in arb_problem()) {
        let p = AlsParams { nonnegative: true, ..p };
        let x = solve(&pr, &p, &vec![0.0; pr.k]).unwrap();
        let (a, b) = dense_normal_equations(&pr, &p);
        let k = pr.k;
        let scale = a.iter().chain(&b).fold(1f64, |m, v| m.max(v.abs()));
        for j in 0..k {
            prop_assert!(x[j] >= 0.0, "x = {x:?}");
            let g: f64 = (0..k).map(|l| a[j * k + l] * x[l] as f64).sum::<f64>() - b[j];
            if x[j] > 0.0 {
                prop_assert!(g.abs() <= 1e-4 * scale, "active x[{j}] = {} but gradient {g}", x[j]);
            } else {
                prop_assert!(g >= -1e-4 * scale, "x[{j}] = 0 but gradient {g} < 0 (could decrease)");
            }
        }
    }
}

/// The AVX2 and portable instantiations of the CG row solves give the same
/// bits (so a model does not depend on the machine's vector unit).
#[cfg(target_arch = "x86_64")]
#[test]
fn cg_solves_are_identical_with_avx2_and_portable_kernels() {
    use super::half::{solve_rows, solve_rows_with};
    use crate::kernels::{avx2_or_skip, Portable};
    if avx2_or_skip("cg_solves_are_identical_with_avx2_and_portable_kernels").is_some() {
        let mut rng = Xoshiro256::new(7, 0);
        for k in [5, 16, 37] {
            let kp = padded(k);
            let (n_rows, n_other) = (40, 60);
            let mut other = vec![0f32; n_other * kp];
            for r in 0..n_other {
                for j in 0..k {
                    other[r * kp + j] = rng.next_f32() - 0.5;
                }
            }
            let mut indptr = vec![0];
            let (mut indices, mut values) = (Vec::new(), Vec::new());
            for r in 0..n_rows {
                // Row lengths 0..=39 exercise the 8-, 4- and 1-at-a-time loops.
                for j in 0..r.min(n_other) {
                    if rng.next_f32() < 0.7 {
                        indices.push(j as u32);
                        values.push(1.0 + 5.0 * rng.next_f32());
                    }
                }
                indptr.push(indices.len());
            }
            let rows = Compressed {
                indptr,
                indices,
                values,
            };
            let g = gram(&other, kp);
            let p = AlsParams {
                rank: k,
                threads: 1,
                ..AlsParams::default()
            };
            let h = Half {
                side: "user",
                rows: &rows,
                other: &other,
                gram: &g,
                k,
                kp,
                p: &p,
            };
            let x0: Vec<f32> = (0..n_rows * kp)
                .map(|i| {
                    if i % kp < k {
                        0.01 * rng.next_f32()
                    } else {
                        0.0
                    }
                })
                .collect();
            let (mut a, mut b) = (x0.clone(), x0);
            solve_rows_with(&h, 0, &mut a, Portable).unwrap();
            // This CPU has AVX2 and FMA: the dispatch runs the AVX2 instantiation.
            solve_rows(&h, 0, &mut b).unwrap();
            assert!(a.iter().any(|v| *v != 0.0));
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&a), bits(&b), "rank {k}");
        }
    }
}

#[test]
fn singular_system_is_an_error_naming_the_row_not_nan() {
    // rank 4 against 2 item vectors with λ = 0: A has rank ≤ 2.
    let pr = problem(
        4,
        vec![1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0],
        vec![(0, 1.0)],
    );
    for solver in [Solver::Cholesky, Solver::Cg] {
        let p = AlsParams {
            rank: 4,
            reg_param: 0.0,
            solver,
            cg_steps: 20,
            threads: 1,
            ..AlsParams::default()
        };
        let x0 = [0.5, 0.5, 0.5, 0.5];
        match solve(&pr, &p, &x0) {
            Err(e @ AlsError::Numerical { row: 0, .. }) => {
                assert!(
                    e.to_string().contains("user 0") && e.to_string().contains("reg_param"),
                    "{e}"
                )
            }
            other => assert!(
                solver == Solver::Cg
                    && other
                        .as_ref()
                        .is_ok_and(|x| x.iter().all(|v| v.is_finite())),
                "{solver:?}: {other:?}"
            ),
        }
    }
}
