//! Write an ML-20M-shaped synthetic interaction file (`user\titem\tvalue`) with the
//! product's generator, once, for the side-by-side ALS comparison (`make bench-compare`).
//!
//! Usage: `synth_tsv OUT.tsv [--users N] [--items N] [--interactions N] [--seed S]`
//! Defaults: 138,493 users, 26,744 items, 19,500,000 interactions (ML-20M's shape).

use alsflow_preprocess::synthetic;
use alsflow_preprocess::SyntheticParams;
use std::path::PathBuf;
use std::time::Instant;

fn main() {
    let mut args = std::env::args().skip(1);
    let mut out: Option<PathBuf> = None;
    let mut p = SyntheticParams {
        users: 138_493,
        items: 26_744,
        interactions: 19_500_000,
        rank: 20,
        popularity_skew: 0.9,
        seed: 42,
        ..Default::default()
    };
    while let Some(a) = args.next() {
        let mut num = |name: &str| -> u64 {
            args.next()
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| fail(&format!("{name} needs a number")))
        };
        match a.as_str() {
            "--users" => p.users = num("--users") as u32,
            "--items" => p.items = num("--items") as u32,
            "--interactions" => p.interactions = num("--interactions"),
            "--seed" => p.seed = num("--seed"),
            _ if out.is_none() && !a.starts_with("--") => out = Some(PathBuf::from(a)),
            _ => fail(&format!("unexpected argument '{a}'")),
        }
    }
    let out = out.unwrap_or_else(|| {
        fail("usage: synth_tsv OUT.tsv [--users N] [--items N] [--interactions N] [--seed S]")
    });
    if let Err(e) = synthetic::validate(&p) {
        fail(&e.to_string());
    }
    let t = Instant::now();
    let table = synthetic::generate(&p);
    let gen_s = t.elapsed().as_secs_f64();
    let tmp = out.with_extension("tsv.tmp");
    if let Err(e) = synthetic::write_tsv(&tmp, &table).and_then(|_| std::fs::rename(&tmp, &out)) {
        fail(&format!("cannot write {}: {e}", out.display()));
    }
    eprintln!(
        "wrote {} ({} interactions, {} users, {} items) in {:.1} s (generation {:.1} s)",
        out.display(),
        table.len(),
        table.n_users,
        table.n_items,
        t.elapsed().as_secs_f64(),
        gen_s
    );
}

fn fail(msg: &str) -> ! {
    eprintln!("error: {msg}");
    std::process::exit(2)
}
