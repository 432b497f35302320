//! Raw sources: streaming imports, checksums, stat stamps, files that change.

use super::*;
use std::fs::File;
use std::io::Write;
use std::time::SystemTime;

#[test]
fn source_files_are_streamed_in_with_their_origin_and_checksum() {
    let dir = TempDir::new().unwrap();
    let store = open(&dir);
    let data = dir.path().join("abc.txt");
    fs::write(&data, b"abc").unwrap();
    let sha_abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

    let id = store
        .put_source_file(
            &data,
            Some(&SourceOrigin {
                url: Some("https://example.org/abc.zip".into()),
                archive_sha256: Some("ab".repeat(32)),
                member: Some("d/abc.txt".into()),
            }),
            Some(sha_abc),
        )
        .unwrap();
    assert_eq!(id, ArtifactId::of(b"abc"));
    assert_eq!(store.read(&id).unwrap(), b"abc");
    let rec = store.artifact(&id).unwrap().unwrap();
    assert_eq!(
        (rec.format, rec.kind.as_str(), rec.size),
        (Format::Raw, "source", 3)
    );
    assert_eq!(
        rec.source,
        Some(SourceInfo {
            path: data.display().to_string(),
            size: 3,
            blake3: id.to_hex(),
            url: Some("https://example.org/abc.zip".into()),
            sha256: Some(sha_abc.into()),
            archive_sha256: Some("ab".repeat(32)),
            member: Some("d/abc.txt".into()),
        })
    );

    let wrong = "0".repeat(64);
    match store.put_source_file(&data, None, Some(&wrong)) {
        Err(e @ StoreError::SourceChecksum { .. }) => {
            assert!(
                e.to_string().contains(sha_abc) && e.to_string().contains("abc.txt"),
                "{e}"
            );
        }
        other => panic!("expected SourceChecksum, got {other:?}"),
    }
    let missing = store
        .put_source_file(&dir.path().join("nope.csv"), None, None)
        .unwrap_err();
    assert!(missing.to_string().contains("nope.csv"), "{missing}");
    assert!(
        list_files(&dir.path().join("tmp")).unwrap().is_empty(),
        "failed imports leave no temp file"
    );
}

#[test]
fn an_unchanged_old_source_is_not_reread_and_a_changed_one_is() {
    let dir = TempDir::new().unwrap();
    let store = open(&dir);
    let data = dir.path().join("ratings.csv");
    let stamp_key = || {
        data.canonicalize()
            .unwrap()
            .to_string_lossy()
            .into_owned()
            .into_bytes()
    };
    let stamp = |store: &Store| db_of(store).source_stamp(&stamp_key()).unwrap();

    // Just written: too recent to trust a stat stamp (racy window).
    fs::write(&data, b"1,2,5\n").unwrap();
    let id1 = store.put_source_file(&data, None, None).unwrap();
    assert_eq!(stamp(&store), None);

    // Old enough: the stamp is kept and the next import takes the fast path.
    let old = SystemTime::now() - Duration::from_secs(3600);
    File::options()
        .write(true)
        .open(&data)
        .unwrap()
        .set_modified(old)
        .unwrap();
    assert_eq!(store.put_source_file(&data, None, None).unwrap(), id1);
    assert_eq!(stamp(&store).map(|s| s.id), Some(id1));
    assert_eq!(store.put_source_file(&data, None, None).unwrap(), id1);
    assert_eq!(store.known_source_id(&data).unwrap(), Some(id1));

    // A damaged stored copy (same size, so the stamp alone cannot tell) is caught by
    // `read`, which drops the stamp, so the next import re-reads and repairs it.
    flip_first_byte(&store.object_path(&id1));
    assert!(matches!(store.read(&id1), Err(StoreError::Corrupt { .. })));
    assert_eq!(store.known_source_id(&data).unwrap(), None);
    assert_eq!(store.put_source_file(&data, None, None).unwrap(), id1);
    assert_eq!(store.read(&id1).unwrap(), b"1,2,5\n");

    // Same size and mtime but new bytes: ctime changes, so the file is read again.
    fs::write(&data, b"1,3,5\n").unwrap();
    File::options()
        .write(true)
        .open(&data)
        .unwrap()
        .set_modified(old)
        .unwrap();
    assert_eq!(store.known_source_id(&data).unwrap(), None);
    let id2 = store.put_source_file(&data, None, None).unwrap();
    assert_eq!(id2, ArtifactId::of(b"1,3,5\n"));
    assert_eq!(
        store
            .known_source_id(&dir.path().join("absent.csv"))
            .unwrap(),
        None
    );

    // A stamp whose object went missing is not trusted either.
    fs::remove_file(store.object_path(&id2)).unwrap();
    assert_eq!(store.put_source_file(&data, None, None).unwrap(), id2);
    assert_eq!(store.read(&id2).unwrap(), b"1,3,5\n");
}

#[test]
fn a_source_file_that_changes_during_the_copy_is_rejected() {
    let dir = TempDir::new().unwrap();
    let store = open(&dir);
    let data = dir.path().join("downloading.csv");
    fs::write(&data, b"1,2\n").unwrap();
    AFTER_SOURCE_COPY.with(|h| {
        *h.borrow_mut() = Some(Box::new(|p: &Path| {
            let mut f = File::options().append(true).open(p).unwrap();
            f.write_all(b"3,4\n").unwrap();
        }))
    });
    let result = store.put_source_file(&data, None, None);
    AFTER_SOURCE_COPY.with(|h| *h.borrow_mut() = None);
    match result {
        Err(e @ StoreError::SourceChanged { .. }) => {
            assert!(e.to_string().contains("downloading.csv"), "{e}")
        }
        other => panic!("expected SourceChanged, got {other:?}"),
    }
    assert!(store.artifacts().unwrap().is_empty(), "nothing recorded");
    assert!(
        list_files(&dir.path().join("tmp")).unwrap().is_empty(),
        "no temp file left"
    );
    // Once complete, the file imports normally.
    assert_eq!(
        store.put_source_file(&data, None, None).unwrap(),
        ArtifactId::of(b"1,2\n3,4\n")
    );
}

#[test]
fn a_real_ratings_file_imports_with_its_blake3_and_reads_back() {
    let Some(data) = alsflow_core::test_support::shared_data_or_skip("store real ratings import")
    else {
        return;
    };
    let path = data.join("ml-latest-small/ratings.csv");
    let bytes = fs::read(&path).expect("read ratings.csv");
    let dir = TempDir::new().unwrap();
    let store = open(&dir);
    let id = store.put_source_file(&path, None, None).unwrap();
    assert_eq!(id, ArtifactId::of(&bytes));
    let info = store
        .artifact(&id)
        .unwrap()
        .unwrap()
        .source
        .expect("source info");
    assert_eq!(
        (info.size, info.blake3.as_str()),
        (bytes.len() as u64, id.to_hex().as_str())
    );
    assert_eq!(info.path, path.display().to_string());
    assert_eq!(store.verified_path(&id).unwrap(), store.object_path(&id));
    assert_eq!(store.read(&id).unwrap(), bytes);
    // The shared data is old and read-only: the stat stamp is trusted on re-import.
    assert_eq!(store.known_source_id(&path).unwrap(), Some(id));
}

/// A layout-2 store (source records without archive hash and member, a format-1 view)
/// is upgraded when a writer opens it; until then readers are told how to upgrade.
#[test]
fn a_layout_2_store_is_upgraded_in_place_and_keeps_its_sources() {
    #[derive(serde::Serialize)]
    struct SourceInfoV2<'a> {
        path: &'a str,
        size: u64,
        blake3: String,
        url: Option<&'a str>,
        sha256: Option<&'a str>,
    }
    #[derive(serde::Serialize)]
    struct ArtifactRecordV2<'a> {
        id: ArtifactId,
        format: Format,
        kind: &'a str,
        size: u64,
        producer: Option<StageKey>,
        source: Option<SourceInfoV2<'a>>,
    }
    let dir = TempDir::new().unwrap();
    let data = dir.path().join("abc.txt");
    fs::write(&data, b"abc").unwrap();
    let (src, produced) = {
        let store = open(&dir);
        let src = store.put_source_file(&data, None, None).unwrap();
        let produced = store.put(b"table", Format::Parquet, "split.train").unwrap();
        let db = db_of(&store);
        let old = ArtifactRecordV2 {
            id: src,
            format: Format::Raw,
            kind: "source",
            size: 3,
            producer: None,
            source: Some(SourceInfoV2 {
                path: "abc.txt",
                size: 3,
                blake3: src.to_hex(),
                url: Some("https://example.org/abc.txt"),
                sha256: None,
            }),
        };
        let bytes = alsflow_core::codec::encode("artifact", &old).unwrap();
        db.artifacts.insert(src.0, bytes).unwrap();
        db.meta
            .insert(b"layout_version", &2u32.to_le_bytes())
            .unwrap();
        db.flush().unwrap();
        (src, produced)
    };
    // The view a layout-2 writer published has format 1.
    let view = dir.path().join("view.bin");
    let mut bytes = fs::read(&view).unwrap();
    bytes[8..12].copy_from_slice(&1u32.to_le_bytes());
    fs::write(&view, bytes).unwrap();
    let err = Store::open_read_only(dir.path(), SHORT)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("older alsflow") && err.contains("alsflow run"),
        "{err}"
    );

    let store = open(&dir);
    let rec = store.artifact(&src).unwrap().unwrap();
    let info = rec.source.unwrap();
    assert_eq!(info.url.as_deref(), Some("https://example.org/abc.txt"));
    assert_eq!((info.archive_sha256, info.member), (None, None));
    assert!(store.artifact(&produced).unwrap().is_some());
    let version = db_of(&store).meta.get(b"layout_version").unwrap().unwrap();
    assert_eq!(version.as_ref(), &3u32.to_le_bytes());
    drop(store);
    let reader = Store::open_read_only(dir.path(), SHORT).unwrap();
    assert_eq!(
        reader.artifacts().unwrap().len(),
        2,
        "the republished view reads"
    );
}
