//! Plots of a search: the metric along each axis, the best points' fold-to-fold
//! spread, and the path of the search round by round.

use super::{
    axis_value, best_complete, complete, key_without, perr, point_stats, AxisValue, PlotError,
    PointStat, MAX_WIDTH,
};
use crate::results::ResultRow;
use crate::search::SearchRound;
use plotters::prelude::*;

const BLUE: RGBColor = RGBColor(49, 130, 189);
const ORANGE: RGBColor = RGBColor(230, 85, 13);
const GREY: RGBColor = RGBColor(150, 150, 150);

/// (lo, hi) of `values` with 8 % padding (a small band when they are all equal).
fn padded(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = values
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
            (a.min(v), b.max(v))
        });
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    let pad = ((hi - lo) * 0.08).max(1e-4);
    (lo - pad, hi + pad)
}

/// Sort axis values: numbers ascending, text in first-appearance order.
fn sorted_values(mut values: Vec<AxisValue>) -> Vec<AxisValue> {
    let mut out: Vec<AxisValue> = Vec::new();
    values.retain(|v| {
        if out.contains(v) {
            false
        } else {
            out.push(v.clone());
            true
        }
    });
    out.sort_by(|a, b| match (a, b) {
        (AxisValue::Num(x), AxisValue::Num(y)) => x.total_cmp(y),
        _ => std::cmp::Ordering::Equal,
    });
    out
}

/// The mean CV `metric` along each of `axes` (the searched axes), one panel per axis,
/// values tried in order along x. Blue: the best mean over every other setting at each
/// value (how good the axis value can be); orange: the points equal to the selected
/// point on every other axis (the slice through it); the selected point is circled.
pub fn marginals_svg(
    rows: &[ResultRow],
    metric: &str,
    minimize: bool,
    best: Option<u32>,
    axes: &[String],
) -> Result<String, PlotError> {
    const PLOT: &str = "marginal plots";
    let stats = point_stats(rows, metric);
    let full = complete(&stats);
    let best = best
        .or_else(|| best_complete(&stats, minimize))
        .and_then(|b| stats.iter().find(|s| s.point == b));
    let panels: Vec<(&String, Vec<AxisValue>)> = axes
        .iter()
        .filter_map(|a| {
            let vals = sorted_values(
                full.iter()
                    .filter_map(|s| axis_value(&s.params, a))
                    .collect(),
            );
            (vals.len() >= 2).then_some((a, vals))
        })
        .collect();
    let cols = if panels.len() > 1 { 2 } else { 1 };
    let rows_n = panels.len().div_ceil(cols).max(1);
    let (pw, ph) = (MAX_WIDTH * 24 / 25 / cols as u32, 250u32);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (pw * cols as u32, 40 + ph * rows_n as u32))
            .into_drawing_area();
        root.fill(&WHITE).map_err(perr(PLOT))?;
        let (top, body) = root.split_vertically(40);
        top.titled(
            &format!(
                "mean CV {metric} along each axis ({} is better): blue = best over the other \
                 settings, orange = at the selected point's other settings",
                if minimize { "lower" } else { "higher" }
            ),
            ("sans-serif", 13),
        )
        .map_err(perr(PLOT))?;
        let areas = body.split_evenly((rows_n, cols));
        for (area, (axis, values)) in areas.iter().zip(&panels) {
            let pos = |v: &AxisValue| values.iter().position(|x| x == v);
            let mut envelope: Vec<(f64, f64)> = Vec::new();
            let mut slice: Vec<(f64, f64)> = Vec::new();
            let best_key = best.map(|b| key_without(&b.params, &[axis.as_str()]));
            for (i, v) in values.iter().enumerate() {
                let at: Vec<&&PointStat> = full
                    .iter()
                    .filter(|s| axis_value(&s.params, axis).as_ref() == Some(v))
                    .collect();
                let top = at.iter().map(|s| s.mean).filter(|m| m.is_finite()).fold(
                    f64::NAN,
                    |a, b| match (a.is_nan(), minimize) {
                        (true, _) => b,
                        (false, true) => a.min(b),
                        (false, false) => a.max(b),
                    },
                );
                if top.is_finite() {
                    envelope.push((i as f64, top));
                }
                if let Some(key) = &best_key {
                    if let Some(s) = at
                        .iter()
                        .find(|s| key_without(&s.params, &[axis.as_str()]) == *key)
                    {
                        if s.mean.is_finite() {
                            slice.push((i as f64, s.mean));
                        }
                    }
                }
            }
            let (lo, hi) = padded(envelope.iter().chain(&slice).map(|p| p.1));
            let n = values.len();
            let labels: Vec<String> = values.iter().map(|v| v.label()).collect();
            let every = n.div_ceil(12).max(1);
            let mut chart = ChartBuilder::on(area)
                .margin(10)
                .caption(axis.as_str(), ("sans-serif", 13))
                .x_label_area_size(28)
                .y_label_area_size(58)
                .build_cartesian_2d(-0.5f64..n as f64 - 0.5, lo..hi)
                .map_err(perr(PLOT))?;
            chart
                .configure_mesh()
                .disable_x_mesh()
                .x_labels(n)
                .x_label_formatter(&|x| {
                    let i = x.round();
                    if (x - i).abs() < 1e-9
                        && i >= 0.0
                        && (i as usize) < n
                        && (i as usize).is_multiple_of(every)
                    {
                        labels[i as usize].clone()
                    } else {
                        String::new()
                    }
                })
                .y_label_formatter(&|v| format!("{v:.4}"))
                .draw()
                .map_err(perr(PLOT))?;
            chart
                .draw_series(LineSeries::new(
                    envelope.iter().copied(),
                    BLUE.stroke_width(2),
                ))
                .map_err(perr(PLOT))?;
            chart
                .draw_series(envelope.iter().map(|&p| Circle::new(p, 3, BLUE.filled())))
                .map_err(perr(PLOT))?;
            chart
                .draw_series(LineSeries::new(
                    slice.iter().copied(),
                    ORANGE.stroke_width(1),
                ))
                .map_err(perr(PLOT))?;
            chart
                .draw_series(slice.iter().map(|&p| Circle::new(p, 3, ORANGE.filled())))
                .map_err(perr(PLOT))?;
            if let Some(b) = best {
                if let (Some(i), true) = (
                    axis_value(&b.params, axis).as_ref().and_then(pos),
                    b.mean.is_finite(),
                ) {
                    chart
                        .draw_series(std::iter::once(Circle::new(
                            (i as f64, b.mean),
                            7,
                            ORANGE.stroke_width(2),
                        )))
                        .map_err(perr(PLOT))?;
                }
            }
        }
        root.present().map_err(perr(PLOT))?;
    }
    Ok(svg)
}

/// `rank=64 reg_param=64 alpha=10` over `axes` (the axes that vary).
fn short_label(s: &PointStat, axes: &[String]) -> String {
    axes.iter()
        .filter_map(|a| axis_value(&s.params, a).map(|v| format!("{a}={}", v.label())))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The metric on each fold for the `top` best points scored on every fold (best
/// first): grey bar from the lowest to the highest fold, a dot per fold, a black tick
/// at the mean; the selected point in orange. Shows whether the differences between
/// the top points are larger than the fold-to-fold noise.
pub fn fold_spread_svg(
    rows: &[ResultRow],
    metric: &str,
    minimize: bool,
    best: Option<u32>,
    axes: &[String],
    top: usize,
) -> Result<String, PlotError> {
    const PLOT: &str = "fold spread";
    let stats = point_stats(rows, metric);
    let mut full: Vec<&PointStat> = complete(&stats)
        .into_iter()
        .filter(|s| s.mean.is_finite())
        .collect();
    full.sort_by(|a, b| {
        let o = if minimize {
            a.mean.total_cmp(&b.mean)
        } else {
            b.mean.total_cmp(&a.mean)
        };
        o.then(a.point.cmp(&b.point))
    });
    let best = best.or_else(|| best_complete(&stats, minimize));
    let mut shown: Vec<&PointStat> = full.iter().copied().take(top.max(1)).collect();
    if let Some(b) = best {
        if !shown.iter().any(|s| s.point == b) {
            if let Some(s) = full.iter().find(|s| s.point == b) {
                shown.insert(0, s);
                shown.truncate(top.max(1));
            }
        }
    }
    let labels: Vec<String> = shown.iter().map(|s| short_label(s, axes)).collect();
    let (lo, hi) = padded(shown.iter().flat_map(|s| s.folds.iter().map(|f| f.1)));
    let n = shown.len();
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (MAX_WIDTH * 24 / 25, 70 + 26 * n as u32))
            .into_drawing_area();
        root.fill(&WHITE).map_err(perr(PLOT))?;
        let mut chart = ChartBuilder::on(&root)
            .caption(
                format!(
                    "CV {metric} per fold of the {n} best points ({} is better)",
                    if minimize { "lower" } else { "higher" }
                ),
                ("sans-serif", 14),
            )
            .margin(10)
            .x_label_area_size(30)
            .y_label_area_size(330)
            .build_cartesian_2d(lo..hi, -0.5f64..n as f64 - 0.5)
            .map_err(perr(PLOT))?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .y_labels(n.max(1))
            .y_label_formatter(&|y| {
                let i = y.round();
                if (y - i).abs() < 1e-9 && i >= 0.0 && (i as usize) < n {
                    // Row 0 at the top.
                    labels[n - 1 - i as usize].clone()
                } else {
                    String::new()
                }
            })
            .x_label_formatter(&|v| format!("{v:.4}"))
            .x_desc(metric)
            .draw()
            .map_err(perr(PLOT))?;
        for (i, s) in shown.iter().enumerate() {
            let y = (n - 1 - i) as f64;
            let color = if Some(s.point) == best { ORANGE } else { BLUE };
            let (fmin, fmax) = s
                .folds
                .iter()
                .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), f| {
                    (a.min(f.1), b.max(f.1))
                });
            if fmin.is_finite() {
                chart
                    .draw_series(std::iter::once(PathElement::new(
                        vec![(fmin, y), (fmax, y)],
                        GREY.stroke_width(3),
                    )))
                    .map_err(perr(PLOT))?;
            }
            chart
                .draw_series(
                    s.folds
                        .iter()
                        .filter(|f| f.1.is_finite())
                        .map(|f| Circle::new((f.1, y), 3, color.filled())),
                )
                .map_err(perr(PLOT))?;
            chart
                .draw_series(std::iter::once(PathElement::new(
                    vec![(s.mean, y - 0.3), (s.mean, y + 0.3)],
                    BLACK.stroke_width(2),
                )))
                .map_err(perr(PLOT))?;
        }
        root.present().map_err(perr(PLOT))?;
    }
    Ok(svg)
}

/// The search round by round: a grey dot per point scored in the round (its mean
/// over the round's folds; points far worse than the rest are drawn at the edge) and
/// the best value after each round in orange.
pub fn search_path_svg(
    rows: &[ResultRow],
    metric: &str,
    minimize: bool,
    rounds: &[SearchRound],
) -> Result<String, PlotError> {
    const PLOT: &str = "search path";
    let stats = point_stats(rows, metric);
    let mut dots: Vec<(f64, f64)> = Vec::new();
    for (r, round) in rounds.iter().enumerate() {
        for &p in &round.scored_points {
            let Some(s) = stats.iter().find(|s| s.point == p) else {
                continue;
            };
            let vals: Vec<f64> = s
                .folds
                .iter()
                .filter(|f| round.folds.contains(&f.0))
                .map(|f| f.1)
                .collect();
            if vals.is_empty() {
                continue;
            }
            let mean = vals.iter().sum::<f64>() / vals.len() as f64;
            // A fixed spread around the round's x so equal values do not hide each other.
            let jitter = ((p as u64).wrapping_mul(2654435761) % 41) as f64 / 100.0 - 0.2;
            if mean.is_finite() {
                dots.push((r as f64 + jitter, mean));
            }
        }
    }
    let line: Vec<(f64, f64)> = rounds
        .iter()
        .enumerate()
        .filter(|(_, r)| r.best_value.is_finite())
        .map(|(i, r)| (i as f64, r.best_value))
        .collect();
    // Keep the scale on the good end: the worst 10 % of the dots sit on the edge.
    let mut sorted: Vec<f64> = dots.iter().map(|d| d.1).collect();
    sorted.sort_by(|a, b| a.total_cmp(b));
    let (lo, hi) = if sorted.is_empty() {
        padded(line.iter().map(|p| p.1))
    } else if minimize {
        let cut = sorted[(sorted.len() * 9 / 10).min(sorted.len() - 1)];
        padded(
            sorted
                .iter()
                .copied()
                .filter(|&v| v <= cut)
                .chain(line.iter().map(|p| p.1)),
        )
    } else {
        let cut = sorted[sorted.len() / 10];
        padded(
            sorted
                .iter()
                .copied()
                .filter(|&v| v >= cut)
                .chain(line.iter().map(|p| p.1)),
        )
    };
    let n = rounds.len().max(1);
    let kinds: Vec<String> = rounds
        .iter()
        .map(|r| format!("{} {}", r.round, r.kind))
        .collect();
    let mut svg = String::new();
    {
        let root =
            SVGBackend::with_string(&mut svg, (MAX_WIDTH * 24 / 25, 340)).into_drawing_area();
        root.fill(&WHITE).map_err(perr(PLOT))?;
        let mut chart = ChartBuilder::on(&root)
            .caption(
                format!(
                    "search path: mean CV {metric} of the points scored in each round \
                     (grey) and the best so far (orange)"
                ),
                ("sans-serif", 14),
            )
            .margin(12)
            .x_label_area_size(32)
            .y_label_area_size(60)
            .build_cartesian_2d(-0.5f64..n as f64 - 0.5, lo..hi)
            .map_err(perr(PLOT))?;
        let every = n.div_ceil(14).max(1);
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(n)
            .x_label_formatter(&|x| {
                let i = x.round();
                if (x - i).abs() < 1e-9
                    && i >= 0.0
                    && (i as usize) < n
                    && (i as usize).is_multiple_of(every)
                {
                    kinds.get(i as usize).cloned().unwrap_or_default()
                } else {
                    String::new()
                }
            })
            .y_label_formatter(&|v| format!("{v:.4}"))
            .draw()
            .map_err(perr(PLOT))?;
        chart
            .draw_series(
                dots.iter()
                    .map(|&(x, y)| Circle::new((x, y.clamp(lo, hi)), 2, GREY.filled())),
            )
            .map_err(perr(PLOT))?;
        chart
            .draw_series(LineSeries::new(
                line.iter().copied(),
                ORANGE.stroke_width(2),
            ))
            .map_err(perr(PLOT))?;
        chart
            .draw_series(line.iter().map(|&p| Circle::new(p, 4, ORANGE.filled())))
            .map_err(perr(PLOT))?;
        root.present().map_err(perr(PLOT))?;
    }
    Ok(svg)
}
