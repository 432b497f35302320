//! The DAG: type-erased stage nodes, their inputs, and the checks that keep it
//! well-formed (producers before consumers, one dataset per branch, declared outputs).

use alsflow_core::{StageContext, StageError, StageInputs, StageOutputs};
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;

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
        /// Where it was downloaded from (URL, archive hash, member), for lineage.
        origin: alsflow_store::SourceOrigin,
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
