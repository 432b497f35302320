//! The [`StageContext`] a running stage sees: its dataset, progress that appears only
//! for work that lasts (a bar on a terminal, log lines otherwise), and memoisation
//! scoped to the stage's code.

use alsflow_core::{Progress, StageContext};
use alsflow_store::Store;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

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

/// Work shorter than this shows no progress at all.
const QUIET_FOR: Duration = Duration::from_secs(2);

/// Progress as `tracing` log lines, for runs whose progress is not drawn as bars
/// (stderr is not a terminal, or `--json`): nothing for the first [`QUIET_FOR`], then
/// a line per unit when there are few units (ALS iterations), else at most one line
/// every few seconds, and a last line when work that was logged finishes.
struct LogLines {
    /// `dataset/stage label`, the line's prefix.
    prefix: String,
    total: u64,
    done: AtomicU64,
    message: Mutex<String>,
    started: Instant,
    /// When the last line was written and how many units it showed (`None`: no line yet).
    last_line: Mutex<Option<(Instant, u64)>>,
    finished: AtomicBool,
}

impl LogLines {
    /// Few units (iterations) get a line each; many (bytes, fits) one per interval.
    fn interval(&self) -> Duration {
        if self.total <= 100 {
            Duration::ZERO
        } else {
            Duration::from_secs(5)
        }
    }

    fn line(&self, now: Instant, done: u64) {
        let secs = now.duration_since(self.started).as_secs_f64();
        let percent = if self.total > 0 {
            100.0 * done as f64 / self.total as f64
        } else {
            100.0
        };
        let eta = if done > 0 && done < self.total {
            format!(
                ", eta {:.0} s",
                secs * (self.total - done) as f64 / done as f64
            )
        } else {
            String::new()
        };
        let message = self.message.lock().map(|m| m.clone()).unwrap_or_default();
        tracing::info!(
            "{}: {done}/{} ({percent:.0}%) after {secs:.1} s{eta}{}{message}",
            self.prefix,
            self.total,
            if message.is_empty() { "" } else { ": " },
        );
    }

    fn maybe_line(&self) {
        let now = Instant::now();
        if now.duration_since(self.started) < QUIET_FOR {
            return;
        }
        let Ok(mut last) = self.last_line.lock() else {
            return;
        };
        if last.is_some_and(|(t, _)| now.duration_since(t) < self.interval()) {
            return;
        }
        let done = self.done.load(Ordering::Relaxed);
        *last = Some((now, done));
        drop(last);
        self.line(now, done);
    }
}

impl Progress for LogLines {
    fn inc(&self, n: u64) {
        self.done.fetch_add(n, Ordering::Relaxed);
        self.maybe_line();
    }
    fn set_message(&self, msg: String) {
        if let Ok(mut m) = self.message.lock() {
            *m = msg;
        }
    }
    fn finish(&self) {
        let done = self.done.load(Ordering::Relaxed);
        // Only work that was logged gets a closing line, and only if it says more.
        let logged = self
            .last_line
            .lock()
            .map(|l| l.is_some_and(|(_, shown)| shown != done))
            .unwrap_or(false);
        if !self.finished.swap(true, Ordering::Relaxed) && logged {
            self.line(Instant::now(), done);
        }
    }
}

impl StageContext for EngineContext {
    fn dataset(&self) -> &str {
        &self.dataset
    }
    fn progress(&self, label: &str, total: u64) -> Box<dyn Progress> {
        let Some(mp) = &self.progress else {
            return Box::new(LogLines {
                prefix: format!("{}/{} {label}", self.dataset, self.stage),
                total,
                done: AtomicU64::new(0),
                message: Mutex::new(String::new()),
                started: Instant::now(),
                last_line: Mutex::new(None),
                finished: AtomicBool::new(false),
            });
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
