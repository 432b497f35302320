//! Stage train: the final ALS model and its factor tables.
//!
//! Placeholder: the real stage replaces this file.

use alsflow_core::{Stage, StageContext, StageError, StageInputs, StageOutputs};
use serde::{Deserialize, Serialize};

/// Parameters of the `train` stage (its `pipeline.toml` section).
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Params {}

/// The `train` stage.
pub struct Train;

impl Stage for Train {
    const NAME: &'static str = "train";
    const OUTPUTS: &'static [&'static str] = &["model", "user_factors", "item_factors"];
    type Params = Params;

    fn run(_params: &Params, _inputs: &StageInputs, _ctx: &dyn StageContext) -> Result<StageOutputs, StageError> {
        Err(StageError::other("stage train is not implemented yet"))
    }
}
