//! Behaviour users rely on: memoisation counts, snapshot sharing, selection.

use super::*;
use alsflow_core::stage::LocalContext;
use alsflow_core::{ArtifactId, Format, InputArtifact};
use std::sync::atomic::Ordering;

/// Planted data: 4 user groups, each interacting with most items of its own item
/// group (deterministic pseudo-random), 5 seeded folds.
pub(crate) fn planted() -> Interactions {
    let (nu, ni) = (48u32, 32u32);
    let mut t = Interactions::with_dims(nu, ni);
    let mut s = 7u64;
    for u in 0..nu {
        for i in 0..ni {
            let r = bench_rand(&mut s);
            let same = u % 4 == i % 4;
            if (same && r < 0.7) || (!same && r < 0.03) {
                t.user.push(u);
                t.item.push(i);
                t.value.push(1.0);
            }
        }
    }
    alsflow_split::seeded_folds(&t, 3, 11)
}

pub(crate) fn bench_rand(s: &mut u64) -> f64 {
    *s = s
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (*s >> 11) as f64 / (1u64 << 53) as f64
}

pub(crate) fn grid(axes: &[(&str, Vec<Value>)]) -> BTreeMap<String, Vec<Value>> {
    axes.iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

pub(crate) fn params(g: BTreeMap<String, Vec<Value>>) -> Params {
    Params {
        grid: g,
        base: AlsParams {
            rank: 4,
            max_iter: 3,
            ..AlsParams::default()
        },
        ..Params::default()
    }
}

pub(crate) fn inputs(folds: &Interactions) -> StageInputs {
    let bytes = folds.to_parquet().unwrap();
    let mut inp = StageInputs::new();
    inp.insert(
        "split.folds",
        InputArtifact {
            id: ArtifactId::of(&bytes),
            label: "split.folds".into(),
            format: Format::Parquet,
            bytes: bytes.into(),
        },
    );
    inp
}

pub(crate) fn artifact<'a>(out: &'a StageOutputs, name: &str) -> &'a [u8] {
    &out.artifacts.iter().find(|a| a.name == name).unwrap().bytes
}

#[test]
fn adding_one_alpha_value_fits_only_the_new_points() {
    let folds = planted();
    let inp = inputs(&folds);
    let ctx = LocalContext::new("t");
    let small = params(grid(&[
        ("reg_param", vec![0.1.into(), 1.0.into()]),
        ("alpha", vec![5.into(), 20.into()]),
    ]));
    let first = Tune::run(&small, &inp, &ctx).unwrap();
    assert_eq!(
        ctx.puts.load(Ordering::SeqCst),
        4 * 3,
        "4 points x 3 folds computed"
    );

    // Unchanged grid: nothing fitted, identical artifacts.
    let again = Tune::run(&small, &inp, &ctx).unwrap();
    assert_eq!(ctx.puts.load(Ordering::SeqCst), 12);
    for name in Tune::OUTPUTS {
        assert_eq!(
            artifact(&first, name.output),
            artifact(&again, name.output),
            "{name} differs on a memoised rerun"
        );
    }
    assert!(
        again.summary[0].contains("0 fits run"),
        "{:?}",
        again.summary
    );

    // One more alpha value: 2 new points (one per reg_param) x 3 folds.
    let bigger = params(grid(&[
        ("reg_param", vec![0.1.into(), 1.0.into()]),
        ("alpha", vec![5.into(), 20.into(), 40.into()]),
    ]));
    let out = Tune::run(&bigger, &inp, &ctx).unwrap();
    assert_eq!(ctx.puts.load(Ordering::SeqCst), 12 + 2 * 3);
    assert!(
        out.summary[0].contains("6 fits run, 12 of 18 results memoised"),
        "{:?}",
        out.summary
    );
    let rows = results::read_results(artifact(&out, "results")).unwrap();
    assert_eq!(rows.len(), 18);
    // Memoised rows equal the rows computed the first time.
    let old = results::read_results(artifact(&first, "results")).unwrap();
    let same: Vec<_> = rows
        .iter()
        .filter(|r| r.params.alpha != 40.0)
        .map(|r| (r.params.clone(), r.fold, r.metrics.clone()))
        .collect();
    let was: Vec<_> = old
        .iter()
        .map(|r| (r.params.clone(), r.fold, r.metrics.clone()))
        .collect();
    assert_eq!(same, was);
}

#[test]
fn max_iter_snapshots_equal_separate_fits() {
    let folds = planted();
    let inp = inputs(&folds);
    let shared_ctx = LocalContext::new("t");
    let both = params(grid(&[("max_iter", vec![2.into(), 5.into()])]));
    let shared = Tune::run(&both, &inp, &shared_ctx).unwrap();
    assert!(
        shared.summary[0].contains("3 fits run"),
        "one fit per fold serves both max_iter: {:?}",
        shared.summary
    );
    let shared_rows = results::read_results(artifact(&shared, "results")).unwrap();
    for (n, it) in [2usize, 5].into_iter().enumerate() {
        let alone = Tune::run(
            &params(grid(&[("max_iter", vec![it.into()])])),
            &inp,
            &LocalContext::new("t"),
        )
        .unwrap();
        let alone_rows = results::read_results(artifact(&alone, "results")).unwrap();
        let from_shared: Vec<_> = shared_rows
            .iter()
            .filter(|r| r.point as usize == n)
            .map(|r| (r.fold, r.metrics.clone()))
            .collect();
        let separate: Vec<_> = alone_rows
            .iter()
            .map(|r| (r.fold, r.metrics.clone()))
            .collect();
        assert_eq!(from_shared, separate, "max_iter {it}");
    }
}

#[test]
fn selection_picks_the_best_mean_and_best_params_are_base_plus_point() {
    let folds = planted();
    let inp = inputs(&folds);
    // A crushing λ flattens every factor: its ROEM must lose against λ = 0.1.
    let p = params(grid(&[
        ("reg_param", vec![5000.0.into(), 0.1.into()]),
        ("rank", vec![2.into(), 4.into()]),
    ]));
    let outcome = run_search(
        &p,
        &folds,
        "folds",
        ArtifactId::of(b"x"),
        &LocalContext::new("t"),
    )
    .unwrap();
    let means = results::mean_by_point(&outcome.rows);
    let best_mean = means
        .iter()
        .map(|(_, m)| m.roem)
        .fold(f64::INFINITY, f64::min);
    assert_eq!(outcome.best_value, best_mean);
    assert_eq!(outcome.best_params().reg_param, 0.1);
    assert!(
        best_mean < 0.3,
        "planted structure should be found, ROEM {best_mean}"
    );
    let out = Tune::run(&p, &inp, &LocalContext::new("t")).unwrap();
    let bp: AlsParams = codec::decode("best params", artifact(&out, "best_params")).unwrap();
    assert_eq!(&bp, outcome.best_params());
    assert_eq!(bp.max_iter, 3, "base params carry through");
    // Maximising NDCG selects a point with the highest mean NDCG.
    let q = Params {
        metric: "ndcg@10".into(),
        ..p
    };
    let o = run_search(
        &q,
        &folds,
        "folds",
        ArtifactId::of(b"x"),
        &LocalContext::new("t"),
    )
    .unwrap();
    let top = results::mean_by_point(&o.rows)
        .iter()
        .map(|(_, m)| m.ndcg)
        .fold(f64::NEG_INFINITY, f64::max);
    assert_eq!(o.best_value, top);
}

#[test]
fn outputs_are_identical_for_any_parallelism_and_plots_are_svg() {
    let folds = planted();
    let inp = inputs(&folds);
    let g = grid(&[
        ("alpha", vec![5.into(), 20.into()]),
        ("max_iter", vec![1.into(), 3.into()]),
    ]);
    let seq = Tune::run(
        &Params {
            parallel_points: 1,
            ..params(g.clone())
        },
        &inp,
        &LocalContext::new("t"),
    )
    .unwrap();
    let par = Tune::run(
        &Params {
            parallel_points: 3,
            ..params(g)
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
    let svg = std::str::from_utf8(artifact(&seq, "heatmap")).unwrap();
    assert!(
        svg.starts_with("<svg") && svg.contains("reg_param = 0.1") && svg.contains("alpha"),
        "{svg}"
    );
    let curve = std::str::from_utf8(artifact(&seq, "roem_vs_iter")).unwrap();
    assert!(curve.contains("rank 4") && curve.contains("max_iter"));
}

#[test]
fn bad_params_are_named() {
    let folds = planted();
    let inp = inputs(&folds);
    let e = Tune::run(
        &Params {
            metric: "hits".into(),
            ..Params::default()
        },
        &inp,
        &LocalContext::new("t"),
    )
    .unwrap_err();
    assert!(e.to_string().contains("tune.metric"), "{e}");
    let e = Tune::run(
        &params(grid(&[("rank", vec![0.into()])])),
        &inp,
        &LocalContext::new("t"),
    )
    .unwrap_err();
    assert!(e.to_string().contains("rank"), "{e}");
    let mut no_folds = planted();
    no_folds.fold = None;
    no_folds.cold = None;
    let e = Tune::run(
        &Params::default(),
        &inputs(&no_folds),
        &LocalContext::new("t"),
    )
    .unwrap_err();
    assert!(e.to_string().contains("split.folds to 2 or more"), "{e}");
    let toml_err = serde_json::from_str::<Params>(r#"{"grids": {}}"#).unwrap_err();
    assert!(toml_err.to_string().contains("grids"));
}
