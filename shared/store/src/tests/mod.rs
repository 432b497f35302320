//! Behaviour the runner and CLI rely on, by topic: objects and records, raw sources,
//! verify and gc, the writer lock, crashes, and read-only handles. This module holds
//! the shared helpers and the child-process harness the crash and lock tests use.

use super::*;
use crate::maintenance::list_files;
use std::collections::BTreeMap;
use std::fs;
use tempfile::TempDir;

mod crash;
mod locking;
mod maintenance;
mod objects;
mod pipeline_runs;
mod readers;
mod sources;

/// A callback given the source path.
type PathHook = Box<dyn Fn(&Path)>;

thread_local! {
    /// Test hook run by `put_source_file` right after copying (to change the file then).
    pub(crate) static AFTER_SOURCE_COPY: std::cell::RefCell<Option<PathHook>> =
        const { std::cell::RefCell::new(None) };
}

/// A callback given the database.
type DbHook = Box<dyn FnOnce(&Db)>;

thread_local! {
    /// Test hook run once by the view snapshot after it copied its first tree, to
    /// write records the way a concurrent thread could.
    pub(crate) static AFTER_FIRST_TREE_COPY: std::cell::RefCell<Option<DbHook>> =
        const { std::cell::RefCell::new(None) };
}

const SHORT: Duration = Duration::from_millis(200);

fn open(dir: &TempDir) -> Store {
    Store::open(dir.path(), SHORT).expect("open store")
}

fn run_record(
    stage: &str,
    salt: &str,
    inputs: &[(&str, ArtifactId)],
    outputs: &[(&str, ArtifactId)],
) -> RunRecord {
    let map = |v: &[(&str, ArtifactId)]| {
        v.iter()
            .map(|(n, id)| (n.to_string(), *id))
            .collect::<BTreeMap<_, _>>()
    };
    RunRecord {
        key: StageKey::of(format!("{stage}/{salt}").as_bytes()),
        stage: stage.to_string(),
        dataset: "ml".to_string(),
        params_json: "{}".to_string(),
        inputs: map(inputs),
        outputs: map(outputs),
        code_fingerprint: "code".to_string(),
        started_ms: 1,
        ended_ms: 2,
        tool_version: "0.1.0".to_string(),
        summary: vec![],
    }
}

fn flip_first_byte(path: &Path) {
    let mut bytes = fs::read(path).expect("read object");
    bytes[0] ^= 0x01;
    fs::write(path, bytes).expect("write object");
}

/// The database behind a writer handle, for tests that plant records directly.
fn db_of(store: &Store) -> &Db {
    match &store.handle {
        Handle::Write(w) => &w.db,
        Handle::Read { .. } => panic!("not a writer"),
    }
}

/// Every record names an intact object, and every run names recorded artifacts.
fn assert_no_dangling_records(store: &Store, step: &str) {
    for rec in store.artifacts().unwrap() {
        assert!(
            store.read(&rec.id).is_ok(),
            "{step}: record {} has no intact object",
            rec.id.short()
        );
    }
    for run in store.runs().unwrap() {
        for id in run.inputs.values().chain(run.outputs.values()) {
            assert!(
                store.artifact(id).unwrap().is_some(),
                "{step}: run {} names unrecorded {}",
                run.label(),
                id.short()
            );
        }
    }
}

/// Set in a child copy of this test binary to make `child_process_role` act.
const CHILD_ENV: &str = "ALSFLOW_STORE_TEST_CHILD";

/// Not a test of its own: the body of the child processes spawned below. Without the
/// environment variable it does nothing.
#[test]
fn child_process_role() {
    let Ok(role) = std::env::var(CHILD_ENV) else {
        return;
    };
    let root = PathBuf::from(std::env::var("ALSFLOW_STORE_TEST_ROOT").expect("root"));
    let timeout_ms =
        std::env::var("ALSFLOW_STORE_TEST_TIMEOUT_MS").map_or(30_000, |v| v.parse().unwrap());
    let store = match Store::open(&root, Duration::from_millis(timeout_ms)) {
        Ok(store) => store,
        Err(e) => {
            // Reported on stderr for the parent to check, then a clean failure exit.
            eprintln!("child open failed: {e}");
            std::process::exit(3);
        }
    };
    match role.as_str() {
        "hold" => {
            fs::write(root.join("child-ready"), b"").unwrap();
            std::thread::sleep(Duration::from_millis(1500));
        }
        "write" => {
            // Write and record big objects until killed.
            // Built once, so the child spends its time writing, not generating bytes.
            let mut bytes: Vec<u8> = (0..4u64 << 20).map(|j| j.wrapping_mul(31) as u8).collect();
            for i in 0u64.. {
                bytes[..8].copy_from_slice(&i.to_le_bytes());
                let id = store.put(&bytes, Format::Parquet, "train.model").unwrap();
                let key = StageKey::of(&i.to_le_bytes());
                let mut run = run_record("train", &i.to_string(), &[], &[("model", id)]);
                run.key = key;
                store.record_run(&run).unwrap();
                fs::write(root.join("child-progress"), i.to_string()).unwrap();
            }
        }
        "noop" => {}
        "gc" => {
            if let Err(e) = store.gc(false) {
                eprintln!("child gc failed: {e}");
                std::process::exit(3);
            }
        }
        "crash" => {
            // A little of everything; ALSFLOW_STORE_CRASH_AT aborts at one step.
            let data = root.join("source.csv");
            fs::write(&data, b"u,i\n1,2\n").unwrap();
            let a = store.put_source_file(&data, None, None).unwrap();
            let b = store
                .put(b"interactions", Format::Parquet, "preprocess.interactions")
                .unwrap();
            store
                .record_run(&run_record(
                    "preprocess",
                    "1",
                    &[("source", a)],
                    &[("interactions", b)],
                ))
                .unwrap();
            store.put(b"unreferenced", Format::Json, "x").unwrap();
            let d = store
                .put(b"train split", Format::Parquet, "split.train")
                .unwrap();
            store
                .record_run(&run_record(
                    "split",
                    "1",
                    &[("interactions", b)],
                    &[("train", d)],
                ))
                .unwrap();
            // An older experiment whose split output only it needs, then one pipeline
            // run per experiment, so gc --keep-last 1 deletes a run and its object.
            let old = store
                .put(b"older train split", Format::Parquet, "split.train")
                .unwrap();
            let old_split = run_record("split", "0", &[("interactions", b)], &[("train", old)]);
            store.record_run(&old_split).unwrap();
            for (started, split_salt) in [(1u64, "0"), (2, "1")] {
                let split_key = StageKey::of(format!("split/{split_salt}").as_bytes());
                let keys = [StageKey::of(b"preprocess/1"), split_key];
                store
                    .record_pipeline_run(&crate::PipelineRun {
                        id: crate::PipelineRunId::of(&started.to_le_bytes()),
                        dataset: "ml".into(),
                        name: None,
                        started_ms: started,
                        ended_ms: started,
                        tool_version: "0.1.0".into(),
                        stages: keys
                            .iter()
                            .map(|k| crate::StageUse {
                                stage: "split".into(),
                                outcome: crate::StageOutcome::Ran,
                                key: Some(*k),
                                params_json: "{}".into(),
                                error: None,
                            })
                            .collect(),
                    })
                    .unwrap();
                store.publish().unwrap();
            }
            store
                .gc_with(&GcOptions {
                    keep_last: Some(1),
                    ..GcOptions::default()
                })
                .unwrap();
            flip_first_byte(&store.object_path(&d));
            store.verify().unwrap();
            fs::write(root.join("child-done"), b"").unwrap();
        }
        other => panic!("unknown child role {other}"),
    }
}

fn spawn_child(role: &str, root: &Path) -> std::process::Child {
    std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "tests::child_process_role",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, role)
        .env("ALSFLOW_STORE_TEST_ROOT", root)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn child test process")
}

fn wait_for(path: &Path) {
    let start = Instant::now();
    while !path.exists() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "child never wrote {}",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}
