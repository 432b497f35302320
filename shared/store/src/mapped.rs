//! Verified shared reads: [`Store::read_shared`] hands a large object over as a
//! read-only memory map (small ones as heap bytes), after hashing the very bytes the
//! caller will see.
//!
//! Why a map: a raw source of gigabytes read into a `Vec` costs its full size in heap
//! memory for as long as the stage runs, and the page cache holds it a second time.
//! A map costs only the pages in use: the hash is computed window by window, each
//! window released from the process once hashed, so verifying a 3 GB object keeps
//! about one window resident, and the stage then pages the bytes in as it walks them
//! (and may release them again, see [`ArtifactBytes::release`]).
//!
//! Why it is sound: the map is `MAP_SHARED`, read-only, of a file that is immutable
//! once named (objects are written to a temp file and renamed into place; a repair
//! renames a new file over the name, which leaves an existing map on the old inode).
//! Dropping pages of such a map (`MADV_DONTNEED`) only drops them from the process:
//! the next access reloads the same file content. The one thing a map cannot survive
//! is another program truncating the object file under it, which nothing in alsflow
//! does (`gc` unlinks, and an unlinked file stays mapped).

use crate::{ArtifactId, Store, StoreError};
use alsflow_core::bytes::{ArtifactBytes, Residency};
use memmap2::{Advice, Mmap, UncheckedAdvice};
use std::fs::File;
use std::io::{self, Read};
use std::ops::Range;
use std::sync::Arc;

/// Objects at least this large are memory-mapped; smaller ones are read to the heap.
pub const MAP_AT_LEAST: u64 = 1 << 20;

/// How much of a mapped object is hashed before its pages are released.
const HASH_WINDOW: usize = 64 << 20;

/// A read-only map of one object file.
struct MappedObject {
    map: Mmap,
}

impl Residency for MappedObject {
    fn release(&self, range: Range<usize>) {
        // SAFETY: the map is shared and read-only and its file is never modified in
        // place (module docs), so dropping pages cannot change what a later read of
        // these addresses returns: the kernel reloads the same bytes from the file.
        // `Residency::release` callers pass ranges within the map (clamped by
        // `ArtifactBytes::release`); an error only means the pages stay resident.
        let _ = unsafe {
            self.map
                .unchecked_advise_range(UncheckedAdvice::DontNeed, range.start, range.len())
        };
    }
}

/// The owner `Bytes` keeps alive for a mapped object.
struct SharedMap(Arc<MappedObject>);

impl AsRef<[u8]> for SharedMap {
    fn as_ref(&self) -> &[u8] {
        &self.0.map
    }
}

impl Store {
    /// Read an object for a stage, verifying its blake3 over exactly the bytes
    /// returned: objects of at least [`MAP_AT_LEAST`] bytes as a read-only memory map
    /// (none of its pages resident on return), smaller ones on the heap. Errors as
    /// [`Store::read`]: a mismatch is [`StoreError::Corrupt`], a missing file
    /// [`StoreError::Missing`].
    pub fn read_shared(&self, id: &ArtifactId) -> Result<ArtifactBytes, StoreError> {
        let path = self.object_path(id);
        let file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(StoreError::Missing { id: *id })
            }
            Err(e) => return Err(StoreError::io("open object", &path, e)),
        };
        let len = file
            .metadata()
            .map_err(|e| StoreError::io("stat object", &path, e))?
            .len();
        if len < MAP_AT_LEAST {
            let mut bytes = Vec::with_capacity(len as usize);
            (&file)
                .read_to_end(&mut bytes)
                .map_err(|e| StoreError::io("read object", &path, e))?;
            if ArtifactId::of(&bytes) != *id {
                return Err(self.corrupt(id, path));
            }
            return Ok(bytes.into());
        }
        // SAFETY: see the module docs: a shared read-only map of an object file, which
        // is immutable once named and never truncated by alsflow.
        let map =
            unsafe { Mmap::map(&file) }.map_err(|e| StoreError::io("map object", &path, e))?;
        // Only a hint for the kernel's read-ahead; failing to give it changes nothing.
        let _ = map.advise(Advice::Sequential);
        let object = Arc::new(MappedObject { map });
        let mut hasher = blake3::Hasher::new();
        let mut start = 0;
        while start < object.map.len() {
            let end = (start + HASH_WINDOW).min(object.map.len());
            hasher.update_rayon(&object.map[start..end]);
            object.release(start..end);
            start = end;
        }
        if ArtifactId(*hasher.finalize().as_bytes()) != *id {
            return Err(self.corrupt(id, path));
        }
        let bytes = bytes::Bytes::from_owner(SharedMap(object.clone()));
        Ok(ArtifactBytes::mapped(bytes, object))
    }
}
