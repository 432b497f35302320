//! Objects: temp files, the durable install (temp → fsync → rename → fsync dir), `put`,
//! and reads that re-hash every byte.

use crate::records::ArtifactRecord;
use crate::{fsutil, ArtifactId, Format, Handle, Store, StoreError, Writer};
use std::collections::BTreeSet;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

impl Store {
    /// Where the object `id` lives (whether or not it exists).
    pub fn object_path(&self, id: &ArtifactId) -> PathBuf {
        object_path(&self.objects_dir, id)
    }

    /// Write `bytes` as an object (temp file in `root/tmp` → fsync → rename → fsync
    /// dir), then record it in sled with `format` and `kind` (e.g. `"split.train"`).
    ///
    /// Idempotent: an existing valid object is not rewritten (a damaged one is
    /// replaced), and an existing record keeps its kind and producer. The record
    /// reaches the read view with the next publication (the run that names it).
    pub fn put(&self, bytes: &[u8], format: Format, kind: &str) -> Result<ArtifactId, StoreError> {
        let w = self.writer("put an object")?;
        let _shared = w.shared();
        let id = ArtifactId::of(bytes);
        let path = self.object_path(&id);
        let intact = match fs::metadata(&path) {
            Ok(m) if m.len() == bytes.len() as u64 => {
                matches!(fsutil::hash_file(&path)?, Some((h, _)) if h == id)
            }
            _ => false,
        };
        if !intact {
            let (tmp, mut file) = w.create_temp()?;
            let written = file.write_all(bytes).and_then(|_| {
                w.crash_point("put:temp-written");
                file.sync_all()
            });
            drop(file);
            if let Err(e) = written {
                let _ = fs::remove_file(&tmp);
                return Err(StoreError::io("write temp object", &tmp, e));
            }
            w.install_temp(&tmp, &id)?;
            w.crash_point("put:renamed");
        }
        let record = ArtifactRecord {
            id,
            format,
            kind: kind.to_string(),
            size: bytes.len() as u64,
            producer: None,
            source: None,
        };
        w.db.insert_artifact_if_absent(&record)?;
        w.crash_point("put:recorded");
        Ok(id)
    }

    /// Read an object, verifying its blake3: a mismatch is [`StoreError::Corrupt`]
    /// naming the object and its producing stage; a missing file is
    /// [`StoreError::Missing`].
    pub fn read(&self, id: &ArtifactId) -> Result<Vec<u8>, StoreError> {
        let path = self.object_path(id);
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(StoreError::Missing { id: *id })
            }
            Err(e) => return Err(StoreError::io("read object", &path, e)),
        };
        if ArtifactId::of(&bytes) != *id {
            return Err(self.corrupt(id, path));
        }
        Ok(bytes)
    }

    /// Verify an object's hash by streaming it (without holding it in memory) and
    /// return its path, for readers that stream large raw sources themselves.
    /// Errors as [`Store::read`].
    pub fn verified_path(&self, id: &ArtifactId) -> Result<PathBuf, StoreError> {
        let path = self.object_path(id);
        match fsutil::hash_file(&path)? {
            None => Err(StoreError::Missing { id: *id }),
            Some((h, _)) if h == *id => Ok(path),
            Some(_) => Err(self.corrupt(id, path)),
        }
    }

    /// True when the object file exists with the size in its artifact record (cheap:
    /// no hashing). False when there is no record.
    pub fn object_present(&self, id: &ArtifactId) -> bool {
        match self.artifact(id) {
            Ok(Some(rec)) => fs::metadata(self.object_path(id))
                .map(|m| m.is_file() && m.len() == rec.size)
                .unwrap_or(false),
            _ => false,
        }
    }

    /// The error for a damaged object, naming its producer.
    pub(crate) fn corrupt(&self, id: &ArtifactId, path: PathBuf) -> StoreError {
        // A damaged raw-source copy must not be vouched for by its stat stamp: dropping
        // the stamp makes the next `put_source_file` re-read the file and repair the
        // object. Failures here only lose that shortcut; the error is reported anyway.
        // A reader cannot drop it; the writer does when its own read meets the damage.
        if let Handle::Write(w) = &self.handle {
            let _ = w.drop_stamps_of(&BTreeSet::from([*id]));
        }
        let producer = self.producer_of(id).ok().flatten().map(|r| r.label());
        StoreError::Corrupt {
            id: *id,
            path,
            producer,
        }
    }
}

impl Writer {
    /// A fresh, uniquely named temp file in `root/tmp`.
    pub(crate) fn create_temp(&self) -> Result<(PathBuf, File), StoreError> {
        create_temp(&self.tmp_dir, &self.tmp_counter)
    }

    /// Rename a complete, fsynced temp file to the object path of `id` and make the
    /// rename durable.
    pub(crate) fn install_temp(&self, tmp: &Path, id: &ArtifactId) -> Result<(), StoreError> {
        let path = object_path(&self.objects_dir, id);
        let dir = path.parent().unwrap_or(&self.objects_dir).to_path_buf();
        let done = fsutil::create_dir_durable(&dir).and_then(|_| {
            fs::rename(tmp, &path).map_err(|e| StoreError::io("rename temp object to", &path, e))
        });
        if let Err(e) = done {
            let _ = fs::remove_file(tmp);
            return Err(e);
        }
        fsutil::sync_dir(&dir)
    }
}

/// Where the object `id` lives under `objects_dir`.
pub(crate) fn object_path(objects_dir: &Path, id: &ArtifactId) -> PathBuf {
    let hex = id.to_hex();
    objects_dir.join(&hex[..2]).join(hex)
}

/// A fresh temp file in `tmp_dir`, named `<pid>-<n>.tmp` with `n` from `counter`.
pub(crate) fn create_temp(
    tmp_dir: &Path,
    counter: &AtomicU64,
) -> Result<(PathBuf, File), StoreError> {
    loop {
        let n = counter.fetch_add(1, Ordering::Relaxed);
        let path = tmp_dir.join(format!("{}-{n}.tmp", std::process::id()));
        match OpenOptions::new().write(true).create_new(true).open(&path) {
            Ok(f) => return Ok((path, f)),
            // Left by an earlier process that had the same pid: pick the next name.
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(StoreError::io("create temp file", &path, e)),
        }
    }
}
