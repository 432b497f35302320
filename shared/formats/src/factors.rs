//! The factor tables `train.user_factors` / `train.item_factors`: columns `idx` u32,
//! `raw_id` utf8 and `factors` FixedSizeList<f32, rank> (readable by pandas, polars and
//! Spark), with `rank` in the key-value metadata.

use alsflow_core::table::{read_batch, write_batch, IdMap, TableArtifact, TableError};
use arrow::array::{
    Array, ArrayRef, FixedSizeListArray, Float32Array, RecordBatch, StringArray, UInt32Array,
};
use arrow::datatypes::{DataType, Field, Schema};
use std::collections::BTreeMap;
use std::sync::Arc;

/// A factor table: one row of `rank` factors per id, row-major.
#[derive(Clone, Debug, PartialEq)]
pub struct FactorTable {
    /// Raw id of each row, in index order.
    pub raw_ids: Vec<String>,
    /// Factors per row.
    pub rank: usize,
    /// Row-major `raw_ids.len() × rank`.
    pub factors: Vec<f32>,
}

fn schema_err(what: &str, message: String) -> TableError {
    TableError::Schema {
        table: what.to_string(),
        message,
    }
}

/// Encode `factors` (row-major `ids.len() × rank`) as the table `what`
/// (`user_factors` or `item_factors`).
pub fn write_factors(
    factors: &[f32],
    rank: usize,
    ids: &IdMap,
    what: &str,
) -> Result<Vec<u8>, TableError> {
    let n = ids.len();
    if factors.len() != n * rank {
        return Err(schema_err(
            what,
            format!("{} factor values for {n} ids at rank {rank}", factors.len()),
        ));
    }
    let item_field = Arc::new(Field::new("item", DataType::Float32, false));
    let list = FixedSizeListArray::try_new(
        item_field.clone(),
        rank as i32,
        Arc::new(Float32Array::from(factors.to_vec())) as ArrayRef,
        None,
    )
    .map_err(|e| schema_err(what, e.to_string()))?;
    let schema = Schema::new(vec![
        Field::new("idx", DataType::UInt32, false),
        Field::new("raw_id", DataType::Utf8, false),
        Field::new(
            "factors",
            DataType::FixedSizeList(item_field, rank as i32),
            false,
        ),
    ]);
    let cols: Vec<ArrayRef> = vec![
        Arc::new(UInt32Array::from_iter_values(0..n as u32)),
        Arc::new(StringArray::from_iter_values(ids.raw_ids.iter())),
        Arc::new(list),
    ];
    let batch = RecordBatch::try_new(Arc::new(schema), cols)
        .map_err(|e| schema_err(what, e.to_string()))?;
    let mut meta = BTreeMap::new();
    meta.insert("alsflow.table".to_string(), what.to_string());
    meta.insert("rank".to_string(), rank.to_string());
    write_batch(&batch, &meta)
}

/// Decode a factor table written by [`write_factors`] (or by any backend with its schema).
pub fn read_factors(bytes: &[u8]) -> Result<FactorTable, TableError> {
    let (batch, _) = read_batch(bytes)?;
    let t = "factor table";
    let idx = batch
        .column_by_name("idx")
        .and_then(|c| c.as_any().downcast_ref::<UInt32Array>())
        .ok_or_else(|| schema_err(t, "missing u32 column 'idx'".into()))?;
    for (pos, v) in idx.values().iter().enumerate() {
        if *v as usize != pos {
            return Err(schema_err(
                t,
                format!("row {pos} has idx {v}; indices must be 0..n in order"),
            ));
        }
    }
    let raw = batch
        .column_by_name("raw_id")
        .and_then(|c| c.as_any().downcast_ref::<StringArray>())
        .ok_or_else(|| schema_err(t, "missing utf8 column 'raw_id'".into()))?;
    let list = batch
        .column_by_name("factors")
        .and_then(|c| c.as_any().downcast_ref::<FixedSizeListArray>())
        .ok_or_else(|| schema_err(t, "missing fixed-size-list column 'factors'".into()))?;
    let rank = list.value_length() as usize;
    let values = list
        .values()
        .as_any()
        .downcast_ref::<Float32Array>()
        .ok_or_else(|| schema_err(t, "column 'factors' does not hold f32 values".into()))?;
    if list.null_count() > 0 || values.null_count() > 0 {
        return Err(schema_err(t, "column 'factors' has nulls".into()));
    }
    let start = list.offset() * rank;
    let factors = values.values()[start..start + list.len() * rank].to_vec();
    Ok(FactorTable {
        raw_ids: (0..raw.len()).map(|i| raw.value(i).to_string()).collect(),
        rank,
        factors,
    })
}

impl TableArtifact for FactorTable {
    fn from_parquet(bytes: &[u8]) -> Result<Self, TableError> {
        read_factors(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_deterministic() {
        let ids = IdMap {
            raw_ids: vec!["a".into(), "b".into(), "c".into()],
            titles: None,
        };
        let f: Vec<f32> = (0..6).map(|i| i as f32 * 0.5).collect();
        let bytes = write_factors(&f, 2, &ids, "user_factors").unwrap();
        assert_eq!(bytes, write_factors(&f, 2, &ids, "user_factors").unwrap());
        let t = read_factors(&bytes).unwrap();
        assert_eq!((t.rank, t.factors, t.raw_ids), (2, f, ids.raw_ids.clone()));
        assert!(write_factors(&[1.0], 2, &ids, "user_factors").is_err());
        assert!(read_factors(b"nope").is_err());
    }
}
