//! The blocked product against the obvious per-score loop, kernel against kernel.

use super::kernels::Isa;
use super::*;
use proptest::prelude::*;

/// The reference: one fused multiply-add chain per score, in factor order.
fn reference(x: &[f32], y: &[f32], rank: usize) -> Vec<f32> {
    let (nu, ni) = (x.len() / rank, y.len() / rank);
    let mut out = vec![0f32; nu * ni];
    for u in 0..nu {
        for j in 0..ni {
            let mut acc = 0f32;
            for f in 0..rank {
                acc = x[u * rank + f].mul_add(y[j * rank + f], acc);
            }
            out[u * ni + j] = acc;
        }
    }
    out
}

fn values(n: usize, seed: u64) -> Vec<f32> {
    let mut rng = alsflow_core::rng::Xoshiro256::new(seed, 7);
    (0..n).map(|_| rng.next_f32() * 2.0 - 1.0).collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(60))]
    #[test]
    fn every_kernel_equals_the_reference_bit_for_bit(
        nu in 1usize..40, ni in 1usize..100, rank in 1usize..20, first_panel in 0usize..3, seed in 0u64..1000
    ) {
        let x = values(nu * rank, seed);
        let y = values(ni * rank, seed + 1);
        let want = reference(&x, &y, rank);
        let items = PackedItems::new(&y, rank);
        let mut users = PackedUsers::new(rank);
        users.fill(x.chunks_exact(rank));
        let first = (first_panel * ITEM_PANEL).min(ni / ITEM_PANEL * ITEM_PANEL);
        let count = ni - first;
        let stride = count + 3;
        for isa in Isa::available() {
            let mut out = vec![f32::NAN; nu * stride];
            score_tile_with(isa, &users, &items, first, count, &mut out, stride);
            for u in 0..nu {
                for j in 0..count {
                    prop_assert_eq!(
                        out[u * stride + j].to_bits(),
                        want[u * ni + first + j].to_bits(),
                        "{:?} user {} item {}", isa, u, first + j
                    );
                }
                // Past the tile's columns nothing is written.
                for j in count..stride {
                    if u * stride + j < out.len() {
                        prop_assert!(out[u * stride + j].is_nan());
                    }
                }
            }
        }
    }
}

#[test]
fn packed_rows_follow_the_given_order() {
    let rank = 3;
    let y = values(10 * rank, 3);
    let rows = [7u32, 2, 9];
    let items = PackedItems::from_rows(&y, rank, &rows);
    assert_eq!(items.len(), 3);
    let mut users = PackedUsers::new(rank);
    let x = values(rank, 4);
    users.fill([&x[..]]);
    let mut out = vec![0f32; 3];
    score_tile(&users, &items, 0, 3, &mut out, 3);
    for (c, &r) in rows.iter().enumerate() {
        let want = reference(&x, &y[r as usize * rank..(r as usize + 1) * rank], rank)[0];
        assert_eq!(out[c].to_bits(), want.to_bits());
    }
}

#[test]
fn the_error_bound_holds_on_large_ranks() {
    // Rank 256 with mixed signs: the chain's rounding against the f64 sum.
    let rank = 256;
    let x = values(20 * rank, 11);
    let y = values(300 * rank, 12);
    let got = reference(&x, &y, rank);
    for u in 0..20 {
        let xu = &x[u * rank..(u + 1) * rank];
        for j in 0..300 {
            let yj = &y[j * rank..(j + 1) * rank];
            let exact = dot_f64(xu, yj);
            let bound = score_error_bound(rank, norm_f64(xu) * norm_f64(yj));
            assert!((got[u * 300 + j] as f64 - exact).abs() <= bound);
        }
    }
}
