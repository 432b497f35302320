//! `alsflow diff A B`: what differs between two runs, stage by stage, then the metric
//! deltas (A compared with B, the base).

use crate::commands::runs::show_value;
use crate::common::open_store_read_only;
use crate::Cli;
use alsflow_runner::experiments::{self, format_utc, ArtifactChange, RunSummary};
use std::fmt::Write as _;
use std::process::ExitCode;

/// Arguments of `alsflow diff`.
#[derive(clap::Args, Debug)]
pub struct DiffArgs {
    /// Run A: an id or id prefix, a run name, `latest` or `previous`.
    #[arg(value_name = "A")]
    pub a: String,
    /// Run B, the base A is compared with (same forms).
    #[arg(value_name = "B")]
    pub b: String,
    /// The dataset `latest` / `previous` refer to (needed when the store has several).
    #[arg(long, value_name = "NAME")]
    pub dataset: Option<String>,
    /// The comparison as one JSON object on stdout.
    #[arg(long)]
    pub json: bool,
}

/// Compare two runs.
pub fn exec(cli: &Cli, args: &DiffArgs) -> anyhow::Result<ExitCode> {
    let store = open_store_read_only(cli)?;
    let dataset = args.dataset.as_deref();
    let a = experiments::resolve(&store, &args.a, dataset)?;
    let b = experiments::resolve(&store, &args.b, dataset)?;
    let d = experiments::diff(&store, &a, &b);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&d.to_json())?);
        return Ok(ExitCode::SUCCESS);
    }
    let mut out = String::new();
    for (label, spec, s) in [("A", &args.a, &d.a), ("B", &args.b, &d.b)] {
        let _ = writeln!(out, "{label}  {}", describe(s, spec));
    }
    out.push_str("changes from B to A:\n");
    if d.stages.is_empty() {
        out.push_str("  none: both runs used the same stage runs\n");
    }
    for s in &d.stages {
        let status = |x: &Option<String>| x.clone().unwrap_or_else(|| "absent".into());
        let _ = writeln!(
            out,
            "  {} ({} in B, {} in A)",
            s.stage,
            status(&s.b_status),
            status(&s.a_status)
        );
        for p in &s.params {
            let show = |v: &Option<serde_json::Value>| {
                v.as_ref().map_or_else(|| "(absent)".into(), show_value)
            };
            let _ = writeln!(
                out,
                "    param  {}: {} → {}",
                p.param,
                show(&p.b),
                show(&p.a)
            );
        }
        if s.code_changed {
            let _ = writeln!(out, "    code   of stage {} changed", s.stage);
        }
        for (role, changes) in [("input ", &s.inputs), ("output", &s.outputs)] {
            for c in changes {
                let _ = writeln!(out, "    {role} {}", artifact_line(c));
            }
        }
    }
    if !d.unchanged.is_empty() {
        let _ = writeln!(out, "unchanged: {}", d.unchanged.join(", "));
    }
    if d.metrics.is_empty() {
        out.push_str("metrics: not available for both runs (a run that did not reach evaluate?)\n");
    } else {
        out.push_str("test metrics (delta = A − B; ROEM: lower is better, the others higher):\n");
        let _ = writeln!(
            out,
            "  {:<11} {:<14} {:>9} {:>9} {:>10}  better",
            "system", "metric", "B", "A", "delta"
        );
        // A baseline only moves when the test split does: show it only then.
        let moved = |system: &str| {
            d.metrics
                .iter()
                .any(|m| m.system == system && m.delta != 0.0)
        };
        let hidden: std::collections::BTreeSet<&str> = d
            .metrics
            .iter()
            .map(|m| m.system.as_str())
            .filter(|s| *s != "model" && !moved(s))
            .collect();
        for m in d
            .metrics
            .iter()
            .filter(|m| !hidden.contains(m.system.as_str()))
        {
            let verdict = match m.better {
                "a" => "A",
                "b" => "B",
                _ => "=",
            };
            let _ = writeln!(
                out,
                "  {:<11} {:<14} {:>9.4} {:>9.4} {:>+10.4}  {verdict}",
                m.system, m.metric, m.b, m.a, m.delta
            );
        }
        if !hidden.is_empty() {
            let names: Vec<&str> = hidden.into_iter().collect();
            let _ = writeln!(out, "  ({} unchanged)", names.join(", "));
        }
    }
    print!("{out}");
    Ok(ExitCode::SUCCESS)
}

/// `1a2b3c4d5e6f synthetic 2025-… UTC "name" (latest)`.
fn describe(s: &RunSummary, spec: &str) -> String {
    let mut text = format!(
        "{}  {}  {}",
        s.run.id.short(),
        s.run.dataset,
        format_utc(s.run.started_ms)
    );
    if let Some(n) = &s.run.name {
        let _ = write!(text, "  \"{n}\"");
    }
    if experiments::KEYWORDS.contains(&spec.trim()) {
        let _ = write!(text, "  ({})", spec.trim());
    }
    let status = s.status();
    if status != "complete" {
        let _ = write!(text, "  [{status}]");
    }
    text
}

fn artifact_line(c: &ArtifactChange) -> String {
    let short = |id: &Option<String>| {
        id.as_deref().map_or_else(
            || "(absent)".to_string(),
            |h| h[..12.min(h.len())].to_string(),
        )
    };
    format!("{}: {} → {}", c.name, short(&c.b), short(&c.a))
}
