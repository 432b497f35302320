//! What every command shares: store/config opening, logging, errors.

use crate::Cli;
use alsflow_runner::config::{data_home, ConfigError, PipelineConfig};
use alsflow_store::Store;
use anyhow::Context;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

/// Exit code when a data file is missing and cannot be downloaded (`make pipeline`
/// then falls back to the offline synthetic pipeline).
pub const EXIT_DATA_MISSING: u8 = 3;

/// The store directory: `--store`, else `$ALSFLOW_STORE`, else `./artifacts`.
pub fn store_dir(cli: &Cli) -> PathBuf {
    if let Some(s) = &cli.store {
        return s.clone();
    }
    match std::env::var_os("ALSFLOW_STORE") {
        Some(v) if !v.is_empty() => PathBuf::from(v),
        _ => PathBuf::from("artifacts"),
    }
}

/// Open the store to write it (`run`, `gc`, `verify`): one writer at a time, waiting
/// up to `--lock-timeout` for another.
pub fn open_store(cli: &Cli) -> anyhow::Result<Arc<Store>> {
    let dir = absolute_store_dir(cli);
    let store = Store::open(&dir, lock_timeout(cli))
        .with_context(|| format!("cannot open the store at {}", dir.display()))?;
    Ok(Arc::new(store))
}

/// Open the store to read it (every other command): never waits for a running
/// `alsflow run`, and sees what the last finished stage published.
pub fn open_store_read_only(cli: &Cli) -> anyhow::Result<Arc<Store>> {
    let dir = absolute_store_dir(cli);
    let store = Store::open_read_only(&dir, lock_timeout(cli))
        .with_context(|| format!("cannot open the store at {}", dir.display()))?;
    Ok(Arc::new(store))
}

/// The store directory, absolute (so the store never sees an empty parent of a bare
/// relative name).
fn absolute_store_dir(cli: &Cli) -> PathBuf {
    let dir = store_dir(cli);
    std::path::absolute(&dir).unwrap_or(dir)
}

/// The store directory, absolute, for commands that open the store themselves
/// (`serve`).
pub fn store_dir_absolute(cli: &Cli) -> PathBuf {
    absolute_store_dir(cli)
}

fn lock_timeout(cli: &Cli) -> Duration {
    Duration::from_secs_f64(cli.lock_timeout)
}

/// `--lock-timeout` as a duration.
pub fn lock_timeout_of(cli: &Cli) -> Duration {
    lock_timeout(cli)
}

/// Load `--config` with the given `--set` overrides.
pub fn load_config(cli: &Cli, overrides: &[String]) -> anyhow::Result<PipelineConfig> {
    if !cli.config.exists() {
        let here = std::env::current_dir()
            .map(|d| format!(" (in {})", d.display()))
            .unwrap_or_default();
        return Err(ConfigError::Invalid(format!(
            "no pipeline config at {}{here}: create one with `alsflow init` (MovieLens \
             latest-small) or `alsflow init --preset NAME` (`alsflow datasets` lists the \
             presets), or point --config at one",
            cli.config.display()
        ))
        .into());
    }
    let home = data_home(cli.data.as_deref());
    Ok(PipelineConfig::load(&cli.config, overrides, home)?)
}

/// The process exit code for an error: 3 for missing data, 1 otherwise.
pub fn exit_code_of(e: &anyhow::Error) -> ExitCode {
    for cause in e.chain() {
        if let Some(ConfigError::DataMissing(_)) = cause.downcast_ref::<ConfigError>() {
            return ExitCode::from(EXIT_DATA_MISSING);
        }
    }
    ExitCode::from(1)
}

/// The error and its causes on one line. Our error types either format their cause
/// into their message or expose it as `source()`, never both, so every link of the
/// chain is a new fact.
pub fn one_line(e: &anyhow::Error) -> String {
    e.chain()
        .map(|c| c.to_string().replace('\n', " "))
        .collect::<Vec<_>>()
        .join(": ")
}

/// Logs to stderr; `RUST_LOG` wins, else info for the alsflow crates.
pub fn init_logging() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        EnvFilter::new(
            "warn,alsflow=info,alsflow_runner=info,alsflow_store=info,alsflow_preprocess=info,\
             alsflow_split=info,alsflow_train=info,alsflow_tune=info,alsflow_evaluate=info,alsflow_als=info",
        )
    });
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(|| LogWriter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .without_time()
        .try_init();
}

/// A panic prints one line (no backtrace unless `RUST_BACKTRACE` is set).
pub fn install_panic_hook() {
    if std::env::var_os("RUST_BACKTRACE").is_some() {
        return;
    }
    std::panic::set_hook(Box::new(|info| {
        let msg = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".into());
        let at = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        eprintln!(
            "error: internal error: {}{at} (set RUST_BACKTRACE=1 for a backtrace)",
            msg.replace('\n', " ")
        );
    }));
}

/// Write `bytes` to `path` atomically (temp file in the same directory, fsync, rename),
/// so a failed or killed command never leaves a half-written file under that name.
pub fn write_file_atomically(path: &std::path::Path, bytes: &[u8]) -> anyhow::Result<()> {
    Ok(alsflow_core::files::write_atomic(path, bytes)?)
}

/// Resolve an artifact id or unique prefix.
pub fn resolve(store: &Store, prefix: &str) -> anyhow::Result<alsflow_core::ArtifactId> {
    Ok(store.resolve_prefix(prefix)?)
}

/// stderr, with any progress bars suspended while a log line is written.
struct LogWriter;

impl std::io::Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match alsflow_runner::engine::PROGRESS.get() {
            Some(mp) => mp.suspend(|| std::io::stderr().write(buf)),
            None => std::io::stderr().write(buf),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}
