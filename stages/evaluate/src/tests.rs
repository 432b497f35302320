//! Behaviour users rely on: the model beats the random baseline on planted data,
//! the report shows the figures and titles, the CLI helpers name unknown ids.

use super::*;
use alsflow_als::{fit, AlsParams, InteractionMatrix};
use alsflow_core::stage::LocalContext;
use alsflow_core::Format;
use alsflow_core::{ArtifactId, InputArtifact};
use alsflow_formats::metrics::metrics_json;
use alsflow_formats::results::ResultRow;

struct World {
    model: AlsModel,
    train: Interactions,
    test: Interactions,
    all: Interactions,
    users: IdMap,
    items: IdMap,
}

/// 4 user groups each preferring one item group; every 5th interaction is held out.
fn world() -> World {
    let (nu, ni) = (40u32, 24u32);
    let mut all = Interactions::with_dims(nu, ni);
    let mut s = 3u64;
    for u in 0..nu {
        for i in 0..ni {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let r = (s >> 11) as f64 / (1u64 << 53) as f64;
            if (u % 4 == i % 4 && r < 0.8) || r < 0.03 {
                all.user.push(u);
                all.item.push(i);
                all.value.push(1.0);
            }
        }
    }
    let train = all.filter_rows(|r| r % 5 != 0);
    let test = all.filter_rows(|r| r % 5 == 0);
    let m = InteractionMatrix::from_interactions(&train).unwrap();
    let model = fit(
        &m,
        &AlsParams {
            rank: 4,
            max_iter: 8,
            reg_param: 0.1,
            alpha: 10.0,
            ..AlsParams::default()
        },
    )
    .unwrap();
    let users = IdMap {
        raw_ids: (0..nu).map(|u| format!("u{u}")).collect(),
        titles: None,
    };
    let items = IdMap {
        raw_ids: (0..ni).map(|i| format!("m{i}")).collect(),
        titles: Some(
            (0..ni)
                .map(|i| {
                    if i == 3 {
                        None
                    } else {
                        Some(format!("Film <{i}> & co"))
                    }
                })
                .collect(),
        ),
    };
    World {
        model,
        train,
        test,
        all,
        users,
        items,
    }
}

fn inputs(w: &World, with_tune: bool) -> StageInputs {
    let mut inp = StageInputs::new();
    let mut add = |name: &str, format: Format, bytes: Vec<u8>| {
        inp.insert(
            name,
            InputArtifact {
                id: ArtifactId::of(&bytes),
                label: name.into(),
                format,
                bytes: bytes.into(),
            },
        );
    };
    add("train.model", Format::Bincode, w.model.to_bytes().unwrap());
    add(
        "split.train",
        Format::Parquet,
        w.train.to_parquet().unwrap(),
    );
    add("split.test", Format::Parquet, w.test.to_parquet().unwrap());
    add(
        "preprocess.interactions",
        Format::Parquet,
        w.all.to_parquet().unwrap(),
    );
    add(
        "preprocess.users",
        Format::Parquet,
        w.users.to_parquet().unwrap(),
    );
    add(
        "preprocess.items",
        Format::Parquet,
        w.items.to_parquet().unwrap(),
    );
    if with_tune {
        // A 2 × 2 grid (rank × alpha) over 3 folds, with made-up validation metrics: the
        // report only draws them.
        let mut rows = Vec::new();
        for (point, (rank, alpha)) in [(2, 5.0), (2, 10.0), (4, 5.0), (4, 10.0)]
            .into_iter()
            .enumerate()
        {
            for fold in 0..3u8 {
                let roem = 0.2 - 0.01 * rank as f64 + 0.001 * alpha as f64 + 0.002 * fold as f64;
                rows.push(ResultRow {
                    point: point as u32,
                    fold,
                    params: AlsParams {
                        rank,
                        alpha,
                        max_iter: 3,
                        ..AlsParams::default()
                    },
                    metrics: Metrics {
                        k: 10,
                        roem,
                        precision: 0.3 - roem,
                        recall: 0.1,
                        map: 0.1,
                        ndcg: 0.2,
                        auc: 0.9,
                        coverage: 0.5,
                        users_evaluated: 40,
                        test_interactions: 100,
                    },
                });
            }
        }
        add(
            "tune.results",
            Format::Parquet,
            alsflow_formats::results::write_results(&rows, 10).unwrap(),
        );
    }
    inp
}

fn artifact<'a>(out: &'a StageOutputs, name: &str) -> &'a [u8] {
    &out.artifacts.iter().find(|a| a.name == name).unwrap().bytes
}

#[test]
fn model_beats_random_and_metrics_json_has_every_system() {
    let w = world();
    let out = Evaluate::run(
        &Params::default(),
        &inputs(&w, false),
        &LocalContext::new("planted"),
    )
    .unwrap();
    let j = metrics_json(artifact(&out, "metrics")).unwrap();
    let model_roem = j["model"]["roem"].as_f64().unwrap();
    let random_roem = j["random"]["roem"].as_f64().unwrap();
    assert!(
        model_roem < 0.25 && random_roem > 0.35,
        "model {model_roem}, random {random_roem}"
    );
    assert!(
        j["model"]["precision@10"].as_f64().unwrap()
            > j["random"]["precision@10"].as_f64().unwrap()
    );
    for sys in SYSTEMS {
        for key in [
            "roem",
            "precision@10",
            "recall@10",
            "map@10",
            "ndcg@10",
            "auc",
            "coverage@10",
            "users_evaluated",
        ] {
            assert!(j[sys].get(key).is_some(), "{sys}.{key} missing in {j}");
        }
    }
    // Deterministic bytes.
    let again = Evaluate::run(
        &Params::default(),
        &inputs(&w, false),
        &LocalContext::new("planted"),
    )
    .unwrap();
    assert_eq!(artifact(&out, "metrics"), artifact(&again, "metrics"));
    assert_eq!(artifact(&out, "report"), artifact(&again, "report"));
}

#[test]
fn report_has_figures_titles_and_writes_a_directory() {
    let w = world();
    let out = Evaluate::run(
        &Params::default(),
        &inputs(&w, true),
        &LocalContext::new("planted"),
    )
    .unwrap();
    let html = std::str::from_utf8(artifact(&out, "report")).unwrap();
    assert_eq!(
        html.matches("<svg").count(),
        3,
        "activity, heatmap, metrics"
    );
    assert!(html.contains("data-name=\"heatmap\""));
    assert!(html.contains("Film &lt;"), "titles are shown, escaped");
    assert!(!html.contains("Film <"), "raw title text must be escaped");
    assert_eq!(html.matches("<h3>user").count(), 3);
    let dir = tempfile::tempdir().unwrap();
    let index = write_report_dir(artifact(&out, "report"), dir.path()).unwrap();
    let page = std::fs::read_to_string(&index).unwrap();
    assert_eq!(page.matches("<img src=").count(), 3);
    assert!(!page.contains("<svg"));
    for name in ["activity", "heatmap", "metrics"] {
        let svg = std::fs::read_to_string(dir.path().join(format!("{name}.svg"))).unwrap();
        assert!(
            svg.starts_with("<svg") && svg.contains("xmlns=\"http://www.w3.org/2000/svg\""),
            "{name}.svg"
        );
    }
    // Without tune results there is no heatmap.
    let out = Evaluate::run(
        &Params::default(),
        &inputs(&w, false),
        &LocalContext::new("planted"),
    )
    .unwrap();
    let html = std::str::from_utf8(artifact(&out, "report")).unwrap();
    assert_eq!(html.matches("<svg").count(), 2);
}

#[test]
fn recommend_similar_and_unknown_ids() {
    let w = world();
    let r = recommend_user(&w.model, &w.train, &w.users, &w.items, "u1", 5).unwrap();
    assert_eq!(r.recommendations.len(), 5);
    // Recommendations exclude the training items and favour the user's group (items i % 4 == 1).
    let m = InteractionMatrix::from_interactions(&w.train).unwrap();
    let trained = m.user_row(1).0;
    assert_eq!(r.n_train, trained.len());
    assert!(r.recommendations.iter().all(|e| !trained.contains(&e.idx)));
    assert_eq!(r.recommendations[0].idx % 4, 1, "{r}");
    let text = r.to_string();
    assert!(
        text.contains("user u1") && text.contains("Film <"),
        "{text}"
    );
    let json = serde_json::to_value(&r).unwrap();
    assert!(json["recommendations"][0]["title"].is_string());

    let e = recommend_user(&w.model, &w.train, &w.users, &w.items, "nobody", 5).unwrap_err();
    assert!(e.to_string().contains("'nobody'"), "{e}");

    let s = similar(&w.model, &w.items, "m2", 3).unwrap();
    assert_eq!(s.similar.len(), 3);
    assert!(s.similar.iter().all(|e| e.item != "m2"));
    assert_eq!(s.similar[0].idx % 4, 2, "{s}");
    assert!(similar(&w.model, &w.items, "m999", 3)
        .unwrap_err()
        .to_string()
        .contains("'m999'"));

    let bytes = recommend_all_parquet(&w.model, &w.train, &w.users, &w.items, 3).unwrap();
    let (batch, _) = alsflow_core::table::read_batch(&bytes).unwrap();
    assert_eq!(batch.num_rows(), 40 * 3);
    let names: Vec<String> = batch
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    assert_eq!(names, ["user", "rank", "item", "title", "score"]);
}

#[test]
fn the_random_baseline_is_a_pure_function_of_its_seed() {
    let w = world();
    let run = |seed: u64| {
        let params = Params {
            seed,
            ..Params::default()
        };
        let out =
            Evaluate::run(&params, &inputs(&w, false), &LocalContext::new("planted")).unwrap();
        metrics_json(artifact(&out, "metrics")).unwrap()["random"].clone()
    };
    assert_eq!(run(1), run(1));
    assert_ne!(run(1), run(2));
}

/// The account of the 2 × 2 search of [`inputs`]: its best point (rank 4, alpha 5)
/// takes the largest rank and the smallest alpha.
fn search_summary() -> alsflow_formats::search::SearchSummary {
    use alsflow_formats::search::*;
    let round = SearchRound {
        round: 0,
        kind: "grid".into(),
        reason: "the grid: 4 points x 3 folds".into(),
        new_points: vec![0, 1, 2, 3],
        scored_points: vec![0, 1, 2, 3],
        folds: vec![0, 1, 2],
        fits: 12,
        best_point: 2,
        best_label: "rank=4 alpha=5".into(),
        best_value: 0.167,
        extensions: vec![],
    };
    SearchSummary {
        strategy: "grid".into(),
        metric: "roem".into(),
        direction: "minimize".into(),
        folds: 3,
        axes: vec!["rank".into(), "alpha".into()],
        rounds: vec![round],
        points_tried: 4,
        fits: 12,
        grid_fits: 12,
        stopped: "the grid was searched exhaustively".into(),
        best: BestPoint {
            point: 2,
            label: "rank=4 alpha=5".into(),
            mean: 0.167,
            std: 0.002,
            fold_values: vec![0.165, 0.167, 0.169],
        },
        edges: vec![],
        warnings: vec![
            "rank: the best point takes the largest value tried (4); <higher> values may be better"
                .into(),
        ],
    }
}

#[test]
fn the_tuning_section_shows_the_search_its_warnings_and_plots_that_fit_the_page() {
    let w = world();
    let mut inp = inputs(&w, true);
    let bytes = search_summary().to_json().unwrap();
    inp.insert(
        "tune.search",
        InputArtifact {
            id: ArtifactId::of(&bytes),
            label: "tune.search".into(),
            format: Format::Json,
            bytes: bytes.into(),
        },
    );
    let out = Evaluate::run(&Params::default(), &inp, &LocalContext::new("planted")).unwrap();
    let html = std::str::from_utf8(artifact(&out, "report")).unwrap();
    assert!(html.contains("<h3>Search path</h3>"), "{html}");
    assert!(html.contains("the grid was searched exhaustively"));
    assert!(
        html.contains("rank: the best point takes the largest value tried (4); &lt;higher&gt;"),
        "warnings are shown, escaped"
    );
    assert!(html.contains("0.1670 ± 0.0020"), "mean ± fold std");
    for name in ["search_path", "marginals", "fold_spread", "heatmap"] {
        assert!(html.contains(&format!("data-name=\"{name}\"")), "{name}");
    }
    assert_eq!(html.matches("<svg").count(), 6);
    for width in html.split("<svg width=\"").skip(1) {
        let w: u32 = width[..width.find('"').unwrap()].parse().unwrap();
        assert!(w <= 1000, "a plot {w} px wide does not fit the page");
    }
    // The heatmap is drawn at the selected point (rank 4, alpha 5): outlined cell.
    let heat = &html[html.find("data-name=\"heatmap\"").unwrap()..];
    assert!(
        heat.contains("stroke=\"#E6550D\""),
        "the best cell is outlined"
    );

    // A broken account is an error naming it.
    let mut bad = inputs(&w, true);
    bad.insert(
        "tune.search",
        InputArtifact {
            id: ArtifactId::of(b"{"),
            label: "tune.search".into(),
            format: Format::Json,
            bytes: b"{".to_vec().into(),
        },
    );
    let e = Evaluate::run(&Params::default(), &bad, &LocalContext::new("planted"))
        .err()
        .unwrap()
        .to_string();
    assert!(e.starts_with("tune.search"), "{e}");
}

#[test]
fn sampled_users_are_said_in_the_table_json_and_report() {
    let w = world();
    let params = Params {
        users: Some(10),
        ..Params::default()
    };
    let out = Evaluate::run(&params, &inputs(&w, false), &LocalContext::new("planted")).unwrap();
    let j = metrics_json(artifact(&out, "metrics")).unwrap();
    let exact = Evaluate::run(
        &Params::default(),
        &inputs(&w, false),
        &LocalContext::new("planted"),
    )
    .unwrap();
    let je = metrics_json(artifact(&exact, "metrics")).unwrap();
    for sys in SYSTEMS {
        assert_eq!(j[sys]["sampled_users"], 10, "{j}");
        assert_eq!(j[sys]["users_evaluated"], 10);
        assert_eq!(j[sys]["sampled_from"], je[sys]["users_evaluated"]);
        // Exact metrics carry no sample fields.
        assert!(je[sys].get("sampled_users").is_none(), "{je}");
    }
    let html = String::from_utf8(artifact(&out, "report").to_vec()).unwrap();
    assert!(html.contains("Sampled:") && html.contains("evaluate.users = 10"));
    let html = String::from_utf8(artifact(&exact, "report").to_vec()).unwrap();
    assert!(!html.contains("Sampled:"));
    // Zero users is a parameter error naming the key.
    let err = Evaluate::run(
        &Params {
            users: Some(0),
            ..Params::default()
        },
        &inputs(&w, false),
        &LocalContext::new("planted"),
    )
    .unwrap_err();
    assert!(err.to_string().contains("evaluate.users"), "{err}");
}

#[test]
fn streamed_recommendations_equal_the_in_memory_table() {
    let w = world();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("recs.parquet");
    let done = std::sync::atomic::AtomicUsize::new(0);
    let rows = write_recommend_all(&w.model, &w.train, &w.users, &w.items, 5, &path, &|n| {
        done.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
    })
    .unwrap();
    assert_eq!(done.into_inner(), w.users.len());
    let streamed = std::fs::read(&path).unwrap();
    let whole = recommend_all_parquet(&w.model, &w.train, &w.users, &w.items, 5).unwrap();
    let (a, meta_a) = alsflow_core::table::read_batch(&streamed).unwrap();
    let (b, meta_b) = alsflow_core::table::read_batch(&whole).unwrap();
    assert_eq!(a, b);
    assert_eq!(meta_a, meta_b);
    assert_eq!(rows, a.num_rows() as u64);
    // No temp file is left beside the output.
    let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(names.len(), 1);
}
