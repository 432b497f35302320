//! File helpers every crate shares: atomic writes and streaming hashes.
//!
//! [`write_atomic`] is the workspace's one way to write a user-visible file
//! (`export`, `recommend --all`, reports, downloads): a temp file created in the
//! target's own directory (so the final rename never crosses file systems), written,
//! fsynced, then renamed over the target and the directory fsynced. A failed or killed
//! writer leaves the target as it was; the temp file is removed on failure (a SIGKILL
//! can leave one `.<name>.<random>.tmp` behind, never a half-written target). The
//! rename replaces a symlink at the target path rather than writing through it.

use crate::ArtifactId;
use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

/// Buffer size of streaming reads (large enough to amortise system calls).
pub const CHUNK: usize = 1 << 20;

/// A file could not be written or read; names the path and the action.
#[derive(Debug, thiserror::Error)]
#[error("cannot {action} {}: {cause}", path.display())]
pub struct FileError {
    /// What was being done (`write`, `create a temp file beside`, ...).
    pub action: &'static str,
    /// The file or directory.
    pub path: PathBuf,
    /// The OS error (formatted into the message, so not a `source()`).
    pub cause: io::Error,
}

impl FileError {
    fn new(action: &'static str, path: &Path, cause: io::Error) -> Self {
        FileError {
            action,
            path: path.to_path_buf(),
            cause,
        }
    }
}

/// Write `bytes` to `path` atomically (see the module docs).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), FileError> {
    write_atomic_with(path, |w| w.write_all(bytes))
}

/// Write `path` atomically through `fill`, which streams the content into a buffered
/// writer (for outputs too large to hold in memory). If `fill` fails, the target is
/// untouched and the temp file removed.
pub fn write_atomic_with(
    path: &Path,
    fill: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> Result<(), FileError> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "out".into());
    let tmp = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".tmp")
        .tempfile_in(&dir)
        .map_err(|e| FileError::new("create a temp file in", &dir, e))?;
    let mut w = io::BufWriter::with_capacity(CHUNK, tmp);
    fill(&mut w).map_err(|e| FileError::new("write", path, e))?;
    let tmp = w
        .into_inner()
        .map_err(|e| FileError::new("write", path, e.into_error()))?;
    tmp.as_file()
        .sync_all()
        .map_err(|e| FileError::new("fsync a temp file for", path, e))?;
    tmp.persist(path)
        .map_err(|e| FileError::new("rename a temp file to", path, e.error))?;
    sync_dir(&dir)
}

/// fsync a directory so that a rename or create inside it survives a power loss.
/// A no-op where directories cannot be opened (non-Unix).
pub fn sync_dir(dir: &Path) -> Result<(), FileError> {
    #[cfg(unix)]
    {
        let f = File::open(dir).map_err(|e| FileError::new("open directory", dir, e))?;
        f.sync_all()
            .map_err(|e| FileError::new("fsync directory", dir, e))?;
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// blake3 over everything `reader` yields, streamed in [`CHUNK`]s; also calls
/// `also` with every chunk (a second hash, a copy). Returns the id and the size.
pub fn hash_reader(
    mut reader: impl Read,
    mut also: impl FnMut(&[u8]) -> io::Result<()>,
) -> io::Result<(ArtifactId, u64)> {
    let mut hasher = blake3::Hasher::new();
    let mut buf = vec![0u8; CHUNK];
    let mut size = 0u64;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        hasher.update(&buf[..n]);
        also(&buf[..n])?;
        size += n as u64;
    }
    Ok((ArtifactId(*hasher.finalize().as_bytes()), size))
}

/// The id and size of the file at `path`, streamed; `Ok(None)` if it does not exist.
pub fn hash_file(path: &Path) -> io::Result<Option<(ArtifactId, u64)>> {
    let f = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    hash_reader(f, |_| Ok(())).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_replaces_whole_and_leaves_no_temp_on_failure() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("out.csv");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        let e = write_atomic_with(&p, |w| {
            w.write_all(b"partial")?;
            Err(io::Error::other("disk full"))
        })
        .unwrap_err();
        assert!(e.to_string().contains("out.csv"), "{e}");
        assert_eq!(std::fs::read(&p).unwrap(), b"two", "target untouched");
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().flatten().collect();
        assert_eq!(names.len(), 1, "no temp file left behind");
    }

    #[cfg(unix)]
    #[test]
    fn atomic_write_replaces_a_symlink_instead_of_following_it() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, b"keep").unwrap();
        let link = dir.path().join("out");
        std::os::unix::fs::symlink(&victim, &link).unwrap();
        write_atomic(&link, b"new").unwrap();
        assert_eq!(std::fs::read(&victim).unwrap(), b"keep");
        assert_eq!(std::fs::read(&link).unwrap(), b"new");
        assert!(!std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
    }

    #[test]
    fn hashes_match_the_one_shot_id() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        let bytes: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(&p, &bytes).unwrap();
        assert_eq!(
            hash_file(&p).unwrap(),
            Some((ArtifactId::of(&bytes), bytes.len() as u64))
        );
        assert_eq!(hash_file(&dir.path().join("none")).unwrap(), None);
    }
}
