//! `alsflow recommend --history FILE|-`: recommendations for a history the model has
//! not seen (a new user, or a known user with more interactions), by the same
//! fold-in the server runs: the user's factors solved exactly against the latest
//! model's item factors with its confidence and λ.

use crate::commands::results::RecommendArgs;
use crate::common::open_store_read_only;
use crate::Cli;
use alsflow_serve::request::{parse_fold_in, FoldInRequest};
use alsflow_serve::{load, Filters};
use anyhow::{anyhow, bail, Context};
use std::io::Read;
use std::process::ExitCode;

/// Read a history: JSON (the server's request body `{"history": [{"item": …,
/// "value": …}], …}`, or just the array) or text, one `ITEM[,VALUE]` per line (tab,
/// comma or spaces between; value 1 when missing; `#` starts a comment).
pub fn parse_history(text: &str, source: &str) -> anyhow::Result<Vec<(String, f32)>> {
    let trimmed = text.trim_start();
    if trimmed.starts_with('{') || trimmed.starts_with('[') {
        let body = if trimmed.starts_with('[') {
            format!("{{\"history\": {trimmed}}}")
        } else {
            trimmed.to_string()
        };
        let req: FoldInRequest =
            parse_fold_in(body.as_bytes()).map_err(|e| anyhow!("{source}: {}", e.message))?;
        return Ok(req.history);
    }
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let mut parts = line.split([',', '\t', ' ']).filter(|p| !p.is_empty());
        let item = parts.next().unwrap_or_default().to_string();
        let value = match parts.next() {
            None => 1.0,
            Some(v) => v
                .parse::<f32>()
                .map_err(|_| anyhow!("{source} line {}: value '{v}' is not a number", n + 1))?,
        };
        if let Some(extra) = parts.next() {
            bail!(
                "{source} line {}: unexpected '{extra}' after ITEM and VALUE",
                n + 1
            );
        }
        if !value.is_finite() || value < 0.0 {
            bail!(
                "{source} line {}: value {value} must be a finite number ≥ 0",
                n + 1
            );
        }
        out.push((item, value));
    }
    Ok(out)
}

/// Fold in the history of `--history` and print the recommendations.
pub fn recommend_history(cli: &Cli, args: &RecommendArgs, path: &str) -> anyhow::Result<ExitCode> {
    let (text, source) = if path == "-" {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .context("cannot read the history from stdin")?;
        (s, "stdin".to_string())
    } else {
        let s = std::fs::read_to_string(path).with_context(|| format!("cannot read {path}"))?;
        (s, path.to_string())
    };
    let history = parse_history(&text, &source)?;
    let store = open_store_read_only(cli)?;
    let dataset = match &args.view.dataset {
        Some(d) => d.clone(),
        None => {
            let all = load::trained_datasets(&store)?;
            match all.as_slice() {
                [one] => one.clone(),
                [] => bail!(
                    "no train run in the store at {}: run `alsflow run` first",
                    store.root().display()
                ),
                _ => bail!(
                    "the store has several datasets ({}): choose one with --dataset",
                    all.join(", ")
                ),
            }
        }
    };
    let run = load::latest_train_run(&store, &dataset)?;
    let model = load::load_model(&store, &run)?;
    let user = match &args.user {
        Some(u) => Some(
            model
                .users
                .get(u)
                .ok_or_else(|| anyhow!("dataset '{dataset}' has no user '{u}'"))?,
        ),
        None => None,
    };
    let mut known = Vec::new();
    let mut unknown = Vec::new();
    for (raw, value) in &history {
        match model.items.get(raw) {
            Some(i) => known.push((i, *value)),
            None => unknown.push(raw.as_str()),
        }
    }
    if !unknown.is_empty() {
        eprintln!(
            "warning: {} of the history's items are not in dataset '{dataset}' and are left out: {}",
            unknown.len(),
            unknown.iter().take(10).cloned().collect::<Vec<_>>().join(", ")
        );
    }
    if known.is_empty() && user.is_none() {
        bail!("none of the items in {source} is known to dataset '{dataset}'");
    }
    let filters = Filters {
        exclude_seen: true,
        ..Filters::default()
    };
    let list = model
        .recommend_history(&known, user, args.view.n, &filters)
        .with_context(|| format!("dataset '{dataset}'"))?;
    let id = model.provenance.model;
    if args.view.json {
        let items: Vec<serde_json::Value> = list
            .iter()
            .map(|&(i, score)| {
                let mut e = serde_json::json!({"item": model.items.raw(i), "score": score});
                if let Some(t) = model.items.title(i) {
                    e["title"] = t.into();
                }
                e
            })
            .collect();
        let out = serde_json::json!({
            "model": id.to_hex(), "dataset": dataset, "user": args.user,
            "items": items, "unknown_items": unknown,
        });
        println!("{out}");
        return Ok(ExitCode::SUCCESS);
    }
    let whose = args
        .user
        .as_ref()
        .map(|u| format!(" on top of user {u}'s training history"))
        .unwrap_or_default();
    println!(
        "fold-in of {} history items{whose} (dataset {dataset}, model {}):",
        known.len(),
        id.short()
    );
    for (rank, &(i, score)) in list.iter().enumerate() {
        let title = model
            .items
            .title(i)
            .map(|t| format!("  {t}"))
            .unwrap_or_default();
        println!(
            "  {:>3}. {:<12} score {score:>9.4}{title}",
            rank + 1,
            model.items.raw(i)
        );
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_and_json_histories() {
        let text = "# my plays\n1,2.5\n\n7\t3\n9 # no value\n";
        let h = parse_history(text, "h.txt").unwrap();
        assert_eq!(h, [("1".into(), 2.5), ("7".into(), 3.0), ("9".into(), 1.0)]);
        let err = parse_history("1,x\n", "h.txt").unwrap_err().to_string();
        assert_eq!(err, "h.txt line 1: value 'x' is not a number");
        assert!(parse_history("1,-2\n", "h")
            .unwrap_err()
            .to_string()
            .contains("line 1"));
        let j = parse_history(r#"[{"item": 1, "value": 2}]"#, "h.json").unwrap();
        assert_eq!(j, [("1".into(), 2.0)]);
        let j = parse_history(r#"{"history": [{"item": "a"}], "n": 5}"#, "h.json").unwrap();
        assert_eq!(j, [("a".into(), 1.0)]);
        let err = parse_history(r#"{"histry": []}"#, "h.json")
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("h.json: malformed JSON body: unknown field `histry`"),
            "{err}"
        );
    }
}
