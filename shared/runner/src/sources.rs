//! The source keys of a `[[dataset]]` table — `preset`, `path`, `url`, `sha256`,
//! `member`, `member_sha256`, `max_download_bytes` and the `test_*` keys — resolved
//! into [`SourceSpec`]s against the data home and the dataset's preset.

use crate::config::ConfigError;
use crate::presets::{self, Preset};
use alsflow_store::SourceOrigin;
use std::path::{Path, PathBuf};
use toml::{Table, Value};

/// Keys of a `[[dataset]]` table that the runner owns (everything else is preprocess's).
pub const SOURCE_KEYS: &[&str] = &[
    "preset",
    "path",
    "url",
    "sha256",
    "member",
    "member_sha256",
    "max_download_bytes",
    "test_path",
    "test_url",
    "test_sha256",
];

/// Default cap on the bytes of one download, and on the bytes unpacked from it.
pub const DEFAULT_MAX_DOWNLOAD_BYTES: u64 = 4 << 30;

/// How a downloaded file holds the data, told by the URL's file name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArchiveKind {
    /// The download is the data file.
    Plain,
    /// A gzip-compressed data file (`.gz`).
    Gzip,
    /// A `.zip` archive.
    Zip,
    /// A gzip-compressed tar archive (`.tar.gz`, `.tgz`).
    TarGz,
}

impl ArchiveKind {
    /// The kind a URL names by its path's extension (query and fragment ignored).
    pub fn of_url(url: &str) -> ArchiveKind {
        let path = url
            .split(['?', '#'])
            .next()
            .unwrap_or(url)
            .to_ascii_lowercase();
        if path.ends_with(".zip") {
            ArchiveKind::Zip
        } else if path.ends_with(".tar.gz") || path.ends_with(".tgz") {
            ArchiveKind::TarGz
        } else if path.ends_with(".gz") {
            ArchiveKind::Gzip
        } else {
            ArchiveKind::Plain
        }
    }

    /// Whether the download holds several files, one of which is the data (`member`).
    pub fn has_members(self) -> bool {
        matches!(self, ArchiveKind::Zip | ArchiveKind::TarGz)
    }
}

/// Where a raw input file comes from.
#[derive(Clone, Debug, PartialEq)]
pub struct SourceSpec {
    /// The path as written in the config or the preset (relative to the data home, or absolute).
    pub configured: String,
    /// The resolved absolute (or data-home-joined) path.
    pub path: PathBuf,
    /// Optional download URL (an archive or the file itself).
    pub url: Option<String>,
    /// Expected sha256 (lowercase hex) of the download: the archive, or the file itself.
    pub sha256: Option<String>,
    /// The archive member to unpack into `path` (`None`: found by the file's name).
    pub member: Option<String>,
    /// Expected sha256 of the unpacked data file.
    pub member_sha256: Option<String>,
    /// Other archive members unpacked beside the data file: (member, local path).
    pub companions: Vec<(String, PathBuf)>,
    /// Cap on the bytes downloaded, and on the bytes unpacked from the archive.
    pub max_download_bytes: u64,
    /// The preset the source came from, if any.
    pub preset: Option<String>,
}

impl SourceSpec {
    /// A local file without a download.
    pub fn local(configured: &str, path: PathBuf) -> SourceSpec {
        SourceSpec {
            configured: configured.to_string(),
            path,
            url: None,
            sha256: None,
            member: None,
            member_sha256: None,
            companions: Vec::new(),
            max_download_bytes: DEFAULT_MAX_DOWNLOAD_BYTES,
            preset: None,
        }
    }

    /// What the URL points at.
    pub fn archive(&self) -> ArchiveKind {
        self.url
            .as_deref()
            .map_or(ArchiveKind::Plain, ArchiveKind::of_url)
    }

    /// The sha256 the file at `path` must have, when known: the member's for an archive
    /// or a `.gz`, the download's when the download is the file.
    pub fn file_sha256(&self) -> Option<&str> {
        match self.archive() {
            ArchiveKind::Plain => self.sha256.as_deref(),
            _ => self.member_sha256.as_deref(),
        }
    }

    /// Where the file came from, for its lineage record.
    pub fn origin(&self) -> SourceOrigin {
        let unpacked = self.archive() != ArchiveKind::Plain;
        SourceOrigin {
            url: self.url.clone(),
            archive_sha256: if unpacked { self.sha256.clone() } else { None },
            member: if self.archive().has_members() {
                self.member.clone()
            } else {
                None
            },
        }
    }
}

/// The preset a dataset table names (`preset = "…"`), if any.
pub fn preset_of(
    d: &Table,
    derr: &dyn Fn(String) -> ConfigError,
) -> Result<Option<&'static Preset>, ConfigError> {
    match string_key(d, "preset", derr)? {
        None => Ok(None),
        Some(name) => presets::lookup(&name)
            .map(Some)
            .map_err(|m| derr(format!("preset: {m}"))),
    }
}

/// The data file and the predefined test file of a dataset table, with the preset's
/// values under the table's own; `None` for a synthetic dataset without a path.
pub fn resolve(
    d: &Table,
    preset: Option<&Preset>,
    data_home: &Path,
    is_synthetic: bool,
    derr: &dyn Fn(String) -> ConfigError,
) -> Result<(Option<SourceSpec>, Option<SourceSpec>), ConfigError> {
    let key = |k: &str| string_key(d, k, derr);
    let sha_key = |k: &str| -> Result<Option<String>, ConfigError> {
        match key(k)? {
            Some(s) if s.len() == 64 && alsflow_core::hex::is_hex(&s) => {
                Ok(Some(s.to_ascii_lowercase()))
            }
            Some(s) => Err(derr(format!(
                "{k} = \"{s}\": expected 64 hexadecimal digits (a sha256)"
            ))),
            None => Ok(None),
        }
    };
    let max_download_bytes = match d.get("max_download_bytes") {
        None => DEFAULT_MAX_DOWNLOAD_BYTES,
        Some(Value::Integer(n)) if *n > 0 => *n as u64,
        Some(other) => {
            return Err(derr(format!(
                "max_download_bytes must be a positive integer (bytes), found {other}"
            )))
        }
    };
    let url = key("url")?.or_else(|| preset.map(|p| p.url.to_string()));
    if let Some(u) = &url {
        check_url(u).map_err(|m| derr(format!("url = \"{u}\": {m}")))?;
    }
    let member = key("member")?.or_else(|| preset.and_then(|p| p.member.map(str::to_string)));
    if let Some(m) = &member {
        check_member(m).map_err(|why| derr(format!("member = \"{m}\": {why}")))?;
        match url.as_deref().map(ArchiveKind::of_url) {
            None => {
                return Err(derr(
                    "'member' names a file inside an archive, but no 'url' is given".into(),
                ))
            }
            Some(kind) if !kind.has_members() => {
                return Err(derr(format!(
                    "'member' is set, but the url is not a .zip or .tar.gz archive ({})",
                    url.as_deref().unwrap_or_default()
                )))
            }
            Some(_) => {}
        }
    }
    let configured = key("path")?.or_else(|| preset.map(|p| p.path.to_string()));
    let source = match configured {
        Some(p) => {
            let path = under_home(data_home, &p);
            // Companions sit beside the data file, wherever `path` puts it.
            let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
            let companions = preset
                .filter(|_| member.is_some())
                .map(|p| {
                    p.companions
                        .iter()
                        .map(|c| {
                            let name = c.path.rsplit('/').next().unwrap_or(c.path);
                            (c.member.to_string(), dir.join(name))
                        })
                        .collect()
                })
                .unwrap_or_default();
            Some(SourceSpec {
                configured: p,
                path,
                url,
                sha256: sha_key("sha256")?
                    .or_else(|| preset.and_then(|p| p.sha256.map(str::to_string))),
                member,
                member_sha256: sha_key("member_sha256")?
                    .or_else(|| preset.and_then(|p| p.member_sha256.map(str::to_string))),
                companions,
                max_download_bytes,
                preset: preset.map(|p| p.name.to_string()),
            })
        }
        None if is_synthetic => None,
        None => {
            return Err(derr(
                "missing key 'path' (only format = \"synthetic\" has no path)".into(),
            ))
        }
    };
    let test_source = match key("test_path")? {
        Some(p) => {
            let test_url = key("test_url")?;
            if let Some(u) = &test_url {
                check_url(u).map_err(|m| derr(format!("test_url = \"{u}\": {m}")))?;
                if ArchiveKind::of_url(u).has_members() {
                    return Err(derr(format!(
                        "test_url = \"{u}\": a test file is downloaded as is or as a .gz, \
                         not from a .zip or .tar.gz archive"
                    )));
                }
            }
            let mut spec = SourceSpec::local(&p, under_home(data_home, &p));
            spec.url = test_url;
            // Like `sha256`: the download's hash (for a `.gz`, the compressed file's).
            spec.sha256 = sha_key("test_sha256")?;
            spec.max_download_bytes = max_download_bytes;
            Some(spec)
        }
        None if d.contains_key("test_url") || d.contains_key("test_sha256") => {
            return Err(derr(
                "'test_url'/'test_sha256' given without 'test_path'".into(),
            ))
        }
        None => None,
    };
    Ok((source, test_source))
}

/// The data file of `preset` as the preset alone describes it, under `data_home`
/// (what `alsflow fetch NAME` downloads).
pub fn preset_source(preset: &Preset, data_home: &Path) -> Result<SourceSpec, ConfigError> {
    let table: Table = [("preset".to_string(), Value::String(preset.name.into()))]
        .into_iter()
        .collect();
    let derr = |m: String| ConfigError::Invalid(format!("preset {}: {m}", preset.name));
    let (source, _) = resolve(&table, Some(preset), data_home, false, &derr)?;
    source.ok_or_else(|| derr("names no data file".into()))
}

/// `p` resolved against the data home (an absolute path stays as it is).
fn under_home(data_home: &Path, p: &str) -> PathBuf {
    let pb = PathBuf::from(p);
    if pb.is_absolute() {
        pb
    } else {
        data_home.join(pb)
    }
}

/// A string-valued key of the dataset table.
fn string_key(
    d: &Table,
    k: &str,
    derr: &dyn Fn(String) -> ConfigError,
) -> Result<Option<String>, ConfigError> {
    match d.get(k) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(derr(format!(
            "key '{k}' must be a string, found {}",
            other.type_str()
        ))),
    }
}

/// Only web downloads: `https://`, or `http://` (which then needs a checksum).
fn check_url(url: &str) -> Result<(), String> {
    let lower = url.to_ascii_lowercase();
    if !(lower.starts_with("https://") || lower.starts_with("http://")) {
        return Err("only https:// and http:// URLs can be downloaded".into());
    }
    Ok(())
}

/// A member path names a file inside the archive's own tree: relative, `/`-separated,
/// no `..` or empty components (nothing that could point outside the unpack folder).
pub fn check_member(member: &str) -> Result<(), String> {
    if member.is_empty() {
        return Err("empty member path".into());
    }
    if member.starts_with('/') || member.contains('\\') {
        return Err("a member path is relative, with '/' separators".into());
    }
    if member
        .split('/')
        .any(|c| c == ".." || c == "." || c.is_empty())
    {
        return Err("a member path may not contain '..', '.' or empty components".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(text: &str) -> Table {
        toml::from_str(text).expect("toml")
    }

    fn derr(m: String) -> ConfigError {
        ConfigError::Invalid(m)
    }

    fn resolve_text(text: &str) -> Result<SourceSpec, String> {
        let d = table(text);
        let preset = preset_of(&d, &derr).map_err(|e| e.to_string())?;
        resolve(&d, preset, Path::new("/home"), false, &derr)
            .map(|(s, _)| s.expect("a source"))
            .map_err(|e| e.to_string())
    }

    #[test]
    fn a_preset_fills_in_the_source_and_the_table_overrides_it() {
        let s = resolve_text("preset = \"ml-1m\"").expect("valid");
        assert_eq!(s.path, PathBuf::from("/home/ml-1m/ratings.dat"));
        assert_eq!(s.member.as_deref(), Some("ml-1m/ratings.dat"));
        assert_eq!(s.archive(), ArchiveKind::Zip);
        assert_eq!(
            s.companions[0],
            (
                "ml-1m/movies.dat".into(),
                PathBuf::from("/home/ml-1m/movies.dat")
            )
        );
        let s = resolve_text(
            "preset = \"ml-1m\"\npath = \"mine/r.dat\"\nurl = \"https://mirror.example/x.zip\"\n\
             max_download_bytes = 1000",
        )
        .expect("valid");
        assert_eq!(s.path, PathBuf::from("/home/mine/r.dat"));
        assert_eq!(s.url.as_deref(), Some("https://mirror.example/x.zip"));
        assert_eq!(s.companions[0].1, PathBuf::from("/home/mine/movies.dat"));
        assert_eq!(s.max_download_bytes, 1000);
        assert_eq!(s.origin().member.as_deref(), Some("ml-1m/ratings.dat"));
        // A plain download's sha256 is the file's own.
        let s = resolve_text("preset = \"msd-course-subset\"").expect("valid");
        assert_eq!(s.archive(), ArchiveKind::Plain);
        assert_eq!(s.file_sha256(), s.sha256.as_deref());
        assert_eq!(s.origin().archive_sha256, None);
    }

    #[test]
    fn bad_source_keys_are_errors_naming_the_key() {
        let e = resolve_text("preset = \"ml-2m\"").unwrap_err();
        assert!(
            e.contains("unknown preset \"ml-2m\"") && e.contains("ml-1m"),
            "{e}"
        );
        let e = resolve_text("path = \"a\"\nurl = \"ftp://x/a\"").unwrap_err();
        assert!(e.contains("url = \"ftp://x/a\""), "{e}");
        for bad in ["../x.csv", "/etc/passwd", "a/../../b", "a//b", "c:\\x"] {
            let e = resolve_text(&format!(
                "path = \"a\"\nurl = \"https://x/a.zip\"\nmember = '{bad}'"
            ))
            .unwrap_err();
            assert!(e.contains("member = "), "{bad}: {e}");
        }
        let e = resolve_text("path = \"a\"\nmember = \"x/a\"").unwrap_err();
        assert!(e.contains("no 'url'"), "{e}");
        let e =
            resolve_text("path = \"a\"\nurl = \"https://x/a.csv\"\nmember = \"x/a\"").unwrap_err();
        assert!(e.contains("not a .zip or .tar.gz"), "{e}");
        let e = resolve_text("path = \"a\"\nsha256 = \"abc\"").unwrap_err();
        assert!(
            e.contains("sha256 = \"abc\"") && e.contains("64 hexadecimal"),
            "{e}"
        );
        let e = resolve_text("path = \"a\"\nmax_download_bytes = -5").unwrap_err();
        assert!(e.contains("max_download_bytes"), "{e}");
    }

    #[test]
    fn archive_kinds_follow_the_url() {
        assert_eq!(ArchiveKind::of_url("https://x/a.ZIP?x=1"), ArchiveKind::Zip);
        assert_eq!(
            ArchiveKind::of_url("https://x/a.tar.gz"),
            ArchiveKind::TarGz
        );
        assert_eq!(ArchiveKind::of_url("https://x/a.tgz"), ArchiveKind::TarGz);
        assert_eq!(ArchiveKind::of_url("https://x/a.csv.gz"), ArchiveKind::Gzip);
        assert_eq!(ArchiveKind::of_url("https://x/a.csv"), ArchiveKind::Plain);
    }
}
