//! Item titles (MovieLens `u.item`, `movies.dat`, `movies.csv`): raw item id → title,
//! for the `items` table.

use crate::fields::split_fields;
use crate::layout::file_name;
use std::collections::HashMap;

/// Parse a titles file into raw item id → title; returns the map and the number of
/// unreadable lines (titles only decorate output, so bad lines are ignored, not fatal).
pub(crate) fn parse_titles(bytes: &[u8], label: &str) -> (HashMap<String, String>, u64) {
    let name = file_name(label);
    let first = bytes.split(|&b| b == b'\n').next().unwrap_or_default();
    let (delim, quote, header): (&[u8], Option<u8>, bool) = if name == "u.item" {
        (b"|", None, false)
    } else if name.ends_with(".dat") {
        (b"::", None, false)
    } else if name.ends_with(".csv") {
        (b",", Some(b'"'), first.starts_with(b"movieId"))
    } else if memchr::memmem::find(first, b"::").is_some() {
        (b"::", None, false)
    } else if first.contains(&b'|') {
        (b"|", None, false)
    } else {
        (b",", Some(b'"'), first.starts_with(b"movieId"))
    };
    let mut map = HashMap::new();
    let mut bad = 0u64;
    let mut fields = Vec::new();
    for (n, line) in bytes.split(|&b| b == b'\n').enumerate() {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if (n == 0 && header) || line.trim_ascii().is_empty() {
            continue;
        }
        // Only the id and the title are read; later fields are counted, not stored.
        if split_fields(line, delim, quote, &mut fields, 2).is_err() || fields.len() < 2 {
            bad += 1;
            continue;
        }
        // MovieLens files mix encodings (u.item and movies.dat are Latin-1).
        let text = |b: &[u8]| match std::str::from_utf8(b) {
            Ok(s) => s.to_string(),
            Err(_) => b.iter().map(|&c| c as char).collect(),
        };
        map.insert(text(&fields[0]), text(&fields[1]));
    }
    (map, bad)
}
