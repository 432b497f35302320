//! Fold-in as the server runs it, on the common protocol's ml-100k split: folding in
//! each user's own training history must rank (nearly) the same top 10 as their
//! trained row. The trained row was solved against the previous iteration's item
//! factors, so the two are close, not bit-equal. (That a fold-in is the exact
//! minimiser of the user's objective, against a dense reference solve to 1e-5, is
//! `shared/als/tests/fold_in.rs`.)

use alsflow_als::{fit, AlsParams, InteractionMatrix, Solver};
use alsflow_core::table::{IdMap, Interactions};
use alsflow_core::ArtifactId;
use alsflow_serve::served::Provenance;
use alsflow_serve::{Filters, ServedModel};
use std::path::Path;

/// A dense `user_idx\titem_idx\tvalue` file.
fn read_tsv(path: &Path, n_users: u32, n_items: u32) -> Interactions {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut t = Interactions::with_dims(n_users, n_items);
    for (n, line) in text.lines().enumerate() {
        let f: Vec<&str> = line.split('\t').collect();
        assert_eq!(
            f.len(),
            3,
            "{}:{}: expected 3 fields",
            path.display(),
            n + 1
        );
        t.user.push(f[0].parse().unwrap());
        t.item.push(f[1].parse().unwrap());
        t.value.push(f[2].parse().unwrap());
    }
    t
}

fn meta_dim(meta: &str, key: &str) -> u32 {
    let v: serde_json::Value = serde_json::from_str(meta).expect("meta.json");
    v[key]
        .as_u64()
        .unwrap_or_else(|| panic!("meta.json lacks {key}")) as u32
}

fn ids(prefix: &str, n: u32) -> IdMap {
    IdMap {
        raw_ids: (0..n).map(|i| format!("{prefix}{i}")).collect(),
        titles: None,
    }
}

#[test]
fn folding_in_each_users_training_history_gives_their_trained_top_10() {
    let Some(data) = alsflow_core::test_support::shared_data_or_skip("ml-100k fold-in") else {
        return;
    };
    let dir = data.join("splits/ml-100k");
    let meta = std::fs::read_to_string(dir.join("meta.json")).unwrap();
    let (nu, ni) = (meta_dim(&meta, "n_users"), meta_dim(&meta, "n_items"));
    let train = read_tsv(&dir.join("train.tsv"), nu, ni);
    let params = AlsParams {
        rank: 64,
        max_iter: 15,
        reg_param: 0.1,
        alpha: 40.0,
        solver: Solver::Cholesky,
        threads: 2,
        ..AlsParams::default()
    };
    let model = fit(
        &InteractionMatrix::from_interactions(&train).unwrap(),
        &params,
    )
    .unwrap();
    let provenance = Provenance {
        dataset: "ml-100k".into(),
        model: ArtifactId::of(b"ml-100k"),
        train_run: String::new(),
        trained_ms: 0,
    };
    let served = ServedModel::new(provenance, model, &train, ids("u", nu), ids("i", ni)).unwrap();
    let filters = Filters {
        exclude_seen: true,
        ..Filters::default()
    };
    let (mut overlap_sum, mut users, mut identical) = (0.0, 0, 0);
    for u in 0..nu {
        let (items, values) = served.seen(u);
        if items.is_empty() {
            continue;
        }
        let history: Vec<(u32, f32)> = items.iter().copied().zip(values.iter().copied()).collect();
        let trained: Vec<u32> = served
            .recommend_user(u, 10, &filters)
            .iter()
            .map(|p| p.0)
            .collect();
        let folded: Vec<u32> = served
            .recommend_history(&history, None, 10, &filters)
            .unwrap()
            .iter()
            .map(|p| p.0)
            .collect();
        let shared = folded.iter().filter(|i| trained.contains(i)).count();
        overlap_sum += shared as f64 / trained.len() as f64;
        identical += usize::from(folded == trained);
        users += 1;
    }
    let mean = overlap_sum / users as f64;
    eprintln!(
        "ml-100k, rank 64, 15 Cholesky iterations: fold-in top-10 shares {:.1}% of the trained \
         row's top 10 on average; identical lists for {identical} of {users} users",
        mean * 100.0
    );
    assert!(mean >= 0.90, "mean top-10 overlap {mean:.3} < 0.90");
}
