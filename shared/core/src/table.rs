//! Parquet encodings of the tables stages exchange.
//!
//! - [`Interactions`]: `user_idx` u32, `item_idx` u32, `value` f32, and optional
//!   `timestamp` i64, `fold` u8 (k-fold part of a training row), `cold` bool (the
//!   row is not usable for validation in its fold: its user or item is absent from
//!   that fold's fit part), `partition` u8 (predefined splits: 0 = training file,
//!   1 = test file). The index spaces (`n_users`, `n_items`) travel in the file's
//!   key-value metadata.
//! - [`IdMap`]: `idx` u32, `raw_id` utf8 and, for items, an optional `title` utf8.
//!
//! Writers are deterministic: no timestamps, fixed properties, so equal tables
//! give equal bytes (and equal artifact ids).

use arrow::array::{
    Array, ArrayRef, BooleanArray, Float32Array, Int64Array, RecordBatch, StringArray, UInt32Array,
    UInt8Array,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use bytes::Bytes;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;
use std::collections::BTreeMap;
use std::sync::Arc;

/// A table could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum TableError {
    /// Parquet or Arrow failed.
    #[error("parquet: {0}")]
    Parquet(String),
    /// The table lacks a column or has it with another type.
    #[error("table {table}: {message}")]
    Schema { table: String, message: String },
}

fn pq<E: std::fmt::Display>(e: E) -> TableError {
    TableError::Parquet(e.to_string())
}

/// Deterministic writer properties shared by every table we write.
pub fn writer_properties(metadata: &BTreeMap<String, String>) -> WriterProperties {
    let kv: Vec<KeyValue> = metadata
        .iter()
        .map(|(k, v)| KeyValue::new(k.clone(), v.clone()))
        .collect();
    WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_created_by("alsflow".to_string())
        .set_key_value_metadata(if kv.is_empty() { None } else { Some(kv) })
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .build()
}

/// Write `batch` as a Parquet file in memory, with `metadata` as key-value pairs.
pub fn write_batch(
    batch: &RecordBatch,
    metadata: &BTreeMap<String, String>,
) -> Result<Vec<u8>, TableError> {
    let mut buf = Vec::new();
    let mut writer =
        ArrowWriter::try_new(&mut buf, batch.schema(), Some(writer_properties(metadata)))
            .map_err(pq)?;
    writer.write(batch).map_err(pq)?;
    writer.close().map_err(pq)?;
    Ok(buf)
}

/// Read a whole Parquet file into one batch, plus its key-value metadata.
pub fn read_batch(bytes: &[u8]) -> Result<(RecordBatch, BTreeMap<String, String>), TableError> {
    let (schema, batches, metadata) = read_batches(Bytes::copy_from_slice(bytes))?;
    let batch = match <[RecordBatch; 1]>::try_from(batches) {
        Ok([one]) => one,
        Err(batches) => arrow::compute::concat_batches(&schema, &batches).map_err(pq)?,
    };
    Ok((batch, metadata))
}

/// A Parquet file's schema, record batches and key-value metadata.
pub type Batches = (SchemaRef, Vec<RecordBatch>, BTreeMap<String, String>);

/// Read a Parquet file held in `bytes` (shared, not copied) as its record batches (at
/// most 2^20 rows each), with its schema and key-value metadata. Large tables decode
/// batch by batch into their own columns instead of concatenating into one batch.
pub fn read_batches(bytes: Bytes) -> Result<Batches, TableError> {
    let builder = ParquetRecordBatchReaderBuilder::try_new(bytes).map_err(pq)?;
    let mut metadata = BTreeMap::new();
    if let Some(kv) = builder.metadata().file_metadata().key_value_metadata() {
        for entry in kv {
            if let Some(v) = &entry.value {
                metadata.insert(entry.key.clone(), v.clone());
            }
        }
    }
    let schema = builder.schema().clone();
    let reader = builder.with_batch_size(1 << 20).build().map_err(pq)?;
    let batches = reader.collect::<Result<Vec<_>, _>>().map_err(pq)?;
    Ok((schema, batches, metadata))
}

fn column<'a, T: 'static>(
    batch: &'a RecordBatch,
    table: &str,
    name: &str,
) -> Result<&'a T, TableError> {
    let col = batch
        .column_by_name(name)
        .ok_or_else(|| TableError::Schema {
            table: table.to_string(),
            message: format!("missing column '{name}'"),
        })?;
    col.as_any()
        .downcast_ref::<T>()
        .ok_or_else(|| TableError::Schema {
            table: table.to_string(),
            message: format!("column '{name}' has type {}", col.data_type()),
        })
}

fn optional_column<'a, T: 'static>(
    batch: &'a RecordBatch,
    table: &str,
    name: &str,
) -> Result<Option<&'a T>, TableError> {
    if batch.column_by_name(name).is_none() {
        return Ok(None);
    }
    column(batch, table, name).map(Some)
}

/// A table type that travels between stages as Parquet: what
/// [`crate::StageInputs::table`] decodes.
pub trait TableArtifact: Sized {
    /// Decode from the Parquet bytes its writer produced.
    fn from_parquet(bytes: &[u8]) -> Result<Self, TableError>;

    /// Decode from shared bytes; tables that can decode without first copying the
    /// file (the large ones) override it.
    fn from_parquet_bytes(bytes: Bytes) -> Result<Self, TableError> {
        Self::from_parquet(&bytes)
    }
}

impl TableArtifact for Interactions {
    fn from_parquet(bytes: &[u8]) -> Result<Self, TableError> {
        Interactions::from_parquet(bytes)
    }
    fn from_parquet_bytes(bytes: Bytes) -> Result<Self, TableError> {
        Interactions::from_parquet_bytes(bytes)
    }
}

impl TableArtifact for IdMap {
    fn from_parquet(bytes: &[u8]) -> Result<Self, TableError> {
        IdMap::from_parquet(bytes)
    }
    fn from_parquet_bytes(bytes: Bytes) -> Result<Self, TableError> {
        IdMap::from_parquet_bytes(bytes)
    }
}

/// A table of (user, item, value) interactions in dense index space.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Interactions {
    /// Size of the user index space (every `user` < `n_users`).
    pub n_users: u32,
    /// Size of the item index space (every `item` < `n_items`).
    pub n_items: u32,
    /// Dense user index per row.
    pub user: Vec<u32>,
    /// Dense item index per row.
    pub item: Vec<u32>,
    /// Interaction value per row (1.0 for binary feedback, counts, ratings).
    pub value: Vec<f32>,
    /// Optional timestamp per row (seconds, as in the source).
    pub timestamp: Option<Vec<i64>>,
    /// Optional k-fold part of each training row (`folds` artifact).
    pub fold: Option<Vec<u8>>,
    /// Optional flag: the row cannot be validated in its fold (cold user or item).
    pub cold: Option<Vec<bool>>,
    /// Optional source partition for predefined splits (0 = train file, 1 = test file).
    pub partition: Option<Vec<u8>>,
}

impl Interactions {
    /// An empty table over the given index spaces.
    pub fn with_dims(n_users: u32, n_items: u32) -> Self {
        Interactions {
            n_users,
            n_items,
            ..Default::default()
        }
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.user.len()
    }

    /// True when there are no rows.
    pub fn is_empty(&self) -> bool {
        self.user.is_empty()
    }

    /// Keep only the rows whose index satisfies `keep`, optional columns included.
    /// `keep` is called once per row, in order; the rows kept are remembered in a
    /// one-byte-per-row mask (not a list of indices), so filtering a table of tens of
    /// millions of rows costs little more than the rows it keeps.
    pub fn filter_rows(&self, mut keep: impl FnMut(usize) -> bool) -> Interactions {
        let mask: Vec<bool> = (0..self.len()).map(&mut keep).collect();
        let kept = mask.iter().filter(|&&k| k).count();
        fn pick<T: Copy>(v: &[T], mask: &[bool], kept: usize) -> Vec<T> {
            let mut out = Vec::with_capacity(kept);
            out.extend(v.iter().zip(mask).filter(|(_, &k)| k).map(|(&x, _)| x));
            out
        }
        Interactions {
            n_users: self.n_users,
            n_items: self.n_items,
            user: pick(&self.user, &mask, kept),
            item: pick(&self.item, &mask, kept),
            value: pick(&self.value, &mask, kept),
            timestamp: self.timestamp.as_ref().map(|v| pick(v, &mask, kept)),
            fold: self.fold.as_ref().map(|v| pick(v, &mask, kept)),
            cold: self.cold.as_ref().map(|v| pick(v, &mask, kept)),
            partition: self.partition.as_ref().map(|v| pick(v, &mask, kept)),
        }
    }

    /// Encode as Parquet (deterministic). Rows are encoded one row group (2^20 rows) at
    /// a time, so the Arrow copy of the columns never exceeds one row group.
    pub fn to_parquet(&self) -> Result<Vec<u8>, TableError> {
        let n = self.len();
        let check = |name: &str, len: usize| {
            if len != n {
                Err(TableError::Schema {
                    table: "interactions".into(),
                    message: format!("column '{name}' has {len} rows, expected {n}"),
                })
            } else {
                Ok(())
            }
        };
        check("item_idx", self.item.len())?;
        check("value", self.value.len())?;
        let mut fields = vec![
            Field::new("user_idx", DataType::UInt32, false),
            Field::new("item_idx", DataType::UInt32, false),
            Field::new("value", DataType::Float32, false),
        ];
        if let Some(ts) = &self.timestamp {
            check("timestamp", ts.len())?;
            fields.push(Field::new("timestamp", DataType::Int64, false));
        }
        if let Some(f) = &self.fold {
            check("fold", f.len())?;
            fields.push(Field::new("fold", DataType::UInt8, false));
        }
        if let Some(c) = &self.cold {
            check("cold", c.len())?;
            fields.push(Field::new("cold", DataType::Boolean, false));
        }
        if let Some(p) = &self.partition {
            check("partition", p.len())?;
            fields.push(Field::new("partition", DataType::UInt8, false));
        }
        let schema = Arc::new(Schema::new(fields));
        let mut meta = BTreeMap::new();
        meta.insert("alsflow.table".to_string(), "interactions".to_string());
        meta.insert("n_users".to_string(), self.n_users.to_string());
        meta.insert("n_items".to_string(), self.n_items.to_string());
        let mut buf = Vec::new();
        let mut writer =
            ArrowWriter::try_new(&mut buf, schema.clone(), Some(writer_properties(&meta)))
                .map_err(pq)?;
        // An empty table still writes its schema (one empty batch).
        let groups: Vec<std::ops::Range<usize>> = if n == 0 {
            std::iter::once(0..0).collect()
        } else {
            (0..n)
                .step_by(ROW_GROUP_ROWS)
                .map(|s| s..(s + ROW_GROUP_ROWS).min(n))
                .collect()
        };
        for r in groups {
            let mut cols: Vec<ArrayRef> = vec![
                Arc::new(UInt32Array::from(self.user[r.clone()].to_vec())),
                Arc::new(UInt32Array::from(self.item[r.clone()].to_vec())),
                Arc::new(Float32Array::from(self.value[r.clone()].to_vec())),
            ];
            if let Some(ts) = &self.timestamp {
                cols.push(Arc::new(Int64Array::from(ts[r.clone()].to_vec())));
            }
            if let Some(f) = &self.fold {
                cols.push(Arc::new(UInt8Array::from(f[r.clone()].to_vec())));
            }
            if let Some(c) = &self.cold {
                cols.push(Arc::new(BooleanArray::from(c[r.clone()].to_vec())));
            }
            if let Some(p) = &self.partition {
                cols.push(Arc::new(UInt8Array::from(p[r.clone()].to_vec())));
            }
            let batch = RecordBatch::try_new(schema.clone(), cols).map_err(pq)?;
            writer.write(&batch).map_err(pq)?;
        }
        writer.close().map_err(pq)?;
        Ok(buf)
    }

    /// Decode from Parquet written by [`Interactions::to_parquet`].
    pub fn from_parquet(bytes: &[u8]) -> Result<Self, TableError> {
        Self::from_parquet_bytes(Bytes::copy_from_slice(bytes))
    }

    /// [`Interactions::from_parquet`] from shared bytes: the file is not copied, and
    /// each column is filled batch by batch (one copy of the data, into its vector).
    pub fn from_parquet_bytes(bytes: Bytes) -> Result<Self, TableError> {
        let (schema, batches, meta) = read_batches(bytes)?;
        let t = "interactions";
        let dim = |key: &str| -> Result<u32, TableError> {
            meta.get(key)
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| TableError::Schema {
                    table: t.into(),
                    message: format!("missing or bad '{key}' metadata"),
                })
        };
        let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
        let has = |name: &str| schema.column_with_name(name).is_some();
        let mut out = Interactions {
            n_users: dim("n_users")?,
            n_items: dim("n_items")?,
            user: Vec::with_capacity(rows),
            item: Vec::with_capacity(rows),
            value: Vec::with_capacity(rows),
            timestamp: has("timestamp").then(|| Vec::with_capacity(rows)),
            fold: has("fold").then(|| Vec::with_capacity(rows)),
            cold: has("cold").then(|| Vec::with_capacity(rows)),
            partition: has("partition").then(|| Vec::with_capacity(rows)),
        };
        // An empty file has no batches: still check the schema.
        let empty;
        let batches: &[RecordBatch] = if batches.is_empty() {
            empty = [RecordBatch::new_empty(schema.clone())];
            &empty
        } else {
            &batches
        };
        for b in batches {
            out.user
                .extend_from_slice(column::<UInt32Array>(b, t, "user_idx")?.values());
            out.item
                .extend_from_slice(column::<UInt32Array>(b, t, "item_idx")?.values());
            out.value
                .extend_from_slice(column::<Float32Array>(b, t, "value")?.values());
            if let Some(v) = out.timestamp.as_mut() {
                v.extend_from_slice(column::<Int64Array>(b, t, "timestamp")?.values());
            }
            if let Some(v) = out.fold.as_mut() {
                v.extend_from_slice(column::<UInt8Array>(b, t, "fold")?.values());
            }
            if let Some(v) = out.cold.as_mut() {
                let a = column::<BooleanArray>(b, t, "cold")?;
                v.extend((0..a.len()).map(|i| a.value(i)));
            }
            if let Some(v) = out.partition.as_mut() {
                v.extend_from_slice(column::<UInt8Array>(b, t, "partition")?.values());
            }
        }
        Ok(out)
    }
}

/// Rows per Parquet row group (and per batch the interaction writer encodes at once).
const ROW_GROUP_ROWS: usize = 1 << 20;

/// Dense index ↔ raw id map (the `users` and `items` artifacts).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct IdMap {
    /// Raw id of dense index `i` at position `i`.
    pub raw_ids: Vec<String>,
    /// Optional title per index (items of datasets that have titles).
    pub titles: Option<Vec<Option<String>>>,
}

impl IdMap {
    /// Number of indices.
    pub fn len(&self) -> usize {
        self.raw_ids.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.raw_ids.is_empty()
    }

    /// Title of index `i`, when known.
    pub fn title(&self, i: usize) -> Option<&str> {
        self.titles.as_ref()?.get(i)?.as_deref()
    }

    /// The dense index of `raw` (linear scan; build a HashMap for many look-ups).
    pub fn index_of(&self, raw: &str) -> Option<u32> {
        self.raw_ids.iter().position(|r| r == raw).map(|i| i as u32)
    }

    /// Encode as Parquet: `idx`, `raw_id`, and `title` when titles are known.
    pub fn to_parquet(&self) -> Result<Vec<u8>, TableError> {
        let n = self.raw_ids.len();
        let mut fields = vec![
            Field::new("idx", DataType::UInt32, false),
            Field::new("raw_id", DataType::Utf8, false),
        ];
        let mut cols: Vec<ArrayRef> = vec![
            Arc::new(UInt32Array::from_iter_values(0..n as u32)),
            Arc::new(StringArray::from_iter_values(self.raw_ids.iter())),
        ];
        if let Some(titles) = &self.titles {
            fields.push(Field::new("title", DataType::Utf8, true));
            cols.push(Arc::new(StringArray::from(
                titles.iter().map(|t| t.as_deref()).collect::<Vec<_>>(),
            )));
        }
        let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), cols).map_err(pq)?;
        let mut meta = BTreeMap::new();
        meta.insert("alsflow.table".to_string(), "id_map".to_string());
        write_batch(&batch, &meta)
    }

    /// Decode from Parquet written by [`IdMap::to_parquet`].
    pub fn from_parquet(bytes: &[u8]) -> Result<Self, TableError> {
        Self::from_parquet_bytes(Bytes::copy_from_slice(bytes))
    }

    /// [`IdMap::from_parquet`] from shared bytes (not copied).
    pub fn from_parquet_bytes(bytes: Bytes) -> Result<Self, TableError> {
        let (schema, batches, _) = read_batches(bytes)?;
        let batch = arrow::compute::concat_batches(&schema, &batches).map_err(pq)?;
        let t = "id_map";
        let idx = column::<UInt32Array>(&batch, t, "idx")?;
        for (pos, v) in idx.values().iter().enumerate() {
            if *v as usize != pos {
                return Err(TableError::Schema {
                    table: t.into(),
                    message: format!("row {pos} has idx {v}; indices must be 0..n in order"),
                });
            }
        }
        let raw = column::<StringArray>(&batch, t, "raw_id")?;
        let raw_ids = (0..raw.len()).map(|i| raw.value(i).to_string()).collect();
        let titles = optional_column::<StringArray>(&batch, t, "title")?.map(|a| {
            (0..a.len())
                .map(|i| {
                    if a.is_null(i) {
                        None
                    } else {
                        Some(a.value(i).to_string())
                    }
                })
                .collect()
        });
        Ok(IdMap { raw_ids, titles })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interactions_round_trip_with_optional_columns() {
        let t = Interactions {
            n_users: 3,
            n_items: 5,
            user: vec![0, 1, 2],
            item: vec![4, 0, 1],
            value: vec![1.0, 2.5, 3.0],
            timestamp: Some(vec![10, 20, 30]),
            fold: Some(vec![0, 1, 0]),
            cold: Some(vec![false, true, false]),
            partition: None,
        };
        let bytes = t.to_parquet().unwrap();
        assert_eq!(
            bytes,
            t.to_parquet().unwrap(),
            "writer must be deterministic"
        );
        assert_eq!(Interactions::from_parquet(&bytes).unwrap(), t);
    }

    #[test]
    fn id_map_round_trip() {
        let m = IdMap {
            raw_ids: vec!["a".into(), "b".into()],
            titles: Some(vec![Some("Alpha".into()), None]),
        };
        let bytes = m.to_parquet().unwrap();
        assert_eq!(IdMap::from_parquet(&bytes).unwrap(), m);
        assert_eq!(m.index_of("b"), Some(1));
        assert_eq!(m.title(0), Some("Alpha"));
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(Interactions::from_parquet(b"not parquet").is_err());
        assert!(IdMap::from_parquet(&[]).is_err());
    }
}
