//! How long a fully cached run of the default pipeline takes (target: < 0.2 s).
//!
//! `cargo bench -p alsflow-runner --bench cached_run`. Uses `pipeline.toml` with the
//! data home `$ALSFLOW_DATA` (else `../shared/data` beside the checkout, else
//! `./data`); when its data is not there, `pipelines/synthetic.toml`. The warm-up run
//! that fills a temp store skips tuning (the 192-point grid takes minutes) unless
//! `ALSFLOW_BENCH_TUNE=1`; the cached run then times everything a cached
//! `alsflow run` does in process: open the store (lock, sled), load and validate the
//! config, build the DAG, check every stage's key and outputs, set `latest`.

use alsflow_runner::build::build_dag;
use alsflow_runner::config::PipelineConfig;
use alsflow_runner::engine::{Engine, NodeStatus, RunOptions};
use alsflow_store::Store;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let data = match std::env::var_os("ALSFLOW_DATA") {
        Some(d) => PathBuf::from(d),
        None if root.join("../shared/data").is_dir() => root.join("../shared/data"),
        None => root.join("data"),
    };
    let mut overrides = Vec::new();
    if std::env::var_os("ALSFLOW_BENCH_TUNE").is_none() {
        overrides.push("tune.enabled=false".to_string());
    }
    let mut config = root.join("pipeline.toml");
    let cfg = PipelineConfig::load(&config, &overrides, data.clone()).expect("pipeline.toml");
    let present = cfg
        .datasets
        .iter()
        .all(|d| d.source.as_ref().is_none_or(|s| s.path.is_file()));
    if !present {
        config = root.join("pipelines/synthetic.toml");
    }
    println!(
        "config {} (data home {}), overrides {:?}",
        config.display(),
        data.display(),
        overrides
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let store_dir = dir.path().join("store");
    let run_once = || -> (Duration, usize, usize) {
        let t0 = Instant::now();
        let store = Arc::new(Store::open(&store_dir, Duration::from_secs(10)).expect("store"));
        let cfg = PipelineConfig::load(&config, &overrides, data.clone()).expect("config");
        let dag = build_dag(&cfg).expect("dag");
        let mut engine = Engine::new(store, dag).expect("engine");
        let reports = engine.run(&RunOptions::default(), Arc::new(|_| {}));
        drop(engine);
        let cached = reports
            .iter()
            .filter(|r| r.status == NodeStatus::Cached)
            .count();
        (t0.elapsed(), cached, reports.len())
    };
    let (warm, _, n) = run_once();
    println!(
        "warm-up run (computes everything): {:.2} s, {n} stages",
        warm.as_secs_f64()
    );
    let mut times = Vec::new();
    for _ in 0..20 {
        let (t, cached, n) = run_once();
        assert_eq!(cached, n, "a second run must execute nothing");
        times.push(t.as_secs_f64());
    }
    times.sort_by(|a, b| a.total_cmp(b));
    let median = times[times.len() / 2];
    println!(
        "fully cached run, {n} stages, 20 runs: min {:.4} s, median {:.4} s, max {:.4} s (target < 0.2 s): {}",
        times[0],
        median,
        times[times.len() - 1],
        if median < 0.2 { "ok" } else { "TOO SLOW" }
    );
}
