//! Helpers of the end-to-end tests: a temp directory with a config, the real binary
//! run against stores inside it, and readers of its `--json` output.

#![allow(dead_code)] // each test file uses its own subset

use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The `alsflow` binary of this very build (cargo builds it for the integration
/// tests, so they never run a stale one).
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_alsflow"))
}

pub fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/plays.csv")
}

/// A config with two datasets: the CSV fixture and a small synthetic one.
pub fn config_text(extra_train: &str) -> String {
    format!(
        r#"
[[dataset]]
name = "fx"
path = "{fixture}"
format = "delimited"
delimiter = ","
header = true
columns = {{ user = "user", item = "item", value = "plays" }}
feedback = "count"

[[dataset]]
name = "syn"
format = "synthetic"
feedback = "count"
synthetic = {{ users = 200, items = 100, interactions = 3000, rank = 4, values = "count", seed = 3 }}

[split]
method = "random"
test_fraction = 0.2
folds = 2
seed = 42

[train]
rank = 4
max_iter = 4
reg_param = 0.1
alpha = 40.0
solver = "cholesky"
threads = 1
{extra_train}

[tune]
enabled = false

[evaluate]
k = 5
"#,
        fixture = fixture().display()
    )
}

pub struct Env {
    pub dir: tempfile::TempDir,
}

impl Env {
    pub fn new() -> Self {
        let env = Env {
            dir: tempfile::tempdir().expect("tempdir"),
        };
        env.write_config(&config_text(""));
        env
    }
    pub fn config(&self) -> PathBuf {
        self.dir.path().join("pipeline.toml")
    }
    pub fn write_config(&self, text: &str) {
        std::fs::write(self.config(), text).expect("write config");
    }
    pub fn store(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
    pub fn cmd(&self, store: &str, args: &[&str]) -> Command {
        let mut c = Command::new(bin());
        c.arg("--store")
            .arg(self.store(store))
            .arg("--config")
            .arg(self.config())
            .arg("--data")
            .arg(self.dir.path().join("data"))
            .args(args)
            .env_remove("RUST_LOG")
            .current_dir(self.dir.path());
        c
    }
    pub fn out(&self, store: &str, args: &[&str]) -> Output {
        self.cmd(store, args).output().expect("run alsflow")
    }
    /// `run --json` on `store`; panics on failure; returns "dataset/stage" → report.
    pub fn run(&self, store: &str, extra: &[&str]) -> BTreeMap<String, Value> {
        let mut args = vec!["run", "--json"];
        args.extend_from_slice(extra);
        let o = self.out(store, &args);
        assert!(
            o.status.success(),
            "alsflow {args:?} failed: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        parse_reports(&o.stdout)
    }
}

pub fn parse_reports(stdout: &[u8]) -> BTreeMap<String, Value> {
    String::from_utf8_lossy(stdout)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let v: Value =
                serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON line {l}: {e}"));
            (
                format!(
                    "{}/{}",
                    v["dataset"].as_str().unwrap(),
                    v["stage"].as_str().unwrap()
                ),
                v,
            )
        })
        .collect()
}

/// "dataset/stage" → status, for the stages that appear.
pub fn statuses(r: &BTreeMap<String, Value>) -> BTreeMap<String, String> {
    r.iter()
        .map(|(k, v)| (k.clone(), v["status"].as_str().unwrap().to_string()))
        .collect()
}

pub fn expect(r: &BTreeMap<String, Value>, want: &[(&str, &str)]) {
    let got = statuses(r);
    for (k, s) in want {
        assert_eq!(got.get(*k).map(String::as_str), Some(*s), "{k} in {got:?}");
    }
}

pub fn outputs(r: &BTreeMap<String, Value>) -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    for (k, v) in r {
        for (name, id) in v["outputs"].as_object().unwrap() {
            m.insert(format!("{k}.{name}"), id.as_str().unwrap().to_string());
        }
    }
    m
}
