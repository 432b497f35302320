//! What keeps downloads safe on disk: the data-home rule (a download may only write
//! inside the data home) and the per-file locks that let one process at a time
//! download a file while others wait for it.

use std::fs::{self, File, OpenOptions, TryLockError};
use std::io;
use std::path::{Component, Path, PathBuf};

/// `path` made absolute against the working directory, with `.` and `..` resolved
/// lexically (no symlinks followed).
pub(crate) fn lexical_absolute(path: &Path) -> io::Result<PathBuf> {
    let abs = std::path::absolute(path)?;
    let mut out = PathBuf::new();
    for c in abs.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    Ok(out)
}

/// Check that a download's destination `target` lies inside the data home `home`,
/// both as written (`..` components resolved) and on disk (through symlinked folders).
/// Creates the data home if it does not exist. `Err` says why the target is refused.
pub(crate) fn inside_data_home(home: &Path, target: &Path) -> Result<(), String> {
    fs::create_dir_all(home)
        .map_err(|e| format!("cannot create the data home {}: {e}", home.display()))?;
    let home_lex = lexical_absolute(home).map_err(|e| e.to_string())?;
    let home_real = home
        .canonicalize()
        .map_err(|e| format!("cannot resolve the data home {}: {e}", home.display()))?;
    let target_lex = lexical_absolute(target).map_err(|e| e.to_string())?;
    let outside = || {
        format!(
            "the download target {} is outside the data home {} (a file already present may \
             live anywhere; a download may only write inside the data home)",
            target.display(),
            home.display()
        )
    };
    if target_lex == home_lex || !target_lex.starts_with(&home_lex) {
        return Err(outside());
    }
    // The deepest folder that exists must resolve inside the home too: a symlinked
    // folder could otherwise lead the write elsewhere.
    let mut existing = target_lex.parent().map(Path::to_path_buf);
    while let Some(dir) = existing {
        if dir.exists() {
            let real = dir.canonicalize().map_err(|e| e.to_string())?;
            if !real.starts_with(&home_real) {
                return Err(outside());
            }
            break;
        }
        existing = dir.parent().map(Path::to_path_buf);
    }
    Ok(())
}

/// An exclusive lock on a file path, held while the value lives. Waiters re-check
/// after locking that the path still names the file they locked, so the holder may
/// replace the file (`replace`) or remove it (`remove_on_drop`) without two processes
/// ever holding "the" lock at once.
pub(crate) struct PathLock {
    /// Open for as long as the lock is held (closing it releases the flock).
    _file: File,
    path: PathBuf,
    remove_on_drop: bool,
}

impl PathLock {
    /// Lock `path` (creating it), waiting as long as another process holds it;
    /// `announce` runs once if it has to wait.
    pub(crate) fn acquire(
        path: &Path,
        remove_on_drop: bool,
        announce: impl FnOnce(),
    ) -> io::Result<PathLock> {
        let mut announce = Some(announce);
        loop {
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(path)?;
            match file.try_lock() {
                Ok(()) => {}
                Err(TryLockError::WouldBlock) => {
                    if let Some(a) = announce.take() {
                        a();
                    }
                    file.lock()?;
                }
                Err(TryLockError::Error(e)) => return Err(e),
            }
            if same_file(&file, path) {
                return Ok(PathLock {
                    _file: file,
                    path: path.to_path_buf(),
                    remove_on_drop,
                });
            }
            // The holder removed or replaced the file while we waited: lock the new one.
        }
    }
}

impl Drop for PathLock {
    fn drop(&mut self) {
        if self.remove_on_drop {
            // Removed while still held, so a waiter finds a fresh file (or none).
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// Whether `path` currently names the open `file`.
fn same_file(file: &File, path: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        match (file.metadata(), fs::metadata(path)) {
            (Ok(a), Ok(b)) => a.ino() == b.ino() && a.dev() == b.dev(),
            _ => false,
        }
    }
    #[cfg(not(unix))]
    {
        let _ = (file, path);
        path.exists()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_targets_inside_the_data_home_pass() {
        let dir = tempfile::tempdir().expect("tempdir");
        let home = dir.path().join("home");
        assert!(inside_data_home(&home, &home.join("a/b.csv")).is_ok());
        assert!(home.is_dir(), "the data home is created");
        let e = inside_data_home(&home, &home.join("../outside/x.csv")).unwrap_err();
        assert!(e.contains("outside the data home"), "{e}");
        assert!(inside_data_home(&home, &dir.path().join("x.csv")).is_err());
        assert!(inside_data_home(&home, &home).is_err());
        // A symlinked folder that leads out of the home is refused too.
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(dir.path(), home.join("link")).expect("symlink");
            let e = inside_data_home(&home, &home.join("link/x.csv")).unwrap_err();
            assert!(e.contains("outside the data home"), "{e}");
        }
        assert!(!dir.path().join("outside").exists());
    }

    #[test]
    fn a_path_lock_excludes_a_second_holder_until_dropped_and_survives_removal() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("x.lock");
        let first = PathLock::acquire(&path, true, || {}).expect("lock");
        let (tx, rx) = std::sync::mpsc::channel();
        let p = path.clone();
        let waiter = std::thread::spawn(move || {
            let lock = PathLock::acquire(&p, true, move || tx.send(()).expect("send"));
            lock.map(|l| same_file(&l._file, &p))
        });
        rx.recv()
            .expect("the second holder announces that it waits");
        drop(first);
        assert!(waiter.join().expect("join").expect("second lock"));
        assert!(!path.exists(), "removed on drop");
    }
}
