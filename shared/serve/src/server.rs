//! Starting and stopping: bind, load, serve, poll the store for newer models (and
//! reload at once on SIGHUP), drain in-flight requests on SIGTERM or Ctrl-C.

use crate::api::router;
use crate::error::ServeError;
use crate::metrics::Metrics;
use crate::state::{App, Loader};
use alsflow_store::Store;
use arc_swap::ArcSwap;
use axum::serve::ListenerExt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

/// How `alsflow serve` runs.
#[derive(Clone, Debug)]
pub struct ServeOptions {
    /// The store root.
    pub store: PathBuf,
    /// How long to wait for a `gc` or `verify` holding the store when opening it.
    pub lock_timeout: Duration,
    /// The address to listen on (port 0: any free port; the log says which).
    pub addr: SocketAddr,
    /// Only these datasets (default: every dataset with a trained model).
    pub datasets: Vec<String>,
    /// Serve these models (ids or unique prefixes), one per dataset, never reloaded.
    pub models: Vec<String>,
    /// How often to look for a newer train run.
    pub poll_interval: Duration,
    /// The largest request body accepted.
    pub body_limit: usize,
    /// How long in-flight requests may take to finish after SIGTERM.
    pub drain_timeout: Duration,
    /// Worker threads of the async runtime (0: one per core).
    pub threads: usize,
}

/// Serve until SIGTERM or Ctrl-C (blocking: builds its own runtime).
pub fn serve(options: ServeOptions) -> Result<(), ServeError> {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if options.threads > 0 {
        builder.worker_threads(options.threads);
    }
    let runtime = builder
        .enable_all()
        .build()
        .map_err(|source| ServeError::Io {
            what: "cannot start the async runtime".into(),
            source,
        })?;
    runtime.block_on(run(options))
}

async fn run(options: ServeOptions) -> Result<(), ServeError> {
    let store_err = |source| ServeError::Store {
        root: options.store.display().to_string(),
        source: Box::new(source),
    };
    // Bind first, so a taken port fails before a long model load.
    let listener = tokio::net::TcpListener::bind(options.addr)
        .await
        .map_err(|source| ServeError::Io {
            what: format!("cannot listen on {}", options.addr),
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| ServeError::Io {
        what: "cannot read the bound address".into(),
        source,
    })?;
    if !addr.ip().is_loopback() {
        tracing::warn!(
            "listening on {addr}, which is not a loopback address: anyone who can reach \
             this machine can query the models (there is no authentication)"
        );
    }
    // A read-only handle never waits for `alsflow run`; it holds the readers' lock,
    // so `gc` and `verify` wait until the server stops.
    let store = tokio::task::spawn_blocking({
        let (root, timeout) = (options.store.clone(), options.lock_timeout);
        move || Store::open_read_only(&root, timeout)
    })
    .await
    .map_err(|e| ServeError::Options(format!("opening the store failed: {e}")))?
    .map_err(store_err)?;
    let loader = Arc::new(Loader::new(
        Arc::new(store),
        options.datasets.clone(),
        &options.models,
    )?);
    let initial = {
        let loader = loader.clone();
        tokio::task::spawn_blocking(move || loader.initial())
            .await
            .map_err(|e| ServeError::Options(format!("loading the models failed: {e}")))??
    };
    let app = Arc::new(App {
        models: ArcSwap::from_pointee(initial),
        metrics: Metrics::default(),
        body_limit: options.body_limit,
    });

    let wake = Arc::new(Notify::new());
    let poller = tokio::spawn(poll(
        app.clone(),
        loader,
        options.poll_interval,
        wake.clone(),
    ));
    let hangups = tokio::spawn(forward_hangups(wake));

    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let listener = listener.tap_io(|tcp| {
        // Small JSON answers on keep-alive connections: send each at once.
        let _ = tcp.set_nodelay(true);
    });
    let server = axum::serve(listener, router(app.clone())).with_graceful_shutdown(async {
        let _ = stop_rx.await;
    });
    let mut server = tokio::spawn(async move { server.await });
    tracing::info!("listening on http://{addr}");

    let stopped_by_itself = tokio::select! {
        r = &mut server => Some(r),
        _ = terminate() => None,
    };
    poller.abort();
    hangups.abort();
    if let Some(r) = stopped_by_itself {
        return flatten(r);
    }
    tracing::info!(
        "shutting down: no new connections; waiting up to {:.0} s for requests in flight",
        options.drain_timeout.as_secs_f64()
    );
    let _ = stop_tx.send(());
    match tokio::time::timeout(options.drain_timeout, &mut server).await {
        Ok(r) => {
            flatten(r)?;
            tracing::info!("stopped");
            Ok(())
        }
        Err(_) => {
            tracing::warn!("requests still in flight after the drain timeout: stopping anyway");
            Ok(())
        }
    }
}

fn flatten(r: Result<std::io::Result<()>, tokio::task::JoinError>) -> Result<(), ServeError> {
    match r {
        Ok(Ok(())) => Ok(()),
        Ok(Err(source)) => Err(ServeError::Io {
            what: "the server stopped".into(),
            source,
        }),
        Err(e) => Err(ServeError::Options(format!("the server task failed: {e}"))),
    }
}

/// Check the store every `interval`, and at once when woken (SIGHUP); swap in what
/// changed. Loads run on a blocking thread, so requests never wait for them.
async fn poll(app: Arc<App>, loader: Arc<Loader>, interval: Duration, wake: Arc<Notify>) {
    loop {
        let force = tokio::select! {
            _ = tokio::time::sleep(interval) => false,
            _ = wake.notified() => true,
        };
        if force {
            tracing::info!("SIGHUP: checking the store for newer models");
        }
        let (app2, loader2) = (app.clone(), loader.clone());
        let next = tokio::task::spawn_blocking(move || {
            let current = app2.models.load_full();
            loader2.check(&current, force, &app2.metrics)
        })
        .await;
        match next {
            Ok(Some(models)) => app.models.store(Arc::new(models)),
            Ok(None) => {}
            Err(e) => tracing::error!("the model check failed: {e}"),
        }
    }
}

/// Wake the poller on every SIGHUP.
async fn forward_hangups(wake: Arc<Notify>) {
    use tokio::signal::unix::{signal, SignalKind};
    let Ok(mut hangup) = signal(SignalKind::hangup()) else {
        tracing::warn!("cannot listen for SIGHUP: reloads happen on the poll only");
        return;
    };
    while hangup.recv().await.is_some() {
        wake.notify_one();
    }
}

/// SIGTERM or Ctrl-C.
async fn terminate() {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = term.recv() => {},
                _ = tokio::signal::ctrl_c() => {},
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
