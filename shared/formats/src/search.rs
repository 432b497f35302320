//! The `tune.search` artifact: how a hyperparameter search went, as JSON.
//!
//! Tune writes it; evaluate's report draws the search path from it, and the CLI reads
//! its `warnings` for `alsflow status` and `alsflow metrics --json`. It holds no
//! timings and nothing about the memo, so the same search gives the same bytes
//! whether its fits ran now or were memoised.
//!
//! ```json
//! {"strategy": "extend", "metric": "roem", "direction": "minimize", "folds": 5,
//!  "axes": ["rank", "max_iter", "reg_param", "alpha"],
//!  "rounds": [{"round": 0, "kind": "grid", "reason": "the grid: 192 points",
//!              "new_points": [0, 1, …], "folds": [0, 1, 2, 3, 4], "fits": 240,
//!              "best_point": 3, "best_value": 0.1107, "extensions": []}, …],
//!  "points_tried": 310, "fits": 520, "grid_fits": 240,
//!  "stopped": "the best point is interior on every axis",
//!  "best": {"point": 17, "label": "rank=64 …", "mean": 0.1027, "std": 0.0011,
//!           "fold_values": [0.1031, …]},
//!  "edges": [{"axis": "rank", "value": 10, "side": "smallest", "limit": null}],
//!  "warnings": ["rank: the best point takes the smallest value tried (10); …"]}
//! ```

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The whole `tune.search` document.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SearchSummary {
    /// `grid`, `extend` or `halving`.
    pub strategy: String,
    /// The selection metric (`roem`, `ndcg@10`, …).
    pub metric: String,
    /// `minimize` or `maximize`.
    pub direction: String,
    /// Cross-validation folds.
    pub folds: usize,
    /// The searched axes, outermost first (the grid's axes).
    pub axes: Vec<String>,
    /// Rounds in order: the grid (round 0), then extension/refinement rounds or rungs.
    pub rounds: Vec<SearchRound>,
    /// Distinct points scored on at least one fold.
    pub points_tried: usize,
    /// (point group, fold) fits the search needed, memoised or not; points that differ
    /// only in `max_iter` share one fit.
    pub fits: usize,
    /// Fits of the exhaustive grid the search started from (the yardstick of
    /// `halving` and of `extend`'s extra cost).
    pub grid_fits: usize,
    /// Why the search ended.
    pub stopped: String,
    /// The selected point.
    pub best: BestPoint,
    /// Axes on which the selected point sits on the edge of what was tried.
    pub edges: Vec<Edge>,
    /// One line per edge (and any other caveat), each naming its axis.
    pub warnings: Vec<String>,
}

/// One round of the search.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SearchRound {
    /// 0 for the starting grid (or the first rung).
    pub round: usize,
    /// `grid`, `extend`, `refine` or `rung`.
    pub kind: String,
    /// Why this round ran and what it tried, in words.
    pub reason: String,
    /// Points scored for the first time in this round (point indices).
    pub new_points: Vec<u32>,
    /// Points scored in this round (new or given more folds).
    pub scored_points: Vec<u32>,
    /// Folds scored in this round.
    pub folds: Vec<u8>,
    /// (point group, fold) fits this round needed.
    pub fits: usize,
    /// The best point after the round (among points scored on every fold; for a rung,
    /// among the rung's points on its folds).
    pub best_point: u32,
    /// Its label (`rank=64 max_iter=20 reg_param=64 alpha=10`).
    pub best_label: String,
    /// Its mean metric (null in JSON when not a number).
    #[serde(with = "nan_as_null")]
    pub best_value: f64,
    /// Values added beyond the edge of what had been tried.
    pub extensions: Vec<Extension>,
}

/// A value added beyond the edge of an axis.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Extension {
    /// The axis (`rank`).
    pub axis: String,
    /// `lower` or `higher`.
    pub direction: String,
    /// The edge value the best point had.
    pub from: Value,
    /// The new value tried.
    pub to: Value,
}

/// The selected point and its fold-to-fold spread.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BestPoint {
    /// Its index (the `point` column of `tune.results`).
    pub point: u32,
    /// `rank=10 max_iter=40 reg_param=0.15 alpha=20`.
    pub label: String,
    /// Mean metric over the folds.
    #[serde(with = "nan_as_null")]
    pub mean: f64,
    /// Sample standard deviation over the folds.
    #[serde(with = "nan_as_null")]
    pub std: f64,
    /// The metric on each fold, in fold order.
    #[serde(with = "nan_as_null_vec")]
    pub fold_values: Vec<f64>,
}

/// The selected point sits on the edge of an axis.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Edge {
    /// The axis.
    pub axis: String,
    /// The best point's value (the edge).
    pub value: Value,
    /// `smallest` or `largest` value tried.
    pub side: String,
    /// Set when the search could not go further because of `tune.limits` (the limit).
    pub limit: Option<f64>,
}

/// JSON has no NaN: a metric that is not a number (AUC with no candidates) is written
/// as `null` and read back as NaN.
mod nan_as_null {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
        if v.is_finite() {
            s.serialize_f64(*v)
        } else {
            s.serialize_none()
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
    }
}

/// [`nan_as_null`] for a list.
mod nan_as_null_vec {
    use serde::ser::SerializeSeq;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &[f64], s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(v.len()))?;
        for x in v {
            seq.serialize_element(&x.is_finite().then_some(*x))?;
        }
        seq.end()
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<f64>, D::Error> {
        Ok(Vec::<Option<f64>>::deserialize(d)?
            .into_iter()
            .map(|x| x.unwrap_or(f64::NAN))
            .collect())
    }
}

/// A `tune.search` document that cannot be read.
#[derive(Debug, thiserror::Error)]
#[error("tune.search: {0}")]
pub struct SearchFormatError(String);

impl SearchSummary {
    /// Encode as pretty JSON (deterministic: fields in declaration order).
    pub fn to_json(&self) -> Result<Vec<u8>, SearchFormatError> {
        let mut bytes =
            serde_json::to_vec_pretty(self).map_err(|e| SearchFormatError(e.to_string()))?;
        bytes.push(b'\n');
        Ok(bytes)
    }

    /// Decode a document written by [`SearchSummary::to_json`].
    pub fn from_json(bytes: &[u8]) -> Result<Self, SearchFormatError> {
        serde_json::from_slice(bytes).map_err(|e| SearchFormatError(e.to_string()))
    }
}

/// Just the `warnings` of a `tune.search` document (what `status` and `metrics` show).
pub fn warnings(bytes: &[u8]) -> Result<Vec<String>, SearchFormatError> {
    Ok(SearchSummary::from_json(bytes)?.warnings)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_keeps_nan_out_of_the_json() {
        let s = SearchSummary {
            strategy: "grid".into(),
            metric: "roem".into(),
            direction: "minimize".into(),
            folds: 2,
            axes: vec!["rank".into()],
            rounds: vec![SearchRound {
                round: 0,
                kind: "grid".into(),
                reason: "the grid".into(),
                new_points: vec![0, 1],
                scored_points: vec![0, 1],
                folds: vec![0, 1],
                fits: 4,
                best_point: 0,
                best_label: "rank=4".into(),
                best_value: 0.25,
                extensions: vec![],
            }],
            points_tried: 2,
            fits: 4,
            grid_fits: 4,
            stopped: "the grid was searched exhaustively".into(),
            best: BestPoint {
                point: 0,
                label: "rank=4".into(),
                mean: 0.25,
                std: 0.01,
                fold_values: vec![0.24, 0.26],
            },
            edges: vec![Edge {
                axis: "rank".into(),
                value: Value::from(4),
                side: "smallest".into(),
                limit: None,
            }],
            warnings: vec!["rank: …".into()],
        };
        let bytes = s.to_json().unwrap();
        assert_eq!(SearchSummary::from_json(&bytes).unwrap(), s);
        let mut odd = s.clone();
        odd.best.fold_values[1] = f64::NAN;
        odd.best.std = f64::NAN;
        let text = String::from_utf8(odd.to_json().unwrap()).unwrap();
        assert!(text.contains("null") && !text.contains("NaN"), "{text}");
        let back = SearchSummary::from_json(text.as_bytes()).unwrap();
        assert!(back.best.std.is_nan() && back.best.fold_values[1].is_nan());
        assert_eq!(back.best.fold_values[0], 0.24);
        assert_eq!(warnings(&bytes).unwrap(), vec!["rank: …".to_string()]);
        let e = SearchSummary::from_json(b"{\"strategy\": 1}").unwrap_err();
        assert!(e.to_string().starts_with("tune.search:"), "{e}");
    }
}
