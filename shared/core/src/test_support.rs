//! Helpers for tests across the workspace.

use std::path::PathBuf;

/// The read-only real-data folder beside the checkout (`../shared/data`), if present.
///
/// `ALSFLOW_TEST_DATA` overrides the location. Tests that need real data call this
/// and, on `None`, print why they skip and return.
pub fn shared_data() -> Option<PathBuf> {
    if let Ok(dir) = std::env::var("ALSFLOW_TEST_DATA") {
        let p = PathBuf::from(dir);
        return p.is_dir().then_some(p);
    }
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data");
    p.is_dir().then(|| p.canonicalize().unwrap_or(p))
}

/// The read-only benchmark folder beside the checkout (`../shared/bench`), if present.
pub fn shared_bench() -> Option<PathBuf> {
    let data = shared_data()?;
    let p = data.join("../bench");
    p.is_dir().then(|| p.canonicalize().unwrap_or(p))
}

/// Like [`shared_data`], but prints a skip notice naming `test` when absent.
pub fn shared_data_or_skip(test: &str) -> Option<PathBuf> {
    let d = shared_data();
    if d.is_none() {
        eprintln!("SKIP {test}: ../shared/data is not present beside the checkout");
    }
    d
}
