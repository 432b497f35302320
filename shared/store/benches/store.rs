//! Store hot paths: what a fully cached `alsflow run` pays (open, object_present, the
//! stat-stamped source check), what a real run pays (put, read, source import), and
//! what the read view costs on a store with a few thousand artifacts (publishing it
//! after a run or a moved pointer, opening a read-only handle, an idle refresh).
//!
//! Run: `cargo bench -p alsflow-store --bench store` (`-- view` for the read view
//! only). Figures go in the commit message.

use alsflow_store::{ArtifactId, Format, RunRecord, StageKey, Store};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::collections::BTreeMap;
use std::fs::{self, File};
use std::hint::black_box;
use std::time::{Duration, SystemTime};

fn payload(len: usize, salt: u64) -> Vec<u8> {
    let mut x = salt.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// A run record of the benchmark's shape.
fn bench_run(r: u64, outputs: BTreeMap<String, ArtifactId>) -> RunRecord {
    RunRecord {
        key: StageKey::of(&r.to_le_bytes()),
        stage: "bench".into(),
        dataset: "ml".into(),
        params_json: r#"{"factors":64,"regularization":0.01}"#.into(),
        inputs: BTreeMap::new(),
        outputs,
        code_fingerprint: "0123456789abcdef0123456789abcdef".into(),
        started_ms: r,
        ended_ms: r,
        tool_version: "0.1.0".into(),
        summary: vec!["943 users, 1682 items".into()],
    }
}

/// A store shaped like pipeline runs: `runs` run records of 4 outputs each, objects of
/// `object_len` bytes.
fn populated_store(root: &std::path::Path, runs: u64, object_len: usize) -> Store {
    let store = Store::open(root, Duration::from_secs(5)).expect("open");
    for r in 0..runs {
        let mut outputs = BTreeMap::new();
        for o in 0..4u64 {
            let id = store
                .put(
                    &payload(object_len, r * 4 + o),
                    Format::Parquet,
                    "bench.out",
                )
                .expect("put");
            outputs.insert(format!("out{o}"), id);
        }
        store.record_run(&bench_run(r, outputs)).expect("record");
    }
    store
}

fn bench_store(c: &mut Criterion) {
    let dir = tempfile::TempDir::new().expect("tempdir");
    let root = dir.path().join("store");
    drop(populated_store(&root, 50, 4096));

    let mut g = c.benchmark_group("store");
    g.sample_size(20).measurement_time(Duration::from_secs(3));
    g.bench_function("open_and_close_populated", |b| {
        b.iter(|| {
            drop(black_box(
                Store::open(&root, Duration::from_secs(5)).expect("open"),
            ))
        })
    });

    let store = Store::open(&root, Duration::from_secs(5)).expect("open");
    let ids: Vec<_> = store
        .artifacts()
        .expect("artifacts")
        .into_iter()
        .map(|r| r.id)
        .collect();
    g.bench_function("object_present_x200", |b| {
        b.iter(|| ids.iter().filter(|id| store.object_present(id)).count())
    });
    let run_key = StageKey::of(&7u64.to_le_bytes());
    g.bench_function("run_lookup", |b| {
        b.iter(|| store.run(black_box(&run_key)).expect("run"))
    });

    let mib = payload(1 << 20, 99);
    g.throughput(Throughput::Bytes(1 << 20));
    let mut salt = 0u64;
    g.bench_function("put_new_1mib_fsynced", |b| {
        b.iter(|| {
            salt += 1;
            let mut bytes = mib.clone();
            bytes[..8].copy_from_slice(&salt.to_le_bytes());
            store
                .put(&bytes, Format::Parquet, "bench.new")
                .expect("put")
        })
    });
    let existing = store.put(&mib, Format::Parquet, "bench.same").expect("put");
    g.bench_function("put_existing_1mib", |b| {
        b.iter(|| store.put(&mib, Format::Parquet, "bench.same").expect("put"))
    });
    g.bench_function("read_verified_1mib", |b| {
        b.iter(|| store.read(&existing).expect("read"))
    });

    // Raw sources: a 64 MiB file imported cold (new mtime: hashed and copied) and
    // re-imported with a trusted stat stamp (no read at all).
    let big = payload(64 << 20, 5);
    let cold = dir.path().join("cold.csv");
    let stamped = dir.path().join("stamped.csv");
    fs::write(&stamped, &big).expect("write");
    File::options()
        .write(true)
        .open(&stamped)
        .and_then(|f| f.set_modified(SystemTime::now() - Duration::from_secs(3600)))
        .expect("set mtime");
    store.put_source_file(&stamped, None, None).expect("import");
    g.throughput(Throughput::Bytes(64 << 20));
    g.sample_size(10);
    g.bench_function("put_source_file_64mib_cold", |b| {
        b.iter_batched(
            || fs::write(&cold, &big).expect("write"),
            |_| store.put_source_file(&cold, None, None).expect("import"),
            criterion::BatchSize::PerIteration,
        )
    });
    g.bench_function("put_source_file_64mib_stamped", |b| {
        b.iter(|| store.put_source_file(&stamped, None, None).expect("import"))
    });
    g.finish();
}

/// The read view on a store with 3000 artifacts and 750 runs.
fn bench_view(c: &mut Criterion) {
    let dir = tempfile::TempDir::new().expect("tempdir");
    let root = dir.path().join("store");
    let store = populated_store(&root, 750, 256);
    let view_bytes = fs::metadata(root.join("view.bin")).expect("view").len();
    eprintln!("view.bin with 3000 artifacts and 750 runs: {view_bytes} bytes");

    let mut g = c.benchmark_group("view");
    g.sample_size(20).measurement_time(Duration::from_secs(3));
    let (a, b) = (StageKey::of(b"a"), StageKey::of(b"b"));
    let mut flip = false;
    g.bench_function("set_latest_moved_publishes_3000", |bench| {
        bench.iter(|| {
            flip = !flip;
            store
                .set_latest("ml", "bench", if flip { &a } else { &b })
                .expect("set_latest")
        })
    });
    g.bench_function("set_latest_unchanged_3000", |bench| {
        bench.iter(|| store.set_latest("ml", "bench", &a).expect("set_latest"))
    });
    let outputs: BTreeMap<String, ArtifactId> = store.runs().expect("runs")[0].outputs.clone();
    let mut next = 1_000_000u64;
    g.bench_function("record_run_publishes_3000", |bench| {
        bench.iter(|| {
            next += 1;
            store
                .record_run(&bench_run(next, outputs.clone()))
                .expect("record")
        })
    });
    drop(store);
    g.bench_function("open_writer_view_current_3000", |bench| {
        bench.iter(|| drop(Store::open(&root, Duration::from_secs(5)).expect("open")))
    });
    let writer = Store::open(&root, Duration::from_secs(5)).expect("open");
    g.bench_function("open_read_only_3000", |bench| {
        bench.iter(|| Store::open_read_only(&root, Duration::from_secs(5)).expect("open"))
    });
    let reader = Store::open_read_only(&root, Duration::from_secs(5)).expect("open");
    g.bench_function("refresh_unchanged", |bench| {
        bench.iter(|| assert!(!reader.refresh().expect("refresh")))
    });
    g.bench_function("runs_from_view_3000", |bench| {
        bench.iter(|| reader.runs().expect("runs").len())
    });
    g.bench_function("runs_from_database_3000", |bench| {
        bench.iter(|| writer.runs().expect("runs").len())
    });
    g.finish();
}

criterion_group!(benches, bench_store, bench_view);
criterion_main!(benches);
