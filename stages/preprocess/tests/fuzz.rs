//! No input makes the parsers panic: arbitrary bytes through every text format.
//! Failing cases are kept by proptest under `proptest-regressions/` (commit them).

mod common;
use alsflow_preprocess::{ColumnRef, Columns, Encoding, OnBadRow, Params, SourceFormat};
use proptest::prelude::*;

fn formats() -> Vec<(Params, &'static str)> {
    let delimited = |delim: &str, quote: Option<&str>, header: bool| Params {
        format: SourceFormat::Delimited,
        delimiter: Some(delim.into()),
        quote: quote.map(Into::into),
        header: Some(header),
        columns: Some(Columns {
            user: ColumnRef::Position(0),
            item: ColumnRef::Position(1),
            value: Some(ColumnRef::Position(2)),
            timestamp: Some(ColumnRef::Position(3)),
        }),
        ..Default::default()
    };
    vec![
        (
            Params {
                format: SourceFormat::Movielens,
                ..Default::default()
            },
            "u.data",
        ),
        (
            Params {
                format: SourceFormat::Movielens,
                ..Default::default()
            },
            "ratings.dat",
        ),
        (
            Params {
                format: SourceFormat::Movielens,
                ..Default::default()
            },
            "ratings.csv",
        ),
        (
            Params {
                format: SourceFormat::Movielens,
                ..Default::default()
            },
            "unknown.txt",
        ),
        (
            Params {
                format: SourceFormat::MsdTriplets,
                ..Default::default()
            },
            "triplets.txt",
        ),
        (delimited(",", None, true), "d.csv"),
        (delimited(";", Some("'"), false), "d.csv"),
        (
            Params {
                encoding: Encoding::Latin1,
                on_bad_row: OnBadRow::Skip,
                ..delimited("::", Some(""), false)
            },
            "d.dat",
        ),
        (
            Params {
                format: SourceFormat::Parquet,
                ..Default::default()
            },
            "p.parquet",
        ),
    ]
}

/// Bytes that look like rows often enough to reach the deeper code paths.
fn rowish() -> impl Strategy<Value = Vec<u8>> {
    let token = prop_oneof![
        Just(b",".to_vec()),
        Just(b"\t".to_vec()),
        Just(b"::".to_vec()),
        Just(b"\n".to_vec()),
        Just(b"\r\n".to_vec()),
        Just(b"\"".to_vec()),
        Just(b"'".to_vec()),
        Just(b";".to_vec()),
        Just(b"NaN".to_vec()),
        Just(b"-1".to_vec()),
        Just(b"1e400".to_vec()),
        "[0-9]{1,4}".prop_map(|s| s.into_bytes()),
        "[a-z]{1,3}".prop_map(|s| s.into_bytes()),
        proptest::collection::vec(any::<u8>(), 1..3),
    ];
    proptest::collection::vec(token, 0..60).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        for (p, label) in formats() {
            let _ = common::run(&p, &[("source", label, &bytes)]);
            let _ = common::run(&p, &[("source", label, b"1,2,3,4\n"), ("source_test", label, &bytes)]);
        }
    }

    #[test]
    fn row_like_bytes_never_panic(bytes in rowish()) {
        for (p, label) in formats() {
            if let Err(e) = common::run(&p, &[("source", label, &bytes)]) {
                // Errors always name the file.
                let msg = e.to_string();
                prop_assert!(msg.contains(label) || msg.starts_with("invalid parameter"), "{}", msg);
            }
        }
    }
}
