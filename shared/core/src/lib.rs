//! `alsflow-core`: the vocabulary shared by the runner and every stage crate.
//!
//! - [`stage`]: the [`Stage`] trait each stage crate implements, with its inputs,
//!   outputs and the context the runner provides (progress, memoisation).
//! - [`bytes`]: [`ArtifactBytes`], an input's bytes on the heap or memory-mapped.
//! - [`codec`]: the only place that touches bincode (models and small values).
//! - [`table`]: Parquet encoding of the interaction tables exchanged between stages.
//! - [`ArtifactId`] / [`Format`]: how artifacts are named and typed.
//!
//! Architecture invariant: this crate knows nothing of sled, of the store layout,
//! of the CLI or of any stage in particular.

pub mod bytes;
pub mod canonical;
pub mod catalog;
pub mod codec;
pub mod files;
pub mod hex;
pub mod rng;
pub mod stage;
pub mod table;
pub mod test_support;

pub use bytes::ArtifactBytes;
pub use catalog::ArtifactName;
pub use stage::{
    InputArtifact, InputKind, InputSpec, OutputArtifact, Progress, Stage, StageContext, StageError,
    StageInputs, StageOutputs,
};

use serde::{Deserialize, Serialize};
use std::fmt;

/// The id of an artifact: blake3 of its bytes, shown as 64 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ArtifactId(pub [u8; 32]);

impl ArtifactId {
    /// Hash `bytes` into their id.
    pub fn of(bytes: &[u8]) -> Self {
        ArtifactId(*blake3::hash(bytes).as_bytes())
    }

    /// Full 64-digit lowercase hex form.
    pub fn to_hex(&self) -> String {
        hex::encode(&self.0)
    }

    /// Parse the full 64-digit hex form (either case, digits only).
    pub fn from_hex(s: &str) -> Option<Self> {
        hex::decode32(s).map(ArtifactId)
    }

    /// The first 12 hex digits, for display.
    pub fn short(&self) -> String {
        self.to_hex()[..12].to_string()
    }
}

impl fmt::Display for ArtifactId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for ArtifactId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ArtifactId({})", self.short())
    }
}

/// How an artifact's bytes are encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// A Parquet table (see [`table`]).
    Parquet,
    /// A bincode value (see [`codec`]).
    Bincode,
    /// JSON text.
    Json,
    /// An SVG image.
    Svg,
    /// An HTML document.
    Html,
    /// Markdown text.
    Markdown,
    /// Raw source bytes as read from a data file.
    Raw,
}

impl Format {
    /// File extension used when exporting or naming the artifact.
    pub fn extension(&self) -> &'static str {
        match self {
            Format::Parquet => "parquet",
            Format::Bincode => "bin",
            Format::Json => "json",
            Format::Svg => "svg",
            Format::Html => "html",
            Format::Markdown => "md",
            Format::Raw => "raw",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Format::Parquet => "parquet",
            Format::Bincode => "bincode",
            Format::Json => "json",
            Format::Svg => "svg",
            Format::Html => "html",
            Format::Markdown => "markdown",
            Format::Raw => "raw",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn artifact_id_hex_round_trips() {
        let id = ArtifactId::of(b"hello");
        assert_eq!(ArtifactId::from_hex(&id.to_hex()), Some(id));
        assert_eq!(id.short().len(), 12);
        assert_eq!(ArtifactId::from_hex("zz"), None);
        let signed = format!("+{}", &id.to_hex()[1..]);
        assert_eq!(ArtifactId::from_hex(&signed), None);
    }
}
