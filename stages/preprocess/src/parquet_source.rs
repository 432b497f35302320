//! Parquet sources: the configured columns looked up in the file's schema, ids of
//! any type read as text, values as numbers, timestamps as integers. Rows go
//! through the same checks and conversions as a text file's; in messages, the
//! "line" of a row is its 1-based row number.

use crate::bad_input;
use crate::fields::check_id;
use crate::layout::require_value_column;
use crate::params::{ColumnRef, Duplicates, Feedback, Params};
use crate::parse::{self, Chunk, IdIndex, Layout, Parsed};
use alsflow_core::StageError;
use arrow::array::{Array, Float64Array, Int64Array, RecordBatchReader, StringArray};
use arrow::datatypes::DataType;
use bytes::Bytes;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use std::borrow::Cow;
use std::collections::HashMap;

/// The index of column `c` (`columns.{which}`) in the schema.
fn resolve(
    schema: &arrow::datatypes::Schema,
    which: &str,
    c: &ColumnRef,
    label: &str,
) -> Result<usize, StageError> {
    let n = schema.fields().len();
    match c {
        ColumnRef::Position(p) if *p < n => Ok(*p),
        ColumnRef::Position(p) => Err(bad_input(
            label,
            None,
            format!("columns.{which} = {p} does not exist: the file has {n} columns"),
        )),
        ColumnRef::Name(name) => schema.index_of(name).map_err(|_| {
            let names: Vec<&String> = schema.fields().iter().map(|f| f.name()).collect();
            bad_input(
                label,
                None,
                format!("no column named '{name}' (columns.{which}); the file has {names:?}"),
            )
        }),
    }
}

/// Read the Parquet file `bytes` (called `label` in messages) into `into`, its rows
/// marked with `partition`. Record batches are decoded one at a time, and a batch's
/// ids are interned straight from its arrays (no copy per row).
pub(crate) fn read(
    params: &Params,
    feedback: Feedback,
    bytes: Bytes,
    label: &str,
    partition: u8,
    into: &mut Parsed,
) -> Result<(), StageError> {
    let bad = |m: String| bad_input(label, None, m);
    if bytes.is_empty() {
        return Err(bad("the file is empty (no rows)".into()));
    }
    let reader = ParquetRecordBatchReaderBuilder::try_new(bytes)
        .and_then(|b| b.with_batch_size(1 << 20).build())
        .map_err(|e| bad(format!("not a readable Parquet file: {e}")))?;
    let schema = reader.schema();
    let columns = params.columns.clone().unwrap_or_default();
    let ucol = resolve(&schema, "user", &columns.user, label)?;
    let icol = resolve(&schema, "item", &columns.item, label)?;
    let vcol = columns
        .value
        .as_ref()
        .map(|c| resolve(&schema, "value", c, label))
        .transpose()?;
    let tcol = columns
        .timestamp
        .as_ref()
        .map(|c| resolve(&schema, "timestamp", c, label))
        .transpose()?;
    require_value_column(vcol.is_some(), feedback)?;
    let name = |i: usize| format!("'{}'", schema.field(i).name());
    let (uname, iname) = (name(ucol), name(icol));
    let vname = vcol.map(name).unwrap_or_default();
    let layout = Layout {
        delim: Vec::new(),
        quote: None,
        user: ucol,
        item: icol,
        value: vcol,
        timestamp: tcol,
        names: [uname.clone(), iname.clone(), vname.clone(), String::new()],
        n_fields: 0,
        encoding: params.encoding,
        feedback,
        threshold: params.threshold,
        keep_zeros: params.keep_zeros,
        on_bad_row: params.on_bad_row,
        schema: None,
        keep_lines: params.duplicates == Some(Duplicates::Error),
    };
    let mut rows_before = 0u64;
    for batch in reader {
        let batch = batch.map_err(|e| bad(format!("not a readable Parquet file: {e}")))?;
        let cast = |i: usize, to: &DataType| {
            arrow::compute::cast(batch.column(i), to).map_err(|e| {
                bad(format!(
                    "column '{}' cannot be read as {to}: {e}",
                    schema.field(i).name()
                ))
            })
        };
        let users = cast(ucol, &DataType::Utf8)?;
        let items = cast(icol, &DataType::Utf8)?;
        let users = users
            .as_any()
            .downcast_ref::<StringArray>()
            .ok_or_else(|| bad("user ids are not text".into()))?;
        let items = items
            .as_any()
            .downcast_ref::<StringArray>()
            .ok_or_else(|| bad("item ids are not text".into()))?;
        let values = vcol.map(|v| cast(v, &DataType::Float64)).transpose()?;
        let values = values
            .as_ref()
            .and_then(|v| v.as_any().downcast_ref::<Float64Array>());
        let stamps = tcol.map(|t| cast(t, &DataType::Int64)).transpose()?;
        let stamps = stamps
            .as_ref()
            .and_then(|v| v.as_any().downcast_ref::<Int64Array>());
        let mut c: Chunk<'_> = Chunk {
            keep_lines: layout.keep_lines,
            ..Chunk::default()
        };
        let mut um: IdIndex<'_> = HashMap::with_hasher(parse::hasher());
        let mut im: IdIndex<'_> = HashMap::with_hasher(parse::hasher());
        for r in 0..batch.num_rows() {
            let line = r as u64 + 1;
            let u = if users.is_null(r) { "" } else { users.value(r) }.trim();
            let i = if items.is_null(r) { "" } else { items.value(r) }.trim();
            let row = (|| -> Result<Option<(f32, i64)>, String> {
                check_id(u.as_bytes(), "user", &uname, layout.encoding)?;
                check_id(i.as_bytes(), "item", &iname, layout.encoding)?;
                let v = match values {
                    None => 1.0,
                    Some(a) if a.is_null(r) => {
                        return Err(format!("missing value in column {vname}"))
                    }
                    Some(a) => a.value(r),
                };
                let ts = match stamps {
                    None => 0,
                    Some(a) if a.is_null(r) => return Err("missing timestamp".into()),
                    Some(a) => a.value(r),
                };
                Ok(c.kept(
                    parse::convert_value(v, &layout, &vname, &|| v.to_string())?,
                    ts,
                ))
            })();
            match row {
                Err(m) => {
                    if !c.bad(line, m, params.on_bad_row) {
                        // The error is the chunk's; merging reports it.
                        break;
                    }
                }
                Ok(None) => {}
                Ok(Some((v, ts))) => {
                    let u = parse::intern(&mut um, &mut c.user_keys, Cow::Borrowed(u.as_bytes())).0;
                    let i = parse::intern(&mut im, &mut c.item_keys, Cow::Borrowed(i.as_bytes())).0;
                    c.push_row(u, i, v, tcol.map(|_| ts), line);
                }
            }
        }
        c.n_lines = batch.num_rows() as u64;
        rows_before =
            parse::merge_chunks(vec![c], rows_before, tcol.is_some(), partition, label, into)
                .map_err(|e| e.in_file(label))?;
    }
    if rows_before == 0 {
        return Err(bad("the file has no rows".into()));
    }
    Ok(())
}
