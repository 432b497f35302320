//! One line's fields: cutting a line at its delimiter (with quoting), reading a
//! field as a number or timestamp, checking an id field, and showing a field in a
//! message.

use crate::params::Encoding;
use std::borrow::Cow;

/// Cut one line into fields, keeping at most `keep` of them in `out`, and return how
/// many fields the line has. Fields are trimmed of ASCII whitespace; quoted fields are
/// unquoted.
///
/// Fields past `keep` are counted, not stored: a line of a hundred million delimiters
/// costs a count, not 24 bytes per field, before the caller rejects its column count.
pub(crate) fn split_fields<'a>(
    line: &'a [u8],
    delim: &[u8],
    quote: Option<u8>,
    out: &mut Vec<Cow<'a, [u8]>>,
    keep: usize,
) -> Result<usize, String> {
    out.clear();
    let mut found = 0usize;
    let mut push = |out: &mut Vec<Cow<'a, [u8]>>, field: Cow<'a, [u8]>| {
        found += 1;
        if out.len() < keep {
            out.push(field);
        }
    };
    let quoted = quote.filter(|q| memchr::memchr(*q, line).is_some());
    if quoted.is_none() {
        // Fast path: no quote byte on the line. Once `keep` fields are stored, the rest
        // of the line only needs its delimiters counted.
        let mut start = 0;
        while out.len() < keep {
            match find(&line[start..], delim) {
                Some(o) => {
                    push(out, Cow::Borrowed(line[start..start + o].trim_ascii()));
                    start += o + delim.len();
                }
                None => {
                    push(out, Cow::Borrowed(line[start..].trim_ascii()));
                    return Ok(found);
                }
            }
        }
        return Ok(found + 1 + count(&line[start..], delim));
    }
    let q = quoted.unwrap_or(b'"');
    let mut pos = 0;
    loop {
        // Skip leading blanks of the field, then look for an opening quote.
        let mut p = pos;
        while p < line.len()
            && (line[p] == b' ' || line[p] == b'\t')
            && !delim.starts_with(&line[p..p + 1])
        {
            p += 1;
        }
        if p < line.len() && line[p] == q {
            let mut owned: Option<Vec<u8>> = None;
            let content_start = p + 1;
            let mut i = content_start;
            loop {
                match memchr::memchr(q, &line[i..]) {
                    None => {
                        return Err(
                            "unterminated quoted field (quoted fields cannot span lines)".into(),
                        )
                    }
                    Some(off) => {
                        let at = i + off;
                        if line.get(at + 1) == Some(&q) {
                            let buf = owned.get_or_insert_with(Vec::new);
                            buf.extend_from_slice(&line[i..=at]);
                            i = at + 2;
                        } else {
                            let field = match owned.take() {
                                Some(mut buf) => {
                                    buf.extend_from_slice(&line[i..at]);
                                    Cow::Owned(buf)
                                }
                                None => Cow::Borrowed(&line[content_start..at]),
                            };
                            push(out, field);
                            let mut after = at + 1;
                            while after < line.len()
                                && line[after] == b' '
                                && !delim.starts_with(b" ")
                            {
                                after += 1;
                            }
                            if after == line.len() {
                                return Ok(found);
                            }
                            if line[after..].starts_with(delim) {
                                pos = after + delim.len();
                                break;
                            }
                            return Err("unexpected text after a closing quote".into());
                        }
                    }
                }
            }
        } else {
            let end = find(&line[pos..], delim).map(|o| pos + o);
            match end {
                Some(e) => {
                    push(out, Cow::Borrowed(line[pos..e].trim_ascii()));
                    pos = e + delim.len();
                }
                None => {
                    push(out, Cow::Borrowed(line[pos..].trim_ascii()));
                    return Ok(found);
                }
            }
        }
    }
}

/// Non-overlapping occurrences of `needle` in `hay`.
fn count(hay: &[u8], needle: &[u8]) -> usize {
    if needle.len() == 1 {
        memchr::memchr_iter(needle[0], hay).count()
    } else {
        memchr::memmem::find_iter(hay, needle)
            .fold((0, 0), |(n, next), at| {
                // find_iter reports overlapping matches of a self-overlapping needle;
                // the splitter above never does.
                if at >= next {
                    (n + 1, at + needle.len())
                } else {
                    (n, next)
                }
            })
            .0
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.len() == 1 {
        memchr::memchr(needle[0], hay)
    } else {
        memchr::memmem::find(hay, needle)
    }
}

/// Show a field in a message: lossy UTF-8, quoted, shortened.
pub(crate) fn show(bytes: &[u8]) -> String {
    let s = String::from_utf8_lossy(bytes);
    let s: String = s.chars().take(60).collect();
    format!("{s:?}")
}

/// Parse a number field (ASCII decimal, optional exponent; `nan`/`inf` are rejected).
pub(crate) fn parse_f64(field: &[u8]) -> Option<f64> {
    let s = std::str::from_utf8(field).ok()?;
    s.parse::<f64>().ok()
}

/// Parse an integer timestamp (a float with no fractional part is accepted).
pub(crate) fn parse_timestamp(field: &[u8]) -> Option<i64> {
    let s = std::str::from_utf8(field).ok()?;
    if let Ok(v) = s.parse::<i64>() {
        return Some(v);
    }
    let f = s.parse::<f64>().ok()?;
    (f.is_finite() && f.fract() == 0.0 && f.abs() < 9.0e18).then_some(f as i64)
}

/// Validate an id field; `Err` says why it is unusable.
pub(crate) fn check_id(
    field: &[u8],
    what: &str,
    col: &str,
    encoding: Encoding,
) -> Result<(), String> {
    if field.is_empty() {
        return Err(format!("empty {what} id in column {col}"));
    }
    if encoding == Encoding::Utf8 && std::str::from_utf8(field).is_err() {
        return Err(format!(
            "{what} id {} in column {col} is not valid UTF-8 (set encoding = \"latin-1\" if the file is Latin-1)",
            show(field)
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_fields_unescape_doubled_quotes() {
        let mut out = Vec::new();
        let n = split_fields(br#""a ""b"", c",  x ,"""#, b",", Some(b'"'), &mut out, 9).unwrap();
        assert_eq!(n, 3);
        assert_eq!(
            out,
            vec![
                Cow::Borrowed(&b"a \"b\", c"[..]),
                Cow::Borrowed(b"x"),
                Cow::Borrowed(b"")
            ]
        );
        assert!(split_fields(br#""a"b,c"#, b",", Some(b'"'), &mut out, 9).is_err());
        split_fields(b"1::2::3", b"::", None, &mut out, 9).unwrap();
        assert_eq!(out.len(), 3);
    }

    #[test]
    fn fields_past_the_limit_are_counted_not_stored() {
        let mut out = Vec::new();
        for (line, delim, quote) in [
            (&b"a,b,c,,d,"[..], &b","[..], None),
            (b"a,b,c,,d,", b",", Some(b'"')),
            (b"\"a\",b,\"c\",,d,", b",", Some(b'"')),
            (b"a::b::c::::d::", b"::", None),
            (b"a:::b", b"::", None),
        ] {
            let all = split_fields(line, delim, quote, &mut out, usize::MAX).unwrap();
            let stored = out.clone();
            for keep in 0..8 {
                assert_eq!(split_fields(line, delim, quote, &mut out, keep), Ok(all));
                assert_eq!(out[..], stored[..keep.min(all)], "{line:?} keep {keep}");
            }
        }
        let commas = vec![b','; 1 << 20];
        let n = split_fields(&commas, b",", Some(b'"'), &mut out, 3).unwrap();
        assert_eq!((n, out.len()), ((1 << 20) + 1, 3));
    }
}
