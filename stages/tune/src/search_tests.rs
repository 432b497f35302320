//! The search strategies as users rely on them: edge warnings, extending beyond an
//! edge, reruns and wider limits that fit nothing twice, halving's budget.

use crate::tests::{artifact, grid, inputs, params, planted};
use crate::*;
use alsflow_core::stage::LocalContext;
use alsflow_formats::search::SearchSummary;
use std::collections::BTreeSet;
use std::sync::atomic::Ordering;

fn summary(out: &StageOutputs) -> SearchSummary {
    SearchSummary::from_json(artifact(out, "search")).unwrap()
}

fn rows(out: &StageOutputs) -> Vec<ResultRow> {
    results::read_results(artifact(out, "results")).unwrap()
}

/// λ far too strong for the planted data (measured: mean CV ROEM falls from 0.55 at
/// λ = 100 to 0.13 around λ = 1 at alpha 20–80), so the smaller value wins and the
/// best point sits on reg_param's lower edge.
fn crushing() -> BTreeMap<String, Vec<Value>> {
    grid(&[("reg_param", vec![40.0.into(), 80.0.into()])])
}

#[test]
fn the_grid_warns_about_each_edge_axis_and_only_those() {
    let folds = planted();
    let inp = inputs(&folds);
    let mut g = crushing();
    g.insert("solver".into(), vec!["cg".into(), "cholesky".into()]);
    g.insert("alpha".into(), vec![40.0.into()]);
    let out = Tune::run(&params(g), &inp, &LocalContext::new("t")).unwrap();
    let s = summary(&out);
    assert_eq!(s.strategy, "grid");
    let means: Vec<f64> = results::mean_by_point(&rows(&out))
        .iter()
        .map(|(_, m)| m.roem)
        .collect();
    // Points: (λ 40, cg), (λ 40, cholesky), (λ 80, cg), (λ 80, cholesky).
    assert!(means[0] < means[2] - 0.01, "λ = 40 clearly wins: {means:?}");
    assert_eq!(s.edges.len(), 1, "{:?}", s.edges);
    assert_eq!(s.edges[0].axis, "reg_param");
    assert_eq!(s.edges[0].side, "smallest");
    assert_eq!(s.warnings.len(), 1);
    let w = &s.warnings[0];
    assert!(
        w.starts_with("reg_param:") && w.contains("smallest") && w.contains("40"),
        "{w}"
    );
    assert!(
        out.summary
            .iter()
            .any(|l| l.starts_with("warning: reg_param:")),
        "{:?}",
        out.summary
    );
    assert_eq!(s.fits, s.grid_fits);
    assert_eq!(s.best.fold_values.len(), 3);
    // λ = 0 is as low as λ goes: no warning for it.
    let zero = params(grid(&[("reg_param", vec![0.0.into(), 1000.0.into()])]));
    let s = summary(&Tune::run(&zero, &inp, &LocalContext::new("t")).unwrap());
    assert!(s.edges.is_empty(), "{:?}", s.edges);
    assert!(s.warnings.is_empty());
}

fn extending(min_reg: f64) -> Params {
    let mut limits = BTreeMap::new();
    limits.insert(
        "reg_param".to_string(),
        serde_json::from_value::<axes::Limit>(serde_json::json!({ "min": min_reg })).unwrap(),
    );
    Params {
        search: Search::Extend,
        limits,
        ..params(crushing())
    }
}

#[test]
fn extend_leaves_the_edge_and_a_rerun_fits_nothing() {
    let folds = planted();
    let inp = inputs(&folds);
    let ctx = LocalContext::new("t");
    let p = extending(30.0);
    let first = Tune::run(&p, &inp, &ctx).unwrap();
    let s = summary(&first);
    assert_eq!(s.rounds[0].kind, "grid");
    assert_eq!(s.rounds[1].kind, "extend");
    let step = &s.rounds[1].extensions[0];
    assert_eq!(
        (step.axis.as_str(), step.direction.as_str()),
        ("reg_param", "lower")
    );
    // 40 / 2 = 20 is below the limit: the step stops at it.
    assert_eq!(step.to, Value::from(30.0));
    let bp: AlsParams = codec::decode("best params", artifact(&first, "best_params")).unwrap();
    assert_eq!(bp.reg_param, 30.0, "{:?}", s.rounds);
    assert_eq!(s.edges[0].limit, Some(30.0));
    assert!(
        s.warnings[0].contains("tune.limits.reg_param"),
        "{:?}",
        s.warnings
    );
    let puts = ctx.puts.load(Ordering::SeqCst);
    assert_eq!(
        puts,
        rows(&first).len(),
        "one memo record per (point, fold)"
    );

    // Nothing changed: no fit, the same bytes.
    let again = Tune::run(&p, &inp, &ctx).unwrap();
    assert_eq!(ctx.puts.load(Ordering::SeqCst), puts);
    assert!(
        again.summary[0].contains(" 0 fits run"),
        "{:?}",
        again.summary
    );
    for name in Tune::OUTPUTS {
        assert_eq!(
            artifact(&first, name.output),
            artifact(&again, name.output),
            "{name}"
        );
    }

    // A wider limit: only points the first search did not score are fitted.
    let wider = Tune::run(&extending(1.0), &inp, &ctx).unwrap();
    let old: BTreeSet<String> = rows(&first)
        .iter()
        .map(|r| format!("{:?}/{}", r.params, r.fold))
        .collect();
    let new_results = rows(&wider)
        .iter()
        .filter(|r| !old.contains(&format!("{:?}/{}", r.params, r.fold)))
        .count();
    assert!(new_results > 0, "the wider limit tried new values");
    assert_eq!(ctx.puts.load(Ordering::SeqCst), puts + new_results);
    let bp: AlsParams = codec::decode("best params", artifact(&wider, "best_params")).unwrap();
    // λ = 20 beats 30, and 10 loses to 20 (measured): the best is interior now.
    assert_eq!(bp.reg_param, 20.0, "{:?}", summary(&wider).rounds);
    assert!(summary(&wider).edges.is_empty());
    // The account does not depend on the memo: a fresh store gives the same bytes.
    let fresh = Tune::run(&extending(1.0), &inp, &LocalContext::new("t")).unwrap();
    assert_eq!(artifact(&fresh, "search"), artifact(&wider, "search"));
    assert_eq!(artifact(&fresh, "results"), artifact(&wider, "results"));
}

#[test]
fn extend_tries_the_other_values_of_unordered_axes_and_combines_edges() {
    let folds = planted();
    let inp = inputs(&folds);
    let mut g = crushing();
    g.insert("confidence".into(), vec!["linear".into(), "log".into()]);
    g.insert("alpha".into(), vec![40.0.into(), 80.0.into()]);
    let p = Params {
        grid: g,
        parallel_points: 1,
        ..extending(10.0)
    };
    let seq = Tune::run(&p, &inp, &LocalContext::new("t")).unwrap();
    let par = Tune::run(
        &Params {
            parallel_points: 3,
            ..p.clone()
        },
        &inp,
        &LocalContext::new("t"),
    )
    .unwrap();
    for name in Tune::OUTPUTS {
        assert_eq!(
            artifact(&seq, name.output),
            artifact(&par, name.output),
            "{name}"
        );
    }
    let s = summary(&seq);
    let r = rows(&seq);
    // Beyond the grid, both confidence functions were tried at a new λ.
    let beyond: BTreeSet<String> = r
        .iter()
        .filter(|r| r.params.reg_param < 40.0)
        .map(|r| format!("{:?}", r.params.confidence))
        .collect();
    assert_eq!(beyond.len(), 2, "{beyond:?}");
    // Round 1 extends two edges at once (λ down, alpha up: stronger λ needs more
    // confidence) and tries their combination.
    let round = &s.rounds[1];
    assert!(round.extensions.len() >= 2, "{:?}", round);
    let combined = r.iter().any(|row| {
        round.extensions.iter().all(|e| {
            let v = match e.axis.as_str() {
                "reg_param" => row.params.reg_param as f64,
                "alpha" => row.params.alpha as f64,
                _ => f64::NAN,
            };
            Some(v) == e.to.as_f64()
        })
    });
    assert!(combined, "the combination of the new values was tried");
}

#[test]
fn extend_stops_at_max_fits_and_says_so() {
    let folds = planted();
    let inp = inputs(&folds);
    let p = Params {
        max_fits: 6,
        ..extending(10.0)
    };
    let out = Tune::run(&p, &inp, &LocalContext::new("t")).unwrap();
    let s = summary(&out);
    assert_eq!(s.rounds.len(), 1, "the grid's 6 fits fill the budget");
    assert!(s.stopped.contains("tune.max_fits = 6"), "{}", s.stopped);
    assert!(
        s.warnings
            .iter()
            .any(|w| w.contains("stopped with the best point on an edge")),
        "{:?}",
        s.warnings
    );
    assert!(out.summary.iter().any(|l| l.starts_with("stopped: ")));
}

#[test]
fn halving_runs_a_fraction_of_the_fits_and_selects_a_fully_scored_point() {
    let folds = planted();
    let inp = inputs(&folds);
    let g = grid(&[
        ("rank", vec![2.into(), 4.into()]),
        ("max_iter", vec![1.into(), 3.into()]),
        ("reg_param", vec![0.1.into(), 1.0.into(), 10.0.into()]),
        ("alpha", vec![5.0.into(), 20.0.into()]),
    ]);
    let p = Params {
        search: Search::Halving,
        ..params(g)
    };
    let out = Tune::run(&p, &inp, &LocalContext::new("t")).unwrap();
    let s = summary(&out);
    // 12 groups on 1 fold, the best 4 on all 3: 12 + 4 × 2 fits of the grid's 36.
    assert_eq!((s.fits, s.grid_fits), (20, 36));
    assert_eq!(s.rounds.len(), 2);
    assert_eq!(s.rounds[1].folds, vec![0, 1, 2]);
    assert!(
        out.summary[0].contains("20 fits (the grid alone: 36)"),
        "{:?}",
        out.summary
    );
    let r = rows(&out);
    assert_eq!(
        r.len(),
        24 + 16,
        "every point on fold 0, 8 of them on folds 1-2"
    );
    let full: Vec<_> = results::mean_by_point(&r)
        .into_iter()
        .filter(|(p, _)| r.iter().filter(|x| x.point == p.point).count() == 3)
        .collect();
    assert_eq!(full.len(), 8);
    let best = full
        .iter()
        .map(|(_, m)| m.roem)
        .fold(f64::INFINITY, f64::min);
    assert_eq!(s.best.mean, best);
    assert_eq!(s.best.fold_values.len(), 3);
}

#[test]
fn knobs_of_other_strategies_leave_the_key_alone_and_bad_ones_are_named() {
    let mut limits = BTreeMap::new();
    limits.insert(
        "rank".to_string(),
        axes::Limit {
            min: None,
            max: Some(8.0),
        },
    );
    let grid_a = Params::default();
    let grid_b = Params {
        limits: limits.clone(),
        eta: 4,
        ..Params::default()
    };
    assert_eq!(Tune::key_params(&grid_a), Tune::key_params(&grid_b));
    let ext = |l: BTreeMap<String, axes::Limit>| Params {
        search: Search::Extend,
        limits: l,
        ..Params::default()
    };
    assert_ne!(
        Tune::key_params(&ext(BTreeMap::new())),
        Tune::key_params(&ext(limits))
    );

    let folds = planted();
    let inp = inputs(&folds);
    let named = |p: Params, key: &str| {
        let e = Tune::run(&p, &inp, &LocalContext::new("t"))
            .unwrap_err()
            .to_string();
        assert!(e.contains(key), "{key}: {e}");
    };
    named(
        Params {
            eta: 1,
            ..params(crushing())
        },
        "tune.eta",
    );
    named(
        Params {
            min_gain: -1.0,
            ..params(crushing())
        },
        "tune.min_gain",
    );
    named(
        Params {
            max_fits: 0,
            ..params(crushing())
        },
        "tune.max_fits",
    );
    named(
        Params {
            search: Search::Halving,
            min_folds: 9,
            ..params(crushing())
        },
        "tune.min_folds",
    );
    let mut bad = BTreeMap::new();
    bad.insert("solver".to_string(), axes::Limit::default());
    named(
        Params {
            limits: bad,
            ..params(crushing())
        },
        "tune.limits.solver",
    );
    let e = serde_json::from_str::<Params>(r#"{"search": "random"}"#).unwrap_err();
    assert!(e.to_string().contains("random"), "{e}");
}
