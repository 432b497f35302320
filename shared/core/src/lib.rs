//! `alsflow-core`: the vocabulary shared by the runner and every stage crate.
//!
//! - [`stage`]: the [`Stage`] trait each stage crate implements, with its inputs,
//!   outputs and the context the runner provides (progress, memoisation).
//! - [`codec`]: the only place that touches bincode (models and small values).
//! - [`table`]: Parquet encoding of the interaction tables exchanged between stages.
//! - [`ArtifactId`] / [`Format`]: how artifacts are named and typed.
//!
//! Architecture invariant: this crate knows nothing of sled, of the store layout,
//! of the CLI or of any stage in particular.

pub mod codec;
pub mod rng;
pub mod stage;
pub mod table;
pub mod test_support;

pub use stage::{
    InputArtifact, OutputArtifact, Progress, Stage, StageContext, StageError, StageInputs,
    StageOutputs,
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

    /// Full 64-digit hex form.
    pub fn to_hex(&self) -> String {
        let mut s = String::with_capacity(64);
        for b in self.0 {
            s.push_str(&format!("{b:02x}"));
        }
        s
    }

    /// Parse the full 64-digit hex form.
    pub fn from_hex(s: &str) -> Option<Self> {
        if s.len() != 64 {
            return None;
        }
        let mut out = [0u8; 32];
        for (i, chunk) in s.as_bytes().chunks(2).enumerate() {
            let hex = std::str::from_utf8(chunk).ok()?;
            out[i] = u8::from_str_radix(hex, 16).ok()?;
        }
        Some(ArtifactId(out))
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
    }
}
