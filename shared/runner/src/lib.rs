//! `alsflow-runner`: the DAG runner.
//!
//! - [`config`]: `pipeline.toml` loading, `--set` overrides, per-dataset merging, validation.
//! - [`sources`]: a dataset's source keys (`preset`, `path`, `url`, `member`, …) resolved.
//! - [`presets`]: datasets known by name (MovieLens, the Million Song samples, Last.fm).
//! - [`download`]: raw data files, present or downloaded (resumable, capped, verified,
//!   unpacked from `.zip`/`.tar.gz`/`.gz` inside the data home).
//! - [`datalock`]: `pipeline.lock`, the checksums of earlier downloads.
//! - [`engine`]: the generic engine — a DAG of type-erased stage nodes, stage keys,
//!   caching, early cutoff, corruption repair, concurrency.
//! - [`build`]: maps a config onto the real stages.
//! - [`status`]: fresh / stale / missing, and why.
//! - [`lineage`]: from an artifact back to the raw files it came from.
//! - [`experiments`]: every recorded pipeline run, summarised and compared
//!   (`alsflow runs`, `alsflow diff`, the report's history).
//!
//! Architecture invariant: stage crates never see the store; only the engine reads
//! and writes it, always through hash-verified reads.

pub mod build;
pub mod config;
pub mod datalock;
pub mod download;
pub mod engine;
pub mod experiments;
#[cfg(test)]
mod fingerprint;
pub mod lineage;
pub mod presets;
pub mod registry;
pub mod sources;
pub mod status;
#[cfg(any(test, feature = "test-support"))]
pub mod test_support;

pub use config::{ConfigError, PipelineConfig};
pub use engine::{Dag, Engine, InputSource, Node, NodeReport, NodeStatus, RunOptions};
