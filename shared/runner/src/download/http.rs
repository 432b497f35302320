//! One HTTP download into a `.part` file: resumed with `Range` (guarded by `If-Range`
//! with the validator of the first response) after a cut connection, bounded by a
//! size cap, with an idle-read timeout instead of a whole-body one, hashed (sha256)
//! as it streams, and shown as a progress bar (bytes, rate, ETA) on a terminal.

use sha2::{Digest, Sha256};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How a download behaves.
#[derive(Clone, Debug)]
pub struct HttpOptions {
    /// Give up on a connection that sends nothing for this long.
    pub idle_timeout: Duration,
    /// Requests per download: a body cut short is resumed until this many were made.
    pub attempts: u32,
    /// Pause before resuming a cut download (doubled each time).
    pub retry_pause: Duration,
    /// Show a progress bar (bytes, rate, ETA) on stderr.
    pub progress: bool,
    /// Refuse plain-http redirects (set when no checksum vouches for the bytes).
    pub https_only: bool,
}

impl Default for HttpOptions {
    fn default() -> Self {
        HttpOptions {
            idle_timeout: Duration::from_secs(60),
            attempts: 4,
            retry_pause: Duration::from_secs(1),
            progress: false,
            https_only: false,
        }
    }
}

/// Why a download failed.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// The server could not be reached or the transfer broke off (worth retrying later:
    /// an interrupted body stays in its `.part` file and the next attempt resumes it).
    #[error("{0}")]
    Network(String),
    /// The server answered with an error status (404, 500, …).
    #[error("the server answered {code} {text}")]
    Status {
        /// The HTTP status code.
        code: u16,
        /// Its reason phrase.
        text: String,
    },
    /// The download is larger than the cap.
    #[error(
        "the download is larger than max_download_bytes = {limit}{}; raise max_download_bytes \
         in the dataset's table if that is expected",
        size.map(|s| format!(" ({s} bytes)")).unwrap_or_default()
    )]
    TooLarge {
        /// The cap.
        limit: u64,
        /// The size the server announced, when it did.
        size: Option<u64>,
    },
    /// Writing the `.part` file failed.
    #[error("cannot write {}: {cause}", path.display())]
    Write {
        /// The `.part` file.
        path: PathBuf,
        /// The OS error.
        cause: io::Error,
    },
}

/// A finished download.
#[derive(Clone, Debug)]
pub struct Downloaded {
    /// Its size in bytes.
    pub size: u64,
    /// Its sha256 (lowercase hex).
    pub sha256: String,
    /// Bytes that were already in the `.part` file from an earlier, interrupted attempt.
    pub resumed_from: u64,
}

/// Download `url` into `part`, resuming the bytes it already holds when `validator`
/// (a side file holding the first response's ETag or Last-Modified) allows; `label`
/// names the download in the progress bar. On success `part` holds the whole body; on
/// a network error it keeps what arrived; on any other error both files are removed.
pub fn download_to_part(
    url: &str,
    part: &Path,
    validator: &Path,
    max_bytes: u64,
    opts: &HttpOptions,
    label: &str,
) -> Result<Downloaded, HttpError> {
    let result = download_attempts(url, part, validator, max_bytes, opts, label);
    if let Err(e) = &result {
        if !matches!(e, HttpError::Network(_)) {
            let _ = fs::remove_file(part);
            let _ = fs::remove_file(validator);
        }
    }
    result
}

fn download_attempts(
    url: &str,
    part: &Path,
    validator: &Path,
    max_bytes: u64,
    opts: &HttpOptions,
    label: &str,
) -> Result<Downloaded, HttpError> {
    let agent = agent(url, opts);
    let write_err = |cause| HttpError::Write {
        path: part.to_path_buf(),
        cause,
    };
    let mut pause = opts.retry_pause;
    let mut attempt = 0;
    loop {
        attempt += 1;
        let held = fs::metadata(part).map(|m| m.len()).unwrap_or(0);
        let tag = fs::read_to_string(validator).ok().filter(|t| !t.is_empty());
        // Without a validator a resumed body could belong to a newer file: start over.
        let resume_from = if tag.is_some() { held } else { 0 };
        let mut req = agent.get(url);
        if resume_from > 0 {
            req = req.set("Range", &format!("bytes={resume_from}-"));
            if let Some(t) = &tag {
                req = req.set("If-Range", t);
            }
        }
        let resp = match req.call() {
            Ok(r) => r,
            Err(ureq::Error::Status(416, _)) if resume_from > 0 => {
                // The held bytes do not fit the file any more: start over.
                truncate(part).map_err(write_err)?;
                continue;
            }
            Err(ureq::Error::Status(code, r)) => {
                return Err(HttpError::Status {
                    code,
                    text: r.status_text().to_string(),
                })
            }
            Err(ureq::Error::Transport(t)) => {
                // ureq puts the URL first; the caller names it already.
                let text = t.to_string();
                let text = text.strip_prefix(&format!("{url}: ")).unwrap_or(&text);
                return Err(HttpError::Network(text.to_string()));
            }
        };
        let (start, total) = match resp.status() {
            206 => match content_range(resp.header("Content-Range")) {
                Some((start, total)) if start == resume_from => (start, total),
                // A range we did not ask for: take the whole file instead.
                _ => {
                    truncate(part).map_err(write_err)?;
                    continue;
                }
            },
            200 => {
                truncate(part).map_err(write_err)?;
                let tag = resp.header("ETag").or_else(|| resp.header("Last-Modified"));
                fs::write(validator, tag.unwrap_or_default()).map_err(write_err)?;
                let len = resp.header("Content-Length").and_then(|v| v.parse().ok());
                (0, len)
            }
            other => {
                return Err(HttpError::Status {
                    code: other,
                    text: resp.status_text().to_string(),
                })
            }
        };
        if let Some(total) = total.filter(|&t| t > max_bytes) {
            return Err(HttpError::TooLarge {
                limit: max_bytes,
                size: Some(total),
            });
        }
        let mut hasher = Sha256::new();
        if start > 0 {
            hash_prefix(part, start, &mut hasher).map_err(write_err)?;
        }
        let mut out = OpenOptions::new()
            .append(true)
            .create(true)
            .open(part)
            .map_err(write_err)?;
        let bar = Bar::new(opts.progress, label, total, start);
        let streamed = stream(
            resp.into_reader(),
            &mut out,
            &mut hasher,
            start,
            max_bytes,
            &bar,
        );
        out.sync_all().map_err(write_err)?;
        bar.finish();
        match streamed {
            Ok(size) => {
                if let Some(t) = total.filter(|&t| t != size) {
                    return Err(HttpError::Network(format!(
                        "the body has {size} bytes, the server announced {t}"
                    )));
                }
                return Ok(Downloaded {
                    size,
                    sha256: alsflow_core::hex::encode(&hasher.finalize()),
                    resumed_from: start,
                });
            }
            Err(StreamError::TooLarge) => {
                return Err(HttpError::TooLarge {
                    limit: max_bytes,
                    size: total,
                })
            }
            Err(StreamError::Write(e)) => return Err(write_err(e)),
            Err(StreamError::Read { got, cause }) => {
                if attempt >= opts.attempts {
                    return Err(HttpError::Network(format!(
                        "the transfer broke off after {got} of {} bytes ({cause}); {} bytes are \
                         kept in {} and the next attempt resumes them",
                        total.map_or("?".to_string(), |t| t.to_string()),
                        fs::metadata(part).map(|m| m.len()).unwrap_or(0),
                        part.display()
                    )));
                }
                tracing::warn!(
                    "{label}: the transfer broke off after {got} bytes ({cause}); resuming"
                );
                std::thread::sleep(pause);
                pause *= 2;
            }
        }
    }
}

/// The HTTP client: an idle-read timeout rather than a whole-body one; proxies from
/// the environment except for loopback addresses (which a proxy cannot reach).
fn agent(url: &str, opts: &HttpOptions) -> ureq::Agent {
    ureq::AgentBuilder::new()
        .timeout_connect(Duration::from_secs(30))
        .timeout_read(opts.idle_timeout)
        .timeout_write(Duration::from_secs(30))
        .redirects(8)
        .https_only(opts.https_only)
        .try_proxy_from_env(!is_loopback_url(url))
        .user_agent(concat!("alsflow/", env!("CARGO_PKG_VERSION")))
        .build()
}

/// Whether `url` names this machine (`localhost`, 127.0.0.0/8, `::1`).
pub fn is_loopback_url(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host_port = authority.rsplit('@').next().unwrap_or(authority);
    let host = if let Some(v6) = host_port.strip_prefix('[') {
        v6.split(']').next().unwrap_or("")
    } else {
        host_port.split(':').next().unwrap_or("")
    };
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// `Content-Range: bytes START-END/TOTAL` → (START, TOTAL if known).
fn content_range(value: Option<&str>) -> Option<(u64, Option<u64>)> {
    let spec = value?.trim().strip_prefix("bytes ")?;
    let (range, total) = spec.split_once('/')?;
    let start = range.split_once('-')?.0.trim().parse().ok()?;
    Some((start, total.trim().parse().ok()))
}

/// Empty the `.part` file (a fresh download starts).
fn truncate(part: &Path) -> io::Result<()> {
    File::create(part).map(drop)
}

/// Feed the first `len` bytes of `part` into `hasher` (the bytes of earlier attempts).
fn hash_prefix(part: &Path, len: u64, hasher: &mut Sha256) -> io::Result<()> {
    let mut f = File::open(part)?.take(len);
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        hasher.update(&buf[..n]);
    }
}

enum StreamError {
    Read { got: u64, cause: io::Error },
    Write(io::Error),
    TooLarge,
}

/// Copy the body into `out` (which already holds `start` bytes); returns the total size.
fn stream(
    mut body: impl Read,
    out: &mut File,
    hasher: &mut Sha256,
    start: u64,
    max_bytes: u64,
    bar: &Bar,
) -> Result<u64, StreamError> {
    let mut buf = vec![0u8; 1 << 16];
    let mut size = start;
    loop {
        let n = match body.read(&mut buf) {
            Ok(0) => return Ok(size),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(cause) => return Err(StreamError::Read { got: size, cause }),
        };
        size += n as u64;
        if size > max_bytes {
            return Err(StreamError::TooLarge);
        }
        hasher.update(&buf[..n]);
        out.write_all(&buf[..n]).map_err(StreamError::Write)?;
        bar.set(size);
    }
}

/// The progress bar of one download (hidden off a terminal).
struct Bar {
    bar: Option<indicatif::ProgressBar>,
    started: Instant,
}

impl Bar {
    fn new(show: bool, label: &str, total: Option<u64>, start: u64) -> Bar {
        let bar = show.then(|| {
            let mp = crate::engine::PROGRESS.get_or_init(indicatif::MultiProgress::new);
            let bar = mp.add(match total {
                Some(t) => indicatif::ProgressBar::new(t),
                None => indicatif::ProgressBar::no_length(),
            });
            let template = if total.is_some() {
                "{msg} {bytes}/{total_bytes} {binary_bytes_per_sec} ETA {eta} {wide_bar}"
            } else {
                "{msg} {bytes} {binary_bytes_per_sec}"
            };
            if let Ok(style) = indicatif::ProgressStyle::with_template(template) {
                bar.set_style(style);
            }
            bar.set_message(format!("downloading {label}"));
            bar.set_position(start);
            bar
        });
        Bar {
            bar,
            started: Instant::now(),
        }
    }

    fn set(&self, pos: u64) {
        if let Some(b) = &self.bar {
            b.set_position(pos);
        }
    }

    fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
        tracing::debug!("download ran {:.1} s", self.started.elapsed().as_secs_f64());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_urls_and_content_ranges_parse() {
        assert!(is_loopback_url("http://127.0.0.1:8080/x"));
        assert!(is_loopback_url("http://localhost/x"));
        assert!(is_loopback_url("http://[::1]:9/x"));
        assert!(!is_loopback_url("http://example.org/x"));
        assert!(!is_loopback_url("http://127.0.0.1.example.org/x"));
        assert_eq!(
            content_range(Some("bytes 10-99/100")),
            Some((10, Some(100)))
        );
        assert_eq!(content_range(Some("bytes 10-99/*")), Some((10, None)));
        assert_eq!(content_range(Some("items 1-2/3")), None);
    }
}
