//! The store's file locks (std's `File::lock` family: `flock` on Unix).
//!
//! flock locks belong to the open file description, so a second open of the same
//! store in the same process contends exactly like another process would; the tests
//! rely on that.

use crate::StoreError;
use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{self, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
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

/// `root/readers.lock`: read-only handles hold it shared for their whole life; `gc`
/// and `verify` take it exclusively while they delete or move objects, so no reader
/// sees an object vanish under it. A run (which only adds) never takes it.
#[derive(Debug)]
pub(crate) struct ReadersLock {
    file: File,
    path: PathBuf,
}

impl ReadersLock {
    /// Open (creating) the lock file without locking it. On a read-only file system an
    /// existing lock file is opened for reading only (flock does not need write access).
    pub(crate) fn open(path: &Path) -> Result<ReadersLock, StoreError> {
        let file = match open_lock_file(path) {
            Ok(f) => f,
            Err(e) => File::open(path).map_err(|_| e)?,
        };
        Ok(ReadersLock {
            file,
            path: path.to_path_buf(),
        })
    }

    /// For a read-only handle: hold the lock shared, waiting up to `timeout` while a
    /// `gc` or `verify` (the holder of `writer_lock`) deletes objects.
    pub(crate) fn hold_shared(
        self,
        timeout: Duration,
        writer_lock: &Path,
    ) -> Result<ReadersLock, StoreError> {
        let announce = || {
            eprintln!(
                "waiting for alsflow gc/verify ({}) to finish with the store at {}…",
                holder_of(writer_lock),
                self.path.parent().unwrap_or(&self.path).display()
            )
        };
        match wait_for_lock(timeout, announce, || self.file.try_lock_shared()) {
            Ok(()) => Ok(self),
            Err(LockFailure::TimedOut { waited }) => Err(StoreError::Locked {
                path: self.path.clone(),
                waited,
            }),
            Err(LockFailure::Io(e)) => Err(StoreError::io("lock", &self.path, e)),
        }
    }

    /// For the writer's `gc` and `verify`: take the lock exclusively until the guard
    /// drops, waiting up to `timeout` for read-only handles to close. `action` says
    /// what needs them gone, in the waiting line and the error.
    pub(crate) fn exclude_readers(
        &self,
        action: &str,
        timeout: Duration,
    ) -> Result<ReadersExcluded<'_>, StoreError> {
        let announce = || {
            eprintln!(
                "waiting for read-only users of the store at {} (alsflow status, a model \
                 server) to close before we {action}…",
                self.path.parent().unwrap_or(&self.path).display()
            )
        };
        match wait_for_lock(timeout, announce, || self.file.try_lock()) {
            Ok(()) => Ok(ReadersExcluded { file: &self.file }),
            Err(LockFailure::TimedOut { waited }) => Err(StoreError::ReadersActive {
                action: action.to_string(),
                path: self.path.clone(),
                waited,
            }),
            Err(LockFailure::Io(e)) => Err(StoreError::io("lock", &self.path, e)),
        }
    }
}

impl Drop for ReadersLock {
    fn drop(&mut self) {
        // Closing the file releases the flock anyway; unlocking first is just explicit.
        let _ = self.file.unlock();
    }
}

/// Readers are kept out while this lives (see [`ReadersLock::exclude_readers`]).
#[must_use]
pub(crate) struct ReadersExcluded<'a> {
    file: &'a File,
}

impl Drop for ReadersExcluded<'_> {
    fn drop(&mut self) {
        let _ = self.file.unlock();
    }
}
