//! Canonical JSON: the one text form of parameters that cache keys and memo keys hash.
//!
//! Objects have their keys sorted (recursively), there is no whitespace, and numbers
//! are printed as serde_json prints them after a round trip through text, so an `f32`
//! 0.1 stays `0.1` rather than its `f64` widening. A value that cannot be serialised is
//! an error, never an empty string (which would make every key collide).

use serde::Serialize;
use serde_json::Value;

/// A value could not be turned into canonical JSON.
#[derive(Debug, thiserror::Error)]
#[error("cannot serialise {what} as canonical JSON: {message}")]
pub struct CanonicalError {
    /// What was being serialised (e.g. `train params`).
    pub what: String,
    /// serde_json's reason.
    pub message: String,
}

/// `value` as a JSON [`Value`], through text (see the module docs).
pub fn to_value<T: Serialize + ?Sized>(what: &str, value: &T) -> Result<Value, CanonicalError> {
    let err = |e: serde_json::Error| CanonicalError {
        what: what.to_string(),
        message: e.to_string(),
    };
    let text = serde_json::to_string(value).map_err(err)?;
    serde_json::from_str(&text).map_err(err)
}

/// Canonical JSON text of `value` (named `what` in errors).
pub fn to_string<T: Serialize + ?Sized>(what: &str, value: &T) -> Result<String, CanonicalError> {
    let v = to_value(what, value)?;
    let mut out = String::new();
    write(&v, &mut out);
    Ok(out)
}

/// Canonical JSON text of an already built [`Value`].
pub fn value_to_string(v: &Value) -> String {
    let mut out = String::new();
    write(v, &mut out);
    out
}

fn write(v: &Value, out: &mut String) {
    match v {
        Value::Object(m) => {
            out.push('{');
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            for (i, k) in keys.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String((*k).clone()).to_string());
                out.push(':');
                write(&m[*k], out);
            }
            out.push('}');
        }
        Value::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write(x, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[derive(Serialize)]
    struct P {
        z: f32,
        a: Vec<u8>,
        m: HashMap<String, u8>,
    }

    #[test]
    fn keys_sorted_floats_as_written_and_map_order_irrelevant() {
        let mut m = HashMap::new();
        m.insert("b".to_string(), 2);
        m.insert("a".to_string(), 1);
        let p = P {
            z: 0.1,
            a: vec![3, 1],
            m,
        };
        assert_eq!(
            to_string("p", &p).unwrap(),
            r#"{"a":[3,1],"m":{"a":1,"b":2},"z":0.1}"#
        );
    }

    #[test]
    fn unserialisable_values_are_errors_not_empty_keys() {
        let mut m = HashMap::new();
        m.insert((1u8, 2u8), 3u8); // a map with non-string keys cannot be JSON
        let e = to_string("grid point", &m).unwrap_err();
        assert!(e.to_string().contains("grid point"), "{e}");
    }
}
