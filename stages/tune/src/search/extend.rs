//! `search = "extend"`: the grid, then rounds around the best point until it is
//! surrounded by points already tried.
//!
//! Each round looks at the best point so far and, on every searched axis:
//! - if it takes the smallest or largest value tried (an edge) and the axis can go
//!   further within `tune.limits`, tries one value beyond: geometric steps for
//!   reg_param, alpha and eps (×2, growing to ×4, ×8, ×16 while the new value keeps
//!   winning, since good values lie orders of magnitude away), doubling for rank,
//!   max_iter and cg_steps (their cost grows with them, so they never leap);
//! - otherwise tries its neighbours on that axis: the next values tried on either
//!   side, or the rounded geometric midpoint when they are more than ×2 away (so a
//!   leap that overshot is narrowed down);
//! - on unordered axes (solver, confidence, …), every other value of the grid.
//!
//! When several axes are extended at once, every combination of the new values is
//! tried too (the edges usually move together: more regularisation pays for more
//! rank). The round's new points are scored on every fold as one batch.
//!
//! The search stops when every neighbour of the best point has been tried (it is
//! interior on every axis, at the resolution above), when a round improves the mean
//! CV metric by less than `tune.min_gain`, or before a round would take the fits past
//! `tune.max_fits`.

use super::{RoundRecord, SearchState};
use crate::axes::{self, Ranges, Scale};
use crate::edges::ladder;
use crate::grid::display_value;
use crate::Params;
use alsflow_core::StageError;
use alsflow_formats::search::Extension;
use serde_json::Value;
use std::collections::BTreeMap;

/// Neighbours further apart than this ratio are narrowed down by their midpoint.
const FINE_RATIO: f64 = 2.0 + 1e-9;

/// A geometric axis's step grows to at most 2^this while its extensions keep winning.
const MAX_STREAK: u32 = 3;

/// The points one round tries, and why.
struct Neighbourhood {
    points: Vec<Vec<(String, Value)>>,
    extensions: Vec<Extension>,
    /// "rank 10 → 5" for extensions, "reg_param 1.2 … 9.6 → 3.4" for midpoints.
    moves: Vec<String>,
    /// Axes on an edge that tune.limits (or the natural bound) keeps from extending.
    blocked: Vec<String>,
}

fn with_value(base: &[(String, Value)], axis: &str, value: Value) -> Vec<(String, Value)> {
    let mut v = base.to_vec();
    if let Some(slot) = v.iter_mut().find(|(a, _)| a == axis) {
        slot.1 = value;
    }
    v
}

fn neighbourhood(
    state: &SearchState<'_, '_>,
    best: usize,
    ranges: &Ranges,
    streak: &BTreeMap<(&'static str, i8), u32>,
) -> Neighbourhood {
    let trials = &state.trials;
    let at = trials.points[best].values.clone();
    let mut hood = Neighbourhood {
        points: Vec::new(),
        extensions: Vec::new(),
        moves: Vec::new(),
        blocked: Vec::new(),
    };
    let mut extended: Vec<(&'static str, Value)> = Vec::new();
    for &axis in &state.searched {
        let Some(info) = axes::info(axis) else {
            continue;
        };
        let Some(current) = at.iter().find(|(a, _)| a == axis).map(|(_, v)| v.clone()) else {
            continue;
        };
        if info.scale == Scale::Categorical {
            let values = state
                .grid_axes
                .iter()
                .find(|(a, _)| *a == axis)
                .map(|(_, v)| v.clone())
                .unwrap_or_default();
            for v in values.into_iter().filter(|v| *v != current) {
                hood.points.push(with_value(&at, axis, v));
            }
            continue;
        }
        let Some(x) = axes::numeric(&current) else {
            continue;
        };
        let tried = ladder(trials, axis);
        let Some(i) = tried.iter().position(|&v| v == x) else {
            continue;
        };
        let range = ranges.get(axis).unwrap_or(info.default_limits);
        for direction in [-1i8, 1] {
            let neighbour = if direction < 0 {
                i.checked_sub(1).map(|j| tried[j])
            } else {
                tried.get(i + 1).copied()
            };
            match neighbour {
                Some(n) => {
                    let (lo, hi) = if n < x { (n, x) } else { (x, n) };
                    let target = if hi / lo > FINE_RATIO {
                        match axes::midpoint(info, lo, hi) {
                            Some(m) => {
                                hood.moves.push(format!(
                                    "{axis} {} … {} → {}",
                                    fmt(lo),
                                    fmt(hi),
                                    fmt(m)
                                ));
                                m
                            }
                            None => n,
                        }
                    } else {
                        n
                    };
                    hood.points
                        .push(with_value(&at, axis, axes::to_value(info, target)));
                }
                None => {
                    if !axes::can_go_further(info, x, direction) {
                        continue;
                    }
                    let factor = match info.scale {
                        Scale::Geometric => {
                            let s = streak.get(&(axis, direction)).copied().unwrap_or(0);
                            2f64.powi(s.min(MAX_STREAK) as i32 + 1)
                        }
                        _ => 2.0,
                    };
                    match axes::step(info, x, direction, factor, range) {
                        Some(next) => {
                            let value = axes::to_value(info, next);
                            hood.moves
                                .push(format!("{axis} {} → {}", fmt(x), fmt(next)));
                            hood.extensions.push(Extension {
                                axis: axis.to_string(),
                                direction: if direction > 0 { "higher" } else { "lower" }
                                    .to_string(),
                                from: current.clone(),
                                to: value.clone(),
                            });
                            hood.points.push(with_value(&at, axis, value.clone()));
                            extended.push((axis, value));
                        }
                        None => hood.blocked.push(format!("{axis} at {}", fmt(x))),
                    }
                }
            }
        }
    }
    // Every combination of two or more extended axes.
    let n = extended.len();
    for mask in 1u32..(1u32 << n) {
        if mask.count_ones() < 2 {
            continue;
        }
        let mut v = at.clone();
        for (j, (axis, value)) in extended.iter().enumerate() {
            if mask & (1 << j) != 0 {
                v = with_value(&v, axis, value.clone());
            }
        }
        hood.points.push(v);
    }
    hood
}

fn fmt(x: f64) -> String {
    display_value(&Value::from(x))
        .trim_end_matches(".0")
        .to_string()
}

/// Run the extending search; returns why it stopped.
pub fn run(
    state: &mut SearchState<'_, '_>,
    grid: &[usize],
    params: &Params,
    ranges: &Ranges,
) -> Result<String, StageError> {
    state.grid_round(grid)?;
    let folds = state.trials.all_folds();
    let mut streak: BTreeMap<(&'static str, i8), u32> = BTreeMap::new();
    loop {
        let (best, best_value) = state
            .trials
            .best()
            .ok_or_else(|| StageError::other("internal: no point scored on every fold"))?;
        let hood = neighbourhood(state, best, ranges, &streak);
        let mut to_score = Vec::new();
        let mut new = Vec::new();
        for values in hood.points {
            let (i, is_new) = state.trials.add(values)?;
            if is_new {
                new.push(i);
            }
            if !to_score.contains(&i) && folds.iter().any(|&f| !state.trials.has(i, f)) {
                to_score.push(i);
            }
        }
        if to_score.is_empty() {
            return Ok(if hood.blocked.is_empty() {
                "the best point is interior on every axis and all its neighbours were tried"
                    .to_string()
            } else {
                format!(
                    "the best point's neighbours were all tried and tune.limits keeps it from \
                     going further ({})",
                    hood.blocked.join(", ")
                )
            });
        }
        let fits = state.trials.fits_needed(&to_score, &folds)?;
        if state.trials.fits + fits > params.max_fits {
            return Ok(format!(
                "the next round needs {fits} fits and tune.max_fits = {} leaves {}",
                params.max_fits,
                params.max_fits - state.trials.fits.min(params.max_fits)
            ));
        }
        let round = state.rounds.len();
        state
            .trials
            .score(&to_score, &folds, &format!("tune round {round}"))?;
        let kind = if hood.extensions.is_empty() {
            "refine"
        } else {
            "extend"
        };
        let from = state.trials.points[best].label();
        let reason = if hood.moves.is_empty() {
            format!("around the best point [{from}]: its untried neighbours")
        } else {
            format!(
                "around the best point [{from}]: {}, and its untried neighbours",
                hood.moves.join(", ")
            )
        };
        state.record(RoundRecord {
            kind,
            reason,
            new,
            scored: to_score,
            folds: folds.clone(),
            fits,
            best: None,
            extensions: hood.extensions.clone(),
        });
        let (now, now_value) = state
            .trials
            .best()
            .ok_or_else(|| StageError::other("internal: no point scored on every fold"))?;
        // A step keeps growing only while the value it reached is the new best.
        let reached = &state.trials.points[now].values;
        let mut next_streak = BTreeMap::new();
        for e in &hood.extensions {
            let Some(axis) = axes::info(&e.axis).map(|a| a.name) else {
                continue;
            };
            let direction = if e.direction == "higher" { 1 } else { -1 };
            if reached.iter().any(|(a, v)| a == axis && *v == e.to) {
                let s = streak.get(&(axis, direction)).copied().unwrap_or(0);
                next_streak.insert((axis, direction), s + 1);
            }
        }
        streak = next_streak;
        let gain = if state.trials.minimize() {
            best_value - now_value
        } else {
            now_value - best_value
        };
        if gain < params.min_gain {
            return Ok(format!(
                "round {round} improved the mean CV {} by {gain:.6}, less than tune.min_gain = {}",
                params.metric, params.min_gain
            ));
        }
    }
}
