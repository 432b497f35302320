//! `alsflow-formats`: the Parquet tables that more than one crate reads or writes,
//! beyond core's interaction tables.
//!
//! - [`results`]: tune's `results` table (one row per grid point and fold), read by
//!   evaluate's report; [`plots`] draws it.
//! - [`factors`]: train's `user_factors` / `item_factors` tables (any backend writes
//!   the same schema).
//! - [`metrics`]: evaluate's `metrics` table and its JSON form (`alsflow metrics`).
//! - [`search`]: tune's `search` document (the search path, the selected point's
//!   fold-to-fold spread, edge warnings), read by evaluate's report and the CLI.
//!
//! Writers are deterministic: equal values give equal bytes. Stage crates may depend
//! on this crate (it holds formats, not stage logic).

pub mod factors;
pub mod metrics;
pub mod plots;
pub mod results;
pub mod search;
