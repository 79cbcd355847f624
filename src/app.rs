//! Builds and runs a Klaxon server: store, escalation engine, notifier, HTTP router,
//! graceful shutdown. Tests call [`serve`] with a listener bound to port 0.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};

use crate::clock::{SharedClock, SystemClock};
use crate::engine::{LogNotifier, Notifier, notifier::run_pages, run_escalations};
use crate::graphql::{QueryLimits, build_schema};
use crate::http::{AppState, router};
use crate::store::sqlite::{DurableOptions, SqliteJournal};
use crate::store::{Journal, MemoryJournal, State, Store};

/// Where the state lives between runs.
#[derive(Clone, Debug, Default)]
pub enum Storage {
    /// Nothing is written anywhere (`--in-memory`): a restart starts empty.
    #[default]
    InMemory,
    /// Every change is journaled in a data directory before anyone hears of it, and
    /// start-up replays it.
    Durable(DurableOptions),
}

/// Everything a server needs that is not code.
#[derive(Clone)]
pub struct Config {
    /// The clock all decisions use.
    pub clock: SharedClock,
    /// Load the demo team on an empty store.
    pub demo: bool,
    /// GraphQL document limits.
    pub limits: QueryLimits,
    /// Most concurrent WebSocket connections.
    pub max_ws_connections: usize,
    /// Most concurrent subscriptions on one WebSocket connection.
    pub max_subscriptions_per_connection: usize,
    /// In memory, or journaled to a data directory.
    pub storage: Storage,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            clock: Arc::new(SystemClock),
            demo: false,
            limits: QueryLimits::default(),
            max_ws_connections: 20_000,
            max_subscriptions_per_connection: 100,
            storage: Storage::InMemory,
        }
    }
}

/// A running server's handles, for tests and `main`.
pub struct Running {
    /// The address it listens on.
    pub addr: SocketAddr,
    /// The store behind it.
    pub store: Store,
}

/// Opens the journal and replays it into the serving state (blocking work, off the
/// runtime's threads). A data directory that is locked, damaged or unreadable is an error
/// here, before the server listens: never a silent start from partial state.
pub async fn open_storage(storage: &Storage) -> std::io::Result<(Arc<dyn Journal>, State)> {
    match storage {
        Storage::InMemory => Ok((Arc::new(MemoryJournal), State::default())),
        Storage::Durable(options) => {
            let options = options.clone();
            let opened = tokio::task::spawn_blocking(move || SqliteJournal::open(&options))
                .await
                .map_err(std::io::Error::other)?;
            let (journal, state, report) = opened.map_err(std::io::Error::other)?;
            tracing::info!(
                snapshot = ?report.snapshot,
                replayed = report.replayed,
                position = report.last,
                elapsed_ms = report.elapsed.as_millis() as u64,
                "journal loaded"
            );
            Ok((Arc::new(journal), state))
        }
    }
}

/// Serves on `listener` until `shutdown` resolves, then closes WebSockets, lets in-flight
/// requests finish, and stops the background tasks.
pub async fn serve(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
    on_ready: impl FnOnce(&Running),
) -> std::io::Result<()> {
    let (journal, state) = open_storage(&config.storage).await?;
    let notifier: Arc<dyn Notifier> = Arc::new(LogNotifier);
    let (store, outlets) = Store::new(state, journal, config.clock.clone(), notifier.channel());
    // Queued before the engine starts, so it sees every replayed deadline at once and the
    // overdue ones fire as one batch, in deadline order.
    store.resume();
    let (stop_tx, stop_rx) = watch::channel(false);
    let engine = tokio::spawn(run_escalations(
        store.clone(),
        outlets.timers,
        stop_rx.clone(),
    ));
    let pages = tokio::spawn(run_pages(store.clone(), notifier, outlets.pages));
    if config.demo {
        if let Err(e) = crate::demo::load(&store).await {
            tracing::error!(error = %e, "could not load the demo team");
        }
    }

    let state = AppState {
        schema: build_schema(store.clone(), config.limits),
        store: store.clone(),
        ws_connections: Arc::new(Semaphore::new(config.max_ws_connections)),
        subscriptions_per_connection: config.max_subscriptions_per_connection,
        shutdown: stop_rx,
    };
    let running = Running {
        addr: listener.local_addr()?,
        store: store.clone(),
    };
    on_ready(&running);

    let app = router(state).into_make_service();
    let signal = async move {
        shutdown.await;
        tracing::info!("shutting down: closing WebSockets, finishing in-flight requests");
        let _ = stop_tx.send(true);
    };
    axum::serve(listener, app)
        .with_graceful_shutdown(signal)
        .await?;
    engine.abort();
    pages.abort();
    Ok(())
}
