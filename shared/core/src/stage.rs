//! The [`Stage`] trait: what every stage crate implements, and all it sees of the
//! runner.
//!
//! A stage is a pure function of its parameters and its input artifacts' bytes. It
//! knows nothing of sled, hashing, the store layout or the CLI: the runner resolves
//! its inputs (verifying their hashes), calls [`Stage::run`], then hashes and stores
//! the outputs. Determinism is the stage's duty: the same params and input bytes
//! must give byte-identical outputs, whatever the thread count.

use crate::bytes::ArtifactBytes;
use crate::catalog::ArtifactName;
use crate::table::TableArtifact;
use crate::{ArtifactId, Format};
use serde::{de::DeserializeOwned, Serialize};
use std::collections::BTreeMap;

/// A stage failed. The message must say what and where (file, line, row, param).
#[derive(Debug, thiserror::Error)]
pub enum StageError {
    /// Bad input data: `source` names the file (or artifact), `line` is 1-based when known.
    #[error("{source_name}{}: {message}", line.map(|l| format!(":{l}")).unwrap_or_default())]
    BadInput {
        source_name: String,
        line: Option<u64>,
        message: String,
    },
    /// A parameter value that cannot work (e.g. rank = 0), named by its dotted path.
    #[error("invalid parameter {param}: {message}")]
    BadParam { param: String, message: String },
    /// A numerical failure, with the advice to fix it.
    #[error("{0}")]
    Numerical(String),
    /// An input the runner was expected to provide is missing (a wiring bug).
    #[error("missing input artifact '{0}'")]
    MissingInput(String),
    /// Anything else.
    #[error("{0}")]
    Other(String),
}

impl StageError {
    /// Shorthand for [`StageError::Other`].
    pub fn other(msg: impl Into<String>) -> Self {
        StageError::Other(msg.into())
    }
}

impl From<crate::codec::CodecError> for StageError {
    fn from(e: crate::codec::CodecError) -> Self {
        StageError::Other(e.to_string())
    }
}

impl From<crate::table::TableError> for StageError {
    fn from(e: crate::table::TableError) -> Self {
        StageError::Other(e.to_string())
    }
}

/// One input handed to a stage: its id, a human label and its (hash-verified) bytes.
#[derive(Clone, Debug)]
pub struct InputArtifact {
    /// Content id of the bytes.
    pub id: ArtifactId,
    /// What to call it in messages: the original file path for raw sources,
    /// `stage.output` (e.g. `split.train`) for produced artifacts.
    pub label: String,
    /// Encoding of the bytes.
    pub format: Format,
    /// The bytes, already verified against `id` by the runner: heap memory for small
    /// artifacts, a read-only memory map of the stored object for large ones.
    pub bytes: ArtifactBytes,
}

impl InputArtifact {
    /// A [`StageError::BadInput`] naming this input.
    pub fn bad(&self, message: impl std::fmt::Display) -> StageError {
        StageError::BadInput {
            source_name: self.label.clone(),
            line: None,
            message: message.to_string(),
        }
    }

    /// Decode the bytes as Parquet table `T` (errors name the input). The decoded table
    /// owns its data, so a memory-mapped input's pages are released afterwards.
    pub fn table<T: TableArtifact>(&self) -> Result<T, StageError> {
        let decoded = T::from_parquet_bytes(self.bytes.bytes()).map_err(|e| self.bad(e));
        self.bytes.release_all();
        decoded
    }

    /// Decode the bytes as a bincode `T` (errors name the input).
    pub fn value<T: DeserializeOwned>(&self) -> Result<T, StageError> {
        crate::codec::decode(short_type_name::<T>(), &self.bytes).map_err(|e| self.bad(e))
    }
}

/// `AlsParams` for `alsflow_als::params::AlsParams`, for codec messages.
fn short_type_name<T>() -> &'static str {
    let full = std::any::type_name::<T>();
    full.rsplit("::").next().unwrap_or(full)
}

/// The inputs of one stage run, by name.
///
/// Names: raw sources are `source`, `source_test` and `titles` (preprocess only);
/// produced artifacts are `stage.output`, e.g. `split.train`, `tune.best_params`.
#[derive(Clone, Debug, Default)]
pub struct StageInputs {
    inputs: BTreeMap<String, InputArtifact>,
}

impl StageInputs {
    /// An empty set of inputs.
    pub fn new() -> Self {
        Self::default()
    }

    /// Add (or replace) the input called `name`.
    pub fn insert(&mut self, name: impl Into<String>, input: InputArtifact) {
        self.inputs.insert(name.into(), input);
    }

    /// The input called `name`, or [`StageError::MissingInput`].
    pub fn get(&self, name: &str) -> Result<&InputArtifact, StageError> {
        self.inputs
            .get(name)
            .ok_or_else(|| StageError::MissingInput(name.to_string()))
    }

    /// The input called `name` if the runner provided it (optional inputs).
    pub fn optional(&self, name: &str) -> Option<&InputArtifact> {
        self.inputs.get(name)
    }

    /// Decode the Parquet input `name` (e.g. `&split::TRAIN`) as table `T`; a decoding
    /// failure is [`StageError::BadInput`] naming the input.
    pub fn table<T: TableArtifact>(&self, name: impl AsRef<str>) -> Result<T, StageError> {
        self.get(name.as_ref())?.table()
    }

    /// Like [`StageInputs::table`] for an optional input: `Ok(None)` when absent.
    pub fn optional_table<T: TableArtifact>(
        &self,
        name: impl AsRef<str>,
    ) -> Result<Option<T>, StageError> {
        self.optional(name.as_ref()).map(|a| a.table()).transpose()
    }

    /// Decode the bincode input `name` as `T` through the workspace codec; a decoding
    /// failure is [`StageError::BadInput`] naming the input.
    pub fn value<T: DeserializeOwned>(&self, name: impl AsRef<str>) -> Result<T, StageError> {
        self.get(name.as_ref())?.value()
    }

    /// Like [`StageInputs::value`] for an optional input: `Ok(None)` when absent.
    pub fn optional_value<T: DeserializeOwned>(
        &self,
        name: impl AsRef<str>,
    ) -> Result<Option<T>, StageError> {
        self.optional(name.as_ref()).map(|a| a.value()).transpose()
    }

    /// All inputs, by name (sorted).
    pub fn iter(&self) -> impl Iterator<Item = (&String, &InputArtifact)> {
        self.inputs.iter()
    }
}

/// One output a stage produced.
#[derive(Clone, Debug)]
pub struct OutputArtifact {
    /// The output's name (one of [`Stage::OUTPUTS`]).
    pub name: String,
    /// Encoding of `bytes`.
    pub format: Format,
    /// The artifact's bytes; their blake3 becomes the artifact id.
    pub bytes: Vec<u8>,
}

/// What a stage run produced: its artifacts plus a human summary for the run log.
#[derive(Clone, Debug, Default)]
pub struct StageOutputs {
    /// Output artifacts (every name of [`Stage::OUTPUTS`] exactly once).
    pub artifacts: Vec<OutputArtifact>,
    /// Short lines shown in the run log, e.g. "100000 rows read, 943 users".
    pub summary: Vec<String>,
}

impl StageOutputs {
    /// An empty set of outputs.
    pub fn new() -> Self {
        Self::default()
    }

    /// Add the catalogued output `artifact` (its format comes from the catalogue).
    pub fn put(&mut self, artifact: ArtifactName, bytes: Vec<u8>) -> &mut Self {
        self.add(artifact.output, artifact.format, bytes)
    }

    /// Add an output artifact by name and format.
    pub fn add(&mut self, name: &str, format: Format, bytes: Vec<u8>) -> &mut Self {
        self.artifacts.push(OutputArtifact {
            name: name.to_string(),
            format,
            bytes,
        });
        self
    }

    /// Add a summary line.
    pub fn note(&mut self, line: impl Into<String>) -> &mut Self {
        self.summary.push(line.into());
        self
    }

    /// Add a caveat of the results (e.g. the best point on the edge of a search): a
    /// summary line starting with [`WARNING_PREFIX`], which the runner logs as a
    /// warning on every run, cached or not.
    pub fn warn(&mut self, line: impl std::fmt::Display) -> &mut Self {
        self.summary.push(format!("{WARNING_PREFIX}{line}"));
        self
    }
}

/// The start of a summary line that is a warning (see [`StageOutputs::warn`]).
pub const WARNING_PREFIX: &str = "warning: ";

/// A progress reporter for long work (a bar in a terminal, nothing otherwise).
pub trait Progress: Send + Sync {
    /// Advance by `n` units.
    fn inc(&self, n: u64);
    /// Replace the message shown beside the bar.
    fn set_message(&self, msg: String);
    /// The work is done.
    fn finish(&self);
}

/// A [`Progress`] that shows nothing.
pub struct NoProgress;

impl Progress for NoProgress {
    fn inc(&self, _n: u64) {}
    fn set_message(&self, _msg: String) {}
    fn finish(&self) {}
}

/// What the runner offers a running stage.
pub trait StageContext: Send + Sync {
    /// Name of the dataset (DAG branch) this run belongs to.
    fn dataset(&self) -> &str;

    /// A progress reporter over `total` units of work labelled `label`.
    fn progress(&self, label: &str, total: u64) -> Box<dyn Progress>;

    /// Fine-grained memoisation inside a stage (e.g. one tune grid point on one
    /// fold). `key` must identify the computation fully (params and the ids of the
    /// inputs it reads); the runner scopes it by stage name and code fingerprint.
    fn memo_get(&self, key: &[u8]) -> Option<Vec<u8>>;

    /// Record a memoised result (see [`StageContext::memo_get`]).
    fn memo_put(&self, key: &[u8], value: &[u8]);
}

/// A context for tests and library use: no progress, an in-memory memo table.
#[derive(Default)]
pub struct LocalContext {
    /// Dataset name reported by [`StageContext::dataset`].
    pub dataset: String,
    memo: std::sync::Mutex<BTreeMap<Vec<u8>, Vec<u8>>>,
    /// Number of `memo_put` calls so far (tests count recomputations with it).
    pub puts: std::sync::atomic::AtomicUsize,
}

impl LocalContext {
    /// A context for dataset `dataset`.
    pub fn new(dataset: &str) -> Self {
        LocalContext {
            dataset: dataset.to_string(),
            ..Default::default()
        }
    }
}

impl StageContext for LocalContext {
    fn dataset(&self) -> &str {
        &self.dataset
    }
    fn progress(&self, _label: &str, _total: u64) -> Box<dyn Progress> {
        Box::new(NoProgress)
    }
    fn memo_get(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.memo.lock().ok()?.get(key).cloned()
    }
    fn memo_put(&self, key: &[u8], value: &[u8]) {
        self.puts.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        if let Ok(mut m) = self.memo.lock() {
            m.insert(key.to_vec(), value.to_vec());
        }
    }
}

/// Where one declared input of a stage comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InputKind {
    /// A raw data file named by the dataset's config (see [`crate::catalog::raw`]).
    Raw,
    /// An artifact another stage of the same dataset produces.
    Artifact(ArtifactName),
}

/// One input a stage declares: its name as the stage reads it, where it comes from,
/// and whether a run can do without it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InputSpec {
    /// `split.train` for artifacts, `source` etc. for raw files.
    pub name: &'static str,
    /// Raw file or produced artifact.
    pub kind: InputKind,
    /// False when the stage runs without it (its producer may be absent from the
    /// branch, e.g. `tune.best_params` when tuning is off).
    pub required: bool,
}

impl InputSpec {
    /// A required artifact input.
    pub const fn needs(artifact: ArtifactName) -> Self {
        InputSpec {
            name: artifact.qualified,
            kind: InputKind::Artifact(artifact),
            required: true,
        }
    }

    /// An artifact input used when its producer is part of the branch.
    pub const fn uses_if_present(artifact: ArtifactName) -> Self {
        InputSpec {
            name: artifact.qualified,
            kind: InputKind::Artifact(artifact),
            required: false,
        }
    }

    /// A raw-file input (`required` = the dataset must name it).
    pub const fn raw(name: &'static str, required: bool) -> Self {
        InputSpec {
            name,
            kind: InputKind::Raw,
            required,
        }
    }
}

/// A pipeline stage: a pure function from params + input artifacts to output artifacts.
///
/// Implemented once per stage crate. `Params` is the stage's section of
/// `pipeline.toml` (it must reject unknown keys: `#[serde(deny_unknown_fields)]`);
/// the canonical JSON of [`Stage::key_params`] is part of the stage's cache key.
pub trait Stage {
    /// The stage's name: `preprocess`, `split`, `tune`, `train` or `evaluate`.
    const NAME: &'static str;
    /// The inputs the stage reads (the runner wires exactly these).
    const INPUTS: &'static [InputSpec];
    /// The artifacts every run produces (from [`crate::catalog`]).
    const OUTPUTS: &'static [ArtifactName];
    /// The stage's parameters (its `pipeline.toml` section).
    type Params: Serialize + DeserializeOwned + Default + Clone + Send + Sync + 'static;

    /// The params as the cache key sees them: settings that cannot change the outputs
    /// (thread counts, diagnostics) normalised away, so changing them reruns nothing.
    /// The default keeps every param.
    fn key_params(params: &Self::Params) -> Self::Params {
        params.clone()
    }

    /// Run the stage. Must be deterministic in `params` and the input bytes.
    fn run(
        params: &Self::Params,
        inputs: &StageInputs,
        ctx: &dyn StageContext,
    ) -> Result<StageOutputs, StageError>;
}
