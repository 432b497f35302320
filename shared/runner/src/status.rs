//! `alsflow status`: is each stage fresh, stale or missing, and why.
//!
//! A stage is compared with the `latest` run record of its dataset/stage: params
//! (flattened to dotted keys), input ids and code fingerprint. A fresh tune stage also
//! reports the warnings of its `tune.search` output (the best point on the edge of
//! what was searched).

use crate::engine::{Engine, InputSource};
use alsflow_core::catalog::tune;
use alsflow_store::{RunRecord, Store};
use serde::Serialize;
use std::collections::BTreeMap;

/// The state of one stage of one dataset.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct StageStatus {
    /// Stage name.
    pub stage: String,
    /// Dataset name.
    pub dataset: String,
    /// `fresh`, `stale` or `missing`.
    pub state: String,
    /// Why it is not fresh (empty when fresh).
    pub reasons: Vec<String>,
    /// Caveats of a fresh stage's results (tune: the best point on an edge).
    pub warnings: Vec<String>,
}

/// The warnings a run recorded in its outputs: tune's `tune.search` document.
pub fn run_warnings(store: &Store, run: &RunRecord) -> Vec<String> {
    if run.stage != tune::SEARCH.stage {
        return Vec::new();
    }
    let Some(id) = run.outputs.get(tune::SEARCH.output) else {
        return Vec::new();
    };
    match store.read(id) {
        Ok(bytes) => alsflow_formats::search::warnings(&bytes)
            .unwrap_or_else(|e| vec![format!("cannot read {}: {e}", tune::SEARCH)]),
        Err(e) => vec![format!("cannot read {}: {e}", tune::SEARCH)],
    }
}

/// The status of every node of `engine`'s DAG.
pub fn status(engine: &Engine, store: &Store) -> Vec<StageStatus> {
    let dag = engine.dag();
    let expected = engine.expected_keys();
    let mut fresh = vec![false; dag.nodes.len()];
    let mut out = Vec::new();
    for (i, n) in dag.nodes.iter().enumerate() {
        let latest = store
            .latest(&n.dataset, &n.stage)
            .ok()
            .flatten()
            .and_then(|k| store.run(&k).ok().flatten());
        let mut reasons = Vec::new();
        let mut warnings = Vec::new();
        let mut state = "stale";
        match &expected[i] {
            Err(e) => reasons.push(e.to_string()),
            Ok(Some((key, ids))) => {
                let cached = store
                    .run(key)
                    .ok()
                    .flatten()
                    .filter(|r| r.outputs.values().all(|id| store.object_present(id)));
                if let Some(rec) = cached {
                    state = "fresh";
                    fresh[i] = true;
                    warnings = run_warnings(store, &rec);
                } else if let Some(rec) = &latest {
                    if rec.key == *key {
                        for (name, id) in &rec.outputs {
                            if !store.object_present(id) {
                                reasons.push(format!(
                                    "output {}.{name} ({}) missing from the store",
                                    n.stage,
                                    id.short()
                                ));
                            }
                        }
                    }
                    for (name, id) in ids {
                        if rec.inputs.get(name) != Some(id) {
                            reasons.push(format!("input {name} changed"));
                        }
                    }
                    for name in rec.inputs.keys() {
                        if !ids.contains_key(name) {
                            reasons.push(format!("input {name} removed"));
                        }
                    }
                }
            }
            Ok(None) => {
                for (name, src) in &n.inputs {
                    if let InputSource::Produced { node, .. } = src {
                        if !fresh[*node] {
                            let p = &dag.nodes[*node];
                            reasons
                                .push(format!("input {name} changed ({} is not fresh)", p.stage));
                        }
                    }
                }
            }
        }
        if state != "fresh" {
            match &latest {
                None => {
                    state = "missing";
                    reasons = vec!["never run".into()];
                }
                Some(rec) => {
                    let mut extra = param_diff(&n.stage, &rec.params_json, &n.params_json);
                    if rec.code_fingerprint != n.fingerprint {
                        extra.push(format!("code of stage {} changed", n.stage));
                    }
                    extra.append(&mut reasons);
                    reasons = extra;
                    if reasons.is_empty() {
                        reasons.push("no cached run matches the current inputs".into());
                    }
                }
            }
        }
        out.push(StageStatus {
            stage: n.stage.clone(),
            dataset: n.dataset.clone(),
            state: state.to_string(),
            reasons,
            warnings,
        });
    }
    out
}

/// `param train.alpha 40 → 60` for every changed leaf between two params JSONs.
pub fn param_diff(stage: &str, old: &str, new: &str) -> Vec<String> {
    let parse =
        |s: &str| serde_json::from_str::<serde_json::Value>(s).unwrap_or(serde_json::Value::Null);
    let (mut a, mut b) = (BTreeMap::new(), BTreeMap::new());
    flatten(stage, &parse(old), &mut a);
    flatten(stage, &parse(new), &mut b);
    let mut out = Vec::new();
    let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    for k in keys {
        match (a.get(k), b.get(k)) {
            (Some(x), Some(y)) if x == y => {}
            (Some(x), Some(y)) => out.push(format!("param {k} {x} → {y}")),
            (None, Some(y)) => out.push(format!("param {k} added ({y})")),
            (Some(x), None) => out.push(format!("param {k} removed (was {x})")),
            (None, None) => {}
        }
    }
    out
}

fn flatten(prefix: &str, v: &serde_json::Value, out: &mut BTreeMap<String, String>) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, x) in m {
                flatten(&format!("{prefix}.{k}"), x, out);
            }
        }
        serde_json::Value::Number(n) => {
            // 40.0 reads as 40 in a config file; show it that way.
            let text = match n.as_f64() {
                Some(f) if n.is_f64() && f.fract() == 0.0 && f.abs() < 1e15 => {
                    format!("{}", f as i64)
                }
                _ => n.to_string(),
            };
            out.insert(prefix.to_string(), text);
        }
        other => {
            out.insert(prefix.to_string(), other.to_string());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn param_diff_names_the_dotted_key_and_both_values() {
        let d = param_diff(
            "train",
            r#"{"alpha":40.0,"rank":10}"#,
            r#"{"alpha":60.0,"rank":10}"#,
        );
        assert_eq!(d, vec!["param train.alpha 40 → 60".to_string()]);
        let d = param_diff(
            "tune",
            r#"{"grid":{"rank":[1]}}"#,
            r#"{"grid":{"rank":[1,2]}}"#,
        );
        assert_eq!(d, vec!["param tune.grid.rank [1] → [1,2]".to_string()]);
    }
}
