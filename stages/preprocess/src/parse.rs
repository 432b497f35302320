//! Byte-level parsing of delimited text into rows of interned ids.
//!
//! The file (usually a memory map) is cut into chunks at newlines and walked in
//! batches of chunks: the chunks of a batch are parsed in parallel (each interning its
//! ids in a local map that borrows from the file, in order of first appearance), then
//! merged in chunk order into the global [`Interner`]s, which copy each new id once.
//! The global dense indices are thus the first-appearance order of the file whatever
//! the thread count, and once a batch is merged nothing refers to its bytes, so its
//! pages are released: a multi-gigabyte file keeps about one batch resident.

use crate::bad_input;
use crate::fields::{check_id, parse_f64, parse_timestamp, show, split_fields};
use crate::interner::Interner;
use crate::params::{Encoding, Feedback, OnBadRow};
use crate::schema::{RowSchema, MAX_VALUE};
use ahash::RandomState;
use alsflow_core::{Progress, StageError};
use rayon::prelude::*;
use std::borrow::Cow;
use std::collections::HashMap;
use std::ops::Range;

/// Fixed hasher seeds: look-ups only, but fixed seeds keep runs reproducible to the byte.
pub(crate) fn hasher() -> RandomState {
    RandomState::with_seeds(0x5eed, 0xa15f, 0x10e, 0xc0de)
}

/// Map from raw id bytes to a chunk-local index.
pub(crate) type IdIndex<'a> = HashMap<Cow<'a, [u8]>, u32, RandomState>;

/// How to cut a line into fields and which fields to read.
#[derive(Clone, Debug)]
pub(crate) struct Layout {
    /// Field separator (one or more bytes).
    pub delim: Vec<u8>,
    /// Quote byte, if quoting is on.
    pub quote: Option<u8>,
    /// 0-based positions of the columns read.
    pub user: usize,
    pub item: usize,
    pub value: Option<usize>,
    pub timestamp: Option<usize>,
    /// Names to use for the columns in messages.
    pub names: [String; 4],
    /// Every data line must have exactly this many fields.
    pub n_fields: usize,
    pub encoding: Encoding,
    pub feedback: Feedback,
    pub threshold: Option<f64>,
    pub keep_zeros: bool,
    pub on_bad_row: OnBadRow,
    /// The known format's row schema, checked on every row (`None`: any values).
    pub schema: Option<RowSchema>,
    /// Record each kept row's line number: only `duplicates = "error"` names lines
    /// after parsing, and 4 bytes a row is a tenth of a large file's parsed size.
    pub keep_lines: bool,
}

/// Rows parsed from one chunk (ids are chunk-local until merged).
#[derive(Default)]
pub(crate) struct Chunk<'a> {
    pub user: Vec<u32>,
    pub item: Vec<u32>,
    pub value: Vec<f32>,
    pub timestamp: Vec<i64>,
    /// 1-based line number within the chunk (when the layout keeps lines).
    pub line: Vec<u32>,
    pub keep_lines: bool,
    pub user_keys: Vec<Cow<'a, [u8]>>,
    pub item_keys: Vec<Cow<'a, [u8]>>,
    /// Newlines in the chunk (its line count), to number later chunks' lines.
    pub n_lines: u64,
    pub skipped: u64,
    /// First few skipped rows: (line within chunk, message).
    pub skipped_examples: Vec<(u64, String)>,
    /// Rows dropped on purpose: zero values, values below the threshold.
    pub dropped_zero: u64,
    pub dropped_threshold: u64,
    /// The first bad row when `on_bad_row = error`: (line within chunk, message).
    pub error: Option<(u64, String)>,
}

/// Rows of one or more files after merging chunks, with global dense indices.
#[derive(Default)]
pub(crate) struct Parsed {
    pub user: Vec<u32>,
    pub item: Vec<u32>,
    pub value: Vec<f32>,
    pub timestamp: Option<Vec<i64>>,
    /// 1-based line number of each row in its file (empty unless the layout keeps lines).
    pub line: Vec<u32>,
    /// Per row: 0 = training file, 1 = test file.
    pub partition: Option<Vec<u8>>,
    /// Raw user and item ids by dense index.
    pub users: Interner,
    pub items: Interner,
    pub rows_read: u64,
    pub skipped: u64,
    pub skipped_examples: Vec<String>,
    pub dropped_zero: u64,
    pub dropped_threshold: u64,
}

/// Max skipped rows reported by line.
pub(crate) const MAX_EXAMPLES: usize = 5;

/// Chunk size for parallel parsing: big enough that per-chunk maps stay cheap to merge.
const CHUNK_BYTES: usize = 4 << 20;

/// Chunks parsed (in parallel) before they are merged and their bytes released: the
/// resident window of the file is about `CHUNK_BYTES × BATCH_CHUNKS`.
const BATCH_CHUNKS: usize = 8;

/// What becomes of a raw value under the feedback mode: `Ok(Some(v))` keep with
/// value `v`, `Ok(None)` drop on purpose (with the reason), `Err` a bad value.
pub(crate) enum ValueOutcome {
    Keep(f32),
    DropZero,
    DropThreshold,
}

pub(crate) fn convert_value(
    v: f64,
    layout: &Layout,
    col: &str,
    shown: &dyn Fn() -> String,
) -> Result<ValueOutcome, String> {
    if v.is_nan() {
        return Err(format!(
            "expected a number in column {col}, found NaN {}",
            shown()
        ));
    }
    if !v.is_finite() {
        return Err(format!(
            "expected a finite number in column {col}, found {}",
            shown()
        ));
    }
    match layout.feedback {
        Feedback::Binary => match layout.threshold {
            Some(t) if v < t => Ok(ValueOutcome::DropThreshold),
            _ => Ok(ValueOutcome::Keep(1.0)),
        },
        Feedback::Count => {
            if v < 0.0 {
                return Err(format!(
                    "expected a non-negative count in column {col}, found {}",
                    shown()
                ));
            }
            if v == 0.0 && !layout.keep_zeros {
                return Ok(ValueOutcome::DropZero);
            }
            if v > MAX_VALUE {
                return Err(too_large("count", col, &shown()));
            }
            Ok(ValueOutcome::Keep(v as f32))
        }
        Feedback::Rating => {
            if v == 0.0 && !layout.keep_zeros {
                return Ok(ValueOutcome::DropZero);
            }
            if v.abs() > MAX_VALUE {
                return Err(too_large("value", col, &shown()));
            }
            Ok(ValueOutcome::Keep(v as f32))
        }
    }
}

/// A value beyond [`MAX_VALUE`], explained.
fn too_large(what: &str, col: &str, shown: &str) -> String {
    format!(
        "{what} {shown} in column {col} is larger than {MAX_VALUE} (2^24): f32, the type ALS \
         computes in, holds whole numbers exactly only up to there, and the confidence \
         1 + alpha·r overflows beyond; scale the values down or use feedback = \"binary\""
    )
}

impl<'a> Chunk<'a> {
    /// The row's (value, timestamp) if the outcome keeps it; a dropped row is counted
    /// under its reason.
    pub(crate) fn kept(&mut self, outcome: ValueOutcome, ts: i64) -> Option<(f32, i64)> {
        match outcome {
            ValueOutcome::Keep(v) => Some((v, ts)),
            ValueOutcome::DropZero => {
                self.dropped_zero += 1;
                None
            }
            ValueOutcome::DropThreshold => {
                self.dropped_threshold += 1;
                None
            }
        }
    }

    /// Append a kept row (`timestamp` is `Some` exactly when the file has them).
    pub(crate) fn push_row(
        &mut self,
        user: u32,
        item: u32,
        value: f32,
        timestamp: Option<i64>,
        line: u64,
    ) {
        self.user.push(user);
        self.item.push(item);
        self.value.push(value);
        if let Some(ts) = timestamp {
            self.timestamp.push(ts);
        }
        if self.keep_lines {
            self.line.push(line.min(u32::MAX as u64) as u32);
        }
    }

    /// Record a bad row: error out (returns false) or skip it.
    pub(crate) fn bad(&mut self, line: u64, msg: String, policy: OnBadRow) -> bool {
        match policy {
            OnBadRow::Error => {
                self.error = Some((line, msg));
                false
            }
            OnBadRow::Skip => {
                self.skipped += 1;
                if self.skipped_examples.len() < MAX_EXAMPLES {
                    self.skipped_examples.push((line, msg));
                }
                true
            }
        }
    }
}

/// The chunk-local index of `key`, added to `keys` if new; `true` when it was new.
pub(crate) fn intern<'a>(
    map: &mut IdIndex<'a>,
    keys: &mut Vec<Cow<'a, [u8]>>,
    key: Cow<'a, [u8]>,
) -> (u32, bool) {
    if let Some(&i) = map.get(key.as_ref()) {
        return (i, false);
    }
    let i = keys.len() as u32;
    keys.push(key.clone());
    map.insert(key, i);
    (i, true)
}

/// Parse the lines of one chunk.
fn parse_chunk<'a>(data: &'a [u8], layout: &Layout) -> Chunk<'a> {
    let mut c = Chunk {
        keep_lines: layout.keep_lines,
        ..Chunk::default()
    };
    let mut users: IdIndex<'a> = HashMap::with_hasher(hasher());
    let mut items: IdIndex<'a> = HashMap::with_hasher(hasher());
    let mut fields: Vec<Cow<'a, [u8]>> = Vec::with_capacity(layout.n_fields + 1);
    let mut last_user: Option<(Cow<'a, [u8]>, u32)> = None;
    // Reserve for the rows of this chunk (estimated from its size) to avoid regrowth.
    let estimate = data.len() / 24 + 16;
    c.user.reserve(estimate);
    c.item.reserve(estimate);
    c.value.reserve(estimate);
    if layout.keep_lines {
        c.line.reserve(estimate);
    }
    if layout.timestamp.is_some() {
        c.timestamp.reserve(estimate);
    }
    let [uname, iname, vname, tname] = &layout.names;
    let mut start = 0usize;
    let mut line_no = 0u64;
    while start < data.len() {
        let end = memchr::memchr(b'\n', &data[start..]).map_or(data.len(), |o| start + o);
        line_no += 1;
        let mut line = &data[start..end];
        start = end + 1;
        if let [rest @ .., b'\r'] = line {
            line = rest;
        }
        if line.trim_ascii().is_empty() {
            continue;
        }
        // At most n_fields fields are kept: a line of a million delimiters is counted,
        // never expanded into a million fields.
        let found = match split_fields(
            line,
            &layout.delim,
            layout.quote,
            &mut fields,
            layout.n_fields,
        ) {
            Ok(found) => found,
            Err(msg) => {
                if !c.bad(line_no, msg, layout.on_bad_row) {
                    return c;
                }
                continue;
            }
        };
        if found != layout.n_fields {
            let msg = format!("expected {} columns, found {found}", layout.n_fields);
            if !c.bad(line_no, msg, layout.on_bad_row) {
                return c;
            }
            continue;
        }
        // Ids seen before were checked when first seen; most rows only look them up.
        // Files are often sorted by user, so the previous row's user is tried first.
        let uf = &fields[layout.user];
        let known_user = match &last_user {
            Some((k, idx)) if k.as_ref() == uf.as_ref() => Some(*idx),
            _ => users.get(uf.as_ref()).copied(),
        };
        let known_item = items.get(fields[layout.item].as_ref()).copied();
        let row = (|| -> Result<Option<(f32, i64)>, String> {
            if known_user.is_none() {
                check_id(&fields[layout.user], "user", uname, layout.encoding)?;
            }
            if known_item.is_none() {
                check_id(&fields[layout.item], "item", iname, layout.encoding)?;
            }
            let value = match layout.value {
                None => 1.0,
                Some(v) => {
                    let f = &fields[v];
                    parse_f64(f).ok_or_else(|| {
                        format!("expected a number in column {vname}, found {}", show(f))
                    })?
                }
            };
            let ts = match layout.timestamp {
                None => 0,
                Some(t) => {
                    let f = &fields[t];
                    parse_timestamp(f).ok_or_else(|| {
                        format!(
                            "expected an integer timestamp in column {tname}, found {}",
                            show(f)
                        )
                    })?
                }
            };
            if let Some(schema) = layout.schema {
                let new_ids = (known_user.is_none(), known_item.is_none());
                crate::schema::check_row(schema, layout, &fields, new_ids.0, new_ids.1, value)?;
            }
            let shown = || layout.value.map(|v| show(&fields[v])).unwrap_or_default();
            Ok(c.kept(convert_value(value, layout, vname, &shown)?, ts))
        })();
        match row {
            Err(msg) => {
                if !c.bad(line_no, msg, layout.on_bad_row) {
                    return c;
                }
            }
            Ok(None) => {}
            Ok(Some((v, ts))) => {
                let u = match known_user {
                    Some(u) => u,
                    None => intern(&mut users, &mut c.user_keys, fields[layout.user].clone()).0,
                };
                let i = match known_item {
                    Some(i) => i,
                    None => {
                        intern(
                            &mut items,
                            &mut c.item_keys,
                            std::mem::take(&mut fields[layout.item]),
                        )
                        .0
                    }
                };
                last_user = Some((std::mem::take(&mut fields[layout.user]), u));
                c.push_row(u, i, v, layout.timestamp.map(|_| ts), line_no);
            }
        }
    }
    c.n_lines = line_no;
    c
}

/// Cut `data` into chunks that end at newlines.
fn chunk_bounds(data: &[u8], chunk_bytes: usize) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut start = 0;
    while start < data.len() {
        let target = (start + chunk_bytes.max(1)).min(data.len());
        let end = if target == data.len() {
            data.len()
        } else {
            memchr::memchr(b'\n', &data[target..]).map_or(data.len(), |o| target + o + 1)
        };
        out.push((start, end));
        start = end;
    }
    out
}

/// A bad row found while parsing: line number (1-based, in its file) and message.
pub(crate) struct RowError {
    pub line: u64,
    pub message: String,
}

impl RowError {
    /// The stage error naming file `label` and the line.
    pub(crate) fn in_file(self, label: &str) -> StageError {
        bad_input(label, Some(self.line), self.message)
    }
}

/// Parse `data` (the part of a file after its header, starting at file line
/// `first_line`) and append its rows to `into`, marked with `partition`. `progress`
/// advances by the bytes parsed; `release` is told each range of `data` (offsets into
/// it) that nothing will read again.
#[allow(clippy::too_many_arguments)]
pub(crate) fn parse_into(
    data: &[u8],
    first_line: u64,
    layout: &Layout,
    partition: u8,
    label: &str,
    into: &mut Parsed,
    progress: &dyn Progress,
    release: &dyn Fn(Range<usize>),
) -> Result<(), RowError> {
    parse_into_sized(
        data,
        first_line,
        layout,
        partition,
        label,
        into,
        CHUNK_BYTES,
        progress,
        release,
    )
}

/// [`parse_into`] with a chosen chunk size (tests use tiny chunks).
#[allow(clippy::too_many_arguments)]
fn parse_into_sized(
    data: &[u8],
    first_line: u64,
    layout: &Layout,
    partition: u8,
    label: &str,
    into: &mut Parsed,
    chunk_bytes: usize,
    progress: &dyn Progress,
    release: &dyn Fn(Range<usize>),
) -> Result<(), RowError> {
    let bounds = chunk_bounds(data, chunk_bytes);
    let mut lines_before = first_line - 1;
    for batch in bounds.chunks(BATCH_CHUNKS) {
        let chunks: Vec<Chunk<'_>> = batch
            .par_iter()
            .map(|&(s, e)| parse_chunk(&data[s..e], layout))
            .collect();
        lines_before = merge_chunks(
            chunks,
            lines_before,
            layout.timestamp.is_some(),
            partition,
            label,
            into,
        )?;
        let span = batch[0].0..batch[batch.len() - 1].1;
        progress.inc(span.len() as u64);
        release(span);
    }
    Ok(())
}

/// Merge chunk results in order into `into` (global indices by first appearance).
/// `lines_before` is the number of file lines before the first chunk; returns that
/// number after the last one.
pub(crate) fn merge_chunks(
    mut chunks: Vec<Chunk<'_>>,
    lines_before: u64,
    has_timestamp: bool,
    partition: u8,
    label: &str,
    into: &mut Parsed,
) -> Result<u64, RowError> {
    // Line offsets of each chunk; the first error in file order wins.
    let mut offsets = Vec::with_capacity(chunks.len());
    let mut off = lines_before;
    for c in &chunks {
        offsets.push(off);
        if let Some((l, msg)) = &c.error {
            return Err(RowError {
                line: off + l,
                message: msg.clone(),
            });
        }
        off += c.n_lines;
    }
    let mut user_maps = Vec::with_capacity(chunks.len());
    let mut item_maps = Vec::with_capacity(chunks.len());
    for c in chunks.iter_mut() {
        let um: Vec<u32> = std::mem::take(&mut c.user_keys)
            .iter()
            .map(|k| into.users.intern(k))
            .collect();
        let im: Vec<u32> = std::mem::take(&mut c.item_keys)
            .iter()
            .map(|k| into.items.intern(k))
            .collect();
        user_maps.push(um);
        item_maps.push(im);
    }
    chunks
        .par_iter_mut()
        .zip(user_maps.par_iter().zip(item_maps.par_iter()))
        .zip(offsets.par_iter())
        .for_each(|((c, (um, im)), &off)| {
            for u in c.user.iter_mut() {
                *u = um[*u as usize];
            }
            for i in c.item.iter_mut() {
                *i = im[*i as usize];
            }
            for l in c.line.iter_mut() {
                *l = (off + *l as u64).min(u32::MAX as u64) as u32;
            }
        });
    let n_new: usize = chunks.iter().map(|c| c.user.len()).sum();
    into.user.reserve(n_new);
    into.item.reserve(n_new);
    into.value.reserve(n_new);
    if chunks.iter().any(|c| c.keep_lines) {
        into.line.reserve(n_new);
    }
    if has_timestamp {
        into.timestamp.get_or_insert_with(Vec::new).reserve(n_new);
    }
    if partition > 0 {
        let prev = into.user.len();
        into.partition.get_or_insert_with(|| vec![0; prev]);
    }
    for (c, &off) in chunks.into_iter().zip(offsets.iter()) {
        into.user.extend_from_slice(&c.user);
        into.item.extend_from_slice(&c.item);
        into.value.extend_from_slice(&c.value);
        into.line.extend_from_slice(&c.line);
        if let Some(ts) = into.timestamp.as_mut() {
            ts.extend_from_slice(&c.timestamp);
        }
        if let Some(p) = into.partition.as_mut() {
            p.extend(std::iter::repeat_n(partition, c.user.len()));
        }
        into.rows_read += c.user.len() as u64 + c.skipped + c.dropped_zero + c.dropped_threshold;
        into.skipped += c.skipped;
        into.dropped_zero += c.dropped_zero;
        into.dropped_threshold += c.dropped_threshold;
        for (l, msg) in c.skipped_examples {
            if into.skipped_examples.len() < MAX_EXAMPLES {
                into.skipped_examples
                    .push(format!("{label}:{}: {msg}", off + l));
            }
        }
    }
    Ok(off)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout(on_bad_row: OnBadRow) -> Layout {
        Layout {
            delim: b",".to_vec(),
            quote: Some(b'"'),
            user: 0,
            item: 1,
            value: Some(2),
            timestamp: None,
            names: ["0".into(), "1".into(), "2".into(), String::new()],
            n_fields: 3,
            encoding: Encoding::Utf8,
            feedback: Feedback::Count,
            threshold: None,
            keep_zeros: false,
            on_bad_row,
            schema: None,
            keep_lines: true,
        }
    }

    fn parse(data: &[u8], chunk: usize, policy: OnBadRow) -> Result<Parsed, String> {
        let mut p = Parsed::default();
        let released = std::cell::RefCell::new(Vec::new());
        parse_into_sized(
            data,
            1,
            &layout(policy),
            0,
            "f",
            &mut p,
            chunk,
            &alsflow_core::stage::NoProgress,
            &|r| released.borrow_mut().push(r),
        )
        .map_err(|e| format!("{}: {}", e.line, e.message))?;
        // Every byte is released once, in order, after it was parsed.
        let released = released.into_inner();
        assert_eq!(released.first().map(|r| r.start), Some(0));
        assert_eq!(released.last().map(|r| r.end), Some(data.len()));
        assert!(released.windows(2).all(|w| w[0].end == w[1].start));
        Ok(p)
    }

    #[test]
    fn chunking_does_not_change_indices_lines_or_errors() {
        let mut text = Vec::new();
        for r in 0..300u32 {
            let line = match r % 41 {
                7 => "\n".to_string(),
                9 => format!("\"u{}\",\"i,{}\",2\r\n", r % 13, r % 7),
                13 => "bad,row\n".to_string(),
                _ => format!("u{},i{},{}\n", (r * 31) % 23, (r * 17) % 37, r % 5),
            };
            text.extend_from_slice(line.as_bytes());
        }
        let whole = parse(&text, 1 << 20, OnBadRow::Skip).unwrap();
        for chunk in [1, 2, 5, 17, 64, 200] {
            let p = parse(&text, chunk, OnBadRow::Skip).unwrap();
            assert_eq!(p.user, whole.user, "chunk {chunk}");
            assert_eq!(p.item, whole.item);
            assert_eq!(p.value, whole.value);
            assert_eq!(p.line, whole.line);
            assert!(p.users.iter().eq(whole.users.iter()));
            assert!(p.items.iter().eq(whole.items.iter()));
            assert_eq!(
                (p.skipped, p.dropped_zero),
                (whole.skipped, whole.dropped_zero)
            );
            assert_eq!(p.skipped_examples, whole.skipped_examples);
            // The first error is the same, with the same line number.
            assert_eq!(
                parse(&text, chunk, OnBadRow::Error).err(),
                parse(&text, 1 << 20, OnBadRow::Error).err()
            );
        }
        assert!(
            whole.items.iter().any(|k| k == b"i,3"),
            "quoted field with a comma"
        );
        assert_eq!(
            whole.skipped_examples[0],
            "f:14: expected 3 columns, found 2"
        );
    }
}
