//! Durable file-system steps: fsync of directories, durable directory creation,
//! quarantine moves.

use crate::StoreError;
use alsflow_core::{files, ArtifactId};
use std::fs;
use std::path::{Path, PathBuf};

/// fsync a directory so that a rename or create inside it survives a power loss.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    files::sync_dir(dir).map_err(|e| StoreError::Io {
        action: e.action.to_string(),
        path: e.path,
        cause: e.cause,
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
