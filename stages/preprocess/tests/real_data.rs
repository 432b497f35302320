//! Counts on the real datasets in ../shared/data match their SOURCE.md files.

mod common;
use alsflow_core::test_support::shared_data_or_skip;
use alsflow_preprocess::{companion_files, ColumnRef, Columns, Params, SourceFormat};
use common::{run, tables};
use std::path::Path;

fn read(p: &Path) -> Vec<u8> {
    std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// Raw ids in index order from a protocol `users.tsv` / `items.tsv`.
fn index_file(p: &Path) -> Vec<String> {
    String::from_utf8(read(p))
        .unwrap()
        .lines()
        .enumerate()
        .map(|(i, l)| {
            let (idx, raw) = l.split_once('\t').unwrap();
            assert_eq!(idx.parse::<usize>().unwrap(), i);
            raw.to_string()
        })
        .collect()
}

fn run_movielens(source: &Path) -> alsflow_core::StageOutputs {
    let params = Params {
        format: SourceFormat::Movielens,
        ..Default::default()
    };
    let src = read(source);
    let label = source.to_string_lossy().to_string();
    let companions: Vec<(String, String, Vec<u8>)> = companion_files(&params, source)
        .into_iter()
        .map(|(name, p)| (name, p.to_string_lossy().to_string(), read(&p)))
        .collect();
    assert_eq!(companions.len(), 1, "titles file found beside {label}");
    let mut files: Vec<(&str, &str, &[u8])> = vec![("source", &label, &src)];
    for (n, l, b) in &companions {
        files.push((n, l, b));
    }
    run(&params, &files).unwrap()
}

#[test]
fn ml_100k_counts_titles_and_protocol_indices() {
    let Some(data) = shared_data_or_skip("ml_100k_counts_titles_and_protocol_indices") else {
        return;
    };
    let out = run_movielens(&data.join("ml-100k/u.data"));
    let (t, users, items) = tables(&out);
    assert_eq!((t.len(), t.n_users, t.n_items), (100_000, 943, 1682));
    assert!(
        t.value.iter().all(|&v| v == 1.0),
        "MovieLens default: every rating is 1"
    );
    let ts = t.timestamp.as_ref().expect("timestamps kept");
    assert_eq!(ts.iter().min(), Some(&874724710));
    assert_eq!(ts.iter().max(), Some(&893286638));
    // First-appearance order is the protocol's factorize(sort=False).
    assert_eq!(
        users.raw_ids,
        index_file(&data.join("splits/ml-100k/users.tsv"))
    );
    let i1 = items.index_of("1").unwrap() as usize;
    assert_eq!(items.title(i1), Some("Toy Story (1995)"));
    assert!(
        items.titles.as_ref().unwrap().iter().all(|t| t.is_some()),
        "every item has a title"
    );
    assert!(
        out.summary.iter().any(|l| l.contains("100000 rows read")),
        "{:?}",
        out.summary
    );
}

#[test]
fn ml_latest_small_counts_and_titles() {
    let Some(data) = shared_data_or_skip("ml_latest_small_counts_and_titles") else {
        return;
    };
    let out = run_movielens(&data.join("ml-latest-small/ratings.csv"));
    let (t, users, items) = tables(&out);
    assert_eq!((t.len(), t.n_users, t.n_items), (100_836, 610, 9724));
    assert_eq!(
        users.raw_ids,
        index_file(&data.join("splits/ml-latest-small/users.tsv"))
    );
    assert_eq!(
        items.raw_ids,
        index_file(&data.join("splits/ml-latest-small/items.tsv"))
    );
    let titles = items.titles.as_ref().unwrap();
    assert!(
        titles.iter().all(|t| t.is_some()),
        "every rated movie is in movies.csv"
    );
    // A quoted title with a comma inside.
    let i = items.index_of("11").unwrap() as usize;
    assert_eq!(items.title(i), Some("American President, The (1995)"));
}

#[test]
fn msd_course_subset_drops_exact_duplicates() {
    let Some(data) = shared_data_or_skip("msd_course_subset_drops_exact_duplicates") else {
        return;
    };
    let params = Params {
        format: SourceFormat::Delimited,
        delimiter: Some(",".into()),
        header: Some(true),
        columns: Some(Columns {
            user: ColumnRef::Name("userId".into()),
            item: ColumnRef::Name("songId".into()),
            value: Some(ColumnRef::Name("num_plays".into())),
            timestamp: None,
        }),
        ..Default::default()
    };
    let src = read(&data.join("msd-course-subset/ratings.csv"));
    let out = run(
        &params,
        &[("source", "msd-course-subset/ratings.csv", &src)],
    )
    .unwrap();
    let (t, users, items) = tables(&out);
    assert_eq!((t.len(), t.n_users, t.n_items), (8284, 321, 705));
    assert_eq!(
        t.value.iter().map(|&v| v as f64).sum::<f64>(),
        24_637.0,
        "counts are not tripled"
    );
    let summary = out.summary.join("\n");
    assert!(summary.contains("24852 rows read"), "{summary}");
    assert!(
        summary.contains("dropped 16568 exact duplicate rows"),
        "{summary}"
    );
    assert!(!summary.contains("merged"), "{summary}");
    assert_eq!(
        users.raw_ids,
        index_file(&data.join("splits/msd-course-subset/users.tsv"))
    );
    assert_eq!(
        items.raw_ids,
        index_file(&data.join("splits/msd-course-subset/items.tsv"))
    );
}

#[test]
fn msd_challenge_triplets_with_string_ids() {
    let Some(data) = shared_data_or_skip("msd_challenge_triplets_with_string_ids") else {
        return;
    };
    let params = Params {
        format: SourceFormat::MsdTriplets,
        ..Default::default()
    };
    let src = read(&data.join("msd-challenge-triplets-sample/triplets.txt"));
    let out = run(&params, &[("source", "triplets.txt", &src)]).unwrap();
    let (t, users, items) = tables(&out);
    assert_eq!((t.len(), t.n_users, t.n_items), (2023, 153, 1798));
    assert_eq!(t.value.iter().map(|&v| v as f64).sum::<f64>(), 6328.0);
    assert_eq!(users.raw_ids[0], "fd50c4007b68a3737fe052d5a4f78ce8aa117f3d");
    assert_eq!(items.raw_ids[0], "SOBONKR12A58A7A7E0");
    assert!(items.titles.is_none());
}
