//! The known formats check their schema, and values that would overflow downstream
//! stop at preprocess: each error names the file, the line and the field.

mod common;
use alsflow_preprocess::{
    ColumnRef, Columns, Duplicates, Feedback, OnBadRow, Params, SourceFormat,
};
use common::{run, tables};

fn movielens() -> Params {
    Params {
        format: SourceFormat::Movielens,
        ..Default::default()
    }
}

fn err(params: &Params, label: &str, text: &[u8]) -> String {
    match run(params, &[("source", label, text)]) {
        Ok(_) => panic!("expected an error for {:?}", String::from_utf8_lossy(text)),
        Err(e) => e.to_string(),
    }
}

#[test]
fn movielens_ids_must_be_integers() {
    // Accepted before: "abc" became a new movie.
    let e = err(
        &movielens(),
        "ml-100k/u.data",
        b"196\t242\t3\t881250949\n196\tabc\t3\t881250949\n",
    );
    assert!(e.starts_with("ml-100k/u.data:2:"), "{e}");
    assert!(
        e.contains("movie id \"abc\" in column 1 is not an integer"),
        "{e}"
    );
    let e = err(
        &movielens(),
        "ml-latest-small/ratings.csv",
        b"userId,movieId,rating,timestamp\n1,1,4.0,964982703\nu2,1,4.0,964982703\n",
    );
    assert!(e.starts_with("ml-latest-small/ratings.csv:3:"), "{e}");
    assert!(e.contains("user id \"u2\" in column 'userId'"), "{e}");
}

#[test]
fn movielens_ratings_must_lie_on_the_files_scale() {
    // u.data: whole stars 1-5.
    let e = err(
        &movielens(),
        "u.data",
        b"1\t2\t5\t881250949\n1\t3\t3.5\t881250949\n",
    );
    assert!(
        e.starts_with("u.data:2:") && e.contains("rating \"3.5\" in column 2"),
        "{e}"
    );
    assert!(e.contains("whole stars 1 to 5"), "{e}");
    let e = err(&movielens(), "u.data", b"1\t2\t6\t881250949\n");
    assert!(e.starts_with("u.data:1:") && e.contains("\"6\""), "{e}");
    // ratings.csv: half stars 0.5-5.
    let csv = b"userId,movieId,rating,timestamp\n1,1,3.5,964982703\n1,2,0.5,964982703\n1,3,5.5,9\n";
    let e = err(&movielens(), "ratings.csv", csv);
    assert!(
        e.starts_with("ratings.csv:4:") && e.contains("rating \"5.5\" in column 'rating'"),
        "{e}"
    );
    let e = err(&movielens(), "ratings.dat", b"1::2::0.25::978300760\n");
    assert!(
        e.starts_with("ratings.dat:1:") && e.contains("0.5 to 5 in half stars"),
        "{e}"
    );
    // On the scale, half stars and the threshold still work.
    let ok = run(
        &Params {
            threshold: Some(3.5),
            ..movielens()
        },
        &[(
            "source",
            "ratings.csv",
            b"userId,movieId,rating,timestamp\n1,1,3.5,964982703\n1,2,0.5,964982703\n",
        )],
    )
    .expect("valid rows");
    assert_eq!(tables(&ok).0.len(), 1);
}

#[test]
fn movielens_timestamps_must_be_integers() {
    // A whole float passes the generic timestamp reader; MovieLens writes integers.
    let e = err(
        &movielens(),
        "ratings.dat",
        b"1::2::5::978300760\n1::3::4::978300761.0\n",
    );
    assert!(e.starts_with("ratings.dat:2:"), "{e}");
    assert!(
        e.contains("timestamp \"978300761.0\" in column 3 is not an integer"),
        "{e}"
    );
    let e = err(&movielens(), "ratings.dat", b"1::3::4::97830.5\n");
    assert!(
        e.starts_with("ratings.dat:1:") && e.contains("\"97830.5\""),
        "{e}"
    );
}

#[test]
fn schema_errors_are_bad_rows_that_skip_mode_counts() {
    let p = Params {
        on_bad_row: OnBadRow::Skip,
        ..movielens()
    };
    let out = run(
        &p,
        &[(
            "source",
            "u.data",
            b"1\t2\t5\t881250949\n1\tx\t5\t881250949\n2\t2\t9\t881250949\n",
        )],
    )
    .expect("skip");
    assert_eq!(tables(&out).0.len(), 1);
    let notes = out.summary.join("\n");
    assert!(notes.contains("2 bad rows skipped"), "{notes}");
    assert!(notes.contains("u.data:2: movie id \"x\""), "{notes}");
}

#[test]
fn msd_play_counts_must_be_whole_numbers() {
    let p = Params {
        format: SourceFormat::MsdTriplets,
        ..Default::default()
    };
    let e = err(&p, "triplets.txt", b"u1\tSOA\t3\nu1\tSOB\t2.5\n");
    assert!(e.starts_with("triplets.txt:2:"), "{e}");
    assert!(
        e.contains("play count \"2.5\" in column 2 is not a whole number"),
        "{e}"
    );
}

fn counts() -> Params {
    Params {
        format: SourceFormat::Delimited,
        header: Some(true),
        columns: Some(Columns {
            user: ColumnRef::Name("user".into()),
            item: ColumnRef::Name("item".into()),
            value: Some(ColumnRef::Name("plays".into())),
            timestamp: None,
        }),
        feedback: Some(Feedback::Count),
        ..Default::default()
    }
}

#[test]
fn a_count_whose_confidence_would_overflow_f32_stops_at_preprocess() {
    // 1e37 fits in f32, but 1 + 40·1e37 does not: train used to fail with "increase
    // reg_param"; now preprocess names the row.
    let e = err(
        &counts(),
        "plays.csv",
        b"user,item,plays\na,x,3\nb,y,1e37\n",
    );
    assert!(e.starts_with("plays.csv:3:"), "{e}");
    assert!(
        e.contains("count \"1e37\" in column 'plays'") && e.contains("2^24"),
        "{e}"
    );
    let rating = Params {
        feedback: Some(Feedback::Rating),
        ..counts()
    };
    let e = err(&rating, "plays.csv", b"user,item,plays\na,x,-3e9\n");
    assert!(
        e.starts_with("plays.csv:2:") && e.contains("value \"-3e9\""),
        "{e}"
    );
    // The bound itself is fine.
    assert!(run(
        &counts(),
        &[("source", "plays.csv", b"user,item,plays\na,x,16777216\n")]
    )
    .is_ok());
}

#[test]
fn a_sum_of_duplicates_beyond_the_bound_names_the_file_and_pair() {
    let p = Params {
        duplicates: Some(Duplicates::Sum),
        ..counts()
    };
    let text = b"user,item,plays\na,x,1\nb,y,16777216\nc,z,2\nb,y,16777215\n";
    let e = err(&p, "plays.csv", text);
    // (Line numbers are kept only for duplicates = "error", so the pair names the rows.)
    assert!(e.starts_with("plays.csv:"), "{e}");
    assert!(
        e.contains("user \"b\" and item \"y\"") && e.contains("duplicates = \"max\""),
        "{e}"
    );
    // max keeps the same rows within the bound.
    let p = Params {
        duplicates: Some(Duplicates::Max),
        ..counts()
    };
    assert_eq!(
        tables(&run(&p, &[("source", "plays.csv", text)]).expect("max"))
            .0
            .len(),
        3
    );
}
