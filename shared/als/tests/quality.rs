//! Quality on the common protocol (PROTOCOL.md §4): ml-100k split, reference settings.

use alsflow_als::{fit, AlsModel, AlsParams, Confidence, InteractionMatrix, RegScaling, Solver};
use alsflow_core::table::Interactions;
use std::path::Path;

/// Read a dense `user_idx\titem_idx\tvalue` file.
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
    let at = meta
        .find(&format!("\"{key}\""))
        .unwrap_or_else(|| panic!("meta.json lacks {key}"));
    let rest = &meta[at + key.len() + 3..];
    let digits: String = rest
        .trim_start()
        .chars()
        .take_while(|c| c.is_ascii_digit())
        .collect();
    digits.parse().unwrap()
}

/// Exact ROEM and P@10 as PROTOCOL.md §4 defines them (f64 scores, PERCENT_RANK ties).
fn roem_p10(model: &AlsModel, train: &InteractionMatrix, test: &Interactions) -> (f64, f64) {
    let catalog: Vec<usize> = (0..train.n_items())
        .filter(|&i| !train.item_col(i).0.is_empty())
        .collect();
    let mut tests: Vec<Vec<(usize, f64)>> = vec![Vec::new(); train.n_users()];
    for r in 0..test.len() {
        tests[test.user[r] as usize].push((test.item[r] as usize, test.value[r] as f64));
    }
    let (mut num, mut den, mut p_sum, mut n_users) = (0f64, 0f64, 0f64, 0usize);
    for (u, t) in tests.iter().enumerate() {
        if t.is_empty() {
            continue;
        }
        let liked = train.user_row(u).0;
        let score = |i: usize| -> f64 {
            model
                .user(u)
                .iter()
                .zip(model.item(i))
                .map(|(a, b)| *a as f64 * *b as f64)
                .sum()
        };
        let mut cands: Vec<(usize, f64)> = catalog
            .iter()
            .filter(|i| liked.binary_search(&(**i as u32)).is_err())
            .map(|&i| (i, score(i)))
            .collect();
        let m = cands.len();
        for &(i, r) in t {
            let s = score(i);
            let above = cands.iter().filter(|c| c.1 > s).count();
            let rank = if m <= 1 {
                0.0
            } else {
                above as f64 / (m - 1) as f64
            };
            num += r * rank;
            den += r;
        }
        cands.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        let hits = cands
            .iter()
            .take(10)
            .filter(|c| t.iter().any(|x| x.0 == c.0))
            .count();
        p_sum += hits as f64 / 10.0;
        n_users += 1;
    }
    (num / den, p_sum / n_users as f64)
}

fn check(solver: Solver, roem_max: f64, p10_min: f64) {
    let Some(data) = alsflow_core::test_support::shared_data_or_skip("ml-100k quality") else {
        return;
    };
    let dir = data.join("splits/ml-100k");
    let meta = std::fs::read_to_string(dir.join("meta.json")).unwrap();
    let (nu, ni) = (meta_dim(&meta, "n_users"), meta_dim(&meta, "n_items"));
    let train_t = read_tsv(&dir.join("train.tsv"), nu, ni);
    let test_t = read_tsv(&dir.join("test.tsv"), nu, ni);
    let train = InteractionMatrix::from_interactions(&train_t).unwrap();
    let p = AlsParams {
        rank: 64,
        max_iter: 15,
        reg_param: 0.1,
        alpha: 40.0,
        confidence: Confidence::Linear,
        reg_scaling: RegScaling::Plain,
        solver,
        threads: 2,
        ..AlsParams::default()
    };
    let model = fit(&train, &p).unwrap();
    let (roem, p10) = roem_p10(&model, &train, &test_t);
    eprintln!("{solver:?}: ROEM {roem:.4} P@10 {p10:.4}");
    assert!(
        roem <= roem_max,
        "{solver:?}: ROEM {roem:.4} > {roem_max:.4}"
    );
    assert!(p10 >= p10_min, "{solver:?}: P@10 {p10:.4} < {p10_min:.4}");
}

#[test]
fn ml100k_cg_matches_implicit() {
    check(Solver::Cg, 0.1396 + 0.004, 0.2268 - 0.008);
}

#[test]
fn ml100k_cholesky_matches_implicit() {
    check(Solver::Cholesky, 0.1492 + 0.004, 0.2172 - 0.008);
}
