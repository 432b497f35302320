//! The generic engine: a DAG of type-erased stage nodes, cached by stage key.
//!
//! It knows nothing of the real stages: a [`Node`] is a name, a dataset, a code
//! fingerprint, canonical params JSON, named inputs and a run closure. That keeps
//! the caching rules (keys, early cutoff, corruption, failure) testable with toy
//! stages, and [`crate::build`] maps `pipeline.toml` onto the real stages.
//!
//! - [`dag`]: nodes, inputs, validation; [`key`]: stage keys;
//! - `execute`: one node brought up to date in steps (resolve input ids → try the
//!   cache → read inputs, repairing corrupt ones → run the body → store outputs);
//! - `context`: the [`alsflow_core::StageContext`] a running stage sees.
//!
//! Concurrency: every dataset's branch runs in its own blocking task of a tokio
//! multi-thread runtime, so branches progress concurrently while each stage body
//! runs on a blocking thread (stages parallelise inside with rayon). A panic anywhere
//! in a branch fails that branch's remaining nodes; it never vanishes from the run.

mod context;
pub mod dag;
mod execute;
pub mod key;
mod record;

pub use dag::{Dag, DagError, InputSource, Node, RunFn};
pub use execute::ExecError;
pub use key::stage_key;
pub use record::{memo_scope, RecordedRun};

use alsflow_core::ArtifactId;
use alsflow_store::{StageKey, Store};
use execute::BranchRunner;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

/// What happened to one node in a run.
#[derive(Clone, Debug, PartialEq)]
pub enum NodeStatus {
    /// The body executed and its outputs were stored.
    Ran,
    /// A run record with present outputs existed; nothing executed.
    Cached,
    /// The body (or storing its outputs) failed; nothing was recorded.
    Failed(String),
    /// Not run because something it needs failed.
    Skipped(String),
}

impl NodeStatus {
    /// `ran`, `cached`, `failed` or `skipped`.
    pub fn as_str(&self) -> &'static str {
        match self {
            NodeStatus::Ran => "ran",
            NodeStatus::Cached => "cached",
            NodeStatus::Failed(_) => "failed",
            NodeStatus::Skipped(_) => "skipped",
        }
    }
}

/// The report of one node, emitted as soon as it finishes.
#[derive(Clone, Debug)]
pub struct NodeReport {
    /// Stage name.
    pub stage: String,
    /// Dataset name.
    pub dataset: String,
    /// What happened.
    pub status: NodeStatus,
    /// Wall time spent on the node (including cache checks).
    pub seconds: f64,
    /// Output name → id (empty unless ran/cached).
    pub outputs: BTreeMap<String, ArtifactId>,
    /// The stage's summary lines (of the run that produced the outputs).
    pub summary: Vec<String>,
    /// The node's stage key, when known.
    pub key: Option<StageKey>,
}

/// Options of one engine run.
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    /// Nodes to bring up to date (with what they need); `None` = every node.
    pub targets: Option<BTreeSet<usize>>,
    /// Nodes to rerun even if cached (not their upstream).
    pub force: BTreeSet<usize>,
    /// Show progress bars (a terminal and not `--json`).
    pub progress: bool,
    /// A human label for the pipeline runs this run records (`alsflow run --name`);
    /// never part of a cache key.
    pub name: Option<String>,
}

/// Called with each node's report as soon as it is known.
pub type ReportFn = Arc<dyn Fn(&NodeReport) + Send + Sync>;

/// Why `status` cannot compute a node's key.
#[derive(Debug, thiserror::Error)]
pub enum ExpectError {
    /// A raw input file cannot be read.
    #[error("source file {} cannot be read: {cause}", path.display())]
    Source {
        /// The file.
        path: PathBuf,
        /// The OS error (formatted into the message, so not a `source()`).
        cause: std::io::Error,
    },
}

/// What `status` learns about a node before comparing it with the store: its key and
/// input ids when every input is known, `None` when an upstream node is not fresh, or
/// why its inputs cannot be read.
pub type ExpectedKey = Result<Option<(StageKey, BTreeMap<String, ArtifactId>)>, ExpectError>;

/// Runs a [`Dag`] against a [`Store`].
pub struct Engine {
    store: Arc<Store>,
    dag: Arc<Dag>,
    progress: Option<indicatif::MultiProgress>,
    /// The pipeline runs recorded by the last [`Engine::run`], one per dataset.
    recorded: Arc<Mutex<Vec<RecordedRun>>>,
}

/// Milliseconds since the Unix epoch.
fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// The progress bars of this process (created by the first run that shows them), so
/// a log writer can suspend them while it prints a line.
pub static PROGRESS: std::sync::OnceLock<indicatif::MultiProgress> = std::sync::OnceLock::new();

/// The tool version recorded in run records.
pub const TOOL_VERSION: &str = env!("CARGO_PKG_VERSION");

impl Engine {
    /// An engine over `dag` (validated) and `store`.
    pub fn new(store: Arc<Store>, dag: Dag) -> Result<Self, DagError> {
        dag.validate()?;
        Ok(Engine {
            store,
            dag: Arc::new(dag),
            progress: None,
            recorded: Arc::default(),
        })
    }

    /// The pipeline runs the last [`Engine::run`] recorded (or failed to record), one
    /// per dataset that had selected stages, in the order the branches finished.
    pub fn take_recorded(&self) -> Vec<RecordedRun> {
        std::mem::take(&mut *self.recorded.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// The DAG.
    pub fn dag(&self) -> &Dag {
        &self.dag
    }

    /// Run the DAG; returns every selected node's report, in DAG order. A branch that
    /// panics outside a stage body reports its unfinished nodes as failed. Each
    /// branch, once finished, records its pipeline run ([`Engine::take_recorded`]).
    pub fn run(&mut self, opts: &RunOptions, on_report: ReportFn) -> Vec<NodeReport> {
        let started_ms = now_ms();
        self.take_recorded();
        let selected = match &opts.targets {
            Some(t) => self.dag.upstream_closure(t),
            None => (0..self.dag.nodes.len()).collect(),
        };
        if opts.progress {
            self.progress = Some(PROGRESS.get_or_init(indicatif::MultiProgress::new).clone());
        }
        let runner = Arc::new(BranchRunner {
            store: self.store.clone(),
            dag: self.dag.clone(),
            progress: self.progress.clone(),
        });
        let done: Arc<Mutex<Vec<(usize, NodeReport)>>> = Arc::default();
        let branch = {
            let (runner, done, selected, opts, on_report, recorded) = (
                runner.clone(),
                done.clone(),
                selected.clone(),
                opts.clone(),
                on_report.clone(),
                self.recorded.clone(),
            );
            move |ds: String| {
                let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    runner.run_branch(&ds, &selected, &opts, &on_report, &done)
                }));
                if let Err(p) = result {
                    let msg = execute::panic_message(p.as_ref());
                    tracing::error!("{ds}: the pipeline branch panicked: {msg}");
                    fail_unfinished(&runner.dag, &ds, &selected, &done, &on_report, &msg);
                }
                let run = {
                    let done = done.lock().unwrap_or_else(|e| e.into_inner());
                    let mine: Vec<(usize, NodeReport)> = done
                        .iter()
                        .filter(|(_, r)| r.dataset == ds)
                        .cloned()
                        .collect();
                    record::pipeline_run(
                        &runner.dag,
                        &ds,
                        &selected,
                        &mine,
                        started_ms,
                        opts.name.as_deref(),
                    )
                };
                if let Some(run) = run {
                    let outcome = record::record(&runner.store, run);
                    recorded
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push(outcome);
                }
            }
        };
        match tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
        {
            Ok(rt) => rt.block_on(async {
                let handles: Vec<_> = self
                    .dag
                    .datasets()
                    .into_iter()
                    .map(|ds| {
                        let branch = branch.clone();
                        tokio::task::spawn_blocking(move || branch(ds))
                    })
                    .collect();
                for h in handles {
                    // Panics are caught inside; a join error is a cancelled task.
                    if let Err(e) = h.await {
                        tracing::error!("a pipeline branch did not finish: {e}");
                    }
                }
            }),
            Err(e) => {
                // Without a runtime, run the branches one after the other.
                tracing::warn!("cannot start the tokio runtime ({e}); running sequentially");
                for ds in self.dag.datasets() {
                    branch(ds);
                }
            }
        }
        // Every selected node that never got a report (a cancelled branch) is failed too.
        for ds in self.dag.datasets() {
            fail_unfinished(
                &self.dag,
                &ds,
                &selected,
                &done,
                &on_report,
                "the branch did not finish",
            );
        }
        // The branches recorded their pipeline runs; one publication shows them all.
        if let Err(e) = self.store.publish() {
            tracing::error!("cannot publish the recorded pipeline runs: {e}");
            let mut recorded = self.recorded.lock().unwrap_or_else(|e| e.into_inner());
            for r in recorded.iter_mut() {
                if r.result.is_ok() {
                    r.result = Err(alsflow_store::StoreError::Database {
                        action: "publish the recorded pipeline runs".into(),
                        path: self.store.root().to_path_buf(),
                        message: e.to_string(),
                    });
                }
            }
        }
        let done = std::mem::take(&mut *done.lock().unwrap_or_else(|e| e.into_inner()));
        // One report per node: a producer rerun to repair an input replaces its first.
        let mut by_node: BTreeMap<usize, NodeReport> = BTreeMap::new();
        for (i, r) in done {
            by_node.insert(i, r);
        }
        by_node.into_values().collect()
    }

    /// The key each node would have now, given the store's current state, for `status`.
    ///
    /// For each node: `Ok(Some(key, inputs))` when all inputs are known (raw files hashed,
    /// upstream fresh), `Ok(None)` when an upstream node is not fresh.
    pub fn expected_keys(&self) -> Vec<ExpectedKey> {
        let mut out: Vec<ExpectedKey> = Vec::new();
        let mut outputs: Vec<Option<BTreeMap<String, ArtifactId>>> =
            vec![None; self.dag.nodes.len()];
        for (i, n) in self.dag.nodes.iter().enumerate() {
            let mut ids = BTreeMap::new();
            let mut unknown = false;
            let mut error = None;
            for (name, src) in &n.inputs {
                match src {
                    InputSource::Raw { path, .. } => match self.source_id_if_known(path) {
                        Ok(id) => {
                            ids.insert(name.clone(), id);
                        }
                        Err(e) => error = Some(e),
                    },
                    InputSource::Produced { node, output } => {
                        match outputs[*node].as_ref().and_then(|o| o.get(output)) {
                            Some(id) => {
                                ids.insert(name.clone(), *id);
                            }
                            None => unknown = true,
                        }
                    }
                }
            }
            if let Some(e) = error {
                out.push(Err(e));
                continue;
            }
            if unknown {
                out.push(Ok(None));
                continue;
            }
            let key = stage_key(&n.stage, &n.fingerprint, &n.params_json, &ids);
            if let Ok(Some(rec)) = self.store.run(&key) {
                if rec.outputs.values().all(|id| self.store.object_present(id)) {
                    outputs[i] = Some(rec.outputs.clone());
                }
            }
            out.push(Ok(Some((key, ids))));
        }
        out
    }

    /// The id a raw file would get, without importing it (for `status`).
    fn source_id_if_known(&self, path: &std::path::Path) -> Result<ArtifactId, ExpectError> {
        // Unchanged since it was imported: no need to read it.
        if let Ok(Some(id)) = self.store.known_source_id(path) {
            return Ok(id);
        }
        let hashed = alsflow_core::files::hash_file(path).and_then(|h| {
            h.ok_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"))
        });
        match hashed {
            Ok((id, _)) => Ok(id),
            Err(cause) => Err(ExpectError::Source {
                path: path.to_path_buf(),
                cause,
            }),
        }
    }
}

/// Report every selected node of `ds` that has no report yet as failed with `why`.
fn fail_unfinished(
    dag: &Dag,
    ds: &str,
    selected: &BTreeSet<usize>,
    done: &Mutex<Vec<(usize, NodeReport)>>,
    on_report: &ReportFn,
    why: &str,
) {
    let mut done = done.lock().unwrap_or_else(|e| e.into_inner());
    let reported: BTreeSet<usize> = done.iter().map(|(i, _)| *i).collect();
    for (i, n) in dag.nodes.iter().enumerate() {
        if n.dataset != ds || !selected.contains(&i) || reported.contains(&i) {
            continue;
        }
        let r = NodeReport {
            stage: n.stage.clone(),
            dataset: n.dataset.clone(),
            status: NodeStatus::Failed(format!("internal error: {why}")),
            seconds: 0.0,
            outputs: BTreeMap::new(),
            summary: Vec::new(),
            key: None,
        };
        // The sink may be what panicked: it must not take the caller down this time.
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| on_report(&r)));
        done.push((i, r));
    }
}
