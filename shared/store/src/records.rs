//! The records kept in the store's database: artifacts, runs, and the stage key.

use alsflow_core::{hex, ArtifactId, Format};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// Where a raw source artifact came from (only raw sources carry one).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct SourceInfo {
    /// The source file's path, as the caller gave it (usually under the data home).
    pub path: String,
    /// Its size in bytes.
    pub size: u64,
    /// blake3 of its bytes, 64 hex digits (equal to the artifact id).
    pub blake3: String,
    /// Where it can be downloaded from, if configured.
    pub url: Option<String>,
    /// Its sha256 (lowercase hex), when one was configured and checked.
    pub sha256: Option<String>,
    /// The sha256 of the archive (or downloaded file) it was unpacked from, when known.
    pub archive_sha256: Option<String>,
    /// The archive member it was unpacked from (`ml-1m/ratings.dat`), if any.
    pub member: Option<String>,
}

/// Where a raw file came from, recorded with it for lineage (see [`SourceInfo`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SourceOrigin {
    /// The URL it is downloaded from.
    pub url: Option<String>,
    /// The sha256 of the downloaded archive (or file), when known.
    pub archive_sha256: Option<String>,
    /// The archive member the file is, when it was unpacked from an archive.
    pub member: Option<String>,
}

/// What the store knows about one object.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ArtifactRecord {
    /// Content id: blake3 of the bytes.
    pub id: ArtifactId,
    /// How the bytes are encoded.
    pub format: Format,
    /// What it is, e.g. `"split.train"` for a stage output or `"source"` for a raw file.
    pub kind: String,
    /// Size of the object in bytes.
    pub size: u64,
    /// The run that (last) produced it; `None` for raw sources and until a run is recorded.
    pub producer: Option<StageKey>,
    /// Origin of a raw source; `None` for produced artifacts.
    pub source: Option<SourceInfo>,
}

/// The cache key of one stage run: blake3 over the stage name, its code fingerprint,
/// its canonical params and its input ids (the runner decides the exact preimage).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, Debug)]
pub struct StageKey(pub [u8; 32]);

impl StageKey {
    /// blake3 of `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        StageKey(*blake3::hash(bytes).as_bytes())
    }

    /// The full 64-digit lowercase hex form.
    pub fn to_hex(&self) -> String {
        hex::encode(&self.0)
    }

    /// Parse the full 64-digit hex form (either case, digits only: no sign, no
    /// whitespace); `None` if malformed.
    pub fn from_hex(s: &str) -> Option<Self> {
        hex::decode32(s).map(StageKey)
    }

    /// The first 12 hex digits, for display.
    pub fn short(&self) -> String {
        self.to_hex()[..12].to_string()
    }
}

impl fmt::Display for StageKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

/// One finished stage run: what went in, what came out, and under which code.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct RunRecord {
    /// The run's cache key.
    pub key: StageKey,
    /// Stage name (`preprocess`, `split`, `tune`, `train`, `evaluate`).
    pub stage: String,
    /// Dataset (DAG branch) the run belongs to.
    pub dataset: String,
    /// Canonical JSON of the stage params (sorted keys).
    pub params_json: String,
    /// Input name → id.
    pub inputs: BTreeMap<String, ArtifactId>,
    /// Output name → id.
    pub outputs: BTreeMap<String, ArtifactId>,
    /// Fingerprint of the stage's code (sources + Cargo.lock) at build time.
    pub code_fingerprint: String,
    /// Start time, milliseconds since the Unix epoch.
    pub started_ms: u64,
    /// End time, milliseconds since the Unix epoch.
    pub ended_ms: u64,
    /// `alsflow` version that ran it.
    pub tool_version: String,
    /// Short human-readable lines the stage reported (e.g. "943 users, 1682 items").
    pub summary: Vec<String>,
}

impl RunRecord {
    /// `"dataset/stage"`, the way errors name a run.
    pub fn label(&self) -> String {
        format!("{}/{}", self.dataset, self.stage)
    }

    /// True when `id` is one of the run's inputs or outputs.
    pub fn references(&self, id: &ArtifactId) -> bool {
        self.inputs
            .values()
            .chain(self.outputs.values())
            .any(|x| x == id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stage_key_hex_round_trips() {
        let k = StageKey::of(b"train");
        assert_eq!(StageKey::from_hex(&k.to_hex()), Some(k));
        assert_eq!(StageKey::from_hex(&k.to_hex().to_uppercase()), Some(k));
        assert_eq!(k.short(), k.to_hex()[..12]);
        assert_eq!(k.to_string(), k.to_hex());
        assert_eq!(StageKey::from_hex("abc"), None);
        assert_eq!(StageKey::from_hex(&"g".repeat(64)), None);
        // Exactly 64 digits: a sign that from_str_radix would take is refused.
        let signed = format!("+{}", &k.to_hex()[1..]);
        assert_eq!(StageKey::from_hex(&signed), None);
        assert_eq!(StageKey::from_hex(&format!("{}0", k.to_hex())), None);
    }
}
