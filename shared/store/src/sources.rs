//! Raw sources: streaming a (possibly large) data file into the store, and the stat
//! stamps that let a fully cached run skip re-reading it.
//!
//! [`Store::put_source_file`] streams a file into the store, hashing while it copies.
//! To keep fully cached runs cheap it remembers a stat stamp per canonical path (size,
//! mtime, ctime, inode): when the stamp is unchanged and the object is present, the
//! file is not read again. A stamp is only trusted when the file's mtime was at least
//! two seconds old when it was read, so a write within the same timestamp tick cannot
//! go unnoticed (git's "racy file" rule). A file whose stat changes while it is being
//! copied is refused ([`StoreError::SourceChanged`]) rather than recorded as a torn
//! copy. When [`Store::read`] finds a stored source copy damaged, it drops the stamp,
//! so the next import re-reads the file and repairs it.

use crate::db::Records;
use crate::records::{ArtifactRecord, SourceInfo, SourceOrigin};
use crate::{ArtifactId, Format, Store, StoreError, Writer};
use alsflow_core::{files, hex};
use serde::{Deserialize, Serialize};
use sha2::Digest;
use std::collections::BTreeSet;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A stat stamp is trusted only if the file was at least this old when hashed.
const RACY_WINDOW: Duration = Duration::from_secs(2);

/// What `put_source_file` remembers about a source path to skip re-reading it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub(crate) struct SourceStamp {
    size: u64,
    mtime: (i64, u32),
    ctime: (i64, u32),
    inode: u64,
    device: u64,
    pub(crate) id: ArtifactId,
    /// The sha256 checked when the stamp was taken, if one was requested.
    sha256: Option<String>,
}

impl Store {
    /// Stream a (possibly large) raw file into the store, hashing while copying, and
    /// record it as a `"source"` artifact with its [`SourceInfo`] (`path` as given,
    /// plus the URL, archive hash and member of `origin`).
    ///
    /// When `sha256` is given, the file's sha256 is computed in the same pass and a
    /// mismatch is [`StoreError::SourceChecksum`] (nothing is recorded). An unchanged
    /// file (same stat stamp, object present) is not read again; see the module docs.
    /// Publishes the read view if anything changed.
    pub fn put_source_file(
        &self,
        path: &Path,
        origin: Option<&SourceOrigin>,
        sha256: Option<&str>,
    ) -> Result<ArtifactId, StoreError> {
        let w = self.writer("import a source file")?;
        let _shared = w.shared();
        let no_origin = SourceOrigin::default();
        let id = self.import_source(w, path, origin.unwrap_or(&no_origin), sha256)?;
        w.publish_view()?;
        Ok(id)
    }

    fn import_source(
        &self,
        w: &Writer,
        path: &Path,
        origin: &SourceOrigin,
        sha256: Option<&str>,
    ) -> Result<ArtifactId, StoreError> {
        let expected_sha = sha256.map(|s| s.trim().to_ascii_lowercase());
        let canonical = path
            .canonicalize()
            .map_err(|e| StoreError::io("open source file", path, e))?;
        let stamp_key = stamp_key(&canonical);
        let meta =
            fs::metadata(&canonical).map_err(|e| StoreError::io("stat source file", path, e))?;

        // Fast path: the file is unchanged since we last imported it.
        if let Some(old) = w.db.source_stamp(&stamp_key)? {
            let same_file = stamp_matches(&old, &meta);
            let sha_ok = expected_sha.is_none() || expected_sha == old.sha256;
            if same_file && sha_ok && self.object_present(&old.id) {
                w.record_source(&old.id, path, old.size, origin, expected_sha.clone())?;
                return Ok(old.id);
            }
        }

        let read_started = SystemTime::now();
        let (tmp, mut out) = w.create_temp()?;
        let copied = copy_hashing(&canonical, &mut out, expected_sha.is_some());
        let (id, size, actual_sha) = match copied.and_then(|r| {
            out.sync_all()
                .map_err(|e| StoreError::io("fsync temp object", &tmp, e))?;
            Ok(r)
        }) {
            Ok(r) => r,
            Err(e) => {
                drop(out);
                let _ = fs::remove_file(&tmp);
                return Err(e);
            }
        };
        drop(out);
        #[cfg(test)]
        crate::tests::AFTER_SOURCE_COPY.with(|hook| {
            if let Some(hook) = hook.borrow().as_ref() {
                hook(&canonical)
            }
        });
        // A file still being written (a download, an editor) would give a torn copy.
        let after =
            fs::metadata(&canonical).map_err(|e| StoreError::io("stat source file", path, e))?;
        if size != meta.len() || !stamp_matches(&stamp_of(&meta, id, None), &after) {
            let _ = fs::remove_file(&tmp);
            return Err(StoreError::SourceChanged {
                path: path.to_path_buf(),
            });
        }
        if let (Some(expected), Some(actual)) = (&expected_sha, &actual_sha) {
            if expected != actual {
                let _ = fs::remove_file(&tmp);
                return Err(StoreError::SourceChecksum {
                    path: path.to_path_buf(),
                    expected: expected.clone(),
                    actual: actual.clone(),
                });
            }
        }
        // The temp copy is complete and its hash known: renaming it over an existing
        // object is atomic and harmless, and repairs a damaged one.
        w.install_temp(&tmp, &id)?;
        w.crash_point("source:renamed");
        let record = ArtifactRecord {
            id,
            format: Format::Raw,
            kind: "source".to_string(),
            size,
            producer: None,
            source: None,
        };
        w.db.insert_artifact_if_absent(&record)?;
        w.record_source(&id, path, size, origin, expected_sha.clone())?;

        // Remember the stamp only if the file cannot have changed unnoticed within one
        // mtime tick while we read it.
        let old_enough = meta
            .modified()
            .ok()
            .and_then(|m| read_started.duration_since(m).ok())
            .is_some_and(|age| age >= RACY_WINDOW);
        let stamp = stamp_of(&meta, id, expected_sha);
        if old_enough {
            w.db.put_encoded(&w.db.sources, "source stamp", &stamp_key, &stamp)?;
        } else {
            w.db.remove_key(&w.db.sources, &stamp_key)?;
        }
        Ok(id)
    }

    /// The id of the raw file at `path` if it was imported by [`Store::put_source_file`]
    /// and is unchanged since (same stat stamp) with its object present — without
    /// reading the file. `None` means "unknown": the caller must hash the file itself.
    /// For `status`, which must not import anything.
    pub fn known_source_id(&self, path: &Path) -> Result<Option<ArtifactId>, StoreError> {
        let Ok(canonical) = path.canonicalize() else {
            return Ok(None);
        };
        let Ok(meta) = fs::metadata(&canonical) else {
            return Ok(None);
        };
        let key = stamp_key(&canonical);
        Ok(self
            .with_records(|r| r.source_stamp(&key))?
            .filter(|stamp| stamp_matches(stamp, &meta) && self.object_present(&stamp.id))
            .map(|stamp| stamp.id))
    }
}

impl Writer {
    /// Attach (or refresh) the source info of a raw source artifact.
    fn record_source(
        &self,
        id: &ArtifactId,
        path: &Path,
        size: u64,
        origin: &SourceOrigin,
        sha256: Option<String>,
    ) -> Result<(), StoreError> {
        let Some(mut rec) = self.db.artifact(id)? else {
            return Err(StoreError::Missing { id: *id });
        };
        let info = SourceInfo {
            path: path.display().to_string(),
            size,
            blake3: id.to_hex(),
            url: origin.url.clone(),
            sha256,
            archive_sha256: origin.archive_sha256.clone(),
            member: origin.member.clone(),
        };
        if rec.source.as_ref() != Some(&info) {
            rec.source = Some(info);
            self.db
                .put_encoded(&self.db.artifacts, "artifact", &id.0, &rec)?;
        }
        Ok(())
    }

    /// Forget the stamps that vouch for any of `ids` (and any unreadable stamp).
    pub(crate) fn drop_stamps_of(&self, ids: &BTreeSet<ArtifactId>) -> Result<(), StoreError> {
        if ids.is_empty() {
            return Ok(());
        }
        for item in self.db.sources.iter() {
            let (k, v) = item.map_err(|e| self.db.error("scan source stamps", e))?;
            // An unreadable stamp is only a cache entry: drop it too.
            let drop = alsflow_core::codec::decode::<SourceStamp>("source stamp", &v)
                .map_or(true, |s| ids.contains(&s.id));
            if drop {
                self.db.remove_key(&self.db.sources, &k)?;
            }
        }
        Ok(())
    }
}

/// The `sources` key of a canonical path.
pub(crate) fn stamp_key(canonical: &Path) -> Vec<u8> {
    canonical.to_string_lossy().into_owned().into_bytes()
}

/// Copy `src` into `out` while hashing with blake3 (and sha256 when asked).
/// Returns (id, size, sha256 hex).
fn copy_hashing(
    src: &Path,
    out: &mut File,
    with_sha256: bool,
) -> Result<(ArtifactId, u64, Option<String>), StoreError> {
    let input = File::open(src).map_err(|e| StoreError::io("open source file", src, e))?;
    let mut sha = with_sha256.then(sha2::Sha256::new);
    // hash_reader reports read and write failures alike; remember which one it was.
    let mut write_failed = false;
    let hashed = files::hash_reader(input, |chunk| {
        if let Some(sha) = sha.as_mut() {
            sha.update(chunk);
        }
        out.write_all(chunk).inspect_err(|_| write_failed = true)
    });
    let (id, size) = hashed.map_err(|e| {
        let action = if write_failed {
            "copy source file into the store from"
        } else {
            "read source file"
        };
        StoreError::io(action, src, e)
    })?;
    Ok((id, size, sha.map(|s| hex::encode(&s.finalize()))))
}

fn split_time(t: io::Result<SystemTime>) -> (i64, u32) {
    match t.ok().map(|t| t.duration_since(UNIX_EPOCH)) {
        Some(Ok(d)) => (d.as_secs() as i64, d.subsec_nanos()),
        Some(Err(e)) => (
            -(e.duration().as_secs() as i64),
            e.duration().subsec_nanos(),
        ),
        None => (0, 0),
    }
}

fn stamp_of(meta: &fs::Metadata, id: ArtifactId, sha256: Option<String>) -> SourceStamp {
    #[cfg(unix)]
    let (ctime, inode, device) = {
        use std::os::unix::fs::MetadataExt;
        (
            (meta.ctime(), meta.ctime_nsec() as u32),
            meta.ino(),
            meta.dev(),
        )
    };
    #[cfg(not(unix))]
    let (ctime, inode, device) = ((0, 0), 0, 0);
    SourceStamp {
        size: meta.len(),
        mtime: split_time(meta.modified()),
        ctime,
        inode,
        device,
        id,
        sha256,
    }
}

fn stamp_matches(stamp: &SourceStamp, meta: &fs::Metadata) -> bool {
    let now = stamp_of(meta, stamp.id, None);
    (now.size, now.mtime, now.ctime, now.inode, now.device)
        == (
            stamp.size,
            stamp.mtime,
            stamp.ctime,
            stamp.inode,
            stamp.device,
        )
}
