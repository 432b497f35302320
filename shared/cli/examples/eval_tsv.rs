//! Time evaluation at scale on a TSV interaction file (`user\titem\tvalue`, dense
//! indices; the ML-20M-shaped file of `make bench-compare`): a seeded 80/20 random
//! split, an ALS fit (64 factors, CG), then
//! - the model's metrics exact over every user (`alsflow_metrics::evaluate_factors`,
//!   what `implicit`'s `ranking_metrics_at_k` is compared with),
//! - the evaluate stage's work (model + popularity + random baselines), exact,
//! - the same with `evaluate.users = 20000`, and the largest difference of any metric
//!   between sampled and exact,
//! - top-10 `recommend_all` for every user, streamed in batches.
//!
//! Usage: `eval_tsv FILE.tsv [--factors 64] [--iterations 10] [--sample 20000]
//! [--write-split DIR]` (DIR gets train.tsv and test.tsv for the `implicit` side,
//! `benches/implicit_eval.py`). Prints one JSON object on stdout.

use alsflow_als::{fit, recommend_all_with, AlsParams, InteractionMatrix};
use alsflow_core::rng::Xoshiro256;
use alsflow_core::stage::NoProgress;
use alsflow_core::table::Interactions;
use alsflow_evaluate::{evaluate_with, Params};
use std::io::Write;
use std::time::Instant;

mod common;
use common::{fail, parse, peak_rss_mb, read_tsv};

fn main() {
    let mut args = std::env::args().skip(1);
    let (mut path, mut split_dir) = (None, None);
    let (mut rank, mut iters, mut sample) = (64usize, 10usize, 20_000usize);
    while let Some(a) = args.next() {
        let mut val = |name: &str| {
            args.next()
                .unwrap_or_else(|| fail(&format!("{name} needs a value")))
        };
        match a.as_str() {
            "--factors" => rank = parse(&val("--factors")),
            "--iterations" => iters = parse(&val("--iterations")),
            "--sample" => sample = parse(&val("--sample")),
            "--write-split" => split_dir = Some(val("--write-split")),
            _ if path.is_none() && !a.starts_with("--") => path = Some(a),
            _ => fail(&format!("unexpected argument '{a}'")),
        }
    }
    let path = path.unwrap_or_else(|| fail("usage: eval_tsv FILE.tsv [--factors N] [--iterations N] [--sample N] [--write-split DIR]"));
    let all = read_tsv(&path);
    // Seeded 80/20 split of the rows.
    let mut rng = Xoshiro256::new(42, 0);
    let in_test: Vec<bool> = (0..all.len()).map(|_| rng.below(5) == 0).collect();
    let train = all.filter_rows(|r| !in_test[r]);
    let test = all.filter_rows(|r| in_test[r]);
    drop(all);
    if let Some(dir) = &split_dir {
        std::fs::create_dir_all(dir).unwrap_or_else(|e| fail(&format!("{dir}: {e}")));
        write_tsv(&format!("{dir}/train.tsv"), &train);
        write_tsv(&format!("{dir}/test.tsv"), &test);
    }
    let matrix =
        InteractionMatrix::from_interactions(&train).unwrap_or_else(|e| fail(&e.to_string()));
    let t = Instant::now();
    let params = AlsParams {
        rank,
        max_iter: iters,
        reg_param: 0.1,
        alpha: 40.0,
        threads: 0,
        ..Default::default()
    };
    let model = fit(&matrix, &params).unwrap_or_else(|e| fail(&e.to_string()));
    let fit_s = t.elapsed().as_secs_f64();

    let exact_params = Params::default();
    let t = Instant::now();
    let exact = evaluate_with(&model, &train, &test, &exact_params, &NoProgress)
        .unwrap_or_else(|e| fail(&e.to_string()));
    let stage_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let model_only = alsflow_metrics::evaluate_factors(
        &exact.set,
        &model.user_factors,
        &model.item_factors,
        rank,
        10,
    )
    .unwrap_or_else(|e| fail(&e.to_string()));
    let model_s = t.elapsed().as_secs_f64();
    let sampled_params = Params {
        users: Some(sample),
        ..Params::default()
    };
    let t = Instant::now();
    let sampled = evaluate_with(&model, &train, &test, &sampled_params, &NoProgress)
        .unwrap_or_else(|e| fail(&e.to_string()));
    let sampled_s = t.elapsed().as_secs_f64();
    let mut max_diff = 0.0f64;
    let mut rows = Vec::new();
    for ((system, e), (_, s)) in exact.systems.iter().zip(&sampled.systems) {
        for ((name, ev), (_, sv)) in e.named().into_iter().zip(s.named()) {
            let d = (ev - sv).abs();
            max_diff = max_diff.max(d);
            rows.push(format!("\"{system}/{name}\":[{ev:.6},{sv:.6}]"));
        }
    }
    let t = Instant::now();
    let mut lists = 0usize;
    recommend_all_with(&model, &matrix, 10, true, 16_384, |_, l| {
        lists += l.len();
        Ok::<(), std::convert::Infallible>(())
    })
    .unwrap_or_else(|never| match never {});
    let recommend_s = t.elapsed().as_secs_f64();
    let mut out = std::io::stdout().lock();
    let _ = writeln!(
        out,
        "{{\"system\":\"alsflow\",\"factors\":{rank},\"iterations\":{iters},\"users\":{},\"items\":{},\"train\":{},\"test\":{},\"fit_seconds\":{fit_s:.3},\"model_metrics_seconds\":{model_s:.3},\"evaluate_exact_seconds\":{stage_s:.3},\"evaluate_sampled_seconds\":{sampled_s:.3},\"sampled_users\":{},\"users_evaluated\":{},\"max_abs_diff_sampled_vs_exact\":{max_diff:.6},\"recommend_all_seconds\":{recommend_s:.3},\"recommend_all_users\":{lists},\"model_roem\":{:.6},\"model_ndcg@10\":{:.6},\"peak_rss_mb\":{:.1},\"exact_vs_sampled\":{{{}}}}}",
        model.n_users, model.n_items, train.len(), test.len(),
        sampled.set.evaluated_users().len(), exact.set.evaluated_users().len(),
        model_only.roem, model_only.ndcg, peak_rss_mb(), rows.join(",")
    );
}

fn write_tsv(path: &str, t: &Interactions) {
    let file = std::fs::File::create(path).unwrap_or_else(|e| fail(&format!("{path}: {e}")));
    let mut w = std::io::BufWriter::new(file);
    for r in 0..t.len() {
        writeln!(w, "{}\t{}\t{}", t.user[r], t.item[r], t.value[r])
            .unwrap_or_else(|e| fail(&format!("{path}: {e}")));
    }
}
