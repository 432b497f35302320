//! SVG plots of the tuning results (plotters' SVG backend; the text is laid out with
//! plotters' built-in size estimate, so no font files are read and the bytes are
//! deterministic).
//!
//! - [`heatmap_svg`]: the metric over rank × alpha at the best point's other settings.
//! - [`metric_vs_iter_svg`]: the metric against max_iter, one line per rank.
//! - [`marginals_svg`]: the metric along each searched axis.
//! - [`fold_spread_svg`]: the best points' per-fold values.
//! - [`search_path_svg`]: the points scored round by round and the best so far.
//!
//! Every plot is at most [`MAX_WIDTH`] pixels wide, so it fits the report's page.

mod curves;
mod heatmap;
mod search;

pub use curves::metric_vs_iter_svg;
pub use heatmap::heatmap_svg;
pub use search::{fold_spread_svg, marginals_svg, search_path_svg};

use crate::results::ResultRow;
use alsflow_als::AlsParams;
use plotters::prelude::*;
use std::collections::BTreeMap;

/// The widest a plot may be: the report's page is 1100 px wide with margins.
pub const MAX_WIDTH: u32 = 1000;

/// A plot could not be drawn.
#[derive(Debug, thiserror::Error)]
#[error("cannot draw {plot}: {message}")]
pub struct PlotError {
    /// Which plot.
    pub plot: &'static str,
    /// What went wrong.
    pub message: String,
}

pub(crate) fn perr<E: std::fmt::Display>(plot: &'static str) -> impl Fn(E) -> PlotError {
    move |e| PlotError {
        plot,
        message: e.to_string(),
    }
}

/// Distinct values, sorted, of a float key (compared exactly).
pub(crate) fn distinct(mut v: Vec<f64>) -> Vec<f64> {
    v.sort_by(|a, b| a.total_cmp(b));
    v.dedup();
    v
}

pub(crate) fn fmt_num(v: f64) -> String {
    if v == v.trunc() && v.abs() < 1e9 {
        format!("{}", v as i64)
    } else {
        format!("{}", (v as f32))
    }
}

/// The better of two metric values (`minimize` for ROEM); NaN never wins.
pub(crate) fn better(a: f64, b: f64, minimize: bool) -> f64 {
    match (a.is_nan(), b.is_nan()) {
        (true, _) => b,
        (_, true) => a,
        _ if minimize => a.min(b),
        _ => a.max(b),
    }
}

/// Colour of `t` in [0, 1] on a light-to-dark blue ramp (dark = better).
pub(crate) fn ramp(t: f64) -> RGBColor {
    let t = if t.is_nan() { 0.0 } else { t.clamp(0.0, 1.0) };
    let lerp = |a: f64, b: f64| (a + (b - a) * t).round() as u8;
    RGBColor(lerp(247.0, 8.0), lerp(251.0, 48.0), lerp(255.0, 107.0))
}

/// One point's scores: its params, the metric on each fold it was scored on, and
/// their mean.
#[derive(Clone, Debug)]
pub(crate) struct PointStat {
    /// The point's index.
    pub point: u32,
    /// Its params.
    pub params: AlsParams,
    /// (fold, metric) in fold order.
    pub folds: Vec<(u8, f64)>,
    /// Mean over those folds.
    pub mean: f64,
}

/// Per point (in point order) its fold values of `metric` and their mean.
pub(crate) fn point_stats(rows: &[ResultRow], metric: &str) -> Vec<PointStat> {
    let mut by: BTreeMap<u32, PointStat> = BTreeMap::new();
    for r in rows {
        let v = r.metrics.get(metric).unwrap_or(f64::NAN);
        by.entry(r.point)
            .or_insert_with(|| PointStat {
                point: r.point,
                params: r.params.clone(),
                folds: Vec::new(),
                mean: f64::NAN,
            })
            .folds
            .push((r.fold, v));
    }
    by.into_values()
        .map(|mut s| {
            s.mean = s.folds.iter().map(|f| f.1).sum::<f64>() / s.folds.len() as f64;
            s
        })
        .collect()
}

/// The points scored on every fold (the most folds any point has): only their
/// means compare fairly (halving scores most points on fewer folds).
pub(crate) fn complete(stats: &[PointStat]) -> Vec<&PointStat> {
    let most = stats.iter().map(|s| s.folds.len()).max().unwrap_or(0);
    stats.iter().filter(|s| s.folds.len() == most).collect()
}

/// The best of the complete points by mean (first on ties; NaN never wins).
pub(crate) fn best_complete(stats: &[PointStat], minimize: bool) -> Option<u32> {
    let mut best: Option<(u32, f64)> = None;
    for s in complete(stats) {
        let wins = match best {
            None => true,
            Some((_, b)) => {
                !s.mean.is_nan() && (b.is_nan() || if minimize { s.mean < b } else { s.mean > b })
            }
        };
        if wins {
            best = Some((s.point, s.mean));
        }
    }
    best.map(|b| b.0)
}

/// A params field by its `[train]` name: a number, or the text of an enum or flag.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum AxisValue {
    /// rank, max_iter, reg_param, alpha, eps, cg_steps, seed.
    Num(f64),
    /// solver, reg_scaling, confidence, nonnegative.
    Text(String),
}

impl AxisValue {
    /// As an axis label.
    pub fn label(&self) -> String {
        match self {
            AxisValue::Num(v) => fmt_num(*v),
            AxisValue::Text(t) => t.clone(),
        }
    }
}

/// The value of `[train]` key `axis` in `params` (f32 fields widened through their
/// shortest decimal, so 0.15 reads 0.15, not 0.15000000596).
pub(crate) fn axis_value(params: &AlsParams, axis: &str) -> Option<AxisValue> {
    let json = serde_json::to_value(params).ok()?;
    match json.get(axis)? {
        serde_json::Value::Number(n) => {
            let v = n.as_f64()?;
            let f32_field = matches!(axis, "reg_param" | "alpha" | "eps");
            Some(AxisValue::Num(if f32_field {
                format!("{}", v as f32).parse().unwrap_or(v)
            } else {
                v
            }))
        }
        serde_json::Value::String(s) => Some(AxisValue::Text(s.clone())),
        serde_json::Value::Bool(b) => Some(AxisValue::Text(b.to_string())),
        _ => None,
    }
}

/// `params` with `axes` blanked: two points with equal keys differ only on `axes`.
pub(crate) fn key_without(params: &AlsParams, axes: &[&str]) -> String {
    let mut json = serde_json::to_value(AlsParams {
        threads: 0,
        compute_loss: false,
        ..params.clone()
    })
    .unwrap_or(serde_json::Value::Null);
    if let Some(map) = json.as_object_mut() {
        for a in axes {
            map.remove(*a);
        }
    }
    json.to_string()
}
