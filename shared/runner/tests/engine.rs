//! Engine behaviour with small toy stages: caching, early cutoff, fingerprints,
//! corruption repair, failure, concurrency.

use alsflow_core::{Format, StageError, StageInputs, StageOutputs};
use alsflow_runner::engine::{Dag, Engine, InputSource, Node, NodeReport, NodeStatus, RunOptions};
use alsflow_store::Store;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

type Body = dyn Fn(&StageInputs, &str) -> Result<Vec<(String, Vec<u8>)>, StageError> + Send + Sync;

/// Runs per (dataset/stage), shared across DAG rebuilds.
#[derive(Default, Clone)]
struct Counts(Arc<Mutex<BTreeMap<String, usize>>>);

impl Counts {
    fn get(&self, k: &str) -> usize {
        self.0.lock().unwrap().get(k).copied().unwrap_or(0)
    }
    fn bump(&self, k: &str) {
        *self.0.lock().unwrap().entry(k.to_string()).or_default() += 1;
    }
}

#[allow(clippy::too_many_arguments)] // a toy node is all its fields
fn node(
    counts: &Counts,
    dataset: &str,
    stage: &str,
    fp: &str,
    params: &str,
    inputs: Vec<(&str, InputSource)>,
    outputs: &[&str],
    body: Arc<Body>,
) -> Node {
    let fp_s = fp.to_string();
    let counts = counts.clone();
    let label = format!("{dataset}/{stage}");
    let params_s = params.to_string();
    Node {
        stage: stage.into(),
        dataset: dataset.into(),
        fingerprint: fp.into(),
        params_json: params.into(),
        inputs: inputs
            .into_iter()
            .map(|(n, s)| (n.to_string(), s))
            .collect(),
        outputs: outputs.iter().map(|s| s.to_string()).collect(),
        run: Arc::new(move |inputs, _ctx| {
            counts.bump(&label);
            let mut out = StageOutputs::new();
            for (name, bytes) in body(inputs, &format!("{params_s}\u{0}{fp_s}"))? {
                out.add(&name, Format::Raw, bytes);
            }
            out.note(format!("ran {label}"));
            Ok(out)
        }),
    }
}

fn produced(node: usize, output: &str) -> InputSource {
    InputSource::Produced {
        node,
        output: output.into(),
    }
}

/// Three stages per dataset: a (reads a raw file) → b (appends its param "p",
/// and its code fingerprint) → c (appends its params).
struct Toy {
    a_params: String,
    b_params: String,
    c_params: String,
    b_fp: String,
    b_fails: bool,
}

impl Default for Toy {
    fn default() -> Self {
        Toy {
            a_params: "{}".into(),
            b_params: r#"{"p":"1"}"#.into(),
            c_params: r#"{"k":"x"}"#.into(),
            b_fp: "fp-b-1".into(),
            b_fails: false,
        }
    }
}

fn dag(counts: &Counts, raw: &Path, datasets: &[&str], toy: &Toy) -> Dag {
    let mut d = Dag::default();
    for ds in datasets {
        let a = d.nodes.len();
        d.nodes.push(node(
            counts,
            ds,
            "a",
            "fp-a",
            // Keys do not include the dataset (equal work is shared); keep branches apart.
            &format!("{{\"ds\":\"{ds}\",\"x\":{}}}", toy.a_params),
            vec![(
                "source",
                InputSource::Raw {
                    path: raw.to_path_buf(),
                    origin: Default::default(),
                    sha256: None,
                },
            )],
            &["out"],
            Arc::new(|inp, _| Ok(vec![("out".into(), inp.get("source")?.bytes.to_vec())])),
        ));
        let fails = toy.b_fails && *ds == "one";
        let b = d.nodes.len();
        d.nodes.push(node(
            counts,
            ds,
            "b",
            &toy.b_fp,
            &format!("{{\"ds\":\"{ds}\",{}", &toy.b_params[1..]),
            vec![("a.out", produced(a, "out"))],
            &["out"],
            Arc::new(move |inp, params| {
                if fails {
                    return Err(StageError::other("b exploded"));
                }
                let (params, fp) = params.split_once('\u{0}').unwrap();
                let v: serde_json::Value = serde_json::from_str(params).unwrap();
                let mut bytes = inp.get("a.out")?.bytes.to_vec();
                // Only "p" and the code matter: other params leave the bytes alone.
                bytes.extend_from_slice(v["p"].as_str().unwrap_or("").as_bytes());
                bytes.extend_from_slice(fp.as_bytes());
                Ok(vec![("out".into(), bytes)])
            }),
        ));
        d.nodes.push(node(
            counts,
            ds,
            "c",
            "fp-c",
            &toy.c_params,
            vec![("b.out", produced(b, "out"))],
            &["out"],
            Arc::new(|inp, params| {
                let (params, _) = params.split_once('\u{0}').unwrap();
                let mut bytes = inp.get("b.out")?.bytes.to_vec();
                bytes.extend_from_slice(params.as_bytes());
                Ok(vec![("out".into(), bytes)])
            }),
        ));
    }
    d
}

struct Fixture {
    _dir: tempfile::TempDir,
    store: Arc<Store>,
    raw: std::path::PathBuf,
    counts: Counts,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("raw.txt");
    std::fs::write(&raw, b"raw-bytes;").unwrap();
    let store = Arc::new(Store::open(&dir.path().join("store"), Duration::from_secs(5)).unwrap());
    Fixture {
        _dir: dir,
        store,
        raw,
        counts: Counts::default(),
    }
}

fn run(f: &Fixture, datasets: &[&str], toy: &Toy, opts: RunOptions) -> Vec<NodeReport> {
    let mut e = Engine::new(f.store.clone(), dag(&f.counts, &f.raw, datasets, toy)).unwrap();
    e.run(&opts, Arc::new(|_| {}))
}

fn statuses(r: &[NodeReport]) -> Vec<String> {
    r.iter()
        .map(|r| format!("{}/{}:{}", r.dataset, r.stage, r.status.as_str()))
        .collect()
}

#[test]
fn second_run_executes_nothing() {
    let f = fixture();
    let toy = Toy::default();
    let first = run(&f, &["one"], &toy, RunOptions::default());
    assert_eq!(statuses(&first), ["one/a:ran", "one/b:ran", "one/c:ran"]);
    let second = run(&f, &["one"], &toy, RunOptions::default());
    assert_eq!(
        statuses(&second),
        ["one/a:cached", "one/b:cached", "one/c:cached"]
    );
    assert_eq!(f.counts.get("one/c"), 1);
    assert_eq!(first[2].outputs, second[2].outputs);
}

#[test]
fn param_change_reruns_the_stage_and_downstream_only() {
    let f = fixture();
    run(&f, &["one"], &Toy::default(), RunOptions::default());
    let toy = Toy {
        b_params: r#"{"p":"2"}"#.into(),
        ..Toy::default()
    };
    let r = run(&f, &["one"], &toy, RunOptions::default());
    assert_eq!(statuses(&r), ["one/a:cached", "one/b:ran", "one/c:ran"]);
    assert_eq!(
        (
            f.counts.get("one/a"),
            f.counts.get("one/b"),
            f.counts.get("one/c")
        ),
        (1, 2, 2)
    );
}

#[test]
fn byte_identical_output_leaves_downstream_cached() {
    let f = fixture();
    run(&f, &["one"], &Toy::default(), RunOptions::default());
    // An extra param that b ignores: b reruns (new key) but writes the same bytes.
    let toy = Toy {
        b_params: r#"{"p":"1","unused":true}"#.into(),
        ..Toy::default()
    };
    let r = run(&f, &["one"], &toy, RunOptions::default());
    assert_eq!(statuses(&r), ["one/a:cached", "one/b:ran", "one/c:cached"]);
    assert_eq!(f.counts.get("one/c"), 1);
}

#[test]
fn fingerprint_change_reruns_the_stage_and_downstream() {
    let f = fixture();
    run(&f, &["one"], &Toy::default(), RunOptions::default());
    // New code for b (its output depends on its code, as real edits usually do).
    let toy = Toy {
        b_fp: "fp-b-2".into(),
        ..Toy::default()
    };
    let r = run(&f, &["one"], &toy, RunOptions::default());
    assert_eq!(statuses(&r), ["one/a:cached", "one/b:ran", "one/c:ran"]);
    assert_eq!(
        (
            f.counts.get("one/a"),
            f.counts.get("one/b"),
            f.counts.get("one/c")
        ),
        (1, 2, 2)
    );
}

#[test]
fn corrupt_object_is_detected_and_rebuilt_not_used() {
    let f = fixture();
    let first = run(&f, &["one"], &Toy::default(), RunOptions::default());
    let b_out = first[1].outputs["out"];
    let path = f.store.object_path(&b_out);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[0] ^= 0xff;
    // Objects may be read-only; make it writable to simulate disk corruption.
    let mut perm = std::fs::metadata(&path).unwrap().permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    perm.set_readonly(false);
    std::fs::set_permissions(&path, perm).unwrap();
    std::fs::write(&path, &bytes).unwrap();
    // c must run (new param), reads b.out, finds it corrupt, reruns b, then runs.
    let toy = Toy {
        c_params: r#"{"k":"y"}"#.into(),
        ..Toy::default()
    };
    let r = run(&f, &["one"], &toy, RunOptions::default());
    let st = statuses(&r);
    assert!(st.contains(&"one/b:ran".to_string()), "{st:?}");
    assert!(st.contains(&"one/c:ran".to_string()), "{st:?}");
    assert_eq!(f.counts.get("one/b"), 2);
    // The rebuilt object is intact and c saw the right bytes.
    assert_eq!(f.store.read(&b_out).unwrap(), b"raw-bytes;1fp-b-1");
    let c_out = r.iter().find(|r| r.stage == "c").unwrap().outputs["out"];
    assert_eq!(
        f.store.read(&c_out).unwrap(),
        br#"raw-bytes;1fp-b-1{"k":"y"}"#
    );
}

#[test]
fn failing_stage_records_nothing_and_other_datasets_go_on() {
    let f = fixture();
    let toy = Toy {
        b_fails: true,
        ..Toy::default()
    };
    let r = run(&f, &["one", "two"], &toy, RunOptions::default());
    let st = statuses(&r);
    assert_eq!(
        st,
        [
            "one/a:ran",
            "one/b:failed",
            "one/c:skipped",
            "two/a:ran",
            "two/b:ran",
            "two/c:ran"
        ]
    );
    assert!(matches!(&r[1].status, NodeStatus::Failed(m) if m.contains("b exploded")));
    // Nothing recorded for the failed stage: no latest, and the key has no run.
    assert!(f.store.latest("one", "b").unwrap().is_none());
    assert!(f.store.run(&r[1].key.unwrap()).unwrap().is_none());
    let runs = f.store.runs().unwrap();
    assert!(
        runs.iter().all(|r| !(r.dataset == "one" && r.stage != "a")),
        "{runs:?}"
    );
    assert_eq!(f.counts.get("one/c"), 0);
    // Fixed: b runs now; its bytes equal two/b's, so c finds two/c's identical work.
    let r = run(&f, &["one", "two"], &Toy::default(), RunOptions::default());
    assert_eq!(
        statuses(&r)[..3],
        ["one/a:cached", "one/b:ran", "one/c:cached"]
    );
}

#[test]
fn targets_run_upstream_and_force_reruns_only_the_target() {
    let f = fixture();
    let toy = Toy::default();
    let d = dag(&f.counts, &f.raw, &["one"], &toy);
    let b = d.find("one", "b").unwrap();
    let mut e = Engine::new(f.store.clone(), d).unwrap();
    let opts = RunOptions {
        targets: Some([b].into()),
        ..RunOptions::default()
    };
    let r = e.run(&opts, Arc::new(|_| {}));
    assert_eq!(statuses(&r), ["one/a:ran", "one/b:ran"]);
    let opts = RunOptions {
        targets: Some([b].into()),
        force: [b].into(),
        ..RunOptions::default()
    };
    let r = e.run(&opts, Arc::new(|_| {}));
    assert_eq!(statuses(&r), ["one/a:cached", "one/b:ran"]);
}

#[test]
fn datasets_run_concurrently() {
    let f = fixture();
    let arrived = Arc::new(AtomicUsize::new(0));
    let met = Arc::new(AtomicUsize::new(0));
    let mut d = Dag::default();
    for ds in ["one", "two"] {
        let (arrived, met) = (arrived.clone(), met.clone());
        d.nodes.push(node(
            &f.counts,
            ds,
            "a",
            "fp",
            "{}",
            vec![],
            &["out"],
            Arc::new(move |_, _| {
                arrived.fetch_add(1, Ordering::SeqCst);
                let t0 = std::time::Instant::now();
                // Both branches must be inside a stage body at the same time.
                while t0.elapsed() < Duration::from_secs(10) {
                    if arrived.load(Ordering::SeqCst) == 2 {
                        met.fetch_add(1, Ordering::SeqCst);
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(5));
                }
                Ok(vec![("out".into(), b"x".to_vec())])
            }),
        ));
    }
    let mut e = Engine::new(f.store.clone(), d).unwrap();
    e.run(&RunOptions::default(), Arc::new(|_| {}));
    assert_eq!(met.load(Ordering::SeqCst), 2);
}

#[test]
fn a_node_reading_a_later_node_is_a_cycle() {
    let f = fixture();
    let mut d = dag(&f.counts, &f.raw, &["one"], &Toy::default());
    d.nodes[1].inputs = vec![("c.out".into(), produced(2, "out"))];
    let err = Engine::new(f.store.clone(), d).err().expect("cycle");
    assert!(err.to_string().contains("cycle"), "{err}");
}

#[test]
fn a_panic_outside_a_stage_body_fails_its_branch_and_spares_the_others() {
    let f = fixture();
    let toy = Toy::default();
    let mut e = Engine::new(
        f.store.clone(),
        dag(&f.counts, &f.raw, &["one", "two"], &toy),
    )
    .unwrap();
    // The report callback runs on the branch thread: a panic there takes the branch
    // down after b ran, before its report reached the caller.
    let reports = e.run(
        &RunOptions::default(),
        Arc::new(|r: &NodeReport| {
            if r.dataset == "one" && r.stage == "b" {
                panic!("report sink broke");
            }
        }),
    );
    let got = statuses(&reports);
    assert_eq!(
        got,
        [
            "one/a:ran",
            "one/b:failed",
            "one/c:failed",
            "two/a:ran",
            "two/b:ran",
            "two/c:ran"
        ]
    );
    let NodeStatus::Failed(why) = &reports[1].status else {
        unreachable!()
    };
    assert!(why.contains("report sink broke"), "{why}");
}

/// "dataset: stage=outcome ..." of a pipeline run record.
fn outcomes(p: &alsflow_store::PipelineRun) -> String {
    let stages: Vec<String> = p
        .stages
        .iter()
        .map(|s| format!("{}={}", s.stage, s.outcome.as_str()))
        .collect();
    format!("{}: {}", p.dataset, stages.join(" "))
}

#[test]
fn every_run_records_one_pipeline_run_per_dataset_naming_its_stage_runs() {
    let f = fixture();
    let toy = Toy::default();
    let mut e = Engine::new(
        f.store.clone(),
        dag(&f.counts, &f.raw, &["one", "two"], &toy),
    )
    .unwrap();
    let first = e.run(&RunOptions::default(), Arc::new(|_| {}));
    let mut recorded: Vec<_> = e.take_recorded();
    recorded.sort_by(|a, b| a.dataset.cmp(&b.dataset));
    let runs: Vec<alsflow_store::PipelineRun> =
        recorded.into_iter().map(|r| r.result.unwrap()).collect();
    // Both branches' c compute the same bytes from the same input: whichever comes
    // second may find it cached.
    let seen: Vec<String> = runs.iter().map(outcomes).collect();
    for (got, ds) in seen.iter().zip(["one", "two"]) {
        assert!(
            got.starts_with(&format!("{ds}: a=ran b=ran c=")),
            "{seen:?}"
        );
    }
    assert!(seen.iter().any(|o| o.ends_with("c=ran")), "{seen:?}");
    // The keys are those of the stage runs the reports name, params as configured.
    for p in &runs {
        for s in &p.stages {
            let r = first
                .iter()
                .find(|r| r.dataset == p.dataset && r.stage == s.stage)
                .unwrap();
            assert_eq!(s.key, r.key);
            let rec = f.store.run(&s.key.unwrap()).unwrap().unwrap();
            assert_eq!(s.params_json, rec.params_json);
        }
        assert!(p.name.is_none() && p.started_ms <= p.ended_ms);
    }

    // A cached rerun is a run too, with its label; a failing stage is recorded as
    // failed and what follows it as skipped, with the reasons.
    let opts = RunOptions {
        name: Some("again".into()),
        ..RunOptions::default()
    };
    e.run(&opts, Arc::new(|_| {}));
    let failing = Toy {
        b_fails: true,
        b_params: r#"{"p":"2"}"#.into(),
        ..Toy::default()
    };
    let mut e = Engine::new(f.store.clone(), dag(&f.counts, &f.raw, &["one"], &failing)).unwrap();
    e.run(&RunOptions::default(), Arc::new(|_| {}));
    let failed = e.take_recorded().pop().unwrap().result.unwrap();
    assert_eq!(outcomes(&failed), "one: a=cached b=failed c=skipped");
    assert!(failed.stages[1]
        .error
        .as_deref()
        .unwrap()
        .contains("b exploded"));
    assert!(failed.stages[2].key.is_none());

    let all = f.store.pipeline_runs().unwrap();
    assert_eq!(all.len(), 5);
    let named: Vec<String> = all
        .iter()
        .filter(|p| p.name.as_deref() == Some("again"))
        .map(outcomes)
        .collect();
    assert_eq!(
        named.len(),
        2,
        "both datasets of the named run carry the label"
    );
    assert!(named
        .iter()
        .all(|o| o.ends_with("a=cached b=cached c=cached")));
    // Every run has its own id.
    let ids: std::collections::BTreeSet<_> = all.iter().map(|p| p.id).collect();
    assert_eq!(ids.len(), 5);
}
