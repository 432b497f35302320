//! Upgrading the records of an older store in place, when a writer opens it.
//!
//! Layout 3 added `archive_sha256` and `member` to the [`SourceInfo`] of raw sources.
//! Records are bincode (positional, no field names), so a layout-2 artifact record
//! does not decode as a layout-3 one: the writer rewrites every artifact record of a
//! layout-1 or layout-2 store in the new shape (no archive hash, no member) in one
//! atomic sled batch before it raises the version, so a crash in between leaves the
//! store at the old version, and the next open redoes the rewrite. A record already in
//! the new shape (written before such a crash, or carrying no source, where both shapes
//! are the same bytes) is left as it is.

use crate::db::{decode_record, Db};
use crate::records::{ArtifactRecord, SourceInfo, StageKey};
use crate::StoreError;
use alsflow_core::{codec, ArtifactId, Format};
use serde::Deserialize;

/// [`SourceInfo`] as layouts 1 and 2 wrote it.
#[derive(Deserialize)]
struct SourceInfoV2 {
    path: String,
    size: u64,
    blake3: String,
    url: Option<String>,
    sha256: Option<String>,
}

/// [`ArtifactRecord`] as layouts 1 and 2 wrote it.
#[derive(Deserialize)]
struct ArtifactRecordV2 {
    id: ArtifactId,
    format: Format,
    kind: String,
    size: u64,
    producer: Option<StageKey>,
    source: Option<SourceInfoV2>,
}

impl From<ArtifactRecordV2> for ArtifactRecord {
    fn from(old: ArtifactRecordV2) -> Self {
        ArtifactRecord {
            id: old.id,
            format: old.format,
            kind: old.kind,
            size: old.size,
            producer: old.producer,
            source: old.source.map(|s| SourceInfo {
                path: s.path,
                size: s.size,
                blake3: s.blake3,
                url: s.url,
                sha256: s.sha256,
                archive_sha256: None,
                member: None,
            }),
        }
    }
}

/// Rewrite every layout-2 artifact record of `db` as a layout-3 one, atomically;
/// returns how many were rewritten. A record that decodes in neither shape is an
/// error naming it (the upgrade then changes nothing).
pub(crate) fn artifact_records_to_v3(db: &Db) -> Result<u64, StoreError> {
    let mut batch = sled::Batch::default();
    let mut rewritten = 0u64;
    for item in db.artifacts.iter() {
        let (key, value) = item.map_err(|e| db.error("scan artifact records to upgrade", e))?;
        if codec::decode::<ArtifactRecord>("artifact", &value).is_ok() {
            continue;
        }
        let old: ArtifactRecordV2 = decode_record("artifact (layout 2)", &key, &value)?;
        let new = ArtifactRecord::from(old);
        let bytes = codec::encode("artifact record", &new).map_err(|cause| StoreError::Record {
            what: "artifact",
            key: new.id.to_hex(),
            cause,
        })?;
        batch.insert(&key, bytes);
        rewritten += 1;
    }
    if rewritten > 0 {
        db.artifacts
            .apply_batch(batch)
            .map_err(|e| db.error("rewrite artifact records for layout 3", e))?;
        db.mark_changed();
    }
    Ok(rewritten)
}
