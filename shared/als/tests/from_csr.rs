//! `InteractionMatrix::from_csr` (feature `nalgebra-sparse`):
//! `cargo test -p alsflow-als --features nalgebra-sparse --test from_csr`.

use alsflow_als::{fit, AlsError, AlsParams, InteractionMatrix, Solver};
use nalgebra_sparse::{CooMatrix, CsrMatrix};

/// Triplets with duplicate pairs, an empty user (3) and an empty item (5); values
/// are small integers, so every order of summing the duplicates gives the same sum.
fn triplets() -> (Vec<u32>, Vec<u32>, Vec<f32>) {
    let mut users = Vec::new();
    let mut items = Vec::new();
    let mut values = Vec::new();
    for n in 0..60u32 {
        let user = (n * 7) % 5;
        if user == 3 {
            continue;
        }
        users.push(user);
        items.push((n * 13) % 5 + if n % 3 == 0 { 6 } else { 0 });
        values.push((1 + n % 4) as f32);
    }
    (users, items, values)
}

fn csr_of(n_users: usize, n_items: usize, u: &[u32], i: &[u32], v: &[f32]) -> CsrMatrix<f32> {
    let mut coo = CooMatrix::new(n_users, n_items);
    for ((&u, &i), &v) in u.iter().zip(i).zip(v) {
        coo.push(u as usize, i as usize, v);
    }
    // The conversion sums duplicate entries, as `from_triplets` does.
    CsrMatrix::from(&coo)
}

#[test]
fn from_csr_builds_the_matrix_from_triplets_builds() {
    let (u, i, v) = triplets();
    let (n_users, n_items) = (5, 12);
    let from_triplets = InteractionMatrix::from_triplets(n_users, n_items, &u, &i, &v).unwrap();
    let from_csr = InteractionMatrix::from_csr(&csr_of(n_users, n_items, &u, &i, &v)).unwrap();
    assert!(
        from_triplets.nnz() < u.len(),
        "the data must have duplicates"
    );
    assert_eq!(from_csr, from_triplets);
    assert!(from_csr.user_row(3).0.is_empty() && from_csr.item_col(5).0.is_empty());

    let p = AlsParams {
        rank: 3,
        max_iter: 4,
        solver: Solver::Cholesky,
        threads: 1,
        ..AlsParams::default()
    };
    let (a, b) = (
        fit(&from_csr, &p).unwrap(),
        fit(&from_triplets, &p).unwrap(),
    );
    assert_eq!(a.to_bytes().unwrap(), b.to_bytes().unwrap());
}

#[test]
fn a_non_finite_value_is_an_error_naming_the_entry() {
    let csr = csr_of(
        3,
        4,
        &[0, 1, 1, 2],
        &[1, 0, 3, 2],
        &[1.0, 2.0, f32::NAN, 1.0],
    );
    match InteractionMatrix::from_csr(&csr) {
        Err(e @ AlsError::BadInput { row: 2, .. }) => assert_eq!(
            e.to_string(),
            "interactions row 2: value NaN at (user 1, item 3) is not finite"
        ),
        other => panic!("expected a BadInput error for entry 2, got {other:?}"),
    }
}
