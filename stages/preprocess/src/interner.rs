//! [`Interner`]: raw ids numbered in order of first appearance, their bytes kept once
//! in one arena.
//!
//! A file of 48 million rows has about a million distinct users: holding the bytes of
//! each distinct id once (no `String` per row, nor per id), with a hash table of
//! 4-byte indices over the arena, keeps the id side of preprocessing to tens of
//! megabytes, and lets the parser drop the raw file's pages as soon as a batch of it
//! is parsed (nothing borrows from the file afterwards).

use ahash::RandomState;
use hashbrown::hash_table::{Entry, HashTable};

/// Distinct ids in first-appearance order (see the module docs).
pub(crate) struct Interner {
    /// The ids' bytes, back to back.
    bytes: Vec<u8>,
    /// `ends[i]` is where id `i` ends in `bytes` (it starts where id `i - 1` ends).
    ends: Vec<usize>,
    /// Indices into `ends`, hashed by their id's bytes.
    table: HashTable<u32>,
    hasher: RandomState,
}

impl Default for Interner {
    fn default() -> Self {
        Interner {
            bytes: Vec::new(),
            ends: Vec::new(),
            table: HashTable::new(),
            hasher: crate::parse::hasher(),
        }
    }
}

impl std::fmt::Debug for Interner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.iter().map(String::from_utf8_lossy))
            .finish()
    }
}

/// The bytes of id `i` (given the arena and its ends).
fn key_at<'a>(bytes: &'a [u8], ends: &[usize], i: u32) -> &'a [u8] {
    let i = i as usize;
    let start = if i == 0 { 0 } else { ends[i - 1] };
    &bytes[start..ends[i]]
}

impl Interner {
    /// Number of distinct ids.
    pub(crate) fn len(&self) -> usize {
        self.ends.len()
    }

    /// The bytes of id `i` (`i < len()`).
    pub(crate) fn get(&self, i: u32) -> &[u8] {
        key_at(&self.bytes, &self.ends, i)
    }

    /// The index of `key`, adding it (as the next index) if it is new.
    pub(crate) fn intern(&mut self, key: &[u8]) -> u32 {
        let Interner {
            bytes,
            ends,
            table,
            hasher,
        } = self;
        let hash = hasher.hash_one(key);
        let entry = table.entry(
            hash,
            |&i| key_at(bytes, ends, i) == key,
            |&i| hasher.hash_one(key_at(bytes, ends, i)),
        );
        match entry {
            Entry::Occupied(e) => *e.get(),
            Entry::Vacant(v) => {
                let i = ends.len() as u32;
                bytes.extend_from_slice(key);
                ends.push(bytes.len());
                v.insert(i);
                i
            }
        }
    }

    /// Every id in index order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &[u8]> + '_ {
        (0..self.len() as u32).map(|i| self.get(i))
    }

    /// Keep the ids `i` with `keep[i]`, renumbered densely in their order.
    pub(crate) fn retain(&mut self, keep: &[bool]) {
        let mut kept = Interner::default();
        for (i, key) in self.iter().enumerate() {
            if keep[i] {
                kept.intern(key);
            }
        }
        *self = kept;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_numbered_by_first_appearance_and_kept_once() {
        let mut ids = Interner::default();
        let seen: Vec<u32> = ["b", "a", "b", "", "c", "a"]
            .iter()
            .map(|k| ids.intern(k.as_bytes()))
            .collect();
        assert_eq!(seen, vec![0, 1, 0, 2, 3, 1]);
        assert_eq!(ids.len(), 4);
        assert_eq!(
            ids.iter().collect::<Vec<_>>(),
            vec![&b"b"[..], b"a", b"", b"c"]
        );
        assert_eq!(
            ids.bytes.len(),
            3,
            "each distinct id's bytes are stored once"
        );
        ids.retain(&[false, true, true, true]);
        assert_eq!(ids.iter().collect::<Vec<_>>(), vec![&b"a"[..], b"", b"c"]);
        assert_eq!(ids.intern(b"c"), 2);
        assert_eq!(ids.intern(b"b"), 3);
    }

    #[test]
    fn many_ids_survive_table_growth() {
        let mut ids = Interner::default();
        for n in 0..50_000u32 {
            assert_eq!(ids.intern(format!("user-{n}").as_bytes()), n);
        }
        for n in (0..50_000u32).rev() {
            assert_eq!(ids.intern(format!("user-{n}").as_bytes()), n);
            assert_eq!(ids.get(n), format!("user-{n}").as_bytes());
        }
    }
}
