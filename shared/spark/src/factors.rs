//! Spark's factor tables read back: a Parquet directory written by
//! `model.userFactors.write.parquet(...)` (part files with columns `id` int and
//! `features` array<float>, and a `_SUCCESS` marker once complete) into alsflow's
//! dense row-major layout.

use arrow::array::{Array, AsArray};
use arrow::datatypes::{Float32Type, Int32Type};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use std::path::Path;

/// Read the factor directory `dir` into `n × rank` row-major factors. Ids Spark did
/// not output (no interactions in the fit's rows) get zero rows, as alsflow's own
/// fits give them. Errors name the file and what was wrong.
pub fn read_factor_dir(dir: &Path, n: usize, rank: usize) -> Result<Vec<f32>, String> {
    if !dir.join("_SUCCESS").is_file() {
        return Err(format!(
            "{}: no _SUCCESS marker (Spark did not finish writing the factors)",
            dir.display()
        ));
    }
    let mut parts: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("part-") && n.ends_with(".parquet"))
        })
        .collect();
    parts.sort();
    let mut factors = vec![0f32; n * rank];
    let mut seen = vec![false; n];
    for part in &parts {
        let bad = |m: String| format!("{}: {m}", part.display());
        let file = std::fs::File::open(part).map_err(|e| bad(e.to_string()))?;
        let reader = ParquetRecordBatchReaderBuilder::try_new(file)
            .and_then(|b| b.build())
            .map_err(|e| bad(e.to_string()))?;
        for batch in reader {
            let batch = batch.map_err(|e| bad(e.to_string()))?;
            let (Some(ids), Some(features)) =
                (batch.column_by_name("id"), batch.column_by_name("features"))
            else {
                return Err(bad("expected columns 'id' and 'features'".into()));
            };
            let ids = ids
                .as_primitive_opt::<Int32Type>()
                .ok_or_else(|| bad(format!("column 'id' has type {}", ids.data_type())))?;
            let features = features.as_list_opt::<i32>().ok_or_else(|| {
                bad(format!(
                    "column 'features' has type {}",
                    features.data_type()
                ))
            })?;
            for row in 0..batch.num_rows() {
                let id = ids.value(row);
                let Some(slot) = usize::try_from(id).ok().filter(|&i| i < n) else {
                    return Err(bad(format!("id {id} outside the index space of {n}")));
                };
                if std::mem::replace(&mut seen[slot], true) {
                    return Err(bad(format!("id {id} appears twice")));
                }
                let values = features.value(row);
                let values = values
                    .as_primitive_opt::<Float32Type>()
                    .ok_or_else(|| bad("features are not floats".into()))?;
                if values.len() != rank || values.null_count() > 0 {
                    return Err(bad(format!(
                        "id {id} has {} factors ({} missing), expected {rank}",
                        values.len(),
                        values.null_count()
                    )));
                }
                factors[slot * rank..(slot + 1) * rank].copy_from_slice(values.values());
            }
        }
    }
    Ok(factors)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{ArrayRef, Int32Array, ListArray, RecordBatch};
    use std::sync::Arc;

    /// A directory as Spark writes it: part files, a checksum file, `_SUCCESS`.
    fn spark_dir(rows: &[(i32, Vec<f32>)], parts: usize) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (p, chunk) in rows.chunks(rows.len().div_ceil(parts)).enumerate() {
            let ids: ArrayRef = Arc::new(Int32Array::from_iter_values(chunk.iter().map(|r| r.0)));
            let features: ArrayRef = Arc::new(ListArray::from_iter_primitive::<Float32Type, _, _>(
                chunk
                    .iter()
                    .map(|r| Some(r.1.iter().map(|&v| Some(v)).collect::<Vec<_>>())),
            ));
            let batch = RecordBatch::try_from_iter([("id", ids), ("features", features)]).unwrap();
            let path = dir
                .path()
                .join(format!("part-0000{p}-x-c000.snappy.parquet"));
            let file = std::fs::File::create(&path).unwrap();
            let mut w = parquet::arrow::ArrowWriter::try_new(file, batch.schema(), None).unwrap();
            w.write(&batch).unwrap();
            w.close().unwrap();
        }
        std::fs::write(
            dir.path().join(".part-00000-x-c000.snappy.parquet.crc"),
            b"crc",
        )
        .unwrap();
        dir
    }

    #[test]
    fn rows_land_at_their_ids_and_missing_ids_are_zero() {
        let dir = spark_dir(
            &[
                (3, vec![1.0, 2.0]),
                (0, vec![3.0, 4.0]),
                (1, vec![5.0, 6.0]),
            ],
            2,
        );
        assert!(read_factor_dir(dir.path(), 5, 2)
            .unwrap_err()
            .contains("_SUCCESS"));
        std::fs::write(dir.path().join("_SUCCESS"), b"").unwrap();
        let f = read_factor_dir(dir.path(), 5, 2).unwrap();
        assert_eq!(f, vec![3.0, 4.0, 5.0, 6.0, 0.0, 0.0, 1.0, 2.0, 0.0, 0.0]);
        let e = read_factor_dir(dir.path(), 3, 2).unwrap_err();
        assert!(e.contains("id 3 outside the index space of 3"), "{e}");
        let e = read_factor_dir(dir.path(), 5, 3).unwrap_err();
        assert!(e.contains("expected 3"), "{e}");
    }
}
