//! Reading a dataset's model from the store: the train run (the latest, or the one
//! that produced a given model), the artifacts it names through the catalogue, and
//! the test metrics of the evaluate run that scored that model. Every read goes
//! through `Store::read`, which re-hashes the bytes.

use crate::error::LoadError;
use crate::served::{Provenance, ServedModel};
use alsflow_als::AlsModel;
use alsflow_core::catalog::{evaluate, preprocess, split, train, ArtifactName};
use alsflow_core::table::{IdMap, Interactions};
use alsflow_core::ArtifactId;
use alsflow_store::{RunRecord, StageKey, Store};
use std::collections::BTreeSet;

/// The train stage's name, as run records carry it.
pub const TRAIN_STAGE: &str = train::MODEL.stage;
/// The evaluate stage's name.
const EVALUATE_STAGE: &str = evaluate::METRICS.stage;

fn store_err(dataset: &str) -> impl FnOnce(alsflow_store::StoreError) -> LoadError + '_ {
    move |source| LoadError::Store {
        dataset: dataset.to_string(),
        source: Box::new(source),
    }
}

/// Datasets that have a latest train run, sorted.
pub fn trained_datasets(store: &Store) -> Result<Vec<String>, LoadError> {
    let mut names = BTreeSet::new();
    for run in store.runs().map_err(store_err("*"))? {
        if run.stage == TRAIN_STAGE && !names.contains(&run.dataset) {
            let latest = store
                .latest(&run.dataset, TRAIN_STAGE)
                .map_err(store_err(&run.dataset))?;
            if latest.is_some() {
                names.insert(run.dataset);
            }
        }
    }
    Ok(names.into_iter().collect())
}

/// The key of the latest train run of `dataset`, if any.
pub fn latest_train_key(store: &Store, dataset: &str) -> Result<Option<StageKey>, LoadError> {
    store
        .latest(dataset, TRAIN_STAGE)
        .map_err(store_err(dataset))
}

/// The train run whose `model` output is `model` (for `--model ID`).
pub fn run_of_model(store: &Store, model: &ArtifactId) -> Result<RunRecord, LoadError> {
    let not_a_model = || LoadError::NotAModel {
        id: *model,
        short: model.short(),
    };
    let run = store
        .producer_of(model)
        .map_err(store_err("*"))?
        .ok_or_else(not_a_model)?;
    if run.stage != TRAIN_STAGE || run.outputs.get(train::MODEL.output) != Some(model) {
        return Err(not_a_model());
    }
    Ok(run)
}

/// The run record of the latest train run of `dataset`.
pub fn latest_train_run(store: &Store, dataset: &str) -> Result<RunRecord, LoadError> {
    let no_run = || LoadError::NoTrainRun {
        dataset: dataset.to_string(),
        root: store.root().display().to_string(),
    };
    let key = latest_train_key(store, dataset)?.ok_or_else(no_run)?;
    store
        .run(&key)
        .map_err(store_err(dataset))?
        .ok_or_else(no_run)
}

/// The id a run names for a catalogue artifact, as input (`split.train`) or output
/// (`model`).
fn named(run: &RunRecord, name: ArtifactName, as_output: bool) -> Result<ArtifactId, LoadError> {
    let (map, key, kind) = if as_output {
        (&run.outputs, name.output, "output")
    } else {
        (&run.inputs, name.qualified, "input")
    };
    map.get(key)
        .copied()
        .ok_or_else(|| LoadError::MissingArtifact {
            dataset: run.dataset.clone(),
            stage: run.stage.clone(),
            run: run.key.short(),
            kind,
            name: key.to_string(),
        })
}

/// Load everything the server needs for the model of train run `run`.
pub fn load_model(store: &Store, run: &RunRecord) -> Result<ServedModel, LoadError> {
    let dataset = run.dataset.as_str();
    let read = |name: ArtifactName, as_output: bool| -> Result<Vec<u8>, LoadError> {
        store
            .read(&named(run, name, as_output)?)
            .map_err(store_err(dataset))
    };
    let content = |what: ArtifactName| {
        move |e: &dyn std::fmt::Display| LoadError::Content {
            dataset: dataset.to_string(),
            what: what.qualified.to_string(),
            message: e.to_string(),
        }
    };
    let model_id = named(run, train::MODEL, true)?;
    let model =
        AlsModel::from_bytes(&read(train::MODEL, true)?).map_err(|e| content(train::MODEL)(&e))?;
    let training = Interactions::from_parquet(&read(split::TRAIN, false)?)
        .map_err(|e| content(split::TRAIN)(&e))?;
    let users = IdMap::from_parquet(&read(preprocess::USERS, false)?)
        .map_err(|e| content(preprocess::USERS)(&e))?;
    let items = IdMap::from_parquet(&read(preprocess::ITEMS, false)?)
        .map_err(|e| content(preprocess::ITEMS)(&e))?;
    let provenance = Provenance {
        dataset: dataset.to_string(),
        model: model_id,
        train_run: run.key.to_hex(),
        trained_ms: run.ended_ms,
    };
    ServedModel::new(provenance, model, &training, users, items)
        .map_err(|m| content(train::MODEL)(&m))
}

/// The test metrics of the latest evaluate run of `dataset` that scored `model`
/// (`{"model": {...}, "popularity": {...}, "random": {...}}`), with that run's key;
/// `None` when no evaluate run has scored it (yet).
pub fn metrics_of(
    store: &Store,
    dataset: &str,
    model: &ArtifactId,
) -> Result<Option<(StageKey, serde_json::Value)>, LoadError> {
    let scored = |run: &RunRecord| {
        run.stage == EVALUATE_STAGE
            && run.dataset == dataset
            && run.inputs.get(train::MODEL.qualified) == Some(model)
    };
    // The latest evaluate run usually is the one; else the newest that scored it.
    let latest = match store
        .latest(dataset, EVALUATE_STAGE)
        .map_err(store_err(dataset))?
    {
        Some(key) => store.run(&key).map_err(store_err(dataset))?,
        None => None,
    };
    let run = match latest.filter(scored) {
        Some(run) => Some(run),
        None => store
            .runs()
            .map_err(store_err(dataset))?
            .into_iter()
            .filter(scored)
            .max_by_key(|r| (r.ended_ms, r.key)),
    };
    let Some(run) = run else {
        return Ok(None);
    };
    let bytes = store
        .read(&named(&run, evaluate::METRICS, true)?)
        .map_err(store_err(dataset))?;
    let json = alsflow_formats::metrics::metrics_json(&bytes).map_err(|e| LoadError::Content {
        dataset: dataset.to_string(),
        what: evaluate::METRICS.qualified.to_string(),
        message: e.to_string(),
    })?;
    Ok(Some((run.key, json)))
}
