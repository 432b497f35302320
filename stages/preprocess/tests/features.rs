//! Conversions, merging, filtering, Parquet sources, titles and the synthetic generator.

mod common;
use alsflow_preprocess::{
    companion_files, synthetic, ColumnRef, Columns, Duplicates, Feedback, Params, SourceFormat,
    SyntheticParams, SyntheticValues,
};
use common::{artifact, run, tables};

fn plain(feedback: Feedback) -> Params {
    Params {
        format: SourceFormat::Delimited,
        header: Some(false),
        feedback: Some(feedback),
        ..Default::default()
    }
}

#[test]
fn repeated_pairs_merge_by_policy_into_first_occurrence() {
    let text = b"a,x,2\nb,y,1\na,x,3\na,x,2\nb,z,4\na,x,1\n";
    let value_of = |dup: Duplicates| {
        let p = Params {
            duplicates: Some(dup),
            ..plain(Feedback::Count)
        };
        let out = run(&p, &[("source", "d.csv", text)]).unwrap();
        let (t, _, items) = tables(&out);
        assert_eq!(t.len(), 3);
        assert_eq!(items.raw_ids, vec!["x", "y", "z"]);
        assert_eq!(
            (t.user[0], t.item[0]),
            (0, 0),
            "merged row sits at the first occurrence"
        );
        let s = out.summary.join("\n");
        assert!(s.contains("dropped 1 exact duplicate rows"), "{s}");
        assert!(
            s.contains("merged 1 repeated (user, item) pairs (2 rows folded in)"),
            "{s}"
        );
        t.value[0]
    };
    // a,x values in file order: 2, 3, (2 is an exact duplicate), 1.
    assert_eq!(value_of(Duplicates::Sum), 6.0);
    assert_eq!(value_of(Duplicates::Max), 3.0);
    assert_eq!(value_of(Duplicates::Last), 1.0);
}

#[test]
fn binary_threshold_and_zero_handling() {
    let text = b"u1,i1,4\nu1,i2,2\nu2,i2,5\nu2,i3,0\n";
    let p = Params {
        threshold: Some(3.5),
        ..plain(Feedback::Binary)
    };
    let out = run(&p, &[("source", "d.csv", text)]).unwrap();
    let (t, users, items) = tables(&out);
    assert_eq!(t.value, vec![1.0, 1.0]);
    assert_eq!(users.raw_ids, vec!["u1", "u2"]);
    assert_eq!(
        items.raw_ids,
        vec!["i1", "i2"],
        "items only seen below the threshold get no index"
    );
    assert!(out
        .summary
        .join("\n")
        .contains("2 below the threshold dropped"));
    // Counts: zeros dropped unless asked for.
    let out = run(&plain(Feedback::Count), &[("source", "d.csv", text)]).unwrap();
    assert_eq!(tables(&out).0.len(), 3);
    let p = Params {
        keep_zeros: true,
        ..plain(Feedback::Count)
    };
    let out = run(&p, &[("source", "d.csv", text)]).unwrap();
    assert_eq!(tables(&out).0.value, vec![4.0, 2.0, 5.0, 0.0]);
}

#[test]
fn k_core_filter_iterates_to_a_fixed_point() {
    // u3 has 2 items; dropping u3 leaves item c with 1 user, which then goes too.
    let text = b"u1,a\nu1,b\nu1,c\nu2,a\nu2,b\nu2,c\nu3,c\nu3,d\nu4,a\nu4,b\n";
    let base = Params {
        format: SourceFormat::Delimited,
        header: Some(false),
        columns: Some(Columns {
            value: None,
            ..Columns::default()
        }),
        min_user_interactions: 2,
        min_item_interactions: 2,
        ..Default::default()
    };
    let once = run(&base, &[("source", "d.csv", text)]).unwrap();
    let (t, users, items) = tables(&once);
    assert_eq!(t.len(), 9, "one pass drops only item d");
    assert_eq!((users.len(), items.len()), (4, 3));
    let p = Params {
        k_core: true,
        ..base
    };
    let (t, users, items) = tables(&run(&p, &[("source", "d.csv", text)]).unwrap());
    assert_eq!(items.raw_ids, vec!["a", "b", "c"]);
    assert_eq!(users.raw_ids, vec!["u1", "u2", "u4"]);
    assert_eq!(t.len(), 8);
    assert!(t.user.iter().all(|&u| u < 3), "indices are compacted");
}

#[test]
fn parquet_source_with_named_columns() {
    use arrow::array::{ArrayRef, Int64Array, RecordBatch, StringArray};
    use std::sync::Arc;
    let batch = RecordBatch::try_from_iter(vec![
        (
            "who",
            Arc::new(StringArray::from(vec!["ann", "bob", "ann"])) as ArrayRef,
        ),
        (
            "song",
            Arc::new(Int64Array::from(vec![10, 10, 11])) as ArrayRef,
        ),
        (
            "plays",
            Arc::new(Int64Array::from(vec![3, 1, -2])) as ArrayRef,
        ),
    ])
    .unwrap();
    let bytes = alsflow_core::table::write_batch(&batch, &Default::default()).unwrap();
    let p = Params {
        format: SourceFormat::Parquet,
        columns: Some(Columns {
            user: ColumnRef::Name("who".into()),
            item: ColumnRef::Name("song".into()),
            value: Some(ColumnRef::Name("plays".into())),
            timestamp: None,
        }),
        ..Default::default()
    };
    let e = run(&p, &[("source", "plays.parquet", &bytes)])
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("plays.parquet:3:") && e.contains("non-negative count"),
        "{e}"
    );
    let p = Params {
        on_bad_row: alsflow_preprocess::OnBadRow::Skip,
        ..p
    };
    let (t, users, items) = tables(&run(&p, &[("source", "plays.parquet", &bytes)]).unwrap());
    assert_eq!(users.raw_ids, vec!["ann", "bob"]);
    assert_eq!(items.raw_ids, vec!["10"]);
    assert_eq!(t.value, vec![3.0, 1.0]);
    let e = run(&p, &[("source", "x.parquet", b"not parquet")])
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("x.parquet: not a readable Parquet file"),
        "{e}"
    );
}

#[test]
fn movielens_dat_with_latin1_titles_and_companions() {
    let dir = tempfile::tempdir().unwrap();
    let ratings = dir.path().join("ratings.dat");
    std::fs::write(
        &ratings,
        b"1::2::5::978300760\n1::3::3::978302109\n2::2::4::978301968\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("movies.dat"),
        b"2::Mis\xe9rables (1995)::Drama\n3::Heat (1995)::Action\n",
    )
    .unwrap();
    let params = Params {
        format: SourceFormat::Movielens,
        ..Default::default()
    };
    let comp = companion_files(&params, &ratings);
    assert_eq!(
        comp,
        vec![("titles".to_string(), dir.path().join("movies.dat"))]
    );
    assert!(
        companion_files(&params, &dir.path().join("u.data")).is_empty(),
        "only existing files"
    );
    let titles = std::fs::read(&comp[0].1).unwrap();
    let src = std::fs::read(&ratings).unwrap();
    let out = run(
        &params,
        &[
            ("source", "ml/ratings.dat", &src),
            ("titles", "ml/movies.dat", &titles),
        ],
    )
    .unwrap();
    let (t, _, items) = tables(&out);
    assert_eq!(t.timestamp, Some(vec![978300760, 978302109, 978301968]));
    assert_eq!(items.title(0), Some("Misérables (1995)"));
    assert_eq!(items.title(1), Some("Heat (1995)"));
}

#[test]
fn predefined_test_file_rows_are_marked() {
    let p = plain(Feedback::Count);
    let out = run(
        &p,
        &[
            ("source", "train.csv", b"a,x,1\nb,y,2\n"),
            ("source_test", "test.csv", b"c,x,1\na,y,3\n"),
        ],
    )
    .unwrap();
    let (t, users, _) = tables(&out);
    assert_eq!(t.partition, Some(vec![0, 0, 1, 1]));
    assert_eq!(
        users.raw_ids,
        vec!["a", "b", "c"],
        "training file indexed first"
    );
    let e = run(
        &p,
        &[
            ("source", "train.csv", b"a,x,1\n"),
            ("source_test", "test.csv", b"a,y\n"),
        ],
    )
    .unwrap_err()
    .to_string();
    assert!(e.starts_with("test.csv:1:"), "{e}");
}

#[test]
fn predefined_parquet_files_are_marked_and_share_the_columns() {
    use arrow::array::{ArrayRef, Int64Array, RecordBatch, StringArray};
    use std::sync::Arc;
    let file = |with_time: bool| {
        let mut cols = vec![
            (
                "user",
                Arc::new(StringArray::from(vec!["a", "b"])) as ArrayRef,
            ),
            (
                "item",
                Arc::new(StringArray::from(vec!["x", "y"])) as ArrayRef,
            ),
        ];
        if with_time {
            cols.push(("time", Arc::new(Int64Array::from(vec![5, 6])) as ArrayRef));
        }
        let batch = RecordBatch::try_from_iter(cols).unwrap();
        alsflow_core::table::write_batch(&batch, &Default::default()).unwrap()
    };
    let p = |time: Option<&str>| Params {
        format: SourceFormat::Parquet,
        columns: Some(Columns {
            user: ColumnRef::Name("user".into()),
            item: ColumnRef::Name("item".into()),
            value: None,
            timestamp: time.map(|t| ColumnRef::Name(t.into())),
        }),
        ..Default::default()
    };
    let (with, without) = (file(true), file(false));
    let out = run(
        &p(Some("time")),
        &[
            ("source", "train.parquet", &with),
            ("source_test", "test.parquet", &with),
        ],
    )
    .unwrap();
    let (t, _, _) = tables(&out);
    assert_eq!(t.timestamp, Some(vec![5, 6, 5, 6]));
    assert_eq!(t.partition, Some(vec![0, 0, 1, 1]));
    // The column named in the config is missing from the test file.
    let e = run(
        &p(Some("time")),
        &[
            ("source", "train.parquet", &with),
            ("source_test", "test.parquet", &without),
        ],
    )
    .unwrap_err()
    .to_string();
    assert!(e.starts_with("test.parquet:") && e.contains("time"), "{e}");
}

#[test]
fn output_bytes_do_not_depend_on_thread_count() {
    let mut text = String::new();
    for r in 0..20_000u32 {
        text.push_str(&format!(
            "u{},i{},{}\n",
            (r * 7919) % 997,
            (r * 104_729) % 1_499,
            r % 4
        ));
    }
    let p = plain(Feedback::Count);
    let go = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| run(&p, &[("source", "d.csv", text.as_bytes())]).unwrap())
    };
    let (a, b) = (go(1), go(3));
    for name in ["interactions", "users", "items"] {
        assert_eq!(artifact(&a, name), artifact(&b, name), "{name}");
    }
}

#[test]
fn synthetic_generator_is_deterministic_exact_and_skewed() {
    let sp = SyntheticParams {
        users: 300,
        items: 200,
        interactions: 12_000,
        rank: 5,
        popularity_skew: 0.9,
        values: SyntheticValues::Count,
        seed: 7,
    };
    let pool = |n: usize| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build()
            .unwrap()
    };
    let a = pool(1).install(|| synthetic::generate(&sp));
    let b = pool(3).install(|| synthetic::generate(&sp));
    assert_eq!(a, b, "thread count does not matter");
    assert_eq!(a.len(), 12_000);
    assert_ne!(
        a,
        synthetic::generate(&SyntheticParams {
            seed: 8,
            ..sp.clone()
        })
    );
    let mut pairs: Vec<(u32, u32)> = a.user.iter().zip(&a.item).map(|(&u, &i)| (u, i)).collect();
    pairs.sort_unstable();
    pairs.dedup();
    assert_eq!(pairs.len(), 12_000, "no repeated pairs");
    let mut per_user = vec![0u32; 300];
    for &u in &a.user {
        per_user[u as usize] += 1;
    }
    assert!(
        per_user.iter().all(|&c| c >= 20),
        "every user has at least 20 interactions"
    );
    let mut per_item = vec![0u32; 200];
    for &i in &a.item {
        per_item[i as usize] += 1;
    }
    per_item.sort_unstable_by(|x, y| y.cmp(x));
    let top: u32 = per_item[..20].iter().sum();
    assert!(
        top as f64 > 0.2 * 12_000.0,
        "top 10% of items hold > 20% of interactions: {top}"
    );
    assert!(a.value.iter().all(|&v| v >= 1.0 && v.fract() == 0.0));
    assert!(synthetic::validate(&SyntheticParams {
        interactions: 300 * 100 + 1,
        ..sp.clone()
    })
    .is_err());

    // The stage path: same data, first-appearance indices, ids 1..=n.
    let p = Params {
        format: SourceFormat::Synthetic,
        synthetic: Some(sp.clone()),
        ..Default::default()
    };
    let out = run(&p, &[]).unwrap();
    let (t, users, items) = tables(&out);
    assert_eq!(t.len(), 12_000);
    assert_eq!(users.raw_ids[0], "1");
    let back: Vec<(u32, u32)> = (0..t.len())
        .map(|r| {
            (
                users.raw_ids[t.user[r] as usize].parse::<u32>().unwrap() - 1,
                items.raw_ids[t.item[r] as usize].parse::<u32>().unwrap() - 1,
            )
        })
        .collect();
    let orig: Vec<(u32, u32)> = a.user.iter().zip(&a.item).map(|(&u, &i)| (u, i)).collect();
    assert_eq!(back, orig);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.tsv");
    synthetic::write_tsv(&path, &a).unwrap();
    let first = std::fs::read_to_string(&path)
        .unwrap()
        .lines()
        .next()
        .unwrap()
        .to_string();
    assert_eq!(
        first,
        format!("{}\t{}\t{}", a.user[0], a.item[0], a.value[0])
    );
}
