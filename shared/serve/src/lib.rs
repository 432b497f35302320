//! `alsflow-serve`: recommendations over HTTP from the models in an alsflow store
//! (`alsflow serve`).
//!
//! - [`serve`] with [`ServeOptions`]: bind (loopback by default), load the latest
//!   trained model of each dataset (or the `--model` given) through a read-only store
//!   handle, answer the routes of [`api`], poll the store for newer train runs and
//!   swap them in atomically ([`state`]), reload at once on SIGHUP, drain on SIGTERM.
//! - [`served::ServedModel`]: a model laid out for answering — padded factor tables
//!   scored by an AVX2 GEMV fused with a bounded top-n ([`scoring`]), hash indices of
//!   the raw ids, each user's training items, and a fold-in solver for new histories.
//!   The CLI's `recommend --history` uses the same type.
//! - [`request`]: parsing and checking of query strings and JSON bodies, fuzzed by
//!   its tests; [`error::ApiError`]: every refusal as JSON with its status.
//! - [`metrics`]: Prometheus counters and histograms.
//!
//! The routes, their parameters and answers are documented in `openapi.yaml` beside
//! this crate's manifest (a test checks that every route is in it) and in the
//! README's "Serving" section.
//!
//! Architecture invariant: the server only reads the store (a read-only handle: it
//! never waits for a run, and a run never waits for it), and a request never waits
//! for a model load: loads happen on a blocking thread and are swapped in with one
//! atomic pointer store.

pub mod api;
pub mod error;
pub mod load;
pub mod metrics;
pub mod request;
pub mod scoring;
pub mod served;
mod server;
pub mod state;

pub use error::{ApiError, LoadError, ServeError};
pub use served::{Filters, ServedModel};
pub use server::{serve, ServeOptions};
