//! The metric over rank × alpha at the best point's other settings.

use super::{
    axis_value, best_complete, complete, distinct, fmt_num, key_without, perr, point_stats, ramp,
    AxisValue, PlotError, MAX_WIDTH,
};
use crate::results::ResultRow;
use plotters::prelude::*;

/// Left label area of a panel, its margins, and the narrowest readable cell.
const LABEL_W: u32 = 56;
const PANEL_PAD: u32 = 16;
const MIN_CELL_W: u32 = 46;
const MAX_CELL_W: u32 = 70;
const MAX_PANELS: usize = 3;

fn num(params: &alsflow_als::AlsParams, axis: &str) -> f64 {
    match axis_value(params, axis) {
        Some(AxisValue::Num(v)) => v,
        _ => f64::NAN,
    }
}

/// Heatmap of the mean CV `metric` over rank (rows) × alpha (columns) at the best
/// point's other settings (its max_iter, confidence, …): one panel for the best
/// point's reg_param and up to two for the nearest other reg_param values tried
/// there. `best` is the selected point (by default the best point scored on every
/// fold); a cell no point was tried at shows "-", the best cell is outlined. The
/// columns nearest the best alpha are kept when they would not fit [`MAX_WIDTH`].
pub fn heatmap_svg(
    rows: &[ResultRow],
    metric: &str,
    minimize: bool,
    best: Option<u32>,
) -> Result<String, PlotError> {
    const PLOT: &str = "tuning heatmap";
    let stats = point_stats(rows, metric);
    let full = complete(&stats);
    let best = best
        .or_else(|| best_complete(&stats, minimize))
        .and_then(|b| stats.iter().find(|s| s.point == b));
    // The slice: complete points equal to the best on everything but rank, alpha
    // and reg_param.
    let slice: Vec<(f64, f64, f64, f64)> = match best {
        Some(b) => {
            let key = key_without(&b.params, &["rank", "alpha", "reg_param"]);
            full.iter()
                .filter(|s| key_without(&s.params, &["rank", "alpha", "reg_param"]) == key)
                .map(|s| {
                    (
                        num(&s.params, "reg_param"),
                        num(&s.params, "rank"),
                        num(&s.params, "alpha"),
                        s.mean,
                    )
                })
                .collect()
        }
        None => Vec::new(),
    };
    let (best_reg, best_rank, best_alpha) = best.map_or((f64::NAN, f64::NAN, f64::NAN), |b| {
        (
            num(&b.params, "reg_param"),
            num(&b.params, "rank"),
            num(&b.params, "alpha"),
        )
    });
    let all_regs = distinct(slice.iter().map(|c| c.0).collect());
    let ranks = distinct(slice.iter().map(|c| c.1).collect());
    let mut alphas = distinct(slice.iter().map(|c| c.2).collect());
    // Panels: the best reg_param and its nearest neighbours, in ascending order.
    let at = all_regs.iter().position(|&r| r == best_reg).unwrap_or(0);
    let first = at
        .saturating_sub(1)
        .min(all_regs.len().saturating_sub(MAX_PANELS));
    let mut regs: Vec<f64> = all_regs
        .iter()
        .copied()
        .skip(first)
        .take(MAX_PANELS)
        .collect();
    // Fit the width: fewer panels first, then only the columns nearest the best alpha.
    let panel_w = |panels: usize, cols: usize| {
        let avail = MAX_WIDTH / panels.max(1) as u32;
        let cell = (avail.saturating_sub(LABEL_W + PANEL_PAD) / cols.max(1) as u32)
            .clamp(MIN_CELL_W, MAX_CELL_W);
        (LABEL_W + PANEL_PAD + cell * cols.max(1) as u32, cell)
    };
    while regs.len() > 1 && panel_w(regs.len(), alphas.len()).0 * regs.len() as u32 > MAX_WIDTH {
        // Drop the panel farthest from the best.
        let far = if (regs[0] - best_reg).abs() > (regs[regs.len() - 1] - best_reg).abs() {
            0
        } else {
            regs.len() - 1
        };
        regs.remove(far);
    }
    let max_cols = ((MAX_WIDTH - LABEL_W - PANEL_PAD) / MIN_CELL_W) as usize;
    if alphas.len() > max_cols {
        let centre = alphas.iter().position(|&a| a == best_alpha).unwrap_or(0);
        let start = centre
            .saturating_sub(max_cols / 2)
            .min(alphas.len() - max_cols);
        alphas = alphas[start..start + max_cols].to_vec();
    }
    let (pw, cell_w) = panel_w(regs.len(), alphas.len());
    let font = if cell_w < 56 { 11 } else { 12 };
    let shown: Vec<&(f64, f64, f64, f64)> = slice
        .iter()
        .filter(|c| regs.contains(&c.0) && alphas.contains(&c.2))
        .collect();
    let finite: Vec<f64> = shown
        .iter()
        .map(|c| c.3)
        .filter(|v| v.is_finite())
        .collect();
    let vmin = finite.iter().copied().fold(f64::INFINITY, f64::min);
    let vmax = finite.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let (w, h) = (
        pw * regs.len().max(1) as u32,
        130 + 34 * ranks.len().max(1) as u32,
    );
    let mut settings: Vec<String> = Vec::new();
    if let Some(b) = best {
        for axis in [
            "max_iter",
            "confidence",
            "eps",
            "solver",
            "reg_scaling",
            "cg_steps",
        ] {
            let varies = full
                .iter()
                .any(|s| axis_value(&s.params, axis) != axis_value(&b.params, axis));
            if varies {
                if let Some(v) = axis_value(&b.params, axis) {
                    settings.push(format!("{axis} {}", v.label()));
                }
            }
        }
    }
    let title = format!(
        "mean CV {metric} ({} is better){}",
        if minimize { "lower" } else { "higher" },
        if settings.is_empty() {
            String::new()
        } else {
            format!(" at the best point's {}", settings.join(", "))
        }
    );
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (w, h)).into_drawing_area();
        root.fill(&WHITE).map_err(perr(PLOT))?;
        let (top, body) = root.split_vertically(40);
        top.titled(&title, ("sans-serif", 14)).map_err(perr(PLOT))?;
        let panels = body.split_evenly((1, regs.len().max(1)));
        for (panel, &reg) in panels.iter().zip(&regs) {
            let mut chart = ChartBuilder::on(panel)
                .caption(format!("reg_param = {}", fmt_num(reg)), ("sans-serif", 13))
                .margin(8)
                .x_label_area_size(30)
                .y_label_area_size(LABEL_W - 16)
                .build_cartesian_2d(0f64..alphas.len() as f64, 0f64..ranks.len() as f64)
                .map_err(perr(PLOT))?;
            let (xs, ys) = (alphas.clone(), ranks.clone());
            chart
                .configure_mesh()
                .disable_mesh()
                .x_desc("alpha")
                .y_desc("rank")
                .x_labels(alphas.len() * 2 + 1)
                .y_labels(ranks.len() * 2 + 1)
                .x_label_formatter(&move |x| label_at(&xs, *x))
                .y_label_formatter(&move |y| label_at(&ys, *y))
                .draw()
                .map_err(perr(PLOT))?;
            for (yi, &rank) in ranks.iter().enumerate() {
                for (xi, &alpha) in alphas.iter().enumerate() {
                    let v = shown
                        .iter()
                        .find(|c| c.0 == reg && c.1 == rank && c.2 == alpha)
                        .map_or(f64::NAN, |c| c.3);
                    let t = if vmax > vmin {
                        (v - vmin) / (vmax - vmin)
                    } else {
                        0.5
                    };
                    let t = if minimize { 1.0 - t } else { t };
                    let (x0, y0) = (xi as f64, yi as f64);
                    let fill = if v.is_nan() {
                        RGBColor(235, 235, 235)
                    } else {
                        ramp(t)
                    };
                    chart
                        .draw_series(std::iter::once(Rectangle::new(
                            [(x0, y0), (x0 + 1.0, y0 + 1.0)],
                            fill.filled(),
                        )))
                        .map_err(perr(PLOT))?;
                    if reg == best_reg && rank == best_rank && alpha == best_alpha {
                        chart
                            .draw_series(std::iter::once(Rectangle::new(
                                [(x0 + 0.03, y0 + 0.05), (x0 + 0.97, y0 + 0.95)],
                                RGBColor(230, 85, 13).stroke_width(3),
                            )))
                            .map_err(perr(PLOT))?;
                    }
                    let text_color = if !v.is_nan() && t > 0.55 {
                        WHITE
                    } else {
                        BLACK
                    };
                    let label = if v.is_nan() {
                        "-".to_string()
                    } else {
                        format!("{v:.4}")
                    };
                    chart
                        .draw_series(std::iter::once(Text::new(
                            label,
                            (x0 + 0.1, y0 + 0.6),
                            ("sans-serif", font).into_font().color(&text_color),
                        )))
                        .map_err(perr(PLOT))?;
                }
            }
        }
        root.present().map_err(perr(PLOT))?;
    }
    Ok(svg)
}

/// Axis labels sit at cell centres (x.5); other tick positions get no label.
fn label_at(values: &[f64], x: f64) -> String {
    let i = x.floor();
    if (x - i - 0.5).abs() < 1e-9 && i >= 0.0 && (i as usize) < values.len() {
        fmt_num(values[i as usize])
    } else {
        String::new()
    }
}
