//! The split stage on ml-100k and on the protocol's predefined split files.

use alsflow_core::table::{IdMap, Interactions};
use alsflow_core::test_support::shared_data_or_skip;
use alsflow_core::{
    stage::LocalContext, ArtifactId, Format, InputArtifact, Stage, StageInputs, StageOutputs,
};
use alsflow_preprocess::{
    ColumnRef, Columns, Feedback, Params as PreParams, Preprocess, SourceFormat,
};
use alsflow_split::{Method, Params, Split};
use std::collections::BTreeSet;
use std::path::Path;

fn input(label: &str, bytes: Vec<u8>) -> InputArtifact {
    InputArtifact {
        id: ArtifactId::of(&bytes),
        label: label.into(),
        format: Format::Raw,
        bytes: bytes.into(),
    }
}

fn get<'a>(out: &'a StageOutputs, name: &str) -> &'a [u8] {
    &out.artifacts.iter().find(|a| a.name == name).unwrap().bytes
}

fn preprocess(params: &PreParams, files: &[(&str, &Path)]) -> StageOutputs {
    let mut inputs = StageInputs::new();
    for (name, p) in files {
        inputs.insert(
            *name,
            input(&p.to_string_lossy(), std::fs::read(p).unwrap()),
        );
    }
    Preprocess::run(params, &inputs, &LocalContext::new("t")).unwrap()
}

fn split(params: &Params, pre: &StageOutputs) -> StageOutputs {
    let mut inputs = StageInputs::new();
    let mut a = input("preprocess.interactions", get(pre, "interactions").to_vec());
    a.format = Format::Parquet;
    inputs.insert("preprocess.interactions", a);
    Split::run(params, &inputs, &LocalContext::new("t")).unwrap()
}

fn ml100k(data: &Path) -> StageOutputs {
    let p = PreParams {
        format: SourceFormat::Movielens,
        ..Default::default()
    };
    preprocess(&p, &[("source", &data.join("ml-100k/u.data"))])
}

#[test]
fn random_split_proportions_within_one_percent_on_ml_100k() {
    let Some(data) = shared_data_or_skip("random_split_proportions_within_one_percent_on_ml_100k")
    else {
        return;
    };
    let pre = ml100k(&data);
    for (fraction, seed) in [(0.2, 42), (0.1, 7), (0.3, 1)] {
        let p = Params {
            test_fraction: fraction,
            seed,
            folds: 5,
            ..Default::default()
        };
        let out = split(&p, &pre);
        let train = Interactions::from_parquet(get(&out, "train")).unwrap();
        let test = Interactions::from_parquet(get(&out, "test")).unwrap();
        let folds = Interactions::from_parquet(get(&out, "folds")).unwrap();
        let test_share = (100_000 - train.len()) as f64 / 100_000.0;
        assert!(
            (test_share - fraction).abs() < 0.01,
            "{test_share} vs {fraction}"
        );
        assert!(
            test.len() as f64 > 0.99 * (100_000 - train.len()) as f64,
            "few cold rows on ml-100k"
        );
        // Folds partition train exactly: same rows, same order, every row in one fold.
        assert_eq!(
            (&folds.user, &folds.item, &folds.value),
            (&train.user, &train.item, &train.value)
        );
        let f = folds.fold.as_ref().unwrap();
        let sizes: Vec<usize> = (0..5u8)
            .map(|k| f.iter().filter(|&&x| x == k).count())
            .collect();
        assert_eq!(sizes.iter().sum::<usize>(), train.len());
        assert!(
            sizes
                .iter()
                .all(|&s| s == train.len() / 5 || s == train.len() / 5 + 1),
            "{sizes:?}"
        );
        for k in 0..5u8 {
            let share = sizes[k as usize] as f64 / train.len() as f64;
            assert!((share - 0.2).abs() < 0.01);
        }
    }
}

#[test]
fn same_seed_gives_identical_bytes_other_seed_differs() {
    let Some(data) = shared_data_or_skip("same_seed_gives_identical_bytes_other_seed_differs")
    else {
        return;
    };
    let pre = ml100k(&data);
    assert_eq!(
        get(&pre, "interactions"),
        get(&ml100k(&data), "interactions")
    );
    for method in [Method::Random, Method::PerUser, Method::Time] {
        let p = Params {
            method,
            ..Default::default()
        };
        let a = split(&p, &pre);
        let b = split(&p, &pre);
        for name in ["train", "test", "folds"] {
            assert_eq!(get(&a, name), get(&b, name), "{method:?} {name}");
        }
        let c = split(
            &Params {
                seed: 43,
                ..p.clone()
            },
            &pre,
        );
        if method != Method::Time {
            assert_ne!(get(&a, "test"), get(&c, "test"), "{method:?}");
        }
        assert_ne!(get(&a, "folds"), get(&c, "folds"), "{method:?}");
    }
}

/// (raw user, raw item) pairs of a protocol `train.tsv`/`test.tsv`.
fn protocol_pairs(dir: &Path, file: &str) -> BTreeSet<(String, String, String)> {
    let ids = |f: &str| -> Vec<String> {
        std::fs::read_to_string(dir.join(f))
            .unwrap()
            .lines()
            .map(|l| l.split('\t').nth(1).unwrap().to_string())
            .collect()
    };
    let (users, items) = (ids("users.tsv"), ids("items.tsv"));
    std::fs::read_to_string(dir.join(file))
        .unwrap()
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            let v: f64 = f[2].parse().unwrap();
            (
                users[f[0].parse::<usize>().unwrap()].clone(),
                items[f[1].parse::<usize>().unwrap()].clone(),
                format!("{v}"),
            )
        })
        .collect()
}

fn our_pairs(t: &Interactions, users: &IdMap, items: &IdMap) -> BTreeSet<(String, String, String)> {
    (0..t.len())
        .map(|r| {
            (
                users.raw_ids[t.user[r] as usize].clone(),
                items.raw_ids[t.item[r] as usize].clone(),
                format!("{}", t.value[r] as f64),
            )
        })
        .collect()
}

#[test]
fn predefined_split_reproduces_the_protocol_files() {
    let Some(data) = shared_data_or_skip("predefined_split_reproduces_the_protocol_files") else {
        return;
    };
    for ds in ["ml-100k", "msd-course-subset"] {
        let dir = data.join("splits").join(ds);
        let p = PreParams {
            format: SourceFormat::Delimited,
            delimiter: Some("\t".into()),
            header: Some(true),
            columns: Some(Columns {
                user: ColumnRef::Name("user".into()),
                item: ColumnRef::Name("item".into()),
                value: Some(ColumnRef::Name("value".into())),
                timestamp: None,
            }),
            feedback: Some(Feedback::Count),
            ..Default::default()
        };
        let pre = preprocess(
            &p,
            &[
                ("source", &dir.join("train_raw.tsv")),
                ("source_test", &dir.join("test_raw.tsv")),
            ],
        );
        let users = IdMap::from_parquet(get(&pre, "users")).unwrap();
        let items = IdMap::from_parquet(get(&pre, "items")).unwrap();
        let out = split(
            &Params {
                method: Method::Predefined,
                ..Default::default()
            },
            &pre,
        );
        let train = Interactions::from_parquet(get(&out, "train")).unwrap();
        let test = Interactions::from_parquet(get(&out, "test")).unwrap();
        let expect_train = protocol_pairs(&dir, "train.tsv");
        let expect_test = protocol_pairs(&dir, "test.tsv");
        assert_eq!(
            train.len(),
            expect_train.len(),
            "{ds}: no train row lost or merged"
        );
        assert_eq!(
            test.len(),
            expect_test.len(),
            "{ds}: no test row lost or merged"
        );
        assert_eq!(
            our_pairs(&train, &users, &items),
            expect_train,
            "{ds} train"
        );
        assert_eq!(our_pairs(&test, &users, &items), expect_test, "{ds} test");
        assert!(
            out.summary[0].contains(" 0 cold test rows dropped"),
            "{:?}",
            out.summary
        );
    }
}
