//! One dataset's model as the server holds it: factor tables laid out for scoring,
//! id maps with hash indices, each user's training items (sorted, for exclude-seen),
//! the catalogue of recommendable items, and a [`FoldIn`] for new histories.
//! Built once per model (at start or on reload) and shared read-only by every
//! request thread.

use crate::scoring::FactorTable;
use alsflow_als::{AlsModel, AlsParams, FoldIn, FoldInError};
use alsflow_core::table::{IdMap, Interactions};
use alsflow_core::ArtifactId;
use std::collections::HashMap;

/// Where a served model came from: enough to trace any answer with `alsflow lineage`.
#[derive(Clone, Debug, PartialEq)]
pub struct Provenance {
    /// The dataset (DAG branch).
    pub dataset: String,
    /// The model artifact (`train.model`).
    pub model: ArtifactId,
    /// The train run's key.
    pub train_run: String,
    /// When the train run ended (ms since the Unix epoch).
    pub trained_ms: u64,
}

/// Raw ids with a hash index (the id maps' own look-up is a linear scan).
#[derive(Debug)]
pub struct IdIndex {
    map: IdMap,
    index: HashMap<String, u32>,
}

impl IdIndex {
    /// Index `map` (the first of duplicate raw ids wins, as `IdMap::index_of`).
    pub fn new(map: IdMap) -> Self {
        let mut index = HashMap::with_capacity(map.len());
        for (i, raw) in map.raw_ids.iter().enumerate() {
            index.entry(raw.clone()).or_insert(i as u32);
        }
        IdIndex { map, index }
    }

    /// The dense index of a raw id.
    pub fn get(&self, raw: &str) -> Option<u32> {
        self.index.get(raw).copied()
    }

    /// The raw id of a dense index.
    pub fn raw(&self, i: u32) -> &str {
        &self.map.raw_ids[i as usize]
    }

    /// The title of a dense index, when known.
    pub fn title(&self, i: u32) -> Option<&str> {
        self.map.title(i as usize)
    }

    /// Number of ids.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// True when there are no ids.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

/// Each user's training items, sorted, with their values (CSR by user).
#[derive(Debug)]
struct SeenItems {
    indptr: Vec<usize>,
    items: Vec<u32>,
    values: Vec<f32>,
}

impl SeenItems {
    /// Rows of `train` grouped by user, items sorted, duplicates summed (as the
    /// interaction matrix of a fit sums them).
    fn new(train: &Interactions) -> Self {
        let n_users = train.n_users as usize;
        let mut indptr = vec![0usize; n_users + 1];
        for &u in &train.user {
            indptr[u as usize + 1] += 1;
        }
        for u in 0..n_users {
            indptr[u + 1] += indptr[u];
        }
        let mut next = indptr.clone();
        let mut pairs = vec![(0u32, 0f32); train.len()];
        for ((&u, &i), &v) in train.user.iter().zip(&train.item).zip(&train.value) {
            pairs[next[u as usize]] = (i, v);
            next[u as usize] += 1;
        }
        let (mut items, mut values) = (Vec::with_capacity(pairs.len()), Vec::new());
        values.reserve(pairs.len());
        let mut compact = vec![0usize; n_users + 1];
        for u in 0..n_users {
            let row = &mut pairs[indptr[u]..indptr[u + 1]];
            row.sort_unstable_by_key(|p| p.0);
            for &(i, v) in row.iter() {
                if items.len() > compact[u] && items.last() == Some(&i) {
                    *values.last_mut().expect("a value per item") += v;
                } else {
                    items.push(i);
                    values.push(v);
                }
            }
            compact[u + 1] = items.len();
        }
        SeenItems {
            indptr: compact,
            items,
            values,
        }
    }

    fn row(&self, user: u32) -> (&[u32], &[f32]) {
        let (a, b) = (self.indptr[user as usize], self.indptr[user as usize + 1]);
        (&self.items[a..b], &self.values[a..b])
    }
}

/// What a list may contain besides the model's catalogue: items to leave out and,
/// optionally, the only items allowed. Indices are dense item indices.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Filters {
    /// Leave out the user's training items (and, for fold-in, the history's items).
    pub exclude_seen: bool,
    /// Items to leave out (any order).
    pub exclude: Vec<u32>,
    /// When set, rank only these items.
    pub candidates: Option<Vec<u32>>,
}

/// A dataset's model, ready to answer.
#[derive(Debug)]
pub struct ServedModel {
    /// Where it came from.
    pub provenance: Provenance,
    /// The parameters it was trained with (fold-in solves with the same ones).
    pub params: AlsParams,
    /// Users by raw id.
    pub users: IdIndex,
    /// Items by raw id, with titles.
    pub items: IdIndex,
    user_factors: FactorTable,
    item_factors: FactorTable,
    item_cosines: FactorTable,
    seen: SeenItems,
    in_catalog: Vec<bool>,
    catalog_size: usize,
    fold_in: FoldIn,
}

impl ServedModel {
    /// Assemble from a model, its training table and id maps. Errors name the table
    /// whose shape disagrees with the model.
    pub fn new(
        provenance: Provenance,
        model: AlsModel,
        train: &Interactions,
        users: IdMap,
        items: IdMap,
    ) -> Result<Self, String> {
        if users.len() != model.n_users || train.n_users as usize != model.n_users {
            return Err(format!(
                "the model has {} users, the user map {} and the training table {}",
                model.n_users,
                users.len(),
                train.n_users
            ));
        }
        if items.len() != model.n_items || train.n_items as usize != model.n_items {
            return Err(format!(
                "the model has {} items, the item map {} and the training table {}",
                model.n_items,
                items.len(),
                train.n_items
            ));
        }
        if model.rank == 0 {
            return Err("the model has rank 0".into());
        }
        let fold_in = FoldIn::from_model(&model).map_err(|e| e.to_string())?;
        let seen = SeenItems::new(train);
        let mut in_catalog = vec![false; model.n_items];
        for &i in &seen.items {
            in_catalog[i as usize] = true;
        }
        let catalog_size = in_catalog.iter().filter(|&&c| c).count();
        let item_factors = FactorTable::new(model.rank, &model.item_factors);
        Ok(ServedModel {
            provenance,
            user_factors: FactorTable::new(model.rank, &model.user_factors),
            item_cosines: item_factors.normalized(),
            item_factors,
            params: model.params,
            users: IdIndex::new(users),
            items: IdIndex::new(items),
            seen,
            in_catalog,
            catalog_size,
            fold_in,
        })
    }

    /// Number of users the model knows.
    pub fn n_users(&self) -> usize {
        self.users.len()
    }

    /// Number of items the model knows.
    pub fn n_items(&self) -> usize {
        self.items.len()
    }

    /// Items that can be recommended (those with training interactions).
    pub fn catalog_size(&self) -> usize {
        self.catalog_size
    }

    /// Whether `item` had training interactions (else its factors are zero and it
    /// is never recommended).
    pub fn in_catalog(&self, item: u32) -> bool {
        self.in_catalog[item as usize]
    }

    /// A known user's training items and values, items ascending.
    pub fn seen(&self, user: u32) -> (&[u32], &[f32]) {
        self.seen.row(user)
    }

    /// The top `n` items for a known user (dense index) under `filters`.
    pub fn recommend_user(&self, user: u32, n: usize, filters: &Filters) -> Vec<(u32, f32)> {
        let seen: &[u32] = if filters.exclude_seen {
            self.seen.row(user).0
        } else {
            &[]
        };
        self.rank(self.user_factors.row(user as usize), n, filters, seen, &[])
    }

    /// The top `n` items for a history of (item, value) pairs, optionally on top of
    /// a known user's training history, by fold-in: the user's factors solved
    /// exactly against the item factors with the model's confidence and λ (NNLS
    /// for a non-negative model). With `exclude_seen`, the history's items (and the
    /// known user's) are left out.
    pub fn recommend_history(
        &self,
        history: &[(u32, f32)],
        known_user: Option<u32>,
        n: usize,
        filters: &Filters,
    ) -> Result<Vec<(u32, f32)>, FoldInError> {
        let factors = self.fold_in(history, known_user)?;
        let query = self.item_factors.query(&factors);
        let mut history_items: Vec<u32> = history.iter().map(|h| h.0).collect();
        history_items.sort_unstable();
        let (seen, extra): (&[u32], &[u32]) = match (filters.exclude_seen, known_user) {
            (false, _) => (&[], &[]),
            (true, Some(u)) => (self.seen.row(u).0, &history_items),
            (true, None) => (&history_items, &[]),
        };
        Ok(self.rank(&query, n, filters, seen, extra))
    }

    /// The factors of a user with `history` (plus a known user's training history):
    /// the exact user half-step of training.
    pub fn fold_in(
        &self,
        history: &[(u32, f32)],
        known_user: Option<u32>,
    ) -> Result<Vec<f32>, FoldInError> {
        match known_user {
            None => self.fold_in.recalculate_user(history),
            Some(u) => {
                let (items, values) = self.seen.row(u);
                let mut all: Vec<(u32, f32)> =
                    items.iter().copied().zip(values.iter().copied()).collect();
                all.extend_from_slice(history);
                self.fold_in.recalculate_user(&all)
            }
        }
    }

    /// The `n` items most similar to `item` (cosine of item factors), the item
    /// itself left out, under `filters` (`exclude_seen` does not apply).
    pub fn similar(&self, item: u32, n: usize, filters: &Filters) -> Vec<(u32, f32)> {
        let query = self.item_cosines.row(item as usize);
        self.rank_in(&self.item_cosines, query, n, filters, &[item], &[])
    }

    /// The top `n` of the catalogue by `query` against the item factors, leaving out
    /// `seen` and `extra` (both sorted) and the filters' exclusions.
    fn rank(
        &self,
        query: &[f32],
        n: usize,
        filters: &Filters,
        seen: &[u32],
        extra: &[u32],
    ) -> Vec<(u32, f32)> {
        self.rank_in(&self.item_factors, query, n, filters, seen, extra)
    }

    fn rank_in(
        &self,
        table: &FactorTable,
        query: &[f32],
        n: usize,
        filters: &Filters,
        seen: &[u32],
        extra: &[u32],
    ) -> Vec<(u32, f32)> {
        let mut exclude = filters.exclude.clone();
        exclude.sort_unstable();
        // Asked only for items that would enter the top n: a few binary searches
        // per request, not one per item.
        let skip = |i: u32| {
            !self.in_catalog[i as usize]
                || seen.binary_search(&i).is_ok()
                || extra.binary_search(&i).is_ok()
                || exclude.binary_search(&i).is_ok()
        };
        match &filters.candidates {
            Some(c) => table.top_n_among(query, c, n, skip),
            None => table.top_n(query, n, skip),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alsflow_als::{fit, recommend, AlsParams, InteractionMatrix, Solver};

    fn toy() -> (AlsModel, Interactions) {
        let mut t = Interactions::with_dims(5, 7);
        let rows = [
            (0, 0),
            (0, 1),
            (0, 1),
            (1, 1),
            (1, 2),
            (2, 3),
            (2, 4),
            (3, 5),
            (3, 0),
            (4, 2),
        ];
        for (u, i) in rows {
            t.user.push(u);
            t.item.push(i);
            t.value.push(1.0 + i as f32);
        }
        let m = InteractionMatrix::from_interactions(&t).unwrap();
        let params = AlsParams {
            rank: 3,
            max_iter: 8,
            solver: Solver::Cholesky,
            ..AlsParams::default()
        };
        (fit(&m, &params).unwrap(), t)
    }

    fn ids(prefix: &str, n: usize) -> IdMap {
        IdMap {
            raw_ids: (0..n).map(|i| format!("{prefix}{i}")).collect(),
            titles: None,
        }
    }

    fn served() -> (ServedModel, AlsModel, Interactions) {
        let (model, train) = toy();
        let prov = Provenance {
            dataset: "toy".into(),
            model: ArtifactId::of(b"m"),
            train_run: "k".into(),
            trained_ms: 0,
        };
        let s = ServedModel::new(prov, model.clone(), &train, ids("u", 5), ids("i", 7)).unwrap();
        (s, model, train)
    }

    #[test]
    fn known_user_lists_agree_with_the_als_crate() {
        let (s, model, train) = served();
        let m = InteractionMatrix::from_interactions(&train).unwrap();
        let filters = Filters {
            exclude_seen: true,
            ..Filters::default()
        };
        for u in 0..5u32 {
            let ours: Vec<u32> = s
                .recommend_user(u, 4, &filters)
                .iter()
                .map(|p| p.0)
                .collect();
            let theirs: Vec<u32> = recommend(&model, &m, u as usize, 4, true)
                .iter()
                .map(|p| p.0)
                .collect();
            assert_eq!(ours, theirs, "user {u}");
        }
        // Duplicate rows are summed into one seen entry; item 6 has no training rows.
        assert_eq!(s.seen(0), (&[0u32, 1][..], &[1.0f32, 4.0][..]));
        assert_eq!(s.catalog_size(), 6);
        assert!(s
            .recommend_user(0, 10, &Filters::default())
            .iter()
            .all(|p| p.0 != 6));
    }

    #[test]
    fn filters_exclude_and_restrict() {
        let (s, _, _) = served();
        let all = s.recommend_user(2, 10, &Filters::default());
        assert_eq!(all.len(), 6);
        let f = Filters {
            exclude: vec![all[0].0],
            candidates: Some(vec![all[0].0, all[1].0, 6]),
            ..Filters::default()
        };
        assert_eq!(s.recommend_user(2, 10, &f), vec![all[1]]);
        let sim = s.similar(1, 10, &Filters::default());
        assert!(sim.iter().all(|p| p.0 != 1 && p.0 != 6) && sim.len() == 5);
    }

    #[test]
    fn fold_in_of_a_known_user_adds_to_their_history() {
        let (s, _, _) = served();
        let f = Filters {
            exclude_seen: true,
            ..Filters::default()
        };
        let recs = s.recommend_history(&[(3, 2.0)], Some(0), 10, &f).unwrap();
        assert!(recs.iter().all(|p| ![0, 1, 3, 6].contains(&p.0)));
        let alone = s.fold_in(&[(0, 1.0), (1, 4.0), (3, 2.0)], None).unwrap();
        assert_eq!(s.fold_in(&[(3, 2.0)], Some(0)).unwrap(), alone);
        assert!(matches!(
            s.fold_in(&[], None),
            Err(FoldInError::EmptyHistory)
        ));
    }
}
