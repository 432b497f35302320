//! Maintenance: [`Store::verify`] (re-hash everything, quarantine damage, invalidate the
//! runs that need it) and [`Store::gc`] / [`Store::gc_with`] (delete what no run needs,
//! and with a retention policy the runs it does not keep).
//!
//! Both delete records before files, and flush the records and publish the read view
//! before touching a file, so a crash in the middle leaves only orphans, never a record
//! without its object. Both exclude read-only handles (`root/readers.lock`) only once
//! they know they will delete or move something.

use crate::db::Records;
use crate::records::{ArtifactRecord, RunRecord};
use crate::reports::{
    GcReport, InvalidatedRun, ProblemKind, RemovedPipelineRun, VerifyProblem, VerifyReport,
};
use crate::{fsutil, retention, ArtifactId, Store, StoreError, Writer};
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
        self.gc_with(&GcOptions {
            dry_run,
            ..GcOptions::default()
        })
    }

    /// [`Store::gc`], and with [`GcOptions::keep_last`] also delete the pipeline runs
    /// and stage runs that retention does not keep (named pipeline runs, the newest
    /// `N` per dataset, what they need and what the `latest` pointers name; see the
    /// `retention` module), then the objects only those needed, and the memo records
    /// of deleted runs whose scope no kept run shares.
    pub fn gc_with(&self, opts: &GcOptions<'_>) -> Result<GcReport, StoreError> {
        let w = self.writer("collect garbage")?;
        let _exclusive = w.exclusive();
        let runs = w.db.runs()?;
        let artifacts = w.db.artifacts()?;
        let plan = match opts.keep_last {
            Some(keep_last) => Some(retention::plan(
                retention::Retention {
                    keep_last,
                    final_stage: opts.final_stage,
                },
                &w.db.pipeline_runs()?,
                &runs,
                &w.db.latest_keys()?,
                &artifacts,
            )),
            None => None,
        };
        let kept = |r: &&RunRecord| plan.as_ref().is_none_or(|p| p.kept_runs.contains(&r.key));
        let needed: BTreeSet<ArtifactId> = runs
            .iter()
            .filter(kept)
            .flat_map(|r| r.inputs.values().chain(r.outputs.values()))
            .copied()
            .collect();
        let dry_run = opts.dry_run;
        let mut report = GcReport {
            dry_run,
            keep_last: opts.keep_last,
            ..GcReport::default()
        };
        // Memo scopes of deleted runs that no kept run shares: nothing will read them
        // unless a deleted configuration is run again, which then recomputes.
        let mut dead_scopes: Vec<Vec<u8>> = Vec::new();
        if let Some(plan) = &plan {
            report.pipeline_runs_kept = plan.kept_pipeline_runs.len() as u64;
            report.removed_pipeline_runs = plan
                .removed_pipeline_runs
                .iter()
                .map(RemovedPipelineRun::of)
                .collect();
            report.stage_runs_removed = plan.removed_runs.len() as u64;
            if let Some(scope_of) = opts.memo_scope {
                let (gone, live): (Vec<&RunRecord>, Vec<&RunRecord>) = runs
                    .iter()
                    .partition(|r| plan.removed_runs.contains(&r.key));
                let live: BTreeSet<Vec<u8>> = live.into_iter().map(scope_of).collect();
                let gone: BTreeSet<Vec<u8>> = gone.into_iter().map(scope_of).collect();
                dead_scopes = gone.difference(&live).cloned().collect();
                for scope in &dead_scopes {
                    report.memo_records_removed += w.db.memo_count(scope)?;
                }
            }
        }
        // Unneeded records (even those whose object is already gone) and files.
        let unneeded_records: BTreeSet<ArtifactId> = artifacts
            .iter()
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
        // them gone; a deleted run record alone leaves every object a reader may read.
        let _no_readers = if unneeded_records.is_empty() && unneeded_files.is_empty() {
            None
        } else {
            Some(
                w.readers
                    .exclude_readers("collect garbage", w.lock_timeout)?,
            )
        };
        if let Some(plan) = &plan {
            // Producers first, so no kept artifact ever names a deleted run.
            let by_id: BTreeMap<ArtifactId, &ArtifactRecord> =
                artifacts.iter().map(|a| (a.id, a)).collect();
            for (id, producer) in &plan.producer_updates {
                if let Some(rec) = by_id.get(id) {
                    let updated = ArtifactRecord {
                        producer: *producer,
                        ..(*rec).clone()
                    };
                    w.db.put_encoded(&w.db.artifacts, "artifact", &id.0, &updated)?;
                }
            }
            for p in &plan.removed_pipeline_runs {
                w.db.remove_key(&w.db.pipeline_runs, &p.id.0)?;
            }
            for key in &plan.removed_runs {
                w.db.remove_key(&w.db.runs, &key.0)?;
            }
        }
        for id in &unneeded_records {
            w.db.remove_key(&w.db.artifacts, &id.0)?;
        }
        w.drop_stamps_of(&unneeded_records)?;
        for scope in &dead_scopes {
            w.db.memo_remove_scope(scope)?;
        }
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

/// What [`Store::gc_with`] deletes beyond what no run needs.
#[derive(Clone, Copy, Default)]
pub struct GcOptions<'a> {
    /// Only count what would be deleted.
    pub dry_run: bool,
    /// Keep the named pipeline runs and the newest `N` others per dataset (with what
    /// they need); delete the other pipeline runs and stage runs. `None`: keep every
    /// run, delete only what no run needs.
    pub keep_last: Option<usize>,
    /// With `keep_last`: the stage a pipeline run must complete to count towards `N`
    /// (`alsflow gc` passes `evaluate`); a run that stopped before it is kept only
    /// while no finished run of its dataset is newer. `None`: every run counts.
    pub final_stage: Option<&'a str>,
    /// The memo scope a stage run's memo records live under (the runner's choice);
    /// with it, the memo records of deleted runs are deleted too when no kept run
    /// shares their scope. Without it, memo records are left alone.
    pub memo_scope: Option<&'a MemoScopeFn>,
}

/// Maps a stage run to the memo scope its stage wrote under.
pub type MemoScopeFn = dyn Fn(&RunRecord) -> Vec<u8>;

impl std::fmt::Debug for GcOptions<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GcOptions")
            .field("dry_run", &self.dry_run)
            .field("keep_last", &self.keep_last)
            .field("final_stage", &self.final_stage)
            .field("memo_scope", &self.memo_scope.is_some())
            .finish()
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
