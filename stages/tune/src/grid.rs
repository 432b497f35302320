//! The hyperparameter grid: expansion into points in a fixed order, merging each
//! point over the base `[train]` params, and grouping points that differ only in
//! `max_iter` (they share one fit with snapshots).

use crate::axes::{AXIS_INFO, NOT_AXES};
use alsflow_als::AlsParams;
use alsflow_core::StageError;
use serde_json::Value;
use std::collections::BTreeMap;

/// The axes a grid may vary, outermost first (see [`crate::axes::AXIS_INFO`]).
pub fn axis_names() -> impl Iterator<Item = &'static str> {
    AXIS_INFO.iter().map(|a| a.name)
}

/// The seed's 192-point grid: rank × max_iter × reg_param × alpha.
pub fn default_grid() -> BTreeMap<String, Vec<Value>> {
    let mut g = BTreeMap::new();
    g.insert(
        "rank".into(),
        vec![10.into(), 20.into(), 30.into(), 40.into()],
    );
    g.insert(
        "max_iter".into(),
        vec![10.into(), 20.into(), 30.into(), 40.into()],
    );
    g.insert(
        "reg_param".into(),
        vec![0.05.into(), 0.1.into(), 0.15.into()],
    );
    g.insert(
        "alpha".into(),
        vec![20.into(), 40.into(), 60.into(), 80.into()],
    );
    g
}

/// One grid point: its position in grid order, the axis values it sets, and the
/// full parameters (base merged with those values).
#[derive(Clone, Debug, PartialEq)]
pub struct GridPoint {
    /// Position in grid order (0-based).
    pub index: usize,
    /// (axis, value) for every axis of the grid, outermost first.
    pub values: Vec<(String, Value)>,
    /// The base params with this point's values applied.
    pub params: AlsParams,
}

impl GridPoint {
    /// `rank=10 max_iter=40 reg_param=0.05 alpha=20`.
    pub fn label(&self) -> String {
        self.values
            .iter()
            .map(|(k, v)| format!("{k}={}", display_value(v)))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// A value as labels show it: strings bare, numbers as JSON writes them.
pub fn display_value(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Apply `values` over `base`; errors name the grid axis (`tune.grid.<axis>`).
pub fn merge(base: &AlsParams, values: &[(String, Value)]) -> Result<AlsParams, StageError> {
    let mut obj = serde_json::to_value(base)
        .map_err(|e| StageError::other(format!("cannot encode base params: {e}")))?;
    let map = obj
        .as_object_mut()
        .ok_or_else(|| StageError::other("base params are not a JSON object"))?;
    for (axis, v) in values {
        map.insert(axis.clone(), v.clone());
        // Check axis by axis so the error names the culprit.
        serde_json::from_value::<AlsParams>(Value::Object(map.clone())).map_err(|e| {
            StageError::BadParam {
                param: format!("tune.grid.{axis}"),
                message: format!("value {v} does not fit the [train] parameter '{axis}': {e}"),
            }
        })?;
    }
    serde_json::from_value(obj).map_err(|e| StageError::BadParam {
        param: "tune.grid".into(),
        message: e.to_string(),
    })
}

/// Check the grid's axes: known `[train]` keys that change the model, with at least
/// one value each, no value twice.
pub fn check_axes(grid: &BTreeMap<String, Vec<Value>>) -> Result<(), StageError> {
    for (axis, vals) in grid {
        let bad = |message: String| StageError::BadParam {
            param: format!("tune.grid.{axis}"),
            message,
        };
        if let Some((_, why)) = NOT_AXES.iter().find(|(n, _)| n == axis) {
            return Err(bad(format!("not a search axis: {why}")));
        }
        if !axis_names().any(|a| a == axis) {
            return Err(bad(format!(
                "not a tunable parameter; use one of {}",
                axis_names().collect::<Vec<_>>().join(", ")
            )));
        }
        if vals.is_empty() {
            return Err(bad("the list of values is empty".into()));
        }
        for (i, v) in vals.iter().enumerate() {
            if vals[..i].contains(v) {
                return Err(bad(format!("value {v} is listed twice")));
            }
        }
    }
    Ok(())
}

/// The grid's axes in grid order (outermost first) with their values.
pub fn ordered_axes(grid: &BTreeMap<String, Vec<Value>>) -> Vec<(&'static str, &Vec<Value>)> {
    axis_names()
        .filter_map(|a| grid.get(a).map(|v| (a, v)))
        .collect()
}

/// Expand `grid` over `base` into points in grid order (the first axis of
/// [`crate::axes::AXIS_INFO`] present is outermost). Unknown axes and empty value
/// lists are errors.
pub fn expand(
    base: &AlsParams,
    grid: &BTreeMap<String, Vec<Value>>,
) -> Result<Vec<GridPoint>, StageError> {
    check_axes(grid)?;
    let axes = ordered_axes(grid);
    let total: usize = axes.iter().map(|(_, v)| v.len()).product();
    let mut points = Vec::with_capacity(total);
    for index in 0..total {
        // Mixed-radix decode with the last axis fastest.
        let mut rest = index;
        let mut values = vec![(String::new(), Value::Null); axes.len()];
        for (slot, (axis, vals)) in axes.iter().enumerate().rev() {
            values[slot] = ((*axis).to_string(), vals[rest % vals.len()].clone());
            rest /= vals.len();
        }
        let params = merge(base, &values)?;
        points.push(GridPoint {
            index,
            values,
            params,
        });
    }
    Ok(points)
}

/// The parameters that decide a fit's result, as canonical JSON: `threads` and
/// `compute_loss` do not change the factors, so they are normalised away.
pub fn canonical_params(p: &AlsParams) -> Result<String, StageError> {
    let q = AlsParams {
        threads: 0,
        compute_loss: false,
        ..p.clone()
    };
    alsflow_core::canonical::to_string("grid point", &q)
        .map_err(|e| StageError::other(e.to_string()))
}

/// Points that differ only in `max_iter`, sharing one fit: the group's points
/// (indices into the point list) sorted by `max_iter`.
#[derive(Clone, Debug, PartialEq)]
pub struct PointGroup {
    /// Indices of the group's points, by ascending `max_iter`.
    pub points: Vec<usize>,
}

/// Group `points` by every parameter except `max_iter`, groups in order of first appearance.
pub fn group_by_max_iter(points: &[GridPoint]) -> Vec<PointGroup> {
    let mut order: Vec<String> = Vec::new();
    let mut groups: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (i, p) in points.iter().enumerate() {
        let mut q = p.params.clone();
        q.max_iter = 0;
        // Serialising plain params cannot fail; the point's label keeps keys distinct if
        // it ever did.
        let key = canonical_params(&q).unwrap_or_else(|_| p.label());
        if !groups.contains_key(&key) {
            order.push(key.clone());
        }
        groups.entry(key).or_default().push(i);
    }
    order
        .into_iter()
        .map(|k| {
            let mut pts = groups.remove(&k).unwrap_or_default();
            pts.sort_by_key(|&i| (points[i].params.max_iter, i));
            PointGroup { points: pts }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_grid_has_192_points_rank_outer_alpha_inner() {
        let pts = expand(&AlsParams::default(), &default_grid()).unwrap();
        assert_eq!(pts.len(), 192);
        assert_eq!(
            pts[0].label(),
            "rank=10 max_iter=10 reg_param=0.05 alpha=20"
        );
        assert_eq!(
            pts[1].label(),
            "rank=10 max_iter=10 reg_param=0.05 alpha=40"
        );
        assert_eq!(
            pts[191].label(),
            "rank=40 max_iter=40 reg_param=0.15 alpha=80"
        );
        assert_eq!(pts[1].params.alpha, 40.0);
        assert_eq!(pts[191].params.rank, 40);
        let groups = group_by_max_iter(&pts);
        assert_eq!(groups.len(), 48);
        assert!(groups.iter().all(|g| g.points.len() == 4));
        let first: Vec<usize> = groups[0]
            .points
            .iter()
            .map(|&i| pts[i].params.max_iter)
            .collect();
        assert_eq!(first, vec![10, 20, 30, 40]);
    }

    #[test]
    fn bad_axes_and_values_name_the_parameter() {
        let mut g = BTreeMap::new();
        g.insert("threads".to_string(), vec![Value::from(1)]);
        let e = expand(&AlsParams::default(), &g).unwrap_err().to_string();
        assert!(
            e.contains("tune.grid.threads") && e.contains("does not change the model"),
            "{e}"
        );
        let mut g = BTreeMap::new();
        g.insert("learning_rate".to_string(), vec![Value::from(1)]);
        let e = expand(&AlsParams::default(), &g).unwrap_err().to_string();
        assert!(e.contains("tune.grid.learning_rate"), "{e}");
        let mut g = BTreeMap::new();
        g.insert("rank".to_string(), vec![Value::from(4), Value::from(4)]);
        let e = expand(&AlsParams::default(), &g).unwrap_err().to_string();
        assert!(e.contains("listed twice"), "{e}");
        // Every other [train] key is an axis, the seed included.
        let mut g = BTreeMap::new();
        g.insert("seed".to_string(), vec![Value::from(1), Value::from(2)]);
        g.insert("eps".to_string(), vec![Value::from(0.5)]);
        let pts = expand(&AlsParams::default(), &g).unwrap();
        assert_eq!(pts[1].params.seed, 2);
        assert_eq!(pts[1].params.eps, 0.5);
        // Every [train] key is either an axis or refused with its reason.
        let keys = serde_json::to_value(AlsParams::default()).unwrap();
        for key in keys.as_object().unwrap().keys() {
            assert!(
                axis_names().any(|a| a == key) || NOT_AXES.iter().any(|(n, _)| n == key),
                "[train] key {key} is neither an axis nor refused"
            );
        }
        let mut g = BTreeMap::new();
        g.insert("rank".to_string(), vec![Value::from("ten")]);
        let e = expand(&AlsParams::default(), &g).unwrap_err().to_string();
        assert!(e.contains("tune.grid.rank"), "{e}");
        let mut g = BTreeMap::new();
        g.insert(
            "solver".to_string(),
            vec![Value::from("cholesky"), Value::from("cg")],
        );
        let pts = expand(&AlsParams::default(), &g).unwrap();
        assert_eq!(pts[0].params.solver, alsflow_als::Solver::Cholesky);
    }
}
