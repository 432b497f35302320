//! The store's file locks (std's `File::lock` family: `flock` on Unix).
//!
//! flock locks belong to the open file description, so a second open of the same
//! store in the same process contends exactly like another process would; the tests
//! rely on that.

use crate::StoreError;
use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{self, Seek, SeekFrom, Write};
use std::path::Path;
use std::time::{Duration, Instant};

/// Why [`wait_for_lock`] did not get the lock.
#[derive(Debug)]
pub(crate) enum LockFailure {
    /// Someone else held it for the whole timeout.
    TimedOut { waited: Duration },
    /// The lock call itself failed.
    Io(io::Error),
}

/// Retry `try_lock` (e.g. `|| file.try_lock_shared()`) with backoff until it succeeds or
/// `timeout` passes. `announce` runs once, the first time the lock is found held, so a
/// waiting process can say why it waits.
pub(crate) fn wait_for_lock(
    timeout: Duration,
    announce: impl FnOnce(),
    mut try_lock: impl FnMut() -> Result<(), TryLockError>,
) -> Result<(), LockFailure> {
    let start = Instant::now();
    let mut announce = Some(announce);
    let mut pause = Duration::from_millis(10);
    loop {
        match try_lock() {
            Ok(()) => return Ok(()),
            Err(TryLockError::WouldBlock) => {
                let waited = start.elapsed();
                if waited >= timeout {
                    return Err(LockFailure::TimedOut { waited });
                }
                if let Some(announce) = announce.take() {
                    announce();
                }
                std::thread::sleep(pause.min(timeout - waited));
                pause = (pause * 2).min(Duration::from_millis(200));
            }
            Err(TryLockError::Error(e)) => return Err(LockFailure::Io(e)),
        }
    }
}

/// Open (creating) a lock file for reading and writing.
pub(crate) fn open_lock_file(path: &Path) -> Result<File, StoreError> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(|e| StoreError::io("open lock file", path, e))
}

/// The store's exclusive writer lock (`root/lock`), held for the life of the value.
#[derive(Debug)]
pub(crate) struct ProcessLock {
    file: File,
}

impl ProcessLock {
    /// Take the lock at `path`, waiting up to `timeout`. While waiting, prints once to
    /// stderr who holds it (the holder writes its pid into the lock file).
    pub(crate) fn acquire(path: &Path, timeout: Duration) -> Result<ProcessLock, StoreError> {
        let mut file = open_lock_file(path)?;
        let announce = || {
            eprintln!(
                "waiting for the store lock at {} (held by {})…",
                path.display(),
                holder_of(path)
            )
        };
        match wait_for_lock(timeout, announce, || file.try_lock()) {
            Ok(()) => {}
            Err(LockFailure::TimedOut { waited }) => {
                return Err(StoreError::Locked {
                    path: path.to_path_buf(),
                    waited,
                })
            }
            Err(LockFailure::Io(e)) => return Err(StoreError::io("lock", path, e)),
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
        let _ = self.file.unlock();
    }
}

/// "pid N" from the lock file, or "another process" if it cannot be read.
pub(crate) fn holder_of(path: &Path) -> String {
    match fs::read_to_string(path) {
        Ok(s) if s.trim().parse::<u32>().is_ok() => format!("pid {}", s.trim()),
        _ => "another process".to_string(),
    }
}
