//! The seed's 192-point × 5-fold grid on the predefined ml-100k split, with
//! `implicit`'s conventions (plain λ, CG 3 steps, linear confidence, no NNLS), then
//! the best point's fit on all of train.tsv and its test metrics.
//!
//! `cargo bench -p alsflow-tune --bench grid_ml100k` (release). Reference: `implicit`
//! 0.7.3 needs 266 s for the same 1,152 fits on this kind of machine
//! (`../shared/bench/RESULTS.md`), best test ROEM 0.0983. Skips without the data.
//!
//! Measured 2026-11-26 on an idle 2-core machine: 22.1–22.6 s for tune + train +
//! evaluate (whole process, median of 3: 22.5 s wall, 41 s CPU, 27 MB peak RSS).
//! Two jobs run at once with one thread per fit; ALS fits take about 75 % of the CPU
//! time and validation metrics about 25 %. (Timed with folds from an earlier shuffle;
//! the work, 240 fits on folds of the same sizes, does not depend on which rows fall
//! in which fold.)
//!
//! The folds are the `split` stage's (`alsflow_split::seeded_folds`, 5 folds, seed
//! 42). Best point rank 10, max_iter 40, reg_param 0.1, alpha 20 (mean CV ROEM
//! 0.1104); its test ROEM 0.0982, P@10 0.2838, NDCG@10 0.3373, AUC 0.9331
//! (implicit's best of grid: 0.0983).
//!
//! On ml-100k neither layout wastes CPU (`TUNE_PARALLEL_POINTS=1`, one job at a time
//! with 2 threads per fit, used the same CPU time when measured), so auto keeps jobs
//! parallel: no per-iteration synchronisation.

mod protocol_split;

use protocol_split::{implicit_conventions, run_split};

fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

fn main() {
    let Some(data) = alsflow_core::test_support::shared_data_or_skip("bench grid_ml100k") else {
        return;
    };
    let split = data.join("splits/ml-100k");
    let parallel = std::env::var("TUNE_PARALLEL_POINTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let report = match run_split(&split, implicit_conventions(), None, parallel) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("grid_ml100k failed: {e}");
            std::process::exit(1);
        }
    };
    let total = report.tune_seconds + report.train_seconds + report.evaluate_seconds;
    println!(
        "ml-100k 192-point x 5-fold grid ({} fits, parallel_points={parallel})",
        report.fits_run
    );
    println!(
        "  tune      {:8.2} s   (summed over jobs: {:.2} s, of which validation metrics {:.2} s)",
        report.tune_seconds, report.job_seconds.0, report.job_seconds.1
    );
    println!("  train     {:8.2} s", report.train_seconds);
    println!("  evaluate  {:8.2} s", report.evaluate_seconds);
    println!(
        "  total     {:8.2} s   (implicit 0.7.3: 266 s; target < 26 s)",
        total
    );
    println!(
        "  best      {} (mean CV ROEM {:.4})",
        report.best, report.best_cv
    );
    println!(
        "  test      ROEM {:.4} (target <= 0.1033), P@10 {:.4}, NDCG@10 {:.4}, AUC {:.4}",
        report.test.roem, report.test.precision, report.test.ndcg, report.test.auc
    );
    if let Some(mb) = peak_rss_mb() {
        println!("  peak RSS  {mb:.0} MB (target < 1024 MB)");
    }
}
