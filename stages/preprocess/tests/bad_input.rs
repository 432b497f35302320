//! Every class of bad input gives an error naming the file and the line.

mod common;
use alsflow_preprocess::{
    ColumnRef, Columns, Duplicates, Encoding, Feedback, OnBadRow, Params, SourceFormat,
};
use common::{run, tables};

fn csv_params() -> Params {
    Params {
        format: SourceFormat::Delimited,
        header: Some(true),
        columns: Some(Columns {
            user: ColumnRef::Name("user".into()),
            item: ColumnRef::Name("item".into()),
            value: Some(ColumnRef::Name("rating".into())),
            timestamp: None,
        }),
        feedback: Some(Feedback::Count),
        ..Default::default()
    }
}

fn err(params: &Params, text: &[u8]) -> String {
    match run(params, &[("source", "data/ratings.csv", text)]) {
        Ok(_) => panic!("expected an error for {:?}", String::from_utf8_lossy(text)),
        Err(e) => e.to_string(),
    }
}

#[test]
fn nan_value_names_file_and_line() {
    let e = err(&csv_params(), b"user,item,rating\n1,2,3\n1,3,NaN\n");
    assert!(e.starts_with("data/ratings.csv:3:"), "{e}");
    assert!(e.contains("NaN"), "{e}");
}

#[test]
fn negative_count_names_file_and_line() {
    let e = err(&csv_params(), b"user,item,rating\n1,2,3\n1,3,4\n2,2,-1\n");
    assert!(e.starts_with("data/ratings.csv:4:"), "{e}");
    assert!(
        e.contains("non-negative count") && e.contains("\"-1\""),
        "{e}"
    );
}

#[test]
fn empty_id_names_file_and_line() {
    let e = err(&csv_params(), b"user,item,rating\n1,2,3\n,3,4\n");
    assert!(e.starts_with("data/ratings.csv:3:"), "{e}");
    assert!(e.contains("empty user id in column 'user'"), "{e}");
    let e = err(&csv_params(), b"user,item,rating\n1, ,3\n");
    assert!(
        e.starts_with("data/ratings.csv:2:") && e.contains("empty item id"),
        "{e}"
    );
}

#[test]
fn non_utf8_id_in_utf8_mode_names_file_and_line() {
    let e = err(
        &csv_params(),
        b"user,item,rating\n1,2,3\n1,Mis\xe9rables,4\n",
    );
    assert!(e.starts_with("data/ratings.csv:3:"), "{e}");
    assert!(e.contains("not valid UTF-8"), "{e}");
    // The same bytes are fine in Latin-1 mode and decode to the right text.
    let p = Params {
        encoding: Encoding::Latin1,
        ..csv_params()
    };
    let out = run(
        &p,
        &[(
            "source",
            "data/ratings.csv",
            b"user,item,rating\n1,2,3\n1,Mis\xe9rables,4\n",
        )],
    )
    .unwrap();
    let (_, _, items) = tables(&out);
    assert_eq!(
        items.raw_ids,
        vec!["2".to_string(), "Misérables".to_string()]
    );
}

#[test]
fn empty_file_names_file_and_line() {
    let e = err(&csv_params(), b"");
    assert!(
        e.starts_with("data/ratings.csv:1:") && e.contains("empty"),
        "{e}"
    );
    let e = err(&csv_params(), b"\n\n");
    assert!(
        e.starts_with("data/ratings.csv:1:") && e.contains("empty"),
        "{e}"
    );
}

#[test]
fn header_only_file_names_file_and_line() {
    let e = err(&csv_params(), b"user,item,rating\n");
    assert!(e.starts_with("data/ratings.csv:1:"), "{e}");
    assert!(e.contains("header but no data rows"), "{e}");
}

#[test]
fn wrong_column_count_names_file_and_line() {
    let e = err(&csv_params(), b"user,item,rating\n1,2,3\n1,2\n");
    assert!(e.starts_with("data/ratings.csv:3:"), "{e}");
    assert!(e.contains("expected 3 columns, found 2"), "{e}");
    let e = err(&csv_params(), b"user,item,rating\n1,2,3\n1,2,3,4\n");
    assert!(
        e.starts_with("data/ratings.csv:3:") && e.contains("found 4"),
        "{e}"
    );
}

#[test]
fn unparsable_number_names_file_line_column_and_text() {
    let e = err(&csv_params(), b"user,item,rating\n1,2,3\n1,3,3\n1,4,x\n");
    assert_eq!(
        e,
        "data/ratings.csv:4: expected a number in column 'rating', found \"x\""
    );
}

#[test]
fn errors_in_later_chunks_and_crlf_keep_the_right_line() {
    // Many rows so that the error is deep in the file; CRLF endings.
    let mut text = b"user,item,rating\r\n".to_vec();
    for r in 0..5000 {
        text.extend_from_slice(format!("{},{},1\r\n", r % 17, r % 31).as_bytes());
    }
    text.extend_from_slice(b"5,5,bad\r\n");
    let e = err(&csv_params(), &text);
    assert!(e.starts_with("data/ratings.csv:5002:"), "{e}");
}

#[test]
fn skip_mode_counts_and_reports_bad_rows() {
    let p = Params {
        on_bad_row: OnBadRow::Skip,
        ..csv_params()
    };
    let out = run(
        &p,
        &[(
            "source",
            "data/ratings.csv",
            b"user,item,rating\n1,2,3\n1,x\n1,3,NaN\n2,2,5\n",
        )],
    )
    .unwrap();
    let summary = out.summary.join("\n");
    assert!(
        summary.contains("4 rows read, 2 bad rows skipped"),
        "{summary}"
    );
    assert!(
        summary.contains("skipped data/ratings.csv:3: expected 3 columns"),
        "{summary}"
    );
    assert!(summary.contains("skipped data/ratings.csv:4:"), "{summary}");
    let (t, users, items) = tables(&out);
    assert_eq!(t.len(), 2);
    assert_eq!(t.value, vec![3.0, 5.0]);
    assert_eq!(users.raw_ids, vec!["1", "2"]);
    assert_eq!(items.raw_ids, vec!["2"]);
}

#[test]
fn unknown_column_name_is_reported_with_the_header() {
    let p = Params {
        columns: Some(Columns {
            user: ColumnRef::Name("userId".into()),
            ..csv_params().columns.unwrap()
        }),
        ..csv_params()
    };
    let e = err(&p, b"user,item,rating\n1,2,3\n");
    assert!(
        e.starts_with("data/ratings.csv:1:") && e.contains("no column named 'userId'"),
        "{e}"
    );
}

#[test]
fn unterminated_quote_names_the_line() {
    let e = err(&csv_params(), b"user,item,rating\n\"1,2,3\n");
    assert!(
        e.starts_with("data/ratings.csv:2:") && e.contains("unterminated quoted field"),
        "{e}"
    );
}

#[test]
fn duplicates_error_policy_names_both_lines() {
    let p = Params {
        duplicates: Some(Duplicates::Error),
        ..csv_params()
    };
    let e = err(&p, b"user,item,rating\n1,2,3\n1,3,1\n1,2,4\n");
    assert!(e.starts_with("data/ratings.csv:4:"), "{e}");
    assert!(e.contains("repeat line 2"), "{e}");
    // Exact duplicates are dropped before the policy applies, so they are no conflict.
    let out = run(
        &p,
        &[("source", "d.csv", b"user,item,rating\n1,2,3\n1,2,3\n")],
    )
    .unwrap();
    assert_eq!(tables(&out).0.len(), 1);
}

#[test]
fn bad_params_are_named() {
    let p = Params {
        threshold: Some(3.0),
        ..csv_params()
    };
    assert!(err(&p, b"user,item,rating\n1,2,3\n").contains("invalid parameter threshold"));
    let p = Params {
        header: Some(false),
        ..csv_params()
    };
    assert!(err(&p, b"1,2,3\n").contains("invalid parameter columns.user"));
}

#[test]
fn unsplittable_first_line_is_an_error_not_a_panic() {
    let p = Params {
        header: Some(false),
        columns: Some(Columns {
            user: ColumnRef::Position(0),
            item: ColumnRef::Position(1),
            value: Some(ColumnRef::Position(2)),
            timestamp: Some(ColumnRef::Position(3)),
        }),
        ..csv_params()
    };
    let e = err(&p, b"\"1,2\n1,2\n");
    assert!(
        e.starts_with("data/ratings.csv:1:") && e.contains("unterminated"),
        "{e}"
    );
    let p = Params {
        on_bad_row: OnBadRow::Skip,
        ..p
    };
    let e = err(&p, b"\"1,2\n1,2\n");
    assert!(e.contains("no usable interactions"), "{e}");
}
