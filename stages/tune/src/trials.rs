//! The points a search has tried and their scores: one memo record per (point, fold),
//! looked up before anything is fitted, and the accounting of fits.
//!
//! Every strategy scores points only through [`Trials::score`], which groups the
//! missing (point, fold) results into fits (points that differ only in `max_iter` share
//! one fit, scored at each snapshot), takes what the memo has, and hands the rest to
//! the [`FitBackend`] as one batch. The search itself never sees whether a result was
//! memoised, so its path (and every artifact) is the same on a rerun.

use crate::fitter::{FitBackend, FitRequest, Scored, Snapshot};
use crate::grid::{canonical_params, merge, GridPoint};
use alsflow_als::AlsParams;
use alsflow_core::{codec, ArtifactId, StageContext, StageError};
use alsflow_formats::results::ResultRow;
use alsflow_metrics::Metrics;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

/// The memo key of one (point, fold) result: the point's canonical params, the fold,
/// `k` and the folds artifact, so a grid with one more value fits only the new points
/// and an unchanged search fits nothing.
pub fn memo_key(
    point: &AlsParams,
    fold: u8,
    k: usize,
    validation_users: Option<usize>,
    folds_id: ArtifactId,
    backend: &str,
) -> Result<Vec<u8>, StageError> {
    // A sampled validation is another result; exact keys stay as they were.
    let sample = validation_users
        .map(|n| format!("\0users={n}"))
        .unwrap_or_default();
    Ok(format!(
        "tune/v2\0folds={folds_id}\0fold={fold}\0k={k}{sample}\0{}{backend}",
        canonical_params(point)?
    )
    .into_bytes())
}

/// What the trials need to know about the search they serve.
pub struct TrialsSetup<'a> {
    /// The `[train]` params every point is merged over.
    pub base: &'a AlsParams,
    /// Cross-validation folds.
    pub n_folds: usize,
    /// Cut-off of the @k metrics.
    pub k: usize,
    /// `tune.validation_users` (part of the memo key when set).
    pub validation_users: Option<usize>,
    /// The fitting backend's part of every memo key: empty for native fits (their
    /// keys are as before backends existed), the Spark binding otherwise.
    pub backend_tag: String,
    /// The folds artifact (part of every memo key).
    pub folds_id: ArtifactId,
    /// The selection metric.
    pub metric: &'a str,
    /// Lower is better.
    pub minimize: bool,
}

/// The tried points, their scores and the fit accounting.
pub struct Trials<'a> {
    setup: TrialsSetup<'a>,
    ctx: &'a dyn StageContext,
    backend: &'a dyn FitBackend,
    /// Every point tried, in the order the search added them (its index).
    pub points: Vec<GridPoint>,
    index_of: HashMap<String, usize>,
    scores: BTreeMap<(usize, u8), Metrics>,
    /// (group, fold) fits the search needed, memoised or not.
    pub fits: usize,
    /// Fits actually run in this call.
    pub fits_run: usize,
    /// (point, fold) results taken from the memo.
    pub results_memoised: usize,
}

impl<'a> Trials<'a> {
    /// Empty trials.
    pub fn new(
        setup: TrialsSetup<'a>,
        ctx: &'a dyn StageContext,
        backend: &'a dyn FitBackend,
    ) -> Self {
        Trials {
            setup,
            ctx,
            backend,
            points: Vec::new(),
            index_of: HashMap::new(),
            scores: BTreeMap::new(),
            fits: 0,
            fits_run: 0,
            results_memoised: 0,
        }
    }

    /// Number of folds.
    pub fn n_folds(&self) -> usize {
        self.setup.n_folds
    }

    /// Every fold, in order.
    pub fn all_folds(&self) -> Vec<u8> {
        (0..self.setup.n_folds as u8).collect()
    }

    /// True when lower metric values are better.
    pub fn minimize(&self) -> bool {
        self.setup.minimize
    }

    /// The point with these axis values (merged over the base params), added if new.
    /// Returns its index and whether it is new.
    pub fn add(&mut self, values: Vec<(String, Value)>) -> Result<(usize, bool), StageError> {
        let params = merge(self.setup.base, &values)?;
        let key = canonical_params(&params)?;
        if let Some(&i) = self.index_of.get(&key) {
            return Ok((i, false));
        }
        let index = self.points.len();
        self.points.push(GridPoint {
            index,
            values,
            params,
        });
        self.index_of.insert(key, index);
        Ok((index, true))
    }

    /// Whether `point` has a score on `fold`.
    pub fn has(&self, point: usize, fold: u8) -> bool {
        self.scores.contains_key(&(point, fold))
    }

    /// The fits scoring `points` on `folds` needs, memoised or not: per parameter
    /// group (points that differ only in `max_iter`, by first appearance in `points`)
    /// and fold, the snapshots not yet scored in this search.
    fn plan(&self, points: &[usize], folds: &[u8]) -> Result<Vec<(u8, Vec<Snapshot>)>, StageError> {
        let mut groups: Vec<(String, Vec<usize>)> = Vec::new();
        for &p in points {
            let mut q = self.points[p].params.clone();
            q.max_iter = 0;
            let key = canonical_params(&q)?;
            match groups.iter_mut().find(|(k, _)| *k == key) {
                Some((_, members)) => {
                    if !members.contains(&p) {
                        members.push(p)
                    }
                }
                None => groups.push((key, vec![p])),
            }
        }
        let mut requests = Vec::new();
        for (_, members) in &groups {
            for &fold in folds {
                let mut snapshots: Vec<Snapshot> = members
                    .iter()
                    .filter(|&&p| !self.has(p, fold))
                    .map(|&p| Snapshot {
                        max_iter: self.points[p].params.max_iter,
                        point: p,
                    })
                    .collect();
                if snapshots.is_empty() {
                    continue;
                }
                snapshots.sort_by_key(|s| (s.max_iter, s.point));
                requests.push((fold, snapshots));
            }
        }
        Ok(requests)
    }

    /// How many fits [`Trials::score`] would need for `points` on `folds`.
    pub fn fits_needed(&self, points: &[usize], folds: &[u8]) -> Result<usize, StageError> {
        Ok(self.plan(points, folds)?.len())
    }

    /// Score `points` on `folds`: group the missing results into fits, take the
    /// memoised ones, and hand the rest to the backend as one batch labelled `label`.
    /// Returns the number of fits this needed (memoised or not).
    pub fn score(
        &mut self,
        points: &[usize],
        folds: &[u8],
        label: &str,
    ) -> Result<usize, StageError> {
        let requests = self.plan(points, folds)?;
        let needed = requests.len();
        self.fits += needed;

        // Memo look-ups first: only the missing (point, fold) results need a fit.
        let mut batch = Vec::new();
        for (fold, snapshots) in requests {
            let mut missing = Vec::new();
            for s in snapshots {
                let key = self.memo_key(s.point, fold)?;
                match self
                    .ctx
                    .memo_get(&key)
                    .and_then(|v| codec::decode::<Metrics>("tune memo", &v).ok())
                {
                    Some(m) => {
                        self.scores.insert((s.point, fold), m);
                        self.results_memoised += 1;
                    }
                    None => missing.push(s),
                }
            }
            let Some(last) = missing.last() else { continue };
            let top = &self.points[last.point];
            batch.push(FitRequest {
                params: top.params.clone(),
                fold,
                label: top.label(),
                snapshots: missing,
            });
        }
        self.fits_run += batch.len();
        let finished: Mutex<Vec<Scored>> = Mutex::new(Vec::new());
        let done = |request: &FitRequest, scored: &[Scored]| -> Result<(), StageError> {
            for s in scored {
                let key = self.memo_key(s.point, s.fold)?;
                self.ctx
                    .memo_put(&key, &codec::encode("tune memo", &s.metrics)?);
            }
            if scored.len() != request.snapshots.len() {
                return Err(StageError::other(format!(
                    "internal: the fit of [{}] fold {} returned {} of {} snapshots",
                    request.label,
                    request.fold,
                    scored.len(),
                    request.snapshots.len()
                )));
            }
            finished
                .lock()
                .map_err(|_| StageError::other("tune results poisoned"))?
                .extend_from_slice(scored);
            Ok(())
        };
        self.backend.fit_batch(label, &batch, &done)?;
        let finished = finished
            .into_inner()
            .map_err(|_| StageError::other("tune results poisoned"))?;
        for s in finished {
            self.scores.insert((s.point, s.fold), s.metrics);
        }
        Ok(needed)
    }

    fn memo_key(&self, point: usize, fold: u8) -> Result<Vec<u8>, StageError> {
        memo_key(
            &self.points[point].params,
            fold,
            self.setup.k,
            self.setup.validation_users,
            self.setup.folds_id,
            &self.setup.backend_tag,
        )
    }

    /// The selection metric of `point` on `fold`, if scored (NaN if the metric is).
    pub fn value(&self, point: usize, fold: u8) -> Option<f64> {
        self.scores
            .get(&(point, fold))
            .map(|m| m.get(self.setup.metric).unwrap_or(f64::NAN))
    }

    /// Mean selection metric of `point` over `folds`, if scored on all of them.
    pub fn mean_over(&self, point: usize, folds: &[u8]) -> Option<f64> {
        let mut sum = 0.0;
        for &f in folds {
            sum += self.value(point, f)?;
        }
        Some(sum / folds.len() as f64)
    }

    /// Mean over every fold, if `point` was scored on all of them.
    pub fn mean(&self, point: usize) -> Option<f64> {
        self.mean_over(point, &self.all_folds())
    }

    /// Whether `a` beats the current best `b` (NaN never wins, ties keep `b`).
    pub fn beats(&self, a: f64, b: f64) -> bool {
        !a.is_nan() && (b.is_nan() || if self.setup.minimize { a < b } else { a > b })
    }

    /// The best of `candidates` by mean over `folds` (first in order on ties), among
    /// those scored on all of them.
    pub fn best_of(&self, candidates: &[usize], folds: &[u8]) -> Option<(usize, f64)> {
        let mut best: Option<(usize, f64)> = None;
        for &p in candidates {
            let Some(mean) = self.mean_over(p, folds) else {
                continue;
            };
            match best {
                Some((_, b)) if !self.beats(mean, b) => {}
                _ => best = Some((p, mean)),
            }
        }
        best
    }

    /// The best point scored on every fold.
    pub fn best(&self) -> Option<(usize, f64)> {
        let all: Vec<usize> = (0..self.points.len()).collect();
        self.best_of(&all, &self.all_folds())
    }

    /// One row per scored (point, fold), point-major, folds ascending.
    pub fn rows(&self) -> Vec<ResultRow> {
        self.scores
            .iter()
            .map(|(&(p, fold), m)| ResultRow {
                point: p as u32,
                fold,
                params: self.points[p].params.clone(),
                metrics: m.clone(),
            })
            .collect()
    }

    /// Points scored on at least one fold.
    pub fn tried(&self) -> usize {
        let mut last = None;
        let mut n = 0;
        for &(p, _) in self.scores.keys() {
            if last != Some(p) {
                n += 1;
                last = Some(p);
            }
        }
        n
    }
}
