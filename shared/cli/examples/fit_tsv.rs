//! Time alsflow's ALS fit on a TSV interaction file (`user\titem\tvalue`, dense
//! indices), for the side-by-side comparison with `implicit` (`make bench-compare`).
//!
//! Usage: `fit_tsv FILE.tsv [--factors 64] [--iterations 5] [--solver cg|cholesky]
//! [--reg 0.1] [--alpha 40] [--threads 2]`. Prints one JSON object on stdout.

use alsflow_als::{fit_with, AlsParams, InteractionMatrix, Solver};
use std::time::Instant;

mod common;
use common::{fail, parse, peak_rss_mb, read_tsv};

fn main() {
    let mut args = std::env::args().skip(1);
    let mut path = None;
    let mut p = AlsParams {
        rank: 64,
        max_iter: 5,
        reg_param: 0.1,
        alpha: 40.0,
        threads: 2,
        ..Default::default()
    };
    while let Some(a) = args.next() {
        let mut val = |name: &str| {
            args.next()
                .unwrap_or_else(|| fail(&format!("{name} needs a value")))
        };
        match a.as_str() {
            "--factors" => p.rank = parse(&val("--factors")),
            "--iterations" => p.max_iter = parse(&val("--iterations")),
            "--reg" => p.reg_param = parse(&val("--reg")),
            "--alpha" => p.alpha = parse(&val("--alpha")),
            "--threads" => p.threads = parse(&val("--threads")),
            "--solver" => {
                p.solver = match val("--solver").as_str() {
                    "cg" => Solver::Cg,
                    "cholesky" => Solver::Cholesky,
                    s => fail(&format!("unknown solver '{s}'")),
                }
            }
            _ if path.is_none() && !a.starts_with("--") => path = Some(a),
            _ => fail(&format!("unexpected argument '{a}'")),
        }
    }
    let path = path.unwrap_or_else(|| {
        fail("usage: fit_tsv FILE.tsv [--factors N] [--iterations N] [--solver cg|cholesky]")
    });

    let t0 = Instant::now();
    let table = read_tsv(&path);
    let matrix =
        InteractionMatrix::from_interactions(&table).unwrap_or_else(|e| fail(&e.to_string()));
    drop(table);
    let load_s = t0.elapsed().as_secs_f64();

    let mut marks = Vec::with_capacity(p.max_iter);
    let t1 = Instant::now();
    fit_with(&matrix, &p, &mut |_, _| {
        marks.push(t1.elapsed().as_secs_f64())
    })
    .unwrap_or_else(|e| fail(&e.to_string()));
    let fit_s = t1.elapsed().as_secs_f64();
    let per_iter: Vec<f64> = marks
        .iter()
        .scan(0.0, |prev, &m| {
            let d = m - *prev;
            *prev = m;
            Some(d)
        })
        .collect();
    let median = {
        let mut v = per_iter.clone();
        v.sort_by(|a, b| a.total_cmp(b));
        v.get(v.len() / 2).copied().unwrap_or(0.0)
    };
    let (nnz, users, items, f) = (
        matrix.nnz() as f64,
        matrix.n_users() as f64,
        matrix.n_items() as f64,
        p.rank as f64,
    );
    // FLOPs per iteration (both halves), the counts of shared/als/benches/README.md:
    // Gram matrices 2·(users+items)·f²; Cholesky: the per-row Σ(c−1)yyᵀ lower triangles
    // 2·nnz·f(f+1) plus a factorisation of f³/3 per row; CG: (cg_steps+1) products with
    // the row's system, (users+items)·2f² + 8f·nnz.
    let gram = 2.0 * (users + items) * f * f;
    let per_row = match p.solver {
        Solver::Cg => (p.cg_steps as f64 + 1.0) * ((users + items) * 2.0 * f * f + 8.0 * f * nnz),
        Solver::Cholesky => 2.0 * nnz * f * (f + 1.0) + (users + items) * f * f * f / 3.0,
    };
    let gflop = (gram + per_row) / 1e9;
    println!(
        "{{\"system\":\"alsflow\",\"solver\":\"{}\",\"factors\":{},\"iterations\":{},\"nnz\":{},\"users\":{},\"items\":{},\"load_seconds\":{:.3},\"fit_seconds\":{:.3},\"seconds_per_iteration\":{:.4},\"median_seconds_per_iteration\":{:.4},\"gflop_per_iteration\":{:.1},\"gflops\":{:.1},\"peak_rss_mb\":{:.1}}}",
        match p.solver { Solver::Cg => "cg", Solver::Cholesky => "cholesky" },
        p.rank, p.max_iter, matrix.nnz(), matrix.n_users(), matrix.n_items(), load_s, fit_s,
        fit_s / p.max_iter as f64, median, gflop, gflop / (fit_s / p.max_iter as f64).max(1e-9), peak_rss_mb()
    );
}
