//! Maintenance: [`Store::verify`] (re-hash everything, quarantine damage, invalidate the
//! runs that need it) and [`Store::gc`] (delete what no run needs).
//!
//! Both delete records before files, and flush the records and publish the read view
//! before touching a file, so a crash in the middle leaves only orphans, never a record
//! without its object. Both exclude read-only handles (`root/readers.lock`) only once
//! they know they will delete or move something.

use crate::db::Records;
use crate::records::{ArtifactRecord, RunRecord};
use crate::reports::{GcReport, InvalidatedRun, ProblemKind, VerifyProblem, VerifyReport};
use crate::{fsutil, ArtifactId, Store, StoreError, Writer};
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// A file found under `objects/`.
struct ObjectFile {
    path: PathBuf,
    name: String,
    /// `None` for a stray file (not named like an object).
    id: Option<ArtifactId>,
}

impl Store {
    /// Re-hash every object file and check every record.
    ///
    /// For each object whose bytes do not match its name, each stray file in
    /// `objects/`, and each recorded object that is missing: move the file aside to
    /// `root/corrupt/<id>`, delete its artifact record, and delete every run record
    /// that lists it as an input or output (or lists an id that has no record), so the
    /// next run rebuilds exactly those. The report says which objects and which runs.
    ///
    /// Hashing runs beside read-only handles; if anything must be removed or moved,
    /// they are excluded first ([`StoreError::ReadersActive`] if they stay open past
    /// the timeout given to [`Store::open`], and then nothing is changed).
    pub fn verify(&self) -> Result<VerifyReport, StoreError> {
        let w = self.writer("verify the store (it may move objects aside)")?;
        let _exclusive = w.exclusive();
        let records: BTreeMap<ArtifactId, ArtifactRecord> =
            w.db.artifacts()?.into_iter().map(|r| (r.id, r)).collect();
        let runs: Vec<RunRecord> = w.db.runs()?;
        let producer_label = |id: &ArtifactId| -> Option<String> {
            let key = records.get(id)?.producer?;
            runs.iter().find(|r| r.key == key).map(|r| r.label())
        };

        let mut report = VerifyReport::default();
        let mut seen = BTreeSet::new();
        let mut bad = BTreeSet::new();
        // (index into report.problems, file to move aside, name under corrupt/)
        let mut to_move: Vec<(usize, PathBuf, String)> = Vec::new();
        for file in w.object_files()? {
            let Some(id) = file.id else {
                to_move.push((report.problems.len(), file.path.clone(), file.name));
                report.problems.push(VerifyProblem {
                    id: None,
                    path: file.path,
                    kind: ProblemKind::Stray,
                    producer: None,
                    moved_to: None,
                });
                continue;
            };
            seen.insert(id);
            let Some((actual, size)) = fsutil::hash_file(&file.path)? else {
                continue;
            };
            report.objects_checked += 1;
            report.bytes_checked += size;
            if actual != id {
                bad.insert(id);
                to_move.push((report.problems.len(), file.path.clone(), id.to_hex()));
                report.problems.push(VerifyProblem {
                    id: Some(id),
                    path: file.path,
                    kind: ProblemKind::HashMismatch {
                        actual,
                        size,
                        recorded_size: records.get(&id).map(|r| r.size),
                    },
                    producer: producer_label(&id),
                    moved_to: None,
                });
            }
        }
        for id in records.keys().filter(|id| !seen.contains(*id)) {
            bad.insert(*id);
            report.problems.push(VerifyProblem {
                id: Some(*id),
                path: w.object_path(id),
                kind: ProblemKind::Missing,
                producer: producer_label(id),
                moved_to: None,
            });
        }
        for run in &runs {
            let reason =
                run_invalid_reason(run, |id| bad.contains(id), |id| records.contains_key(id));
            if let Some(reason) = reason {
                report.invalidated_runs.push(InvalidatedRun {
                    key: run.key,
                    dataset: run.dataset.clone(),
                    stage: run.stage.clone(),
                    reason,
                });
            }
        }
        if report.is_clean() {
            return Ok(report);
        }

        let _no_readers = w.readers.exclude_readers(
            "verify the store (it moves damaged objects aside)",
            w.lock_timeout,
        )?;
        // Records go first — runs, then the artifact records they name — and are
        // flushed and published before any file moves, so a crash in between leaves at
        // worst an unrecorded bad file (found again by the next verify), never a
        // dangling record in the database or the view.
        for run in &report.invalidated_runs {
            w.db.remove_key(&w.db.runs, &run.key.0)?;
        }
        for id in &bad {
            if records.contains_key(id) {
                w.db.remove_key(&w.db.artifacts, &id.0)?;
            }
        }
        w.drop_stamps_of(&bad)?;
        w.db.flush()?;
        w.publish_view()?;
        w.crash_point("verify:records-removed");
        for (index, from, name) in to_move {
            report.problems[index].moved_to =
                Some(fsutil::move_aside(&from, &w.corrupt_dir, &name)?);
        }
        Ok(report)
    }

    /// Delete what no run record needs: objects (and their records) that no run lists
    /// as an input or output — raw sources included, unless a run reads them — plus
    /// leftover temp files and quarantined (`corrupt/`) files. With `dry_run`, only
    /// count. Records are deleted (and the read view published without them) before
    /// their files, so a crash leaves orphans only.
    ///
    /// When there are records or objects to delete, read-only handles are excluded
    /// first ([`StoreError::ReadersActive`] if they stay open past the timeout given to
    /// [`Store::open`], and then nothing is deleted).
    pub fn gc(&self, dry_run: bool) -> Result<GcReport, StoreError> {
        let w = self.writer("collect garbage")?;
        let _exclusive = w.exclusive();
        let needed: BTreeSet<ArtifactId> =
            w.db.runs()?
                .iter()
                .flat_map(|r| r.inputs.values().chain(r.outputs.values()))
                .copied()
                .collect();
        let mut report = GcReport {
            dry_run,
            ..GcReport::default()
        };
        // Unneeded records (even those whose object is already gone) and files.
        let unneeded_records: BTreeSet<ArtifactId> =
            w.db.artifacts()?
                .into_iter()
                .map(|rec| rec.id)
                .filter(|id| !needed.contains(id))
                .collect();
        report.records_removed = unneeded_records.len() as u64;
        let mut unneeded_files = Vec::new();
        for file in w.object_files()? {
            let size = file_size(&file.path);
            if file.id.is_some_and(|id| needed.contains(&id)) {
                report.objects_kept += 1;
                report.bytes_kept += size;
            } else {
                report.objects_removed += 1;
                report.bytes_removed += size;
                unneeded_files.push(file.path);
            }
        }
        let temp_files = list_files(&w.tmp_dir)?;
        let quarantined = list_files(&w.corrupt_dir)?;
        report.temp_files_removed = temp_files.len() as u64;
        report.temp_bytes_removed = temp_files.iter().map(|p| file_size(p)).sum();
        report.quarantined_removed = quarantined.len() as u64;
        report.quarantined_bytes_removed = quarantined.iter().map(|p| file_size(p)).sum();
        if dry_run {
            return Ok(report);
        }

        // Readers never look at tmp/ or corrupt/, so only records and objects need
        // them gone.
        let _no_readers = if unneeded_records.is_empty() && unneeded_files.is_empty() {
            None
        } else {
            Some(
                w.readers
                    .exclude_readers("collect garbage", w.lock_timeout)?,
            )
        };
        for id in &unneeded_records {
            w.db.remove_key(&w.db.artifacts, &id.0)?;
        }
        w.drop_stamps_of(&unneeded_records)?;
        w.db.flush()?;
        w.publish_view()?;
        w.crash_point("gc:records-removed");
        for path in unneeded_files {
            fs::remove_file(&path).map_err(|e| StoreError::io("remove object", &path, e))?;
        }
        for path in temp_files.into_iter().chain(quarantined) {
            fs::remove_file(&path).map_err(|e| StoreError::io("remove leftover file", &path, e))?;
        }
        w.remove_empty_fanout_dirs()?;
        Ok(report)
    }
}

impl Writer {
    fn object_path(&self, id: &ArtifactId) -> PathBuf {
        crate::objects::object_path(&self.objects_dir, id)
    }

    /// Every file under `objects/`, with its id when the name is a well-formed id in the
    /// right fan-out directory.
    fn object_files(&self) -> Result<Vec<ObjectFile>, StoreError> {
        let mut out = Vec::new();
        let fanout = fs::read_dir(&self.objects_dir)
            .map_err(|e| StoreError::io("list objects in", &self.objects_dir, e))?;
        let mut dirs: Vec<PathBuf> = Vec::new();
        for entry in fanout {
            let entry =
                entry.map_err(|e| StoreError::io("list objects in", &self.objects_dir, e))?;
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else {
                let name = entry.file_name().to_string_lossy().into_owned();
                out.push(ObjectFile {
                    path,
                    name,
                    id: None,
                });
            }
        }
        dirs.sort();
        for dir in dirs {
            let dir_name = dir
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            for path in list_files(&dir)? {
                let name = path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                // Only the canonical name (lowercase, in its own fan-out directory) is
                // an object; anything else is a stray file.
                let id = ArtifactId::from_hex(&name)
                    .filter(|id| id.to_hex() == name && name[..2] == dir_name);
                out.push(ObjectFile { path, name, id });
            }
        }
        Ok(out)
    }

    fn remove_empty_fanout_dirs(&self) -> Result<(), StoreError> {
        let entries = fs::read_dir(&self.objects_dir)
            .map_err(|e| StoreError::io("list objects in", &self.objects_dir, e))?;
        for entry in entries.flatten() {
            let path = entry.path();
            // remove_dir fails on a non-empty directory, which is exactly what we want.
            if path.is_dir()
                && fs::read_dir(&path)
                    .map(|mut d| d.next().is_none())
                    .unwrap_or(false)
            {
                let _ = fs::remove_dir(&path);
            }
        }
        Ok(())
    }
}

/// Why `run` must be deleted, if it must: it names a bad object or an unrecorded one.
fn run_invalid_reason(
    run: &RunRecord,
    is_bad: impl Fn(&ArtifactId) -> bool,
    has_record: impl Fn(&ArtifactId) -> bool,
) -> Option<String> {
    for (role, map) in [("input", &run.inputs), ("output", &run.outputs)] {
        for (name, id) in map {
            if is_bad(id) {
                return Some(format!(
                    "{role} {name} = {} is damaged or missing",
                    id.short()
                ));
            }
            if !has_record(id) {
                return Some(format!(
                    "{role} {name} = {} has no artifact record",
                    id.short()
                ));
            }
        }
    }
    None
}

fn file_size(path: &Path) -> u64 {
    fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

/// Regular files directly inside `dir` (empty if `dir` does not exist), sorted.
pub(crate) fn list_files(dir: &Path) -> Result<Vec<PathBuf>, StoreError> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(StoreError::io("list files in", dir, e)),
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| StoreError::io("list files in", dir, e))?;
        if entry.file_type().map(|t| t.is_file()).unwrap_or(false) {
            out.push(entry.path());
        }
    }
    out.sort();
    Ok(out)
}
