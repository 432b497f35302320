//! The report's tuning section: how the search went (strategy, fits against the full
//! grid, why it stopped, the rounds), its edge warnings, the selected point's
//! fold-to-fold spread, and the plots: the search path, the metric along each axis,
//! the best points' per-fold values and the rank × alpha heatmap at the selected
//! point's other settings.

use crate::report::{escape, figure};
use alsflow_core::StageError;
use alsflow_formats::plots;
use alsflow_formats::results::ResultRow;
use alsflow_formats::search::SearchSummary;
use std::fmt::Write as _;

/// How many of the best points the fold-spread plot shows.
const SPREAD_POINTS: usize = 10;

fn plot_err(e: plots::PlotError) -> StageError {
    StageError::other(e.to_string())
}

/// The tuning section for `rows` (tune.results) and, when tune wrote it,
/// `search` (tune.search). Empty when there are no rows.
pub fn section(rows: &[ResultRow], search: Option<&SearchSummary>) -> Result<String, StageError> {
    if rows.is_empty() {
        return Ok(String::new());
    }
    let mut h = String::from("<h2>Tuning</h2>\n");
    let Some(s) = search else {
        // A results table without its search account: the heatmap by ROEM alone.
        let svg = plots::heatmap_svg(rows, "roem", true, None).map_err(plot_err)?;
        h.push_str(&figure(
            "heatmap",
            &svg,
            "Mean cross-validated ROEM per rank and alpha at the best point's other settings (darker is better).",
        ));
        return Ok(h);
    };
    let minimize = s.direction == "minimize";
    let best = Some(s.best.point);
    let _ = write!(
        h,
        "<table>\n<tr><th class=\"t\">search</th><td class=\"t\">{}</td></tr>\n\
         <tr><th class=\"t\">selection</th><td class=\"t\">mean {} over {} folds ({})</td></tr>\n\
         <tr><th class=\"t\">points tried</th><td class=\"t\">{}</td></tr>\n\
         <tr><th class=\"t\">fits</th><td class=\"t\">{} (the grid alone: {}; {:.0}%)</td></tr>\n\
         <tr><th class=\"t\">stopped</th><td class=\"t\">{}</td></tr>\n\
         <tr><th class=\"t\">selected point</th><td class=\"t\">{}</td></tr>\n\
         <tr><th class=\"t\">mean ± fold std</th><td class=\"t\">{:.4} ± {:.4}</td></tr>\n\
         <tr><th class=\"t\">per fold</th><td class=\"t\">{}</td></tr>\n</table>\n",
        escape(&s.strategy),
        escape(&s.metric),
        s.folds,
        escape(&s.direction),
        s.points_tried,
        s.fits,
        s.grid_fits,
        100.0 * s.fits as f64 / s.grid_fits.max(1) as f64,
        escape(&s.stopped),
        escape(&s.best.label),
        s.best.mean,
        s.best.std,
        s.best
            .fold_values
            .iter()
            .map(|v| format!("{v:.4}"))
            .collect::<Vec<_>>()
            .join(", "),
    );
    if s.warnings.is_empty() {
        h.push_str("<p>The selected point is interior on every searched axis.</p>\n");
    } else {
        h.push_str("<div class=\"warn\"><strong>Edge warnings</strong><ul>\n");
        for w in &s.warnings {
            let _ = writeln!(h, "<li>{}</li>", escape(w));
        }
        h.push_str("</ul></div>\n");
    }
    h.push_str(
        "<h3>Search path</h3>\n<table>\n<tr><th>round</th><th class=\"t\">kind</th>\
         <th class=\"t\">what and why</th><th>new points</th><th>fits</th>\
         <th class=\"t\">best after the round</th><th>mean</th></tr>\n",
    );
    for r in &s.rounds {
        let _ = writeln!(
            h,
            "<tr><td>{}</td><td class=\"t\">{}</td><td class=\"t\">{}</td><td>{}</td><td>{}</td>\
             <td class=\"t\">{}</td><td>{:.4}</td></tr>",
            r.round,
            escape(&r.kind),
            escape(&r.reason),
            r.new_points.len(),
            r.fits,
            escape(&r.best_label),
            r.best_value
        );
    }
    h.push_str("</table>\n");
    let svg = plots::search_path_svg(rows, &s.metric, minimize, &s.rounds).map_err(plot_err)?;
    h.push_str(&figure(
        "search_path",
        &svg,
        "Each round's points (grey, mean over the round's folds) and the best point so far (orange).",
    ));
    let svg = plots::marginals_svg(rows, &s.metric, minimize, best, &s.axes).map_err(plot_err)?;
    h.push_str(&figure(
        "marginals",
        &svg,
        "The metric along each searched axis: the best over every other setting (blue) and the slice through the selected point (orange).",
    ));
    let svg = plots::fold_spread_svg(rows, &s.metric, minimize, best, &s.axes, SPREAD_POINTS)
        .map_err(plot_err)?;
    h.push_str(&figure(
        "fold_spread",
        &svg,
        "The metric on each validation fold for the best points: differences smaller than the bars are within fold noise.",
    ));
    let svg = plots::heatmap_svg(rows, &s.metric, minimize, best).map_err(plot_err)?;
    h.push_str(&figure(
        "heatmap",
        &svg,
        "Mean cross-validated metric per rank and alpha at the selected point's other settings (darker is better; the selected cell is outlined; '-': not tried).",
    ));
    Ok(h)
}
