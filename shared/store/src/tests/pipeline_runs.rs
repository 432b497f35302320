//! Pipeline runs: recorded, published to readers, and pruned by `gc --keep-last`.

use super::*;
use crate::pipeline_runs::{PipelineRun, PipelineRunId, StageOutcome, StageUse};

fn pipeline_run(started: u64, name: Option<&str>, runs: &[&RunRecord]) -> PipelineRun {
    PipelineRun {
        id: PipelineRunId::of(&started.to_le_bytes()),
        dataset: "ml".into(),
        name: name.map(str::to_string),
        started_ms: started,
        ended_ms: started + 5,
        tool_version: "0.1.0".into(),
        stages: runs
            .iter()
            .map(|r| StageUse {
                stage: r.stage.clone(),
                outcome: StageOutcome::Cached,
                key: Some(r.key),
                params_json: r.params_json.clone(),
                error: None,
            })
            .collect(),
    }
}

/// A source → preprocess run shared by three "alpha" experiments, each with its own
/// train run and model; one pipeline run per experiment, oldest first.
struct ThreeExperiments {
    pre: RunRecord,
    trains: Vec<RunRecord>,
    pipelines: Vec<PipelineRun>,
}

fn three_experiments(store: &Store, name_first: Option<&str>) -> ThreeExperiments {
    let src = store.put(b"raw csv", Format::Raw, "source").unwrap();
    let rows = store
        .put(b"interactions", Format::Parquet, "preprocess.interactions")
        .unwrap();
    let pre = run_record(
        "preprocess",
        "1",
        &[("source", src)],
        &[("interactions", rows)],
    );
    store.record_run(&pre).unwrap();
    let mut trains = Vec::new();
    let mut pipelines = Vec::new();
    for (i, alpha) in ["40", "50", "60"].iter().enumerate() {
        let model = store
            .put(
                format!("model alpha={alpha}").repeat(100).as_bytes(),
                Format::Bincode,
                "train.model",
            )
            .unwrap();
        let mut train = run_record(
            "train",
            alpha,
            &[("preprocess.interactions", rows)],
            &[("model", model)],
        );
        train.params_json = format!("{{\"alpha\":{alpha}}}");
        store.record_run(&train).unwrap();
        store.set_latest("ml", "train", &train.key).unwrap();
        let name = if i == 0 { name_first } else { None };
        let p = pipeline_run(100 * (i as u64 + 1), name, &[&pre, &train]);
        store.record_pipeline_run(&p).unwrap();
        store.publish().unwrap();
        trains.push(train);
        pipelines.push(p);
    }
    ThreeExperiments {
        pre,
        trains,
        pipelines,
    }
}

fn scope_of(run: &RunRecord) -> Vec<u8> {
    format!("{}:{}:{}", run.stage, run.params_json, run.dataset).into_bytes()
}

#[test]
fn pipeline_runs_are_published_to_readers_oldest_first() {
    let dir = TempDir::new().unwrap();
    let store = open(&dir);
    let e = three_experiments(&store, Some("baseline"));
    let reader = Store::open_read_only(dir.path(), SHORT).unwrap();
    assert_eq!(reader.pipeline_runs().unwrap(), e.pipelines);

    assert_eq!(store.pipeline_runs().unwrap(), e.pipelines);
    let first = &e.pipelines[0];
    assert_eq!(
        reader.pipeline_run(&first.id).unwrap().as_ref(),
        Some(first)
    );
    assert_eq!(first.name.as_deref(), Some("baseline"));
    assert!(reader
        .record_pipeline_run(first)
        .is_err_and(|e| matches!(e, StoreError::ReadOnly { .. })));
    // Recorded, then seen by readers once published.
    let mut fourth = e.pipelines[2].clone();
    fourth.id = PipelineRunId::of(b"fourth");
    fourth.started_ms += 1;
    store.record_pipeline_run(&fourth).unwrap();
    reader.refresh().unwrap();
    assert_eq!(reader.pipeline_runs().unwrap().len(), 3);
    store.publish().unwrap();
    assert!(reader.refresh().unwrap());
    assert_eq!(reader.pipeline_runs().unwrap().last(), Some(&fourth));
    // Nothing changed since: publishing again writes nothing.
    store.publish().unwrap();
    assert!(!reader.refresh().unwrap());
}

#[test]
fn gc_keep_last_frees_only_what_the_older_runs_needed() {
    let dir = TempDir::new().unwrap();
    let store = open(&dir);
    let e = three_experiments(&store, None);
    // Memo records under the scope of each train run (as the runner's tune writes them).
    for t in &e.trains {
        store.memo_put(&scope_of(t), b"point 1", b"0.1").unwrap();
    }
    let plain = store.gc(true).unwrap();
    assert_eq!((plain.objects_removed, plain.stage_runs_removed), (0, 0));

    let scope: &dyn Fn(&RunRecord) -> Vec<u8> = &scope_of;
    let opts = GcOptions {
        dry_run: true,
        keep_last: Some(1),
        // The test's pipeline runs name train as their last stage.
        final_stage: Some("train"),
        memo_scope: Some(scope),
    };
    let dry = store.gc_with(&opts).unwrap();
    let old_models: Vec<ArtifactId> = e.trains[..2].iter().map(|t| t.outputs["model"]).collect();
    let old_bytes: u64 = old_models
        .iter()
        .map(|id| store.artifact(id).unwrap().unwrap().size)
        .sum();
    assert_eq!(dry.objects_removed, 2);
    assert_eq!(dry.bytes_removed, old_bytes);
    assert_eq!(dry.stage_runs_removed, 2);
    assert_eq!(dry.pipeline_runs_kept, 1);
    let removed: Vec<PipelineRunId> = dry.removed_pipeline_runs.iter().map(|r| r.id).collect();
    assert_eq!(removed, vec![e.pipelines[0].id, e.pipelines[1].id]);
    assert_eq!(dry.memo_records_removed, 2);
    // A dry run deletes nothing.
    assert_eq!(store.pipeline_runs().unwrap().len(), 3);

    let done = store
        .gc_with(&GcOptions {
            dry_run: false,
            ..opts
        })
        .unwrap();
    assert_eq!(
        (done.objects_removed, done.bytes_removed),
        (dry.objects_removed, dry.bytes_removed)
    );
    assert_eq!(store.pipeline_runs().unwrap(), vec![e.pipelines[2].clone()]);
    let keys: Vec<StageKey> = store.runs().unwrap().iter().map(|r| r.key).collect();
    let mut want = vec![e.pre.key, e.trains[2].key];
    want.sort();
    let mut keys_sorted = keys.clone();
    keys_sorted.sort();
    assert_eq!(keys_sorted, want);
    for id in &old_models {
        assert!(store.artifact(id).unwrap().is_none());
        assert!(!store.object_present(id));
    }
    assert!(store
        .memo_get(&scope_of(&e.trains[0]), b"point 1")
        .unwrap()
        .is_none());
    assert!(store
        .memo_get(&scope_of(&e.trains[2]), b"point 1")
        .unwrap()
        .is_some());
    assert_no_dangling_records(&store, "after gc --keep-last 1");
    assert!(store.verify().unwrap().is_clean());
    let reader = Store::open_read_only(dir.path(), SHORT).unwrap();
    assert_eq!(reader.pipeline_runs().unwrap().len(), 1);
    // Nothing more to collect.
    assert_eq!(store.gc_with(&opts).unwrap().objects_removed, 0);
}

#[test]
fn gc_keep_last_keeps_named_runs_and_the_latest_pointers() {
    let dir = TempDir::new().unwrap();
    let store = open(&dir);
    let e = three_experiments(&store, Some("baseline"));
    // Point `latest` back at the middle experiment's train run, as a later partial
    // run would.
    store.set_latest("ml", "train", &e.trains[1].key).unwrap();
    let report = store
        .gc_with(&GcOptions {
            keep_last: Some(0),
            ..GcOptions::default()
        })
        .unwrap();
    // Named: kept with its train run; the latest pointer keeps the middle train run
    // (its pipeline run goes); keep-last 0 drops the newest unnamed one.
    let kept: Vec<Option<String>> = store
        .pipeline_runs()
        .unwrap()
        .iter()
        .map(|p| p.name.clone())
        .collect();
    assert_eq!(kept, vec![Some("baseline".to_string())]);
    assert_eq!(report.removed_pipeline_runs.len(), 2);
    let mut keys: Vec<StageKey> = store.runs().unwrap().iter().map(|r| r.key).collect();
    keys.sort();
    let mut want = vec![e.pre.key, e.trains[0].key, e.trains[1].key];
    want.sort();
    assert_eq!(keys, want);
    assert_eq!(report.objects_removed, 1);
    assert_no_dangling_records(&store, "after gc --keep-last 0");
}
