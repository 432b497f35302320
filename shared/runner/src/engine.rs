//! The generic engine: a DAG of type-erased stage nodes, cached by stage key.
//!
//! It knows nothing of the real stages: a [`Node`] is a name, a dataset, a code
//! fingerprint, canonical params JSON, named inputs and a run closure. That keeps
//! the caching rules (keys, early cutoff, corruption, failure) testable with toy
//! stages, and [`crate::build`] maps `pipeline.toml` onto the real stages.
//!
//! Concurrency: every dataset's branch runs in its own blocking task of a tokio
//! multi-thread runtime, so branches progress concurrently while each stage body
//! runs on a blocking thread (stages parallelise inside with rayon).

use alsflow_core::{
    ArtifactId, Format, InputArtifact, Progress, StageContext, StageError, StageInputs,
    StageOutputs,
};
use alsflow_store::{RunRecord, StageKey, Store, StoreError};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// A stage body: inputs + context → outputs.
pub type RunFn =
    Arc<dyn Fn(&StageInputs, &dyn StageContext) -> Result<StageOutputs, StageError> + Send + Sync>;

/// Where one input of a node comes from.
#[derive(Clone, Debug)]
pub enum InputSource {
    /// A raw file on disk (hashed into the store; lineage starts here).
    Raw {
        /// The file.
        path: PathBuf,
        /// Its download URL, recorded for lineage.
        url: Option<String>,
        /// Its expected sha256, checked by the store.
        sha256: Option<String>,
    },
    /// Output `output` of node number `node` (which must come earlier in the DAG).
    Produced {
        /// Index of the producing node.
        node: usize,
        /// Name of the output.
        output: String,
    },
}

/// One stage of one dataset.
#[derive(Clone)]
pub struct Node {
    /// Stage name (`train`).
    pub stage: String,
    /// Dataset (branch) name.
    pub dataset: String,
    /// Code fingerprint of the stage (hex).
    pub fingerprint: String,
    /// Canonical params JSON (sorted keys): part of the key, shown by `status`.
    pub params_json: String,
    /// Named inputs.
    pub inputs: Vec<(String, InputSource)>,
    /// Output names the run must produce, with their formats unknown until run.
    pub outputs: Vec<String>,
    /// The body.
    pub run: RunFn,
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Node({}/{})", self.dataset, self.stage)
    }
}

/// A DAG of nodes, stored in an order where producers come before consumers.
#[derive(Clone, Debug, Default)]
pub struct Dag {
    /// The nodes.
    pub nodes: Vec<Node>,
}

/// The DAG is malformed (a wiring bug or a bad config).
#[derive(Debug, thiserror::Error)]
pub enum DagError {
    /// A node depends on itself or on a later node.
    #[error("cycle in the pipeline: {0}")]
    Cycle(String),
    /// A node reads an output its producer does not declare, or across datasets.
    #[error("bad wiring: {0}")]
    Wiring(String),
    /// No node matches a requested stage or dataset.
    #[error("{0}")]
    Unknown(String),
}

impl Dag {
    /// Check that every input refers to an earlier node of the same dataset, by a declared output.
    pub fn validate(&self) -> Result<(), DagError> {
        let mut seen = BTreeSet::new();
        for (i, n) in self.nodes.iter().enumerate() {
            if !seen.insert((n.dataset.clone(), n.stage.clone())) {
                return Err(DagError::Wiring(format!(
                    "stage {}/{} declared twice",
                    n.dataset, n.stage
                )));
            }
            for (name, src) in &n.inputs {
                if let InputSource::Produced { node, output } = src {
                    let Some(p) = self.nodes.get(*node) else {
                        return Err(DagError::Wiring(format!(
                            "{}/{} input '{name}' refers to node #{node}, which does not exist",
                            n.dataset, n.stage
                        )));
                    };
                    if *node >= i {
                        return Err(DagError::Cycle(format!(
                            "{}/{} needs {}.{}, which needs it back",
                            n.dataset, n.stage, p.stage, output
                        )));
                    }
                    if p.dataset != n.dataset {
                        return Err(DagError::Wiring(format!(
                            "{}/{} reads from another dataset ({})",
                            n.dataset, n.stage, p.dataset
                        )));
                    }
                    if !p.outputs.iter().any(|o| o == output) {
                        return Err(DagError::Wiring(format!(
                            "{}/{} input '{name}' wants {}.{output}, which {} does not produce",
                            n.dataset, n.stage, p.stage, p.stage
                        )));
                    }
                }
            }
        }
        Ok(())
    }

    /// Index of `stage` of `dataset`.
    pub fn find(&self, dataset: &str, stage: &str) -> Option<usize> {
        self.nodes
            .iter()
            .position(|n| n.dataset == dataset && n.stage == stage)
    }

    /// Indices of the nodes that `targets` need (themselves included), in DAG order.
    pub fn upstream_closure(&self, targets: &BTreeSet<usize>) -> BTreeSet<usize> {
        let mut keep = targets.clone();
        for i in (0..self.nodes.len()).rev() {
            if keep.contains(&i) {
                for (_, src) in &self.nodes[i].inputs {
                    if let InputSource::Produced { node, .. } = src {
                        keep.insert(*node);
                    }
                }
            }
        }
        keep
    }

    /// Datasets in declaration order.
    pub fn datasets(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for n in &self.nodes {
            if !out.contains(&n.dataset) {
                out.push(n.dataset.clone());
            }
        }
        out
    }
}

/// The cache key of a node: blake3 over its stage name, fingerprint, params and input ids.
pub fn stage_key(
    stage: &str,
    fingerprint: &str,
    params_json: &str,
    inputs: &BTreeMap<String, ArtifactId>,
) -> StageKey {
    let mut pre = Vec::with_capacity(256);
    // Length-prefixed fields so that no two different tuples share a preimage.
    let mut field = |b: &[u8]| {
        pre.extend_from_slice(&(b.len() as u64).to_le_bytes());
        pre.extend_from_slice(b);
    };
    field(b"alsflow-stage-key-v1");
    field(stage.as_bytes());
    field(fingerprint.as_bytes());
    field(params_json.as_bytes());
    for (name, id) in inputs {
        field(name.as_bytes());
        field(&id.0);
    }
    StageKey::of(&pre)
}

/// Canonical JSON of a serialisable value: sorted keys, floats printed as written.
pub fn canonical_json<T: serde::Serialize>(value: &T) -> Result<String, serde_json::Error> {
    // Through text first, so an f32 0.1 stays "0.1" rather than its f64 widening.
    let text = serde_json::to_string(value)?;
    let v: serde_json::Value = serde_json::from_str(&text)?;
    let mut out = String::new();
    write_canonical(&v, &mut out);
    Ok(out)
}

fn write_canonical(v: &serde_json::Value, out: &mut String) {
    use serde_json::Value;
    match v {
        Value::Object(m) => {
            out.push('{');
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            for (i, k) in keys.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String((*k).clone()).to_string());
                out.push(':');
                write_canonical(&m[*k], out);
            }
            out.push('}');
        }
        Value::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(x, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

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
}

/// Called with each node's report as soon as it is known.
pub type ReportFn = Arc<dyn Fn(&NodeReport) + Send + Sync>;

/// What `status` learns about a node before comparing it with the store: its key and
/// input ids when every input is known, `None` when an upstream node is not fresh, or
/// why its inputs cannot be read.
pub type ExpectedKey = Result<Option<(StageKey, BTreeMap<String, ArtifactId>)>, String>;

/// Runs a [`Dag`] against a [`Store`].
pub struct Engine {
    store: Arc<Store>,
    dag: Arc<Dag>,
    progress: Option<indicatif::MultiProgress>,
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
        })
    }

    /// The DAG.
    pub fn dag(&self) -> &Dag {
        &self.dag
    }

    /// Run the DAG; returns every selected node's report, in DAG order.
    pub fn run(&mut self, opts: &RunOptions, on_report: ReportFn) -> Vec<NodeReport> {
        let selected = match &opts.targets {
            Some(t) => self.dag.upstream_closure(t),
            None => (0..self.dag.nodes.len()).collect(),
        };
        if opts.progress {
            self.progress = Some(PROGRESS.get_or_init(indicatif::MultiProgress::new).clone());
        }
        let runtime = match tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
        {
            Ok(rt) => rt,
            Err(e) => {
                // Without a runtime, run the branches one after the other.
                tracing::warn!("cannot start the tokio runtime ({e}); running sequentially");
                let mut all = Vec::new();
                for ds in self.dag.datasets() {
                    all.extend(self.branch(&ds, &selected, opts, &on_report));
                }
                return self.order(all);
            }
        };
        let this = Arc::new(BranchRunner {
            store: self.store.clone(),
            dag: self.dag.clone(),
            progress: self.progress.clone(),
        });
        let reports = runtime.block_on(async {
            let mut handles = Vec::new();
            for ds in self.dag.datasets() {
                let this = this.clone();
                let selected = selected.clone();
                let opts = opts.clone();
                let on_report = on_report.clone();
                handles.push(tokio::task::spawn_blocking(move || {
                    this.run_branch(&ds, &selected, &opts, &on_report)
                }));
            }
            let mut all = Vec::new();
            for h in handles {
                match h.await {
                    Ok(r) => all.extend(r),
                    Err(e) => tracing::error!("a pipeline branch panicked: {e}"),
                }
            }
            all
        });
        self.order(reports)
    }

    fn branch(
        &self,
        ds: &str,
        selected: &BTreeSet<usize>,
        opts: &RunOptions,
        on_report: &ReportFn,
    ) -> Vec<NodeReport> {
        BranchRunner {
            store: self.store.clone(),
            dag: self.dag.clone(),
            progress: self.progress.clone(),
        }
        .run_branch(ds, selected, opts, on_report)
    }

    fn order(&self, mut reports: Vec<NodeReport>) -> Vec<NodeReport> {
        reports.sort_by_key(|r| self.dag.find(&r.dataset, &r.stage).unwrap_or(usize::MAX));
        reports
    }

    /// The key each node would have now, given the store's current state, for `status`.
    ///
    /// For each node: `Ok(Some(key, inputs))` when all inputs are known (raw files hashed,
    /// upstream fresh), `Ok(None)` when an upstream node is not fresh.
    pub fn expected_keys(&self) -> Vec<ExpectedKey> {
        let runner = BranchRunner {
            store: self.store.clone(),
            dag: self.dag.clone(),
            progress: None,
        };
        let mut out: Vec<ExpectedKey> = Vec::new();
        let mut outputs: Vec<Option<BTreeMap<String, ArtifactId>>> =
            vec![None; self.dag.nodes.len()];
        for (i, n) in self.dag.nodes.iter().enumerate() {
            let mut ids = BTreeMap::new();
            let mut unknown = false;
            let mut error = None;
            for (name, src) in &n.inputs {
                match src {
                    InputSource::Raw { path, .. } => match runner.source_id_if_known(path) {
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
                if runner.outputs_present(&rec) {
                    outputs[i] = Some(rec.outputs.clone());
                }
            }
            out.push(Ok(Some((key, ids))));
        }
        out
    }
}

/// The per-branch worker (shared by the branch tasks).
struct BranchRunner {
    store: Arc<Store>,
    dag: Arc<Dag>,
    progress: Option<indicatif::MultiProgress>,
}

/// Per-branch state: outputs of finished nodes and failures.
#[derive(Default)]
struct BranchState {
    outputs: BTreeMap<usize, BTreeMap<String, ArtifactId>>,
    failed: BTreeMap<usize, String>,
    reports: BTreeMap<usize, NodeReport>,
    /// Reports of producers rerun because an input of a later node was corrupt.
    repaired: Vec<NodeReport>,
    /// Repair attempts per node.
    repairs: BTreeMap<usize, u32>,
}

impl BranchRunner {
    fn run_branch(
        &self,
        ds: &str,
        selected: &BTreeSet<usize>,
        opts: &RunOptions,
        on_report: &ReportFn,
    ) -> Vec<NodeReport> {
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
            }
            on_report(&report);
            st.reports.insert(i, report);
        }
        st.reports.into_values().collect()
    }

    /// The id of a raw file, importing it into the store (the store skips re-reading
    /// an unchanged file by its stat stamp, so cached runs stay cheap).
    fn source_id(
        &self,
        path: &std::path::Path,
        url: Option<&str>,
        sha256: Option<&str>,
    ) -> Result<ArtifactId, String> {
        self.store
            .put_source_file(path, url, sha256)
            .map_err(|e| e.to_string())
    }

    /// The id a raw file would get, without importing it (for `status`).
    fn source_id_if_known(&self, path: &std::path::Path) -> Result<ArtifactId, String> {
        // Unchanged since it was imported: no need to read it.
        if let Ok(Some(id)) = self.store.known_source_id(path) {
            return Ok(id);
        }
        let bytes = std::fs::read(path)
            .map_err(|e| format!("source file {} cannot be read: {e}", path.display()))?;
        Ok(ArtifactId::of(&bytes))
    }

    fn outputs_present(&self, rec: &RunRecord) -> bool {
        rec.outputs.values().all(|id| self.store.object_present(id))
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
        let finish = |mut r: NodeReport, st: &mut BranchState| {
            r.seconds = t0.elapsed().as_secs_f64();
            match &r.status {
                NodeStatus::Ran | NodeStatus::Cached => {
                    st.outputs.insert(i, r.outputs.clone());
                }
                NodeStatus::Failed(m) | NodeStatus::Skipped(m) => {
                    st.failed.insert(i, m.clone());
                }
            }
            r
        };
        // Resolve input ids.
        let mut ids = BTreeMap::new();
        for (name, src) in &n.inputs {
            match src {
                InputSource::Raw { path, url, sha256 } => {
                    match self.source_id(path, url.as_deref(), sha256.as_deref()) {
                        Ok(id) => {
                            ids.insert(name.clone(), id);
                        }
                        Err(e) => {
                            report.status = NodeStatus::Failed(format!("input '{name}': {e}"));
                            return finish(report, st);
                        }
                    }
                }
                InputSource::Produced { node, output } => {
                    if let Some(why) = st.failed.get(node) {
                        let p = &self.dag.nodes[*node];
                        let _ = why;
                        report.status = NodeStatus::Skipped(format!(
                            "{}/{} did not complete",
                            p.dataset, p.stage
                        ));
                        return finish(report, st);
                    }
                    match st.outputs.get(node).and_then(|o| o.get(output)) {
                        Some(id) => {
                            ids.insert(name.clone(), *id);
                        }
                        None => {
                            let p = &self.dag.nodes[*node];
                            report.status = NodeStatus::Skipped(format!(
                                "{}/{} was not run before it",
                                p.dataset, p.stage
                            ));
                            return finish(report, st);
                        }
                    }
                }
            }
        }
        let key = stage_key(&n.stage, &n.fingerprint, &n.params_json, &ids);
        report.key = Some(key);
        if !force {
            match self.store.run(&key) {
                Ok(Some(rec)) if self.outputs_present(&rec) => {
                    if let Err(e) = self.store.set_latest(&n.dataset, &n.stage, &key) {
                        report.status = NodeStatus::Failed(e.to_string());
                        return finish(report, st);
                    }
                    report.status = NodeStatus::Cached;
                    report.outputs = rec.outputs.clone();
                    report.summary = rec.summary.clone();
                    tracing::info!("{}/{}: cached ({})", n.dataset, n.stage, key.short());
                    return finish(report, st);
                }
                Ok(_) => {}
                Err(e) => {
                    report.status = NodeStatus::Failed(e.to_string());
                    return finish(report, st);
                }
            }
        }
        // Read inputs, verified; a corrupt produced input reruns its producer once.
        let mut inputs = StageInputs::new();
        let mut retried: BTreeSet<String> = BTreeSet::new();
        let names: Vec<(String, InputSource)> = n.inputs.clone();
        let mut idx = 0;
        while idx < names.len() {
            let (name, src) = &names[idx];
            let id = ids[name];
            match self.store.read(&id) {
                Ok(bytes) => {
                    let (label, format) = match src {
                        InputSource::Raw { path, .. } => (path.display().to_string(), Format::Raw),
                        InputSource::Produced { node, output } => {
                            let p = &self.dag.nodes[*node];
                            let format = self
                                .store
                                .artifact(&id)
                                .ok()
                                .flatten()
                                .map(|a| a.format)
                                .unwrap_or(Format::Raw);
                            (format!("{}.{output}", p.stage), format)
                        }
                    };
                    inputs.insert(
                        name.clone(),
                        InputArtifact {
                            id,
                            label,
                            format,
                            bytes: Arc::from(bytes),
                        },
                    );
                    idx += 1;
                }
                Err(e @ (StoreError::Corrupt { .. } | StoreError::Missing { .. }))
                    if !retried.contains(name) =>
                {
                    retried.insert(name.clone());
                    // A repair that does not hold (the disk keeps damaging the object)
                    // must not loop: give up after a couple of attempts per node.
                    let attempts = st.repairs.entry(i).or_insert(0);
                    *attempts += 1;
                    if *attempts > 2 {
                        report.status = NodeStatus::Failed(format!(
                            "input '{name}' is still unreadable after rebuilding it: {e}"
                        ));
                        return finish(report, st);
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
                            st.reports.insert(*node, rep.clone());
                            st.repaired.push(rep);
                            if !ok {
                                report.status = NodeStatus::Skipped(format!(
                                    "rebuilding {}/{} failed",
                                    p.dataset, p.stage
                                ));
                                return finish(report, st);
                            }
                        }
                        InputSource::Raw { path, url, sha256 } => {
                            tracing::error!(
                                "{}/{}: stored copy {} of source {} is corrupt; re-reading the file",
                                n.dataset, n.stage, id.short(), path.display()
                            );
                            if let Err(e) =
                                self.store
                                    .put_source_file(path, url.as_deref(), sha256.as_deref())
                            {
                                report.status = NodeStatus::Failed(e.to_string());
                                return finish(report, st);
                            }
                        }
                    }
                    // The rebuilt input may have a new id: recompute ids and the key.
                    return self.execute(i, force, st);
                }
                Err(e) => {
                    report.status = NodeStatus::Failed(format!("input '{name}': {e}"));
                    return finish(report, st);
                }
            }
        }
        // Run the body on this (blocking) thread.
        let ctx = EngineContext {
            store: self.store.clone(),
            dataset: n.dataset.clone(),
            scope: format!("{}:{}:{}", n.stage, n.fingerprint, n.dataset),
            progress: self.progress.clone(),
            stage: n.stage.clone(),
        };
        let started_ms = now_ms();
        let run = n.run.clone();
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run(&inputs, &ctx)));
        drop(inputs);
        let outputs = match result {
            Ok(Ok(o)) => o,
            Ok(Err(e)) => {
                tracing::error!("{}/{}: failed: {e}", n.dataset, n.stage);
                report.status = NodeStatus::Failed(e.to_string());
                return finish(report, st);
            }
            Err(p) => {
                let msg = p
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_else(|| "panic".into());
                tracing::error!("{}/{}: stage panicked: {msg}", n.dataset, n.stage);
                report.status = NodeStatus::Failed(format!("stage panicked: {msg}"));
                return finish(report, st);
            }
        };
        match self.store_outputs(n, key, ids, outputs, started_ms) {
            Ok((out, summary)) => {
                report.status = NodeStatus::Ran;
                report.outputs = out;
                report.summary = summary;
                let secs = t0.elapsed().as_secs_f64();
                tracing::info!(
                    "{}/{}: ran in {secs:.2} s{}{}",
                    n.dataset,
                    n.stage,
                    if report.summary.is_empty() { "" } else { ": " },
                    report.summary.join("; ")
                );
            }
            Err(e) => {
                tracing::error!("{}/{}: {e}", n.dataset, n.stage);
                report.status = NodeStatus::Failed(e);
            }
        }
        finish(report, st)
    }

    /// Check the outputs against the declaration, put them, record the run.
    fn store_outputs(
        &self,
        n: &Node,
        key: StageKey,
        inputs: BTreeMap<String, ArtifactId>,
        outputs: StageOutputs,
        started_ms: u64,
    ) -> Result<(BTreeMap<String, ArtifactId>, Vec<String>), String> {
        let mut out = BTreeMap::new();
        for a in &outputs.artifacts {
            if out.contains_key(&a.name) {
                return Err(format!("stage produced output '{}' twice", a.name));
            }
            let kind = format!("{}.{}", n.stage, a.name);
            let id = self
                .store
                .put(&a.bytes, a.format, &kind)
                .map_err(|e| e.to_string())?;
            out.insert(a.name.clone(), id);
        }
        for name in &n.outputs {
            if !out.contains_key(name) {
                return Err(format!("stage did not produce its output '{name}'"));
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
        self.store.record_run(&rec).map_err(|e| e.to_string())?;
        self.store
            .set_latest(&n.dataset, &n.stage, &key)
            .map_err(|e| e.to_string())?;
        Ok((out, outputs.summary))
    }
}

/// The [`StageContext`] the engine gives a running stage.
struct EngineContext {
    store: Arc<Store>,
    dataset: String,
    stage: String,
    scope: String,
    progress: Option<indicatif::MultiProgress>,
}

/// A bar that appears only once its work has taken more than a second, so quick
/// stages do not flicker.
struct Bar {
    bar: indicatif::ProgressBar,
    multi: indicatif::MultiProgress,
    created: Instant,
    shown: std::sync::atomic::AtomicBool,
}

impl Bar {
    fn maybe_show(&self) {
        use std::sync::atomic::Ordering;
        if !self.shown.load(Ordering::Relaxed)
            && self.created.elapsed() > std::time::Duration::from_secs(1)
            && !self.shown.swap(true, Ordering::Relaxed)
        {
            self.multi.add(self.bar.clone());
        }
    }
}

impl Progress for Bar {
    fn inc(&self, n: u64) {
        self.bar.inc(n);
        self.maybe_show();
    }
    fn set_message(&self, msg: String) {
        self.bar.set_message(msg);
        self.maybe_show();
    }
    fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

impl StageContext for EngineContext {
    fn dataset(&self) -> &str {
        &self.dataset
    }
    fn progress(&self, label: &str, total: u64) -> Box<dyn Progress> {
        let Some(mp) = &self.progress else {
            return Box::new(alsflow_core::stage::NoProgress);
        };
        // Hidden until `Bar::maybe_show` adds it to the multi-bar after a second.
        let bar = indicatif::ProgressBar::hidden();
        bar.set_length(total);
        let style = indicatif::ProgressStyle::with_template(
            "{prefix} {bar:30} {pos}/{len} {msg} [{elapsed_precise}, eta {eta}]",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
        bar.set_style(style);
        bar.set_prefix(format!("{}/{} {label}", self.dataset, self.stage));
        Box::new(Bar {
            bar,
            multi: mp.clone(),
            created: Instant::now(),
            shown: std::sync::atomic::AtomicBool::new(false),
        })
    }
    fn memo_get(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.store
            .memo_get(self.scope.as_bytes(), key)
            .ok()
            .flatten()
    }
    fn memo_put(&self, key: &[u8], value: &[u8]) {
        if let Err(e) = self.store.memo_put(self.scope.as_bytes(), key, value) {
            tracing::warn!(
                "{}/{}: cannot record memo entry: {e}",
                self.dataset,
                self.stage
            );
        }
    }
}
