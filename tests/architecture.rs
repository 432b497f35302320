//! Architecture rules checked against the workspace's own `cargo metadata`.
//!
//! A stage crate (a member under `stages/`) may list as normal and build dependencies
//! `alsflow-core`, `alsflow-formats`, the maths crates, `alsflow-spark` and external
//! crates — never another stage, the store, the runner, the CLI, sled or blake3
//! (`FORBIDDEN`: hashing and storage belong to the runner and the store). Dev-dependencies
//! are free: a benchmark may call another stage's function.

use serde_json::Value;
use std::process::Command;

/// Packages a stage crate must not depend on (besides other stages).
const FORBIDDEN: &[&str] = &[
    "alsflow-store",
    "alsflow-runner",
    "alsflow",
    "sled",
    "blake3",
];

/// Every violation of the stage dependency rule in `metadata` (the JSON of `cargo
/// metadata --no-deps --format-version 1`), as "stage → dependency" lines.
fn stage_rule_violations(metadata: &Value) -> Vec<String> {
    let root = metadata["workspace_root"].as_str().unwrap_or("");
    let packages = metadata["packages"].as_array().cloned().unwrap_or_default();
    let is_stage = |p: &Value| {
        p["manifest_path"]
            .as_str()
            .and_then(|m| m.strip_prefix(root))
            .is_some_and(|m| m.trim_start_matches('/').starts_with("stages/"))
    };
    let stages: Vec<&str> = packages
        .iter()
        .filter(|p| is_stage(p))
        .filter_map(|p| p["name"].as_str())
        .collect();
    let mut out = Vec::new();
    for p in packages.iter().filter(|p| is_stage(p)) {
        let name = p["name"].as_str().unwrap_or("?");
        for d in p["dependencies"].as_array().into_iter().flatten() {
            // kind: null = normal, "build", "dev".
            if d["kind"].as_str() == Some("dev") {
                continue;
            }
            let dep = d["name"].as_str().unwrap_or("?");
            if FORBIDDEN.contains(&dep) || (stages.contains(&dep) && dep != name) {
                out.push(format!("{name} → {dep}"));
            }
        }
    }
    out
}

fn workspace_metadata() -> Value {
    let out = Command::new(env!("CARGO"))
        .args([
            "metadata",
            "--no-deps",
            "--format-version",
            "1",
            "--offline",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run cargo metadata");
    assert!(
        out.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("cargo metadata JSON")
}

#[test]
fn stage_crates_depend_on_no_other_stage_nor_on_storage_or_hashing() {
    let meta = workspace_metadata();
    let stages = meta["packages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| {
            p["manifest_path"]
                .as_str()
                .unwrap_or("")
                .contains("/stages/")
        })
        .count();
    assert_eq!(stages, 5, "the five stage crates are found");
    let v = stage_rule_violations(&meta);
    assert!(v.is_empty(), "forbidden stage dependencies: {v:?}");
}

#[test]
fn the_rule_catches_a_forbidden_dependency() {
    let meta = serde_json::json!({
        "workspace_root": "/ws",
        "packages": [
            {"name": "alsflow-train", "manifest_path": "/ws/stages/train/Cargo.toml",
             "dependencies": [
                {"name": "alsflow-core", "kind": null},
                {"name": "sled", "kind": null},
                {"name": "alsflow-split", "kind": "dev"},
                {"name": "alsflow-tune", "kind": "build"}
             ]},
            {"name": "alsflow-split", "manifest_path": "/ws/stages/split/Cargo.toml",
             "dependencies": []},
            {"name": "alsflow-tune", "manifest_path": "/ws/stages/tune/Cargo.toml",
             "dependencies": []},
            {"name": "alsflow-store", "manifest_path": "/ws/shared/store/Cargo.toml",
             "dependencies": [{"name": "sled", "kind": null}]}
        ]
    });
    assert_eq!(
        stage_rule_violations(&meta),
        ["alsflow-train → sled", "alsflow-train → alsflow-tune"]
    );
}

/// Packages that list `dep` as a normal or build dependency.
fn dependents(metadata: &Value, dep: &str) -> Vec<String> {
    metadata["packages"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|p| {
            p["dependencies"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|d| d["name"].as_str() == Some(dep) && d["kind"].as_str() != Some("dev"))
        })
        .filter_map(|p| p["name"].as_str().map(str::to_string))
        .collect()
}

#[test]
fn bincode_lives_behind_the_codec_and_sled_behind_the_store() {
    let meta = workspace_metadata();
    assert_eq!(dependents(&meta, "bincode"), ["alsflow-core"]);
    assert_eq!(dependents(&meta, "sled"), ["alsflow-store"]);
}
