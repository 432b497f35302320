//! SVG plots of the tuning results (plotters' SVG backend; the text is laid out with
//! plotters' built-in size estimate, so no font files are read and the bytes are
//! deterministic).

use crate::results::{mean_by_point, ResultRow};
use alsflow_metrics::Metrics;
use plotters::prelude::*;

/// A plot could not be drawn.
#[derive(Debug, thiserror::Error)]
#[error("cannot draw {plot}: {message}")]
pub struct PlotError {
    /// Which plot.
    pub plot: &'static str,
    /// What went wrong.
    pub message: String,
}

fn perr<E: std::fmt::Display>(plot: &'static str) -> impl Fn(E) -> PlotError {
    move |e| PlotError {
        plot,
        message: e.to_string(),
    }
}

/// Distinct values, sorted, of a float key (compared exactly).
fn distinct(mut v: Vec<f64>) -> Vec<f64> {
    v.sort_by(|a, b| a.total_cmp(b));
    v.dedup();
    v
}

fn fmt_num(v: f64) -> String {
    if v == v.trunc() && v.abs() < 1e9 {
        format!("{}", v as i64)
    } else {
        format!("{}", (v as f32))
    }
}

/// The better of two metric values (`minimize` for ROEM); NaN never wins.
fn better(a: f64, b: f64, minimize: bool) -> f64 {
    match (a.is_nan(), b.is_nan()) {
        (true, _) => b,
        (_, true) => a,
        _ if minimize => a.min(b),
        _ => a.max(b),
    }
}

/// Colour of `t` in [0, 1] on a light-to-dark blue ramp (dark = better).
fn ramp(t: f64) -> RGBColor {
    let t = if t.is_nan() { 0.0 } else { t.clamp(0.0, 1.0) };
    let lerp = |a: f64, b: f64| (a + (b - a) * t).round() as u8;
    RGBColor(lerp(247.0, 8.0), lerp(251.0, 48.0), lerp(255.0, 107.0))
}

/// Heatmap of the mean CV `metric` over rank (rows) × alpha (columns), one panel per
/// reg_param, at the largest max_iter; other axes take their best value per cell.
pub fn heatmap_svg(rows: &[ResultRow], metric: &str) -> Result<String, PlotError> {
    const PLOT: &str = "tuning heatmap";
    let minimize = !Metrics::higher_is_better(metric);
    let means = mean_by_point(rows);
    let top_iter = means
        .iter()
        .map(|(r, _)| r.params.max_iter)
        .max()
        .unwrap_or(0);
    let at_top: Vec<(&ResultRow, f64)> = means
        .iter()
        .filter(|(r, _)| r.params.max_iter == top_iter)
        .map(|(r, m)| (r, m.get(metric).unwrap_or(f64::NAN)))
        .collect();
    let regs = distinct(
        at_top
            .iter()
            .map(|(r, _)| r.params.reg_param as f64)
            .collect(),
    );
    let ranks = distinct(at_top.iter().map(|(r, _)| r.params.rank as f64).collect());
    let alphas = distinct(at_top.iter().map(|(r, _)| r.params.alpha as f64).collect());
    let finite: Vec<f64> = at_top
        .iter()
        .map(|x| x.1)
        .filter(|v| v.is_finite())
        .collect();
    let lo = finite.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = finite.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let panel_w = 90 + 70 * alphas.len().max(1) as u32;
    let (w, h) = (
        panel_w * regs.len().max(1) as u32,
        130 + 40 * ranks.len().max(1) as u32,
    );
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (w, h)).into_drawing_area();
        root.fill(&WHITE).map_err(perr(PLOT))?;
        let (title, body) = root.split_vertically(40);
        title
            .titled(
                &format!(
                    "mean CV {metric} at max_iter {top_iter} ({} is better)",
                    if minimize { "lower" } else { "higher" }
                ),
                ("sans-serif", 16),
            )
            .map_err(perr(PLOT))?;
        let panels = body.split_evenly((1, regs.len().max(1)));
        for (panel, &reg) in panels.iter().zip(&regs) {
            let mut chart = ChartBuilder::on(panel)
                .caption(format!("reg_param = {}", fmt_num(reg)), ("sans-serif", 14))
                .margin(8)
                .x_label_area_size(30)
                .y_label_area_size(40)
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
                    let v = at_top
                        .iter()
                        .filter(|(r, _)| {
                            r.params.reg_param as f64 == reg
                                && r.params.rank as f64 == rank
                                && r.params.alpha as f64 == alpha
                        })
                        .map(|x| x.1)
                        .fold(f64::NAN, |a, b| better(a, b, minimize));
                    let t = if hi > lo { (v - lo) / (hi - lo) } else { 0.5 };
                    let t = if minimize { 1.0 - t } else { t };
                    let (x0, y0) = (xi as f64, yi as f64);
                    chart
                        .draw_series(std::iter::once(Rectangle::new(
                            [(x0, y0), (x0 + 1.0, y0 + 1.0)],
                            ramp(t).filled(),
                        )))
                        .map_err(perr(PLOT))?;
                    let text_color = if t > 0.55 { WHITE } else { BLACK };
                    let label = if v.is_nan() {
                        "-".to_string()
                    } else {
                        format!("{v:.4}")
                    };
                    chart
                        .draw_series(std::iter::once(Text::new(
                            label,
                            (x0 + 0.12, y0 + 0.6),
                            ("sans-serif", 12).into_font().color(&text_color),
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

/// Mean CV `metric` against max_iter, one line per rank (each point: the best
/// value over the other axes at that rank and max_iter).
pub fn metric_vs_iter_svg(rows: &[ResultRow], metric: &str) -> Result<String, PlotError> {
    const PLOT: &str = "metric vs max_iter";
    let minimize = !Metrics::higher_is_better(metric);
    let means = mean_by_point(rows);
    let ranks = distinct(means.iter().map(|(r, _)| r.params.rank as f64).collect());
    let iters = distinct(
        means
            .iter()
            .map(|(r, _)| r.params.max_iter as f64)
            .collect(),
    );
    let mut lines: Vec<(f64, Vec<(f64, f64)>)> = Vec::new();
    for &rank in &ranks {
        let mut pts = Vec::new();
        for &it in &iters {
            let v = means
                .iter()
                .filter(|(r, _)| r.params.rank as f64 == rank && r.params.max_iter as f64 == it)
                .map(|(_, m)| m.get(metric).unwrap_or(f64::NAN))
                .fold(f64::NAN, |a, b| better(a, b, minimize));
            if v.is_finite() {
                pts.push((it, v));
            }
        }
        lines.push((rank, pts));
    }
    let all: Vec<f64> = lines
        .iter()
        .flat_map(|(_, p)| p.iter().map(|x| x.1))
        .collect();
    let (mut lo, mut hi) = (
        all.iter().copied().fold(f64::INFINITY, f64::min),
        all.iter().copied().fold(f64::NEG_INFINITY, f64::max),
    );
    if !lo.is_finite() {
        (lo, hi) = (0.0, 1.0);
    }
    let pad = ((hi - lo) * 0.1).max(1e-4);
    let (x0, x1) = (
        iters.first().copied().unwrap_or(0.0),
        iters.last().copied().unwrap_or(1.0),
    );
    let x1 = if x1 > x0 { x1 } else { x0 + 1.0 };
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (640, 400)).into_drawing_area();
        root.fill(&WHITE).map_err(perr(PLOT))?;
        let mut chart = ChartBuilder::on(&root)
            .caption(
                format!("mean CV {metric} vs max_iter (best over other axes)"),
                ("sans-serif", 16),
            )
            .margin(12)
            .x_label_area_size(35)
            .y_label_area_size(60)
            .build_cartesian_2d(x0..x1, (lo - pad)..(hi + pad))
            .map_err(perr(PLOT))?;
        chart
            .configure_mesh()
            .x_desc("max_iter")
            .y_desc(metric)
            .y_label_formatter(&|v| format!("{v:.4}"))
            .draw()
            .map_err(perr(PLOT))?;
        for (n, (rank, pts)) in lines.iter().enumerate() {
            let color = Palette99::pick(n).to_rgba();
            chart
                .draw_series(LineSeries::new(pts.iter().copied(), color.stroke_width(2)))
                .map_err(perr(PLOT))?
                .label(format!("rank {}", fmt_num(*rank)))
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
                });
            chart
                .draw_series(pts.iter().map(|&p| Circle::new(p, 3, color.filled())))
                .map_err(perr(PLOT))?;
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()
            .map_err(perr(PLOT))?;
        root.present().map_err(perr(PLOT))?;
    }
    Ok(svg)
}
