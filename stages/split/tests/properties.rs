//! Split invariants on random tables.

use alsflow_core::table::Interactions;
use alsflow_split::{split, Method, Params};
use proptest::prelude::*;

fn table() -> impl Strategy<Value = Interactions> {
    (
        1u32..12,
        1u32..12,
        proptest::collection::vec((0u32..12, 0u32..12, 0i64..50), 1..120),
    )
        .prop_map(|(nu, ni, rows)| Interactions {
            n_users: nu,
            n_items: ni,
            user: rows.iter().map(|r| r.0 % nu).collect(),
            item: rows.iter().map(|r| r.1 % ni).collect(),
            value: rows.iter().map(|r| 1.0 + r.2 as f32).collect(),
            timestamp: Some(rows.iter().map(|r| r.2).collect()),
            ..Default::default()
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn train_test_and_folds_account_for_every_row(
        t in table(),
        method in prop_oneof![Just(Method::Random), Just(Method::PerUser), Just(Method::Time)],
        folds in 0u32..6,
        seed in 0u64..1000,
        fraction in 0.05f64..0.6,
    ) {
        let p = Params { method, folds, seed, test_fraction: fraction, min_user_interactions: 2, cutoff: None };
        let parts = match split(&p, &t) {
            Ok(parts) => parts,
            // Only a split with no training rows or too few rows for the folds may fail.
            Err(e) => {
                let m = e.to_string();
                prop_assert!(m.contains("no training rows") || m.contains("training rows"), "{}", m);
                return Ok(());
            }
        };
        prop_assert!(parts.train.len() + parts.test.len() <= t.len());
        // Train and test are disjoint sub-multisets of the input, in input order.
        let mut all: Vec<(u32, u32, f32)> = (0..t.len()).map(|r| (t.user[r], t.item[r], t.value[r])).collect();
        let mut got: Vec<(u32, u32, f32)> = (0..parts.train.len()).map(|r| (parts.train.user[r], parts.train.item[r], parts.train.value[r]))
            .chain((0..parts.test.len()).map(|r| (parts.test.user[r], parts.test.item[r], parts.test.value[r])))
            .collect();
        all.sort_by(|a, b| a.partial_cmp(b).unwrap());
        got.sort_by(|a, b| a.partial_cmp(b).unwrap());
        let mut i = 0;
        for g in &got {
            while i < all.len() && all[i] != *g { i += 1; }
            prop_assert!(i < all.len(), "row {:?} not in the input", g);
            i += 1;
        }
        // Folds: exactly the train rows, each in one fold, sizes within one of each other.
        prop_assert_eq!(&parts.folds.user, &parts.train.user);
        prop_assert_eq!(&parts.folds.item, &parts.train.item);
        if folds >= 2 {
            let f = parts.folds.fold.as_ref().unwrap();
            let sizes: Vec<usize> = (0..folds as u8).map(|k| f.iter().filter(|&&x| x == k).count()).collect();
            prop_assert_eq!(sizes.iter().sum::<usize>(), parts.train.len());
            prop_assert!(sizes.iter().max().unwrap() - sizes.iter().min().unwrap() <= 1);
        } else {
            prop_assert!(parts.folds.fold.is_none());
        }
        // Same seed, same result.
        let again = split(&p, &t).unwrap();
        prop_assert_eq!(again.train.to_parquet().unwrap(), parts.train.to_parquet().unwrap());
        prop_assert_eq!(again.folds.to_parquet().unwrap(), parts.folds.to_parquet().unwrap());
    }
}
