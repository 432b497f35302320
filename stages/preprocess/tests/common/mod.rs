//! Helpers shared by the integration tests.
#![allow(dead_code)]

use alsflow_core::table::{IdMap, Interactions};
use alsflow_core::{
    ArtifactId, Format, InputArtifact, Stage, StageError, StageInputs, StageOutputs,
};
use alsflow_preprocess::{Params, Preprocess};

pub fn input(label: &str, bytes: &[u8]) -> InputArtifact {
    InputArtifact {
        id: ArtifactId::of(bytes),
        label: label.to_string(),
        format: Format::Raw,
        bytes: bytes.into(),
    }
}

/// Run the stage on named inputs `(name, label, bytes)`.
pub fn run(params: &Params, files: &[(&str, &str, &[u8])]) -> Result<StageOutputs, StageError> {
    let mut inputs = StageInputs::new();
    for (name, label, bytes) in files {
        inputs.insert(*name, input(label, bytes));
    }
    Preprocess::run(
        params,
        &inputs,
        &alsflow_core::stage::LocalContext::new("test"),
    )
}

pub fn artifact<'a>(out: &'a StageOutputs, name: &str) -> &'a [u8] {
    &out.artifacts
        .iter()
        .find(|a| a.name == name)
        .expect("output present")
        .bytes
}

pub fn tables(out: &StageOutputs) -> (Interactions, IdMap, IdMap) {
    (
        Interactions::from_parquet(artifact(out, "interactions")).expect("interactions"),
        IdMap::from_parquet(artifact(out, "users")).expect("users"),
        IdMap::from_parquet(artifact(out, "items")).expect("items"),
    )
}
