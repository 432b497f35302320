//! The HTML report: one self-contained document with inline SVGs (dataset summary,
//! the tuning section when tune ran ([`crate::tuning`]), metrics against the baselines, and a few users'
//! training histories next to their recommendations, with titles when known).
//!
//! Layout on disk ([`write_report_dir`]): `index.html` plus each figure as its own
//! `.svg` file, referenced by `<img src=...>`, so the figures can be reused; the
//! stored `report` artifact keeps them inline so it is one file.

use crate::recs::{user_recommendations, ItemEntry};
use crate::{EvaluateError, Evaluation, Params};
use alsflow_als::{AlsModel, InteractionMatrix};
use alsflow_core::table::{IdMap, Interactions};
use alsflow_core::StageError;
use alsflow_formats::results::ResultRow;
use alsflow_formats::search::SearchSummary;
use plotters::prelude::*;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Everything the report shows.
pub struct ReportInputs<'a> {
    /// Dataset name.
    pub dataset: &'a str,
    /// The stage params.
    pub params: &'a Params,
    /// The trained model.
    pub model: &'a AlsModel,
    /// Training rows.
    pub train: &'a Interactions,
    /// Test rows.
    pub test: &'a Interactions,
    /// All preprocessed interactions.
    pub all: &'a Interactions,
    /// User id map.
    pub users: &'a IdMap,
    /// Item id map (titles).
    pub items: &'a IdMap,
    /// The metrics.
    pub eval: &'a Evaluation,
    /// Tuning results when tune ran.
    pub tune_rows: Option<&'a [ResultRow]>,
    /// How the search went, when tune ran.
    pub tune_search: Option<&'a SearchSummary>,
}

/// Escape text for HTML element content and attribute values.
pub fn escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

fn plot_err(what: &str) -> impl Fn(String) -> StageError + '_ {
    move |m| StageError::other(format!("cannot draw {what}: {m}"))
}

/// Histogram of training interactions per user (log2 buckets).
fn activity_svg(train: &Interactions) -> Result<String, String> {
    let mut per_user = vec![0u64; train.n_users as usize];
    for &u in &train.user {
        per_user[u as usize] += 1;
    }
    let mut buckets = vec![0u64; 1];
    for &c in per_user.iter().filter(|&&c| c > 0) {
        let b = 64 - c.leading_zeros() as usize - 1; // floor(log2 c)
        if buckets.len() <= b {
            buckets.resize(b + 1, 0);
        }
        buckets[b] += 1;
    }
    let top = buckets.iter().copied().max().unwrap_or(1).max(1);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (560, 300)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let mut chart = ChartBuilder::on(&root)
            .caption("users by training interactions", ("sans-serif", 16))
            .margin(10)
            .x_label_area_size(35)
            .y_label_area_size(50)
            .build_cartesian_2d(0u32..buckets.len() as u32, 0u64..top + top / 10 + 1)
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_desc("interactions (from)")
            .y_desc("users")
            .x_labels(buckets.len())
            .x_label_formatter(&|b| format!("{}", 1u64 << b))
            .draw()
            .map_err(|e| e.to_string())?;
        chart
            .draw_series(buckets.iter().enumerate().map(|(b, &n)| {
                let b = b as u32;
                let mut r = Rectangle::new([(b, 0), (b + 1, n)], RGBColor(49, 130, 189).filled());
                r.set_margin(0, 0, 3, 3);
                r
            }))
            .map_err(|e| e.to_string())?;
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(svg)
}

/// Grouped bars: each metric (x) for model / popularity / random.
fn metrics_svg(eval: &Evaluation) -> Result<String, String> {
    let names: Vec<String> = eval.systems[0]
        .1
        .named()
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    let colors = [
        RGBColor(49, 130, 189),
        RGBColor(253, 141, 60),
        RGBColor(150, 150, 150),
    ];
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (760, 340)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let n_sys = eval.systems.len() as u32;
        let slot = n_sys + 1;
        let mut chart = ChartBuilder::on(&root)
            .caption(
                "test metrics: model vs baselines (ROEM: lower is better)",
                ("sans-serif", 16),
            )
            .margin(10)
            .x_label_area_size(35)
            .y_label_area_size(45)
            .build_cartesian_2d(0u32..names.len() as u32 * slot, 0f64..1.0)
            .map_err(|e| e.to_string())?;
        let labels = names.clone();
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(names.len() * slot as usize)
            .x_label_formatter(&move |x| {
                if x % slot == 1 {
                    labels.get((x / slot) as usize).cloned().unwrap_or_default()
                } else {
                    String::new()
                }
            })
            .draw()
            .map_err(|e| e.to_string())?;
        for (s, (sys, m)) in eval.systems.iter().enumerate() {
            let color = colors[s % colors.len()];
            let bars: Vec<(u32, f64)> = m
                .named()
                .iter()
                .enumerate()
                .map(|(n, (_, v))| {
                    (
                        n as u32 * slot + s as u32,
                        if v.is_finite() {
                            v.clamp(0.0, 1.0)
                        } else {
                            0.0
                        },
                    )
                })
                .collect();
            chart
                .draw_series(bars.into_iter().map(move |(x, v)| {
                    let mut r = Rectangle::new([(x, 0.0), (x + 1, v)], color.filled());
                    r.set_margin(0, 0, 1, 1);
                    r
                }))
                .map_err(|e| e.to_string())?
                .label(sys.clone())
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 5), (x + 12, y + 5)], color.filled())
                });
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

/// A figure with an inline SVG, named for [`write_report_dir`].
pub(crate) fn figure(name: &str, svg: &str, caption: &str) -> String {
    format!(
        "<figure class=\"plot\" data-name=\"{}\">\n{}\n<figcaption>{}</figcaption></figure>\n",
        escape(name),
        svg.trim(),
        escape(caption)
    )
}

fn item_cell(e: &ItemEntry) -> String {
    match &e.title {
        Some(t) => format!(
            "{} <span class=\"id\">({})</span>",
            escape(t),
            escape(&e.item)
        ),
        None => escape(&e.item),
    }
}

/// Users shown in the report: evenly spaced among the evaluated users (deterministic).
fn report_users(eval: &Evaluation, n: usize) -> Vec<u32> {
    let users = eval.set.evaluated_users();
    if users.is_empty() || n == 0 {
        return Vec::new();
    }
    let n = n.min(users.len());
    (0..n).map(|j| users[j * users.len() / n]).collect()
}

/// Render the report.
pub fn render(r: &ReportInputs<'_>) -> Result<String, StageError> {
    let k = r.params.k;
    let mut h = String::new();
    let title = format!("alsflow report: {}", r.dataset);
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>{}</title>\n<style>\n\
         body{{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}}\n\
         table{{border-collapse:collapse;margin:1em 0}}td,th{{border:1px solid #ccc;padding:3px 8px;text-align:right}}\n\
         td.t,th.t{{text-align:left}}.id{{color:#888;font-size:85%}}.hit{{background:#e5f5e0}}\n\
         figure{{margin:1em 0}}figure svg,figure img{{max-width:100%;height:auto}}\n\
         .users{{display:flex;gap:2em;flex-wrap:wrap}}\n\
         .warn{{background:#fff4e5;border-left:4px solid #e6550d;padding:.3em 1em;margin:1em 0}}\n</style>\n</head>\n<body>\n<h1>{}</h1>\n",
        escape(&title),
        escape(&title)
    );

    // Dataset summary.
    let catalog = r.eval.set.catalog_size();
    let density = r.all.len() as f64 / (r.all.n_users as f64 * r.all.n_items as f64).max(1.0);
    let _ = write!(
        h,
        "<h2>Dataset</h2>\n<table>\n<tr><th class=\"t\">users</th><td>{}</td></tr>\n<tr><th class=\"t\">items</th><td>{}</td></tr>\n\
         <tr><th class=\"t\">interactions</th><td>{}</td></tr>\n<tr><th class=\"t\">density</th><td>{:.5}</td></tr>\n\
         <tr><th class=\"t\">training rows</th><td>{}</td></tr>\n<tr><th class=\"t\">test rows (scored)</th><td>{} ({})</td></tr>\n\
         <tr><th class=\"t\">catalog (items with training rows)</th><td>{}</td></tr>\n\
         <tr><th class=\"t\">model</th><td>rank {}, {} iterations, reg_param {}, alpha {}, solver {:?}, {:?} λ</td></tr>\n</table>\n",
        r.all.n_users,
        r.all.n_items,
        r.all.len(),
        density,
        r.train.len(),
        r.test.len(),
        r.test.len() - r.eval.dropped_test_rows,
        catalog,
        r.model.rank,
        r.model.iterations,
        r.model.params.reg_param,
        r.model.params.alpha,
        r.model.params.solver,
        r.model.params.reg_scaling,
    );
    let svg = activity_svg(r.train).map_err(plot_err("activity histogram"))?;
    h.push_str(&figure(
        "activity",
        &svg,
        "Users by number of training interactions (log2 buckets).",
    ));

    // Tuning.
    if let Some(rows) = r.tune_rows {
        h.push_str(&crate::tuning::section(rows, r.tune_search)?);
    }

    // Metrics.
    h.push_str("<h2>Test metrics</h2>\n");
    if let Some(from) = r.eval.set.sampled_from() {
        let _ = writeln!(
            h,
            "<p class=\"sampled\"><b>Sampled:</b> every metric is over a seeded sample of {} of the {from} users with test rows (<code>evaluate.users = {}</code>, seed {}), not over all of them.</p>",
            r.eval.set.evaluated_users().len(),
            r.params.users.unwrap_or(0),
            r.params.seed
        );
    }
    h.push_str("<table>\n<tr><th class=\"t\">system</th>");
    for (name, _) in r.eval.systems[0].1.named() {
        let _ = write!(h, "<th>{}</th>", escape(&name));
    }
    h.push_str(if r.eval.set.sampled_from().is_some() {
        "<th>users (sampled)</th></tr>\n"
    } else {
        "<th>users</th></tr>\n"
    });
    for (sys, m) in &r.eval.systems {
        let _ = write!(h, "<tr><td class=\"t\">{}</td>", escape(sys));
        for (_, v) in m.named() {
            let _ = write!(h, "<td>{v:.4}</td>");
        }
        let _ = writeln!(h, "<td>{}</td></tr>", m.users_evaluated);
    }
    h.push_str("</table>\n");
    let svg = metrics_svg(r.eval).map_err(plot_err("metrics chart"))?;
    h.push_str(&figure(
        "metrics",
        &svg,
        "Every metric on the test split for the model and both baselines.",
    ));

    // Users.
    let m = InteractionMatrix::from_interactions(r.train)
        .map_err(|e| StageError::other(e.to_string()))?;
    let shown = report_users(r.eval, r.params.report_users);
    if !shown.is_empty() {
        let _ = writeln!(h, "<h2>Example users</h2>\n<p>Training history (top {k} by value) next to the top-{k} recommendations; test items are highlighted.</p>");
    }
    for u in shown {
        let rec = user_recommendations(r.model, &m, r.users, r.items, u, k);
        let test_items = r.eval.set.test().row(u).0;
        let _ = writeln!(
            h,
            "<h3>user {} <span class=\"id\">({} training interactions, {} test)</span></h3>\n<div class=\"users\">",
            escape(&rec.user),
            rec.n_train,
            test_items.len()
        );
        h.push_str("<table><tr><th class=\"t\">history</th><th>value</th></tr>\n");
        for e in &rec.history {
            let _ = writeln!(
                h,
                "<tr><td class=\"t\">{}</td><td>{}</td></tr>",
                item_cell(e),
                e.score
            );
        }
        h.push_str(
            "</table>\n<table><tr><th>#</th><th class=\"t\">recommended</th><th>score</th></tr>\n",
        );
        for (n, e) in rec.recommendations.iter().enumerate() {
            let hit = test_items.binary_search(&e.idx).is_ok();
            let _ = writeln!(
                h,
                "<tr{}><td>{}</td><td class=\"t\">{}</td><td>{:.4}</td></tr>",
                if hit { " class=\"hit\"" } else { "" },
                n + 1,
                item_cell(e),
                e.score
            );
        }
        h.push_str("</table>\n</div>\n");
    }
    h.push_str("</body>\n</html>\n");
    Ok(h)
}

/// Write the report into `dir` (created if needed): `index.html`, with each inline
/// figure moved to `<name>.svg` beside it and referenced by `<img src=...>`.
/// Returns the path of `index.html`.
pub fn write_report_dir(report_html: &[u8], dir: &Path) -> Result<PathBuf, EvaluateError> {
    write_report_dir_with(report_html, dir, "")
}

/// [`write_report_dir`] with `sections` (HTML, e.g. [`crate::history::history_section`])
/// added at the end of the page; their inline figures become files like the others.
/// Every file is written atomically, so an interrupted write leaves the old one.
pub fn write_report_dir_with(
    report_html: &[u8],
    dir: &Path,
    sections: &str,
) -> Result<PathBuf, EvaluateError> {
    let stored = std::str::from_utf8(report_html).map_err(|e| EvaluateError::Input {
        what: "report".into(),
        message: format!("not UTF-8: {e}"),
    })?;
    let joined;
    let html = match stored.rfind("</body>") {
        Some(end) if !sections.is_empty() => {
            joined = format!("{}{sections}{}", &stored[..end], &stored[end..]);
            joined.as_str()
        }
        _ => stored,
    };
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |cause| EvaluateError::Io { path, cause }
    };
    let write = |path: &Path, bytes: &[u8]| {
        alsflow_core::files::write_atomic(path, bytes).map_err(|e| EvaluateError::Io {
            path: e.path,
            cause: e.cause,
        })
    };
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    const OPEN: &str = "<figure class=\"plot\" data-name=\"";
    while let Some(start) = rest.find(OPEN) {
        let after = &rest[start + OPEN.len()..];
        let (Some(name_end), Some(svg_start), Some(svg_end)) =
            (after.find('"'), after.find("<svg"), after.find("</svg>"))
        else {
            break;
        };
        let name: String = after[..name_end]
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
            .collect();
        let svg = &after[svg_start..svg_end + "</svg>".len()];
        let file = format!("{name}.svg");
        let path = dir.join(&file);
        write(&path, svg.as_bytes())?;
        out.push_str(&rest[..start]);
        let _ = write!(out, "{OPEN}{name}\">\n<img src=\"{file}\" alt=\"{name}\">");
        rest = &after[svg_end + "</svg>".len()..];
    }
    out.push_str(rest);
    let index = dir.join("index.html");
    write(&index, out.as_bytes())?;
    Ok(index)
}
