//! Raw data files: make sure each configured source exists in the data home,
//! downloading and unpacking it when it has a `url`.
//!
//! A download runs under a per-file lock (a second run waits for the first, then
//! finds the file there), streams into `<home>/.alsflow-downloads/<name>.part`
//! (resumed with `Range` after a cut connection), is checked against the sha256 the
//! config, the preset or the data lock expects, and is then unpacked into a temp
//! folder in the data home and renamed into place — the data file last, so its
//! presence means the whole download is done. Every failure but a broken-off
//! transfer (which keeps its `.part` file for the next attempt) leaves nothing behind.
//! The first download of a URL records its hashes in the data lock.

pub(crate) mod guard;
pub mod http;
mod unpack;

use crate::config::ConfigError;
use crate::datalock::{gzip_member_name, DataLock, LockedDownload};
use crate::sources::{ArchiveKind, SourceSpec};
use http::{HttpError, HttpOptions};
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The folder under the data home that holds downloads in progress and their locks.
pub const DOWNLOADS_DIR: &str = ".alsflow-downloads";

/// What a download produced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fetched {
    /// The URL.
    pub url: String,
    /// sha256 of the downloaded bytes.
    pub sha256: String,
    /// Size of the download.
    pub size: u64,
    /// Bytes reused from an interrupted earlier attempt.
    pub resumed_from: u64,
    /// The files written into the data home: (member, path, sha256).
    pub files: Vec<(String, PathBuf, String)>,
}

/// Where the download context comes from: the data home, the data lock, the options.
#[derive(Clone, Debug)]
pub struct FetchContext<'a> {
    /// The data home every download must write inside.
    pub data_home: &'a Path,
    /// The data lock to check against and record into (`None`: check the config only).
    pub lock_file: Option<&'a Path>,
    /// The dataset (or preset) being fetched, for messages.
    pub dataset: &'a str,
    /// HTTP behaviour.
    pub http: HttpOptions,
}

/// Make sure `src` exists locally: present already, or downloaded from its URL (and
/// unpacked). On a download, `src` learns the hashes and the member found, so lineage
/// records them. `Ok(None)` when the file was already there.
///
/// Errors: [`ConfigError::DataMissing`] when the file is missing and cannot be
/// downloaded (no URL, no network, an HTTP error); [`ConfigError::Invalid`] for a
/// download that must not happen (outside the data home, plain http without a
/// checksum); [`ConfigError::Download`] for a download that failed its checks
/// (checksum, size cap, archive contents).
pub fn ensure_source(
    src: &mut SourceSpec,
    ctx: &FetchContext,
) -> Result<Option<Fetched>, ConfigError> {
    if src.path.is_file() {
        return Ok(None);
    }
    let dataset = ctx.dataset;
    let missing = |why: String| {
        ConfigError::DataMissing(format!(
            "dataset \"{dataset}\": data file {} not found (data home {}; set --data DIR or \
             $ALSFLOW_DATA){why}",
            src.path.display(),
            ctx.data_home.display()
        ))
    };
    let Some(url) = src.url.clone() else {
        return Err(missing(
            ", and no 'url' is configured to download it".into(),
        ));
    };
    let invalid = |m: String| ConfigError::Invalid(format!("dataset \"{dataset}\": {m}"));
    let checksum_known = src.sha256.is_some() || src.file_sha256().is_some();
    if url.to_ascii_lowercase().starts_with("http://")
        && !checksum_known
        && !http::is_loopback_url(&url)
    {
        return Err(invalid(format!(
            "{url} is plain http:// and no sha256 vouches for what it sends; use an https:// \
             URL or set sha256 (or member_sha256) in the dataset's table"
        )));
    }
    let mut targets = vec![src.path.clone()];
    targets.extend(src.companions.iter().map(|(_, p)| p.clone()));
    for t in &targets {
        guard::inside_data_home(ctx.data_home, t).map_err(&invalid)?;
    }
    let downloads = ctx.data_home.join(DOWNLOADS_DIR);
    let name = download_name(&url);
    let lock_path = downloads.join(format!("{name}.lock"));
    let held = lock_download(&downloads, &lock_path, || {
        eprintln!("{dataset}: waiting for another alsflow downloading {url}…")
    })
    .map_err(|e| invalid(format!("cannot lock {}: {e}", lock_path.display())));
    let result = held.and_then(|_held| {
        if src.path.is_file() {
            // The process we waited for downloaded it.
            return Ok(None);
        }
        clean_leftovers(ctx.data_home);
        tracing::info!(dataset, url = %url, path = %src.path.display(), "downloading");
        fetch_locked(src, &url, &downloads.join(&name), ctx, &missing).map(Some)
    });
    // Nothing but an interrupted download's `.part` may stay: drop the folder if empty.
    let _ = fs::remove_dir(&downloads);
    let fetched = result?;
    if let Some(f) = &fetched {
        src.sha256 = Some(f.sha256.clone());
        if let Some((member, _, sha)) = f.files.first() {
            if src.archive().has_members() {
                src.member = Some(member.clone());
            }
            if src.archive() != ArchiveKind::Plain {
                src.member_sha256 = Some(sha.clone());
            }
        }
        record_in_lock(ctx, f, src.archive());
    }
    Ok(fetched)
}

/// A `.part` file nobody resumed for this long was abandoned (its URL changed, or the
/// dataset was dropped from the config).
const ABANDONED_PART: Duration = Duration::from_secs(7 * 24 * 3600);
/// An unpack folder this old is the debris of a killed run (unpacking takes minutes).
const ABANDONED_UNPACK: Duration = Duration::from_secs(24 * 3600);

/// Remove what killed or abandoned downloads left in the data home: `.part` files (and
/// their validators) untouched for a week, unpack folders older than a day. Files of a
/// download in progress are fresh, so they are never taken.
fn clean_leftovers(home: &Path) {
    let old = |p: &Path, age: Duration| {
        fs::symlink_metadata(p)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|e| e > age)
    };
    let downloads = home.join(DOWNLOADS_DIR);
    for e in fs::read_dir(&downloads).into_iter().flatten().flatten() {
        let (p, name) = (e.path(), e.file_name().to_string_lossy().into_owned());
        if (name.ends_with(".part") || name.ends_with(".part.validator")) && old(&p, ABANDONED_PART)
        {
            tracing::info!("removing the abandoned partial download {}", p.display());
            let _ = fs::remove_file(&p);
        }
    }
    for e in fs::read_dir(home).into_iter().flatten().flatten() {
        let p = e.path();
        let unpack = e
            .file_name()
            .to_string_lossy()
            .starts_with(".alsflow-unpack-");
        if unpack && p.is_dir() && old(&p, ABANDONED_UNPACK) {
            tracing::info!("removing the leftover unpack folder {}", p.display());
            let _ = fs::remove_dir_all(&p);
        }
    }
}

/// Take the lock of one download, creating the downloads folder (again, should a
/// finishing download remove it just then).
fn lock_download(
    downloads: &Path,
    lock_path: &Path,
    announce: impl FnOnce(),
) -> std::io::Result<guard::PathLock> {
    let mut announce = Some(announce);
    let mut tries = 0;
    loop {
        tries += 1;
        fs::create_dir_all(downloads)?;
        let announce_once = || {
            if let Some(a) = announce.take() {
                a()
            }
        };
        match guard::PathLock::acquire(lock_path, true, announce_once) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && tries < 5 => continue,
            other => return other,
        }
    }
}

/// Download, verify and unpack while holding the file's lock.
fn fetch_locked(
    src: &SourceSpec,
    url: &str,
    base: &Path,
    ctx: &FetchContext,
    missing: &dyn Fn(String) -> ConfigError,
) -> Result<Fetched, ConfigError> {
    let dataset = ctx.dataset;
    let failed = |m: String| ConfigError::Download(format!("dataset \"{dataset}\": {url}: {m}"));
    let part = with_suffix(base, ".part");
    let validator = with_suffix(base, ".part.validator");
    let mut http = ctx.http.clone();
    // Without a checksum the https URL is all that vouches for the bytes: no
    // downgrading redirects.
    http.https_only = url.to_ascii_lowercase().starts_with("https://")
        && src.sha256.is_none()
        && src.file_sha256().is_none();
    let got = http::download_to_part(
        url,
        &part,
        &validator,
        src.max_download_bytes,
        &http,
        dataset,
    )
    .map_err(|e| match e {
        HttpError::Network(_) | HttpError::Status { .. } => {
            missing(format!("; download from {url} failed: {e}"))
        }
        other => failed(other.to_string()),
    })?;
    let discard = || {
        let _ = fs::remove_file(&part);
        let _ = fs::remove_file(&validator);
    };
    if let Some(want) = &src.sha256 {
        if !got.sha256.eq_ignore_ascii_case(want) {
            discard();
            return Err(failed(format!(
                "sha256 mismatch: expected {want}{}, the download has {}; nothing was kept",
                locked_note(ctx, url, want),
                got.sha256
            )));
        }
    }
    let mut fetched = Fetched {
        url: url.to_string(),
        sha256: got.sha256.clone(),
        size: got.size,
        resumed_from: got.resumed_from,
        files: Vec::new(),
    };
    let kind = src.archive();
    if kind == ArchiveKind::Plain {
        let placed = place(&part, &src.path);
        discard();
        placed.map_err(&failed)?;
        let member = src
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned());
        fetched
            .files
            .push((member.unwrap_or_default(), src.path.clone(), got.sha256));
        return Ok(fetched);
    }
    let unpacked = unpack_verified(src, kind, &part, ctx, url);
    discard();
    fetched.files = unpacked.map_err(failed)?;
    Ok(fetched)
}

/// Unpack into a temp folder in the data home, verify the data member, and rename
/// the companions, then the data file, into place.
fn unpack_verified(
    src: &SourceSpec,
    kind: ArchiveKind,
    archive: &Path,
    ctx: &FetchContext,
    url: &str,
) -> Result<Vec<(String, PathBuf, String)>, String> {
    let file_name = src
        .path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = tempfile::Builder::new()
        .prefix(".alsflow-unpack-")
        .tempdir_in(ctx.data_home)
        .map_err(|e| {
            format!(
                "cannot create a temp folder in {}: {e}",
                ctx.data_home.display()
            )
        })?;
    let wanted = unpack::Wanted {
        data: src.member.as_deref(),
        data_file_name: &file_name,
        companions: &src.companions,
    };
    let mut out = unpack::unpack(kind, archive, &wanted, tmp.path(), src.max_download_bytes)?;
    if kind == ArchiveKind::Gzip {
        out.data.member = gzip_member_name(url);
    }
    if let Some(want) = &src.member_sha256 {
        if !out.data.sha256.eq_ignore_ascii_case(want) {
            return Err(format!(
                "sha256 mismatch for {}: expected {want}{}, the archive's file has {}; nothing \
                 was kept",
                out.data.member,
                member_locked_note(ctx, url, want),
                out.data.sha256
            ));
        }
    }
    tracing::info!(
        "{}: unpacked {} ({} bytes, sha256 {})",
        ctx.dataset,
        out.data.member,
        out.data.size,
        out.data.sha256
    );
    let mut files = Vec::new();
    for (f, target) in &out.companions {
        // A companion already there (the README of an earlier download) stays.
        if !target.exists() {
            place(&f.temp, target)?;
        }
        files.push((f.member.clone(), target.clone(), f.sha256.clone()));
    }
    place(&out.data.temp, &src.path)?;
    files.insert(0, (out.data.member, src.path.clone(), out.data.sha256));
    Ok(files)
}

/// Rename `from` to `to` (creating its folder) and make the rename durable.
fn place(from: &Path, to: &Path) -> Result<(), String> {
    let dir = to.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    fs::rename(from, to).map_err(|e| format!("cannot move the file into {}: {e}", to.display()))?;
    alsflow_core::files::sync_dir(dir).map_err(|e| e.to_string())
}

/// Record a download's hashes in the data lock (a failure only warns: the data is fine).
fn record_in_lock(ctx: &FetchContext, f: &Fetched, kind: ArchiveKind) {
    let Some(path) = ctx.lock_file else {
        return;
    };
    let members = if kind == ArchiveKind::Plain {
        Default::default()
    } else {
        f.files
            .iter()
            .map(|(m, _, sha)| (m.clone(), sha.clone()))
            .collect()
    };
    let rec = LockedDownload {
        url: f.url.clone(),
        sha256: f.sha256.clone(),
        size: f.size,
        members,
    };
    if let Err(e) = DataLock::record(path, rec) {
        tracing::warn!("{}: the download is in place, but {e}", ctx.dataset);
    }
}

/// " (recorded in pipeline.lock …)" when the data lock is where `want` came from.
fn locked_note(ctx: &FetchContext, url: &str, want: &str) -> String {
    let from_lock = lock_record(ctx, url).is_some_and(|r| r.sha256 == want);
    note(ctx, from_lock)
}

fn member_locked_note(ctx: &FetchContext, url: &str, want: &str) -> String {
    let from_lock = lock_record(ctx, url).is_some_and(|r| r.members.values().any(|v| v == want));
    note(ctx, from_lock)
}

fn lock_record(ctx: &FetchContext, url: &str) -> Option<LockedDownload> {
    let lock = DataLock::load(ctx.lock_file?).ok()?;
    lock.get(url).cloned()
}

fn note(ctx: &FetchContext, from_lock: bool) -> String {
    match ctx.lock_file {
        Some(p) if from_lock => format!(
            " (recorded in {} by an earlier download; delete that entry to accept new data)",
            p.display()
        ),
        _ => String::new(),
    }
}

/// A file name for the download of `url`: its last path segment (sanitised), prefixed
/// by a hash of the whole URL so two URLs never share (or resume) one `.part` file.
fn download_name(url: &str) -> String {
    let path = url.split(['?', '#']).next().unwrap_or(url);
    let last = path.rsplit('/').next().unwrap_or("download");
    let clean: String = last
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .take(80)
        .collect();
    let hash = blake3::hash(url.as_bytes()).to_hex();
    format!("{}-{clean}", &hash[..12])
}

fn with_suffix(base: &Path, suffix: &str) -> PathBuf {
    let mut s = base.as_os_str().to_os_string();
    s.push(suffix);
    PathBuf::from(s)
}

#[cfg(test)]
mod tests;
