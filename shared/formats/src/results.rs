//! The `results` table: one row per (grid point, fold) with every parameter, the fold
//! and every metric. Fit times are deliberately absent (they would make the bytes,
//! and so the artifact id, differ between identical runs); they go to the summary.

use alsflow_als::AlsParams;
use alsflow_core::table::{read_batch, write_batch, TableArtifact, TableError};
use alsflow_metrics::{metric_names, Metrics};
use arrow::array::{
    Array, ArrayRef, BooleanArray, Float32Array, Float64Array, RecordBatch, StringArray,
    UInt32Array, UInt64Array, UInt8Array,
};
use arrow::datatypes::{DataType, Field, Schema};
use std::collections::BTreeMap;
use std::sync::Arc;

/// One row of the results table.
#[derive(Clone, Debug, PartialEq)]
pub struct ResultRow {
    /// The grid point's position in grid order.
    pub point: u32,
    /// The validation fold.
    pub fold: u8,
    /// The point's full parameters.
    pub params: AlsParams,
    /// Validation metrics of the fit on the other folds.
    pub metrics: Metrics,
}

fn enum_name<T: serde::Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        Ok(other) => other.to_string(),
        Err(_) => String::new(),
    }
}

fn enum_parse<T: serde::de::DeserializeOwned>(column: &str, s: &str) -> Result<T, TableError> {
    serde_json::from_value(serde_json::Value::String(s.to_string())).map_err(|e| {
        TableError::Schema {
            table: "tune results".into(),
            message: format!("column '{column}': bad value '{s}': {e}"),
        }
    })
}

/// Encode rows as Parquet (deterministic). All rows must share `k`.
pub fn write_results(rows: &[ResultRow], k: usize) -> Result<Vec<u8>, TableError> {
    let p = |f: &dyn Fn(&AlsParams) -> u32| {
        UInt32Array::from_iter_values(rows.iter().map(|r| f(&r.params)))
    };
    let mut fields = vec![
        Field::new("point", DataType::UInt32, false),
        Field::new("fold", DataType::UInt8, false),
        Field::new("rank", DataType::UInt32, false),
        Field::new("max_iter", DataType::UInt32, false),
        Field::new("reg_param", DataType::Float32, false),
        Field::new("alpha", DataType::Float32, false),
        Field::new("confidence", DataType::Utf8, false),
        Field::new("eps", DataType::Float32, false),
        Field::new("reg_scaling", DataType::Utf8, false),
        Field::new("solver", DataType::Utf8, false),
        Field::new("cg_steps", DataType::UInt32, false),
        Field::new("nonnegative", DataType::Boolean, false),
        Field::new("seed", DataType::UInt64, false),
    ];
    let mut cols: Vec<ArrayRef> = vec![
        Arc::new(UInt32Array::from_iter_values(rows.iter().map(|r| r.point))),
        Arc::new(UInt8Array::from_iter_values(rows.iter().map(|r| r.fold))),
        Arc::new(p(&|a| a.rank as u32)),
        Arc::new(p(&|a| a.max_iter as u32)),
        Arc::new(Float32Array::from_iter_values(
            rows.iter().map(|r| r.params.reg_param),
        )),
        Arc::new(Float32Array::from_iter_values(
            rows.iter().map(|r| r.params.alpha),
        )),
        Arc::new(StringArray::from_iter_values(
            rows.iter().map(|r| enum_name(&r.params.confidence)),
        )),
        Arc::new(Float32Array::from_iter_values(
            rows.iter().map(|r| r.params.eps),
        )),
        Arc::new(StringArray::from_iter_values(
            rows.iter().map(|r| enum_name(&r.params.reg_scaling)),
        )),
        Arc::new(StringArray::from_iter_values(
            rows.iter().map(|r| enum_name(&r.params.solver)),
        )),
        Arc::new(p(&|a| a.cg_steps as u32)),
        Arc::new(BooleanArray::from(
            rows.iter()
                .map(|r| r.params.nonnegative)
                .collect::<Vec<_>>(),
        )),
        Arc::new(UInt64Array::from_iter_values(
            rows.iter().map(|r| r.params.seed),
        )),
    ];
    for (n, name) in metric_names(k).into_iter().enumerate() {
        fields.push(Field::new(name, DataType::Float64, false));
        cols.push(Arc::new(Float64Array::from_iter_values(
            rows.iter().map(|r| r.metrics.named()[n].1),
        )));
    }
    fields.push(Field::new("users_evaluated", DataType::UInt64, false));
    cols.push(Arc::new(UInt64Array::from_iter_values(
        rows.iter().map(|r| r.metrics.users_evaluated),
    )));
    fields.push(Field::new("test_interactions", DataType::UInt64, false));
    cols.push(Arc::new(UInt64Array::from_iter_values(
        rows.iter().map(|r| r.metrics.test_interactions),
    )));
    let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), cols)
        .map_err(|e| TableError::Parquet(e.to_string()))?;
    let mut meta = BTreeMap::new();
    meta.insert("alsflow.table".to_string(), "tune_results".to_string());
    meta.insert("k".to_string(), k.to_string());
    write_batch(&batch, &meta)
}

fn col<'a, T: 'static>(b: &'a RecordBatch, name: &str) -> Result<&'a T, TableError> {
    let c = b.column_by_name(name).ok_or_else(|| TableError::Schema {
        table: "tune results".into(),
        message: format!("missing column '{name}'"),
    })?;
    c.as_any()
        .downcast_ref::<T>()
        .ok_or_else(|| TableError::Schema {
            table: "tune results".into(),
            message: format!("column '{name}' has type {}", c.data_type()),
        })
}

/// Decode a table written by [`write_results`].
pub fn read_results(bytes: &[u8]) -> Result<Vec<ResultRow>, TableError> {
    let (b, meta) = read_batch(bytes)?;
    let k: usize =
        meta.get("k")
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| TableError::Schema {
                table: "tune results".into(),
                message: "missing or bad 'k' metadata".into(),
            })?;
    let names = metric_names(k);
    let point = col::<UInt32Array>(&b, "point")?;
    let fold = col::<UInt8Array>(&b, "fold")?;
    let rank = col::<UInt32Array>(&b, "rank")?;
    let max_iter = col::<UInt32Array>(&b, "max_iter")?;
    let reg = col::<Float32Array>(&b, "reg_param")?;
    let alpha = col::<Float32Array>(&b, "alpha")?;
    let conf = col::<StringArray>(&b, "confidence")?;
    let eps = col::<Float32Array>(&b, "eps")?;
    let scaling = col::<StringArray>(&b, "reg_scaling")?;
    let solver = col::<StringArray>(&b, "solver")?;
    let cg = col::<UInt32Array>(&b, "cg_steps")?;
    let nonneg = col::<BooleanArray>(&b, "nonnegative")?;
    let seed = col::<UInt64Array>(&b, "seed")?;
    let metric_cols: Vec<&Float64Array> = names
        .iter()
        .map(|n| col::<Float64Array>(&b, n))
        .collect::<Result<_, _>>()?;
    let users = col::<UInt64Array>(&b, "users_evaluated")?;
    let tests = col::<UInt64Array>(&b, "test_interactions")?;
    let mut rows = Vec::with_capacity(b.num_rows());
    for r in 0..b.num_rows() {
        let params = AlsParams {
            rank: rank.value(r) as usize,
            max_iter: max_iter.value(r) as usize,
            reg_param: reg.value(r),
            alpha: alpha.value(r),
            confidence: enum_parse("confidence", conf.value(r))?,
            eps: eps.value(r),
            reg_scaling: enum_parse("reg_scaling", scaling.value(r))?,
            solver: enum_parse("solver", solver.value(r))?,
            cg_steps: cg.value(r) as usize,
            nonnegative: nonneg.value(r),
            seed: seed.value(r),
            ..AlsParams::default()
        };
        let m = |i: usize| metric_cols[i].value(r);
        rows.push(ResultRow {
            point: point.value(r),
            fold: fold.value(r),
            params,
            metrics: Metrics {
                k,
                roem: m(0),
                precision: m(1),
                recall: m(2),
                map: m(3),
                ndcg: m(4),
                auc: m(5),
                coverage: m(6),
                users_evaluated: users.value(r),
                test_interactions: tests.value(r),
            },
        });
    }
    Ok(rows)
}

/// The whole `tune.results` table, as stages decode it.
#[derive(Clone, Debug, PartialEq)]
pub struct TuneResults {
    /// One row per (point, fold), point-major.
    pub rows: Vec<ResultRow>,
}

impl TableArtifact for TuneResults {
    fn from_parquet(bytes: &[u8]) -> Result<Self, TableError> {
        read_results(bytes).map(|rows| TuneResults { rows })
    }
}

/// Mean over folds per grid point: (first row of the point, mean of each metric), in point order.
pub fn mean_by_point(rows: &[ResultRow]) -> Vec<(ResultRow, Metrics)> {
    let mut by: BTreeMap<u32, Vec<&ResultRow>> = BTreeMap::new();
    for r in rows {
        by.entry(r.point).or_default().push(r);
    }
    by.into_values()
        .map(|rs| {
            let n = rs.len() as f64;
            let mean =
                |f: &dyn Fn(&Metrics) -> f64| rs.iter().map(|r| f(&r.metrics)).sum::<f64>() / n;
            let m = Metrics {
                k: rs[0].metrics.k,
                roem: mean(&|m| m.roem),
                precision: mean(&|m| m.precision),
                recall: mean(&|m| m.recall),
                map: mean(&|m| m.map),
                ndcg: mean(&|m| m.ndcg),
                auc: mean(&|m| m.auc),
                coverage: mean(&|m| m.coverage),
                users_evaluated: rs.iter().map(|r| r.metrics.users_evaluated).sum(),
                test_interactions: rs.iter().map(|r| r.metrics.test_interactions).sum(),
            };
            (rs[0].clone(), m)
        })
        .collect()
}
