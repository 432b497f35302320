//! `alsflow-runner`: the DAG runner.
//!
//! - [`config`]: `pipeline.toml` loading, `--set` overrides, per-dataset merging, validation.
//! - [`download`]: raw data files, present or downloaded (verified).
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
pub mod download;
pub mod engine;
pub mod experiments;
#[cfg(test)]
mod fingerprint;
pub mod lineage;
pub mod registry;
pub mod status;

pub use config::{ConfigError, PipelineConfig};
pub use engine::{Dag, Engine, InputSource, Node, NodeReport, NodeStatus, RunOptions};
