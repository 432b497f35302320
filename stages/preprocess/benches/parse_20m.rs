//! Benchmark: parse and index a 20M-row MovieLens-style `ratings.csv` (~500 MB).
//!
//! The file is generated into a temp dir from the synthetic generator (138,493 users,
//! 26,744 items, like ML-20M), then read once and run through `preprocess::load`
//! (parse, index, deduplicate) and the full stage (plus Parquet encoding).
//! Prints seconds, rows/s and peak RSS (VmHWM, reset after generation).
//!
//! `cargo bench -p alsflow-preprocess --bench parse_20m`; `ALSFLOW_BENCH_ROWS=2000000`
//! for a smaller run.

use alsflow_core::{
    stage::LocalContext, ArtifactId, Format, InputArtifact, Stage, StageInputs, StageOutputs,
};
use alsflow_preprocess::{
    synthetic, Params, Preprocess, SourceFormat, SyntheticParams, SyntheticValues,
};
use std::io::Write;
use std::time::Instant;

fn vm_hwm_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn reset_hwm() {
    // Linux: writing 5 to clear_refs resets the peak RSS counter.
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let rows: u64 = std::env::var("ALSFLOW_BENCH_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000_263);
    let sp = SyntheticParams {
        users: 138_493,
        items: 26_744,
        interactions: rows,
        rank: 20,
        popularity_skew: 0.9,
        values: SyntheticValues::Count,
        seed: 2026,
    };
    println!("threads: {}", rayon::current_num_threads());
    let t0 = Instant::now();
    let g = synthetic::generate(&sp);
    let gen_s = t0.elapsed().as_secs_f64();
    println!(
        "synthetic::generate: {} rows in {gen_s:.2} s ({:.1} M rows/s)",
        g.len(),
        g.len() as f64 / gen_s / 1e6
    );

    let dir = tempfile::tempdir()?;
    let path = dir.path().join("ratings.csv");
    let t0 = Instant::now();
    {
        let mut w = std::io::BufWriter::with_capacity(1 << 22, std::fs::File::create(&path)?);
        w.write_all(b"userId,movieId,rating,timestamp\n")?;
        for r in 0..g.len() {
            let half_stars = (g.value[r] as u32 - 1) % 10 + 1;
            let ts = 789_652_009 + (r as u64 * 7919) % 638_000_000;
            writeln!(
                w,
                "{},{},{}.{},{}",
                g.user[r] + 1,
                g.item[r] + 1,
                half_stars / 2,
                if half_stars % 2 == 1 { 5 } else { 0 },
                ts
            )?;
        }
        w.flush()?;
    }
    drop(g);
    let size = std::fs::metadata(&path)?.len();
    println!(
        "wrote {} ({:.0} MB) in {:.1} s",
        path.display(),
        size as f64 / 1e6,
        t0.elapsed().as_secs_f64()
    );

    reset_hwm();
    let t0 = Instant::now();
    let bytes = std::fs::read(&path)?;
    let read_s = t0.elapsed().as_secs_f64();
    let mut inputs = StageInputs::new();
    inputs.insert(
        "source",
        InputArtifact {
            id: ArtifactId([0; 32]),
            label: path.to_string_lossy().into_owned(),
            format: Format::Raw,
            bytes: bytes.into(),
        },
    );
    let params = Params {
        format: SourceFormat::Movielens,
        ..Default::default()
    };
    let t1 = Instant::now();
    let mut notes = StageOutputs::new();
    let loaded = alsflow_preprocess::load(&params, &inputs, &mut notes)?;
    let load_s = t1.elapsed().as_secs_f64();
    let n = loaded.interactions.len();
    drop(loaded);
    let total = read_s + load_s;
    println!(
        "read {read_s:.2} s + parse/index/dedupe {load_s:.2} s = {total:.2} s for {n} rows ({:.1} M rows/s, {:.0} MB/s); peak RSS {:.0} MB",
        n as f64 / total / 1e6,
        size as f64 / total / 1e6,
        vm_hwm_mb()
    );
    for l in &notes.summary {
        println!("  {l}");
    }

    reset_hwm();
    let t2 = Instant::now();
    let out = Preprocess::run(&params, &inputs, &LocalContext::new("bench"))?;
    let run_s = t2.elapsed().as_secs_f64();
    let parquet_mb: usize = out.artifacts.iter().map(|a| a.bytes.len()).sum();
    println!(
        "full stage (incl. Parquet encoding, {:.0} MB out): {run_s:.2} s; peak RSS {:.0} MB",
        parquet_mb as f64 / 1e6,
        vm_hwm_mb()
    );
    Ok(())
}
