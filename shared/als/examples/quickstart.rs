//! The library in one page: `cargo run -p alsflow-als --example quickstart`.
//!
//! Fits implicit ALS on a small made-up catalogue (two tastes: films 0–4 are
//! thrillers, 5–9 comedies), then recommends for a trained user, lists similar items,
//! and folds in a user who was not in the training data.

use alsflow_als::{
    fit, recommend, recommend_factors, similar_items, AlsParams, FoldIn, InteractionMatrix, Solver,
};

const TITLES: [&str; 10] = [
    "Heat",
    "Ronin",
    "Se7en",
    "Zodiac",
    "Sicario",
    "Airplane!",
    "Clue",
    "Hot Fuzz",
    "Tootsie",
    "Big",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // (user, item, value) triplets: how many times each user watched each film.
    // Users 0–3 watch thrillers, users 4–7 comedies; user 8 watches one of each.
    let (mut users, mut items, mut values) = (Vec::new(), Vec::new(), Vec::new());
    for user in 0..8u32 {
        let first = if user < 4 { 0 } else { 5 };
        for film in first..first + 5 {
            // Each user has seen four of the five films of their taste.
            if film % 5 != user % 5 {
                users.push(user);
                items.push(film);
                values.push(1.0 + (film + user) as f32 % 3.0);
            }
        }
    }
    users.extend([8, 8]);
    items.extend([0, 5]);
    values.extend([1.0, 1.0]);
    let train = InteractionMatrix::from_triplets(9, 10, &users, &items, &values)?;

    let params = AlsParams {
        rank: 4,
        max_iter: 15,
        reg_param: 0.1,
        alpha: 10.0,
        solver: Solver::Cholesky,
        ..AlsParams::default()
    };
    let model = fit(&train, &params)?;
    let name = |list: &[(u32, f32)]| -> Vec<String> {
        list.iter()
            .map(|&(item, score)| format!("{} ({score:.2})", TITLES[item as usize]))
            .collect()
    };

    // User 1 has seen every thriller but Ronin: it should come first.
    let top = recommend(&model, &train, 1, 3, true);
    println!("for user 1:          {:?}", name(&top));

    println!(
        "similar to Hot Fuzz: {:?}",
        name(&similar_items(&model, 7, 3))
    );

    // A new user, not in the matrix: solve their factors from their history against
    // the trained item factors (no refit), then score the catalogue with them.
    let fold_in = FoldIn::from_model(&model)?;
    let history = [(6, 2.0), (8, 1.0), (9, 3.0)];
    let factors = fold_in.recalculate_user(&history)?;
    let seen: Vec<u32> = history.iter().map(|&(item, _)| item).collect();
    let top = recommend_factors(&model, &train, &factors, 3, &seen);
    println!(
        "for a new user who watched Clue, Tootsie and Big: {:?}",
        name(&top)
    );
    Ok(())
}
