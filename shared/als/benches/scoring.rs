//! Throughput of the blocked scoring product (`alsflow_als::scoring`) in GFLOP/s, per
//! micro-kernel, on the ML-20M shape (26,744 items, 64 factors) with the tiling the
//! metrics use: 48 users × 2,048 items per tile, users split over the threads.
//!
//! `cargo bench -p alsflow-als --bench scoring` (figures in `benches/README.md`).
//! `SCORING_USERS` (default 24,000) sets how many users are scored per run.

use alsflow_als::scoring::{kernels_available, score_tile_named, PackedItems, PackedUsers};
use rayon::prelude::*;
use std::time::Instant;

/// CPU seconds this process has used (all threads), from `/proc/self/stat`: on a
/// shared machine, GFLOP per CPU-second shows the kernel's speed apart from the
/// time other processes took the cores.
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let after = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

fn main() {
    let (n_items, rank) = (26_744usize, 64usize);
    let n_users: usize = std::env::var("SCORING_USERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(24_000);
    let mut rng = alsflow_core::rng::Xoshiro256::new(1, 2);
    let y: Vec<f32> = (0..n_items * rank).map(|_| rng.next_f32() - 0.5).collect();
    let x: Vec<f32> = (0..n_users * rank).map(|_| rng.next_f32() - 0.5).collect();
    let items = PackedItems::new(&y, rank);
    let (block, tile) = (48usize, 2048usize);
    let flops = 2.0 * (n_users * n_items * rank) as f64;
    println!("scoring {n_users} users x {n_items} items x {rank} factors ({:.0} GFLOP per run), threads {}", flops / 1e9, rayon::current_num_threads());
    for kernel in kernels_available() {
        if kernel == "portable" && !std::env::var("SCORING_PORTABLE").is_ok_and(|v| v == "1") {
            continue;
        }
        let mut times = Vec::new();
        let cpu0 = cpu_seconds();
        for _ in 0..3 {
            let t = Instant::now();
            let sink: f64 = x
                .par_chunks(block * rank)
                .map(|rows| {
                    let mut users = PackedUsers::new(rank);
                    users.fill(rows.chunks_exact(rank));
                    let mut out = vec![0f32; block * tile];
                    let mut check = 0.0f64;
                    for first in (0..n_items).step_by(tile) {
                        let count = tile.min(n_items - first);
                        score_tile_named(kernel, &users, &items, first, count, &mut out, tile);
                        check += out[0] as f64;
                    }
                    check
                })
                .sum();
            std::hint::black_box(sink);
            times.push(t.elapsed().as_secs_f64());
        }
        let cpu = cpu_seconds().zip(cpu0).map(|(b, a)| (b - a) / 3.0);
        times.sort_by(f64::total_cmp);
        let s = times[1];
        println!(
            "{kernel:>8}: median {s:.3} s, {:.1} GFLOP/s ({:.1} % of the machine's 457 GFLOP/s sgemm peak); per CPU-second {:.1} GFLOP/s",
            flops / s / 1e9,
            flops / s / 1e9 / 457.0 * 100.0,
            cpu.map_or(f64::NAN, |c| flops / c / 1e9)
        );
    }
}
