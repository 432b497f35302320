//! Errors: [`LoadError`] (a model could not be loaded from the store),
//! [`ServeError`] (the server could not start), and [`ApiError`] (one request was
//! refused: a status, a machine-readable code and a message naming what was wrong).

use alsflow_core::ArtifactId;
use serde::Serialize;

/// Why a dataset's model could not be loaded from the store.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The store could not answer (view unreadable, object missing or corrupt).
    #[error("dataset '{dataset}': {source}")]
    Store {
        /// The dataset being loaded.
        dataset: String,
        /// The store's error (boxed: it is large, and errors are rare).
        #[source]
        source: Box<alsflow_store::StoreError>,
    },
    /// The store has no train run for the dataset.
    #[error(
        "dataset '{dataset}' has no train run in the store at {root}: run `alsflow run` first"
    )]
    NoTrainRun {
        /// The dataset asked for.
        dataset: String,
        /// The store root.
        root: String,
    },
    /// `--model ID` names an artifact that no train run produced as its model.
    #[error("{id} is not a model produced by a train run (see `alsflow lineage {short}`)")]
    NotAModel {
        /// The artifact given.
        id: ArtifactId,
        /// Its short form.
        short: String,
    },
    /// A run record lacks an input or output the server needs.
    #[error("the {stage} run {run} of '{dataset}' has no {kind} '{name}'")]
    MissingArtifact {
        /// The dataset.
        dataset: String,
        /// The stage of the run.
        stage: String,
        /// The run's short key.
        run: String,
        /// `input` or `output`.
        kind: &'static str,
        /// The catalogue name looked for.
        name: String,
    },
    /// An artifact's bytes did not decode, or the tables disagree in shape.
    #[error("dataset '{dataset}': {what}: {message}")]
    Content {
        /// The dataset.
        dataset: String,
        /// The artifact (catalogue name).
        what: String,
        /// What was wrong.
        message: String,
    },
}

/// Why `alsflow serve` could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The store could not be opened.
    #[error("cannot open the store at {root}: {source}")]
    Store {
        /// The store root.
        root: String,
        /// The store's error (boxed: it is large, and errors are rare).
        #[source]
        source: Box<alsflow_store::StoreError>,
    },
    /// A model could not be loaded at start.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// Nothing to serve.
    #[error("no dataset has a trained model in the store at {root}: run `alsflow run` first")]
    NothingToServe {
        /// The store root.
        root: String,
    },
    /// The options contradict each other.
    #[error("{0}")]
    Options(String),
    /// The address could not be bound, or the runtime could not start.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}

/// One refused request: answered as `{"error": message, "code": code, "status": n}`
/// with the HTTP status `status`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ApiError {
    /// The HTTP status code.
    pub status: u16,
    /// A stable machine-readable class (`unknown_user`, `bad_request`, …).
    pub code: &'static str,
    /// What was wrong, naming the field, parameter or id.
    #[serde(rename = "error")]
    pub message: String,
}

impl ApiError {
    /// 400: a malformed request (syntax, types, unknown fields, out-of-range values).
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "bad_request", message)
    }

    /// 404: a dataset, user, item or route that does not exist.
    pub fn not_found(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(404, code, message)
    }

    /// 413: a body over the cap.
    pub fn too_large(limit: usize) -> Self {
        Self::new(
            413,
            "body_too_large",
            format!("the request body is larger than the limit of {limit} bytes"),
        )
    }

    /// 422: well-formed, but nothing sensible can be computed from it.
    pub fn unprocessable(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(422, code, message)
    }

    /// Any status with a code and message.
    pub fn new(status: u16, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status, self.code, self.message)
    }
}

impl std::error::Error for ApiError {}
