//! Recommendations and similar items with raw ids and titles, for the CLI
//! (`alsflow recommend`, `alsflow similar`) and the report.

use crate::EvaluateError;
use alsflow_als::{
    recommend, recommend_all, recommend_all_with, similar_items, AlsModel, InteractionMatrix,
};
use alsflow_core::files::write_atomic_with;
use alsflow_core::table::{write_batch, writer_properties, IdMap, Interactions};
use arrow::array::{ArrayRef, Float32Array, RecordBatch, StringArray, UInt32Array};
use arrow::datatypes::{DataType, Field, Schema};
use parquet::arrow::ArrowWriter;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::sync::Arc;

/// One item in a list: raw id, title when known, and a score (the interaction
/// value for history entries, the model score for recommendations).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ItemEntry {
    /// Dense item index.
    pub idx: u32,
    /// Raw item id as in the source file.
    pub item: String,
    /// Title, when the dataset has titles.
    pub title: Option<String>,
    /// Score or interaction value.
    pub score: f32,
}

fn entry(items: &IdMap, idx: u32, score: f32) -> ItemEntry {
    ItemEntry {
        idx,
        item: items
            .raw_ids
            .get(idx as usize)
            .cloned()
            .unwrap_or_else(|| format!("#{idx}")),
        title: items.title(idx as usize).map(str::to_string),
        score,
    }
}

/// A user's top training items next to their recommendations.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct UserRecommendations {
    /// Raw user id.
    pub user: String,
    /// Number of training interactions of the user.
    pub n_train: usize,
    /// The user's training items by value, highest first (at most `n`).
    pub history: Vec<ItemEntry>,
    /// Top-n recommendations (training items excluded), best first.
    pub recommendations: Vec<ItemEntry>,
}

fn write_list(f: &mut fmt::Formatter<'_>, list: &[ItemEntry], what: &str) -> fmt::Result {
    for (n, e) in list.iter().enumerate() {
        let title = e
            .title
            .as_deref()
            .map(|t| format!("  {t}"))
            .unwrap_or_default();
        writeln!(
            f,
            "  {:>3}. {:<12} {what} {:>9.4}{title}",
            n + 1,
            e.item,
            e.score
        )?;
    }
    Ok(())
}

impl fmt::Display for UserRecommendations {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "user {} ({} training interactions)",
            self.user, self.n_train
        )?;
        writeln!(f, "top training items:")?;
        write_list(f, &self.history, "value")?;
        writeln!(f, "recommendations:")?;
        write_list(f, &self.recommendations, "score")
    }
}

/// Items most similar to one item.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SimilarItems {
    /// The query item.
    pub item: ItemEntry,
    /// Most similar items (cosine of factors), best first.
    pub similar: Vec<ItemEntry>,
}

impl fmt::Display for SimilarItems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let title = self
            .item
            .title
            .as_deref()
            .map(|t| format!(" ({t})"))
            .unwrap_or_default();
        writeln!(f, "items similar to {}{title}:", self.item.item)?;
        write_list(f, &self.similar, "cosine")
    }
}

fn check_dims(
    model: &AlsModel,
    train: &Interactions,
    users: &IdMap,
    items: &IdMap,
) -> Result<(), EvaluateError> {
    if model.n_users != train.n_users as usize
        || model.n_items != train.n_items as usize
        || users.len() != model.n_users
        || items.len() != model.n_items
    {
        return Err(EvaluateError::Input {
            what: "model".into(),
            message: format!(
                "model is {} users x {} items; training table {} x {}; id maps {} users, {} items",
                model.n_users,
                model.n_items,
                train.n_users,
                train.n_items,
                users.len(),
                items.len()
            ),
        });
    }
    Ok(())
}

fn matrix(train: &Interactions) -> Result<InteractionMatrix, EvaluateError> {
    InteractionMatrix::from_interactions(train).map_err(|e| EvaluateError::Input {
        what: "training table".into(),
        message: e.to_string(),
    })
}

/// The training history, highest value first (ties by item index), at most `n`.
pub(crate) fn history(m: &InteractionMatrix, items: &IdMap, user: u32, n: usize) -> Vec<ItemEntry> {
    let (idx, val) = m.user_row(user as usize);
    let mut h: Vec<(u32, f32)> = idx.iter().copied().zip(val.iter().copied()).collect();
    h.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    h.into_iter()
        .take(n)
        .map(|(i, v)| entry(items, i, v))
        .collect()
}

/// Recommendations for one user given by raw id: top training items and the top `n`
/// unseen items with titles and scores. An unknown user is an error naming it.
pub fn recommend_user(
    model: &AlsModel,
    train: &Interactions,
    users: &IdMap,
    items: &IdMap,
    raw_user: &str,
    n: usize,
) -> Result<UserRecommendations, EvaluateError> {
    check_dims(model, train, users, items)?;
    let u = users
        .index_of(raw_user)
        .ok_or_else(|| EvaluateError::UnknownUser(raw_user.to_string()))?;
    let m = matrix(train)?;
    Ok(user_recommendations(model, &m, users, items, u, n))
}

pub(crate) fn user_recommendations(
    model: &AlsModel,
    m: &InteractionMatrix,
    users: &IdMap,
    items: &IdMap,
    u: u32,
    n: usize,
) -> UserRecommendations {
    let recs = recommend(model, m, u as usize, n, true);
    UserRecommendations {
        user: users.raw_ids.get(u as usize).cloned().unwrap_or_default(),
        n_train: m.user_row(u as usize).0.len(),
        history: history(m, items, u, n),
        recommendations: recs.into_iter().map(|(i, s)| entry(items, i, s)).collect(),
    }
}

/// Users per row group of [`write_recommend_all`]: each batch of users is scored,
/// written as one row group and dropped before the next.
pub const RECOMMEND_BATCH_USERS: usize = 16_384;

fn recommendations_schema() -> Arc<Schema> {
    Arc::new(Schema::new(vec![
        Field::new("user", DataType::Utf8, false),
        Field::new("rank", DataType::UInt32, false),
        Field::new("item", DataType::Utf8, false),
        Field::new("title", DataType::Utf8, true),
        Field::new("score", DataType::Float32, false),
    ]))
}

/// One batch of users' lists as a record batch (users from `first`).
fn recommendations_batch(
    schema: &Arc<Schema>,
    users: &IdMap,
    items: &IdMap,
    first: usize,
    lists: &[Vec<(u32, f32)>],
) -> Result<RecordBatch, EvaluateError> {
    let rows: usize = lists.iter().map(Vec::len).sum();
    let (mut u_col, mut r_col, mut i_col, mut t_col, mut s_col) = (
        Vec::with_capacity(rows),
        Vec::with_capacity(rows),
        Vec::with_capacity(rows),
        Vec::with_capacity(rows),
        Vec::with_capacity(rows),
    );
    for (u, list) in (first..).zip(lists) {
        for (r, &(i, s)) in list.iter().enumerate() {
            u_col.push(users.raw_ids[u].as_str());
            r_col.push(r as u32 + 1);
            i_col.push(items.raw_ids[i as usize].as_str());
            t_col.push(items.title(i as usize));
            s_col.push(s);
        }
    }
    let cols: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from(u_col)),
        Arc::new(UInt32Array::from(r_col)),
        Arc::new(StringArray::from(i_col)),
        Arc::new(StringArray::from(t_col)),
        Arc::new(Float32Array::from(s_col)),
    ];
    RecordBatch::try_new(schema.clone(), cols).map_err(|e| EvaluateError::Input {
        what: "recommendations table".into(),
        message: e.to_string(),
    })
}

/// Top-`n` recommendations of every user as Parquet: `user` (raw id), `rank`
/// (1-based), `item` (raw id), `title` (null when unknown), `score`. Holds every
/// row in memory: for large models use [`write_recommend_all`].
pub fn recommend_all_parquet(
    model: &AlsModel,
    train: &Interactions,
    users: &IdMap,
    items: &IdMap,
    n: usize,
) -> Result<Vec<u8>, EvaluateError> {
    check_dims(model, train, users, items)?;
    let m = matrix(train)?;
    let all = recommend_all(model, &m, n, true);
    let batch = recommendations_batch(&recommendations_schema(), users, items, 0, &all)?;
    Ok(write_batch(&batch, &recommendations_meta())?)
}

fn recommendations_meta() -> BTreeMap<String, String> {
    let mut meta = BTreeMap::new();
    meta.insert("alsflow.table".to_string(), "recommendations".to_string());
    meta
}

/// [`recommend_all_parquet`] streamed into the file `path`: users are scored
/// [`RECOMMEND_BATCH_USERS`] at a time and each batch is written as one row group,
/// so memory is bounded by a batch, not by users × items or by the output. The file
/// appears whole or not at all (temp file, fsync, rename). `progress(users)` is
/// called after each batch. Returns the number of rows written.
pub fn write_recommend_all(
    model: &AlsModel,
    train: &Interactions,
    users: &IdMap,
    items: &IdMap,
    n: usize,
    path: &Path,
    progress: &dyn Fn(usize),
) -> Result<u64, EvaluateError> {
    check_dims(model, train, users, items)?;
    let m = matrix(train)?;
    let schema = recommendations_schema();
    let mut rows = 0u64;
    let mut failure: Option<EvaluateError> = None;
    let io_err = |e: &dyn std::fmt::Display| std::io::Error::other(e.to_string());
    write_atomic_with(path, |out| {
        // The Parquet writer fills an in-memory buffer; each row group is moved to
        // the file as soon as it is flushed (the writer tracks offsets itself).
        let mut writer = ArrowWriter::try_new(
            Vec::new(),
            schema.clone(),
            Some(writer_properties(&recommendations_meta())),
        )
        .map_err(|e| io_err(&e))?;
        let streamed = recommend_all_with(
            model,
            &m,
            n,
            true,
            RECOMMEND_BATCH_USERS,
            |first, lists| -> Result<(), std::io::Error> {
                let batch = match recommendations_batch(&schema, users, items, first, &lists) {
                    Ok(b) => b,
                    Err(e) => {
                        let message = e.to_string();
                        failure = Some(e);
                        return Err(std::io::Error::other(message));
                    }
                };
                rows += batch.num_rows() as u64;
                writer.write(&batch).map_err(|e| io_err(&e))?;
                writer.flush().map_err(|e| io_err(&e))?;
                out.write_all(&std::mem::take(writer.inner_mut()))?;
                progress(lists.len());
                Ok(())
            },
        );
        streamed?;
        let rest = writer.into_inner().map_err(|e| io_err(&e))?;
        out.write_all(&rest)
    })
    .map_err(|e| {
        failure.take().unwrap_or_else(|| EvaluateError::Io {
            path: path.to_path_buf(),
            cause: std::io::Error::other(e.to_string()),
        })
    })?;
    Ok(rows)
}

/// The `n` items most similar to the item with raw id `raw_item` (cosine of factors).
pub fn similar(
    model: &AlsModel,
    items: &IdMap,
    raw_item: &str,
    n: usize,
) -> Result<SimilarItems, EvaluateError> {
    if items.len() != model.n_items {
        return Err(EvaluateError::Input {
            what: "model".into(),
            message: format!(
                "model has {} items but the items map has {}",
                model.n_items,
                items.len()
            ),
        });
    }
    let i = items
        .index_of(raw_item)
        .ok_or_else(|| EvaluateError::UnknownItem(raw_item.to_string()))?;
    Ok(SimilarItems {
        item: entry(items, i, 1.0),
        similar: similar_items(model, i as usize, n)
            .into_iter()
            .map(|(j, s)| entry(items, j, s))
            .collect(),
    })
}
