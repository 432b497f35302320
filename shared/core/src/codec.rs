//! The bincode codec: the one module in the workspace that uses bincode, so the
//! encoding can be swapped without touching any stage.
//!
//! Encoding is deterministic: the same value always gives the same bytes (no
//! timestamps, fixed-width little-endian config is not needed since bincode's
//! standard config is itself deterministic for a given value).

use serde::{de::DeserializeOwned, Serialize};

/// A value could not be encoded or decoded.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    /// Encoding failed.
    #[error("cannot encode {what}: {message}")]
    Encode { what: &'static str, message: String },
    /// Decoding failed (corrupt or foreign bytes).
    #[error("cannot decode {what}: {message}")]
    Decode { what: &'static str, message: String },
}

fn config() -> bincode::config::Configuration {
    bincode::config::standard()
}

/// Encode `value` (named `what` in errors) to bytes.
pub fn encode<T: Serialize>(what: &'static str, value: &T) -> Result<Vec<u8>, CodecError> {
    bincode::serde::encode_to_vec(value, config()).map_err(|e| CodecError::Encode {
        what,
        message: e.to_string(),
    })
}

/// Decode a `T` (named `what` in errors) from `bytes`; trailing bytes are an error.
pub fn decode<T: DeserializeOwned>(what: &'static str, bytes: &[u8]) -> Result<T, CodecError> {
    let (value, used) =
        bincode::serde::decode_from_slice(bytes, config()).map_err(|e| CodecError::Decode {
            what,
            message: e.to_string(),
        })?;
    if used != bytes.len() {
        return Err(CodecError::Decode {
            what,
            message: format!("{} trailing bytes", bytes.len() - used),
        });
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Serialize, Deserialize, PartialEq, Debug)]
    struct Sample {
        a: u32,
        b: Vec<f32>,
        c: String,
    }

    #[test]
    fn round_trip_is_exact_and_deterministic() {
        let v = Sample {
            a: 7,
            b: vec![1.5, -2.0],
            c: "x".into(),
        };
        let bytes = encode("sample", &v).unwrap();
        assert_eq!(bytes, encode("sample", &v).unwrap());
        assert_eq!(decode::<Sample>("sample", &bytes).unwrap(), v);
    }

    #[test]
    fn trailing_and_truncated_bytes_are_errors() {
        let v = Sample {
            a: 7,
            b: vec![1.5],
            c: "x".into(),
        };
        let mut bytes = encode("sample", &v).unwrap();
        bytes.push(0);
        assert!(decode::<Sample>("sample", &bytes).is_err());
        bytes.truncate(3);
        assert!(decode::<Sample>("sample", &bytes).is_err());
    }
}
