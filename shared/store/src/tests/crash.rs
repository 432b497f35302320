//! Crashes: a writer killed mid-stream, and an abort at every named write step.

use super::*;

#[test]
fn a_writer_killed_mid_write_leaves_a_consistent_store() {
    let dir = TempDir::new().unwrap();
    let mut child = spawn_child("write", dir.path());
    wait_for(&dir.path().join("child-progress"));
    // Let it get into the middle of further writes, then SIGKILL it.
    std::thread::sleep(Duration::from_millis(150));
    child.kill().unwrap();
    child.wait().unwrap();

    let store = open(&dir);
    let runs = store.runs().unwrap();
    assert!(!runs.is_empty(), "at least the first recorded run survives");
    // Every recorded run's outputs are intact; nothing recorded is missing or partial.
    for run in &runs {
        for id in run.outputs.values() {
            assert!(store.object_present(id));
            assert_eq!(store.read(id).unwrap().len(), 4 << 20);
        }
    }
    for rec in store.artifacts().unwrap() {
        assert!(
            store.object_present(&rec.id),
            "record {} without its object",
            rec.id.short()
        );
    }
    assert!(store.verify().unwrap().is_clean());
    // Debris (a partial temp file, an unrecorded object) is only garbage.
    store.gc(false).unwrap();
    assert!(list_files(&dir.path().join("tmp")).unwrap().is_empty());
    assert!(store.verify().unwrap().is_clean());
    assert_eq!(store.runs().unwrap().len(), runs.len());
}

#[test]
fn a_crash_at_any_step_leaves_only_orphans_never_dangling_records() {
    let steps = [
        "put:temp-written",
        "put:renamed",
        "put:recorded",
        "source:renamed",
        "run:recorded",
        "gc:records-removed",
        "verify:records-removed",
        // The first publication is the empty view of the fresh store, before its
        // database exists; the third is record_run's, the sixth the publication of a
        // recorded pipeline run, the eighth gc's (with --keep-last: it deletes a pipeline run, a stage run
        // and an object).
        "view:temp-written",
        "view:temp-written#3",
        "view:temp-written#6",
        "view:temp-written#8",
    ];
    for step in steps {
        let dir = TempDir::new().unwrap();
        crash_child_at(&dir, step);

        // Readers see a whole view naming only intact objects, before and after the
        // next writer republishes it.
        let reader = Store::open_read_only(dir.path(), SHORT).expect("open read-only");
        assert_no_dangling_records(&reader, step);
        let store = open(&dir);
        assert_no_dangling_records(&store, step);
        reader.refresh().unwrap();
        assert_no_dangling_records(&reader, step);
        assert_eq!(reader.runs().unwrap(), store.runs().unwrap(), "{step}");
        assert_eq!(
            reader.artifacts().unwrap(),
            store.artifacts().unwrap(),
            "{step}"
        );
        assert_eq!(
            reader.pipeline_runs().unwrap(),
            store.pipeline_runs().unwrap(),
            "{step}"
        );
        drop(reader);
        // Whatever verify still finds is unrecorded debris; it invalidates nothing.
        let report = store.verify().unwrap();
        assert!(report.invalidated_runs.is_empty(), "{step}: {report:?}");
        assert!(
            report
                .problems
                .iter()
                .all(|p| p.kind != ProblemKind::Missing),
            "{step}: {report:?}"
        );
        store.gc(false).unwrap();
        assert!(store.verify().unwrap().is_clean(), "{step}");
        assert!(
            list_files(&dir.path().join("tmp")).unwrap().is_empty(),
            "{step}"
        );
        // And the store keeps working.
        let id = store.put(b"after the crash", Format::Json, "x").unwrap();
        store
            .record_run(&run_record("evaluate", "after", &[], &[("metrics", id)]))
            .unwrap();
        assert_no_dangling_records(&store, step);
    }
}

/// Run the child role "crash" in `dir`, aborting at `step`; check that it got there.
fn crash_child_at(dir: &TempDir, step: &str) {
    let status = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "tests::child_process_role",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, "crash")
        .env("ALSFLOW_STORE_TEST_ROOT", dir.path())
        .env("ALSFLOW_STORE_CRASH_AT", step)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(!status.success(), "child should have crashed at {step}");
    assert!(
        !dir.path().join("child-done").exists(),
        "crash point {step} was never reached"
    );
}

#[test]
fn a_crash_before_the_view_is_renamed_leaves_readers_on_the_previous_view() {
    let dir = TempDir::new().unwrap();
    // The third publication is record_run's (preprocess): its run is durable in the
    // database, its view only a temp file.
    crash_child_at(&dir, "view:temp-written#3");
    let leftovers = list_files(&dir.path().join("tmp")).unwrap();
    assert_eq!(leftovers.len(), 1, "the unrenamed view: {leftovers:?}");

    let reader = Store::open_read_only(dir.path(), SHORT).expect("open read-only");
    let source = ArtifactId::of(b"u,i\n1,2\n");
    let seen: Vec<ArtifactId> = reader.artifacts().unwrap().iter().map(|r| r.id).collect();
    assert_eq!(seen, vec![source], "the view published by put_source_file");
    assert!(reader.runs().unwrap().is_empty());
    assert_eq!(reader.read(&source).unwrap(), b"u,i\n1,2\n");

    // The writer finds the view older than its database and republishes on open.
    let writer = open(&dir);
    assert_eq!(writer.runs().unwrap().len(), 1);
    assert!(reader.refresh().unwrap());
    assert_eq!(reader.runs().unwrap(), writer.runs().unwrap());
    assert_no_dangling_records(&reader, "the republished view");
}
