//! The staging directory of one Spark application: the files Spark reads and writes,
//! in a fresh directory removed when the application's stage ends, and the sweep of
//! directories left by killed alsflow processes.

use crate::{SparkFit, SparkInput, SparkSettings, DRIVER_SCRIPT};
use std::path::{Path, PathBuf};

/// The staging directory of one application, removed when dropped.
pub(crate) struct Staging {
    pub(crate) dir: tempfile::TempDir,
}

impl Staging {
    pub(crate) fn create(settings: &SparkSettings, app_name: &str) -> Result<Staging, String> {
        let root = match &settings.staging_dir {
            Some(d) => d.clone(),
            None => {
                if !settings.is_local() {
                    tracing::warn!(
                        "spark.staging_dir is not set: staging in {}, which only works when \
                         every executor runs on this machine",
                        std::env::temp_dir().display()
                    );
                }
                std::env::temp_dir()
            }
        };
        std::fs::create_dir_all(&root)
            .map_err(|e| format!("spark.staging_dir: cannot create {}: {e}", root.display()))?;
        let root = root
            .canonicalize()
            .map_err(|e| format!("spark.staging_dir {}: {e}", root.display()))?;
        sweep_abandoned(&root);
        let dir = tempfile::Builder::new()
            .prefix(&format!("alsflow-{app_name}-"))
            .tempdir_in(&root)
            .map_err(|e| {
                format!(
                    "spark.staging_dir: cannot create a directory in {}: {e}",
                    root.display()
                )
            })?;
        if let Some(owner) = owner_stamp(std::process::id()) {
            let path = dir.path().join(OWNER_FILE);
            std::fs::write(&path, owner)
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        }
        Ok(Staging { dir })
    }

    pub(crate) fn fit_dir(&self, index: usize) -> PathBuf {
        self.dir.path().join("fits").join(format!("{index:05}"))
    }

    /// Write the input, the driver and `job.json`; return the job file's path.
    pub(crate) fn write_job(
        &self,
        input: &SparkInput<'_>,
        fits: &[SparkFit],
        settings: &SparkSettings,
    ) -> Result<PathBuf, String> {
        let root = self.dir.path();
        let write = |name: &str, bytes: &[u8]| -> Result<PathBuf, String> {
            let path = root.join(name);
            std::fs::write(&path, bytes)
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
            Ok(path)
        };
        let input_path = write("input.parquet", input.parquet)?;
        write("alsflow_spark.py", DRIVER_SCRIPT.as_bytes())?;
        let job = serde_json::json!({
            "app_name": root.file_name().and_then(|n| n.to_str()).unwrap_or("alsflow"),
            "input": file_uri(&input_path),
            "checkpoint_dir": file_uri(&root.join("checkpoints")),
            "num_blocks": settings.num_blocks,
            "checkpoint_interval": settings.checkpoint_interval,
            "fits": fits.iter().enumerate().map(|(i, f)| serde_json::json!({
                "rank": f.als.rank,
                "max_iter": f.als.max_iter,
                "reg_param": f.als.reg_param,
                "alpha": f.als.alpha,
                "nonnegative": f.als.nonnegative,
                "seed": f.als.seed,
                "fold": f.fold,
                "out": file_uri(&self.fit_dir(i)),
            })).collect::<Vec<_>>(),
        });
        write("job.json", job.to_string().as_bytes())
    }
}

/// The file in a staging directory naming the process that owns it (`host pid`).
const OWNER_FILE: &str = "owner";

/// `host pid` of process `pid` on this machine, when the host name can be read.
fn owner_stamp(pid: u32) -> Option<String> {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").ok()?;
    Some(format!("{} {pid}", host.trim()))
}

/// Remove staging directories under `root` left by alsflow processes of this machine
/// that no longer run (killed before they could clean up). Directories of other
/// machines sharing `root`, or of live processes, are left alone.
fn sweep_abandoned(root: &Path) {
    let Ok(entries) = std::fs::read_dir(root) else {
        return;
    };
    for entry in entries.filter_map(Result::ok) {
        let dir = entry.path();
        let named = entry.file_name().to_string_lossy().starts_with("alsflow-");
        let Ok(owner) = std::fs::read_to_string(dir.join(OWNER_FILE)) else {
            continue;
        };
        let Some(pid) = owner.rsplit(' ').next().and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        let ours = owner_stamp(pid).is_some_and(|stamp| stamp == owner);
        let alive = Path::new("/proc").join(pid.to_string()).exists();
        if named && ours && !alive {
            tracing::info!(
                "removing abandoned Spark staging directory {}",
                dir.display()
            );
            let _ = std::fs::remove_dir_all(&dir);
        }
    }
}

/// `file:///abs/path`: staged paths are on a (shared) local file system, even where
/// Spark's default file system is HDFS.
fn file_uri(path: &Path) -> String {
    format!("file://{}", path.display())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn abandoned_staging_of_this_machine_is_swept_live_and_foreign_ones_are_not() {
        let Some(live) = owner_stamp(std::process::id()) else {
            return; // no /proc: nothing is swept anywhere
        };
        let root = tempfile::tempdir().unwrap();
        let make = |name: &str, owner: &str| {
            let d = root.path().join(name);
            std::fs::create_dir(&d).unwrap();
            std::fs::write(d.join(OWNER_FILE), owner).unwrap();
            d
        };
        // A pid above the kernel's limit cannot be running.
        let dead = owner_stamp(4_194_305).unwrap();
        let abandoned = make("alsflow-x-train-a", &dead);
        let running = make("alsflow-x-train-b", &live);
        let foreign = make("alsflow-x-train-c", "another-host 4194305");
        let unrelated = make("other-dir", &dead);
        sweep_abandoned(root.path());
        assert!(!abandoned.exists());
        assert!(running.exists() && foreign.exists() && unrelated.exists());
    }
}
