//! Raw data files: make sure each configured source exists, downloading it when a
//! `url` is given (verified against `sha256`, written temp → rename).

use crate::config::{ConfigError, SourceSpec};
use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::Path;

/// Make sure `src` exists locally: present already, or downloaded from its URL.
///
/// A missing file without a URL, or a failing download, is
/// [`ConfigError::DataMissing`] naming the path and the data home.
pub fn ensure_source(src: &SourceSpec, data_home: &Path, dataset: &str) -> Result<(), ConfigError> {
    if src.path.is_file() {
        return Ok(());
    }
    let missing = |why: String| {
        ConfigError::DataMissing(format!(
            "dataset \"{dataset}\": data file {} not found (data home {}; set --data DIR or $ALSFLOW_DATA){why}",
            src.path.display(),
            data_home.display()
        ))
    };
    let Some(url) = &src.url else {
        return Err(missing(
            ", and no 'url' is configured to download it".into(),
        ));
    };
    tracing::info!(dataset, url = %url, path = %src.path.display(), "downloading");
    download(url, &src.path, src.sha256.as_deref())
        .map_err(|e| missing(format!("; download from {url} failed: {e}")))
}

/// Why a download failed.
#[derive(Debug, thiserror::Error)]
pub enum DownloadError {
    /// The request failed (connection, HTTP status).
    #[error("{0}")]
    Http(String),
    /// Reading the response body failed.
    #[error("read error: {0}")]
    Read(std::io::Error),
    /// The downloaded bytes do not have the configured sha256.
    #[error("sha256 mismatch: expected {expected}, got {actual}")]
    Checksum {
        /// The configured sha256.
        expected: String,
        /// The downloaded file's sha256.
        actual: String,
    },
    /// The file could not be written.
    #[error(transparent)]
    File(#[from] alsflow_core::files::FileError),
    /// The destination directory could not be created.
    #[error("cannot create {}: {cause}", path.display())]
    Dir {
        /// The directory.
        path: std::path::PathBuf,
        /// The OS error (formatted into the message, so not a `source()`).
        cause: std::io::Error,
    },
}

/// Download `url` into `dest` (atomically: a failed download leaves nothing), checking
/// `sha256` (hex) when given.
pub fn download(url: &str, dest: &Path, sha256: Option<&str>) -> Result<(), DownloadError> {
    let resp = ureq::get(url)
        .timeout(std::time::Duration::from_secs(600))
        .call()
        .map_err(|e| DownloadError::Http(e.to_string()))?;
    if let Some(parent) = dest.parent() {
        std::fs::create_dir_all(parent).map_err(|cause| DownloadError::Dir {
            path: parent.to_path_buf(),
            cause,
        })?;
    }
    // Errors found inside the writer abort it (nothing is published) and are kept here.
    let mut failure: Option<DownloadError> = None;
    let written = alsflow_core::files::write_atomic_with(dest, |out| {
        let mut reader = resp.into_reader();
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let n = match reader.read(&mut buf) {
                Ok(n) => n,
                Err(e) => {
                    let abort = std::io::Error::new(e.kind(), e.to_string());
                    failure = Some(DownloadError::Read(e));
                    return Err(abort);
                }
            };
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            out.write_all(&buf[..n])?;
        }
        let actual = alsflow_core::hex::encode(&hasher.finalize());
        match sha256 {
            Some(want) if !actual.eq_ignore_ascii_case(want) => {
                failure = Some(DownloadError::Checksum {
                    expected: want.to_string(),
                    actual,
                });
                Err(std::io::Error::other("checksum mismatch"))
            }
            _ => Ok(()),
        }
    });
    match (written, failure) {
        (_, Some(f)) => Err(f),
        (Err(e), None) => Err(DownloadError::File(e)),
        (Ok(()), None) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, Write};
    use std::net::TcpListener;

    /// Serve `body` to every request on a loopback port; returns the base URL.
    fn serve(body: &'static [u8]) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let addr = listener.local_addr().expect("addr");
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut s) = stream else { continue };
                let mut reader = std::io::BufReader::new(s.try_clone().expect("clone"));
                let mut line = String::new();
                let mut path = String::new();
                while reader.read_line(&mut line).map(|n| n > 0).unwrap_or(false) {
                    if path.is_empty() {
                        path = line.split_whitespace().nth(1).unwrap_or("").to_string();
                    }
                    if line == "\r\n" {
                        break;
                    }
                    line.clear();
                }
                let resp = if path == "/data.csv" {
                    let mut r = format!(
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                        body.len()
                    )
                    .into_bytes();
                    r.extend_from_slice(body);
                    r
                } else {
                    b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                        .to_vec()
                };
                let _ = s.write_all(&resp);
            }
        });
        format!("http://{addr}")
    }

    fn sha(b: &[u8]) -> String {
        alsflow_core::hex::encode(&Sha256::digest(b))
    }

    const BODY: &[u8] = b"user,item,value\n1,2,3\n";

    #[test]
    fn downloads_and_verifies_into_the_data_home() {
        let base = serve(BODY);
        let home = tempfile::tempdir().expect("tempdir");
        let src = SourceSpec {
            configured: "sub/data.csv".into(),
            path: home.path().join("sub/data.csv"),
            url: Some(format!("{base}/data.csv")),
            sha256: Some(sha(BODY)),
        };
        ensure_source(&src, home.path(), "d").expect("download");
        assert_eq!(std::fs::read(&src.path).expect("read"), BODY);
        // No temp file left behind.
        let names: Vec<_> = std::fs::read_dir(home.path().join("sub"))
            .expect("dir")
            .collect();
        assert_eq!(names.len(), 1);
    }

    #[test]
    fn wrong_checksum_leaves_no_file_and_names_the_path() {
        let base = serve(BODY);
        let home = tempfile::tempdir().expect("tempdir");
        let src = SourceSpec {
            configured: "data.csv".into(),
            path: home.path().join("data.csv"),
            url: Some(format!("{base}/data.csv")),
            sha256: Some("00".repeat(32)),
        };
        let err = ensure_source(&src, home.path(), "d").expect_err("checksum must fail");
        assert!(matches!(err, ConfigError::DataMissing(_)));
        let msg = err.to_string();
        assert!(
            msg.contains("sha256 mismatch") && msg.contains("data.csv"),
            "{msg}"
        );
        assert!(!src.path.exists());
        assert_eq!(std::fs::read_dir(home.path()).expect("dir").count(), 0);
    }

    #[test]
    fn missing_file_without_url_is_data_missing() {
        let home = tempfile::tempdir().expect("tempdir");
        let src = SourceSpec {
            configured: "nope.csv".into(),
            path: home.path().join("nope.csv"),
            url: None,
            sha256: None,
        };
        let err = ensure_source(&src, home.path(), "d").expect_err("missing");
        assert!(matches!(err, ConfigError::DataMissing(_)));
        assert!(err.to_string().contains("nope.csv"));
        // A 404 is a failed download, also DataMissing.
        let base = serve(BODY);
        let src = SourceSpec {
            url: Some(format!("{base}/missing")),
            ..src
        };
        let err = ensure_source(&src, home.path(), "d").expect_err("404");
        assert!(matches!(err, ConfigError::DataMissing(_)), "{err}");
    }
}
