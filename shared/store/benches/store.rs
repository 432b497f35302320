//! Store hot paths: what a fully cached `alsflow run` pays (open, object_present, the
//! stat-stamped source check) and what a real run pays (put, read, source import).
//!
//! Run: `cargo bench -p alsflow-store --bench store`. Figures go in the commit message.

use alsflow_store::{Format, RunRecord, StageKey, Store};
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

/// A store shaped like a few pipeline runs: 200 artifacts, 50 run records.
fn populated_store(root: &std::path::Path) -> Store {
    let store = Store::open(root, Duration::from_secs(5)).expect("open");
    for r in 0..50u64 {
        let mut outputs = BTreeMap::new();
        for o in 0..4u64 {
            let id = store
                .put(&payload(4096, r * 4 + o), Format::Parquet, "bench.out")
                .expect("put");
            outputs.insert(format!("out{o}"), id);
        }
        let run = RunRecord {
            key: StageKey::of(&r.to_le_bytes()),
            stage: "bench".into(),
            dataset: "ml".into(),
            params_json: "{}".into(),
            inputs: BTreeMap::new(),
            outputs,
            code_fingerprint: "fp".into(),
            started_ms: r,
            ended_ms: r,
            tool_version: "0".into(),
            summary: vec![],
        };
        store.record_run(&run).expect("record");
    }
    store
}

fn bench_store(c: &mut Criterion) {
    let dir = tempfile::TempDir::new().expect("tempdir");
    let root = dir.path().join("store");
    drop(populated_store(&root));

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

criterion_group!(benches, bench_store);
criterion_main!(benches);
