//! Time ALS on ML-20M-shaped synthetic data (≈20M interactions, 138,493 users,
//! 26,744 items): `cargo run --release -p alsflow-als --example ml20m_shape --
//! [rank] [cg|cholesky] [iterations] [threads] [scale]` prints seconds per
//! iteration, the achieved GFLOP/s of the dominant kernels and the peak RSS.

#[path = "../benches/synthetic.rs"]
mod synthetic;

use alsflow_als::{fit_with, AlsParams, InteractionMatrix, Solver};
use std::time::Instant;

fn arg<T: std::str::FromStr>(i: usize, default: T) -> T {
    std::env::args()
        .nth(i)
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

fn peak_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

/// CPU seconds (user + system) of this process so far: the machine is shared, so
/// wall time alone would measure the neighbours too.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit(')').next().unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        f.get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(f64::NAN)
    };
    // Fields 14 and 15 of stat(5) are at 11 and 12 after the command name.
    (ticks(11) + ticks(12)) / 100.0
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let rank: usize = arg(1, 64);
    let solver = match std::env::args().nth(2).as_deref() {
        Some("cholesky") => Solver::Cholesky,
        _ => Solver::Cg,
    };
    let iters: usize = arg(3, 3);
    let threads: usize = arg(4, 2);
    let scale: f64 = arg(5, 1.0);
    let t0 = Instant::now();
    let (nu, ni) = ((138_493.0 * scale) as u32, (26_744.0 * scale.sqrt()) as u32);
    let table = synthetic::ml20m_shaped(nu, ni, (20_000_263.0 * scale) as u64, 42);
    let m = InteractionMatrix::from_interactions(&table)?;
    drop(table);
    println!(
        "data: {} users, {} items, {} nnz (generated + built in {:.1} s)",
        m.n_users(),
        m.n_items(),
        m.nnz(),
        t0.elapsed().as_secs_f64()
    );
    let p = AlsParams {
        rank,
        max_iter: iters,
        solver,
        threads,
        ..AlsParams::default()
    };
    let mut last = Instant::now();
    let mut last_cpu = cpu_seconds();
    let mut times = Vec::new();
    let mut cpu_times = Vec::new();
    fit_with(&m, &p, &mut |it, _| {
        let (s, c) = (last.elapsed().as_secs_f64(), cpu_seconds() - last_cpu);
        println!("iteration {it}: {s:.3} s wall, {c:.2} CPU s");
        times.push(s);
        cpu_times.push(c);
        last = Instant::now();
        last_cpu = cpu_seconds();
    })?;
    times.sort_by(f64::total_cmp);
    cpu_times.sort_by(f64::total_cmp);
    let median = times[times.len() / 2];
    let cpu_median = cpu_times[cpu_times.len() / 2];
    println!(
        "median CPU s/iteration {cpu_median:.3}; with {threads} uncontended cores ≈ {:.3} s/iteration",
        cpu_median / threads as f64
    );
    let (k, nnz, rows) = (
        rank as f64,
        m.nnz() as f64,
        (m.n_users() + m.n_items()) as f64,
    );
    // Dominant flops per iteration (both halves): Cholesky builds Σ(c−1)yyᵀ (lower
    // triangle, 2 flops per entry per nonzero) and factors k³/3 per row; CG does
    // cg_steps+1 products with YᵀY (2k² per row) and 4k per nonzero per product.
    let flops = match solver {
        Solver::Cholesky => 2.0 * nnz * k * (k + 1.0) / 2.0 * 2.0 + rows * k * k * k / 3.0,
        Solver::Cg => (p.cg_steps as f64 + 1.0) * (rows * 2.0 * k * k + 2.0 * nnz * 4.0 * k),
    };
    println!(
        "{solver:?} rank {rank} threads {threads}: median {median:.3} s/iteration, {:.1} GFLOP/s, peak RSS {:.0} MB",
        flops / median / 1e9,
        peak_rss_mb()
    );
    Ok(())
}
