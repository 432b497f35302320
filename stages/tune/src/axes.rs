//! What the search knows about each `[train]` key as an axis: whether it is ordered,
//! how far it may go (its natural bounds and `tune.limits`), how a step beyond an edge
//! is taken, and how new values are rounded so labels stay readable.

use alsflow_core::StageError;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// How the search moves along an axis.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scale {
    /// Positive reals, stepped by a factor (reg_param, alpha, eps). The factor grows
    /// while the search keeps winning in the same direction: these axes cost nothing
    /// to move, and good values lie orders of magnitude away from the defaults.
    Geometric,
    /// Positive integers stepped by a fixed factor 2 (rank, max_iter, cg_steps): the
    /// cost of a fit grows with them, so the search never leaps.
    Doubling,
    /// Unordered values (solver, confidence, …): the search tries every value the
    /// grid lists at the best point's other settings, never new ones.
    Categorical,
}

/// One `[train]` key as a search axis.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AxisInfo {
    /// The `[train]` key.
    pub name: &'static str,
    /// How it moves.
    pub scale: Scale,
    /// Integer-valued.
    pub integer: bool,
    /// The smallest value that makes sense (exclusive for reals: reg_param > 0).
    pub natural_min: f64,
    /// The search's default range when `tune.limits` does not name the axis.
    pub default_limits: (f64, f64),
}

const fn axis(
    name: &'static str,
    scale: Scale,
    integer: bool,
    natural_min: f64,
    default_limits: (f64, f64),
) -> AxisInfo {
    AxisInfo {
        name,
        scale,
        integer,
        natural_min,
        default_limits,
    }
}

/// Every `[train]` key that can be a grid axis, outermost first: the grid order (and
/// so the tie-break of the selection) follows this list whatever order the TOML
/// lists them in; the seed's order is rank outer, alpha inner.
pub const AXIS_INFO: &[AxisInfo] = &[
    axis("rank", Scale::Doubling, true, 1.0, (1.0, 256.0)),
    axis("max_iter", Scale::Doubling, true, 1.0, (1.0, 80.0)),
    axis("reg_param", Scale::Geometric, false, 0.0, (1e-4, 1e4)),
    axis("alpha", Scale::Geometric, false, 0.0, (1e-3, 1e4)),
    axis("solver", Scale::Categorical, false, 0.0, (0.0, 0.0)),
    axis("reg_scaling", Scale::Categorical, false, 0.0, (0.0, 0.0)),
    axis("nonnegative", Scale::Categorical, false, 0.0, (0.0, 0.0)),
    axis("confidence", Scale::Categorical, false, 0.0, (0.0, 0.0)),
    axis("eps", Scale::Geometric, false, 0.0, (1e-4, 1e4)),
    axis("cg_steps", Scale::Doubling, true, 1.0, (1.0, 16.0)),
    axis("seed", Scale::Categorical, true, 0.0, (0.0, 0.0)),
];

/// `[train]` keys that are not axes, and why (the error says so).
pub const NOT_AXES: &[(&str, &str)] = &[
    (
        "threads",
        "the thread count does not change the model (results are bit-identical for any value)",
    ),
    (
        "compute_loss",
        "the loss trace does not change the model, only what is logged",
    ),
];

/// The axis called `name`.
pub fn info(name: &str) -> Option<&'static AxisInfo> {
    AXIS_INFO.iter().find(|a| a.name == name)
}

/// The numeric value of an axis value (`None` for strings and booleans).
pub fn numeric(v: &Value) -> Option<f64> {
    v.as_f64()
}

/// The range `tune.limits` gives an axis: `rank = 256` (a maximum) or
/// `reg_param = { min = 0.01, max = 1000 }`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Default)]
pub struct Limit {
    /// Smallest value the search may try.
    pub min: Option<f64>,
    /// Largest value the search may try.
    pub max: Option<f64>,
}

impl<'de> Deserialize<'de> for Limit {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Range {
            min: Option<f64>,
            max: Option<f64>,
        }
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Form {
            Max(f64),
            Range(Range),
        }
        match Form::deserialize(d).map_err(|_| {
            serde::de::Error::custom(
                "expected a number (the largest value) or a table { min = …, max = … }",
            )
        })? {
            Form::Max(max) => Ok(Limit {
                min: None,
                max: Some(max),
            }),
            Form::Range(r) => Ok(Limit {
                min: r.min,
                max: r.max,
            }),
        }
    }
}

/// The effective range of every ordered axis: `tune.limits` over the defaults.
#[derive(Clone, Debug, PartialEq)]
pub struct Ranges {
    by_axis: BTreeMap<&'static str, (f64, f64)>,
}

impl Ranges {
    /// Check `limits` (names, order, natural bounds) and merge them over the defaults.
    pub fn new(limits: &BTreeMap<String, Limit>) -> Result<Self, StageError> {
        let mut by_axis = BTreeMap::new();
        for a in AXIS_INFO.iter().filter(|a| a.scale != Scale::Categorical) {
            by_axis.insert(a.name, a.default_limits);
        }
        for (name, limit) in limits {
            let bad = |message: String| StageError::BadParam {
                param: format!("tune.limits.{name}"),
                message,
            };
            let Some(a) = info(name) else {
                return Err(bad(format!(
                    "not a search axis; limits apply to {}",
                    ordered_names().join(", ")
                )));
            };
            if a.scale == Scale::Categorical {
                return Err(bad(format!(
                    "'{name}' is not ordered, so it has no range; limits apply to {}",
                    ordered_names().join(", ")
                )));
            }
            let (mut lo, mut hi) = a.default_limits;
            if let Some(m) = limit.min {
                lo = m;
            }
            if let Some(m) = limit.max {
                hi = m;
            }
            let positive = if a.integer { lo >= 1.0 } else { lo > 0.0 };
            if !(lo.is_finite() && hi.is_finite() && positive) {
                return Err(bad(format!(
                    "the range [{lo}, {hi}] must be finite with a minimum {}",
                    if a.integer {
                        "of at least 1"
                    } else {
                        "above 0"
                    }
                )));
            }
            if lo > hi {
                return Err(bad(format!("minimum {lo} is above maximum {hi}")));
            }
            by_axis.insert(a.name, (lo, hi));
        }
        Ok(Ranges { by_axis })
    }

    /// The (min, max) the search may try on `axis` (ordered axes only).
    pub fn get(&self, axis: &str) -> Option<(f64, f64)> {
        self.by_axis.get(axis).copied()
    }
}

fn ordered_names() -> Vec<&'static str> {
    AXIS_INFO
        .iter()
        .filter(|a| a.scale != Scale::Categorical)
        .map(|a| a.name)
        .collect()
}

/// `x` rounded to two significant digits (integers: at least 1), so that new values
/// read like hand-written ones (0.3, 9.6, 150) and are exact decimal literals.
pub fn round_nice(x: f64, integer: bool) -> f64 {
    if !(x.is_finite() && x > 0.0) {
        return x;
    }
    let two_digits: f64 = format!("{x:.1e}").parse().unwrap_or(x);
    if integer {
        two_digits.round().max(1.0)
    } else {
        two_digits
    }
}

/// The JSON value of a number on `axis` (integers as integers, so labels read
/// `rank=20`, not `rank=20.0`).
pub fn to_value(a: &AxisInfo, x: f64) -> Value {
    if a.integer {
        Value::from(x.round() as u64)
    } else {
        Value::from(x)
    }
}

/// The next value beyond `from` in `direction` (+1 up, −1 down) with step `factor`,
/// rounded and kept inside `range`; `None` when no new value remains (at the limit or
/// the natural bound, or when rounding lands back on `from`).
pub fn step(a: &AxisInfo, from: f64, direction: i8, factor: f64, range: (f64, f64)) -> Option<f64> {
    let raw = if direction > 0 {
        from * factor
    } else {
        from / factor
    };
    let mut next = round_nice(raw, a.integer).clamp(range.0, range.1);
    if a.integer {
        next = next.round();
    }
    // The range is validated positive, so clamping also keeps the natural bound.
    let moved = if direction > 0 {
        next > from
    } else {
        next < from
    };
    moved.then_some(next)
}

/// The rounded geometric mean of `lo` and `hi` if it lies strictly between them.
pub fn midpoint(a: &AxisInfo, lo: f64, hi: f64) -> Option<f64> {
    let m = round_nice((lo * hi).sqrt(), a.integer);
    (m > lo && m < hi).then_some(m)
}

/// Whether the axis can go beyond `value` in `direction` at all (its natural bound:
/// rank ≥ 1, reg_param > 0, …), whatever the limits say.
pub fn can_go_further(a: &AxisInfo, value: f64, direction: i8) -> bool {
    match a.scale {
        Scale::Categorical => false,
        _ if direction > 0 => true,
        _ if a.integer => value > a.natural_min,
        _ => value > 0.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_round_to_readable_values_and_respect_bounds() {
        let reg = info("reg_param").unwrap();
        let rank = info("rank").unwrap();
        assert_eq!(round_nice(153.6, false), 150.0);
        assert_eq!(round_nice(0.15 * 2.0, false), 0.3);
        assert_eq!(round_nice(56.57, true), 57.0);
        assert_eq!(step(reg, 0.15, 1, 2.0, (1e-4, 1e4)), Some(0.3));
        assert_eq!(step(reg, 1.2, 1, 8.0, (1e-4, 1e4)), Some(9.6));
        assert_eq!(step(reg, 0.05, -1, 2.0, (1e-4, 1e4)), Some(0.025));
        assert_eq!(step(rank, 40.0, 1, 2.0, (1.0, 64.0)), Some(64.0));
        assert_eq!(step(rank, 64.0, 1, 2.0, (1.0, 64.0)), None, "at the limit");
        assert_eq!(step(rank, 1.0, -1, 2.0, (1.0, 256.0)), None, "rank ≥ 1");
        assert_eq!(step(rank, 3.0, -1, 2.0, (1.0, 256.0)), Some(2.0));
        assert_eq!(midpoint(reg, 1.2, 9.6), Some(3.4));
        assert_eq!(midpoint(rank, 10.0, 11.0), None);
        assert!(!can_go_further(reg, 0.0, -1));
        assert!(can_go_further(reg, 0.05, -1));
        assert!(!can_go_further(rank, 1.0, -1));
        assert_eq!(to_value(rank, 20.0), Value::from(20u64));
    }

    #[test]
    fn limits_parse_as_a_maximum_or_a_range_and_bad_ones_are_named() {
        let parse = |s: &str| serde_json::from_str::<BTreeMap<String, Limit>>(s);
        let l = parse(r#"{"rank": 64, "reg_param": {"min": 0.01, "max": 100}}"#).unwrap();
        let r = Ranges::new(&l).unwrap();
        assert_eq!(r.get("rank"), Some((1.0, 64.0)));
        assert_eq!(r.get("reg_param"), Some((0.01, 100.0)));
        assert_eq!(r.get("alpha"), Some((1e-3, 1e4)));
        let e = parse(r#"{"rank": "big"}"#).unwrap_err().to_string();
        assert!(e.contains("expected a number"), "{e}");
        let e = Ranges::new(&parse(r#"{"solver": 3}"#).unwrap())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("tune.limits.solver") && e.contains("not ordered"),
            "{e}"
        );
        let e = Ranges::new(&parse(r#"{"rank": {"min": 8, "max": 4}}"#).unwrap())
            .unwrap_err()
            .to_string();
        assert!(e.contains("tune.limits.rank"), "{e}");
        let e = Ranges::new(&parse(r#"{"alpha": {"min": 0}}"#).unwrap())
            .unwrap_err()
            .to_string();
        assert!(e.contains("above 0"), "{e}");
        let e = Ranges::new(&parse(r#"{"threads": 4}"#).unwrap())
            .unwrap_err()
            .to_string();
        assert!(e.contains("not a search axis"), "{e}");
    }
}
