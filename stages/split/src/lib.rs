//! Stage `split`: train/test and k-fold partitions of the interaction table.
//!
//! - `random`: an exact seeded permutation of the rows; the first
//!   `floor(n × (1 − test_fraction))` are train (the protocol's 80/20 rule).
//! - `per_user`: each user with at least `min_user_interactions` rows gives
//!   `round(n_u × test_fraction)` random rows to test (at least one stays in train);
//!   other users stay wholly in train.
//! - `time`: with `cutoff`, rows with timestamp ≥ cutoff are test; without it, each
//!   user's latest `round(n_u × test_fraction)` rows (ties by file order) are test.
//! - `predefined`: rows from the dataset's test file (`partition` = 1) are test.
//!
//! Test rows whose user or item has no train row are dropped and counted. Train and
//! test keep the input's row order. `folds = k ≥ 2` splits train into k seeded parts
//! of near-equal size (like `numpy.array_split` of a permutation); the `folds` table
//! is the train rows with `fold` and `cold` (the row, validated in its fold, has a
//! user or item absent from the other folds) columns; [`assign_folds`] and
//! [`seeded_folds`] make that assignment for other callers (tune's tests and
//! benchmark). Same seed ⇒ same bytes: the PRNG is the workspace's xoshiro256**
//! (`alsflow_core::rng`), used sequentially.

mod folds;

pub use folds::{assign_folds, seeded_folds};

use alsflow_core::catalog::{preprocess, split};
use alsflow_core::rng::Xoshiro256;
use alsflow_core::table::Interactions;
use alsflow_core::{
    ArtifactName, InputSpec, Stage, StageContext, StageError, StageInputs, StageOutputs,
};
use folds::{permutation, shuffle};
use serde::{Deserialize, Serialize};

/// Parameters of the `split` stage (its `pipeline.toml` section).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// `random` (default), `per_user`, `time` or `predefined`.
    #[serde(default)]
    pub method: Method,
    /// Share of interactions that go to test (default 0.2). Not used by `predefined`
    /// or by `time` with a `cutoff`.
    #[serde(default = "default_test_fraction")]
    pub test_fraction: f64,
    /// `per_user` and per-user `time`: users with fewer rows than this stay wholly in
    /// train (default 2).
    #[serde(default = "default_min_user")]
    pub min_user_interactions: u32,
    /// `time`: a global cut-off; rows with timestamp ≥ cutoff are test.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cutoff: Option<i64>,
    /// Number of cross-validation folds of the train set (default 5; < 2 writes the
    /// train rows without a fold column).
    #[serde(default = "default_folds")]
    pub folds: u32,
    /// Seed of the permutations (default 42).
    #[serde(default = "default_seed")]
    pub seed: u64,
}

fn default_test_fraction() -> f64 {
    0.2
}
fn default_min_user() -> u32 {
    2
}
fn default_folds() -> u32 {
    5
}
fn default_seed() -> u64 {
    42
}

impl Default for Params {
    fn default() -> Self {
        Params {
            method: Method::default(),
            test_fraction: default_test_fraction(),
            min_user_interactions: default_min_user(),
            cutoff: None,
            folds: default_folds(),
            seed: default_seed(),
        }
    }
}

/// How rows are assigned to test (see the crate docs).
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// Seeded share of all interactions.
    #[default]
    Random,
    /// Seeded share of each user's interactions.
    PerUser,
    /// Latest interactions (per user, or after a global cut-off).
    Time,
    /// The dataset's own train/test files.
    Predefined,
}

/// The `split` stage.
pub struct Split;

impl Stage for Split {
    const NAME: &'static str = "split";
    const INPUTS: &'static [InputSpec] = &[InputSpec::needs(preprocess::INTERACTIONS)];
    const OUTPUTS: &'static [ArtifactName] = split::ALL;
    type Params = Params;

    /// Tables are built, encoded and dropped one after the other (test, train, then
    /// the folds as the train rows with two more columns), so at most the input and
    /// two row sets are in memory at once.
    fn run(
        params: &Params,
        inputs: &StageInputs,
        ctx: &dyn StageContext,
    ) -> Result<StageOutputs, StageError> {
        let progress = ctx.progress("split", 5);
        let step = |msg: &str| {
            progress.set_message(msg.to_string());
            progress.inc(1);
        };
        let table: Interactions = inputs.table(preprocess::INTERACTIONS)?;
        let is_test = test_rows(params, &table)?;
        let (train, test, mut summary) = train_and_test(params, table, &is_test)?;
        drop(is_test);
        step("test rows chosen");
        let mut out = StageOutputs::new();
        out.put(split::TEST, test.to_parquet()?);
        drop(test);
        step("test table written");
        out.put(split::TRAIN, train.to_parquet()?);
        step("train table written");
        let (folds, line) = fold_table(params, train)?;
        summary.push(line);
        step("folds assigned");
        out.put(split::FOLDS, folds.to_parquet()?);
        drop(folds);
        step("folds table written");
        progress.finish();
        for line in summary {
            out.note(line);
        }
        Ok(out)
    }
}

/// The three tables of a split, with summary lines.
#[derive(Clone, Debug)]
pub struct Parts {
    /// Training rows.
    pub train: Interactions,
    /// Test rows (cold rows dropped).
    pub test: Interactions,
    /// Training rows with `fold` and `cold` set (no fold column when folds < 2).
    pub folds: Interactions,
    /// Human summary lines.
    pub summary: Vec<String>,
}

fn bad(param: &str, message: impl Into<String>) -> StageError {
    StageError::BadParam {
        param: param.into(),
        message: message.into(),
    }
}

/// Split `table` (library form of the stage).
pub fn split(params: &Params, table: &Interactions) -> Result<Parts, StageError> {
    let is_test = test_rows(params, table)?;
    let (train, test, mut summary) = train_and_test(params, table.clone(), &is_test)?;
    let (folds, line) = fold_table(params, train.clone())?;
    summary.push(line);
    Ok(Parts {
        train,
        test,
        folds,
        summary,
    })
}

/// Which rows of `table` go to test (checks the params first).
fn test_rows(params: &Params, table: &Interactions) -> Result<Vec<bool>, StageError> {
    let n = table.len();
    let needs_fraction = matches!(params.method, Method::Random | Method::PerUser)
        || (params.method == Method::Time && params.cutoff.is_none());
    if needs_fraction && !(params.test_fraction > 0.0 && params.test_fraction < 1.0) {
        return Err(bad(
            "split.test_fraction",
            format!(
                "must be strictly between 0 and 1, got {}",
                params.test_fraction
            ),
        ));
    }
    if params.folds > 255 {
        return Err(bad(
            "split.folds",
            format!("at most 255 folds, got {}", params.folds),
        ));
    }
    let mut rng = Xoshiro256::new(params.seed, 1);
    let mut is_test = vec![false; n];
    match params.method {
        Method::Random => {
            let n_train = ((n as f64) * (1.0 - params.test_fraction) + 1e-9).floor() as usize;
            let perm = permutation(n, &mut rng);
            for &r in &perm[n_train.min(n)..] {
                is_test[r as usize] = true;
            }
        }
        Method::PerUser => {
            for rows in rows_by_user(table) {
                if rows.len() < params.min_user_interactions.max(2) as usize {
                    continue;
                }
                let mut rows = rows;
                shuffle(&mut rows, &mut rng);
                let k = n_test_of(rows.len(), params.test_fraction);
                for &r in &rows[..k] {
                    is_test[r as usize] = true;
                }
            }
        }
        Method::Time => {
            let ts = table.timestamp.as_ref().ok_or_else(|| {
                bad(
                    "split.method",
                    "\"time\" needs timestamps: map a timestamp column in preprocess (columns.timestamp)",
                )
            })?;
            match params.cutoff {
                Some(c) => {
                    for (r, &t) in ts.iter().enumerate() {
                        is_test[r] = t >= c;
                    }
                }
                None => {
                    for mut rows in rows_by_user(table) {
                        if rows.len() < params.min_user_interactions.max(2) as usize {
                            continue;
                        }
                        rows.sort_by_key(|&r| (ts[r as usize], r));
                        let k = n_test_of(rows.len(), params.test_fraction);
                        for &r in &rows[rows.len() - k..] {
                            is_test[r as usize] = true;
                        }
                    }
                }
            }
        }
        Method::Predefined => {
            let p = table.partition.as_ref().ok_or_else(|| {
                bad(
                    "split.method",
                    "\"predefined\" needs a dataset with test_path (preprocess marks test-file rows)",
                )
            })?;
            for (r, &v) in p.iter().enumerate() {
                is_test[r] = v == 1;
            }
        }
    }
    Ok(is_test)
}

/// The train and test tables (test without its cold rows) and the summary line.
/// Consumes `table`: it is dropped as soon as both are cut from it.
fn train_and_test(
    params: &Params,
    mut table: Interactions,
    is_test: &[bool],
) -> Result<(Interactions, Interactions, Vec<String>), StageError> {
    table.fold = None;
    table.cold = None;
    table.partition = None;
    let train = table.filter_rows(|r| !is_test[r]);
    if train.is_empty() {
        return Err(bad(
            "split.test_fraction",
            "the split leaves no training rows",
        ));
    }
    let mut in_train_u = vec![false; table.n_users as usize];
    let mut in_train_i = vec![false; table.n_items as usize];
    for (&u, &i) in train.user.iter().zip(&train.item) {
        in_train_u[u as usize] = true;
        in_train_i[i as usize] = true;
    }
    let n_test_all = is_test.iter().filter(|&&t| t).count();
    let test = table.filter_rows(|r| {
        is_test[r] && in_train_u[table.user[r] as usize] && in_train_i[table.item[r] as usize]
    });
    drop(table);
    let cold = n_test_all - test.len();
    let summary = vec![format!(
        "{:?} split (seed {}): {} train rows, {} test rows; {} cold test rows dropped (user or item absent from train)",
        params.method,
        params.seed,
        train.len(),
        test.len(),
        cold
    )];
    Ok((train, test, summary))
}

/// The `folds` table (the train rows with their fold and cold columns; the train rows
/// as they are when folds < 2) and its summary line.
fn fold_table(params: &Params, train: Interactions) -> Result<(Interactions, String), StageError> {
    if params.folds < 2 {
        let line = format!(
            "folds = {}: no cross-validation folds (the folds table is the train rows)",
            params.folds
        );
        return Ok((train, line));
    }
    let k = params.folds as usize;
    if train.len() < k {
        return Err(bad(
            "split.folds",
            format!("{k} folds but only {} training rows", train.len()),
        ));
    }
    let t = folds::seeded_folds_owned(train, k as u8, params.seed);
    let n_cold = t
        .cold
        .as_ref()
        .map_or(0, |c| c.iter().filter(|&&x| x).count());
    let line = format!(
        "{k} folds of the train rows; {n_cold} validation rows are cold in their fold (user or item absent from its fit part)"
    );
    Ok((t, line))
}

fn n_test_of(len: usize, fraction: f64) -> usize {
    ((len as f64 * fraction).round() as usize).min(len - 1)
}

/// Rows of each user in row order (users in index order).
fn rows_by_user(t: &Interactions) -> Vec<Vec<u32>> {
    let mut by = vec![Vec::new(); t.n_users as usize];
    for (r, &u) in t.user.iter().enumerate() {
        by[u as usize].push(r as u32);
    }
    by
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A table of `rows` (user, item) with value 1 and timestamps falling by row.
    pub(crate) fn table(n_users: u32, n_items: u32, rows: &[(u32, u32)]) -> Interactions {
        Interactions {
            n_users,
            n_items,
            user: rows.iter().map(|r| r.0).collect(),
            item: rows.iter().map(|r| r.1).collect(),
            value: vec![1.0; rows.len()],
            timestamp: Some((0..rows.len() as i64).map(|r| 1000 - r).collect()),
            ..Default::default()
        }
    }

    fn dense(nu: u32, ni: u32) -> Interactions {
        let mut rows = Vec::new();
        for u in 0..nu {
            for i in 0..ni {
                if (u * 7 + i * 3) % 4 != 0 {
                    rows.push((u, i));
                }
            }
        }
        table(nu, ni, &rows)
    }

    #[test]
    fn random_split_has_exact_proportions_and_keeps_order() {
        let t = dense(50, 40);
        let p = Params {
            folds: 0,
            ..Default::default()
        };
        let parts = split(&p, &t).unwrap();
        let n_train = (t.len() as f64 * 0.8).floor() as usize;
        assert_eq!(parts.train.len(), n_train);
        // Row order is kept: timestamps strictly decrease in the input.
        let ts = parts.train.timestamp.as_ref().unwrap();
        assert!(ts.windows(2).all(|w| w[0] > w[1]));
        assert_eq!(parts.folds, parts.train);
        assert!(parts.summary[1].contains("no cross-validation folds"));
    }

    #[test]
    fn per_user_keeps_small_users_in_train() {
        let mut rows = vec![(0, 0), (1, 1)];
        for i in 0..10 {
            rows.push((2, i));
        }
        for u in 3..20 {
            for i in 0..10 {
                rows.push((u, i));
            }
        }
        let t = table(20, 10, &rows);
        let p = Params {
            method: Method::PerUser,
            min_user_interactions: 5,
            test_fraction: 0.3,
            folds: 0,
            ..Default::default()
        };
        let parts = split(&p, &t).unwrap();
        let count = |tab: &Interactions, u: u32| tab.user.iter().filter(|&&x| x == u).count();
        assert_eq!(count(&parts.train, 0), 1);
        assert_eq!(count(&parts.train, 1), 1);
        for u in 2..20 {
            assert_eq!(count(&parts.train, u), 7, "user {u}");
            assert_eq!(count(&parts.test, u), 3, "user {u}");
        }
    }

    #[test]
    fn time_split_takes_each_users_latest_rows_or_a_cutoff() {
        let t = dense(10, 20);
        let p = Params {
            method: Method::Time,
            test_fraction: 0.25,
            folds: 0,
            ..Default::default()
        };
        let parts = split(&p, &t).unwrap();
        let ts = t.timestamp.as_ref().unwrap();
        for u in 0..10 {
            let max_train = (0..parts.train.len())
                .filter(|&r| parts.train.user[r] == u)
                .map(|r| parts.train.timestamp.as_ref().unwrap()[r])
                .max()
                .unwrap();
            let n_u = (0..t.len()).filter(|&r| t.user[r] == u).count();
            let min_test = (0..t.len())
                .filter(|&r| t.user[r] == u)
                .map(|r| ts[r])
                .filter(|&x| x > max_train)
                .count();
            assert_eq!(
                min_test,
                (n_u as f64 * 0.25).round() as usize,
                "user {u}: test rows are the latest"
            );
        }
        let p = Params {
            method: Method::Time,
            cutoff: Some(900),
            folds: 0,
            ..Default::default()
        };
        let parts = split(&p, &t).unwrap();
        assert!(parts
            .train
            .timestamp
            .as_ref()
            .unwrap()
            .iter()
            .all(|&x| x < 900));
        assert!(parts
            .test
            .timestamp
            .as_ref()
            .unwrap()
            .iter()
            .all(|&x| x >= 900));
        let mut no_ts = t.clone();
        no_ts.timestamp = None;
        let e = split(&p, &no_ts).unwrap_err().to_string();
        assert!(e.contains("split.method") && e.contains("timestamp"), "{e}");
    }

    #[test]
    fn folds_partition_train_and_cold_matches_brute_force() {
        let t = dense(30, 25);
        let p = Params {
            folds: 4,
            ..Default::default()
        };
        let parts = split(&p, &t).unwrap();
        let f = parts.folds.fold.as_ref().unwrap();
        let c = parts.folds.cold.as_ref().unwrap();
        assert_eq!(parts.folds.user, parts.train.user);
        assert_eq!(parts.folds.item, parts.train.item);
        let sizes: Vec<usize> = (0..4)
            .map(|k| f.iter().filter(|&&x| x == k).count())
            .collect();
        assert_eq!(sizes.iter().sum::<usize>(), parts.train.len());
        assert!(
            sizes.iter().max().unwrap() - sizes.iter().min().unwrap() <= 1,
            "{sizes:?}"
        );
        let tr = &parts.train;
        for r in 0..tr.len() {
            let fit = |pred: &dyn Fn(usize) -> bool| (0..tr.len()).any(|s| f[s] != f[r] && pred(s));
            let expect = !fit(&|s| tr.user[s] == tr.user[r]) || !fit(&|s| tr.item[s] == tr.item[r]);
            assert_eq!(c[r], expect, "row {r}");
        }
    }

    #[test]
    fn cold_test_rows_are_dropped_and_counted() {
        // Item 3 appears only once: whichever side it lands on, test never holds a cold item.
        let t = table(
            2,
            4,
            &[(0, 0), (0, 1), (1, 0), (1, 1), (0, 2), (1, 2), (1, 3)],
        );
        for seed in 0..20 {
            let p = Params {
                seed,
                folds: 0,
                test_fraction: 0.4,
                ..Default::default()
            };
            let parts = split(&p, &t).unwrap();
            let train_items: std::collections::HashSet<u32> =
                parts.train.item.iter().copied().collect();
            assert!(parts.test.item.iter().all(|i| train_items.contains(i)));
            assert_eq!(
                parts.train.len() + parts.test.len() + cold_count(&parts),
                t.len()
            );
        }
    }

    fn cold_count(p: &Parts) -> usize {
        let s = &p.summary[0];
        let at = s.find(" cold test rows").unwrap();
        s[..at].rsplit(' ').next().unwrap().parse().unwrap()
    }

    #[test]
    fn bad_params_are_named() {
        let t = dense(5, 5);
        let p = Params {
            test_fraction: 1.5,
            ..Default::default()
        };
        assert!(split(&p, &t)
            .unwrap_err()
            .to_string()
            .contains("split.test_fraction"));
        let p = Params {
            method: Method::Predefined,
            ..Default::default()
        };
        assert!(split(&p, &t).unwrap_err().to_string().contains("test_path"));
        let p = Params {
            folds: 300,
            ..Default::default()
        };
        assert!(split(&p, &t)
            .unwrap_err()
            .to_string()
            .contains("split.folds"));
    }
}
