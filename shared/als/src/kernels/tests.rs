//! The AVX2 kernels against the portable ones, bit for bit.

use super::*;
use proptest::prelude::*;
use proptest::test_runner::TestRunner;

fn vecs(n: usize, count: usize) -> impl Strategy<Value = Vec<Vec<f32>>> {
    proptest::collection::vec(proptest::collection::vec(-10.0f32..10.0, n), count)
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

/// The AVX2 kernels produce the portable kernels' bit patterns, for padded and
/// unpadded lengths alike.
#[cfg(target_arch = "x86_64")]
#[test]
fn avx2_kernels_match_the_portable_ones_bit_for_bit() {
    let Some(avx) = avx2_or_skip("avx2_kernels_match_the_portable_ones_bit_for_bit") else {
        return;
    };
    // A runner rather than `proptest!`, so that a CPU without AVX2 skips the test
    // (and says so) once instead of passing every case; the strategy and source file
    // are those of the macro, so the saved regression seeds still apply.
    let config = ProptestConfig {
        cases: 200,
        source_file: Some(file!()),
        ..ProptestConfig::default()
    };
    let strategy = (
        (0usize..70).prop_flat_map(|n| (Just(n), vecs(n, 10))),
        proptest::array::uniform8(-3.0f32..3.0),
    );
    let result = TestRunner::new(config).run(&strategy, |((n, v), w)| {
        {
            let rows: [&[f32]; 8] = std::array::from_fn(|r| &v[r][..]);
            let quad = [rows[0], rows[1], rows[2], rows[3]];
            let (b, y0) = (&v[8], &v[9]);
            prop_assert_eq!(
                Portable.dot(rows[0], b).to_bits(),
                avx.dot(rows[0], b).to_bits()
            );
            prop_assert_eq!(bits(&Portable.dot4(quad, b)), bits(&avx.dot4(quad, b)));
            prop_assert_eq!(bits(&Portable.dot8(rows, b)), bits(&avx.dot8(rows, b)));
            let (mut p, mut a) = (y0.clone(), y0.clone());
            Portable.axpy(w[0], rows[0], &mut p);
            avx.axpy(w[0], rows[0], &mut a);
            prop_assert_eq!(bits(&p), bits(&a));
            let w4 = [w[0], w[1], w[2], w[3]];
            Portable.axpy4(w4, quad, &mut p);
            avx.axpy4(w4, quad, &mut a);
            prop_assert_eq!(bits(&p), bits(&a));
            Portable.axpy8(w, rows, &mut p);
            avx.axpy8(w, rows, &mut a);
            prop_assert_eq!(bits(&p), bits(&a));
            let (cm1, cp) = ([w[1], w[3], w[0], w[2], w[5], w[4], w[7], w[6]], w);
            for cp in [Some(&cp), None] {
                let (mut p, mut a) = (y0.clone(), y0.clone());
                Portable.pass8(rows, b, &cm1, cp, &mut p);
                avx.pass8(rows, b, &cm1, cp, &mut a);
                prop_assert_eq!(bits(&p), bits(&a));
            }
            // Cholesky factor and solve of an SPD matrix built from the rows.
            let k = n.min(9);
            let mut spd = vec![0f32; k * k];
            for r in v.iter() {
                for i in 0..k {
                    for j in 0..k {
                        spd[i * k + j] += r[i] * r[j];
                    }
                }
            }
            for i in 0..k {
                spd[i * k + i] += 1.0;
            }
            let (mut lp, mut la) = (spd.clone(), spd);
            let (mut xp, mut xa) = (b[..k].to_vec(), b[..k].to_vec());
            cholesky(&mut lp, k, k, Portable).unwrap();
            cholesky(&mut la, k, k, avx).unwrap();
            cholesky_solve(&lp, k, k, &mut xp, Portable);
            cholesky_solve(&la, k, k, &mut xa, avx);
            prop_assert_eq!(bits(&lp), bits(&la));
            prop_assert_eq!(bits(&xp), bits(&xa));
            // The eight-at-once forms are the one-at-a-time loops.
            let singles: Vec<f32> = rows.iter().map(|r| dot(r, b)).collect();
            prop_assert_eq!(bits(&singles), bits(&avx.dot8(rows, b)));
            let mut one = y0.clone();
            for (wr, r) in w.iter().zip(rows) {
                axpy(*wr, r, &mut one);
            }
            let mut eight = y0.clone();
            avx.axpy8(w, rows, &mut eight);
            prop_assert_eq!(bits(&one), bits(&eight));
        }
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}

/// Without x86-64 there are no AVX2 kernels to compare: say so rather than pass.
#[cfg(not(target_arch = "x86_64"))]
#[test]
fn avx2_comparisons_are_skipped_off_x86_64() {
    eprintln!(
        "SKIP avx2_kernels_match_the_portable_ones_bit_for_bit, \
         cg_solves_are_identical_with_avx2_and_portable_kernels: this CPU has no AVX2+FMA"
    );
}
