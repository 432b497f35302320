//! Downloads against a loopback server serving archives laid out like the real ones:
//! each failure is a clear error and leaves nothing in the data home.

use super::*;
use crate::presets;
use crate::sources::{self, DEFAULT_MAX_DOWNLOAD_BYTES};
use crate::test_support::{
    gzip, sha256_hex, tar_gz_archive, zip_archive, Entry, Reply, TestServer,
};
use std::time::Duration;

const RATINGS: &[u8] = b"1\t10\t5\t881250949\n1\t20\t3\t881250950\n2\t10\t4\t881250951\n";
const TITLES: &[u8] = b"10|Toy Story (1995)|01-Jan-1995\n20|GoldenEye (1995)|01-Jan-1995\n";

fn quick() -> HttpOptions {
    HttpOptions {
        idle_timeout: Duration::from_secs(5),
        attempts: 3,
        retry_pause: Duration::from_millis(10),
        progress: false,
        https_only: false,
    }
}

fn ctx<'a>(home: &'a Path, lock: Option<&'a Path>) -> FetchContext<'a> {
    FetchContext {
        data_home: home,
        lock_file: lock,
        dataset: "d",
        http: quick(),
    }
}

/// Every file and folder under `dir`, relative, sorted.
fn tree(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            out.push(p.strip_prefix(dir).unwrap_or(&p).display().to_string());
            if p.is_dir() {
                stack.push(p);
            }
        }
    }
    out.sort();
    out
}

/// The ml-100k preset's source, downloaded from `url` instead, into `home`.
fn ml100k(home: &Path, url: String) -> SourceSpec {
    let d: toml::Table = toml::from_str(&format!(
        "preset = \"ml-100k\"\nurl = \"{url}\"\nmember_sha256 = \"{}\"",
        sha256_hex(RATINGS)
    ))
    .expect("toml");
    let derr = |m: String| ConfigError::Invalid(m);
    let preset = presets::find("ml-100k");
    sources::resolve(&d, preset, home, false, &derr)
        .expect("valid")
        .0
        .expect("source")
}

fn ml100k_zip() -> Vec<u8> {
    zip_archive(&[
        Entry::File("ml-100k/u.data", RATINGS),
        Entry::File("ml-100k/u.item", TITLES),
        Entry::File("ml-100k/README", b"terms"),
        Entry::File("ml-100k/u.user", b"1|24|M|technician|85711\n"),
    ])
}

#[test]
fn a_zip_preset_is_downloaded_verified_unpacked_and_locked() {
    let zip = ml100k_zip();
    let server = TestServer::start(vec![("/ml-100k.zip", Reply::Body(zip.clone()))]);
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path().join("data");
    let lock = dir.path().join("pipeline.lock");
    let mut src = ml100k(&home, server.url("/ml-100k.zip"));
    let fetched = ensure_source(&mut src, &ctx(&home, Some(&lock)))
        .expect("download")
        .expect("fetched");
    assert_eq!(
        fs::read(home.join("ml-100k/u.data")).expect("data"),
        RATINGS
    );
    assert_eq!(
        fs::read(home.join("ml-100k/u.item")).expect("titles"),
        TITLES
    );
    assert_eq!(
        tree(&home),
        [
            "ml-100k",
            "ml-100k/README",
            "ml-100k/u.data",
            "ml-100k/u.item"
        ],
        "only the wanted members, and no temp or .part files"
    );
    assert_eq!(fetched.sha256, sha256_hex(&zip));
    assert_eq!(src.sha256.as_deref(), Some(sha256_hex(&zip).as_str()));
    let origin = src.origin();
    assert_eq!(origin.member.as_deref(), Some("ml-100k/u.data"));
    assert_eq!(origin.archive_sha256, Some(sha256_hex(&zip)));
    // The lock records the archive and every unpacked file; a fresh spec picks it up.
    let recorded = crate::datalock::DataLock::load(&lock).expect("lock");
    let entry = recorded.get(&server.url("/ml-100k.zip")).expect("entry");
    assert_eq!(entry.sha256, sha256_hex(&zip));
    assert_eq!(entry.members["ml-100k/u.item"], sha256_hex(TITLES));
    // Present now: no second request.
    assert_eq!(
        ensure_source(&mut src, &ctx(&home, Some(&lock))).expect("present"),
        None
    );
    assert_eq!(server.requests().len(), 1);
}

#[test]
fn a_tar_gz_and_a_gz_download_unpack_their_file() {
    let tsv = b"u1\tmbid\tartist one\t12\nu1\t\tartist two\t3\n".to_vec();
    let tgz = tar_gz_archive(&[
        Entry::File("lastfm-dataset-360K/README.txt", b"non-commercial"),
        Entry::File(
            "lastfm-dataset-360K/usersha1-artmbid-artname-plays.tsv",
            &tsv,
        ),
        Entry::File("lastfm-dataset-360K/usersha1-profile.tsv", b"u1\tm\t22\n"),
    ]);
    let server = TestServer::start(vec![
        ("/lastfm.tar.gz", Reply::Body(tgz)),
        ("/plays.csv.gz", Reply::Body(gzip(&tsv))),
    ]);
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path().join("data");
    let d: toml::Table = toml::from_str(&format!(
        "preset = \"lastfm-360k\"\nurl = \"{}\"",
        server.url("/lastfm.tar.gz")
    ))
    .expect("toml");
    let derr = |m: String| ConfigError::Invalid(m);
    let mut src = sources::resolve(&d, presets::find("lastfm-360k"), &home, false, &derr)
        .expect("valid")
        .0
        .expect("source");
    ensure_source(&mut src, &ctx(&home, None)).expect("tar.gz");
    assert_eq!(
        fs::read(home.join("lastfm-360k/usersha1-artmbid-artname-plays.tsv")).expect("tsv"),
        tsv
    );
    assert_eq!(
        tree(&home),
        [
            "lastfm-360k",
            "lastfm-360k/README.txt",
            "lastfm-360k/usersha1-artmbid-artname-plays.tsv"
        ]
    );
    // A .gz of one file: the download's hash and the file's hash both recorded.
    let mut gz = SourceSpec::local("plays.tsv", home.join("plays.tsv"));
    gz.url = Some(server.url("/plays.csv.gz"));
    ensure_source(&mut gz, &ctx(&home, None)).expect("gz");
    assert_eq!(fs::read(home.join("plays.tsv")).expect("gz data"), tsv);
    assert_eq!(gz.file_sha256(), Some(sha256_hex(&tsv).as_str()));
    assert_eq!(gz.origin().archive_sha256, Some(sha256_hex(&gzip(&tsv))));
}

#[test]
fn a_cut_connection_is_resumed_with_range_from_the_part_file() {
    let zip = ml100k_zip();
    let server = TestServer::start(vec![(
        "/ml-100k.zip",
        Reply::CutOnce {
            body: zip.clone(),
            after: zip.len() / 2,
        },
    )]);
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path().join("data");
    let mut src = ml100k(&home, server.url("/ml-100k.zip"));
    let fetched = ensure_source(&mut src, &ctx(&home, None))
        .expect("resumed")
        .expect("fetched");
    assert_eq!(fetched.resumed_from, (zip.len() / 2) as u64);
    assert_eq!(fetched.sha256, sha256_hex(&zip));
    let reqs = server.requests();
    assert_eq!(reqs.len(), 2, "{reqs:?}");
    assert_eq!(reqs[0].range, None);
    assert_eq!(reqs[1].range, Some(format!("bytes={}-", zip.len() / 2)));
    assert!(
        reqs[1].if_range.is_some(),
        "the resume is guarded by the ETag"
    );
    assert_eq!(
        fs::read(home.join("ml-100k/u.data")).expect("data"),
        RATINGS
    );
    assert!(!home.join(DOWNLOADS_DIR).exists(), "{:?}", tree(&home));
}

#[test]
fn a_transfer_cut_more_often_than_allowed_keeps_its_part_for_the_next_run() {
    let zip = ml100k_zip();
    let server = TestServer::start(vec![(
        "/ml-100k.zip",
        Reply::CutOnce {
            body: zip.clone(),
            after: 100,
        },
    )]);
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path().join("data");
    let mut src = ml100k(&home, server.url("/ml-100k.zip"));
    let mut one_try = ctx(&home, None);
    one_try.http.attempts = 1;
    let err = ensure_source(&mut src, &one_try).expect_err("cut");
    assert!(matches!(err, ConfigError::DataMissing(_)), "{err}");
    assert!(err.to_string().contains("broke off after 100"), "{err}");
    let parts: Vec<String> = tree(&home)
        .into_iter()
        .filter(|p| p.ends_with(".part"))
        .collect();
    assert_eq!(parts.len(), 1, "{:?}", tree(&home));
    // The next run resumes from byte 100.
    let fetched = ensure_source(&mut src, &ctx(&home, None))
        .expect("resume")
        .expect("fetched");
    assert_eq!(fetched.resumed_from, 100);
    assert_eq!(
        server.requests().last().and_then(|r| r.range.clone()),
        Some("bytes=100-".to_string())
    );
    assert_eq!(
        tree(&home),
        [
            "ml-100k",
            "ml-100k/README",
            "ml-100k/u.data",
            "ml-100k/u.item"
        ]
    );
}

#[test]
fn the_size_cap_stops_a_download_and_leaves_nothing() {
    let zip = ml100k_zip();
    let server = TestServer::start(vec![
        ("/a.zip", Reply::Body(zip.clone())),
        ("/b.zip", Reply::NoLength(zip.clone())),
    ]);
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path().join("data");
    for path in ["/a.zip", "/b.zip"] {
        let mut src = ml100k(&home, server.url(path));
        src.max_download_bytes = 100;
        let err = ensure_source(&mut src, &ctx(&home, None)).expect_err("cap");
        assert!(matches!(err, ConfigError::Download(_)), "{err}");
        assert!(
            err.to_string().contains("max_download_bytes = 100"),
            "{err}"
        );
        assert!(tree(&home).is_empty(), "{path}: {:?}", tree(&home));
    }
    // The cap also bounds what an archive unpacks to.
    let big = vec![b'1'; 50_000];
    let bomb = zip_archive(&[Entry::File("ml-100k/u.data", &big)]);
    let server = TestServer::start(vec![("/bomb.zip", Reply::Body(bomb.clone()))]);
    let mut src = ml100k(&home, server.url("/bomb.zip"));
    src.max_download_bytes = bomb.len() as u64 + 10;
    let err = ensure_source(&mut src, &ctx(&home, None)).expect_err("unpack cap");
    assert!(err.to_string().contains("unpacks to more than"), "{err}");
    assert!(tree(&home).is_empty(), "{:?}", tree(&home));
    assert_eq!(DEFAULT_MAX_DOWNLOAD_BYTES, 4 << 30);
}

#[test]
fn checksum_mismatches_name_both_hashes_and_leave_nothing() {
    let zip = ml100k_zip();
    let server = TestServer::start(vec![("/ml-100k.zip", Reply::Body(zip.clone()))]);
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path().join("data");
    // The archive's hash.
    let mut src = ml100k(&home, server.url("/ml-100k.zip"));
    src.sha256 = Some("00".repeat(32));
    let err = ensure_source(&mut src, &ctx(&home, None)).expect_err("archive hash");
    let msg = err.to_string();
    assert!(matches!(err, ConfigError::Download(_)), "{msg}");
    assert!(
        msg.contains(&"00".repeat(32)) && msg.contains(&sha256_hex(&zip)),
        "{msg}"
    );
    assert!(tree(&home).is_empty(), "{:?}", tree(&home));
    // The data file's hash (here the preset's pinned one, for the real u.data).
    let mut src = ml100k(&home, server.url("/ml-100k.zip"));
    src.member_sha256 = presets::find("ml-100k")
        .and_then(|p| p.member_sha256)
        .map(String::from);
    let err = ensure_source(&mut src, &ctx(&home, None)).expect_err("member hash");
    let msg = err.to_string();
    assert!(
        msg.contains("ml-100k/u.data") && msg.contains(&sha256_hex(RATINGS)),
        "{msg}"
    );
    assert!(tree(&home).is_empty(), "{:?}", tree(&home));
    // A hash recorded in the data lock by an earlier download.
    let lock = dir.path().join("pipeline.lock");
    let url = server.url("/ml-100k.zip");
    crate::datalock::DataLock::record(
        &lock,
        crate::datalock::LockedDownload {
            url: url.clone(),
            sha256: "11".repeat(32),
            size: 1,
            members: Default::default(),
        },
    )
    .expect("lock");
    let mut src = ml100k(&home, url);
    crate::datalock::DataLock::load(&lock)
        .expect("load")
        .fill_expected(&mut src);
    let err = ensure_source(&mut src, &ctx(&home, Some(&lock))).expect_err("locked hash");
    assert!(err.to_string().contains("pipeline.lock"), "{err}");
    assert!(tree(&home).is_empty(), "{:?}", tree(&home));
}

#[test]
fn a_404_is_missing_data_and_leaves_nothing() {
    let server = TestServer::start(vec![]);
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path().join("data");
    let mut src = ml100k(&home, server.url("/nope.zip"));
    let err = ensure_source(&mut src, &ctx(&home, None)).expect_err("404");
    assert!(matches!(err, ConfigError::DataMissing(_)), "{err}");
    assert!(err.to_string().contains("404"), "{err}");
    assert!(tree(&home).is_empty(), "{:?}", tree(&home));
    // No URL at all.
    let mut local = SourceSpec::local("nope.csv", home.join("nope.csv"));
    let err = ensure_source(&mut local, &ctx(&home, None)).expect_err("no url");
    assert!(matches!(err, ConfigError::DataMissing(_)) && err.to_string().contains("nope.csv"));
}

#[test]
fn unsafe_archive_members_are_refused_and_leave_nothing() {
    let evil = zip_archive(&[Entry::File("../u.data", RATINGS), Entry::File("x/y", b"1")]);
    let zip_link = zip_archive(&[Entry::Symlink("ml-100k/u.data", "/etc/passwd")]);
    let tar_link = tar_gz_archive(&[Entry::Symlink("ml-100k/u.data", "/etc/passwd")]);
    let server = TestServer::start(vec![
        ("/evil.zip", Reply::Body(evil)),
        ("/link.zip", Reply::Body(zip_link)),
        ("/link.tar.gz", Reply::Body(tar_link)),
    ]);
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path().join("data");
    // No member named: only a safe entry with the file's name would do; `../u.data` is not.
    let mut src = SourceSpec::local("ml/u.data", home.join("ml/u.data"));
    src.url = Some(server.url("/evil.zip"));
    let err = ensure_source(&mut src, &ctx(&home, None)).expect_err("dot-dot entry");
    assert!(err.to_string().contains("has no member u.data"), "{err}");
    assert!(tree(&home).is_empty(), "{:?}", tree(&home));
    assert!(!dir.path().join("u.data").exists());
    for path in ["/link.zip", "/link.tar.gz"] {
        let mut src = ml100k(&home, server.url(path));
        let err = ensure_source(&mut src, &ctx(&home, None)).expect_err("symlink");
        assert!(
            matches!(err, ConfigError::Download(_)) && err.to_string().contains("symbolic link"),
            "{path}: {err}"
        );
        assert!(tree(&home).is_empty(), "{path}: {:?}", tree(&home));
    }
}

#[test]
fn a_download_target_outside_the_data_home_is_refused_before_any_request() {
    let server = TestServer::start(vec![("/x.csv", Reply::Body(b"1,2,3\n".to_vec()))]);
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path().join("data");
    let mut src = SourceSpec::local("../outside/x.csv", home.join("../outside/x.csv"));
    src.url = Some(server.url("/x.csv"));
    let err = ensure_source(&mut src, &ctx(&home, None)).expect_err("outside");
    assert!(matches!(err, ConfigError::Invalid(_)), "{err}");
    assert!(err.to_string().contains("outside the data home"), "{err}");
    assert!(!dir.path().join("outside").exists());
    assert!(server.requests().is_empty());
    // Plain http to another machine needs a checksum.
    let mut src = SourceSpec::local("x.csv", home.join("x.csv"));
    src.url = Some("http://example.org/x.csv".into());
    let err = ensure_source(&mut src, &ctx(&home, None)).expect_err("http");
    assert!(err.to_string().contains("plain http://"), "{err}");
}

#[test]
fn two_runs_fetching_the_same_file_download_it_once() {
    let zip = ml100k_zip();
    let server = TestServer::start(vec![("/ml-100k.zip", Reply::Body(zip))]);
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path().join("data");
    let url = server.url("/ml-100k.zip");
    let handles: Vec<_> = (0..2)
        .map(|_| {
            let (home, url) = (home.clone(), url.clone());
            std::thread::spawn(move || {
                let mut src = ml100k(&home, url);
                ensure_source(&mut src, &ctx(&home, None)).map(|f| f.is_some())
            })
        })
        .collect();
    let downloaded: Vec<bool> = handles
        .into_iter()
        .map(|h| h.join().expect("join").expect("fetch"))
        .collect();
    assert_eq!(
        downloaded.iter().filter(|d| **d).count(),
        1,
        "{downloaded:?}"
    );
    assert_eq!(server.requests().len(), 1);
    assert_eq!(
        fs::read(home.join("ml-100k/u.data")).expect("data"),
        RATINGS
    );
}

#[test]
fn abandoned_part_files_and_unpack_folders_are_cleaned_by_the_next_download() {
    let server = TestServer::start(vec![("/ml-100k.zip", Reply::Body(ml100k_zip()))]);
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path().join("data");
    let downloads = home.join(DOWNLOADS_DIR);
    fs::create_dir_all(&downloads).expect("mkdir");
    let week_ago = std::time::SystemTime::now() - Duration::from_secs(8 * 24 * 3600);
    let stale = downloads.join("0123456789ab-old.zip.part");
    let fresh = downloads.join("ba9876543210-other.zip.part");
    for p in [&stale, &fresh] {
        fs::write(p, b"half").expect("part");
    }
    fs::File::options()
        .write(true)
        .open(&stale)
        .and_then(|f| f.set_modified(week_ago))
        .expect("age");
    let unpack = home.join(".alsflow-unpack-crashed");
    fs::create_dir_all(&unpack).expect("mkdir");
    fs::File::open(&unpack)
        .and_then(|f| f.set_modified(week_ago))
        .expect("age");
    let mut src = ml100k(&home, server.url("/ml-100k.zip"));
    ensure_source(&mut src, &ctx(&home, None)).expect("download");
    assert!(!stale.exists() && !unpack.exists(), "{:?}", tree(&home));
    assert!(fresh.exists(), "a recent .part may still be resumed");
}
