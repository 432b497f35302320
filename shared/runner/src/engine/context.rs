//! The [`StageContext`] a running stage sees: its dataset, progress bars that appear
//! only for work that lasts, and memoisation scoped to the stage's code.

use alsflow_core::{Progress, StageContext};
use alsflow_store::Store;
use std::sync::Arc;
use std::time::Instant;

/// The [`StageContext`] the engine gives a running stage.
pub(super) struct EngineContext {
    pub(super) store: Arc<Store>,
    pub(super) dataset: String,
    pub(super) stage: String,
    /// Memo scope: stage, code fingerprint and dataset.
    pub(super) scope: String,
    pub(super) progress: Option<indicatif::MultiProgress>,
}

/// A bar that appears only once its work has taken more than a second, so quick
/// stages do not flicker.
struct Bar {
    bar: indicatif::ProgressBar,
    multi: indicatif::MultiProgress,
    created: Instant,
    shown: std::sync::atomic::AtomicBool,
}

impl Bar {
    fn maybe_show(&self) {
        use std::sync::atomic::Ordering;
        if !self.shown.load(Ordering::Relaxed)
            && self.created.elapsed() > std::time::Duration::from_secs(1)
            && !self.shown.swap(true, Ordering::Relaxed)
        {
            self.multi.add(self.bar.clone());
        }
    }
}

impl Progress for Bar {
    fn inc(&self, n: u64) {
        self.bar.inc(n);
        self.maybe_show();
    }
    fn set_message(&self, msg: String) {
        self.bar.set_message(msg);
        self.maybe_show();
    }
    fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

impl StageContext for EngineContext {
    fn dataset(&self) -> &str {
        &self.dataset
    }
    fn progress(&self, label: &str, total: u64) -> Box<dyn Progress> {
        let Some(mp) = &self.progress else {
            return Box::new(alsflow_core::stage::NoProgress);
        };
        // Hidden until `Bar::maybe_show` adds it to the multi-bar after a second.
        let bar = indicatif::ProgressBar::hidden();
        bar.set_length(total);
        let style = indicatif::ProgressStyle::with_template(
            "{prefix} {bar:30} {pos}/{len} {msg} [{elapsed_precise}, eta {eta}]",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
        bar.set_style(style);
        bar.set_prefix(format!("{}/{} {label}", self.dataset, self.stage));
        Box::new(Bar {
            bar,
            multi: mp.clone(),
            created: Instant::now(),
            shown: std::sync::atomic::AtomicBool::new(false),
        })
    }
    fn memo_get(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.store
            .memo_get(self.scope.as_bytes(), key)
            .ok()
            .flatten()
    }
    fn memo_put(&self, key: &[u8], value: &[u8]) {
        if let Err(e) = self.store.memo_put(self.scope.as_bytes(), key, value) {
            tracing::warn!(
                "{}/{}: cannot record memo entry: {e}",
                self.dataset,
                self.stage
            );
        }
    }
}
