//! Maps a [`PipelineConfig`] onto the real stages: one branch per dataset,
//! preprocess → split → (tune) → train → evaluate.

use crate::config::{DatasetConfig, PipelineConfig, SourceSpec};
use crate::engine::{canonical_json, Dag, InputSource, Node, RunFn};
use crate::fingerprints;
use alsflow_core::{Stage, StageContext, StageInputs};
use std::sync::Arc;

/// The stage names, in pipeline order.
pub const STAGE_ORDER: &[&str] = &["preprocess", "split", "tune", "train", "evaluate"];

/// The code fingerprint of stage `name` (taken at build time).
pub fn fingerprint_of(name: &str) -> &'static str {
    match name {
        "preprocess" => fingerprints::PREPROCESS,
        "split" => fingerprints::SPLIT,
        "tune" => fingerprints::TUNE,
        "train" => fingerprints::TRAIN,
        "evaluate" => fingerprints::EVALUATE,
        _ => "",
    }
}

/// A node running stage `S` with `params`; `params_json` defaults to the params' canonical JSON.
fn stage_node<S: Stage + 'static>(
    dataset: &str,
    params: S::Params,
    params_json: Option<String>,
    inputs: Vec<(String, InputSource)>,
) -> Result<Node, String> {
    let params_json = match params_json {
        Some(p) => p,
        None => canonical_json(&params)
            .map_err(|e| format!("cannot serialise {} params: {e}", S::NAME))?,
    };
    let run: RunFn =
        Arc::new(move |inputs: &StageInputs, ctx: &dyn StageContext| S::run(&params, inputs, ctx));
    Ok(Node {
        stage: S::NAME.to_string(),
        dataset: dataset.to_string(),
        fingerprint: fingerprint_of(S::NAME).to_string(),
        params_json,
        inputs,
        outputs: S::OUTPUTS.iter().map(|s| s.to_string()).collect(),
        run,
    })
}

fn raw(src: &SourceSpec) -> InputSource {
    InputSource::Raw {
        path: src.path.clone(),
        url: src.url.clone(),
        sha256: src.sha256.clone(),
    }
}

fn produced(node: usize, output: &str) -> InputSource {
    InputSource::Produced {
        node,
        output: output.to_string(),
    }
}

/// Build the DAG of every dataset in `cfg`.
pub fn build_dag(cfg: &PipelineConfig) -> Result<Dag, String> {
    let mut dag = Dag::default();
    for d in &cfg.datasets {
        add_branch(&mut dag, d)?;
    }
    Ok(dag)
}

fn add_branch(dag: &mut Dag, d: &DatasetConfig) -> Result<(), String> {
    let ds = d.name.as_str();
    let mut pre_inputs = Vec::new();
    if let Some(src) = &d.source {
        pre_inputs.push(("source".to_string(), raw(src)));
        for (name, path) in alsflow_preprocess::companion_files(&d.preprocess, &src.path) {
            pre_inputs.push((
                name,
                InputSource::Raw {
                    path,
                    url: None,
                    sha256: None,
                },
            ));
        }
    }
    if let Some(t) = &d.test_source {
        pre_inputs.push(("source_test".to_string(), raw(t)));
    }
    let pre = dag.nodes.len();
    dag.nodes.push(stage_node::<alsflow_preprocess::Preprocess>(
        ds,
        d.preprocess.clone(),
        None,
        pre_inputs,
    )?);

    let split = dag.nodes.len();
    dag.nodes.push(stage_node::<alsflow_split::Split>(
        ds,
        d.split.clone(),
        None,
        vec![(
            "preprocess.interactions".into(),
            produced(pre, "interactions"),
        )],
    )?);

    let tune = if d.tune_enabled {
        let mut params = d.tune.clone();
        params.base = d.als.clone();
        // `base` shapes every grid point, so it must be part of the key: the tune
        // params serialise it (it is only skipped when reading pipeline.toml); make
        // sure of it rather than trust that silently.
        let mut v: serde_json::Value = serde_json::from_str(
            &serde_json::to_string(&params).map_err(|e| format!("tune params: {e}"))?,
        )
        .map_err(|e| format!("tune params: {e}"))?;
        if let serde_json::Value::Object(m) = &mut v {
            let base = serde_json::to_string(&d.als).map_err(|e| format!("train params: {e}"))?;
            m.insert(
                "base".into(),
                serde_json::from_str(&base).map_err(|e| format!("train params: {e}"))?,
            );
        }
        let json = canonical_json(&v).map_err(|e| format!("tune params: {e}"))?;
        let i = dag.nodes.len();
        dag.nodes.push(stage_node::<alsflow_tune::Tune>(
            ds,
            params,
            Some(json),
            vec![
                ("split.folds".into(), produced(split, "folds")),
                ("split.train".into(), produced(split, "train")),
            ],
        )?);
        Some(i)
    } else {
        None
    };

    let mut train_inputs = vec![
        ("split.train".to_string(), produced(split, "train")),
        ("preprocess.users".to_string(), produced(pre, "users")),
        ("preprocess.items".to_string(), produced(pre, "items")),
    ];
    if let Some(t) = tune {
        train_inputs.push(("tune.best_params".into(), produced(t, "best_params")));
    }
    let train = dag.nodes.len();
    dag.nodes.push(stage_node::<alsflow_train::Train>(
        ds,
        d.train.clone(),
        None,
        train_inputs,
    )?);

    let mut eval_inputs = vec![
        ("train.model".to_string(), produced(train, "model")),
        ("split.train".to_string(), produced(split, "train")),
        ("split.test".to_string(), produced(split, "test")),
        ("preprocess.users".to_string(), produced(pre, "users")),
        ("preprocess.items".to_string(), produced(pre, "items")),
        (
            "preprocess.interactions".to_string(),
            produced(pre, "interactions"),
        ),
    ];
    if let Some(t) = tune {
        eval_inputs.push(("tune.results".into(), produced(t, "results")));
    }
    dag.nodes.push(stage_node::<alsflow_evaluate::Evaluate>(
        ds,
        d.evaluate.clone(),
        None,
        eval_inputs,
    )?);
    Ok(())
}
