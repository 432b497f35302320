//! What is served now, and how it changes: a map dataset → model behind an
//! [`ArcSwap`], so a request takes a snapshot with one atomic load and never waits,
//! and a [`Loader`] that checks the store for newer train runs and loads them off
//! the request path. A swap replaces one `Arc`; requests that started on the old
//! model finish on it, and the old model is freed when the last of them ends.

use crate::error::{LoadError, ServeError};
use crate::load::{self, metrics_of};
use crate::metrics::Metrics;
use crate::served::ServedModel;
use alsflow_core::ArtifactId;
use alsflow_store::{StageKey, Store};
use arc_swap::ArcSwap;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// One dataset as served: its model and, once evaluate has scored it, the test
/// metrics (with the evaluate run's key).
#[derive(Debug)]
pub struct Entry {
    /// The model.
    pub model: Arc<ServedModel>,
    /// Test metrics of the evaluate run that scored this model.
    pub metrics: Option<(StageKey, serde_json::Value)>,
    /// Pinned by `--model`: never replaced by a newer run.
    pub pinned: bool,
}

/// Dataset name → what is served for it.
pub type Models = BTreeMap<String, Arc<Entry>>;

/// The state every request sees.
pub struct App {
    /// What is served now.
    pub models: ArcSwap<Models>,
    /// Request and reload counters.
    pub metrics: Metrics,
    /// The largest request body accepted, in bytes.
    pub body_limit: usize,
}

/// Which models to serve and where from.
pub struct Loader {
    store: Arc<Store>,
    /// `--dataset`: only these (else every dataset with a train run, new ones too).
    wanted: Vec<String>,
    /// `--model`: dataset → the model served for it, whatever runs later.
    pinned: BTreeMap<String, ArtifactId>,
    /// The train run whose load last failed, per dataset: not retried until the
    /// latest run changes again or a SIGHUP asks for it.
    failed: Mutex<BTreeMap<String, StageKey>>,
}

impl Loader {
    /// A loader over a read-only store handle. `models` (from `--model`) are
    /// resolved to their datasets here.
    pub fn new(
        store: Arc<Store>,
        wanted: Vec<String>,
        models: &[String],
    ) -> Result<Self, ServeError> {
        let mut pinned = BTreeMap::new();
        for m in models {
            let id = store
                .resolve_prefix(m)
                .map_err(|source| ServeError::Store {
                    root: store.root().display().to_string(),
                    source: Box::new(source),
                })?;
            let run = load::run_of_model(&store, &id)?;
            if let Some(other) = pinned.insert(run.dataset.clone(), id) {
                return Err(ServeError::Options(format!(
                    "--model {} and --model {} are both models of dataset '{}': give one per dataset",
                    other.short(),
                    id.short(),
                    run.dataset
                )));
            }
        }
        if !wanted.is_empty() {
            if let Some(d) = pinned.keys().find(|d| !wanted.contains(d)) {
                return Err(ServeError::Options(format!(
                    "--model names a model of dataset '{d}', which --dataset does not list"
                )));
            }
        }
        Ok(Loader {
            store,
            wanted,
            pinned,
            failed: Mutex::new(BTreeMap::new()),
        })
    }

    /// The datasets to serve now.
    fn datasets(&self) -> Result<Vec<String>, LoadError> {
        if !self.wanted.is_empty() {
            return Ok(self.wanted.clone());
        }
        if !self.pinned.is_empty() {
            return Ok(self.pinned.keys().cloned().collect());
        }
        load::trained_datasets(&self.store)
    }

    /// Load every dataset's model; any failure stops the start.
    pub fn initial(&self) -> Result<Models, ServeError> {
        let datasets = self.datasets()?;
        if datasets.is_empty() {
            return Err(ServeError::NothingToServe {
                root: self.store.root().display().to_string(),
            });
        }
        let mut models = Models::new();
        for d in datasets {
            let t0 = Instant::now();
            let entry = self.load_entry(&d)?;
            tracing::info!(
                "{d}: serving model {} ({} users, {} items, rank {}), loaded in {:.2} s",
                entry.model.provenance.model,
                entry.model.n_users(),
                entry.model.n_items(),
                entry.model.params.rank,
                t0.elapsed().as_secs_f64()
            );
            models.insert(d, Arc::new(entry));
        }
        Ok(models)
    }

    fn load_entry(&self, dataset: &str) -> Result<Entry, LoadError> {
        let (run, pinned) = match self.pinned.get(dataset) {
            Some(id) => (load::run_of_model(&self.store, id)?, true),
            None => (load::latest_train_run(&self.store, dataset)?, false),
        };
        let model = load::load_model(&self.store, &run)?;
        let metrics = metrics_of(&self.store, dataset, &model.provenance.model)?;
        Ok(Entry {
            model: Arc::new(model),
            metrics,
            pinned,
        })
    }

    /// Look at the store once: when its view changed (or `force`, on SIGHUP), load
    /// the latest model of every dataset whose train run moved, refresh test
    /// metrics, and return the new map to swap in (`None`: nothing changed). A failed
    /// load is logged and counted; the dataset keeps its current model.
    pub fn check(&self, current: &Models, force: bool, metrics: &Metrics) -> Option<Models> {
        match self.store.refresh() {
            Ok(false) if !force => return None,
            Ok(_) => {}
            Err(e) => {
                tracing::warn!("cannot refresh the store's view (serving the current models): {e}");
                return None;
            }
        }
        if force {
            self.failed
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clear();
        }
        let datasets = match self.datasets() {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!("cannot list the store's datasets: {e}");
                return None;
            }
        };
        let mut next = current.clone();
        let mut changed = false;
        for d in datasets {
            match self.check_dataset(&d, current.get(&d), metrics) {
                Ok(Some(entry)) => {
                    next.insert(d, Arc::new(entry));
                    changed = true;
                }
                Ok(None) => {}
                Err(e) => tracing::warn!("{d}: {e}"),
            }
        }
        changed.then_some(next)
    }

    /// A replacement entry for `dataset`, if its train run or metrics moved.
    fn check_dataset(
        &self,
        dataset: &str,
        current: Option<&Arc<Entry>>,
        metrics: &Metrics,
    ) -> Result<Option<Entry>, LoadError> {
        let latest = match (self.pinned.get(dataset), current) {
            (Some(_), Some(_)) => None,
            (Some(_), None) => return self.load_entry(dataset).map(Some),
            (None, _) => load::latest_train_key(&self.store, dataset)?,
        };
        if let (Some(key), Some(cur)) = (latest, current) {
            if key.to_hex() == cur.model.provenance.train_run {
                return self.refresh_metrics(dataset, cur);
            }
        }
        let Some(key) = latest else {
            return match current {
                Some(cur) => self.refresh_metrics(dataset, cur),
                None => Ok(None),
            };
        };
        let mut failed = self.failed.lock().unwrap_or_else(|e| e.into_inner());
        if failed.get(dataset) == Some(&key) {
            return Ok(None);
        }
        let t0 = Instant::now();
        match self.load_entry(dataset) {
            Ok(entry) => {
                failed.remove(dataset);
                metrics.reloaded();
                tracing::info!(
                    "{dataset}: now serving model {} (train run {}; was {}), loaded in {:.2} s",
                    entry.model.provenance.model,
                    key.short(),
                    current.map_or("none".to_string(), |c| c.model.provenance.model.short()),
                    t0.elapsed().as_secs_f64()
                );
                Ok(Some(entry))
            }
            Err(e) => {
                failed.insert(dataset.to_string(), key);
                metrics.reload_failed();
                tracing::error!(
                    "{dataset}: cannot load the model of train run {} (still serving the previous one): {e}",
                    key.short()
                );
                Ok(None)
            }
        }
    }

    /// The entry with new test metrics, if an evaluate run has scored the model since.
    fn refresh_metrics(&self, dataset: &str, cur: &Entry) -> Result<Option<Entry>, LoadError> {
        let found = metrics_of(&self.store, dataset, &cur.model.provenance.model)?;
        if found.as_ref().map(|m| m.0) == cur.metrics.as_ref().map(|m| m.0) {
            return Ok(None);
        }
        Ok(Some(Entry {
            model: cur.model.clone(),
            metrics: found,
            pinned: cur.pinned,
        }))
    }
}
