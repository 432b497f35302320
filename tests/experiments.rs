//! End-to-end tests of the experiment commands on `pipelines/synthetic.toml`: every
//! run kept and listed (`runs`), two runs compared (`diff`), named runs, and `gc
//! --keep-last` freeing what only older runs needed while the latest stays cached.

mod common;

use common::*;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// An environment whose config is the shipped offline pipeline.
fn synthetic_env() -> Env {
    let env = Env::new();
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../pipelines/synthetic.toml");
    env.write_config(&std::fs::read_to_string(shipped).expect("pipelines/synthetic.toml"));
    env
}

/// Run the pipeline with `train.alpha = alpha` (and more args); returns the reports.
fn run_alpha(env: &Env, alpha: &str, extra: &[&str]) -> BTreeMap<String, Value> {
    let set = format!("train.alpha={alpha}");
    let mut args = vec!["--set", set.as_str()];
    args.extend_from_slice(extra);
    env.run("s", &args)
}

/// `alsflow ARGS --json` on store "s", parsed; panics on failure.
fn json_of(env: &Env, args: &[&str]) -> Value {
    let o = env.out("s", args);
    assert!(
        o.status.success(),
        "alsflow {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!(
            "alsflow {args:?} printed no JSON ({e}): {}",
            String::from_utf8_lossy(&o.stdout)
        )
    })
}

fn one_line_error(env: &Env, args: &[&str]) -> String {
    let o = env.out("s", args);
    assert!(!o.status.success(), "alsflow {args:?} should fail");
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    assert!(err.starts_with("error: "), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    err
}

#[test]
fn runs_lists_every_run_and_diff_names_what_changed_with_metric_deltas() {
    let env = synthetic_env();
    run_alpha(&env, "20", &[]);
    run_alpha(&env, "40", &["--name", "alpha-40"]);
    let third = run_alpha(&env, "80", &[]);
    assert!(
        ["tune", "train", "evaluate"]
            .iter()
            .all(|s| third[&format!("synthetic/{s}")]["status"] == "ran"),
        "alpha is a [train] choice the search keeps: {third:?}"
    );

    let runs = json_of(&env, &["runs", "--json"]);
    let runs = runs.as_array().expect("an array");
    assert_eq!(runs.len(), 3, "{runs:?}");
    let alphas: Vec<f64> = runs
        .iter()
        .map(|r| r["params"]["alpha"].as_f64().unwrap())
        .collect();
    assert_eq!(alphas, [80.0, 40.0, 20.0], "newest first");
    let names: Vec<&Value> = runs.iter().map(|r| &r["name"]).collect();
    assert_eq!(
        names,
        [&Value::Null, &Value::from("alpha-40"), &Value::Null]
    );
    let mut roems = BTreeSet::new();
    for r in runs {
        assert_eq!(r["dataset"], "synthetic");
        assert_eq!(r["status"], "complete");
        assert_eq!(r["id"].as_str().unwrap().len(), 64);
        assert_eq!(r["params_from"], "tune.best_params");
        assert_eq!(
            r["tuned"],
            serde_json::json!(["rank", "max_iter", "reg_param"])
        );
        assert_eq!(r["search"]["points"], 8);
        assert_eq!(r["search"]["folds"], 3);
        assert_eq!(r["search"]["metric"], "roem");
        let roem = r["metrics"]["model"]["roem"].as_f64().unwrap();
        assert!(roem > 0.0 && roem < r["metrics"]["popularity"]["roem"].as_f64().unwrap());
        assert!(r["metrics"]["model"]["precision@10"].as_f64().unwrap() > 0.0);
        roems.insert(roem.to_bits());
        let stages: Vec<&str> = r["stages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["stage"].as_str().unwrap())
            .collect();
        assert_eq!(stages, ["preprocess", "split", "tune", "train", "evaluate"]);
    }
    assert_eq!(roems.len(), 3, "each alpha gives its own model");

    let d = json_of(&env, &["diff", "latest", "previous", "--json"]);
    assert_eq!(d["a"]["id"], runs[0]["id"]);
    assert_eq!(d["b"]["id"], runs[1]["id"]);
    assert_eq!(d["unchanged"], serde_json::json!(["preprocess", "split"]));
    let changed = d["changed"].as_array().unwrap();
    let stage = |name: &str| {
        changed
            .iter()
            .find(|s| s["stage"] == name)
            .unwrap_or_else(|| panic!("{name} not among the changed stages: {changed:?}"))
    };
    let param = |s: &Value, key: &str| {
        s["params"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["param"] == key)
            .cloned()
    };
    let alpha = param(stage("train"), "train.alpha").expect("train.alpha changed");
    assert_eq!(
        (alpha["a"].as_f64(), alpha["b"].as_f64()),
        (Some(80.0), Some(40.0))
    );
    assert!(param(stage("tune"), "tune.base.alpha").is_some());
    // Only alpha changed in the config.
    assert_eq!(stage("train")["params"].as_array().unwrap().len(), 1);
    let output_names = |s: &Value| -> BTreeSet<String> {
        s["outputs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["name"].as_str().unwrap().to_string())
            .collect()
    };
    assert!(output_names(stage("tune")).contains("tune.best_params"));
    assert!(output_names(stage("train")).contains("train.model"));
    assert!(output_names(stage("evaluate")).contains("evaluate.metrics"));
    let model_input = stage("evaluate")["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["name"] == "train.model")
        .expect("evaluate read another model")
        .clone();
    assert_eq!(
        model_input["a"].as_str(),
        third["synthetic/train"]["outputs"]["model"].as_str()
    );
    let metrics = d["metrics"].as_array().unwrap();
    let roem = metrics
        .iter()
        .find(|m| m["system"] == "model" && m["metric"] == "roem")
        .expect("model roem delta");
    let (a, b) = (roem["a"].as_f64().unwrap(), roem["b"].as_f64().unwrap());
    // (serde_json's default float parsing may differ in the last bit.)
    assert!(
        (roem["delta"].as_f64().unwrap() - (a - b)).abs() < 1e-12,
        "{roem}"
    );
    assert_ne!(a, b);
    assert_eq!(roem["better_when"], "lower");
    assert_eq!(roem["better"], if a < b { "a" } else { "b" });
    let p10 = metrics
        .iter()
        .find(|m| m["system"] == "model" && m["metric"] == "precision@10")
        .unwrap();
    assert_eq!(p10["better_when"], "higher");
    assert!(metrics
        .iter()
        .filter(|m| m["system"] == "popularity")
        .all(|m| m["delta"] == 0.0 && m["better"] == "same"));

    // A run is named by its name or an id prefix too; the text form names the param.
    let o = env.out(
        "s",
        &["diff", "alpha-40", &runs[2]["id"].as_str().unwrap()[..8]],
    );
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(text.contains("param  train.alpha: 20 → 40"), "{text}");
    assert!(text.contains("\"alpha-40\""), "{text}");
    let text_runs = env.out("s", &["runs"]);
    let table = String::from_utf8_lossy(&text_runs.stdout);
    assert_eq!(
        table.lines().filter(|l| l.contains("synthetic")).count(),
        3,
        "{table}"
    );
    assert!(table.contains("alpha-40"), "{table}");

    let e = one_line_error(&env, &["diff", "latest", "nothing-like-it"]);
    assert!(e.contains("nothing-like-it"), "{e}");
    // A bad flag value is a usage error (clap's, with its hint line).
    let o = env.out("s", &["run", "--name", "latest"]);
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && e.contains("'latest' is a keyword"),
        "{e}"
    );
}

/// The ids of every output of a `run --json` report set.
fn output_ids(r: &BTreeMap<String, Value>) -> BTreeSet<String> {
    outputs(r).into_values().collect()
}

fn object_size(env: &Env, id: &str) -> Option<u64> {
    let path = env.store("s").join("objects").join(&id[..2]).join(id);
    std::fs::metadata(path).ok().map(|m| m.len())
}

#[test]
fn gc_keep_last_frees_what_only_older_runs_needed_and_the_latest_stays_cached() {
    let env = synthetic_env();
    let older: BTreeSet<String> = ["20", "40"]
        .iter()
        .flat_map(|a| output_ids(&run_alpha(&env, a, &[])))
        .collect();
    let latest = output_ids(&run_alpha(&env, "80", &[]));
    let only_older: Vec<&String> = older.difference(&latest).collect();
    assert!(
        only_older.len() >= 2 * 9,
        "tune, train and evaluate outputs: {only_older:?}"
    );
    let freed: u64 = only_older
        .iter()
        .map(|id| object_size(&env, id).unwrap())
        .sum();

    let dry = json_of(&env, &["gc", "--keep-last", "1", "--dry-run", "--json"]);
    assert_eq!(dry["dry_run"], true);
    assert_eq!(dry["bytes_removed"].as_u64(), Some(freed), "{dry}");
    assert_eq!(
        dry["objects_removed"].as_u64(),
        Some(only_older.len() as u64)
    );
    assert_eq!(dry["removed_pipeline_runs"].as_array().unwrap().len(), 2);
    assert!(
        only_older.iter().all(|id| object_size(&env, id).is_some()),
        "a dry run deletes nothing"
    );
    // Plain gc keeps every run.
    let plain = json_of(&env, &["gc", "--dry-run", "--json"]);
    assert_eq!(plain["objects_removed"], 0);

    let done = json_of(&env, &["gc", "--keep-last", "1", "--json"]);
    assert_eq!(done["bytes_removed"].as_u64(), Some(freed));
    assert!(only_older.iter().all(|id| object_size(&env, id).is_none()));
    assert!(latest.iter().all(|id| object_size(&env, id).is_some()));
    assert_eq!(
        json_of(&env, &["runs", "--json"]).as_array().unwrap().len(),
        1
    );
    let o = env.out("s", &["verify"]);
    assert!(
        o.status.success(),
        "verify: {}",
        String::from_utf8_lossy(&o.stdout)
    );

    let rerun = run_alpha(&env, "80", &[]);
    assert!(
        rerun.values().all(|r| r["status"] == "cached"),
        "the latest run stays fully cached: {rerun:?}"
    );
    assert_eq!(output_ids(&rerun), latest);
    // The older configs were collected: rerunning one runs its stages again.
    let again = run_alpha(&env, "20", &[]);
    assert_eq!(again["synthetic/train"]["status"], "ran");
}
