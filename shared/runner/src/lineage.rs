//! Lineage: from an artifact, through the runs that produced it and their inputs,
//! down to the raw source files (path, size, blake3, and where it was downloaded
//! from: URL, the archive's sha256, the member, the file's sha256).

use alsflow_core::ArtifactId;
use alsflow_store::{SourceInfo, Store, StoreError};
use serde::Serialize;

/// One artifact in a lineage tree.
#[derive(Clone, Debug, Serialize)]
pub struct LineageNode {
    /// The artifact id (hex).
    pub id: String,
    /// Its kind (`split.train`, `source`, ...).
    pub kind: String,
    /// Its format.
    pub format: String,
    /// Its size in bytes.
    pub size: u64,
    /// The raw source file, when it is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<SourceInfo>,
    /// The run that produced it, when it is a stage output.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub producer: Option<Producer>,
}

/// The run that produced an artifact.
#[derive(Clone, Debug, Serialize)]
pub struct Producer {
    /// Stage name.
    pub stage: String,
    /// Dataset name.
    pub dataset: String,
    /// Stage key (hex).
    pub key: String,
    /// Code fingerprint of the stage at the time.
    pub code_fingerprint: String,
    /// The params the run used.
    pub params: serde_json::Value,
    /// alsflow version.
    pub tool_version: String,
    /// Its inputs, by name, recursively.
    pub inputs: Vec<(String, LineageNode)>,
}

/// The lineage tree of `id`.
pub fn lineage(store: &Store, id: &ArtifactId) -> Result<LineageNode, StoreError> {
    lineage_depth(store, id, 0)
}

fn lineage_depth(store: &Store, id: &ArtifactId, depth: usize) -> Result<LineageNode, StoreError> {
    let rec = store.artifact(id)?.ok_or(StoreError::NoArtifact {
        prefix: id.to_hex(),
    })?;
    let mut node = LineageNode {
        id: id.to_hex(),
        kind: rec.kind.clone(),
        format: rec.format.to_string(),
        size: rec.size,
        source: rec.source.clone(),
        producer: None,
    };
    // A DAG is shallow; the bound only guards against a damaged database looping.
    if depth > 64 {
        return Ok(node);
    }
    let run = match rec.producer {
        Some(k) => store.run(&k)?,
        None => None,
    };
    if let Some(run) = run {
        let mut inputs = Vec::new();
        for (name, iid) in &run.inputs {
            inputs.push((name.clone(), lineage_depth(store, iid, depth + 1)?));
        }
        node.producer = Some(Producer {
            stage: run.stage.clone(),
            dataset: run.dataset.clone(),
            key: run.key.to_hex(),
            code_fingerprint: run.code_fingerprint.clone(),
            params: serde_json::from_str(&run.params_json).unwrap_or(serde_json::Value::Null),
            tool_version: run.tool_version.clone(),
            inputs,
        });
    }
    Ok(node)
}

/// JSON form: producers' inputs as an object keyed by input name.
pub fn to_json(n: &LineageNode) -> serde_json::Value {
    let mut v = serde_json::json!({
        "id": n.id, "kind": n.kind, "format": n.format, "size": n.size,
    });
    if let Some(s) = &n.source {
        v["source"] = serde_json::json!({
            "path": s.path, "size": s.size, "blake3": s.blake3, "url": s.url, "sha256": s.sha256,
            "archive_sha256": s.archive_sha256, "member": s.member,
        });
    }
    if let Some(p) = &n.producer {
        let mut inputs = serde_json::Map::new();
        for (name, child) in &p.inputs {
            inputs.insert(name.clone(), to_json(child));
        }
        v["producer"] = serde_json::json!({
            "stage": p.stage, "dataset": p.dataset, "key": p.key,
            "code_fingerprint": p.code_fingerprint, "params": p.params,
            "tool_version": p.tool_version, "inputs": inputs,
        });
    }
    v
}

/// An indented text tree.
pub fn to_text(n: &LineageNode) -> String {
    let mut out = String::new();
    text_rec(n, "", "", &mut out, &mut std::collections::BTreeSet::new());
    out
}

fn text_rec(
    n: &LineageNode,
    label: &str,
    indent: &str,
    out: &mut String,
    seen: &mut std::collections::BTreeSet<String>,
) {
    let short = &n.id[..12.min(n.id.len())];
    // Artifacts shared by several consumers are expanded once.
    if n.producer.is_some() && !seen.insert(n.id.clone()) {
        out.push_str(&format!("{indent}{label}{short} {} (see above)\n", n.kind));
        return;
    }
    if let Some(s) = &n.source {
        let mut origin = String::new();
        if let Some(u) = &s.url {
            origin.push_str(&format!(", url {u}"));
        }
        if let Some(a) = &s.archive_sha256 {
            origin.push_str(&format!(", archive sha256 {a}"));
        }
        if let Some(m) = &s.member {
            origin.push_str(&format!(", member {m}"));
        }
        if let Some(h) = &s.sha256 {
            origin.push_str(&format!(", sha256 {h}"));
        }
        out.push_str(&format!(
            "{indent}{label}{short} raw file {} ({} bytes, blake3 {}{origin})\n",
            s.path, s.size, s.blake3,
        ));
    } else {
        out.push_str(&format!(
            "{indent}{label}{short} {} ({}, {} bytes)\n",
            n.kind, n.format, n.size
        ));
    }
    if let Some(p) = &n.producer {
        out.push_str(&format!(
            "{indent}  produced by {}/{} run {} params {}\n",
            p.dataset,
            p.stage,
            &p.key[..12],
            p.params
        ));
        for (name, child) in &p.inputs {
            text_rec(
                child,
                &format!("{name} = "),
                &format!("{indent}    "),
                out,
                seen,
            );
        }
    }
}

/// Graphviz dot: artifacts as boxes, runs as ellipses.
pub fn to_dot(n: &LineageNode) -> String {
    let mut out = String::from("digraph lineage {\n  rankdir=BT;\n");
    let mut seen = std::collections::BTreeSet::new();
    dot_rec(n, &mut out, &mut seen);
    out.push_str("}\n");
    out
}

fn dot_rec(n: &LineageNode, out: &mut String, seen: &mut std::collections::BTreeSet<String>) {
    if !seen.insert(n.id.clone()) {
        return;
    }
    let label = match &n.source {
        Some(s) => format!("{}\\n{}", s.path.replace('"', "'"), &n.id[..12]),
        None => format!("{}\\n{}", n.kind, &n.id[..12]),
    };
    out.push_str(&format!("  \"a{}\" [shape=box,label=\"{label}\"];\n", n.id));
    if let Some(p) = &n.producer {
        let run = format!("r{}", p.key);
        if seen.insert(run.clone()) {
            out.push_str(&format!(
                "  \"{run}\" [label=\"{}/{}\"];\n",
                p.dataset, p.stage
            ));
            for (name, child) in &p.inputs {
                dot_rec(child, out, seen);
                out.push_str(&format!(
                    "  \"a{}\" -> \"{run}\" [label=\"{name}\"];\n",
                    child.id
                ));
            }
        }
        out.push_str(&format!("  \"{run}\" -> \"a{}\";\n", n.id));
    }
}
