//! [`ArtifactBytes`]: the bytes of an input artifact as a stage sees them — shared,
//! cheap to clone, and either on the heap or a memory map of the stored object.
//!
//! A raw source of several gigabytes must not be held twice (read into a `Vec`, then
//! copied into an `Arc`), nor even once on the heap when the stage only walks it:
//! the store hands large objects over as a read-only memory map whose hash it has
//! verified, and the stage reads it like any byte slice. Pages of a map the stage has
//! finished with can be returned to the page cache with [`ArtifactBytes::release`],
//! so a sequential pass over a large file keeps only a window of it resident. The
//! bytes stay readable after a release (the kernel reloads a page on the next touch);
//! only their residency changes, never their content.
//!
//! Core knows nothing of how a map is made: whoever builds one (the store) passes its
//! owner and a [`Residency`] that knows how to drop pages.

use bytes::Bytes;
use std::fmt;
use std::ops::{Deref, Range};
use std::sync::Arc;

/// Drops resident pages of a memory-mapped region (see the module docs).
pub trait Residency: Send + Sync {
    /// The pages overlapping `range` (byte offsets into the region) are not needed
    /// soon: give them back to the page cache. The bytes must stay readable.
    fn release(&self, range: Range<usize>);
}

/// Shared, immutable bytes of an artifact: heap memory or a verified memory map.
///
/// Dereferences to `[u8]`; clones share the same memory. [`ArtifactBytes::bytes`]
/// gives a [`Bytes`] view (for Parquet readers) without copying.
#[derive(Clone, Default)]
pub struct ArtifactBytes {
    bytes: Bytes,
    residency: Option<Arc<dyn Residency>>,
}

impl ArtifactBytes {
    /// Bytes backed by a memory map: `bytes` views the mapped region (its owner keeps
    /// the map alive), `residency` drops pages of that same region.
    pub fn mapped(bytes: Bytes, residency: Arc<dyn Residency>) -> Self {
        ArtifactBytes {
            bytes,
            residency: Some(residency),
        }
    }

    /// True when the bytes are a memory map rather than heap memory.
    pub fn is_mapped(&self) -> bool {
        self.residency.is_some()
    }

    /// A [`Bytes`] view of the same memory (no copy).
    pub fn bytes(&self) -> Bytes {
        self.bytes.clone()
    }

    /// The pages overlapping `range` are done with: a memory-mapped handle returns
    /// them to the page cache (they reload if touched again); heap bytes ignore it.
    /// Out-of-range ends are clamped.
    pub fn release(&self, range: Range<usize>) {
        if let Some(r) = &self.residency {
            let end = range.end.min(self.bytes.len());
            if range.start < end {
                r.release(range.start..end);
            }
        }
    }

    /// [`ArtifactBytes::release`] over the whole handle.
    pub fn release_all(&self) {
        self.release(0..self.bytes.len());
    }
}

impl Deref for ArtifactBytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.bytes
    }
}

impl AsRef<[u8]> for ArtifactBytes {
    fn as_ref(&self) -> &[u8] {
        &self.bytes
    }
}

impl From<Vec<u8>> for ArtifactBytes {
    /// Heap bytes, without copying the vector.
    fn from(v: Vec<u8>) -> Self {
        ArtifactBytes {
            bytes: Bytes::from(v),
            residency: None,
        }
    }
}

impl From<&[u8]> for ArtifactBytes {
    fn from(v: &[u8]) -> Self {
        Bytes::copy_from_slice(v).into()
    }
}

impl From<Bytes> for ArtifactBytes {
    fn from(bytes: Bytes) -> Self {
        ArtifactBytes {
            bytes,
            residency: None,
        }
    }
}

impl PartialEq for ArtifactBytes {
    fn eq(&self, other: &Self) -> bool {
        self.bytes == other.bytes
    }
}

impl fmt::Debug for ArtifactBytes {
    /// The length and backing, never the content (a raw source can be gigabytes).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "ArtifactBytes({} bytes, {})",
            self.bytes.len(),
            if self.is_mapped() { "mapped" } else { "heap" }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[derive(Default)]
    struct Recorder(Mutex<Vec<Range<usize>>>);

    impl Residency for Recorder {
        fn release(&self, range: Range<usize>) {
            self.0.lock().unwrap().push(range);
        }
    }

    #[test]
    fn heap_bytes_deref_and_share_without_copying() {
        let v = vec![1u8, 2, 3];
        let ptr = v.as_ptr();
        let b = ArtifactBytes::from(v);
        assert_eq!(&b[..], &[1, 2, 3]);
        assert_eq!(
            b.bytes().as_ptr(),
            ptr,
            "Vec → ArtifactBytes → Bytes copies nothing"
        );
        assert_eq!(b.clone().as_ptr(), ptr);
        assert!(!b.is_mapped());
        b.release_all();
        assert_eq!(format!("{b:?}"), "ArtifactBytes(3 bytes, heap)");
    }

    #[test]
    fn release_is_clamped_and_forwarded_for_mapped_bytes() {
        let rec = Arc::new(Recorder::default());
        let b = ArtifactBytes::mapped(Bytes::from_static(b"0123456789"), rec.clone());
        b.release(2..4);
        b.release(8..100);
        b.release(20..30);
        b.release_all();
        assert_eq!(*rec.0.lock().unwrap(), vec![2..4, 8..10, 0..10]);
        assert!(b.is_mapped());
    }
}
