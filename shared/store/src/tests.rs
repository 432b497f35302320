//! Behaviour the runner and CLI rely on: round trips, corruption handling, crash
//! debris, prefix resolution, the process lock, gc.

use super::*;
use crate::maintenance::list_files;
use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::Write;
use std::time::SystemTime;
use tempfile::TempDir;

/// A callback given the source path.
type PathHook = Box<dyn Fn(&Path)>;

thread_local! {
    /// Test hook run by `put_source_file` right after copying (to change the file then).
    pub(crate) static AFTER_SOURCE_COPY: std::cell::RefCell<Option<PathHook>> =
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

#[test]
fn put_then_read_round_trips_and_records_the_artifact() {
    let dir = TempDir::new().unwrap();
    let store = open(&dir);
    let id = store
        .put(b"hello table", Format::Parquet, "split.train")
        .unwrap();
    assert_eq!(id, ArtifactId::of(b"hello table"));
    assert_eq!(store.read(&id).unwrap(), b"hello table");
    let path = store.object_path(&id);
    assert!(path.starts_with(dir.path().join("objects").join(&id.to_hex()[..2])));
    assert!(store.object_present(&id));
    let rec = store.artifact(&id).unwrap().expect("record");
    assert_eq!(
        (rec.format, rec.kind.as_str(), rec.size),
        (Format::Parquet, "split.train", 11)
    );
    assert_eq!((rec.producer, &rec.source), (None, &None));
    assert_eq!(store.artifacts().unwrap(), vec![rec]);
    // Nothing is left in tmp/ after a successful put.
    assert!(list_files(&dir.path().join("tmp")).unwrap().is_empty());
}

#[test]
fn records_survive_reopening_the_store() {
    let dir = TempDir::new().unwrap();
    let (a, b, run) = {
        let store = open(&dir);
        let a = store.put(b"in", Format::Raw, "source").unwrap();
        let b = store.put(b"out", Format::Bincode, "train.model").unwrap();
        let run = run_record("train", "1", &[("split.train", a)], &[("model", b)]);
        store.record_run(&run).unwrap();
        store.set_latest("ml", "train", &run.key).unwrap();
        store.memo_put(b"tune", b"point", b"0.5").unwrap();
        (a, b, run)
    };
    let store = open(&dir);
    assert_eq!(store.read(&a).unwrap(), b"in");
    assert_eq!(store.run(&run.key).unwrap(), Some(run.clone()));
    assert_eq!(store.latest("ml", "train").unwrap(), Some(run.key));
    assert_eq!(
        store.memo_get(b"tune", b"point").unwrap().as_deref(),
        Some(&b"0.5"[..])
    );
    assert_eq!(store.artifact(&b).unwrap().unwrap().producer, Some(run.key));
}

#[test]
fn put_is_idempotent_and_repairs_a_damaged_object() {
    let dir = TempDir::new().unwrap();
    let store = open(&dir);
    let id = store
        .put(b"model bytes", Format::Bincode, "train.model")
        .unwrap();
    let path = store.object_path(&id);
    let before = fs::metadata(&path).unwrap();
    // A second put of the same bytes: same id, the object file is not rewritten
    // (same inode), and the first record (kind) is kept.
    assert_eq!(
        store
            .put(b"model bytes", Format::Bincode, "other.kind")
            .unwrap(),
        id
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        assert_eq!(fs::metadata(&path).unwrap().ino(), before.ino());
    }
    assert_eq!(store.artifact(&id).unwrap().unwrap().kind, "train.model");
    assert_eq!(store.artifacts().unwrap().len(), 1);

    // A damaged object of the same size is replaced by the next put.
    flip_first_byte(&path);
    assert!(matches!(store.read(&id), Err(StoreError::Corrupt { .. })));
    store
        .put(b"model bytes", Format::Bincode, "train.model")
        .unwrap();
    assert_eq!(store.read(&id).unwrap(), b"model bytes");
}

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
fn prefixes_resolve_when_unique_and_fail_clearly_otherwise() {
    let dir = TempDir::new().unwrap();
    let store = open(&dir);
    let ids: Vec<ArtifactId> = (0..300)
        .map(|i| {
            store
                .put(format!("payload {i}").as_bytes(), Format::Json, "x")
                .unwrap()
        })
        .collect();
    let target = ids[7];
    let hex = target.to_hex();
    assert_eq!(store.resolve_prefix(&hex).unwrap(), target);
    assert_eq!(
        store.resolve_prefix(&hex[..10].to_uppercase()).unwrap(),
        target
    );
    assert_eq!(
        store.resolve_prefix(&hex[..9]).unwrap(),
        target,
        "odd-length prefixes work"
    );

    // Real hashes sharing 8+ digits are too rare to find in a test, so inject a record
    // whose id shares the first 62 hex digits with `target`.
    let fake = {
        let mut bytes = target.0;
        bytes[31] ^= 0xff; // same first 62 hex digits as `target`
        ArtifactId(bytes)
    };
    let rec = ArtifactRecord {
        id: fake,
        format: Format::Json,
        kind: "x".into(),
        size: 0,
        producer: None,
        source: None,
    };
    store
        .db
        .put_encoded(&store.db.artifacts, "artifact", &fake.0, &rec)
        .unwrap();
    match store.resolve_prefix(&hex[..8]) {
        Err(e @ StoreError::Ambiguous { .. }) => {
            let msg = e.to_string();
            assert!(
                msg.contains("ambiguous")
                    && msg.contains(&hex[..12])
                    && msg.contains(&fake.to_hex()[..12]),
                "{msg}"
            );
        }
        other => panic!("expected Ambiguous, got {other:?}"),
    }
    assert_eq!(store.resolve_prefix(&hex).unwrap(), target);

    let none = ArtifactId::of(b"absent").to_hex();
    let absent = (4..=64)
        .map(|n| &none[..n])
        .find(|p| !ids.iter().any(|id| id.to_hex().starts_with(p)))
        .unwrap();
    assert!(matches!(
        store.resolve_prefix(absent),
        Err(StoreError::NoArtifact { .. })
    ));
    assert!(store
        .resolve_prefix(absent)
        .unwrap_err()
        .to_string()
        .contains("no artifact"));
    assert!(matches!(
        store.resolve_prefix("abc"),
        Err(StoreError::BadPrefix { .. })
    ));
    assert!(matches!(
        store.resolve_prefix("xyz123"),
        Err(StoreError::BadPrefix { .. })
    ));
    assert!(matches!(
        store.resolve_prefix(&"a".repeat(65)),
        Err(StoreError::BadPrefix { .. })
    ));
}

#[test]
fn a_second_open_waits_then_fails_with_locked_and_succeeds_once_released() {
    let dir = TempDir::new().unwrap();
    let first = open(&dir);
    let id = first.put(b"x", Format::Json, "x").unwrap();
    let started = Instant::now();
    match Store::open(dir.path(), Duration::from_millis(300)) {
        Err(StoreError::Locked { path, waited }) => {
            assert_eq!(path, dir.path().join("lock"));
            assert!(waited >= Duration::from_millis(300), "{waited:?}");
        }
        other => panic!("expected Locked, got {other:?}"),
    }
    assert!(started.elapsed() < Duration::from_secs(5));
    // The holder wrote its pid for the waiter's message.
    assert_eq!(
        fs::read_to_string(dir.path().join("lock")).unwrap(),
        std::process::id().to_string()
    );
    drop(first);
    let second = Store::open(dir.path(), SHORT).expect("open after release");
    assert_eq!(second.read(&id).unwrap(), b"x");
}

#[test]
fn a_waiting_open_gets_the_lock_when_the_holder_finishes() {
    let dir = TempDir::new().unwrap();
    let first = open(&dir);
    let holder = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        drop(first);
    });
    let second = Store::open(dir.path(), Duration::from_secs(20)).expect("waits, then opens");
    holder.join().unwrap();
    drop(second);
}

#[test]
fn record_run_sets_producers_and_rejects_unrecorded_artifacts() {
    let dir = TempDir::new().unwrap();
    let store = open(&dir);
    let input = store.put(b"train", Format::Parquet, "split.train").unwrap();
    let model = store.put(b"model", Format::Bincode, "train.model").unwrap();
    let ghost = ArtifactId::of(b"never put");

    let bad = run_record(
        "train",
        "bad",
        &[("split.train", input)],
        &[("model", model), ("user_factors", ghost)],
    );
    match store.record_run(&bad) {
        Err(e @ StoreError::UnrecordedArtifact { .. }) => {
            assert!(e.to_string().contains("output 'user_factors'"), "{e}");
        }
        other => panic!("expected UnrecordedArtifact, got {other:?}"),
    }
    // The failed transaction changed nothing.
    assert_eq!(store.run(&bad.key).unwrap(), None);
    assert_eq!(store.artifact(&model).unwrap().unwrap().producer, None);
    assert_eq!(store.producer_of(&model).unwrap(), None);

    let good = run_record(
        "train",
        "good",
        &[("split.train", input)],
        &[("model", model)],
    );
    store.record_run(&good).unwrap();
    assert_eq!(store.producer_of(&model).unwrap(), Some(good.clone()));
    assert_eq!(store.producer_of(&input).unwrap(), None);
    assert_eq!(store.runs().unwrap(), vec![good.clone()]);

    // Early cutoff: a later run with another key producing the same bytes becomes the producer.
    let mut again = run_record(
        "train",
        "again",
        &[("split.train", input)],
        &[("model", model)],
    );
    again.started_ms = 10;
    again.ended_ms = 11;
    store.record_run(&again).unwrap();
    assert_eq!(
        store.producer_of(&model).unwrap().map(|r| r.key),
        Some(again.key)
    );
    assert_eq!(
        store
            .runs()
            .unwrap()
            .iter()
            .map(|r| r.key)
            .collect::<Vec<_>>(),
        vec![good.key, again.key]
    );
}

#[test]
fn latest_pointers_and_memo_records_are_kept_apart() {
    let dir = TempDir::new().unwrap();
    let store = open(&dir);
    let k1 = StageKey::of(b"1");
    let k2 = StageKey::of(b"2");
    assert_eq!(store.latest("ml", "train").unwrap(), None);
    store.set_latest("ml", "train", &k1).unwrap();
    store.set_latest("ml", "tune", &k2).unwrap();
    store.set_latest("ml", "train", &k2).unwrap();
    assert_eq!(store.latest("ml", "train").unwrap(), Some(k2));
    assert_eq!(store.latest("ml", "tune").unwrap(), Some(k2));
    assert_eq!(store.latest("msd", "train").unwrap(), None);

    // (scope "ab", key "c") and (scope "a", key "bc") must not collide.
    store.memo_put(b"ab", b"c", b"first").unwrap();
    store.memo_put(b"a", b"bc", b"second").unwrap();
    assert_eq!(
        store.memo_get(b"ab", b"c").unwrap().as_deref(),
        Some(&b"first"[..])
    );
    assert_eq!(
        store.memo_get(b"a", b"bc").unwrap().as_deref(),
        Some(&b"second"[..])
    );
    assert_eq!(store.memo_get(b"a", b"b").unwrap(), None);
}

#[test]
fn source_files_are_streamed_in_with_their_origin_and_checksum() {
    let dir = TempDir::new().unwrap();
    let store = open(&dir);
    let data = dir.path().join("abc.txt");
    fs::write(&data, b"abc").unwrap();
    let sha_abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

    let id = store
        .put_source_file(&data, Some("https://example.org/abc.txt"), Some(sha_abc))
        .unwrap();
    assert_eq!(id, ArtifactId::of(b"abc"));
    assert_eq!(store.read(&id).unwrap(), b"abc");
    let rec = store.artifact(&id).unwrap().unwrap();
    assert_eq!(
        (rec.format, rec.kind.as_str(), rec.size),
        (Format::Raw, "source", 3)
    );
    assert_eq!(
        rec.source,
        Some(SourceInfo {
            path: data.display().to_string(),
            size: 3,
            blake3: id.to_hex(),
            url: Some("https://example.org/abc.txt".into()),
            sha256: Some(sha_abc.into()),
        })
    );

    let wrong = "0".repeat(64);
    match store.put_source_file(&data, None, Some(&wrong)) {
        Err(e @ StoreError::SourceChecksum { .. }) => {
            assert!(
                e.to_string().contains(sha_abc) && e.to_string().contains("abc.txt"),
                "{e}"
            );
        }
        other => panic!("expected SourceChecksum, got {other:?}"),
    }
    let missing = store
        .put_source_file(&dir.path().join("nope.csv"), None, None)
        .unwrap_err();
    assert!(missing.to_string().contains("nope.csv"), "{missing}");
    assert!(
        list_files(&dir.path().join("tmp")).unwrap().is_empty(),
        "failed imports leave no temp file"
    );
}

#[test]
fn an_unchanged_old_source_is_not_reread_and_a_changed_one_is() {
    let dir = TempDir::new().unwrap();
    let store = open(&dir);
    let data = dir.path().join("ratings.csv");
    let stamp_key = || {
        data.canonicalize()
            .unwrap()
            .to_string_lossy()
            .into_owned()
            .into_bytes()
    };
    let stamp = |store: &Store| store.source_stamp(&stamp_key()).unwrap();

    // Just written: too recent to trust a stat stamp (racy window).
    fs::write(&data, b"1,2,5\n").unwrap();
    let id1 = store.put_source_file(&data, None, None).unwrap();
    assert_eq!(stamp(&store), None);

    // Old enough: the stamp is kept and the next import takes the fast path.
    let old = SystemTime::now() - Duration::from_secs(3600);
    File::options()
        .write(true)
        .open(&data)
        .unwrap()
        .set_modified(old)
        .unwrap();
    assert_eq!(store.put_source_file(&data, None, None).unwrap(), id1);
    assert_eq!(stamp(&store).map(|s| s.id), Some(id1));
    assert_eq!(store.put_source_file(&data, None, None).unwrap(), id1);
    assert_eq!(store.known_source_id(&data).unwrap(), Some(id1));

    // A damaged stored copy (same size, so the stamp alone cannot tell) is caught by
    // `read`, which drops the stamp, so the next import re-reads and repairs it.
    flip_first_byte(&store.object_path(&id1));
    assert!(matches!(store.read(&id1), Err(StoreError::Corrupt { .. })));
    assert_eq!(store.known_source_id(&data).unwrap(), None);
    assert_eq!(store.put_source_file(&data, None, None).unwrap(), id1);
    assert_eq!(store.read(&id1).unwrap(), b"1,2,5\n");

    // Same size and mtime but new bytes: ctime changes, so the file is read again.
    fs::write(&data, b"1,3,5\n").unwrap();
    File::options()
        .write(true)
        .open(&data)
        .unwrap()
        .set_modified(old)
        .unwrap();
    assert_eq!(store.known_source_id(&data).unwrap(), None);
    let id2 = store.put_source_file(&data, None, None).unwrap();
    assert_eq!(id2, ArtifactId::of(b"1,3,5\n"));
    assert_eq!(
        store
            .known_source_id(&dir.path().join("absent.csv"))
            .unwrap(),
        None
    );

    // A stamp whose object went missing is not trusted either.
    fs::remove_file(store.object_path(&id2)).unwrap();
    assert_eq!(store.put_source_file(&data, None, None).unwrap(), id2);
    assert_eq!(store.read(&id2).unwrap(), b"1,3,5\n");
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

#[test]
fn concurrent_puts_from_threads_all_land() {
    let dir = TempDir::new().unwrap();
    let store = std::sync::Arc::new(open(&dir));
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let store = store.clone();
            std::thread::spawn(move || {
                (0..25)
                    .map(|i| {
                        store
                            .put(format!("{}", i % 10).as_bytes(), Format::Json, "x")
                            .unwrap()
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    for h in handles {
        for id in h.join().unwrap() {
            assert!(store.read(&id).is_ok());
        }
    }
    assert_eq!(store.artifacts().unwrap().len(), 10);
    assert!(store.verify().unwrap().is_clean());
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
            store.gc(false).unwrap();
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

#[test]
fn another_process_holding_the_lock_makes_open_wait_or_fail() {
    let dir = TempDir::new().unwrap();
    let mut child = spawn_child("hold", dir.path());
    wait_for(&dir.path().join("child-ready"));
    // The holder's pid is in the lock file for the waiting message.
    let holder = fs::read_to_string(dir.path().join("lock")).unwrap();
    assert_eq!(holder, child.id().to_string());
    assert!(matches!(
        Store::open(dir.path(), Duration::from_millis(100)),
        Err(StoreError::Locked { .. })
    ));
    // With a longer timeout we wait until the child exits, then open.
    let store =
        Store::open(dir.path(), Duration::from_secs(30)).expect("opens once the holder exits");
    assert!(child.wait().unwrap().success());
    assert!(store.verify().unwrap().is_clean());
}

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

/// Every record names an intact object, and every run names recorded artifacts.
fn assert_no_dangling_records(store: &Store, step: &str) {
    for rec in store.artifacts().unwrap() {
        assert!(
            store.read(&rec.id).is_ok(),
            "after a crash at {step}: record {} has no intact object",
            rec.id.short()
        );
    }
    for run in store.runs().unwrap() {
        for id in run.inputs.values().chain(run.outputs.values()) {
            assert!(
                store.artifact(id).unwrap().is_some(),
                "after a crash at {step}: run {} names unrecorded {}",
                run.label(),
                id.short()
            );
        }
    }
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
    ];
    for step in steps {
        let dir = TempDir::new().unwrap();
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

        let store = open(&dir);
        assert_no_dangling_records(&store, step);
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

#[test]
fn a_waiting_process_says_who_holds_the_lock_then_fails_clearly() {
    let dir = TempDir::new().unwrap();
    let _held = open(&dir);
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "tests::child_process_role",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, "noop")
        .env("ALSFLOW_STORE_TEST_ROOT", dir.path())
        .env("ALSFLOW_STORE_TEST_TIMEOUT_MS", "300")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lock = dir.path().join("lock");
    let waiting = format!(
        "waiting for the store lock at {} (held by pid {})",
        lock.display(),
        std::process::id()
    );
    assert_eq!(
        stderr.matches(&waiting).count(),
        1,
        "printed once: {stderr}"
    );
    assert!(
        stderr.contains("is locked by another alsflow process; gave up after 0.3 s"),
        "{stderr}"
    );
}

#[test]
fn a_source_file_that_changes_during_the_copy_is_rejected() {
    let dir = TempDir::new().unwrap();
    let store = open(&dir);
    let data = dir.path().join("downloading.csv");
    fs::write(&data, b"1,2\n").unwrap();
    AFTER_SOURCE_COPY.with(|h| {
        *h.borrow_mut() = Some(Box::new(|p: &Path| {
            let mut f = File::options().append(true).open(p).unwrap();
            f.write_all(b"3,4\n").unwrap();
        }))
    });
    let result = store.put_source_file(&data, None, None);
    AFTER_SOURCE_COPY.with(|h| *h.borrow_mut() = None);
    match result {
        Err(e @ StoreError::SourceChanged { .. }) => {
            assert!(e.to_string().contains("downloading.csv"), "{e}")
        }
        other => panic!("expected SourceChanged, got {other:?}"),
    }
    assert!(store.artifacts().unwrap().is_empty(), "nothing recorded");
    assert!(
        list_files(&dir.path().join("tmp")).unwrap().is_empty(),
        "no temp file left"
    );
    // Once complete, the file imports normally.
    assert_eq!(
        store.put_source_file(&data, None, None).unwrap(),
        ArtifactId::of(b"1,2\n3,4\n")
    );
}

#[test]
fn a_real_ratings_file_imports_with_its_blake3_and_reads_back() {
    let Some(data) = alsflow_core::test_support::shared_data_or_skip("store real ratings import")
    else {
        return;
    };
    let path = data.join("ml-latest-small/ratings.csv");
    let bytes = fs::read(&path).expect("read ratings.csv");
    let dir = TempDir::new().unwrap();
    let store = open(&dir);
    let id = store.put_source_file(&path, None, None).unwrap();
    assert_eq!(id, ArtifactId::of(&bytes));
    let info = store
        .artifact(&id)
        .unwrap()
        .unwrap()
        .source
        .expect("source info");
    assert_eq!(
        (info.size, info.blake3.as_str()),
        (bytes.len() as u64, id.to_hex().as_str())
    );
    assert_eq!(info.path, path.display().to_string());
    assert_eq!(store.verified_path(&id).unwrap(), store.object_path(&id));
    assert_eq!(store.read(&id).unwrap(), bytes);
    // The shared data is old and read-only: the stat stamp is trusted on re-import.
    assert_eq!(store.known_source_id(&path).unwrap(), Some(id));
}
