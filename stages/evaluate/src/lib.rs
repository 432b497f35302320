//! Stage evaluate: test metrics, baselines and the report.
//!
//! Placeholder: the real stage replaces this file.

use alsflow_core::{Stage, StageContext, StageError, StageInputs, StageOutputs};
use serde::{Deserialize, Serialize};

/// Parameters of the `evaluate` stage (its `pipeline.toml` section).
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Params {}

/// The `evaluate` stage.
pub struct Evaluate;

impl Stage for Evaluate {
    const NAME: &'static str = "evaluate";
    const OUTPUTS: &'static [&'static str] = &["metrics", "report"];
    type Params = Params;

    fn run(_params: &Params, _inputs: &StageInputs, _ctx: &dyn StageContext) -> Result<StageOutputs, StageError> {
        Err(StageError::other("stage evaluate is not implemented yet"))
    }
}
