//! The metric against max_iter, one line per rank.

use super::{better, distinct, fmt_num, perr, PlotError};
use crate::results::{mean_by_point, ResultRow};
use alsflow_metrics::Metrics;
use plotters::prelude::*;

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
