//! Read-only handles: they read the published view beside a writer, never wait for a
//! run, keep gc and verify from deleting under them, and reject writes.

use super::*;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

const LONG: Duration = Duration::from_secs(30);

fn open_reader(dir: &TempDir) -> Store {
    Store::open_read_only(dir.path(), LONG).expect("open read-only")
}

/// A writer with one recorded run `train` (input → model) pointed at by `latest`.
fn store_with_a_run(dir: &TempDir) -> (Store, RunRecord) {
    let store = open(dir);
    let input = store
        .put(b"train split", Format::Parquet, "split.train")
        .unwrap();
    let model = store
        .put(b"model v1", Format::Bincode, "train.model")
        .unwrap();
    let run = run_record("train", "1", &[("split.train", input)], &[("model", model)]);
    store.record_run(&run).unwrap();
    store.set_latest("ml", "train", &run.key).unwrap();
    (store, run)
}

fn generation(dir: &TempDir) -> Option<u64> {
    view::published_generation(dir.path())
}

#[test]
fn handles_are_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Store>();
}

#[test]
fn a_reader_beside_a_writer_sees_what_was_published_and_nothing_more() {
    let dir = TempDir::new().unwrap();
    let (writer, run) = store_with_a_run(&dir);

    // The writer holds `lock` and sled; the reader neither waits nor fails.
    let started = Instant::now();
    let reader = open_reader(&dir);
    let second_reader = open_reader(&dir);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert!(reader.is_read_only() && !writer.is_read_only());

    let model = run.outputs["model"];
    for r in [&reader, &second_reader] {
        assert_eq!(r.runs().unwrap(), vec![run.clone()]);
        assert_eq!(r.latest("ml", "train").unwrap(), Some(run.key));
        assert_eq!(r.read(&model).unwrap(), b"model v1");
        assert_eq!(r.producer_of(&model).unwrap(), Some(run.clone()));
        assert_eq!(r.artifacts().unwrap(), writer.artifacts().unwrap());
        assert_eq!(r.resolve_prefix(&model.to_hex()[..8]).unwrap(), model);
        assert!(r.object_present(&model));
        assert_eq!(r.verified_path(&model).unwrap(), writer.object_path(&model));
        assert_eq!(r.root(), writer.root());
    }

    // A put alone is not published: the reader does not see the new record.
    let later = writer
        .put(b"model v2", Format::Bincode, "train.model")
        .unwrap();
    assert!(!reader.refresh().unwrap());
    assert_eq!(reader.artifact(&later).unwrap(), None);
    assert!(!reader.object_present(&later));
    assert!(matches!(
        reader.resolve_prefix(&later.to_hex()),
        Err(StoreError::NoArtifact { .. })
    ));

    // The run that names it publishes both; the pointer follows when it moves.
    let run2 = run_record(
        "train",
        "2",
        &[("split.train", run.inputs["split.train"])],
        &[("model", later)],
    );
    writer.record_run(&run2).unwrap();
    assert!(reader.refresh().unwrap());
    assert_eq!(reader.run(&run2.key).unwrap(), Some(run2.clone()));
    assert_eq!(
        reader.artifact(&later).unwrap().unwrap().producer,
        Some(run2.key)
    );
    assert_eq!(reader.latest("ml", "train").unwrap(), Some(run.key));
    writer.set_latest("ml", "train", &run2.key).unwrap();
    assert!(reader.refresh().unwrap());
    assert_eq!(reader.latest("ml", "train").unwrap(), Some(run2.key));
    assert!(!reader.refresh().unwrap(), "nothing new since");
    // The other reader still answers from the view it loaded.
    assert_eq!(second_reader.latest("ml", "train").unwrap(), Some(run.key));
    assert_eq!(second_reader.run(&run2.key).unwrap(), None);
}

#[test]
fn refresh_reports_no_change_and_a_fully_cached_run_does_not_republish() {
    let dir = TempDir::new().unwrap();
    let data = dir.path().join("ratings.csv");
    fs::write(&data, b"u,i\n1,2\n").unwrap();
    // Old enough for its stat stamp to be trusted, as on a cached run.
    fs::File::options()
        .write(true)
        .open(&data)
        .unwrap()
        .set_modified(std::time::SystemTime::now() - Duration::from_secs(3600))
        .unwrap();
    let (src, out, run) = {
        let writer = open(&dir);
        let src = writer.put_source_file(&data, None, None).unwrap();
        let out = writer
            .put(b"interactions", Format::Parquet, "preprocess.interactions")
            .unwrap();
        let run = run_record(
            "preprocess",
            "1",
            &[("source", src)],
            &[("interactions", out)],
        );
        writer.record_run(&run).unwrap();
        writer.set_latest("ml", "preprocess", &run.key).unwrap();
        (src, out, run)
    };
    let published = generation(&dir).expect("a view");
    let view_file = dir.path().join("view.bin");
    let inode = || {
        use std::os::unix::fs::MetadataExt;
        fs::metadata(&view_file).unwrap().ino()
    };
    let before = inode();
    let reader = open_reader(&dir);
    assert!(!reader.refresh().unwrap());

    // Reopening and repeating what a cached run does changes nothing on disk.
    let writer = open(&dir);
    assert_eq!(writer.put_source_file(&data, None, None).unwrap(), src);
    assert_eq!(
        writer
            .put(b"interactions", Format::Parquet, "preprocess.interactions")
            .unwrap(),
        out
    );
    assert_eq!(writer.run(&run.key).unwrap(), Some(run.clone()));
    writer.set_latest("ml", "preprocess", &run.key).unwrap();
    assert_eq!(generation(&dir), Some(published));
    assert_eq!(inode(), before, "view.bin was not rewritten");
    assert!(!reader.refresh().unwrap());

    // A change is published with the next generation and seen by refresh.
    let run2 = run_record(
        "preprocess",
        "2",
        &[("source", src)],
        &[("interactions", out)],
    );
    writer.record_run(&run2).unwrap();
    assert_eq!(generation(&dir), Some(published + 1));
    assert!(reader.refresh().unwrap());
    assert_eq!(reader.run(&run2.key).unwrap(), Some(run2));
    assert!(!reader.refresh().unwrap());
    // The reader knows the source without importing it.
    assert_eq!(reader.known_source_id(&data).unwrap(), Some(src));
}

#[test]
fn a_read_only_handle_rejects_every_write() {
    let dir = TempDir::new().unwrap();
    let (writer, run) = store_with_a_run(&dir);
    drop(writer);
    let reader = open_reader(&dir);
    let data = dir.path().join("data.csv");
    fs::write(&data, b"1,2\n").unwrap();
    let attempts: Vec<(&str, Result<(), StoreError>)> = vec![
        (
            "put an object",
            reader.put(b"x", Format::Json, "x").map(drop),
        ),
        (
            "import a source file",
            reader.put_source_file(&data, None, None).map(drop),
        ),
        ("record a run", reader.record_run(&run)),
        (
            "set a latest-run pointer",
            reader.set_latest("ml", "train", &run.key),
        ),
        ("write a memo record", reader.memo_put(b"s", b"k", b"v")),
        ("read memo records", reader.memo_get(b"s", b"k").map(drop)),
        ("verify the store", reader.verify().map(drop)),
        ("collect garbage", reader.gc(true).map(drop)),
        ("collect garbage", reader.gc(false).map(drop)),
        ("flush the database", reader.flush()),
    ];
    for (action, result) in attempts {
        match result {
            Err(e @ StoreError::ReadOnly { .. }) => {
                let msg = e.to_string();
                assert!(msg.contains(action) && msg.contains("read-only"), "{msg}");
            }
            other => panic!("{action}: expected ReadOnly, got {other:?}"),
        }
    }
    // Nothing was written.
    let writer = open(&dir);
    assert_eq!(writer.artifacts().unwrap().len(), 2);
    assert_eq!(writer.memo_get(b"s", b"k").unwrap(), None);
    assert!(list_files(&dir.path().join("tmp")).unwrap().is_empty());
}

#[test]
fn gc_and_verify_wait_for_open_readers_then_fail_without_deleting() {
    let dir = TempDir::new().unwrap();
    let (writer, run) = store_with_a_run(&dir);
    drop(writer);
    let writer = Store::open(dir.path(), Duration::from_millis(300)).unwrap();
    let garbage = writer.put(b"unreferenced", Format::Json, "x").unwrap();
    let reader = open_reader(&dir);

    let started = Instant::now();
    match writer.gc(false) {
        Err(e @ StoreError::ReadersActive { .. }) => {
            let msg = e.to_string();
            assert!(
                msg.contains("collect garbage") && msg.contains("read-only"),
                "{msg}"
            );
            if let StoreError::ReadersActive { path, waited, .. } = e {
                assert_eq!(path, dir.path().join("readers.lock"));
                assert!(waited >= Duration::from_millis(300), "{waited:?}");
            }
        }
        other => panic!("expected ReadersActive, got {other:?}"),
    }
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(writer.object_present(&garbage), "nothing deleted");
    // What does not delete anything goes ahead: a dry run, a clean verify.
    assert_eq!(writer.gc(true).unwrap().objects_removed, 1);
    assert!(writer.verify().unwrap().is_clean());

    // Damage must be moved aside, which waits for the reader too.
    let model = run.outputs["model"];
    flip_first_byte(&writer.object_path(&model));
    assert!(matches!(
        writer.verify(),
        Err(StoreError::ReadersActive { .. })
    ));
    assert!(writer.run(&run.key).unwrap().is_some(), "no record removed");
    assert!(reader.run(&run.key).unwrap().is_some());
    assert!(matches!(
        reader.read(&model),
        Err(StoreError::Corrupt { .. })
    ));

    // Once the reader closes, both proceed.
    drop(reader);
    let report = writer.verify().unwrap();
    assert_eq!(report.invalidated_runs.len(), 1);
    assert_eq!(writer.gc(false).unwrap().records_removed, 2);
    // A reader opened now sees the result: no run, no garbage.
    let reader = open_reader(&dir);
    assert!(reader.runs().unwrap().is_empty());
    assert_eq!(reader.artifact(&garbage).unwrap(), None);
}

#[test]
fn gc_proceeds_once_the_reader_closes_within_the_timeout() {
    let dir = TempDir::new().unwrap();
    let writer = Store::open(dir.path(), LONG).unwrap();
    let garbage = writer.put(b"unreferenced", Format::Json, "x").unwrap();
    let reader = open_reader(&dir);
    let closer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        drop(reader);
    });
    let started = Instant::now();
    assert_eq!(writer.gc(false).unwrap().objects_removed, 1);
    assert!(
        started.elapsed() >= Duration::from_millis(250),
        "gc waited for the reader"
    );
    closer.join().unwrap();
    assert!(!writer.object_path(&garbage).exists());
}

#[test]
fn a_reader_waits_only_while_gc_or_verify_excludes_readers() {
    let dir = TempDir::new().unwrap();
    let writer = open(&dir);
    let Handle::Write(w) = &writer.handle else {
        unreachable!()
    };
    let excluded = w.readers.exclude_readers("collect garbage", SHORT).unwrap();
    match Store::open_read_only(dir.path(), Duration::from_millis(200)) {
        Err(StoreError::Locked { path, .. }) => assert_eq!(path, dir.path().join("readers.lock")),
        other => panic!("expected Locked, got {other:?}"),
    }
    drop(excluded);
    assert!(open_reader(&dir).artifacts().unwrap().is_empty());
}

#[test]
fn the_gc_waiting_line_is_printed_once_and_the_error_is_clear() {
    let dir = TempDir::new().unwrap();
    {
        let writer = open(&dir);
        writer.put(b"unreferenced", Format::Json, "x").unwrap();
    }
    let _reader = open_reader(&dir);
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "tests::child_process_role",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, "gc")
        .env("ALSFLOW_STORE_TEST_ROOT", dir.path())
        .env("ALSFLOW_STORE_TEST_TIMEOUT_MS", "300")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let waiting = format!(
        "waiting for read-only users of the store at {} (alsflow status, a model server) \
         to close before we collect garbage",
        dir.path().display()
    );
    assert_eq!(
        stderr.matches(&waiting).count(),
        1,
        "printed once: {stderr}"
    );
    assert!(stderr.contains("gave up after 0.3 s"), "{stderr}");
}

#[test]
fn a_store_that_does_not_exist_yet_reads_as_empty_until_a_writer_publishes() {
    let dir = TempDir::new().unwrap();
    let root = dir.path().join("new-store");
    let reader = Store::open_read_only(&root, SHORT).unwrap();
    assert!(reader.artifacts().unwrap().is_empty());
    assert_eq!(reader.latest("ml", "train").unwrap(), None);
    assert!(!reader.refresh().unwrap());
    let writer = Store::open(&root, SHORT).unwrap();
    let id = writer.put(b"m", Format::Json, "x").unwrap();
    writer
        .record_run(&run_record("evaluate", "1", &[], &[("metrics", id)]))
        .unwrap();
    assert!(reader.refresh().unwrap());
    assert_eq!(reader.runs().unwrap().len(), 1);
}

#[test]
fn a_damaged_or_missing_view_is_an_error_for_readers_until_a_writer_republishes() {
    let dir = TempDir::new().unwrap();
    let (writer, run) = store_with_a_run(&dir);
    drop(writer);
    let view_file = dir.path().join("view.bin");
    let mut bytes = fs::read(&view_file).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x01;
    fs::write(&view_file, &bytes).unwrap();
    match Store::open_read_only(dir.path(), SHORT) {
        Err(e @ StoreError::View { .. }) => assert!(e.to_string().contains("damaged"), "{e}"),
        other => panic!("expected View, got {other:?}"),
    }
    drop(open(&dir));
    assert_eq!(open_reader(&dir).run(&run.key).unwrap(), Some(run.clone()));

    fs::remove_file(&view_file).unwrap();
    match Store::open_read_only(dir.path(), SHORT) {
        Err(e @ StoreError::View { .. }) => {
            assert!(e.to_string().contains("does not exist"), "{e}")
        }
        other => panic!("expected View, got {other:?}"),
    }
    let published = generation(&dir);
    drop(open(&dir));
    assert!(
        generation(&dir) > published,
        "republished with a newer generation"
    );
    assert_eq!(open_reader(&dir).run(&run.key).unwrap(), Some(run));
}

#[test]
fn readers_on_other_threads_see_whole_views_while_a_writer_records_runs() {
    let dir = TempDir::new().unwrap();
    let writer = open(&dir);
    let reader = Arc::new(open_reader(&dir));
    let done = Arc::new(AtomicBool::new(false));
    let checkers: Vec<_> = (0..3)
        .map(|_| {
            let (reader, done) = (reader.clone(), done.clone());
            std::thread::spawn(move || {
                let mut seen = 0;
                while !done.load(Ordering::SeqCst) {
                    reader.refresh().unwrap();
                    // Every run in the view names recorded, intact objects, and the
                    // latest pointer names a run in the same view.
                    assert_no_dangling_records(&reader, "a concurrent refresh");
                    for dataset in ["ml", "msd"] {
                        if let Some(key) = reader.latest(dataset, "train").unwrap() {
                            assert!(reader.run(&key).unwrap().is_some());
                        }
                    }
                    seen = seen.max(reader.runs().unwrap().len());
                }
                seen
            })
        })
        .collect();
    // Two writing threads, as when the runner runs two datasets at once.
    let writer = Arc::new(writer);
    let writers: Vec<_> = ["ml", "msd"]
        .into_iter()
        .map(|dataset| {
            let writer = writer.clone();
            std::thread::spawn(move || {
                for i in 0..10u32 {
                    let bytes = format!("{dataset} model {i}");
                    let id = writer
                        .put(bytes.as_bytes(), Format::Bincode, "train.model")
                        .unwrap();
                    let mut run =
                        run_record("train", &format!("{dataset}{i}"), &[], &[("model", id)]);
                    run.dataset = dataset.to_string();
                    writer.record_run(&run).unwrap();
                    writer.set_latest(dataset, "train", &run.key).unwrap();
                }
            })
        })
        .collect();
    for w in writers {
        w.join().expect("writer thread");
    }
    done.store(true, Ordering::SeqCst);
    for c in checkers {
        c.join().expect("checker thread");
    }
    reader.refresh().unwrap();
    assert_eq!(reader.runs().unwrap().len(), 20);
}

#[test]
fn records_written_while_the_view_is_copied_never_leave_it_dangling() {
    let dir = TempDir::new().unwrap();
    let writer = open(&dir);
    let first = writer.put(b"first", Format::Json, "x").unwrap();
    let run0 = run_record("evaluate", "0", &[], &[("metrics", first)]);
    // Another thread's put and run, landing between two tree copies: the object is
    // durable, then its record, the run naming it and the pointer are written.
    let late = ArtifactId::of(b"late");
    let late_path = writer.object_path(&late);
    fs::create_dir_all(late_path.parent().unwrap()).unwrap();
    fs::write(&late_path, b"late").unwrap();
    let run1 = run_record("evaluate", "1", &[], &[("metrics", late)]);
    let planted = run1.clone();
    AFTER_FIRST_TREE_COPY.with(|h| {
        *h.borrow_mut() = Some(Box::new(move |db: &Db| {
            let rec = ArtifactRecord {
                id: late,
                format: Format::Json,
                kind: "x".into(),
                size: 4,
                producer: None,
                source: None,
            };
            db.insert_artifact_if_absent(&rec).unwrap();
            db.record_run(&planted).unwrap();
            db.set_latest("ml", "evaluate", &planted.key).unwrap();
        }))
    });
    writer.record_run(&run0).unwrap();
    assert!(
        AFTER_FIRST_TREE_COPY.with(|h| h.borrow().is_none()),
        "hook ran"
    );

    // Copied in dependency order, the view holds the late run with its artifact (the
    // pointer, copied first, is not in it yet); nothing in it dangles.
    let reader = open_reader(&dir);
    assert_no_dangling_records(&reader, "a write during the copy");
    assert_eq!(reader.run(&run1.key).unwrap(), Some(run1.clone()));
    assert!(reader.artifact(&late).unwrap().is_some());
    assert_eq!(reader.latest("ml", "evaluate").unwrap(), None);
    // The next publication carries the pointer too.
    writer.record_run(&run0).unwrap();
    assert!(reader.refresh().unwrap());
    assert_eq!(reader.latest("ml", "evaluate").unwrap(), Some(run1.key));
}

#[test]
fn generations_keep_increasing_even_when_the_database_is_deleted() {
    let dir = TempDir::new().unwrap();
    let (writer, _run) = store_with_a_run(&dir);
    drop(writer);
    let before = generation(&dir).expect("a view");
    let reader = open_reader(&dir);
    fs::remove_dir_all(dir.path().join("db")).unwrap();
    let writer = open(&dir);
    assert_eq!(generation(&dir), Some(before + 1));
    // The reset store reads as empty once the reader refreshes.
    assert!(reader.refresh().unwrap());
    assert!(reader.runs().unwrap().is_empty());
    assert!(writer.runs().unwrap().is_empty());
}
