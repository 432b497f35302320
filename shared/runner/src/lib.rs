//! The DAG runner: pipeline.toml, stage keys, caching, early cutoff, lineage.
