//! The stage registry: the one list of the pipeline's stages, in pipeline order.
//!
//! Each entry names a stage (its `Stage::NAME`, which is also its `pipeline.toml`
//! section), the crate that implements it (whose code fingerprint `build.rs` takes),
//! the inputs and outputs it declares on the `Stage` trait, and how a dataset's config
//! becomes its params and body. The DAG builder ([`crate::build`]), the config loader
//! ([`crate::config`]), `status` and the CLI all read this list; nothing else lists
//! stages.
//!
//! Adding a stage: write its crate under `stages/` implementing `alsflow_core::Stage`,
//! add its artifacts to `alsflow_core::catalog`, add one [`StageEntry`] here (and its
//! params to [`crate::config::DatasetConfig`]), and document it in ARCHITECTURE.md.

use crate::config::DatasetConfig;
use crate::engine::RunFn;
use alsflow_core::{ArtifactName, InputSpec, Stage, StageContext, StageInputs};
use alsflow_spark::Backend;
use std::sync::Arc;

/// Code fingerprints of the stage crates (see `build.rs`).
mod generated {
    include!(concat!(env!("OUT_DIR"), "/fingerprints.rs"));
}

/// A registry or DAG-building error.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// A stage crate has no fingerprint (a registry entry without a `stages/` member).
    #[error("no code fingerprint for stage crate '{0}' (is it a workspace member under stages/?)")]
    NoFingerprint(&'static str),
    /// A stage's params could not be serialised for its key.
    #[error(transparent)]
    Params(#[from] alsflow_core::canonical::CanonicalError),
    /// A stage's declared inputs cannot be wired in a dataset.
    #[error("dataset \"{dataset}\": stage {stage} needs {input}, {why}")]
    Wiring {
        /// The dataset.
        dataset: String,
        /// The consuming stage.
        stage: &'static str,
        /// The input's name.
        input: &'static str,
        /// Why it cannot be wired.
        why: String,
    },
}

/// A stage configured for one dataset: the params its key hashes and its body.
pub struct Configured {
    /// Canonical JSON of the stage's key params.
    pub params_json: String,
    /// The stage body with its params bound.
    pub run: RunFn,
}

/// How a dataset's config configures one stage (`None`: not part of this branch).
pub type Configure = fn(&DatasetConfig) -> Result<Option<Configured>, BuildError>;

/// One stage of the pipeline.
pub struct StageEntry {
    /// The stage's name and config section.
    pub name: &'static str,
    /// The package implementing it (its code fingerprint is taken over this crate).
    pub crate_name: &'static str,
    /// Its declared inputs.
    pub inputs: &'static [InputSpec],
    /// Its declared outputs.
    pub outputs: &'static [ArtifactName],
    /// How a dataset configures it.
    pub configure: Configure,
}

impl StageEntry {
    /// The stage's code fingerprint (hex).
    pub fn fingerprint(&self) -> Result<&'static str, BuildError> {
        generated::FINGERPRINTS
            .iter()
            .find(|(c, _)| *c == self.crate_name)
            .map(|(_, f)| *f)
            .ok_or(BuildError::NoFingerprint(self.crate_name))
    }
}

/// The entry of stage `S`, implemented by `crate_name`.
const fn entry<S: Stage>(crate_name: &'static str, configure: Configure) -> StageEntry {
    StageEntry {
        name: S::NAME,
        crate_name,
        inputs: S::INPUTS,
        outputs: S::OUTPUTS,
        configure,
    }
}

/// Bind `params` to stage `S`'s body; its key hashes [`Stage::key_params`].
pub fn configured<S: Stage + 'static>(params: S::Params) -> Result<Configured, BuildError> {
    let params_json = alsflow_core::canonical::to_string(
        &format!("{} params", S::NAME),
        &S::key_params(&params),
    )?;
    let run: RunFn =
        Arc::new(move |inputs: &StageInputs, ctx: &dyn StageContext| S::run(&params, inputs, ctx));
    Ok(Configured { params_json, run })
}

/// A Spark-backed stage's binding to the dataset's `[spark]` settings, with Spark's
/// version asked of Spark (once per process); `None` for native stages, which never
/// start Spark.
fn spark_binding(backend: Backend, d: &DatasetConfig) -> Option<alsflow_spark::SparkRun> {
    (backend == Backend::Spark).then(|| alsflow_spark::SparkRun::resolve(&d.spark))
}

/// Every stage, in pipeline order.
pub static STAGES: [StageEntry; 5] = [
    entry::<alsflow_preprocess::Preprocess>("alsflow-preprocess", |d| {
        configured::<alsflow_preprocess::Preprocess>(d.preprocess.clone()).map(Some)
    }),
    entry::<alsflow_split::Split>("alsflow-split", |d| {
        configured::<alsflow_split::Split>(d.split.clone()).map(Some)
    }),
    entry::<alsflow_tune::Tune>("alsflow-tune", |d| {
        if !d.tune_enabled {
            return Ok(None);
        }
        // Grid points are merged over the dataset's [train] params.
        let mut params = d.tune.clone();
        params.base = d.train.als.clone();
        params.spark = spark_binding(params.backend, d);
        configured::<alsflow_tune::Tune>(params).map(Some)
    }),
    entry::<alsflow_train::Train>("alsflow-train", |d| {
        let mut params = d.train.clone();
        params.spark = spark_binding(params.backend, d);
        configured::<alsflow_train::Train>(params).map(Some)
    }),
    entry::<alsflow_evaluate::Evaluate>("alsflow-evaluate", |d| {
        configured::<alsflow_evaluate::Evaluate>(d.evaluate.clone()).map(Some)
    }),
];

/// The stage called `name`.
pub fn find(name: &str) -> Option<&'static StageEntry> {
    STAGES.iter().find(|s| s.name == name)
}

/// The stage names, in pipeline order.
pub fn names() -> impl Iterator<Item = &'static str> {
    STAGES.iter().map(|s| s.name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_stage_crate_has_one_entry_and_a_distinct_fingerprint() {
        let mut crates: Vec<&str> = generated::FINGERPRINTS.iter().map(|(c, _)| *c).collect();
        let mut registered: Vec<&str> = STAGES.iter().map(|s| s.crate_name).collect();
        crates.sort();
        registered.sort();
        assert_eq!(crates, registered, "stages/ members and registry entries");
        let mut prints = std::collections::BTreeSet::new();
        for s in &STAGES {
            let f = s.fingerprint().unwrap();
            assert_eq!(f.len(), 64);
            assert!(alsflow_core::hex::is_hex(f));
            assert!(prints.insert(f), "{} shares a fingerprint", s.name);
        }
        let missing = StageEntry {
            crate_name: "alsflow-nothing",
            ..entry::<alsflow_split::Split>("x", |_| Ok(None))
        };
        assert!(matches!(
            missing.fingerprint(),
            Err(BuildError::NoFingerprint("alsflow-nothing"))
        ));
    }

    #[test]
    fn producers_come_before_consumers() {
        for (i, s) in STAGES.iter().enumerate() {
            for input in s.inputs {
                if let alsflow_core::InputKind::Artifact(a) = input.kind {
                    let p = STAGES.iter().position(|t| t.name == a.stage);
                    assert!(p.is_some_and(|p| p < i), "{} reads {}", s.name, a);
                    assert!(STAGES[p.unwrap()].outputs.contains(&a));
                }
            }
        }
    }
}
