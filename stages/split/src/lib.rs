//! Stage split: train/test and k-fold partitions.
//!
//! Placeholder: the real stage replaces this file.

use alsflow_core::{Stage, StageContext, StageError, StageInputs, StageOutputs};
use serde::{Deserialize, Serialize};

/// Parameters of the `split` stage (its `pipeline.toml` section).
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Params {}

/// The `split` stage.
pub struct Split;

impl Stage for Split {
    const NAME: &'static str = "split";
    const OUTPUTS: &'static [&'static str] = &["train", "test", "folds"];
    type Params = Params;

    fn run(_params: &Params, _inputs: &StageInputs, _ctx: &dyn StageContext) -> Result<StageOutputs, StageError> {
        Err(StageError::other("stage split is not implemented yet"))
    }
}
