//! Stage keys: what makes two runs of a stage the same computation.

use alsflow_core::ArtifactId;
use alsflow_store::StageKey;
use std::collections::BTreeMap;

/// The cache key of a node: blake3 over its stage name, fingerprint, params and input ids.
pub fn stage_key(
    stage: &str,
    fingerprint: &str,
    params_json: &str,
    inputs: &BTreeMap<String, ArtifactId>,
) -> StageKey {
    let mut pre = Vec::with_capacity(256);
    // Length-prefixed fields so that no two different tuples share a preimage.
    let mut field = |b: &[u8]| {
        pre.extend_from_slice(&(b.len() as u64).to_le_bytes());
        pre.extend_from_slice(b);
    };
    field(b"alsflow-stage-key-v1");
    field(stage.as_bytes());
    field(fingerprint.as_bytes());
    field(params_json.as_bytes());
    for (name, id) in inputs {
        field(name.as_bytes());
        field(&id.0);
    }
    StageKey::of(&pre)
}
