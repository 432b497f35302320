//! The report's "History" section: the last runs of a dataset in a table, and a plot
//! of the selection metric and P@k across them (oldest left). The stored report of an
//! evaluate run cannot know later runs, so this section is rendered when the report
//! is written out ([`crate::report::write_report_dir_with`]), from data the caller
//! gathers; it names no store or runner type.

use crate::report::escape;
use crate::EvaluateError;
use plotters::prelude::*;
use std::fmt::Write as _;

/// Runs listed in the table (the plot shows up to [`PLOTTED_RUNS`]).
pub const LISTED_RUNS: usize = 15;

/// Runs drawn in the plot.
pub const PLOTTED_RUNS: usize = 50;

/// One run of the history.
#[derive(Clone, Debug, PartialEq)]
pub struct HistoryRun {
    /// Its short id.
    pub id: String,
    /// Its name (`alsflow run --name`), if any.
    pub name: Option<String>,
    /// When it started, as displayed (`2025-05-01 12:00:00 UTC`).
    pub started: String,
    /// The final model's params, as displayed (`rank 8*, alpha 40, …`).
    pub params: String,
    /// The model's test metrics, in table order (`roem`, `precision@10`, …).
    pub metrics: Vec<(String, f64)>,
    /// True for the run whose results the page shows.
    pub current: bool,
}

impl HistoryRun {
    fn metric(&self, name: &str) -> Option<f64> {
        self.metrics
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| *v)
            .filter(|v| v.is_finite())
    }
}

/// A dataset's runs, newest first, and what to plot.
#[derive(Clone, Debug, PartialEq)]
pub struct History {
    /// The runs, newest first.
    pub runs: Vec<HistoryRun>,
    /// The metric the tune search selects by (plotted with `precision@k`).
    pub selection_metric: String,
    /// The `@k` cut-off.
    pub k: usize,
}

/// The HTML of the section: heading, table, and the plot as an inline
/// `<figure class="plot" data-name="history">` (moved to `history.svg` when the
/// report is written out).
pub fn history_section(h: &History) -> Result<String, EvaluateError> {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "<section id=\"history\">\n<h2>History</h2>\n<p>The last runs of this dataset \
         (newest first; {} in all). Params marked * were chosen by the tune search; \
         metrics are the model's on the test split.</p>",
        h.runs.len()
    );
    let names = columns(h);
    out.push_str("<table>\n<tr><th class=\"t\">run</th><th class=\"t\">started</th><th class=\"t\">params</th>");
    for n in &names {
        let _ = write!(out, "<th>{}</th>", escape(n));
    }
    out.push_str("</tr>\n");
    for r in h.runs.iter().take(LISTED_RUNS) {
        let label = match &r.name {
            Some(n) => format!("{} <span class=\"id\">{}</span>", escape(n), escape(&r.id)),
            None => escape(&r.id),
        };
        let _ = write!(
            out,
            "<tr{}><td class=\"t\">{label}{}</td><td class=\"t\">{}</td><td class=\"t\">{}</td>",
            if r.current { " class=\"hit\"" } else { "" },
            if r.current { " (this page)" } else { "" },
            escape(&r.started),
            escape(&r.params)
        );
        for n in &names {
            match r.metric(n) {
                Some(v) => {
                    let _ = write!(out, "<td>{v:.4}</td>");
                }
                None => out.push_str("<td>-</td>"),
            }
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</table>\n");
    let svg = history_svg(h).map_err(|message| EvaluateError::Input {
        what: "history plot".into(),
        message,
    })?;
    let _ = writeln!(
        out,
        "<figure class=\"plot\" data-name=\"history\">\n{}\n<figcaption>Test {} and \
         precision@{} of the last {} runs, oldest left.</figcaption></figure>\n</section>",
        svg.trim(),
        escape(&h.selection_metric),
        h.k,
        h.runs.len().min(PLOTTED_RUNS)
    );
    Ok(out)
}

/// The table's metric columns: the selection metric, P@k, NDCG@k, AUC (no repeats).
fn columns(h: &History) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for n in [
        h.selection_metric.clone(),
        "roem".to_string(),
        format!("precision@{}", h.k),
        format!("ndcg@{}", h.k),
        "auc".to_string(),
    ] {
        if !out.contains(&n) {
            out.push(n);
        }
    }
    out
}

/// The plot's series: the selection metric and P@k (once if they are the same).
fn plotted(h: &History) -> Vec<String> {
    let p = format!("precision@{}", h.k);
    if h.selection_metric == p {
        vec![p]
    } else {
        vec![h.selection_metric.clone(), p]
    }
}

/// Lines over the run number (1 = oldest plotted); at most 960 px wide so the page's
/// 1100 px column holds it.
fn history_svg(h: &History) -> Result<String, String> {
    let runs: Vec<&HistoryRun> = h.runs.iter().take(PLOTTED_RUNS).rev().collect();
    let series = plotted(h);
    let values: Vec<f64> = runs
        .iter()
        .flat_map(|r| series.iter().filter_map(|s| r.metric(s)))
        .collect();
    let top = values.iter().copied().fold(0.0f64, f64::max);
    // Head room above the highest point keeps the legend (upper right) off the lines.
    let top = if top > 0.0 { top * 1.45 } else { 1.0 };
    let n = runs.len().max(1) as f64;
    let colors = [RGBColor(49, 130, 189), RGBColor(230, 85, 13)];
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (960, 320)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let mut chart = ChartBuilder::on(&root)
            .caption(
                format!("{} across runs", series.join(" and ")),
                ("sans-serif", 16),
            )
            .margin(12)
            .x_label_area_size(35)
            .y_label_area_size(55)
            .build_cartesian_2d(0.5f64..n + 0.5, 0f64..top)
            .map_err(|e| e.to_string())?;
        let ids: Vec<String> = runs
            .iter()
            .map(|r| r.id.chars().take(6).collect())
            .collect();
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_desc("run (oldest → newest)")
            .x_labels(runs.len().clamp(2, 12))
            .x_label_formatter(&|x| {
                let i = x.round();
                if (x - i).abs() < 1e-6 && i >= 1.0 && i as usize <= ids.len() {
                    ids[i as usize - 1].clone()
                } else {
                    String::new()
                }
            })
            .y_label_formatter(&|v| format!("{v:.3}"))
            .draw()
            .map_err(|e| e.to_string())?;
        for (c, name) in series.iter().enumerate() {
            let color = colors[c % colors.len()];
            let pts: Vec<(f64, f64)> = runs
                .iter()
                .enumerate()
                .filter_map(|(i, r)| r.metric(name).map(|v| (i as f64 + 1.0, v)))
                .collect();
            chart
                .draw_series(LineSeries::new(pts.clone(), color.stroke_width(2)))
                .map_err(|e| e.to_string())?
                .label(name.clone())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
                });
            chart
                .draw_series(pts.into_iter().map(|p| Circle::new(p, 4, color.filled())))
                .map_err(|e| e.to_string())?;
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()
            .map_err(|e| e.to_string())?;
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(svg)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(id: &str, roem: f64, p10: f64, current: bool) -> HistoryRun {
        HistoryRun {
            id: id.into(),
            name: (id == "bbbbbbbbbbbb").then(|| "log <confidence>".to_string()),
            started: "2025-05-01 12:00:00 UTC".into(),
            params: "rank 8*, alpha 40".into(),
            metrics: vec![
                ("roem".into(), roem),
                ("precision@10".into(), p10),
                ("ndcg@10".into(), f64::NAN),
            ],
            current,
        }
    }

    #[test]
    fn the_section_lists_runs_newest_first_and_plots_both_metrics() {
        let h = History {
            runs: vec![
                run("cccccccccccc", 0.08, 0.21, true),
                run("bbbbbbbbbbbb", 0.09, 0.18, false),
                run("aaaaaaaaaaaa", 0.10, 0.15, false),
            ],
            selection_metric: "roem".into(),
            k: 10,
        };
        let html = history_section(&h).unwrap();
        let at = |s: &str| html.find(s).unwrap_or_else(|| panic!("{s} missing"));
        assert!(at("cccccccccccc") < at("bbbbbbbbbbbb") && at("bbbbbbbbbbbb") < at("aaaaaaaaaaaa"));
        // Names are escaped; a metric that is not a number shows as "-".
        assert!(html.contains("log &lt;confidence&gt;"));
        assert!(html.contains("<td>0.0800</td><td>0.2100</td><td>-</td><td>-</td>"));
        assert!(html.contains("(this page)"));
        let svg = &html[at("<svg")..at("</svg>")];
        assert!(svg.contains("roem and precision@10 across runs"));
        // Two series of three points each.
        assert_eq!(svg.matches("<circle").count(), 6);
        assert!(svg.contains("width=\"960\""));
    }

    #[test]
    fn one_run_and_a_precision_selection_metric_still_plot() {
        let h = History {
            runs: vec![run("aaaaaaaaaaaa", 0.1, 0.2, true)],
            selection_metric: "precision@10".into(),
            k: 10,
        };
        let html = history_section(&h).unwrap();
        assert_eq!(html.matches("<circle").count(), 1);
        assert_eq!(html.matches("<th>precision@10</th>").count(), 1);
    }
}
