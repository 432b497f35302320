//! The `preprocess` parameters: every key of a `[[dataset]]` table that the runner
//! does not own.

use serde::{Deserialize, Serialize};

/// Parameters of the `preprocess` stage (the dataset's keys in `pipeline.toml`).
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// Keep every row's line number even when `duplicates` does not need them: set
    /// only to name the line of an error found after merging (not a config key).
    #[serde(skip)]
    pub line_numbers: bool,
    /// Source format: `movielens` (u.data / ratings.dat / ratings.csv, detected from the
    /// file name, else sniffed), `msd-triplets` (`user \t song \t count`), `delimited`
    /// (any CSV/TSV, see `delimiter`, `header`, `columns`), `parquet`, or `synthetic`
    /// (generated from the `synthetic` table; no source file). Default `delimited`.
    #[serde(default)]
    pub format: SourceFormat,
    /// How values become implicit feedback: `binary` (value ≥ `threshold` → 1, other rows
    /// dropped; without a threshold every row is 1), `count` (play counts; negative is an
    /// error), `rating` (the raw value). Default: `binary` for movielens, `count` for
    /// msd-triplets, and for delimited/parquet `count` when a value column is mapped,
    /// else `binary`; synthetic follows `synthetic.values`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub feedback: Option<Feedback>,
    /// Binary feedback: keep rows whose value is ≥ this (e.g. 4.0 for "liked" ratings).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<f64>,
    /// Policy for (user, item) pairs that still repeat after exact duplicate rows were
    /// dropped: `sum` (default for count feedback), `max` (default otherwise), `last`
    /// or `error`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duplicates: Option<Duplicates>,
    /// What to do with a bad row: `error` (default: stop, naming file, line, offending
    /// text and what was expected) or `skip` (skip it, count it, report the first few).
    #[serde(default)]
    pub on_bad_row: OnBadRow,
    /// Field separator for `delimited` (one or more bytes, `"\t"` for TSV). Default `","`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delimiter: Option<String>,
    /// Whether the first line of a `delimited` file is a header. Default `true`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header: Option<bool>,
    /// Which columns hold user, item, value and timestamp (names from the header, or
    /// 0-based positions). Default: positions 0, 1, 2 and no timestamp.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub columns: Option<Columns>,
    /// Quote character of `delimited` files (a field starting with it runs to the
    /// matching quote; a doubled quote inside is a literal quote; a quoted field cannot
    /// span lines). Default `"`; `""` turns quoting off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quote: Option<String>,
    /// Text encoding of ids in the source: `utf-8` (default; invalid bytes are an error)
    /// or `latin-1`.
    #[serde(default)]
    pub encoding: Encoding,
    /// Keep rows whose value is 0 as explicit zeros (default false: ALS already treats
    /// every absent pair as a zero).
    #[serde(default)]
    pub keep_zeros: bool,
    /// Drop users with fewer distinct items than this (after merging duplicates).
    #[serde(default)]
    pub min_user_interactions: u32,
    /// Drop items with fewer distinct users than this (after merging duplicates).
    #[serde(default)]
    pub min_item_interactions: u32,
    /// Repeat the two filters above until both hold for every remaining user and item
    /// (a k-core); otherwise they are applied once, together.
    #[serde(default)]
    pub k_core: bool,
    /// Generator settings for `format = "synthetic"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub synthetic: Option<SyntheticParams>,
}

/// Source formats (see [`Params::format`]).
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum SourceFormat {
    /// MovieLens `u.data`, `ratings.dat` or `ratings.csv`.
    Movielens,
    /// Echo Nest Taste Profile triplets `user \t song \t count`.
    MsdTriplets,
    /// Any delimited text file.
    #[default]
    Delimited,
    /// A Parquet file.
    Parquet,
    /// Generated data (see [`SyntheticParams`]).
    Synthetic,
}

/// Implicit conversion of values (see [`Params::feedback`]).
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Feedback {
    /// 1 for every kept row.
    Binary,
    /// Non-negative counts.
    Count,
    /// The raw value.
    Rating,
}

/// Merge policy for repeated pairs (see [`Params::duplicates`]).
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Duplicates {
    /// Add the values.
    Sum,
    /// Keep the largest value.
    Max,
    /// Keep the value of the last occurrence in the file.
    Last,
    /// Stop with an error naming both lines.
    Error,
}

/// Bad-row policy (see [`Params::on_bad_row`]).
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum OnBadRow {
    /// Stop at the first bad row.
    #[default]
    Error,
    /// Skip bad rows, count them and report the first few.
    Skip,
}

/// Text encoding of the source (see [`Params::encoding`]).
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Encoding {
    /// UTF-8; invalid bytes in an id are an error.
    #[default]
    #[serde(rename = "utf-8")]
    Utf8,
    /// ISO-8859-1: every byte is one character.
    #[serde(rename = "latin-1")]
    Latin1,
}

/// A column chosen by header name or 0-based position.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(untagged)]
pub enum ColumnRef {
    /// 0-based position.
    Position(usize),
    /// Header name.
    Name(String),
}

impl std::fmt::Display for ColumnRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ColumnRef::Position(p) => write!(f, "{p}"),
            ColumnRef::Name(n) => write!(f, "'{n}'"),
        }
    }
}

/// The column mapping (see [`Params::columns`]).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Columns {
    /// User id column (default position 0).
    #[serde(default = "col0")]
    pub user: ColumnRef,
    /// Item id column (default position 1).
    #[serde(default = "col1")]
    pub item: ColumnRef,
    /// Value column; absent means every row has value 1 (binary feedback).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<ColumnRef>,
    /// Optional timestamp column (integer seconds), kept for `split.method = "time"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<ColumnRef>,
}

fn col0() -> ColumnRef {
    ColumnRef::Position(0)
}
fn col1() -> ColumnRef {
    ColumnRef::Position(1)
}

impl Default for Columns {
    fn default() -> Self {
        Columns {
            user: col0(),
            item: col1(),
            value: Some(ColumnRef::Position(2)),
            timestamp: None,
        }
    }
}

/// Settings of the synthetic generator (`format = "synthetic"`, and the benchmarks).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SyntheticParams {
    /// Number of users (default 1,000).
    #[serde(default = "d_users")]
    pub users: u32,
    /// Number of items (default 500).
    #[serde(default = "d_items")]
    pub items: u32,
    /// Number of distinct (user, item) interactions (default 50,000).
    #[serde(default = "d_interactions")]
    pub interactions: u64,
    /// Number of planted latent taste groups (default 10).
    #[serde(default = "d_rank")]
    pub rank: u32,
    /// Zipf exponent of item popularity (default 0.9; 0 = uniform).
    #[serde(default = "d_skew")]
    pub popularity_skew: f64,
    /// `binary` (every value 1) or `count` (play-count-like values ≥ 1).
    #[serde(default)]
    pub values: SyntheticValues,
    /// Seed: the same settings give the same data, whatever the thread count.
    #[serde(default)]
    pub seed: u64,
}

fn d_users() -> u32 {
    1000
}
fn d_items() -> u32 {
    500
}
fn d_interactions() -> u64 {
    50_000
}
fn d_rank() -> u32 {
    10
}
fn d_skew() -> f64 {
    0.9
}

impl Default for SyntheticParams {
    fn default() -> Self {
        SyntheticParams {
            users: d_users(),
            items: d_items(),
            interactions: d_interactions(),
            rank: d_rank(),
            popularity_skew: d_skew(),
            values: SyntheticValues::default(),
            seed: 0,
        }
    }
}

/// Value kind of generated data.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum SyntheticValues {
    /// Every value is 1.
    #[default]
    Binary,
    /// Play-count-like integers ≥ 1, larger inside a user's taste group.
    Count,
}
