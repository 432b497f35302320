//! The `evaluate.metrics` table: column `system` (`model`, `popularity`, `random`), one
//! f64 column per metric ([`alsflow_metrics::metric_names`]), `users_evaluated`, and
//! `sampled_users` (null when the metrics are exact over every user; else the size of
//! the seeded user sample, with the number of users it was drawn from as `sampled_from`
//! in the metadata); `k` in the key-value metadata. [`metrics_json`] is its JSON form.

use alsflow_core::table::{read_batch, write_batch, TableError};
use alsflow_metrics::{metric_names, Metrics};
use arrow::array::{Array, ArrayRef, Float64Array, RecordBatch, StringArray, UInt64Array};
use arrow::datatypes::{DataType, Field, Schema};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Encode the metrics table of an exact evaluation (over every user with test rows).
pub fn write_metrics(systems: &[(String, Metrics)], k: usize) -> Result<Vec<u8>, TableError> {
    write_metrics_sampled(systems, k, None)
}

/// Encode the metrics table: column `system`, one f64 column per metric,
/// `users_evaluated`, `sampled_users`. `sampled_from` is `Some(users with test rows)`
/// when the metrics are over a sample of them (`users_evaluated` of each system).
pub fn write_metrics_sampled(
    systems: &[(String, Metrics)],
    k: usize,
    sampled_from: Option<usize>,
) -> Result<Vec<u8>, TableError> {
    let mut fields = vec![Field::new("system", DataType::Utf8, false)];
    let mut cols: Vec<ArrayRef> = vec![Arc::new(StringArray::from_iter_values(
        systems.iter().map(|s| s.0.as_str()),
    ))];
    for (n, name) in metric_names(k).into_iter().enumerate() {
        fields.push(Field::new(name, DataType::Float64, false));
        cols.push(Arc::new(Float64Array::from_iter_values(
            systems.iter().map(|s| s.1.named()[n].1),
        )));
    }
    fields.push(Field::new("users_evaluated", DataType::UInt64, false));
    cols.push(Arc::new(UInt64Array::from_iter_values(
        systems.iter().map(|s| s.1.users_evaluated),
    )));
    fields.push(Field::new("sampled_users", DataType::UInt64, true));
    cols.push(Arc::new(UInt64Array::from_iter(
        systems
            .iter()
            .map(|s| sampled_from.map(|_| s.1.users_evaluated)),
    )));
    let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), cols)
        .map_err(|e| TableError::Parquet(e.to_string()))?;
    let mut meta = BTreeMap::new();
    meta.insert("alsflow.table".to_string(), "metrics".to_string());
    meta.insert("k".to_string(), k.to_string());
    if let Some(from) = sampled_from {
        meta.insert("sampled_from".to_string(), from.to_string());
    }
    write_batch(&batch, &meta)
}

/// The metrics table as JSON: `{"model": {"roem": …, "precision@10": …, …,
/// "users_evaluated": …}, "popularity": {…}, "random": {…}}` (NaN becomes null).
/// Sampled metrics also carry `"sampled_users"` (the sample's size) and
/// `"sampled_from"` (the users with test rows it was drawn from); exact ones do not.
pub fn metrics_json(metrics_parquet: &[u8]) -> Result<serde_json::Value, TableError> {
    let (batch, meta) = read_batch(metrics_parquet)?;
    let sampled_from: Option<u64> = meta.get("sampled_from").and_then(|v| v.parse().ok());
    let systems = batch
        .column_by_name("system")
        .and_then(|c| c.as_any().downcast_ref::<StringArray>())
        .ok_or_else(|| TableError::Schema {
            table: "metrics".into(),
            message: "missing utf8 column 'system'".into(),
        })?;
    let mut out = serde_json::Map::new();
    for r in 0..batch.num_rows() {
        let mut row = serde_json::Map::new();
        for (f, col) in batch.schema().fields().iter().zip(batch.columns()) {
            let v = if let Some(a) = col.as_any().downcast_ref::<Float64Array>() {
                serde_json::Number::from_f64(a.value(r))
                    .map_or(serde_json::Value::Null, serde_json::Value::Number)
            } else if let Some(a) = col.as_any().downcast_ref::<UInt64Array>() {
                if a.is_null(r) {
                    continue;
                }
                serde_json::Value::from(a.value(r))
            } else {
                continue;
            };
            row.insert(f.name().clone(), v);
        }
        if let (Some(from), true) = (sampled_from, row.contains_key("sampled_users")) {
            row.insert("sampled_from".to_string(), serde_json::Value::from(from));
        }
        out.insert(systems.value(r).to_string(), serde_json::Value::Object(row));
    }
    Ok(serde_json::Value::Object(out))
}
