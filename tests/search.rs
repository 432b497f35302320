//! End-to-end tests of the search: edge warnings in the run log, `status` and
//! `metrics`, and an `extend` search that fits nothing when rerun.

mod common;

use common::*;
use serde_json::Value;

/// One synthetic dataset, tuned over a two-value rank axis: whichever value wins sits
/// on an edge of the grid (rank 2 can go down to 1, rank 3 up), so the warning does
/// not depend on the data.
fn tuned_config(search: &str) -> String {
    format!(
        r#"
[[dataset]]
name = "syn"
format = "synthetic"
feedback = "count"
synthetic = {{ users = 200, items = 100, interactions = 3000, rank = 4, values = "count", seed = 3 }}

[split]
folds = 2

[train]
rank = 4
max_iter = 3
threads = 1

[tune]
enabled = true
search = "{search}"
limits = {{ rank = 6 }}

[tune.grid]
rank = [2, 3]

[evaluate]
k = 5
"#
    )
}

fn stderr_of(env: &Env, store: &str, args: &[&str]) -> String {
    let o = env.out(store, args);
    assert!(
        o.status.success(),
        "alsflow {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn edge_warnings_reach_the_log_status_and_metrics() {
    let env = Env::new();
    env.write_config(&tuned_config("grid"));
    for run in ["first", "cached"] {
        let log = stderr_of(&env, "s", &["run"]);
        assert!(
            log.lines()
                .any(|l| l.contains("WARN") && l.contains("syn/tune: rank: the best point")),
            "{run} run: {log}"
        );
    }

    let o = env.out("s", &["status", "--json"]);
    let status: Value = serde_json::from_slice(&o.stdout).unwrap();
    for s in status.as_array().unwrap() {
        let warnings = s["warnings"].as_array().unwrap();
        if s["stage"] == "tune" {
            assert_eq!(warnings.len(), 1, "{s}");
            assert!(warnings[0].as_str().unwrap().starts_with("rank: "), "{s}");
        } else {
            assert!(warnings.is_empty(), "{s}");
        }
    }
    let o = env.out("s", &["status"]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("warning: rank: the best point"), "{text}");

    let o = env.out("s", &["metrics", "--json"]);
    let m: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(m["syn"]["model"]["roem"].is_f64(), "{m}");
    let warnings = m["syn"]["warnings"].as_array().unwrap();
    assert_eq!(warnings.len(), 1, "{m}");
    assert!(warnings[0].as_str().unwrap().starts_with("rank: "), "{m}");
    let o = env.out("s", &["metrics"]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("  warning: rank: "), "{text}");
    assert!(
        !text.contains("warnings"),
        "the list is not a system: {text}"
    );

    // Without tune, the list is there and empty.
    let plain = Env::new();
    plain.run("s", &[]);
    let o = plain.out("s", &["metrics", "--json"]);
    let m: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(m["fx"]["warnings"], Value::Array(vec![]), "{m}");
}

#[test]
fn an_extend_search_rerun_runs_no_fit() {
    let env = Env::new();
    env.write_config(&tuned_config("extend"));
    let first = env.run("s", &[]);
    let log = stderr_of(&env, "s", &["run", "tune", "--force"]);
    let line = log
        .lines()
        .find(|l| l.contains("syn/tune: ran"))
        .unwrap_or_else(|| panic!("{log}"));
    assert!(
        line.contains("extend: ") && line.contains(" 0 fits run"),
        "{line}"
    );
    let again = env.run("s", &["tune", "--force"]);
    assert_eq!(first["syn/tune"]["outputs"], again["syn/tune"]["outputs"]);
    assert!(first["syn/tune"]["outputs"]["search"].is_string());
}
