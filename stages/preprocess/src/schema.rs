//! The schemas of the known formats, checked row by row while parsing: MovieLens ids
//! are integers, its ratings lie on the file's star scale and its timestamps are
//! integers; Million Song play counts are whole numbers. The checks are cheap: ids
//! are checked when first seen (like the UTF-8 check), the rest is a comparison or a
//! scan of a few digits per row. Also the bound every interaction value must respect
//! so that downstream f32 arithmetic stays exact and finite ([`MAX_VALUE`]).

use crate::bad_input;
use crate::fields::show;
use crate::parse::{Layout, Parsed};
use alsflow_core::StageError;
use std::borrow::Cow;

/// The largest interaction value (in magnitude): 2^24, up to which f32 — the type of
/// the interaction table and of ALS — holds every whole number exactly. Larger counts
/// would be rounded, and the confidence 1 + alpha·r soon overflows.
pub(crate) const MAX_VALUE: f64 = 16_777_216.0;

/// The star scale of a MovieLens ratings file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum StarScale {
    /// `u.data` (100K): whole stars 1–5.
    Whole,
    /// `ratings.dat` (1M: whole stars; 10M: half stars) and `ratings.csv`: 0.5–5 in
    /// half-star steps.
    Half,
}

/// The row schema of a known format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RowSchema {
    /// MovieLens: integer ids and timestamps, ratings on the scale.
    Movielens(StarScale),
    /// Echo Nest Taste Profile triplets: play counts are whole numbers.
    MsdTriplets,
}

fn is_integer(field: &[u8]) -> bool {
    !field.is_empty() && field.len() <= 20 && field.iter().all(u8::is_ascii_digit)
}

/// Check one parsed row against `schema`: `value` is the row's parsed value;
/// `new_user`/`new_item` say whether its ids are seen for the first time. `Err` names
/// the field and what the format expects.
pub(crate) fn check_row(
    schema: RowSchema,
    layout: &Layout,
    fields: &[Cow<'_, [u8]>],
    new_user: bool,
    new_item: bool,
    value: f64,
) -> Result<(), String> {
    let [uname, iname, vname, tname] = &layout.names;
    match schema {
        RowSchema::Movielens(scale) => {
            for (new, col, what, name) in [
                (new_user, layout.user, "user", uname),
                (new_item, layout.item, "movie", iname),
            ] {
                if new && !is_integer(&fields[col]) {
                    return Err(format!(
                        "{what} id {} in column {name} is not an integer (MovieLens ids are \
                         integers)",
                        show(&fields[col])
                    ));
                }
            }
            if let Some(v) = layout.value {
                let ok = match scale {
                    StarScale::Whole => (1.0..=5.0).contains(&value) && value.fract() == 0.0,
                    StarScale::Half => (0.5..=5.0).contains(&value) && (value * 2.0).fract() == 0.0,
                };
                if !ok {
                    return Err(format!(
                        "rating {} in column {vname} is off the file's scale ({})",
                        show(&fields[v]),
                        match scale {
                            StarScale::Whole => "whole stars 1 to 5",
                            StarScale::Half => "0.5 to 5 in half stars",
                        }
                    ));
                }
            }
            if let Some(t) = layout.timestamp {
                if !is_integer(&fields[t]) {
                    return Err(format!(
                        "timestamp {} in column {tname} is not an integer (seconds since 1970)",
                        show(&fields[t])
                    ));
                }
            }
        }
        RowSchema::MsdTriplets => {
            if let Some(v) = layout.value {
                if !is_integer(&fields[v]) {
                    return Err(format!(
                        "play count {} in column {vname} is not a whole number",
                        show(&fields[v])
                    ));
                }
            }
        }
    }
    Ok(())
}

/// After merging repeated pairs: a merged value beyond [`MAX_VALUE`] (a `duplicates =
/// "sum"` that grew too large, up to infinity) is an error naming the file and the
/// pair (and the pair's first line when lines are kept). `labels` name the training and test files.
pub(crate) fn check_merged_values(p: &Parsed, labels: &[String]) -> Result<(), StageError> {
    let Some(r) = p
        .value
        .iter()
        .position(|v| v.is_nan() || f64::from(v.abs()) > MAX_VALUE)
    else {
        return Ok(());
    };
    let file = p
        .partition
        .as_ref()
        .and_then(|pp| labels.get(pp[r] as usize))
        .or(labels.first())
        .map_or("input", String::as_str);
    Err(bad_input(
        file,
        // Line numbers are kept only when `duplicates = "error"`; otherwise the pair
        // names the rows.
        p.line.get(r).map(|&l| u64::from(l)),
        format!(
            "user {} and item {}: the sum of this row and the rows repeating it is {}, beyond \
             {MAX_VALUE} (2^24), where f32 values lose whole numbers and the confidence \
             1 + alpha·r overflows; use duplicates = \"max\" or \"last\", or scale the values \
             down",
            show(p.users.get(p.user[r])),
            show(p.items.get(p.item[r])),
            p.value[r]
        ),
    ))
}
