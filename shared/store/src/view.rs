//! The read view: what read-only handles read instead of the database.
//!
//! sled admits one process, and the writer holds it for a whole run, so readers
//! (`alsflow status`, a server loading models) read `root/view.bin` instead: a copy of
//! the `artifacts`, `runs`, `pipeline_runs`, `latest` and `sources` trees (not `memo`,
//! which only the running stages use), raw as the database holds them, so both kinds
//! of handle decode records with the same code.
//!
//! # File format
//!
//! ```text
//! magic       8 bytes   "alsfview"
//! format      u32 LE    VIEW_FORMAT (2)
//! generation  u64 LE    1, 2, 3, … — each publication takes the next
//! body_len    u64 LE
//! body_blake3 32 bytes
//! body        ViewTrees encoded with alsflow_core::codec
//! ```
//!
//! # Publishing
//!
//! The writer publishes after every public operation that changed a copied tree
//! (`record_run`, `set_latest` when the pointer moves, `put_source_file`, `gc`,
//! `verify`) and on open when the file is missing, damaged or differs from the
//! database; `put` alone only marks the trees changed (its record is published with the
//! run that names it). An operation that changed nothing skips publishing, so a fully
//! cached run never rewrites the file. Publishing copies the trees, flushes sled (so
//! the view never names a record the database could lose), writes a temp file in
//! `tmp/`, fsyncs it, renames it over `view.bin` and fsyncs the root. A reader
//! therefore sees the old view or the new one, never a mix, and since every copied
//! record was only written after its object was durable, every record a view names has
//! its object on disk.
//!
//! A reader holds one `Arc<View>`; [`Reader::refresh`] reads the 60-byte header and
//! loads the body only when the generation differs, then swaps the `Arc`, so threads
//! keep serving the old view while the new one loads.

use crate::db::{decode_latest, decode_record, latest_key, Records};
use crate::pipeline_runs::{PipelineRun, PipelineRunId};
use crate::records::{ArtifactRecord, RunRecord, StageKey};
use crate::sources::SourceStamp;
use crate::{fsutil, ArtifactId, StoreError, Writer};
use alsflow_core::codec;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

/// The view's file name under the store root.
pub(crate) const VIEW_FILE: &str = "view.bin";

const MAGIC: [u8; 8] = *b"alsfview";

/// The format of `view.bin` this build reads and writes. Format 2 holds layout-3
/// records (raw sources with an archive hash and member) and the `pipeline_runs` tree;
/// a format-1 view holds records this build cannot decode, so it is refused until a
/// writer republishes it.
const VIEW_FORMAT: u32 = 2;

const HEADER_LEN: usize = 8 + 4 + 8 + 8 + 32;

/// The copied trees, key → value exactly as sled holds them.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct ViewTrees {
    pub(crate) artifacts: BTreeMap<Vec<u8>, Vec<u8>>,
    pub(crate) runs: BTreeMap<Vec<u8>, Vec<u8>>,
    pub(crate) latest: BTreeMap<Vec<u8>, Vec<u8>>,
    pub(crate) sources: BTreeMap<Vec<u8>, Vec<u8>>,
    pub(crate) pipeline_runs: BTreeMap<Vec<u8>, Vec<u8>>,
}

/// The fixed-size start of `view.bin`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Header {
    format: u32,
    pub(crate) generation: u64,
    body_len: u64,
    body_hash: [u8; 32],
}

impl Header {
    fn encode(&self) -> [u8; HEADER_LEN] {
        let mut out = [0u8; HEADER_LEN];
        out[..8].copy_from_slice(&MAGIC);
        out[8..12].copy_from_slice(&self.format.to_le_bytes());
        out[12..20].copy_from_slice(&self.generation.to_le_bytes());
        out[20..28].copy_from_slice(&self.body_len.to_le_bytes());
        out[28..].copy_from_slice(&self.body_hash);
        out
    }

    fn decode(bytes: &[u8; HEADER_LEN], path: &Path) -> Result<Header, StoreError> {
        let field = |range: std::ops::Range<usize>| &bytes[range];
        if field(0..8) != MAGIC {
            return Err(unusable(path, "it does not start like a view file"));
        }
        let format = u32::from_le_bytes(field(8..12).try_into().unwrap_or_default());
        if format < VIEW_FORMAT {
            return Err(unusable(
                path,
                format!(
                    "it has format {format}, written by an older alsflow (this one reads \
                     format {VIEW_FORMAT}); open the store for writing once (alsflow run) to \
                     upgrade it"
                ),
            ));
        }
        if format != VIEW_FORMAT {
            return Err(unusable(
                path,
                format!("it has format {format}, this alsflow reads format {VIEW_FORMAT}"),
            ));
        }
        let u64_at = |range| u64::from_le_bytes(field(range).try_into().unwrap_or_default());
        Ok(Header {
            format,
            generation: u64_at(12..20),
            body_len: u64_at(20..28),
            body_hash: field(28..HEADER_LEN).try_into().unwrap_or_default(),
        })
    }
}

fn unusable(path: &Path, reason: impl Into<String>) -> StoreError {
    StoreError::View {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

/// What [`read_file`] found.
pub(crate) enum ReadOutcome {
    /// There is no view file.
    Missing,
    /// The file has the generation the caller already holds; the body was not read.
    Unchanged,
    /// A complete view whose body matches its hash.
    Read(Header, Vec<u8>),
}

/// Read `view.bin` through one open file (a concurrent rename cannot mix two files),
/// skipping the body when its generation is `held`.
pub(crate) fn read_file(path: &Path, held: Option<u64>) -> Result<ReadOutcome, StoreError> {
    let mut file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(ReadOutcome::Missing),
        Err(e) => return Err(StoreError::io("open the read view", path, e)),
    };
    let mut head = [0u8; HEADER_LEN];
    file.read_exact(&mut head).map_err(|e| match e.kind() {
        io::ErrorKind::UnexpectedEof => unusable(path, "it is shorter than its header"),
        _ => StoreError::io("read the read view", path, e),
    })?;
    let header = Header::decode(&head, path)?;
    if held == Some(header.generation) {
        return Ok(ReadOutcome::Unchanged);
    }
    let mut body = Vec::new();
    file.read_to_end(&mut body)
        .map_err(|e| StoreError::io("read the read view", path, e))?;
    if body.len() as u64 != header.body_len || *blake3::hash(&body).as_bytes() != header.body_hash {
        return Err(unusable(
            path,
            "its body does not match the length and blake3 in its header (damaged)",
        ));
    }
    Ok(ReadOutcome::Read(header, body))
}

fn encode_body(trees: &ViewTrees, path: &Path) -> Result<Vec<u8>, StoreError> {
    codec::encode("read view", trees).map_err(|source| StoreError::Record {
        what: "read view",
        key: path.display().to_string(),
        cause: source,
    })
}

/// One loaded generation of the view.
#[derive(Debug)]
pub(crate) struct View {
    generation: u64,
    trees: ViewTrees,
    /// The file it came from, for errors.
    path: PathBuf,
}

impl View {
    /// The view of a store that has no view file yet (and no database): empty.
    fn empty(path: &Path) -> View {
        View {
            generation: 0,
            trees: ViewTrees::default(),
            path: path.to_path_buf(),
        }
    }

    fn decode(header: &Header, body: &[u8], path: &Path) -> Result<View, StoreError> {
        let undecodable = |e| unusable(path, format!("its body cannot be decoded: {e}"));
        let trees = codec::decode("read view", body).map_err(undecodable)?;
        Ok(View {
            generation: header.generation,
            trees,
            path: path.to_path_buf(),
        })
    }
}

impl Records for View {
    fn artifact(&self, id: &ArtifactId) -> Result<Option<ArtifactRecord>, StoreError> {
        let raw = self.trees.artifacts.get(&id.0[..]);
        raw.map(|v| decode_record("artifact", &id.0, v)).transpose()
    }

    fn artifacts(&self) -> Result<Vec<ArtifactRecord>, StoreError> {
        let all = self.trees.artifacts.iter();
        all.map(|(k, v)| decode_record("artifact", k, v)).collect()
    }

    fn run(&self, key: &StageKey) -> Result<Option<RunRecord>, StoreError> {
        let raw = self.trees.runs.get(&key.0[..]);
        raw.map(|v| decode_record("run", &key.0, v)).transpose()
    }

    fn runs(&self) -> Result<Vec<RunRecord>, StoreError> {
        let all = self.trees.runs.iter();
        all.map(|(k, v)| decode_record("run", k, v)).collect()
    }

    fn pipeline_run(&self, id: &PipelineRunId) -> Result<Option<PipelineRun>, StoreError> {
        let raw = self.trees.pipeline_runs.get(&id.0[..]);
        raw.map(|v| decode_record("pipeline run", &id.0, v))
            .transpose()
    }

    fn pipeline_runs(&self) -> Result<Vec<PipelineRun>, StoreError> {
        let all = self.trees.pipeline_runs.iter();
        all.map(|(k, v)| decode_record("pipeline run", k, v))
            .collect()
    }

    fn latest(&self, dataset: &str, stage: &str) -> Result<Option<StageKey>, StoreError> {
        let raw = self.trees.latest.get(&latest_key(dataset, stage));
        raw.map(|v| decode_latest(dataset, stage, v, &self.path))
            .transpose()
    }

    fn source_stamp(&self, key: &[u8]) -> Result<Option<SourceStamp>, StoreError> {
        let raw = self.trees.sources.get(key);
        raw.map(|v| decode_record("source stamp", key, v))
            .transpose()
    }

    fn artifact_ids_with_prefix(&self, prefix: &[u8]) -> Result<Vec<ArtifactId>, StoreError> {
        let from = self.trees.artifacts.range(prefix.to_vec()..);
        Ok(from
            .map(|(k, _)| k)
            .take_while(|k| k.starts_with(prefix))
            .filter_map(|k| <[u8; 32]>::try_from(k.as_slice()).ok().map(ArtifactId))
            .collect())
    }
}

/// The read-only side: the current view, swapped whole by [`Reader::refresh`].
pub(crate) struct Reader {
    path: PathBuf,
    current: RwLock<Arc<View>>,
    /// One refresh at a time, so two racing refreshes cannot swap in an older view.
    refreshing: Mutex<()>,
}

impl Reader {
    /// Load the view of the store at `root`. A store without a view file is empty if
    /// it has no database either (nothing was ever written); otherwise the view is
    /// missing and that is an error.
    pub(crate) fn load(root: &Path) -> Result<Reader, StoreError> {
        let path = root.join(VIEW_FILE);
        let view = match read_file(&path, None)? {
            ReadOutcome::Read(header, body) => View::decode(&header, &body, &path)?,
            ReadOutcome::Missing if !root.join("db").exists() => View::empty(&path),
            ReadOutcome::Missing | ReadOutcome::Unchanged => {
                return Err(unusable(
                    &path,
                    "it does not exist, though the store has a database (never opened for \
                     writing by this version of alsflow)",
                ))
            }
        };
        Ok(Reader {
            path,
            current: RwLock::new(Arc::new(view)),
            refreshing: Mutex::new(()),
        })
    }

    /// The view to answer from (cheap: one `Arc` clone).
    pub(crate) fn current(&self) -> Arc<View> {
        // A poisoned lock only means a panic elsewhere; the Arc inside is always whole.
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Load the published view if its generation differs from the one held; true when
    /// it did. Errors leave the old view in place.
    pub(crate) fn refresh(&self) -> Result<bool, StoreError> {
        let _one_at_a_time = self.refreshing.lock().unwrap_or_else(|e| e.into_inner());
        let held = self.current().generation;
        match read_file(&self.path, Some(held))? {
            ReadOutcome::Unchanged => Ok(false),
            // Still no writer has created the store.
            ReadOutcome::Missing if held == 0 => Ok(false),
            ReadOutcome::Missing => Err(unusable(&self.path, "it was deleted")),
            ReadOutcome::Read(header, body) => {
                let view = Arc::new(View::decode(&header, &body, &self.path)?);
                *self.current.write().unwrap_or_else(|e| e.into_inner()) = view;
                Ok(true)
            }
        }
    }
}

/// What the writer last published (or found published when it opened).
#[derive(Debug)]
pub(crate) struct Published {
    generation: u64,
    /// `None` when no usable view is on disk, so the next publication must write.
    body_hash: Option<[u8; 32]>,
}

impl Published {
    /// What is on disk at `root` when the writer opens: the file's generation and body
    /// hash if it is readable, and never a generation below `recorded` (the last one
    /// the database remembers), so generations keep increasing even if the file was
    /// lost.
    pub(crate) fn found(root: &Path, recorded: u64) -> Published {
        match read_file(&root.join(VIEW_FILE), None) {
            Ok(ReadOutcome::Read(header, _)) => Published {
                generation: header.generation.max(recorded),
                body_hash: Some(header.body_hash),
            },
            // Missing or unusable: republish over it.
            _ => Published {
                generation: recorded,
                body_hash: None,
            },
        }
    }

    /// The generation the next publication takes.
    pub(crate) fn next_generation(&self) -> u64 {
        self.generation + 1
    }
}

impl Writer {
    /// Publish a new view if a copied tree changed since the last publication (see the
    /// module docs). Callers hold the maintenance lock (shared or exclusive), so `gc`
    /// and `verify` never run between the copy and the rename.
    pub(crate) fn publish_view(&self) -> Result<(), StoreError> {
        let mut last = self.published.lock().unwrap_or_else(|e| e.into_inner());
        if !self.db.take_changed() {
            return Ok(());
        }
        let outcome = self.publish_locked(&mut last);
        if outcome.is_err() {
            // Try again at the next publication point.
            self.db.mark_changed();
        }
        outcome
    }

    fn publish_locked(&self, last: &mut Published) -> Result<(), StoreError> {
        let trees = self.db.snapshot()?;
        let path = self.root.join(VIEW_FILE);
        let body = encode_body(&trees, &path)?;
        let body_hash = *blake3::hash(&body).as_bytes();
        if last.body_hash == Some(body_hash) {
            return Ok(());
        }
        // Everything copied was written before this flush, so once it returns the view
        // names no record that a crash could take back from the database.
        self.db.flush()?;
        let header = Header {
            format: VIEW_FORMAT,
            generation: last.next_generation(),
            body_len: body.len() as u64,
            body_hash,
        };
        self.write_view_file(&header, &body)?;
        self.db.set_view_generation(header.generation)?;
        *last = Published {
            generation: header.generation,
            body_hash: Some(body_hash),
        };
        Ok(())
    }

    fn write_view_file(&self, header: &Header, body: &[u8]) -> Result<(), StoreError> {
        let temp = self.create_temp()?;
        write_view_file(&self.root, temp, header, body, || {
            self.crash_point("view:temp-written")
        })
    }
}

/// Publish the empty view of a store that has no database yet, as `generation`.
pub(crate) fn publish_empty(
    root: &Path,
    generation: u64,
    temp: (PathBuf, File),
    before_rename: impl FnOnce(),
) -> Result<(), StoreError> {
    let path = root.join(VIEW_FILE);
    let body = encode_body(&ViewTrees::default(), &path)?;
    let header = Header {
        format: VIEW_FORMAT,
        generation,
        body_len: body.len() as u64,
        body_hash: *blake3::hash(&body).as_bytes(),
    };
    write_view_file(root, temp, &header, &body, before_rename)
}

/// Write `view.bin` under `root`: the temp file gets the header and body and is
/// fsynced, `before_rename` runs (a crash point in tests), then the temp file is
/// renamed over `view.bin` and the root fsynced.
fn write_view_file(
    root: &Path,
    (tmp, mut file): (PathBuf, File),
    header: &Header,
    body: &[u8],
    before_rename: impl FnOnce(),
) -> Result<(), StoreError> {
    let path = root.join(VIEW_FILE);
    let written = file
        .write_all(&header.encode())
        .and_then(|_| file.write_all(body))
        .and_then(|_| file.sync_all());
    drop(file);
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp);
        return Err(StoreError::io("write the read view to", &tmp, e));
    }
    before_rename();
    if let Err(e) = fs::rename(&tmp, &path) {
        let _ = fs::remove_file(&tmp);
        return Err(StoreError::io("rename the read view to", &path, e));
    }
    fsutil::sync_dir(root)
}

/// The generation of the view published at `root`, if one is readable.
#[cfg(test)]
pub(crate) fn published_generation(root: &Path) -> Option<u64> {
    match read_file(&root.join(VIEW_FILE), None) {
        Ok(ReadOutcome::Read(header, _)) => Some(header.generation),
        _ => None,
    }
}
