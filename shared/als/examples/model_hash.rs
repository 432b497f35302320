//! Hashes of seeded fits, to check that a change to the kernels or solvers keeps
//! every bit: `cargo run --release -p alsflow-als --example model_hash` prints one
//! FNV-1a hash per configuration of the model bytes (and, for the unconstrained ones,
//! of every user's top 20 and one item's 20 most similar items). Run it before and
//! after the change on the same machine and compare the output: the lines must be
//! equal. (They are not golden values: the log confidence calls the platform's
//! `log1pf`, which may differ in the last bit between C libraries.)
//!
//! The configurations: ranks 1, 7, 20, 64 (padded and unpadded rows); CG, Cholesky
//! and NNLS; linear and log confidence; plain and per-interaction λ; values that
//! are fractional, zero and negative; empty users and items; and a larger problem
//! whose CG half-steps gather the other side's rows (factors over 1 MiB) and meet a
//! row too long to gather (an item every user has).

#[path = "../benches/synthetic.rs"]
mod synthetic;

use alsflow_als::{
    fit, recommend_all, similar_items, AlsError, AlsParams, Confidence, InteractionMatrix,
    RegScaling, Solver,
};

/// FNV-1a, 64 bits: enough to tell equal byte strings from different ones.
fn fnv(b: &[u8]) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    for &x in b {
        h ^= x as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// ML-20M-shaped interactions with varied values, three empty users and two empty
/// items; with `all_item0`, every user also has item 0.
fn data(
    nu: u32,
    ni: u32,
    nnz: u64,
    seed: u64,
    all_item0: bool,
) -> Result<InteractionMatrix, AlsError> {
    let mut t = synthetic::ml20m_shaped(nu, ni, nnz, seed);
    for (n, v) in t.value.iter_mut().enumerate() {
        // Varied values, a few negative and zero ones.
        *v = match n % 11 {
            0 => -1.5,
            1 => 0.0,
            r => r as f32 * 0.75,
        };
    }
    if all_item0 {
        for u in 0..nu {
            t.user.push(u);
            t.item.push(0);
            t.value.push(2.0);
        }
    }
    // Room for empty users and items.
    t.n_users += 3;
    t.n_items += 2;
    InteractionMatrix::from_interactions(&t)
}

fn main() -> Result<(), AlsError> {
    let small = data(2_000, 500, 60_000, 7, false)?;
    // At ranks 20 and 64 the 20,000 user rows exceed 1 MiB, so the item half of CG
    // gathers them; at rank 64 item 0's 20,000 rows exceed the gather cap and are
    // read in place.
    let big = data(20_000, 300, 400_000, 8, true)?;
    let mut all = 0u64;
    for (name, m) in [("small", &small), ("big", &big)] {
        for rank in [1usize, 7, 20, 64] {
            for (solver, nonneg) in [
                (Solver::Cg, false),
                (Solver::Cholesky, false),
                (Solver::Cg, true),
            ] {
                for (conf, scaling) in [
                    (Confidence::Linear, RegScaling::Plain),
                    (Confidence::Log, RegScaling::PerInteraction),
                ] {
                    // NNLS and rank 1 are covered by the small problem.
                    if name == "big" && (nonneg || rank == 1) {
                        continue;
                    }
                    let p = AlsParams {
                        rank,
                        max_iter: 3,
                        solver,
                        nonnegative: nonneg,
                        confidence: conf,
                        reg_scaling: scaling,
                        compute_loss: true,
                        threads: 2,
                        ..AlsParams::default()
                    };
                    let model = fit(m, &p)?;
                    let mut h = fnv(&model.to_bytes()?);
                    if !nonneg {
                        // Inference too: every user's top 20, and similar items.
                        let mut bytes = Vec::new();
                        for list in recommend_all(&model, m, 20, true)
                            .iter()
                            .chain(&[similar_items(&model, 3, 20)])
                        {
                            for (i, s) in list {
                                bytes.extend(i.to_le_bytes());
                                bytes.extend(s.to_bits().to_le_bytes());
                            }
                        }
                        h ^= fnv(&bytes).rotate_left(1);
                    }
                    all ^= h.rotate_left(rank as u32);
                    println!("{name} rank {rank} {solver:?} nonneg={nonneg} {conf:?} {scaling:?}: {h:016x}");
                }
            }
        }
    }
    println!("all: {all:016x}");
    Ok(())
}
