//! Fit on a protocol split's `train.tsv` and write the factors as TSV for
//! `python3 ../shared/bench/protocol.py eval`: `cargo run --release -p alsflow-als
//! --example protocol_factors -- SPLIT_DIR OUT_DIR [cg|cholesky] [rank] [iters]`
//! writes OUT_DIR/U.tsv and OUT_DIR/V.tsv (`idx<TAB>f1<TAB>f2...`).

use alsflow_als::{fit, AlsParams, InteractionMatrix, Solver};
use alsflow_core::table::Interactions;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn meta_dim(meta: &str, key: &str) -> Result<u32, String> {
    let at = meta
        .find(&format!("\"{key}\""))
        .ok_or(format!("meta.json lacks {key}"))?;
    let digits: String = meta[at + key.len() + 3..]
        .trim_start()
        .chars()
        .take_while(|c| c.is_ascii_digit())
        .collect();
    digits.parse().map_err(|e| format!("meta.json {key}: {e}"))
}

fn read_tsv(path: &Path, nu: u32, ni: u32) -> Result<Interactions, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut t = Interactions::with_dims(nu, ni);
    for (n, line) in text.lines().enumerate() {
        let bad = |what: &str| format!("{}:{}: bad {what}", path.display(), n + 1);
        let mut f = line.split('\t');
        t.user.push(
            f.next()
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| bad("user_idx"))?,
        );
        t.item.push(
            f.next()
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| bad("item_idx"))?,
        );
        t.value.push(
            f.next()
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| bad("value"))?,
        );
    }
    Ok(t)
}

fn write_factors(path: &Path, f: &[f32], rank: usize) -> Result<(), String> {
    let mut s = String::new();
    for (i, row) in f.chunks_exact(rank).enumerate() {
        let _ = write!(s, "{i}");
        for v in row {
            let _ = write!(s, "\t{v:e}");
        }
        s.push('\n');
    }
    std::fs::write(path, s).map_err(|e| format!("{}: {e}", path.display()))
}

fn main() -> Result<(), String> {
    let args: Vec<String> = std::env::args().collect();
    let (Some(split), Some(out)) = (args.get(1), args.get(2)) else {
        return Err(
            "usage: protocol_factors SPLIT_DIR OUT_DIR [cg|cholesky] [rank] [iters]".into(),
        );
    };
    let (split, out) = (PathBuf::from(split), PathBuf::from(out));
    let solver = if args.get(3).map(String::as_str) == Some("cholesky") {
        Solver::Cholesky
    } else {
        Solver::Cg
    };
    let rank = args.get(4).and_then(|v| v.parse().ok()).unwrap_or(64);
    let max_iter = args.get(5).and_then(|v| v.parse().ok()).unwrap_or(15);
    let meta =
        std::fs::read_to_string(split.join("meta.json")).map_err(|e| format!("meta.json: {e}"))?;
    let t = read_tsv(
        &split.join("train.tsv"),
        meta_dim(&meta, "n_users")?,
        meta_dim(&meta, "n_items")?,
    )?;
    let m = InteractionMatrix::from_interactions(&t).map_err(|e| e.to_string())?;
    let p = AlsParams {
        rank,
        max_iter,
        reg_param: 0.1,
        alpha: 40.0,
        solver,
        threads: 2,
        ..AlsParams::default()
    };
    let model = fit(&m, &p).map_err(|e| e.to_string())?;
    std::fs::create_dir_all(&out).map_err(|e| format!("{}: {e}", out.display()))?;
    write_factors(&out.join("U.tsv"), &model.user_factors, rank)?;
    write_factors(&out.join("V.tsv"), &model.item_factors, rank)?;
    println!(
        "{solver:?} rank {rank}, {max_iter} iterations: wrote {}/U.tsv and V.tsv",
        out.display()
    );
    Ok(())
}
