//! Bringing one node up to date: resolve its input ids, try the cache, read its inputs
//! (repairing corrupt ones by rerunning their producer), run the body, store the
//! outputs and the run record.

use super::context::EngineContext;
use super::dag::{Dag, InputSource, Node};
use super::key::stage_key;
use super::{now_ms, NodeReport, NodeStatus, ReportFn, RunOptions, TOOL_VERSION};
use alsflow_core::stage::WARNING_PREFIX;
use alsflow_core::{ArtifactId, InputArtifact, StageError, StageInputs, StageOutputs};
use alsflow_store::{RunRecord, StageKey, Store, StoreError};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Why a node did not run to completion (becomes [`NodeStatus::Failed`]).
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    /// A raw input file could not be imported.
    #[error("input '{name}': {error}")]
    Source {
        /// The input's name.
        name: String,
        /// What the store said.
        error: Box<StoreError>,
    },
    /// A produced input could not be read (after repair attempts).
    #[error("input '{name}': {error}")]
    Input {
        /// The input's name.
        name: String,
        /// What the store said.
        error: Box<StoreError>,
    },
    /// An input object exists without an artifact record (the store lost a record).
    #[error("input '{name}' = object {} has no artifact record", id.short())]
    Unrecorded {
        /// The input's name.
        name: String,
        /// Its id.
        id: ArtifactId,
    },
    /// A corrupt input stayed corrupt after rebuilding it.
    #[error("input '{name}' is still unreadable after rebuilding it: {error}")]
    RepairFailed {
        /// The input's name.
        name: String,
        /// The last read error.
        error: Box<StoreError>,
    },
    /// The store failed while checking the cache or recording the run.
    #[error(transparent)]
    Store(Box<StoreError>),
    /// The stage body returned an error.
    #[error(transparent)]
    Stage(#[from] StageError),
    /// The stage body panicked.
    #[error("stage panicked: {0}")]
    Panicked(String),
    /// The outputs do not match the stage's declaration.
    #[error("{0}")]
    Outputs(String),
}

impl From<StoreError> for ExecError {
    fn from(e: StoreError) -> Self {
        ExecError::Store(Box::new(e))
    }
}

/// The text of a panic payload.
pub(super) fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<String>()
        .cloned()
        .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "panic".into())
}

/// The per-branch worker (shared by the branch tasks).
pub(super) struct BranchRunner {
    pub(super) store: Arc<Store>,
    pub(super) dag: Arc<Dag>,
    pub(super) progress: Option<indicatif::MultiProgress>,
}

/// Per-branch state: outputs of finished nodes and failures.
#[derive(Default)]
struct BranchState {
    outputs: BTreeMap<usize, BTreeMap<String, ArtifactId>>,
    failed: BTreeMap<usize, String>,
    /// Reports of producers rerun because an input of a later node was corrupt.
    repaired: Vec<NodeReport>,
    /// Repair attempts per node.
    repairs: BTreeMap<usize, u32>,
}

/// What reading a node's inputs came to.
enum Read {
    /// Every input, verified.
    Inputs(StageInputs),
    /// An input was rebuilt (its id may have changed): start the node over.
    Rebuilt,
    /// The node cannot run.
    Failed(NodeStatus),
}

impl BranchRunner {
    /// Run the selected nodes of dataset `ds` in DAG order, pushing each report into
    /// `done` (and to `on_report`) as soon as it is known, so a panic part-way through
    /// loses no report.
    pub(super) fn run_branch(
        &self,
        ds: &str,
        selected: &BTreeSet<usize>,
        opts: &RunOptions,
        on_report: &ReportFn,
        done: &Mutex<Vec<(usize, NodeReport)>>,
    ) {
        let mut st = BranchState::default();
        for i in 0..self.dag.nodes.len() {
            let n = &self.dag.nodes[i];
            if n.dataset != ds || !selected.contains(&i) {
                continue;
            }
            let report = self.execute(i, opts.force.contains(&i), &mut st);
            // Producers rerun to repair a corrupt input are reported first.
            for r in std::mem::take(&mut st.repaired) {
                on_report(&r);
                let at = self.dag.find(&r.dataset, &r.stage).unwrap_or(i);
                push(done, at, r);
            }
            on_report(&report);
            push(done, i, report);
        }
    }

    /// Bring node `i` up to date (running it if needed or `force`).
    fn execute(&self, i: usize, force: bool, st: &mut BranchState) -> NodeReport {
        let n = &self.dag.nodes[i];
        let t0 = Instant::now();
        let mut report = NodeReport {
            stage: n.stage.clone(),
            dataset: n.dataset.clone(),
            status: NodeStatus::Skipped(String::new()),
            seconds: 0.0,
            outputs: BTreeMap::new(),
            summary: Vec::new(),
            key: None,
        };
        report.status = match self.execute_steps(i, force, st, &mut report) {
            Ok(status) => status,
            Err(e) => {
                tracing::error!("{}/{}: {e}", n.dataset, n.stage);
                NodeStatus::Failed(e.to_string())
            }
        };
        report.seconds = t0.elapsed().as_secs_f64();
        match &report.status {
            NodeStatus::Ran | NodeStatus::Cached => {
                st.outputs.insert(i, report.outputs.clone());
            }
            NodeStatus::Failed(m) | NodeStatus::Skipped(m) => {
                st.failed.insert(i, m.clone());
            }
        }
        report
    }

    fn execute_steps(
        &self,
        i: usize,
        force: bool,
        st: &mut BranchState,
        report: &mut NodeReport,
    ) -> Result<NodeStatus, ExecError> {
        let n = &self.dag.nodes[i];
        let ids = match self.resolve_inputs(n, st)? {
            Ok(ids) => ids,
            Err(skipped) => return Ok(skipped),
        };
        let key = stage_key(&n.stage, &n.fingerprint, &n.params_json, &ids);
        report.key = Some(key);
        if !force {
            if let Some(rec) = self.try_cached(n, &key)? {
                report.outputs = rec.outputs;
                report.summary = rec.summary;
                tracing::info!("{}/{}: cached ({})", n.dataset, n.stage, key.short());
                log_warnings(n, &report.summary);
                return Ok(NodeStatus::Cached);
            }
        }
        let inputs = match self.read_inputs(i, &ids, st)? {
            Read::Inputs(inputs) => inputs,
            Read::Rebuilt => {
                // The rebuilt input may have a new id: recompute ids and the key.
                let again = self.execute(i, force, st);
                *report = again.clone();
                return Ok(again.status);
            }
            Read::Failed(status) => return Ok(status),
        };
        let started_ms = now_ms();
        let t0 = Instant::now();
        let outputs = self.run_body(n, inputs)?;
        let (out, summary) = self.store_outputs(n, key, ids, outputs, started_ms)?;
        report.outputs = out;
        report.summary = summary;
        let lines: Vec<&str> = report
            .summary
            .iter()
            .filter(|l| !l.starts_with(WARNING_PREFIX))
            .map(String::as_str)
            .collect();
        tracing::info!(
            "{}/{}: ran in {:.2} s{}{}",
            n.dataset,
            n.stage,
            t0.elapsed().as_secs_f64(),
            if lines.is_empty() { "" } else { ": " },
            lines.join("; ")
        );
        log_warnings(n, &report.summary);
        Ok(NodeStatus::Ran)
    }

    /// Step 1: the id of every input (raw files imported, produced ones from the nodes
    /// that ran before). `Ok(Err(status))` when an upstream node did not complete.
    #[allow(clippy::type_complexity)]
    fn resolve_inputs(
        &self,
        n: &Node,
        st: &BranchState,
    ) -> Result<Result<BTreeMap<String, ArtifactId>, NodeStatus>, ExecError> {
        let mut ids = BTreeMap::new();
        for (name, src) in &n.inputs {
            match src {
                InputSource::Raw {
                    path,
                    origin,
                    sha256,
                } => {
                    let id = self
                        .store
                        .put_source_file(path, Some(origin), sha256.as_deref())
                        .map_err(|e| ExecError::Source {
                            name: name.clone(),
                            error: Box::new(e),
                        })?;
                    ids.insert(name.clone(), id);
                }
                InputSource::Produced { node, output } => {
                    let p = &self.dag.nodes[*node];
                    if st.failed.contains_key(node) {
                        return Ok(Err(NodeStatus::Skipped(format!(
                            "{}/{} did not complete",
                            p.dataset, p.stage
                        ))));
                    }
                    match st.outputs.get(node).and_then(|o| o.get(output)) {
                        Some(id) => {
                            ids.insert(name.clone(), *id);
                        }
                        None => {
                            return Ok(Err(NodeStatus::Skipped(format!(
                                "{}/{} was not run before it",
                                p.dataset, p.stage
                            ))))
                        }
                    }
                }
            }
        }
        Ok(Ok(ids))
    }

    /// Step 2: the run record of `key`, if it exists with every output present (and the
    /// latest pointer then moves to it).
    fn try_cached(&self, n: &Node, key: &StageKey) -> Result<Option<RunRecord>, ExecError> {
        match self.store.run(key)? {
            Some(rec) if self.outputs_present(&rec) => {
                self.store.set_latest(&n.dataset, &n.stage, key)?;
                Ok(Some(rec))
            }
            _ => Ok(None),
        }
    }

    /// Step 3: read every input, verified. A corrupt or missing produced input reruns
    /// its producer (at most twice per node); a corrupt stored copy of a raw file is
    /// re-imported from the file.
    fn read_inputs(
        &self,
        i: usize,
        ids: &BTreeMap<String, ArtifactId>,
        st: &mut BranchState,
    ) -> Result<Read, ExecError> {
        let n = &self.dag.nodes[i];
        let mut inputs = StageInputs::new();
        for (name, src) in &n.inputs {
            let id = ids[name];
            let e = match self.store.read_shared(&id) {
                Ok(bytes) => {
                    let (label, format) = match src {
                        InputSource::Raw { path, .. } => {
                            (path.display().to_string(), alsflow_core::Format::Raw)
                        }
                        InputSource::Produced { node, output } => {
                            let rec =
                                self.store
                                    .artifact(&id)?
                                    .ok_or_else(|| ExecError::Unrecorded {
                                        name: name.clone(),
                                        id,
                                    })?;
                            (
                                format!("{}.{output}", self.dag.nodes[*node].stage),
                                rec.format,
                            )
                        }
                    };
                    inputs.insert(
                        name.clone(),
                        InputArtifact {
                            id,
                            label,
                            format,
                            bytes,
                        },
                    );
                    continue;
                }
                Err(e) => e,
            };
            if !matches!(e, StoreError::Corrupt { .. } | StoreError::Missing { .. }) {
                return Err(ExecError::Input {
                    name: name.clone(),
                    error: Box::new(e),
                });
            }
            // A repair that does not hold (the disk keeps damaging the object) must not
            // loop: give up after a couple of attempts per node.
            let attempts = st.repairs.entry(i).or_insert(0);
            *attempts += 1;
            if *attempts > 2 {
                return Err(ExecError::RepairFailed {
                    name: name.clone(),
                    error: Box::new(e),
                });
            }
            match src {
                InputSource::Produced { node, .. } => {
                    let p = &self.dag.nodes[*node];
                    tracing::error!(
                        "{}/{}: input '{name}' = object {} (output of {}/{}) is corrupt or missing; rerunning {}",
                        n.dataset, n.stage, id.short(), p.dataset, p.stage, p.stage
                    );
                    let rep = self.execute(*node, true, st);
                    let ok = matches!(rep.status, NodeStatus::Ran);
                    st.repaired.push(rep);
                    if !ok {
                        return Ok(Read::Failed(NodeStatus::Skipped(format!(
                            "rebuilding {}/{} failed",
                            p.dataset, p.stage
                        ))));
                    }
                }
                InputSource::Raw {
                    path,
                    origin,
                    sha256,
                } => {
                    tracing::error!(
                        "{}/{}: stored copy {} of source {} is corrupt; re-reading the file",
                        n.dataset,
                        n.stage,
                        id.short(),
                        path.display()
                    );
                    self.store
                        .put_source_file(path, Some(origin), sha256.as_deref())
                        .map_err(|e| ExecError::Source {
                            name: name.clone(),
                            error: Box::new(e),
                        })?;
                }
            }
            return Ok(Read::Rebuilt);
        }
        Ok(Read::Inputs(inputs))
    }

    /// Step 4: run the body on this (blocking) thread; a panic is an error.
    fn run_body(&self, n: &Node, inputs: StageInputs) -> Result<StageOutputs, ExecError> {
        let ctx = EngineContext {
            store: self.store.clone(),
            dataset: n.dataset.clone(),
            scope: super::memo_scope(&n.stage, &n.fingerprint, &n.dataset),
            progress: self.progress.clone(),
            stage: n.stage.clone(),
        };
        let run = n.run.clone();
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run(&inputs, &ctx)));
        drop(inputs);
        match result {
            Ok(r) => Ok(r?),
            Err(p) => Err(ExecError::Panicked(panic_message(p.as_ref()))),
        }
    }

    fn outputs_present(&self, rec: &RunRecord) -> bool {
        rec.outputs.values().all(|id| self.store.object_present(id))
    }

    /// Step 5: check the outputs against the declaration, put them, record the run.
    fn store_outputs(
        &self,
        n: &Node,
        key: StageKey,
        inputs: BTreeMap<String, ArtifactId>,
        outputs: StageOutputs,
        started_ms: u64,
    ) -> Result<(BTreeMap<String, ArtifactId>, Vec<String>), ExecError> {
        let mut out = BTreeMap::new();
        for a in &outputs.artifacts {
            if out.contains_key(&a.name) {
                return Err(ExecError::Outputs(format!(
                    "stage produced output '{}' twice",
                    a.name
                )));
            }
            if !n.outputs.contains(&a.name) {
                return Err(ExecError::Outputs(format!(
                    "stage produced output '{}', which it does not declare",
                    a.name
                )));
            }
            let kind = format!("{}.{}", n.stage, a.name);
            let id = self.store.put(&a.bytes, a.format, &kind)?;
            out.insert(a.name.clone(), id);
        }
        for name in &n.outputs {
            if !out.contains_key(name) {
                return Err(ExecError::Outputs(format!(
                    "stage did not produce its output '{name}'"
                )));
            }
        }
        let rec = RunRecord {
            key,
            stage: n.stage.clone(),
            dataset: n.dataset.clone(),
            params_json: n.params_json.clone(),
            inputs,
            outputs: out.clone(),
            code_fingerprint: n.fingerprint.clone(),
            started_ms,
            ended_ms: now_ms(),
            tool_version: TOOL_VERSION.to_string(),
            summary: outputs.summary.clone(),
        };
        self.store.record_run(&rec)?;
        self.store.set_latest(&n.dataset, &n.stage, &key)?;
        Ok((out, outputs.summary))
    }
}

fn push(done: &Mutex<Vec<(usize, NodeReport)>>, at: usize, r: NodeReport) {
    done.lock().unwrap_or_else(|e| e.into_inner()).push((at, r));
}

/// Log a run's warning lines (see `StageOutputs::warn`) at WARN level, on every run,
/// cached or not, so the caveat is not lost once the stage is cached.
fn log_warnings(n: &Node, summary: &[String]) {
    for line in summary {
        if let Some(w) = line.strip_prefix(WARNING_PREFIX) {
            tracing::warn!("{}/{}: {w}", n.dataset, n.stage);
        }
    }
}
