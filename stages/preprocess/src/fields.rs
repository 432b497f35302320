//! One line's fields: cutting a line at its delimiter (with quoting), reading a
//! field as a number or timestamp, checking an id field, and showing a field in a
//! message.

use crate::params::Encoding;
use std::borrow::Cow;

/// Cut one line into fields (appended to `out`).
/// Fields are trimmed of ASCII whitespace; quoted fields are unquoted.
pub(crate) fn split_fields<'a>(
    line: &'a [u8],
    delim: &[u8],
    quote: Option<u8>,
    out: &mut Vec<Cow<'a, [u8]>>,
) -> Result<(), String> {
    out.clear();
    let quoted = quote.filter(|q| memchr::memchr(*q, line).is_some());
    if quoted.is_none() {
        // Fast path: no quote byte on the line.
        if delim.len() == 1 {
            let mut start = 0;
            for pos in memchr::memchr_iter(delim[0], line) {
                out.push(Cow::Borrowed(line[start..pos].trim_ascii()));
                start = pos + 1;
            }
            out.push(Cow::Borrowed(line[start..].trim_ascii()));
        } else {
            let mut start = 0;
            for pos in memchr::memmem::find_iter(line, delim) {
                if pos < start {
                    continue;
                }
                out.push(Cow::Borrowed(line[start..pos].trim_ascii()));
                start = pos + delim.len();
            }
            out.push(Cow::Borrowed(line[start..].trim_ascii()));
        }
        return Ok(());
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
                            out.push(field);
                            let mut after = at + 1;
                            while after < line.len()
                                && line[after] == b' '
                                && !delim.starts_with(b" ")
                            {
                                after += 1;
                            }
                            if after == line.len() {
                                return Ok(());
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
                    out.push(Cow::Borrowed(line[pos..e].trim_ascii()));
                    pos = e + delim.len();
                }
                None => {
                    out.push(Cow::Borrowed(line[pos..].trim_ascii()));
                    return Ok(());
                }
            }
        }
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
        split_fields(br#""a ""b"", c",  x ,"""#, b",", Some(b'"'), &mut out).unwrap();
        assert_eq!(
            out,
            vec![
                Cow::Borrowed(&b"a \"b\", c"[..]),
                Cow::Borrowed(b"x"),
                Cow::Borrowed(b"")
            ]
        );
        assert!(split_fields(br#""a"b,c"#, b",", Some(b'"'), &mut out).is_err());
        split_fields(b"1::2::3", b"::", None, &mut out).unwrap();
        assert_eq!(out.len(), 3);
    }
}
