//! Lowercase hex for ids and keys: the workspace's one encoder and decoder.
//!
//! Decoding is strict: only the digits `0-9a-fA-F` (no sign, no whitespace, no
//! `0x`), and exactly the expected length.

/// Lowercase hex of `bytes`.
pub fn encode(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

fn digit(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Decode an even number of hex digits (either case) into bytes; `None` on any other
/// character or an odd length.
pub fn decode(s: &str) -> Option<Vec<u8>> {
    let b = s.as_bytes();
    if !b.len().is_multiple_of(2) {
        return None;
    }
    b.chunks_exact(2)
        .map(|pair| Some(digit(pair[0])? << 4 | digit(pair[1])?))
        .collect()
}

/// Decode exactly 64 hex digits (either case) into 32 bytes.
pub fn decode32(s: &str) -> Option<[u8; 32]> {
    if s.len() != 64 {
        return None;
    }
    decode(s)?.try_into().ok()
}

/// True when every character of `s` is a hex digit (the empty string included).
pub fn is_hex(s: &str) -> bool {
    s.bytes().all(|c| digit(c).is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_anything_but_digits() {
        let bytes: Vec<u8> = (0..=255).collect();
        assert_eq!(decode(&encode(&bytes)), Some(bytes));
        assert_eq!(encode(&[0x00, 0xab, 0xff]), "00abff");
        assert_eq!(decode("ABff"), Some(vec![0xab, 0xff]));
        for bad in ["+1", "1", "0x", " 1", "g0", "１２"] {
            assert_eq!(decode(bad), None, "{bad:?}");
        }
        // from_str_radix would accept a sign: this decoder must not.
        let mut signed = "+f".to_string();
        signed.push_str(&"0".repeat(62));
        assert_eq!(decode32(&signed), None);
        assert_eq!(decode32(&"A".repeat(64)), Some([0xaa; 32]));
        assert_eq!(decode32(&"a".repeat(62)), None);
        assert!(is_hex("09afAF") && !is_hex("x"));
    }
}
