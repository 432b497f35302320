//! Where a text source's fields are: each format's delimiter, quoting and header
//! (MovieLens's three file kinds are told apart by file name, then by their first
//! line), and the configured columns resolved to 0-based positions and display
//! names, giving the parser its [`Layout`].

use crate::fields::split_fields;
use crate::params::{ColumnRef, Columns, Duplicates, Feedback, Params, SourceFormat};
use crate::parse::Layout;
use crate::schema::{RowSchema, StarScale};
use crate::{bad_input, bad_param};
use alsflow_core::StageError;
use std::path::Path;

/// The most columns a header or first line may have. Interaction files have a handful;
/// the bound keeps a runaway line (a file of delimiters, a wrong delimiter on a huge
/// single-line file) from being expanded into millions of column names.
pub(crate) const MAX_COLUMNS: usize = 1 << 16;

/// The error for a header or first line wider than [`MAX_COLUMNS`].
fn too_many_columns(label: &str, line: u64, found: usize) -> StageError {
    bad_input(
        label,
        Some(line),
        format!("the line has {found} columns; at most {MAX_COLUMNS} are supported (is the delimiter right?)"),
    )
}

/// The kind of MovieLens file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum MovielensKind {
    /// `u.data`: tab, no header, user item rating timestamp.
    UData,
    /// `ratings.dat`: `::`, no header.
    Dat,
    /// `ratings.csv`: comma, header `userId,movieId,rating,timestamp`.
    Csv,
}

/// The lower-case file name of a source label (a path), for telling formats apart.
pub(crate) fn file_name(label: &str) -> String {
    Path::new(label)
        .file_name()
        .map(|n| n.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default()
}

impl MovielensKind {
    /// The kind a file name says (`u.data`, the `u1.base`-style splits, `.dat`, `.csv`).
    pub(crate) fn from_name(name: &str) -> Option<MovielensKind> {
        if name == "u.data" || name.ends_with(".base") || name.ends_with(".test") {
            Some(MovielensKind::UData)
        } else if name.ends_with(".dat") {
            Some(MovielensKind::Dat)
        } else if name.ends_with(".csv") {
            Some(MovielensKind::Csv)
        } else {
            None
        }
    }

    /// The file of item titles that MovieLens ships beside a ratings file of this kind.
    pub(crate) fn titles_file(self) -> &'static str {
        match self {
            MovielensKind::UData => "u.item",
            MovielensKind::Dat => "movies.dat",
            MovielensKind::Csv => "movies.csv",
        }
    }
}

/// The kind of a MovieLens file: by its name, else by its first line.
fn movielens_kind(label: &str, body: &[u8]) -> MovielensKind {
    if let Some(kind) = MovielensKind::from_name(&file_name(label)) {
        return kind;
    }
    let first = body.split(|&b| b == b'\n').next().unwrap_or_default();
    if memchr::memmem::find(first, b"::").is_some() {
        MovielensKind::Dat
    } else if first.contains(&b'\t') {
        MovielensKind::UData
    } else {
        MovielensKind::Csv
    }
}

/// A text source ready to parse: the data rows, the file line they start at, and
/// where their fields are.
pub(crate) struct TextSource<'a> {
    /// The bytes after the header (and byte-order mark).
    pub body: &'a [u8],
    /// The 1-based file line of `body`'s first line.
    pub first_line: u64,
    /// Delimiter, quoting, columns and value settings.
    pub layout: Layout,
}

/// Count and rating feedback read a value; only binary feedback can do without.
pub(crate) fn require_value_column(has_value: bool, feedback: Feedback) -> Result<(), StageError> {
    if has_value || feedback == Feedback::Binary {
        return Ok(());
    }
    Err(bad_param(
        "columns.value",
        "count and rating feedback need a value column",
    ))
}

/// Resolve the format and columns of the text file `bytes` (called `label` in
/// messages): errors name the file and line (a missing column, an empty file) or the
/// parameter (`delimiter`, `quote`, `columns.*`).
pub(crate) fn text_source<'a>(
    params: &Params,
    feedback: Feedback,
    label: &str,
    bytes: &'a [u8],
) -> Result<TextSource<'a>, StageError> {
    let mut data = bytes;
    if let Some(rest) = data.strip_prefix(b"\xEF\xBB\xBF") {
        data = rest;
    }
    if data.trim_ascii().is_empty() {
        return Err(bad_input(label, Some(1), "the file is empty (no rows)"));
    }
    let schema = match params.format {
        SourceFormat::Movielens => Some(RowSchema::Movielens(match movielens_kind(label, data) {
            MovielensKind::UData => StarScale::Whole,
            MovielensKind::Dat | MovielensKind::Csv => StarScale::Half,
        })),
        SourceFormat::MsdTriplets => Some(RowSchema::MsdTriplets),
        _ => None,
    };
    let (delim, header, columns, quote): (Vec<u8>, bool, Columns, Option<u8>) = match params.format
    {
        SourceFormat::Movielens => {
            let all4 = Columns {
                user: ColumnRef::Position(0),
                item: ColumnRef::Position(1),
                value: Some(ColumnRef::Position(2)),
                timestamp: Some(ColumnRef::Position(3)),
            };
            match movielens_kind(label, data) {
                MovielensKind::UData => (b"\t".to_vec(), false, all4, None),
                MovielensKind::Dat => (b"::".to_vec(), false, all4, None),
                MovielensKind::Csv => (
                    b",".to_vec(),
                    true,
                    Columns {
                        user: ColumnRef::Name("userId".into()),
                        item: ColumnRef::Name("movieId".into()),
                        value: Some(ColumnRef::Name("rating".into())),
                        timestamp: Some(ColumnRef::Name("timestamp".into())),
                    },
                    Some(b'"'),
                ),
            }
        }
        SourceFormat::MsdTriplets => (
            b"\t".to_vec(),
            false,
            Columns {
                timestamp: None,
                ..Columns::default()
            },
            None,
        ),
        _ => {
            let delim = params
                .delimiter
                .clone()
                .unwrap_or_else(|| ",".into())
                .into_bytes();
            if delim.is_empty() || delim.contains(&b'\n') || delim.contains(&b'\r') {
                return Err(bad_param(
                    "delimiter",
                    "must be non-empty and contain no line break",
                ));
            }
            let quote = match params.quote.as_deref() {
                None => Some(b'"'),
                Some("") => None,
                Some(q) if q.len() == 1 && q.as_bytes()[0] != b'\n' && !delim.contains(&q.as_bytes()[0]) => {
                    Some(q.as_bytes()[0])
                }
                Some(q) => {
                    return Err(bad_param(
                        "quote",
                        format!("must be one ASCII character other than the delimiter, or \"\" for none; got {q:?}"),
                    ))
                }
            };
            (
                delim,
                params.header.unwrap_or(true),
                params.columns.clone().unwrap_or_default(),
                quote,
            )
        }
    };
    // The header (when present) is the first line.
    let (body, first_line, header_names) = if header {
        let end = memchr::memchr(b'\n', data).unwrap_or(data.len());
        let mut line = &data[..end];
        if let [rest @ .., b'\r'] = line {
            line = rest;
        }
        let mut fields = Vec::new();
        let found = split_fields(line, &delim, quote, &mut fields, MAX_COLUMNS)
            .map_err(|m| bad_input(label, Some(1), m))?;
        if found > MAX_COLUMNS {
            return Err(too_many_columns(label, 1, found));
        }
        let names: Vec<String> = fields
            .iter()
            .map(|f| String::from_utf8_lossy(f).into_owned())
            .collect();
        let body = if end < data.len() {
            &data[end + 1..]
        } else {
            &data[data.len()..]
        };
        if body.trim_ascii().is_empty() {
            return Err(bad_input(
                label,
                Some(1),
                "the file has a header but no data rows",
            ));
        }
        (body, 2u64, Some(names))
    } else {
        (data, 1u64, None)
    };
    let n_fields = match &header_names {
        Some(n) => n.len(),
        None => {
            let (at, first) = body
                .split(|&b| b == b'\n')
                .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
                .enumerate()
                .find(|(_, l)| !l.trim_ascii().is_empty())
                .unwrap_or_default();
            let mut fields = Vec::new();
            match split_fields(first, &delim, quote, &mut fields, MAX_COLUMNS) {
                Ok(found) if found > MAX_COLUMNS => {
                    return Err(too_many_columns(label, first_line + at as u64, found))
                }
                Ok(found) => found,
                Err(_) => 0,
            }
        }
    };
    let resolve = |which: &str, c: &ColumnRef| -> Result<(usize, String), StageError> {
        match (c, &header_names) {
            (ColumnRef::Position(p), names) => {
                if *p >= n_fields && n_fields > 0 {
                    return Err(bad_input(
                        label,
                        Some(first_line - u64::from(header)),
                        format!("columns.{which} = {p} does not exist: the file has {n_fields} columns (0-based positions)"),
                    ));
                }
                let name = match names.as_ref().and_then(|n| n.get(*p)) {
                    Some(n) => format!("'{n}'"),
                    None => p.to_string(),
                };
                Ok((*p, name))
            }
            (ColumnRef::Name(n), Some(names)) => match names.iter().position(|h| h == n) {
                Some(p) => Ok((p, format!("'{n}'"))),
                None => Err(bad_input(
                    label,
                    Some(1),
                    format!("no column named '{n}' (columns.{which}); the header has {names:?}"),
                )),
            },
            (ColumnRef::Name(n), None) => Err(bad_param(
                &format!("columns.{which}"),
                format!("'{n}' is a column name, but the file has no header: use a 0-based position or header = true"),
            )),
        }
    };
    let (user, uname) = resolve("user", &columns.user)?;
    let (item, iname) = resolve("item", &columns.item)?;
    let value = columns
        .value
        .as_ref()
        .map(|c| resolve("value", c))
        .transpose()?;
    let timestamp = columns
        .timestamp
        .as_ref()
        .map(|c| resolve("timestamp", c))
        .transpose()?;
    require_value_column(value.is_some(), feedback)?;
    let used_max = [
        Some(user),
        Some(item),
        value.as_ref().map(|v| v.0),
        timestamp.as_ref().map(|t| t.0),
    ]
    .into_iter()
    .flatten()
    .max()
    .unwrap_or(0);
    let layout = Layout {
        delim,
        quote,
        user,
        item,
        value: value.as_ref().map(|v| v.0),
        timestamp: timestamp.as_ref().map(|t| t.0),
        names: [
            uname,
            iname,
            value.map(|v| v.1).unwrap_or_default(),
            timestamp.map(|t| t.1).unwrap_or_default(),
        ],
        // Every line must have n_fields fields, so indexing any used column is safe.
        n_fields: n_fields.max(1 + used_max),
        encoding: params.encoding,
        feedback,
        threshold: params.threshold,
        keep_zeros: params.keep_zeros,
        on_bad_row: params.on_bad_row,
        schema,
        keep_lines: params.duplicates == Some(Duplicates::Error),
    };
    Ok(TextSource {
        body,
        first_line,
        layout,
    })
}
