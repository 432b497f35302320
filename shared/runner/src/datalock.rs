//! The data lock: `pipeline.lock` beside `pipeline.toml` (the config's name with
//! `.lock`), plain TOML meant to be committed with the config. Each download records
//! its URL, size and sha256, and the sha256 of every file unpacked from it; later
//! downloads of that URL must match, and the recorded member hashes are checked on
//! every import of the local files, like a `sha256` in the config.
//!
//! ```toml
//! [[download]]
//! url = "https://files.grouplens.org/datasets/movielens/ml-1m.zip"
//! sha256 = "…"
//! size = 5917549
//!
//! [download.members]
//! "ml-1m/ratings.dat" = "…"
//! ```

use crate::config::ConfigError;
use crate::download::guard::PathLock;
use crate::sources::{ArchiveKind, SourceSpec};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

const HEADER: &str = "\
# The data lock of the config beside it, written by alsflow: the sha256 of every file it
# downloaded and of every file it unpacked from one. Later downloads must match, and the
# unpacked files are checked against it whenever they are read. Commit it with the
# config; delete an entry to accept a new version of that data.

";

/// One recorded download.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockedDownload {
    /// The URL.
    pub url: String,
    /// sha256 of the downloaded bytes.
    pub sha256: String,
    /// Size of the download in bytes.
    pub size: u64,
    /// Member (archive path; for a `.gz`, the unpacked file's name) → sha256.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub members: BTreeMap<String, String>,
}

#[derive(Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct LockFile {
    #[serde(default)]
    download: Vec<LockedDownload>,
}

/// The recorded downloads, by URL.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DataLock {
    /// URL → its record.
    pub downloads: BTreeMap<String, LockedDownload>,
}

/// The lock file of the config at `config` (`pipeline.toml` → `pipeline.lock`).
pub fn lock_file_of(config: &Path) -> PathBuf {
    config.with_extension("lock")
}

/// The key a `.gz` download's unpacked file is recorded under: the URL's file name
/// without `.gz`.
pub fn gzip_member_name(url: &str) -> String {
    let path = url.split(['?', '#']).next().unwrap_or(url);
    let name = path.rsplit('/').next().unwrap_or(path);
    name.strip_suffix(".gz")
        .or_else(|| name.strip_suffix(".GZ"))
        .unwrap_or(name)
        .to_string()
}

impl DataLock {
    /// Read `path` (a missing file is an empty lock).
    pub fn load(path: &Path) -> Result<DataLock, ConfigError> {
        match std::fs::read_to_string(path) {
            Ok(text) => Self::parse(&text, path),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(DataLock::default()),
            Err(e) => Err(ConfigError::Invalid(format!(
                "cannot read the data lock {}: {e}",
                path.display()
            ))),
        }
    }

    fn parse(text: &str, path: &Path) -> Result<DataLock, ConfigError> {
        let file: LockFile = toml::from_str(text).map_err(|e| {
            let line = e
                .span()
                .map(|s| {
                    format!(
                        ":{}",
                        text[..s.start.min(text.len())].matches('\n').count() + 1
                    )
                })
                .unwrap_or_default();
            ConfigError::Invalid(format!(
                "{}{line}: {} (the data lock is written by alsflow; delete it to start over)",
                path.display(),
                e.message().trim()
            ))
        })?;
        Ok(DataLock {
            downloads: file
                .download
                .into_iter()
                .map(|d| (d.url.clone(), d))
                .collect(),
        })
    }

    /// The record of `url`.
    pub fn get(&self, url: &str) -> Option<&LockedDownload> {
        self.downloads.get(url)
    }

    /// Fill in the checksums `src` does not pin itself from the record of its URL; an
    /// archive member not named by the config is found by the data file's name.
    pub fn fill_expected(&self, src: &mut SourceSpec) {
        let Some(rec) = src.url.as_deref().and_then(|u| self.get(u)) else {
            return;
        };
        if src.sha256.is_none() {
            src.sha256 = Some(rec.sha256.clone());
        }
        let member = match src.archive() {
            ArchiveKind::Plain => return,
            ArchiveKind::Gzip => Some(gzip_member_name(&rec.url)),
            ArchiveKind::Zip | ArchiveKind::TarGz => src.member.clone().or_else(|| {
                let name = src.path.file_name()?.to_string_lossy().into_owned();
                let mut matching = rec
                    .members
                    .keys()
                    .filter(|m| m.rsplit('/').next() == Some(name.as_str()));
                match (matching.next(), matching.next()) {
                    (Some(one), None) => Some(one.clone()),
                    _ => None,
                }
            }),
        };
        if let Some(m) = member {
            if src.member_sha256.is_none() {
                src.member_sha256 = rec.members.get(&m).cloned();
            }
            if src.archive().has_members() && src.member.is_none() {
                src.member = Some(m);
            }
        }
    }

    /// Add (or update) `download` in the lock file at `path`, under an exclusive lock so
    /// that concurrent runs recording other downloads lose nothing; written atomically.
    pub fn record(path: &Path, download: LockedDownload) -> Result<(), String> {
        let _held = PathLock::acquire(path, false, || {
            eprintln!("waiting for another alsflow to update {}…", path.display())
        })
        .map_err(|e| format!("cannot lock {}: {e}", path.display()))?;
        let mut lock = Self::load(path).map_err(|e| e.to_string())?;
        let entry = lock
            .downloads
            .entry(download.url.clone())
            .or_insert_with(|| LockedDownload {
                members: BTreeMap::new(),
                ..download.clone()
            });
        entry.sha256 = download.sha256;
        entry.size = download.size;
        entry.members.extend(download.members);
        let file = LockFile {
            download: lock.downloads.into_values().collect(),
        };
        let body =
            toml::to_string(&file).map_err(|e| format!("cannot encode the data lock: {e}"))?;
        alsflow_core::files::write_atomic(path, format!("{HEADER}{body}").as_bytes())
            .map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_merge_round_trip_and_fill_in_what_the_config_leaves_open() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = lock_file_of(&dir.path().join("pipeline.toml"));
        assert_eq!(path, dir.path().join("pipeline.lock"));
        assert_eq!(
            DataLock::load(&path).expect("missing is empty"),
            DataLock::default()
        );
        let url = "https://example.org/ml-1m.zip";
        let rec = |member: &str, sha: &str| LockedDownload {
            url: url.into(),
            sha256: "aa".repeat(32),
            size: 10,
            members: [(member.to_string(), sha.repeat(32))].into(),
        };
        DataLock::record(&path, rec("ml-1m/ratings.dat", "bb")).expect("record");
        DataLock::record(&path, rec("ml-1m/movies.dat", "cc")).expect("record");
        let text = std::fs::read_to_string(&path).expect("read");
        assert!(text.starts_with("# The data lock"), "{text}");
        let lock = DataLock::load(&path).expect("load");
        assert_eq!(lock.get(url).expect("entry").members.len(), 2, "{text}");

        let mut src = SourceSpec::local("ml-1m/ratings.dat", dir.path().join("ml-1m/ratings.dat"));
        src.url = Some(url.into());
        lock.fill_expected(&mut src);
        assert_eq!(src.sha256.as_deref(), Some("aa".repeat(32).as_str()));
        assert_eq!(src.member.as_deref(), Some("ml-1m/ratings.dat"));
        assert_eq!(src.member_sha256.as_deref(), Some("bb".repeat(32).as_str()));
        assert_eq!(src.file_sha256(), Some("bb".repeat(32).as_str()));
        // What the config pins wins.
        let mut pinned = src.clone();
        pinned.member_sha256 = Some("dd".repeat(32));
        lock.fill_expected(&mut pinned);
        assert_eq!(
            pinned.member_sha256.as_deref(),
            Some("dd".repeat(32).as_str())
        );

        std::fs::write(&path, "[[download]]\nurl = 3\n").expect("write");
        let e = DataLock::load(&path).unwrap_err().to_string();
        assert!(e.contains("pipeline.lock:2"), "{e}");
        assert_eq!(
            gzip_member_name("https://x/a/ratings.csv.gz?x=1"),
            "ratings.csv"
        );
    }
}
