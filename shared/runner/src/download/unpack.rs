//! Unpacking the wanted members of a downloaded archive (`.zip`, `.tar.gz`) or a
//! gzip-compressed file into a temp folder, hashing each (sha256) and bounding its size.
//!
//! Only the members asked for are written, each to a name of our choosing inside the
//! temp folder, so an entry name (`../x`, `/etc/x`) never decides where bytes land;
//! entries whose names are unsafe are never matched, and a symlink, hard link or
//! folder where a file is expected is refused.

use crate::sources::{check_member, ArchiveKind};
use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::{self, BufReader, Read, Write};
use std::path::{Path, PathBuf};

/// The members to unpack.
pub(crate) struct Wanted<'a> {
    /// The data member; `None`: the one entry whose file name is `data_file_name`.
    pub data: Option<&'a str>,
    /// The data file's own name (for finding the member when none is named).
    pub data_file_name: &'a str,
    /// Companion members (titles, README), unpacked when present.
    pub companions: &'a [(String, PathBuf)],
}

/// One member written into the temp folder.
#[derive(Clone, Debug)]
pub(crate) struct UnpackedFile {
    /// Its name in the archive.
    pub member: String,
    /// Where it was written (inside the temp folder).
    pub temp: PathBuf,
    /// Its sha256.
    pub sha256: String,
    /// Its size in bytes.
    pub size: u64,
}

/// What [`unpack`] produced.
pub(crate) struct Unpacked {
    /// The data file.
    pub data: UnpackedFile,
    /// The companions found, with their targets (missing ones are skipped).
    pub companions: Vec<(UnpackedFile, PathBuf)>,
}

/// Unpack `wanted` from the downloaded file `archive` (of `kind`) into `tmp`; every
/// member may unpack to at most `max_bytes`. `Err` is a one-line reason.
pub(crate) fn unpack(
    kind: ArchiveKind,
    archive: &Path,
    wanted: &Wanted,
    tmp: &Path,
    max_bytes: u64,
) -> Result<Unpacked, String> {
    let open =
        || File::open(archive).map_err(|e| format!("cannot open {}: {e}", archive.display()));
    match kind {
        ArchiveKind::Plain => Err("not an archive".into()),
        ArchiveKind::Gzip => {
            let mut gz = flate2::read::MultiGzDecoder::new(BufReader::new(open()?));
            let name = wanted.data_file_name.to_string();
            let data = copy_capped(&mut gz, &name, &tmp.join("data"), max_bytes)
                .map_err(|e| format!("not a readable .gz file: {e}"))?;
            Ok(Unpacked {
                data,
                companions: Vec::new(),
            })
        }
        ArchiveKind::Zip => unpack_zip(open()?, wanted, tmp, max_bytes),
        ArchiveKind::TarGz => unpack_tar_gz(open()?, wanted, tmp, max_bytes),
    }
}

fn unpack_zip(file: File, wanted: &Wanted, tmp: &Path, max: u64) -> Result<Unpacked, String> {
    let mut zip =
        zip::ZipArchive::new(file).map_err(|e| format!("not a readable .zip archive: {e}"))?;
    let names: Vec<String> = zip
        .file_names()
        .filter_map(Result::ok)
        .map(|n| n.into_owned())
        .collect();
    let data_member = match wanted.data {
        Some(m) => m.to_string(),
        None => find_by_file_name(names.iter().map(String::as_str), wanted.data_file_name)?,
    };
    let mut extract = |member: &str, temp: PathBuf| -> Result<Option<UnpackedFile>, String> {
        let mut entry = match zip.by_name(member) {
            Ok(e) => e,
            Err(zip::result::ZipError::FileNotFound) => return Ok(None),
            Err(e) => return Err(format!("cannot read member {member}: {e}")),
        };
        if entry.is_symlink() {
            return Err(format!(
                "member {member} is a symbolic link; refusing to unpack it"
            ));
        }
        if entry.is_dir() {
            return Err(format!("member {member} is a folder, not a file"));
        }
        copy_capped(&mut entry, member, &temp, max).map(Some)
    };
    let data = extract(&data_member, tmp.join("data"))?
        .ok_or_else(|| no_such_member(&data_member, &names))?;
    let mut companions = Vec::new();
    for (i, (member, target)) in wanted.companions.iter().enumerate() {
        match extract(member, tmp.join(format!("companion-{i}")))? {
            Some(f) => companions.push((f, target.clone())),
            None => tracing::warn!("the archive has no {member}; going on without it"),
        }
    }
    Ok(Unpacked { data, companions })
}

fn unpack_tar_gz(file: File, wanted: &Wanted, tmp: &Path, max: u64) -> Result<Unpacked, String> {
    let gz = flate2::read::GzDecoder::new(BufReader::new(file));
    let mut tar = tar::Archive::new(gz);
    let bad = |e: io::Error| format!("not a readable .tar.gz archive: {e}");
    let mut names = Vec::new();
    let mut data: Option<UnpackedFile> = None;
    let mut companions = Vec::new();
    for entry in tar.entries().map_err(bad)? {
        let mut entry = entry.map_err(bad)?;
        let raw = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let name = raw.strip_prefix("./").unwrap_or(&raw).to_string();
        let is_data = match wanted.data {
            Some(m) => name == m,
            None => {
                name.rsplit('/').next() == Some(wanted.data_file_name)
                    && check_member(&name).is_ok()
            }
        };
        let companion = wanted.companions.iter().position(|(m, _)| *m == name);
        if is_data || companion.is_some() {
            match entry.header().entry_type() {
                tar::EntryType::Regular | tar::EntryType::Continuous => {}
                tar::EntryType::Symlink | tar::EntryType::Link => {
                    return Err(format!(
                        "member {name} is a {} link; refusing to unpack it",
                        if entry.header().entry_type() == tar::EntryType::Symlink {
                            "symbolic"
                        } else {
                            "hard"
                        }
                    ))
                }
                other => return Err(format!("member {name} is not a plain file ({other:?})")),
            }
        }
        if is_data {
            if let Some(first) = &data {
                return Err(format!(
                    "the archive has several files named {}: {} and {name}; set member = \
                     \"…\" to choose",
                    wanted.data_file_name, first.member
                ));
            }
            data = Some(copy_capped(&mut entry, &name, &tmp.join("data"), max)?);
        } else if let Some(i) = companion {
            let temp = tmp.join(format!("companion-{i}"));
            let f = copy_capped(&mut entry, &name, &temp, max)?;
            companions.push((f, wanted.companions[i].1.clone()));
        }
        if names.len() < 1000 {
            names.push(name);
        }
    }
    let data = data.ok_or_else(|| match wanted.data {
        Some(m) => no_such_member(m, &names),
        None => no_such_member(wanted.data_file_name, &names),
    })?;
    for (member, _) in wanted.companions {
        if !companions.iter().any(|(f, _)| f.member == *member) {
            tracing::warn!("the archive has no {member}; going on without it");
        }
    }
    Ok(Unpacked { data, companions })
}

/// The one safe entry whose last path component is `file_name`.
fn find_by_file_name<'a>(
    names: impl Iterator<Item = &'a str> + Clone,
    file_name: &str,
) -> Result<String, String> {
    let found: Vec<&str> = names
        .clone()
        .filter(|n| n.rsplit('/').next() == Some(file_name) && check_member(n).is_ok())
        .collect();
    match found.as_slice() {
        [one] => Ok(one.to_string()),
        [] => Err(no_such_member(
            file_name,
            &names.map(str::to_string).collect::<Vec<_>>(),
        )),
        many => Err(format!(
            "the archive has several files named {file_name} ({}); set member = \"…\" to choose",
            many.join(", ")
        )),
    }
}

fn no_such_member(member: &str, names: &[String]) -> String {
    let files: Vec<&str> = names
        .iter()
        .map(String::as_str)
        .filter(|n| !n.ends_with('/'))
        .take(12)
        .collect();
    format!(
        "the archive has no member {member} (it holds {}{}); set member = \"…\" in the \
         dataset's table",
        files.join(", "),
        if names.len() > files.len() {
            ", …"
        } else {
            ""
        }
    )
}

/// Copy `reader` into a new file at `dest`, hashing it; more than `max` bytes is an error.
fn copy_capped(
    reader: &mut dyn Read,
    member: &str,
    dest: &Path,
    max: u64,
) -> Result<UnpackedFile, String> {
    let mut out =
        File::create(dest).map_err(|e| format!("cannot create {}: {e}", dest.display()))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut size = 0u64;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(format!("cannot read member {member}: {e}")),
        };
        size += n as u64;
        if size > max {
            return Err(format!(
                "member {member} unpacks to more than max_download_bytes = {max} bytes; raise \
                 max_download_bytes in the dataset's table if that is expected"
            ));
        }
        hasher.update(&buf[..n]);
        out.write_all(&buf[..n])
            .map_err(|e| format!("cannot write {}: {e}", dest.display()))?;
    }
    out.sync_all()
        .map_err(|e| format!("cannot write {}: {e}", dest.display()))?;
    Ok(UnpackedFile {
        member: member.to_string(),
        temp: dest.to_path_buf(),
        sha256: alsflow_core::hex::encode(&hasher.finalize()),
        size,
    })
}
