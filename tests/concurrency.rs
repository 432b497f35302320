//! Readers beside a writer: read-only commands answer while `alsflow run` holds the
//! store, and see what its finished stages published.

mod common;

use common::*;
use serde_json::Value;
use std::time::{Duration, Instant};

/// A synthetic dataset whose tuning keeps `run` busy for a few seconds.
const SLOW: &str = r#"
[[dataset]]
name = "syn"
format = "synthetic"
feedback = "count"
synthetic = { users = 3000, items = 800, interactions = 120000, rank = 8, values = "count", seed = 5 }

[split]
folds = 3

[train]
rank = 8
max_iter = 5

[tune]
enabled = true
[tune.grid]
rank = [8, 16, 24]
max_iter = [10, 20]
alpha = [5.0, 20.0, 40.0]
"#;

#[test]
fn status_answers_within_a_second_while_a_run_holds_the_store() {
    let env = Env::new();
    env.write_config(SLOW);
    let mut run = env
        .cmd("store", &["run"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start alsflow run");
    let mut answered_during_run = 0;
    let mut saw_progress = false;
    let deadline = Instant::now() + Duration::from_secs(120);
    while run.try_wait().expect("poll run").is_none() && Instant::now() < deadline {
        let t0 = Instant::now();
        let o = env.out("store", &["status", "--json", "--lock-timeout", "0"]);
        let took = t0.elapsed();
        let still_running = run.try_wait().expect("poll run").is_none();
        assert!(
            o.status.success(),
            "status failed during a run: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        if still_running {
            assert!(took < Duration::from_secs(1), "status took {took:?}");
            answered_during_run += 1;
            let v: Value = serde_json::from_slice(&o.stdout).expect("status JSON");
            saw_progress |= v
                .as_array()
                .unwrap()
                .iter()
                .any(|s| s["stage"] == "preprocess" && s["state"] == "fresh");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let status = run.wait().expect("wait for run");
    assert!(status.success(), "the run failed");
    assert!(
        answered_during_run >= 3,
        "the run ended before status could be checked beside it ({answered_during_run} answers)"
    );
    assert!(
        saw_progress,
        "readers never saw the finished preprocess stage"
    );
    // After the run, everything is fresh.
    let o = env.out("store", &["status", "--json"]);
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(
        v.as_array().unwrap().iter().all(|s| s["state"] == "fresh"),
        "{v}"
    );
}
