//! verify and gc: damage, missing objects, crash debris, what gc keeps.

use super::*;

#[test]
fn a_flipped_byte_is_corrupt_for_read_and_verify_which_invalidates_dependent_runs() {
    let dir = TempDir::new().unwrap();
    let store = open(&dir);
    let src = store.put(b"raw csv", Format::Raw, "source").unwrap();
    let table = store
        .put(b"interactions", Format::Parquet, "preprocess.interactions")
        .unwrap();
    let train = store
        .put(b"train part", Format::Parquet, "split.train")
        .unwrap();
    let other = store
        .put(b"other dataset", Format::Parquet, "preprocess.interactions")
        .unwrap();
    let pre = run_record(
        "preprocess",
        "1",
        &[("source", src)],
        &[("interactions", table)],
    );
    let split = run_record(
        "split",
        "1",
        &[("preprocess.interactions", table)],
        &[("train", train)],
    );
    let unrelated = run_record(
        "preprocess",
        "2",
        &[("source", src)],
        &[("interactions", other)],
    );
    for r in [&pre, &split, &unrelated] {
        store.record_run(r).unwrap();
    }

    let path = store.object_path(&table);
    flip_first_byte(&path);
    match store.read(&table) {
        Err(StoreError::Corrupt {
            id,
            path: p,
            producer,
        }) => {
            assert_eq!((id, p), (table, path.clone()));
            assert_eq!(producer.as_deref(), Some("ml/preprocess"));
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }
    let msg = store.read(&table).unwrap_err().to_string();
    assert!(
        msg.contains(&table.to_hex()) && msg.contains("ml/preprocess"),
        "{msg}"
    );
    assert!(matches!(
        store.verified_path(&table),
        Err(StoreError::Corrupt { .. })
    ));

    let report = store.verify().unwrap();
    assert!(!report.is_clean());
    assert_eq!(report.objects_checked, 4);
    assert_eq!(report.problems.len(), 1);
    let problem = &report.problems[0];
    assert_eq!(problem.id, Some(table));
    assert!(matches!(
        problem.kind,
        ProblemKind::HashMismatch {
            recorded_size: Some(12),
            ..
        }
    ));
    assert_eq!(problem.producer.as_deref(), Some("ml/preprocess"));
    let moved = problem.moved_to.clone().expect("moved aside");
    assert_eq!(moved, dir.path().join("corrupt").join(table.to_hex()));
    assert!(moved.is_file() && !path.exists());

    // The producer (output) and the consumer (input) are invalidated; the rest stays.
    let mut invalidated: Vec<StageKey> = report.invalidated_runs.iter().map(|r| r.key).collect();
    invalidated.sort();
    let mut expected = vec![pre.key, split.key];
    expected.sort();
    assert_eq!(invalidated, expected);
    assert_eq!(store.run(&pre.key).unwrap(), None);
    assert_eq!(store.run(&split.key).unwrap(), None);
    assert_eq!(store.run(&unrelated.key).unwrap(), Some(unrelated));
    assert_eq!(store.artifact(&table).unwrap(), None);
    assert!(matches!(
        store.read(&table),
        Err(StoreError::Missing { .. })
    ));

    // The report serialises with hex ids for `--json`.
    let json = serde_json::to_string(&report).unwrap();
    assert!(
        json.contains(&table.to_hex()) && json.contains("hash_mismatch"),
        "{json}"
    );

    // A second verify is clean: the bad object and every record needing it are gone.
    assert!(store.verify().unwrap().is_clean());
}

#[test]
fn a_missing_object_is_caught_by_object_present_and_verify() {
    let dir = TempDir::new().unwrap();
    let store = open(&dir);
    let id = store
        .put(b"metrics", Format::Json, "evaluate.metrics")
        .unwrap();
    let run = run_record("evaluate", "1", &[], &[("metrics", id)]);
    store.record_run(&run).unwrap();
    assert!(store.object_present(&id));
    fs::remove_file(store.object_path(&id)).unwrap();
    assert!(!store.object_present(&id));
    assert!(matches!(store.read(&id), Err(StoreError::Missing { id: m }) if m == id));

    // A truncated object (wrong size) is not present either.
    let id2 = store
        .put(b"longer object", Format::Json, "evaluate.report")
        .unwrap();
    fs::write(store.object_path(&id2), b"longer").unwrap();
    assert!(!store.object_present(&id2));
    assert!(!store.object_present(&ArtifactId::of(b"never stored")));

    let report = store.verify().unwrap();
    let kinds: Vec<(Option<ArtifactId>, ProblemKind)> = report
        .problems
        .iter()
        .map(|p| (p.id, p.kind.clone()))
        .collect();
    assert!(
        kinds.contains(&(Some(id), ProblemKind::Missing)),
        "{kinds:?}"
    );
    assert!(kinds
        .iter()
        .any(|(i, k)| *i == Some(id2) && matches!(k, ProblemKind::HashMismatch { size: 6, .. })));
    assert_eq!(report.invalidated_runs.len(), 1);
    assert_eq!(report.invalidated_runs[0].key, run.key);
    assert!(
        report.invalidated_runs[0].reason.contains("output metrics"),
        "{:?}",
        report.invalidated_runs
    );
}

#[test]
fn crash_debris_is_not_an_artifact_and_gc_removes_it() {
    let dir = TempDir::new().unwrap();
    let store = open(&dir);
    let kept = store.put(b"kept", Format::Parquet, "split.test").unwrap();
    store
        .record_run(&run_record("split", "1", &[], &[("test", kept)]))
        .unwrap();
    // A crash mid-write leaves a partial temp file; a crash between rename and the
    // record leaves an unrecorded object.
    let temp = dir.path().join("tmp").join("99999-0.tmp");
    fs::write(&temp, b"partial obj").unwrap();
    let orphan = ArtifactId::of(b"orphan");
    let orphan_path = store.object_path(&orphan);
    fs::create_dir_all(orphan_path.parent().unwrap()).unwrap();
    fs::write(&orphan_path, b"orphan").unwrap();

    assert_eq!(
        store
            .artifacts()
            .unwrap()
            .iter()
            .map(|r| r.id)
            .collect::<Vec<_>>(),
        vec![kept]
    );
    assert!(!store.object_present(&orphan));
    assert!(matches!(
        store.resolve_prefix(&orphan.to_hex()),
        Err(StoreError::NoArtifact { .. })
    ));
    // Crash debris is not damage: verify stays clean.
    assert!(store.verify().unwrap().is_clean());

    let dry = store.gc(true).unwrap();
    assert_eq!(
        (
            dry.objects_removed,
            dry.temp_files_removed,
            dry.temp_bytes_removed
        ),
        (1, 1, 11)
    );
    assert!(
        temp.exists() && orphan_path.exists(),
        "dry run deletes nothing"
    );
    let done = store.gc(false).unwrap();
    assert_eq!(
        GcReport {
            dry_run: true,
            ..done.clone()
        },
        dry
    );
    assert!(!temp.exists() && !orphan_path.exists());
    assert_eq!(store.read(&kept).unwrap(), b"kept");
    assert_eq!((done.objects_kept, done.bytes_kept), (1, 4));
}

#[test]
fn gc_keeps_everything_a_run_references_and_drops_the_rest() {
    let dir = TempDir::new().unwrap();
    let store = open(&dir);
    let data = dir.path().join("ratings.csv");
    fs::write(&data, b"u,i,r\n1,2,5\n").unwrap();
    let unused_data = dir.path().join("unused.csv");
    fs::write(&unused_data, b"u,i\n").unwrap();
    let src = store.put_source_file(&data, None, None).unwrap();
    let unused_src = store.put_source_file(&unused_data, None, None).unwrap();
    let out = store
        .put(b"interactions", Format::Parquet, "preprocess.interactions")
        .unwrap();
    let stale = store
        .put(b"old model", Format::Bincode, "train.model")
        .unwrap();
    store
        .record_run(&run_record(
            "preprocess",
            "1",
            &[("source", src)],
            &[("interactions", out)],
        ))
        .unwrap();

    let report = store.gc(false).unwrap();
    assert_eq!((report.objects_removed, report.records_removed), (2, 2));
    assert_eq!(report.bytes_removed, 4 + 9);
    assert_eq!(report.objects_kept, 2);
    for id in [src, out] {
        assert!(store.object_present(&id));
        assert!(store.read(&id).is_ok());
    }
    for id in [unused_src, stale] {
        assert_eq!(store.artifact(&id).unwrap(), None);
        assert!(!store.object_path(&id).exists());
    }
    // Nothing more to collect, and what is kept still verifies.
    assert_eq!(store.gc(false).unwrap().objects_removed, 0);
    assert!(store.verify().unwrap().is_clean());
}

#[test]
fn stray_files_in_objects_are_moved_aside_by_verify() {
    let dir = TempDir::new().unwrap();
    let store = open(&dir);
    let stray = dir.path().join("objects").join("notes.txt");
    fs::write(&stray, b"hello").unwrap();
    let report = store.verify().unwrap();
    assert_eq!(report.problems.len(), 1);
    assert_eq!(report.problems[0].kind, ProblemKind::Stray);
    assert!(!stray.exists());
    assert!(dir.path().join("corrupt").join("notes.txt").is_file());
    // gc then deletes the quarantined file.
    assert_eq!(store.gc(false).unwrap().quarantined_removed, 1);
}
