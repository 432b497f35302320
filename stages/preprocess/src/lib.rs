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
//! file order, so outputs are byte-identical whatever the thread count. Memory follows
//! the rows kept, not the file: the source (a memory map from the runner) is walked in
//! batches whose pages are released once parsed, and each distinct id is copied once
//! into an arena (`interner`).

mod clean;
mod fields;
mod interner;
mod layout;
mod params;
mod parquet_source;
mod parse;
mod schema;
pub mod synthetic;
mod titles;

pub use params::{
    ColumnRef, Columns, Duplicates, Encoding, Feedback, OnBadRow, Params, SourceFormat,
    SyntheticParams, SyntheticValues,
};

use alsflow_core::catalog::{preprocess, raw};
use alsflow_core::stage::LocalContext;
use alsflow_core::table::{IdMap, Interactions};
use alsflow_core::{
    ArtifactName, InputArtifact, InputSpec, Progress, Stage, StageContext, StageError, StageInputs,
    StageOutputs,
};
use clean::{compact_ids, dedupe, filter_counts};
use layout::MovielensKind;
use parse::Parsed;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

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
        ctx: &dyn StageContext,
    ) -> Result<StageOutputs, StageError> {
        let mut out = StageOutputs::new();
        let loaded = load_in(params, inputs, &mut out, ctx)?;
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
    load_in(params, inputs, out, &LocalContext::new("preprocess"))
}

/// [`load`] reporting progress through `ctx` (bytes parsed per source file).
pub fn load_in(
    params: &Params,
    inputs: &StageInputs,
    out: &mut StageOutputs,
    ctx: &dyn StageContext,
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
            read_source(params, feedback, source, 0, &mut parsed, ctx)?;
            note_file(out, &source.label, &parsed, 0);
            if let Some(test) = inputs.optional(raw::SOURCE_TEST) {
                let before = (
                    parsed.rows_read,
                    parsed.skipped,
                    parsed.dropped_zero,
                    parsed.dropped_threshold,
                );
                labels.push(test.label.clone());
                read_source(params, feedback, test, 1, &mut parsed, ctx)?;
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
    if parsed.user.is_empty() {
        return Err(StageError::BadInput {
            source_name: labels.join(" + "),
            line: None,
            message: "no usable interactions (every row was dropped or skipped)".into(),
        });
    }
    let d = dedupe(&mut parsed, duplicates, &labels)?;
    schema::check_merged_values(&parsed, &labels)?;
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
    let decode = |k: &[u8]| -> String {
        match params.encoding {
            Encoding::Utf8 => String::from_utf8_lossy(k).into_owned(),
            Encoding::Latin1 => k.iter().map(|&b| b as char).collect(),
        }
    };
    let users: Vec<String> = parsed.users.iter().map(decode).collect();
    let items: Vec<String> = parsed.items.iter().map(decode).collect();
    drop((parsed.users, parsed.items));
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

fn from_generated(g: &Interactions) -> Parsed {
    // Generated ids are `1..=n`; only those that occur get an index, in order of
    // first appearance, like a file with the same rows.
    let mut um = vec![u32::MAX; g.n_users as usize];
    let mut im = vec![u32::MAX; g.n_items as usize];
    let mut p = Parsed::default();
    for r in 0..g.len() {
        let (u, i) = (g.user[r] as usize, g.item[r] as usize);
        if um[u] == u32::MAX {
            um[u] = p.users.intern((u + 1).to_string().as_bytes());
        }
        if im[i] == u32::MAX {
            im[i] = p.items.intern((i + 1).to_string().as_bytes());
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

pub(crate) fn bad_param(param: &str, message: impl Into<String>) -> StageError {
    StageError::BadParam {
        param: param.into(),
        message: message.into(),
    }
}

pub(crate) fn bad_input(label: &str, line: Option<u64>, message: impl Into<String>) -> StageError {
    StageError::BadInput {
        source_name: label.to_string(),
        line,
        message: message.into(),
    }
}

/// Parse one source file (text or Parquet) into `into`.
fn read_source(
    params: &Params,
    feedback: Feedback,
    src: &InputArtifact,
    partition: u8,
    into: &mut Parsed,
    ctx: &dyn StageContext,
) -> Result<(), StageError> {
    let label = src.label.as_str();
    if params.format == SourceFormat::Parquet {
        let read =
            parquet_source::read(params, feedback, src.bytes.bytes(), label, partition, into);
        src.bytes.release_all();
        return read;
    }
    let text = layout::text_source(params, feedback, label, &src.bytes)?;
    // Where the body starts in the source, to release the source's pages batch by batch.
    let body_at = text.body.as_ptr() as usize - src.bytes.as_ptr() as usize;
    let progress = Mebibytes {
        inner: ctx.progress(
            &format!("parse {} (MiB)", layout::file_name(label)),
            (text.body.len() as u64).div_ceil(MIB),
        ),
        bytes: AtomicU64::new(0),
    };
    if partition == 1 && into.timestamp.is_some() != text.layout.timestamp.is_some() {
        return Err(bad_input(
            label,
            None,
            "the test file and the training file must both have, or both lack, a timestamp column",
        ));
    }
    let parsed = parse::parse_into(
        text.body,
        text.first_line,
        &text.layout,
        partition,
        label,
        into,
        &progress,
        &|r| src.bytes.release(body_at + r.start..body_at + r.end),
    )
    .map_err(|e| e.in_file(label));
    progress.finish();
    parsed
}

const MIB: u64 = 1 << 20;

/// Progress in bytes shown in MiB (a bar of 2,861 MiB reads better than 3,000,214,307).
struct Mebibytes {
    inner: Box<dyn Progress>,
    bytes: AtomicU64,
}

impl Progress for Mebibytes {
    fn inc(&self, n: u64) {
        let before = self.bytes.fetch_add(n, Ordering::Relaxed);
        let (from, to) = (before / MIB, (before + n) / MIB);
        if to > from {
            self.inner.inc(to - from);
        }
    }
    fn set_message(&self, msg: String) {
        self.inner.set_message(msg);
    }
    fn finish(&self) {
        // The last partial MiB completes the bar.
        let bytes = self.bytes.load(Ordering::Relaxed);
        if !bytes.is_multiple_of(MIB) {
            self.inner.inc(1);
        }
        self.inner.finish();
    }
}

/// Extra raw files the runner should hand over as inputs: item titles beside a
/// MovieLens ratings file (`u.item` for `u.data` and the `u1.base`-style splits,
/// `movies.dat` for `ratings.dat`, `movies.csv` for `ratings.csv`), when they exist.
pub fn companion_files(params: &Params, source: &Path) -> Vec<(String, PathBuf)> {
    if params.format != SourceFormat::Movielens {
        return Vec::new();
    }
    let name = layout::file_name(&source.to_string_lossy());
    let Some(kind) = MovielensKind::from_name(&name) else {
        return Vec::new();
    };
    let dir = source.parent().unwrap_or_else(|| Path::new("."));
    let p = dir.join(kind.titles_file());
    if p.is_file() {
        vec![(raw::TITLES.to_string(), p)]
    } else {
        Vec::new()
    }
}
