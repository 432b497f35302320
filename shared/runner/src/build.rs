//! Maps a [`PipelineConfig`] onto the registered stages: one branch per dataset, each
//! stage of [`registry::STAGES`] that the dataset enables, with its declared inputs
//! wired to the outputs of earlier stages of the same branch (or to raw files).

use crate::config::{DatasetConfig, PipelineConfig, SourceSpec};
use crate::engine::{Dag, InputSource, Node};
use crate::registry::{self, BuildError};
use alsflow_core::catalog::raw;
use alsflow_core::InputKind;
use std::collections::BTreeMap;

/// Build the DAG of every dataset in `cfg`.
pub fn build_dag(cfg: &PipelineConfig) -> Result<Dag, BuildError> {
    let mut dag = Dag::default();
    for d in &cfg.datasets {
        add_branch(&mut dag, d)?;
    }
    Ok(dag)
}

fn raw_source(src: &SourceSpec) -> InputSource {
    InputSource::Raw {
        path: src.path.clone(),
        origin: src.origin(),
        sha256: src.file_sha256().map(str::to_string),
    }
}

/// The raw files a dataset provides, by input name.
fn raw_inputs(d: &DatasetConfig) -> BTreeMap<String, InputSource> {
    let mut out = BTreeMap::new();
    if let Some(src) = &d.source {
        out.insert(raw::SOURCE.to_string(), raw_source(src));
        for (name, path) in alsflow_preprocess::companion_files(&d.preprocess, &src.path) {
            out.insert(
                name,
                InputSource::Raw {
                    path,
                    origin: Default::default(),
                    sha256: None,
                },
            );
        }
    }
    if let Some(t) = &d.test_source {
        out.insert(raw::SOURCE_TEST.to_string(), raw_source(t));
    }
    out
}

fn add_branch(dag: &mut Dag, d: &DatasetConfig) -> Result<(), BuildError> {
    let raws = raw_inputs(d);
    // Stage name → node index, for this branch.
    let mut placed: BTreeMap<&'static str, usize> = BTreeMap::new();
    for entry in &registry::STAGES {
        let Some(configured) = (entry.configure)(d)? else {
            continue;
        };
        let mut inputs = Vec::new();
        for input in entry.inputs {
            let wiring = |why: String| BuildError::Wiring {
                dataset: d.name.clone(),
                stage: entry.name,
                input: input.name,
                why,
            };
            match input.kind {
                InputKind::Raw => match raws.get(input.name) {
                    Some(src) => inputs.push((input.name.to_string(), src.clone())),
                    None if input.required => {
                        return Err(wiring("but the dataset names no such file".into()))
                    }
                    None => {}
                },
                InputKind::Artifact(a) => match placed.get(a.stage) {
                    Some(&node) => inputs.push((
                        input.name.to_string(),
                        InputSource::Produced {
                            node,
                            output: a.output.to_string(),
                        },
                    )),
                    None if input.required => {
                        return Err(wiring(format!(
                            "but stage {} is not part of this dataset's pipeline",
                            a.stage
                        )))
                    }
                    None => {}
                },
            }
        }
        placed.insert(entry.name, dag.nodes.len());
        dag.nodes.push(Node {
            stage: entry.name.to_string(),
            dataset: d.name.clone(),
            fingerprint: entry.fingerprint()?.to_string(),
            params_json: configured.params_json,
            inputs,
            outputs: entry.outputs.iter().map(|a| a.output.to_string()).collect(),
            run: configured.run,
        });
    }
    Ok(())
}
