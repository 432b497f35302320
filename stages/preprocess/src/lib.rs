//! Stage preprocess: raw files to indexed interaction tables.
//!
//! Placeholder: the real stage replaces this file.

use alsflow_core::{Stage, StageContext, StageError, StageInputs, StageOutputs};
use serde::{Deserialize, Serialize};

/// Parameters of the `preprocess` stage (its `pipeline.toml` section).
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Params {}

/// The `preprocess` stage.
pub struct Preprocess;

impl Stage for Preprocess {
    const NAME: &'static str = "preprocess";
    const OUTPUTS: &'static [&'static str] = &["interactions", "users", "items"];
    type Params = Params;

    fn run(_params: &Params, _inputs: &StageInputs, _ctx: &dyn StageContext) -> Result<StageOutputs, StageError> {
        Err(StageError::other("stage preprocess is not implemented yet"))
    }
}
