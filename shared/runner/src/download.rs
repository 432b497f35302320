//! Raw data files: make sure each configured source exists, downloading it when a
//! `url` is given (verified against `sha256`, written temp → rename).

use crate::config::{ConfigError, SourceSpec};
use sha2::{Digest, Sha256};
use std::io::{Read, Write};
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

/// Download `url` into `dest`, checking `sha256` (hex) when given.
pub fn download(url: &str, dest: &Path, sha256: Option<&str>) -> Result<(), String> {
    let resp = ureq::get(url)
        .timeout(std::time::Duration::from_secs(600))
        .call()
        .map_err(|e| e.to_string())?;
    if let Some(parent) = dest.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
    }
    let file_name = dest
        .file_name()
        .map(|f| f.to_string_lossy().to_string())
        .unwrap_or_else(|| "download".into());
    let tmp = dest.with_file_name(format!(".{file_name}.{}.part", std::process::id()));
    let result = (|| {
        let mut out = std::fs::File::create(&tmp)
            .map_err(|e| format!("cannot create {}: {e}", tmp.display()))?;
        let mut reader = resp.into_reader();
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let n = reader
                .read(&mut buf)
                .map_err(|e| format!("read error: {e}"))?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            out.write_all(&buf[..n])
                .map_err(|e| format!("cannot write {}: {e}", tmp.display()))?;
        }
        out.sync_all()
            .map_err(|e| format!("cannot sync {}: {e}", tmp.display()))?;
        let got: String = hasher
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        if let Some(want) = sha256 {
            if !got.eq_ignore_ascii_case(want) {
                return Err(format!("sha256 mismatch: expected {want}, got {got}"));
            }
        }
        std::fs::rename(&tmp, dest)
            .map_err(|e| format!("cannot rename {} to {}: {e}", tmp.display(), dest.display()))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::BufRead;
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
        Sha256::digest(b)
            .iter()
            .map(|x| format!("{x:02x}"))
            .collect()
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
