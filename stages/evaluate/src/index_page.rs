//! The report's index page (`<DIR>/index.html`): the summary a reader opens first.
//! Per dataset: the model's test metrics beside the baselines (the best value of each
//! metric marked), the chosen parameters (tuned ones marked), warnings, when it ran,
//! and the link to the dataset's page. Like [`crate::history`], it is rendered from
//! data the caller gathers.

use crate::report::escape;
use alsflow_metrics::Metrics;
use std::fmt::Write as _;

/// What the index shows of one dataset.
#[derive(Clone, Debug, PartialEq)]
pub struct DatasetSummary {
    /// The dataset's name.
    pub dataset: String,
    /// The link to its page, relative to the index (`movielens/index.html`).
    pub link: String,
    /// When the run shown ran, and which run it was, as displayed.
    pub ran: String,
    /// (system, [(metric, value)]) in table order, the model first.
    pub systems: Vec<(String, Vec<(String, f64)>)>,
    /// The final model's params: (name, value as displayed, chosen by the search).
    pub params: Vec<(String, String, bool)>,
    /// Where the params came from (`tune.best_params`, `[train]`).
    pub params_from: Option<String>,
    /// What the reader should know.
    pub warnings: Vec<String>,
}

/// The whole index page.
pub fn index_page(datasets: &[DatasetSummary]) -> String {
    let mut h = String::new();
    h.push_str(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <title>alsflow reports</title>\n<style>\n\
         body{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}\n\
         table{border-collapse:collapse;margin:.5em 0 1em}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}\n\
         td.t,th.t{text-align:left}.best{font-weight:bold;background:#e5f5e0}\n\
         .warn{color:#a63603}.meta{color:#555}section.dataset{border-top:2px solid #ddd;margin-top:1.5em}\n\
         </style>\n</head>\n<body>\n<h1>alsflow reports</h1>\n",
    );
    if datasets.is_empty() {
        h.push_str("<p>No dataset has an evaluated run yet.</p>\n");
    }
    for d in datasets {
        let _ = writeln!(
            h,
            "<section class=\"dataset\" id=\"{id}\">\n<h2><a href=\"{link}\">{name}</a></h2>\n\
             <p class=\"meta\">{ran} · <a href=\"{link}\">full report</a></p>",
            id = escape(&d.dataset),
            link = escape(&d.link),
            name = escape(&d.dataset),
            ran = escape(&d.ran),
        );
        metrics_table(&mut h, &d.systems);
        if !d.params.is_empty() {
            let list: Vec<String> = d
                .params
                .iter()
                .map(|(n, v, tuned)| {
                    format!(
                        "{} = {}{}",
                        escape(n),
                        escape(v),
                        if *tuned { "*" } else { "" }
                    )
                })
                .collect();
            let from = d
                .params_from
                .as_deref()
                .map(|f| format!(" (from {})", escape(f)))
                .unwrap_or_default();
            let _ = writeln!(
                h,
                "<p><b>Parameters</b>{from}: {} <span class=\"meta\">(* chosen by the tune search)</span></p>",
                list.join(", ")
            );
        }
        if d.warnings.is_empty() {
            h.push_str("<p class=\"meta\">No warnings.</p>\n");
        } else {
            h.push_str("<ul class=\"warn\">\n");
            for w in &d.warnings {
                let _ = writeln!(h, "<li>warning: {}</li>", escape(w));
            }
            h.push_str("</ul>\n");
        }
        h.push_str("</section>\n");
    }
    h.push_str("</body>\n</html>\n");
    h
}

/// Systems as rows, metrics as columns; each column's best value in bold.
fn metrics_table(h: &mut String, systems: &[(String, Vec<(String, f64)>)]) {
    let Some((_, first)) = systems.first() else {
        h.push_str("<p class=\"warn\">No test metrics.</p>\n");
        return;
    };
    let names: Vec<&String> = first.iter().map(|(n, _)| n).collect();
    let value = |s: &[(String, f64)], n: &str| {
        s.iter()
            .find(|(m, _)| m == n)
            .map(|(_, v)| *v)
            .filter(|v| v.is_finite())
    };
    let best: Vec<Option<f64>> = names
        .iter()
        .map(|n| {
            let vals = systems.iter().filter_map(|(_, s)| value(s, n));
            if Metrics::higher_is_better(n) {
                vals.reduce(f64::max)
            } else {
                vals.reduce(f64::min)
            }
        })
        .collect();
    h.push_str("<table>\n<tr><th class=\"t\">test metrics</th>");
    for n in &names {
        let _ = write!(h, "<th>{}</th>", escape(n));
    }
    h.push_str("</tr>\n");
    for (system, s) in systems {
        let _ = write!(h, "<tr><td class=\"t\">{}</td>", escape(system));
        for (n, b) in names.iter().zip(&best) {
            match value(s, n) {
                Some(v) if Some(v) == *b => {
                    let _ = write!(h, "<td class=\"best\">{v:.4}</td>");
                }
                Some(v) => {
                    let _ = write!(h, "<td>{v:.4}</td>");
                }
                None => h.push_str("<td>-</td>"),
            }
        }
        h.push_str("</tr>\n");
    }
    h.push_str(
        "</table>\n<p class=\"meta\">ROEM: lower is better; the others: higher is better.</p>\n",
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_index_shows_metrics_beside_baselines_params_warnings_and_the_link() {
        let d = DatasetSummary {
            dataset: "movielens".into(),
            link: "movielens/index.html".into(),
            ran: "2025-05-01 12:00:00 UTC, run 1a2b3c4d5e6f".into(),
            systems: vec![
                (
                    "model".into(),
                    vec![("roem".into(), 0.09), ("precision@10".into(), 0.2)],
                ),
                (
                    "popularity".into(),
                    vec![("roem".into(), 0.3), ("precision@10".into(), 0.25)],
                ),
            ],
            params: vec![
                ("rank".into(), "10".into(), true),
                ("alpha".into(), "40".into(), false),
            ],
            params_from: Some("tune.best_params".into()),
            warnings: vec!["the model does not beat <popularity>".into()],
        };
        let html = index_page(&[d]);
        assert!(html.contains("<a href=\"movielens/index.html\">movielens</a>"));
        // Lower ROEM is the model's, higher P@10 the baseline's.
        assert!(html.contains(
            "<tr><td class=\"t\">model</td><td class=\"best\">0.0900</td><td>0.2000</td></tr>"
        ));
        assert!(html.contains(
            "<td class=\"t\">popularity</td><td>0.3000</td><td class=\"best\">0.2500</td>"
        ));
        assert!(html.contains("rank = 10*, alpha = 40"));
        assert!(html.contains("(from tune.best_params)"));
        assert!(html.contains("warning: the model does not beat &lt;popularity&gt;"));
        assert!(html.contains("2025-05-01 12:00:00 UTC, run 1a2b3c4d5e6f"));
    }
}
