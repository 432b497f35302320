//! The `[train]` section: the ALS parameters plus the backend that fits them.
//!
//! The section stays flat (`rank = 64`, `backend = "spark"`): [`Params`] reads
//! `backend` itself and hands every other key, as it arrives, to [`AlsParams`]'s own
//! deserialiser, so unknown keys and wrong types are still reported with their key
//! (the runner tracks the path through this streaming hand-over).

use alsflow_als::AlsParams;
use alsflow_spark::{Backend, SparkRun};
use serde::de::{self, DeserializeSeed, IntoDeserializer, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};
use std::fmt;

/// Parameters of the `train` stage (its `[train]` section of `pipeline.toml`).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Params {
    /// The ALS parameters (every `[train]` key but `backend`).
    #[serde(flatten)]
    pub als: AlsParams,
    /// Which implementation fits the model.
    pub backend: Backend,
    /// How to reach Spark, set by the runner when `backend = "spark"`; serialised as
    /// the cache key's view of it (see [`SparkRun`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spark: Option<SparkRun>,
}

/// Every key of the `[train]` section, for the unknown-key message. A test checks it
/// against [`AlsParams`]'s serialised fields.
pub const KEYS: &[&str] = &[
    "rank",
    "max_iter",
    "reg_param",
    "alpha",
    "confidence",
    "eps",
    "reg_scaling",
    "solver",
    "cg_steps",
    "nonnegative",
    "seed",
    "threads",
    "compute_loss",
    "backend",
];

impl<'de> Deserialize<'de> for Params {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(ParamsVisitor)
    }
}

struct ParamsVisitor;

impl<'de> Visitor<'de> for ParamsVisitor {
    type Value = Params;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the [train] table")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Params, A::Error> {
        let mut backend = None;
        let als = AlsParams::deserialize(de::value::MapAccessDeserializer::new(AlsKeys {
            map,
            backend: &mut backend,
        }))?;
        Ok(Params {
            als,
            backend: backend.unwrap_or_default(),
            spark: None,
        })
    }
}

/// The section's entries minus `backend`, which it takes aside.
struct AlsKeys<'b, A> {
    map: A,
    backend: &'b mut Option<Backend>,
}

impl<'de, A: MapAccess<'de>> MapAccess<'de> for AlsKeys<'_, A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, A::Error> {
        loop {
            let Some(key) = self.map.next_key::<String>()? else {
                return Ok(None);
            };
            if key == "backend" {
                if self.backend.is_some() {
                    return Err(de::Error::duplicate_field("backend"));
                }
                *self.backend = Some(self.map.next_value()?);
                continue;
            }
            if !KEYS.contains(&key.as_str()) {
                return Err(de::Error::unknown_field(&key, KEYS));
            }
            return seed.deserialize(key.into_deserializer()).map(Some);
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, A::Error> {
        self.map.next_value_seed(seed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_the_als_fields_plus_backend() {
        let json = serde_json::to_value(AlsParams::default()).unwrap();
        let mut fields: Vec<&str> = json
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        fields.push("backend");
        fields.sort_unstable();
        let mut keys = KEYS.to_vec();
        keys.sort_unstable();
        assert_eq!(fields, keys);
    }

    #[test]
    fn the_section_reads_flat_and_errors_name_the_key() {
        let p: Params = serde_json::from_str(r#"{"rank": 7, "backend": "spark"}"#).unwrap();
        assert_eq!((p.als.rank, p.backend), (7, Backend::Spark));
        let p: Params = serde_json::from_str(r#"{"alpha": 3.0}"#).unwrap();
        assert_eq!((p.als.alpha, p.backend), (3.0, Backend::Native));
        let e = serde_json::from_str::<Params>(r#"{"rnak": 7}"#).unwrap_err();
        assert!(e.to_string().starts_with("unknown field `rnak`"), "{e}");
        assert!(e.to_string().contains("`backend`"), "{e}");
        let e = serde_json::from_str::<Params>(r#"{"backend": "sparkk"}"#).unwrap_err();
        assert!(e.to_string().contains("unknown variant `sparkk`"), "{e}");
    }

    #[test]
    fn native_params_serialise_flat_with_the_backend() {
        let json = serde_json::to_string(&Params::default()).unwrap();
        assert!(json.contains("\"rank\":10"), "{json}");
        assert!(json.contains("\"backend\":\"native\""), "{json}");
        assert!(!json.contains("spark"), "{json}");
    }
}
