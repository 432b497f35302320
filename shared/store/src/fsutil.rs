//! Durable file-system steps: fsync of directories, durable directory creation,
//! quarantine moves, the process lock.

use crate::StoreError;
use alsflow_core::{files, ArtifactId};
use fs2::FileExt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// fsync a directory so that a rename or create inside it survives a power loss.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    files::sync_dir(dir).map_err(|e| StoreError::Io {
        action: e.action.to_string(),
        path: e.path,
        source: e.source,
    })
}

/// Create `dir` (and parents) and make its entry durable in its parent.
pub(crate) fn create_dir_durable(dir: &Path) -> Result<(), StoreError> {
    if dir.is_dir() {
        return Ok(());
    }
    fs::create_dir_all(dir).map_err(|e| StoreError::io("create directory", dir, e))?;
    if let Some(parent) = dir.parent() {
        sync_dir(parent)?;
    }
    Ok(())
}

/// The id and size of the object file at `path`, streamed; `None` if it does not exist.
pub(crate) fn hash_file(path: &Path) -> Result<Option<(ArtifactId, u64)>, StoreError> {
    files::hash_file(path).map_err(|e| StoreError::io("read object", path, e))
}

/// The store's exclusive process lock (`root/lock`), held for the life of the value.
///
/// flock locks belong to the open file description, so a second `open` of the same
/// store in the same process contends exactly like another process would.
#[derive(Debug)]
pub(crate) struct ProcessLock {
    file: File,
}

impl ProcessLock {
    /// Take the lock at `path`, waiting up to `timeout`. While waiting, prints once to
    /// stderr who holds it (the holder writes its pid into the lock file).
    pub(crate) fn acquire(path: &Path, timeout: Duration) -> Result<ProcessLock, StoreError> {
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(|e| StoreError::io("open lock file", path, e))?;
        let start = Instant::now();
        let mut announced = false;
        let mut pause = Duration::from_millis(10);
        loop {
            match file.try_lock_exclusive() {
                Ok(()) => break,
                Err(e) if is_contended(&e) => {
                    let waited = start.elapsed();
                    if waited >= timeout {
                        return Err(StoreError::Locked {
                            path: path.to_path_buf(),
                            waited,
                        });
                    }
                    if !announced {
                        announced = true;
                        eprintln!(
                            "waiting for the store lock at {} (held by {})…",
                            path.display(),
                            holder_of(path)
                        );
                    }
                    std::thread::sleep(pause.min(timeout - waited));
                    pause = (pause * 2).min(Duration::from_millis(200));
                }
                Err(e) => return Err(StoreError::io("lock", path, e)),
            }
        }
        // Record our pid for the next waiter's message. Not fsynced: it is advisory only.
        let pid = std::process::id().to_string();
        let written = file
            .set_len(0)
            .and_then(|_| file.seek(SeekFrom::Start(0)))
            .and_then(|_| file.write_all(pid.as_bytes()));
        if let Err(e) = written {
            return Err(StoreError::io("write pid into lock file", path, e));
        }
        Ok(ProcessLock { file })
    }
}

impl Drop for ProcessLock {
    fn drop(&mut self) {
        // Closing the file releases the flock anyway; unlocking first is just explicit.
        let _ = FileExt::unlock(&self.file);
    }
}

fn is_contended(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::WouldBlock
        || e.raw_os_error() == fs2::lock_contended_error().raw_os_error()
}

/// "pid N" from the lock file, or "another process" if it cannot be read.
fn holder_of(path: &Path) -> String {
    match fs::read_to_string(path) {
        Ok(s) if s.trim().parse::<u32>().is_ok() => format!("pid {}", s.trim()),
        _ => "another process".to_string(),
    }
}

/// Move `from` into directory `dir` under `name`, adding `.1`, `.2`, ... if taken.
pub(crate) fn move_aside(from: &Path, dir: &Path, name: &str) -> Result<PathBuf, StoreError> {
    create_dir_durable(dir)?;
    let mut target = dir.join(name);
    let mut n = 0u32;
    while target.exists() {
        n += 1;
        target = dir.join(format!("{name}.{n}"));
    }
    fs::rename(from, &target).map_err(|e| StoreError::io("move corrupt object to", &target, e))?;
    sync_dir(dir)?;
    if let Some(parent) = from.parent() {
        sync_dir(parent)?;
    }
    Ok(target)
}
