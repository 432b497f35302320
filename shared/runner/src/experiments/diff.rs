//! `alsflow diff A B`: what differs between two pipeline runs.
//!
//! B is the base and A is compared with it (`alsflow diff latest previous` reads
//! "latest against previous"): per stage, in pipeline order, the params that differ
//! (flattened to dotted keys, `train.alpha`), the input and output artifacts that
//! differ, and whether the stage's code changed; then every test metric of every
//! system with `delta = A − B`, its direction and which run is better.

use super::summary::{stage_records, summarize, RunSummary};
use alsflow_core::ArtifactId;
use alsflow_metrics::Metrics;
use alsflow_store::{PipelineRun, RunRecord, StageUse, Store};
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;

/// A param whose value differs (`None`: absent on that side).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ParamChange {
    /// Dotted key, `train.alpha`, `tune.grid.rank`.
    pub param: String,
    /// Its value in A.
    pub a: Option<Value>,
    /// Its value in B.
    pub b: Option<Value>,
}

/// An input or output whose artifact differs (ids as 64 hex digits).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ArtifactChange {
    /// Qualified name: `tune.best_params` for an input, `train.model` for an output.
    pub name: String,
    /// The artifact in A.
    pub a: Option<String>,
    /// The artifact in B.
    pub b: Option<String>,
}

/// One stage that differs between the runs.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StageDiff {
    /// Stage name.
    pub stage: String,
    /// Its outcome in A (`ran`, `cached`, …), `None` when A did not include it.
    pub a_status: Option<String>,
    /// Its outcome in B.
    pub b_status: Option<String>,
    /// Params that differ.
    pub params: Vec<ParamChange>,
    /// Inputs whose artifact differs.
    pub inputs: Vec<ArtifactChange>,
    /// Outputs whose artifact differs.
    pub outputs: Vec<ArtifactChange>,
    /// True when the stage's code fingerprint differs.
    pub code_changed: bool,
}

/// One metric of one system in both runs.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MetricDelta {
    /// `model`, `popularity` or `random`.
    pub system: String,
    /// `roem`, `precision@10`, …
    pub metric: String,
    /// Its value in A.
    pub a: f64,
    /// Its value in B.
    pub b: f64,
    /// `a − b`.
    pub delta: f64,
    /// `higher` or `lower` (ROEM is the one where lower is better).
    pub better_when: &'static str,
    /// `a`, `b` or `same`.
    pub better: &'static str,
}

/// Everything `alsflow diff` shows.
#[derive(Clone, Debug)]
pub struct RunDiff {
    /// Run A, summarised.
    pub a: RunSummary,
    /// Run B (the base), summarised.
    pub b: RunSummary,
    /// The stages that differ, in pipeline order.
    pub stages: Vec<StageDiff>,
    /// The stages both runs share unchanged (same stage run).
    pub unchanged: Vec<String>,
    /// Metric deltas, model first, metrics in table order.
    pub metrics: Vec<MetricDelta>,
}

impl RunDiff {
    /// The `alsflow diff --json` object.
    pub fn to_json(&self) -> Value {
        let side = |s: &RunSummary| {
            serde_json::json!({
                "id": s.run.id.to_hex(),
                "dataset": s.run.dataset,
                "name": s.run.name,
                "started": super::format_rfc3339(s.run.started_ms),
                "status": s.status(),
            })
        };
        serde_json::json!({
            "a": side(&self.a),
            "b": side(&self.b),
            "changed": self.stages,
            "unchanged": self.unchanged,
            "metrics": self.metrics,
        })
    }
}

/// Compare run `a` with run `b` (the base).
pub fn diff(store: &Store, a: &PipelineRun, b: &PipelineRun) -> RunDiff {
    let sa = summarize(store, a);
    let sb = summarize(store, b);
    let mut ignored = Vec::new();
    let ra = stage_records(store, a, &mut ignored);
    let rb = stage_records(store, b, &mut ignored);
    let mut order: Vec<&str> = a.stages.iter().map(|s| s.stage.as_str()).collect();
    for s in &b.stages {
        if !order.contains(&s.stage.as_str()) {
            order.push(&s.stage);
        }
    }
    let mut stages = Vec::new();
    let mut unchanged = Vec::new();
    for stage in order {
        let (ua, ub) = (a.stage(stage), b.stage(stage));
        if let (Some(x), Some(y)) = (ua, ub) {
            if x.key.is_some() && x.key == y.key {
                unchanged.push(stage.to_string());
                continue;
            }
        }
        stages.push(stage_diff(stage, ua, ub, ra.get(stage), rb.get(stage)));
    }
    let metrics = metric_deltas(&sa, &sb);
    RunDiff {
        a: sa,
        b: sb,
        stages,
        unchanged,
        metrics,
    }
}

fn stage_diff(
    stage: &str,
    ua: Option<&StageUse>,
    ub: Option<&StageUse>,
    ra: Option<&RunRecord>,
    rb: Option<&RunRecord>,
) -> StageDiff {
    let flat = |u: Option<&StageUse>| {
        let mut out = BTreeMap::new();
        if let Some(u) = u {
            let v = serde_json::from_str(&u.params_json).unwrap_or(Value::Null);
            flatten(stage, &v, &mut out);
        }
        out
    };
    let (pa, pb) = (flat(ua), flat(ub));
    let mut params = Vec::new();
    let keys: std::collections::BTreeSet<&String> = pa.keys().chain(pb.keys()).collect();
    for k in keys {
        let (x, y) = (pa.get(k), pb.get(k));
        if !same_value(x, y) {
            params.push(ParamChange {
                param: k.clone(),
                a: x.cloned(),
                b: y.cloned(),
            });
        }
    }
    let inputs = artifact_changes(ra.map(|r| &r.inputs), rb.map(|r| &r.inputs), |name| {
        name.to_string()
    });
    let outputs = artifact_changes(ra.map(|r| &r.outputs), rb.map(|r| &r.outputs), |name| {
        format!("{stage}.{name}")
    });
    StageDiff {
        stage: stage.to_string(),
        a_status: ua.map(|u| u.outcome.as_str().to_string()),
        b_status: ub.map(|u| u.outcome.as_str().to_string()),
        params,
        inputs,
        outputs,
        code_changed: matches!((ra, rb), (Some(x), Some(y)) if x.code_fingerprint != y.code_fingerprint),
    }
}

/// Numbers compare by value (`40` and `40.0` are the same alpha).
fn same_value(x: Option<&Value>, y: Option<&Value>) -> bool {
    match (x, y) {
        (Some(Value::Number(p)), Some(Value::Number(q))) => p.as_f64() == q.as_f64(),
        _ => x == y,
    }
}

fn artifact_changes(
    a: Option<&BTreeMap<String, ArtifactId>>,
    b: Option<&BTreeMap<String, ArtifactId>>,
    label: impl Fn(&str) -> String,
) -> Vec<ArtifactChange> {
    let empty = BTreeMap::new();
    let (a, b) = (a.unwrap_or(&empty), b.unwrap_or(&empty));
    let names: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    names
        .into_iter()
        .filter(|n| a.get(*n) != b.get(*n))
        .map(|n| ArtifactChange {
            name: label(n),
            a: a.get(n).map(ArtifactId::to_hex),
            b: b.get(n).map(ArtifactId::to_hex),
        })
        .collect()
}

/// Leaves of a params JSON under dotted keys (`tune.base.alpha`); arrays are leaves.
pub(crate) fn flatten(prefix: &str, v: &Value, out: &mut BTreeMap<String, Value>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                flatten(&format!("{prefix}.{k}"), x, out);
            }
        }
        other => {
            out.insert(prefix.to_string(), other.clone());
        }
    }
}

fn metric_deltas(a: &RunSummary, b: &RunSummary) -> Vec<MetricDelta> {
    let (Some(ma), Some(mb)) = (&a.metrics, &b.metrics) else {
        return Vec::new();
    };
    let mut systems: Vec<&String> = ma.keys().filter(|s| mb.contains_key(*s)).collect();
    // The model first, then the baselines in table order.
    systems.sort_by_key(|s| (s.as_str() != "model", s.as_str() != "popularity"));
    let mut out = Vec::new();
    for system in systems {
        let (Some(xa), Some(xb)) = (ma[system].as_object(), mb[system].as_object()) else {
            continue;
        };
        // Table order (roem, precision@k, …) when the cut-off is known.
        let order = a.k.map(alsflow_metrics::metric_names).unwrap_or_default();
        let mut names: Vec<&String> = xa.keys().collect();
        names.sort_by_key(|m| order.iter().position(|o| o == *m).unwrap_or(order.len()));
        for metric in names {
            let va = &xa[metric];
            // Counts (users evaluated) are not metrics with a direction.
            if metric == "users_evaluated" {
                continue;
            }
            let (Some(va), Some(vb)) = (va.as_f64(), xb.get(metric).and_then(Value::as_f64)) else {
                continue;
            };
            let higher = Metrics::higher_is_better(metric);
            let delta = va - vb;
            let better = if delta == 0.0 {
                "same"
            } else if (delta > 0.0) == higher {
                "a"
            } else {
                "b"
            };
            out.push(MetricDelta {
                system: system.clone(),
                metric: metric.clone(),
                a: va,
                b: vb,
                delta,
                better_when: if higher { "higher" } else { "lower" },
                better,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_flatten_to_dotted_keys_and_numbers_compare_by_value() {
        let mut out = BTreeMap::new();
        let v: Value =
            serde_json::from_str(r#"{"base":{"alpha":40.0},"grid":{"rank":[4,8]}}"#).unwrap();
        flatten("tune", &v, &mut out);
        let keys: Vec<&str> = out.keys().map(String::as_str).collect();
        assert_eq!(keys, ["tune.base.alpha", "tune.grid.rank"]);
        let forty: Value = serde_json::from_str("40").unwrap();
        assert!(same_value(Some(&out["tune.base.alpha"]), Some(&forty)));
        assert!(!same_value(Some(&forty), None));
    }

    #[test]
    fn artifact_changes_name_added_removed_and_changed_ids() {
        let id = |b: u8| ArtifactId([b; 32]);
        let a: BTreeMap<String, ArtifactId> =
            [("model".to_string(), id(1)), ("same".to_string(), id(3))].into();
        let b: BTreeMap<String, ArtifactId> = [
            ("model".to_string(), id(2)),
            ("same".to_string(), id(3)),
            ("old".to_string(), id(4)),
        ]
        .into();
        let c = artifact_changes(Some(&a), Some(&b), |n| format!("train.{n}"));
        let names: Vec<&str> = c.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["train.model", "train.old"]);
        assert_eq!(c[1].a, None);
        assert_eq!(c[1].b, Some(id(4).to_hex()));
    }
}
