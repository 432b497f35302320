//! Edge detection: the selected point takes the smallest or largest value tried on an
//! ordered axis that could go further (rank ≥ 1, reg_param > 0, alpha > 0,
//! max_iter ≥ 1, …), so a better model may lie beyond what was searched.

use crate::axes::{self, Ranges, Scale};
use crate::grid::display_value;
use crate::trials::Trials;
use alsflow_formats::search::Edge;

/// The ladder of an ordered axis: its distinct values among the points tried, sorted.
pub fn ladder(trials: &Trials<'_>, axis: &str) -> Vec<f64> {
    let mut values: Vec<f64> = trials
        .points
        .iter()
        .filter(|p| (0..trials.n_folds() as u8).any(|f| trials.has(p.index, f)))
        .filter_map(|p| {
            p.values
                .iter()
                .find(|(a, _)| a == axis)
                .and_then(|(_, v)| axes::numeric(v))
        })
        .collect();
    values.sort_by(|a, b| a.total_cmp(b));
    values.dedup();
    values
}

/// The edges of point `best` over the ordered axes in `searched` (axes with at least
/// two values tried). With `ranges` (an extending search), an edge at a limit says so.
pub fn find(
    trials: &Trials<'_>,
    best: usize,
    searched: &[&'static str],
    ranges: Option<&Ranges>,
) -> Vec<Edge> {
    let point = &trials.points[best];
    let mut out = Vec::new();
    for &axis in searched {
        let Some(info) = axes::info(axis) else {
            continue;
        };
        if info.scale == Scale::Categorical {
            continue;
        }
        let Some(value) = point.values.iter().find(|(a, _)| a == axis).map(|(_, v)| v) else {
            continue;
        };
        let Some(x) = axes::numeric(value) else {
            continue;
        };
        let values = ladder(trials, axis);
        if values.len() < 2 {
            continue;
        }
        for (side, direction, at_edge) in [
            ("smallest", -1i8, x == values[0]),
            ("largest", 1i8, x == values[values.len() - 1]),
        ] {
            if !at_edge || !axes::can_go_further(info, x, direction) {
                continue;
            }
            let limit = ranges.and_then(|r| r.get(axis)).and_then(|(lo, hi)| {
                let bound = if direction > 0 { hi } else { lo };
                (x == bound).then_some(bound)
            });
            out.push(Edge {
                axis: axis.to_string(),
                value: value.clone(),
                side: side.to_string(),
                limit,
            });
        }
    }
    out
}

/// The warning line of an edge; `hint` says what could be done about it.
pub fn warning(edge: &Edge, hint: &str) -> String {
    let (more, further) = if edge.side == "smallest" {
        ("lower", "smaller")
    } else {
        ("higher", "larger")
    };
    let mut line = format!(
        "{axis}: the best point takes the {side} value tried ({value}); {more} values may be better",
        axis = edge.axis,
        side = edge.side,
        value = display_value(&edge.value),
    );
    match edge.limit {
        Some(limit) => line.push_str(&format!(
            " but tune.limits.{} stops the search at {limit} (allow {further} values to go on)",
            edge.axis
        )),
        None if !hint.is_empty() => {
            line.push_str(" (");
            line.push_str(hint);
            line.push(')');
        }
        None => {}
    }
    line
}
