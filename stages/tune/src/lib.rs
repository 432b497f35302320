//! Stage tune: cross-validated grid search with per-point caching.
//!
//! Placeholder: the real stage replaces this file.

use alsflow_core::{Stage, StageContext, StageError, StageInputs, StageOutputs};
use serde::{Deserialize, Serialize};

/// Parameters of the `tune` stage (its `pipeline.toml` section).
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Params {}

/// The `tune` stage.
pub struct Tune;

impl Stage for Tune {
    const NAME: &'static str = "tune";
    const OUTPUTS: &'static [&'static str] = &["results", "best_params"];
    type Params = Params;

    fn run(_params: &Params, _inputs: &StageInputs, _ctx: &dyn StageContext) -> Result<StageOutputs, StageError> {
        Err(StageError::other("stage tune is not implemented yet"))
    }
}
