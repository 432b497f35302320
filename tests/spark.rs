//! The Spark backend end to end: the real `alsflow` binary, PySpark from PyPI (`make
//! spark-env`) and Java. One test runs train and tune on a standalone cluster started
//! on loopback (a master and two workers, 1 core and 1 GB each); the other checks that
//! each error class fails the stage with one line, records nothing and leaves no
//! staging files. Both skip, saying why, where Java or PySpark cannot be had.
//!
//! Spark applications are slow to start (a JVM, ~6.5 s on an idle machine), so the
//! data is tiny and each test starts as few as it can.

mod common;

use common::{parse_reports, Env};
use serde_json::Value;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// No alsflow run or cluster start of these tests may take longer (a loaded CI
/// machine runs Spark several times slower than an idle one).
const DEADLINE: Duration = Duration::from_secs(900);

/// The virtualenv's `bin/` made by `make spark-env`, or why the tests cannot run.
fn spark_bin() -> Result<PathBuf, String> {
    let bin = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../spark/.venv/bin");
    if !bin.join("spark-submit").is_file() {
        return Err(format!(
            "PySpark is not installed in {} (run `make spark-env`)",
            bin.display()
        ));
    }
    let java = match std::env::var_os("JAVA_HOME") {
        Some(home) => Command::new(Path::new(&home).join("bin/java"))
            .arg("-version")
            .output(),
        None => Command::new("java").arg("-version").output(),
    };
    match java {
        Ok(o) if o.status.success() => Ok(bin.canonicalize().unwrap_or(bin)),
        _ => Err("no Java runtime (Spark needs Java 17)".into()),
    }
}

macro_rules! spark_or_skip {
    () => {
        match spark_bin() {
            Ok(bin) => bin,
            Err(why) => {
                eprintln!("skipping the Spark test: {why}");
                return;
            }
        }
    };
}

/// A tiny synthetic dataset, train and tune on Spark with `master`.
fn config(bin: &Path, master: &str, staging: &Path) -> String {
    format!(
        r#"
[[dataset]]
name = "syn"
format = "synthetic"
feedback = "count"
synthetic = {{ users = 120, items = 60, interactions = 1500, rank = 3, values = "count", seed = 5 }}

[split]
method = "random"
test_fraction = 0.2
folds = 2
seed = 42

[train]
rank = 3
max_iter = 3
reg_param = 0.05
alpha = 10.0
solver = "cholesky"
reg_scaling = "per_interaction"
backend = "spark"

[tune]
enabled = true
backend = "spark"
[tune.grid]
rank = [2, 3]

[spark]
submit = "{submit}"
master = "{master}"
staging_dir = "{staging}"
num_blocks = 2
conf = {{ "spark.ui.enabled" = false, "spark.executor.memory" = "512m", "spark.driver.host" = "127.0.0.1" }}

[evaluate]
k = 5
"#,
        submit = bin.join("spark-submit").display(),
        staging = staging.display(),
    )
}

/// Run `cmd` to completion within [`DEADLINE`] (killed and failed after it).
fn run_bounded(mut cmd: Command) -> Output {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start alsflow");
    let started = Instant::now();
    loop {
        if child.try_wait().expect("wait").is_some() {
            return child.wait_with_output().expect("output");
        }
        if started.elapsed() > DEADLINE {
            let _ = child.kill();
            panic!("alsflow did not finish within {DEADLINE:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `alsflow ARGS` on the test's store, with Spark kept on loopback.
fn alsflow(env: &Env, args: &[&str]) -> Output {
    let mut cmd = env.cmd("store", args);
    cmd.env("SPARK_LOCAL_IP", "127.0.0.1");
    run_bounded(cmd)
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// "dataset/stage" → state from `alsflow status --json`, with `sets` applied.
fn states(env: &Env, sets: &[&str]) -> Vec<(String, String, Vec<String>)> {
    let mut args = vec!["status", "--json"];
    for s in sets {
        args.extend(["--set", s]);
    }
    let o = alsflow(env, &args);
    assert!(o.status.success(), "status: {}", stderr(&o));
    let v: Value = serde_json::from_slice(&o.stdout).expect("status JSON");
    v.as_array()
        .expect("array")
        .iter()
        .map(|s| {
            (
                s["stage"].as_str().unwrap_or("").to_string(),
                s["state"].as_str().unwrap_or("").to_string(),
                s["reasons"]
                    .as_array()
                    .map(|r| r.iter().map(|x| x.to_string()).collect())
                    .unwrap_or_default(),
            )
        })
        .collect()
}

fn state_of(states: &[(String, String, Vec<String>)], stage: &str) -> String {
    states
        .iter()
        .find(|s| s.0 == stage)
        .map(|s| s.1.clone())
        .unwrap_or_default()
}

fn entries(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A standalone Spark cluster on loopback: one master, two workers; stopped on drop.
struct Cluster {
    processes: Vec<Child>,
    master_url: String,
    logs: PathBuf,
}

impl Cluster {
    fn start(bin: &Path, dir: &Path) -> Cluster {
        let logs = dir.join("cluster-logs");
        std::fs::create_dir_all(&logs).expect("log dir");
        let port = free_port();
        let master_url = format!("spark://127.0.0.1:{port}");
        let mut cluster = Cluster {
            processes: Vec::new(),
            master_url: master_url.clone(),
            logs: logs.clone(),
        };
        let class = |name: &str, args: &[String]| {
            let log = File::create(logs.join(format!("{name}.log"))).expect("log file");
            Command::new(bin.join("spark-class"))
                .args(args)
                .env("PYSPARK_PYTHON", bin.join("python"))
                .env("SPARK_LOCAL_IP", "127.0.0.1")
                .stdin(Stdio::null())
                .stdout(log.try_clone().expect("log"))
                .stderr(log)
                .spawn()
                .expect("start spark-class")
        };
        cluster.processes.push(class(
            "master",
            &[
                "org.apache.spark.deploy.master.Master".into(),
                "--host".into(),
                "127.0.0.1".into(),
                "--port".into(),
                port.to_string(),
                "--webui-port".into(),
                free_port().to_string(),
            ],
        ));
        cluster.wait_for("master", "I have been elected leader");
        for w in 1..=2 {
            let work = dir.join(format!("worker{w}"));
            cluster.processes.push(class(
                &format!("worker{w}"),
                &[
                    "org.apache.spark.deploy.worker.Worker".into(),
                    "--host".into(),
                    "127.0.0.1".into(),
                    "--cores".into(),
                    "1".into(),
                    "--memory".into(),
                    "1g".into(),
                    "--webui-port".into(),
                    free_port().to_string(),
                    "--work-dir".into(),
                    work.display().to_string(),
                    master_url.clone(),
                ],
            ));
        }
        for w in 1..=2 {
            cluster.wait_for(&format!("worker{w}"), "Successfully registered with master");
        }
        cluster
    }

    fn log(&self, name: &str) -> String {
        std::fs::read_to_string(self.logs.join(format!("{name}.log"))).unwrap_or_default()
    }

    fn wait_for(&self, name: &str, line: &str) {
        let started = Instant::now();
        while !self.log(name).contains(line) {
            assert!(
                started.elapsed() < DEADLINE,
                "{name} did not log '{line}' in time: {}",
                self.log(name)
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// How many applications the master has accepted so far.
    fn applications(&self) -> usize {
        self.log("master").matches("Registered app ").count()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // SIGTERM, so the workers stop their executors; then make sure.
        for p in &self.processes {
            let _ = Command::new("kill").arg(p.id().to_string()).status();
        }
        let started = Instant::now();
        for p in &mut self.processes {
            while started.elapsed() < Duration::from_secs(30) {
                if let Ok(Some(_)) = p.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = p.kill();
            let _ = p.wait();
        }
    }
}

#[test]
fn train_and_tune_run_on_a_loopback_standalone_cluster_and_cache_like_native_stages() {
    let bin = spark_or_skip!();
    let env = Env::new();
    let staging = env.dir.path().join("staging");
    let cluster = Cluster::start(&bin, env.dir.path());
    env.write_config(&config(&bin, &cluster.master_url, &staging));

    let o = alsflow(&env, &["run", "--json"]);
    assert!(o.status.success(), "run: {}", stderr(&o));
    let reports = parse_reports(&o.stdout);
    for stage in ["tune", "train", "evaluate"] {
        assert_eq!(reports[&format!("syn/{stage}")]["status"], "ran", "{stage}");
    }
    // Tune's four (point, fold) fits in one application, train's fit in another.
    assert_eq!(cluster.applications(), 2, "{}", cluster.log("master"));
    assert!(
        entries(&staging).is_empty(),
        "staging left: {:?}",
        entries(&staging)
    );

    // Spark's factors, scored by our evaluate: far better than random.
    let o = alsflow(&env, &["metrics", "--json"]);
    let m: Value = serde_json::from_slice(&o.stdout).expect("metrics JSON");
    let (model, random) = (
        m["syn"]["model"]["roem"].as_f64().expect("model roem"),
        m["syn"]["random"]["roem"].as_f64().expect("random roem"),
    );
    assert!(model < 0.8 * random, "model ROEM {model}, random {random}");

    // A second run is fully cached and starts no application.
    let o = alsflow(&env, &["run", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        parse_reports(&o.stdout)
            .values()
            .all(|r| r["status"] == "cached"),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    assert_eq!(cluster.applications(), 2);

    // The master URL and memory are not in the keys; the blocks are.
    let elsewhere = states(
        &env,
        &[
            "spark.master=local[2]",
            "spark.conf.\"spark.executor.memory\"=\"2g\"",
        ],
    );
    assert!(elsewhere.iter().all(|s| s.1 == "fresh"), "{elsewhere:?}");
    let reblocked = states(&env, &["spark.num_blocks=3"]);
    for stage in ["tune", "train"] {
        assert_eq!(state_of(&reblocked, stage), "stale", "{reblocked:?}");
    }
    let why = &reblocked.iter().find(|s| s.0 == "train").expect("train").2;
    assert!(
        why.iter()
            .any(|r| r.contains("train.spark.num_blocks 2 → 3")),
        "{why:?}"
    );
    // Back on the native backend, nothing of the Spark runs is reused.
    let native = states(&env, &["train.backend=native"]);
    assert_eq!(state_of(&native, "train"), "stale", "{native:?}");
    assert_eq!(state_of(&native, "tune"), "fresh", "{native:?}");
}

#[test]
fn each_spark_error_fails_the_stage_in_one_line_records_nothing_and_cleans_up() {
    let bin = spark_or_skip!();
    let env = Env::new();
    let staging = env.dir.path().join("staging");
    let text = config(&bin, "local[1]", &staging).replace("enabled = true", "enabled = false");
    env.write_config(&text);
    let closed_port = free_port();
    let unreachable = format!("spark.master=spark://127.0.0.1:{closed_port}");
    let cases: &[(&[&str], &str)] = &[
        (
            &["spark.submit=/nonexistent/bin/spark-submit"],
            "Spark not found: cannot run spark.submit = \"/nonexistent/bin/spark-submit\"",
        ),
        (
            &["train.solver=cg"],
            "invalid parameter train.solver: Spark's ALS solves each row exactly",
        ),
        (
            &["train.confidence=log"],
            "invalid parameter train.confidence",
        ),
        (&[&unreachable], "cannot reach the Spark master"),
        (
            // A setting Spark rejects once the application runs.
            &["spark.conf.\"spark.sql.parquet.enableVectorizedReader\"=\"maybe\""],
            "the Spark application failed (exit status: 1); its output ends: ",
        ),
    ];
    for (sets, expected) in cases {
        let mut args = vec!["run", "--json"];
        for s in *sets {
            args.extend(["--set", s]);
        }
        let o = alsflow(&env, &args);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(1), "{sets:?}: {err}");
        let line = err
            .lines()
            .find(|l| l.starts_with("error: "))
            .unwrap_or_else(|| panic!("{sets:?}: no error line in {err}"));
        assert!(line.contains(expected), "{sets:?}: {line}");
        let reports = parse_reports(&o.stdout);
        assert_eq!(reports["syn/train"]["status"], "failed", "{sets:?}");
        assert_eq!(reports["syn/evaluate"]["status"], "skipped", "{sets:?}");
        assert!(
            entries(&staging).is_empty(),
            "{sets:?} left staging files: {:?}",
            entries(&staging)
        );
    }
    // Nothing was recorded for train: it has never run.
    assert_eq!(state_of(&states(&env, &[]), "train"), "missing");

    // Without Java, spark-submit cannot even tell its version.
    let mut cmd = env.cmd("store", &["run", "--json"]);
    cmd.env("JAVA_HOME", "/nonexistent-java");
    let o = run_bounded(cmd);
    let err = stderr(&o);
    assert!(
        err.contains("Java not found: spark-submit needs a Java 17 runtime"),
        "{err}"
    );
}
