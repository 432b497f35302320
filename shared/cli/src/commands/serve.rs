//! `alsflow serve`: the HTTP server of the `alsflow-serve` crate over this store.

use crate::common::{lock_timeout_of, store_dir_absolute};
use crate::Cli;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

/// Arguments of `alsflow serve`.
#[derive(clap::Args, Debug)]
pub struct ServeArgs {
    /// The address to listen on; port 0 picks a free port (the first log line says
    /// `listening on http://ADDR`). Loopback by default; any other address is allowed
    /// and logged as a warning (there is no authentication).
    #[arg(long, default_value = "127.0.0.1:8080", value_name = "IP:PORT")]
    pub addr: SocketAddr,
    /// Serve only these datasets (default: every dataset with a trained model, and
    /// new ones as they are trained).
    #[arg(long = "dataset", value_name = "NAME")]
    pub datasets: Vec<String>,
    /// Serve this model (an artifact id or unique prefix) for its dataset instead of
    /// the latest, and never replace it; one per dataset.
    #[arg(long = "model", value_name = "ID")]
    pub models: Vec<String>,
    /// Seconds between checks of the store for a newer train run (SIGHUP checks at once).
    #[arg(long, default_value_t = 2.0, value_name = "SECS", value_parser = parse_seconds)]
    pub poll_interval: f64,
    /// The largest request body accepted, in bytes (larger ones get 413).
    #[arg(long, default_value_t = 1 << 20, value_name = "BYTES")]
    pub max_body_bytes: usize,
    /// Seconds in-flight requests may take to finish after SIGTERM.
    #[arg(long, default_value_t = 30.0, value_name = "SECS", value_parser = parse_seconds)]
    pub drain_timeout: f64,
    /// Worker threads answering requests (0: one per core).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
}

/// A number of seconds in (0, 1 day].
fn parse_seconds(s: &str) -> Result<f64, String> {
    let v: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("'{s}' is not a number of seconds"))?;
    if !(v > 0.0 && v <= 86_400.0) {
        return Err(format!("{s} is not between 0 (excluded) and 86400 seconds"));
    }
    Ok(v)
}

/// Serve recommendations over HTTP until SIGTERM or Ctrl-C.
pub fn exec(cli: &Cli, args: &ServeArgs) -> anyhow::Result<ExitCode> {
    alsflow_serve::serve(alsflow_serve::ServeOptions {
        store: store_dir_absolute(cli),
        lock_timeout: lock_timeout_of(cli),
        addr: args.addr,
        datasets: args.datasets.clone(),
        models: args.models.clone(),
        poll_interval: Duration::from_secs_f64(args.poll_interval),
        body_limit: args.max_body_bytes,
        drain_timeout: Duration::from_secs_f64(args.drain_timeout),
        threads: args.threads,
    })?;
    Ok(ExitCode::SUCCESS)
}
