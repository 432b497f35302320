//! Stage `preprocess`: raw files to indexed interaction tables.
//!
//! Reads a MovieLens file, Million Song triplets, any delimited text or Parquet file
//! (or generates synthetic data), converts values to implicit feedback, drops exact
//! duplicate rows, merges repeated (user, item) pairs, optionally filters to a k-core,
//! and writes `interactions` (dense `user_idx`, `item_idx`, `value`, optional
//! `timestamp` and `partition`), `users` and `items` (index ↔ raw id, item titles
//! when known).
//!
//! Dense indices follow the order of first appearance in the file (training file
//! first, then the test file of a predefined split), like `pandas.factorize(sort=False)`.
//! Parsing is parallel over newline-aligned chunks, and chunk results are merged in
//! file order, so outputs are byte-identical whatever the thread count.

mod params;
mod parse;
pub mod synthetic;
mod titles;

pub use params::{
    ColumnRef, Columns, Duplicates, Encoding, Feedback, OnBadRow, Params, SourceFormat,
    SyntheticParams, SyntheticValues,
};

use alsflow_core::catalog::{preprocess, raw};
use alsflow_core::table::{IdMap, Interactions};
use alsflow_core::{
    ArtifactName, InputArtifact, InputSpec, Stage, StageContext, StageError, StageInputs,
    StageOutputs,
};
use parse::{Layout, Parsed, RowError};
use rayon::prelude::*;
use std::borrow::Cow;
use std::path::{Path, PathBuf};

/// The `preprocess` stage.
pub struct Preprocess;

impl Stage for Preprocess {
    const NAME: &'static str = "preprocess";
    const INPUTS: &'static [InputSpec] = &[
        // Required unless the format is synthetic; the runner checks the config.
        InputSpec::raw(raw::SOURCE, false),
        InputSpec::raw(raw::SOURCE_TEST, false),
        InputSpec::raw(raw::TITLES, false),
    ];
    const OUTPUTS: &'static [ArtifactName] = preprocess::ALL;
    type Params = Params;

    fn run(
        params: &Params,
        inputs: &StageInputs,
        _ctx: &dyn StageContext,
    ) -> Result<StageOutputs, StageError> {
        let mut out = StageOutputs::new();
        let loaded = load(params, inputs, &mut out)?;
        let titles = match inputs.optional(raw::TITLES) {
            Some(t) => {
                let (map, bad) = titles::parse_titles(&t.bytes, &t.label);
                out.note(format!(
                    "{}: {} titles{}",
                    t.label,
                    map.len(),
                    if bad > 0 {
                        format!(" ({bad} unreadable lines ignored)")
                    } else {
                        String::new()
                    }
                ));
                Some(map)
            }
            None => None,
        };
        let items = IdMap {
            titles: titles.map(|m| loaded.items.iter().map(|id| m.get(id).cloned()).collect()),
            raw_ids: loaded.items,
        };
        let users = IdMap {
            raw_ids: loaded.users,
            titles: None,
        };
        let t = &loaded.interactions;
        let cells = t.n_users as f64 * t.n_items as f64;
        out.note(format!(
            "{} interactions, {} users, {} items, density {:.4}%",
            t.len(),
            t.n_users,
            t.n_items,
            if cells > 0.0 {
                100.0 * t.len() as f64 / cells
            } else {
                0.0
            }
        ));
        out.put(preprocess::INTERACTIONS, t.to_parquet()?);
        out.put(preprocess::USERS, users.to_parquet()?);
        out.put(preprocess::ITEMS, items.to_parquet()?);
        Ok(out)
    }
}

/// The result of [`load`]: the interaction table and the raw ids of its indices.
#[derive(Clone, Debug, PartialEq)]
pub struct Loaded {
    /// Interactions in dense index space.
    pub interactions: Interactions,
    /// Raw user id of each user index.
    pub users: Vec<String>,
    /// Raw item id of each item index.
    pub items: Vec<String>,
}

/// Parse, convert, deduplicate and filter the inputs (everything but the Parquet
/// encoding); summary lines go to `out`. Public for benchmarks and tests.
pub fn load(
    params: &Params,
    inputs: &StageInputs,
    out: &mut StageOutputs,
) -> Result<Loaded, StageError> {
    let feedback = resolve_feedback(params)?;
    let duplicates = params.duplicates.unwrap_or(if feedback == Feedback::Count {
        Duplicates::Sum
    } else {
        Duplicates::Max
    });
    let mut labels: Vec<String> = Vec::new();
    let generated;
    let mut parsed = match params.format {
        SourceFormat::Synthetic => {
            let sp = params.synthetic.clone().ok_or_else(|| StageError::BadParam {
                param: "synthetic".into(),
                message: "format = \"synthetic\" needs a [dataset.synthetic] table (users, items, interactions, …)"
                    .into(),
            })?;
            synthetic::validate(&sp)?;
            generated = synthetic::generate(&sp);
            labels.push("synthetic".into());
            out.note(format!(
                "synthetic: {} users, {} items, {} interactions, rank {}, seed {}",
                sp.users, sp.items, sp.interactions, sp.rank, sp.seed
            ));
            from_generated(&generated)
        }
        _ => {
            let source = inputs.get(raw::SOURCE)?;
            let mut parsed = Parsed::default();
            labels.push(source.label.clone());
            read_source(params, feedback, source, 0, &mut parsed)?;
            note_file(out, &source.label, &parsed, 0);
            if let Some(test) = inputs.optional(raw::SOURCE_TEST) {
                let before = (
                    parsed.rows_read,
                    parsed.skipped,
                    parsed.dropped_zero,
                    parsed.dropped_threshold,
                );
                labels.push(test.label.clone());
                read_source(params, feedback, test, 1, &mut parsed)?;
                let mut delta = Parsed {
                    rows_read: parsed.rows_read - before.0,
                    skipped: parsed.skipped - before.1,
                    dropped_zero: parsed.dropped_zero - before.2,
                    dropped_threshold: parsed.dropped_threshold - before.3,
                    ..Default::default()
                };
                delta.skipped_examples.clear();
                note_file(out, &test.label, &delta, 1);
            }
            for ex in &parsed.skipped_examples {
                out.note(format!("skipped {ex}"));
            }
            parsed
        }
    };
    parsed.user_index = None;
    parsed.item_index = None;
    if parsed.user.is_empty() {
        return Err(StageError::BadInput {
            source_name: labels.join(" + "),
            line: None,
            message: "no usable interactions (every row was dropped or skipped)".into(),
        });
    }
    let d = dedupe(&mut parsed, duplicates, &labels)?;
    if d.exact > 0 {
        out.note(format!(
            "dropped {} exact duplicate rows (same user, item and value; the export repeats rows)",
            d.exact
        ));
    }
    if d.pairs > 0 {
        out.note(format!(
            "merged {} repeated (user, item) pairs ({} rows folded in) with duplicates = {}",
            d.pairs,
            d.rows,
            match duplicates {
                Duplicates::Sum => "sum",
                Duplicates::Max => "max",
                Duplicates::Last => "last",
                Duplicates::Error => "error",
            }
        ));
    }
    if params.min_user_interactions > 1 || params.min_item_interactions > 1 {
        let removed = filter_counts(
            &mut parsed,
            params.min_user_interactions,
            params.min_item_interactions,
            params.k_core,
        );
        out.note(format!(
            "filter{} min_user_interactions = {}, min_item_interactions = {}: {} interactions removed",
            if params.k_core { " (k-core)" } else { "" },
            params.min_user_interactions,
            params.min_item_interactions,
            removed
        ));
        if parsed.user.is_empty() {
            return Err(StageError::BadParam {
                param: "min_user_interactions / min_item_interactions".into(),
                message: "the filters remove every interaction".into(),
            });
        }
    }
    compact_ids(&mut parsed);
    let decode = |k: &Cow<[u8]>| -> String {
        match params.encoding {
            Encoding::Utf8 => String::from_utf8_lossy(k).into_owned(),
            Encoding::Latin1 => k.iter().map(|&b| b as char).collect(),
        }
    };
    let users: Vec<String> = parsed.user_keys.par_iter().map(decode).collect();
    let items: Vec<String> = parsed.item_keys.par_iter().map(decode).collect();
    let interactions = Interactions {
        n_users: users.len() as u32,
        n_items: items.len() as u32,
        user: parsed.user,
        item: parsed.item,
        value: parsed.value,
        timestamp: parsed.timestamp,
        fold: None,
        cold: None,
        partition: parsed.partition,
    };
    Ok(Loaded {
        interactions,
        users,
        items,
    })
}

fn note_file(out: &mut StageOutputs, label: &str, p: &Parsed, partition: u8) {
    let mut line = format!(
        "{label}{}: {} rows read",
        if partition == 1 { " (test)" } else { "" },
        p.rows_read
    );
    if p.skipped > 0 {
        line.push_str(&format!(", {} bad rows skipped", p.skipped));
    }
    if p.dropped_zero > 0 {
        line.push_str(&format!(", {} zero values dropped", p.dropped_zero));
    }
    if p.dropped_threshold > 0 {
        line.push_str(&format!(
            ", {} below the threshold dropped",
            p.dropped_threshold
        ));
    }
    out.note(line);
}

fn resolve_feedback(params: &Params) -> Result<Feedback, StageError> {
    let default = match params.format {
        SourceFormat::Movielens => Feedback::Binary,
        SourceFormat::MsdTriplets => Feedback::Count,
        SourceFormat::Synthetic => match params.synthetic.as_ref().map(|s| s.values) {
            Some(SyntheticValues::Count) => Feedback::Count,
            _ => Feedback::Binary,
        },
        SourceFormat::Delimited | SourceFormat::Parquet => {
            let has_value = params.columns.as_ref().is_none_or(|c| c.value.is_some());
            if has_value {
                Feedback::Count
            } else {
                Feedback::Binary
            }
        }
    };
    let fb = params.feedback.unwrap_or(default);
    if let Some(t) = params.threshold {
        if fb != Feedback::Binary {
            return Err(StageError::BadParam {
                param: "threshold".into(),
                message: "a threshold only applies to feedback = \"binary\"".into(),
            });
        }
        if !t.is_finite() {
            return Err(StageError::BadParam {
                param: "threshold".into(),
                message: format!("must be a finite number, got {t}"),
            });
        }
    }
    Ok(fb)
}

fn from_generated(g: &Interactions) -> Parsed<'static> {
    // Generated ids are `1..=n`; only those that occur get an index, in order of
    // first appearance, like a file with the same rows.
    let mut um = vec![u32::MAX; g.n_users as usize];
    let mut im = vec![u32::MAX; g.n_items as usize];
    let mut p = Parsed::default();
    for r in 0..g.len() {
        let (u, i) = (g.user[r] as usize, g.item[r] as usize);
        if um[u] == u32::MAX {
            um[u] = p.user_keys.len() as u32;
            p.user_keys
                .push(Cow::Owned((u + 1).to_string().into_bytes()));
        }
        if im[i] == u32::MAX {
            im[i] = p.item_keys.len() as u32;
            p.item_keys
                .push(Cow::Owned((i + 1).to_string().into_bytes()));
        }
        p.user.push(um[u]);
        p.item.push(im[i]);
    }
    p.value = g.value.clone();
    p.line = (1..=g.len() as u64)
        .map(|l| l.min(u32::MAX as u64) as u32)
        .collect();
    p.rows_read = g.len() as u64;
    p
}

/// The kind of MovieLens file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum MovielensKind {
    /// `u.data`: tab, no header, user item rating timestamp.
    UData,
    /// `ratings.dat`: `::`, no header.
    Dat,
    /// `ratings.csv`: comma, header `userId,movieId,rating,timestamp`.
    Csv,
}

fn file_name(label: &str) -> String {
    Path::new(label)
        .file_name()
        .map(|n| n.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default()
}

fn movielens_kind(label: &str, body: &[u8]) -> MovielensKind {
    let name = file_name(label);
    if name == "u.data" || name.ends_with(".base") || name.ends_with(".test") {
        return MovielensKind::UData;
    }
    if name.ends_with(".dat") {
        return MovielensKind::Dat;
    }
    if name.ends_with(".csv") {
        return MovielensKind::Csv;
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

fn bad_param(param: &str, message: impl Into<String>) -> StageError {
    StageError::BadParam {
        param: param.into(),
        message: message.into(),
    }
}

fn bad_input(label: &str, line: Option<u64>, message: impl Into<String>) -> StageError {
    StageError::BadInput {
        source_name: label.to_string(),
        line,
        message: message.into(),
    }
}

/// Parse one source file (text or Parquet) into `into`.
fn read_source<'a>(
    params: &Params,
    feedback: Feedback,
    src: &'a InputArtifact,
    partition: u8,
    into: &mut Parsed<'a>,
) -> Result<(), StageError> {
    let label = src.label.as_str();
    if params.format == SourceFormat::Parquet {
        return titles::read_parquet(params, feedback, &src.bytes, label, partition, into);
    }
    let mut data: &'a [u8] = &src.bytes;
    if let Some(rest) = data.strip_prefix(b"\xEF\xBB\xBF") {
        data = rest;
    }
    if data.trim_ascii().is_empty() {
        return Err(bad_input(label, Some(1), "the file is empty (no rows)"));
    }
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
        parse::split_fields(line, &delim, quote, &mut fields)
            .map_err(|m| bad_input(label, Some(1), m))?;
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
            let first = body
                .split(|&b| b == b'\n')
                .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
                .find(|l| !l.trim_ascii().is_empty())
                .unwrap_or_default();
            let mut fields = Vec::new();
            match parse::split_fields(first, &delim, quote, &mut fields) {
                Ok(()) => fields.len(),
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
    if value.is_none() && feedback != Feedback::Binary {
        return Err(bad_param(
            "columns.value",
            "count and rating feedback need a value column",
        ));
    }
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
    if partition == 1 && into.timestamp.is_some() != timestamp.is_some() {
        return Err(bad_input(
            label,
            None,
            "the test file and the training file must both have, or both lack, a timestamp column",
        ));
    }
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
    };
    parse::parse_into(body, first_line, &layout, partition, label, into)
        .map_err(|RowError { line, message }| bad_input(label, Some(line), message))
}

/// Counts of [`dedupe`].
struct DedupeStats {
    exact: u64,
    pairs: u64,
    rows: u64,
}

enum Edit {
    Drop(u32),
    Set(u32, f32, Option<i64>),
    Conflict(u32, u32),
}

/// Drop exact duplicate rows, then merge repeated (user, item) pairs within each
/// partition into their first occurrence.
fn dedupe(
    p: &mut Parsed,
    policy: Duplicates,
    labels: &[String],
) -> Result<DedupeStats, StageError> {
    let n = p.user.len();
    let nu = p.user_keys.len();
    // Rows grouped by user (counting sort, stable in row order).
    let mut start = vec![0usize; nu + 1];
    for &u in &p.user {
        start[u as usize + 1] += 1;
    }
    for u in 0..nu {
        start[u + 1] += start[u];
    }
    let mut fill = start.clone();
    let mut order = vec![0u32; n];
    for (r, &u) in p.user.iter().enumerate() {
        order[fill[u as usize]] = r as u32;
        fill[u as usize] += 1;
    }
    let (item, value, ts, part) = (&p.item, &p.value, &p.timestamp, &p.partition);
    let per_user: Vec<(Vec<Edit>, u64, u64, u64)> = (0..nu)
        .into_par_iter()
        .map(|u| {
            let mut edits = Vec::new();
            let (mut exact, mut pairs, mut rows) = (0u64, 0u64, 0u64);
            let slice = &order[start[u]..start[u + 1]];
            if slice.len() < 2 {
                return (edits, 0, 0, 0);
            }
            let mut rs = slice.to_vec();
            let key = |r: u32| {
                (
                    item[r as usize],
                    part.as_ref().map_or(0, |pp| pp[r as usize]),
                    r,
                )
            };
            rs.sort_unstable_by_key(|&r| key(r));
            let mut g = 0;
            let mut kept: Vec<u32> = Vec::new();
            while g < rs.len() {
                let (gi, gp, _) = key(rs[g]);
                let mut e = g + 1;
                while e < rs.len() && key(rs[e]).0 == gi && key(rs[e]).1 == gp {
                    e += 1;
                }
                if e - g > 1 {
                    kept.clear();
                    for &r in &rs[g..e] {
                        if kept
                            .iter()
                            .any(|&k| value[k as usize].to_bits() == value[r as usize].to_bits())
                        {
                            exact += 1;
                            edits.push(Edit::Drop(r));
                        } else {
                            kept.push(r);
                        }
                    }
                    if kept.len() > 1 {
                        pairs += 1;
                        rows += kept.len() as u64 - 1;
                        let vals = kept.iter().map(|&k| value[k as usize]);
                        let merged = match policy {
                            Duplicates::Sum => vals.map(f64::from).sum::<f64>() as f32,
                            Duplicates::Max => vals.fold(f32::NEG_INFINITY, f32::max),
                            Duplicates::Last => value[kept[kept.len() - 1] as usize],
                            Duplicates::Error => {
                                edits.push(Edit::Conflict(kept[0], kept[1]));
                                0.0
                            }
                        };
                        let t = ts
                            .as_ref()
                            .map(|t| kept.iter().map(|&k| t[k as usize]).max().unwrap_or(0));
                        edits.push(Edit::Set(kept[0], merged, t));
                        edits.extend(kept[1..].iter().map(|&k| Edit::Drop(k)));
                    }
                }
                g = e;
            }
            (edits, exact, pairs, rows)
        })
        .collect();
    let mut stats = DedupeStats {
        exact: 0,
        pairs: 0,
        rows: 0,
    };
    let mut keep = vec![true; n];
    let mut conflict: Option<(u32, u32)> = None;
    for (edits, e, pa, ro) in per_user {
        stats.exact += e;
        stats.pairs += pa;
        stats.rows += ro;
        for ed in edits {
            match ed {
                Edit::Drop(r) => keep[r as usize] = false,
                Edit::Set(r, v, t) => {
                    p.value[r as usize] = v;
                    if let (Some(ts), Some(t)) = (p.timestamp.as_mut(), t) {
                        ts[r as usize] = t;
                    }
                }
                Edit::Conflict(a, b) => {
                    if conflict.is_none_or(|(_, cb)| b < cb) {
                        conflict = Some((a, b));
                    }
                }
            }
        }
    }
    if let Some((a, b)) = conflict {
        let (a, b) = (a as usize, b as usize);
        let file = |r: usize| -> &str {
            let i = p.partition.as_ref().map_or(0, |pp| pp[r] as usize);
            labels.get(i).map(String::as_str).unwrap_or("input")
        };
        return Err(bad_input(
            file(b),
            Some(p.line[b] as u64),
            format!(
                "user {} and item {} repeat line {} with another value, and duplicates = \"error\" (use sum, max or last to merge)",
                parse::show(&p.user_keys[p.user[b] as usize]),
                parse::show(&p.item_keys[p.item[b] as usize]),
                p.line[a]
            ),
        ));
    }
    if keep.iter().any(|k| !k) {
        retain_rows(p, &keep);
    }
    Ok(stats)
}

fn retain_rows(p: &mut Parsed, keep: &[bool]) {
    fn f<T: Copy>(v: &mut Vec<T>, keep: &[bool]) {
        let mut i = 0;
        v.retain(|_| {
            i += 1;
            keep[i - 1]
        });
    }
    f(&mut p.user, keep);
    f(&mut p.item, keep);
    f(&mut p.value, keep);
    f(&mut p.line, keep);
    if let Some(t) = p.timestamp.as_mut() {
        f(t, keep);
    }
    if let Some(t) = p.partition.as_mut() {
        f(t, keep);
    }
}

/// Drop users/items with too few interactions (repeated to a fixed point for a k-core).
fn filter_counts(p: &mut Parsed, min_user: u32, min_item: u32, k_core: bool) -> u64 {
    let before = p.user.len() as u64;
    loop {
        let mut cu = vec![0u32; p.user_keys.len()];
        let mut ci = vec![0u32; p.item_keys.len()];
        for (&u, &i) in p.user.iter().zip(&p.item) {
            cu[u as usize] += 1;
            ci[i as usize] += 1;
        }
        let keep: Vec<bool> = p
            .user
            .iter()
            .zip(&p.item)
            .map(|(&u, &i)| cu[u as usize] >= min_user && ci[i as usize] >= min_item)
            .collect();
        if keep.iter().all(|&k| k) {
            break;
        }
        retain_rows(p, &keep);
        if !k_core {
            break;
        }
    }
    before - p.user.len() as u64
}

/// Renumber users and items that still have rows, keeping their order.
fn compact_ids(p: &mut Parsed) {
    fn compact(ids: &mut [u32], keys: &mut Vec<Cow<'_, [u8]>>) {
        let mut used = vec![false; keys.len()];
        for &i in ids.iter() {
            used[i as usize] = true;
        }
        if used.iter().all(|&u| u) {
            return;
        }
        let mut map = vec![u32::MAX; keys.len()];
        let mut next = 0u32;
        for (i, &u) in used.iter().enumerate() {
            if u {
                map[i] = next;
                next += 1;
            }
        }
        for i in ids.iter_mut() {
            *i = map[*i as usize];
        }
        let mut k = 0;
        keys.retain(|_| {
            k += 1;
            used[k - 1]
        });
    }
    compact(&mut p.user, &mut p.user_keys);
    compact(&mut p.item, &mut p.item_keys);
}

/// Extra raw files the runner should hand over as inputs: item titles beside a
/// MovieLens ratings file (`u.item` for `u.data` and the `u1.base`-style splits,
/// `movies.dat` for `ratings.dat`, `movies.csv` for `ratings.csv`), when they exist.
pub fn companion_files(params: &Params, source: &Path) -> Vec<(String, PathBuf)> {
    if params.format != SourceFormat::Movielens {
        return Vec::new();
    }
    let name = file_name(&source.to_string_lossy());
    let dir = source.parent().unwrap_or_else(|| Path::new("."));
    let titles = if name == "u.data" || name.ends_with(".base") || name.ends_with(".test") {
        "u.item"
    } else if name.ends_with(".dat") {
        "movies.dat"
    } else if name.ends_with(".csv") {
        "movies.csv"
    } else {
        return Vec::new();
    };
    let p = dir.join(titles);
    if p.is_file() {
        vec![(raw::TITLES.to_string(), p)]
    } else {
        Vec::new()
    }
}
